/* test_kv.c - sorted label lists: a copy shares the array until either list
 * is changed, and neither change shows in the other. */
#include "base/intern.h"
#include "base/kv.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static void fill(struct kv_list *l, int n)
{
    char k[16], v[16];
    kv_init(l);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "k%02d", i);
        snprintf(v, sizeof(v), "v%02d", i);
        ASSERT_EQ(kv_set(l, k, v), 0);
    }
}

int main(void)
{
    struct kv_list a, b, c, e, f;
    size_t n;

    /* A copy takes no array of its own. */
    fill(&a, 6);
    ASSERT_EQ(kv_copy(&b, &a), 0);
    ASSERT_TRUE(b.items == a.items);
    ASSERT_EQ(b.len, 6);
    ASSERT_TRUE(kv_equal(&a, &b));
    ASSERT_EQ(kv_copy(&c, &b), 0);
    ASSERT_TRUE(c.items == a.items);

    /* Replacing a value in one copy: it gets its own array, the others keep theirs. */
    ASSERT_EQ(kv_set(&b, "k02", "changed"), 0);
    ASSERT_TRUE(b.items != a.items);
    ASSERT_STREQ(kv_get(&b, "k02"), "changed");
    ASSERT_STREQ(kv_get(&a, "k02"), "v02");
    ASSERT_STREQ(kv_get(&c, "k02"), "v02");
    ASSERT_TRUE(!kv_equal(&a, &b));
    ASSERT_TRUE(kv_equal(&a, &c));

    /* Adding a key to a copy (full or not). */
    ASSERT_EQ(kv_set(&c, "k99", "new"), 0);
    ASSERT_TRUE(c.items != a.items);
    ASSERT_EQ(c.len, 7);
    ASSERT_EQ(a.len, 6);
    ASSERT_TRUE(kv_get(&a, "k99") == NULL);
    ASSERT_STREQ(kv_get(&c, "k99"), "new");
    ASSERT_STREQ(kv_get(&c, "k00"), "v00");

    /* The first holder goes first; the copy still reads its labels. */
    ASSERT_EQ(kv_copy(&e, &a), 0);
    kv_cleanup(&a);
    ASSERT_EQ(e.len, 6);
    ASSERT_STREQ(kv_get(&e, "k05"), "v05");
    /* The last holder changes it in place and grows it. */
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "x%02d", i);
        ASSERT_EQ(kv_set(&e, k, k), 0);
    }
    ASSERT_EQ(e.len, 26);
    ASSERT_STREQ(kv_get(&e, "x19"), "x19");

    /* Compacted, it keeps exactly its items and still grows. */
    kv_compact(&e);
    ASSERT_EQ(e.cap, 26);
    ASSERT_STREQ(kv_get(&e, "k00"), "v00");
    ASSERT_EQ(kv_set(&e, "zz", "last"), 0);
    ASSERT_EQ(e.len, 27);
    ASSERT_TRUE(e.cap >= 27);
    ASSERT_STREQ(kv_get(&e, "zz"), "last");
    /* A shared array is left as it is. */
    ASSERT_EQ(kv_copy(&a, &e), 0);
    kv_compact(&a);
    ASSERT_TRUE(a.items == e.items);
    kv_cleanup(&a);

    /* An empty list copies as empty. */
    kv_init(&a);
    ASSERT_EQ(kv_copy(&f, &a), 0);
    ASSERT_TRUE(f.items == NULL && f.len == 0);
    ASSERT_EQ(kv_set(&f, "only", "1"), 0);
    ASSERT_EQ(a.len, 0);
    kv_cleanup(&f);

    kv_cleanup(&b);
    kv_cleanup(&c);
    kv_cleanup(&e);
    kv_cleanup(&e); /* cleanup twice is harmless */
    intern_stats(&n, NULL);
    ASSERT_EQ(n, 0);
    printf("ok\n");
    return 0;
}
