/*
 * cmd_check.c - `enroller check -c CONFIG`: the config has loaded (main.c);
 * load every rule and print one line per broken rule file, or one line for
 * the config and one per rule when all is well.  Talks to neither Docker
 * nor Teleport.
 *
 *   config /etc/enroller/config.lua: ok (owner docker-host-1, teleport auth:3025)
 *   rule rabbitmq (rules/rabbitmq.lua, priority 0): ok
 */
#include "cmd/commands.h"

#include "rules/rule_loader.h"

/* Each broken rule file on its own line. */
static void print_rule_error(void *ud, const char *msg)
{
    (*(int *)ud)++;
    fprintf(stderr, "%s\n", msg);
}

int cmd_check(const struct enr_config *cfg, const char *lua_dir, FILE *out)
{
    int n_rule_errors = 0;
    struct rule_limits limits = {.on_error = print_rule_error, .ud = &n_rule_errors};
    struct enr_error err = {0};
    struct rule_set *rules = rule_loader_load(cfg->rules_dir, lua_dir, &limits, &err);

    if (rules == NULL) {
        if (n_rule_errors == 0) /* not a file's fault: the dir itself */
            fprintf(stderr, "%s: rules.dir: %s\n", cfg->path, err.msg);
        return 1;
    }
    fprintf(out, "config %s: ok (owner %s, teleport %s)\n", cfg->path, cfg->owner, cfg->teleport_addr);
    for (size_t i = 0; i < rule_set_count(rules); i++)
        fprintf(out, "rule %s (%s, priority %d): ok\n", rule_set_name(rules, i), rule_set_file(rules, i),
                rule_set_priority(rules, i));
    rule_set_free(rules);
    return 0;
}
