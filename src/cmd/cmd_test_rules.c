/*
 * cmd_test_rules.c - `enroller test-rules [--rules DIR] CASES`: rule tests a
 * user can run in CI without Docker or Teleport.
 *
 * A case is a JSON file named *.case.json:
 *
 *   {
 *     "description": "a labelled container becomes one app",   (optional)
 *     "rules": "../rules",            rules dir, relative to the case file
 *                                     (--rules overrides it)
 *     "inspect": "web.inspect.json",  a recorded `docker inspect` document
 *                                     (the object, or docker's one-element
 *                                     array), relative to the case file...
 *     "container": { ... },           ...or the document inline
 *     "expect": [                     every resource the rules must produce,
 *       { "name": "web",              in any order; fields left out are not
 *         "uri": "http://10.0.0.2:8080",   compared (name is required)
 *         "labels": { ... } } ],
 *     "expect_error": "port 9090"     or: a rule must fail with a message
 *   }                                 containing this text
 *
 * Expected fields: kind ("app" default, "db"), name, uri, description,
 * labels (compared whole), public_addr, insecure_skip_verify, rewrite
 * ({redirect, headers}), protocol, rule.  Any other key is an error in the
 * case file.  Output: one "PASS <case>" or "FAIL <case>: <why>" line per
 * case, then a summary; exit 1 when any case fails.  A missing resource's
 * <why> ends with each rule's reason for not matching, as `enroller
 * explain` gives it ("rule rabbitmq: no match: image nginx not in
 * match_image").
 */
#include "cmd/commands.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "model/container.h"
#include "rules/rule_eval.h"
#include "rules/rule_loader.h"

struct runner {
    const char *rules_override;
    const char *lua_dir;
    char *loaded_dir;        /* the rules dir of `rules` */
    struct rule_set *rules;
    FILE *out;
};

static const char *const EXPECT_KEYS[] = {"kind", "name", "uri", "description", "labels", "public_addr",
                                          "insecure_skip_verify", "rewrite", "protocol", "rule", NULL};
static const char *const CASE_KEYS[] = {"description", "rules", "inspect", "container", "expect",
                                        "expect_error", NULL};

static int known_key(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return 1;
    return 0;
}

/* dir of path + "/" + rel, unless rel is absolute. */
static char *relative_to(const char *path, const char *rel)
{
    char *out = NULL;
    const char *slash = strrchr(path, '/');
    if (rel[0] == '/' || slash == NULL)
        return strdup(rel);
    if (asprintf(&out, "%.*s/%s", (int)(slash - path), path, rel) < 0)
        return NULL;
    return out;
}

static struct rule_set *rules_for(struct runner *r, const char *dir, char *why, size_t whylen)
{
    struct enr_error err = {0};
    struct rule_limits limits = {0};
    char real[PATH_MAX];

    if (realpath(dir, real) == NULL) {
        snprintf(why, whylen, "rules dir %s: %s", dir, strerror(errno));
        return NULL;
    }
    if (r->rules != NULL && strcmp(r->loaded_dir, real) == 0)
        return r->rules;
    rule_set_free(r->rules);
    free(r->loaded_dir);
    r->rules = NULL;
    r->loaded_dir = NULL;
    if ((r->rules = rule_loader_load(real, r->lua_dir, &limits, &err)) == NULL) {
        snprintf(why, whylen, "%s", err.msg);
        return NULL;
    }
    r->loaded_dir = strdup(real);
    if (r->loaded_dir == NULL) {
        rule_set_free(r->rules);
        r->rules = NULL;
        snprintf(why, whylen, "out of memory");
    }
    return r->rules;
}

static int str_field_eq(json_t *want, const char *key, const char *got, char *why, size_t whylen,
                        const char *name)
{
    json_t *v = json_object_get(want, key);
    if (v == NULL)
        return 1;
    if (!json_is_string(v)) {
        snprintf(why, whylen, "expect %s: '%s' must be a string", name, key);
        return 0;
    }
    if (strcmp(json_string_value(v), got) != 0) {
        snprintf(why, whylen, "%s: %s is \"%s\", expected \"%s\"", name, key, got, json_string_value(v));
        return 0;
    }
    return 1;
}

/* Compares one produced resource with the expected object. */
static int same(json_t *want, const struct resource *got, char *why, size_t whylen)
{
    const char *name = got->name;
    const char *key;
    json_t *v;

    json_object_foreach(want, key, v) {
        if (!known_key(EXPECT_KEYS, key)) {
            snprintf(why, whylen, "expect %s: unknown field '%s'", name, key);
            return 0;
        }
    }
    if (!str_field_eq(want, "uri", got->uri, why, whylen, name) ||
        !str_field_eq(want, "description", got->description, why, whylen, name) ||
        !str_field_eq(want, "public_addr", got->public_addr, why, whylen, name) ||
        !str_field_eq(want, "protocol", got->protocol, why, whylen, name) ||
        !str_field_eq(want, "rule", got->rule, why, whylen, name))
        return 0;
    if ((v = json_object_get(want, "insecure_skip_verify")) != NULL &&
        (!json_is_boolean(v) || json_is_true(v) != got->insecure_skip_verify)) {
        snprintf(why, whylen, "%s: insecure_skip_verify is %s", name, got->insecure_skip_verify ? "true" : "false");
        return 0;
    }
    if ((v = json_object_get(want, "labels")) != NULL) {
        if (!json_is_object(v)) {
            snprintf(why, whylen, "expect %s: 'labels' must be an object", name);
            return 0;
        }
        for (size_t i = 0; i < got->labels.len; i++) {
            json_t *w = json_object_get(v, got->labels.items[i].key);
            if (w == NULL || !json_is_string(w) || strcmp(json_string_value(w), got->labels.items[i].value) != 0) {
                snprintf(why, whylen, "%s: label %s=%s %s", name, got->labels.items[i].key,
                         got->labels.items[i].value, w == NULL ? "is not expected" : "differs from expected");
                return 0;
            }
        }
        if (json_object_size(v) != got->labels.len) {
            json_t *lv;
            json_object_foreach(v, key, lv) {
                if (kv_get(&got->labels, key) == NULL) {
                    snprintf(why, whylen, "%s: expected label %s is missing", name, key);
                    return 0;
                }
            }
        }
    }
    if ((v = json_object_get(want, "rewrite")) != NULL) {
        json_t *red = json_object_get(v, "redirect"), *hdr = json_object_get(v, "headers");
        size_t nred = red ? json_array_size(red) : 0, nhdr = hdr ? json_array_size(hdr) : 0;
        const struct resource_opts *o = resource_opts(got);
        int ok = nred == o->n_rewrite_redirect && nhdr == o->n_rewrite_headers;
        for (size_t i = 0; ok && i < nred; i++)
            ok = json_is_string(json_array_get(red, i)) &&
                 strcmp(json_string_value(json_array_get(red, i)), o->rewrite_redirect[i]) == 0;
        for (size_t i = 0; ok && i < nhdr; i++) {
            json_t *h = json_array_get(hdr, i);
            const char *hn = json_string_value(json_object_get(h, "name"));
            const char *hv = json_string_value(json_object_get(h, "value"));
            ok = hn && hv && strcmp(hn, o->rewrite_headers[i].name) == 0 &&
                 strcmp(hv, o->rewrite_headers[i].value) == 0;
        }
        if (!ok) {
            snprintf(why, whylen, "%s: rewrite differs from expected", name);
            return 0;
        }
    }
    return 1;
}

static struct container *load_container(json_t *c, const char *path, char *why, size_t whylen)
{
    struct enr_error err = {0};
    json_t *doc = NULL, *inspect = json_object_get(c, "inspect"), *inline_doc = json_object_get(c, "container");
    struct container *out = NULL;
    json_error_t jerr;
    char *file = NULL, *text = NULL;

    if (inline_doc != NULL) {
        doc = json_incref(inline_doc);
    } else if (json_is_string(inspect)) {
        if ((file = relative_to(path, json_string_value(inspect))) == NULL ||
            (doc = json_load_file(file, 0, &jerr)) == NULL) {
            snprintf(why, whylen, "inspect %s: %s", json_string_value(inspect), file ? jerr.text : "out of memory");
            goto out;
        }
    } else {
        snprintf(why, whylen, "case needs \"inspect\" (a file) or \"container\" (the document)");
        goto out;
    }
    if (json_is_array(doc) && json_array_size(doc) == 1) { /* `docker inspect` prints an array */
        json_t *one = json_incref(json_array_get(doc, 0));
        json_decref(doc);
        doc = one;
    }
    if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
        snprintf(why, whylen, "inspect document: not a JSON object");
        goto out;
    }
    if ((out = container_from_inspect(text, strlen(text), &err)) == NULL)
        snprintf(why, whylen, "inspect document: %s", err.msg);
out:
    free(text);
    free(file);
    json_decref(doc);
    return out;
}

/* "; rule x: no match: image nginx not in match_image; rule y: ...)":
 * why each rule that produced nothing did not, as `enroller explain` says
 * it (cut at outlen). */
static void explain_misses(const struct rule_set *rules, const struct rule_report *rep, char *out, size_t outlen)
{
    size_t used = 0;
    for (size_t i = 0; i < rule_set_count(rules) && used < outlen; i++) {
        const struct rule_report *rp = &rep[i];
        const char *what = rp->outcome == RULE_NO_MATCH  ? "no match"
                           : rp->outcome == RULE_SHADOWED ? "shadowed by"
                                                          : NULL;
        int n;
        if (rp->rule == NULL || what == NULL)
            continue;
        n = snprintf(out + used, outlen - used, "; rule %s: %s%s%s", rp->rule, what,
                     rp->detail && rp->detail[0] ? (rp->outcome == RULE_SHADOWED ? " " : ": ") : "",
                     rp->detail ? rp->detail : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used + 1 < outlen)
        snprintf(out + used, outlen - used, ")");
}

/* Runs one case; 1 pass, 0 fail (why says why). */
static int run_case(struct runner *r, const char *path, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *c = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *v, *expect, *expect_error;
    struct container *ct = NULL;
    struct rule_report *rep = NULL;
    struct enr_error err = {0};
    struct resource_list got;
    char *rules_dir = NULL;
    const char *key;
    int pass = 0, rc;

    resource_list_init(&got);
    if (c == NULL) {
        snprintf(why, whylen, "line %d: %s", jerr.line, jerr.text);
        return 0;
    }
    if (!json_is_object(c)) {
        snprintf(why, whylen, "a case is a JSON object");
        goto out;
    }
    json_object_foreach(c, key, v) {
        if (!known_key(CASE_KEYS, key)) {
            snprintf(why, whylen, "unknown field '%s'", key);
            goto out;
        }
    }
    expect = json_object_get(c, "expect");
    expect_error = json_object_get(c, "expect_error");
    if ((expect == NULL) == (expect_error == NULL) || (expect && !json_is_array(expect)) ||
        (expect_error && !json_is_string(expect_error))) {
        snprintf(why, whylen, "give exactly one of \"expect\" (a list) or \"expect_error\" (a string)");
        goto out;
    }
    if (r->rules_override != NULL)
        rules_dir = strdup(r->rules_override);
    else if (json_is_string(json_object_get(c, "rules")))
        rules_dir = relative_to(path, json_string_value(json_object_get(c, "rules")));
    else {
        snprintf(why, whylen, "no rules dir: give \"rules\" in the case or --rules DIR");
        goto out;
    }
    if (rules_dir == NULL || rules_for(r, rules_dir, why, whylen) == NULL ||
        (ct = load_container(c, path, why, whylen)) == NULL)
        goto out;
    rc = rule_eval_explain(r->rules, ct, &rep, &err);
    if (expect_error != NULL) {
        if (rc == 0)
            snprintf(why, whylen, "expected an error containing \"%s\"; the rules succeeded",
                     json_string_value(expect_error));
        else if (strstr(err.msg, json_string_value(expect_error)) == NULL)
            snprintf(why, whylen, "error \"%s\" does not contain \"%s\"", err.msg, json_string_value(expect_error));
        else
            pass = 1;
        goto out;
    }
    if (rc < 0) {
        snprintf(why, whylen, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < rule_set_count(r->rules); i++)
        for (size_t j = 0; j < rep[i].resources.len; j++) {
            struct resource copy;
            if (resource_copy(&copy, &rep[i].resources.items[j]) < 0) {
                snprintf(why, whylen, "out of memory");
                goto out;
            }
            if (resource_list_take(&got, &copy) < 0) {
                resource_cleanup(&copy);
                snprintf(why, whylen, "out of memory");
                goto out;
            }
        }
    /* every expected resource is produced, and nothing else */
    for (size_t i = 0; i < json_array_size(expect); i++) {
        json_t *w = json_array_get(expect, i);
        const char *name = json_string_value(json_object_get(w, "name"));
        const char *kind = json_string_value(json_object_get(w, "kind"));
        enum resource_kind k = kind && strcmp(kind, "db") == 0 ? RESOURCE_DB : RESOURCE_APP;
        size_t j;
        if (!json_is_object(w) || name == NULL) {
            snprintf(why, whylen, "expect[%zu]: an object with a \"name\"", i + 1);
            goto out;
        }
        for (j = 0; j < got.len; j++)
            if (got.items[j].kind == k && strcmp(got.items[j].name, name) == 0)
                break;
        if (j == got.len) {
            int n = snprintf(why, whylen, "expected %s '%s' was not produced (got %zu resource%s",
                             k == RESOURCE_DB ? "db" : "app", name, got.len, got.len == 1 ? "" : "s");
            if (n > 0 && (size_t)n < whylen)
                explain_misses(r->rules, rep, why + n, whylen - (size_t)n);
            goto out;
        }
        if (!same(w, &got.items[j], why, whylen))
            goto out;
    }
    for (size_t j = 0; j < got.len; j++) {
        size_t i;
        for (i = 0; i < json_array_size(expect); i++) {
            const char *name = json_string_value(json_object_get(json_array_get(expect, i), "name"));
            if (name && strcmp(name, got.items[j].name) == 0)
                break;
        }
        if (i == json_array_size(expect)) {
            snprintf(why, whylen, "rule '%s' produced unexpected %s '%s' (uri %s)", got.items[j].rule,
                     got.items[j].kind == RESOURCE_DB ? "db" : "app", got.items[j].name, got.items[j].uri);
            goto out;
        }
    }
    pass = 1;
out:
    if (rep != NULL)
        rule_eval_report_free(rep, rule_set_count(r->rules));
    resource_list_cleanup(&got);
    container_free(ct);
    free(rules_dir);
    json_decref(c);
    return pass;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_case_file(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 10 && strcmp(name + n - 10, ".case.json") == 0;
}

int cmd_test_rules(const char *cases, const char *rules_dir, const char *lua_dir, FILE *out)
{
    struct runner r = {.rules_override = rules_dir, .lua_dir = lua_dir, .out = out};
    struct stat st;
    char **files = NULL;
    size_t n = 0, cap = 0, failed = 0;
    int rc = 2;

    if (stat(cases, &st) < 0) {
        fprintf(stderr, "enroller: test-rules: %s: %s\n", cases, strerror(errno));
        return 2;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(cases);
        struct dirent *e;
        if (d == NULL) {
            fprintf(stderr, "enroller: test-rules: %s: %s\n", cases, strerror(errno));
            return 2;
        }
        while ((e = readdir(d)) != NULL) {
            if (!is_case_file(e->d_name))
                continue;
            if (n == cap) {
                char **nf = realloc(files, (cap = cap ? cap * 2 : 16) * sizeof(*nf));
                if (nf == NULL)
                    break;
                files = nf;
            }
            if (asprintf(&files[n], "%s/%s", cases, e->d_name) < 0)
                break;
            n++;
        }
        closedir(d);
        if (n > 0)
            qsort(files, n, sizeof(*files), cmp_str);
    } else if ((files = malloc(sizeof(*files))) != NULL && (files[0] = strdup(cases)) != NULL) {
        n = 1;
    }
    if (n == 0) {
        fprintf(stderr, "enroller: test-rules: no *.case.json files in %s\n", cases);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char why[1024] = "";
        if (run_case(&r, files[i], why, sizeof(why)))
            fprintf(out, "PASS %s\n", files[i]);
        else {
            fprintf(out, "FAIL %s: %s\n", files[i], why);
            failed++;
        }
    }
    fprintf(out, "test-rules: %zu passed, %zu failed\n", n - failed, failed);
    rc = failed ? 1 : 0;
out:
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    rule_set_free(r.rules);
    free(r.loaded_dir);
    return rc;
}
