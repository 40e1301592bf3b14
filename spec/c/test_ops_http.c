/*
 * test_ops_http.c - the ops listener over real loopback HTTP (libcurl):
 * /metrics, /healthz (200, then 503 once the snapshot is stale on the hub's
 * clock), /readyz with its reasons, /, 404, 405, HEAD; a port in use and bad
 * addresses fail with one line naming the address; scrapes running while the
 * loop publishes new snapshots each read one whole snapshot.
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ops/ops_http.h"
#include "ops/ops_snapshot.h"
#include "test.h"

static _Atomic uint64_t fake_ms = 1000000;

static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return atomic_load(&fake_ms);
}

struct reply {
    long status;
    char *body;
    size_t len;
    char type[128];
    char allow[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    char *b = realloc(r->body, r->len + size * n + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, p, size * n);
    r->body = b;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    if (size * n > 7 && strncasecmp(p, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof(r->allow), "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
    return size * n;
}

/* method: "GET", "HEAD", "POST". */
static struct reply fetch(unsigned port, const char *method, const char *path)
{
    struct reply r = {0};
    char url[256];
    char *type = NULL;

    r.body = calloc(1, 1);
    ASSERT_TRUE(r.body != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    ASSERT_TRUE(c != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
        exit(1);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r.type, sizeof(r.type), "%s", type ? type : "");
    curl_easy_cleanup(c);
    return r;
}

static struct reply get(unsigned port, const char *path)
{
    return fetch(port, "GET", path);
}

static struct ops_snapshot *snapshot(bool docker, bool auth, bool synced, const char *name)
{
    struct enr_error err = {0};
    struct ops_snapshot *s = ops_snapshot_new(&err);
    ASSERT_TRUE(s != NULL);
    struct ops_container *c = ops_snapshot_add_container(s, "abc123", name, "nginx", "web", &err);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ(ops_snapshot_add_resource(c, RESOURCE_APP, name, OPS_STATE_REGISTERED, "", OPS_GUARD_NONE, &err), 0);
    ops_snapshot_set_connected(s, docker, auth);
    ops_snapshot_set_first_sync_complete(s, synced);
    return s;
}

static void one_line(const char *msg)
{
    ASSERT_TRUE(msg[0] != '\0');
    ASSERT_TRUE(strchr(msg, '\n') == NULL);
}

static void test_bad_input(struct ops_hub *hub)
{
    struct enr_error err = {0};
    struct ops_http *h = (struct ops_http *)&err; /* must be set to NULL */
    static const char *const bad[] = {"127.0.0.1:99999", "127.0.0.1:", "nonsense", "::1:9464", "[::1]",
                                      "[::1]9464",       "[nope]:80",  "1.2.3:80", "10.0.0.1:-1", "127.0.0.1:80x"};

    /* Off when unset. */
    ASSERT_EQ(ops_http_start(hub, &(struct ops_http_config){.listen = NULL}, &h, &err), 0);
    ASSERT_TRUE(h == NULL);
    ASSERT_EQ(ops_http_start(hub, &(struct ops_http_config){.listen = ""}, &h, &err), 0);
    ASSERT_TRUE(h == NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h = (struct ops_http *)&err;
        err_clear(&err);
        ASSERT_EQ(ops_http_start(hub, &(struct ops_http_config){.listen = bad[i]}, &h, &err), -EINVAL);
        ASSERT_TRUE(h == NULL);
        ASSERT_CONTAINS(err.msg, bad[i]);
        one_line(err.msg);
    }
    /* The forms it takes. */
    struct sockaddr_storage ss;
    socklen_t len;
    ASSERT_EQ(ops_http_parse_listen("9464", &ss, &len, &err), 0);
    ASSERT_EQ(ss.ss_family, AF_INET);
    ASSERT_EQ(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ASSERT_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
    ASSERT_EQ(ops_http_parse_listen(":9465", &ss, &len, &err), 0);
    ASSERT_EQ(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ASSERT_EQ(ops_http_parse_listen("[::1]:9464", &ss, &len, &err), 0);
    ASSERT_EQ(ss.ss_family, AF_INET6);
    ASSERT_EQ(len, sizeof(struct sockaddr_in6));
    ASSERT_EQ(ops_http_parse_listen("0.0.0.0:1", &ss, &len, &err), 0);
    ASSERT_EQ(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_ANY));
}

static void test_endpoints(struct ops_hub *hub)
{
    struct enr_error err = {0};
    struct ops_http *h = NULL;
    struct reply r;

    ASSERT_EQ(ops_http_start(hub, &(struct ops_http_config){.listen = "127.0.0.1:0", .stale_after_sec = 5}, &h,
                             &err), 0);
    ASSERT_TRUE(h != NULL);
    unsigned port = ops_http_port(h);
    ASSERT_TRUE(port > 0);

    /* Nothing published yet. */
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 503);
    ASSERT_CONTAINS(r.body, "no snapshot published yet");
    free(r.body);
    r = get(port, "/readyz");
    ASSERT_EQ(r.status, 503);
    free(r.body);
    r = get(port, "/metrics");
    ASSERT_EQ(r.status, 503);
    free(r.body);
    r = get(port, "/");
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "has not published its state yet");
    free(r.body);

    ops_snapshot_publish(hub, snapshot(true, false, false, "first-app"));
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.body, "ok\n");
    free(r.body);
    r = get(port, "/readyz");
    ASSERT_EQ(r.status, 503);
    ASSERT_STREQ(r.body, "not ready: not connected to Teleport Auth\n");
    free(r.body);
    r = get(port, "/metrics");
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.type, "text/plain; version=0.0.4; charset=utf-8");
    ASSERT_CONTAINS(r.body, "# TYPE enroller_build_info gauge\nenroller_build_info{version=\"" ENR_VERSION "\"} 1\n");
    ASSERT_CONTAINS(r.body, "enroller_managed_resources{kind=\"app\",state=\"registered\"} 1\n");
    ASSERT_CONTAINS(r.body, "enroller_docker_connected 1\n");
    ASSERT_CONTAINS(r.body, "enroller_auth_connected 0\n");
    free(r.body);
    r = get(port, "/");
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.type, "text/html; charset=utf-8");
    ASSERT_CONTAINS(r.body, "first-app");
    free(r.body);

    /* The loop stops publishing: stale after 5 s on the hub's clock. */
    atomic_fetch_add(&fake_ms, 5000);
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 200); /* exactly the limit is still alive */
    free(r.body);
    atomic_fetch_add(&fake_ms, 1001);
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 503);
    ASSERT_STREQ(r.body, "not alive: the loop last published 6 s ago (limit 5 s)\n");
    free(r.body);

    ops_snapshot_publish(hub, snapshot(true, true, false, "second-app"));
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 200);
    free(r.body);
    r = get(port, "/readyz");
    ASSERT_EQ(r.status, 503);
    ASSERT_STREQ(r.body, "not ready: first sync not complete\n");
    free(r.body);
    ops_snapshot_publish(hub, snapshot(false, true, true, "third-app"));
    r = get(port, "/readyz");
    ASSERT_EQ(r.status, 503);
    ASSERT_STREQ(r.body, "not ready: not connected to Docker\n");
    free(r.body);
    ops_snapshot_publish(hub, snapshot(true, true, true, "fourth-app"));
    r = get(port, "/readyz");
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.body, "ready\n");
    free(r.body);
    r = get(port, "/");
    ASSERT_CONTAINS(r.body, "fourth-app");
    ASSERT_TRUE(strstr(r.body, "third-app") == NULL);
    free(r.body);

    /* 404, 405, HEAD. */
    r = get(port, "/metrics/");
    ASSERT_EQ(r.status, 404);
    free(r.body);
    r = get(port, "/index.html");
    ASSERT_EQ(r.status, 404);
    free(r.body);
    r = fetch(port, "POST", "/metrics");
    ASSERT_EQ(r.status, 405);
    ASSERT_STREQ(r.allow, "GET, HEAD");
    free(r.body);
    r = fetch(port, "POST", "/nope");
    ASSERT_EQ(r.status, 405);
    free(r.body);
    r = fetch(port, "HEAD", "/metrics");
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.len, 0);
    ASSERT_STREQ(r.type, "text/plain; version=0.0.4; charset=utf-8");
    free(r.body);

    /* A second listener on the same port: one line naming the address. */
    char addr[64];
    struct ops_http *h2 = NULL;
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    err_clear(&err);
    ASSERT_EQ(ops_http_start(hub, &(struct ops_http_config){.listen = addr}, &h2, &err), -EADDRINUSE);
    ASSERT_TRUE(h2 == NULL);
    ASSERT_CONTAINS(err.msg, addr);
    ASSERT_CONTAINS(err.msg, "Address already in use");
    one_line(err.msg);
    /* The first still serves. */
    r = get(port, "/healthz");
    ASSERT_EQ(r.status, 200);
    free(r.body);

    ops_http_stop(h);
    ops_http_stop(NULL);
}

/* IPv6 loopback, where the machine has it. */
static void test_ipv6(struct ops_hub *hub)
{
    struct enr_error err = {0};
    struct ops_http *h = NULL;

    int rc = ops_http_start(hub, &(struct ops_http_config){.listen = "[::1]:0"}, &h, &err);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        printf("# no IPv6 loopback here: %s\n", err.msg);
        return;
    }
    ASSERT_EQ(rc, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://[::1]:%u/healthz", ops_http_port(h));
    CURL *c = curl_easy_init();
    ASSERT_TRUE(c != NULL);
    struct reply r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    ASSERT_EQ(r.status, 200);
    free(r.body);
    ops_http_stop(h);
}

/* --- scrapes during publishes ---------------------------------------------- */

#define SCRAPERS 4
#define SCRAPES 150

struct race {
    struct ops_hub *hub;
    unsigned port;
    atomic_int scrapers_left;
    unsigned long published;
};

/* Snapshot i: version "v<i>", i % 7 containers each with one app in state
 * i % OPS_STATE_COUNT.  A scrape that mixed two snapshots would disagree
 * with itself. */
static struct ops_snapshot *numbered(unsigned long i)
{
    struct enr_error err = {0};
    char v[32], name[64];
    struct ops_snapshot *s = ops_snapshot_new(&err);
    ASSERT_TRUE(s != NULL);
    snprintf(v, sizeof(v), "v%lu", i);
    ASSERT_EQ(ops_snapshot_set_version(s, v, &err), 0);
    for (unsigned long j = 0; j < i % 7; j++) {
        snprintf(name, sizeof(name), "c%lu-%lu", i, j);
        struct ops_container *c = ops_snapshot_add_container(s, name, name, "img", "r", &err);
        ASSERT_TRUE(c != NULL);
        ASSERT_EQ(ops_snapshot_add_resource(c, RESOURCE_APP, name, (enum ops_state)(i % OPS_STATE_COUNT), "m",
                                            OPS_GUARD_NONE, &err), 0);
    }
    ops_snapshot_set_connected(s, true, true);
    ops_snapshot_set_first_sync_complete(s, true);
    return s;
}

static void *publisher(void *ud)
{
    struct race *rc = ud;
    unsigned long i = 1;
    /* Bounded: stops when the scrapers are done, or after a million. */
    while (atomic_load(&rc->scrapers_left) > 0 && i < 1000000)
        ops_snapshot_publish(rc->hub, numbered(i++));
    rc->published = i - 1;
    return NULL;
}

static void *scraper(void *ud)
{
    struct race *rc = ud;
    for (int k = 0; k < SCRAPES; k++) {
        struct reply r = get(rc->port, k % 3 == 2 ? "/" : "/metrics");
        ASSERT_EQ(r.status, 200);
        if (k % 3 == 2) {
            ASSERT_CONTAINS(r.body, "</html>");
            /* The page's version and its cards agree. */
            const char *v = strstr(r.body, "version v");
            ASSERT_TRUE(v != NULL);
            unsigned long i = strtoul(v + 9, NULL, 10);
            char want[64];
            snprintf(want, sizeof(want), "Containers (%lu)", i % 7);
            ASSERT_CONTAINS(r.body, want);
        } else {
            const char *v = strstr(r.body, "enroller_build_info{version=\"v");
            ASSERT_TRUE(v != NULL);
            unsigned long i = strtoul(v + 30, NULL, 10);
            char want[128];
            snprintf(want, sizeof(want), "enroller_managed_resources{kind=\"app\",state=\"%s\"} %lu\n",
                     ops_snapshot_state_name((enum ops_state)(i % OPS_STATE_COUNT)), i % 7);
            ASSERT_CONTAINS(r.body, want);
            ASSERT_CONTAINS(r.body, "enroller_first_sync_complete 1\n");
        }
        free(r.body);
    }
    atomic_fetch_sub(&rc->scrapers_left, 1);
    return NULL;
}

static void test_scrapes_during_publish(void)
{
    struct enr_error err = {0};
    struct ops_http *h = NULL;
    struct race rc = {0};
    pthread_t pub, scr[SCRAPERS];

    rc.hub = ops_snapshot_hub_new(&err);
    ASSERT_TRUE(rc.hub != NULL);
    ops_snapshot_publish(rc.hub, numbered(0));
    ASSERT_EQ(ops_http_start(rc.hub, &(struct ops_http_config){.listen = "127.0.0.1:0"}, &h, &err), 0);
    rc.port = ops_http_port(h);
    atomic_init(&rc.scrapers_left, SCRAPERS);
    ASSERT_EQ(pthread_create(&pub, NULL, publisher, &rc), 0);
    for (int i = 0; i < SCRAPERS; i++)
        ASSERT_EQ(pthread_create(&scr[i], NULL, scraper, &rc), 0);
    for (int i = 0; i < SCRAPERS; i++)
        pthread_join(scr[i], NULL);
    pthread_join(pub, NULL);
    printf("# %d scrapes during %lu publishes\n", SCRAPERS * SCRAPES, rc.published);
    ASSERT_TRUE(rc.published > 0);
    ops_http_stop(h);
    ops_snapshot_hub_free(rc.hub);
}

int main(void)
{
    struct enr_error err = {0};

    ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
    struct ops_hub *hub = ops_snapshot_hub_new(&err);
    ASSERT_TRUE(hub != NULL);
    ops_snapshot_hub_set_clock(hub, fake_clock, NULL);
    test_bad_input(hub);
    test_endpoints(hub);
    test_ipv6(hub);
    ops_snapshot_hub_free(hub);
    test_scrapes_during_publish();
    curl_global_cleanup();
    printf("ok - ops_http\n");
    return 0;
}
