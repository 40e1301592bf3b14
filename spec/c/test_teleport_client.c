/* test_teleport_client.c - teleport_client without a Teleport server:
 * configuration and identity errors, address rules, connection failures
 * reported through callbacks, reconnect backoff, the connect/handshake
 * timeout, freeing the client with calls in flight, and a join token
 * without a TTL refused before any call.  The RPCs
 * themselves run against the stand-in in spec/e2e/test_teleport_client.py. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/grpc_frame.h"
#include "teleport/teleport_client.h"
#include "test.h"

static char identity[128];

static void make_identity(const char *dir)
{
    char src[1024], buf[8192];
    const char *root = getenv("ENR_SOURCE_DIR");
    snprintf(src, sizeof(src), "%s/spec/fixtures/identity/valid_rsa.identity", root ? root : ".");
    snprintf(identity, sizeof(identity), "%s/id", dir);
    FILE *in = fopen(src, "rb");
    ASSERT_TRUE(in != NULL);
    int fd = open(identity, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ASSERT_EQ(write(fd, buf, n), (long long)n);
    fclose(in);
    close(fd);
}

struct result {
    int calls;
    struct enr_error err;
    bool ok;
};

static void on_ping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct result *r = ud;
    (void)cluster, (void)version;
    r->calls++;
    r->ok = err == NULL;
    if (err)
        r->err = *err;
}

static void on_done(void *ud, const struct enr_error *err)
{
    on_ping(ud, err, NULL, NULL);
}

static void test_new_errors(uv_loop_t *loop)
{
    struct enr_error err = {0};
    struct teleport_client_config cfg = {.identity_file = identity};
    ASSERT_TRUE(teleport_client_new(loop, &cfg, &err) == NULL);
    ASSERT_STREQ(err.msg, "teleport.addr: missing");
    cfg.addr = "127.0.0.1:3025";
    cfg.identity_file = "/nonexistent/identity";
    ASSERT_TRUE(teleport_client_new(loop, &cfg, &err) == NULL);
    ASSERT_STREQ(err.msg, "identity file /nonexistent/identity: missing (no such file)");
    cfg.identity_file = identity;
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    ASSERT_STREQ(teleport_client_identity_user(tc), "enroller-bot");
    ASSERT_TRUE(teleport_client_identity_ttl(tc) > 3600LL * 24 * 365);
    teleport_client_free(tc);
}

static void test_bad_address(uv_loop_t *loop)
{
    struct enr_error err = {0};
    struct result r = {0};
    struct teleport_client_config cfg = {.addr = "auth.example.com", .identity_file = identity};
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    ASSERT_EQ(teleport_client_ping(tc, on_ping, &r, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "Ping: address \"auth.example.com\": want host:port");
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(r.calls, 0);
    teleport_client_free(tc);
    /* A name is resolved on the loop (only names that map to loopback are
     * used in tests): the refused connect names the address. */
    cfg.addr = "localhost:1";
    tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    ASSERT_EQ(teleport_client_ping(tc, on_ping, &r, &err), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(r.calls, 1);
    ASSERT_CONTAINS(r.err.msg, "Ping: UNAVAILABLE: connect to localhost:1: Connection refused");
    teleport_client_free(tc);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_refused_and_backoff(uv_loop_t *loop)
{
    struct enr_error err = {0};
    struct result a = {0}, b = {0}, c = {0};
    struct teleport_client_config cfg = {.addr = "127.0.0.1:1", .identity_file = identity};
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    struct resource app;
    ASSERT_EQ(resource_init(&app), 0);
    ASSERT_EQ(resource_set_str(&app.name, "web"), 0);
    ASSERT_EQ(resource_set_str(&app.uri, "http://127.0.0.1:8080"), 0);
    ASSERT_EQ(teleport_client_ping(tc, on_ping, &a, &err), 0);
    ASSERT_EQ(teleport_client_create_app(tc, &app, on_done, &b, &err), 0); /* same connection attempt */
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_STREQ(a.err.msg, "Ping: UNAVAILABLE: connect to 127.0.0.1:1: Connection refused");
    ASSERT_EQ(b.calls, 1);
    ASSERT_STREQ(b.err.msg, "CreateApp \"web\": UNAVAILABLE: connect to 127.0.0.1:1: Connection refused");
    /* inside the backoff: refused at once, no callback */
    ASSERT_EQ(teleport_client_delete_app(tc, "web", on_done, &c, &err), ENR_EGRPC);
    ASSERT_EQ(err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_CONTAINS(err.msg, "DeleteApp \"web\": UNAVAILABLE: not reconnecting for ");
    ASSERT_CONTAINS(err.msg, " ms after: connect to 127.0.0.1:1: Connection refused");
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(c.calls, 0);
    resource_cleanup(&app);
    teleport_client_free(tc);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_handshake_timeout_and_free(uv_loop_t *loop)
{
    /* A listener that never accepts: TCP connects (backlog), TLS never answers. */
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    char addr[64];
    ASSERT_TRUE(ls >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ASSERT_EQ(listen(ls, 8), 0);
    ASSERT_EQ(getsockname(ls, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));

    struct enr_error err = {0};
    struct result a = {0};
    struct teleport_client_config cfg = {.addr = addr, .identity_file = identity, .call_timeout_ms = 200};
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    uint64_t t0 = uv_now(loop);
    ASSERT_EQ(teleport_client_ping(tc, on_ping, &a, &err), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_update_time(loop);
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_CONTAINS(a.err.msg, "timed out during TLS handshake");
    /* Not before the deadline; the upper bound only tells a timeout from a
     * hang (generous: valgrind runs this 20-50 times slower). */
    ASSERT_TRUE(uv_now(loop) - t0 >= 190 && uv_now(loop) - t0 < 60000);
    teleport_client_free(tc);

    /* Freed with calls in flight: callbacks never run, nothing leaks. */
    struct result b = {0};
    tc = teleport_client_new(loop, &cfg, &err);
    ASSERT_TRUE(tc != NULL);
    ASSERT_EQ(teleport_client_ping(tc, on_ping, &b, &err), 0);
    ASSERT_EQ(teleport_client_delete_app(tc, "x", on_done, &b, &err), 0);
    ASSERT_EQ(uv_run(loop, UV_RUN_NOWAIT) != 0, 1); /* still connecting */
    teleport_client_free(tc);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(b.calls, 0);
    close(ls);
}

static void test_token_needs_ttl(uv_loop_t *loop)
{
    struct enr_error err = {0};
    struct result a = {0}, b = {0};
    struct teleport_client_config cfg = {.addr = "127.0.0.1:1", .identity_file = identity};
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    const char *roles[] = {"App"};
    ASSERT_TRUE(tc != NULL);
    /* No expiry would make a token that never expires: refused before any
     * connection, no callback, the secret not in the message. */
    ASSERT_EQ(teleport_client_create_token(tc, "tok-secret-1", roles, 1, 0, NULL, on_done, &a, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "CreateTokenV2: TTL 0 s: a join token needs a TTL > 0 (it would never expire)");
    ASSERT_EQ(teleport_client_create_token(tc, "tok-secret-1", roles, 1, -60, NULL, on_done, &a, &err), -EINVAL);
    ASSERT_STREQ(err.msg, "CreateTokenV2: TTL -60 s: a join token needs a TTL > 0 (it would never expire)");
    ASSERT_EQ(teleport_client_n_connects(tc), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(a.calls, 0);
    /* A TTL goes out: the call is made (and fails here: nothing listens). */
    ASSERT_EQ(teleport_client_create_token(tc, "tok-secret-1", roles, 1, 60, NULL, on_done, &b, &err), 0);
    ASSERT_EQ(teleport_client_n_connects(tc), 1);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(b.calls, 1);
    ASSERT_STREQ(b.err.msg, "CreateTokenV2: UNAVAILABLE: connect to 127.0.0.1:1: Connection refused");
    teleport_client_free(tc);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_reconnect_backoff_range(uv_loop_t *loop)
{
    /* The first reconnect wait is 250 ms with equal jitter, counted when
     * the next call finds the failed connection: in [125, 250] ms. */
    for (int i = 0; i < 8; i++) {
        struct enr_error err = {0};
        struct result a = {0};
        struct teleport_client_config cfg = {.addr = "127.0.0.1:1", .identity_file = identity};
        struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
        ASSERT_TRUE(tc != NULL);
        ASSERT_EQ(teleport_client_ping(tc, on_ping, &a, &err), 0);
        uv_run(loop, UV_RUN_DEFAULT);
        ASSERT_EQ(a.calls, 1);
        ASSERT_EQ(teleport_client_ping(tc, on_ping, &a, &err), ENR_EGRPC);
        const char *p = strstr(err.msg, "not reconnecting for ");
        ASSERT_TRUE(p != NULL);
        long ms = strtol(p + strlen("not reconnecting for "), NULL, 10);
        ASSERT_TRUE(ms >= 125 && ms <= 250);
        ASSERT_EQ(teleport_client_n_connects(tc), 1);
        teleport_client_free(tc);
        uv_run(loop, UV_RUN_DEFAULT);
    }
}

int main(void)
{
    char dir[] = "/tmp/test_tclient_XXXXXX";
    uv_loop_t loop;
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    make_identity(dir);
    ASSERT_EQ(uv_loop_init(&loop), 0);

    test_new_errors(&loop);
    test_bad_address(&loop);
    test_refused_and_backoff(&loop);
    test_handshake_timeout_and_free(&loop);
    test_token_needs_ttl(&loop);
    test_reconnect_backoff_range(&loop);

    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    unlink(identity);
    rmdir(dir);
    printf("test_teleport_client: ok\n");
    return 0;
}
