/*
 * ops_buf.h - a growable text buffer for the renderers of src/ops/ (the
 * metrics exposition and the status page), with the two escapings they need.
 *
 * Appends never fail half-way visibly: the first allocation failure sticks
 * (buf->failed) and every later append is a no-op, so a renderer appends
 * freely and checks once at the end with ops_buf_take().
 */
#ifndef ENR_OPS_BUF_H
#define ENR_OPS_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct ops_buf {
    char *data;      /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    bool failed;     /* an allocation failed: the content is incomplete */
};

void ops_buf_init(struct ops_buf *b);
void ops_buf_cleanup(struct ops_buf *b);

void ops_buf_put(struct ops_buf *b, const char *s);
void ops_buf_putn(struct ops_buf *b, const char *s, size_t n);
void ops_buf_printf(struct ops_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as a Prometheus label value: \ -> \\, " -> \", newline -> \n. */
void ops_buf_put_label(struct ops_buf *b, const char *s);
/* s as Prometheus HELP text: \ -> \\, newline -> \n. */
void ops_buf_put_help(struct ops_buf *b, const char *s);
/* s as HTML text or attribute value: & < > " ' escaped; NULL is "". */
void ops_buf_put_html(struct ops_buf *b, const char *s);

/* Hands the text over (*out malloc'ed, NUL-terminated; *len without the
 * NUL) and leaves b empty.  -ENOMEM when an append had failed. */
int ops_buf_take(struct ops_buf *b, char **out, size_t *len);

#endif
