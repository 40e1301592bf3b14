/*
 * backoff.h - the one doubling backoff with jitter, and the one PRNG behind
 * the jitter.
 *
 * Every retry in enroller waits by this rule: the first delay is min, each
 * later one twice the last, never above max; a jitter factor in [0.5, 1.5)
 * spreads many clients that failed together (the Docker event stream, the
 * Teleport watch and connection, per-name write retries, the circuit
 * breaker).
 *
 *   struct backoff b;
 *   backoff_init(&b, 500, 30000);
 *   uint64_t wait = backoff_next(&b, &rng);   // 500 * [0.5, 1.5) ms
 *   ...
 *   backoff_reset(&b);                        // after a success
 *
 * backoff_next_equal is the same schedule with "equal jitter" instead: half
 * of each delay fixed, half random, so no wait exceeds the un-jittered one
 * (the Teleport reconnect backoff).
 */
#ifndef ENR_BACKOFF_H
#define ENR_BACKOFF_H

#include <stdint.h>

/* xorshift64*: for jitter only, never for secrets (tokens use OpenSSL's
 * RAND_bytes).  A zero state is replaced by a fixed non-zero one. */
struct backoff_rng {
    uint64_t s;
};

/* Seeds from the time and the address of r (distinct per object). */
void backoff_rng_seed(struct backoff_rng *r);
uint64_t backoff_rng_next(struct backoff_rng *r);
/* A factor in [0.5, 1.5). */
double backoff_rng_jitter(struct backoff_rng *r);

struct backoff {
    uint64_t min_ms, max_ms;
    uint64_t cur_ms;   /* the last un-jittered delay; 0 = none yet */
    unsigned failures; /* backoff_next calls since the last reset */
};

void backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms);
/* The next un-jittered delay: min, then doubling, capped at max. */
uint64_t backoff_step(struct backoff *b);
/* backoff_step times a jitter factor from rng (rng NULL: no jitter). */
uint64_t backoff_next(struct backoff *b, struct backoff_rng *rng);
/* backoff_step's delay d with equal jitter: in [d/2, d] (rng NULL: d). */
uint64_t backoff_next_equal(struct backoff *b, struct backoff_rng *rng);
void backoff_reset(struct backoff *b);

#endif
