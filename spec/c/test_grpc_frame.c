/* test_grpc_frame.c - gRPC framing with scripted bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/grpc_frame.h"
#include "test.h"

struct got {
    int n;
    size_t lens[16];
    char data[16][64];
    int stop_after; /* return non-zero after this many messages (0: never) */
};

static int on_msg(void *ud, const uint8_t *msg, size_t len)
{
    struct got *g = ud;
    ASSERT_TRUE(g->n < 16);
    g->lens[g->n] = len;
    memcpy(g->data[g->n], msg, len < 63 ? len : 63);
    g->data[g->n][len < 63 ? len : 63] = '\0';
    g->n++;
    if (g->stop_after && g->n >= g->stop_after)
        return -ECANCELED;
    return 0;
}

/* Builds prefix+body for a string message into buf; returns length. */
static size_t frame(uint8_t *buf, const char *s)
{
    size_t len = strlen(s);
    grpc_frame_put_header(buf, (uint32_t)len);
    memcpy(buf + 5, s, len);
    return len + 5;
}

static void test_encode(void)
{
    uint8_t *out = NULL;
    size_t n = 0;
    ASSERT_EQ(grpc_frame_encode((const uint8_t *)"abc", 3, &out, &n, NULL), 0);
    ASSERT_EQ(n, 8);
    ASSERT_TRUE(memcmp(out, "\0\0\0\0\3abc", 8) == 0);
    free(out);
    uint8_t hdr[5];
    grpc_frame_put_header(hdr, 0x01020304);
    ASSERT_TRUE(memcmp(hdr, "\0\1\2\3\4", 5) == 0);
}

static void test_split_every_byte(void)
{
    uint8_t buf[256];
    size_t n = frame(buf, "hello");
    n += frame(buf + n, "world!");
    for (size_t chunk = 1; chunk <= n; chunk++) {
        struct grpc_frame_decoder d;
        struct got g = {0};
        grpc_frame_decoder_init(&d, 0);
        for (size_t off = 0; off < n; off += chunk) {
            size_t len = n - off < chunk ? n - off : chunk;
            ASSERT_EQ(grpc_frame_decoder_feed(&d, buf + off, len, on_msg, &g, NULL), 0);
        }
        ASSERT_EQ(grpc_frame_decoder_finish(&d, NULL), 0);
        ASSERT_EQ(g.n, 2);
        ASSERT_STREQ(g.data[0], "hello");
        ASSERT_STREQ(g.data[1], "world!");
        grpc_frame_decoder_cleanup(&d);
    }
}

static void test_several_in_one_chunk_and_empty(void)
{
    uint8_t buf[256];
    size_t n = frame(buf, "a");
    n += frame(buf + n, "");
    n += frame(buf + n, "ccc");
    n += frame(buf + n, "");
    struct grpc_frame_decoder d;
    struct got g = {0};
    grpc_frame_decoder_init(&d, 0);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, buf, n, on_msg, &g, NULL), 0);
    ASSERT_EQ(grpc_frame_decoder_finish(&d, NULL), 0);
    ASSERT_EQ(g.n, 4);
    ASSERT_EQ(g.lens[1], 0);
    ASSERT_EQ(g.lens[3], 0);
    ASSERT_STREQ(g.data[2], "ccc");
    grpc_frame_decoder_cleanup(&d);
}

static void test_oversized(void)
{
    struct grpc_frame_decoder d;
    struct enr_error err = {0};
    struct got g = {0};
    uint8_t hdr[5];
    grpc_frame_decoder_init(&d, 16);
    grpc_frame_put_header(hdr, 17);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, hdr, 5, on_msg, &g, &err), -EMSGSIZE);
    ASSERT_CONTAINS(err.msg, "17 bytes exceeds the limit of 16");
    /* sticky */
    ASSERT_EQ(grpc_frame_decoder_feed(&d, (const uint8_t *)"x", 1, on_msg, &g, NULL), -EMSGSIZE);
    ASSERT_EQ(g.n, 0);
    grpc_frame_decoder_cleanup(&d);

    /* default limit is 4 MiB: exactly 4 MiB is accepted as a prefix */
    grpc_frame_decoder_init(&d, 0);
    grpc_frame_put_header(hdr, GRPC_FRAME_MAX_DEFAULT);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, hdr, 5, on_msg, &g, NULL), 0);
    grpc_frame_decoder_cleanup(&d);
    grpc_frame_decoder_init(&d, 0);
    grpc_frame_put_header(hdr, GRPC_FRAME_MAX_DEFAULT + 1);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, hdr, 5, on_msg, &g, NULL), -EMSGSIZE);
    grpc_frame_decoder_cleanup(&d);
}

static void test_truncated(void)
{
    uint8_t buf[64];
    size_t n = frame(buf, "hello");
    struct grpc_frame_decoder d;
    struct enr_error err = {0};
    struct got g = {0};

    grpc_frame_decoder_init(&d, 0);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, buf, n - 2, on_msg, &g, NULL), 0);
    ASSERT_EQ(grpc_frame_decoder_finish(&d, &err), -EPROTO);
    ASSERT_CONTAINS(err.msg, "3 of 5 bytes");
    ASSERT_EQ(g.n, 0);
    grpc_frame_decoder_cleanup(&d);

    grpc_frame_decoder_init(&d, 0);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, buf, 3, on_msg, &g, NULL), 0);
    ASSERT_EQ(grpc_frame_decoder_finish(&d, &err), -EPROTO);
    ASSERT_CONTAINS(err.msg, "message prefix");
    grpc_frame_decoder_cleanup(&d);
}

static void test_compressed(void)
{
    uint8_t buf[64];
    size_t n = frame(buf, "zz");
    struct grpc_frame_decoder d;
    struct enr_error err = {0};
    struct got g = {0};
    buf[0] = 1;
    grpc_frame_decoder_init(&d, 0);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, buf, n, on_msg, &g, &err), -EPROTO);
    ASSERT_CONTAINS(err.msg, "compressed");
    ASSERT_EQ(g.n, 0);
    grpc_frame_decoder_cleanup(&d);
}

static void test_callback_stops(void)
{
    uint8_t buf[64];
    size_t n = frame(buf, "a");
    n += frame(buf + n, "b");
    struct grpc_frame_decoder d;
    struct got g = {.stop_after = 1};
    grpc_frame_decoder_init(&d, 0);
    ASSERT_EQ(grpc_frame_decoder_feed(&d, buf, n, on_msg, &g, NULL), -ECANCELED);
    ASSERT_EQ(g.n, 1);
    grpc_frame_decoder_cleanup(&d);
}

static void test_status(void)
{
    struct grpc_frame_status st;
    struct enr_error err = {0};

    grpc_frame_status_init(&st);
    ASSERT_TRUE(!st.have_status); /* missing grpc-status is visible to the caller */
    ASSERT_EQ(grpc_frame_status_header(&st, "content-type", 12, "application/grpc", 16, NULL), 0);
    ASSERT_TRUE(!st.have_status);
    ASSERT_EQ(grpc_frame_status_header(&st, "grpc-status", 11, "6", 1, NULL), 0);
    const char *m = "app %22x%22 already exists %e2%9c%93 100%";
    ASSERT_EQ(grpc_frame_status_header(&st, "grpc-message", 12, m, strlen(m), NULL), 0);
    ASSERT_TRUE(st.have_status);
    ASSERT_EQ(st.status, 6);
    ASSERT_STREQ(st.message, "app \"x\" already exists \xe2\x9c\x93 100%");
    ASSERT_EQ(grpc_frame_status_header(&st, "grpc-status", 11, "1x", 2, &err), -EPROTO);
    ASSERT_CONTAINS(err.msg, "grpc-status: not a number");
    ASSERT_EQ(grpc_frame_status_header(&st, "grpc-status", 11, "", 0, NULL), -EPROTO);
    grpc_frame_status_cleanup(&st);

    char *s = grpc_frame_percent_decode("%4", 2);
    ASSERT_STREQ(s, "%4");
    free(s);
    s = grpc_frame_percent_decode("%zz%41", 6);
    ASSERT_STREQ(s, "%zzA");
    free(s);
}

static void test_timeout(void)
{
    char b[GRPC_FRAME_TIMEOUT_LEN];
    grpc_frame_timeout_format(1500, b);
    ASSERT_STREQ(b, "1500m");
    grpc_frame_timeout_format(0, b);
    ASSERT_STREQ(b, "0m");
    grpc_frame_timeout_format(99999999, b);
    ASSERT_STREQ(b, "99999999m");
    grpc_frame_timeout_format(100000000, b);
    ASSERT_STREQ(b, "100000S");
    grpc_frame_timeout_format(100000001, b);
    ASSERT_STREQ(b, "100001S");
}

/* Found by spec/fuzz/fuzz_grpc_headers.c (spec/fuzz/grpc_headers/
 * crash-timeout-wrap): rounding up as ms + unit - 1 wrapped near UINT64_MAX
 * and sent "0H", a deadline already past, instead of the longest one. */
static void test_timeout_huge(void)
{
    char b[GRPC_FRAME_TIMEOUT_LEN];
    grpc_frame_timeout_format(UINT64_MAX, b);
    ASSERT_STREQ(b, "99999999H");
    grpc_frame_timeout_format(UINT64_MAX - 3599998, b);
    ASSERT_STREQ(b, "99999999H");
    grpc_frame_timeout_format(99999999ull * 3600000, b);
    ASSERT_STREQ(b, "99999999H");
    grpc_frame_timeout_format(99999999ull * 60000 + 1, b);
    ASSERT_STREQ(b, "1666667H");
}

int main(void)
{
    test_encode();
    test_split_every_byte();
    test_several_in_one_chunk_and_empty();
    test_oversized();
    test_truncated();
    test_compressed();
    test_callback_stops();
    test_status();
    test_timeout();
    test_timeout_huge();
    printf("test_grpc_frame: ok\n");
    return 0;
}
