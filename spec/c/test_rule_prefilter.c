/*
 * test_rule_prefilter.c - a rule's static pre-filter (match_image,
 * match_label): its glob and label semantics, that a container failing it
 * never enters the rule's Lua state, what explain reports, and the load
 * errors for bad fields.  Rule sets are written into a temp dir and loaded
 * with rule_loader_load; containers come from inspect JSON through
 * container_from_inspect (the public container API).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "lua/lua_runtime.h"
#include "rules/rule_eval.h"
#include "rules/rule_loader.h"
#include "rules/rule_prefilter.h"
#include "test.h"

static char tmp[64];

/* A container of this image with these labels ("k", "v", ..., NULL). */
static struct container *made(const char *image, ...)
{
    char json[2048], labels[1024] = "";
    struct enr_error err = {0};
    va_list ap;
    size_t used = 0;

    va_start(ap, image);
    for (const char *k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        used += (size_t)snprintf(labels + used, sizeof(labels) - used, "%s\"%s\":\"%s\"", used ? "," : "", k, v);
        ASSERT_TRUE(used < sizeof(labels));
    }
    va_end(ap);
    snprintf(json, sizeof(json),
             "{\"Id\":\"0123456789ab0123456789ab\",\"Name\":\"/web\",\"Image\":\"sha256:00\","
             "\"Config\":{\"Image\":\"%s\",\"Labels\":{%s}},\"State\":{\"Status\":\"running\"}}",
             image, labels);
    struct container *c = container_from_inspect(json, strlen(json), &err);
    if (c == NULL)
        fprintf(stderr, "inspect: %s\n", err.msg);
    ASSERT_TRUE(c != NULL);
    return c;
}

/* Empties tmp/rules and writes one rule file; returns the dir. */
static const char *one_rule(const char *file, const char *text)
{
    static char dir[128];
    char cmd[400], path[400];

    snprintf(dir, sizeof(dir), "%s/rules", tmp);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    return dir;
}

#define HEAD "local enroller = require(\"enroller\")\n"
/* A rule named p with the given pre-filter fields; match() raises, so a
 * container that reaches the rule's Lua is an error in rule_set_eval. */
#define PRE_RULE(fields)                                                                   \
    HEAD "return enroller.rule {\n  name = \"p\", description = \"d\",\n  " fields ",\n"    \
         "  match = function(c) error('entered Lua for ' .. c.image, 0) end,\n"             \
         "  apps = function(c) return {} end,\n}\n"

static const struct rule_limits limits = {.mem_bytes = 8u << 20, .instructions = 5000000, .time_ms = 120000};

static struct rule_set *load(const char *fields)
{
    char text[2048];
    struct enr_error err = {0};

    snprintf(text, sizeof(text), PRE_RULE("%s"), fields);
    struct rule_set *rs = rule_loader_load(one_rule("p.lua", text), NULL, &limits, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    return rs;
}

/* 1 when c reaches the rule's Lua (its match() raised), 0 when the
 * pre-filter kept it out; why gets explain's detail for a 0. */
static int reaches_lua(struct rule_set *rs, const struct container *c, char *why, size_t whylen)
{
    struct enr_error err = {0};
    struct resource_list out;
    struct rule_report *rep = NULL;

    resource_list_init(&out);
    int rc = rule_set_eval(rs, c, &out, &err);
    ASSERT_EQ(out.len, 0);
    resource_list_cleanup(&out);
    if (rc < 0) {
        char want[600];
        snprintf(want, sizeof(want), "rules/p.lua: entered Lua for %s", c->image);
        ASSERT_STREQ(err.msg, want);
    }
    /* explain agrees with eval */
    int xrc = rule_eval_explain(rs, c, &rep, &err);
    ASSERT_TRUE(rep != NULL);
    ASSERT_EQ(xrc < 0, rc < 0);
    ASSERT_EQ(rep[0].outcome, rc < 0 ? RULE_ERROR : RULE_NO_MATCH);
    snprintf(why, whylen, "%s", rep[0].detail ? rep[0].detail : "");
    rule_eval_report_free(rep, rule_set_count(rs));
    return rc < 0;
}

struct image_case {
    const char *image;
    int passes;
};

static void expect_images(const char *fields, const struct image_case *cases)
{
    struct rule_set *rs = load(fields);
    char why[300], want[300];

    for (const struct image_case *k = cases; k->image != NULL; k++) {
        struct container *c = made(k->image, NULL);
        int got = reaches_lua(rs, c, why, sizeof(why));
        if (got != k->passes)
            fprintf(stderr, "%s: image %s: expected %s\n", fields, k->image, k->passes ? "pass" : "filtered");
        ASSERT_EQ(got, k->passes);
        if (!k->passes) {
            /* the repository, as c.image_name reads it */
            const char *end = strchr(k->image, '@');
            size_t n = end ? (size_t)(end - k->image) : strlen(k->image);
            const char *slash = strrchr(k->image, '/');
            const char *colon = strrchr(slash ? slash : k->image, ':');
            if (colon != NULL && (size_t)(colon - k->image) < n)
                n = (size_t)(colon - k->image);
            snprintf(want, sizeof(want), "image %.*s not in match_image", (int)n, k->image);
            ASSERT_STREQ(why, want);
        }
        container_free(c);
    }
    rule_set_free(rs);
}

static void test_match_image(void)
{
    /* literal names: the repository whole, tag and digest cut off */
    static const struct image_case literal[] = {
        {"rabbitmq", 1},
        {"rabbitmq:3-management", 1},
        {"rabbitmq@sha256:0123", 1},
        {"rabbitmq:3@sha256:0123", 1},
        {"docker.io/library/rabbitmq:4", 1},
        {"library/rabbitmq", 0},
        {"rabbitmq-exporter:3", 0},
        {"rabbit", 0},
        {"someone/rabbitmq:3", 0},
        {"RabbitMQ", 0},
        {"localhost:5000/rabbitmq:3", 0},
        {NULL, 0},
    };
    expect_images("match_image = { 'rabbitmq', 'docker.io/library/rabbitmq' }", literal);
    /* one string works as a list of one */
    static const struct image_case one[] = {{"nginx:1.27", 1}, {"nginx-x", 0}, {NULL, 0}};
    expect_images("match_image = 'nginx'", one);
    /* globs: fnmatch without flags, so '*' also spans '/' */
    static const struct image_case glob[] = {
        {"rabbitmq:3", 1},
        {"library/rabbitmq", 1},
        {"docker.io/library/rabbitmq:3-management", 1},
        {"localhost:5000/team/rabbitmq:3", 1},
        {"rabbitmq-exporter:3", 0},
        {"someone/notrabbitmq", 0},
        {NULL, 0},
    };
    expect_images("match_image = { 'rabbitmq', '*/rabbitmq' }", glob);
    static const struct image_case sets[] = {
        {"grafana/grafana:11", 1},
        {"grafana/grafana-oss", 1},
        {"grafana/loki", 0},
        {"prom/prometheus", 1},
        {"prom/alertmanager", 0},
        {"quay.io/prom/prometheus", 0},
        {"redis7", 1},
        {"redis:7", 0},
        {NULL, 0},
    };
    expect_images("match_image = { 'grafana/grafana*', '[p]rom/prom?theus', 'redis[0-9]' }", sets);
    /* a long repository with a tag goes through the heap copy */
    char long_image[600];
    memset(long_image, 'a', 300);
    snprintf(long_image + 300, sizeof(long_image) - 300, "/x:1");
    static struct image_case longer[] = {{NULL, 1}, {"b/x:1", 0}, {NULL, 0}};
    longer[0].image = long_image;
    expect_images("match_image = 'a*/x'", longer);
}

static void test_match_label(void)
{
    char why[300];
    struct rule_set *rs = load("match_label = 'enroller.http'");
    struct container *none = made("nginx", "other", "1", NULL);
    struct container *empty = made("nginx", "enroller.http", "", NULL);
    struct container *set = made("nginx", "a", "1", "enroller.http", "true", "z", "2", NULL);

    ASSERT_EQ(reaches_lua(rs, none, why, sizeof(why)), 0);
    ASSERT_STREQ(why, "no label enroller.http (match_label)");
    ASSERT_EQ(reaches_lua(rs, empty, why, sizeof(why)), 1); /* present, with any value */
    ASSERT_EQ(reaches_lua(rs, set, why, sizeof(why)), 1);
    rule_set_free(rs);

    /* a list: any one of them */
    rs = load("match_label = { 'teleport.dev/name', 'teleport.dev/port' }");
    struct container *port = made("nginx", "teleport.dev/port", "80", NULL);
    ASSERT_EQ(reaches_lua(rs, none, why, sizeof(why)), 0);
    ASSERT_STREQ(why, "none of the labels teleport.dev/name, teleport.dev/port (match_label)");
    ASSERT_EQ(reaches_lua(rs, port, why, sizeof(why)), 1);
    rule_set_free(rs);

    /* both fields: both must pass; the image is told first */
    rs = load("match_image = 'nginx', match_label = 'enroller.http'");
    struct container *other_image = made("httpd:2", "enroller.http", "true", NULL);
    ASSERT_EQ(reaches_lua(rs, set, why, sizeof(why)), 1);
    ASSERT_EQ(reaches_lua(rs, none, why, sizeof(why)), 0);
    ASSERT_STREQ(why, "no label enroller.http (match_label)");
    ASSERT_EQ(reaches_lua(rs, other_image, why, sizeof(why)), 0);
    ASSERT_STREQ(why, "image httpd not in match_image");
    rule_set_free(rs);

    /* no pre-filter: every container enters */
    rs = load("priority = 0");
    ASSERT_EQ(reaches_lua(rs, none, why, sizeof(why)), 1);
    rule_set_free(rs);

    container_free(none);
    container_free(empty);
    container_free(set);
    container_free(port);
    container_free(other_image);
}

/* A filtered rule still takes part in priorities: one that passes and
 * matches shadows the lower ones, and one filtered out does not. */
static void test_with_priorities(void)
{
    struct enr_error err = {0};
    struct resource_list out;
    char path[400], dir[128], cmd[400];
    static const char *const files[][2] = {
        {"a.lua", HEAD "return enroller.rule { name = 'high', description = 'd', priority = 10,\n"
                  "  match_label = 'x.app', match = function(c) return true, 'labelled' end,\n"
                  "  apps = function(c) return { { name = 'high', uri = 'http://h' } } end }\n"},
        {"b.lua", HEAD "return enroller.rule { name = 'low', description = 'd',\n"
                  "  match_image = 'nginx', match = function(c) return true, 'nginx' end,\n"
                  "  apps = function(c) return { { name = 'low', uri = 'http://l' } } end }\n"},
    };

    snprintf(dir, sizeof(dir), "%s/rules", tmp);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs(files[i][1], f);
        fclose(f);
    }
    struct rule_set *rs = rule_loader_load(dir, NULL, &limits, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    struct container *plain = made("nginx:1", NULL);
    struct container *labelled = made("nginx:1", "x.app", "1", NULL);

    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, plain, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "low");
    resource_list_cleanup(&out);
    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, labelled, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "high");
    resource_list_cleanup(&out);

    struct rule_report *rep = NULL;
    ASSERT_EQ(rule_eval_explain(rs, plain, &rep, &err), 0);
    ASSERT_EQ(rep[0].outcome, RULE_NO_MATCH);
    ASSERT_STREQ(rep[0].detail, "no label x.app (match_label)");
    ASSERT_EQ(rep[1].outcome, RULE_MATCHED);
    ASSERT_STREQ(rep[1].detail, "nginx");
    rule_eval_report_free(rep, rule_set_count(rs));
    ASSERT_EQ(rule_eval_explain(rs, labelled, &rep, &err), 0);
    ASSERT_EQ(rep[0].outcome, RULE_MATCHED);
    ASSERT_EQ(rep[1].outcome, RULE_SHADOWED);
    rule_eval_report_free(rep, rule_set_count(rs));
    rule_set_free(rs);
    container_free(plain);
    container_free(labelled);
}

static void expect_load_error(const char *text, const char *msg)
{
    struct enr_error err = {0};
    struct rule_set *rs = rule_loader_load(one_rule("bad.lua", text), NULL, &limits, &err);
    ASSERT_TRUE(rs == NULL);
    ASSERT_TRUE(err.code < 0);
    ASSERT_STREQ(err.msg, msg);
}

#define BAD(fields)                                                                        \
    HEAD "return enroller.rule { name = 'b', description = 'd',\n  " fields ",\n"           \
         "  match = function() end, apps = function() end }\n"

static void test_load_errors(void)
{
    /* the schema, at rule{}: one line naming the file, the line and the field */
    expect_load_error(BAD("match_image = 5"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_image': expected a string or a list of "
                      "strings, got number");
    expect_load_error(BAD("match_label = { 'a', true }"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_label[2]': expected string, got boolean");
    expect_load_error(BAD("match_label = {}"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_label': expected a string or a non-empty "
                      "list of strings");
    expect_load_error(BAD("match_image = { x = 'nginx' }"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_image': expected a string or a non-empty "
                      "list of strings");
    expect_load_error(BAD("match_image = ''"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_image': must not be empty");
    expect_load_error(BAD("match_image = { 'nginx', 'rabbitmq:3-management' }"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_image[2]': 'rabbitmq:3-management' has a "
                      "tag; match_image matches the repository only (c.image_name)");
    expect_load_error(BAD("match_image = 'nginx@sha256:00'"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_image': 'nginx@sha256:00' has a digest; "
                      "match_image matches the repository only (c.image_name)");
    expect_load_error(BAD("match_label = 'a\\nb'"),
                      "rules/bad.lua:2: [enroller] rule{}: field 'match_label': contains a control character "
                      "(byte 0x0a at 2)");
    /* changed after rule{} accepted it: the loader's own check */
    expect_load_error(HEAD "local r = enroller.rule { name = 'm', description = 'd', match_image = 'x',\n"
                           "  match = function() end, apps = function() end }\n"
                           "r.match_image = 7\nreturn r\n",
                      "rules/bad.lua: rule 'm': match_image: expected a string or a list of strings, got number");
    expect_load_error(HEAD "local r = enroller.rule { name = 'm', description = 'd', match_label = { 'x' },\n"
                           "  match = function() end, apps = function() end }\n"
                           "r.match_label[2] = {}\nreturn r\n",
                      "rules/bad.lua: rule 'm': match_label[2]: expected string, got table");
    /* a registry port is part of the repository, not a tag */
    struct rule_set *rs = load("match_image = 'localhost:5000/team/*'");
    char why[300];
    struct container *c = made("localhost:5000/team/web:2", NULL);
    ASSERT_EQ(reaches_lua(rs, c, why, sizeof(why)), 1);
    container_free(c);
    rule_set_free(rs);
}

/* rule{} keeps its own copy of the lists: the caller's table changed
 * afterwards does not change the filter. */
static void test_lists_copied(void)
{
    struct enr_error err = {0};
    struct rule_set *rs = rule_loader_load(
        one_rule("c.lua", HEAD "local images = { 'nginx' }\n"
                              "local r = enroller.rule { name = 'c', description = 'd', match_image = images,\n"
                              "  match = function(c) error('entered Lua for ' .. c.image, 0) end,\n"
                              "  apps = function() return {} end }\n"
                              "images[1] = 'httpd'\nreturn r\n"),
        NULL, &limits, &err);
    ASSERT_TRUE(rs != NULL);
    struct container *nginx = made("nginx", NULL), *httpd = made("httpd", NULL);
    struct resource_list out;
    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, httpd, &out, &err), 0);
    ASSERT_TRUE(rule_set_eval(rs, nginx, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/c.lua: entered Lua for nginx");
    ASSERT_EQ(out.len, 0);
    resource_list_cleanup(&out);
    container_free(nginx);
    container_free(httpd);
    rule_set_free(rs);
}

/* `enroller test-rules`: a case whose resource is missing says why each
 * rule did not match, the pre-filter's reason included. */
static void test_cases_say_why(void)
{
    char path[300], out_text[4096];
    FILE *f;

    one_rule("p.lua", PRE_RULE("match_image = { 'rabbitmq', 'docker.io/library/rabbitmq' }"));
    snprintf(path, sizeof(path), "%s/web.case.json", tmp);
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs("{ \"rules\": \"rules\", \"expect\": [ { \"name\": \"web\" } ],\n"
          "  \"container\": { \"Id\": \"0123456789ab\", \"Name\": \"/web\", \"Image\": \"sha256:00\",\n"
          "                 \"Config\": { \"Image\": \"nginx:1.27\", \"Labels\": {} } } }\n", f);
    fclose(f);
    FILE *out = tmpfile();
    ASSERT_TRUE(out != NULL);
    ASSERT_EQ(cmd_test_rules(path, NULL, NULL, out), 1);
    rewind(out);
    size_t n = fread(out_text, 1, sizeof(out_text) - 1, out);
    out_text[n] = '\0';
    fclose(out);
    ASSERT_CONTAINS(out_text, "web.case.json: expected app 'web' was not produced (got 0 resources; "
                              "rule p: no match: image nginx not in match_image)\n");
    ASSERT_CONTAINS(out_text, "test-rules: 0 passed, 1 failed\n");
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-prefilter-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);

    test_match_image();
    test_match_label();
    test_with_priorities();
    test_load_errors();
    test_lists_copied();
    test_cases_say_why();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
    printf("test_rule_prefilter: ok\n");
    return 0;
}
