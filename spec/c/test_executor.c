/*
 * test_executor.c - the executor against a fake Auth Service: each case is a
 * script of plans submitted and answers given, and after every step the
 * calls waiting for an answer, what done() reported, the queue, the
 * counters, the breaker and one name's hold are checked.
 *
 * Submits are written "c:a u:b d:c" (create a, update b, delete c); done()
 * reports "a" for a success and "a!" for a failure.  "db/x" is the database
 * x (its planner_key), written through the database calls.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/intern.h"
#include "net/grpc_frame.h"
#include "reconcile/executor.h"
#include "test.h"

#define MAXQ 16

/* ---- the fake Auth Service --------------------------------------------------------- */

struct fake {
    struct {
        char name[16];
        teleport_done_cb cb;
        void *ud;
    } q[MAXQ];                  /* writes waiting for an answer, in order */
    size_t nq;
    int calls;
};

static int queue_call(struct fake *f, const char *name, teleport_done_cb cb, void *ud)
{
    ASSERT_TRUE(f->nq < MAXQ);
    snprintf(f->q[f->nq].name, sizeof(f->q[f->nq].name), "%s", name);
    f->q[f->nq].cb = cb;
    f->q[f->nq].ud = ud;
    f->nq++;
    f->calls++;
    return 0;
}

static int f_create(void *impl, const struct resource *app, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    (void)err;
    return queue_call(impl, app->name, cb, ud);
}

static int f_delete(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    (void)err;
    return queue_call(impl, name, cb, ud);
}

/* Database calls: queued under the database's key. */
static int f_create_db(void *impl, const struct resource *db, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    char kb[PLANNER_KEY_MAX];
    (void)err;
    ASSERT_EQ(db->kind, RESOURCE_DB);
    return queue_call(impl, planner_key(RESOURCE_DB, db->name, kb), cb, ud);
}

static int f_delete_db(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    char kb[PLANNER_KEY_MAX];
    (void)err;
    return queue_call(impl, planner_key(RESOURCE_DB, name, kb), cb, ud);
}

/* ---- what the executor reports ---------------------------------------------------- */

struct seen {
    char done[128];
    char retried[64];         /* the names retry() reported in the step, "*": every name */
    int retries, idles;
};

/* done() as "name", "name!" if it failed, "name+" if a pass skipped it meanwhile */
static void on_done(void *ud, enum plan_op op, const struct resource *res, const struct enr_error *err,
                    bool skipped)
{
    struct seen *s = ud;
    size_t n = strlen(s->done);
    char kb[PLANNER_KEY_MAX];
    (void)op;
    snprintf(s->done + n, sizeof(s->done) - n, "%s%s%s%s", n ? " " : "", planner_key(res->kind, res->name, kb),
             err ? "!" : "", skipped ? "+" : "");
}

static void on_idle(void *ud)
{
    ((struct seen *)ud)->idles++;
}

static void on_retry(void *ud, const char *key)
{
    struct seen *s = ud;
    size_t n = strlen(s->retried);
    snprintf(s->retried + n, sizeof(s->retried) - n, "%s%s", n ? " " : "", key ? key : "*");
    s->retries++;
}

/* The loop's clock (uv_now) only moves while the loop runs, so the token
 * bucket refills only in WAIT_* steps. */

/* ---- the script ------------------------------------------------------------------------ */

enum op {
    END = 0,
    SUBMIT,         /* arg: "c:a u:b d:c" */
    OK,             /* answer the call for arg: success */
    FAIL,           /* answer the call for arg: gRPC status */
    DOWN,           /* the call for arg failed without a status (connection refused) */
    WAIT_SENT,      /* run the loop until `status` calls were made in all */
    WAIT_RETRY,     /* run the loop until retry() is called; arg: the names it reported ("*": all) */
    WAIT_NEXT,      /* run the loop until more calls leave: `status` calls made in all then */
    PASS,           /* a plan pass asks for arg's hold (executor_hold_pass) */
};

struct step {
    enum op op;
    const char *arg;
    int status;
    const char *waiting;      /* calls waiting for an answer afterwards */
    const char *done;         /* done() during the step */
    unsigned queued;
    unsigned long long dropped;
    bool open;                /* circuit not closed */
    const char *hold;         /* "name=part of its hold reason", "name=" for none, NULL: not checked */
};

struct tcase {
    const char *title;
    struct executor_config cfg;
    struct step steps[20];
};

#define INFLIGHT "a write for this name is queued or in flight"

static const struct tcase cases[] = {
    {"rate limit: the burst goes at once, the rest as tokens come",
     {.rate = 20, .burst = 2},
     {{SUBMIT, "c:a c:b c:c c:d", 0, "a b", "", 2, 0, false, "c=" INFLIGHT},
      {OK, "a", 0, "b", "a", 2, 0, false, "a="},
      {OK, "b", 0, "", "b", 2, 0, false, "d=" INFLIGHT},
      {WAIT_SENT, NULL, 4, "c d", "", 0, 0, false, NULL},
      {OK, "c", 0, "d", "c", 0, 0, false, NULL},
      {OK, "d", 0, "", "d", 0, 0, false, "d="}}},
    {"rate limit: past the burst, writes leave in batches as large as max_inflight, not one by one",
     {.rate = 20, .burst = 4, .max_inflight = 4},
     {{SUBMIT, "c:a c:b c:c c:d c:e c:f c:g c:h c:i c:j", 0, "a b c d", "", 6, 0, false, "e=" INFLIGHT},
      {OK, "a", 0, "b c d", "a", 6, 0, false, "a="},
      {OK, "b", 0, "c d", "b", 6, 0, false, NULL},
      {OK, "c", 0, "d", "c", 6, 0, false, NULL},
      {OK, "d", 0, "", "d", 6, 0, false, NULL},
      {WAIT_NEXT, NULL, 8, "e f g h", "", 2, 0, false, NULL},
      {OK, "e", 0, "f g h", "e", 2, 0, false, NULL},
      {OK, "f", 0, "g h", "f", 2, 0, false, NULL},
      {OK, "g", 0, "h", "g", 2, 0, false, NULL},
      {OK, "h", 0, "", "h", 2, 0, false, NULL},
      {WAIT_NEXT, NULL, 10, "i j", "", 0, 0, false, NULL},
      {OK, "i", 0, "j", "i", 0, 0, false, NULL},
      {OK, "j", 0, "", "j", 0, 0, false, "j="}}},
    {"per-name backoff: a failing name is held with a growing attempt count; others go on",
     {.backoff_min_ms = 20, .backoff_max_ms = 100},
     {{SUBMIT, "c:a c:b", 0, "a b", "", 0, 0, false, "a=" INFLIGHT},
      {FAIL, "a", GRPC_STATUS_INVALID_ARGUMENT, "b", "a!", 0, 0, false, "a=(attempt 2) after: CreateApp"},
      {OK, "b", 0, "", "b", 0, 0, false, "b="},
      {WAIT_RETRY, "a", 0, "", "", 0, 0, false, "a="},
      {SUBMIT, "c:a", 0, "a", "", 0, 0, false, NULL},
      {FAIL, "a", GRPC_STATUS_INVALID_ARGUMENT, "", "a!", 0, 0, false, "a=(attempt 3)"},
      {WAIT_RETRY, "a", 0, "", "", 0, 0, false, "a="},
      {SUBMIT, "c:a", 0, "a", "", 0, 0, false, NULL},
      {OK, "a", 0, "", "a", 0, 0, false, "a="}}},
    {"breaker opens after N transport failures and drops queued writes; a probe closes it",
     {.max_inflight = 1, .breaker_failures = 3, .backoff_min_ms = 60000, .backoff_max_ms = 120000},
     {{SUBMIT, "c:a c:b c:c c:d c:e", 0, "a", "", 4, 0, false, NULL},
      {FAIL, "a", GRPC_STATUS_UNAVAILABLE, "b", "a!", 3, 0, false, NULL},
      {DOWN, "b", 0, "c", "b!", 2, 0, false, NULL},
      {FAIL, "c", GRPC_STATUS_DEADLINE_EXCEEDED, "", "c!", 0, 2, true, "d="},
      {SUBMIT, "c:f", 0, "", "", 0, 3, true, "f="},
      {WAIT_RETRY, "*", 0, "", "", 0, 3, true, NULL},
      {SUBMIT, "c:f c:g", 0, "f", "", 1, 3, true, NULL},
      {OK, "f", 0, "g", "f", 0, 3, false, NULL},
      {OK, "g", 0, "", "g", 0, 3, false, NULL}}},
    {"a retry that comes due is reported once, by its name alone",
     {.backoff_min_ms = 20, .backoff_max_ms = 100},
     {{SUBMIT, "c:a c:b", 0, "a b", "", 0, 0, false, NULL},
      {FAIL, "a", GRPC_STATUS_INVALID_ARGUMENT, "b", "a!", 0, 0, false, NULL},
      {WAIT_RETRY, "a", 0, "b", "", 0, 0, false, "a="},
      {FAIL, "b", GRPC_STATUS_INVALID_ARGUMENT, "", "b!", 0, 0, false, NULL},
      {WAIT_RETRY, "b", 0, "", "", 0, 0, false, "b="}}},
    {"a write reports that a plan pass skipped its name while it was queued or in flight, and only then",
     {.max_inflight = 1},
     {{SUBMIT, "c:a c:b c:c", 0, "a", "", 2, 0, false, NULL},
      {PASS, "b", 0, "a", "", 2, 0, false, "b=" INFLIGHT},
      {PASS, "a", 0, "a", "", 2, 0, false, "a=" INFLIGHT},
      {OK, "a", 0, "b", "a+", 1, 0, false, NULL},
      {PASS, "a", 0, "b", "", 1, 0, false, "a="},
      {FAIL, "b", GRPC_STATUS_INVALID_ARGUMENT, "c", "b!+", 0, 0, false, NULL},
      {OK, "c", 0, "", "c", 0, 0, false, "c="}}},
    {"failures of one write (not of Auth) never open the breaker",
     {.breaker_failures = 2},
     {{SUBMIT, "c:a c:b c:c", 0, "a b c", "", 0, 0, false, NULL},
      {FAIL, "a", GRPC_STATUS_INVALID_ARGUMENT, "b c", "a!", 0, 0, false, NULL},
      {FAIL, "b", GRPC_STATUS_PERMISSION_DENIED, "c", "b!", 0, 0, false, NULL},
      {FAIL, "c", GRPC_STATUS_ALREADY_EXISTS, "", "c!", 0, 0, false, "c=ALREADY_EXISTS"}}},
    {"NOT_FOUND on delete counts as done; on update it is a failure",
     {0},
     {{SUBMIT, "d:a u:b", 0, "a b", "", 0, 0, false, NULL},
      {FAIL, "a", GRPC_STATUS_NOT_FOUND, "b", "a", 0, 0, false, "a="},
      {FAIL, "b", GRPC_STATUS_NOT_FOUND, "", "b!", 0, 0, false, "b=retrying in"}}},
    {"a name already queued is not queued twice",
     {.max_inflight = 1},
     {{SUBMIT, "c:a c:b", 0, "a", "", 1, 0, false, "b=" INFLIGHT},
      {SUBMIT, "u:b d:a", 0, "a", "", 1, 2, false, NULL},
      {OK, "a", 0, "b", "a", 0, 2, false, NULL},
      {OK, "b", 0, "", "b", 0, 2, false, NULL}}},
    {"an app and a database of one name are written side by side, each held and retried on its own",
     {.backoff_min_ms = 20, .backoff_max_ms = 100},
     {{SUBMIT, "c:pg c:db/pg", 0, "pg db/pg", "", 0, 0, false, "db/pg=" INFLIGHT},
      {FAIL, "db/pg", GRPC_STATUS_INVALID_ARGUMENT, "pg", "db/pg!", 0, 0, false,
       "db/pg=(attempt 2) after: CreateApp"},
      {SUBMIT, "c:pg", 0, "pg", "", 0, 1, false, "pg=" INFLIGHT},
      {OK, "pg", 0, "", "pg", 0, 1, false, "pg="},
      {WAIT_RETRY, "db/pg", 0, "", "", 0, 1, false, "db/pg="},
      {SUBMIT, "d:db/pg", 0, "db/pg", "", 0, 1, false, "db/pg=" INFLIGHT},
      {OK, "db/pg", 0, "", "db/pg", 0, 1, false, "db/pg="}}},
};

static void submit(struct executor *ex, const char *spec)
{
    struct plan p;
    struct enr_error err = {0};
    char buf[128], *save = NULL;

    plan_init(&p);
    p.actions = calloc(16, sizeof(*p.actions));
    ASSERT_TRUE(p.actions != NULL);
    p.cap = 16;
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        struct plan_action *a = &p.actions[p.len++];
        ASSERT_TRUE(p.len < 16 && tok[1] == ':');
        a->op = tok[0] == 'c' ? PLAN_CREATE : tok[0] == 'u' ? PLAN_UPDATE : PLAN_DELETE;
        const char *name = strncmp(tok + 2, "db/", 3) == 0 ? tok + 5 : tok + 2;
        ASSERT_TRUE((a->name = intern_get(name)) != NULL);
        ASSERT_EQ(resource_init(&a->res), 0);
        a->res.kind = name != tok + 2 ? RESOURCE_DB : RESOURCE_APP;
        ASSERT_EQ(resource_set_str(&a->res.name, name), 0);
        ASSERT_EQ(resource_set_str(&a->res.uri, "http://10.0.0.2:80"), 0);
        p.n[a->op]++;
    }
    ASSERT_EQ(executor_submit(ex, &p, &err), 0);
    plan_cleanup(&p);
}

static void answer(struct fake *f, const char *name, enum op op, int status)
{
    struct enr_error err = {0};
    size_t i = 0;

    while (i < f->nq && strcmp(f->q[i].name, name) != 0)
        i++;
    ASSERT_TRUE(i < f->nq);
    teleport_done_cb cb = f->q[i].cb;
    void *ud = f->q[i].ud;
    memmove(&f->q[i], &f->q[i + 1], (f->nq - i - 1) * sizeof(f->q[0]));
    f->nq--;
    if (op == OK) {
        cb(ud, NULL);
        return;
    }
    if (op == DOWN)
        err_set(&err, -ECONNREFUSED, "CreateApp: connect: connection refused");
    else
        err_set_grpc(&err, status, "CreateApp: %s: no", err_grpc_name(status));
    cb(ud, &err);
}

static void check_hold(struct executor *ex, const char *spec, const char *title, size_t step)
{
    char name[32];
    const char *eq = strchr(spec, '='), *h;

    snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
    h = executor_hold(ex, name);
    if ((eq[1] == '\0' && h != NULL) || (eq[1] != '\0' && (h == NULL || strstr(h, eq + 1) == NULL))) {
        fprintf(stderr, "case \"%s\", step %zu: hold of %s is \"%s\", want \"%s\"\n", title, step, name,
                h ? h : "(none)", eq + 1);
        exit(1);
    }
}

static void run_case(const struct tcase *tc)
{
    uv_loop_t loop;
    struct fake f = {0};
    struct seen s = {0};
    struct teleport_ops ops = {.create_app = f_create, .update_app = f_create, .delete_app = f_delete,
                               .create_database = f_create_db, .update_database = f_create_db,
                               .delete_database = f_delete_db, .impl = &f};
    struct executor_callbacks cb = {on_done, on_idle, on_retry, &s};
    struct enr_error err = {0};
    struct executor_stats st;
    struct executor *ex;
    char waiting[128];

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ex = executor_new(&loop, &ops, &tc->cfg, &cb, &err);
    ASSERT_TRUE(ex != NULL);
    for (const struct step *sp = tc->steps; sp->op != END; sp++) {
        size_t idx = (size_t)(sp - tc->steps);
        uint64_t deadline = uv_now(&loop) + 20000;
        int retries = s.retries;

        s.done[0] = '\0';
        s.retried[0] = '\0';
        switch (sp->op) {
        case SUBMIT:
            submit(ex, sp->arg);
            break;
        case WAIT_SENT:
            while (f.calls < sp->status && uv_now(&loop) < deadline)
                uv_run(&loop, UV_RUN_ONCE);
            ASSERT_EQ(f.calls, sp->status);
            break;
        case WAIT_NEXT: {
            int before = f.calls;
            while (f.calls == before && uv_now(&loop) < deadline)
                uv_run(&loop, UV_RUN_ONCE);
            ASSERT_EQ(f.calls, sp->status);
            break;
        }
        case WAIT_RETRY:
            while (s.retries == retries && uv_now(&loop) < deadline)
                uv_run(&loop, UV_RUN_ONCE);
            ASSERT_TRUE(s.retries > retries);
            ASSERT_STREQ(s.retried, sp->arg);
            break;
        case PASS:
            (void)executor_hold_pass(ex, sp->arg);
            break;
        default:
            answer(&f, sp->arg, sp->op, sp->status);
            break;
        }
        waiting[0] = '\0';
        for (size_t i = 0; i < f.nq; i++) {
            size_t n = strlen(waiting);
            snprintf(waiting + n, sizeof(waiting) - n, "%s%s", i ? " " : "", f.q[i].name);
        }
        executor_get_stats(ex, &st);
        if (strcmp(waiting, sp->waiting) != 0 || strcmp(s.done, sp->done) != 0 || st.queued != sp->queued ||
            st.dropped != sp->dropped || st.circuit_open != sp->open) {
            fprintf(stderr, "case \"%s\", step %zu: waiting \"%s\" (want \"%s\"), done \"%s\" (want \"%s\"), "
                    "queued %u (want %u), dropped %llu (want %llu), open %d (want %d)\n", tc->title, idx, waiting,
                    sp->waiting, s.done, sp->done, st.queued, sp->queued, (unsigned long long)st.dropped,
                    sp->dropped, st.circuit_open, sp->open);
            exit(1);
        }
        ASSERT_EQ(st.inflight, f.nq);
        ASSERT_EQ(executor_idle(ex), f.nq == 0 && st.queued == 0);
        if (sp->hold != NULL)
            check_hold(ex, sp->hold, tc->title, idx);
    }
    executor_close(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    executor_free(ex);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    printf("ok - %s\n", tc->title);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    return 0;
}
