/*
 * test_container_table.c - the container table's indexes as containers come,
 * change, fail and go: after every step, which containers want which app
 * name ("x=a,b": containers a and b want x), which are unknown and how many
 * apps are wanted in all.
 *
 * The rule used: a container labelled apps="x,y" wants apps x and y;
 * apps="boom" makes the rule raise.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconcile/container_table.h"
#include "test.h"

static const char RULE[] =
    "local enroller = require \"enroller\"\n"
    "return enroller.rule {\n"
    "  name = \"list\",\n"
    "  description = \"containers labelled apps=x,y: apps x and y\",\n"
    "  match = function(c) return c:label(\"apps\") ~= nil end,\n"
    "  apps = function(c)\n"
    "    if c:label(\"apps\") == \"boom\" then error(\"boom for \" .. c.name) end\n"
    "    local out = {}\n"
    "    for n in string.gmatch(c:label(\"apps\"), \"[^,]+\") do\n"
    "      out[#out + 1] = { name = n, uri = \"http://10.0.0.2:80\" }\n"
    "    end\n"
    "    return out\n"
    "  end,\n"
    "}\n";

enum op { END = 0, PUT, REMOVE, INSPECT_FAILED };

struct step {
    enum op op;
    const char *id;
    const char *apps;        /* PUT: the container's "apps" label */
    const char *index;       /* afterwards: "x=a,b y=a" */
    const char *unknown;     /* afterwards: "a b" */
    size_t n_apps;
};

struct tcase {
    const char *title;
    struct step steps[12];
};

static const struct tcase cases[] = {
    {"containers come, change and go: the name index follows",
     {{PUT, "a", "x,y", "x=a y=a", "", 2},
      {PUT, "b", "x", "x=a,b y=a", "", 3},
      {PUT, "a", "y,z", "x=b y=a z=a", "", 3},
      {REMOVE, "b", NULL, "y=a z=a", "", 2},
      {PUT, "b", "", "y=a z=a", "", 2},
      {REMOVE, "a", NULL, "", "", 0}}},
    {"a rule error keeps the old apps and makes the container unknown until it evaluates cleanly",
     {{PUT, "a", "x", "x=a", "", 1},
      {PUT, "a", "boom", "x=a", "a", 1},
      {PUT, "b", "boom", "x=a", "a b", 1},
      {PUT, "a", "y", "y=a", "b", 1},
      {REMOVE, "b", NULL, "y=a", "", 1}}},
    {"a failed inspect makes a container unknown until its next snapshot",
     {{PUT, "a", "x", "x=a", "", 1},
      {INSPECT_FAILED, "a", NULL, "x=a", "a", 1},
      {PUT, "a", "x", "x=a", "", 1},
      {INSPECT_FAILED, "a", NULL, "x=a", "a", 1},
      {REMOVE, "a", NULL, "", "", 0}}},
};

static struct container *make_container(const char *id, const char *apps)
{
    char json[512];
    struct enr_error err = {0};
    struct container *c;

    snprintf(json, sizeof(json),
             "{\"Id\":\"%s\",\"Name\":\"/c-%s\",\"Created\":\"2024-01-01T00:00:00Z\","
             "\"Config\":{\"Image\":\"img:1\",\"Hostname\":\"h\",\"Labels\":{\"apps\":\"%s\"}},"
             "\"State\":{\"Status\":\"running\"},\"NetworkSettings\":{\"Networks\":{}}}",
             id, id, apps);
    c = container_from_inspect(json, strlen(json), &err);
    if (c == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(c != NULL);
    return c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void join_sorted(const char **items, size_t n, const char *sep, char *out, size_t len)
{
    qsort(items, n, sizeof(*items), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", i ? sep : "", items[i]);
    }
}

static void show_index(const struct container_table *t, char *out, size_t len)
{
    char items[16][64];
    const char *sorted[16];
    const char *name;
    size_t n = 0, it = 0;

    while (container_table_next_name(t, &it, &name)) {
        const char *ids[8];
        size_t k;
        struct container_entry *const *v = container_table_wanting(t, name, &k);
        ASSERT_TRUE(n < 16 && k > 0 && k <= 8);
        for (size_t i = 0; i < k; i++)
            ids[i] = v[i]->id;
        snprintf(items[n], sizeof(items[n]), "%s=", name);
        join_sorted(ids, k, ",", items[n] + strlen(items[n]), sizeof(items[n]) - strlen(items[n]));
        sorted[n] = items[n];
        n++;
    }
    join_sorted(sorted, n, " ", out, len);
}

static void show_unknown(const struct container_table *t, char *out, size_t len)
{
    const char *ids[8];
    struct container_entry *e;
    size_t n = 0, it = 0;

    while (container_table_next_unknown(t, &it, &e)) {
        ASSERT_TRUE(n < 8 && (e->inspect_failed || e->rules_failed));
        ids[n++] = e->id;
    }
    join_sorted(ids, n, " ", out, len);
}

static void run_case(const struct tcase *tc, struct rule_set *rules)
{
    struct container_table t;
    char index[256], unknown[64];

    container_table_init(&t);
    for (const struct step *st = tc->steps; st->op != END; st++) {
        struct container_entry *e = container_table_get(&t, st->id);

        switch (st->op) {
        case PUT:
            e = container_table_put(&t, st->id, make_container(st->id, st->apps));
            ASSERT_TRUE(e != NULL && !e->inspect_failed);
            container_table_evaluate(&t, e, rules, "host-a");
            break;
        case REMOVE:
            ASSERT_TRUE(e != NULL);
            container_table_remove(&t, e);
            ASSERT_TRUE(container_table_get(&t, st->id) == NULL);
            break;
        default:
            ASSERT_TRUE(e != NULL);
            container_table_set_inspect_failed(&t, e);
            break;
        }
        show_index(&t, index, sizeof(index));
        show_unknown(&t, unknown, sizeof(unknown));
        if (strcmp(index, st->index) != 0 || strcmp(unknown, st->unknown) != 0 ||
            container_table_n_apps(&t) != st->n_apps) {
            fprintf(stderr, "case \"%s\", step %zu: index \"%s\" (want \"%s\"), unknown \"%s\" (want \"%s\"), "
                    "%zu apps (want %zu)\n", tc->title, (size_t)(st - tc->steps), index, st->index, unknown,
                    st->unknown, container_table_n_apps(&t), st->n_apps);
            exit(1);
        }
    }
    container_table_cleanup(&t);
    printf("ok - %s\n", tc->title);
}

int main(void)
{
    char dir[] = "/tmp/enr-test-table-XXXXXX", path[128], cmd[160];
    struct enr_error err = {0};
    struct rule_set *rules;
    FILE *f;

    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/list.lua", dir);
    ASSERT_TRUE((f = fopen(path, "w")) != NULL);
    ASSERT_EQ(fputs(RULE, f) >= 0, 1);
    ASSERT_EQ(fclose(f), 0);
    rules = rule_loader_load(dir, NULL, NULL, &err);
    if (rules == NULL)
        fprintf(stderr, "%s\n", err.msg);
    ASSERT_TRUE(rules != NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], rules);
    rule_set_free(rules);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
    return 0;
}
