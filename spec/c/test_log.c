/* test_log.c - base/log.c: levels, the text line and the JSON line (one
 * object per line, whatever the message holds), held lines. */
#include "base/log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "test.h"

/* What log_msg wrote to stderr while fn ran. */
static char *capture(void (*fn)(void))
{
    static char buf[65536];
    struct test_stderr c;

    test_stderr_begin(&c);
    fn();
    test_stderr_end(&c, buf, sizeof(buf));
    return buf;
}

static void write_two(void)
{
    log_debug(LOG_DOCKER, "hidden at info");
    log_info(LOG_RECONCILE, "created app %s for container %s", "web", "c1");
    log_warn(LOG_RULES, "rules/x.lua:3: bad \"quote\"\nsecond\tline \x01 and \xff\xfe bytes");
}

/* Bytes written to fd 2 so far (capture's temporary file). */
static long written(void)
{
    struct stat st;
    ASSERT_TRUE(fstat(2, &st) == 0);
    return (long)st.st_size;
}

/* Held lines reach stderr at log_flush, with an error line, when 16 KiB are
 * held, or when holding ends; never before, never out of order. */
static void hold_lines(void)
{
    long before;

    log_hold(true);
    log_info(LOG_MAIN, "one");
    log_warn(LOG_MAIN, "two");
    ASSERT_EQ(written(), 0);
    log_flush();
    before = written();
    ASSERT_TRUE(before > 0);
    log_info(LOG_MAIN, "three");
    ASSERT_EQ(written(), before);
    log_error(LOG_MAIN, "four");
    ASSERT_TRUE(written() > before);
    before = written();
    for (int i = 0; i < 400; i++)
        log_info(LOG_MAIN, "filler %03d: a line of about sixty characters in all", i);
    ASSERT_TRUE(written() > before); /* 16 KiB held: written without a flush */
    before = written();
    log_hold(false);                 /* the rest, then every line as it comes */
    ASSERT_TRUE(written() > before);
    before = written();
    log_info(LOG_MAIN, "five");
    ASSERT_TRUE(written() > before);
}

int main(void)
{
    char *out;
    json_error_t jerr;

    ASSERT_EQ(log_format_parse("text"), LOG_FORMAT_TEXT);
    ASSERT_EQ(log_format_parse("json"), LOG_FORMAT_JSON);
    ASSERT_EQ(log_format_parse("JSON"), -1);
    ASSERT_EQ(log_format_parse(NULL), -1);

    /* Text: one line per event, the debug line below the level dropped. */
    log_set_level(LOG_LEVEL_INFO);
    time_t t0 = time(NULL);
    out = capture(write_two);
    time_t t1 = time(NULL);
    ASSERT_TRUE(strstr(out, "hidden") == NULL);
    ASSERT_CONTAINS(out, "Z info  reconcile: created app web for container c1\n");
    ASSERT_CONTAINS(out, "Z warn  rules: rules/x.lua:3: bad \"quote\" second\tline");
    {
        size_t lines = 0;
        for (char *p = out; *p; p++)
            lines += *p == '\n';
        ASSERT_EQ(lines, 2);
    }
    /* Each line starts with the time it was written, to the millisecond, in
     * UTC: the second one of those the capture ran in. */
    for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
        int found = 0;

        for (time_t t = t0; t <= t1 && !found; t++) {
            struct tm tm;
            char want[24];

            gmtime_r(&t, &tm);
            strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.", &tm);
            found = strncmp(line, want, strlen(want)) == 0;
        }
        ASSERT_TRUE(found);
        for (int i = 20; i < 23; i++)
            ASSERT_TRUE(line[i] >= '0' && line[i] <= '9');
        ASSERT_TRUE(line[23] == 'Z' && line[24] == ' ');
    }
    printf("ok - text lines\n");

    /* Held: every line once, in order. */
    out = capture(hold_lines);
    {
        const char *order[] = {"main: one\n", "main: two\n", "main: three\n", "main: four\n", "filler 000:",
                               "filler 399:", "main: five\n"};
        const char *p = out;
        size_t lines = 0;
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
            const char *at = strstr(p, order[i]);
            ASSERT_TRUE(at != NULL);
            p = at;
        }
        for (p = out; *p; p++)
            lines += *p == '\n';
        ASSERT_EQ(lines, 405);
    }
    printf("ok - held lines\n");

    /* JSON: each line parses alone, with time, level, subsystem, msg. */
    log_set_format(LOG_FORMAT_JSON);
    ASSERT_EQ(log_get_format(), LOG_FORMAT_JSON);
    out = capture(write_two);
    char *nl = strchr(out, '\n');
    ASSERT_TRUE(nl != NULL);
    *nl = '\0';
    json_t *a = json_loads(out, 0, &jerr);
    ASSERT_TRUE(a != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(a, "level")), "info");
    ASSERT_STREQ(json_string_value(json_object_get(a, "subsystem")), "reconcile");
    ASSERT_STREQ(json_string_value(json_object_get(a, "msg")), "created app web for container c1");
    const char *t = json_string_value(json_object_get(a, "time"));
    ASSERT_TRUE(t != NULL && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z');
    json_decref(a);
    char *second = nl + 1, *nl2 = strchr(second, '\n');
    ASSERT_TRUE(nl2 != NULL && nl2[1] == '\0');
    *nl2 = '\0';
    json_t *b = json_loads(second, 0, &jerr);
    ASSERT_TRUE(b != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(b, "level")), "warn");
    ASSERT_STREQ(json_string_value(json_object_get(b, "msg")),
                 "rules/x.lua:3: bad \"quote\" second\tline \x01 and ?? bytes");
    json_decref(b);
    printf("ok - json lines\n");

    ASSERT_STREQ(log_redact("secret-token"), "<redacted, 12 chars>");
    printf("ok - redact\n");
    return 0;
}
