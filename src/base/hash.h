/*
 * hash.h - the two non-cryptographic hashes.
 *
 * hash64: xxHash's XXH3 (64 bits), for change detection of container
 * snapshots, list entries, written resources and the rule set, and for the
 * buckets of strmap and intern.  No value is stored or sent; the rule
 * set's is logged, as a mark that the rules changed, so the function may
 * change between versions.  A value is chained as the next call's seed; XXH3 mixes in the
 * length, so ("ab", "c") and ("a", "bc") differ.
 *
 *   uint64_t h = HASH_INIT;
 *   h = hash64_str(h, s);
 *   h = hash64_u64(h, n);
 *
 * hash_fnv32: FNV-1a, 32 bits, a byte at a time.  Its values are part of
 * app names (the suffix of a cut name, enroller.core.hash and
 * enroller.util.fnv1a), so they never change.
 *
 * Neither is for anything an attacker could exploit by collision.
 */
#ifndef ENR_HASH_H
#define ENR_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_INIT 0
#define HASH_FNV32_INIT 0x811c9dc5U

/* XXH3_64bits_withSeed(p, n, h) (base/hash.c). */
uint64_t hash64(uint64_t h, const void *p, size_t n);

static inline uint64_t hash64_u64(uint64_t h, uint64_t v)
{
    return hash64(h, &v, sizeof(v));
}

static inline uint64_t hash64_str(uint64_t h, const char *s)
{
    return hash64(h, s, strlen(s));
}

static inline uint32_t hash_fnv32(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619U;
    }
    return h;
}

#endif
