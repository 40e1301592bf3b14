/*
 * test_container.c - container_from_inspect() against recorded `docker
 * inspect` documents (spec/fixtures/docker, see its README) and bad inputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/container.h"
#include "test.h"

static char *read_fixture(const char *name, size_t *len)
{
    char rel[512];

    snprintf(rel, sizeof(rel), "spec/fixtures/docker/%s", name);
    return test_read_source_file(rel, len);
}

static struct container *load(const char *name)
{
    struct enr_error err = {0};
    size_t len;
    char *json = read_fixture(name, &len);
    struct container *c = container_from_inspect(json, len, &err);
    if (c == NULL) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
    free(json);
    return c;
}

/* Expects failure; returns the message for further checks. */
static void expect_fail(const char *json, const char *want)
{
    struct enr_error err = {0};
    struct container *c = container_from_inspect(json, strlen(json), &err);
    if (c != NULL) {
        fprintf(stderr, "expected failure for %s\n", json);
        exit(1);
    }
    ASSERT_EQ(err.code, -EINVAL);
    ASSERT_CONTAINS(err.msg, want);
}

static const struct container_network *net(const struct container *c, const char *name)
{
    for (size_t i = 0; i < c->n_networks; i++)
        if (strcmp(c->networks[i].name, name) == 0)
            return &c->networks[i];
    return NULL;
}

static void test_rabbitmq(void)
{
    struct container *c = load("inspect_rabbitmq.json");

    ASSERT_STREQ(c->id, "0c661a22bc6e9e29e1f7eeedb4d5901679661809b8a99d809cbfa0ceca584c88");
    ASSERT_STREQ(c->name, "rabbitmq");
    ASSERT_STREQ(c->image, "rabbitmq:3-management");
    ASSERT_STREQ(c->image_id,
                 "sha256:30469ec4e298a774d4f1229cf003ac779778c80c46ec75546f367c5bd6ab32b1");
    ASSERT_STREQ(c->hostname, "rabbit-1");
    ASSERT_EQ(c->labels.len, 2);
    ASSERT_STREQ(kv_get(&c->labels, "app"), "rabbitmq");
    ASSERT_STREQ(kv_get(&c->labels, "team"), "infra");
    ASSERT_EQ(c->n_networks, 1);
    ASSERT_STREQ(c->networks[0].name, "enroller-test");
    ASSERT_STREQ(c->networks[0].ip, "10.213.181.2");
    ASSERT_STREQ(c->networks[0].ipv6, "");
    ASSERT_STREQ(c->networks[0].aliases_0, "rabbit");
    ASSERT_EQ(c->n_ports, 2);
    ASSERT_EQ(c->ports[0].port, 5672);
    ASSERT_STREQ(c->ports[0].proto, "tcp");
    ASSERT_EQ(c->ports[0].host_port, 0);
    ASSERT_STREQ(c->ports[0].host_ip, "");
    ASSERT_EQ(c->ports[1].port, 15672);
    ASSERT_STREQ(c->state, "running");
    ASSERT_STREQ(c->health, "");
    /* 2026-11-24T14:21:36.052873721Z and .312893387Z */
    ASSERT_EQ(c->created, 1795530096);
    ASSERT_EQ(c->started, 1795530096);
    ASSERT_TRUE(c->hash != 0);
    container_free(c);
}

static void test_odd_labels(void)
{
    struct container *c = load("inspect_odd_labels.json");

    ASSERT_STREQ(c->name, "odd-labels");
    ASSERT_STREQ(kv_get(&c->labels, "enroller.dev/app"), "yes");
    ASSERT_STREQ(kv_get(&c->labels, "quote"), "\"double\" and 'single'");
    ASSERT_STREQ(kv_get(&c->labels, "unicode"), "\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd k\xc5\xaf\xc5\x88 \xf0\x9f\x90\x87");
    ASSERT_STREQ(kv_get(&c->labels, "empty"), "");
    ASSERT_STREQ(kv_get(&c->labels, "tab"), "a\tb");
    ASSERT_STREQ(kv_get(&c->labels, "backslash"), "C:\\path\\to");
    ASSERT_STREQ(kv_get(&c->labels, "json"), "{\"a\":[1,2]}");
    ASSERT_EQ(c->labels.len, 7);
    ASSERT_EQ(c->n_ports, 0);
    container_free(c);
}

static void test_two_nets(void)
{
    struct container *c = load("inspect_two_nets.json");

    ASSERT_EQ(c->n_networks, 2);
    /* sorted by name */
    ASSERT_STREQ(c->networks[0].name, "enroller-pub");
    ASSERT_STREQ(c->networks[1].name, "enroller-test");
    ASSERT_STREQ(net(c, "enroller-test")->ip, "10.213.181.4");
    ASSERT_STREQ(net(c, "enroller-test")->aliases_0, "web");
    ASSERT_STREQ(net(c, "enroller-pub")->ip, "10.214.7.2");
    ASSERT_STREQ(net(c, "enroller-pub")->aliases_0, "380630e9621b");
    container_free(c);
}

static void test_no_network(void)
{
    struct container *c = load("inspect_no_network.json");

    ASSERT_EQ(c->n_networks, 1);
    ASSERT_STREQ(c->networks[0].name, "none");
    ASSERT_STREQ(c->networks[0].ip, "");
    ASSERT_STREQ(c->networks[0].aliases_0, "");
    container_free(c);
}

static void test_healthy(void)
{
    struct container *c = load("inspect_healthy.json");
    ASSERT_STREQ(c->health, "healthy");
    ASSERT_STREQ(c->state, "running");
    container_free(c);
}

static void test_published(void)
{
    struct container *c = load("inspect_published.json");

    ASSERT_EQ(c->n_ports, 3);
    ASSERT_EQ(c->ports[0].port, 8080);
    ASSERT_STREQ(c->ports[0].proto, "tcp");
    ASSERT_EQ(c->ports[0].host_port, 18080);
    ASSERT_STREQ(c->ports[0].host_ip, "127.0.0.1");
    ASSERT_EQ(c->ports[1].port, 8443);
    ASSERT_EQ(c->ports[1].host_port, 18443);
    ASSERT_EQ(c->ports[2].port, 9090);
    ASSERT_STREQ(c->ports[2].proto, "udp");
    ASSERT_EQ(c->ports[2].host_port, 0);
    ASSERT_STREQ(c->ports[2].host_ip, "");
    container_free(c);
}

static void test_created_only(void)
{
    struct container *c = load("inspect_created_only.json");
    ASSERT_STREQ(c->state, "created");
    ASSERT_EQ(c->started, 0);
    ASSERT_EQ(c->created, 1795530097);
    ASSERT_STREQ(c->networks[0].ip, "");
    container_free(c);
}

/* The hash changes with every field and is stable for equal input. */
static void test_hash(void)
{
    struct container *a = load("inspect_rabbitmq.json");
    struct container *b = load("inspect_rabbitmq.json");
    struct container *o = load("inspect_odd_labels.json");
    ASSERT_TRUE(a->hash == b->hash);
    ASSERT_TRUE(a->hash != o->hash);
    container_free(a);
    container_free(b);
    container_free(o);

    static const char *const variants[] = {
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{}}",
        "{\"Id\":\"b\",\"Name\":\"/n\",\"Config\":{}}",
        "{\"Id\":\"a\",\"Name\":\"/m\",\"Config\":{}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"Image\":\"x\"}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"Hostname\":\"x\"}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"Labels\":{\"k\":\"v\"}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"Labels\":{\"k\":\"w\"}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"Labels\":{\"kv\":\"\"}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"ExposedPorts\":{\"80/tcp\":{}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{\"ExposedPorts\":{\"80/udp\":{}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"Image\":\"sha256:1\"}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"State\":{\"Status\":\"running\"}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"State\":{\"Health\":{\"Status\":\"healthy\"}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"Created\":\"2020-01-01T00:00:00Z\"}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"State\":{\"StartedAt\":\"2020-01-01T00:00:00Z\"}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":{}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":{\"IPAddress\":\"1.2.3.4\"}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":{\"GlobalIPv6Address\":\"::1\"}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":{\"Aliases\":[\"q\"]}}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8080\"}]}}}",
        "{\"Id\":\"a\",\"Name\":\"/n\",\"Config\":{},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8081\"}]}}}",
    };
    size_t n = sizeof(variants) / sizeof(variants[0]);
    uint64_t hashes[sizeof(variants) / sizeof(variants[0])];
    for (size_t i = 0; i < n; i++) {
        struct enr_error err = {0};
        struct container *c = container_from_inspect(variants[i], strlen(variants[i]), &err);
        if (c == NULL) {
            fprintf(stderr, "variant %zu: %s\n", i, err.msg);
            exit(1);
        }
        hashes[i] = c->hash;
        container_free(c);
        for (size_t j = 0; j < i; j++) {
            if (hashes[j] == hashes[i]) {
                fprintf(stderr, "variants %zu and %zu hash alike\n", j, i);
                exit(1);
            }
        }
    }
}

static void test_times(void)
{
    struct {
        const char *t;
        long long want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:01.5Z", 1},
        {"2000-02-29T12:00:00.123456789Z", 951825600},
        {"2026-11-24T16:21:36+02:00", 1795530096},
        {"2026-11-24T13:21:36.1-01:00", 1795530096},
        {"0001-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[256];
        struct enr_error err = {0};
        snprintf(json, sizeof(json), "{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"Created\":\"%s\"}",
                 cases[i].t);
        struct container *c = container_from_inspect(json, strlen(json), &err);
        if (c == NULL) {
            fprintf(stderr, "%s: %s\n", cases[i].t, err.msg);
            exit(1);
        }
        ASSERT_EQ(c->created, cases[i].want);
        ASSERT_STREQ(c->name, "n");
        container_free(c);
    }
    static const char *const bad[] = {
        "2026-11-24", "2026-11-24T14:21:36", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-24T14:21:36.Z", "2026-11-24T14:21:36.1234567890Z", "2026-11-24T14:21:36Zjunk",
        "2026-11-24T25:00:00Z", "x026-11-24T14:21:36Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"State\":{\"StartedAt\":\"%s\"}}",
                 bad[i]);
        expect_fail(json, "State.StartedAt: not an RFC 3339 time");
    }
}

static void test_bad_inputs(void)
{
    expect_fail("", "bad JSON");
    expect_fail("not json", "bad JSON");
    expect_fail("{\"Id\":\"a\",", "bad JSON");
    expect_fail("[{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{}}]", "expected an object, got array");
    expect_fail("{\"Name\":\"n\",\"Config\":{}}", "Id: missing");
    expect_fail("{\"Id\":\"\",\"Name\":\"n\",\"Config\":{}}", "Id: expected a non-empty string");
    expect_fail("{\"Id\":42,\"Name\":\"n\",\"Config\":{}}", "Id: expected a non-empty string");
    expect_fail("{\"Id\":\"a\",\"Config\":{}}", "Name: missing");
    expect_fail("{\"Id\":\"a\",\"Name\":null,\"Config\":{}}", "Name: expected string");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\"}", "Config: missing");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":[]}", "Config: expected object");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{\"Image\":1}}",
                "Config.Image: expected string, got integer");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{\"Labels\":[]}}",
                "Config.Labels: expected object, got array");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{\"Labels\":{\"k\":true}}}",
                "Config.Labels.k: expected string, got boolean");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{\"ExposedPorts\":{\"http\":{}}}}",
                "Config.ExposedPorts: bad port \"http\"");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{\"ExposedPorts\":{\"70000/tcp\":{}}}}",
                "bad port");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":{\"IPAddress\":5}}}}",
                "NetworkSettings.Networks.x.IPAddress: expected string, got integer");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"x\":\"y\"}}}",
                "NetworkSettings.Networks.x: expected object, got string");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"NetworkSettings\":{\"Networks\":{\"a\":{},\"x\":{\"Aliases\":\"q\"}}}}",
                "NetworkSettings.Networks.x.Aliases: expected array");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostPort\":\"99999\"}]}}}",
                "NetworkSettings.Ports.80/tcp[0].HostPort: expected port string");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":{}}}}",
                "NetworkSettings.Ports.80/tcp: expected array, got object");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"State\":\"running\"}",
                "State: expected object, got string");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"State\":{\"Health\":{\"Status\":3}}}",
                "State.Health.Status: expected string, got integer");
    expect_fail("{\"Id\":\"a\",\"Name\":\"n\",\"Config\":{},\"Created\":12}",
                "Created: expected string, got integer");

    /* NULL err is tolerated. */
    ASSERT_TRUE(container_from_inspect("[]", 2, NULL) == NULL);
}

/* A 4 MiB label value and 2000 labels survive intact. */
static void test_huge_labels(void)
{
    size_t vlen = 4u << 20, cap = vlen + 2000 * 40 + 256, off = 0;
    char *json = malloc(cap);
    struct enr_error err = {0};
    struct container *c;

    ASSERT_TRUE(json != NULL);
    off += (size_t)snprintf(json + off, cap - off,
                            "{\"Id\":\"a\",\"Name\":\"/big\",\"Config\":{\"Labels\":{\"big\":\"");
    memset(json + off, 'v', vlen);
    off += vlen;
    off += (size_t)snprintf(json + off, cap - off, "\"");
    for (int i = 0; i < 2000; i++)
        off += (size_t)snprintf(json + off, cap - off, ",\"l%04d\":\"x%d\"", i, i);
    off += (size_t)snprintf(json + off, cap - off, "}}}");
    ASSERT_TRUE(off < cap);
    c = container_from_inspect(json, off, &err);
    if (c == NULL) {
        fprintf(stderr, "huge: %s\n", err.msg);
        exit(1);
    }
    ASSERT_EQ(c->labels.len, 2001);
    ASSERT_EQ(strlen(kv_get(&c->labels, "big")), vlen);
    ASSERT_STREQ(kv_get(&c->labels, "l1999"), "x1999");
    container_free(c);
    free(json);
}

int main(void)
{
    container_free(NULL);
    test_rabbitmq();
    test_odd_labels();
    test_two_nets();
    test_no_network();
    test_healthy();
    test_published();
    test_created_only();
    test_hash();
    test_times();
    test_bad_inputs();
    test_huge_labels();
    printf("test_container: ok\n");
    return 0;
}
