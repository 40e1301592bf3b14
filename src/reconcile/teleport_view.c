/* teleport_view.c - see teleport_view.h. */
#include "reconcile/teleport_view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/backoff.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/strmap.h"
#include "net/grpc_frame.h"

#define LIST_BACKOFF_MIN_MS 1000
#define WATCH_BACKOFF_MIN_MS 1000
#define WATCH_BACKOFF_MAX_MS 30000
#define STALE_RELIST_MS 200    /* a write said the view is stale: relist soon */
#define CONFIRM_FIRST_MS 2000
#define CONFIRM_EVERY_MS 5000
/* A listing asked this long after a write is taken to include it even if
 * the watch never showed the write (Auth's cache trails its backend by far
 * less). */
#define RECENT_MAX_MS 5000

/* What enroller last wrote for an app (drift detection), or when it was
 * created (confirmation). */
struct written {
    uint64_t hash;
    uint64_t at_ms;
};

/* A write that succeeded, kept until a listing known to include it has come
 * back.  Listings (GetApps) and the watch are served by Auth's cache, which
 * trails the backend (lib/auth/auth.go Server.GetApps and NewWatcher ->
 * GetCache()): a listing asked right after a write may lack it.  The cache
 * emits an event once it has applied it (lib/cache/cache.go processEvent),
 * so a listing asked after the watch showed the write includes it. */
struct recent_write {
    uint64_t seq;
    uint64_t seen_seq;           /* the watch showed this write (0: not yet) */
    uint64_t at_ms;
    enum plan_op op;
    struct resource_ref *ref;    /* also in the view until a listing replaces it */
};

/* One outstanding call (listing or servers). */
struct req {
    struct list node;          /* on the owner's reqs */
    struct teleport_view *tv;
    uint64_t seq;
    /* A listing: the apps, then the databases, each page by page.  Each
     * page of apps goes into the view as it comes, in place of the view's
     * copy (listing_merge), and its keys are noted here (key -> the
     * listing); the databases are staged apart until their last page (key
     * -> struct resource_ref: a failure there leaves none of them) and
     * merged then.  Once both have answered, what the listing lacks leaves
     * the view (listing_done); a listing that fails removes nothing. */
    struct strmap listed;
    struct strmap staged_dbs;
    bool oom;                  /* a page could not be merged: the listing fails at its end */
    /* Confirmation: the app servers were listed, now the database servers. */
    bool db_phase;
};

struct teleport_view {
    uv_loop_t *loop;
    struct teleport_view_config cfg;
    char *owner;
    struct teleport_ops ops;
    struct teleport_view_callbacks cb;

    /* Keyed by planner_key: an app's name, a database's "db/<name>". */
    /* The view and the record of the last write (recent) hold one counted
     * copy of a resource between them (model/resource.h resource_ref). */
    struct strmap view;          /* key -> struct resource_ref */
    size_t owned;
    struct strmap recent;        /* key -> struct recent_write */
    struct strmap written;       /* key -> struct written (what we last wrote) */
    struct strmap unconfirmed;   /* key -> struct written (created, not yet served) */
    uint64_t seq;
    bool complete, listed, closing;
    uint64_t warned; /* hash of the last listing failure logged, 0 after a success */
    bool dbs_unknown;            /* the last listing could not read databases (denied) */

    /* listing */
    bool running, again;
    uint64_t cut_seq;            /* the watch broke at this sequence */
    struct backoff list_backoff;

    /* watch */
    bool watch_asked;            /* teleport_view_watch was called (never in --once and plan) */
    int watch_id;                /* 0: none */
    bool watch_live;             /* INIT seen: events are deltas of a listing */
    struct backoff watch_backoff;

    bool confirm_running;
    struct kv_list owner_label;  /* {PLANNER_LABEL_OWNER: owner}: the servers a confirmation lists */
    uv_timer_t list_timer, watch_timer, confirm_timer;
    struct list reqs;             /* list head */
};

/* ---- small helpers -------------------------------------------------------------- */

static struct req *req_new(struct teleport_view *tv)
{
    struct req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->tv = tv;
    strmap_init(&q->listed);
    strmap_init(&q->staged_dbs);
    list_push_front(&tv->reqs, &q->node);
    return q;
}

static void staged_clear(struct strmap *m)
{
    size_t it = 0;
    void *val;
    while (strmap_next(m, &it, NULL, &val))
        resource_ref_put(val);
    strmap_cleanup(m);
}

static void req_free(struct req *q)
{
    if (q == NULL)
        return;
    list_remove(&q->node);
    strmap_cleanup(&q->listed);
    staged_clear(&q->staged_dbs);
    free(q);
}

static const char *key_of(const struct resource *res, char buf[PLANNER_KEY_MAX])
{
    return planner_key(res->kind, res->name, buf);
}

static void recent_free(struct recent_write *w)
{
    if (w == NULL)
        return;
    resource_ref_put(w->ref);
    free(w);
}

static void ref_free(struct teleport_view *tv, struct resource_ref *ref)
{
    if (ref == NULL)
        return;
    if (planner_owned(&ref->res, tv->owner))
        tv->owned--;
    resource_ref_put(ref);
}

static void view_clear(struct teleport_view *tv)
{
    size_t it = 0;
    void *val;
    while (strmap_next(&tv->view, &it, NULL, &val))
        ref_free(tv, val);
    strmap_cleanup(&tv->view);
    tv->owned = 0;
}

/* Puts a counted resource (one more reference) into the view; -ENOMEM. */
static int view_put_ref(struct teleport_view *tv, struct resource_ref *ref)
{
    char kb[PLANNER_KEY_MAX];
    void *old = NULL;

    if (strmap_put(&tv->view, key_of(&ref->res, kb), resource_ref_hold(ref), &old) < 0) {
        resource_ref_put(ref);
        return -ENOMEM;
    }
    if (planner_owned(&ref->res, tv->owner))
        tv->owned++;
    ref_free(tv, old);
    return 0;
}

/* Puts a copy of res into the view; -ENOMEM. */
static int view_put(struct teleport_view *tv, const struct resource *res)
{
    struct resource_ref *copy = resource_ref_new(res);
    int rc;

    if (copy == NULL)
        return -ENOMEM;
    rc = view_put_ref(tv, copy);
    resource_ref_put(copy);
    return rc;
}

static void view_del(struct teleport_view *tv, const char *key)
{
    ref_free(tv, strmap_del(&tv->view, key));
}

/* Resources moved into a staging map (key -> counted resource): the pages
 * of databases until their last; -ENOMEM. */
static int stage(struct strmap *m, struct resource_list *items)
{
    for (size_t i = 0; i < items->len; i++) {
        struct resource_ref *copy = resource_ref_take(&items->items[i]);
        char kb[PLANNER_KEY_MAX];
        void *old = NULL;

        if (copy == NULL)
            return -ENOMEM;
        if (strmap_put(m, key_of(&copy->res, kb), copy, &old) < 0) {
            resource_ref_put(copy);
            return -ENOMEM;
        }
        resource_ref_put(old);
    }
    return 0;
}

static void written_put(struct strmap *m, const char *name, uint64_t hash, uint64_t at_ms)
{
    struct written *w = strmap_get(m, name);
    if (w == NULL) {
        if ((w = calloc(1, sizeof(*w))) == NULL)
            return;
        if (strmap_put(m, name, w, NULL) < 0) {
            free(w);
            return;
        }
    }
    w->hash = hash;
    w->at_ms = at_ms;
}

/* Whether a listing may still come back without w's write, so that w must
 * be kept to be put over it (listing_done): one in flight (asked before
 * the write finished), or, once a watch was asked for, one served by a
 * cache that has not applied the write yet (the watch has not shown it and
 * it is younger than RECENT_MAX_MS).  Without a watch a listing asked
 * after a write is taken to include it; so is one asked after the watch
 * showed it.  A record not needed is dropped at once: the next listing
 * would drop it unread (and it may be the only holder of an old copy of
 * the resource once the watch has replaced the view's). */
static bool recent_needed(const struct teleport_view *tv, const struct recent_write *w, bool listing_in_flight)
{
    if (listing_in_flight)
        return true;
    return tv->watch_asked && w->seen_seq == 0 && uv_now(tv->loop) - w->at_ms < RECENT_MAX_MS;
}

/* Records a write of ref (one more reference), unless nothing would read
 * the record (recent_needed); an older record of the name goes either way. */
static void recent_put(struct teleport_view *tv, enum plan_op op, struct resource_ref *ref)
{
    struct recent_write *w;
    void *old = NULL;
    char kb[PLANNER_KEY_MAX];

    if (!tv->running && !tv->watch_asked) {
        recent_free(strmap_del(&tv->recent, key_of(&ref->res, kb)));
        return;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return;
    w->ref = resource_ref_hold(ref);
    w->seq = ++tv->seq;
    w->at_ms = uv_now(tv->loop);
    w->op = op;
    if (strmap_put(&tv->recent, key_of(&ref->res, kb), w, &old) < 0) {
        recent_free(w);
        return;
    }
    recent_free(old);
}

/* ---- the listing ------------------------------------------------------------------ */

/* Whether a listing asked at sequence seq has w's write (else w is put over
 * it).  Writes that finished after it was asked for are newer than it, and
 * so are older ones the cache may not have applied yet (the watch is live
 * and has not shown them); the others are in it. */
static bool listing_has(const struct teleport_view *tv, const struct recent_write *w, uint64_t seq)
{
    bool in_cache = !tv->watch_live || (w->seen_seq != 0 && w->seen_seq <= seq) ||
                    uv_now(tv->loop) - w->at_ms >= RECENT_MAX_MS;
    return w->seq <= seq && in_cache;
}

/* One listed resource (its contents are taken): into the view in place of
 * the view's copy, unless a write of ours is newer than the listing (the
 * view keeps what we wrote; listing_done puts it over the listing again).
 * Its key is noted as listed.  -ENOMEM. */
static int listing_put(struct req *q, struct resource *res)
{
    struct teleport_view *tv = q->tv;
    char kb[PLANNER_KEY_MAX];
    const char *key = key_of(res, kb);
    const struct recent_write *w = strmap_get(&tv->recent, key);
    struct resource_ref *ref;
    int rc;

    if (strmap_put(&q->listed, key, q, NULL) < 0)
        return -ENOMEM;
    if (w != NULL && !listing_has(tv, w, q->seq))
        return 0;
    if ((ref = resource_ref_take(res)) == NULL)
        return -ENOMEM;
    rc = view_put_ref(tv, ref);
    resource_ref_put(ref);
    return rc;
}

/* A page of the listing into the view; a failure is noted and fails the
 * listing at its end. */
static void listing_merge(struct req *q, struct resource_list *items)
{
    for (size_t i = 0; !q->oom && i < items->len; i++)
        if (listing_put(q, &items->items[i]) < 0)
            q->oom = true;
}

static void list_timer_cb(uv_timer_t *h)
{
    teleport_view_relist(h->data);
}

static void finish_listing(struct teleport_view *tv)
{
    tv->running = false;
    tv->listed = true;
    if (tv->complete) {
        tv->warned = 0;
        backoff_reset(&tv->list_backoff);
    } else if (!tv->again) {
        uv_timer_start(&tv->list_timer, list_timer_cb, backoff_next(&tv->list_backoff, NULL), 0);
    }
    tv->cb.on_listed(tv->cb.ud, tv->complete);
    if (tv->again && !tv->closing) {
        tv->again = false;
        teleport_view_relist(tv);
    }
}

/* A listing failure is logged once per distinct message until a listing
 * succeeds: retries with the same error are debug lines. */
static bool listing_warn_first(struct teleport_view *tv, const char *what, const char *msg)
{
    uint64_t h = hash64(hash64(HASH_INIT, what, strlen(what)), msg, strlen(msg));
    if (h == tv->warned) {
        log_debug(LOG_TELEPORT, "%s: %s (again)", what, msg);
        return false;
    }
    tv->warned = h;
    return true;
}

/* The listing failed: the view is unknown until the next one answers. */
static void listing_failed(struct teleport_view *tv, const char *what, const struct enr_error *err)
{
    if (listing_warn_first(tv, what, err->msg))
        log_warn(LOG_TELEPORT, "%s: %s; no writes until Teleport answers", what, err->msg);
    tv->complete = false;
    finish_listing(tv);
}

/* Apps and databases are both in, and in the view: what the listing lacks
 * goes, and our writes newer than it are put over it again. */
static void listing_done(struct req *q)
{
    struct teleport_view *tv = q->tv;
    uint64_t seq = q->seq;
    size_t it = 0;
    const char *name;
    void *val;

    while (strmap_next(&tv->view, &it, &name, NULL))
        if (strmap_get(&q->listed, name) == NULL)
            view_del(tv, name);
    req_free(q);
    /* Events lost in a watch cut after this listing was asked for are not in it. */
    tv->complete = seq > tv->cut_seq;
    it = 0;
    while (strmap_next(&tv->recent, &it, &name, &val)) {
        struct recent_write *w = val;
        if (listing_has(tv, w, seq)) {
            strmap_del(&tv->recent, name);
            recent_free(w);
            continue;
        }
        if (w->op == PLAN_DELETE)
            view_del(tv, name);
        else if (view_put_ref(tv, w->ref) < 0)
            tv->complete = false;
        /* Put over this listing; the next one, asked after now, has it
         * unless the cache may still lack it. */
        if (!recent_needed(tv, w, false)) {
            strmap_del(&tv->recent, name);
            recent_free(w);
        }
    }
    finish_listing(tv);
}

/* Databases the identity may not list (its role has no db rules) or a
 * server without them: apps go on, databases are not managed. */
static bool dbs_denied(const struct enr_error *err)
{
    return err->code == ENR_EGRPC &&
           (err->grpc_status == GRPC_STATUS_PERMISSION_DENIED || err->grpc_status == GRPC_STATUS_UNIMPLEMENTED);
}

/* A page of databases: staged apart until the last; then all of them go
 * into the view and the listing is done. */
static void dbs_page_cb(void *ud, const struct enr_error *err, struct resource_list *dbs, bool last)
{
    struct req *q = ud;
    struct teleport_view *tv = q->tv;

    if (!last) {
        if (!tv->closing && !q->oom && stage(&q->staged_dbs, dbs) < 0)
            q->oom = true;
        return;
    }
    if (tv->closing) {
        req_free(q);
        return;
    }
    if (err != NULL && !dbs_denied(err)) {
        req_free(q);
        listing_failed(tv, "ListDatabases", err);
        return;
    }
    if (err != NULL && !tv->dbs_unknown)
        log_warn(LOG_TELEPORT, "ListDatabases: %s; databases are not managed until the identity may list them "
                 "(role rules for db: list, read)", err->msg);
    else if (err == NULL && tv->dbs_unknown)
        log_info(LOG_TELEPORT, "ListDatabases answers again: databases are managed");
    tv->dbs_unknown = err != NULL;
    if (err == NULL && !q->oom) {
        /* The pages staged apart, then the last one. */
        size_t it = 0;
        void *val;
        while (!q->oom && strmap_next(&q->staged_dbs, &it, NULL, &val))
            if (listing_put(q, &((struct resource_ref *)val)->res) < 0)
                q->oom = true;
        listing_merge(q, dbs);
    }
    if (err == NULL && q->oom) {
        struct enr_error e;
        err_set(&e, -ENOMEM, "out of memory");
        req_free(q);
        listing_failed(tv, "ListDatabases", &e);
        return;
    }
    listing_done(q);
}

/* A page of apps: into the view at once, so the client holds one page at
 * a time; after the last, the databases are asked for. */
static void apps_page_cb(void *ud, const struct enr_error *err, struct resource_list *apps, bool last)
{
    struct req *q = ud;
    struct teleport_view *tv = q->tv;
    struct enr_error e = {0};

    if (!last) {
        if (!tv->closing)
            listing_merge(q, apps);
        return;
    }
    if (tv->closing) {
        req_free(q);
        return;
    }
    if (err != NULL) {
        req_free(q);
        listing_failed(tv, "ListApps", err);
        return;
    }
    listing_merge(q, apps);
    if (q->oom) {
        err_set(&e, -ENOMEM, "out of memory");
        req_free(q);
        listing_failed(tv, "ListApps", &e);
        return;
    }
    if (tv->ops.list_pages(tv->ops.impl, true, dbs_page_cb, q, &e) < 0) {
        req_free(q);
        listing_failed(tv, "ListDatabases", &e);
    }
}

void teleport_view_resync(struct teleport_view *tv)
{
    if (tv->closing || tv->running || teleport_view_live(tv) || uv_is_active((const uv_handle_t *)&tv->list_timer))
        return;
    teleport_view_relist(tv);
}

void teleport_view_relist(struct teleport_view *tv)
{
    struct enr_error err = {0};
    struct req *q;

    if (tv->closing)
        return;
    if (tv->running) {
        tv->again = true;
        return;
    }
    uv_timer_stop(&tv->list_timer);
    tv->running = true;
    if ((q = req_new(tv)) == NULL) {
        err_set(&err, -ENOMEM, "out of memory");
    } else {
        q->seq = ++tv->seq;
        if (tv->ops.list_pages(tv->ops.impl, false, apps_page_cb, q, &err) == 0)
            return;
        req_free(q);
    }
    if (listing_warn_first(tv, "ListApps", err.msg))
        log_warn(LOG_TELEPORT, "ListApps: %s", err.msg);
    tv->complete = false;
    finish_listing(tv);
}

/* ---- writes ------------------------------------------------------------------------ */

static void confirm_timer_cb(uv_timer_t *h);

void teleport_view_written(struct teleport_view *tv, enum plan_op op, const struct resource *res,
                           const struct enr_error *err)
{
    uint64_t now = uv_now(tv->loop);
    char kb[PLANNER_KEY_MAX];
    const char *key = key_of(res, kb);

    if (tv->closing)
        return;
    if (err != NULL) {
        /* Our view of the name is stale.  A live watch brings its present
         * state (the write went to the backend, the watch follows it
         * through Auth's cache); else relist soon and plan from fresh
         * facts. */
        if (err->code == ENR_EGRPC && ((op == PLAN_CREATE && err->grpc_status == GRPC_STATUS_ALREADY_EXISTS) ||
                                       (op == PLAN_UPDATE && err->grpc_status == GRPC_STATUS_NOT_FOUND))) {
            if (teleport_view_live(tv))
                log_debug(LOG_TELEPORT, "%s %s: the watch will show it", plan_op_name(op), res->name);
            else
                uv_timer_start(&tv->list_timer, list_timer_cb, STALE_RELIST_MS, 0);
        }
        return;
    }
    /* One copy for the view and the record of the write. */
    struct resource_ref *ref = resource_ref_new(res);
    if (ref != NULL)
        recent_put(tv, op, ref);
    if (op == PLAN_DELETE) {
        resource_ref_put(ref);
        view_del(tv, key);
        free(strmap_del(&tv->written, key));
        free(strmap_del(&tv->unconfirmed, key));
        return;
    }
    if (ref == NULL || view_put_ref(tv, ref) < 0)
        tv->complete = false;
    resource_ref_put(ref);
    written_put(&tv->written, key, resource_managed_hash(res), now);
    if (op == PLAN_CREATE && tv->cfg.confirm_sec > 0) {
        written_put(&tv->unconfirmed, key, 0, now);
        if (!uv_is_active((uv_handle_t *)&tv->confirm_timer))
            uv_timer_start(&tv->confirm_timer, confirm_timer_cb, CONFIRM_FIRST_MS, 0);
    }
}

bool teleport_view_wrote(const struct teleport_view *tv, const struct resource *res)
{
    char kb[PLANNER_KEY_MAX];
    const struct written *w = strmap_get(&tv->written, key_of(res, kb));
    return w != NULL && w->hash == resource_managed_hash(res);
}

/* ---- confirmation: is a created app served by an Application Service? ------- */

static void served(struct teleport_view *tv, enum resource_kind kind, const char *name)
{
    char kb[PLANNER_KEY_MAX];
    void *val = strmap_del(&tv->unconfirmed, planner_key(kind, name, kb));
    if (val != NULL) {
        if (kind == RESOURCE_DB)
            log_info(LOG_RECONCILE, "database %s is served by a Database Service", name);
        else
            log_info(LOG_RECONCILE, "app %s is served by an Application Service", name);
        free(val);
    }
}

static bool unconfirmed_dbs(const struct teleport_view *tv)
{
    size_t it = 0;
    const char *key;
    enum resource_kind kind;

    while (strmap_next(&tv->unconfirmed, &it, &key, NULL)) {
        planner_key_name(key, &kind);
        if (kind == RESOURCE_DB)
            return true;
    }
    return false;
}

/* The apps (or databases) a confirmation check found not served: how many,
 * and the first UNSERVED_NAMED of them named.  One line for one, one line
 * for many (a misconfigured App Service at 10,000 apps is one line a check,
 * not 10,000). */
#define UNSERVED_NAMED 5

struct unserved {
    size_t n, len;
    char names[UNSERVED_NAMED * (PLANNER_KEY_MAX + 2)];
};

static void unserved_add(struct unserved *u, const char *name)
{
    if (u->n++ < UNSERVED_NAMED && u->len < sizeof(u->names)) {
        int w = snprintf(u->names + u->len, sizeof(u->names) - u->len, "%s%s", u->n > 1 ? ", " : "", name);
        u->len += w > 0 ? (size_t)w : 0;
    }
}

static void unserved_report(const struct teleport_view *tv, enum resource_kind kind, const struct unserved *u)
{
    static const struct kind_words {
        const char *one, *many, *service, *a_service;
    } words[] = {
        [RESOURCE_APP] = {"app", "apps", "Application Service", "an App Service"},
        [RESOURCE_DB] = {"database", "databases", "Database Service", "a Database Service"},
    };
    const struct kind_words *w = &words[kind];
    char hint[128], more[32] = "";

    if (u->n == 0)
        return;
    snprintf(hint, sizeof(hint), "is %s watching %s with these labels? its resources.labels must match",
             w->a_service, w->many);
    if (u->n == 1) {
        log_warn(LOG_RECONCILE, "%s %s is registered but no %s serves it after %us (%s)", w->one, u->names,
                 w->service, tv->cfg.confirm_sec, hint);
        return;
    }
    if (u->n > UNSERVED_NAMED)
        snprintf(more, sizeof(more), " and %zu more", u->n - UNSERVED_NAMED);
    log_warn(LOG_RECONCILE, "%zu %s are registered but no %s serves them after %us: %s%s (%s)", u->n, w->many,
             w->service, tv->cfg.confirm_sec, u->names, more, hint);
}

static void app_servers_cb(void *ud, const struct enr_error *err, struct resource_list *servers)
{
    struct req *q = ud;
    struct teleport_view *tv = q->tv;
    struct unserved apps = {0}, dbs = {0};
    uint64_t now;
    size_t it = 0;
    const char *key;
    void *val;
    bool db_phase = q->db_phase;
    struct enr_error e = {0};

    if (tv->closing) {
        req_free(q);
        return;
    }
    now = uv_now(tv->loop);
    if (err != NULL) {
        log_debug(LOG_TELEPORT, "ListResources(%s): %s", db_phase ? "db_server" : "app_server", err->msg);
    } else {
        for (size_t i = 0; i < servers->len; i++)
            served(tv, db_phase ? RESOURCE_DB : RESOURCE_APP, servers->items[i].name);
    }
    /* Then the database servers, when a created database waits for one. */
    if (!db_phase && tv->ops.list_db_servers != NULL && unconfirmed_dbs(tv)) {
        q->db_phase = true;
        if (tv->ops.list_db_servers(tv->ops.impl, &tv->owner_label, app_servers_cb, q, &e) == 0)
            return;
        log_debug(LOG_TELEPORT, "ListResources(db_server): %s", e.msg);
    }
    req_free(q);
    tv->confirm_running = false;
    /* Created confirm_sec ago and still not served: reported, no longer waited for. */
    while (strmap_next(&tv->unconfirmed, &it, &key, &val)) {
        enum resource_kind kind;
        const char *bare = planner_key_name(key, &kind);
        if (now - ((struct written *)val)->at_ms < (uint64_t)tv->cfg.confirm_sec * 1000)
            continue;
        unserved_add(kind == RESOURCE_DB ? &dbs : &apps, bare);
        free(strmap_del(&tv->unconfirmed, key));
    }
    unserved_report(tv, RESOURCE_APP, &apps);
    unserved_report(tv, RESOURCE_DB, &dbs);
    if (tv->unconfirmed.len > 0)
        uv_timer_start(&tv->confirm_timer, confirm_timer_cb, CONFIRM_EVERY_MS, 0);
}

static void confirm_timer_cb(uv_timer_t *h)
{
    struct teleport_view *tv = h->data;
    struct enr_error err = {0};
    struct req *q;

    if (tv->closing || tv->confirm_running || tv->unconfirmed.len == 0 || (q = req_new(tv)) == NULL)
        return;
    if (tv->ops.list_app_servers(tv->ops.impl, &tv->owner_label, app_servers_cb, q, &err) < 0) {
        req_free(q);
        uv_timer_start(&tv->confirm_timer, confirm_timer_cb, CONFIRM_EVERY_MS, 0);
        return;
    }
    tv->confirm_running = true;
}

/* ---- WatchEvents: see an out-of-band edit within a second ------------------------ */

static void watch_timer_cb(uv_timer_t *h)
{
    teleport_view_watch(h->data);
}

/* The watch shows one of our recent writes: the cache has applied it.
 * True when ev is that write coming back (its first showing). */
static bool mark_seen(struct teleport_view *tv, const struct teleport_event *ev)
{
    char kb[PLANNER_KEY_MAX];
    struct recent_write *w = strmap_get(&tv->recent, key_of(&ev->res, kb));

    if (w == NULL || w->seen_seq != 0)
        return false;
    if (ev->op == TELEPORT_EVENT_DELETE ? w->op == PLAN_DELETE
                                        : (w->op != PLAN_DELETE &&
                                           resource_managed_hash(&ev->res) == resource_managed_hash(&w->ref->res)))
        w->seen_seq = ++tv->seq;
    if (w->seen_seq == 0)
        return false;
    if (!recent_needed(tv, w, tv->running)) {
        strmap_del(&tv->recent, key_of(&ev->res, kb));
        recent_free(w);
    }
    return true;
}

static void watch_event_cb(void *ud, const struct teleport_event *ev)
{
    struct teleport_view *tv = ud;

    if (tv->closing)
        return;
    backoff_reset(&tv->watch_backoff);
    if (ev->op == TELEPORT_EVENT_INIT) {
        /* Events from here on are deltas; a listing taken now is their base. */
        log_info(LOG_TELEPORT, "watching apps%s and databases", tv->cfg.watch_servers ? ", app servers" : "");
        tv->watch_live = true;
        teleport_view_relist(tv);
        if (tv->cb.on_watch != NULL)
            tv->cb.on_watch(tv->cb.ud, true);
        return;
    }
    if (strcmp(ev->kind, "app_server") == 0) {
        if (ev->op == TELEPORT_EVENT_PUT)
            served(tv, RESOURCE_APP, ev->res.name);
        if (tv->cb.on_server != NULL)
            tv->cb.on_server(tv->cb.ud, ev);
        return;
    }
    if (strcmp(ev->kind, "app") != 0 && strcmp(ev->kind, "db") != 0)
        return;
    char kb[PLANNER_KEY_MAX];
    const char *key = key_of(&ev->res, kb);
    log_debug(LOG_TELEPORT, "watch: %s %s %s", ev->kind, ev->res.name,
              ev->op == TELEPORT_EVENT_PUT ? "put" : "deleted");
    bool echo = mark_seen(tv, ev);
    if (ev->op == TELEPORT_EVENT_DELETE)
        view_del(tv, key);
    else if (view_put(tv, &ev->res) < 0)
        tv->complete = false;
    /* Our own write coming back changes nothing the planner decides on:
     * the view held what we wrote since the write answered (only the
     * revision Teleport gave it is new). */
    if (!echo)
        tv->cb.on_change(tv->cb.ud, key);
}

static void watch_end_cb(void *ud, const struct enr_error *err)
{
    struct teleport_view *tv = ud;
    uint64_t wait;

    tv->watch_id = 0;
    if (tv->closing)
        return;
    if (tv->watch_live) {
        if (tv->cb.on_watch != NULL)
            tv->cb.on_watch(tv->cb.ud, false);
        /* Events may be lost from here on: unknown until a listing asked
         * for after now answers.  One is asked for at once (retried while
         * it fails), not only when the watch is back. */
        tv->watch_live = false;
        tv->complete = false;
        tv->cut_seq = ++tv->seq;
        teleport_view_relist(tv);
    }
    wait = backoff_next(&tv->watch_backoff, NULL);
    log_warn(LOG_TELEPORT, "watch ended: %s; resync every %us until it is back (retry in %llu ms)",
             err ? err->msg : "closed by the server", tv->cfg.resync_sec, (unsigned long long)wait);
    uv_timer_start(&tv->watch_timer, watch_timer_cb, wait, 0);
}

void teleport_view_watch(struct teleport_view *tv)
{
    /* AllowPartialSuccess: kinds the identity may not read are left out.
     * Teleport cannot narrow a kind by label (WatchKind.Matches,
     * api/types/events.go): every enroller sees every app of the cluster,
     * so app servers, whose heartbeats never stop, only when asked. */
    static const char *const with_servers[] = {"app", "app_server", "db"}, *const without[] = {"app", "db"};
    const char *const *kinds = tv->cfg.watch_servers ? with_servers : without;
    const size_t n = tv->cfg.watch_servers ? 3 : 2;
    struct enr_error err = {0};
    int id;

    if (tv->closing || tv->watch_id > 0)
        return;
    tv->watch_asked = true;
    if ((id = tv->ops.watch(tv->ops.impl, kinds, n, watch_event_cb, watch_end_cb, tv, &err)) < 0) {
        watch_end_cb(tv, &err);
        return;
    }
    tv->watch_id = id;
}

/* ---- API ---------------------------------------------------------------------------- */

struct teleport_view *teleport_view_new(uv_loop_t *loop, const struct teleport_view_config *cfg,
                                        const struct teleport_ops *ops, const struct teleport_view_callbacks *cb,
                                        struct enr_error *err)
{
    struct teleport_view *tv;

    if (cfg->resync_sec == 0) {
        err_set(err, -EINVAL, "Teleport view: resync period must be > 0");
        return NULL;
    }
    if ((tv = calloc(1, sizeof(*tv))) == NULL || (tv->owner = strdup(cfg->owner)) == NULL ||
        kv_set(&tv->owner_label, PLANNER_LABEL_OWNER, cfg->owner) < 0) {
        if (tv != NULL) {
            kv_cleanup(&tv->owner_label);
            free(tv->owner);
        }
        free(tv);
        err_set(err, -ENOMEM, "Teleport view: out of memory");
        return NULL;
    }
    tv->loop = loop;
    tv->cfg = *cfg;
    tv->cfg.owner = tv->owner;
    tv->ops = *ops;
    tv->cb = *cb;
    strmap_init(&tv->view);
    strmap_init(&tv->recent);
    strmap_init(&tv->written);
    strmap_init(&tv->unconfirmed);
    list_init(&tv->reqs);
    backoff_init(&tv->list_backoff, LIST_BACKOFF_MIN_MS, (uint64_t)tv->cfg.resync_sec * 1000u);
    backoff_init(&tv->watch_backoff, WATCH_BACKOFF_MIN_MS, WATCH_BACKOFF_MAX_MS);
    uv_timer_t *timers[] = {&tv->list_timer, &tv->watch_timer, &tv->confirm_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = tv;
    }
    return tv;
}

bool teleport_view_busy(const struct teleport_view *tv)
{
    return tv->running;
}

bool teleport_view_complete(const struct teleport_view *tv)
{
    return tv->complete;
}

bool teleport_view_listed(const struct teleport_view *tv)
{
    return tv->listed;
}

bool teleport_view_live(const struct teleport_view *tv)
{
    return tv->watch_live && tv->complete && !tv->running;
}

bool teleport_view_dbs_known(const struct teleport_view *tv)
{
    return !tv->dbs_unknown;
}

const struct resource *teleport_view_get(const struct teleport_view *tv, const char *name)
{
    const struct resource_ref *ref = strmap_get(&tv->view, name);
    return ref != NULL ? &ref->res : NULL;
}

bool teleport_view_next(const struct teleport_view *tv, size_t *iter, const struct resource **res)
{
    void *val;
    if (!strmap_next(&tv->view, iter, NULL, &val))
        return false;
    *res = &((const struct resource_ref *)val)->res;
    return true;
}

size_t teleport_view_size(const struct teleport_view *tv)
{
    return tv->view.len;
}

size_t teleport_view_owned(const struct teleport_view *tv)
{
    return tv->owned;
}

void teleport_view_close(struct teleport_view *tv)
{
    if (tv == NULL || tv->closing)
        return;
    tv->closing = true;
    if (tv->watch_id > 0)
        tv->ops.watch_cancel(tv->ops.impl, tv->watch_id);
    tv->watch_id = 0;
    uv_close((uv_handle_t *)&tv->list_timer, NULL);
    uv_close((uv_handle_t *)&tv->watch_timer, NULL);
    uv_close((uv_handle_t *)&tv->confirm_timer, NULL);
}

static void free_values(struct strmap *m)
{
    size_t it = 0;
    void *val;
    while (strmap_next(m, &it, NULL, &val))
        free(val);
    strmap_cleanup(m);
}

void teleport_view_free(struct teleport_view *tv)
{
    size_t it = 0;
    void *val;

    if (tv == NULL)
        return;
    /* Timers must be closed (teleport_view_close + a loop turn) before this. */
    while (!list_empty(&tv->reqs))
        req_free(LIST_ENTRY(tv->reqs.next, struct req, node));
    view_clear(tv);
    while (strmap_next(&tv->recent, &it, NULL, &val))
        recent_free(val);
    strmap_cleanup(&tv->recent);
    free_values(&tv->written);
    free_values(&tv->unconfirmed);
    kv_cleanup(&tv->owner_label);
    free(tv->owner);
    free(tv);
}

void teleport_view_set_confirm(struct teleport_view *tv, unsigned confirm_sec)
{
    tv->cfg.confirm_sec = confirm_sec;
}
