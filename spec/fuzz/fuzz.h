/*
 * fuzz.h - what the harnesses in spec/fuzz/ share: the libFuzzer entry
 * point's declaration, a check that aborts (so libFuzzer and the replay
 * both see a crash) and the chunk sizes used to cut an input the way a
 * transport would (any byte may end a read).
 */
#ifndef ENR_FUZZ_H
#define ENR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x)                                                                      \
    do {                                                                                   \
        if (!(x)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);          \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Cuts come from the input's first byte: 0 feeds everything at once, any
 * other value is the seed of a small xorshift that picks chunk lengths of
 * 1..64 bytes, so the fuzzer explores every cut through that byte. */
struct fuzz_cut {
    uint32_t state;
};

static inline void fuzz_cut_init(struct fuzz_cut *c, uint8_t seed) { c->state = seed ? seed * 2654435761u : 0; }

static inline size_t fuzz_cut_next(struct fuzz_cut *c, size_t left)
{
    size_t n;
    if (c->state == 0)
        return left;
    c->state ^= c->state << 13;
    c->state ^= c->state >> 17;
    c->state ^= c->state << 5;
    n = 1 + c->state % 64;
    return n < left ? n : left;
}

#endif
