/*
 * test_grace.c - the grace period's bookkeeping on loop times, and the pin
 * that holds containers stopped by a dockerd shutdown until Docker lists
 * again.
 */
#include "reconcile/grace.h"
#include "test.h"

/* How many containers are held at now; the one called want_name (if any)
 * is among them, gone for want_ms (UINT64_MAX: pinned); and the next expiry. */
static size_t holds(struct grace *g, uint64_t now, const char *want_name, uint64_t want_ms, uint64_t *next)
{
    const struct planner_gone *h;
    size_t n;
    bool found = want_name == NULL;

    ASSERT_EQ(grace_holds(g, now, &h, &n, next), 0);
    for (size_t i = 0; i < n; i++)
        if (want_name != NULL && strcmp(h[i].name, want_name) == 0) {
            found = true;
            if (want_ms == UINT64_MAX) {
                ASSERT_TRUE(h[i].pinned);
            } else {
                ASSERT_TRUE(!h[i].pinned);
                ASSERT_EQ(h[i].gone_ms, want_ms);
            }
        }
    ASSERT_TRUE(found);
    return n;
}

#define PINNED UINT64_MAX

static void test_period(void)
{
    struct grace g;
    uint64_t next;

    grace_init(&g, 30);
    grace_gone(&g, "a", 1000);
    grace_gone(&g, "a", 5000);               /* the first time counts */
    ASSERT_EQ(holds(&g, 4000, "a", 3000, &next), 1);
    ASSERT_EQ(next, 31000);
    ASSERT_EQ(holds(&g, 31000, NULL, 0, &next), 0); /* expired and forgotten */
    ASSERT_EQ(next, UINT64_MAX);
    grace_gone(&g, "b", 40000);
    grace_back(&g, "b");
    ASSERT_EQ(holds(&g, 41000, NULL, 0, &next), 0);
    grace_cleanup(&g);
    printf("ok - the period runs from the first time gone; back or expired ends it\n");
}

static void test_no_period(void)
{
    struct grace g;
    uint64_t next;

    grace_init(&g, 0);
    grace_gone(&g, "a", 1000);
    ASSERT_EQ(holds(&g, 1000, NULL, 0, &next), 0);  /* no period: nothing held */
    grace_gone(&g, "b", 2000);
    ASSERT_EQ(grace_pin(&g, 2000), 1);                 /* but a pin holds even so */
    ASSERT_EQ(holds(&g, 900000, "b", PINNED, &next), 1);
    ASSERT_EQ(grace_unpin(&g, 900000), 1);
    ASSERT_EQ(holds(&g, 900000, NULL, 0, &next), 0);
    grace_cleanup(&g);
    printf("ok - no period: nothing held, except pinned containers until unpinned\n");
}

static void test_pin(void)
{
    struct grace g;
    uint64_t next;

    grace_init(&g, 60);
    grace_gone(&g, "old", 1000);             /* long before the stream ended */
    grace_gone(&g, "x", 50000);              /* stopped by the shutdown */
    grace_gone(&g, "y", 55000);
    ASSERT_EQ(grace_pin(&g, 40000), 2);      /* the stream ended at 60000, window 20 s */
    /* Far past every period: old expired, x and y are held, with no expiry. */
    ASSERT_EQ(holds(&g, 500000, "x", PINNED, &next), 2);
    ASSERT_EQ(next, UINT64_MAX);
    /* Docker lists again at 600000: the period starts over from then. */
    ASSERT_EQ(grace_unpin(&g, 600000), 2);
    ASSERT_EQ(holds(&g, 630000, "y", 30000, &next), 2);
    ASSERT_EQ(next, 660000);
    grace_back(&g, "x");                      /* it runs again */
    ASSERT_EQ(holds(&g, 640000, "y", 40000, &next), 1);
    ASSERT_EQ(holds(&g, 660000, NULL, 0, &next), 0);
    ASSERT_EQ(grace_unpin(&g, 700000), 0);
    grace_cleanup(&g);
    printf("ok - pinned at the stream's end, unpinned with a new period when Docker lists again\n");
}

int main(void)
{
    test_period();
    test_no_period();
    test_pin();
    return 0;
}
