/*
 * kv.h - a small sorted list of string pairs (labels).
 *
 * Labels are few (tens), read far more than written, and compared whole
 * against Teleport's copy; a sorted array keeps lookups O(log n) and makes
 * equality a linear walk.  Keys are unique; kv_set replaces.
 */
#ifndef ENR_KV_H
#define ENR_KV_H

#include <stdbool.h>
#include <stddef.h>

struct kv {
    char *key;
    char *value;
};

struct kv_list {
    struct kv *items; /* sorted by key (strcmp) */
    size_t len;
    size_t cap;
};

void kv_init(struct kv_list *l);
void kv_cleanup(struct kv_list *l);
/* Copies key and value; replaces an existing key.  -ENOMEM on failure. */
int kv_set(struct kv_list *l, const char *key, const char *value);
/* NULL when absent. */
const char *kv_get(const struct kv_list *l, const char *key);
bool kv_equal(const struct kv_list *a, const struct kv_list *b);
int kv_copy(struct kv_list *dst, const struct kv_list *src);

#endif
