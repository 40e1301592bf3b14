/*
 * ops_metrics.h - a snapshot as Prometheus text exposition format 0.0.4
 * (what /metrics serves with Content-Type "text/plain; version=0.0.4").
 *
 * Every metric is named enroller_*, has HELP and TYPE lines, and label
 * values are escaped (\ " newline).  The families, in order:
 *
 *   enroller_build_info{version}                       gauge, always 1
 *   enroller_reconcile_passes_total                     counter
 *   enroller_reconcile_full_passes_total                counter
 *   enroller_reconcile_pass_duration_seconds            histogram
 *   enroller_auth_calls_total{method}                   counter
 *   enroller_auth_errors_total{method,code}             counter
 *   enroller_docker_calls_total{endpoint}               counter
 *   enroller_docker_errors_total{endpoint,status}       counter
 *   enroller_auth_writes_sent_total                     counter  }
 *   enroller_auth_writes_total{result}                  counter  } the
 *   enroller_auth_writes_in_flight                      gauge    } executor's
 *   enroller_auth_writes_queued                         gauge    } writes
 *   enroller_auth_writes_backing_off                    gauge    }
 *   enroller_auth_circuit_open                          gauge 0/1}
 *   enroller_docker_events_total                        counter
 *   enroller_rule_errors_total                          counter
 *   enroller_conflicts_total                            counter
 *   enroller_deletes_held_total{guard}                  counter
 *   enroller_managed_resources{kind,state}              gauge (every pair, 0s too)
 *   enroller_identity_expiry_timestamp_seconds          gauge  } only when
 *   enroller_identity_expires_in_seconds                gauge  } the expiry is known
 *   enroller_last_sync_timestamp_seconds                gauge (0: never)
 *   enroller_docker_connected                           gauge 0/1
 *   enroller_auth_connected                             gauge 0/1
 *   enroller_first_sync_complete                        gauge 0/1
 */
#ifndef ENR_OPS_METRICS_H
#define ENR_OPS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "ops/ops_snapshot.h"

#define OPS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders s as of now (unix seconds, for the seconds until the identity
 * expires) into *out (malloc'ed, NUL-terminated, *len bytes). */
int ops_metrics_render(const struct ops_snapshot *s, int64_t now, char **out, size_t *len, struct enr_error *err);

#endif
