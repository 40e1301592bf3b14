/*
 * json_pick.c - one pass over a JSON document that builds jansson values for
 * the picked members only (see json_pick.h).
 *
 * Every byte is checked as jansson's loader checks it (the grammar, UTF-8,
 * escapes, \u0000, nesting), but what is not picked is only scanned: no
 * token is handed on, no string decoded, no value made.  A Docker inspect
 * answer is mostly members nobody reads, and a general parser's tokens for
 * them (yajl's, before) were most of a first pass's instructions.  A string
 * without escapes is taken from the text as it stands.
 */
#include "base/json_pick.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's loader refuses deeper documents (JSON_PARSER_MAX_DEPTH). */
#define PICK_MAX_DEPTH 2048

struct reader {
    const unsigned char *text, *p, *end;
    size_t depth;                   /* open objects and arrays */
    char *buf;                      /* a kept string with escapes, decoded */
    size_t cap;
    int code;                       /* first failure: -EINVAL or -ENOMEM */
    char why[128];
};

static int fail(struct reader *r, int code, const char *fmt, ...)
{
    va_list ap;

    if (r->code == 0) {
        r->code = code;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof(r->why), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t at(const struct reader *r)
{
    return (size_t)(r->p - r->text);
}

/* What stands at r->p where `want` was expected. */
static int unexpected(struct reader *r, const char *want)
{
    if (r->p >= r->end)
        return fail(r, -EINVAL, "%s expected, the text ends at byte %zu", want, at(r));
    if (*r->p >= 0x21 && *r->p < 0x7f)
        return fail(r, -EINVAL, "%s expected, '%c' at byte %zu", want, *r->p, at(r));
    return fail(r, -EINVAL, "%s expected, byte 0x%02x at byte %zu", want, *r->p, at(r));
}

static void skip_space(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* A byte a string holds as it is: printable ASCII but '"' and '\\'. */
static inline bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Past the plain bytes at p: plain() eight bytes at a time while eight are
 * left, then byte by byte.  Most of a Docker document's bytes are in
 * strings, and a byte at a time was the largest part of its scan.  The word
 * test is plain()'s four terms: in a word x, (x - 0x0101..01 * n) & ~x &
 * 0x8080..80 flags the bytes below n (n <= 0x80), and the same of
 * x ^ (0x0101..01 * c) the bytes equal to c; a byte can be flagged wrongly
 * only above one rightly flagged, so the lowest flag is the first byte that
 * is not plain (in memory order on a little-endian machine; elsewhere the
 * word only says whether to look byte by byte). */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;

    while (end - p >= 8) {
        uint64_t x, q, b, stop;

        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        stop = (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs;
        if (stop != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
            return p + __builtin_ctzll(stop) / 8;
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && plain(*p))
        p++;
    return p;
}

/* The length of the UTF-8 sequence at s (lead byte >= 0x80), or 0 when it
 * is not one jansson takes: no overlong form, no surrogate, none past
 * U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* The four hex digits at s as a number, or -1. */
static long hex4(const unsigned char *s, size_t left)
{
    long v = 0;

    if (left < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        int d;

        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The escape at r->p (a backslash), checked; r->p goes past it. */
static int escape(struct reader *r)
{
    size_t left = (size_t)(r->end - r->p);
    long v, lo;

    if (left < 2)
        return unexpected(r, "a string's end");
    switch (r->p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        r->p += 2;
        return 0;
    case 'u':
        break;
    default:
        return fail(r, -EINVAL, "invalid escape at byte %zu", at(r));
    }
    if ((v = hex4(r->p + 2, left - 2)) < 0)
        return fail(r, -EINVAL, "invalid \\u escape at byte %zu", at(r));
    if (v == 0)
        return fail(r, -EINVAL, "\\u0000 is not allowed");
    if (v >= 0xdc00 && v <= 0xdfff)
        return fail(r, -EINVAL, "a lone low surrogate at byte %zu", at(r));
    if (v >= 0xd800 && v <= 0xdbff) {
        if (left < 12 || r->p[6] != '\\' || r->p[7] != 'u' || (lo = hex4(r->p + 8, left - 8)) < 0xdc00 ||
            lo > 0xdfff)
            return fail(r, -EINVAL, "a high surrogate without its low one at byte %zu", at(r));
        r->p += 6;
    }
    r->p += 6;
    return 0;
}

static void put_utf8(char **o, unsigned long v)
{
    unsigned char *s = (unsigned char *)*o;

    if (v < 0x80) {
        *s++ = (unsigned char)v;
    } else if (v < 0x800) {
        *s++ = (unsigned char)(0xc0 | v >> 6);
        *s++ = (unsigned char)(0x80 | (v & 0x3f));
    } else if (v < 0x10000) {
        *s++ = (unsigned char)(0xe0 | v >> 12);
        *s++ = (unsigned char)(0x80 | (v >> 6 & 0x3f));
        *s++ = (unsigned char)(0x80 | (v & 0x3f));
    } else {
        *s++ = (unsigned char)(0xf0 | v >> 18);
        *s++ = (unsigned char)(0x80 | (v >> 12 & 0x3f));
        *s++ = (unsigned char)(0x80 | (v >> 6 & 0x3f));
        *s++ = (unsigned char)(0x80 | (v & 0x3f));
    }
    *o = (char *)s;
}

/* The n bytes at s, a string's inside already checked by scan_string,
 * decoded into r->buf (never longer than the text). */
static int unescape(struct reader *r, const unsigned char *s, size_t n, const char **out, size_t *len)
{
    const unsigned char *end = s + n;
    char *o;

    if (n > r->cap) {
        char *b = realloc(r->buf, n);
        if (b == NULL)
            return fail(r, -ENOMEM, "out of memory");
        r->buf = b;
        r->cap = n;
    }
    o = r->buf;
    while (s < end) {
        if (*s != '\\') {
            *o++ = (char)*s++;
            continue;
        }
        switch (s[1]) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned long v = (unsigned long)hex4(s + 2, 4);
            if (v >= 0xd800 && v <= 0xdbff) {
                v = 0x10000 + ((v - 0xd800) << 10) + ((unsigned long)hex4(s + 8, 4) - 0xdc00);
                s += 6;
            }
            put_utf8(&o, v);
            s += 6;
            continue;
        }
        default: *o++ = (char)s[1]; break; /* '"', '\\', '/' */
        }
        s += 2;
    }
    *out = r->buf;
    *len = (size_t)(o - r->buf);
    return 0;
}

/* The string whose opening quote is at r->p, checked; r->p goes past its
 * closing quote.  With `keep`, *out and *len are its text: the document's
 * own bytes when it has no escape, else decoded into r->buf (good until
 * the next decoded string). */
static int scan_string(struct reader *r, bool keep, const char **out, size_t *len)
{
    const unsigned char *start = ++r->p;
    bool escaped = false;
    size_t n;

    for (;;) {
        r->p = skip_plain(r->p, r->end);
        if (r->p >= r->end)
            return fail(r, -EINVAL, "a string that starts at byte %zu has no end", (size_t)(start - r->text) - 1);
        if (*r->p == '"')
            break;
        if (*r->p == '\\') {
            escaped = true;
            if (escape(r) < 0)
                return -1;
        } else if (*r->p < 0x20) {
            return fail(r, -EINVAL, "a control character in a string at byte %zu", at(r));
        } else if ((n = utf8_len(r->p, (size_t)(r->end - r->p))) == 0) {
            return fail(r, -EINVAL, "invalid UTF-8 at byte %zu", at(r));
        } else {
            r->p += n;
        }
    }
    n = (size_t)(r->p - start);
    r->p++;
    if (!keep)
        return 0;
    if (!escaped) {
        *out = (const char *)start;
        *len = n;
        return 0;
    }
    return unescape(r, start, n, out, len);
}

static bool digit(const struct reader *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* The number token at s as jansson would make it: an integer when it is
 * `integral` (no fraction or exponent) and fits, else a real; one too long
 * for any reader, 0.0.  jansson refuses a real past double's range, and so
 * does this. */
static int make_number(struct reader *r, const char *s, size_t n, bool integral, json_t **out)
{
    char buf[64];
    char *end;
    double d;

    if (n >= sizeof(buf)) {
        d = 0;
    } else {
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (integral) {
            errno = 0;
            long long v = strtoll(buf, &end, 10);
            if (errno == 0 && *end == '\0') {
                if ((*out = json_integer((json_int_t)v)) == NULL)
                    return fail(r, -ENOMEM, "out of memory");
                return 0;
            }
        }
        d = strtod(buf, NULL);
        if (!isfinite(d))
            return fail(r, -EINVAL, "a number out of range at byte %zu", (size_t)((const unsigned char *)s - r->text));
    }
    if ((*out = json_real(d)) == NULL)
        return fail(r, -ENOMEM, "out of memory");
    return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at r->p. */
static int number(struct reader *r, bool keep, json_t **out)
{
    const unsigned char *start = r->p;
    bool integral = true;

    if (*r->p == '-')
        r->p++;
    if (r->p < r->end && *r->p == '0')
        r->p++;
    else if (digit(r))
        while (digit(r))
            r->p++;
    else
        return unexpected(r, "a digit");
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        integral = false;
        if (!digit(r))
            return unexpected(r, "a digit");
        while (digit(r))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        integral = false;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!digit(r))
            return unexpected(r, "a digit");
        while (digit(r))
            r->p++;
    }
    return keep ? make_number(r, (const char *)start, (size_t)(r->p - start), integral, out) : 0;
}

static int literal(struct reader *r, const char *word, json_t *v, bool keep, json_t **out)
{
    size_t n = strlen(word);

    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return unexpected(r, "a value");
    r->p += n;
    if (keep)
        *out = v; /* jansson's true, false and null are not counted */
    return 0;
}

/* key (NUL-terminated) is the n bytes at k; most differ in the first. */
static bool key_is(const char *key, const char *k, size_t n)
{
    if (n == 0)
        return key[0] == '\0';
    return key[0] == k[0] && strncmp(key, k, n) == 0 && key[n] == '\0';
}

/* Whether the member k is picked, and the pick for its own members. */
static bool picked(const struct json_pick *pick, const char *k, size_t n, const struct json_pick **children)
{
    for (; pick->key != NULL; pick++) {
        if ((pick->key[0] == '*' && pick->key[1] == '\0') || key_is(pick->key, k, n)) {
            *children = pick->children;
            return true;
        }
    }
    return false;
}

static int value(struct reader *r, bool keep, const struct json_pick *pick, json_t **out);

/* Opens the object or array at r->p (its value made with `keep`); *more
 * false when it closes at once. */
static int open_compound(struct reader *r, bool keep, json_t *(*make)(void), unsigned char close, json_t **out,
                         bool *more)
{
    if (r->depth == PICK_MAX_DEPTH) /* skipped or kept alike */
        return fail(r, -EINVAL, "nesting deeper than %d", PICK_MAX_DEPTH);
    r->depth++;
    r->p++;
    if (keep && (*out = make()) == NULL)
        return fail(r, -ENOMEM, "out of memory");
    skip_space(r);
    *more = true;
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        *more = false;
    }
    return 0;
}

/* After a member or an element: *more true at the next one, false past
 * `close`. */
static int next_or_close(struct reader *r, unsigned char close, bool *more)
{
    skip_space(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        skip_space(r);
        *more = true;
        return 0;
    }
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        *more = false;
        return 0;
    }
    return unexpected(r, close == '}' ? "',' or '}'" : "',' or ']'");
}

/* The member at r->p (its name's quote): with `keep`, set in obj if `pick`
 * names it (NULL: all of them). */
static int member(struct reader *r, bool keep, const struct json_pick *pick, json_t *obj)
{
    const struct json_pick *children = NULL;
    const char *k = NULL;
    size_t kn = 0;
    char *copy = NULL;
    json_t *v = NULL;
    bool kept;
    int rc = -1;

    if (r->p >= r->end || *r->p != '"')
        return unexpected(r, "a member name");
    if (scan_string(r, keep, &k, &kn) < 0)
        return -1;
    kept = keep && (pick == NULL || picked(pick, k, kn, &children));
    if (kept && k == r->buf) { /* decoded: the value's strings reuse r->buf */
        if ((copy = malloc(kn + 1)) == NULL)
            return fail(r, -ENOMEM, "out of memory");
        memcpy(copy, k, kn);
        k = copy;
    }
    skip_space(r);
    if (r->p >= r->end || *r->p != ':') {
        unexpected(r, "':'");
        goto fail;
    }
    r->p++;
    skip_space(r);
    if (value(r, kept, children, &v) < 0)
        goto fail;
    if (kept) {
        int set = json_object_setn_new_nocheck(obj, k, kn, v); /* takes v, or frees it */
        v = NULL;
        if (set < 0) {
            fail(r, -ENOMEM, "out of memory");
            goto fail;
        }
    }
    rc = 0;
fail:
    json_decref(v);
    free(copy);
    return rc;
}

/* An object: with `keep`, the members `pick` names (NULL: all of them). */
static int object(struct reader *r, bool keep, const struct json_pick *pick, json_t **out)
{
    bool more;

    if (open_compound(r, keep, json_object, '}', out, &more) < 0)
        return -1;
    while (more)
        if (member(r, keep, pick, keep ? *out : NULL) < 0 || next_or_close(r, '}', &more) < 0)
            return -1;
    return 0;
}

/* An array: with `keep` and no pick, its elements; with a pick (members
 * named where an array stands), kept empty, so a reader's "expected
 * object, got array" stays true. */
static int array(struct reader *r, bool keep, const struct json_pick *pick, json_t **out)
{
    bool elements = keep && pick == NULL, more;

    if (open_compound(r, keep, json_array, ']', out, &more) < 0)
        return -1;
    while (more) {
        json_t *v = NULL;

        if (value(r, elements, NULL, &v) < 0) {
            json_decref(v);
            return -1;
        }
        if (elements && json_array_append_new(*out, v) < 0) /* v is freed */
            return fail(r, -ENOMEM, "out of memory");
        if (next_or_close(r, ']', &more) < 0)
            return -1;
    }
    return 0;
}

/* The value at r->p: checked, and with `keep` made into *out (a new
 * reference; on failure *out may hold the part made so far). */
static int value(struct reader *r, bool keep, const struct json_pick *pick, json_t **out)
{
    const char *s;
    size_t n;

    if (r->p >= r->end)
        return unexpected(r, "a value");
    switch (*r->p) {
    case '{':
        return object(r, keep, pick, out);
    case '[':
        return array(r, keep, pick, out);
    case '"':
        if (scan_string(r, keep, &s, &n) < 0)
            return -1;
        if (keep && (*out = json_stringn_nocheck(s, n)) == NULL) /* UTF-8 checked above */
            return fail(r, -ENOMEM, "out of memory");
        return 0;
    case 't':
        return literal(r, "true", json_true(), keep, out);
    case 'f':
        return literal(r, "false", json_false(), keep, out);
    case 'n':
        return literal(r, "null", json_null(), keep, out);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return number(r, keep, out);
        return unexpected(r, "a value");
    }
}

json_t *json_pick_parse(const char *text, size_t len, const struct json_pick *pick, const char *what,
                        struct enr_error *err)
{
    struct reader r = {.text = (const unsigned char *)text, .p = (const unsigned char *)text,
                       .end = (const unsigned char *)text + len};
    json_t *root = NULL;

    skip_space(&r);
    if (r.p == r.end)
        fail(&r, -EINVAL, "no value");
    else if (value(&r, true, pick, &root) == 0) {
        skip_space(&r);
        if (r.p != r.end)
            fail(&r, -EINVAL, "data after the value at byte %zu", at(&r));
    }
    free(r.buf);
    if (r.code != 0) {
        json_decref(root);
        if (r.code == -ENOMEM)
            err_set(err, -ENOMEM, "%s: out of memory", what);
        else
            err_set(err, -EINVAL, "%s: bad JSON: %s", what, r.why);
        return NULL;
    }
    return root;
}
