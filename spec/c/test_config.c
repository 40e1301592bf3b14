/*
 * test_config.c - config_load() on good and bad files written into a temp
 * dir; every error message is compared whole.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char tmp[256];
static char *cfg_path;

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Expects config.lua with this text to fail with exactly msg. */
static void expect_error(const char *text, const char *msg)
{
    struct enr_error err = {0};
    write_file("config.lua", text);
    struct enr_config *cfg = config_load(cfg_path, &err);
    if (cfg != NULL)
        fprintf(stderr, "expected failure for:\n%s\n", text);
    ASSERT_TRUE(cfg == NULL);
    ASSERT_TRUE(err.code < 0);
    /* Messages name the file by the path it was given as. */
    char want[1024];
    if (strncmp(msg, "config.lua", 10) == 0)
        snprintf(want, sizeof(want), "%s/%s", tmp, msg);
    else
        snprintf(want, sizeof(want), "%s", msg);
    ASSERT_STREQ(err.msg, want);
}

static const char *good =
    "-- a full config\n"
    "owner    \"docker-host-1\"\n"
    "docker   { host = \"unix:///run/docker.sock\", cert_path = \"certs\" }\n"
    "teleport { addr = \"auth.example.com:3025\", identity = \"identity\",\n"
    "           server_name = \"auth.local\", call_timeout = \"2500ms\" }\n"
    "rules    { dir = \"rules\" }\n"
    "reconcile { resync = minute(2) }\n"
    "log      { level = \"debug\" }\n"
    "mode     \"dry-run\"\n";

static void test_good(void)
{
    struct enr_error err = {0};
    char want[PATH_MAX + 64], real[PATH_MAX];

    write_file("config.lua", good);
    struct enr_config *cfg = config_load(cfg_path, &err);
    if (cfg == NULL)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    ASSERT_TRUE(cfg != NULL);
    ASSERT_TRUE(realpath(tmp, real) != NULL);
    snprintf(want, sizeof(want), "%s/config.lua", real);
    ASSERT_STREQ(cfg->path, want);
    ASSERT_STREQ(cfg->owner, "docker-host-1");
    ASSERT_STREQ(cfg->docker_host, "unix:///run/docker.sock");
    snprintf(want, sizeof(want), "%s/certs", real);
    ASSERT_STREQ(cfg->docker_cert_path, want);
    ASSERT_STREQ(cfg->teleport_addr, "auth.example.com:3025");
    snprintf(want, sizeof(want), "%s/identity", real);
    ASSERT_STREQ(cfg->identity_file, want);
    ASSERT_STREQ(cfg->server_name, "auth.local");
    snprintf(want, sizeof(want), "%s/rules", real);
    ASSERT_STREQ(cfg->rules_dir, want);
    ASSERT_EQ(cfg->resync_sec, 120);
    ASSERT_EQ(cfg->call_timeout_ms, 2500);
    ASSERT_STREQ(cfg->log_level, "debug");
    ASSERT_EQ(cfg->mode, CONFIG_MODE_DRY_RUN);
    ASSERT_STREQ(config_mode_name(cfg->mode), "dry-run");
    config_free(cfg);
}

static void test_defaults_and_env(void)
{
    struct enr_error err = {0};
    setenv("ENR_TEST_OWNER", "from-env", 1);
    unsetenv("ENR_TEST_UNSET");
    write_file("config.lua",
               "owner (env(\"ENR_TEST_OWNER\", \"fallback\"))\n"
               "docker { host = env(\"ENR_TEST_UNSET\") }\n"
               "teleport { addr = \"127.0.0.1:3025\", identity = \"/abs/identity\" }\n"
               "rules { dir = \"rules\" }\n");
    struct enr_config *cfg = config_load(cfg_path, &err);
    if (cfg == NULL)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    ASSERT_TRUE(cfg != NULL);
    ASSERT_STREQ(cfg->owner, "from-env");
    ASSERT_TRUE(cfg->docker_host == NULL);
    ASSERT_TRUE(cfg->docker_cert_path == NULL);
    ASSERT_TRUE(cfg->server_name == NULL);
    ASSERT_STREQ(cfg->identity_file, "/abs/identity");
    ASSERT_EQ(cfg->resync_sec, 60);
    ASSERT_EQ(cfg->call_timeout_ms, 10000);
    ASSERT_EQ(cfg->mode, CONFIG_MODE_DYNAMIC);
    ASSERT_STREQ(config_mode_name(cfg->mode), "dynamic");
    ASSERT_STREQ(cfg->log_level, "info");
    ASSERT_EQ(cfg->policy, CONFIG_POLICY_SYNC);
    ASSERT_EQ(cfg->events, 1);
    ASSERT_EQ(cfg->grace_sec, 60);
    ASSERT_EQ(cfg->max_deletes, 50);
    ASSERT_EQ(cfg->delete_window_sec, 60);
    ASSERT_EQ(cfg->max_delete_percent, 50);
    ASSERT_EQ(cfg->adopt, 0);
    ASSERT_EQ(cfg->lease_sec, 0);
    ASSERT_EQ(cfg->confirm_sec, 30);
    ASSERT_EQ(cfg->write_rate, 100);
    ASSERT_EQ(cfg->write_burst, 200);
    config_free(cfg);
}

#define BASE "owner \"h\"\nteleport { addr = \"a:1\", identity = \"i\" }\nrules { dir = \"rules\" }\n"

static void test_errors(void)
{
    char msg[PATH_MAX + 128], real[PATH_MAX];

    expect_error(BASE "foo = 1\n", "config.lua:4: unknown setting 'foo'");
    expect_error(BASE "x = tostring(1)\n", "config.lua:4: unknown setting 'tostring'");
    expect_error(BASE "dockr { host = \"x\" }\n", "config.lua:4: unknown setting 'dockr'");
    expect_error("owner \"h\"\n\n\n\n\n\nteleport { addr = 3025, identity = \"i\" }\n",
                 "config.lua:7: teleport.addr: expected string, got number");
    expect_error("teleport { adr = \"a:1\" }\n", "config.lua:1: teleport.adr: unknown field");
    expect_error("teleport { addr = \"auth\" }\n",
                 "config.lua:1: teleport.addr: expected \"host:port\", got \"auth\"");
    expect_error("teleport \"a:1\"\n",
                 "config.lua:1: teleport: expected a table (teleport { ... }), got string");
    expect_error("owner \"Docker Host\"\n",
                 "config.lua:1: owner: \"Docker Host\" is not a valid owner id ([a-z0-9][a-z0-9._-]{0,62})");
    expect_error(BASE "owner \"h2\"\n", "config.lua:4: owner: already declared");
    expect_error(BASE "reconcile { resync = \"soon\" }\n",
                 "config.lua:4: reconcile.resync: expected a positive duration (seconds, or "
                 "\"250ms\", \"30s\", \"5m\", \"1h\"), got soon");
    expect_error(BASE "reconcile { resync = -1 }\n",
                 "config.lua:4: reconcile.resync: expected a positive duration (seconds, or "
                 "\"250ms\", \"30s\", \"5m\", \"1h\"), got -1");
    expect_error(BASE "log { level = \"loud\" }\n",
                 "config.lua:4: log.level: expected one of debug, info, warn, error, got \"loud\"");
    expect_error(BASE "mode \"static\"\n",
                 "config.lua:4: mode: expected \"dynamic\" or \"dry-run\", got \"static\"");
    expect_error("teleport { addr = \"a:1\", identity = \"i\" }\nrules { dir = \"rules\" }\n",
                 "config.lua: owner: required (owner \"my-docker-host\")");
    expect_error("owner \"h\"\nrules { dir = \"rules\" }\n", "config.lua: teleport.addr: required");
    expect_error("owner \"h\"\nteleport { addr = \"a:1\" }\nrules { dir = \"rules\" }\n",
                 "config.lua: teleport.identity: required");
    expect_error("owner \"h\"\nteleport { addr = \"a:1\", identity = \"i\" }\n",
                 "config.lua: rules.dir: required");
    expect_error("owner \"h\"\nteleport {\n", "config.lua:3: unexpected symbol near <eof>");
    expect_error("owner \"h\"\nwhile true do end\n", "config.lua:2: config exceeded instruction budget");
    /* a precompiled chunk is refused, and the line still names the file
     * (spec/fuzz/config/crash-binary-chunk) */
    expect_error("\x1bLua\x54", "config.lua: attempt to load a binary chunk (mode is 't')");

    ASSERT_TRUE(realpath(tmp, real) != NULL);
    snprintf(msg, sizeof(msg), "config.lua:1: rules.dir: %s/nope: No such file or directory", real);
    expect_error("rules { dir = \"nope\" }\n", msg);
    snprintf(msg, sizeof(msg), "config.lua:1: rules.dir: %s/config.lua: not a directory", real);
    expect_error("rules { dir = \"config.lua\" }\n", msg);

    struct enr_error err = {0};
    char missing[512];
    snprintf(missing, sizeof(missing), "%s/absent.lua", tmp);
    ASSERT_TRUE(config_load(missing, &err) == NULL);
    snprintf(msg, sizeof(msg), "%s: No such file or directory", missing);
    ASSERT_STREQ(err.msg, msg);
}

/* policy and mode are parsed into enums; config_diff compares them. */
static void test_enums(void)
{
    static const struct {
        const char *word;
        enum config_policy policy;
    } policies[] = {
        {"sync", CONFIG_POLICY_SYNC},
        {"upsert-only", CONFIG_POLICY_UPSERT_ONLY},
        {"create-only", CONFIG_POLICY_CREATE_ONLY},
    };
    struct enr_error err = {0};
    char text[512], fields[256];

    write_file("config.lua", BASE);
    struct enr_config *base = config_load(cfg_path, &err);
    ASSERT_TRUE(base != NULL);
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        snprintf(text, sizeof(text), BASE "reconcile { policy = \"%s\" }\n"
                 "mode \"dry-run\"\n", policies[i].word);
        write_file("config.lua", text);
        struct enr_config *cfg = config_load(cfg_path, &err);
        if (cfg == NULL)
            fprintf(stderr, "unexpected: %s\n", err.msg);
        ASSERT_TRUE(cfg != NULL);
        ASSERT_EQ(cfg->policy, policies[i].policy);
        ASSERT_STREQ(config_policy_name(cfg->policy), policies[i].word);
        ASSERT_EQ(cfg->mode, CONFIG_MODE_DRY_RUN);
        size_t n = config_diff(base, cfg, fields, sizeof(fields));
        if (policies[i].policy == CONFIG_POLICY_SYNC) {
            ASSERT_EQ(n, 1);
            ASSERT_STREQ(fields, "mode");
        } else {
            ASSERT_EQ(n, 2);
            ASSERT_STREQ(fields, "mode, reconcile.policy");
        }
        ASSERT_EQ(config_diff(cfg, cfg, fields, sizeof(fields)), 0);
        config_free(cfg);
    }
    config_free(base);
    write_file("config.lua", BASE "reconcile { write_rate = 5, write_burst = 7 }\n");
    struct enr_config *cfg = config_load(cfg_path, &err);
    ASSERT_TRUE(cfg != NULL);
    ASSERT_EQ(cfg->write_rate, 5);
    ASSERT_EQ(cfg->write_burst, 7);
    ASSERT_EQ(cfg->policy, CONFIG_POLICY_SYNC);
    ASSERT_EQ(cfg->mode, CONFIG_MODE_DYNAMIC);
    config_free(cfg);
    expect_error(BASE "reconcile { policy = \"mirror\" }\n",
                 "config.lua:4: reconcile.policy: expected one of sync, upsert-only, create-only, "
                 "got \"mirror\"");
    expect_error(BASE "reconcile { policy = 1 }\n",
                 "config.lua:4: reconcile.policy: expected string, got number");
}

/* The shipped example stays loadable and points at the shipped rules. */
static void test_example(void)
{
    struct enr_error err = {0};
    char path[PATH_MAX + 64], rules[PATH_MAX];
    const char *src = getenv("ENR_SOURCE_DIR");

    snprintf(path, sizeof(path), "%s/examples/rabbitmq/config.lua", src ? src : ENR_LUA_DIR "/..");
    unsetenv("ENROLLER_OWNER");
    unsetenv("ENROLLER_TELEPORT_ADDR");
    struct enr_config *cfg = config_load(path, &err);
    if (cfg == NULL)
        fprintf(stderr, "example: %s\n", err.msg);
    ASSERT_TRUE(cfg != NULL);
    ASSERT_STREQ(cfg->owner, "demo-docker-host");
    ASSERT_STREQ(cfg->teleport_addr, "127.0.0.1:3025");
    snprintf(path, sizeof(path), "%s/rules", src ? src : ENR_LUA_DIR "/..");
    ASSERT_TRUE(realpath(path, rules) != NULL);
    char *got = realpath(cfg->rules_dir, NULL);
    ASSERT_STREQ(got, rules);
    free(got);
    ASSERT_EQ(cfg->resync_sec, 60);
    ASSERT_EQ(cfg->call_timeout_ms, 10000);
    config_free(cfg);
}

/* grace, lease and confirm: 0 means off and can be written, as 0 or "0s";
 * a negative value and resync = 0 are still refused. */
static void test_zero_durations(void)
{
    struct enr_error err = {0};
    const char *zeros[] = {"0", "\"0s\""};
    for (size_t i = 0; i < 2; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "owner \"h\"\nteleport { addr = \"a:3025\", identity = \"identity\" }\n"
                 "rules { dir = \"rules\" }\nreconcile { grace = %s, lease = %s, confirm = %s }\n",
                 zeros[i], zeros[i], zeros[i]);
        write_file("config.lua", text);
        struct enr_config *cfg = config_load(cfg_path, &err);
        if (cfg == NULL)
            fprintf(stderr, "unexpected: %s\n", err.msg);
        ASSERT_TRUE(cfg != NULL);
        ASSERT_EQ(cfg->grace_sec, 0);
        ASSERT_EQ(cfg->lease_sec, 0);
        ASSERT_EQ(cfg->confirm_sec, 0);
        config_free(cfg);
    }
    expect_error("owner \"h\"\nteleport { addr = \"a:3025\", identity = \"identity\" }\n"
                 "rules { dir = \"rules\" }\nreconcile { grace = -1 }\n",
                 "config.lua:4: reconcile.grace: expected a duration from 0 to a year (seconds, or \"30s\", "
                 "\"5m\"), got -1");
    expect_error("owner \"h\"\nteleport { addr = \"a:3025\", identity = \"identity\" }\n"
                 "rules { dir = \"rules\" }\nreconcile { resync = 0 }\n",
                 "config.lua:4: reconcile.resync: expected a positive duration (seconds, or \"250ms\", \"30s\", "
                 "\"5m\", \"1h\"), got 0");
}

/* http { listen = ... }: off unless declared, checked on load, needs a restart. */
static void test_http(void)
{
    const char *base = "owner \"h\"\n"
                       "teleport { addr = \"a:1\", identity = \"id\" }\n"
                       "rules { dir = \"rules\" }\n";
    struct enr_error err = {0};
    char text[512], diff[128];

    write_file("config.lua", base);
    struct enr_config *off = config_load(cfg_path, &err);
    ASSERT_TRUE(off != NULL);
    ASSERT_TRUE(off->http_listen == NULL);

    snprintf(text, sizeof(text), "%shttp { listen = \"127.0.0.1:9464\" }\n", base);
    write_file("config.lua", text);
    struct enr_config *on = config_load(cfg_path, &err);
    if (on == NULL)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    ASSERT_TRUE(on != NULL);
    ASSERT_STREQ(on->http_listen, "127.0.0.1:9464");
    ASSERT_EQ(config_diff(off, on, diff, sizeof(diff)), 1);
    ASSERT_STREQ(diff, "http.listen");
    config_free(off);
    config_free(on);

    snprintf(text, sizeof(text), "%shttp { listen = \"999.1.2.3:80\" }\n", base);
    expect_error(text, "config.lua:4: http.listen: ops listen address \"999.1.2.3:80\": "
                       "\"999.1.2.3\" is not an IPv4 address");
    snprintf(text, sizeof(text), "%shttp { listen = \"127.0.0.1:70000\" }\n", base);
    expect_error(text, "config.lua:4: http.listen: ops listen address \"127.0.0.1:70000\": "
                       "expected a port from 0 to 65535 after the host");
    snprintf(text, sizeof(text), "%shttp { port = 1 }\n", base);
    expect_error(text, "config.lua:4: http.port: unknown field");
}

/* docker.host is checked where it is declared, and $DOCKER_HOST (used when
 * docker.host is not set) at load, named as such. */
static void test_docker_host(void)
{
    const char *base = "owner \"h\"\n"
                       "teleport { addr = \"a:1\", identity = \"id\" }\n"
                       "rules { dir = \"rules\" }\n";
    struct enr_error err = {0};
    char text[512];

    snprintf(text, sizeof(text), "%sdocker { host = \"tcp://[::1\" }\n", base);
    expect_error(text, "config.lua:4: docker.host: docker host \"tcp://[::1\": expected tcp://host:port");
    snprintf(text, sizeof(text), "%sdocker { host = \"http://x:1\" }\n", base);
    expect_error(text, "config.lua:4: docker.host: docker host \"http://x:1\": expected unix:// or tcp://");
    snprintf(text, sizeof(text), "%sdocker { host = \"\" }\n", base);
    expect_error(text, "config.lua:4: docker.host: must not be empty");

    setenv("DOCKER_HOST", "tcp://[::1", 1);
    expect_error(base, "config.lua: $DOCKER_HOST (docker.host is not set): docker host \"tcp://[::1\": "
                       "expected tcp://host:port");
    /* docker.host set: the environment is not read */
    snprintf(text, sizeof(text), "%sdocker { host = \"tcp://[::1]:2375\" }\n", base);
    write_file("config.lua", text);
    struct enr_config *cfg = config_load(cfg_path, &err);
    ASSERT_TRUE(cfg != NULL);
    ASSERT_STREQ(cfg->docker_host, "tcp://[::1]:2375");
    config_free(cfg);
    setenv("DOCKER_HOST", "unix:///run/x.sock", 1);
    write_file("config.lua", base);
    cfg = config_load(cfg_path, &err);
    ASSERT_TRUE(cfg != NULL);
    config_free(cfg);
    unsetenv("DOCKER_HOST");
}

/* What a reload applies and what needs a restart. */
static void test_diff_kinds(void)
{
    const char *base = "owner \"h\"\n"
                       "teleport { addr = \"a:1\", identity = \"id\" }\n"
                       "rules { dir = \"rules\" }\n";
    struct enr_error err = {0};
    char text[512], diff[256];

    write_file("config.lua", base);
    struct enr_config *a = config_load(cfg_path, &err);
    ASSERT_TRUE(a != NULL);
    snprintf(text, sizeof(text), "%sreconcile { write_rate = 5, write_burst = 7, confirm = 0, window = \"2m\", "
             "max_deletes = 3, resync = 30 }\nlog { level = \"warn\" }\n", base);
    write_file("config.lua", text);
    struct enr_config *b = config_load(cfg_path, &err);
    if (b == NULL)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    ASSERT_TRUE(b != NULL);
    ASSERT_EQ(b->delete_window_sec, 120);
    ASSERT_EQ(config_diff(a, b, diff, sizeof(diff)), 7);
    ASSERT_EQ(config_diff_kind(a, b, CONFIG_DIFF_ALL, diff, sizeof(diff)), 7);
    ASSERT_EQ(config_diff_kind(a, b, CONFIG_DIFF_LIVE, diff, sizeof(diff)), 6);
    ASSERT_STREQ(diff, "reconcile.max_deletes, reconcile.window, reconcile.write_rate, reconcile.write_burst, "
                       "reconcile.confirm, log.level");
    ASSERT_EQ(config_diff_kind(a, b, CONFIG_DIFF_RESTART, diff, sizeof(diff)), 1);
    ASSERT_STREQ(diff, "reconcile.resync");
    ASSERT_EQ(config_diff_kind(a, a, CONFIG_DIFF_LIVE, diff, sizeof(diff)), 0);
    ASSERT_STREQ(diff, "");
    config_free(a);
    config_free(b);
}

int main(void)
{
    char path[512];

    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-config-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof(path), "%s/rules", tmp);
    ASSERT_EQ(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/config.lua", tmp);
    cfg_path = path;

    test_good();
    test_defaults_and_env();
    test_errors();
    test_enums();
    test_example();
    test_zero_durations();
    test_http();
    test_docker_host();
    test_diff_kinds();

    unlink(path);
    snprintf(path, sizeof(path), "%s/rules", tmp);
    rmdir(path);
    rmdir(tmp);
    printf("test_config: ok\n");
    return 0;
}
