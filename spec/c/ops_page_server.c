/*
 * ops_page_server.c - the ops listener serving one fixed sample snapshot,
 * for spec/py/test_ops_page.py (headless Chromium reads and photographs the
 * status page).  Not a unit test.
 *
 *   ops_page_server [LISTEN]        LISTEN defaults to 127.0.0.1:0
 *
 * Prints "port N" on stdout once it listens, then serves until SIGTERM or
 * SIGINT.  Exits 1 when the listener does not start.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/ops_http.h"
#include "ops/ops_snapshot.h"

#define CHECK(x)                                                                   \
    do {                                                                           \
        if ((x) != 0) {                                                            \
            fprintf(stderr, "ops_page_server: %s: %s\n", #x, err.msg);             \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static struct ops_snapshot *sample(int64_t now)
{
    struct enr_error err = {0};
    struct ops_counters c;
    struct ops_recent r;
    struct ops_snapshot *s = ops_snapshot_new(&err);
    struct ops_container *k;

    if (s == NULL)
        exit(1);
    k = ops_snapshot_add_container(s, "3f2a9c81d0e4b7a65c1d", "grafana", "grafana/grafana:11.2.0", "http-default",
                                   &err);
    CHECK(k == NULL);
    CHECK(ops_snapshot_add_resource(k, RESOURCE_APP, "grafana", OPS_STATE_REGISTERED, "", OPS_GUARD_NONE, &err));
    k = ops_snapshot_add_container(s, "9b1c0e55aa7f3d2e8c40", "billing-db", "postgres:16.4", "postgres", &err);
    CHECK(k == NULL);
    CHECK(ops_snapshot_add_resource(k, RESOURCE_DB, "billing-db", OPS_STATE_ERROR,
                                    "CreateDatabase: PERMISSION_DENIED: access denied to perform action \"create\" "
                                    "on \"db\"",
                                    OPS_GUARD_NONE, &err));
    k = ops_snapshot_add_container(s, "5d6e7f8091a2b3c4d5e6", "wiki", "ghcr.io/requarks/wiki:2.5", "http-default",
                                   &err);
    CHECK(k == NULL);
    CHECK(ops_snapshot_add_resource(k, RESOURCE_APP, "wiki", OPS_STATE_CONFLICT,
                                    "an app named wiki exists and enroller does not own it", OPS_GUARD_NONE, &err));
    CHECK(ops_snapshot_add_resource(k, RESOURCE_APP, "wiki-admin-with-a-rather-long-name-for-a-phone-screen",
                                    OPS_STATE_WAITING, "retrying in 4s after: UNAVAILABLE", OPS_GUARD_NONE, &err));
    k = ops_snapshot_add_container(s, "77aa88bb99cc00dd11ee", "old-jenkins", "jenkins/jenkins:lts", "http-default",
                                   &err);
    CHECK(k == NULL);
    CHECK(ops_snapshot_add_resource(k, RESOURCE_APP, "jenkins", OPS_STATE_HELD, "container gone 40s ago",
                                    OPS_GUARD_GRACE, &err));
    k = ops_snapshot_add_container(s, "0000aaaa1111bbbb2222", "<script>alert(1)</script>", "busybox", NULL, &err);
    CHECK(k == NULL);

    ops_snapshot_counters_init(&c);
    ops_snapshot_counters_pass(&c, 0.04, true);
    CHECK(ops_snapshot_counters_add_auth(&c, "CreateApp", 3, &err));
    CHECK(ops_snapshot_set_counters(s, &c, &err));
    ops_snapshot_counters_cleanup(&c);

    ops_snapshot_recent_init(&r);
    CHECK(ops_snapshot_recent_push(&r, now - 3600, true, "loaded 3 rules from /etc/enroller/rules", &err));
    CHECK(ops_snapshot_recent_push(&r, now - 600, false,
                                   "rules/postgres.lua:12: attempt to index a nil value (field 'labels')", &err));
    CHECK(ops_snapshot_recent_push(&r, now - 60, true, "loaded 3 rules from /etc/enroller/rules", &err));
    CHECK(ops_snapshot_set_recent(s, &r, &err));
    ops_snapshot_recent_cleanup(&r);

    ops_snapshot_set_identity_expiry(s, now + 5 * 3600 + 120);
    ops_snapshot_set_last_sync(s, now - 12);
    ops_snapshot_set_connected(s, true, true);
    ops_snapshot_set_first_sync_complete(s, true);
    ops_snapshot_set_writes(s, &(struct ops_writes){.sent = 41, .ok = 37, .failed = 3, .inflight = 1,
                                                    .backing_off = 1});
    return s;
}

int main(int argc, char **argv)
{
    struct enr_error err = {0};
    struct ops_http *http = NULL;
    sigset_t set;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked before the listener's threads exist, so they inherit it. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct ops_hub *hub = ops_snapshot_hub_new(&err);
    if (hub == NULL) {
        fprintf(stderr, "ops_page_server: %s\n", err.msg);
        return 1;
    }
    ops_snapshot_publish(hub, sample((int64_t)time(NULL)));
    struct ops_http_config cfg = {.listen = argc > 1 ? argv[1] : "127.0.0.1:0", .stale_after_sec = 3600};
    if (ops_http_start(hub, &cfg, &http, &err) < 0) {
        fprintf(stderr, "ops_page_server: %s\n", err.msg);
        ops_snapshot_hub_free(hub);
        return 1;
    }
    printf("port %u\n", ops_http_port(http));
    fflush(stdout);
    sigwait(&set, &sig);
    ops_http_stop(http);
    ops_snapshot_hub_free(hub);
    return 0;
}
