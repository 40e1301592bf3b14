/* test_strmap.c - the hash map under inserts, replaces, deletes and regrowth. */
#include "base/strmap.h"
#include "test.h"

int main(void)
{
    struct strmap m;
    char key[32];
    void *old;

    strmap_init(&m);
    ASSERT_TRUE(strmap_get(&m, "absent") == NULL);
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        ASSERT_EQ(strmap_put(&m, key, (void *)(i + 1), &old), 0);
        ASSERT_TRUE(old == NULL);
    }
    ASSERT_EQ(m.len, 5000);
    ASSERT_EQ(strmap_put(&m, "k7", (void *)99, &old), 0);
    ASSERT_EQ((long)old, 8);
    ASSERT_EQ((long)strmap_get(&m, "k7"), 99);
    /* Delete and re-add many times: tombstones must not fill the table. */
    for (int round = 0; round < 20; round++)
        for (long i = 0; i < 5000; i += 2) {
            snprintf(key, sizeof(key), "k%ld", i);
            ASSERT_TRUE(strmap_del(&m, key) != NULL);
            ASSERT_TRUE(strmap_get(&m, key) == NULL);
            ASSERT_EQ(strmap_put(&m, key, (void *)(i + 1), NULL), 0);
        }
    ASSERT_EQ(m.len, 5000);
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        ASSERT_EQ((long)strmap_get(&m, key), i == 7 ? 99 : i + 1);
    }
    size_t it = 0, seen = 0;
    const char *k;
    while (strmap_next(&m, &it, &k, NULL)) {
        seen++;
        if (k[1] == '1')
            strmap_del(&m, k);
    }
    ASSERT_EQ(seen, 5000);
    ASSERT_TRUE(m.len < 5000);
    ASSERT_TRUE(m.cap <= 16384);
    strmap_cleanup(&m);
    printf("ok - strmap\n");
    return 0;
}
