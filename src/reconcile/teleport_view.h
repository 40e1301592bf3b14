/*
 * teleport_view.h - the Teleport side of the reconciler: key (planner_key:
 * an app's name, a database's "db/<name>") -> the app or database as
 * Teleport last showed it or as enroller last wrote it.
 *
 *   listing              -> ListApps then ListDatabases (each paginated, or
 *                           GetApps/GetDatabases on an older Auth): the
 *                           whole view (complete; a page at a time goes
 *                           into the view in place of its copies, what the
 *                           listing lacks leaves at its end), or unknown on
 *                           failure (nothing removed)
 *                           (retried with a doubling delay); databases the
 *                           identity may not list (PERMISSION_DENIED) leave
 *                           apps managed and databases unknown
 *                           (teleport_view_dbs_known); asked for when the
 *                           watch starts and after it is cut, and at a
 *                           resync only while the watch is not live;
 *   WatchEvents          -> puts and deletes by name between listings; a
 *                           watch that breaks after it was set up makes the
 *                           view unknown (events may be lost) until a
 *                           listing asked for after the cut answers (one is
 *                           asked for at once);
 *   successful writes    -> into the view at once, and kept as "recent" so
 *                           that a listing asked for before the write cannot
 *                           undo it (the planner would create it again);
 *   confirmation         -> a created app no Application Service serves (a
 *                           database no Database Service serves: db_server
 *                           events and ListResources(db_server)) after
 *                           confirm_sec is reported once.
 *
 * Unknown is not absent: while the view is not complete the planner writes
 * and deletes nothing.  Reports up through teleport_view_callbacks.
 */
#ifndef ENR_TELEPORT_VIEW_H
#define ENR_TELEPORT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "base/error.h"
#include "model/resource.h"
#include "reconcile/clients.h"
#include "reconcile/planner.h"

struct teleport_view;

struct teleport_view_config {
    const char *owner;       /* counts the owned apps (copied) */
    unsigned resync_sec;     /* longest wait before a failed listing is retried, > 0 */
    unsigned confirm_sec;    /* report a created app not served after this long; 0: do not check */
    /* Watch app_server events too (agent mode waits for its agents' app
     * servers).  Without it the watch has apps and databases only: every
     * App Service of the cluster heartbeats each of its app servers, and
     * those events would reach every enroller of the fleet; a created app
     * is confirmed served by a listing of the owner's app servers alone. */
    bool watch_servers;
};

struct teleport_view_callbacks {
    /* The watch changed the app or database with this key (planner_key). */
    void (*on_change)(void *ud, const char *name);
    /* A listing answered (complete) or failed (not complete). */
    void (*on_listed)(void *ud, bool complete);
    /* Optional (NULL: none).  The watch showed an app_server (watch_servers;
     * PUT: the served app's name with container_id = host id; DELETE). */
    void (*on_server)(void *ud, const struct teleport_event *ev);
    /* Optional.  The watch became live (its INIT event) or ended. */
    void (*on_watch)(void *ud, bool live);
    void *ud;
};

/* ops is copied; what it points at must outlive the view. */
struct teleport_view *teleport_view_new(uv_loop_t *loop, const struct teleport_view_config *cfg,
                                        const struct teleport_ops *ops, const struct teleport_view_callbacks *cb,
                                        struct enr_error *err);
/* Starts WatchEvents for apps and databases, and app servers when
 * cfg.watch_servers (its INIT event relists).  Called before the first write, or
 * never (--once, plan): until it is called, a write is recorded over
 * listings only while a listing asked before it runs. */
void teleport_view_watch(struct teleport_view *tv);
/* A listing now, or right after the one running. */
void teleport_view_relist(struct teleport_view *tv);
/* A resync: a listing now unless the view needs none (live), one is
 * running (its answer serves this resync too) or a failed one's retry is
 * due (its backoff says when).  A listing taken whatever the view's state
 * at every resync would, on a cluster whose listing outlasts the resync
 * period, never stop. */
void teleport_view_resync(struct teleport_view *tv);
bool teleport_view_busy(const struct teleport_view *tv);
/* The view reflects a complete listing and every event since. */
bool teleport_view_complete(const struct teleport_view *tv);
/* At least one listing has answered or failed. */
bool teleport_view_listed(const struct teleport_view *tv);
/* Complete and kept so by a watch that has not been cut since: another
 * listing would tell nothing new (a resync then lists Docker only). */
bool teleport_view_live(const struct teleport_view *tv);
/* False when the last listing could not list databases (denied or not
 * implemented): databases are then neither written nor deleted. */
bool teleport_view_dbs_known(const struct teleport_view *tv);

/* name: a planner_key (an app's name, a database's "db/<name>"). */
const struct resource *teleport_view_get(const struct teleport_view *tv, const char *name);
/* Iteration: for (size_t i = 0; teleport_view_next(tv, &i, &res);) ... */
bool teleport_view_next(const struct teleport_view *tv, size_t *iter, const struct resource **res);
size_t teleport_view_size(const struct teleport_view *tv);
/* Apps in the view with our owner label. */
size_t teleport_view_owned(const struct teleport_view *tv);

/* A write finished (err NULL: it succeeded): the view follows it. */
void teleport_view_written(struct teleport_view *tv, enum plan_op op, const struct resource *res,
                           const struct enr_error *err);
/* enroller last wrote exactly these managed fields for res's name. */
bool teleport_view_wrote(const struct teleport_view *tv, const struct resource *res);

/* Cancels the watch, closes the timers; no callback runs afterwards.
 * teleport_view_free may run a loop turn later. */
/* A new confirm_sec (a config reload) for the creates to come. */
void teleport_view_set_confirm(struct teleport_view *tv, unsigned confirm_sec);
void teleport_view_close(struct teleport_view *tv);
void teleport_view_free(struct teleport_view *tv);

#endif
