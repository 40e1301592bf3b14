/*
 * test_grace.c - the grace period's bookkeeping on loop times, and the pin
 * that holds containers stopped by a dockerd shutdown until Docker lists
 * again.
 */
#include "reconcile/grace.h"
#include "test.h"

static const struct resource_list no_apps = {0};

/* The keys grace_holds handed back, space-separated. */
static char expired_keys[256];

static void on_expired(void *ud, const char *key)
{
    size_t n = strlen(expired_keys);
    (void)ud;
    snprintf(expired_keys + n, sizeof(expired_keys) - n, "%s%s", n ? " " : "", key);
}

/* How many containers are held at now; the one called want_name (if any)
 * is among them, gone for want_ms (UINT64_MAX: pinned); and the next expiry. */
static size_t holds(struct grace *g, uint64_t now, const char *want_name, uint64_t want_ms, uint64_t *next)
{
    const struct planner_gone *h;
    size_t n;
    bool found = want_name == NULL;

    ASSERT_EQ(grace_holds(g, now, &h, &n, next, on_expired, NULL), 0);
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
    grace_gone(&g, "a", 1000, &no_apps);
    grace_gone(&g, "a", 5000, &no_apps);               /* the first time counts */
    ASSERT_EQ(holds(&g, 4000, "a", 3000, &next), 1);
    ASSERT_EQ(next, 31000);
    ASSERT_EQ(holds(&g, 31000, NULL, 0, &next), 0); /* expired and forgotten */
    ASSERT_EQ(next, UINT64_MAX);
    grace_gone(&g, "b", 40000, &no_apps);
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
    grace_gone(&g, "a", 1000, &no_apps);
    ASSERT_EQ(holds(&g, 1000, NULL, 0, &next), 0);  /* no period: nothing held */
    grace_gone(&g, "b", 2000, &no_apps);
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
    grace_gone(&g, "old", 1000, &no_apps);             /* long before the stream ended */
    grace_gone(&g, "x", 50000, &no_apps);              /* stopped by the shutdown */
    grace_gone(&g, "y", 55000, &no_apps);
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

/* An expiry hands back the keys of the apps the container had when it
 * went (a database's with its prefix), once, so the pass plans those names
 * alone. */
static void test_expired_keys(void)
{
    struct resource items[] = {{.kind = RESOURCE_APP, .name = "web"}, {.kind = RESOURCE_DB, .name = "pg"}};
    const struct resource_list apps = {.items = items, .len = 2};
    char kb[PLANNER_KEY_MAX], want[64];
    struct grace g;
    uint64_t next;

    snprintf(want, sizeof(want), "web %s", planner_key(RESOURCE_DB, "pg", kb));
    grace_init(&g, 30);
    grace_gone(&g, "a", 1000, &apps);
    grace_gone(&g, "b", 2000, &no_apps);
    expired_keys[0] = '\0';
    ASSERT_EQ(holds(&g, 30999, "a", 29999, &next), 2);
    ASSERT_STREQ(expired_keys, "");              /* still held: nothing handed */
    ASSERT_EQ(holds(&g, 31000, "b", 29000, &next), 1);
    ASSERT_STREQ(expired_keys, want);            /* a's period ended */
    expired_keys[0] = '\0';
    ASSERT_EQ(holds(&g, 40000, NULL, 0, &next), 0);
    ASSERT_STREQ(expired_keys, "");              /* b had none; a's are not handed twice */
    grace_gone(&g, "c", 50000, &apps);
    ASSERT_EQ(grace_pin(&g, 50000), 1);
    ASSERT_EQ(holds(&g, 900000, "c", PINNED, &next), 1);
    ASSERT_STREQ(expired_keys, "");              /* pinned: held whatever its age */
    ASSERT_EQ(grace_unpin(&g, 900000), 1);
    ASSERT_EQ(holds(&g, 930000, NULL, 0, &next), 0);
    ASSERT_STREQ(expired_keys, want);            /* its new period ended */
    grace_gone(&g, "d", 950000, &apps);
    grace_back(&g, "d");                          /* back: its period ends unplanned */
    expired_keys[0] = '\0';
    ASSERT_EQ(holds(&g, 990000, NULL, 0, &next), 0);
    ASSERT_STREQ(expired_keys, "");
    grace_cleanup(&g);
    printf("ok - an expiry hands back the keys of the container's apps, once\n");
}

int main(void)
{
    test_expired_keys();
    test_period();
    test_no_period();
    test_pin();
    return 0;
}
