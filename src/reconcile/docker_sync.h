/*
 * docker_sync.h - the Docker side of the reconciler: which containers run,
 * kept current from the event stream and checked by a periodic listing.
 *
 *   event "destroy"          -> GONE
 *   any other event          -> inspect -> RUNNING (snapshot) or GONE
 *   every resync_sec (not after a complete one in a --once pass), after a
 *   stream cut or a failed listing:
 *     list -> inspect the entries whose list entry changed (all of them
 *     after a stream cut and every 10th time) -> GONE for the ones that are
 *     no longer listed -> on_listed(complete)
 *
 * Answers are ordered by a sequence number per container id: an inspect
 * answer asked for before a removal (or a later inspect) cannot bring a
 * container back.  The stream resumes with since = the last event's time.
 * Nothing here knows about rules, Teleport or the planner: it reports up
 * through docker_sync_callbacks.
 */
#ifndef ENR_DOCKER_SYNC_H
#define ENR_DOCKER_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "model/container.h"
#include "reconcile/clients.h"

struct docker_sync;

struct docker_sync_config {
    unsigned resync_sec;   /* listing period, > 0 (the caller's default) */
    bool poll_only;        /* no event stream: a listing every resync_sec is all */
    bool once;             /* one pass (enroller run --once): after a complete
                            * listing no periodic one is timed (a failed or
                            * incomplete one is still retried, a stream cut
                            * still lists) */
};

enum docker_sync_change {
    DOCKER_SYNC_RUNNING,   /* c is its snapshot (handed over) */
    DOCKER_SYNC_GONE,      /* it stopped or was removed */
    DOCKER_SYNC_UNKNOWN,   /* its inspect failed: what it runs is unknown, not absent */
};

struct docker_sync_callbacks {
    /* One container's news.  listing: it comes from a listing, and
     * on_listed follows when that listing is done. */
    void (*on_change)(void *ud, const char *id, enum docker_sync_change what, struct container *c, bool listing);
    /* A listing starts (the timer, a stream cut, docker_sync_resync). */
    void (*on_resync)(void *ud);
    /* A listing is done.  complete: every running container is known (the
     * list and every inspect it needed answered, and the event stream is up
     * or not used); otherwise nothing may be taken as gone. */
    void (*on_listed)(void *ud, bool complete);
    void *ud;
    /* The event stream ended (not by docker_sync_close): dockerd may be
     * shutting down, and the containers that died just before are then
     * stopped by it, not gone for good.  NULL: not told. */
    void (*on_stream_end)(void *ud);
};

struct docker_sync_stats {
    uint64_t events, resyncs;
    size_t tracked;        /* container ids remembered (running ones and recent removals) */
};

/* ops is copied; what it points at must outlive the docker_sync. */
struct docker_sync *docker_sync_new(uv_loop_t *loop, const struct docker_sync_config *cfg,
                                    const struct docker_ops *ops, const struct docker_sync_callbacks *cb,
                                    struct enr_error *err);
/* Subscribes to events (unless poll_only), then starts the first listing. */
void docker_sync_start(struct docker_sync *ds);
/* A listing now, or right after the one running. */
void docker_sync_resync(struct docker_sync *ds);
/* A listing is running. */
bool docker_sync_busy(const struct docker_sync *ds);
/* The last listing was complete and the stream has not broken since. */
bool docker_sync_complete(const struct docker_sync *ds);
/* The last listing inspected every container (the first, the one after a
 * stream cut, every 10th, and every one without a stream); until the next
 * starts. */
bool docker_sync_listed_all(const struct docker_sync *ds);
/* At least one listing has finished. */
bool docker_sync_listed(const struct docker_sync *ds);
void docker_sync_get_stats(const struct docker_sync *ds, struct docker_sync_stats *out);
/* Stops the stream and closes the timers; no callback runs afterwards.
 * docker_sync_free may run a loop turn later. */
void docker_sync_close(struct docker_sync *ds);
void docker_sync_free(struct docker_sync *ds);

#endif
