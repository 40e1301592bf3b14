/* test_intern.c - the string table: one copy per distinct string, counted
 * references, freed with the last one; kv lists and maps share through it. */
#include "base/intern.h"
#include "base/kv.h"
#include "base/strmap.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *intern_elsewhere(void *arg)
{
    (void)arg;
    return (void *)intern_get("from another thread");
}

int main(void)
{
    size_t n0, b0, n, b;
    char buf[32];
    const char *many[3000];

    intern_stats(&n0, &b0);
    ASSERT_EQ(n0, 0);
    ASSERT_EQ(b0, 0);

    /* Equal text, one copy; distinct text, distinct copies. */
    const char *a = intern_get("enroller.dev/owner");
    snprintf(buf, sizeof(buf), "enroller.dev/%s", "owner");
    const char *a2 = intern_get(buf);
    const char *c = intern_get("enroller.dev/rule");
    ASSERT_TRUE(a != NULL && c != NULL);
    ASSERT_TRUE(a == a2);
    ASSERT_TRUE(a != buf);
    ASSERT_TRUE(a != c);
    ASSERT_STREQ(a, "enroller.dev/owner");
    ASSERT_STREQ(intern_ref(c), "enroller.dev/rule");
    intern_stats(&n, &b);
    ASSERT_EQ(n, 2);
    ASSERT_TRUE(b > 0);

    /* NULL is "", and getn stops at len. */
    const char *e = intern_get(NULL);
    ASSERT_STREQ(e, "");
    ASSERT_TRUE(intern_get("") == e);
    const char *pre = intern_getn("enroller.dev/owner-x", 18);
    ASSERT_TRUE(pre == a);
    /* A prefix of an interned string is its own string. */
    const char *shorter = intern_getn("enroller", 8);
    ASSERT_STREQ(shorter, "enroller");
    ASSERT_TRUE(shorter != a);

    /* The count holds the string until the last put. */
    intern_put(a);
    intern_put(a2);
    ASSERT_STREQ(pre, "enroller.dev/owner");
    intern_put(pre);
    intern_put(c);
    ASSERT_STREQ(c, "enroller.dev/rule");
    intern_put(c);
    intern_put(e);
    intern_put(e);
    intern_put(shorter);
    intern_put(NULL);
    intern_stats(&n, &b);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(b, 0);

    /* Growth past the first table, then everything released. */
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof(buf), "id-%d", i);
        ASSERT_TRUE((many[i] = intern_get(buf)) != NULL);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof(buf), "id-%d", i);
        const char *again = intern_get(buf);
        ASSERT_TRUE(again == many[i]);
        intern_put(again);
    }
    intern_stats(&n, &b);
    ASSERT_EQ(n, 3000);
    /* The table's own bytes: at most one bucket pointer per string (two
     * strings per bucket on average before it doubles), besides each
     * entry's header (a chain pointer, count and hash) and text. */
    size_t text = 0;
    for (int i = 0; i < 3000; i++)
        text += 16 + strlen(many[i]) + 1;
    ASSERT_TRUE(b > text);
    ASSERT_TRUE(b - text <= 3000 * sizeof(void *));
    for (int i = 0; i < 3000; i++)
        intern_put(many[i]);
    intern_stats(&n, &b);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(b, 0);

    /* kv lists: a copy shares its strings, a replaced value is released. */
    struct kv_list l1, l2;
    kv_init(&l1);
    ASSERT_EQ(kv_set(&l1, "b", "2"), 0);
    ASSERT_EQ(kv_set(&l1, "a", "1"), 0);
    ASSERT_EQ(kv_set(&l1, "c", "3"), 0);
    ASSERT_EQ(kv_copy(&l2, &l1), 0);
    ASSERT_EQ(l2.len, 3);
    ASSERT_TRUE(kv_equal(&l1, &l2));
    ASSERT_TRUE(l2.items[0].key == l1.items[0].key);
    ASSERT_STREQ(kv_get(&l2, "b"), "2");
    intern_stats(&n, NULL);
    ASSERT_EQ(n, 6);
    ASSERT_EQ(kv_set(&l2, "b", "two"), 0);
    ASSERT_STREQ(kv_get(&l2, "b"), "two");
    ASSERT_STREQ(kv_get(&l1, "b"), "2");
    ASSERT_TRUE(!kv_equal(&l1, &l2));
    kv_cleanup(&l1);
    intern_stats(&n, NULL);
    ASSERT_EQ(n, 6); /* "2" went, "two" came */
    ASSERT_EQ(kv_set(&l2, "d", "4"), 0); /* l2 owns its array since its kv_set above: it grows */
    ASSERT_STREQ(kv_get(&l2, "d"), "4");
    kv_cleanup(&l2);

    /* Map keys: the same id in two maps is one string. */
    struct strmap m1, m2;
    strmap_init(&m1);
    strmap_init(&m2);
    ASSERT_EQ(strmap_put(&m1, "3f2a", (void *)1, NULL), 0);
    ASSERT_EQ(strmap_put(&m2, "3f2a", (void *)2, NULL), 0);
    intern_stats(&n, NULL);
    ASSERT_EQ(n, 1);
    ASSERT_TRUE(strmap_del(&m1, "3f2a") == (void *)1);
    ASSERT_TRUE(strmap_get(&m2, "3f2a") == (void *)2);
    strmap_cleanup(&m1);
    strmap_cleanup(&m2);
    intern_stats(&n, &b);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(b, 0);

    /* The table is the first thread's: a second thread's call aborts (in a
     * child, so that this test goes on), the first's go on working. */
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        pthread_t t;
        void *got = NULL;
        if (pthread_create(&t, NULL, intern_elsewhere, NULL) == 0)
            pthread_join(t, &got);
        _exit(got != NULL ? 3 : 4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
    a = intern_get("still this thread's");
    ASSERT_STREQ(a, "still this thread's");
    intern_put(a);
    printf("ok\n");
    return 0;
}
