/*
 * strmap.h - a string-keyed hash map (open addressing, linear probing) for
 * the container table and the Teleport view; keys are interned
 * (base/intern.h: an id or a name that is a key in several maps is stored
 * once), values are the caller's pointers.
 */
#ifndef ENR_STRMAP_H
#define ENR_STRMAP_H

#include <stddef.h>

/* 16 bytes: a map slot per key is most of what a map costs, and every
 * container or app is a key in several maps. */
struct strmap_slot {
    const char *key; /* interned; NULL: empty, or deleted (a tombstone: keep
                      * probing past it) when value is strmap.c's mark */
    void *value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;     /* power of two */
    size_t len;     /* live keys */
    size_t used;    /* live + tombstones */
};

void strmap_init(struct strmap *m);
/* Frees the keys; values are the caller's (free them first if needed). */
void strmap_cleanup(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; returns the previous value through *old if not NULL. */
int strmap_put(struct strmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);

/* Iteration: for (size_t i = 0; strmap_next(m, &i, &k, &v); ) ... ; safe
 * against strmap_del of the current key. */
int strmap_next(const struct strmap *m, size_t *iter, const char **key, void **value);

#endif
