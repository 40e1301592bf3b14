/*
 * test_ops_metrics.c - the Prometheus exposition of a small snapshot,
 * byte for byte; label and HELP escaping; the builders' bookkeeping
 * (counting, the histogram's buckets, the bounded ring, frozen snapshots).
 */
#include <errno.h>
#include <math.h>

#include "ops/ops_buf.h"
#include "ops/ops_metrics.h"
#include "ops/ops_snapshot.h"
#include "test.h"

static const char GOLDEN[] =
    "# HELP enroller_build_info The version of enroller running, as a label; the value is always 1.\n"
    "# TYPE enroller_build_info gauge\n"
    "enroller_build_info{version=\"1.2.3\"} 1\n"
    "# HELP enroller_reconcile_passes_total Reconcile passes run.\n"
    "# TYPE enroller_reconcile_passes_total counter\n"
    "enroller_reconcile_passes_total 3\n"
    "# HELP enroller_reconcile_full_passes_total Reconcile passes that planned every name (the others planned only "
    "the names that changed).\n"
    "# TYPE enroller_reconcile_full_passes_total counter\n"
    "enroller_reconcile_full_passes_total 1\n"
    "# HELP enroller_reconcile_pass_duration_seconds How long a reconcile pass took, in seconds.\n"
    "# TYPE enroller_reconcile_pass_duration_seconds histogram\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.005\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.01\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.025\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.05\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.1\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.25\"} 1\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"0.5\"} 2\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"1\"} 2\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"2.5\"} 2\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"5\"} 2\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"10\"} 2\n"
    "enroller_reconcile_pass_duration_seconds_bucket{le=\"+Inf\"} 3\n"
    "enroller_reconcile_pass_duration_seconds_sum 12.501953125\n"
    "enroller_reconcile_pass_duration_seconds_count 3\n"
    "# HELP enroller_auth_calls_total Calls to Teleport Auth, by gRPC method.\n"
    "# TYPE enroller_auth_calls_total counter\n"
    "enroller_auth_calls_total{method=\"CreateApp\"} 4\n"
    "enroller_auth_calls_total{method=\"ListResources\"} 2\n"
    "# HELP enroller_auth_errors_total Failed calls to Teleport Auth, by gRPC method and status code "
    "(transport: no status came back).\n"
    "# TYPE enroller_auth_errors_total counter\n"
    "enroller_auth_errors_total{method=\"CreateApp\",code=\"ALREADY_EXISTS\"} 1\n"
    "enroller_auth_errors_total{method=\"ListResources\",code=\"transport\"} 1\n"
    "# HELP enroller_docker_calls_total Requests to the Docker Engine API, by endpoint.\n"
    "# TYPE enroller_docker_calls_total counter\n"
    "enroller_docker_calls_total{endpoint=\"GET /containers/json\"} 7\n"
    "# HELP enroller_docker_errors_total Failed requests to the Docker Engine API, by endpoint and HTTP status "
    "(transport: no response).\n"
    "# TYPE enroller_docker_errors_total counter\n"
    "enroller_docker_errors_total{endpoint=\"GET /containers/json\",status=\"500\"} 2\n"
    "enroller_docker_errors_total{endpoint=\"GET /containers/json\",status=\"transport\"} 1\n"
    "# HELP enroller_auth_writes_sent_total Creates, updates and deletes sent to Teleport Auth.\n"
    "# TYPE enroller_auth_writes_sent_total counter\n"
    "enroller_auth_writes_sent_total 9\n"
    "# HELP enroller_auth_writes_total Writes to Teleport Auth that ended, by result (dropped: not sent because the "
    "circuit opened).\n"
    "# TYPE enroller_auth_writes_total counter\n"
    "enroller_auth_writes_total{result=\"ok\"} 6\n"
    "enroller_auth_writes_total{result=\"failed\"} 2\n"
    "enroller_auth_writes_total{result=\"dropped\"} 4\n"
    "# HELP enroller_auth_writes_in_flight Writes to Teleport Auth in flight.\n"
    "# TYPE enroller_auth_writes_in_flight gauge\n"
    "enroller_auth_writes_in_flight 1\n"
    "# HELP enroller_auth_writes_queued Writes to Teleport Auth waiting for a slot or a token.\n"
    "# TYPE enroller_auth_writes_queued gauge\n"
    "enroller_auth_writes_queued 3\n"
    "# HELP enroller_auth_writes_backing_off Names whose write failed and waits for its retry.\n"
    "# TYPE enroller_auth_writes_backing_off gauge\n"
    "enroller_auth_writes_backing_off 2\n"
    "# HELP enroller_auth_circuit_open 1 while writes to Teleport Auth are stopped after repeated failures.\n"
    "# TYPE enroller_auth_circuit_open gauge\n"
    "enroller_auth_circuit_open 1\n"
    "# HELP enroller_docker_events_total Docker events received.\n"
    "# TYPE enroller_docker_events_total counter\n"
    "enroller_docker_events_total 11\n"
    "# HELP enroller_rule_errors_total Rule evaluations and rule loads that failed.\n"
    "# TYPE enroller_rule_errors_total counter\n"
    "enroller_rule_errors_total 1\n"
    "# HELP enroller_conflicts_total Resources not written because their name is taken by a resource enroller "
    "does not own or by another container.\n"
    "# TYPE enroller_conflicts_total counter\n"
    "enroller_conflicts_total 5\n"
    "# HELP enroller_deletes_held_total Deletions held back, by the guard rail that held them.\n"
    "# TYPE enroller_deletes_held_total counter\n"
    "enroller_deletes_held_total{guard=\"grace\"} 2\n"
    "enroller_deletes_held_total{guard=\"max_deletes\"} 0\n"
    "enroller_deletes_held_total{guard=\"incomplete_input\"} 0\n"
    "enroller_deletes_held_total{guard=\"policy\"} 3\n"
    "# HELP enroller_managed_resources Resources enroller manages, by kind and state.\n"
    "# TYPE enroller_managed_resources gauge\n"
    "enroller_managed_resources{kind=\"app\",state=\"registered\"} 2\n"
    "enroller_managed_resources{kind=\"app\",state=\"conflict\"} 0\n"
    "enroller_managed_resources{kind=\"app\",state=\"error\"} 0\n"
    "enroller_managed_resources{kind=\"app\",state=\"waiting\"} 0\n"
    "enroller_managed_resources{kind=\"app\",state=\"held\"} 1\n"
    "enroller_managed_resources{kind=\"db\",state=\"registered\"} 0\n"
    "enroller_managed_resources{kind=\"db\",state=\"conflict\"} 0\n"
    "enroller_managed_resources{kind=\"db\",state=\"error\"} 1\n"
    "enroller_managed_resources{kind=\"db\",state=\"waiting\"} 0\n"
    "enroller_managed_resources{kind=\"db\",state=\"held\"} 0\n"
    "# HELP enroller_identity_expiry_timestamp_seconds When the Teleport identity's certificate expires, in unix "
    "seconds.\n"
    "# TYPE enroller_identity_expiry_timestamp_seconds gauge\n"
    "enroller_identity_expiry_timestamp_seconds 1800003600\n"
    "# HELP enroller_identity_expires_in_seconds Seconds until the Teleport identity's certificate expires "
    "(negative: expired).\n"
    "# TYPE enroller_identity_expires_in_seconds gauge\n"
    "enroller_identity_expires_in_seconds 3600\n"
    "# HELP enroller_last_sync_timestamp_seconds When the last complete sync (Docker and Teleport listed, plan "
    "carried out) ended, in unix seconds; 0: never.\n"
    "# TYPE enroller_last_sync_timestamp_seconds gauge\n"
    "enroller_last_sync_timestamp_seconds 1799999990\n"
    "# HELP enroller_docker_connected 1 when connected to the Docker engine.\n"
    "# TYPE enroller_docker_connected gauge\n"
    "enroller_docker_connected 1\n"
    "# HELP enroller_auth_connected 1 when connected to Teleport Auth.\n"
    "# TYPE enroller_auth_connected gauge\n"
    "enroller_auth_connected 0\n"
    "# HELP enroller_first_sync_complete 1 once the first complete sync has ended.\n"
    "# TYPE enroller_first_sync_complete gauge\n"
    "enroller_first_sync_complete 1\n";

static struct ops_snapshot *small_snapshot(void)
{
    struct enr_error err = {0};
    struct ops_counters c;
    struct ops_snapshot *s = ops_snapshot_new(&err);

    ASSERT_TRUE(s != NULL);
    ASSERT_EQ(ops_snapshot_set_version(s, "1.2.3", &err), 0);
    struct ops_container *web = ops_snapshot_add_container(s, "0123456789abcdef", "web", "nginx:1.25", "http", &err);
    ASSERT_TRUE(web != NULL);
    ASSERT_EQ(ops_snapshot_add_resource(web, RESOURCE_APP, "web", OPS_STATE_REGISTERED, "", OPS_GUARD_NONE, &err), 0);
    ASSERT_EQ(ops_snapshot_add_resource(web, RESOURCE_APP, "web-admin", OPS_STATE_REGISTERED, "", OPS_GUARD_NONE,
                                        &err), 0);
    struct ops_container *pg = ops_snapshot_add_container(s, "fedcba9876543210", "pg", "postgres:16", "pg", &err);
    ASSERT_TRUE(pg != NULL);
    ASSERT_EQ(ops_snapshot_add_resource(pg, RESOURCE_DB, "pg", OPS_STATE_ERROR, "CreateDatabase: PERMISSION_DENIED",
                                        OPS_GUARD_NONE, &err), 0);
    struct ops_container *gone = ops_snapshot_add_container(s, "aaaa", "gone", "busybox", NULL, &err);
    ASSERT_TRUE(gone != NULL);
    ASSERT_EQ(ops_snapshot_add_resource(gone, RESOURCE_APP, "old", OPS_STATE_HELD, "container gone 10s ago",
                                        OPS_GUARD_GRACE, &err), 0);

    ops_snapshot_counters_init(&c);
    ops_snapshot_counters_pass(&c, 0.001953125, true);
    ops_snapshot_counters_pass(&c, 0.5, false);    /* on a bound: le="0.5" counts it */
    ops_snapshot_counters_pass(&c, 12, false); /* only +Inf */
    ASSERT_EQ(ops_snapshot_counters_add_auth(&c, "CreateApp", 3, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_auth(&c, "ListResources", 2, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_auth(&c, "CreateApp", 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_auth_error(&c, "CreateApp", 6, 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_auth_error(&c, "ListResources", -1, 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_docker(&c, "GET /containers/json", 7, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_docker_error(&c, "GET /containers/json", 500, 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_docker_error(&c, "GET /containers/json", 0, 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_docker_error(&c, "GET /containers/json", 500, 1, &err), 0);
    c.docker_events = 11;
    c.rule_errors = 1;
    c.conflicts = 5;
    c.deletes_held[OPS_GUARD_GRACE] = 2;
    c.deletes_held[OPS_GUARD_POLICY] = 3;
    ASSERT_EQ(ops_snapshot_set_counters(s, &c, &err), 0);
    ops_snapshot_counters_cleanup(&c); /* the snapshot has its own copy */

    struct ops_writes w = {.sent = 9, .ok = 6, .failed = 2, .dropped = 4, .inflight = 1, .queued = 3,
                           .backing_off = 2, .circuit_open = true};
    ASSERT_EQ(ops_snapshot_set_writes(s, &w), 0);
    ASSERT_EQ(ops_snapshot_set_identity_expiry(s, 1800003600), 0);
    ASSERT_EQ(ops_snapshot_set_last_sync(s, 1799999990), 0);
    ASSERT_EQ(ops_snapshot_set_connected(s, true, false), 0);
    ASSERT_EQ(ops_snapshot_set_first_sync_complete(s, true), 0);
    return s;
}

static char *render(const struct ops_snapshot *s, int64_t now)
{
    struct enr_error err = {0};
    char *out = NULL;
    size_t len = 0;

    ASSERT_EQ(ops_metrics_render(s, now, &out, &len, &err), 0);
    ASSERT_EQ(strlen(out), len);
    return out;
}

static void test_golden(void)
{
    struct ops_snapshot *s = small_snapshot();
    char *out = render(s, 1800000000);

    if (strcmp(out, GOLDEN) != 0) {
        size_t i = 0;
        while (out[i] && out[i] == GOLDEN[i])
            i++;
        fprintf(stderr, "metrics differ at byte %zu:\n--- got from there:\n%.300s\n--- want:\n%.300s\n", i,
                out + i, GOLDEN + i);
        exit(1);
    }
    free(out);
    ops_snapshot_unref(s);
}

static void test_escaping(void)
{
    struct enr_error err = {0};
    struct ops_counters c;
    struct ops_snapshot *s = ops_snapshot_new(&err);

    ASSERT_TRUE(s != NULL);
    /* The version is made one line; label values from endpoints keep their
     * characters and are escaped. */
    ASSERT_EQ(ops_snapshot_set_version(s, "1.0 \"rc\\1\"", &err), 0);
    ops_snapshot_counters_init(&c);
    ASSERT_EQ(ops_snapshot_counters_add_docker(&c, "GET /a\"b\\c\nd", 1, &err), 0);
    ASSERT_EQ(ops_snapshot_counters_add_auth_error(&c, "M\\\"", 99, 2, &err), 0);
    ASSERT_EQ(ops_snapshot_set_counters(s, &c, &err), 0);
    ops_snapshot_counters_cleanup(&c);

    char *out = render(s, 0);
    ASSERT_CONTAINS(out, "enroller_build_info{version=\"1.0 \\\"rc\\\\1\\\"\"} 1\n");
    ASSERT_CONTAINS(out, "enroller_docker_calls_total{endpoint=\"GET /a\\\"b\\\\c\\nd\"} 1\n");
    ASSERT_CONTAINS(out, "enroller_auth_errors_total{method=\"M\\\\\\\"\",code=\"UNKNOWN\"} 2\n");
    /* No raw newline inside any sample line: every line starts with # or enroller_. */
    for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
        ASSERT_TRUE(line[0] == '#' || strncmp(line, "enroller_", 9) == 0);
        ASSERT_TRUE(strchr(line, '\n') != NULL);
    }
    /* Unknown expiry: no identity gauges at all rather than a false "expired". */
    ASSERT_TRUE(strstr(out, "enroller_identity_expires_in_seconds") == NULL);
    ASSERT_CONTAINS(out, "enroller_last_sync_timestamp_seconds 0\n");
    free(out);
    ops_snapshot_unref(s);

    struct ops_buf b;
    ops_buf_init(&b);
    ops_buf_put_help(&b, "a\\b\nc\"d");
    char *help = NULL;
    ASSERT_EQ(ops_buf_take(&b, &help, NULL), 0);
    ASSERT_STREQ(help, "a\\\\b\\nc\"d");
    free(help);
}

static void test_builders(void)
{
    struct enr_error err = {0};
    struct ops_recent r;
    struct ops_histogram h = {0};

    /* Histogram: a value on a bound counts in that bucket; negative and
     * NaN count as 0 (a clock step is not a duration). */
    ops_snapshot_histogram_observe(&h, 0.005);
    ops_snapshot_histogram_observe(&h, 0.0051);
    ops_snapshot_histogram_observe(&h, -3);
    ops_snapshot_histogram_observe(&h, NAN);
    ASSERT_EQ(h.buckets[0], 3);
    ASSERT_EQ(h.buckets[1], 1);
    ASSERT_EQ(h.count, 4);
    ASSERT_TRUE(h.sum > 0.0100 && h.sum < 0.0102);

    /* The ring keeps the last OPS_RECENT_MAX, oldest first, one line each. */
    ops_snapshot_recent_init(&r);
    for (int i = 0; i < OPS_RECENT_MAX + 5; i++) {
        char m[32];
        snprintf(m, sizeof(m), "reload %d\nsecond line", i);
        ASSERT_EQ(ops_snapshot_recent_push(&r, 1000 + i, i % 2 == 0, m, &err), 0);
    }
    ASSERT_EQ(r.len, OPS_RECENT_MAX);
    ASSERT_EQ(r.items[0].when, 1005);
    ASSERT_STREQ(r.items[0].message, "reload 5 second line");
    ASSERT_EQ(r.items[OPS_RECENT_MAX - 1].when, 1000 + OPS_RECENT_MAX + 4);

    struct ops_snapshot *s = ops_snapshot_new(&err);
    ASSERT_TRUE(s != NULL);
    ASSERT_STREQ(s->version, ENR_VERSION);
    ASSERT_EQ(ops_snapshot_set_recent(s, &r, &err), 0);
    ops_snapshot_recent_cleanup(&r);
    ASSERT_EQ(s->recent.len, OPS_RECENT_MAX);
    ASSERT_STREQ(s->recent.items[1].message, "reload 6 second line");

    /* Out-of-range enums are refused with a message. */
    struct ops_container *c = ops_snapshot_add_container(s, "id", "n", "i", "", &err);
    ASSERT_TRUE(c != NULL && c->rule == NULL);
    ASSERT_EQ(ops_snapshot_add_resource(c, RESOURCE_APP, "x", (enum ops_state)OPS_STATE_COUNT, "", OPS_GUARD_NONE,
                                        &err), -EINVAL);
    ASSERT_CONTAINS(err.msg, "resource x");

    /* Published: frozen. */
    struct ops_hub *hub = ops_snapshot_hub_new(&err);
    ASSERT_TRUE(hub != NULL);
    ASSERT_TRUE(ops_snapshot_get(hub) == NULL);
    ops_snapshot_publish(hub, s);
    struct ops_snapshot *got = ops_snapshot_get(hub);
    ASSERT_TRUE(got == s);
    ASSERT_EQ(ops_snapshot_set_version(got, "x", &err), -EBUSY);
    ASSERT_TRUE(ops_snapshot_add_container(got, "a", "b", "c", NULL, &err) == NULL);
    ASSERT_EQ(err.code, -EBUSY);
    ASSERT_EQ(ops_snapshot_set_connected(got, true, true), -EBUSY);
    /* A newer publish drops the hub's reference; ours keeps it alive. */
    struct ops_snapshot *s2 = ops_snapshot_new(&err);
    ASSERT_TRUE(s2 != NULL);
    ops_snapshot_publish(hub, s2);
    ASSERT_EQ(got->recent.len, OPS_RECENT_MAX);
    ops_snapshot_unref(got);
    ops_snapshot_hub_free(hub);
    ops_snapshot_unref(NULL);
    ops_snapshot_hub_free(NULL);
}

int main(void)
{
    test_golden();
    test_escaping();
    test_builders();
    printf("ok - ops_metrics\n");
    return 0;
}
