/* kv.c - see kv.h. */
#include "base/kv.h"
#include "base/intern.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The items live in a counted block: a copy of a list shares the block (no
 * allocation) until one of them is changed, when kv_set gives it its own. */
struct kv_block {
    size_t refs;
    struct kv items[];
};

static struct kv_block *block_of(const struct kv_list *l)
{
    return (struct kv_block *)(void *)((char *)l->items - offsetof(struct kv_block, items));
}

void kv_init(struct kv_list *l)
{
    l->items = NULL;
    l->len = l->cap = 0;
}

void kv_cleanup(struct kv_list *l)
{
    struct kv_block *b;

    if (l == NULL)
        return;
    if (l->items != NULL && --(b = block_of(l))->refs == 0) {
        for (size_t i = 0; i < l->len; i++) {
            intern_put(l->items[i].key);
            intern_put(l->items[i].value);
        }
        free(b);
    }
    kv_init(l);
}

/* Room for cap items in a block l alone holds; -ENOMEM. */
static int own_block(struct kv_list *l, size_t cap)
{
    struct kv_block *b = l->items ? block_of(l) : NULL, *n;

    if (b != NULL && b->refs > 1) {
        if ((n = malloc(sizeof(*n) + cap * sizeof(n->items[0]))) == NULL)
            return -ENOMEM;
        n->refs = 1;
        for (size_t i = 0; i < l->len; i++) {
            n->items[i].key = intern_ref(l->items[i].key);
            n->items[i].value = intern_ref(l->items[i].value);
        }
        b->refs--;
    } else if (b == NULL || cap != l->cap) {
        if ((n = realloc(b, sizeof(*n) + cap * sizeof(n->items[0]))) == NULL)
            return -ENOMEM;
        n->refs = 1;
    } else {
        return 0;
    }
    l->items = n->items;
    l->cap = cap;
    return 0;
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

/* The room kv_set needs: the list's own, unless a new key finds it full
 * (then twice as much, 4 at first). */
static size_t room_for_set(const struct kv_list *l, bool found)
{
    if (found || l->len < l->cap)
        return l->cap;
    return l->cap ? l->cap * 2 : 4;
}

int kv_set(struct kv_list *l, const char *key, const char *value)
{
    bool found;
    size_t at = find(l, key, &found);
    const char *v = intern_get(value), *k = NULL;

    if (v == NULL || own_block(l, room_for_set(l, found)) < 0)
        goto fail;
    if (found) {
        intern_put(l->items[at].value);
        l->items[at].value = v;
        return 0;
    }
    if ((k = intern_get(key)) == NULL)
        goto fail;
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

void kv_compact(struct kv_list *l)
{
    struct kv_block *n;

    if (l->items == NULL || l->len == l->cap || block_of(l)->refs > 1)
        return;
    /* Out of memory: the list keeps its room, which is only waste. */
    if ((n = realloc(block_of(l), sizeof(*n) + l->len * sizeof(n->items[0]))) != NULL) {
        l->items = n->items;
        l->cap = l->len;
    }
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
    if (a->items == b->items)
        return true;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i].key, b->items[i].key) != 0 ||
            strcmp(a->items[i].value, b->items[i].value) != 0)
            return false;
    return true;
}

/* The copy shares the source's block (one more reference): no allocation. */
int kv_copy(struct kv_list *dst, const struct kv_list *src)
{
    kv_init(dst);
    if (src->items == NULL)
        return 0;
    block_of(src)->refs++;
    *dst = *src;
    return 0;
}
