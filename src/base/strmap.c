/* strmap.c - see strmap.h. */
#include "base/strmap.h"
#include "base/hash.h"
#include "base/intern.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The value of a deleted slot (key NULL): a tombstone. */
static char tomb_mark;
#define TOMB ((void *)&tomb_mark)

static uint64_t hash(const char *s)
{
    return hash64(HASH_INIT, s, strlen(s));
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_cleanup(struct strmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        intern_put(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

static struct strmap_slot *lookup(const struct strmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash(key) & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
        struct strmap_slot *s = &m->slots[i];
        if (s->key == NULL && s->value != TOMB)
            return NULL;
        if (s->key != NULL && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

static int grow(struct strmap *m)
{
    /* Mostly tombstones: rehash at the same size; else double. */
    size_t cap = m->cap == 0 ? 16 : (m->len * 2 >= m->cap ? m->cap * 2 : m->cap);
    struct strmap_slot *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == NULL)
            continue;
        size_t j = hash(m->slots[i].key) & (cap - 1);
        while (slots[j].key != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->len;
    return 0;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_slot *s = lookup(m, key);
    return s ? s->value : NULL;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **old)
{
    struct strmap_slot *s = lookup(m, key);
    const char *k;

    if (old != NULL)
        *old = NULL;
    if (s != NULL) {
        if (old != NULL)
            *old = s->value;
        s->value = value;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -ENOMEM;
    if ((k = intern_get(key)) == NULL)
        return -ENOMEM;
    size_t i = hash(key) & (m->cap - 1);
    while (m->slots[i].key != NULL)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].value != TOMB)
        m->used++;
    m->slots[i].key = k;
    m->slots[i].value = value;
    m->len++;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_slot *s = lookup(m, key);
    void *v;

    if (s == NULL)
        return NULL;
    v = s->value;
    intern_put(s->key);
    s->key = NULL;
    s->value = TOMB;
    m->len--;
    return v;
}

int strmap_next(const struct strmap *m, size_t *iter, const char **key, void **value)
{
    for (; *iter < m->cap; (*iter)++) {
        struct strmap_slot *s = &m->slots[*iter];
        if (s->key != NULL) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            (*iter)++;
            return 1;
        }
    }
    return 0;
}
