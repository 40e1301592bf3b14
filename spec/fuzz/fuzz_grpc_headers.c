/*
 * fuzz_grpc_headers.c - the gRPC headers enroller reads or writes:
 * grpc-status and grpc-message from a server's trailers
 * (grpc_frame_status_header, grpc_frame_percent_decode), and the
 * grpc-timeout it sends (grpc_frame_timeout_format).  Byte 0 picks which:
 *   0: grpc-status value, 1: grpc-message value, 2: any header name and
 *   value (split at the first ':'), 3: the 8 bytes after it are a timeout in
 *   ms, formatted and read back the way a gRPC server reads it
 *   (grpc-go internal/transport/http_util.go decodeTimeout): at most 8
 *   digits, a unit in HMSm, and never shorter than asked.
 */
#include <string.h>

#include "fuzz.h"
#include "net/grpc_frame.h"

static void header(const char *name, size_t name_len, const char *value, size_t len)
{
    struct grpc_frame_status st;
    struct enr_error err = {0};
    int rc;

    grpc_frame_status_init(&st);
    rc = grpc_frame_status_header(&st, name, name_len, value, len, &err);
    if (rc < 0)
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0' && !st.have_status);
    if (st.have_status)
        FUZZ_CHECK(st.status >= 0);
    if (st.message)
        FUZZ_CHECK(strlen(st.message) <= len);
    grpc_frame_status_cleanup(&st);
}

static void timeout(uint64_t ms)
{
    char out[GRPC_FRAME_TIMEOUT_LEN];
    size_t n;
    uint64_t v = 0, unit_ms;

    grpc_frame_timeout_format(ms, out);
    n = strlen(out);
    FUZZ_CHECK(n >= 2 && n <= 9);
    for (size_t i = 0; i + 1 < n; i++) {
        FUZZ_CHECK(out[i] >= '0' && out[i] <= '9');
        v = v * 10 + (uint64_t)(out[i] - '0');
    }
    switch (out[n - 1]) {
    case 'm': unit_ms = 1; break;
    case 'S': unit_ms = 1000; break;
    case 'M': unit_ms = 60000; break;
    case 'H': unit_ms = 3600000; break;
    default: FUZZ_CHECK(!"unit"); return;
    }
    /* Never shorter than asked, except where 99999999 hours caps it. */
    FUZZ_CHECK(v * unit_ms >= ms || (v == 99999999u && unit_ms == 3600000));
    /* Rounded up by less than one unit. */
    FUZZ_CHECK(v == 0 || (v - 1) * unit_ms < ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0: header("grpc-status", 11, p, n); break;
    case 1: header("grpc-message", 12, p, n); break;
    case 2: {
        const char *colon = memchr(p, ':', n);
        size_t nl = colon ? (size_t)(colon - p) : n;
        header(p, nl, colon ? colon + 1 : p + n, colon ? n - nl - 1 : 0);
        break;
    }
    case 3: {
        uint64_t ms = 0;
        for (size_t i = 0; i < 8 && i < n; i++)
            ms = ms << 8 | (uint8_t)p[i];
        timeout(ms);
        break;
    }
    }
    return 0;
}
