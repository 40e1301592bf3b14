/*
 * test_reconciler_held.c - the held deletions the reconciler keeps between
 * passes (r->held_by, reconcile_held.c), the counter of new holds
 * (r->deletes_held) and the names a listing plans again, fed with real
 * plans from planner_plan.  Names are per kind: an app and a database of
 * the same name are held, and counted, apart.
 */
#include <stdint.h>

#include "reconcile/planner.h"
#include "reconcile/reconciler_impl.h"
#include "test.h"

#define OWNER "host-a"

/* An owned resource no container wants: "db/x" is the database x. */
static void make(struct resource *r, const char *key, const char *container)
{
    enum resource_kind kind;
    const char *name = planner_key_name(key, &kind);

    ASSERT_EQ(resource_init(r), 0);
    r->kind = kind;
    ASSERT_EQ(resource_set_str(&r->name, name), 0);
    ASSERT_EQ(resource_set_str(&r->uri, kind == RESOURCE_DB ? "10.0.0.5:5432" : "http://10.0.0.5:80"), 0);
    ASSERT_EQ(resource_set_str(&r->container_id, container), 0);
    ASSERT_EQ(resource_set_str(&r->revision, "rev-1"), 0);
    ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_OWNER, OWNER), 0);
    ASSERT_EQ(kv_set(&r->labels, PLANNER_LABEL_CONTAINER, container), 0);
}

/* The app "pg" of container a and the database "pg" of container b, both
 * owned and no longer wanted; subset: only the database is in the pass.
 * a_grace: container a is in its grace period; b_unknown: container b's
 * inspect failed; max_deletes: the deletion cap (0: none).  Plans, then
 * notes the plan in r. */
static void pass(struct reconciler *r, bool a_grace, bool b_unknown, bool subset, unsigned max_deletes)
{
    struct resource app, db;
    const struct resource *tp[2];
    const char *unknown[] = {"b"};
    struct planner_gone grace[] = {{"a", 3000, false}};
    struct planner_input in = {0};
    struct enr_error err = {0};
    struct plan p;

    make(&app, "pg", "a");
    make(&db, "db/pg", "b");
    tp[0] = &db;
    tp[1] = &app;
    in.owner = OWNER;
    in.teleport = tp;           /* the database first: a subset pass is over it alone */
    in.n_teleport = subset ? 1 : 2;
    in.subset = subset;
    in.owned_total = 2;
    in.docker_complete = in.teleport_complete = true;
    in.unknown_containers = unknown;
    in.n_unknown_containers = b_unknown ? 1 : 0;
    in.grace_containers = grace;
    in.n_grace_containers = a_grace ? 1 : 0;
    in.grace_sec = 60;
    in.max_deletes = max_deletes;
    plan_init(&p);
    ASSERT_EQ(planner_plan(&in, &p, &err), 0);
    ASSERT_EQ(p.len, subset ? 1u : 2u);
    if (subset)
        ASSERT_EQ(strmap_put(&r->touched, "db/pg", r, NULL), 0);
    reconcile_held_note(r, &p, !subset);
    strmap_cleanup(&r->touched);
    plan_cleanup(&p);
    resource_cleanup(&app);
    resource_cleanup(&db);
}

static uintptr_t held(const struct reconciler *r, const char *key)
{
    return (uintptr_t)strmap_get(&r->held_by, key);
}

/* The names a listing plans again (reconcile_held_touch), as "key key". */
static const char *replanned(struct reconciler *r, char *buf, size_t size)
{
    const char *name;

    buf[0] = '\0';
    strmap_cleanup(&r->touched);
    reconcile_held_touch(r);
    /* a sorted list: the map's order is its hash's */
    if (strmap_get(&r->touched, "db/pg") != NULL)
        snprintf(buf, size, "db/pg");
    if (strmap_get(&r->touched, "pg") != NULL)
        snprintf(buf + strlen(buf), size - strlen(buf), "%spg", buf[0] ? " " : "");
    for (size_t it = 0; strmap_next(&r->touched, &it, &name, NULL);)
        ASSERT_TRUE(strcmp(name, "pg") == 0 || strcmp(name, "db/pg") == 0);
    strmap_cleanup(&r->touched);
    return buf;
}

int main(void)
{
    struct reconciler r;
    char buf[64];

    memset(&r, 0, sizeof(r));
    strmap_init(&r.held_by);
    strmap_init(&r.touched);

    /* The app is held by the grace period, the database is deleted. */
    pass(&r, true, false, false, 0);
    ASSERT_EQ(held(&r, "pg"), PLAN_GUARD_GRACE);
    ASSERT_EQ(held(&r, "db/pg"), PLAN_GUARD_NONE);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_GRACE], 1);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "");  /* the grace timer plans it */
    printf("ok - an app held, the database of its name not\n");

    /* The other way round: the database held (its container unknown), the app not. */
    pass(&r, false, true, false, 0);
    ASSERT_EQ(held(&r, "pg"), PLAN_GUARD_NONE);
    ASSERT_EQ(held(&r, "db/pg"), PLAN_GUARD_INCOMPLETE);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_INCOMPLETE], 1);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "db/pg");
    printf("ok - a database held, the app of its name not\n");

    /* Both held, twice: each is counted once, when its guard starts holding it. */
    pass(&r, true, true, false, 0);
    pass(&r, true, true, false, 0);
    ASSERT_EQ(held(&r, "pg"), PLAN_GUARD_GRACE);
    ASSERT_EQ(held(&r, "db/pg"), PLAN_GUARD_INCOMPLETE);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_GRACE], 2);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_INCOMPLETE], 1);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "db/pg");
    printf("ok - both held: each counted once per hold\n");

    /* A pass over the database alone, now deleted: the app stays held. */
    pass(&r, true, false, true, 0);
    ASSERT_EQ(held(&r, "pg"), PLAN_GUARD_GRACE);
    ASSERT_EQ(held(&r, "db/pg"), PLAN_GUARD_NONE);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_GRACE], 2);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "");
    printf("ok - a pass over the database leaves the app's hold alone\n");

    /* Both deletions over the cap: held by it, planned again at each
     * listing, not counted here (reconciler.c counts a new cap once). */
    r.last_capped = 2;
    pass(&r, false, false, false, 1);
    ASSERT_EQ(held(&r, "pg"), PLAN_GUARD_CAP);
    ASSERT_EQ(held(&r, "db/pg"), PLAN_GUARD_CAP);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_GRACE], 2);
    ASSERT_EQ(r.deletes_held[PLAN_GUARD_INCOMPLETE], 1);
    ASSERT_EQ(r.last_capped, 2);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "db/pg pg");
    printf("ok - deletions over the cap: planned again at each listing\n");

    /* Approved (no cap): both deleted, nothing held; a new cap is news again. */
    pass(&r, false, false, false, 0);
    ASSERT_EQ(r.held_by.len, 0);
    ASSERT_EQ(r.last_capped, 0);
    ASSERT_STREQ(replanned(&r, buf, sizeof(buf)), "");
    printf("ok - nothing held: nothing planned again\n");

    strmap_cleanup(&r.held_by);
    strmap_cleanup(&r.touched);
    return 0;
}
