/*
 * test_teleport_view_pages.c - a listing handed to the Teleport view page by
 * page (teleport_ops.list_pages): each page of apps goes into the view as it
 * comes, in place of the view's copy, and what the listing lacks leaves the
 * view only at its end (unknown is not absent): a listing that fails after
 * some pages removes nothing; databases wait for their last page, and
 * databases that may not be listed after some of their pages arrived leave
 * none of them; a write newer than the listing is not replaced by it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fake_listing.h"
#include "net/grpc_frame.h"
#include "reconcile/teleport_view.h"
#include "test.h"

#define OWNER "host-a"

static int p_watch(void *impl, const char *const *kinds, size_t n, teleport_event_cb ev_cb, teleport_done_cb end_cb,
                   void *ud, struct enr_error *err)
{
    (void)impl, (void)kinds, (void)n, (void)ev_cb, (void)end_cb, (void)ud;
    return err_set(err, -ENOTCONN, "not in this test");
}

static void p_watch_cancel(void *impl, int id)
{
    (void)impl, (void)id;
}

struct seen {
    int listed;               /* -1: nothing; 0/1: on_listed(complete) */
    int changes;
};

static void on_change(void *ud, const char *name)
{
    (void)name;
    ((struct seen *)ud)->changes++;
}

static void on_listed(void *ud, bool complete)
{
    ((struct seen *)ud)->listed = complete;
}

/* A listed app or database of ours, named word. */
static void make_ours(struct resource *r, const char *word, bool db)
{
    r->kind = db ? RESOURCE_DB : RESOURCE_APP;
    ASSERT_EQ(resource_set_str(&r->name, word), 0);
    ASSERT_EQ(resource_set_str(&r->uri, db ? "10.0.0.5:5432" : "http://10.0.0.5:80"), 0);
    ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
    ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, OWNER), 0);
}

/* The view's keys, sorted, as "a b db/x". */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *keys(const struct teleport_view *tv)
{
    static char out[256];
    char items[16][40];
    const char *sorted[16];
    const struct resource *r;
    size_t n = 0, it = 0;

    while (teleport_view_next(tv, &it, &r)) {
        ASSERT_TRUE(n < 16);
        snprintf(items[n], sizeof(items[n]), "%s%s", r->kind == RESOURCE_DB ? "db/" : "", r->name);
        sorted[n] = items[n];
        n++;
    }
    ASSERT_EQ(teleport_view_size(tv), n);
    ASSERT_EQ(teleport_view_owned(tv), n);
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof(out) - l, "%s%s", i ? " " : "", sorted[i]);
    }
    return out;
}

int main(void)
{
    uv_loop_t loop;
    struct fake_listing f = {0};
    struct seen s = {-1, 0};
    struct teleport_ops ops = {.list_pages = fake_listing_pages, .watch = p_watch, .watch_cancel = p_watch_cancel,
                               .impl = &f};
    struct teleport_view_config cfg = {.owner = OWNER, .resync_sec = 3600};
    struct teleport_view_callbacks cb = {.on_change = on_change, .on_listed = on_listed, .ud = &s};
    struct enr_error err = {0};
    struct teleport_view *tv;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    tv = teleport_view_new(&loop, &cfg, &ops, &cb, &err);
    ASSERT_TRUE(tv != NULL);

    /* A first listing in pages: each page of apps goes into the view as it
     * comes; the databases wait for their last page. */
    teleport_view_relist(tv);
    ASSERT_EQ(f.asked[0], 1);
    fake_listing_page(&f, false, "a b", make_ours, false);
    ASSERT_STREQ(keys(tv), "a b");
    fake_listing_page(&f, false, "c", make_ours, false);
    ASSERT_STREQ(keys(tv), "a b c");
    ASSERT_TRUE(teleport_view_busy(tv) && !teleport_view_listed(tv) && !teleport_view_complete(tv));
    fake_listing_page(&f, false, "d", make_ours, true);
    ASSERT_EQ(f.asked[1], 1);                 /* then the databases, also in pages */
    fake_listing_page(&f, true, "x", make_ours, false);
    ASSERT_STREQ(keys(tv), "a b c d");
    ASSERT_EQ(s.listed, -1);
    fake_listing_page(&f, true, "y", make_ours, true);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y");
    ASSERT_EQ(s.listed, 1);
    ASSERT_TRUE(!teleport_view_busy(tv) && teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    printf("ok - pages go into the view as they come, the databases at their last page\n");

    /* Nothing the listing lacks leaves the view before its end. */
    s.listed = -1;
    teleport_view_relist(tv);
    fake_listing_page(&f, false, "a b", make_ours, false);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y");
    ASSERT_TRUE(teleport_view_complete(tv));  /* still the last listing's, while this one runs */
    fake_listing_page(&f, false, "b e", make_ours, true);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y e");
    fake_listing_page(&f, true, "", make_ours, true); /* one empty last page */
    ASSERT_STREQ(keys(tv), "a b e");
    ASSERT_EQ(s.listed, 1);
    printf("ok - what a listing lacks leaves the view at its end only\n");

    /* A failure after some pages: the view keeps everything, and is unknown. */
    s.listed = -1;
    teleport_view_relist(tv);
    fake_listing_page(&f, false, "a h", make_ours, false);
    ASSERT_STREQ(keys(tv), "a b e h");
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListApps: UNAVAILABLE: connection reset");
    fake_listing_fail(&f, false, &err);
    ASSERT_STREQ(keys(tv), "a b e h");
    ASSERT_TRUE(!teleport_view_complete(tv));
    ASSERT_EQ(s.listed, 0);
    ASSERT_EQ(f.asked[1], 2);                 /* the databases were not asked for */
    printf("ok - a listing that fails after some pages removes nothing and leaves the view unknown\n");

    /* Databases denied after one of their pages: apps go on, and none of
     * the databases staged from that page is in the view. */
    s.listed = -1;
    teleport_view_relist(tv);
    fake_listing_page(&f, false, "a f", make_ours, true);
    fake_listing_page(&f, true, "z", make_ours, false);
    err_set_grpc(&err, GRPC_STATUS_PERMISSION_DENIED, "ListDatabases: PERMISSION_DENIED: access denied");
    fake_listing_fail(&f, true, &err);
    ASSERT_STREQ(keys(tv), "a f");
    ASSERT_TRUE(teleport_view_complete(tv) && !teleport_view_dbs_known(tv));
    ASSERT_EQ(s.listed, 1);
    printf("ok - databases denied after a page: apps managed, no database from the partial listing\n");

    /* Any other database failure after a page: unknown, nothing removed. */
    s.listed = -1;
    teleport_view_relist(tv);
    fake_listing_page(&f, false, "g", make_ours, true);
    fake_listing_page(&f, true, "z", make_ours, false);
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListDatabases: UNAVAILABLE: connection reset");
    fake_listing_fail(&f, true, &err);
    ASSERT_STREQ(keys(tv), "a f g");
    ASSERT_TRUE(!teleport_view_complete(tv));
    ASSERT_EQ(s.listed, 0);

    /* A write while a listing runs is newer than it: a page does not
     * replace it, and it survives the listing's end; one made with no
     * listing running does not outlive the next listing (asked after it). */
    s.listed = -1;
    teleport_view_relist(tv);
    struct resource w;
    ASSERT_EQ(resource_init(&w), 0);
    ASSERT_EQ(resource_set_str(&w.name, "a"), 0);
    ASSERT_EQ(resource_set_str(&w.uri, "http://10.0.0.6:80"), 0);
    ASSERT_EQ(kv_set(&w.labels, PLANNER_LABEL_OWNER, OWNER), 0);
    teleport_view_written(tv, PLAN_UPDATE, &w, NULL);
    ASSERT_EQ(resource_set_str(&w.name, "new"), 0);
    teleport_view_written(tv, PLAN_CREATE, &w, NULL);
    fake_listing_page(&f, false, "a", make_ours, false);
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.6:80");
    fake_listing_page(&f, false, "f", make_ours, true);
    fake_listing_page(&f, true, "", make_ours, true);
    ASSERT_STREQ(keys(tv), "a f new");
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.6:80");
    ASSERT_TRUE(teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    ASSERT_EQ(resource_set_str(&w.name, "other"), 0);
    teleport_view_written(tv, PLAN_CREATE, &w, NULL);
    ASSERT_STREQ(keys(tv), "a f new other");
    resource_cleanup(&w);
    teleport_view_relist(tv);
    fake_listing_page(&f, false, "a f new", make_ours, true);
    fake_listing_page(&f, true, "", make_ours, true);
    ASSERT_STREQ(keys(tv), "a f new");
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.5:80");
    printf("ok - writes: kept over a listing asked before them, not over one asked after\n");

    teleport_view_close(tv);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    return 0;
}
