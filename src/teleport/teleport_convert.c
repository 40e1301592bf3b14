/* teleport_convert.c - see teleport_convert.h. */
#include "teleport/teleport_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

static const char *nz(const char *s) { return s ? s : ""; }

static int strv_from(struct resource_strv *dst, char *const *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (resource_strv_push(dst, nz(src[i])) < 0)
            return -ENOMEM;
    return 0;
}

/* Metadata common to apps and databases, in full or in brief as d says
 * (struct teleport_detail): *full tells which, for the spec. */
static int from_metadata(const Types__Metadata *md, const struct teleport_detail *d, struct resource *r, bool *full)
{
    const Types__Metadata__LabelsEntry *mark = NULL; /* d's label in md */

    *full = d == NULL || d->label == NULL;
    if (md == NULL)
        return 0;
    for (size_t i = 0; !*full && mark == NULL && i < md->n_labels; i++)
        if (strcmp(nz(md->labels[i]->key), d->label) == 0)
            mark = md->labels[i];
    *full = *full || (mark != NULL && strcmp(nz(mark->value), nz(d->value)) == 0);
    if (resource_set_str(&r->name, nz(md->name)) < 0 || resource_set_str(&r->revision, nz(md->revision)) < 0 ||
        (*full && resource_set_str(&r->description, nz(md->description)) < 0))
        return -ENOMEM;
    for (size_t i = 0; *full && i < md->n_labels; i++)
        if (kv_set(&r->labels, nz(md->labels[i]->key), nz(md->labels[i]->value)) < 0)
            return -ENOMEM;
    if (!*full && mark != NULL && kv_set(&r->labels, d->label, nz(mark->value)) < 0)
        return -ENOMEM;
    if (md->expires != NULL && md->expires->seconds != TELEPORT_GO_ZERO_TIME)
        r->expires = md->expires->seconds;
    return 0;
}

/* The options (struct resource_opts): RequiredAppNames, CORS, TCPPorts,
 * UseAnyProxyPublicAddr and Rewrite; r->opts stays NULL when none is set. */
static int from_app_options(const Types__AppSpecV3 *sp, struct resource *r)
{
    struct resource_opts *o;

    if (sp->n_requiredappnames == 0 && sp->cors == NULL && sp->n_tcpports == 0 && sp->rewrite == NULL &&
        !sp->useanyproxypublicaddr)
        return 0;
    if ((o = resource_opts_mut(r)) == NULL)
        return -ENOMEM;
    o->use_any_proxy_public_addr = sp->useanyproxypublicaddr;
    if (strv_from(&o->required_apps, sp->requiredappnames, sp->n_requiredappnames) < 0)
        return -ENOMEM;
    if (sp->cors != NULL) {
        const Types__CORSPolicy *c = sp->cors;
        if (strv_from(&o->cors.allowed_origins, c->allowed_origins, c->n_allowed_origins) < 0 ||
            strv_from(&o->cors.allowed_methods, c->allowed_methods, c->n_allowed_methods) < 0 ||
            strv_from(&o->cors.allowed_headers, c->allowed_headers, c->n_allowed_headers) < 0 ||
            strv_from(&o->cors.exposed_headers, c->exposed_headers, c->n_exposed_headers) < 0)
            return -ENOMEM;
        o->cors.allow_credentials = c->allow_credentials;
        o->cors.max_age = c->max_age;
    }
    if (sp->n_tcpports > 0) {
        if ((o->tcp_ports = calloc(sp->n_tcpports, sizeof(*o->tcp_ports))) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < sp->n_tcpports; i++) {
            o->tcp_ports[i].port = sp->tcpports[i]->port;
            o->tcp_ports[i].end_port = sp->tcpports[i]->endport;
        }
        o->n_tcp_ports = sp->n_tcpports;
    }
    if (sp->rewrite != NULL && resource_set_str(&o->rewrite_jwt_claims, nz(sp->rewrite->jwtclaims)) < 0)
        return -ENOMEM;
    if (sp->rewrite != NULL && sp->rewrite->n_redirect > 0) {
        if ((o->rewrite_redirect = calloc(sp->rewrite->n_redirect, sizeof(char *))) == NULL)
            return -ENOMEM;
        for (; o->n_rewrite_redirect < sp->rewrite->n_redirect; o->n_rewrite_redirect++)
            if ((o->rewrite_redirect[o->n_rewrite_redirect] =
                     strdup(nz(sp->rewrite->redirect[o->n_rewrite_redirect]))) == NULL)
                return -ENOMEM;
    }
    if (sp->rewrite != NULL && sp->rewrite->n_headers > 0) {
        if ((o->rewrite_headers = calloc(sp->rewrite->n_headers, sizeof(*o->rewrite_headers))) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < sp->rewrite->n_headers; i++) {
            o->rewrite_headers[i].name = strdup(nz(sp->rewrite->headers[i]->name));
            o->rewrite_headers[i].value = strdup(nz(sp->rewrite->headers[i]->value));
            o->n_rewrite_headers++;
            if (o->rewrite_headers[i].name == NULL || o->rewrite_headers[i].value == NULL)
                return -ENOMEM;
        }
    }
    resource_opts_trim(r);
    return 0;
}

int teleport_convert_from_app(const Types__AppV3 *a, const struct teleport_detail *d, struct resource *r)
{
    const Types__AppSpecV3 *sp = a->spec;
    bool full;

    r->kind = RESOURCE_APP;
    if (from_metadata(a->metadata, d, r, &full) < 0)
        return -ENOMEM;
    if (full && sp != NULL) {
        if (resource_set_str(&r->uri, nz(sp->uri)) < 0 || resource_set_str(&r->public_addr, nz(sp->publicaddr)) < 0)
            return -ENOMEM;
        r->insecure_skip_verify = sp->insecureskipverify;
        if (from_app_options(sp, r) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Packs r as a types.AppV3 into a malloc'd buffer.  The protobuf-c structs
 * point into r; only the arrays are allocated here. */
int teleport_convert_pack_app(const struct resource *r, uint8_t **out, size_t *out_len)
{
    Types__AppV3 app = TYPES__APP_V3__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__AppSpecV3 spec = TYPES__APP_SPEC_V3__INIT;
    Types__Rewrite rw = TYPES__REWRITE__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__Metadata__LabelsEntry *lab = NULL, **labp = NULL;
    Types__Header *hdr = NULL, **hdrp = NULL;
    Types__CORSPolicy cors = TYPES__CORSPOLICY__INIT;
    Types__PortRange *pr = NULL, **prp = NULL;
    const struct resource_opts *o = resource_opts(r);
    size_t nl = r->labels.len, nh = o->n_rewrite_headers, np = o->n_tcp_ports;
    int rc = -ENOMEM;

    lab = calloc(nl ? nl : 1, sizeof(*lab));
    labp = calloc(nl ? nl : 1, sizeof(*labp));
    hdr = calloc(nh ? nh : 1, sizeof(*hdr));
    hdrp = calloc(nh ? nh : 1, sizeof(*hdrp));
    pr = calloc(np ? np : 1, sizeof(*pr));
    prp = calloc(np ? np : 1, sizeof(*prp));
    if (lab == NULL || labp == NULL || hdr == NULL || hdrp == NULL || pr == NULL || prp == NULL)
        goto fail;
    app.kind = "app";
    app.version = "v3";
    app.metadata = &md;
    app.spec = &spec;
    md.name = (char *)r->name;
    md.namespace_ = "default";
    md.description = (char *)nz(r->description);
    md.revision = (char *)nz(r->revision);
    for (size_t i = 0; i < nl; i++) {
        Types__Metadata__LabelsEntry e = TYPES__METADATA__LABELS_ENTRY__INIT;
        e.key = (char *)r->labels.items[i].key;
        e.value = (char *)r->labels.items[i].value;
        lab[i] = e;
        labp[i] = &lab[i];
    }
    md.n_labels = nl;
    md.labels = labp;
    if (r->expires != 0) {
        exp.seconds = r->expires;
        md.expires = &exp;
    }
    spec.uri = (char *)r->uri;
    spec.publicaddr = (char *)nz(r->public_addr);
    spec.insecureskipverify = r->insecure_skip_verify;
    spec.useanyproxypublicaddr = o->use_any_proxy_public_addr;
    spec.n_requiredappnames = o->required_apps.n;
    spec.requiredappnames = o->required_apps.v;
    if (resource_cors_set(&o->cors)) {
        cors.n_allowed_origins = o->cors.allowed_origins.n;
        cors.allowed_origins = o->cors.allowed_origins.v;
        cors.n_allowed_methods = o->cors.allowed_methods.n;
        cors.allowed_methods = o->cors.allowed_methods.v;
        cors.n_allowed_headers = o->cors.allowed_headers.n;
        cors.allowed_headers = o->cors.allowed_headers.v;
        cors.n_exposed_headers = o->cors.exposed_headers.n;
        cors.exposed_headers = o->cors.exposed_headers.v;
        cors.allow_credentials = o->cors.allow_credentials;
        cors.max_age = o->cors.max_age;
        spec.cors = &cors;
    }
    for (size_t i = 0; i < np; i++) {
        Types__PortRange p = TYPES__PORT_RANGE__INIT;
        p.port = o->tcp_ports[i].port;
        p.endport = o->tcp_ports[i].end_port;
        pr[i] = p;
        prp[i] = &pr[i];
    }
    spec.n_tcpports = np;
    spec.tcpports = prp;
    if (o->n_rewrite_redirect > 0 || nh > 0 || o->rewrite_jwt_claims[0]) {
        rw.jwtclaims = (char *)o->rewrite_jwt_claims;
        rw.n_redirect = o->n_rewrite_redirect;
        rw.redirect = o->rewrite_redirect;
        for (size_t i = 0; i < nh; i++) {
            Types__Header h = TYPES__HEADER__INIT;
            h.name = o->rewrite_headers[i].name;
            h.value = o->rewrite_headers[i].value;
            hdr[i] = h;
            hdrp[i] = &hdr[i];
        }
        rw.n_headers = nh;
        rw.headers = hdrp;
        spec.rewrite = &rw;
    }
    *out_len = types__app_v3__get_packed_size(&app);
    if ((*out = malloc(*out_len ? *out_len : 1)) == NULL)
        goto fail;
    types__app_v3__pack(&app, *out);
    rc = 0;
fail:
    free(lab);
    free(labp);
    free(hdr);
    free(hdrp);
    free(pr);
    free(prp);
    return rc;
}


int teleport_convert_from_db(const Types__DatabaseV3 *db, const struct teleport_detail *d, struct resource *r)
{
    bool full;

    r->kind = RESOURCE_DB;
    if (from_metadata(db->metadata, d, r, &full) < 0)
        return -ENOMEM;
    if (full && db->spec != NULL &&
        (resource_set_str(&r->uri, nz(db->spec->uri)) < 0 || resource_set_str(&r->protocol, nz(db->spec->protocol)) < 0))
        return -ENOMEM;
    return 0;
}

/* A server as enroller reads it: named after what it serves (served's
 * metadata, or its own md without one), its host id in container_id. */
static int from_server(const Types__Metadata *served, const Types__Metadata *md, const char *host_id,
                       enum resource_kind kind, struct resource *r)
{
    const char *name = served != NULL ? served->name : md != NULL ? md->name : NULL;

    r->kind = kind;
    if (resource_set_str(&r->name, nz(name)) < 0 || resource_set_str(&r->container_id, nz(host_id)) < 0)
        return -ENOMEM;
    return 0;
}

int teleport_convert_from_app_server(const Types__AppServerV3 *s, struct resource *r)
{
    const Types__AppServerSpecV3 *sp = s->spec;
    return from_server(sp != NULL && sp->app != NULL ? sp->app->metadata : NULL, s->metadata,
                       sp != NULL ? sp->hostid : NULL, RESOURCE_APP, r);
}

int teleport_convert_from_db_server(const Types__DatabaseServerV3 *s, struct resource *r)
{
    const Types__DatabaseServerSpecV3 *sp = s->spec;
    return from_server(sp != NULL && sp->database != NULL ? sp->database->metadata : NULL, s->metadata,
                       sp != NULL ? sp->hostid : NULL, RESOURCE_DB, r);
}

int teleport_convert_pack_db(const struct resource *r, uint8_t **out, size_t *out_len)
{
    Types__DatabaseV3 db = TYPES__DATABASE_V3__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__DatabaseSpecV3 spec = TYPES__DATABASE_SPEC_V3__INIT;
    Types__DatabaseStatusV3 status = TYPES__DATABASE_STATUS_V3__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__Metadata__LabelsEntry *lab = NULL, **labp = NULL;
    size_t nl = r->labels.len;
    int rc = -ENOMEM;

    lab = calloc(nl ? nl : 1, sizeof(*lab));
    labp = calloc(nl ? nl : 1, sizeof(*labp));
    if (lab == NULL || labp == NULL)
        goto fail;
    db.kind = "db";
    db.version = "v3";
    db.metadata = &md;
    db.spec = &spec;
    db.status = &status; /* non-nullable in Go: always on the wire */
    md.name = (char *)r->name;
    md.namespace_ = "default";
    md.description = (char *)nz(r->description);
    md.revision = (char *)nz(r->revision);
    for (size_t i = 0; i < nl; i++) {
        Types__Metadata__LabelsEntry e = TYPES__METADATA__LABELS_ENTRY__INIT;
        e.key = (char *)r->labels.items[i].key;
        e.value = (char *)r->labels.items[i].value;
        lab[i] = e;
        labp[i] = &lab[i];
    }
    md.n_labels = nl;
    md.labels = labp;
    if (r->expires != 0) {
        exp.seconds = r->expires;
        md.expires = &exp;
    }
    spec.protocol = (char *)nz(r->protocol);
    spec.uri = (char *)nz(r->uri);
    *out_len = types__database_v3__get_packed_size(&db);
    if ((*out = malloc(*out_len ? *out_len : 1)) == NULL)
        goto fail;
    types__database_v3__pack(&db, *out);
    rc = 0;
fail:
    free(lab);
    free(labp);
    return rc;
}

int teleport_convert_event(const uint8_t *msg, size_t len, const struct teleport_detail *d, struct teleport_event *ev)
{
    Proto__Event *e = proto__event__unpack(NULL, len, msg);
    int rc = 0;

    memset(ev, 0, sizeof(*ev));
    if (resource_init(&ev->res) < 0) {
        proto__event__free_unpacked(e, NULL);
        return -ENOMEM;
    }
    if (e == NULL)
        return -EPROTO;
    ev->op = e->type == PROTO__OPERATION__PUT      ? TELEPORT_EVENT_PUT
             : e->type == PROTO__OPERATION__DELETE ? TELEPORT_EVENT_DELETE
                                                   : TELEPORT_EVENT_INIT;
    switch (e->resource_case) {
    case PROTO__EVENT__RESOURCE_APP:
        snprintf(ev->kind, sizeof(ev->kind), "app");
        rc = teleport_convert_from_app(e->app, d, &ev->res);
        break;
    case PROTO__EVENT__RESOURCE_DATABASE:
        snprintf(ev->kind, sizeof(ev->kind), "db");
        rc = teleport_convert_from_db(e->database, d, &ev->res);
        break;
    case PROTO__EVENT__RESOURCE_APP_SERVER:
        snprintf(ev->kind, sizeof(ev->kind), "app_server");
        rc = teleport_convert_from_app_server(e->appserver, &ev->res);
        break;
    case PROTO__EVENT__RESOURCE_DATABASE_SERVER:
        snprintf(ev->kind, sizeof(ev->kind), "db_server");
        rc = teleport_convert_from_db_server(e->databaseserver, &ev->res);
        break;
    case PROTO__EVENT__RESOURCE_RESOURCE_HEADER: {
        const Types__ResourceHeader *h = e->resourceheader;
        snprintf(ev->kind, sizeof(ev->kind), "%s", nz(h->kind));
        if (strcmp(ev->kind, "db") == 0 || strcmp(ev->kind, "db_server") == 0)
            ev->res.kind = RESOURCE_DB;
        if (h->metadata != NULL) {
            rc = resource_set_str(&ev->res.name, nz(h->metadata->name));
            /* host id travels in Description */
            if (rc == 0 && (strcmp(ev->kind, "app_server") == 0 || strcmp(ev->kind, "db_server") == 0))
                rc = resource_set_str(&ev->res.container_id, nz(h->metadata->description));
        }
        break;
    }
    default: /* INIT's WatchStatus, or a kind enroller does not watch */
        break;
    }
    proto__event__free_unpacked(e, NULL);
    return rc < 0 ? -ENOMEM : 0;
}

/* Packs any message into a malloc'd buffer. */
static int pack_msg(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
    *out_len = protobuf_c_message_get_packed_size(m);
    if ((*out = malloc(*out_len ? *out_len : 1)) == NULL)
        return -ENOMEM;
    protobuf_c_message_pack(m, *out);
    return 0;
}

int teleport_convert_pack_resource_request(const char *name, uint8_t **out, size_t *out_len)
{
    Types__ResourceRequest req = TYPES__RESOURCE_REQUEST__INIT;
    req.name = (char *)name;
    return pack_msg(&req.base, out, out_len);
}

int teleport_convert_pack_list_resources(const char *resource_type, int32_t limit, const char *start_key,
                                         const struct kv_list *labels, uint8_t **out, size_t *out_len)
{
    Proto__ListResourcesRequest req = PROTO__LIST_RESOURCES_REQUEST__INIT;
    Types__SortBy sort = TYPES__SORT_BY__INIT;
    Types__WindowsDesktopFilter wdf = TYPES__WINDOWS_DESKTOP_FILTER__INIT;
    Proto__ListResourcesRequest__LabelsEntry *lab = NULL, **labp = NULL;
    size_t nl = labels ? labels->len : 0;
    int rc = -ENOMEM;

    lab = calloc(nl ? nl : 1, sizeof(*lab));
    labp = calloc(nl ? nl : 1, sizeof(*labp));
    if (lab == NULL || labp == NULL)
        goto fail;
    for (size_t i = 0; i < nl; i++) {
        Proto__ListResourcesRequest__LabelsEntry e = PROTO__LIST_RESOURCES_REQUEST__LABELS_ENTRY__INIT;
        e.key = (char *)labels->items[i].key;
        e.value = (char *)labels->items[i].value;
        lab[i] = e;
        labp[i] = &lab[i];
    }
    req.resourcetype = (char *)resource_type;
    req.namespace_ = "default";
    req.limit = limit;
    req.startkey = (char *)nz(start_key);
    req.n_labels = nl;
    req.labels = labp;
    req.sortby = &sort;               /* non-nullable in Go: always sent */
    req.windowsdesktopfilter = &wdf;  /* likewise */
    rc = pack_msg(&req.base, out, out_len);
fail:
    free(lab);
    free(labp);
    return rc;
}

int teleport_convert_pack_token(const char *token, const char *const *roles, size_t n_roles, int64_t expires,
                                const struct kv_list *labels, uint8_t **out, size_t *out_len)
{
    Proto__CreateTokenV2Request req = PROTO__CREATE_TOKEN_V2_REQUEST__INIT;
    Types__ProvisionTokenV2 tok = TYPES__PROVISION_TOKEN_V2__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__ProvisionTokenSpecV2 spec = TYPES__PROVISION_TOKEN_SPEC_V2__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__Metadata__LabelsEntry *lab = NULL, **labp = NULL;
    size_t nl = labels ? labels->len : 0;
    int rc = -ENOMEM;

    /* Metadata.Labels (map<string,string> = 5, types.proto), in the
     * kv_list's key order, as Go's marshaller writes a map. */
    if (nl > 0 && ((lab = calloc(nl, sizeof(*lab))) == NULL || (labp = calloc(nl, sizeof(*labp))) == NULL))
        goto fail;
    for (size_t i = 0; i < nl; i++) {
        Types__Metadata__LabelsEntry e = TYPES__METADATA__LABELS_ENTRY__INIT;
        e.key = (char *)labels->items[i].key; /* interned: read-only, protobuf-c only reads */
        e.value = (char *)labels->items[i].value;
        lab[i] = e;
        labp[i] = &lab[i];
    }
    md.n_labels = nl;
    md.labels = labp;
    tok.kind = "token";
    tok.version = "v2";
    tok.metadata = &md;
    tok.spec = &spec;
    md.name = (char *)token;
    md.namespace_ = "default";
    if (expires != 0) {
        exp.seconds = expires;
        md.expires = &exp;
    }
    spec.n_roles = n_roles;
    spec.roles = (char **)(uintptr_t)roles;
    spec.joinmethod = "token";
    req.token_case = PROTO__CREATE_TOKEN_V2_REQUEST__TOKEN_V2;
    req.v2 = &tok;
    rc = pack_msg(&req.base, out, out_len);
fail:
    free(labp);
    free(lab);
    return rc;
}

int teleport_convert_pack_watch(const char *const *kinds, size_t n_kinds, int allow_partial, uint8_t **out,
                                size_t *out_len)
{
    Proto__Watch req = PROTO__WATCH__INIT;
    Types__WatchKind *wk = calloc(n_kinds ? n_kinds : 1, sizeof(*wk));
    Types__WatchKind **wkp = calloc(n_kinds ? n_kinds : 1, sizeof(*wkp));
    int rc = -ENOMEM;

    if (wk == NULL || wkp == NULL)
        goto fail;
    for (size_t i = 0; i < n_kinds; i++) {
        Types__WatchKind k = TYPES__WATCH_KIND__INIT;
        k.kind = (char *)kinds[i];
        wk[i] = k;
        wkp[i] = &wk[i];
    }
    req.n_kinds = n_kinds;
    req.kinds = wkp;
    req.allowpartialsuccess = allow_partial != 0;
    rc = pack_msg(&req.base, out, out_len);
fail:
    free(wk);
    free(wkp);
    return rc;
}

int teleport_convert_pack_app_server(const struct resource *app, const char *host_id, int64_t expires,
                                     const char *version, uint8_t **out, size_t *out_len)
{
    Proto__UpsertApplicationServerRequest req = PROTO__UPSERT_APPLICATION_SERVER_REQUEST__INIT;
    Types__AppServerV3 srv = TYPES__APP_SERVER_V3__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__AppServerSpecV3 spec = TYPES__APP_SERVER_SPEC_V3__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__AppV3 *a = NULL;
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = -ENOMEM;

    /* The AppV3 inside is exactly what CreateApp sends. */
    if (teleport_convert_pack_app(app, &packed, &len) < 0 || (a = types__app_v3__unpack(NULL, len, packed)) == NULL)
        goto fail;
    srv.kind = "app_server";
    srv.version = "v3";
    srv.metadata = &md;
    srv.spec = &spec;
    md.name = (char *)app->name;
    md.namespace_ = "default";
    if (expires != 0) {
        exp.seconds = expires;
        md.expires = &exp;
    }
    spec.version = (char *)version;
    spec.hostname = (char *)host_id;
    spec.hostid = (char *)host_id;
    spec.app = a;
    req.server = &srv;
    rc = pack_msg(&req.base, out, out_len);
fail:
    types__app_v3__free_unpacked(a, NULL);
    free(packed);
    return rc;
}

int teleport_convert_pack_delete_app_server(const char *host_id, const char *name, uint8_t **out, size_t *out_len)
{
    Proto__DeleteApplicationServerRequest req = PROTO__DELETE_APPLICATION_SERVER_REQUEST__INIT;
    req.namespace_ = "default";
    req.hostid = (char *)host_id;
    req.name = (char *)name;
    return pack_msg(&req.base, out, out_len);
}

uint32_t teleport_convert_unknown_field(const ProtobufCMessage *m)
{
    return m != NULL && m->n_unknown_fields > 0 ? m->unknown_fields[0].tag : 0;
}

/* ListAppsRequest / ListDatabasesRequest (the same two fields, numbered
 * alike and named apart: limit/start_key, page_size/page_token). */
int teleport_convert_pack_list_page(enum resource_kind kind, int32_t limit, const char *start_key, uint8_t **out,
                                    size_t *out_len)
{
    if (kind == RESOURCE_DB) {
        Proto__ListDatabasesRequest req = PROTO__LIST_DATABASES_REQUEST__INIT;
        req.page_size = limit;
        req.page_token = (char *)nz(start_key);
        return pack_msg(&req.base, out, out_len);
    }
    Proto__ListAppsRequest req = PROTO__LIST_APPS_REQUEST__INIT;
    req.limit = limit;
    req.start_key = (char *)nz(start_key);
    return pack_msg(&req.base, out, out_len);
}
