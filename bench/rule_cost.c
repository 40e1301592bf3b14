/*
 * rule_cost.c - evaluation cost of a rule directory per container.
 *
 *   rule_cost RULES_DIR ITERATIONS INSPECT.json...
 *
 * Loads RULES_DIR with rule_loader_load (the project's lua/ library), parses
 * each inspect document with container_from_inspect, then calls
 * rule_set_eval over every container ITERATIONS times.  Prints one line:
 *
 *   evals=N apps=M ns_per_eval=X
 *
 * For instruction counts run it under
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=rule_set_eval
 * and divide the total Ir by evals (bench/rule_cost.py does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/container.h"
#include "base/error.h"
#include "lua/lua_runtime.h"
#include "model/resource.h"
#include "rules/rule_loader.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    buf[n] = '\0';
    *len = (size_t)n;
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

int main(int argc, char **argv)
{
    struct enr_error err = {0};
    struct rule_set *rs = NULL;
    struct container **cs = NULL;
    size_t n = 0, apps = 0, evals = 0;
    long iters;
    struct timespec t0, t1;
    int rc = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: rule_cost RULES_DIR ITERATIONS INSPECT.json...\n");
        return 2;
    }
    iters = strtol(argv[2], NULL, 10);
    rs = rule_loader_load(argv[1], lua_runtime_default_dir(), NULL, &err);
    if (!rs) {
        fprintf(stderr, "rule_cost: %s\n", err.msg);
        return 1;
    }
    cs = calloc((size_t)argc, sizeof(*cs));
    if (!cs)
        goto fail;
    for (int i = 3; i < argc; i++) {
        size_t len = 0;
        char *json = slurp(argv[i], &len);
        if (!json) {
            fprintf(stderr, "rule_cost: %s: cannot read\n", argv[i]);
            goto fail;
        }
        cs[n] = container_from_inspect(json, len, &err);
        free(json);
        if (!cs[n]) {
            fprintf(stderr, "rule_cost: %s: %s\n", argv[i], err.msg);
            goto fail;
        }
        n++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long it = 0; it < iters; it++) {
        for (size_t i = 0; i < n; i++) {
            struct resource_list out;
            resource_list_init(&out);
            if (rule_set_eval(rs, cs[i], &out, &err) < 0) {
                fprintf(stderr, "rule_cost: %s\n", err.msg);
                resource_list_cleanup(&out);
                goto fail;
            }
            apps += out.len;
            evals++;
            resource_list_cleanup(&out);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("evals=%zu apps=%zu ns_per_eval=%.0f\n", evals, apps,
           evals ? ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)evals
                 : 0.0);
    rc = 0;
fail:
    for (size_t i = 0; i < n; i++)
        container_free(cs[i]);
    free(cs);
    rule_set_free(rs);
    return rc;
}
