/*
 * fuzz_grpc_frame.c - gRPC length-prefixed messages as HTTP/2 DATA brings
 * them: byte 0 picks the cuts (fuzz.h), byte 1 the size limit, the rest is
 * the stream.  The messages handed out and the final verdict must not
 * depend on the cuts, and no message may exceed the limit.
 */
#include <string.h>

#include "fuzz.h"
#include "net/grpc_frame.h"

struct seen {
    size_t max;
    uint64_t n, bytes, digest;
};

static int on_msg(void *ud, const uint8_t *msg, size_t len)
{
    struct seen *s = ud;
    FUZZ_CHECK(len <= s->max);
    FUZZ_CHECK(len == 0 || msg != NULL);
    s->n++;
    s->bytes += len;
    for (size_t i = 0; i < len; i++)
        s->digest = s->digest * 131 + msg[i];
    return 0;
}

static int run(const uint8_t *data, size_t size, uint8_t seed, size_t max, struct seen *s)
{
    struct grpc_frame_decoder d;
    struct enr_error err = {0};
    struct fuzz_cut cut;
    size_t off = 0;
    int rc = 0;

    s->max = max ? max : GRPC_FRAME_MAX_DEFAULT;
    grpc_frame_decoder_init(&d, max);
    fuzz_cut_init(&cut, seed);
    while (off < size && rc == 0) {
        size_t n = fuzz_cut_next(&cut, size - off);
        rc = grpc_frame_decoder_feed(&d, data + off, n, on_msg, s, &err);
        off += n;
    }
    if (rc == 0)
        rc = grpc_frame_decoder_finish(&d, &err);
    if (rc != 0)
        FUZZ_CHECK(rc < 0 && err.code == rc && err.msg[0] != '\0');
    grpc_frame_decoder_cleanup(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen whole = {0}, cut = {0};
    size_t max;
    int a, b;

    if (size < 2)
        return 0;
    max = data[1] == 0 ? 0 : (size_t)data[1] * 16; /* 0: GRPC_FRAME_MAX_DEFAULT */
    a = run(data + 2, size - 2, 0, max, &whole);
    b = run(data + 2, size - 2, data[0], max, &cut);
    FUZZ_CHECK(a == b);
    FUZZ_CHECK(whole.n == cut.n && whole.bytes == cut.bytes && whole.digest == cut.digest);
    return 0;
}
