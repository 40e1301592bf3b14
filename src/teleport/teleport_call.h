/*
 * teleport_call.h - one gRPC call to the Teleport Auth Service
 * (/proto.AuthService/<method>) on the connection teleport_conn gives:
 * unary (exactly one reply message) or server-streaming (each message as it
 * arrives).
 *
 *     struct teleport_call_options o = {.method = "Ping", .what = "Ping",
 *                                       .timeout_ms = 10000, .on_done = done, .ud = op};
 *     rc = teleport_call_start(tn, &o, packed, len, &call, &err);
 *
 * The packed request is framed (grpc_frame) and sent as one HTTP/2 stream.
 * The reply is assembled by the frame decoder up to a receive cap; the
 * status comes from grpc-status/grpc-message (trailers, or the headers of a
 * trailers-only reply; an HTTP status without grpc-status is mapped as gRPC
 * does).  A deadline goes out as grpc-timeout and is enforced by a local
 * timer.  A stream the server never processed (teleport_conn_retryable) is
 * sent again, at most 3 times, before any message arrived.
 *
 * Errors carry err->grpc_status and read "<what>: <STATUS>: <detail>".
 */
#ifndef ENR_TELEPORT_CALL_H
#define ENR_TELEPORT_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "teleport/teleport_conn.h"

/* Receive cap for GetApps and GetDatabases: not paginated in Teleport v16/v17
 * (api/proto/teleport/legacy/client/proto/authservice.proto), so a large
 * cluster's whole list exceeds grpc-go's 4 MiB default. */
#define TELEPORT_CALL_LIST_MAX ((size_t)64 << 20)

struct teleport_call;

/* The call ended: err NULL on success; msg/len the unary reply (borrowed
 * for the callback; NULL for a stream or on error). */
typedef void (*teleport_call_done_fn)(void *ud, const struct enr_error *err, const uint8_t *msg, size_t len);
/* A server-stream message (borrowed); < 0 ends the call with INTERNAL. */
typedef int (*teleport_call_msg_fn)(void *ud, const uint8_t *msg, size_t len);

/* Counting hooks for metrics (ops/ops_metrics.h), run on the loop: on_call
 * once per call started (retries of an unprocessed stream are the same
 * call), on_error once per call that ends in an error (a refused start
 * too), with its gRPC status.  A cancelled call is not an error. */
struct teleport_call_hooks {
    void (*on_call)(void *ud, const char *method);
    void (*on_error)(void *ud, const char *method, int grpc_status);
    void *ud;
};

struct teleport_call_options {
    const char *method;            /* AuthService method name: "Ping" */
    const char *what;              /* prefix of error messages: `CreateApp "web"` */
    unsigned timeout_ms;           /* deadline; 0: none (a stream; HTTP/2 keepalive watches the connection) */
    size_t max_msg;                /* receive cap for one message; 0: GRPC_FRAME_MAX_DEFAULT */
    teleport_call_msg_fn on_msg;   /* NULL: unary; else a server stream */
    teleport_call_done_fn on_done; /* exactly once, unless cancelled */
    void *ud;
    const struct teleport_call_hooks *hooks; /* NULL: none; must outlive the call */
};

/* Starts the call; *out (optional) is valid until on_done returns or
 * teleport_call_cancel.  A negative code with err (grpc_status set when the
 * connection was refused, e.g. inside the reconnect backoff): no callback
 * then. */
int teleport_call_start(struct teleport_conn *tn, const struct teleport_call_options *o, const uint8_t *req,
                        size_t len, struct teleport_call **out, struct enr_error *err);
/* Ends a call still in flight (RST_STREAM CANCEL) without running its
 * callbacks; allowed inside its on_msg.  Before teleport_conn_free. */
void teleport_call_cancel(struct teleport_call *call);

#endif
