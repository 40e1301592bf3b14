/*
 * fuzz_http2_conn.c - what a server (or anything posing as one) sends back
 * on the HTTP/2 connection to Teleport Auth: byte 0 picks the cuts
 * (fuzz.h), the rest is the server's bytes, pushed into an http2_conn over
 * an injected transport (http2_conn_new_io) after two gRPC calls were
 * submitted.  Response headers and trailers go through
 * grpc_frame_status_header and DATA through a grpc_frame_decoder, as
 * teleport_call.c does.  Every stream closes at most once; after the
 * transport's EOF every stream has closed and the connection is unusable.
 */
#include <string.h>

#include "fuzz.h"
#include "net/grpc_frame.h"
#include "net/http2_conn.h"

struct call {
    struct grpc_frame_decoder dec;
    struct grpc_frame_status st;
    int closed, failed;
};

static int conn_errors;

static int io_send(void *ud, const uint8_t *data, size_t len)
{
    (void)ud, (void)data, (void)len;
    return 0;
}

static void on_conn_error(void *ud, const struct enr_error *err)
{
    (void)ud;
    FUZZ_CHECK(err != NULL && err->code != 0);
    conn_errors++;
}
static const struct http2_conn_callbacks conn_cbs = {NULL, on_conn_error};

static int on_msg(void *ud, const uint8_t *msg, size_t len)
{
    (void)ud;
    FUZZ_CHECK(len == 0 || msg != NULL);
    return 0;
}

static void on_header(void *ud, const char *name, size_t name_len, const char *value, size_t value_len, bool trailer)
{
    struct call *k = ud;
    struct enr_error err = {0};
    (void)trailer;
    FUZZ_CHECK(k->closed == 0);
    (void)grpc_frame_status_header(&k->st, name, name_len, value, value_len, &err);
}

static void on_data(void *ud, const uint8_t *data, size_t len)
{
    struct call *k = ud;
    struct enr_error err = {0};
    FUZZ_CHECK(k->closed == 0);
    (void)grpc_frame_decoder_feed(&k->dec, data, len, on_msg, k, &err);
}

static void on_close(void *ud, const struct enr_error *err)
{
    struct call *k = ud;
    struct enr_error e = {0};
    FUZZ_CHECK(k->closed == 0);
    k->closed++;
    k->failed = err != NULL;
    if (err == NULL)
        (void)grpc_frame_decoder_finish(&k->dec, &e);
}
static const struct http2_stream_callbacks stream_cbs = {on_header, on_data, on_close};

static int32_t submit(struct http2_conn *c, const char *method, struct call *k)
{
    static const uint8_t body[5] = {0, 0, 0, 0, 0};
    char path[64];
    struct enr_error err = {0};
    snprintf(path, sizeof(path), "/proto.AuthService/%s", method);
    struct http2_header h[] = {
        {":method", "POST"}, {":scheme", "https"}, {":path", path}, {":authority", "teleport.cluster.local"},
        {"content-type", "application/grpc"}, {"te", "trailers"}, {"grpc-timeout", "1500m"},
    };
    grpc_frame_decoder_init(&k->dec, 0);
    grpc_frame_status_init(&k->st);
    return http2_conn_submit(c, h, 7, body, sizeof(body), &stream_cbs, k, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http2_conn_io io = {io_send, NULL};
    struct enr_error err = {0};
    struct call calls[2];
    struct fuzz_cut cut;
    struct http2_conn *c;
    size_t off = 0;

    if (size < 1)
        return 0;
    memset(calls, 0, sizeof(calls));
    conn_errors = 0;
    c = http2_conn_new_io(&io, &conn_cbs, NULL, &err);
    FUZZ_CHECK(c != NULL);
    FUZZ_CHECK(submit(c, "Ping", &calls[0]) > 0);
    FUZZ_CHECK(submit(c, "GetApps", &calls[1]) > 0);
    http2_conn_flush(c);
    fuzz_cut_init(&cut, data[0]);
    data++, size--;
    while (off < size) {
        size_t n = fuzz_cut_next(&cut, size - off);
        http2_conn_input(c, data + off, n);
        off += n;
    }
    http2_conn_input_eof(c);
    FUZZ_CHECK(!http2_conn_usable(c));
    FUZZ_CHECK(http2_conn_n_streams(c) == 0);
    FUZZ_CHECK(conn_errors <= 1);
    for (int i = 0; i < 2; i++) {
        FUZZ_CHECK(calls[i].closed == 1);
        grpc_frame_decoder_cleanup(&calls[i].dec);
        grpc_frame_status_cleanup(&calls[i].st);
    }
    http2_conn_free(c);
    return 0;
}
