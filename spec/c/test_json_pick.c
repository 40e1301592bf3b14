/*
 * test_json_pick.c - json_pick_parse() against jansson's own loader: with
 * no pick it builds the tree json_loadb builds (every recorded Docker and
 * Podman document); with a pick it keeps exactly the named members; it
 * refuses what json_loadb refuses.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_pick.h"
#include "test.h"

/* Every .json fixture of a folder: no pick gives json_loadb's tree. */
static int same_as_jansson(const char *folder)
{
    const char *src = getenv("ENR_SOURCE_DIR");
    char dir[4096], rel[512];
    struct dirent *de;
    DIR *d;
    int n = 0;

    ASSERT_TRUE(src != NULL);
    snprintf(dir, sizeof(dir), "%s/spec/fixtures/%s", src, folder);
    ASSERT_TRUE((d = opendir(dir)) != NULL);
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name), len;
        struct enr_error err = {0};
        json_error_t jerr;

        if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        snprintf(rel, sizeof(rel), "spec/fixtures/%s/%s", folder, de->d_name);
        char *text = test_read_source_file(rel, &len);
        json_t *want = json_loadb(text, len, 0, &jerr);
        json_t *got = json_pick_parse(text, len, NULL, "fixture", &err);

        ASSERT_TRUE(want != NULL);
        if (got == NULL)
            fprintf(stderr, "%s: %s\n", rel, err.msg);
        ASSERT_TRUE(got != NULL);
        if (!json_equal(want, got))
            fprintf(stderr, "%s: differs from json_loadb\n", rel);
        ASSERT_TRUE(json_equal(want, got));
        json_decref(want);
        json_decref(got);
        free(text);
        n++;
    }
    closedir(d);
    return n;
}

static const struct json_pick pick_net[] = {{"IP", NULL}, {NULL, NULL}};
static const struct json_pick pick_nets[] = {{"*", pick_net}, {NULL, NULL}};
static const struct json_pick pick_doc[] = {
    {"Id", NULL}, {"Labels", NULL}, {"Nets", pick_nets}, {"Config", pick_net}, {NULL, NULL}};

static char *dumps(const char *text, const struct json_pick *pick)
{
    struct enr_error err = {0};
    json_t *v = json_pick_parse(text, strlen(text), pick, "doc", &err);
    char *out;

    if (v == NULL)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    ASSERT_TRUE(v != NULL);
    out = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}

static void expect_pick(const char *text, const struct json_pick *pick, const char *want)
{
    char *got = dumps(text, pick);

    ASSERT_STREQ(got, want);
    free(got);
}

static void test_pick(void)
{
    /* Named members kept whole, others skipped, "*" any member. */
    expect_pick("{\"Id\":\"x\",\"Skip\":{\"a\":[1,{\"b\":2}]},\"Labels\":{\"k\":\"v\",\"n\":[1,2.5,true,null]},"
                "\"Nets\":{\"a\":{\"IP\":\"1\",\"Mac\":\"m\"},\"b\":{\"IP\":\"2\"}}}",
                pick_doc,
                "{\"Id\":\"x\",\"Labels\":{\"k\":\"v\",\"n\":[1,2.5,true,null]},"
                "\"Nets\":{\"a\":{\"IP\":\"1\"},\"b\":{\"IP\":\"2\"}}}");
    /* A picked member that is not an object keeps its type: an array
     * without its elements, a scalar as it is. */
    expect_pick("{\"Nets\":[{\"IP\":\"1\"}],\"Config\":\"s\"}", pick_doc, "{\"Config\":\"s\",\"Nets\":[]}");
    expect_pick("{\"Nets\":{\"a\":7}}", pick_doc, "{\"Nets\":{\"a\":7}}");
    /* A root that is not an object. */
    expect_pick("[1,2]", pick_doc, "[]");
    expect_pick("\"s\"", pick_doc, "\"s\"");
    /* A member given twice: the last one, as json_loadb keeps it. */
    expect_pick("{\"Id\":\"a\",\"Id\":\"b\"}", pick_doc, "{\"Id\":\"b\"}");
    /* Numbers as jansson types them. */
    expect_pick("{\"Id\":[0,-3,9223372036854775807,1e3,0.5]}", NULL,
                "{\"Id\":[0,-3,9223372036854775807,1000.0,0.5]}");
    /* Escapes and UTF-8 in kept keys and values. */
    expect_pick("{\"Labels\":{\"caf\\u00e9\":\"a\\\"b\\n\"}}", pick_doc, "{\"Labels\":{\"caf\xc3\xa9\":\"a\\\"b\\n\"}}");
}

static void expect_refused(const char *text, size_t len, const char *why)
{
    struct enr_error err = {0};
    json_error_t jerr;
    json_t *v = json_pick_parse(text, len, pick_doc, "doc", &err);

    if (v != NULL)
        fprintf(stderr, "accepted: %.*s\n", (int)(len > 60 ? 60 : len), text);
    ASSERT_TRUE(v == NULL);
    ASSERT_EQ(err.code, -EINVAL);
    ASSERT_CONTAINS(err.msg, "doc: bad JSON: ");
    ASSERT_CONTAINS(err.msg, why);
    ASSERT_TRUE(strchr(err.msg, '\n') == NULL);
    /* jansson refuses it too. */
    ASSERT_TRUE(json_loadb(text, len, 0, &jerr) == NULL);
}

static void test_refused(void)
{
    static char deep[2 * 3000 + 1];

    expect_refused("", 0, "");
    expect_refused("not json", 8, "");
    expect_refused("{\"Id\":\"a\",", 10, "");
    expect_refused("{} x", 4, "");
    expect_refused("{\"Id\":\"a\" // c\n}", 16, "");
    expect_refused("{\"Id\":\"\xff\"}", 10, "");
    /* \u0000 is refused where it is skipped as where it is kept. */
    expect_refused("{\"Skip\":\"a\\u0000b\"}", 19, "\\u0000");
    expect_refused("{\"Id\":\"a\\u0000b\"}", 17, "\\u0000");
    expect_refused("{\"Labels\":{\"a\\u0000\":\"b\"}}", 26, "\\u0000");
    expect_refused("{\"Skip\":\"a\\u0000\"}", 18, "\\u0000");
    expect_refused("{\"Skip\":{\"\\u0000\":1}}", 20, "\\u0000");
    /* A raw NUL (or any control character) in a string, skipped or kept. */
    expect_refused("{\"Skip\":\"a\0b\"}", 14, "");
    expect_refused("{\"Id\":\"a\0b\"}", 12, "");
    expect_refused("{\"Skip\":{\"a\0\":1}}", 17, "");
    /* Past jansson's nesting limit, in a kept value. */
    memset(deep, '[', 3000);
    memset(deep + 3000, ']', 3000);
    expect_refused(deep, 6000, "nesting");
    /* Deep but allowed. */
    struct enr_error err = {0};
    json_t *v = json_pick_parse(deep + 3000 - 100, 200, NULL, "doc", &err);
    ASSERT_TRUE(v != NULL);
    json_decref(v);
}

/* Strings are scanned eight bytes at a time: each byte that ends the plain
 * run (a control character, '"', a backslash, a UTF-8 lead, a stray
 * continuation byte or 0x7f) at each offset of a long string, skipped and
 * kept, is taken or refused as json_loadb takes or refuses it, with the
 * same value. */
static void test_string_offsets(void)
{
    static const char *const stops[] = {"\x01", "\x1f", "\\\"", "\\n", "\\u00e9", "\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80", "\x80", "\xc0\xaf", "\xed\xa0\x80", "\x7f", " ", "~",
                                        "\x20\x21", "\""};
    char text[96];
    int n = 0;

    for (size_t s = 0; s < sizeof(stops) / sizeof(stops[0]); s++) {
        for (int off = 0; off < 20; off++) {
            for (int kept = 0; kept < 2; kept++) {
                struct enr_error err = {0};
                json_error_t jerr;
                int len = snprintf(text, sizeof(text), "{\"%s\":\"%.*s%s%.*s\"}", kept ? "Id" : "Skip", off,
                                   "abcdefghijklmnopqrstuvwxyz", stops[s], 19 - off % 7, "ABCDEFGHIJKLMNOPQRS");
                json_t *want = json_loadb(text, (size_t)len, 0, &jerr);
                json_t *got = json_pick_parse(text, (size_t)len, pick_doc, "doc", &err);

                if ((want == NULL) != (got == NULL))
                    fprintf(stderr, "differs from json_loadb: %s\n", text);
                ASSERT_TRUE((want == NULL) == (got == NULL));
                if (want != NULL && kept)
                    ASSERT_TRUE(json_equal(json_object_get(want, "Id"), json_object_get(got, "Id")));
                n += want == NULL;
                json_decref(want);
                json_decref(got);
            }
        }
    }
    /* The control characters, the stray bytes and the lone quote were refused. */
    ASSERT_EQ(n, 2 * 20 * 6);
}

int main(void)
{
    int docker = same_as_jansson("docker");
    int podman = same_as_jansson("podman");

    ASSERT_TRUE(docker >= 8 && podman >= 2);
    test_pick();
    test_refused();
    test_string_offsets();
    printf("test_json_pick: ok (%d Docker and %d Podman documents as json_loadb reads them)\n", docker,
           podman);
    return 0;
}
