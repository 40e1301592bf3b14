/* teleport_call.c - see teleport_call.h. */
#include "teleport/teleport_call.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/grpc_frame.h"
#include "net/http2_conn.h"

#ifndef ENR_VERSION
#define ENR_VERSION "dev"
#endif

#define MAX_RETRIES 3

struct teleport_call {
    struct teleport_conn *tn;
    struct http2_conn *conn;      /* the stream's connection, NULL when none is open */
    int32_t stream_id;
    uv_timer_t timer;
    bool timer_init, done;
    char what[192];               /* `CreateApp "x"`: prefix of every error message */
    char path[128];
    unsigned timeout_ms;
    size_t max_msg;               /* receive limit for one reply message */
    teleport_call_msg_fn on_msg;  /* server stream */
    teleport_call_done_fn on_done;
    void *ud;
    const struct teleport_call_hooks *hooks;
    struct grpc_frame_decoder dec;
    struct grpc_frame_status st;
    int http_status;
    uint8_t *msg;                 /* the one reply message (unary) */
    size_t msg_len;
    int n_msgs;
    struct enr_error local;       /* a failure noticed while reading the reply */
    uint8_t *framed;              /* the request, kept to send it again */
    size_t framed_len;
    int retries;
    bool dispatching;             /* inside on_stream_data: release waits for its end */
    bool release_pending;
};

static int call_submit(struct teleport_call *call, struct enr_error *err);

static void call_closed(uv_handle_t *h)
{
    free(h->data);
}

static void call_release(struct teleport_call *call)
{
    if (call->dispatching) { /* freed from a stream callback: on_stream_data finishes it */
        call->release_pending = true;
        return;
    }
    grpc_frame_decoder_cleanup(&call->dec);
    grpc_frame_status_cleanup(&call->st);
    free(call->msg);
    call->msg = NULL;
    free(call->framed);
    call->framed = NULL;
    if (call->timer_init)
        uv_close((uv_handle_t *)&call->timer, call_closed);
    else
        free(call);
}

static const char *method_of(const struct teleport_call *call)
{
    static const char prefix[] = "/proto.AuthService/";
    return strncmp(call->path, prefix, sizeof(prefix) - 1) == 0 ? call->path + sizeof(prefix) - 1 : call->path;
}

static void count_error(const struct teleport_call *call, const struct enr_error *err)
{
    if (call->hooks != NULL && call->hooks->on_error != NULL)
        call->hooks->on_error(call->hooks->ud, method_of(call), err->grpc_status ? err->grpc_status : -1);
}

/* Ends the call exactly once: on_done runs with err (NULL on success) or
 * the reply message. */
static void call_finish(struct teleport_call *call, const struct enr_error *err)
{
    if (call->done)
        return;
    call->done = true;
    uv_timer_stop(&call->timer);
    if (err != NULL)
        count_error(call, err);
    call->on_done(call->ud, err, err ? NULL : call->msg, err ? 0 : call->msg_len);
    call_release(call);
}

/* An error for this call: `<what>: <STATUS>: <message>`. */
static void call_fail(struct teleport_call *call, int status, const char *msg)
{
    struct enr_error err;
    err_set_grpc(&err, status, "%s: %s: %s", call->what, err_grpc_name(status), msg);
    call_finish(call, &err);
}

static void on_deadline(uv_timer_t *t)
{
    struct teleport_call *call = t->data;
    char msg[96];
    if (call->conn != NULL)
        http2_conn_cancel(call->conn, call->stream_id);
    snprintf(msg, sizeof(msg), "no reply within %u ms", call->timeout_ms);
    call_fail(call, GRPC_STATUS_DEADLINE_EXCEEDED, msg);
}

static bool hname(const char *n, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(n, want, len) == 0;
}

static void on_stream_header(void *ud, const char *name, size_t name_len, const char *value, size_t value_len,
                             bool trailer)
{
    struct teleport_call *call = ud;
    (void)trailer; /* trailers-only replies carry the status in the headers */
    if (hname(name, name_len, ":status")) {
        call->http_status = 0;
        for (size_t i = 0; i < value_len && i < 3; i++)
            call->http_status = call->http_status * 10 + (value[i] - '0');
        return;
    }
    if (call->local.code == 0)
        grpc_frame_status_header(&call->st, name, name_len, value, value_len, &call->local);
}

static int on_message(void *ud, const uint8_t *msg, size_t len)
{
    struct teleport_call *call = ud;
    if (call->on_msg != NULL) {
        if (call->done || call->release_pending)
            return 1; /* cancelled from the message callback: stop */
        call->n_msgs++;
        return call->on_msg(call->ud, msg, len) < 0 ? err_set(&call->local, -EPROTO, "%s", "cannot use a streamed message") : 0;
    }
    if (++call->n_msgs > 1)
        return err_set(&call->local, -EPROTO, "more than one reply message on a unary call");
    call->msg = malloc(len ? len : 1);
    if (call->msg == NULL)
        return err_set(&call->local, -ENOMEM, "out of memory");
    memcpy(call->msg, msg, len);
    call->msg_len = len;
    return 0;
}

static void on_stream_data(void *ud, const uint8_t *data, size_t len)
{
    struct teleport_call *call = ud;
    if (call->local.code != 0 || call->release_pending)
        return;
    call->dispatching = true;
    grpc_frame_decoder_feed(&call->dec, data, len, on_message, call, &call->local);
    call->dispatching = false;
    if (call->release_pending)
        call_release(call);
}

/* gRPC's mapping of HTTP statuses for replies without grpc-status. */
static int http_to_grpc(int http)
{
    switch (http) {
    case 400: return GRPC_STATUS_INTERNAL;
    case 401: return GRPC_STATUS_UNAUTHENTICATED;
    case 403: return GRPC_STATUS_PERMISSION_DENIED;
    case 404: return GRPC_STATUS_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_STATUS_UNAVAILABLE;
    default: return GRPC_STATUS_UNKNOWN;
    }
}

/* Sends the call again on the connection teleport_conn gives now. */
static void call_retry(struct teleport_call *call, const struct enr_error *err)
{
    struct enr_error e2 = {0};
    call->retries++;
    log_debug(LOG_TELEPORT, "%s: %s; sending it again", call->what, err->msg);
    grpc_frame_decoder_cleanup(&call->dec);
    grpc_frame_decoder_init(&call->dec, call->max_msg);
    grpc_frame_status_cleanup(&call->st);
    grpc_frame_status_init(&call->st);
    call->http_status = 0;
    err_clear(&call->local);
    if (call_submit(call, &e2) == 0)
        return;
    call->conn = NULL; /* no stream to cancel */
    call_fail(call, e2.grpc_status ? e2.grpc_status : GRPC_STATUS_UNAVAILABLE, e2.msg);
}

static void on_stream_close(void *ud, const struct enr_error *err)
{
    struct teleport_call *call = ud;
    char msg[ENR_ERROR_MSG_LEN];

    if (err != NULL && call->retries < MAX_RETRIES && call->n_msgs == 0 &&
        teleport_conn_retryable(call->tn, call->conn, err)) {
        call_retry(call, err);
        return;
    }
    if (err != NULL) {
        call_fail(call, err->grpc_status ? err->grpc_status : GRPC_STATUS_UNAVAILABLE, err->msg);
        return;
    }
    if (call->local.code != 0) {
        call_fail(call, call->local.code == -EMSGSIZE ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL,
                  call->local.msg);
        return;
    }
    if (call->http_status != 200) {
        snprintf(msg, sizeof(msg), "HTTP status %d from the server", call->http_status);
        call_fail(call, http_to_grpc(call->http_status), msg);
        return;
    }
    if (!call->st.have_status) {
        call_fail(call, GRPC_STATUS_INTERNAL, "reply without grpc-status");
        return;
    }
    if (call->st.status != GRPC_STATUS_OK) {
        call_fail(call, call->st.status, call->st.message ? call->st.message : "");
        return;
    }
    if (grpc_frame_decoder_finish(&call->dec, &call->local) < 0) {
        call_fail(call, GRPC_STATUS_INTERNAL, call->local.msg);
        return;
    }
    if (call->on_msg == NULL && call->n_msgs != 1) {
        call_fail(call, GRPC_STATUS_INTERNAL, "OK status without a reply message");
        return;
    }
    call_finish(call, NULL);
}

static const struct http2_stream_callbacks stream_cbs = {on_stream_header, on_stream_data, on_stream_close};

/* Opens the call's stream on the current connection (again, for a retry). */
static int call_submit(struct teleport_call *call, struct enr_error *err)
{
    char timeout[GRPC_FRAME_TIMEOUT_LEN];
    struct http2_conn *conn;
    size_t n_hdrs;

    grpc_frame_timeout_format(call->timeout_ms, timeout);
    const struct http2_header hdrs[] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":path", call->path},
        {":authority", teleport_conn_server_name(call->tn)},
        {"content-type", "application/grpc"},
        {"te", "trailers"},
        {"user-agent", "enroller/" ENR_VERSION},
        {"grpc-timeout", timeout}, /* last: left out for a stream without deadline */
    };
    n_hdrs = sizeof(hdrs) / sizeof(hdrs[0]) - (call->timeout_ms == 0);
    if ((conn = teleport_conn_get(call->tn, err)) == NULL) {
        int rc = err->code ? err->code : -ENOMEM;
        err_wrap(err, "%s", call->what);
        return rc;
    }
    call->conn = conn;
    call->stream_id = http2_conn_submit(conn, hdrs, n_hdrs, call->framed, call->framed_len, &stream_cbs, call, err);
    if (call->stream_id < 0) {
        err_wrap(err, "%s", call->what);
        return call->stream_id;
    }
    return 0;
}

int teleport_call_start(struct teleport_conn *tn, const struct teleport_call_options *o, const uint8_t *req,
                        size_t len, struct teleport_call **out, struct enr_error *err)
{
    struct teleport_call *call = NULL;
    struct enr_error tmp;
    int rc;

    if (err == NULL)
        err = &tmp;
    if ((call = calloc(1, sizeof(*call))) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", o->what);
    call->tn = tn;
    call->timeout_ms = o->timeout_ms;
    call->max_msg = o->max_msg;
    call->on_msg = o->on_msg;
    call->on_done = o->on_done;
    call->ud = o->ud;
    call->hooks = o->hooks;
    snprintf(call->what, sizeof(call->what), "%s", o->what);
    snprintf(call->path, sizeof(call->path), "/proto.AuthService/%s", o->method);
    grpc_frame_decoder_init(&call->dec, call->max_msg);
    grpc_frame_status_init(&call->st);
    if (call->hooks != NULL && call->hooks->on_call != NULL)
        call->hooks->on_call(call->hooks->ud, method_of(call));
    if ((rc = grpc_frame_encode(req, len, &call->framed, &call->framed_len, err)) < 0)
        goto fail;
    if ((rc = call_submit(call, err)) < 0)
        goto fail;
    uv_timer_init(teleport_conn_loop(tn), &call->timer); /* cannot fail for timers */
    call->timer_init = true;
    call->timer.data = call;
    if (call->timeout_ms > 0)
        uv_timer_start(&call->timer, on_deadline, call->timeout_ms, 0);
    if (out != NULL)
        *out = call;
    return 0;
fail:
    count_error(call, err);
    call_release(call);
    return rc;
}

void teleport_call_cancel(struct teleport_call *call)
{
    if (call == NULL || call->done)
        return;
    call->done = true;
    if (call->timer_init)
        uv_timer_stop(&call->timer);
    if (call->conn != NULL)
        http2_conn_cancel(call->conn, call->stream_id);
    call_release(call);
}
