/*
 * test_teleport_view.c - the Teleport side of the reconciler against a fake
 * Auth Service: each case is a script of listings, watch events and writes,
 * and after every step the view ("name=uri" sorted, "!" after an app that is
 * not ours), whether it is complete, what was reported up and whether a
 * listing is waiting are checked.
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

/* ---- the fake Auth Service ------------------------------------------------------ */

struct fake {
    struct fake_listing listing;      /* first: ops.impl is also the listing's */
    teleport_event_cb ev_cb;
    teleport_done_cb end_cb;
    void *ev_ud;
    int watches, cancels;
    bool watching;                    /* a watch is up (not ended) */
    size_t n_kinds;                   /* of the last watch */
};

static int f_list_app_servers(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                              struct enr_error *err)
{
    (void)impl, (void)labels, (void)cb, (void)ud;
    return err_set(err, -ENOTCONN, "not in this test");
}

static int f_watch(void *impl, const char *const *kinds, size_t n, teleport_event_cb ev_cb, teleport_done_cb end_cb,
                   void *ud, struct enr_error *err)
{
    struct fake *f = impl;
    (void)err;
    /* Apps and databases; app servers only when asked (agent mode). */
    ASSERT_TRUE(n == 2 || n == 3);
    ASSERT_STREQ(kinds[0], "app");
    if (n == 3)
        ASSERT_STREQ(kinds[1], "app_server");
    ASSERT_STREQ(kinds[n - 1], "db");
    f->n_kinds = n;
    f->ev_cb = ev_cb;
    f->end_cb = end_cb;
    f->ev_ud = ud;
    f->watching = true;
    return ++f->watches;
}

static void f_watch_cancel(void *impl, int id)
{
    struct fake *f = impl;
    ASSERT_EQ(id, f->watches);
    f->cancels++;
}

/* ---- what the view reports ------------------------------------------------------- */

struct seen {
    char changes[128];
    int listed;                       /* -1: nothing; 0/1: on_listed(complete) */
};

static void on_change(void *ud, const char *name)
{
    struct seen *s = ud;
    size_t n = strlen(s->changes);
    snprintf(s->changes + n, sizeof(s->changes) - n, "%s%s", n ? " " : "", name);
}

static void on_listed(void *ud, bool complete)
{
    ((struct seen *)ud)->listed = complete;
}

/* ---- the script --------------------------------------------------------------------- */

enum op {
    END = 0,
    WATCH,          /* teleport_view_watch */
    RELIST,         /* teleport_view_relist */
    LIST,           /* answer the listing: arg "a=1 b=2!" ("!": not ours) */
    LIST_FAIL,
    INIT,           /* the watch's INIT event */
    PUT,            /* watch: app arg ("name=uri") put */
    DEL,            /* watch: app arg deleted */
    CUT,            /* the watch ends */
    REWATCHED,      /* run the loop until the watch is up again */
    RELISTED,       /* run the loop until a listing is asked for */
    CREATED,        /* a create of arg ("name=uri") succeeded */
    DELETED,        /* a delete of arg succeeded */
    EXISTS,         /* a create of arg failed: ALREADY_EXISTS */
    RESYNC,         /* teleport_view_resync (a Docker resync) */
    IDLE,           /* run the loop for a second */
};

struct step {
    enum op op;
    const char *arg;
    const char *view;         /* afterwards */
    int complete;             /* 0, 1, or LIVE */
    const char *changes;      /* reported during the step */
    int listed;               /* on_listed during the step, -1: none */
    int listing;              /* a listing is waiting afterwards */
};

struct tcase {
    const char *title;
    struct step steps[16];
};

#define NOLIST -1
#define LIVE 2   /* complete, and live: a watch keeps it so (no listing needed at a resync) */

static const struct tcase cases[] = {
    {"listing + watch events -> owned set",
     {{WATCH, NULL, "", 0, "", NOLIST, 0},
      {INIT, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1 b=2!", "a=1 b=2!", LIVE, "", 1, 0},
      {PUT, "c=3", "a=1 b=2! c=3", LIVE, "c", NOLIST, 0},
      {PUT, "a=4", "a=4 b=2! c=3", LIVE, "a", NOLIST, 0},
      {DEL, "b", "a=4 c=3", LIVE, "b", NOLIST, 0}}},
    {"watch cut -> view unknown, nothing absent; relisted at once and after the watch is back",
     {{WATCH, NULL, "", 0, "", NOLIST, 0},
      {INIT, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", LIVE, "", 1, 0},
      {CUT, NULL, "a=1", 0, "", NOLIST, 1},
      {LIST_FAIL, NULL, "a=1", 0, "", 0, 0},
      {RELISTED, NULL, "a=1", 0, "", NOLIST, 1},
      {LIST, "a=1 b=2", "a=1 b=2", 1, "", 1, 0},
      {REWATCHED, NULL, "a=1 b=2", 1, "", NOLIST, 0},
      {INIT, NULL, "a=1 b=2", 1, "", NOLIST, 1},
      {LIST, "a=1", "a=1", LIVE, "", 1, 0}}},
    {"a listing asked for before a watch cut does not make the view complete",
     {{WATCH, NULL, "", 0, "", NOLIST, 0},
      {INIT, NULL, "", 0, "", NOLIST, 1},
      {CUT, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 0, "", 0, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0}}},   /* complete, not live: the watch is not back */
    {"a recent write survives an older listing, not a newer one",
     {{RELIST, NULL, "", 0, "", NOLIST, 1},
      {CREATED, "b=5", "b=5", 0, "", NOLIST, 1},
      {DELETED, "x=9", "b=5", 0, "", NOLIST, 1},
      {LIST, "a=1 x=9", "a=1 b=5", 1, "", 1, 0},
      {RELIST, NULL, "a=1 b=5", 1, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0}}},
    /* Listings and the watch come from Auth's cache, which trails writes
     * (lib/auth/auth.go GetApps/NewWatcher -> GetCache()): with the watch
     * live, a write is kept over listings until the watch has shown it. */
    {"with a live watch, a write is kept over lagging listings until the watch shows it",
     {{WATCH, NULL, "", 0, "", NOLIST, 0},
      {INIT, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1 x=9", "a=1 x=9", LIVE, "", 1, 0},
      {CREATED, "b=5", "a=1 b=5 x=9", LIVE, "", NOLIST, 0},
      {DELETED, "x=9", "a=1 b=5", LIVE, "", NOLIST, 0},
      {RELIST, NULL, "a=1 b=5", 1, "", NOLIST, 1},
      {LIST, "a=1 x=9", "a=1 b=5", LIVE, "", 1, 0},
      {PUT, "b=4", "a=1 b=4", LIVE, "b", NOLIST, 0},
      {RELIST, NULL, "a=1 b=4", 1, "", NOLIST, 1},
      {LIST, "a=1", "a=1 b=5", LIVE, "", 1, 0},
      {PUT, "b=5", "a=1 b=5", LIVE, "", NOLIST, 0},   /* our write back: nothing to plan */
      {DEL, "x", "a=1 b=5", LIVE, "", NOLIST, 0},
      {RELIST, NULL, "a=1 b=5", 1, "", NOLIST, 1},
      {LIST, "a=1", "a=1", LIVE, "", 1, 0}}},
    {"a failed listing: unknown, nothing absent, and retried",
     {{RELIST, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0},
      {RELIST, NULL, "a=1", 1, "", NOLIST, 1},
      {LIST_FAIL, NULL, "a=1", 0, "", 0, 0},
      {RELISTED, NULL, "a=1", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0}}},
    {"a create that finds the name taken relists soon",
     {{RELIST, NULL, "", 0, "", NOLIST, 1},
      {LIST, "", "", 1, "", 1, 0},
      {EXISTS, "a=1", "", 1, "", NOLIST, 0},
      {RELISTED, NULL, "", 1, "", NOLIST, 1},
      {LIST, "a=2!", "a=2!", 1, "", 1, 0}}},
    /* The create went to the backend; the watch follows it through Auth's
     * cache, so it shows the name's owner without a listing. */
    {"with a live watch, a create that finds the name taken waits for the watch, not a listing",
     {{WATCH, NULL, "", 0, "", NOLIST, 0},
      {INIT, NULL, "", 0, "", NOLIST, 1},
      {LIST, "", "", LIVE, "", 1, 0},
      {EXISTS, "a=1", "", LIVE, "", NOLIST, 0},
      {IDLE, NULL, "", LIVE, "", NOLIST, 0},
      {PUT, "a=2!", "a=2!", LIVE, "a", NOLIST, 0}}},
    {"a resync lists only when no listing runs, none is due to retry and no watch keeps the view",
     {{RELIST, NULL, "", 0, "", NOLIST, 1},
      {RESYNC, NULL, "", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0},       /* and none after it */
      {RESYNC, NULL, "a=1", 1, "", NOLIST, 1},
      {LIST_FAIL, NULL, "a=1", 0, "", 0, 0},
      {RESYNC, NULL, "a=1", 0, "", NOLIST, 0}, /* the retry's backoff decides */
      {RELISTED, NULL, "a=1", 0, "", NOLIST, 1},
      {LIST, "a=1", "a=1", 1, "", 1, 0},
      {WATCH, NULL, "a=1", 1, "", NOLIST, 0},
      {INIT, NULL, "a=1", 1, "", NOLIST, 1},
      {LIST, "a=1", "a=1", LIVE, "", 1, 0},
      {RESYNC, NULL, "a=1", LIVE, "", NOLIST, 0}}},
};

/* "a=1" or "a=1!" -> an app named a with uri http://a:1, ours unless "!". */
static void make_app(struct resource *r, const char *spec)
{
    char name[32], uri[64];
    const char *eq = strchr(spec, '=');
    size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
    bool ours = strchr(spec, '!') == NULL;

    snprintf(name, sizeof(name), "%.*s", (int)len, spec);
    snprintf(uri, sizeof(uri), "http://%s:%d", name, eq ? atoi(eq + 1) : 0);
    ASSERT_EQ(resource_init(r), 0);
    ASSERT_EQ(resource_set_str(&r->name, name), 0);
    ASSERT_EQ(resource_set_str(&r->uri, uri), 0);
    ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
    if (ours)
        ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, OWNER), 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The view as "a=1 b=2!", sorted; checks the owned count on the way. */
static void show(const struct teleport_view *tv, char *out, size_t len)
{
    char items[16][48];
    const char *sorted[16];
    const struct resource *r;
    size_t n = 0, owned = 0, it = 0;

    while (teleport_view_next(tv, &it, &r)) {
        const char *o = kv_get(&r->labels, PLANNER_LABEL_OWNER);
        const char *port = strrchr(r->uri, ':');
        bool ours = o != NULL && strcmp(o, OWNER) == 0;
        ASSERT_TRUE(n < 16);
        snprintf(items[n], sizeof(items[n]), "%s=%s%s", r->name, port ? port + 1 : "?", ours ? "" : "!");
        ASSERT_TRUE(teleport_view_get(tv, r->name) == r);
        sorted[n] = items[n];
        n++;
        owned += ours;
    }
    ASSERT_EQ(teleport_view_owned(tv), owned);
    ASSERT_EQ(teleport_view_size(tv), n);
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", i ? " " : "", sorted[i]);
    }
}

static void make_listed(struct resource *r, const char *word, bool db)
{
    ASSERT_TRUE(!db);                 /* the cases list no databases */
    resource_cleanup(r);
    make_app(r, word);
}

/* Answers the listing: its apps in one page, then its databases (none). */
static void answer_list(struct fake *f, const char *spec, bool fail)
{
    struct enr_error err = {0};

    if (fail) {
        err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListApps: UNAVAILABLE: connection refused");
        fake_listing_fail(&f->listing, false, &err);
        return;
    }
    fake_listing_page(&f->listing, false, spec, make_listed, true);
    fake_listing_page(&f->listing, true, "", make_listed, true);
}

static void watch_event(struct fake *f, enum teleport_event_op op, const char *spec)
{
    struct teleport_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    if (spec != NULL) {
        snprintf(ev.kind, sizeof(ev.kind), "app");
        make_app(&ev.res, spec);
    } else {
        ASSERT_EQ(resource_init(&ev.res), 0);
    }
    f->ev_cb(f->ev_ud, &ev);
    resource_cleanup(&ev.res);
}

/* Runs the loop until the watch is up again (watch) or a listing waits. */
static void wait_until(uv_loop_t *loop, const struct fake *f, bool watch)
{
    uint64_t deadline = uv_now(loop) + 20000;
    while (!(watch ? f->watching : f->listing.cb != NULL) && uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
    ASSERT_TRUE(watch ? f->watching : f->listing.cb != NULL);
}

static void idle_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop for ms: whatever the view has timed comes due meanwhile. */
static void idle(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, idle_cb, ms, 0);
    while (uv_is_active((uv_handle_t *)&t))
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void wrote(struct teleport_view *tv, enum plan_op op, const char *spec, const struct enr_error *err)
{
    struct resource r;
    make_app(&r, spec);
    teleport_view_written(tv, op, &r, err);
    if (err == NULL && op != PLAN_DELETE)
        ASSERT_TRUE(teleport_view_wrote(tv, &r));
    resource_cleanup(&r);
}

static void run_case(const struct tcase *tc)
{
    uv_loop_t loop;
    struct fake f = {0};
    struct seen s;
    struct teleport_ops ops = {.list_pages = fake_listing_pages, .list_app_servers = f_list_app_servers,
                               .watch = f_watch, .watch_cancel = f_watch_cancel, .impl = &f};
    struct teleport_view_config cfg = {.owner = OWNER, .resync_sec = 3600};
    struct teleport_view_callbacks cb = {.on_change = on_change, .on_listed = on_listed, .ud = &s};
    struct enr_error err = {0};
    struct teleport_view *tv;
    char view[256];

    ASSERT_EQ(uv_loop_init(&loop), 0);
    tv = teleport_view_new(&loop, &cfg, &ops, &cb, &err);
    ASSERT_TRUE(tv != NULL);
    for (const struct step *st = tc->steps; st->op != END; st++) {
        s.changes[0] = '\0';
        s.listed = NOLIST;
        switch (st->op) {
        case WATCH:
            teleport_view_watch(tv);
            ASSERT_EQ(f.watches, 1);
            ASSERT_EQ(f.n_kinds, 2); /* no app servers unless asked */
            break;
        case RELIST:
            teleport_view_relist(tv);
            break;
        case LIST:
        case LIST_FAIL:
            answer_list(&f, st->arg, st->op == LIST_FAIL);
            break;
        case INIT:
            watch_event(&f, TELEPORT_EVENT_INIT, NULL);
            break;
        case PUT:
            watch_event(&f, TELEPORT_EVENT_PUT, st->arg);
            break;
        case DEL:
            watch_event(&f, TELEPORT_EVENT_DELETE, st->arg);
            break;
        case CUT:
            err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "WatchEvents: UNAVAILABLE: connection reset");
            f.watching = false;
            f.end_cb(f.ev_ud, &err);
            break;
        case REWATCHED:
            wait_until(&loop, &f, true);
            break;
        case RELISTED:
            wait_until(&loop, &f, false);
            break;
        case CREATED:
            wrote(tv, PLAN_CREATE, st->arg, NULL);
            break;
        case DELETED:
            wrote(tv, PLAN_DELETE, st->arg, NULL);
            break;
        case EXISTS:
            err_set_grpc(&err, GRPC_STATUS_ALREADY_EXISTS, "CreateApp: ALREADY_EXISTS: app exists");
            wrote(tv, PLAN_CREATE, st->arg, &err);
            break;
        case RESYNC:
            teleport_view_resync(tv);
            break;
        case IDLE:
            idle(&loop, 1000);
            break;
        default:
            break;
        }
        show(tv, view, sizeof(view));
        if (strcmp(view, st->view) != 0 || teleport_view_complete(tv) != (st->complete != 0) ||
            teleport_view_live(tv) != (st->complete == LIVE) ||
            strcmp(s.changes, st->changes) != 0 || s.listed != st->listed || (f.listing.cb != NULL) != st->listing ||
            teleport_view_busy(tv) != st->listing) {
            fprintf(stderr, "case \"%s\", step %zu: view \"%s\" (want \"%s\"), complete %d (want %d), reported "
                    "\"%s\" (want \"%s\"), listed %d (want %d), listing %d (want %d)\n", tc->title,
                    (size_t)(st - tc->steps), view, st->view,
                    teleport_view_complete(tv) + teleport_view_live(tv), st->complete, s.changes,
                    st->changes, s.listed, st->listed, f.listing.cb != NULL, st->listing);
            exit(1);
        }
    }
    teleport_view_close(tv);
    ASSERT_EQ(f.cancels, f.watching ? 1 : 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - %s\n", tc->title);
}

/* ---- databases: listed after the apps, keyed "db/<name>" ------------------------- */

struct dbfake {
    struct fake_listing listing;      /* first: ops.impl is also the listing's */
    size_t n_kinds;
    teleport_event_cb ev_cb;
    void *ev_ud;
};

static int d_watch(void *impl, const char *const *kinds, size_t n, teleport_event_cb ev_cb, teleport_done_cb end_cb,
                   void *ud, struct enr_error *err)
{
    struct dbfake *f = impl;
    (void)end_cb, (void)err;
    f->n_kinds = n;
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(kinds[1], "db");
    f->ev_cb = ev_cb;
    f->ev_ud = ud;
    return 1;
}

static void d_watch_cancel(void *impl, int id)
{
    (void)impl, (void)id;
}

/* "pg": an app not ours, or a database of ours. */
static void make_pg(struct resource *r, const char *word, bool db)
{
    r->kind = db ? RESOURCE_DB : RESOURCE_APP;
    ASSERT_EQ(resource_set_str(&r->name, word), 0);
    ASSERT_EQ(resource_set_str(&r->uri, db ? "10.0.0.5:5432" : "http://10.0.0.5:80"), 0);
    if (db) {
        ASSERT_EQ(resource_set_str(&r->protocol, "postgres"), 0);
        ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, OWNER), 0);
    }
}

/* One listing: the apps (an unowned app "pg"), then the databases (ours,
 * also "pg") or the databases' error. */
static void d_list(struct teleport_view *tv, struct dbfake *f, const struct enr_error *dbs_err)
{
    teleport_view_relist(tv);
    ASSERT_TRUE(f->listing.cb != NULL && !f->listing.db);   /* the apps first */
    fake_listing_page(&f->listing, false, "pg", make_pg, true);
    ASSERT_TRUE(teleport_view_busy(tv));   /* not done before the databases answer */
    ASSERT_TRUE(f->listing.cb != NULL && f->listing.db);
    if (dbs_err != NULL)
        fake_listing_fail(&f->listing, true, dbs_err);
    else
        fake_listing_page(&f->listing, true, "pg", make_pg, true);
    ASSERT_TRUE(!teleport_view_busy(tv));
}

static void test_databases(void)
{
    uv_loop_t loop;
    struct dbfake f = {0};
    struct seen s = {{0}, NOLIST};
    struct teleport_ops ops = {.list_pages = fake_listing_pages, .watch = d_watch, .watch_cancel = d_watch_cancel,
                               .impl = &f};
    struct teleport_view_config cfg = {.owner = OWNER, .resync_sec = 3600};
    struct teleport_view_callbacks cb = {.on_change = on_change, .on_listed = on_listed, .ud = &s};
    struct enr_error err = {0};
    struct teleport_event ev;
    struct teleport_view *tv;
    const struct resource *r;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    tv = teleport_view_new(&loop, &cfg, &ops, &cb, &err);
    ASSERT_TRUE(tv != NULL);

    /* An app and a database share the name "pg": both are in the view. */
    d_list(tv, &f, NULL);
    ASSERT_TRUE(teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    ASSERT_EQ(teleport_view_size(tv), 2);
    ASSERT_EQ(teleport_view_owned(tv), 1);
    ASSERT_TRUE((r = teleport_view_get(tv, "pg")) != NULL && r->kind == RESOURCE_APP);
    ASSERT_TRUE((r = teleport_view_get(tv, "db/pg")) != NULL && r->kind == RESOURCE_DB);
    ASSERT_STREQ(r->protocol, "postgres");

    /* The watch covers databases; a db event reports the database's key. */
    teleport_view_watch(tv);
    ASSERT_EQ(f.n_kinds, 2);
    memset(&ev, 0, sizeof(ev));
    ASSERT_EQ(resource_init(&ev.res), 0);
    ev.op = TELEPORT_EVENT_DELETE;
    snprintf(ev.kind, sizeof(ev.kind), "db");
    ev.res.kind = RESOURCE_DB;
    ASSERT_EQ(resource_set_str(&ev.res.name, "pg"), 0);
    f.ev_cb(f.ev_ud, &ev);
    resource_cleanup(&ev.res);
    ASSERT_STREQ(s.changes, "db/pg");
    ASSERT_TRUE(teleport_view_get(tv, "db/pg") == NULL);
    ASSERT_TRUE(teleport_view_get(tv, "pg") != NULL);   /* the app of that name stays */
    ASSERT_EQ(teleport_view_owned(tv), 0);

    /* Databases the identity may not list: apps go on, databases unknown. */
    err_set_grpc(&err, GRPC_STATUS_PERMISSION_DENIED, "ListDatabases: PERMISSION_DENIED: access denied");
    d_list(tv, &f, &err);
    ASSERT_TRUE(teleport_view_complete(tv));
    ASSERT_TRUE(!teleport_view_dbs_known(tv));
    ASSERT_EQ(teleport_view_size(tv), 1);

    /* Any other database failure makes the whole view unknown. */
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "ListDatabases: UNAVAILABLE: connection reset");
    d_list(tv, &f, &err);
    ASSERT_TRUE(!teleport_view_complete(tv));

    /* And a good listing brings both back. */
    d_list(tv, &f, NULL);
    ASSERT_TRUE(teleport_view_complete(tv) && teleport_view_dbs_known(tv));
    ASSERT_EQ(teleport_view_size(tv), 2);

    teleport_view_close(tv);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - databases: listed after the apps, keyed apart from apps of the same name, denied is not fatal\n");
}

/* ---- app_server events and the watch's state, passed on (agent mode) ------------- */

struct servers_seen {
    int live, ended, servers;
    char last[128];
};

static void on_server_cb(void *ud, const struct teleport_event *ev)
{
    struct servers_seen *ss = ud;
    ss->servers++;
    snprintf(ss->last, sizeof(ss->last), "%s %s %s %s", ev->op == TELEPORT_EVENT_PUT ? "put" : "del", ev->kind,
             ev->res.name, ev->res.container_id ? ev->res.container_id : "");
}

static void on_watch_cb(void *ud, bool live)
{
    struct servers_seen *ss = ud;
    if (live)
        ss->live++;
    else
        ss->ended++;
}

static void noop_change(void *ud, const char *name) { (void)ud, (void)name; }
static void noop_listed(void *ud, bool complete) { (void)ud, (void)complete; }

static void test_server_callbacks(void)
{
    uv_loop_t loop;
    struct fake f = {0};
    struct servers_seen ss = {0};
    struct teleport_ops ops = {.list_pages = fake_listing_pages, .list_app_servers = f_list_app_servers,
                               .watch = f_watch, .watch_cancel = f_watch_cancel, .impl = &f};
    struct teleport_view_config cfg = {.owner = OWNER, .resync_sec = 3600, .watch_servers = true};
    struct teleport_view_callbacks cb = {.on_change = noop_change, .on_listed = noop_listed,
                                         .on_server = on_server_cb, .on_watch = on_watch_cb, .ud = &ss};
    struct enr_error err = {0};
    struct teleport_event ev;
    struct teleport_view *tv;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_TRUE((tv = teleport_view_new(&loop, &cfg, &ops, &cb, &err)) != NULL);
    teleport_view_watch(tv);
    ASSERT_EQ(f.n_kinds, 3);
    ASSERT_EQ(ss.live, 0);
    watch_event(&f, TELEPORT_EVENT_INIT, NULL);
    ASSERT_EQ(ss.live, 1);
    memset(&ev, 0, sizeof(ev));
    ev.op = TELEPORT_EVENT_PUT;
    snprintf(ev.kind, sizeof(ev.kind), "app_server");
    make_app(&ev.res, "web1=80");
    ASSERT_EQ(resource_set_str(&ev.res.container_id, "host-1"), 0);
    f.ev_cb(f.ev_ud, &ev);
    resource_cleanup(&ev.res);
    ASSERT_EQ(ss.servers, 1);
    ASSERT_STREQ(ss.last, "put app_server web1 host-1");
    watch_event(&f, TELEPORT_EVENT_PUT, "web2=80"); /* an app: not a server */
    ASSERT_EQ(ss.servers, 1);
    err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "WatchEvents: UNAVAILABLE: connection reset");
    f.watching = false;
    f.end_cb(f.ev_ud, &err);
    ASSERT_EQ(ss.ended, 1);
    ASSERT_EQ(ss.live, 1);
    teleport_view_close(tv);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - app_server events and the watch's state are passed on\n");
}

/* ---- created but not served after confirm_sec: one line for one, one for many ---- */

struct confirm_fake {
    struct fake f;                    /* first: ops.impl is also the listing's */
    teleport_list_cb cb;              /* the ListResources(app_server) asked, answered by the test */
    void *ud;
    int asks;
};

static int f_list_servers_later(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                                struct enr_error *err)
{
    struct confirm_fake *c = impl;
    (void)err;
    /* Only the owner's servers are listed, however large the cluster. */
    ASSERT_TRUE(labels != NULL);
    ASSERT_EQ(labels->len, 1);
    ASSERT_STREQ(kv_get(labels, PLANNER_LABEL_OWNER), OWNER);
    c->cb = cb;
    c->ud = ud;
    c->asks++;
    return 0;
}

/* Answers the waiting app_server listing with the apps in served (NULL: none)
 * and returns what was logged meanwhile. */
static char *answer_servers(struct confirm_fake *c, const char *served)
{
    static char buf[4096];
    struct resource_list l;
    struct test_stderr cap;

    resource_list_init(&l);
    if (served != NULL)
        make_app(resource_list_push(&l), served);
    test_stderr_begin(&cap);
    c->cb(c->ud, NULL, &l);
    test_stderr_end(&cap, buf, sizeof(buf));
    resource_list_cleanup(&l);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_not_served_report(void)
{
    static const char *const apps[] = {"a1=80", "a2=80", "a3=80", "a4=80", "a5=80", "a6=80", "a7=80", "a8=80"};
    uv_loop_t loop;
    struct confirm_fake c = {0};
    struct teleport_ops ops = {.list_pages = fake_listing_pages, .list_app_servers = f_list_servers_later,
                               .list_db_servers = f_list_servers_later, .watch = f_watch,
                               .watch_cancel = f_watch_cancel, .impl = &c};
    struct teleport_view_config cfg = {.owner = OWNER, .resync_sec = 3600, .confirm_sec = 1};
    struct resource db;
    struct teleport_view_callbacks cb = {.on_change = noop_change, .on_listed = noop_listed};
    struct enr_error err = {0};
    struct teleport_view *tv;
    char *out;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_TRUE((tv = teleport_view_new(&loop, &cfg, &ops, &cb, &err)) != NULL);
    /* 8 created, a1 served: the other 7 in one line naming 5 of them. */
    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
        wrote(tv, PLAN_CREATE, apps[i], NULL);
    while (c.asks == 0)
        uv_run(&loop, UV_RUN_ONCE);
    out = answer_servers(&c, "a1=80");
    ASSERT_EQ(count_lines(out), 2);
    ASSERT_CONTAINS(out, "app a1 is served by an Application Service\n");
    ASSERT_CONTAINS(out, "warn  reconcile: 7 apps are registered but no Application Service serves them after 1s: a");
    ASSERT_CONTAINS(out, " and 2 more (is an App Service watching apps with these labels? its resources.labels "
                         "must match)\n");
    ASSERT_TRUE(strstr(strstr(out, "7 apps"), "a1") == NULL);
    /* Reported once: a later create is checked alone, and named alone. */
    wrote(tv, PLAN_CREATE, "b1=80", NULL);
    while (c.asks == 1)
        uv_run(&loop, UV_RUN_ONCE);
    out = answer_servers(&c, NULL);
    ASSERT_EQ(count_lines(out), 1);
    ASSERT_CONTAINS(out, "warn  reconcile: app b1 is registered but no Application Service serves it after 1s (is an "
                         "App Service watching apps with these labels? its resources.labels must match)\n");
    /* Databases: their servers are asked after the apps', and the line names them so. */
    for (int i = 1; i <= 2; i++) {
        char spec[8];
        snprintf(spec, sizeof(spec), "d%d=5432", i);
        make_app(&db, spec);
        db.kind = RESOURCE_DB;
        teleport_view_written(tv, PLAN_CREATE, &db, NULL);
        resource_cleanup(&db);
    }
    while (c.asks == 2)
        uv_run(&loop, UV_RUN_ONCE);
    out = answer_servers(&c, NULL); /* the app servers: the databases' are asked next */
    ASSERT_EQ(count_lines(out), 0);
    ASSERT_EQ(c.asks, 4);
    out = answer_servers(&c, NULL);
    ASSERT_EQ(count_lines(out), 1);
    ASSERT_CONTAINS(out, "warn  reconcile: 2 databases are registered but no Database Service serves them after 1s: d");
    ASSERT_CONTAINS(out, " (is a Database Service watching databases with these labels? its resources.labels must "
                         "match)\n");
    ASSERT_TRUE(strstr(out, "d1") != NULL && strstr(out, "d2") != NULL && strstr(out, "db/") == NULL);
    teleport_view_close(tv);
    uv_run(&loop, UV_RUN_DEFAULT);
    teleport_view_free(tv);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - apps and databases not served are reported once, in one line for many\n");
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    test_databases();
    test_server_callbacks();
    test_not_served_report();
    return 0;
}
