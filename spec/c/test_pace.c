/* test_pace.c - base/pace: a full bucket at the start, sends in batches as
 * large as the slots once it is spent, the wait for the next batch, the
 * smaller batches (fewer waiting, a slow rate, a small bucket), the
 * bucket's cap and a new rate that keeps the tokens. */
#include <stdint.h>
#include <stdio.h>

#include "base/pace.h"
#include "test.h"

/* Sends what the bucket allows at now_ms into `slots` free slots, as a pump
 * does (the replies all back before the next call); returns how many. */
static size_t pump(struct pace *p, uint64_t now_ms, size_t *waiting, size_t slots)
{
    size_t sent = 0;
    double need;

    pace_refill(p, now_ms);
    need = pace_need(p, *waiting);
    while (*waiting > 0 && sent < slots && pace_take(p, need)) {
        need = 1.0;
        (*waiting)--;
        sent++;
    }
    return sent;
}

static void test_burst_then_batches(void)
{
    struct pace p;
    size_t waiting = 1000, n = 0, got;

    pace_init(&p, 100, 200, 16, 0);
    /* a full bucket: the burst leaves at once, 16 at a time as slots free,
     * until fewer than a batch's tokens are left (200 = 12 x 16 + 8) */
    while ((got = pump(&p, 0, &waiting, 16)) > 0) {
        ASSERT_EQ(got, 16);
        n += got;
    }
    ASSERT_EQ(n, 192);
    ASSERT_EQ(waiting, 808);
    /* then a batch of 16 (the slots; a second's worth would be 100), not
     * one by one: the 8 tokens left wait for 8 more */
    ASSERT_EQ(pace_wait_ms(&p, waiting), 81);
    ASSERT_EQ(pump(&p, 50, &waiting, 16), 0);
    ASSERT_EQ(pace_wait_ms(&p, waiting), 31);
    ASSERT_EQ(pump(&p, 79, &waiting, 16), 0);
    ASSERT_EQ(pump(&p, 80, &waiting, 16), 16);
    /* over a second, the rate: 100 tokens, six batches and 4 toward the next */
    n = 0;
    for (uint64_t t = 90; t <= 1080; t += 10)
        n += pump(&p, t, &waiting, 16);
    ASSERT_EQ(n, 96);
}

static void test_smaller_batches(void)
{
    struct pace p;
    size_t waiting = 3;

    pace_init(&p, 100, 200, 16, 0);
    p.tokens = 0;
    /* 3 waiting: they leave once 3 tokens are there, not 16 */
    ASSERT_EQ(pace_need(&p, waiting), 3.0);
    ASSERT_EQ(pace_wait_ms(&p, waiting), 31);
    ASSERT_EQ(pump(&p, 20, &waiting, 16), 0);
    ASSERT_EQ(pump(&p, 30, &waiting, 16), 3);
    /* never less than 1 token; never more than a second's worth, the slots
     * or the bucket */
    ASSERT_EQ(pace_need(&p, 0), 1.0);
    pace_init(&p, 10, 200, 16, 0);
    ASSERT_EQ(pace_need(&p, 1000), 10.0);
    pace_init(&p, 100, 200, 4, 0);
    ASSERT_EQ(pace_need(&p, 1000), 4.0);
    pace_init(&p, 1000, 5, 16, 0);
    ASSERT_EQ(pace_need(&p, 1000), 5.0);
}

static void test_cap_and_new_rate(void)
{
    struct pace p;
    size_t waiting = 0;

    pace_init(&p, 100, 200, 16, 0);
    /* idle for a minute: the bucket holds 200, not 6,000 */
    pump(&p, 60000, &waiting, 16);
    ASSERT_EQ(p.tokens, 200.0);
    /* a smaller bucket cuts the tokens; a larger one keeps them */
    pace_set(&p, 10, 50);
    ASSERT_EQ(p.tokens, 50.0);
    pace_set(&p, 10, 500);
    ASSERT_EQ(p.tokens, 50.0);
    /* and the new rate earns from then on: 10 a second */
    p.tokens = 0;
    pace_refill(&p, 61000);
    ASSERT_EQ(p.tokens, 10.0);
}

int main(void)
{
    test_burst_then_batches();
    test_smaller_batches();
    test_cap_and_new_rate();
    printf("test_pace: ok\n");
    return 0;
}
