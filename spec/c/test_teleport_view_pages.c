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

#include "net/grpc_frame.h"
#include "reconcile/teleport_view.h"
#include "test.h"

#define OWNER "host-a"

struct pfake {
    teleport_page_cb cb;
    void *ud;
    int asked[2];             /* list_pages calls: [0] apps, [1] databases */
    int last_db;              /* db of the last call */
    int whole;                /* calls of the whole-listing ops (must stay 0) */
};

static int p_pages(void *impl, bool db, teleport_page_cb cb, void *ud, struct enr_error *err)
{
    struct pfake *f = impl;
    (void)err;
    ASSERT_TRUE(f->cb == NULL);   /* one listing at a time */
    f->cb = cb;
    f->ud = ud;
    f->asked[db]++;
    f->last_db = db;
    return 0;
}

static int p_whole(void *impl, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    struct pfake *f = impl;
    (void)cb, (void)ud;
    f->whole++;
    return err_set(err, -ENOTCONN, "the whole-listing call is not used when pages are offered");
}

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

/* spec: "a b c" apps (ours) or databases, named so. */
static void page(struct pfake *f, bool db, const char *spec, const struct enr_error *err, bool last)
{
    struct resource_list l;
    char buf[128], *save = NULL;
    teleport_page_cb cb = f->cb;
    void *ud = f->ud;

    ASSERT_TRUE(cb != NULL);
    ASSERT_EQ(f->last_db, db);
    if (last)
        f->cb = NULL;
    if (err != NULL) {
        ASSERT_TRUE(last);
        cb(ud, err, NULL, true);
        return;
    }
    resource_list_init(&l);
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        struct resource *r = resource_list_push(&l);
        ASSERT_TRUE(r != NULL);
        r->kind = db ? RESOURCE_DB : RESOURCE_APP;
        ASSERT_EQ(resource_set_str(&r->name, tok), 0);
        ASSERT_EQ(resource_set_str(&r->uri, db ? "10.0.0.5:5432" : "http://10.0.0.5:80"), 0);
        ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
        ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, OWNER), 0);
    }
    cb(ud, NULL, &l, last);
    resource_list_cleanup(&l);
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
    struct pfake f = {0};
    struct seen s = {-1, 0};
    struct teleport_ops ops = {.get_apps = p_whole, .list_databases = p_whole, .list_pages = p_pages,
                               .watch = p_watch, .watch_cancel = p_watch_cancel, .impl = &f};
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
    page(&f, false, "a b", NULL, false);
    ASSERT_STREQ(keys(tv), "a b");
    page(&f, false, "c", NULL, false);
    ASSERT_STREQ(keys(tv), "a b c");
    ASSERT_TRUE(teleport_view_busy(tv) && !teleport_view_listed(tv) && !teleport_view_complete(tv));
    page(&f, false, "d", NULL, true);
    ASSERT_EQ(f.asked[1], 1);                 /* then the databases, also in pages */
    page(&f, true, "x", NULL, false);
    ASSERT_STREQ(keys(tv), "a b c d");
    ASSERT_EQ(s.listed, -1);
    page(&f, true, "y", NULL, true);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y");
    ASSERT_EQ(s.listed, 1);
    ASSERT_TRUE(!teleport_view_busy(tv) && teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    printf("ok - pages go into the view as they come, the databases at their last page\n");

    /* Nothing the listing lacks leaves the view before its end. */
    s.listed = -1;
    teleport_view_relist(tv);
    page(&f, false, "a b", NULL, false);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y");
    ASSERT_TRUE(teleport_view_complete(tv));  /* still the last listing's, while this one runs */
    page(&f, false, "b e", NULL, true);
    ASSERT_STREQ(keys(tv), "a b c d db/x db/y e");
    page(&f, true, "", NULL, true);           /* one empty last page */
    ASSERT_STREQ(keys(tv), "a b e");
    ASSERT_EQ(s.listed, 1);
    printf("ok - what a listing lacks leaves the view at its end only\n");

    /* A failure after some pages: the view keeps everything, and is unknown. */
    s.listed = -1;
    teleport_view_relist(tv);
    page(&f, false, "a h", NULL, false);
    ASSERT_STREQ(keys(tv), "a b e h");
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListApps: UNAVAILABLE: connection reset");
    page(&f, false, NULL, &err, true);
    ASSERT_STREQ(keys(tv), "a b e h");
    ASSERT_TRUE(!teleport_view_complete(tv));
    ASSERT_EQ(s.listed, 0);
    ASSERT_EQ(f.asked[1], 2);                 /* the databases were not asked for */
    printf("ok - a listing that fails after some pages removes nothing and leaves the view unknown\n");

    /* Databases denied after one of their pages: apps go on, and none of
     * the databases staged from that page is in the view. */
    s.listed = -1;
    teleport_view_relist(tv);
    page(&f, false, "a f", NULL, true);
    page(&f, true, "z", NULL, false);
    err_set_grpc(&err, GRPC_STATUS_PERMISSION_DENIED, "ListDatabases: PERMISSION_DENIED: access denied");
    page(&f, true, NULL, &err, true);
    ASSERT_STREQ(keys(tv), "a f");
    ASSERT_TRUE(teleport_view_complete(tv) && !teleport_view_dbs_known(tv));
    ASSERT_EQ(s.listed, 1);
    printf("ok - databases denied after a page: apps managed, no database from the partial listing\n");

    /* Any other database failure after a page: unknown, nothing removed. */
    s.listed = -1;
    teleport_view_relist(tv);
    page(&f, false, "g", NULL, true);
    page(&f, true, "z", NULL, false);
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListDatabases: UNAVAILABLE: connection reset");
    page(&f, true, NULL, &err, true);
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
    page(&f, false, "a", NULL, false);
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.6:80");
    page(&f, false, "f", NULL, true);
    page(&f, true, "", NULL, true);
    ASSERT_STREQ(keys(tv), "a f new");
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.6:80");
    ASSERT_TRUE(teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    ASSERT_EQ(resource_set_str(&w.name, "other"), 0);
    teleport_view_written(tv, PLAN_CREATE, &w, NULL);
    ASSERT_STREQ(keys(tv), "a f new other");
    resource_cleanup(&w);
    teleport_view_relist(tv);
    page(&f, false, "a f new", NULL, true);
    page(&f, true, "", NULL, true);
    ASSERT_STREQ(keys(tv), "a f new");
    ASSERT_STREQ(teleport_view_get(tv, "a")->uri, "http://10.0.0.5:80");
    printf("ok - writes: kept over a listing asked before them, not over one asked after\n");

    ASSERT_EQ(f.whole, 0);
    teleport_view_close(tv);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    return 0;
}
