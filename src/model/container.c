/*
 * container.c - a container snapshot from one `docker inspect` document.
 *
 * Only the fields rules and the planner use are kept (see container.h).
 * Parsing is strict about types: a field that is present with the wrong type
 * is an error naming the field, because a half-read container would be
 * "unknown", not a smaller container.  JSON null counts as absent, which is
 * how Docker writes empty maps (Config.Labels, NetworkSettings.Ports, ...).
 */
#include "model/container.h"
#include "base/hash.h"
#include "base/intern.h"
#include "base/json_pick.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mix_u64(uint64_t *h, uint64_t v)
{
    *h = hash64_u64(*h, v);
}

static void mix_str(uint64_t *h, const char *s)
{
    *h = hash64_str(*h, s);
}

static uint64_t snapshot_hash(const struct container *c)
{
    uint64_t h = HASH_INIT;

    mix_str(&h, c->id);
    mix_str(&h, c->name);
    mix_str(&h, c->image);
    mix_str(&h, c->image_id);
    mix_str(&h, c->hostname);
    mix_u64(&h, c->labels.len);
    for (size_t i = 0; i < c->labels.len; i++) {
        mix_str(&h, c->labels.items[i].key);
        mix_str(&h, c->labels.items[i].value);
    }
    mix_u64(&h, c->n_networks);
    for (size_t i = 0; i < c->n_networks; i++) {
        mix_str(&h, c->networks[i].name);
        mix_str(&h, c->networks[i].ip);
        mix_str(&h, c->networks[i].ipv6);
        mix_str(&h, c->networks[i].aliases_0);
    }
    mix_u64(&h, c->n_ports);
    for (size_t i = 0; i < c->n_ports; i++) {
        mix_u64(&h, c->ports[i].port);
        mix_str(&h, c->ports[i].proto);
        mix_u64(&h, c->ports[i].host_port);
        mix_str(&h, c->ports[i].host_ip);
    }
    mix_str(&h, c->state);
    mix_str(&h, c->health);
    mix_u64(&h, (uint64_t)c->created);
    mix_u64(&h, (uint64_t)c->started);
    return h;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* The string at obj[key] (not copied; "" when absent or null). */
static int peek_str(const json_t *obj, const char *key, const char *path, const char **out,
                    struct enr_error *err)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    const char *s = "";

    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "inspect: %s: expected string, got %s", path,
                           json_type_name(v));
        s = json_string_value(v);
    }
    *out = s;
    return 0;
}

/* *out = the string at obj[key] interned; "" when absent or null. */
static int get_str(const json_t *obj, const char *key, const char *path, const char **out,
                   struct enr_error *err)
{
    const char *s = "";
    int rc = peek_str(obj, key, path, &s, err);

    if (rc < 0)
        return rc;
    if ((*out = intern_get(s)) == NULL)
        return err_set(err, -ENOMEM, "inspect: %s: out of memory", path);
    return 0;
}

/* obj[key] as an object, NULL when absent or null. */
static int get_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                   struct enr_error *err)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return err_set(err, -EINVAL, "inspect: %s: expected object, got %s", path,
                       json_type_name(v));
    *out = v;
    return 0;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/*
 * RFC 3339 ("2026-11-24T14:21:37.452778481Z", "...+02:00") to unix seconds;
 * the fraction (1-9 digits, Docker trims trailing zeros) is dropped.  Docker's
 * zero time "0001-01-01T00:00:00Z" (never started) gives 0.
 */
static int parse_time(const char *s, int64_t *out)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
    const char *p;

    if (strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
        s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            n++;
        if (n < 1 || n > 9)
            return -1;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
        return -1;
    if ((unsigned)D > mdays[M - 1] + (M == 2 && is_leap(Y)))
        return -1;
    if (Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && sec == 0 && sign == 0) {
        *out = 0;
        return 0;
    }
    *out = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec -
           sign * (oh * 3600 + om * 60);
    return 0;
}

static int get_time(const json_t *obj, const char *key, const char *path, int64_t *out,
                    struct enr_error *err)
{
    const char *s = NULL;
    int rc = peek_str(obj, key, path, &s, err);

    *out = 0;
    if (rc < 0)
        return rc;
    if (*s != '\0' && parse_time(s, out) < 0)
        rc = err_set(err, -EINVAL, "inspect: %s: not an RFC 3339 time: \"%.64s\"", path, s);
    return rc;
}

static int get_labels(const json_t *config, struct kv_list *labels, struct enr_error *err)
{
    json_t *obj, *v;
    const char *key;
    int rc;

    if ((rc = get_obj(config, "Labels", "Config.Labels", &obj, err)) < 0)
        return rc;
    json_object_foreach(obj, key, v) {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "inspect: Config.Labels.%.64s: expected string, got %s",
                           key, json_type_name(v));
        if (kv_set(labels, key, json_string_value(v)) < 0)
            return err_set(err, -ENOMEM, "inspect: Config.Labels: out of memory");
    }
    kv_compact(labels);
    return 0;
}

static int network_cmp(const void *a, const void *b)
{
    return strcmp(((const struct container_network *)a)->name,
                  ((const struct container_network *)b)->name);
}

/* *out = net[key] interned ("" when absent or null); the field's path
 * (NetworkSettings.Networks.<name>.<key>) is only formatted for a message. */
static int get_net_str(const json_t *net, const char *name, const char *key, const char **out,
                       struct enr_error *err)
{
    const json_t *v = json_object_get(net, key);
    const char *s = "";

    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "inspect: NetworkSettings.Networks.%.64s.%s: expected string, got %s",
                           name, key, json_type_name(v));
        s = json_string_value(v);
    }
    if ((*out = intern_get(s)) == NULL)
        return err_set(err, -ENOMEM, "inspect: NetworkSettings.Networks.%.64s.%s: out of memory", name, key);
    return 0;
}

/* Fills c->networks, which has room for every member of
 * NetworkSettings.Networks (block_counts). */
static int get_networks(const json_t *root, struct container *c, struct enr_error *err)
{
    json_t *ns, *nets, *net, *aliases, *a0;
    const char *name;
    size_t i = 0;
    int rc;

    if ((rc = get_obj(root, "NetworkSettings", "NetworkSettings", &ns, err)) < 0)
        return rc;
    if ((rc = get_obj(ns, "Networks", "NetworkSettings.Networks", &nets, err)) < 0)
        return rc;
    if (nets == NULL || json_object_size(nets) == 0)
        return 0;
    json_object_foreach(nets, name, net) {
        struct container_network *n = &c->networks[i];

        if (!json_is_object(net))
            return err_set(err, -EINVAL, "inspect: NetworkSettings.Networks.%.64s: expected object, got %s", name,
                           json_type_name(net));
        c->n_networks = ++i; /* counted before filling: container_free sees it */
        if ((n->name = intern_get(name)) == NULL)
            return err_set(err, -ENOMEM, "inspect: NetworkSettings.Networks.%.64s: out of memory", name);
        if ((rc = get_net_str(net, name, "IPAddress", &n->ip, err)) < 0 ||
            (rc = get_net_str(net, name, "GlobalIPv6Address", &n->ipv6, err)) < 0)
            return rc;
        aliases = json_object_get(net, "Aliases");
        a0 = NULL;
        if (aliases != NULL && !json_is_null(aliases)) {
            if (!json_is_array(aliases))
                return err_set(err, -EINVAL,
                               "inspect: NetworkSettings.Networks.%.64s.Aliases: expected array, got %s",
                               name, json_type_name(aliases));
            a0 = json_array_get(aliases, 0);
            if (a0 != NULL && !json_is_string(a0))
                return err_set(err, -EINVAL,
                               "inspect: NetworkSettings.Networks.%.64s.Aliases[0]: expected string, got %s",
                               name, json_type_name(a0));
        }
        if ((n->aliases_0 = intern_get(a0 ? json_string_value(a0) : "")) == NULL)
            return err_set(err, -ENOMEM, "inspect: NetworkSettings.Networks.%.64s.Aliases: out of memory", name);
    }
    qsort(c->networks, c->n_networks, sizeof(*c->networks), network_cmp);
    return 0;
}

/* "8080/tcp" -> 8080, "tcp".  A missing "/proto" means tcp, as in Docker. */
static int parse_port_key(const char *key, unsigned *port, char proto[8])
{
    char *end;
    unsigned long v;
    const char *slash;

    if (*key < '0' || *key > '9')
        return -1;
    v = strtoul(key, &end, 10);
    if (v == 0 || v > 65535)
        return -1;
    slash = end;
    if (*slash == '\0') {
        strcpy(proto, "tcp");
    } else {
        if (*slash != '/' || slash[1] == '\0' || strlen(slash + 1) > 7)
            return -1;
        strcpy(proto, slash + 1);
    }
    *port = (unsigned)v;
    return 0;
}

static int port_cmp(const void *a, const void *b)
{
    const struct container_port *x = a, *y = b;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return strcmp(x->proto, y->proto);
}

/* Index of (port, proto) in c->ports, appending a new unpublished entry when absent. */
static int port_slot(struct container *c, size_t cap, unsigned port, const char *proto,
                     size_t *idx, struct enr_error *err)
{
    for (size_t i = 0; i < c->n_ports; i++) {
        if (c->ports[i].port == port && strcmp(c->ports[i].proto, proto) == 0) {
            *idx = i;
            return 0;
        }
    }
    if (c->n_ports == cap)
        return err_set(err, -EINVAL, "inspect: ports: internal count mismatch");
    struct container_port *p = &c->ports[c->n_ports];
    p->port = port;
    snprintf(p->proto, sizeof(p->proto), "%s", proto);
    p->host_port = 0;
    if ((p->host_ip = intern_get("")) == NULL)
        return err_set(err, -ENOMEM, "inspect: ports: out of memory");
    *idx = c->n_ports++;
    return 0;
}

static int get_ports(const json_t *root, const json_t *config, struct container *c, size_t cap_ports,
                     struct enr_error *err)
{
    json_t *exposed, *ns, *bound, *v, *b0, *hp, *hi;
    const char *key;
    char proto[8];
    unsigned port;
    size_t cap, idx;
    int rc;

    if ((rc = get_obj(config, "ExposedPorts", "Config.ExposedPorts", &exposed, err)) < 0)
        return rc;
    if ((rc = get_obj(root, "NetworkSettings", "NetworkSettings", &ns, err)) < 0)
        return rc;
    if ((rc = get_obj(ns, "Ports", "NetworkSettings.Ports", &bound, err)) < 0)
        return rc;
    cap = json_object_size(exposed) + json_object_size(bound);
    if (cap == 0)
        return 0;
    if (cap > cap_ports) /* counted by block_counts from the same tree */
        return err_set(err, -EINVAL, "inspect: ports: internal count mismatch");

    json_object_foreach(exposed, key, v) {
        if (parse_port_key(key, &port, proto) < 0)
            return err_set(err, -EINVAL, "inspect: Config.ExposedPorts: bad port \"%.32s\"", key);
        if ((rc = port_slot(c, cap, port, proto, &idx, err)) < 0)
            return rc;
    }
    json_object_foreach(bound, key, v) {
        if (parse_port_key(key, &port, proto) < 0)
            return err_set(err, -EINVAL, "inspect: NetworkSettings.Ports: bad port \"%.32s\"", key);
        if ((rc = port_slot(c, cap, port, proto, &idx, err)) < 0)
            return rc;
        if (json_is_null(v))
            continue;
        if (!json_is_array(v))
            return err_set(err, -EINVAL, "inspect: NetworkSettings.Ports.%.32s: expected array, got %s",
                           key, json_type_name(v));
        /* Several bindings (0.0.0.0 and ::) are the same port; the first is kept. */
        b0 = json_array_get(v, 0);
        if (b0 == NULL)
            continue;
        if (!json_is_object(b0))
            return err_set(err, -EINVAL,
                           "inspect: NetworkSettings.Ports.%.32s[0]: expected object, got %s", key,
                           json_type_name(b0));
        hp = json_object_get(b0, "HostPort");
        hi = json_object_get(b0, "HostIp");
        if (hp != NULL && !json_is_null(hp)) {
            const char *s = json_is_string(hp) ? json_string_value(hp) : "x";
            char *end;
            unsigned long n = strtoul(s, &end, 10);
            if (*s == '\0' || *end != '\0' || n > 65535 || *s < '0' || *s > '9')
                return err_set(err, -EINVAL,
                               "inspect: NetworkSettings.Ports.%.32s[0].HostPort: expected port string",
                               key);
            c->ports[idx].host_port = (unsigned)n;
        }
        if (hi != NULL && !json_is_null(hi)) {
            if (!json_is_string(hi))
                return err_set(err, -EINVAL,
                               "inspect: NetworkSettings.Ports.%.32s[0].HostIp: expected string, got %s",
                               key, json_type_name(hi));
            const char *ip = intern_get(json_string_value(hi));
            if (ip == NULL)
                return err_set(err, -ENOMEM, "inspect: ports: out of memory");
            intern_put(c->ports[idx].host_ip);
            c->ports[idx].host_ip = ip;
        }
    }
    qsort(c->ports, c->n_ports, sizeof(*c->ports), port_cmp);
    return 0;
}

/*
 * One allocation holds the snapshot and its arrays: struct container, then
 * the networks, then the ports (both arrays of pointers and integers, so
 * aligned after a struct whose size is a multiple of 8).  At 10,000
 * containers three blocks each cost 0.3 MB more in malloc headers and
 * rounding than one (bench/heap.py).
 */
_Static_assert(sizeof(struct container) % _Alignof(struct container_network) == 0 &&
               sizeof(struct container_network) % _Alignof(struct container_port) == 0,
               "the arrays follow the struct aligned");

/* Room for the members of NetworkSettings.Networks, and of
 * Config.ExposedPorts and NetworkSettings.Ports together (a port in both
 * takes one slot).  A member of the wrong type counts as empty here;
 * get_networks and get_ports name it. */
static void block_counts(const json_t *root, const json_t *config, size_t *n_nets, size_t *cap_ports)
{
    const json_t *ns = json_object_get(root, "NetworkSettings");
    const json_t *nets = json_is_object(ns) ? json_object_get(ns, "Networks") : NULL;
    const json_t *bound = json_is_object(ns) ? json_object_get(ns, "Ports") : NULL;
    const json_t *exposed = json_object_get(config, "ExposedPorts");

    *n_nets = json_is_object(nets) ? json_object_size(nets) : 0;
    *cap_ports = (json_is_object(exposed) ? json_object_size(exposed) : 0) +
                 (json_is_object(bound) ? json_object_size(bound) : 0);
}

static size_t block_size(size_t n_nets, size_t n_ports)
{
    return sizeof(struct container) + n_nets * sizeof(struct container_network) +
           n_ports * sizeof(struct container_port);
}

static void block_point(struct container *c, size_t n_nets, size_t n_ports)
{
    struct container_network *nets = (struct container_network *)(void *)(c + 1);

    c->networks = n_nets ? nets : NULL;
    c->ports = n_ports ? (struct container_port *)(void *)(nets + n_nets) : NULL;
}

/* The members of an inspect answer read here; json_pick skips the rest. */
static const struct json_pick pick_health[] = {{"Status", NULL}, {NULL, NULL}};
static const struct json_pick pick_state[] = {
    {"Status", NULL}, {"StartedAt", NULL}, {"Health", pick_health}, {NULL, NULL}};
static const struct json_pick pick_config[] = {
    {"Image", NULL}, {"Hostname", NULL}, {"Labels", NULL}, {"ExposedPorts", NULL}, {NULL, NULL}};
static const struct json_pick pick_network[] = {
    {"IPAddress", NULL}, {"GlobalIPv6Address", NULL}, {"Aliases", NULL}, {NULL, NULL}};
static const struct json_pick pick_networks[] = {{"*", pick_network}, {NULL, NULL}};
static const struct json_pick pick_net_settings[] = {
    {"Networks", pick_networks}, {"Ports", NULL}, {NULL, NULL}};
static const struct json_pick pick_inspect[] = {
    {"Id", NULL},       {"Name", NULL},  {"Image", NULL},
    {"Created", NULL},  {"Config", pick_config}, {"State", pick_state},
    {"NetworkSettings", pick_net_settings}, {NULL, NULL}};

struct container *container_from_inspect(const char *json, size_t len, struct enr_error *err)
{
    json_t *root = NULL, *config, *state, *health, *v;
    struct container *c = NULL;
    const char *name = NULL, *image = NULL;
    size_t n_nets, cap_ports;
    int rc;

    if ((root = json_pick_parse(json, len, pick_inspect, "inspect", err)) == NULL)
        goto fail;
    if (!json_is_object(root)) {
        err_set(err, -EINVAL, "inspect: expected an object, got %s", json_type_name(root));
        goto fail;
    }
    v = json_object_get(root, "Id");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        err_set(err, -EINVAL, "inspect: Id: %s", v ? "expected a non-empty string" : "missing");
        goto fail;
    }
    v = json_object_get(root, "Name");
    if (!json_is_string(v)) {
        err_set(err, -EINVAL, "inspect: Name: %s", v ? "expected string" : "missing");
        goto fail;
    }
    config = json_object_get(root, "Config");
    if (!json_is_object(config)) {
        err_set(err, -EINVAL, "inspect: Config: %s", config ? "expected object" : "missing");
        goto fail;
    }
    block_counts(root, config, &n_nets, &cap_ports);
    if ((c = calloc(1, block_size(n_nets, cap_ports))) == NULL) {
        err_set(err, -ENOMEM, "inspect: out of memory");
        goto fail;
    }
    kv_init(&c->labels);
    block_point(c, n_nets, cap_ports);

    if ((rc = get_str(root, "Id", "Id", &c->id, err)) < 0 ||
        (rc = peek_str(root, "Name", "Name", &name, err)) < 0)
        goto fail;
    if ((c->name = intern_get(name[0] == '/' ? name + 1 : name)) == NULL) {
        err_set(err, -ENOMEM, "inspect: out of memory");
        goto fail;
    }
    /* Podman names a locally built or imported image "localhost/x:t"; rules
     * see it as Docker would name it, "x:t". */
    if ((rc = peek_str(config, "Image", "Config.Image", &image, err)) < 0)
        goto fail;
    if ((c->image = intern_get(strncmp(image, "localhost/", 10) == 0 ? image + 10 : image)) == NULL) {
        err_set(err, -ENOMEM, "inspect: out of memory");
        goto fail;
    }
    if ((rc = get_str(root, "Image", "Image", &c->image_id, err)) < 0 ||
        (rc = get_str(config, "Hostname", "Config.Hostname", &c->hostname, err)) < 0 ||
        (rc = get_labels(config, &c->labels, err)) < 0 ||
        (rc = get_networks(root, c, err)) < 0 || (rc = get_ports(root, config, c, cap_ports, err)) < 0 ||
        (rc = get_obj(root, "State", "State", &state, err)) < 0 ||
        (rc = get_str(state, "Status", "State.Status", &c->state, err)) < 0 ||
        (rc = get_obj(state, "Health", "State.Health", &health, err)) < 0 ||
        (rc = get_str(health, "Status", "State.Health.Status", &c->health, err)) < 0 ||
        (rc = get_time(root, "Created", "Created", &c->created, err)) < 0 ||
        (rc = get_time(state, "StartedAt", "State.StartedAt", &c->started, err)) < 0)
        goto fail;
    if (c->n_ports < cap_ports) {
        /* A port both exposed and published took one slot of two: give the
         * rest back (a shrink stays in place or moves the whole block). */
        struct container *s = realloc(c, block_size(n_nets, c->n_ports));
        if (s != NULL) {
            c = s;
            block_point(c, n_nets, c->n_ports);
        }
    }
    c->hash = snapshot_hash(c);
    json_decref(root);
    return c;

fail:
    container_free(c);
    json_decref(root);
    return NULL;
}

void container_free(struct container *c)
{
    if (c == NULL)
        return;
    intern_put(c->id);
    intern_put(c->name);
    intern_put(c->image);
    intern_put(c->image_id);
    intern_put(c->hostname);
    kv_cleanup(&c->labels);
    for (size_t i = 0; i < c->n_networks; i++) {
        intern_put(c->networks[i].name);
        intern_put(c->networks[i].ip);
        intern_put(c->networks[i].ipv6);
        intern_put(c->networks[i].aliases_0);
    }
    for (size_t i = 0; i < c->n_ports; i++)
        intern_put(c->ports[i].host_ip);
    intern_put(c->state);
    intern_put(c->health);
    free(c);
}
