/*
 * reconcile_agents.c - agent mode's side of the reconciler: which apps go
 * through an agent, and handing them to the agent manager after each pass
 * (see agent/agent_manager.h).
 */
#include <stdlib.h>
#include <string.h>

#include "reconcile/reconciler_impl.h"

/* The label a rule's app carries for registration = "agent" (rule_output.c). */
#define AGENT_REGISTRATION_LABEL "enroller.dev/registration"

bool reconcile_agents_is_agent(const struct reconciler *r, const struct resource *app)
{
    const char *how;

    if (r->am == NULL)
        return false;
    if (r->cfg.agent_all)
        return true;
    how = kv_get(&app->labels, AGENT_REGISTRATION_LABEL);
    return how != NULL && strcmp(how, "agent") == 0;
}

/* The network whose address is the URI's host, else the first one. */
static const char *network_of(const struct container *c, const char *uri)
{
    const char *host = strstr(uri, "://");
    size_t n;

    if (c->n_networks == 0)
        return NULL;
    host = host ? host + 3 : uri;
    n = strcspn(host, ":/");
    for (size_t i = 0; i < c->n_networks; i++) {
        const char *ip = c->networks[i].ip;
        if (ip[0] != '\0' && strlen(ip) == n && strncmp(ip, host, n) == 0)
            return c->networks[i].name;
    }
    return c->networks[0].name;
}

void reconcile_agents_on_server(void *ud, const struct teleport_event *ev)
{
    struct reconciler *r = ud;

    if (r->am != NULL && ev->op == TELEPORT_EVENT_PUT && strcmp(ev->kind, "app_server") == 0)
        agent_manager_app_server(r->am, ev->res.name, ev->res.container_id);
}

void reconcile_agents_on_watch(void *ud, bool live)
{
    struct reconciler *r = ud;

    if (r->am != NULL)
        agent_manager_set_watch_live(r->am, live);
}

void reconcile_agents_sync(struct reconciler *r, const struct planner_input *in)
{
    struct agent_want *w = NULL;
    const char **keep = NULL;
    struct container_entry *e;
    size_t n = 0, cap = 0, nk = 0, it = 0;

    keep = calloc(in->n_grace_containers + in->n_unknown_containers + 1, sizeof(*keep));
    if (keep == NULL)
        return;
    for (size_t i = 0; i < in->n_grace_containers; i++)
        keep[nk++] = in->grace_containers[i].name;
    for (size_t i = 0; i < in->n_unknown_containers; i++)
        keep[nk++] = in->unknown_containers[i];
    while (container_table_next(&r->table, &it, &e)) {
        for (size_t k = 0; k < e->apps.len; k++) {
            const struct resource *app = &e->apps.items[k];
            if (!reconcile_agents_is_agent(r, app))
                continue;
            if (n == cap) {
                struct agent_want *nw = realloc(w, (cap ? cap * 2 : 16) * sizeof(*w));
                if (nw == NULL)
                    goto out; /* out of memory: nothing handed on, nothing removed */
                w = nw;
                cap = cap ? cap * 2 : 16;
            }
            w[n].app = app;
            w[n].target = e->snap->name;
            w[n].target_id = e->id;
            w[n].network = network_of(e->snap, app->uri);
            n++;
        }
    }
    agent_manager_set_desired(r->am, w, n, keep, nk, in->docker_complete);
out:
    free(w);
    free(keep);
}
