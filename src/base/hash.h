/*
 * hash.h - FNV-1a, the one non-cryptographic hash: change detection of
 * container snapshots, list entries and written resources, and strmap's
 * buckets.  Not for anything an attacker could exploit by collision.
 *
 *   uint64_t h = HASH_FNV64_INIT;
 *   h = hash_fnv64(h, s, strlen(s));
 */
#ifndef ENR_HASH_H
#define ENR_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV64_INIT 0xcbf29ce484222325ULL
#define HASH_FNV32_INIT 0x811c9dc5U

static inline uint64_t hash_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
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

/* A u64 as 8 little-endian bytes. */
static inline uint64_t hash_fnv64_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return hash_fnv64(h, b, sizeof(b));
}

/* Length-prefixed, so that ("ab","c") and ("a","bc") hash differently. */
static inline uint64_t hash_fnv64_str(uint64_t h, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return hash_fnv64(hash_fnv64_u64(h, n), s, n);
}

#endif
