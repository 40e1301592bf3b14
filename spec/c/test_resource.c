/* test_resource.c - counted resources (resource_ref): a copy or a taken
 * resource starts with one reference, each holder drops its own, and the
 * last one frees it; nothing is left over. */
#include "base/intern.h"
#include "model/resource.h"
#include "test.h"

#include <string.h>

static void make(struct resource *r, const char *name)
{
    ASSERT_EQ(resource_init(r), 0);
    ASSERT_EQ(resource_set_str(&r->name, name), 0);
    ASSERT_EQ(resource_set_str(&r->uri, "http://10.0.0.1:8080"), 0);
    ASSERT_EQ(kv_set(&r->labels, "enroller.dev/owner", "host-1"), 0);
    r->expires = 42;
}

int main(void)
{
    struct resource src, zero;
    struct resource_ref *a, *b, *held;
    size_t strings0, strings, bytes;

    memset(&zero, 0, sizeof(zero));
    intern_stats(&strings0, &bytes);

    /* A copy: one reference, the same managed fields, independent of src. */
    make(&src, "web");
    ASSERT_TRUE((a = resource_ref_new(&src)) != NULL);
    ASSERT_EQ(a->refs, 1);
    ASSERT_TRUE(resource_same_managed(&a->res, &src));
    ASSERT_EQ(a->res.expires, 42);
    resource_cleanup(&src);
    ASSERT_STREQ(a->res.name, "web");
    ASSERT_STREQ(kv_get(&a->res.labels, "enroller.dev/owner"), "host-1");

    /* Another holder: the same resource, one more reference. */
    held = resource_ref_hold(a);
    ASSERT_TRUE(held == a);
    ASSERT_EQ(a->refs, 2);
    resource_ref_put(a);
    ASSERT_EQ(held->refs, 1);
    ASSERT_STREQ(held->res.uri, "http://10.0.0.1:8080");  /* still alive for the last holder */

    /* Taking: src's contents move in, src is left zeroed. */
    make(&src, "db-admin");
    ASSERT_TRUE((b = resource_ref_take(&src)) != NULL);
    ASSERT_EQ(b->refs, 1);
    ASSERT_STREQ(b->res.name, "db-admin");
    ASSERT_EQ(b->res.expires, 42);
    ASSERT_TRUE(memcmp(&src, &zero, sizeof(src)) == 0);
    resource_cleanup(&src);   /* a zeroed resource is safe to clean up */

    resource_ref_put(NULL);   /* nothing */
    resource_ref_put(held);
    resource_ref_put(b);

    /* The last puts freed both: no interned string is held any more. */
    intern_stats(&strings, &bytes);
    ASSERT_EQ(strings, strings0);
    return 0;
}
