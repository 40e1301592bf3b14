/* log.c - see log.h. */
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current = LOG_LEVEL_INFO;
static enum log_format format = LOG_FORMAT_TEXT;

/* Held lines (log_hold): written to stderr together by log_flush. */
static char held[16384];
static size_t held_len;
static bool holding;

static void put(const char *s, size_t n)
{
    if (holding && held_len + n > sizeof(held))
        log_flush();
    if (!holding || n > sizeof(held)) {
        fwrite(s, 1, n, stderr);
        return;
    }
    memcpy(held + held_len, s, n);
    held_len += n;
}

void log_flush(void)
{
    if (held_len > 0)
        fwrite(held, 1, held_len, stderr);
    held_len = 0;
}

void log_hold(bool on)
{
    if (!on)
        log_flush();
    holding = on;
}

void log_set_level(enum log_level level) { current = level; }
enum log_level log_get_level(void) { return current; }
void log_set_format(enum log_format f) { format = f; }
enum log_format log_get_format(void) { return format; }

int log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name != NULL && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int log_format_parse(const char *name)
{
    if (name != NULL && strcmp(name, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (name != NULL && strcmp(name, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

/* Appends s to text (n bytes so far, cap in all), as much as fits. */
static size_t append(char *text, size_t n, size_t cap, const char *s)
{
    size_t len = strlen(s);

    if (len > cap - n)
        len = cap - n;
    memcpy(text + n, s, len);
    return n + len;
}

/* The text line: "stamp level tag: line", cut to one buffer (a message is
 * at most 2047 bytes, so only an overlong tag could cut it).  Put together
 * by hand, not by a printf per line. */
static void put_text(const char *stamp, const char *level, const char *tag, const char *line)
{
    char text[2200];
    size_t n = 0, cap = sizeof(text) - 1;

    n = append(text, n, cap, stamp);
    n = append(text, n, cap, " ");
    n = append(text, n, cap, level);
    n = append(text, n, cap, " ");
    n = append(text, n, cap, tag);
    n = append(text, n, cap, ": ");
    n = append(text, n, cap, line);
    text[n++] = '\n';
    put(text, n);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of ts into stamp (25 bytes).  The part to the
 * second is made once a second (per thread: the operations listener's
 * thread logs too), not by gmtime and strftime on every line. */
static void make_stamp(const struct timespec *ts, char stamp[25])
{
    static _Thread_local time_t sec = (time_t)-1;
    static _Thread_local char when[20];
    long ms = ts->tv_nsec / 1000000L;
    struct tm tm;

    if (ts->tv_sec != sec) {
        gmtime_r(&ts->tv_sec, &tm);
        if (strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) != sizeof(when) - 1)
            memcpy(when, "0000-00-00T00:00:00", sizeof(when)); /* a year past 9999 */
        sec = ts->tv_sec;
    }
    memcpy(stamp, when, sizeof(when) - 1);
    stamp[19] = '.';
    stamp[20] = (char)('0' + ms / 100);
    stamp[21] = (char)('0' + ms / 10 % 10);
    stamp[22] = (char)('0' + ms % 10);
    stamp[23] = 'Z';
    stamp[24] = '\0';
}

/* One JSON object on one line (jansson escapes control characters, so a
 * message cannot break the line).  jansson refuses a string that is not
 * valid UTF-8: then the message goes again with its non-ASCII bytes as '?'. */
static void put_json(const char *stamp, const char *level, const char *tag, char *line)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level", level, "subsystem", tag, "msg", line);
    char *s, *t;
    size_t n;

    if (o == NULL) {
        for (size_t i = 0; line[i]; i++)
            if ((unsigned char)line[i] >= 0x80)
                line[i] = '?';
        o = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level", level, "subsystem", tag, "msg", line);
    }
    s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s != NULL && (t = realloc(s, (n = strlen(s)) + 2)) != NULL) {
        s = t; /* the object and its newline, one piece */
        s[n] = '\n';
        put(s, n + 1);
    } else { /* out of memory: the text line still says what happened */
        put_text(stamp, level, tag, line);
    }
    free(s);
    json_decref(o);
}

void log_msg(enum log_level level, const char *tag, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info ", "warn ", "error"};
    static const char *const words[] = {"debug", "info", "warn", "error"};
    char line[2048], stamp[25];
    struct timespec ts;
    va_list ap;
    size_t n;

    if (level < current)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    make_stamp(&ts, stamp);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One event, one line: fold any newline a message carried in. */
    for (n = 0; line[n]; n++)
        if (line[n] == '\n' || line[n] == '\r')
            line[n] = ' ';
    if (format == LOG_FORMAT_JSON)
        put_json(stamp, words[level], tag, line);
    else
        put_text(stamp, names[level], tag, line);
    if (level >= LOG_LEVEL_ERROR)
        log_flush();
}

const char *log_redact(const char *secret)
{
    static char out[48];
    snprintf(out, sizeof(out), "<redacted, %zu chars>", secret ? strlen(secret) : (size_t)0);
    return out;
}
