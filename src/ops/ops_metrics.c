/* ops_metrics.c - see ops_metrics.h. */
#include "ops/ops_metrics.h"
#include "ops/ops_buf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void family(struct ops_buf *b, const char *name, const char *type, const char *help)
{
    ops_buf_printf(b, "# HELP enroller_%s ", name);
    ops_buf_put_help(b, help);
    ops_buf_printf(b, "\n# TYPE enroller_%s %s\n", name, type);
}

/* A sample value the way Prometheus writes floats: shortest of %.15g and
 * %.17g that reads back the same, +Inf, -Inf, NaN. */
static void put_double(struct ops_buf *b, double v)
{
    char s[64];

    if (isnan(v)) {
        ops_buf_put(b, "NaN");
        return;
    }
    if (isinf(v)) {
        ops_buf_put(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(s, sizeof(s), "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof(s), "%.17g", v);
    ops_buf_put(b, s);
}

static void plain(struct ops_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    family(b, name, type, help);
    ops_buf_printf(b, "enroller_%s %llu\n", name, (unsigned long long)v);
}

static void labelled(struct ops_buf *b, const char *name, const char *help, const char *la, const char *lb,
                     const struct ops_count_list *l)
{
    family(b, name, "counter", help);
    for (size_t i = 0; i < l->len; i++) {
        ops_buf_printf(b, "enroller_%s{%s=\"", name, la);
        ops_buf_put_label(b, l->items[i].a);
        if (lb && l->items[i].b) {
            ops_buf_printf(b, "\",%s=\"", lb);
            ops_buf_put_label(b, l->items[i].b);
        }
        ops_buf_printf(b, "\"} %llu\n", (unsigned long long)l->items[i].n);
    }
}

static void histogram(struct ops_buf *b, const char *name, const char *help, const struct ops_histogram *h)
{
    uint64_t cum = 0;

    family(b, name, "histogram", help);
    for (size_t i = 0; i <= OPS_HISTOGRAM_BOUNDS; i++) {
        cum += h->buckets[i];
        if (i < OPS_HISTOGRAM_BOUNDS)
            ops_buf_printf(b, "enroller_%s_bucket{le=\"%g\"} %llu\n", name, ops_snapshot_bucket_bounds[i],
                           (unsigned long long)cum);
        else
            ops_buf_printf(b, "enroller_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    ops_buf_printf(b, "enroller_%s_sum ", name);
    put_double(b, h->sum);
    ops_buf_printf(b, "\nenroller_%s_count %llu\n", name, (unsigned long long)h->count);
}

int ops_metrics_render(const struct ops_snapshot *s, int64_t now, char **out, size_t *len, struct enr_error *err)
{
    struct ops_buf b;
    const struct ops_counters *c = &s->counters;

    ops_buf_init(&b);
    family(&b, "build_info", "gauge", "The version of enroller running, as a label; the value is always 1.");
    ops_buf_put(&b, "enroller_build_info{version=\"");
    ops_buf_put_label(&b, s->version);
    ops_buf_put(&b, "\"} 1\n");

    plain(&b, "reconcile_passes_total", "counter", "Reconcile passes run.", c->reconcile_passes);
    plain(&b, "reconcile_full_passes_total", "counter",
          "Reconcile passes that planned every name (the others planned only the names that changed).",
          c->reconcile_full_passes);
    histogram(&b, "reconcile_pass_duration_seconds", "How long a reconcile pass took, in seconds.",
              &c->pass_seconds);
    labelled(&b, "auth_calls_total", "Calls to Teleport Auth, by gRPC method.", "method", NULL, &c->auth_calls);
    labelled(&b, "auth_errors_total",
             "Failed calls to Teleport Auth, by gRPC method and status code (transport: no status came back).",
             "method", "code", &c->auth_errors);
    labelled(&b, "docker_calls_total", "Requests to the Docker Engine API, by endpoint.", "endpoint", NULL,
             &c->docker_calls);
    labelled(&b, "docker_errors_total",
             "Failed requests to the Docker Engine API, by endpoint and HTTP status (transport: no response).",
             "endpoint", "status", &c->docker_errors);
    const struct ops_writes *w = &s->writes;
    plain(&b, "auth_writes_sent_total", "counter", "Creates, updates and deletes sent to Teleport Auth.", w->sent);
    family(&b, "auth_writes_total", "counter",
           "Writes to Teleport Auth that ended, by result (dropped: not sent because the circuit opened).");
    ops_buf_printf(&b, "enroller_auth_writes_total{result=\"ok\"} %llu\n", (unsigned long long)w->ok);
    ops_buf_printf(&b, "enroller_auth_writes_total{result=\"failed\"} %llu\n", (unsigned long long)w->failed);
    ops_buf_printf(&b, "enroller_auth_writes_total{result=\"dropped\"} %llu\n", (unsigned long long)w->dropped);
    plain(&b, "auth_writes_in_flight", "gauge", "Writes to Teleport Auth in flight.", w->inflight);
    plain(&b, "auth_writes_queued", "gauge", "Writes to Teleport Auth waiting for a slot or a token.", w->queued);
    plain(&b, "auth_writes_backing_off", "gauge", "Names whose write failed and waits for its retry.",
          w->backing_off);
    plain(&b, "auth_circuit_open", "gauge", "1 while writes to Teleport Auth are stopped after repeated failures.",
          w->circuit_open);
    plain(&b, "docker_events_total", "counter", "Docker events received.", c->docker_events);
    plain(&b, "rule_errors_total", "counter", "Rule evaluations and rule loads that failed.", c->rule_errors);
    plain(&b, "conflicts_total", "counter",
          "Resources not written because their name is taken by a resource enroller does not own or by "
          "another container.",
          c->conflicts);

    family(&b, "deletes_held_total", "counter", "Deletions held back, by the guard rail that held them.");
    for (int g = OPS_GUARD_NONE + 1; g < OPS_GUARD_COUNT; g++)
        ops_buf_printf(&b, "enroller_deletes_held_total{guard=\"%s\"} %llu\n",
                       ops_snapshot_guard_name((enum ops_guard)g), (unsigned long long)c->deletes_held[g]);

    family(&b, "managed_resources", "gauge", "Resources enroller manages, by kind and state.");
    for (int k = 0; k < OPS_KIND_COUNT; k++)
        for (int st = 0; st < OPS_STATE_COUNT; st++)
            ops_buf_printf(&b, "enroller_managed_resources{kind=\"%s\",state=\"%s\"} %zu\n",
                           ops_snapshot_kind_name((enum resource_kind)k), ops_snapshot_state_name((enum ops_state)st),
                           ops_snapshot_count_resources(s, (enum resource_kind)k, (enum ops_state)st));

    if (s->identity_expires > 0) {
        family(&b, "identity_expiry_timestamp_seconds", "gauge",
               "When the Teleport identity's certificate expires, in unix seconds.");
        ops_buf_printf(&b, "enroller_identity_expiry_timestamp_seconds %lld\n", (long long)s->identity_expires);
        family(&b, "identity_expires_in_seconds", "gauge",
               "Seconds until the Teleport identity's certificate expires (negative: expired).");
        ops_buf_printf(&b, "enroller_identity_expires_in_seconds %lld\n", (long long)(s->identity_expires - now));
    }
    family(&b, "last_sync_timestamp_seconds", "gauge",
           "When the last complete sync (Docker and Teleport listed, plan carried out) ended, in unix seconds; 0: "
           "never.");
    ops_buf_printf(&b, "enroller_last_sync_timestamp_seconds %lld\n", (long long)s->last_sync);
    plain(&b, "docker_connected", "gauge", "1 when connected to the Docker engine.", s->docker_connected);
    plain(&b, "auth_connected", "gauge", "1 when connected to Teleport Auth.", s->auth_connected);
    plain(&b, "first_sync_complete", "gauge", "1 once the first complete sync has ended.", s->first_sync_complete);

    if (ops_buf_take(&b, out, len) < 0)
        return err_set(err, -ENOMEM, "metrics: out of memory");
    return 0;
}
