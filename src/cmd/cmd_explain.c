/*
 * cmd_explain.c - `enroller explain -c CONFIG CONTAINER`: inspect one live
 * container and show, rule by rule in evaluation order, whether it matched
 * (with match()'s reason when it gives one, or the pre-filter's when the
 * rule's match_image/match_label kept the container out), was shadowed by a rule of
 * higher priority, or failed, and the resources each matching rule
 * produces.  Talks to Docker only; writes nothing anywhere.
 *
 *   container rabbitmq (0c661a22bc6e): image rabbitmq:3-management, running
 *     network enroller-test: 10.213.181.2
 *     ports: 5672/tcp, 15672/tcp
 *   rule labels (rules/labels.lua, priority 100): no match: none of the labels teleport.dev/name, ... (match_label)
 *   rule grafana (rules/grafana.lua, priority 0): no match: image rabbitmq not in match_image
 *   rule rabbitmq (rules/rabbitmq.lua, priority 0): MATCH: image rabbitmq:3-management
 *     app rabbitmq-rabbitmq uri=http://10.213.181.2:15672 ...
 *   result: 1 app, 0 db, 0 rule errors
 */
#include "cmd/commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "docker/docker_client.h"
#include "rules/rule_eval.h"
#include "rules/rule_loader.h"

struct explain {
    const char *name;
    struct rule_set *rules;
    FILE *out;
    int rc;
};


void cmd_explain_print_resource(FILE *out, const char *indent, const struct resource *r)
{
    fprintf(out, "%s%s %s uri=%s", indent, r->kind == RESOURCE_DB ? "db" : "app", r->name, r->uri);
    if (r->kind == RESOURCE_DB)
        fprintf(out, " protocol=%s (not yet written to Teleport)", r->protocol);
    if (r->public_addr[0])
        fprintf(out, " public_addr=%s", r->public_addr);
    if (r->insecure_skip_verify)
        fprintf(out, " insecure_skip_verify=true");
    fprintf(out, "\n");
    if (r->description[0])
        fprintf(out, "%s  description: %s\n", indent, r->description);
    if (r->labels.len > 0) {
        fprintf(out, "%s  labels:", indent);
        for (size_t i = 0; i < r->labels.len; i++)
            fprintf(out, "%s %s=%s", i ? "," : "", r->labels.items[i].key, r->labels.items[i].value);
        fprintf(out, "\n");
    }
    const struct resource_opts *o = resource_opts(r);
    for (size_t i = 0; i < o->n_rewrite_redirect; i++)
        fprintf(out, "%s  rewrite.redirect: %s\n", indent, o->rewrite_redirect[i]);
    for (size_t i = 0; i < o->n_rewrite_headers; i++)
        fprintf(out, "%s  rewrite.header: %s: %s\n", indent, o->rewrite_headers[i].name,
                o->rewrite_headers[i].value);
}

static void print_container(FILE *out, const struct container *c)
{
    fprintf(out, "container %s (%.12s): image %s, %s%s%s\n", c->name, c->id, c->image, c->state,
            c->health[0] ? ", " : "", c->health);
    for (size_t i = 0; i < c->n_networks; i++)
        fprintf(out, "  network %s: %s\n", c->networks[i].name,
                c->networks[i].ip[0] ? c->networks[i].ip : "(no IPv4 address)");
    fprintf(out, "  ports:");
    for (size_t i = 0; i < c->n_ports; i++) {
        fprintf(out, "%s %u/%s", i ? "," : "", c->ports[i].port, c->ports[i].proto);
        if (c->ports[i].host_port)
            fprintf(out, " (published %s:%u)", c->ports[i].host_ip, c->ports[i].host_port);
    }
    fprintf(out, "%s\n", c->n_ports ? "" : " none");
    fprintf(out, "  labels:");
    for (size_t i = 0; i < c->labels.len; i++)
        fprintf(out, "%s %s=%s", i ? "," : "", c->labels.items[i].key, c->labels.items[i].value);
    fprintf(out, "%s\n", c->labels.len ? "" : " none");
}

static void on_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    struct explain *x = ud;
    struct rule_report *rep = NULL;
    struct enr_error e = {0};
    size_t n_apps = 0, n_db = 0, n_err = 0;

    if (err != NULL) {
        fprintf(stderr, "enroller: explain: container %s: %s\n", x->name,
                err->code == ENR_ENOTFOUND ? "no such container" : err->msg);
        x->rc = 1;
        return;
    }
    print_container(x->out, c);
    rule_eval_explain(x->rules, c, &rep, &e);
    if (rep == NULL) {
        fprintf(stderr, "enroller: explain: %s\n", e.msg);
        x->rc = 1;
        container_free(c);
        return;
    }
    for (size_t i = 0; i < rule_set_count(x->rules); i++) {
        const struct rule_report *r = &rep[i];
        if (r->rule == NULL)
            continue; /* not reached (the container view could not be built) */
        fprintf(x->out, "rule %s (%s, priority %d): ", r->rule, r->file, r->priority);
        switch (r->outcome) {
        case RULE_NO_MATCH:
            fprintf(x->out, "no match%s%s\n", r->detail ? ": " : "", r->detail ? r->detail : "");
            break;
        case RULE_SHADOWED:
            fprintf(x->out, "would match, but rule %s has a higher priority\n", r->detail);
            break;
        case RULE_ERROR:
            fprintf(x->out, "ERROR: %s\n", r->detail);
            n_err++;
            break;
        case RULE_MATCHED:
            fprintf(x->out, "MATCH%s%s; %zu resource%s\n", r->detail ? ": " : "", r->detail ? r->detail : "",
                    r->resources.len, r->resources.len == 1 ? "" : "s");
            for (size_t j = 0; j < r->resources.len; j++) {
                cmd_explain_print_resource(x->out, "  ", &r->resources.items[j]);
                if (r->resources.items[j].kind == RESOURCE_DB)
                    n_db++;
                else
                    n_apps++;
            }
            break;
        }
    }
    if (n_err > 0)
        fprintf(x->out, "result: rule errors: container %s keeps its apps as they are (%zu error%s)\n", c->name,
                n_err, n_err == 1 ? "" : "s");
    else
        fprintf(x->out, "result: %zu app%s, %zu db\n", n_apps, n_apps == 1 ? "" : "s", n_db);
    x->rc = n_err > 0 ? 1 : 0;
    rule_eval_report_free(rep, rule_set_count(x->rules));
    container_free(c);
}

int cmd_explain(const struct enr_config *cfg, const char *lua_dir, const char *container, FILE *out)
{
    struct enr_error err = {0};
    struct rule_limits limits = {0};
    struct docker_client_config dcfg = {0};
    struct explain x = {.name = container, .out = out, .rc = 1};
    struct docker_client *dc = NULL;
    uv_loop_t loop;
    int loop_open = 0;

    if ((x.rules = rule_loader_load(cfg->rules_dir, lua_dir, &limits, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        return 1;
    }
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "enroller: cannot create the event loop\n");
        goto fail;
    }
    loop_open = 1;
    dcfg.host = cfg->docker_host;
    dcfg.cert_path = cfg->docker_cert_path;
    if ((dc = docker_client_new(&loop, &dcfg, &err)) == NULL) {
        fprintf(stderr, "enroller: docker: %s\n", err.msg);
        goto fail;
    }
    if (strchr(container, '/') != NULL || container[0] == '\0') {
        fprintf(stderr, "enroller: explain: '%s' is not a container name or id\n", container);
        goto fail;
    }
    if (docker_client_inspect(dc, container, on_inspect, &x, &err) < 0) {
        fprintf(stderr, "enroller: explain: %s\n", err.msg);
        goto fail;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
fail:
    docker_client_free(dc);
    if (loop_open) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    rule_set_free(x.rules);
    return x.rc;
}
