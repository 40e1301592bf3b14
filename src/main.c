/*
 * main.c - the command line: argv into one command.
 *
 *   enroller [run] -c CONFIG    keep Teleport in step with Docker until SIGTERM (daemon.c)
 *   enroller check -c CONFIG    validate the config and every rule, exit 0 or 1 (cmd/cmd_check.c)
 *   enroller plan  -c CONFIG    print what a pass would do, write nothing (cmd/cmd_plan.c)
 *   enroller explain -c CONFIG CONTAINER   which rules match one live container, and why
 *                                          (cmd/cmd_explain.c)
 *   enroller test-rules [--rules DIR] CASES   run a user's rule cases (no Docker, no Teleport)
 *                                             (cmd/cmd_test_rules.c)
 *
 * Exit codes: 2 for bad usage or a config that does not load (1 for check,
 * whose job is to say so); otherwise the command's own.  The help texts,
 * the exit codes of each command and --version live in cmd/cmd_help.c
 * (also the source of the manual page).
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cmd/cmd_help.h"
#include "cmd/commands.h"
#include "config.h"
#include "daemon.h"
#include "lua/lua_runtime.h"

enum command { CMD_RUN, CMD_CHECK, CMD_PLAN, CMD_EXPLAIN, CMD_TEST_RULES };

static const struct {
    const char *name;
    enum command cmd;
} commands[] = {
    {"run", CMD_RUN},
    {"check", CMD_CHECK},
    {"plan", CMD_PLAN},
    {"explain", CMD_EXPLAIN},
    {"test-rules", CMD_TEST_RULES},
};

static void usage(FILE *to)
{
    cmd_help_usage(to);
}

static const char *lua_dir(void)
{
    return lua_runtime_default_dir();
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"connect", no_argument, NULL, 'C'},
        {"rules", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    enum command cmd = CMD_RUN;
    bool named = false; /* a command was named: --help is that command's */
    const char *config_path = NULL, *rules_opt = NULL;
    bool once = false, connect = false;
    struct enr_config *cfg;
    struct enr_error err = {0};
    int c, level, rc;

    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && argv[1][0] != '-') {
        size_t i = 0;
        while (i < sizeof(commands) / sizeof(commands[0]) && strcmp(argv[1], commands[i].name) != 0)
            i++;
        if (i == sizeof(commands) / sizeof(commands[0])) {
            fprintf(stderr, "enroller: unknown command '%s'\n", argv[1]);
            usage(stderr);
            return 2;
        }
        cmd = commands[i].cmd;
        named = true;
        argv++;
        argc--;
    }
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'C':
            connect = true;
            break;
        case 'r':
            rules_opt = optarg;
            break;
        case 'h':
            if (named)
                cmd_help_command(stdout, cmd_help_find(commands[cmd].name));
            else
                usage(stdout);
            return 0;
        case 'V':
            cmd_help_version(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cmd == CMD_TEST_RULES) {
        if (optind != argc - 1) {
            fprintf(stderr, "enroller: test-rules: give one CASES dir or file\n");
            usage(stderr);
            return 2;
        }
        return cmd_test_rules(argv[optind], rules_opt, lua_dir(), stdout);
    }
    if ((cmd == CMD_EXPLAIN) != (optind == argc - 1) || optind < argc - 1) {
        fprintf(stderr, "enroller: %s\n", cmd == CMD_EXPLAIN ? "explain: give one CONTAINER (name or id)"
                                                              : "unexpected arguments");
        usage(stderr);
        return 2;
    }
    if (config_path == NULL) {
        fprintf(stderr, "enroller: no config file: give -c CONFIG\n");
        usage(stderr);
        return 2;
    }
    if ((cfg = config_load(config_path, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        return cmd == CMD_CHECK ? 1 : 2;
    }
    if ((level = log_level_parse(cfg->log_level)) >= 0)
        log_set_level((enum log_level)level);
    if ((level = log_format_parse(cfg->log_format)) >= 0)
        log_set_format((enum log_format)level);
    switch (cmd) {
    case CMD_EXPLAIN:
        rc = cmd_explain(cfg, lua_dir(), argv[optind], stdout);
        break;
    case CMD_CHECK:
        rc = cmd_check(cfg, lua_dir(), stdout);
        if (rc == 0 && connect)
            rc = cmd_check_connect(cfg, stdout);
        break;
    case CMD_PLAN:
        rc = cmd_plan(cfg, config_path, lua_dir(), once, stdout);
        break;
    case CMD_RUN:
    default: {
        struct daemon_options dopts = {.config_path = config_path, .lua_dir = lua_dir(), .once = once};
        rc = daemon_run(cfg, &dopts);
        break;
    }
    }
    config_free(cfg);
    return rc;
}
