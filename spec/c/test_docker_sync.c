/*
 * test_docker_sync.c - the Docker side of the reconciler against a fake
 * engine: each case is a script of engine answers and events, and after
 * every step the changes reported up, the inspects asked for and the
 * listing's outcome are checked.
 *
 * Reports are written "+a" (a runs), "-a" (a is gone), "?a" (a's inspect
 * failed), with "*" when they come from a listing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "reconcile/docker_sync.h"
#include "test.h"

#define MAXQ 32

/* ---- the fake engine ---------------------------------------------------------- */

struct fake {
    docker_list_cb list_cb;
    void *list_ud;
    int lists;                       /* list calls made */
    struct {
        char id[16];
        docker_inspect_cb cb;
        void *ud;
    } q[MAXQ];                       /* inspects waiting for an answer, in order */
    size_t nq;
    docker_event_cb ev_cb;
    docker_stream_end_cb end_cb;
    void *ev_ud;
    int streams;                     /* events calls made */
    int64_t since;                   /* since of the last events call */
    int stops;
};

static int f_list(void *impl, docker_list_cb cb, void *ud, struct enr_error *err)
{
    struct fake *f = impl;
    (void)err;
    ASSERT_TRUE(f->list_cb == NULL);  /* one listing at a time */
    f->list_cb = cb;
    f->list_ud = ud;
    f->lists++;
    return 0;
}

static int f_inspect(void *impl, const char *id, docker_inspect_cb cb, void *ud, struct enr_error *err)
{
    struct fake *f = impl;
    (void)err;
    ASSERT_TRUE(f->nq < MAXQ);
    snprintf(f->q[f->nq].id, sizeof(f->q[f->nq].id), "%s", id);
    f->q[f->nq].cb = cb;
    f->q[f->nq].ud = ud;
    f->nq++;
    return 0;
}

static int f_events(void *impl, int64_t since, docker_event_cb ev_cb, docker_stream_end_cb end_cb, void *ud,
                    struct enr_error *err)
{
    struct fake *f = impl;
    (void)err;
    f->ev_cb = ev_cb;
    f->end_cb = end_cb;
    f->ev_ud = ud;
    f->since = since;
    f->streams++;
    return 0;
}

static void f_events_stop(void *impl)
{
    ((struct fake *)impl)->stops++;
}

/* ---- what docker_sync reports -------------------------------------------------- */

struct seen {
    char changes[256];
    int listed;                      /* -1: nothing; 0/1: on_listed(complete) */
    int resyncs;
    int stream_ends;                 /* on_stream_end calls */
};

static void on_change(void *ud, const char *id, enum docker_sync_change what, struct container *c, bool listing)
{
    struct seen *s = ud;
    size_t n = strlen(s->changes);
    char mark = what == DOCKER_SYNC_RUNNING ? '+' : what == DOCKER_SYNC_GONE ? '-' : '?';

    if (what == DOCKER_SYNC_RUNNING)
        ASSERT_TRUE(c != NULL && strcmp(c->state, "running") == 0);
    else
        ASSERT_TRUE(c == NULL);
    snprintf(s->changes + n, sizeof(s->changes) - n, "%s%c%s%s", n ? " " : "", mark, id, listing ? "*" : "");
    container_free(c);
}

static void on_resync(void *ud)
{
    ((struct seen *)ud)->resyncs++;
}

static void on_listed(void *ud, bool complete)
{
    ((struct seen *)ud)->listed = complete;
}

static void on_stream_end(void *ud)
{
    ((struct seen *)ud)->stream_ends++;
}

/* ---- the script ------------------------------------------------------------------ */

enum op {
    END = 0,
    START,          /* docker_sync_start */
    RESYNC,         /* docker_sync_resync */
    LIST,           /* answer the listing: arg "a=1 b=2" (id=hash) */
    LIST_FAIL,      /* the listing fails */
    RUNNING,        /* answer arg's oldest inspect: running, image hash variant in arg2 */
    EXITED,         /* ... : not running */
    NOTFOUND,       /* ... : no such container */
    INSPECT_FAIL,   /* ... : the engine failed */
    EVENT,          /* a container event for arg (action arg2) */
    NET_EVENT,      /* a network event for container arg (action arg2) */
    STREAM_CUT,     /* the event stream ends */
    RESUMED,        /* run the loop until the stream is asked for again */
};

struct step {
    enum op op;
    const char *arg, *arg2;
    const char *changes;     /* reported during the step */
    const char *inspects;    /* waiting afterwards, in order */
    int listed;              /* -1: no on_listed during the step */
};

struct tcase {
    const char *title;
    bool poll_only;
    struct step steps[32];
};

#define NOLIST -1

static const struct tcase cases[] = {
    {.title = "events -> on_change",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {EVENT, "b", "start", "", "b", NOLIST},
               {RUNNING, "b", "v1", "+b", "", NOLIST},
               {EVENT, "b", "die", "-b", "", NOLIST},          /* gone at once: no inspect */
               {EVENT, "a", "destroy", "-a", "", NOLIST},
               {EVENT, "d", "start", "", "d", NOLIST},
               {EXITED, "d", NULL, "", "", NOLIST},            /* exited before the answer */
               {EVENT, "c", "start", "", "c", NOLIST},
               {INSPECT_FAIL, "c", NULL, "", "", NOLIST}}},
    {.title = "list diff only inspects changed entries; a container not listed is gone",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1 b=2", NULL, "", "a b", NOLIST},
               {RUNNING, "a", "v1", "+a*", "b", NOLIST},
               {RUNNING, "b", "v1", "+b*", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1 b=3 c=4", NULL, "", "b c", NOLIST},
               {RUNNING, "b", "v2", "+b*", "c", NOLIST},
               {RUNNING, "c", "v1", "+c*", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "b=3 c=4", NULL, "-a*", "", 1}}},
    {.title = "a failed list -> on_listed(false) and nothing reported gone",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST_FAIL, NULL, NULL, "", "", 0},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "-a*", "", 1}}},
    {.title = "an inspect that failed for an unnamed container leaves the listing incomplete",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1 b=2", NULL, "", "a b", NOLIST},
               {RUNNING, "a", "v1", "+a*", "b", NOLIST},
               {INSPECT_FAIL, "b", NULL, "", "", 0},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               /* a is unchanged, b failed last time: only b again */
               {LIST, "a=1 b=2", NULL, "", "b", NOLIST},
               {INSPECT_FAIL, "b", NULL, "", "", 0},
               {EVENT, "a", "health_status", "", "a", NOLIST},
               {INSPECT_FAIL, "a", NULL, "?a", "", NOLIST}}},
    {.title = "an answer older than a die or a removal cannot bring the container back",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {EVENT, "a", "health_status", "", "a", NOLIST},
               {EVENT, "a", "die", "-a", "a", NOLIST},
               {RUNNING, "a", "v1", "", "", NOLIST},          /* asked before the die */
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {EVENT, "a", "health_status", "", "a", NOLIST},
               {EVENT, "a", "destroy", "-a", "a", NOLIST},
               {RUNNING, "a", "v1", "", "", NOLIST},          /* asked before the removal */
               {EVENT, "a", "start", "", "a", NOLIST},
               {NOTFOUND, "a", NULL, "", "", NOLIST}}},
    {.title = "a second event during an inspect asks once more after it",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {EVENT, "a", "health_status", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "a", NOLIST},
               {RUNNING, "a", "v2", "+a", "", NOLIST}}},
    {.title = "a stream cut: incomplete, resumed from the last event, and everything inspected again",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {EVENT, "b", "start", "", "b", NOLIST},
               {RUNNING, "b", "v1", "+b", "", NOLIST},
               {STREAM_CUT, NULL, NULL, "", "", NOLIST},
               {RESUMED, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1 b=2", NULL, "", "a b", NOLIST},
               {RUNNING, "a", "v1", "+a*", "b", NOLIST},
               {RUNNING, "b", "v1", "+b*", "", 1}}},
    {.title = "after a die, and before a first start, only a start is inspected",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {NET_EVENT, "a", "connect", "", "", NOLIST},        /* on its way up: the start tells */
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {NET_EVENT, "a", "connect", "", "a", NOLIST},       /* running: its address may change */
               {RUNNING, "a", "v2", "+a", "", NOLIST},
               {EVENT, "a", "die", "-a", "", NOLIST},              /* gone at once: no inspect */
               {NET_EVENT, "a", "disconnect", "", "", NOLIST},     /* on its way down */
               {EVENT, "a", "stop", "", "", NOLIST},
               {EVENT, "a", "health_status", "", "", NOLIST},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST}}},
    {.title = "a die, then a start the stream missed: found running by a listing, its events count again",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {EVENT, "a", "die", "-a", "", NOLIST},
               {STREAM_CUT, NULL, NULL, "", "", NOLIST},
               {RESUMED, NULL, NULL, "", "", NOLIST},
               {LIST, "a=2", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {NET_EVENT, "a", "connect", "", "a", NOLIST},
               {RUNNING, "a", "v2", "+a", "", NOLIST}}},
    {.title = "a start event's inspect: the next listing takes its hash and inspects nothing; a rename is inspected",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},                 /* current by events: no second inspect */
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},                 /* the hash taken is the one compared */
               {EVENT, "a", "rename", "", "a", NOLIST},        /* a new name: inspected at once */
               {RUNNING, "a", "v2", "+a", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=2", NULL, "", "a", NOLIST},           /* its entry changed (Names): as before */
               {RUNNING, "a", "v2", "+a*", "", 1},
               {EVENT, "b", "start", "", "b", NOLIST},
               {RUNNING, "b", "v1", "+b", "", NOLIST},
               {EVENT, "b", "health_status", "", "b", NOLIST},
               {RESYNC, NULL, NULL, "", "b", NOLIST},
               {LIST, "a=2 b=3", NULL, "", "b", 1},            /* b's answer is on its way: asked again */
               {RUNNING, "b", "v1", "+b", "b", NOLIST},
               {RUNNING, "b", "v1", "+b", "", NOLIST}}},
    {.title = "a start event's inspect is not taken for a listing answered while the stream is down",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {STREAM_CUT, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 0},
               {RESUMED, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},           /* after a cut: everything */
               {RUNNING, "a", "v1", "+a*", "", 1}}},
    {.title = "an inspect asked before a stream cut and answered after the resume is not current by events",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RESYNC, NULL, NULL, "", "a", NOLIST},          /* not a full listing */
               {STREAM_CUT, NULL, NULL, "", "a", NOLIST},
               {RESUMED, NULL, NULL, "", "a", NOLIST},         /* the relist waits for this one */
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},             /* and the relist starts */
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1}}},
    {.title = "an inspect answered before a stream cut is not current by events after the resume",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},           /* not a full listing */
               {STREAM_CUT, NULL, NULL, "", "", NOLIST},
               {RESUMED, NULL, NULL, "", "", NOLIST},          /* the relist waits for this one */
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1}}},
    {.title = "a failed inspect after a start event's: the listing inspects",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "", NULL, "", "", 1},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {EVENT, "a", "health_status", "", "a", NOLIST},
               {INSPECT_FAIL, "a", NULL, "?a", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1}}},
    {.title = "the first listing and every 10th after it inspect a container a start event inspected",
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {EVENT, "a", "start", "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},           /* the first */
               {RUNNING, "a", "v1", "+a*", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},                 /* 2nd */
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "", 1},                 /* 10th */
               {EVENT, "c", "start", "", "c", NOLIST},
               {RUNNING, "c", "v1", "+c", "", NOLIST},
               {RESYNC, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1 c=2", NULL, "", "a c", NOLIST},     /* the 10th after the first: full */
               {RUNNING, "a", "v1", "+a*", "c", NOLIST},
               {RUNNING, "c", "v1", "+c*", "", 1}}},
    {.title = "poll only: no stream, and a listing is complete without it",
     .poll_only = true,
     .steps = {{START, NULL, NULL, "", "", NOLIST},
               {LIST, "a=1", NULL, "", "a", NOLIST},
               {RUNNING, "a", "v1", "+a*", "", 1}}},
};

static struct container *make_container(const char *id, const char *state, const char *variant)
{
    char json[512];
    struct enr_error err = {0};
    struct container *c;

    snprintf(json, sizeof(json),
             "{\"Id\":\"%s\",\"Name\":\"/c-%s\",\"Created\":\"2024-01-01T00:00:00Z\","
             "\"Config\":{\"Image\":\"img:%s\",\"Hostname\":\"h\",\"Labels\":{}},"
             "\"State\":{\"Status\":\"%s\"},\"NetworkSettings\":{\"Networks\":{}}}",
             id, id, variant ? variant : "v1", state);
    c = container_from_inspect(json, strlen(json), &err);
    if (c == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(c != NULL);
    return c;
}

static void answer_inspect(struct fake *f, const char *id, enum op op, const char *variant)
{
    struct enr_error err = {0};
    size_t i = 0;

    while (i < f->nq && strcmp(f->q[i].id, id) != 0)
        i++;
    ASSERT_TRUE(i < f->nq);
    docker_inspect_cb cb = f->q[i].cb;
    void *ud = f->q[i].ud;
    memmove(&f->q[i], &f->q[i + 1], (f->nq - i - 1) * sizeof(f->q[0]));
    f->nq--;
    switch (op) {
    case RUNNING:
        cb(ud, NULL, make_container(id, "running", variant));
        break;
    case EXITED:
        cb(ud, NULL, make_container(id, "exited", variant));
        break;
    case NOTFOUND:
        err_set(&err, ENR_ENOTFOUND, "GET /containers/%s/json: no such container", id);
        cb(ud, &err, NULL);
        break;
    default:
        err_set(&err, -EIO, "GET /containers/%s/json: HTTP 500: engine trouble", id);
        cb(ud, &err, NULL);
        break;
    }
}

static void answer_list(struct fake *f, const char *spec, bool fail)
{
    char buf[128], *ids[8], *save = NULL;
    uint64_t hashes[8];
    size_t n = 0;
    struct enr_error err = {0};
    docker_list_cb cb = f->list_cb;

    ASSERT_TRUE(cb != NULL);
    f->list_cb = NULL;
    if (fail) {
        err_set(&err, -ECONNREFUSED, "GET /containers/json: connection refused");
        cb(f->list_ud, &err, NULL, NULL, 0);
        return;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        ASSERT_TRUE(eq != NULL && n < 8);
        *eq = '\0';
        ids[n] = tok;
        hashes[n++] = strtoull(eq + 1, NULL, 10);
    }
    cb(f->list_ud, NULL, ids, hashes, n);
}

static void pending(const struct fake *f, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < f->nq; i++) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", i ? " " : "", f->q[i].id);
    }
}

static void run_case(const struct tcase *tc)
{
    uv_loop_t loop;
    struct fake f = {0};
    struct seen s = {.listed = NOLIST};
    struct docker_ops ops = {f_list, f_inspect, f_events, f_events_stop, &f};
    struct docker_sync_config cfg = {.resync_sec = 3600, .poll_only = tc->poll_only};
    struct docker_sync_callbacks cb = {on_change, on_resync, on_listed, &s, on_stream_end};
    struct enr_error err = {0};
    struct docker_sync *ds;
    int64_t clock = 1000;
    char waiting[256];

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ds = docker_sync_new(&loop, &cfg, &ops, &cb, &err);
    ASSERT_TRUE(ds != NULL);
    for (const struct step *st = tc->steps; st->op != END; st++) {
        struct docker_event ev = {"container", st->arg2, st->arg, 0};

        s.changes[0] = '\0';
        s.listed = NOLIST;
        switch (st->op) {
        case START:
            docker_sync_start(ds);
            ASSERT_EQ(f.streams, tc->poll_only ? 0 : 1);
            ASSERT_EQ(f.lists, 1);
            break;
        case RESYNC:
            docker_sync_resync(ds);
            ASSERT_TRUE(docker_sync_busy(ds));
            break;
        case LIST:
        case LIST_FAIL:
            answer_list(&f, st->arg, st->op == LIST_FAIL);
            break;
        case NET_EVENT:
            ev.type = "network";
            /* fall through */
        case EVENT:
            ev.time_nano = clock += 1000;
            f.ev_cb(f.ev_ud, &ev);
            break;
        case STREAM_CUT: {
            int ends = s.stream_ends;
            err_set(&err, -ECONNRESET, "GET /events: connection reset");
            f.end_cb(f.ev_ud, &err);
            ASSERT_TRUE(!docker_sync_complete(ds));
            ASSERT_EQ(s.stream_ends, ends + 1);  /* told, for dockerd's shutdown */
            break;
        }
        case RESUMED: {
            int streams = f.streams;
            uint64_t deadline = uv_now(&loop) + 20000;
            while (f.streams == streams && uv_now(&loop) < deadline)
                uv_run(&loop, UV_RUN_ONCE);
            ASSERT_EQ(f.streams, streams + 1);
            ASSERT_EQ(f.since, clock);          /* resumes after the last event seen */
            ASSERT_TRUE(f.list_cb != NULL);     /* and relists what it may have missed */
            break;
        }
        default:
            answer_inspect(&f, st->arg, st->op, st->arg2);
            break;
        }
        pending(&f, waiting, sizeof(waiting));
        if (strcmp(s.changes, st->changes) != 0 || strcmp(waiting, st->inspects) != 0 || s.listed != st->listed) {
            fprintf(stderr, "case \"%s\", step %zu: reported \"%s\" (want \"%s\"), waiting \"%s\" (want \"%s\"), "
                    "listed %d (want %d)\n", tc->title, (size_t)(st - tc->steps), s.changes, st->changes, waiting,
                    st->inspects, s.listed, st->listed);
            exit(1);
        }
        if (s.listed != NOLIST)
            ASSERT_EQ(docker_sync_complete(ds), s.listed);
    }
    ASSERT_TRUE(s.resyncs >= 1);
    docker_sync_close(ds);
    ASSERT_EQ(f.stops, tc->poll_only ? 0 : 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    docker_sync_free(ds);     /* frees the calls still waiting, too */
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - %s\n", tc->title);
}

/* After a complete listing the resync timer lists again, except in a
 * --once pass: the loop then has nothing left to run. */
static void test_once_lists_once(bool once)
{
    uv_loop_t loop;
    struct fake f = {0};
    struct seen s = {.listed = NOLIST};
    struct docker_ops ops = {f_list, f_inspect, f_events, f_events_stop, &f};
    struct docker_sync_config cfg = {.resync_sec = 1, .once = once};
    struct docker_sync_callbacks cb = {on_change, on_resync, on_listed, &s, on_stream_end};
    struct enr_error err = {0};
    struct docker_sync *ds;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ds = docker_sync_new(&loop, &cfg, &ops, &cb, &err);
    ASSERT_TRUE(ds != NULL);
    docker_sync_start(ds);
    answer_list(&f, "a=1", false);
    answer_inspect(&f, "a", RUNNING, NULL);
    ASSERT_EQ(s.listed, 1);
    ASSERT_EQ(f.lists, 1);
    /* Runs until nothing is active: the timer's listing waits for an answer
     * the fake never gives, so the loop stops there too. */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(f.lists, once ? 1 : 2);
    ASSERT_EQ(s.resyncs, once ? 1 : 2);
    docker_sync_close(ds);
    uv_run(&loop, UV_RUN_DEFAULT);
    docker_sync_free(ds);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - %s\n", once ? "a --once pass lists once" : "the daemon lists again after resync_sec");
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    test_once_lists_once(false);
    test_once_lists_once(true);
    return 0;
}
