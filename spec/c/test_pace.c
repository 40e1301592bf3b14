/* test_pace.c - base/pace: a full bucket at the start, sends in ticks of
 * the rate once it is spent, the wait for the next tick, the bucket's cap
 * and a new rate that keeps the tokens. */
#include <stdint.h>
#include <stdio.h>

#include "base/pace.h"
#include "test.h"

/* Sends what the bucket allows at now_ms, as a pump does; returns how many. */
static size_t pump(struct pace *p, uint64_t now_ms, size_t *waiting)
{
    size_t sent = 0;
    double need;

    pace_refill(p, now_ms);
    need = pace_need(p, *waiting);
    while (*waiting > 0 && pace_take(p, need)) {
        need = 1.0;
        (*waiting)--;
        sent++;
    }
    return sent;
}

static void test_burst_then_ticks(void)
{
    struct pace p;
    size_t waiting = 1000;

    pace_init(&p, 100, 200, 0);
    /* a full bucket: the burst leaves at once */
    ASSERT_EQ(pump(&p, 0, &waiting), 200);
    ASSERT_EQ(waiting, 800);
    /* then one tick's worth (100 a second, ticks of 100 ms: 10), not one by one */
    ASSERT_EQ(pace_wait_ms(&p, waiting), 101);
    ASSERT_EQ(pump(&p, 50, &waiting), 0);
    ASSERT_EQ(pace_wait_ms(&p, waiting), 51);
    ASSERT_EQ(pump(&p, 99, &waiting), 0);
    ASSERT_EQ(pump(&p, 100, &waiting), 10);
    ASSERT_EQ(pump(&p, 200, &waiting), 10);
    /* over a second, the rate: 100 */
    size_t n = 0;
    for (uint64_t t = 300; t <= 1200; t += 100)
        n += pump(&p, t, &waiting);
    ASSERT_EQ(n, 100);
}

static void test_fewer_waiting_than_a_tick(void)
{
    struct pace p;
    size_t waiting = 3;

    pace_init(&p, 100, 200, 0);
    p.tokens = 0;
    /* 3 waiting: they leave once 3 tokens are there, not 10 */
    ASSERT_EQ(pace_need(&p, waiting), 3.0);
    ASSERT_EQ(pace_wait_ms(&p, waiting), 31);
    ASSERT_EQ(pump(&p, 20, &waiting), 0);
    ASSERT_EQ(pump(&p, 30, &waiting), 3);
    /* never less than 1 token, never more than the bucket */
    ASSERT_EQ(pace_need(&p, 0), 1.0);
    pace_init(&p, 1000, 5, 0);
    ASSERT_EQ(pace_need(&p, 1000), 5.0);
}

static void test_cap_and_new_rate(void)
{
    struct pace p;
    size_t waiting = 0;

    pace_init(&p, 100, 200, 0);
    /* idle for a minute: the bucket holds 200, not 6,000 */
    pump(&p, 60000, &waiting);
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
    test_burst_then_ticks();
    test_fewer_waiting_than_a_tick();
    test_cap_and_new_rate();
    printf("test_pace: ok\n");
    return 0;
}
