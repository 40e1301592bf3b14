/*
 * kv.h - a small sorted list of string pairs (labels).
 *
 * Labels are few (tens), read far more than written, and compared whole
 * against Teleport's copy; a sorted array keeps lookups O(log n) and makes
 * equality a linear walk.  Keys are unique; kv_set replaces.  Keys and
 * values are interned (base/intern.h), and a copy of a list shares its
 * array (counted, copied when either list is changed by kv_set): the desired
 * app, the plan's and the executor's copies and the view's hold one array.
 * Not for sharing between threads (the count is a plain integer).
 */
#ifndef ENR_KV_H
#define ENR_KV_H

#include <stdbool.h>
#include <stddef.h>

struct kv {
    const char *key;    /* interned */
    const char *value;  /* interned */
};

struct kv_list {
    struct kv *items; /* sorted by key (strcmp) */
    size_t len;
    size_t cap;
};

void kv_init(struct kv_list *l);
void kv_cleanup(struct kv_list *l);
/* Interns key and value; replaces an existing key.  -ENOMEM on failure. */
int kv_set(struct kv_list *l, const char *key, const char *value);
/* Gives back the room beyond len (a list built once, then only read and
 * copied); a later kv_set grows it again. */
void kv_compact(struct kv_list *l);
/* NULL when absent. */
const char *kv_get(const struct kv_list *l, const char *key);
bool kv_equal(const struct kv_list *a, const struct kv_list *b);
/* dst (not initialised) shares src's array; cannot fail (returns 0). */
int kv_copy(struct kv_list *dst, const struct kv_list *src);

#endif
