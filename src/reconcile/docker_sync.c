/* docker_sync.c - see docker_sync.h. */
#include "reconcile/docker_sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/backoff.h"
#include "base/intern.h"
#include "base/log.h"
#include "base/strmap.h"
#include "reconcile/limits.h"

#define FULL_EVERY 10          /* every 10th listing inspects every container */
#define EVENTS_BACKOFF_MIN_MS 500
#define EVENTS_BACKOFF_MAX_MS 30000
#define RESYNC_BACKOFF_MIN_MS 1000

/* What is known of one container id. */
struct track {
    uint64_t seq;              /* sequence of the inspect or removal last applied */
    uint64_t list_hash;        /* hash of its list entry when last inspected */
    uint64_t listed_seq;       /* sequence of the last listing that named it */
    uint64_t stream_gen;       /* ds->stream_gen when the inspect last applied was asked;
                                * 0: the stream was down */
    bool live;                 /* running, as last reported */
    bool failed;               /* last inspect failed */
    bool inspecting, inspect_again;
    bool died;                 /* the last event about it was a die: down until a start */
};

/* One outstanding call; all are on ds->reqs so that docker_sync_free can
 * release those whose callbacks will never run. */
struct req {
    struct list node;          /* on the owner's reqs */
    struct docker_sync *ds;
    uint64_t seq;
    uint64_t stream_gen;       /* inspect: ds->stream_gen when asked, 0 if the stream was down */
    bool from_resync;
    char id[80];
};

struct docker_sync {
    uv_loop_t *loop;
    struct docker_sync_config cfg;
    struct docker_ops ops;
    struct docker_sync_callbacks cb;
    struct strmap tracks;      /* container id -> struct track */
    uint64_t seq;
    bool complete, closing;
    uv_timer_t resync_timer, events_timer;
    struct list reqs;           /* list head */

    /* events */
    bool events_running, events_cut;
    uint64_t stream_gen;       /* counts the stream's (re)subscriptions; 0: never up */
    int64_t last_event_nano;
    struct backoff events_backoff;

    /* the listing */
    bool running, again, list_ok, list_pending, partial, full, first_done;
    unsigned since_full;
    uint64_t list_seq;
    const char **ids;          /* to inspect: interned, the tracks' keys shared */
    size_t n_ids, next, done;
    struct backoff resync_backoff;

    struct docker_sync_stats stats;
};

static void start_resync(struct docker_sync *ds);
static void request_inspect(struct docker_sync *ds, const char *id, bool from_resync);
static void inspect_done(struct docker_sync *ds);

/* ---- requests and tracks ---------------------------------------------------- */

static struct req *req_new(struct docker_sync *ds, const char *id)
{
    struct req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->ds = ds;
    snprintf(q->id, sizeof(q->id), "%s", id ? id : "");
    list_push_front(&ds->reqs, &q->node);
    return q;
}

static void req_free(struct req *q)
{
    if (q == NULL)
        return;
    list_remove(&q->node);
    free(q);
}

static struct track *track_add(struct docker_sync *ds, const char *id)
{
    struct track *t = strmap_get(&ds->tracks, id);

    if (t != NULL)
        return t;
    if ((t = calloc(1, sizeof(*t))) == NULL || strmap_put(&ds->tracks, id, t, NULL) < 0) {
        free(t);
        log_error(LOG_DOCKER, "container tracking: out of memory");
        return NULL;
    }
    return t;
}

static void report(struct docker_sync *ds, const char *id, enum docker_sync_change what, struct container *c,
                   bool listing)
{
    if (ds->closing) {
        container_free(c);
        return;
    }
    ds->cb.on_change(ds->cb.ud, id, what, c, listing);
}

/* Gone at seq unless something newer is known; reported if it was running. */
static void track_gone(struct docker_sync *ds, const char *id, struct track *t, uint64_t seq, bool listing)
{
    bool was_live = t->live;

    if (seq < t->seq)
        return;
    t->seq = seq;
    t->live = t->failed = false;
    if (was_live)
        report(ds, id, DOCKER_SYNC_GONE, NULL, listing);
}

/* ---- inspect ------------------------------------------------------------------ */

static void inspect_cb(void *ud, const struct enr_error *err, struct container *c)
{
    struct req *q = ud;
    struct docker_sync *ds = q->ds;
    struct track *t = ds->closing ? NULL : track_add(ds, q->id);
    bool from_resync = q->from_resync, again = false;

    if (t != NULL) {
        t->inspecting = false;
        again = t->inspect_again;
        t->inspect_again = false;
        if (err == NULL && c != NULL && strcmp(c->state, "running") == 0) {
            if (q->seq >= t->seq) {     /* not older than what we have */
                t->seq = q->seq;
                t->live = true;
                t->failed = t->died = false;   /* up again, even if its start event was missed */
                t->stream_gen = q->stream_gen;   /* see adopt_hash */
                report(ds, q->id, DOCKER_SYNC_RUNNING, c, from_resync);
            } else {
                container_free(c);
            }
            c = NULL;
        } else if (err == NULL || err->code == ENR_ENOTFOUND) {
            track_gone(ds, q->id, t, q->seq, from_resync);
        } else {
            t->failed = true;
            log_warn(LOG_DOCKER, "inspect %.12s: %s", q->id, err->msg);
            /* A container we cannot name cannot protect its apps by name:
             * the whole listing counts as incomplete. */
            if (from_resync && !t->live)
                ds->partial = true;
            if (t->live)
                report(ds, q->id, DOCKER_SYNC_UNKNOWN, NULL, from_resync);
        }
    }
    container_free(c);
    if (ds->closing) {
        req_free(q);
        return;
    }
    if (again)
        request_inspect(ds, q->id, false);
    req_free(q);
    if (from_resync)
        inspect_done(ds);
}

static void request_inspect(struct docker_sync *ds, const char *id, bool from_resync)
{
    struct track *t = track_add(ds, id);
    struct enr_error err = {0};
    struct req *q;

    if (t == NULL)
        goto fail;
    if (t->inspecting) {
        /* An answer is on its way; ask once more after it for the newest state. */
        t->inspect_again = true;
        if (from_resync)
            inspect_done(ds);
        return;
    }
    if ((q = req_new(ds, id)) == NULL) {
        err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    q->seq = ++ds->seq;
    q->stream_gen = ds->events_running ? ds->stream_gen : 0;
    q->from_resync = from_resync;
    t->inspecting = true;
    if (ds->ops.inspect(ds->ops.impl, id, inspect_cb, q, &err) < 0) {
        req_free(q);
        t->inspecting = false;
        goto fail;
    }
    return;
fail:
    /* Not asked: what it runs is unknown, as when an inspect fails. */
    if (t != NULL) {
        t->failed = true;
        log_warn(LOG_DOCKER, "inspect %.12s: %s", id, err.msg);
        if (t->live)
            report(ds, id, DOCKER_SYNC_UNKNOWN, NULL, from_resync);
    }
    if (from_resync) {
        ds->partial = true;
        inspect_done(ds);
    }
}

/* ---- events ---------------------------------------------------------------- */

static void start_events(struct docker_sync *ds);

static void events_timer_cb(uv_timer_t *h)
{
    struct docker_sync *ds = h->data;

    start_events(ds);
    /* Whatever happened while the stream was down is caught by a relist. */
    start_resync(ds);
}

static void event_cb(void *ud, const struct docker_event *ev)
{
    struct docker_sync *ds = ud;
    struct track *t;
    bool container;

    if (ds->closing)
        return;
    ds->stats.events++;
    backoff_reset(&ds->events_backoff);
    if (ev->time_nano > ds->last_event_nano)
        ds->last_event_nano = ev->time_nano;
    if (ev->container_id == NULL || ev->container_id[0] == '\0')
        return;
    log_debug(LOG_DOCKER, "event %s %s %.12s", ev->type, ev->action, ev->container_id);
    container = strcmp(ev->type, "container") == 0;
    if (container && strcmp(ev->action, "destroy") == 0) {
        if ((t = track_add(ds, ev->container_id)) != NULL)
            track_gone(ds, ev->container_id, t, ++ds->seq, false);
        return;
    }
    /* A die is sent once the container no longer runs: moby logs it after
     * SetStopped or SetRestarting (daemon/monitor.go handleContainerExit),
     * and a restart sends its own start (daemon/start.go containerStart).
     * So it is gone now, without an inspect; an answer still on its way is
     * older and cannot bring it back (track_gone's seq). */
    if (container && strcmp(ev->action, "die") == 0) {
        if ((t = track_add(ds, ev->container_id)) != NULL) {
            t->died = true;
            track_gone(ds, ev->container_id, t, ++ds->seq, false);
        }
        return;
    }
    /* Only a start brings a container up.  After a die, or before the
     * first start or listing names it, every other event (a stop, a network
     * disconnect on the way down, a connect on the way up) finds it not
     * running: the start's inspect tells all there is. */
    t = strmap_get(&ds->tracks, ev->container_id);
    if (container && strcmp(ev->action, "start") == 0) {
        if (t != NULL)
            t->died = false;
    } else if (t == NULL || t->died) {
        return;
    }
    request_inspect(ds, ev->container_id, false);
}

static void events_end_cb(void *ud, const struct enr_error *err)
{
    struct docker_sync *ds = ud;
    uint64_t wait;

    ds->events_running = false;
    if (ds->closing)
        return;
    /* Events may have been missed: nothing is gone until a full relist. */
    ds->complete = false;
    ds->events_cut = true;
    if (ds->cb.on_stream_end != NULL)
        ds->cb.on_stream_end(ds->cb.ud);
    if (ds->closing)
        return;
    wait = backoff_next(&ds->events_backoff, NULL);
    log_warn(LOG_DOCKER, "event stream ended: %s; resuming in %llu ms", err ? err->msg : "closed",
             (unsigned long long)wait);
    uv_timer_start(&ds->events_timer, events_timer_cb, wait, 0);
}

static void start_events(struct docker_sync *ds)
{
    struct enr_error err = {0};

    if (ds->events_running || ds->closing || ds->cfg.poll_only)
        return;
    if (ds->ops.events(ds->ops.impl, ds->last_event_nano, event_cb, events_end_cb, ds, &err) < 0) {
        events_end_cb(ds, &err);
        return;
    }
    ds->events_running = true;
    ds->stream_gen++;
}

/* ---- the listing --------------------------------------------------------------- */

static void free_ids(struct docker_sync *ds)
{
    for (size_t i = 0; i < ds->n_ids; i++)
        intern_put(ds->ids[i]);
    free((void *)ds->ids);
    ds->ids = NULL;
    ds->n_ids = ds->next = ds->done = 0;
}

static void resync_timer_cb(uv_timer_t *h)
{
    start_resync(h->data);
}

static void finish_resync(struct docker_sync *ds)
{
    uint64_t next_ms;

    free_ids(ds);
    ds->running = false;
    ds->complete = ds->list_ok && !ds->partial && (ds->events_running || ds->cfg.poll_only);
    ds->stats.resyncs++;
    ds->first_done = true;
    if (ds->complete) {
        backoff_reset(&ds->resync_backoff);
        next_ms = (uint64_t)ds->cfg.resync_sec * 1000u;
    } else {
        next_ms = backoff_next(&ds->resync_backoff, NULL);
    }
    /* A --once pass is over once its writes are: a listing timed in the
     * middle of them would only repeat the first (at 10,000 containers, with
     * Teleport's listing it sets off, it was the pass's peak of memory). */
    if (ds->complete && ds->cfg.once) {
        log_debug(LOG_RECONCILE, "resync done: docker complete; no periodic listing in a --once pass");
    } else {
        log_debug(LOG_RECONCILE, "resync done: docker %s; next in %llu ms", ds->complete ? "complete" : "INCOMPLETE",
                  (unsigned long long)next_ms);
        uv_timer_start(&ds->resync_timer, resync_timer_cb, next_ms, 0);
    }
    ds->cb.on_listed(ds->cb.ud, ds->complete);
    if (ds->again && !ds->closing) {
        ds->again = false;
        start_resync(ds);
    }
}

static void maybe_finish(struct docker_sync *ds)
{
    if (ds->running && !ds->closing && !ds->list_pending && ds->done >= ds->n_ids)
        finish_resync(ds);
}

static void pump(struct docker_sync *ds)
{
    while (ds->ids != NULL && ds->next < ds->n_ids && ds->next - ds->done < INSPECT_PARALLEL && !ds->closing) {
        const char *id = ds->ids[ds->next++];
        request_inspect(ds, id, true);
    }
}

static void inspect_done(struct docker_sync *ds)
{
    ds->done++;
    pump(ds);
    maybe_finish(ds);
}

/*
 * A container first named by a start event was inspected then: its track
 * has no list hash yet, and a listing would inspect it again although
 * nothing changed.  It takes the listing's hash instead when events have
 * kept it current since that inspect: its answer was applied, it runs, no
 * inspect is on its way or failed, and one stream was up from the ask until
 * now (the generation counts every (re)subscription, so a cut and a resume
 * in between count as down).  Not in a full listing, which inspects all.
 *
 * What that trusts: every change of a hashed list member (all but Status;
 * GET /containers/json at API <= 1.43, built in moby's daemon/container/view.go
 * from api/types/container/container.go Summary) on a running container
 * comes with a subscribed event, or does not change its inspect:
 *
 *   Id, ImageID, Command,     fixed at create
 *   Created, Labels, Mounts,
 *   HostConfig.NetworkMode
 *   Names                     its own name: "rename" (daemon/rename.go);
 *                             the "/parent/alias" names of legacy links come
 *                             and go with another container (its create,
 *                             rename, destroy): not in this one's inspect
 *   Image                     the ID in place of a name whose tag moved to
 *                             another image (daemon/list.go refreshImage):
 *                             image events, not in the inspect
 *   State                     "start", "die", "pause", "unpause"
 *                             (daemon/start.go, daemon/monitor.go,
 *                             daemon/pause.go, daemon/unpause.go); restarting,
 *                             removing and dead come after a die
 *   Ports,                    network "connect", "disconnect"
 *   NetworkSettings.Networks  (daemon/container_operations.go); its
 *                             DNSNames also on "rename" (daemon/rename.go)
 *   SizeRw, SizeRootFs        not asked for (no size=1)
 *   HostConfig.Annotations,   not sent below API 1.46, 1.48 and 1.52
 *   ImageManifestDescriptor,  (daemon/server/router/container/
 *   Health                    container_routes.go)
 *
 * Podman's compatible listing sends the same members
 * (pkg/api/handlers/compat/containers.go LibpodToContainer); its
 * "stopping" state comes before its "died".
 *
 * "update" (daemon/update.go) changes resources and the restart policy,
 * none of them in the list entry: a listing does not see it either way.
 * An event that arrives after the listing still asks for an inspect.
 *
 * !t->died keeps the rule local: a die ends live at once (event_cb) and
 * only a running answer clears it, so t->live already refuses such a
 * track; this says so without relying on that.
 */
static bool adopt_hash(const struct docker_sync *ds, const struct track *t, uint64_t hash)
{
    return !ds->full && ds->events_running && hash != 0 && t->list_hash == 0 && t->live && !t->failed &&
           !t->died && !t->inspecting && t->stream_gen == ds->stream_gen;
}

/* The listed ids that need an inspect; each listed id's track is marked
 * with the listing's seq.  false on ENOMEM. */
static bool diff_list(struct docker_sync *ds, char **ids, const uint64_t *hashes, size_t n, uint64_t seq)
{
    if ((ds->ids = calloc(n + 1, sizeof(char *))) == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        struct track *t = strmap_get(&ds->tracks, ids[i]);

        if (t == NULL && (t = track_add(ds, ids[i])) == NULL)
            return false;
        t->listed_seq = seq;
        /* Unchanged since it was last inspected, and events kept it current:
         * no need to ask again. */
        if (!ds->full && t->live && !t->failed && hashes[i] != 0 && t->list_hash == hashes[i])
            continue;
        if (adopt_hash(ds, t, hashes[i])) {
            t->list_hash = hashes[i];
            log_debug(LOG_DOCKER, "listing: %.12s current by events since its inspect; not inspected", ids[i]);
            continue;
        }
        t->list_hash = hashes[i];
        /* A reference, not a copy: at 10,000 containers a copy of each id
         * held through the whole inspect phase was 0.8 MB of the peak. */
        if ((ds->ids[ds->n_ids] = intern_get(ids[i])) == NULL)
            return false;
        ds->n_ids++;
    }
    return true;
}

static void list_cb(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    struct req *q = ud;
    struct docker_sync *ds = q->ds;
    uint64_t seq = q->seq;
    size_t it = 0;
    const char *id;
    void *val;

    req_free(q);
    if (ds->closing)
        return;
    ds->list_pending = false;
    if (err != NULL) {
        log_warn(LOG_DOCKER, "list containers: %s", err->msg);
        ds->list_ok = false;
        maybe_finish(ds);
        return;
    }
    if (!diff_list(ds, ids, hashes, n, seq)) {
        log_error(LOG_RECONCILE, "resync: out of memory");
        ds->list_ok = false;
        free_ids(ds);
        maybe_finish(ds);
        return;
    }
    /* Running before the list was asked for and not in it: gone.  Removals
     * older than the list are forgotten. */
    while (strmap_next(&ds->tracks, &it, &id, &val)) {
        struct track *t = val;
        if (t->listed_seq == seq || t->seq >= seq || t->inspecting)
            continue;
        if (t->live) {
            track_gone(ds, id, t, seq, true);
        } else {
            free(strmap_del(&ds->tracks, id));
        }
    }
    ds->list_ok = true;
    pump(ds);
    maybe_finish(ds);
}

static void start_resync(struct docker_sync *ds)
{
    struct enr_error err = {0};
    struct req *q;

    if (ds->closing)
        return;
    if (ds->running) {
        ds->again = true;
        return;
    }
    uv_timer_stop(&ds->resync_timer);
    ds->running = true;
    ds->list_ok = ds->partial = false;
    ds->list_pending = true;
    ds->list_seq = ++ds->seq;
    ds->full = !ds->first_done || ds->events_cut || ds->cfg.poll_only || ++ds->since_full >= FULL_EVERY;
    if (ds->full) {
        ds->events_cut = false;
        ds->since_full = 0;
    }
    ds->cb.on_resync(ds->cb.ud);
    if ((q = req_new(ds, NULL)) == NULL) {
        err_set(&err, -ENOMEM, "out of memory");
    } else {
        q->seq = ds->list_seq;
        if (ds->ops.list(ds->ops.impl, list_cb, q, &err) == 0)
            return;
        req_free(q);
    }
    log_warn(LOG_DOCKER, "list containers: %s", err.msg);
    ds->list_pending = false;
    maybe_finish(ds);
}

/* ---- API ---------------------------------------------------------------------- */

struct docker_sync *docker_sync_new(uv_loop_t *loop, const struct docker_sync_config *cfg,
                                    const struct docker_ops *ops, const struct docker_sync_callbacks *cb,
                                    struct enr_error *err)
{
    struct docker_sync *ds;

    if (cfg->resync_sec == 0) {
        err_set(err, -EINVAL, "docker sync: resync period must be > 0");
        return NULL;
    }
    if ((ds = calloc(1, sizeof(*ds))) == NULL) {
        err_set(err, -ENOMEM, "docker sync: out of memory");
        return NULL;
    }
    ds->loop = loop;
    ds->cfg = *cfg;
    ds->ops = *ops;
    ds->cb = *cb;
    strmap_init(&ds->tracks);
    list_init(&ds->reqs);
    backoff_init(&ds->events_backoff, EVENTS_BACKOFF_MIN_MS, EVENTS_BACKOFF_MAX_MS);
    backoff_init(&ds->resync_backoff, RESYNC_BACKOFF_MIN_MS, (uint64_t)ds->cfg.resync_sec * 1000u);
    uv_timer_init(loop, &ds->resync_timer);
    uv_timer_init(loop, &ds->events_timer);
    ds->resync_timer.data = ds->events_timer.data = ds;
    return ds;
}

void docker_sync_start(struct docker_sync *ds)
{
    /* Subscribe before the first listing, so nothing falls between them. */
    start_events(ds);
    start_resync(ds);
}

void docker_sync_resync(struct docker_sync *ds)
{
    start_resync(ds);
}

bool docker_sync_busy(const struct docker_sync *ds)
{
    return ds->running;
}

bool docker_sync_complete(const struct docker_sync *ds)
{
    return ds->complete;
}

bool docker_sync_listed_all(const struct docker_sync *ds)
{
    return ds->first_done && ds->full;
}

bool docker_sync_listed(const struct docker_sync *ds)
{
    return ds->first_done;
}

void docker_sync_get_stats(const struct docker_sync *ds, struct docker_sync_stats *out)
{
    *out = ds->stats;
    out->tracked = ds->tracks.len;
}

void docker_sync_close(struct docker_sync *ds)
{
    if (ds == NULL || ds->closing)
        return;
    ds->closing = true;
    if (ds->events_running)
        ds->ops.events_stop(ds->ops.impl);
    ds->events_running = false;
    uv_close((uv_handle_t *)&ds->resync_timer, NULL);
    uv_close((uv_handle_t *)&ds->events_timer, NULL);
}

void docker_sync_free(struct docker_sync *ds)
{
    size_t it = 0;
    void *val;

    if (ds == NULL)
        return;
    /* Timers must be closed (docker_sync_close + a loop turn) before this. */
    while (!list_empty(&ds->reqs))
        req_free(LIST_ENTRY(ds->reqs.next, struct req, node));
    while (strmap_next(&ds->tracks, &it, NULL, &val))
        free(val);
    strmap_cleanup(&ds->tracks);
    free_ids(ds);
    free(ds);
}
