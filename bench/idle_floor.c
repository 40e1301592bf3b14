/*
 * idle_floor.c - the idle-memory floor for bench/rss_map.py: a process
 * linked exactly as `enroller` is (enr_core and, through it, the same shared
 * libraries: libcurl and what Debian's libcurl4 pulls in, OpenSSL, nghttp2,
 * protobuf-c, Lua, yajl, jansson, libmicrohttpd, libuv, libc), that does only
 * the initialisation any client of these libraries must do, then waits.
 *
 *   bench_idle_floor
 *
 * In the floor, in this order:
 *   - the dynamic loader maps every library the program needs (its DT_NEEDED
 *     list, which the link makes the same as enroller's) and runs their
 *     constructors;
 *   - curl_global_init(CURL_GLOBAL_DEFAULT), as docker_client_new does
 *     (src/docker/docker_client.c): libcurl's TLS backend and its own state;
 *   - OPENSSL_init_ssl(0, NULL): what OpenSSL runs on its first SSL_CTX_new
 *     (src/teleport/identity_file.c makes one): the default config file, the
 *     error strings of libcrypto and libssl;
 *   - one libuv loop (uv_loop_init) with one signal handler (SIGTERM), as
 *     the daemon's (src/daemon.c).
 * Not in the floor, because they are enroller's own working state and not
 * something every client of these libraries carries: an SSL_CTX with the
 * identity's keys and CAs, the TLS session, the HTTP/2 session and
 * protobuf-c messages of the Auth connection, libcurl's multi handle and its
 * kept-alive Docker connection, the Lua states of the rules, the
 * configuration, the container table and the Teleport view, the ops
 * listener's threads (off unless http.listen is set, as in rss_map.py's
 * default run), and every page of library code only those touch.
 *
 * Prints "ready" (line-buffered) once initialised, then sleeps in the loop
 * until SIGTERM; exit 0.  Exit 1 if an initialisation fails.
 */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <uv.h>

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)h, NULL);
}

int main(void)
{
    uv_loop_t loop;
    uv_signal_t sig_term;
    int rc = 1, curl_done = 0, loop_done = 0, sig_done = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_idle_floor: curl_global_init failed\n");
        goto fail;
    }
    curl_done = 1;
    if (OPENSSL_init_ssl(0, NULL) != 1) {
        fprintf(stderr, "bench_idle_floor: OPENSSL_init_ssl failed\n");
        goto fail;
    }
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "bench_idle_floor: uv_loop_init failed\n");
        goto fail;
    }
    loop_done = 1;
    sig_done = uv_signal_init(&loop, &sig_term) == 0;
    if (!sig_done || uv_signal_start(&sig_term, on_signal, SIGTERM) != 0) {
        fprintf(stderr, "bench_idle_floor: uv_signal_start failed\n");
        goto fail;
    }
    printf("ready\n");
    uv_run(&loop, UV_RUN_DEFAULT);      /* until on_signal closes the handle */
    rc = 0;
fail:
    if (sig_done && rc != 0)
        uv_close((uv_handle_t *)&sig_term, NULL);
    if (loop_done) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    if (curl_done)
        curl_global_cleanup();
    return rc;
}
