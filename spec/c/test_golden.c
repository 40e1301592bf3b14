/* test_golden.c - conformance with Teleport's wire format: every
 * spec/fixtures/golden/NAME.hex the client reads is decoded with the protobuf-c
 * code and teleport_convert, and the fields are checked against the .txt;
 * every request the client sends is encoded from the same values and
 * compared with the golden bytes.
 *
 * Byte-identical: DatabaseV3, ResourceRequest, ListResourcesRequest,
 * CreateTokenV2Request, Watch, and AppV3 once the golden's Expires nanos
 * (500000000; struct resource keeps whole seconds) is cleared.  A message
 * with unknown fields 99/100 (a newer Teleport) decodes with the known
 * fields intact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "teleport/legacy/client/proto/authservice.pb-c.h"
#include "teleport/teleport_convert.h"
#include "test.h"

struct bytes {
    uint8_t *p;
    size_t n;
};

static struct bytes load_hex(const char *name)
{
    char path[1024], line[512];
    const char *root = getenv("ENR_SOURCE_DIR");
    struct bytes b = {NULL, 0};
    size_t cap = 0;
    snprintf(path, sizeof(path), "%s/spec/fixtures/golden/%s.hex", root ? root : ".", name);
    FILE *f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        for (char *c = line; c[0] && c[1] && c[0] != '\n'; c += 2) {
            unsigned v;
            ASSERT_EQ(sscanf(c, "%2x", &v), 1);
            if (b.n == cap) {
                cap = cap ? cap * 2 : 256;
                b.p = realloc(b.p, cap);
                ASSERT_TRUE(b.p != NULL);
            }
            b.p[b.n++] = (uint8_t)v;
        }
    }
    fclose(f);
    ASSERT_TRUE(b.n > 0);
    return b;
}

static void assert_same(const char *what, const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n)
{
    if (got_n != want_n || memcmp(got, want, got_n) != 0) {
        fprintf(stderr, "%s: encoding differs (got %zu bytes, golden %zu)\n  got ", what, got_n, want_n);
        for (size_t i = 0; i < got_n; i++)
            fprintf(stderr, "%02x", got[i]);
        fprintf(stderr, "\n  want ");
        for (size_t i = 0; i < want_n; i++)
            fprintf(stderr, "%02x", want[i]);
        fprintf(stderr, "\n");
        exit(1);
    }
}

static void check_full_app(const struct resource *r)
{
    ASSERT_EQ(r->kind, RESOURCE_APP);
    ASSERT_STREQ(r->name, "rabbitmq-mgmt");
    ASSERT_STREQ(r->description, "RabbitMQ management UI");
    ASSERT_EQ(r->labels.len, 4);
    ASSERT_STREQ(kv_get(&r->labels, "enroller.dev/container"), "rabbitmq-1");
    ASSERT_STREQ(kv_get(&r->labels, "enroller.dev/owner"), "docker-host-1");
    ASSERT_STREQ(kv_get(&r->labels, "enroller.dev/rule"), "rabbitmq");
    ASSERT_STREQ(kv_get(&r->labels, "teleport.dev/origin"), "dynamic");
    ASSERT_EQ(r->expires, 1767225600);
    ASSERT_STREQ(r->revision, "3f1c9a52-7d1e-4c2b-9a6e-0b8d2f4e6a11");
    ASSERT_STREQ(r->uri, "http://172.17.0.2:15672");
    ASSERT_STREQ(r->public_addr, "rabbitmq.example.com");
    ASSERT_EQ(r->insecure_skip_verify, 1);
    ASSERT_EQ(resource_opts(r)->n_rewrite_redirect, 1);
    ASSERT_STREQ(resource_opts(r)->rewrite_redirect[0], "localhost");
    ASSERT_EQ(resource_opts(r)->n_rewrite_headers, 2);
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[0].name, "X-Forwarded-Proto");
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[0].value, "https");
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[1].name, "Host");
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[1].value, "rmq");
}

static void test_app(void)
{
    struct bytes g = load_hex("AppV3");
    Types__AppV3 *a = types__app_v3__unpack(NULL, g.n, g.p);
    struct resource r;
    uint8_t *mine = NULL, *canon = NULL;
    size_t mine_n = 0, canon_n;

    ASSERT_TRUE(a != NULL);
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app(a, NULL, &r), 0);
    check_full_app(&r);
    /* Encode the same values: equal to the golden bytes with nanos cleared. */
    ASSERT_EQ(teleport_convert_pack_app(&r, &mine, &mine_n), 0);
    ASSERT_EQ(a->metadata->expires->nanos, 500000000);
    a->metadata->expires->nanos = 0;
    canon_n = types__app_v3__get_packed_size(a);
    canon = malloc(canon_n);
    types__app_v3__pack(a, canon);
    assert_same("AppV3", mine, mine_n, canon, canon_n);
    free(mine);
    free(canon);
    resource_cleanup(&r);
    types__app_v3__free_unpacked(a, NULL);
    free(g.p);
}

static void test_app_list_and_unknown_fields(void)
{
    struct bytes g = load_hex("AppV3List");
    Types__AppV3List *l = types__app_v3_list__unpack(NULL, g.n, g.p);
    struct resource r;
    ASSERT_TRUE(l != NULL);
    ASSERT_EQ(l->n_apps, 2);
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app(l->apps[0], NULL, &r), 0);
    check_full_app(&r);
    resource_cleanup(&r);
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app(l->apps[1], NULL, &r), 0);
    ASSERT_STREQ(r.name, "echo");
    ASSERT_STREQ(r.uri, "http://127.0.0.1:8080");
    ASSERT_EQ(r.expires, 0);
    ASSERT_EQ(r.labels.len, 1);
    resource_cleanup(&r);
    types__app_v3_list__free_unpacked(l, NULL);
    free(g.p);

    g = load_hex("AppV3_unknown_fields");
    Types__AppV3 *a = types__app_v3__unpack(NULL, g.n, g.p);
    ASSERT_TRUE(a != NULL);
    ASSERT_TRUE(a->base.n_unknown_fields >= 1); /* 99 at the top level: skipped, kept aside */
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app(a, NULL, &r), 0);
    ASSERT_STREQ(r.name, "future-app");
    ASSERT_STREQ(r.revision, "r1");
    ASSERT_STREQ(kv_get(&r.labels, "enroller.dev/owner"), "docker-host-1");
    ASSERT_STREQ(r.uri, "http://127.0.0.1:9000");
    ASSERT_EQ(r.insecure_skip_verify, 0);
    resource_cleanup(&r);
    types__app_v3__free_unpacked(a, NULL);
    free(g.p);
}

static void test_list_resources_response(void)
{
    struct bytes g = load_hex("ListResourcesResponse");
    Proto__ListResourcesResponse *resp = proto__list_resources_response__unpack(NULL, g.n, g.p);
    struct resource r;
    ASSERT_TRUE(resp != NULL);
    ASSERT_EQ(resp->n_resources, 1);
    ASSERT_EQ(resp->resources[0]->resource_case, PROTO__PAGINATED_RESOURCE__RESOURCE_APP_SERVER);
    const Types__AppServerV3 *s = resp->resources[0]->appserver;
    ASSERT_STREQ(s->metadata->name, "echo");
    ASSERT_EQ(s->metadata->expires->seconds, 1767226200);
    ASSERT_STREQ(s->spec->hostid, "5b0f6c0e-8a55-4c3e-9d0a-2f3b1c9e7d21");
    ASSERT_EQ(s->spec->rotation->started->seconds, TELEPORT_GO_ZERO_TIME);
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app(s->spec->app, NULL, &r), 0);
    ASSERT_STREQ(r.name, "echo");
    ASSERT_STREQ(r.uri, "http://127.0.0.1:8080");
    resource_cleanup(&r);
    /* What enroller reads of a server: the name served and the host. */
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_app_server(s, &r), 0);
    ASSERT_EQ(r.kind, RESOURCE_APP);
    ASSERT_STREQ(r.name, "echo");
    ASSERT_STREQ(r.container_id, "5b0f6c0e-8a55-4c3e-9d0a-2f3b1c9e7d21");
    ASSERT_STREQ(r.uri, "");
    ASSERT_EQ(r.labels.len, 0);
    ASSERT_STREQ(resp->nextkey, "5b0f6c0e-8a55-4c3e-9d0a-2f3b1c9e7d21/zzz");
    resource_cleanup(&r);
    proto__list_resources_response__free_unpacked(resp, NULL);
    free(g.p);

    g = load_hex("PingResponse");
    Proto__PingResponse *p = proto__ping_response__unpack(NULL, g.n, g.p);
    ASSERT_TRUE(p != NULL);
    ASSERT_STREQ(p->clustername, "example.teleport.sh");
    ASSERT_STREQ(p->serverversion, "17.5.4");
    ASSERT_STREQ(p->proxypublicaddr, "example.teleport.sh:443");
    proto__ping_response__free_unpacked(p, NULL);
    free(g.p);
}

static void test_database(void)
{
    struct bytes g = load_hex("DatabaseV3");
    Types__DatabaseV3 *d = types__database_v3__unpack(NULL, g.n, g.p);
    struct resource r;
    uint8_t *mine = NULL;
    size_t mine_n = 0;
    ASSERT_TRUE(d != NULL);
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_db(d, NULL, &r), 0);
    ASSERT_EQ(r.kind, RESOURCE_DB);
    ASSERT_STREQ(r.name, "orders-pg");
    ASSERT_STREQ(r.description, "orders database");
    ASSERT_STREQ(kv_get(&r.labels, "enroller.dev/owner"), "docker-host-1");
    ASSERT_STREQ(kv_get(&r.labels, "teleport.dev/origin"), "dynamic");
    ASSERT_STREQ(r.revision, "0d6f2c1a-aaaa-4bbb-8ccc-dddddddddddd");
    ASSERT_STREQ(r.protocol, "postgres");
    ASSERT_STREQ(r.uri, "localhost:5432");
    ASSERT_EQ(teleport_convert_pack_db(&r, &mine, &mine_n), 0);
    assert_same("DatabaseV3", mine, mine_n, g.p, g.n);
    free(mine);
    resource_cleanup(&r);
    /* Another host's database, in brief. */
    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(teleport_convert_from_db(d, &(struct teleport_detail){"enroller.dev/owner", "h2"}, &r), 0);
    ASSERT_EQ(r.kind, RESOURCE_DB);
    ASSERT_STREQ(r.name, "orders-pg");
    ASSERT_STREQ(r.revision, "0d6f2c1a-aaaa-4bbb-8ccc-dddddddddddd");
    ASSERT_EQ(r.labels.len, 1);
    ASSERT_STREQ(kv_get(&r.labels, "enroller.dev/owner"), "docker-host-1");
    ASSERT_STREQ(r.description, "");
    ASSERT_STREQ(r.protocol, "");
    ASSERT_STREQ(r.uri, "");
    resource_cleanup(&r);
    types__database_v3__free_unpacked(d, NULL);
    free(g.p);
}

static void test_requests(void)
{
    struct bytes g;
    uint8_t *mine = NULL;
    size_t n = 0;
    struct kv_list labels;

    g = load_hex("ResourceRequest");
    ASSERT_EQ(teleport_convert_pack_resource_request("rabbitmq-mgmt", &mine, &n), 0);
    assert_same("ResourceRequest", mine, n, g.p, g.n);
    free(mine);
    free(g.p);

    g = load_hex("ListResourcesRequest");
    kv_init(&labels);
    ASSERT_EQ(kv_set(&labels, "enroller.dev/owner", "docker-host-1"), 0);
    ASSERT_EQ(teleport_convert_pack_list_resources("app_server", 500, "5b0f6c0e-8a55-4c3e-9d0a-2f3b1c9e7d21/echo",
                                                   &labels, &mine, &n),
              0);
    assert_same("ListResourcesRequest", mine, n, g.p, g.n);
    kv_cleanup(&labels);
    free(mine);
    free(g.p);

    g = load_hex("CreateTokenV2Request");
    const char *roles[] = {"App"};
    ASSERT_EQ(teleport_convert_pack_token("example-token-not-a-secret", roles, 1, 1767227400, NULL, &mine, &n), 0);
    assert_same("CreateTokenV2Request", mine, n, g.p, g.n);
    free(mine);
    free(g.p);
    /* With labels: Metadata.Labels (5) carries them, and nothing else changes. */
    {
        Proto__CreateTokenV2Request *req;
        kv_init(&labels);
        ASSERT_EQ(kv_set(&labels, "enroller.dev/owner", "h1"), 0);
        ASSERT_EQ(kv_set(&labels, "enroller.dev/agent-app", "web1"), 0);
        ASSERT_EQ(teleport_convert_pack_token("example-token-not-a-secret", roles, 1, 1767227400, &labels, &mine, &n),
                  0);
        ASSERT_TRUE((req = proto__create_token_v2_request__unpack(NULL, n, mine)) != NULL);
        ASSERT_TRUE(req->v2 != NULL && req->v2->metadata != NULL);
        ASSERT_STREQ(req->v2->metadata->name, "example-token-not-a-secret");
        ASSERT_EQ(req->v2->metadata->n_labels, 2);
        ASSERT_STREQ(req->v2->metadata->labels[0]->key, "enroller.dev/agent-app");
        ASSERT_STREQ(req->v2->metadata->labels[0]->value, "web1");
        ASSERT_STREQ(req->v2->metadata->labels[1]->key, "enroller.dev/owner");
        ASSERT_STREQ(req->v2->metadata->labels[1]->value, "h1");
        ASSERT_EQ(req->v2->metadata->expires->seconds, 1767227400);
        proto__create_token_v2_request__free_unpacked(req, NULL);
        kv_cleanup(&labels);
        free(mine);
    }

    g = load_hex("Watch");
    const char *kinds[] = {"app", "app_server"};
    ASSERT_EQ(teleport_convert_pack_watch(kinds, 2, 1, &mine, &n), 0);
    assert_same("Watch", mine, n, g.p, g.n);
    free(mine);
    free(g.p);
}

static void test_events(void)
{
    struct bytes g = load_hex("Event_PUT");
    struct teleport_event ev;
    ASSERT_EQ(teleport_convert_event(g.p, g.n, NULL, &ev), 0);
    ASSERT_EQ(ev.op, TELEPORT_EVENT_PUT);
    ASSERT_STREQ(ev.kind, "app");
    check_full_app(&ev.res);
    resource_cleanup(&ev.res);

    /* Its owner's copy is decoded in full; another host's in brief: name,
     * revision, expiry and the ownership label, nothing else. */
    struct teleport_detail mine = {"enroller.dev/owner", "docker-host-1"}, other = {"enroller.dev/owner", "h2"},
                           unlabelled = {"example.com/none", "x"};
    ASSERT_EQ(teleport_convert_event(g.p, g.n, &mine, &ev), 0);
    check_full_app(&ev.res);
    resource_cleanup(&ev.res);
    ASSERT_EQ(teleport_convert_event(g.p, g.n, &other, &ev), 0);
    ASSERT_EQ(ev.op, TELEPORT_EVENT_PUT);
    ASSERT_STREQ(ev.kind, "app");
    ASSERT_EQ(ev.res.kind, RESOURCE_APP);
    ASSERT_STREQ(ev.res.name, "rabbitmq-mgmt");
    ASSERT_STREQ(ev.res.revision, "3f1c9a52-7d1e-4c2b-9a6e-0b8d2f4e6a11");
    ASSERT_EQ(ev.res.expires, 1767225600);
    ASSERT_EQ(ev.res.labels.len, 1);
    ASSERT_STREQ(kv_get(&ev.res.labels, "enroller.dev/owner"), "docker-host-1");
    ASSERT_STREQ(ev.res.description, "");
    ASSERT_STREQ(ev.res.uri, "");
    ASSERT_STREQ(ev.res.public_addr, "");
    ASSERT_EQ(ev.res.insecure_skip_verify, 0);
    ASSERT_TRUE(ev.res.opts == NULL);
    resource_cleanup(&ev.res);
    ASSERT_EQ(teleport_convert_event(g.p, g.n, &unlabelled, &ev), 0);
    ASSERT_STREQ(ev.res.name, "rabbitmq-mgmt");
    ASSERT_EQ(ev.res.labels.len, 0);
    ASSERT_STREQ(ev.res.uri, "");
    resource_cleanup(&ev.res);
    free(g.p);

    g = load_hex("Event_DELETE");
    ASSERT_EQ(teleport_convert_event(g.p, g.n, NULL, &ev), 0);
    ASSERT_EQ(ev.op, TELEPORT_EVENT_DELETE);
    ASSERT_STREQ(ev.kind, "app");
    ASSERT_STREQ(ev.res.name, "rabbitmq-mgmt");
    resource_cleanup(&ev.res);
    free(g.p);

    g = load_hex("Event_INIT");
    ASSERT_EQ(teleport_convert_event(g.p, g.n, NULL, &ev), 0);
    ASSERT_EQ(ev.op, TELEPORT_EVENT_INIT);
    ASSERT_STREQ(ev.kind, "");
    resource_cleanup(&ev.res);
    free(g.p);

    /* Not an Event at all. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    ASSERT_EQ(teleport_convert_event(junk, sizeof(junk), NULL, &ev), -EPROTO);
    resource_cleanup(&ev.res);
}

int main(void)
{
    test_app();
    test_app_list_and_unknown_fields();
    test_list_resources_response();
    test_database();
    test_requests();
    test_events();
    printf("test_golden: ok\n");
    return 0;
}
