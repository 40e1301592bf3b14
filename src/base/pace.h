/*
 * pace.h - the one write pace: a token bucket whose sends leave in batches.
 *
 * A bucket of `burst` tokens, full at the start, earns `rate` tokens a
 * second.  A sender short of tokens does not send one write each time a
 * token comes: it waits for a batch, then spends the batch's tokens one by
 * one.  A batch is the fewest of: PACE_BATCH_MS of the rate (a second's
 * worth), the writes waiting, the `slots` that may be in flight at once,
 * and the bucket.  Each wait wakes the loop, the connection and the CPU's
 * caches, so a batch is as large as those allow: with 100 slots at rate
 * 100, one wake-up a second.  The rate over a second is the same as a
 * token at a time, and a write that finds the queue empty waits for one
 * token only.
 *
 *   struct pace p;
 *   pace_init(&p, 100, 200, 100, now);
 *   pace_refill(&p, now);
 *   double need = pace_need(&p, waiting);
 *   while (waiting > 0) {
 *       if (!pace_take(&p, need)) {              // short: wait, then again
 *           start_timer(pace_wait_ms(&p, waiting));
 *           break;
 *       }
 *       need = 1.0;                              // the batch is under way
 *       send(); waiting--;
 *   }
 */
#ifndef ENR_PACE_H
#define ENR_PACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most of the rate one batch may hold: a second's worth. */
#define PACE_BATCH_MS 1000

struct pace {
    double rate;       /* tokens a second, > 0 */
    double burst;      /* the bucket's size, >= 1 */
    double slots;      /* the most writes in flight at once, >= 1 */
    double tokens;
    uint64_t at_ms;    /* loop time tokens were last reckoned */
};

/* A full bucket at now_ms, for a sender that keeps at most `slots` writes
 * in flight. */
void pace_init(struct pace *p, double rate, double burst, size_t slots, uint64_t now_ms);
/* A new rate and size; the bucket keeps its tokens, cut to the new size
 * (refill first: tokens earned so far were earned at the old rate). */
void pace_set(struct pace *p, double rate, double burst);
/* Adds the tokens earned since the last call, up to the bucket's size. */
void pace_refill(struct pace *p, uint64_t now_ms);
/* The tokens a send waits for: PACE_BATCH_MS of the rate, or `waiting`, the slots or
 * the bucket if fewer; at least 1. */
double pace_need(const struct pace *p, size_t waiting);
/* Spends one token if at least `need` are there. */
bool pace_take(struct pace *p, double need);
/* Milliseconds until pace_need(p, waiting) tokens are there (at least 1). */
uint64_t pace_wait_ms(const struct pace *p, size_t waiting);

#endif
