/*
 * test_docker_list.c - the streaming `GET /containers/json` parser: ids and
 * per-entry hashes, the same whatever pieces the body arrives in; the hash
 * ignores only the entry's own "Status"; malformed answers are one line.
 */
#include <errno.h>
#include <stdint.h>

#include "docker/docker_list.h"
#include "test.h"

struct parsed {
    int rc;
    size_t n;
    char ids[4][80];
    uint64_t hashes[4];
    char msg[600];
};

/* Parses body fed in pieces of `step` bytes (0: all at once). */
static struct parsed parse(const char *body, size_t step)
{
    struct parsed out = {0};
    struct docker_list l;
    struct enr_error err = {0};
    size_t len = strlen(body), off = 0;

    ASSERT_EQ(docker_list_init(&l, "GET /containers/json", &err), 0);
    out.rc = 0;
    while (out.rc == 0 && off < len) {
        size_t n = step && step < len - off ? step : len - off;
        out.rc = docker_list_feed(&l, body + off, n, &err);
        off += n;
    }
    if (out.rc == 0)
        out.rc = docker_list_finish(&l, &err);
    if (out.rc == 0) {
        out.n = l.n;
        for (size_t i = 0; i < l.n && i < 4; i++) {
            snprintf(out.ids[i], sizeof(out.ids[i]), "%s", l.ids[i]);
            out.hashes[i] = l.hashes[i];
        }
    } else {
        snprintf(out.msg, sizeof(out.msg), "%s", err.msg);
    }
    docker_list_cleanup(&l);
    return out;
}

static uint64_t hash_of(const char *entry)
{
    char body[1024];
    snprintf(body, sizeof(body), "[%s]", entry);
    struct parsed p = parse(body, 0);
    ASSERT_EQ(p.rc, 0);
    ASSERT_EQ(p.n, 1);
    return p.hashes[0];
}

static void test_ids_and_pieces(void)
{
    const char *body =
        "[{\"Id\":\"aaa\",\"Names\":[\"/one\"],\"Image\":\"rabbitmq:3\",\"Labels\":{\"k\":\"v\"},"
        "\"Status\":\"Up 5 minutes\",\"Created\":1700000000,\"Ports\":[],\"X\":null,\"Y\":true},"
        " {\"Names\":[\"/two\"],\"Id\":\"bbb\",\"State\":\"running\",\"Status\":{\"nested\":[1,2]}},\n"
        "{\"Id\":\"c\\u0063c\",\"N\":-1.5e3}]";
    struct parsed whole = parse(body, 0);
    ASSERT_EQ(whole.rc, 0);
    ASSERT_EQ(whole.n, 3);
    ASSERT_STREQ(whole.ids[0], "aaa");
    ASSERT_STREQ(whole.ids[1], "bbb");
    ASSERT_STREQ(whole.ids[2], "ccc");   /* escapes decoded */
    ASSERT_TRUE(whole.hashes[0] != whole.hashes[1] && whole.hashes[1] != whole.hashes[2]);
    /* Any split of the body gives the same answer. */
    for (size_t step = 1; step <= 17; step++) {
        struct parsed p = parse(body, step);
        ASSERT_EQ(p.rc, 0);
        ASSERT_EQ(p.n, 3);
        for (size_t i = 0; i < 3; i++) {
            ASSERT_STREQ(p.ids[i], whole.ids[i]);
            ASSERT_EQ(p.hashes[i], whole.hashes[i]);
        }
    }
    struct parsed empty = parse("[]", 0);
    ASSERT_EQ(empty.rc, 0);
    ASSERT_EQ(empty.n, 0);
}

static void test_hash_sees_all_but_status(void)
{
    uint64_t base = hash_of("{\"Id\":\"a\",\"Status\":\"Up 1 second\",\"Labels\":{\"k\":\"v\"},\"Port\":1}");

    /* Status text (uptime), scalar or not, is not part of the hash. */
    ASSERT_EQ(hash_of("{\"Id\":\"a\",\"Status\":\"Up 3 hours\",\"Labels\":{\"k\":\"v\"},\"Port\":1}"), base);
    ASSERT_EQ(hash_of("{\"Id\":\"a\",\"Status\":{\"x\":[1]},\"Labels\":{\"k\":\"v\"},\"Port\":1}"), base);
    ASSERT_EQ(hash_of("{\"Id\":\"a\",\"Labels\":{\"k\":\"v\"},\"Port\":1}"), base);
    /* Everything else is. */
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"Status\":\"Up\",\"Labels\":{\"k\":\"w\"},\"Port\":1}") != base);
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"Status\":\"Up\",\"Labels\":{\"k\":\"v\"},\"Port\":2}") != base);
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"Status\":\"Up\",\"Labels\":{\"k\":\"v\"},\"Port\":\"1\"}") != base);
    ASSERT_TRUE(hash_of("{\"Id\":\"b\",\"Status\":\"Up\",\"Labels\":{\"k\":\"v\"},\"Port\":1}") != base);
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"Status\":\"Up\",\"Labels\":{\"k\":\"v\"},\"Port\":1,\"New\":null}") !=
                base);
    /* A "Status" deeper inside the entry is ordinary data. */
    uint64_t deep = hash_of("{\"Id\":\"a\",\"Labels\":{\"Status\":\"x\"}}");
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"Labels\":{\"Status\":\"y\"}}") != deep);
    /* Structure counts: [1],[2] is not [1,2]. */
    ASSERT_TRUE(hash_of("{\"Id\":\"a\",\"P\":[[1],[2]]}") != hash_of("{\"Id\":\"a\",\"P\":[[1,2]]}"));
}

static void test_bad_answers(void)
{
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"", "GET /containers/json: expected a JSON array"},
        {"{}", "GET /containers/json: expected a JSON array"},
        {"\"x\"", "GET /containers/json: expected a JSON array"},
        {"[1]", "GET /containers/json: item 0: not an object"},
        {"[{\"Id\":\"a\"},[]]", "GET /containers/json: item 1: not an object"},
        {"[{\"Names\":[]}]", "GET /containers/json: item 0: Id missing or not a string"},
        {"[{\"Id\":7}]", "GET /containers/json: item 0: Id missing or not a string"},
        {"[{\"Id\":\"\"}]", "GET /containers/json: item 0: Id missing or not a string"},
        {"[{\"Id\":{\"a\":1}}]", "GET /containers/json: item 0: Id missing or not a string"},
        {"[{\"Id\":\"a\",\"Id\":\"b\"}]", "GET /containers/json: item 0: Id given twice"},
        {"[{\"Id\":\"a\"}", "GET /containers/json: expected a JSON array"},
        {"[{\"Id\":\"a\"}] x", "GET /containers/json: expected a JSON array"},
        {"[{\"Id\":\"a\"}][]", "GET /containers/json: expected a JSON array"},
        {"[{\"Id\":\"a\",}]", "GET /containers/json: expected a JSON array"},
        {"[{\"Id\":\"a\xff\"}]", "GET /containers/json: expected a JSON array"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t step = 0; step <= 3; step++) {
            struct parsed p = parse(cases[i].body, step);
            if (p.rc != -EPROTO || strncmp(p.msg, cases[i].msg, strlen(cases[i].msg)) != 0) {
                fprintf(stderr, "case %zu (%s) step %zu: rc %d msg \"%s\", want \"%s\"\n", i, cases[i].body,
                        step, p.rc, p.msg, cases[i].msg);
                exit(1);
            }
            ASSERT_TRUE(strchr(p.msg, '\n') == NULL);
        }
    }
}

int main(void)
{
    test_ids_and_pieces();
    test_hash_sees_all_but_status();
    test_bad_answers();
    return 0;
}
