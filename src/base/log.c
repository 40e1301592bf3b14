/* log.c - see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current = LOG_LEVEL_INFO;

void log_set_level(enum log_level level) { current = level; }
enum log_level log_get_level(void) { return current; }

int log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name != NULL && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void log_msg(enum log_level level, const char *tag, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info ", "warn ", "error"};
    char line[2048], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;

    if (level < current)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One event, one line: fold any newline a message carried in. */
    for (n = 0; line[n]; n++)
        if (line[n] == '\n' || line[n] == '\r')
            line[n] = ' ';
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000L,
            names[level], tag, line);
}

const char *log_redact(const char *secret)
{
    static char out[48];
    snprintf(out, sizeof(out), "<redacted, %zu chars>", secret ? strlen(secret) : (size_t)0);
    return out;
}
