/* ops_buf.c - see ops_buf.h. */
#include "ops/ops_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ops_buf_init(struct ops_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void ops_buf_cleanup(struct ops_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static bool reserve(struct ops_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void ops_buf_putn(struct ops_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ops_buf_put(struct ops_buf *b, const char *s)
{
    ops_buf_putn(b, s, strlen(s));
}

void ops_buf_printf(struct ops_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        ops_buf_putn(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void put_escaped(struct ops_buf *b, const char *s, bool quote)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (quote && *s == '"')
            rep = "\\\"";
        if (rep) {
            ops_buf_putn(b, run, (size_t)(s - run));
            ops_buf_put(b, rep);
            run = s + 1;
        }
    }
    ops_buf_putn(b, run, (size_t)(s - run));
}

void ops_buf_put_label(struct ops_buf *b, const char *s)
{
    put_escaped(b, s ? s : "", true);
}

void ops_buf_put_help(struct ops_buf *b, const char *s)
{
    put_escaped(b, s ? s : "", false);
}

void ops_buf_put_html(struct ops_buf *b, const char *s)
{
    if (s == NULL)
        return;
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            ops_buf_putn(b, run, (size_t)(s - run));
            ops_buf_put(b, rep);
            run = s + 1;
        }
    }
    ops_buf_putn(b, run, (size_t)(s - run));
}

int ops_buf_take(struct ops_buf *b, char **out, size_t *len)
{
    if (b->failed) {
        ops_buf_cleanup(b);
        return -ENOMEM;
    }
    if (b->data == NULL && !reserve(b, 0)) {
        ops_buf_cleanup(b);
        return -ENOMEM;
    }
    b->data[b->len] = '\0';
    *out = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return 0;
}
