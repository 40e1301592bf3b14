/* test_rule_output_options.c - what a rule returns for the app options
 * (tls, use_any_proxy_public_addr, required_apps, cors, tcp_ports,
 * rewrite.jwt_claims) reaches struct resource through rule_output, and what
 * Teleport would refuse is one error naming the rule and the field, with
 * nothing produced.  Runs the real loader, sandbox and schema. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_eval.h"
#include "rules/rule_loader.h"
#include "test.h"

static char tmp[64];
static char src_dir[PATH_MAX];
static const struct rule_limits limits = {.mem_bytes = 8u << 20, .instructions = 5000000};

static struct container *fixture(const char *name)
{
    char path[PATH_MAX + 64], buf[65536];
    struct enr_error err = {0};

    snprintf(path, sizeof(path), "%s/spec/fixtures/docker/%s", src_dir, name);
    FILE *f = fopen(path, "rb");
    ASSERT_TRUE(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ASSERT_TRUE(n > 0 && n < sizeof(buf));
    struct container *c = container_from_inspect(buf, n, &err);
    ASSERT_TRUE(c != NULL);
    return c;
}

/* A rules dir holding one rule "r" whose apps() returns the Lua expression app. */
static const char *one_rule(const char *app)
{
    static char dir[128];
    char cmd[300], path[200];

    snprintf(dir, sizeof(dir), "%s/rules", tmp);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/r.lua", dir);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fprintf(f,
            "local enroller = require(\"enroller\")\n"
            "return enroller.rule { name = 'r', description = 'd', match = function() return true end,\n"
            "  apps = function(c) return { %s } end }\n",
            app);
    fclose(f);
    return dir;
}

static int eval(const char *app, const struct container *c, struct resource_list *out, struct enr_error *err)
{
    struct rule_set *rs = rule_loader_load(one_rule(app), NULL, &limits, err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err->msg);
    ASSERT_TRUE(rs != NULL);
    int rc = rule_set_eval(rs, c, out, err);
    rule_set_free(rs);
    return rc;
}

static void test_options_reach_the_resource(void)
{
    struct container *c = fixture("inspect_rabbitmq.json");
    struct resource_list out;
    struct enr_error err = {0};

    resource_list_init(&out);
    ASSERT_EQ(eval("{ name = 'db', uri = 'tcp://10.0.0.2', tls = { mode = 'insecure' },\n"
                   "  use_any_proxy_public_addr = true, required_apps = { 'api', 'auth' },\n"
                   "  cors = { allowed_origins = { 'https://a.example.com' }, allowed_methods = { 'GET' },\n"
                   "           allow_credentials = true, max_age = 600 },\n"
                   "  tcp_ports = { { port = 5432 }, { port = 6000, end_port = 6010 } },\n"
                   "  rewrite = { jwt_claims = 'roles' } }",
                   c, &out, &err),
              0);
    ASSERT_EQ(out.len, 1);
    const struct resource *r = &out.items[0];
    ASSERT_EQ(r->insecure_skip_verify, 1); /* tls.mode insecure, as Teleport's older field */
    ASSERT_EQ(resource_opts(r)->use_any_proxy_public_addr, 1);
    ASSERT_EQ(resource_opts(r)->required_apps.n, 2);
    ASSERT_STREQ(resource_opts(r)->required_apps.v[0], "api");
    ASSERT_STREQ(resource_opts(r)->required_apps.v[1], "auth");
    ASSERT_EQ(resource_opts(r)->cors.allowed_origins.n, 1);
    ASSERT_STREQ(resource_opts(r)->cors.allowed_methods.v[0], "GET");
    ASSERT_EQ(resource_opts(r)->cors.allow_credentials, 1);
    ASSERT_EQ(resource_opts(r)->cors.max_age, 600);
    ASSERT_EQ(resource_opts(r)->n_tcp_ports, 2);
    ASSERT_EQ(resource_opts(r)->tcp_ports[0].port, 5432);
    ASSERT_EQ(resource_opts(r)->tcp_ports[0].end_port, 0);
    ASSERT_EQ(resource_opts(r)->tcp_ports[1].end_port, 6010);
    ASSERT_STREQ(resource_opts(r)->rewrite_jwt_claims, "roles");
    resource_list_cleanup(&out);

    /* verify-full is the default: insecure_skip_verify stays false */
    resource_list_init(&out);
    ASSERT_EQ(eval("{ name = 'w', uri = 'https://10.0.0.2:8443', tls = { mode = 'verify-full' } }", c, &out, &err),
              0);
    ASSERT_EQ(out.items[0].insecure_skip_verify, 0);
    /* No option set: no room taken for them, and they read as unset. */
    ASSERT_TRUE(out.items[0].opts == NULL);
    ASSERT_EQ(resource_opts(&out.items[0])->n_tcp_ports, 0);
    ASSERT_STREQ(resource_opts(&out.items[0])->rewrite_jwt_claims, "");
    resource_list_cleanup(&out);

    /* Options present but all empty: the same. */
    resource_list_init(&out);
    ASSERT_EQ(eval("{ name = 'w', uri = 'http://10.0.0.2', required_apps = {}, rewrite = { redirect = {} } }", c,
                   &out, &err), 0);
    ASSERT_TRUE(out.items[0].opts == NULL);
    resource_list_cleanup(&out);
    container_free(c);
}

static void expect_error(const char *app, const char *msg)
{
    struct container *c = fixture("inspect_rabbitmq.json");
    struct resource_list out;
    struct enr_error err = {0};

    resource_list_init(&out);
    ASSERT_TRUE(eval(app, c, &out, &err) < 0);
    ASSERT_STREQ(err.msg, msg);
    ASSERT_EQ(out.len, 0);
    resource_list_cleanup(&out);
    container_free(c);
}

static void test_refusals(void)
{
    expect_error("{ name = 'a', uri = 'http://h/x\\0y' }",
                 "rules/r.lua: rule 'r': app field 'uri': contains a control character (byte 0x00 at 11)");
    expect_error("{ name = 'a', uri = 'http://h', description = 'a\\0b' }",
                 "rules/r.lua: rule 'r': app field 'description': contains a control character (byte 0x00 at 2)");
    expect_error("{ name = 'a', uri = 'http://h', public_addr = '10.0.0.1' }",
                 "rules/r.lua: rule 'r': app field 'public_addr': '10.0.0.1' is an IP address; Teleport wants a "
                 "DNS name");
    expect_error("{ name = 'a', uri = 'http://h', description = ('d'):rep(1 << 20) }",
                 "rules/r.lua: rule 'r': app field 'description': is 1048576 bytes; at most 1024");
    expect_error("{ name = 'a', uri = 'tcp://h', tcp_ports = { { port = 0 } } }",
                 "rules/r.lua: rule 'r': app field 'tcp_ports[1]': port 0 is out of range (1-65535)");
    expect_error("{ name = 'a', uri = 'https://h', insecure_skip_verify = true, tls = { mode = 'verify-full' } }",
                 "rules/r.lua: rule 'r': app field 'tls.mode' is 'verify-full' and 'insecure_skip_verify' is "
                 "true: drop insecure_skip_verify (deprecated), or set tls.mode = \"insecure\"");
}

int main(void)
{
    const char *env = getenv("ENR_SOURCE_DIR");
    snprintf(src_dir, sizeof(src_dir), "%s", env ? env : ENR_LUA_DIR "/..");
    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-ropt-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);

    test_options_reach_the_resource();
    test_refusals();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
    printf("test_rule_output_options: ok\n");
    return 0;
}
