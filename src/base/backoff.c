/*
 * backoff.c - the doubling backoff with jitter and its PRNG (see backoff.h).
 */
#include "base/backoff.h"

#include <time.h>

void backoff_rng_seed(struct backoff_rng *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->s = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^ (uint64_t)(uintptr_t)r;
}

uint64_t backoff_rng_next(struct backoff_rng *r)
{
    if (r->s == 0)
        r->s = 0x9e3779b97f4a7c15ULL;
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

double backoff_rng_jitter(struct backoff_rng *r)
{
    return 0.5 + (double)(backoff_rng_next(r) >> 11) / (double)(1ULL << 53);
}

void backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms < min_ms ? min_ms : max_ms;
    b->cur_ms = 0;
    b->failures = 0;
}

uint64_t backoff_step(struct backoff *b)
{
    uint64_t d = b->cur_ms ? b->cur_ms * 2 : b->min_ms;
    b->cur_ms = d > b->max_ms ? b->max_ms : d;
    b->failures++;
    return b->cur_ms;
}

uint64_t backoff_next(struct backoff *b, struct backoff_rng *rng)
{
    uint64_t d = backoff_step(b);
    return rng != NULL ? (uint64_t)((double)d * backoff_rng_jitter(rng)) : d;
}

uint64_t backoff_next_equal(struct backoff *b, struct backoff_rng *rng)
{
    uint64_t d = backoff_step(b);
    return rng != NULL ? d / 2 + backoff_rng_next(rng) % (d - d / 2 + 1) : d;
}

void backoff_reset(struct backoff *b)
{
    b->cur_ms = 0;
    b->failures = 0;
}
