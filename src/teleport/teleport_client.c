/* teleport_client.c - see teleport_client.h.
 *
 * Every RPC is an operation (tc_op) holding the user's callback and, for
 * ListResources, the paging state; it issues one gRPC call (teleport_call)
 * at a time on the connection teleport_conn keeps, the request packed by
 * teleport_convert and the reply decoded here (protobuf-c).  An operation with a call in
 * flight is on tc->ops, so that freeing the client cancels it. */
#include "teleport/teleport_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "net/grpc_frame.h"
#include "teleport/identity_file.h"
#include "teleport/teleport_call.h"
#include "teleport/teleport_convert.h"

#ifndef ENR_VERSION
#define ENR_VERSION "dev"
#endif

#define LIST_PAGE_SIZE 500

struct tc_op;
typedef void (*op_finish_fn)(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len);

struct tc_op {
    struct teleport_client *tc;
    struct teleport_call *call;   /* in flight; NULL between calls */
    struct tc_op *prev, *next;    /* on tc->ops (linked) while call is set */
    bool linked;
    op_finish_fn finish;
    int (*on_msg)(struct tc_op *op, const uint8_t *msg, size_t len); /* server streams */
    size_t max_msg;               /* receive cap, 0: grpc_frame's default */
    bool db;                      /* databases (else apps) */
    const char *list_type;        /* ListResources: "app_server" or "db_server" */
    void *ud;
    teleport_done_cb done_cb;
    teleport_ping_cb ping_cb;
    teleport_list_cb list_cb;
    teleport_page_cb page_cb;     /* ListApps / ListDatabases page by page (else list_cb, whole) */
    char *secret;                 /* CreateTokenV2: the token, scrubbed from error messages */
    teleport_event_cb event_cb;   /* WatchEvents */
    int watch_id;
    /* ListResources paging */
    int32_t limit;
    char *start_key;
    struct kv_list labels;        /* ListResources: only the servers with these labels (none: all) */
    struct resource_list acc;
};

struct teleport_client {
    struct teleport_conn *tn;
    /* ListApps / ListDatabases answered UNIMPLEMENTED on this connection
     * (its n_connects + 1; 0: not seen): GetApps / GetDatabases are used
     * until the client connects again (it may reach a newer server). */
    unsigned no_list[2];
    unsigned timeout_ms;
    int next_watch_id;
    struct tc_op *ops;            /* with a call in flight */
    struct teleport_call_hooks hooks; /* counting, for metrics */
    struct teleport_detail detail;    /* label and value owned here; label NULL: all in full */
};

void teleport_client_set_hooks(struct teleport_client *tc, const struct teleport_call_hooks *h)
{
    if (h != NULL)
        tc->hooks = *h;
    else
        memset(&tc->hooks, 0, sizeof(tc->hooks));
}

int teleport_client_set_detail(struct teleport_client *tc, const char *label, const char *value)
{
    char *l = NULL, *v = NULL;

    if (label != NULL && ((l = strdup(label)) == NULL || (v = strdup(value ? value : "")) == NULL)) {
        free(l);
        return -ENOMEM;
    }
    free((char *)tc->detail.label);
    free((char *)tc->detail.value);
    tc->detail.label = l;
    tc->detail.value = v;
    return 0;
}

/* ---- operations ---- */

static struct tc_op *op_new(struct teleport_client *tc, op_finish_fn finish, void *ud)
{
    struct tc_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->tc = tc;
    op->finish = finish;
    op->ud = ud;
    resource_list_init(&op->acc);
    return op;
}

/* Off tc->ops; touches tc only while on it (the user's callback may have
 * freed the client since). */
static void op_unlink(struct tc_op *op)
{
    if (!op->linked)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        op->tc->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    op->linked = false;
}

static void op_free(struct tc_op *op)
{
    if (op == NULL)
        return;
    op_unlink(op);
    free(op->start_key);
    kv_cleanup(&op->labels);
    resource_list_cleanup(&op->acc);
    if (op->secret != NULL) {
        OPENSSL_cleanse(op->secret, strlen(op->secret));
        free(op->secret);
    }
    free(op);
}

/* The call ended: the operation leaves tc->ops before its finish runs the
 * user's callback (which may free the client), unless it starts another. */
static void op_call_done(void *ud, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    struct tc_op *op = ud;
    op->call = NULL;
    op_unlink(op);
    op->finish(op, err, msg, len);
}

static int op_call_msg(void *ud, const uint8_t *msg, size_t len)
{
    struct tc_op *op = ud;
    return op->on_msg(op, msg, len);
}

/* Starts the operation's next call with the packed request.  On failure
 * the operation is untouched (the caller still owns it). */
static int op_call_packed(struct tc_op *op, const char *method, const char *what, const uint8_t *packed,
                          size_t len, struct enr_error *err)
{
    struct teleport_client *tc = op->tc;
    struct teleport_call_options o = {
        .method = method, .what = what, .timeout_ms = op->on_msg ? 0 : tc->timeout_ms, .max_msg = op->max_msg,
        .on_msg = op->on_msg ? op_call_msg : NULL, .on_done = op_call_done, .ud = op,
        .hooks = &tc->hooks,
    };
    int rc = teleport_call_start(tc->tn, &o, packed, len, &op->call, err);
    if (rc < 0)
        return rc;
    op->prev = NULL;
    op->next = tc->ops;
    if (tc->ops)
        tc->ops->prev = op;
    tc->ops = op;
    op->linked = true;
    return 0;
}

/* Starts a new operation (op NULL: out of memory) with a request packed by
 * teleport_convert (pack_rc its result; packed NULL: an empty message),
 * freeing packed (wiped for a token) and, on failure, op. */
static int op_start(struct tc_op *op, const char *method, const char *what, int pack_rc, uint8_t *packed,
                    size_t len, struct enr_error *err)
{
    static const uint8_t none[1];
    int rc = op == NULL || pack_rc < 0 ? err_set(err, -ENOMEM, "%s: out of memory", what)
                                       : op_call_packed(op, method, what, packed ? packed : none, len, err);
    if (packed != NULL && op != NULL && op->secret != NULL)
        OPENSSL_cleanse(packed, len);
    free(packed);
    if (rc < 0)
        op_free(op);
    return rc;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* A listing's page is in (last: or the listing ended, err set if it
 * failed).  With page_cb each page is handed over as it comes (the next
 * one is already asked for unless last), so only one page is held here;
 * with list_cb the pages gather in op->acc until the last.  op is freed
 * (last) or not touched again before the callback runs: the callback may
 * free the client, and with it the operation in flight. */
static void list_deliver(struct tc_op *op, const struct enr_error *err, bool last)
{
    struct resource_list page;

    if (op->page_cb == NULL) {
        if (last) {
            op->list_cb(op->ud, err, err ? NULL : &op->acc);
            op_free(op);
        }
        return;
    }
    teleport_page_cb cb = op->page_cb;
    void *ud = op->ud;
    page = op->acc;
    resource_list_init(&op->acc);
    if (last)
        op_free(op);
    cb(ud, err, err ? NULL : &page, last);
    resource_list_cleanup(&page);
}

/* ---- finishing each operation ---- */

/* google.protobuf.Empty replies.  CreateTokenV2: the server may quote the
 * token in its message (ALREADY_EXISTS, ...); the message ends up in logs,
 * so every occurrence is replaced. */
static void finish_done(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    struct enr_error clean;
    (void)msg, (void)len;
    if (err != NULL && op->secret != NULL && op->secret[0] != '\0' && strstr(err->msg, op->secret) != NULL) {
        size_t slen = strlen(op->secret), o = 0;
        const char *red = log_redact(op->secret);
        clean = *err;
        for (const char *p = err->msg; *p != '\0' && o + 1 < sizeof(clean.msg);) {
            if (strncmp(p, op->secret, slen) == 0) {
                o += (size_t)snprintf(clean.msg + o, sizeof(clean.msg) - o, "%s", red);
                if (o >= sizeof(clean.msg))
                    o = sizeof(clean.msg) - 1;
                p += slen;
            } else {
                clean.msg[o++] = *p++;
            }
        }
        clean.msg[o] = '\0';
        err = &clean;
    }
    op->done_cb(op->ud, err);
    op_free(op);
}

/* A new operation that ends with done_cb. */
static struct tc_op *op_new_done(struct teleport_client *tc, teleport_done_cb cb, void *ud)
{
    struct tc_op *op = op_new(tc, finish_done, ud);
    if (op != NULL)
        op->done_cb = cb;
    return op;
}

static void finish_ping(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Proto__PingResponse *resp = NULL;
    struct enr_error e;
    if (err == NULL && (resp = proto__ping_response__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "Ping: INTERNAL: cannot decode PingResponse");
    if (err != NULL)
        op->ping_cb(op->ud, err, NULL, NULL);
    else
        op->ping_cb(op->ud, NULL, nz(resp->clustername), nz(resp->serverversion));
    proto__ping_response__free_unpacked(resp, NULL);
    op_free(op);
}

/* GetApps / GetDatabases (op->db): one unpaginated list. */
static void finish_get_list(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    const char *what = op->db ? "GetDatabases" : "GetApps";
    Types__AppV3List *apps = NULL;
    Types__DatabaseV3List *dbs = NULL;
    size_t n = 0;
    struct enr_error e;

    if (err == NULL && op->db && (dbs = types__database_v3_list__unpack(NULL, len, msg)) != NULL)
        n = dbs->n_databases;
    else if (err == NULL && !op->db && (apps = types__app_v3_list__unpack(NULL, len, msg)) != NULL)
        n = apps->n_apps;
    else if (err == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "%s: INTERNAL: cannot decode %s", what,
                               op->db ? "DatabaseV3List" : "AppV3List");
    for (size_t i = 0; err == NULL && i < n; i++) {
        struct resource *r = resource_list_push(&op->acc);
        if (r == NULL || (op->db ? teleport_convert_from_db(dbs->databases[i], &op->tc->detail, r)
                                 : teleport_convert_from_app(apps->apps[i], &op->tc->detail, r)) < 0)
            err = &e, err_set(&e, -ENOMEM, "%s: out of memory", what);
    }
    types__app_v3_list__free_unpacked(apps, NULL);
    types__database_v3_list__free_unpacked(dbs, NULL);
    list_deliver(op, err, true);
}

static int get_list(struct teleport_client *tc, bool db, teleport_list_cb cb, teleport_page_cb page_cb, void *ud,
                    struct enr_error *err)
{
    const char *what = db ? "GetDatabases" : "GetApps";
    struct tc_op *op = op_new(tc, finish_get_list, ud);
    if (op != NULL) {
        op->list_cb = cb;
        op->page_cb = page_cb;
        op->db = db;
        op->max_msg = TELEPORT_CALL_LIST_MAX;
    }
    return op_start(op, what, what, 0, NULL, 0, err);
}

static int list_page(struct tc_op *op, struct enr_error *err);

static void finish_list_page(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Proto__ListResourcesResponse *resp = NULL;
    bool db = strcmp(op->list_type, "db_server") == 0;
    struct enr_error e;

    if (err != NULL && err->grpc_status == GRPC_STATUS_RESOURCE_EXHAUSTED && op->limit > 1) {
        /* The page did not fit in a message: halve it, as the Go client does. */
        op->limit /= 2;
        log_debug(LOG_TELEPORT, "ListResources(%s): page too large, retrying with limit %d", op->list_type,
                  (int)op->limit);
        if (list_page(op, &e) == 0)
            return;
        err = &e;
    }
    if (err == NULL && (resp = proto__list_resources_response__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL,
                               "ListResources(%s): INTERNAL: cannot decode ListResourcesResponse", op->list_type);
    for (size_t i = 0; err == NULL && i < resp->n_resources; i++) {
        const Proto__PaginatedResource *pr = resp->resources[i];
        struct resource *r;
        int rc;

        if (db) {
            if (pr->resource_case != PROTO__PAGINATED_RESOURCE__RESOURCE_DATABASE_SERVER ||
                pr->databaseserver == NULL || pr->databaseserver->spec == NULL ||
                pr->databaseserver->spec->database == NULL)
                continue;
        } else {
            if (pr->resource_case != PROTO__PAGINATED_RESOURCE__RESOURCE_APP_SERVER || pr->appserver == NULL ||
                pr->appserver->spec == NULL || pr->appserver->spec->app == NULL)
                continue;
        }
        r = resource_list_push(&op->acc);
        rc = r == NULL ? -ENOMEM
             : db      ? teleport_convert_from_db_server(pr->databaseserver, r)
                       : teleport_convert_from_app_server(pr->appserver, r);
        if (rc < 0)
            err = &e, err_set(&e, -ENOMEM, "ListResources(%s): out of memory", op->list_type);
    }
    if (err == NULL && resp->nextkey != NULL && resp->nextkey[0] != '\0') {
        if (op->start_key != NULL && strcmp(op->start_key, resp->nextkey) == 0) {
            err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL,
                                   "ListResources(%s): INTERNAL: server returned the same page key \"%s\" again",
                                   op->list_type, resp->nextkey);
        } else {
            free(op->start_key);
            if ((op->start_key = strdup(resp->nextkey)) == NULL)
                err = &e, err_set(&e, -ENOMEM, "ListResources(%s): out of memory", op->list_type);
            else if (list_page(op, &e) == 0) {
                proto__list_resources_response__free_unpacked(resp, NULL);
                return;
            } else
                err = &e;
        }
    }
    op->list_cb(op->ud, err, err ? NULL : &op->acc);
    proto__list_resources_response__free_unpacked(resp, NULL);
    op_free(op);
}

static int list_page(struct tc_op *op, struct enr_error *err)
{
    char what[64];
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc;

    snprintf(what, sizeof(what), "ListResources(%s)", op->list_type);
    if (teleport_convert_pack_list_resources(op->list_type, op->limit, op->start_key, &op->labels, &packed, &len) < 0)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    rc = op_call_packed(op, "ListResources", what, packed, len, err);
    free(packed);
    return rc;
}

static int list_servers(struct teleport_client *tc, const char *type, const struct kv_list *labels,
                        teleport_list_cb cb, void *ud, struct enr_error *err)
{
    struct tc_op *op = op_new(tc, finish_list_page, ud);
    int rc;
    if (op == NULL || (labels != NULL && kv_copy(&op->labels, labels) < 0)) {
        op_free(op);
        return err_set(err, -ENOMEM, "ListResources(%s): out of memory", type);
    }
    op->list_cb = cb;
    op->list_type = type;
    op->limit = LIST_PAGE_SIZE;
    if ((rc = list_page(op, err)) < 0)
        op_free(op);
    return rc;
}

/* ---- ListApps / ListDatabases, paginated, with the fallback ---- */

static int kind_page(struct tc_op *op, struct enr_error *err);

/* Like Teleport's cache (lib/cache/app.go, lib/cache/genericLister
 * RangeWithFallback): op asks the unpaginated GetApps/GetDatabases
 * instead, and the connection remembers to (teleport_client.no_list).
 * why is logged with the call's names; 0, or fills e. */
static int fall_back_to_get(struct tc_op *op, enum log_level level, const char *why, struct enr_error *e)
{
    const char *what = op->db ? "ListDatabases" : "ListApps";
    const char *old = op->db ? "GetDatabases" : "GetApps";

    op->tc->no_list[op->db] = teleport_conn_n_connects(op->tc->tn) + 1;
    log_msg(level, LOG_TELEPORT, "%s: %s; using %s", what, why, old);
    op->finish = finish_get_list;
    op->max_msg = TELEPORT_CALL_LIST_MAX;
    return op_call_packed(op, old, old, NULL, 0, e);
}

static void finish_kind_page(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    const char *what = op->db ? "ListDatabases" : "ListApps";
    Proto__ListAppsResponse *apps = NULL;
    Proto__ListDatabasesResponse *dbs = NULL;
    const char *next = NULL;
    size_t n = 0;
    struct enr_error e;

    if (err != NULL && err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_UNIMPLEMENTED &&
        op->start_key == NULL) {
        if (fall_back_to_get(op, LOG_LEVEL_INFO, "not implemented by this Auth Service", &e) == 0)
            return;
        err = &e;
    }
    if (err != NULL && err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_RESOURCE_EXHAUSTED &&
        op->limit > 1) {
        op->limit /= 2;
        log_debug(LOG_TELEPORT, "%s: page too large, retrying with limit %d", what, (int)op->limit);
        if (kind_page(op, &e) == 0)
            return;
        err = &e;
    }
    if (err == NULL && op->db && (dbs = proto__list_databases_response__unpack(NULL, len, msg)) != NULL)
        n = dbs->n_databases, next = dbs->next_page_token;
    else if (err == NULL && !op->db && (apps = proto__list_apps_response__unpack(NULL, len, msg)) != NULL)
        n = apps->n_applications, next = apps->next_key;
    else if (err == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "%s: INTERNAL: cannot decode %sResponse", what, what);
    /* Fields this build does not know and nothing decoded: the server's
     * numbering of the reply differs from proto/.  An empty listing read
     * from it would be wrong, so ask the old call, whose numbers are
     * settled, as for UNIMPLEMENTED. */
    uint32_t unknown = err == NULL && n == 0 && (next == NULL || next[0] == '\0')
                           ? teleport_convert_unknown_field(op->db ? &dbs->base : &apps->base)
                           : 0;
    if (unknown != 0 && op->start_key == NULL) {
        char why[64];
        snprintf(why, sizeof(why), "the reply has field %u, unknown to this build", unknown);
        if (fall_back_to_get(op, LOG_LEVEL_WARN, why, &e) == 0)
            goto next_page;
        err = &e;
    } else if (unknown != 0) {
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "%s: INTERNAL: the reply has field %u, unknown to this build",
                               what, unknown);
    }
    for (size_t i = 0; err == NULL && i < n; i++) {
        struct resource *r = resource_list_push(&op->acc);
        if (r == NULL || (op->db ? teleport_convert_from_db(dbs->databases[i], &op->tc->detail, r)
                                 : teleport_convert_from_app(apps->applications[i], &op->tc->detail, r)) < 0)
            err = &e, err_set(&e, -ENOMEM, "%s: out of memory", what);
    }
    /* A page may be empty and still have a next key: Teleport sets it
     * before its RBAC filter drops what the caller may not see. */
    bool more = false;
    if (err == NULL && next != NULL && next[0] != '\0') {
        if (op->start_key != NULL && strcmp(op->start_key, next) == 0) {
            err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL,
                                   "%s: INTERNAL: server returned the same page key \"%s\" again", what, next);
        } else {
            free(op->start_key);
            if ((op->start_key = strdup(next)) == NULL)
                err = &e, err_set(&e, -ENOMEM, "%s: out of memory", what);
            else if (kind_page(op, &e) == 0)
                more = true;
            else
                err = &e;
        }
    }
    /* The page's protobuf tree goes before its resources are handed on. */
    proto__list_apps_response__free_unpacked(apps, NULL);
    proto__list_databases_response__free_unpacked(dbs, NULL);
    list_deliver(op, err, !more);
    return;
next_page:
    proto__list_apps_response__free_unpacked(apps, NULL);
    proto__list_databases_response__free_unpacked(dbs, NULL);
}

static int kind_page(struct tc_op *op, struct enr_error *err)
{
    const char *what = op->db ? "ListDatabases" : "ListApps";
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc;

    if (teleport_convert_pack_list_page(op->db ? RESOURCE_DB : RESOURCE_APP, op->limit, op->start_key, &packed,
                                        &len) < 0)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    rc = op_call_packed(op, what, what, packed, len, err);
    free(packed);
    return rc;
}

/* Exactly one of cb (the whole listing) and page_cb (page by page). */
static int list_kind(struct teleport_client *tc, bool db, teleport_list_cb cb, teleport_page_cb page_cb, void *ud,
                     struct enr_error *err)
{
    struct tc_op *op;
    int rc;

    /* The fallback holds while the connection it was learnt on does. */
    if (tc->no_list[db] != 0 && tc->no_list[db] == teleport_conn_n_connects(tc->tn) + 1)
        return get_list(tc, db, cb, page_cb, ud, err);
    tc->no_list[db] = 0;
    if ((op = op_new(tc, finish_kind_page, ud)) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", db ? "ListDatabases" : "ListApps");
    op->list_cb = cb;
    op->page_cb = page_cb;
    op->db = db;
    op->limit = LIST_PAGE_SIZE;
    if ((rc = kind_page(op, err)) < 0)
        op_free(op);
    return rc;
}

/* ---- public API ---- */

struct teleport_client *teleport_client_new(uv_loop_t *loop, const struct teleport_client_config *cfg,
                                            struct enr_error *err)
{
    struct teleport_client *tc = calloc(1, sizeof(*tc));
    struct teleport_conn_config cc = {
        .addr = cfg->addr, .identity_file = cfg->identity_file, .tbot_dir = cfg->tbot_dir, .cluster = cfg->cluster,
        .mode = cfg->mode, .server_name = cfg->server_name, .keepalive_ms = cfg->keepalive_ms,
        .keepalive_timeout_ms = cfg->keepalive_timeout_ms, .watch_credentials = cfg->watch_credentials,
        .reload_debounce_ms = cfg->reload_debounce_ms,
    };

    if (tc == NULL) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        return NULL;
    }
    tc->timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : TELEPORT_CLIENT_DEFAULT_TIMEOUT_MS;
    cc.connect_timeout_ms = tc->timeout_ms;
    if ((tc->tn = teleport_conn_new(loop, &cc, err)) == NULL) {
        free(tc);
        return NULL;
    }
    return tc;
}

void teleport_client_free(struct teleport_client *tc)
{
    if (tc == NULL)
        return;
    while (tc->ops != NULL) {
        struct tc_op *op = tc->ops;
        teleport_call_cancel(op->call);
        op_free(op);
    }
    teleport_conn_free(tc->tn);
    free((char *)tc->detail.label);
    free((char *)tc->detail.value);
    free(tc);
}

int64_t teleport_client_identity_ttl(const struct teleport_client *tc)
{
    return identity_file_not_after(teleport_conn_identity(tc->tn)) - (int64_t)time(NULL);
}

const char *teleport_client_identity_user(const struct teleport_client *tc)
{
    return identity_file_user(teleport_conn_identity(tc->tn));
}

enum teleport_mode teleport_client_mode(const struct teleport_client *tc) { return teleport_conn_mode(tc->tn); }

unsigned teleport_client_n_connects(const struct teleport_client *tc) { return teleport_conn_n_connects(tc->tn); }

unsigned teleport_client_credentials_generation(const struct teleport_client *tc)
{
    return teleport_conn_credentials_generation(tc->tn);
}

int teleport_client_ping(struct teleport_client *tc, teleport_ping_cb cb, void *ud, struct enr_error *err)
{
    struct tc_op *op = op_new(tc, finish_ping, ud);
    if (op != NULL)
        op->ping_cb = cb;
    return op_start(op, "Ping", "Ping", 0, NULL, 0, err);
}

int teleport_client_get_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    return get_list(tc, false, cb, NULL, ud, err);
}

int teleport_client_list_app_servers(struct teleport_client *tc, const struct kv_list *labels, teleport_list_cb cb,
                                     void *ud, struct enr_error *err)
{
    return list_servers(tc, "app_server", labels, cb, ud, err);
}

int teleport_client_list_db_servers(struct teleport_client *tc, const struct kv_list *labels, teleport_list_cb cb,
                                    void *ud, struct enr_error *err)
{
    return list_servers(tc, "db_server", labels, cb, ud, err);
}

int teleport_client_list_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    return list_kind(tc, false, cb, NULL, ud, err);
}

int teleport_client_list_databases(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    return list_kind(tc, true, cb, NULL, ud, err);
}

int teleport_client_list_pages(struct teleport_client *tc, bool db, teleport_page_cb cb, void *ud,
                               struct enr_error *err)
{
    return list_kind(tc, db, NULL, cb, ud, err);
}

/* CreateApp/UpdateApp/CreateDatabase/UpdateDatabase: the request is the
 * resource itself (types.AppV3 or types.DatabaseV3). */
static int resource_write(struct teleport_client *tc, const char *method, const struct resource *res,
                          teleport_done_cb cb, void *ud, struct enr_error *err)
{
    bool db = strstr(method, "Database") != NULL;
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc;

    snprintf(what, sizeof(what), "%s \"%s\"", method, res->name);
    if (res->kind != (db ? RESOURCE_DB : RESOURCE_APP))
        return err_set(err, -EINVAL, "%s: not %s", what, db ? "a database" : "an app");
    rc = db ? teleport_convert_pack_db(res, &packed, &len) : teleport_convert_pack_app(res, &packed, &len);
    return op_start(op_new_done(tc, cb, ud), method, what, rc, packed, len, err);
}

/* DeleteApp/DeleteDatabase: a types.ResourceRequest with the name. */
static int resource_delete(struct teleport_client *tc, const char *method, const char *name, teleport_done_cb cb,
                           void *ud, struct enr_error *err)
{
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = teleport_convert_pack_resource_request(name, &packed, &len);

    snprintf(what, sizeof(what), "%s \"%s\"", method, name);
    return op_start(op_new_done(tc, cb, ud), method, what, rc, packed, len, err);
}

int teleport_client_create_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return resource_write(tc, "CreateApp", app, cb, ud, err);
}

int teleport_client_update_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return resource_write(tc, "UpdateApp", app, cb, ud, err);
}

int teleport_client_delete_app(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                               struct enr_error *err)
{
    return resource_delete(tc, "DeleteApp", name, cb, ud, err);
}

int teleport_client_create_token(struct teleport_client *tc, const char *token, const char *const *roles,
                                 size_t n_roles, int64_t ttl_sec, const struct kv_list *labels, teleport_done_cb cb,
                                 void *ud, struct enr_error *err)
{
    struct tc_op *op = NULL;
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = -ENOMEM;

    /* A token without Metadata.Expires never expires: Teleport has no server
     * default since v13 (lib/services/local/provisioning.go). */
    if (ttl_sec <= 0)
        return err_set(err, -EINVAL, "CreateTokenV2: TTL %lld s: a join token needs a TTL > 0 (it would never expire)",
                       (long long)ttl_sec);
    /* The token value is the secret: the operation name never includes it. */
    if ((op = op_new_done(tc, cb, ud)) != NULL && (op->secret = strdup(token)) != NULL)
        rc = teleport_convert_pack_token(token, roles, n_roles, (int64_t)time(NULL) + ttl_sec, labels, &packed,
                                         &len);
    return op_start(op, "CreateTokenV2", "CreateTokenV2", rc, packed, len, err);
}

int teleport_client_delete_token(struct teleport_client *tc, const char *token, teleport_done_cb cb, void *ud,
                                 struct enr_error *err)
{
    struct tc_op *op = NULL;
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = -ENOMEM;

    /* DeleteToken(types.ResourceRequest{Name}) (api/proto/teleport/legacy/
     * client/proto/authservice.proto).  As for CreateTokenV2, the name is
     * the secret: it is kept out of the operation name and scrubbed from
     * the server's message ("provisioning token(...) not found"). */
    if ((op = op_new_done(tc, cb, ud)) != NULL && (op->secret = strdup(token)) != NULL)
        rc = teleport_convert_pack_resource_request(token, &packed, &len);
    return op_start(op, "DeleteToken", "DeleteToken", rc, packed, len, err);
}

/* GetTokens(google.protobuf.Empty) returns (types.ProvisionTokenV2List)
 * (api/proto/teleport/legacy/client/proto/authservice.proto); Auth checks
 * token list and read (lib/auth/auth_with_roles.go GetTokens).  The names
 * are secrets: wiped before they are freed, and the error never holds one. */
static void finish_get_tokens(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Types__ProvisionTokenV2List *list = NULL;
    struct enr_error e;

    if (err == NULL && (list = types__provision_token_v2_list__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "GetTokens: INTERNAL: cannot decode ProvisionTokenV2List");
    for (size_t i = 0; err == NULL && i < list->n_provisiontokens; i++) {
        const Types__ProvisionTokenV2 *t = list->provisiontokens[i];
        struct resource *r;
        if (t == NULL || t->metadata == NULL || t->metadata->name == NULL || t->metadata->name[0] == '\0')
            continue;
        if ((r = resource_list_push(&op->acc)) == NULL || resource_set_str(&r->name, t->metadata->name) < 0) {
            err = &e, err_set(&e, -ENOMEM, "GetTokens: out of memory");
            break;
        }
        for (size_t k = 0; k < t->metadata->n_labels; k++)
            if (kv_set(&r->labels, nz(t->metadata->labels[k]->key), nz(t->metadata->labels[k]->value)) < 0)
                err = &e, err_set(&e, -ENOMEM, "GetTokens: out of memory");
    }
    op->list_cb(op->ud, err, err ? NULL : &op->acc);
    for (size_t i = 0; list != NULL && i < list->n_provisiontokens; i++)
        if (list->provisiontokens[i] != NULL && list->provisiontokens[i]->metadata != NULL &&
            list->provisiontokens[i]->metadata->name != NULL)
            OPENSSL_cleanse(list->provisiontokens[i]->metadata->name, strlen(list->provisiontokens[i]->metadata->name));
    /* The names in op->acc are interned strings: intern_put wipes a string
     * when its last holder lets go (base/intern.c). */
    types__provision_token_v2_list__free_unpacked(list, NULL);
    op_free(op);
}

int teleport_client_get_tokens(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    struct tc_op *op = op_new(tc, finish_get_tokens, ud);
    if (op != NULL) {
        op->list_cb = cb;
        op->max_msg = TELEPORT_CALL_LIST_MAX;
    }
    return op_start(op, "GetTokens", "GetTokens", 0, NULL, 0, err);
}

/* ---- databases ---- */

int teleport_client_get_databases(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    return get_list(tc, true, cb, NULL, ud, err);
}

int teleport_client_create_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err)
{
    return resource_write(tc, "CreateDatabase", db, cb, ud, err);
}

int teleport_client_update_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err)
{
    return resource_write(tc, "UpdateDatabase", db, cb, ud, err);
}

int teleport_client_delete_database(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                                    struct enr_error *err)
{
    return resource_delete(tc, "DeleteDatabase", name, cb, ud, err);
}

/* ---- app servers ---- */

int teleport_client_upsert_app_server(struct teleport_client *tc, const struct resource *app, const char *host_id,
                                      int64_t expires, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = teleport_convert_pack_app_server(app, host_id, expires, ENR_VERSION, &packed, &len);

    snprintf(what, sizeof(what), "UpsertApplicationServer \"%s\" on \"%s\"", app->name, host_id);
    return op_start(op_new_done(tc, cb, ud), "UpsertApplicationServer", what, rc, packed, len, err);
}

int teleport_client_delete_app_server(struct teleport_client *tc, const char *host_id, const char *name,
                                      teleport_done_cb cb, void *ud, struct enr_error *err)
{
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc = teleport_convert_pack_delete_app_server(host_id, name, &packed, &len);

    snprintf(what, sizeof(what), "DeleteApplicationServer \"%s\" on \"%s\"", name, host_id);
    return op_start(op_new_done(tc, cb, ud), "DeleteApplicationServer", what, rc, packed, len, err);
}

/* ---- WatchEvents ---- */

static int watch_msg(struct tc_op *op, const uint8_t *msg, size_t len)
{
    struct teleport_event ev;
    int rc = teleport_convert_event(msg, len, &op->tc->detail, &ev);
    if (rc == 0)
        op->event_cb(op->ud, &ev);
    resource_cleanup(&ev.res);
    return rc;
}

int teleport_client_watch(struct teleport_client *tc, const char *const *kinds, size_t n_kinds,
                          teleport_event_cb event_cb, teleport_done_cb end_cb, void *ud, struct enr_error *err)
{
    char what[128];
    uint8_t *packed = NULL;
    size_t len = 0, o = 0;
    struct tc_op *op = NULL;
    int rc, id;

    o = (size_t)snprintf(what, sizeof(what), "WatchEvents(");
    for (size_t i = 0; i < n_kinds && o < sizeof(what); i++)
        o += (size_t)snprintf(what + o, sizeof(what) - o, "%s%s", i ? "," : "", kinds[i]);
    if (o < sizeof(what))
        snprintf(what + o, sizeof(what) - o, ")");
    if (n_kinds == 0)
        return err_set(err, -EINVAL, "%s: no kinds", what);
    /* AllowPartialSuccess: kinds the identity may not read are dropped (the
     * INIT event's WatchStatus lists the accepted ones) instead of failing. */
    rc = teleport_convert_pack_watch(kinds, n_kinds, 1, &packed, &len);
    if ((op = op_new_done(tc, end_cb, ud)) != NULL) {
        op->on_msg = watch_msg;
        op->event_cb = event_cb;
        op->watch_id = ++tc->next_watch_id;
    }
    id = op != NULL ? op->watch_id : 0;
    rc = op_start(op, "WatchEvents", what, rc, packed, len, err);
    return rc < 0 ? rc : id;
}

void teleport_client_watch_cancel(struct teleport_client *tc, int watch_id)
{
    for (struct tc_op *op = tc->ops; op != NULL; op = op->next) {
        if (op->on_msg != NULL && op->watch_id == watch_id) {
            teleport_call_cancel(op->call);
            op_free(op);
            return;
        }
    }
}
