/*
 * cmd_plan.c - `enroller plan -c CONFIG`: one full resync through the
 * daemon's wiring (daemon.c) in plan mode, then the plan it would execute,
 * one action a line; nothing is written to Teleport.
 *
 *   create   rabbitmq-rabbitmq                        wanted by container rabbitmq (rule rabbitmq) [uri ...]
 *   plan: 1 create, 0 update, 0 delete, 0 conflict, 0 skip
 */
#include "cmd/commands.h"

#include "daemon.h"

struct plan_print {
    FILE *out;
};

/* The daemon's on_plan: prints the plan; returns the exit code. */
static int print_plan(void *ud, const struct plan *p, const struct enr_error *err)
{
    struct plan_print *pp = ud;

    if (err != NULL) {
        fprintf(stderr, "enroller: plan: %s\n", err->msg);
        return 1;
    }
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *x = &p->actions[i];
        char kb[PLANNER_KEY_MAX];
        /* a database as db/<name>: an app may have the same name */
        fprintf(pp->out, "%-8s %-40s %s", plan_op_name(x->op), planner_key(x->res.kind, x->name, kb), x->reason);
        if (x->op == PLAN_CREATE || x->op == PLAN_UPDATE)
            fprintf(pp->out, " [uri %s]", x->res.uri);
        fprintf(pp->out, "\n");
    }
    fprintf(pp->out, "plan: %zu create, %zu update, %zu delete, %zu conflict, %zu skip\n", p->n[PLAN_CREATE],
            p->n[PLAN_UPDATE], p->n[PLAN_DELETE], p->n[PLAN_CONFLICT], p->n[PLAN_SKIP]);
    fflush(pp->out);
    return 0;
}

int cmd_plan(const struct enr_config *cfg, const char *config_path, const char *lua_dir, bool once, FILE *out)
{
    struct plan_print pp = {.out = out};
    struct daemon_options opts = {
        .config_path = config_path,
        .lua_dir = lua_dir,
        .once = once,
        .on_plan = print_plan,
        .ud = &pp,
    };
    return daemon_run(cfg, &opts);
}
