/*
 * test_planner.c - every safety promise of the planner as a table of
 * (desired, Teleport, completeness, guard state) -> expected actions.
 */
#include "reconcile/planner.h"
#include "test.h"

#define OWNER "host-a"
#define MAXR 12

/* A compact resource: name, uri, owner label ("" = none), container label, expires.
 * A name "db/x" is the database x (planner_key's form); any other an app. */
struct spec_res {
    const char *name, *uri, *owner, *container;
    long long expires;
};

static void make(struct resource *r, const struct spec_res *s)
{
    ASSERT_EQ(resource_init(r), 0);
    r->kind = strncmp(s->name, "db/", 3) == 0 ? RESOURCE_DB : RESOURCE_APP;
    ASSERT_EQ(resource_set_str(&r->name, r->kind == RESOURCE_DB ? s->name + 3 : s->name), 0);
    ASSERT_EQ(resource_set_str(&r->uri, s->uri), 0);
    ASSERT_EQ(resource_set_str(&r->container_id, s->container ? s->container : ""), 0);
    ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
    r->expires = s->expires;
    if (s->owner && s->owner[0])
        ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, s->owner), 0);
    if (s->container)
        ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_CONTAINER, s->container), 0);
}

struct expect {
    const char *name;
    enum plan_op op;
    const char *reason_part;
};

struct tcase {
    const char *title;
    struct spec_res desired[MAXR];
    struct spec_res teleport[MAXR];
    int docker_complete, teleport_complete;
    const char *unknown[2];
    struct planner_hold held[2];
    struct planner_gone grace[2];
    unsigned grace_sec;
    enum planner_policy policy;
    int adopt;
    unsigned max_deletes, max_pct;
    int approved;
    size_t recent;           /* deletions made within the window */
    unsigned window;         /* the window, seconds (0: per pass only) */
    unsigned lease;
    int subset;              /* a pass over some names; owned_total for the whole view */
    size_t owned_total;
    struct expect want[MAXR];
};

#define END {NULL, NULL, NULL, NULL, 0}
#define NONE {NULL, 0, NULL}
#define RMQ(n, ip, owner, c) {n, "http://" ip ":15672", owner, c, 0}
#define PG(n, ip, owner, c) {n, ip ":5432", owner, c, 0}

static const struct tcase cases[] = {
    {.title = "create what is missing",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END}, .teleport = {END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_CREATE, "wanted by container a"}, NONE}},
    {.title = "nothing changed: no action at all",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1, .want = {NONE}},
    {.title = "update when a managed field differs",
     .desired = {RMQ("rmq-a", "10.0.0.3", OWNER, "a"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_UPDATE, "differ"}, NONE}},
    {.title = "labels Teleport adds itself do not cause an update",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1, .want = {NONE}},
    {.title = "delete owned and no longer desired",
     .desired = {END}, .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_DELETE, "container a no longer wants it"}, NONE}},
    {.title = "never delete an unowned app",
     .desired = {END}, .teleport = {{"grafana", "http://10.0.0.9:3000", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1, .want = {NONE}},
    {.title = "never delete another owner's app",
     .desired = {END}, .teleport = {RMQ("rmq-b", "10.0.0.9", "host-b", "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .want = {NONE}},
    {.title = "unowned app with the wanted name is a conflict, never overwritten",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {{"rmq-a", "http://elsewhere:15672", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_CONFLICT, "not owned by enroller"}, NONE}},
    {.title = "another enroller's app with the wanted name is a conflict",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.7", "host-b", "a"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_CONFLICT, "owned by enroller instance host-b"}, NONE}},
    {.title = "adopt: an unowned app with the wanted name is taken over when asked",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {{"rmq-a", "http://elsewhere:15672", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1, .adopt = 1,
     .want = {{"rmq-a", PLAN_UPDATE, "adopting"}, NONE}},
    {.title = "same URI but another name: both live, unowned untouched",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {{"manual", "http://10.0.0.2:15672", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_CREATE, ""}, NONE}},
    {.title = "docker listing incomplete: no delete",
     .desired = {END}, .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .docker_complete = 0, .teleport_complete = 1,
     .want = {{"rmq-a", PLAN_SKIP, "Docker listing incomplete"}, NONE}},
    {.title = "teleport listing incomplete: no writes",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END}, .teleport = {END},
     .docker_complete = 1, .teleport_complete = 0,
     .want = {{"rmq-a", PLAN_SKIP, "Teleport listing incomplete"}, NONE}},
    {.title = "rules failed for the container: its app is not deleted",
     .desired = {END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), RMQ("rmq-b", "10.0.0.3", OWNER, "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .unknown = {"a", NULL},
     .want = {{"rmq-a", PLAN_SKIP, "unknown state"}, {"rmq-b", PLAN_DELETE, ""}, NONE}},
    {.title = "a name wanted twice: lowest container name wins",
     .desired = {{"web", "http://10.0.0.3:80", OWNER, "zeta", 0}, {"web", "http://10.0.0.2:80", OWNER, "alpha", 0}, END},
     .teleport = {END}, .docker_complete = 1, .teleport_complete = 1,
     .want = {{"web", PLAN_CREATE, "container alpha"}, {"web", PLAN_CONFLICT, "container alpha, which wins"}, NONE}},
    {.title = "held names are left alone, with the hold's reason",
     .desired = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), END},
     .teleport = {RMQ("rmq-z", "10.0.0.2", OWNER, "z"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .held = {{"rmq-a", "a write for this name is in flight"}, {"rmq-z", "retrying in 4s after: UNAVAILABLE"}},
     .want = {{"rmq-a", PLAN_SKIP, "in flight"}, {"rmq-z", PLAN_SKIP, "retrying in 4s"}, NONE}},
    {.title = "grace period: a container gone moments ago keeps its app",
     .desired = {END}, .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), RMQ("rmq-b", "10.0.0.3", OWNER, "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .grace = {{"a", 3000, false}}, .grace_sec = 30,
     .want = {{"rmq-a", PLAN_SKIP, "container a is gone for 3.0s of a 30s grace period"},
              {"rmq-b", PLAN_DELETE, ""}, NONE}},
    {.title = "a container pinned as Docker's event stream ended keeps its app past any period",
     .desired = {END}, .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), RMQ("rmq-b", "10.0.0.3", OWNER, "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .grace = {{"a", 900000, true}}, .grace_sec = 30,
     .want = {{"rmq-a", PLAN_SKIP, "container a stopped as Docker's event stream ended"},
              {"rmq-b", PLAN_DELETE, ""}, NONE}},
    {.title = "upsert-only never deletes",
     .desired = {RMQ("rmq-a", "10.0.0.3", OWNER, "a"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), RMQ("rmq-b", "10.0.0.3", OWNER, "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .policy = PLANNER_UPSERT_ONLY,
     .want = {{"rmq-a", PLAN_UPDATE, ""}, {"rmq-b", PLAN_SKIP, "policy upsert-only"}, NONE}},
    {.title = "create-only never updates or deletes",
     .desired = {RMQ("rmq-a", "10.0.0.3", OWNER, "a"), RMQ("rmq-c", "10.0.0.4", OWNER, "c"), END},
     .teleport = {RMQ("rmq-a", "10.0.0.2", OWNER, "a"), RMQ("rmq-b", "10.0.0.3", OWNER, "b"), END},
     .docker_complete = 1, .teleport_complete = 1, .policy = PLANNER_CREATE_ONLY,
     .want = {{"rmq-a", PLAN_SKIP, "create-only"}, {"rmq-b", PLAN_SKIP, "create-only"},
              {"rmq-c", PLAN_CREATE, ""}, NONE}},
    {.title = "deletion cap by count: above it nothing is deleted",
     .desired = {END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2,
     .want = {{"a1", PLAN_SKIP, "deletion cap: this pass would delete 3 of 3"}, {"a2", PLAN_SKIP, "deletion cap"},
              {"a3", PLAN_SKIP, "deletion cap"}, NONE}},
    {.title = "deletion cap approved: deletes go ahead",
     .desired = {END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2, .approved = 1,
     .want = {{"a1", PLAN_DELETE, ""}, {"a2", PLAN_DELETE, ""}, {"a3", PLAN_DELETE, ""}, NONE}},
    {.title = "deletion cap over a window: one delete after 2 within the window is over max 2",
     .desired = {END}, .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2, .recent = 2, .window = 60,
     .want = {{"a1", PLAN_SKIP, "deletion cap: 2 deleted within the last 60s and 1 more now would exceed max 2"},
              NONE}},
    {.title = "deletion cap over a window: under it, the delete goes ahead",
     .desired = {END}, .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2, .recent = 1, .window = 60,
     .want = {{"a1", PLAN_DELETE, ""}, NONE}},
    {.title = "deletion cap over a window: no window, no count of earlier passes",
     .desired = {END}, .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2, .recent = 5, .window = 0,
     .want = {{"a1", PLAN_DELETE, ""}, NONE}},
    {.title = "deletion cap over a window: approved, the delete goes ahead",
     .desired = {END}, .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 2, .recent = 2, .window = 60, .approved = 1,
     .want = {{"a1", PLAN_DELETE, ""}, NONE}},
    {.title = "deletion cap over a window: max_deletes 0 has no count cap at all",
     .desired = {END}, .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 0, .recent = 500, .window = 60,
     .want = {{"a1", PLAN_DELETE, ""}, NONE}},
    {.title = "deletion cap by share: 6 of 8 owned is over 50%",
     .desired = {RMQ("a7", "10.0.0.7", OWNER, "a7"), RMQ("a8", "10.0.0.8", OWNER, "a8"), END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), RMQ("a4", "10.0.0.4", OWNER, "a4"),
                  RMQ("a5", "10.0.0.5", OWNER, "a5"), RMQ("a6", "10.0.0.6", OWNER, "a6"),
                  RMQ("a7", "10.0.0.7", OWNER, "a7"), RMQ("a8", "10.0.0.8", OWNER, "a8"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 50, .max_pct = 50,
     .want = {{"a1", PLAN_SKIP, "6 of 8"}, {"a2", PLAN_SKIP, ""}, {"a3", PLAN_SKIP, ""},
              {"a4", PLAN_SKIP, ""}, {"a5", PLAN_SKIP, ""}, {"a6", PLAN_SKIP, ""}, NONE}},
    {.title = "deletion cap by share does not bite small fleets (2 of 3)",
     .desired = {RMQ("a3", "10.0.0.3", OWNER, "a3"), END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 50, .max_pct = 50,
     .want = {{"a1", PLAN_DELETE, ""}, {"a2", PLAN_DELETE, ""}, NONE}},
    {.title = "a pass over some names takes the cap's share of the whole view: 6 of 100 owned is under 50%",
     .desired = {END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), RMQ("a4", "10.0.0.4", OWNER, "a4"),
                  RMQ("a5", "10.0.0.5", OWNER, "a5"), RMQ("a6", "10.0.0.6", OWNER, "a6"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 50, .max_pct = 50, .subset = 1,
     .owned_total = 100,
     .want = {{"a1", PLAN_DELETE, ""}, {"a2", PLAN_DELETE, ""}, {"a3", PLAN_DELETE, ""},
              {"a4", PLAN_DELETE, ""}, {"a5", PLAN_DELETE, ""}, {"a6", PLAN_DELETE, ""}, NONE}},
    {.title = "a pass over some names is capped by the whole view too: 6 of 8 owned",
     .desired = {END},
     .teleport = {RMQ("a1", "10.0.0.1", OWNER, "a1"), RMQ("a2", "10.0.0.2", OWNER, "a2"),
                  RMQ("a3", "10.0.0.3", OWNER, "a3"), RMQ("a4", "10.0.0.4", OWNER, "a4"),
                  RMQ("a5", "10.0.0.5", OWNER, "a5"), RMQ("a6", "10.0.0.6", OWNER, "a6"), END},
     .docker_complete = 1, .teleport_complete = 1, .max_deletes = 50, .max_pct = 50, .subset = 1,
     .owned_total = 8,
     .want = {{"a1", PLAN_SKIP, "6 of 8"}, {"a2", PLAN_SKIP, ""}, {"a3", PLAN_SKIP, ""},
              {"a4", PLAN_SKIP, ""}, {"a5", PLAN_SKIP, ""}, {"a6", PLAN_SKIP, ""}, NONE}},
    {.title = "an app and a database may share a name: both are created, apps first",
     .desired = {PG("db/pg", "10.0.0.5", OWNER, "a"), RMQ("pg", "10.0.0.5", OWNER, "a"), END}, .teleport = {END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"pg", PLAN_CREATE, "wanted by container a"}, {"db/pg", PLAN_CREATE, "wanted by container a"}, NONE}},
    {.title = "an unowned database with the wanted name is a conflict; the app of that name is not",
     .desired = {PG("db/pg", "10.0.0.5", OWNER, "a"), RMQ("pg", "10.0.0.5", OWNER, "a"), END},
     .teleport = {{"db/pg", "elsewhere:5432", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"pg", PLAN_CREATE, ""}, {"db/pg", PLAN_CONFLICT, "a database with this name exists and is not owned"},
              NONE}},
    {.title = "an owned database no longer wanted is deleted; an unowned app of its name is untouched",
     .desired = {END},
     .teleport = {PG("db/pg", "10.0.0.5", OWNER, "a"), {"pg", "http://10.0.0.5:80", "", NULL, 0}, END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"db/pg", PLAN_DELETE, "container a no longer wants it"}, NONE}},
    {.title = "a wanted database does not keep an owned app of its name: the app goes, the database stays",
     .desired = {PG("db/pg", "10.0.0.5", OWNER, "a"), END},
     .teleport = {RMQ("pg", "10.0.0.5", OWNER, "b"), PG("db/pg", "10.0.0.5", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"pg", PLAN_DELETE, "container b no longer wants it"}, NONE}},
    {.title = "a held database leaves the app of the same name planned",
     .desired = {PG("db/pg", "10.0.0.5", OWNER, "a"), RMQ("pg", "10.0.0.5", OWNER, "a"), END}, .teleport = {END},
     .docker_complete = 1, .teleport_complete = 1, .held = {{"db/pg", "a write for this name is in flight"}},
     .want = {{"pg", PLAN_CREATE, ""}, {"db/pg", PLAN_SKIP, "in flight"}, NONE}},
    {.title = "a database whose URI drifted is updated",
     .desired = {PG("db/pg", "10.0.0.5", OWNER, "a"), END},
     .teleport = {PG("db/pg", "10.0.0.6", OWNER, "a"), END},
     .docker_complete = 1, .teleport_complete = 1,
     .want = {{"db/pg", PLAN_UPDATE, "differ"}, NONE}},
    {.title = "lease: created with an expiry, refreshed when half gone, left alone otherwise",
     .desired = {RMQ("new", "10.0.0.1", OWNER, "n"), RMQ("old", "10.0.0.2", OWNER, "o"),
                 RMQ("fresh", "10.0.0.3", OWNER, "f"), END},
     .teleport = {{"old", "http://10.0.0.2:15672", OWNER, "o", 1000 + 100},
                  {"fresh", "http://10.0.0.3:15672", OWNER, "f", 1000 + 500}, END},
     .docker_complete = 1, .teleport_complete = 1, .lease = 600,
     .want = {{"new", PLAN_CREATE, ""}, {"old", PLAN_UPDATE, "lease refresh"}, NONE}},
};

static void run(const struct tcase *tc)
{
    struct resource desired[MAXR], teleport[MAXR];
    const struct resource *dp[MAXR], *tp[MAXR];
    struct planner_input in = {0};
    struct plan p;
    size_t nd = 0, nt = 0, nu = 0, nh = 0, ng = 0, nw = 0;
    struct enr_error err;

    while (nd < MAXR && tc->desired[nd].name) {
        make(&desired[nd], &tc->desired[nd]);
        dp[nd] = &desired[nd];
        nd++;
    }
    while (nt < MAXR && tc->teleport[nt].name) {
        make(&teleport[nt], &tc->teleport[nt]);
        tp[nt] = &teleport[nt];
        nt++;
    }
    if (strstr(tc->title, "labels Teleport adds") != NULL)
        ASSERT_EQ(kv_set(&teleport[0].labels, "teleport.dev/origin", "dynamic"), 0);
    while (nu < 2 && tc->unknown[nu])
        nu++;
    while (nh < 2 && tc->held[nh].name)
        nh++;
    while (ng < 2 && tc->grace[ng].name)
        ng++;
    in.owner = OWNER;
    in.desired = dp;
    in.n_desired = nd;
    in.teleport = tp;
    in.n_teleport = nt;
    in.docker_complete = tc->docker_complete;
    in.teleport_complete = tc->teleport_complete;
    in.unknown_containers = tc->unknown;
    in.n_unknown_containers = nu;
    in.held_names = tc->held;
    in.n_held_names = nh;
    in.grace_containers = tc->grace;
    in.n_grace_containers = ng;
    in.policy = tc->policy;
    in.adopt = tc->adopt;
    in.max_deletes = tc->max_deletes;
    in.max_delete_percent = tc->max_pct;
    in.deletes_approved = tc->approved;
    in.recent_deletes = tc->recent;
    in.window_sec = tc->window;
    in.lease_sec = tc->lease;
    in.grace_sec = tc->grace_sec;
    in.now = 1000;
    in.subset = tc->subset;
    in.owned_total = tc->owned_total;

    plan_init(&p);
    ASSERT_EQ(planner_plan(&in, &p, &err), 0);
    while (nw < MAXR && tc->want[nw].name)
        nw++;
    if (p.len != nw) {
        fprintf(stderr, "case '%s': %zu actions, want %zu\n", tc->title, p.len, nw);
        for (size_t i = 0; i < p.len; i++)
            fprintf(stderr, "  %s %s: %s\n", plan_op_name(p.actions[i].op), p.actions[i].name,
                    p.actions[i].reason);
        exit(1);
    }
    for (size_t i = 0; i < nw; i++) {
        char kb[PLANNER_KEY_MAX];
        const char *key = planner_key(p.actions[i].res.kind, p.actions[i].name, kb);
        if (p.actions[i].op != tc->want[i].op || strcmp(key, tc->want[i].name) != 0) {
            fprintf(stderr, "case '%s': action %zu is %s %s, want %s %s\n", tc->title, i,
                    plan_op_name(p.actions[i].op), p.actions[i].name, plan_op_name(tc->want[i].op),
                    tc->want[i].name);
            exit(1);
        }
        ASSERT_CONTAINS(p.actions[i].reason, tc->want[i].reason_part);
    }
    for (size_t i = 0; i < p.len; i++) {
        const struct plan_action *a = &p.actions[i];
        /* The loser of a name clash is never the one written. */
        if (a->op == PLAN_CREATE && strcmp(a->name, "web") == 0)
            ASSERT_STREQ(a->res.uri, "http://10.0.0.2:80");
        /* An update carries Teleport's revision back. */
        if (a->op == PLAN_UPDATE)
            ASSERT_STREQ(a->res.revision, "rev-1");
        /* With a lease every write carries the new expiry; without, none. */
        if (a->op == PLAN_CREATE || a->op == PLAN_UPDATE)
            ASSERT_EQ(a->res.expires, tc->lease ? 1000 + (long long)tc->lease : 0);
        /* Nothing unowned is ever written unless adoption was asked for. */
        if (a->op == PLAN_UPDATE && !tc->adopt)
            for (size_t j = 0; j < nt; j++)
                if (teleport[j].kind == a->res.kind && strcmp(teleport[j].name, a->name) == 0)
                    ASSERT_STREQ(kv_get(&teleport[j].labels, PLANNER_LABEL_OWNER), OWNER);
        if (a->op == PLAN_DELETE)
            ASSERT_STREQ(kv_get(&a->res.labels, PLANNER_LABEL_OWNER), OWNER);
        /* A held deletion names the guard rail that held it (the metrics
         * count by it); no other action has one. */
        enum plan_guard g = a->op != PLAN_SKIP                         ? PLAN_GUARD_NONE
                            : strstr(a->reason, "deletion cap")        ? PLAN_GUARD_CAP
                            : strstr(a->reason, "grace period")        ? PLAN_GUARD_GRACE
                            : strstr(a->reason, "event stream ended")  ? PLAN_GUARD_GRACE
                            : strstr(a->reason, "; not deleting")      ? PLAN_GUARD_INCOMPLETE
                            : strstr(a->reason, "no longer wanted; policy") ? PLAN_GUARD_POLICY
                                                                       : PLAN_GUARD_NONE;
        ASSERT_EQ(a->guard, g);
    }
    bool capped = false;
    for (size_t i = 0; i < p.len; i++)
        capped |= strstr(p.actions[i].reason, "deletion cap") != NULL;
    ASSERT_EQ(p.deletes_capped, capped);
    if (capped)
        ASSERT_EQ(p.window_capped, strstr(tc->title, "over a window") != NULL);
    plan_cleanup(&p);
    for (size_t i = 0; i < nd; i++)
        resource_cleanup(&desired[i]);
    for (size_t i = 0; i < nt; i++)
        resource_cleanup(&teleport[i]);
    printf("ok - %s\n", tc->title);
}

/* planner_lease_due, which the planner and the reconciler's look for due
 * leases (reconcile_held.c) share: due below half a lease left, not at it. */
static void lease_due(void)
{
    struct resource t;

    make(&t, &(struct spec_res){"a", "http://10.0.0.2:80", OWNER, "a", 0});
    ASSERT_TRUE(!planner_lease_due(&t, 1000, 0));          /* no lease: never due */
    ASSERT_TRUE(planner_lease_due(&t, 1000, 600));         /* no expiry: due */
    t.expires = 1000 + 300;                                /* exactly half left */
    ASSERT_TRUE(!planner_lease_due(&t, 1000, 600));
    t.expires = 1000 + 299;                                /* a second less */
    ASSERT_TRUE(planner_lease_due(&t, 1000, 600));
    t.expires = 1000 + 3;                                  /* odd lease: half is 3 (7 / 2) */
    ASSERT_TRUE(!planner_lease_due(&t, 1000, 7));
    t.expires = 1000 - 1;                                  /* expired */
    ASSERT_TRUE(planner_lease_due(&t, 1000, 600));
    ASSERT_TRUE(!planner_lease_due(&t, 1000, 0));
    resource_cleanup(&t);
    printf("ok - lease due below half a lease left, not at exactly half\n");
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run(&cases[i]);
    lease_due();
    return 0;
}
