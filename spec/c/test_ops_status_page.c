/*
 * test_ops_status_page.c - the status page shows each container, its rule,
 * its resources with state, message and guard rail, the recent reloads and
 * the identity's expiry; every value is HTML-escaped; the snapshot has no
 * field a secret could go in.
 */
#include <ctype.h>
#include <errno.h>

#include "ops/ops_snapshot.h"
#include "ops/ops_status_page.h"
#include "test.h"

#define NOW 1800000000

static char *render(const struct ops_snapshot *s)
{
    struct enr_error err = {0};
    char *out = NULL;
    size_t len = 0;

    ASSERT_EQ(ops_status_page_render(s, NOW, &out, &len, &err), 0);
    ASSERT_EQ(strlen(out), len);
    return out;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_content_and_escaping(void)
{
    struct enr_error err = {0};
    struct ops_recent r;
    struct ops_snapshot *s = ops_snapshot_new(&err);

    ASSERT_TRUE(s != NULL);
    struct ops_container *c = ops_snapshot_add_container(s, "0123456789abcdef0123", "<script>alert(1)</script>",
                                                         "img\"onload=\"x", "r&d", &err);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ(ops_snapshot_add_resource(c, RESOURCE_APP, "<b>app</b>", OPS_STATE_ERROR,
                                        "CreateApp: it's <broken> & \"bad\"", OPS_GUARD_NONE, &err), 0);
    ASSERT_EQ(ops_snapshot_add_resource(c, RESOURCE_DB, "pg", OPS_STATE_HELD, "container gone 5s ago",
                                        OPS_GUARD_GRACE, &err), 0);
    ASSERT_TRUE(ops_snapshot_add_container(s, "ffff", "plain", "busybox", NULL, &err) != NULL);

    ops_snapshot_recent_init(&r);
    ASSERT_EQ(ops_snapshot_recent_push(&r, NOW - 120, true, "loaded 2 rules", &err), 0);
    ASSERT_EQ(ops_snapshot_recent_push(&r, NOW - 60, false, "rules/x.lua:3: <oops>", &err), 0);
    ASSERT_EQ(ops_snapshot_set_recent(s, &r, &err), 0);
    ops_snapshot_recent_cleanup(&r);
    ops_snapshot_set_identity_expiry(s, NOW + 3600 + 5 * 60);
    ops_snapshot_set_last_sync(s, NOW - 30);
    ops_snapshot_set_connected(s, true, false);
    struct ops_writes w = {.sent = 12, .ok = 7, .failed = 5, .inflight = 2, .queued = 3, .backing_off = 4,
                           .circuit_open = true};
    ops_snapshot_set_writes(s, &w);

    char *page = render(s);
    /* Phone-readable, no script of its own. */
    ASSERT_CONTAINS(page, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    ASSERT_TRUE(strstr(page, "<script") == NULL);
    ASSERT_TRUE(strstr(page, "<b>") == NULL);
    ASSERT_TRUE(strstr(page, "<broken>") == NULL);
    ASSERT_TRUE(strstr(page, "<oops>") == NULL);
    ASSERT_TRUE(strstr(page, "img\"onload") == NULL);
    /* Escaped, so a browser shows them as text. */
    ASSERT_CONTAINS(page, "&lt;script&gt;alert(1)&lt;/script&gt;");
    ASSERT_CONTAINS(page, "img&quot;onload=&quot;x");
    ASSERT_CONTAINS(page, "rule <strong>r&amp;d</strong>");
    ASSERT_CONTAINS(page, "&lt;b&gt;app&lt;/b&gt;");
    ASSERT_CONTAINS(page, "CreateApp: it&#39;s &lt;broken&gt; &amp; &quot;bad&quot;");
    ASSERT_CONTAINS(page, "rules/x.lua:3: &lt;oops&gt;");
    /* What it shows. */
    ASSERT_CONTAINS(page, "<code>0123456789ab</code>"); /* the short id */
    ASSERT_CONTAINS(page, ">error</span>");
    ASSERT_CONTAINS(page, ">held</span>");
    ASSERT_CONTAINS(page, "held by guard rail <strong>grace</strong>: container gone 5s ago");
    ASSERT_CONTAINS(page, "no rule matched");
    ASSERT_CONTAINS(page, "Containers (2)");
    /* The identity's expiry and the last sync: how far, then when. */
    ASSERT_CONTAINS(page, "Identity expires</span><span class=\"v\">in 1 h 5 min</span><span class=\"t\">"
                          "<time datetime=\"2027-01-15T09:05:00Z\">2027-01-15 09:05:00 UTC</time>");
    ASSERT_CONTAINS(page, "Last complete sync</span><span class=\"v\">30 s ago</span><span class=\"t\">"
                          "<time datetime=\"2027-01-15T07:59:30Z\">2027-01-15 07:59:30 UTC</time>");
    ASSERT_CONTAINS(page, "not connected");
    ASSERT_CONTAINS(page, ">circuit open</span> 2 in flight &middot; 3 queued</span><span class=\"t\">7 ok &middot; "
                          "5 failed &middot; 4 retrying");
    /* Reloads newest first. */
    const char *failed = strstr(page, ">failed</span>"), *ok = strstr(page, "loaded 2 rules");
    ASSERT_TRUE(failed != NULL && ok != NULL && failed < ok);
    ASSERT_EQ(count(page, "<article class=\"card\">"), 2);
    free(page);
    ops_snapshot_unref(s);

    /* An expired identity says so. */
    s = ops_snapshot_new(&err);
    ASSERT_TRUE(s != NULL);
    ops_snapshot_set_identity_expiry(s, NOW - 10);
    page = render(s);
    ASSERT_CONTAINS(page, ">expired</span> 10 s ago");
    ASSERT_CONTAINS(page, "Last complete sync</span><span class=\"v\">never");
    free(page);
    ops_snapshot_unref(s);

    /* Nothing published yet. */
    page = render(NULL);
    ASSERT_CONTAINS(page, "has not published its state yet");
    free(page);
}

/* Every field of every struct in ops_snapshot.h: none is named for a
 * secret, so none can carry one to /metrics or the page. */
static void test_no_secret_fields(void)
{
    const char *src = getenv("ENR_SOURCE_DIR");
    char path[4096], line[512];
    int in_struct = 0, fields = 0;
    static const char *const secret[] = {"token", "secret", "key", "cert", "password", "passwd", "private",
                                         "pem", "credential", "identity_file", "tls"};

    ASSERT_TRUE(src != NULL);
    snprintf(path, sizeof(path), "%s/src/ops/ops_snapshot.h", src);
    FILE *f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "struct ", 7) == 0 && strchr(line, '{'))
            in_struct = 1;
        else if (in_struct && line[0] == '}')
            in_struct = 0;
        else if (in_struct) {
            char *semi = strchr(line, ';');
            if (semi == NULL)
                continue;
            *semi = '\0';
            /* The declarators: every identifier after the type words. */
            for (char *p = line; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
                if (strstr(line, secret[i])) {
                    fprintf(stderr, "ops_snapshot.h: a field that looks secret: %s\n", line);
                    exit(1);
                }
            fields++;
        }
    }
    fclose(f);
    ASSERT_TRUE(fields > 30); /* the parse saw the structs */
}

int main(void)
{
    test_content_and_escaping();
    test_no_secret_fields();
    printf("ok - ops_status_page\n");
    return 0;
}
