/*
 * teleport_calls.c - Teleport client throughput and reconnect time against
 * the stand-in, printed as Markdown tables.
 *
 *   bench_teleport_calls STANDIN_PY STATE_DIR [CALLS [CONCURRENCY]]
 *
 * Starts `/usr/bin/python3 STANDIN_PY --state STATE_DIR` itself (loopback
 * only), then in one run:
 *   1. CALLS Ping and CALLS GetApps calls over ONE connection, CONCURRENCY
 *      in flight (HTTP/2 multiplexing);
 *   2. CALLS/10 Ping calls with a NEW client + connection (TCP + TLS
 *      handshake) per call, CONCURRENCY at a time;
 *   3. reconnect: the stand-in is stopped (SIGTERM) and started again on the
 *      same port while a Ping is tried every 20 ms; the time from "listening
 *      again" to the first successful Ping is the reconnect time (it includes
 *      the client's jittered backoff, 250 ms doubling).
 * The stand-in is Python (grpcio): its per-call cost is the ceiling here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "base/log.h"
#include "teleport/teleport_client.h"

static uv_loop_t *loop;
static char identity[4096], addr_file[4096], addr[128];
static const char *standin_py, *state_dir;
static pid_t standin_pid = -1;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void standin_start(const char *listen)
{
    unlink(addr_file);
    standin_pid = fork();
    if (standin_pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/bin/python3", "python3", standin_py, "--state", state_dir, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(addr_file, "r");
        if (f != NULL) {
            if (fgets(addr, sizeof(addr), f) != NULL && strlen(addr) > 0) {
                addr[strcspn(addr, "\n")] = '\0';
                fclose(f);
                return;
            }
            fclose(f);
        }
        usleep(50000);
    }
    fprintf(stderr, "stand-in did not start\n");
    exit(2);
}

static void standin_stop(void)
{
    if (standin_pid > 0) {
        kill(standin_pid, SIGTERM);
        waitpid(standin_pid, NULL, 0);
        standin_pid = -1;
    }
}

/* ---- a batch of calls with bounded concurrency ---- */

struct batch {
    struct teleport_client *shared; /* NULL: a new client per call */
    int kind;                        /* 0 ping, 1 get_apps */
    int total, started, done, failed, inflight, conc;
    struct enr_error first;
};

struct one {
    struct batch *b;
    struct teleport_client *tc; /* own client, or NULL */
};

static void start_more(struct batch *b);

static void finish_one(struct one *o, const struct enr_error *err)
{
    struct batch *b = o->b;
    if (err != NULL && b->failed++ == 0)
        b->first = *err;
    b->done++;
    b->inflight--;
    teleport_client_free(o->tc);
    free(o);
    start_more(b);
}

static void on_ping(void *ud, const struct enr_error *err, const char *c, const char *v)
{
    (void)c, (void)v;
    finish_one(ud, err);
}

static void on_list(void *ud, const struct enr_error *err, struct resource_list *l)
{
    (void)l;
    finish_one(ud, err);
}

static void start_more(struct batch *b)
{
    while (b->inflight < b->conc && b->started < b->total) {
        struct one *o = calloc(1, sizeof(*o));
        struct enr_error err = {0};
        struct teleport_client_config cfg = {.addr = addr, .identity_file = identity, .mode = TELEPORT_MODE_DIRECT};
        struct teleport_client *tc = b->shared;
        int rc;
        o->b = b;
        if (tc == NULL && (tc = o->tc = teleport_client_new(loop, &cfg, &err)) == NULL) {
            fprintf(stderr, "%s\n", err.msg);
            standin_stop();
            exit(2);
        }
        b->started++;
        b->inflight++;
        rc = b->kind == 0 ? teleport_client_ping(tc, on_ping, o, &err) : teleport_client_get_apps(tc, on_list, o, &err);
        if (rc < 0)
            finish_one(o, &err);
    }
}

static double run_batch(struct teleport_client *shared, int kind, int total, int conc, int *failed)
{
    struct batch b = {.shared = shared, .kind = kind, .total = total, .conc = conc};
    double t0 = now_s();
    start_more(&b);
    while (b.done < b.total)
        uv_run(loop, UV_RUN_ONCE);
    *failed = b.failed;
    if (b.failed)
        fprintf(stderr, "  (%d failed; first: %s)\n", b.failed, b.first.msg);
    return now_s() - t0;
}

/* ---- reconnect ---- */

struct rc_state {
    bool ok, pending;
};

static void on_rc_ping(void *ud, const struct enr_error *err, const char *c, const char *v)
{
    struct rc_state *s = ud;
    (void)c, (void)v;
    s->pending = false;
    s->ok = err == NULL;
}

/* Pings every 20 ms until one succeeds; returns seconds since t_ref. */
static double wait_ok(struct teleport_client *tc, double t_ref, unsigned *attempts)
{
    struct rc_state s = {0};
    *attempts = 0;
    while (!s.ok) {
        struct enr_error err = {0};
        s.pending = true;
        (*attempts)++;
        if (teleport_client_ping(tc, on_rc_ping, &s, &err) < 0)
            s.pending = false; /* inside the backoff: refused at once */
        while (s.pending)
            uv_run(loop, UV_RUN_ONCE);
        if (!s.ok)
            usleep(20000);
        if (now_s() - t_ref > 60) {
            fprintf(stderr, "no reconnect within 60 s\n");
            standin_stop();
            exit(2);
        }
    }
    return now_s() - t_ref;
}

int main(int argc, char **argv)
{
    int calls = argc > 3 ? atoi(argv[3]) : 2000;
    int conc = argc > 4 ? atoi(argv[4]) : 32;
    struct enr_error err = {0};
    int failed;

    if (argc < 3 || calls <= 0 || conc <= 0) {
        fprintf(stderr, "usage: bench_teleport_calls STANDIN_PY STATE_DIR [CALLS [CONCURRENCY]]\n");
        return 2;
    }
    standin_py = argv[1];
    state_dir = argv[2];
    snprintf(identity, sizeof(identity), "%s/admin.identity", state_dir);
    snprintf(addr_file, sizeof(addr_file), "%s/addr", state_dir);
    log_set_level(getenv("ENR_BENCH_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    loop = uv_default_loop();
    standin_start("127.0.0.1:0");

    struct teleport_client_config cfg = {.addr = addr, .identity_file = identity, .mode = TELEPORT_MODE_DIRECT};
    struct teleport_client *tc = teleport_client_new(loop, &cfg, &err);
    if (tc == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        standin_stop();
        return 2;
    }
    run_batch(tc, 0, 50, conc, &failed); /* warm-up: connection open, Python warm */

    double t_ping = run_batch(tc, 0, calls, conc, &failed);
    int f_ping = failed;
    double t_apps = run_batch(tc, 1, calls, conc, &failed);
    int f_apps = failed;
    double t_ping1 = run_batch(tc, 0, calls / 4, 1, &failed);
    int f_ping1 = failed;
    unsigned conns_shared = teleport_client_n_connects(tc);
    int per_n = calls / 10 > 0 ? calls / 10 : 1;
    double t_new = run_batch(NULL, 0, per_n, conc, &failed);
    int f_new = failed;
    double t_new1 = run_batch(NULL, 0, per_n / 2 > 0 ? per_n / 2 : 1, 1, &failed);
    int f_new1 = failed;

    printf("## Teleport client calls against the stand-in (Python grpcio; its speed is the ceiling)\n\n");
    printf("| connection | call | calls | in flight | failed | seconds | calls/s |\n");
    printf("|---|---|---:|---:|---:|---:|---:|\n");
    printf("| one, multiplexed (%u opened) | Ping | %d | %d | %d | %.2f | %.0f |\n", conns_shared, calls, conc, f_ping,
           t_ping, calls / t_ping);
    printf("| one, multiplexed | GetApps | %d | %d | %d | %.2f | %.0f |\n", calls, conc, f_apps, t_apps, calls / t_apps);
    printf("| one, sequential | Ping | %d | 1 | %d | %.2f | %.0f |\n", calls / 4, f_ping1, t_ping1, (calls / 4) / t_ping1);
    printf("| new per call (TCP+TLS each) | Ping | %d | %d | %d | %.2f | %.0f |\n", per_n, conc, f_new, t_new,
           per_n / t_new);
    printf("| new per call (TCP+TLS each) | Ping | %d | 1 | %d | %.2f | %.0f |\n\n", per_n / 2 > 0 ? per_n / 2 : 1,
           f_new1, t_new1, (per_n / 2 > 0 ? per_n / 2 : 1) / t_new1);
    fflush(stdout);

    /* Reconnect after a restart on the same port. */
    char listen[128];
    unsigned attempts;
    snprintf(listen, sizeof(listen), "%s", addr);
    printf("## Reconnect after a stand-in restart (same port; Ping every 20 ms)\n\n");
    printf("| run | stand-in down for (s) | attempts | first OK after listening again (s) |\n");
    printf("|---:|---:|---:|---:|\n");
    for (int run = 1; run <= 3; run++) {
        double t_kill = now_s();
        standin_stop();
        /* Let the client notice while the server is down (a few refused connects). */
        for (int i = 0; i < 25; i++) {
            struct rc_state s = {0};
            s.pending = true;
            if (teleport_client_ping(tc, on_rc_ping, &s, &err) < 0)
                s.pending = false;
            while (s.pending)
                uv_run(loop, UV_RUN_ONCE);
            usleep(20000);
        }
        standin_start(listen);
        double t_up = now_s();
        double dt = wait_ok(tc, t_up, &attempts);
        printf("| %d | %.2f | %u | %.3f |\n", run, t_up - t_kill, attempts, dt);
        fflush(stdout);
    }
    teleport_client_free(tc);
    uv_run(loop, UV_RUN_NOWAIT);
    standin_stop();
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
