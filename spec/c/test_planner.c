/*
 * test_planner.c - every safety promise of the planner as a table of
 * (desired, Teleport, completeness) -> expected actions.
 */
#include "planner.h"
#include "test.h"

#define OWNER "host-a"

/* A compact resource: name, uri, owner label ("" = none), container label. */
struct spec_res {
    const char *name, *uri, *owner, *container;
};

static void make(struct resource *r, const struct spec_res *s)
{
    ASSERT_EQ(resource_init(r), 0);
    ASSERT_EQ(resource_set_str(&r->name, s->name), 0);
    ASSERT_EQ(resource_set_str(&r->uri, s->uri), 0);
    ASSERT_EQ(resource_set_str(&r->container_id, s->container ? s->container : ""), 0);
    ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
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
    struct spec_res desired[4];
    struct spec_res teleport[4];
    int docker_complete, teleport_complete;
    const char *unknown[2];
    const char *busy[2];
    struct expect want[5];
};

#define END {NULL, NULL, NULL, NULL}

static const struct tcase cases[] = {
    {"create what is missing",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {END}, 1, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_CREATE, "wanted by container a"}, {NULL, 0, NULL}}},
    {"nothing changed: no action at all",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END}, 1, 1, {NULL}, {NULL},
     {{NULL, 0, NULL}}},
    {"update when a managed field differs",
     {{"rmq-a", "http://10.0.0.3:15672", OWNER, "a"}, END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END}, 1, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_UPDATE, "differ"}, {NULL, 0, NULL}}},
    {"labels Teleport adds itself do not cause an update",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END}, 1, 1, {NULL}, {NULL},
     {{NULL, 0, NULL}}},
    {"delete owned and no longer desired",
     {END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END}, 1, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_DELETE, "container a no longer wants it"}, {NULL, 0, NULL}}},
    {"never delete an unowned app",
     {END},
     {{"grafana", "http://10.0.0.9:3000", "", NULL}, END}, 1, 1, {NULL}, {NULL},
     {{NULL, 0, NULL}}},
    {"never delete another owner's app",
     {END},
     {{"rmq-b", "http://10.0.0.9:15672", "host-b", "b"}, END}, 1, 1, {NULL}, {NULL},
     {{NULL, 0, NULL}}},
    {"unowned app with the wanted name is a conflict, never overwritten",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {{"rmq-a", "http://elsewhere:15672", "", NULL}, END}, 1, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_CONFLICT, "not owned by enroller"}, {NULL, 0, NULL}}},
    {"same URI but another name: both live, unowned untouched",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {{"manual", "http://10.0.0.2:15672", "", NULL}, END}, 1, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_CREATE, ""}, {NULL, 0, NULL}}},
    {"docker listing incomplete: no delete",
     {END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END}, 0, 1, {NULL}, {NULL},
     {{"rmq-a", PLAN_SKIP, "Docker listing incomplete"}, {NULL, 0, NULL}}},
    {"teleport listing incomplete: no writes",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {END}, 1, 0, {NULL}, {NULL},
     {{"rmq-a", PLAN_SKIP, "Teleport listing incomplete"}, {NULL, 0, NULL}}},
    {"rules failed for the container: its app is not deleted",
     {END},
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"},
      {"rmq-b", "http://10.0.0.3:15672", OWNER, "b"}, END}, 1, 1, {"a", NULL}, {NULL},
     {{"rmq-a", PLAN_SKIP, "unknown state"}, {"rmq-b", PLAN_DELETE, ""}, {NULL, 0, NULL}}},
    {"a name wanted twice: lowest container name wins",
     {{"web", "http://10.0.0.3:80", OWNER, "zeta"}, {"web", "http://10.0.0.2:80", OWNER, "alpha"}, END},
     {END}, 1, 1, {NULL}, {NULL},
     {{"web", PLAN_CREATE, "container alpha"}, {"web", PLAN_CONFLICT, "container alpha, which wins"},
      {NULL, 0, NULL}}},
    {"busy names are left alone",
     {{"rmq-a", "http://10.0.0.2:15672", OWNER, "a"}, END},
     {{"rmq-z", "http://10.0.0.2:15672", OWNER, "z"}, END}, 1, 1, {NULL}, {"rmq-a", "rmq-z"},
     {{"rmq-a", PLAN_SKIP, "in flight"}, {"rmq-z", PLAN_SKIP, "in flight"}, {NULL, 0, NULL}}},
};

static void run(const struct tcase *tc)
{
    struct resource desired[4], teleport[4];
    struct planner_input in = {0};
    struct plan p;
    size_t nd = 0, nt = 0, nu = 0, nb = 0, nw = 0;
    struct enr_error err;

    while (nd < 4 && tc->desired[nd].name) {
        make(&desired[nd], &tc->desired[nd]);
        nd++;
    }
    while (nt < 4 && tc->teleport[nt].name) {
        make(&teleport[nt], &tc->teleport[nt]);
        nt++;
    }
    if (strstr(tc->title, "labels Teleport adds") != NULL)
        ASSERT_EQ(kv_set(&teleport[0].labels, "teleport.dev/origin", "dynamic"), 0);
    while (nu < 2 && tc->unknown[nu])
        nu++;
    while (nb < 2 && tc->busy[nb])
        nb++;
    const struct resource *dp[4], *tp[4];
    for (size_t i = 0; i < nd; i++)
        dp[i] = &desired[i];
    for (size_t i = 0; i < nt; i++)
        tp[i] = &teleport[i];
    in.owner = OWNER;
    in.desired = dp;
    in.n_desired = nd;
    in.teleport = tp;
    in.n_teleport = nt;
    in.docker_complete = tc->docker_complete;
    in.teleport_complete = tc->teleport_complete;
    in.unknown_containers = tc->unknown;
    in.n_unknown_containers = nu;
    in.busy_names = tc->busy;
    in.n_busy_names = nb;

    plan_init(&p);
    ASSERT_EQ(planner_plan(&in, &p, &err), 0);
    while (nw < 5 && tc->want[nw].name)
        nw++;
    if (p.len != nw) {
        fprintf(stderr, "case '%s': %zu actions, want %zu\n", tc->title, p.len, nw);
        for (size_t i = 0; i < p.len; i++)
            fprintf(stderr, "  %s %s: %s\n", plan_op_name(p.actions[i].op), p.actions[i].name,
                    p.actions[i].reason);
        exit(1);
    }
    for (size_t i = 0; i < nw; i++) {
        if (p.actions[i].op != tc->want[i].op || strcmp(p.actions[i].name, tc->want[i].name) != 0) {
            fprintf(stderr, "case '%s': action %zu is %s %s, want %s %s\n", tc->title, i,
                    plan_op_name(p.actions[i].op), p.actions[i].name, plan_op_name(tc->want[i].op),
                    tc->want[i].name);
            exit(1);
        }
        ASSERT_CONTAINS(p.actions[i].reason, tc->want[i].reason_part);
    }
    /* The loser of a name clash is never the one written. */
    for (size_t i = 0; i < p.len; i++)
        if (p.actions[i].op == PLAN_CREATE && strcmp(tc->title, "a name wanted twice: lowest container name wins") == 0)
            ASSERT_STREQ(p.actions[i].res.uri, "http://10.0.0.2:80");
    /* An update carries Teleport's revision back. */
    for (size_t i = 0; i < p.len; i++)
        if (p.actions[i].op == PLAN_UPDATE)
            ASSERT_STREQ(p.actions[i].res.revision, "rev-1");
    plan_cleanup(&p);
    for (size_t i = 0; i < nd; i++)
        resource_cleanup(&desired[i]);
    for (size_t i = 0; i < nt; i++)
        resource_cleanup(&teleport[i]);
    printf("ok - %s\n", tc->title);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run(&cases[i]);
    return 0;
}
