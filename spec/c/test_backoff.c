/* test_backoff.c - base/backoff: the doubling schedule, the [0.5, 1.5)
 * jitter and the equal jitter ([d/2, d]) of backoff_next_equal. */
#include <stdint.h>
#include <stdio.h>

#include "base/backoff.h"
#include "test.h"

static void test_schedule(void)
{
    struct backoff b;
    backoff_init(&b, 250, 30000);
    static const uint64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ASSERT_EQ(backoff_next(&b, NULL), want[i]);
    ASSERT_EQ(b.failures, 9);
    backoff_reset(&b);
    ASSERT_EQ(backoff_next_equal(&b, NULL), 250);
    ASSERT_EQ(backoff_next_equal(&b, NULL), 500);
}

static void test_jitter_ranges(void)
{
    struct backoff_rng rng = {.s = 12345};
    uint64_t lo = UINT64_MAX, hi = 0, lo_eq = UINT64_MAX, hi_eq = 0;
    for (int i = 0; i < 2000; i++) {
        struct backoff a, b;
        backoff_init(&a, 1000, 1000);
        backoff_init(&b, 1000, 1000);
        uint64_t j = backoff_next(&a, &rng), e = backoff_next_equal(&b, &rng);
        ASSERT_TRUE(j >= 500 && j < 1500);
        ASSERT_TRUE(e >= 500 && e <= 1000);
        lo = j < lo ? j : lo;
        hi = j > hi ? j : hi;
        lo_eq = e < lo_eq ? e : lo_eq;
        hi_eq = e > hi_eq ? e : hi_eq;
    }
    /* Both spread over their whole range (fixed seed: deterministic). */
    ASSERT_TRUE(lo < 550 && hi > 1450);
    ASSERT_TRUE(lo_eq < 550 && hi_eq > 950);
    /* Equal jitter keeps doubling and the cap: the k-th delay is in [d/2, d]. */
    struct backoff b;
    backoff_init(&b, 250, 30000);
    for (uint64_t d = 250, k = 0; k < 12; k++, d = d * 2 > 30000 ? 30000 : d * 2) {
        uint64_t e = backoff_next_equal(&b, &rng);
        ASSERT_TRUE(e >= d / 2 && e <= d);
    }
}

int main(void)
{
    test_schedule();
    test_jitter_ranges();
    printf("test_backoff: ok\n");
    return 0;
}
