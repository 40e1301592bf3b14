/* intern.c - see intern.h.
 *
 * A chained hash table of entries; an entry carries its count and hash in
 * front of the characters, so intern_ref and intern_put find it from the
 * string pointer without a lookup of the text. */
#include "base/intern.h"
#include "base/hash.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct intern_entry {
    struct intern_entry *next;  /* bucket chain */
    uint32_t refs;
    uint32_t hash;
    char s[];
};

/* The one thread the table belongs to: the first that used it. */
static pthread_t owner;
static bool owned;
static struct intern_entry **buckets;
static size_t n_buckets;        /* 0 or a power of two */
static size_t n_strings;
static size_t n_bytes;          /* entries' characters and headers */

/* A second thread would race the first on the table and the counts: a bug
 * in the caller, stopped here rather than left to corrupt memory.  Cheaper
 * than a lock on every call, and intern is called for every string a
 * container, resource or table key holds. */
static void same_thread(void)
{
    pthread_t self = pthread_self();

    if (!owned) {
        owner = self;
        owned = true;
    } else if (!pthread_equal(owner, self)) {
        fputs("intern: used from a second thread\n", stderr);
        abort();
    }
}

static struct intern_entry *entry_of(const char *s)
{
    return (struct intern_entry *)(void *)(s - offsetof(struct intern_entry, s));
}

/* Up to this many strings per bucket on average before the table doubles.
 * The bucket array is most of the table's own bytes (at 10,000 containers
 * about 70,000 strings: 1 MiB of buckets at 1 per bucket, 0.5 MiB at 2);
 * a chain is walked by comparing the stored hash first, so a second entry
 * per bucket costs a pointer chase, not a string comparison. */
#define INTERN_LOAD 2

/* Doubles the table; a failure keeps the old one (longer chains). */
static void grow(void)
{
    size_t cap = n_buckets ? n_buckets * 2 : 256;
    struct intern_entry **b = calloc(cap, sizeof(*b));

    if (b == NULL)
        return;
    for (size_t i = 0; i < n_buckets; i++) {
        struct intern_entry *e = buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (cap - 1)];
            b[e->hash & (cap - 1)] = e;
        }
    }
    free(buckets);
    buckets = b;
    n_buckets = cap;
}

const char *intern_getn(const char *s, size_t len)
{
    uint32_t h = (uint32_t)hash64(HASH_INIT, s, len);
    struct intern_entry *e = NULL;

    same_thread();
    if (n_strings >= n_buckets * INTERN_LOAD)
        grow();
    if (n_buckets == 0)
        goto fail;
    for (e = buckets[h & (n_buckets - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && strncmp(e->s, s, len) == 0 && e->s[len] == '\0') {
            if (e->refs == UINT32_MAX)
                goto fail;
            e->refs++;
            return e->s;
        }
    }
    if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
        goto fail;
    e->refs = 1;
    e->hash = h;
    memcpy(e->s, s, len);
    e->s[len] = '\0';
    e->next = buckets[h & (n_buckets - 1)];
    buckets[h & (n_buckets - 1)] = e;
    n_strings++;
    n_bytes += sizeof(*e) + len + 1;
    return e->s;
fail:
    return NULL;
}

const char *intern_get(const char *s)
{
    if (s == NULL)
        s = "";
    return intern_getn(s, strlen(s));
}

const char *intern_ref(const char *s)
{
    struct intern_entry *e = entry_of(s);

    same_thread();
    e->refs++;
    return s;
}

void intern_put(const char *s)
{
    struct intern_entry *e, **pp;

    if (s == NULL)
        return;
    e = entry_of(s);
    same_thread();
    if (--e->refs == 0) {
        for (pp = &buckets[e->hash & (n_buckets - 1)]; *pp != e; pp = &(*pp)->next)
            ;
        *pp = e->next;
        n_strings--;
        size_t len = strlen(e->s);
        n_bytes -= sizeof(*e) + len + 1;
        /* Wiped before it is freed: a join token's name passes through
         * the table (GetTokens) and must not linger in freed memory. */
        explicit_bzero(e->s, len);
        free(e);
        if (n_strings == 0) {
            /* Nothing held: the table goes too (clean under valgrind at exit). */
            free(buckets);
            buckets = NULL;
            n_buckets = 0;
        }
    }
}

void intern_stats(size_t *strings, size_t *bytes)
{
    same_thread();
    if (strings)
        *strings = n_strings;
    if (bytes)
        *bytes = n_bytes + n_buckets * sizeof(*buckets);
}
