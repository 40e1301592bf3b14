/* kv.c - see kv.h. */
#include "base/kv.h"
#include "base/intern.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kv_init(struct kv_list *l)
{
    l->items = NULL;
    l->len = l->cap = 0;
}

void kv_cleanup(struct kv_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->len; i++) {
        intern_put(l->items[i].key);
        intern_put(l->items[i].value);
    }
    free(l->items);
    kv_init(l);
}

/* Index of key, or of the slot where it would go (*found tells which). */
static size_t find(const struct kv_list *l, const char *key, bool *found)
{
    size_t lo = 0, hi = l->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->items[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int kv_set(struct kv_list *l, const char *key, const char *value)
{
    bool found;
    size_t at = find(l, key, &found);
    const char *v = intern_get(value), *k = NULL;

    if (v == NULL)
        goto fail;
    if (found) {
        intern_put(l->items[at].value);
        l->items[at].value = v;
        return 0;
    }
    if ((k = intern_get(key)) == NULL)
        goto fail;
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct kv *n = realloc(l->items, cap * sizeof(*n));
        if (n == NULL)
            goto fail;
        l->items = n;
        l->cap = cap;
    }
    memmove(&l->items[at + 1], &l->items[at], (l->len - at) * sizeof(*l->items));
    l->items[at].key = k;
    l->items[at].value = v;
    l->len++;
    return 0;
fail:
    intern_put(k);
    intern_put(v);
    return -ENOMEM;
}

const char *kv_get(const struct kv_list *l, const char *key)
{
    bool found;
    size_t at = find(l, key, &found);
    return found ? l->items[at].value : NULL;
}

bool kv_equal(const struct kv_list *a, const struct kv_list *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i].key, b->items[i].key) != 0 ||
            strcmp(a->items[i].value, b->items[i].value) != 0)
            return false;
    return true;
}

/* The copy is exactly as long as the source and shares its strings. */
int kv_copy(struct kv_list *dst, const struct kv_list *src)
{
    kv_init(dst);
    if (src->len == 0)
        return 0;
    if ((dst->items = malloc(src->len * sizeof(*dst->items))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < src->len; i++) {
        dst->items[i].key = intern_ref(src->items[i].key);
        dst->items[i].value = intern_ref(src->items[i].value);
    }
    dst->len = dst->cap = src->len;
    return 0;
}
