/*
 * fuzz_json_pick.c - json_pick_parse against jansson's own loader
 * (json_loadb, any value at the top): the same documents refused, and with
 * no pick the same tree.  With a pick, the kept tree is the full tree's
 * picked part.  Left out of the comparison, as json_pick.h says: numbers
 * jansson refuses as too large (json_pick keeps an integer past 64 bits as
 * a real, and checks a real's range only where it keeps it) and numbers of
 * 64 characters or more (kept as 0.0), and a NUL byte, which jansson may
 * take for the text's end: json_pick refuses a document with one.
 */
#include <stdbool.h>
#include <string.h>

#include "base/json_pick.h"
#include "fuzz.h"

/* A number token of 64 characters or more: json_pick keeps it as 0.0. */
static bool long_number(const uint8_t *d, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        bool num = (d[i] >= '0' && d[i] <= '9') || d[i] == '.' || d[i] == 'e' || d[i] == 'E' || d[i] == '+' ||
                   d[i] == '-';
        run = num ? run + 1 : 0;
        if (run >= 64)
            return true;
    }
    return false;
}

static const struct json_pick pick_b[] = {{"b", NULL}, {NULL, NULL}};
static const struct json_pick pick_any[] = {{"*", pick_b}, {NULL, NULL}};
static const struct json_pick pick[] = {{"a", NULL}, {"n", pick_any}, {"l", pick_b}, {NULL, NULL}};

/* want's members that `p` picks, as json_pick keeps them. */
static json_t *picked(json_t *want, const struct json_pick *p)
{
    if (p == NULL)
        return json_deep_copy(want);
    if (json_is_array(want))
        return json_array();
    if (!json_is_object(want))
        return json_deep_copy(want);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
        for (const struct json_pick *q = p; q->key != NULL; q++) {
            if (strcmp(q->key, "*") == 0 || strcmp(q->key, k) == 0) {
                json_object_set_new(out, k, picked(v, q->children));
                break;
            }
        }
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct enr_error err = {0};
    json_error_t jerr;
    json_t *want = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    const uint8_t *nul = memchr(data, 0, size);
    json_t *got;

    if (nul != NULL) {
        /* jansson may take a NUL byte for the text's end; json_pick
         * refuses one anywhere (in a string it is a control character) */
        FUZZ_CHECK(json_pick_parse((const char *)data, size, NULL, "doc", &err) == NULL);
        FUZZ_CHECK(json_pick_parse((const char *)data, size, pick, "doc", &err) == NULL);
        json_decref(want);
        return 0;
    }
    got = json_pick_parse((const char *)data, size, NULL, "doc", &err);
    bool numbers = long_number(data, size) || (want == NULL && (strstr(jerr.text, "too big") != NULL ||
                                                                strstr(jerr.text, "overflow") != NULL));

    if (got == NULL)
        FUZZ_CHECK(err.code < 0 && strncmp(err.msg, "doc: ", 5) == 0 && strchr(err.msg, '\n') == NULL);
    if (!numbers) {
        if ((want == NULL) != (got == NULL))
            fprintf(stderr, "jansson: %s; json_pick: %s\n", want ? "ok" : jerr.text, got ? "ok" : err.msg);
        FUZZ_CHECK((want == NULL) == (got == NULL));
        FUZZ_CHECK(want == NULL || json_equal(want, got));
    }
    bool full_ok = got != NULL;
    json_decref(got);
    /* a pick refuses what the whole parse refuses, and only that */
    got = json_pick_parse((const char *)data, size, pick, "doc", &err);
    FUZZ_CHECK(numbers || (got != NULL) == full_ok);
    if (!numbers && want != NULL) {
        json_t *part = picked(want, pick);
        FUZZ_CHECK(got != NULL && json_equal(part, got));
        json_decref(part);
    }
    json_decref(got);
    json_decref(want);
    return 0;
}
