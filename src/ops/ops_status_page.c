/* ops_status_page.c - see ops_status_page.h. */
#include "ops/ops_status_page.h"
#include "ops/ops_buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char STYLE[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1d2330;background:#f3f4f7}"
    "main{max-width:960px;margin:0 auto;padding:12px}"
    "header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 12px;margin:4px 0 12px}"
    "h1{font-size:22px;margin:0}h2{font-size:17px;margin:20px 0 8px}"
    "h3{font-size:16px;margin:0;overflow-wrap:anywhere}"
    ".sub{color:#5b6475;font-size:13px}"
    ".summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}"
    ".tile{background:#fff;border:1px solid #dfe2e8;border-radius:8px;padding:8px 10px}"
    ".tile .k{display:block;color:#5b6475;font-size:12px;text-transform:uppercase;letter-spacing:.03em}"
    ".tile .v{display:block;font-weight:600;overflow-wrap:anywhere}"
    ".tile .t{display:block;color:#5b6475;font-size:12px}"
    ".card{background:#fff;border:1px solid #dfe2e8;border-radius:8px;padding:10px 12px;margin:0 0 10px}"
    ".meta{margin:2px 0 8px;color:#5b6475;font-size:13px;overflow-wrap:anywhere}"
    ".meta code{font-size:12px}"
    "ul.res{list-style:none;margin:0;padding:0}"
    "ul.res li{border-top:1px solid #eceef2;padding:6px 0;display:flex;flex-wrap:wrap;align-items:center;"
    "gap:4px 8px}"
    ".kind{font-size:11px;text-transform:uppercase;color:#5b6475;border:1px solid #c9ced8;border-radius:4px;"
    "padding:0 4px}"
    ".rname{font-weight:600;overflow-wrap:anywhere;flex:1 1 auto;min-width:0}"
    ".msg{flex:1 0 100%;font-size:13px;color:#3a4150;overflow-wrap:anywhere}"
    ".badge{display:inline-block;font-size:12px;font-weight:600;border-radius:10px;padding:1px 8px;"
    "white-space:nowrap}"
    ".ok,.registered{background:#dcf3e3;color:#14532d}"
    ".bad,.error{background:#fde1e1;color:#8a1c1c}"
    ".conflict{background:#fdebd3;color:#7a3d00}"
    ".waiting{background:#e1ecfd;color:#1d3f7a}"
    ".held{background:#ece3fb;color:#4b2a84}"
    ".none{color:#5b6475;font-style:italic}"
    "table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dfe2e8;border-radius:8px}"
    "th,td{text-align:left;padding:6px 8px;border-top:1px solid #eceef2;vertical-align:top;font-size:13px}"
    "td.m{overflow-wrap:anywhere}"
    "th{font-size:12px;color:#5b6475;border-top:0}"
    "@media (max-width:560px){table,tbody,tr,td{display:block}thead{display:none}"
    "tr{border-top:1px solid #eceef2;padding:4px 0}td{border:0;padding:2px 8px}}";

static void put_time(struct ops_buf *b, int64_t t)
{
    struct tm tm;
    char iso[32], shown[32];
    time_t tt = (time_t)t;

    if (gmtime_r(&tt, &tm) == NULL || strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ||
        strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        ops_buf_printf(b, "%lld", (long long)t);
        return;
    }
    ops_buf_printf(b, "<time datetime=\"%s\">%s</time>", iso, shown); /* digits and punctuation only */
}

/* "3 h 5 min" style. */
static void put_span(struct ops_buf *b, int64_t secs)
{
    if (secs < 0)
        secs = -secs;
    if (secs < 60)
        ops_buf_printf(b, "%lld s", (long long)secs);
    else if (secs < 3600)
        ops_buf_printf(b, "%lld min", (long long)(secs / 60));
    else if (secs < 86400)
        ops_buf_printf(b, "%lld h %lld min", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else
        ops_buf_printf(b, "%lld d %lld h", (long long)(secs / 86400), (long long)(secs % 86400 / 3600));
}

static void tile_begin(struct ops_buf *b, const char *key)
{
    ops_buf_printf(b, "<div class=\"tile\"><span class=\"k\">%s</span><span class=\"v\">", key);
}

static void tile_flag(struct ops_buf *b, const char *key, bool good, const char *yes, const char *no)
{
    tile_begin(b, key);
    ops_buf_printf(b, "<span class=\"badge %s\">%s</span></span></div>", good ? "ok" : "bad", good ? yes : no);
}

static void summary(struct ops_buf *b, const struct ops_snapshot *s, int64_t now)
{
    ops_buf_put(b, "<section class=\"summary\">");
    tile_flag(b, "Docker", s->docker_connected, "connected", "not connected");
    tile_flag(b, "Teleport Auth", s->auth_connected, "connected", "not connected");
    tile_flag(b, "First sync", s->first_sync_complete, "complete", "not complete");

    tile_begin(b, "Writes to Auth");
    if (s->writes.circuit_open)
        ops_buf_put(b, "<span class=\"badge bad\">circuit open</span> ");
    ops_buf_printf(b, "%u in flight &middot; %u queued", s->writes.inflight, s->writes.queued);
    ops_buf_printf(b, "</span><span class=\"t\">%llu ok &middot; %llu failed &middot; %u retrying",
                   (unsigned long long)s->writes.ok, (unsigned long long)s->writes.failed, s->writes.backing_off);
    ops_buf_put(b, "</span></div>");

    tile_begin(b, "Last complete sync");
    if (s->last_sync > 0) {
        put_span(b, now - s->last_sync);
        ops_buf_put(b, now >= s->last_sync ? " ago" : " ahead");
        ops_buf_put(b, "</span><span class=\"t\">");
        put_time(b, s->last_sync);
    } else {
        ops_buf_put(b, "never");
    }
    ops_buf_put(b, "</span></div>");

    tile_begin(b, "Identity expires");
    if (s->identity_expires > now) {
        ops_buf_put(b, "in ");
        put_span(b, s->identity_expires - now);
    } else if (s->identity_expires > 0) {
        ops_buf_put(b, "<span class=\"badge bad\">expired</span> ");
        put_span(b, now - s->identity_expires);
        ops_buf_put(b, " ago");
    } else {
        ops_buf_put(b, "unknown");
    }
    if (s->identity_expires > 0) {
        ops_buf_put(b, "</span><span class=\"t\">");
        put_time(b, s->identity_expires);
    }
    ops_buf_put(b, "</span></div></section>\n");
}

static void container_card(struct ops_buf *b, const struct ops_container *c)
{
    char id[13];

    ops_buf_put(b, "<article class=\"card\"><h3>");
    ops_buf_put_html(b, c->name);
    ops_buf_put(b, "</h3><p class=\"meta\">");
    ops_buf_put_html(b, c->image);
    snprintf(id, sizeof(id), "%s", c->id); /* the short id, as docker ps shows it */
    ops_buf_put(b, " &middot; <code>");
    ops_buf_put_html(b, id);
    ops_buf_put(b, "</code> &middot; ");
    if (c->rule) {
        ops_buf_put(b, "rule <strong>");
        ops_buf_put_html(b, c->rule);
        ops_buf_put(b, "</strong>");
    } else {
        ops_buf_put(b, "<span class=\"none\">no rule matched</span>");
    }
    ops_buf_put(b, "</p>");
    if (c->n_resources == 0) {
        ops_buf_put(b, "<p class=\"none\">no resources</p>");
    } else {
        ops_buf_put(b, "<ul class=\"res\">");
        for (size_t i = 0; i < c->n_resources; i++) {
            const struct ops_resource *r = &c->resources[i];
            const char *st = ops_snapshot_state_name(r->state);
            ops_buf_printf(b, "<li><span class=\"kind\">%s</span><span class=\"rname\">",
                           ops_snapshot_kind_name(r->kind));
            ops_buf_put_html(b, r->name);
            ops_buf_printf(b, "</span><span class=\"badge %s\">%s</span>", st, st);
            if (r->guard != OPS_GUARD_NONE || (r->message && *r->message)) {
                ops_buf_put(b, "<span class=\"msg\">");
                if (r->guard != OPS_GUARD_NONE)
                    ops_buf_printf(b, "held by guard rail <strong>%s</strong>%s",
                                   ops_snapshot_guard_name(r->guard), r->message && *r->message ? ": " : "");
                ops_buf_put_html(b, r->message);
                ops_buf_put(b, "</span>");
            }
            ops_buf_put(b, "</li>");
        }
        ops_buf_put(b, "</ul>");
    }
    ops_buf_put(b, "</article>\n");
}

static void recent(struct ops_buf *b, const struct ops_recent *r)
{
    ops_buf_put(b, "<section><h2>Rule reloads and errors</h2>");
    if (r->len == 0) {
        ops_buf_put(b, "<p class=\"none\">none yet</p></section>\n");
        return;
    }
    ops_buf_put(b, "<table><thead><tr><th>Time</th><th>Result</th><th>Message</th></tr></thead><tbody>");
    for (size_t i = r->len; i-- > 0;) { /* newest first */
        ops_buf_put(b, "<tr><td>");
        put_time(b, r->items[i].when);
        ops_buf_printf(b, "</td><td><span class=\"badge %s\">%s</span></td><td class=\"m\">",
                       r->items[i].ok ? "ok" : "bad", r->items[i].ok ? "ok" : "failed");
        ops_buf_put_html(b, r->items[i].message);
        ops_buf_put(b, "</td></tr>");
    }
    ops_buf_put(b, "</tbody></table></section>\n");
}

int ops_status_page_render(const struct ops_snapshot *s, int64_t now, char **out, size_t *len,
                           struct enr_error *err)
{
    struct ops_buf b;

    ops_buf_init(&b);
    ops_buf_put(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<title>enroller status</title><style>");
    ops_buf_put(&b, STYLE);
    ops_buf_put(&b, "</style></head><body><main>\n<header><h1>enroller</h1><span class=\"sub\">");
    if (s) {
        ops_buf_put(&b, "version ");
        ops_buf_put_html(&b, s->version);
        ops_buf_put(&b, " &middot; ");
    }
    ops_buf_put(&b, "as of ");
    put_time(&b, now);
    ops_buf_put(&b, "</span></header>\n");

    if (s == NULL) {
        ops_buf_put(&b, "<p class=\"none\">The daemon has not published its state yet.</p>");
    } else {
        summary(&b, s, now);
        ops_buf_printf(&b, "<section><h2>Containers (%zu)</h2>\n", s->n_containers);
        if (s->n_containers == 0)
            ops_buf_put(&b, "<p class=\"none\">no containers</p>");
        for (size_t i = 0; i < s->n_containers; i++)
            container_card(&b, &s->containers[i]);
        ops_buf_put(&b, "</section>\n");
        recent(&b, &s->recent);
    }
    ops_buf_put(&b, "</main></body></html>\n");
    if (ops_buf_take(&b, out, len) < 0)
        return err_set(err, -ENOMEM, "status page: out of memory");
    return 0;
}
