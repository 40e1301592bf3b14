/*
 * test.h - the few assertion macros the C unit tests share.  Each prints
 * both sides and file:line, then exits non-zero (libuv test/task.h).
 */
#ifndef ENR_TEST_H
#define ENR_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASSERT_TRUE(x)                                                                     \
    do {                                                                                   \
        if (!(x)) {                                                                        \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);      \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define ASSERT_EQ(a, b)                                                                    \
    do {                                                                                   \
        long long _a = (long long)(a), _b = (long long)(b);                                \
        if (_a != _b) {                                                                    \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__,  \
                    #a, #b, _a, _b);                                                       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                 \
    do {                                                                                   \
        const char *_a = (a), *_b = (b);                                                   \
        if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                             \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,        \
                    __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");             \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                       \
    do {                                                                                   \
        const char *_h = (hay), *_n = (needle);                                            \
        if (_h == NULL || strstr(_h, _n) == NULL) {                                        \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    _h ? _h : "(null)", _n);                                               \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* The whole of ENR_SOURCE_DIR/rel (rel under the source tree), NUL-terminated;
 * its length in *len when len is not NULL.  Exits when it cannot be read. */
static inline char *test_read_source_file(const char *rel, size_t *len)
{
    const char *src = getenv("ENR_SOURCE_DIR");
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
    if ((f = fopen(path, "rb")) == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    ASSERT_EQ(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ASSERT_TRUE(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ASSERT_TRUE(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

/* What the code between test_stderr_begin and test_stderr_end wrote to
 * stderr (fd 2), through a temporary file:
 *     struct test_stderr c;
 *     test_stderr_begin(&c);  ...  n = test_stderr_end(&c, buf, sizeof(buf));  */
struct test_stderr {
    FILE *f;
    int saved;
};

static inline void test_stderr_begin(struct test_stderr *c)
{
    c->f = tmpfile();
    c->saved = dup(2);
    ASSERT_TRUE(c->f != NULL && c->saved >= 0);
    fflush(stderr);
    ASSERT_TRUE(dup2(fileno(c->f), 2) >= 0);
}

/* Restores stderr; buf gets what was written, NUL-terminated; returns its length. */
static inline size_t test_stderr_end(struct test_stderr *c, char *buf, size_t size)
{
    size_t n;

    fflush(stderr);
    ASSERT_TRUE(dup2(c->saved, 2) >= 0);
    close(c->saved);
    rewind(c->f);
    n = fread(buf, 1, size - 1, c->f);
    buf[n] = '\0';
    fclose(c->f);
    return n;
}

#endif
