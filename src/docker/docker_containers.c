/*
 * docker_containers.c - see docker_containers.h.  Each call is one
 * docker_client_request (docker_client_internal.h); the answer is decoded
 * with jansson.  Paths follow the Engine API reference (v1.41+):
 * /containers/create, /containers/{id}/archive|start, DELETE
 * /containers/{id}, /volumes/create, DELETE /volumes/{name}.
 */
#include "docker/docker_containers.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker/docker_client_internal.h"
#include "docker/docker_libarchive.h"

enum dcx_kind { DCX_DONE, DCX_ID, DCX_LIST, DCX_NAMES, DCX_VOLUME };

/* One call in flight: the caller's callback and what decoding needs. */
struct dcx {
    enum dcx_kind kind;
    union {
        docker_containers_done_cb done;
        docker_containers_id_cb id;
        docker_containers_list_cb list;
        docker_containers_names_cb names;
    } cb;
    void *ud;
    struct kv_list want;   /* DCX_VOLUME: labels the volume must carry */
    char what[160];        /* "POST /volumes/create" for messages */
};

static struct dcx *dcx_new(enum dcx_kind kind, void *cb, void *ud)
{
    struct dcx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->kind = kind;
    x->ud = ud;
    kv_init(&x->want);
    switch (kind) {
    case DCX_DONE:
    case DCX_VOLUME: x->cb.done = (docker_containers_done_cb)cb; break;
    case DCX_ID: x->cb.id = (docker_containers_id_cb)cb; break;
    case DCX_LIST: x->cb.list = (docker_containers_list_cb)cb; break;
    case DCX_NAMES: x->cb.names = (docker_containers_names_cb)cb; break;
    }
    return x;
}

static void dcx_free(struct dcx *x)
{
    if (x == NULL)
        return;
    kv_cleanup(&x->want);
    free(x);
}

static void on_id(struct dcx *x, struct enr_error *err, json_t *root)
{
    json_t *id = json_is_object(root) ? json_object_get(root, "Id") : NULL;
    if (err->code == 0 && !json_is_string(id))
        err_set(err, -EPROTO, "%s: answer has no Id", x->what);
    x->cb.id(x->ud, err->code ? err : NULL, err->code ? NULL : json_string_value(id));
}

static void on_volume(struct dcx *x, struct enr_error *err, json_t *root)
{
    json_t *labels = json_is_object(root) ? json_object_get(root, "Labels") : NULL;

    for (size_t i = 0; err->code == 0 && i < x->want.len; i++) {
        json_t *v = json_is_object(labels) ? json_object_get(labels, x->want.items[i].key) : NULL;
        if (!json_is_string(v) || strcmp(json_string_value(v), x->want.items[i].value) != 0)
            err_set(err, -EPERM, "%s: a volume of that name exists without label %s=%s: not enroller's, "
                    "left alone", x->what, x->want.items[i].key, x->want.items[i].value);
    }
    x->cb.done(x->ud, err->code ? err : NULL);
}

static void on_list(struct dcx *x, struct enr_error *err, json_t *root)
{
    struct docker_containers_entry *items = NULL;
    size_t n = 0, i;
    json_t *item;

    if (err->code == 0 && !json_is_array(root))
        err_set(err, -EPROTO, "%s: expected a JSON array", x->what);
    if (err->code == 0 && (items = calloc(json_array_size(root) + 1, sizeof(*items))) == NULL)
        err_set(err, -ENOMEM, "%s: out of memory", x->what);
    if (err->code == 0) {
        json_array_foreach(root, i, item) {
            struct docker_containers_entry *e = &items[n];
            json_t *id = json_object_get(item, "Id"), *names = json_object_get(item, "Names");
            json_t *state = json_object_get(item, "State"), *labels = json_object_get(item, "Labels");
            json_t *name = json_is_array(names) ? json_array_get(names, 0) : NULL;
            const char *k;
            json_t *v;

            if (!json_is_string(id)) {
                err_set(err, -EPROTO, "%s: item %zu: Id missing", x->what, i);
                break;
            }
            kv_init(&e->labels);
            n++;
            e->id = json_string_value(id);
            e->name = json_is_string(name) ? json_string_value(name) : "";
            if (e->name[0] == '/')
                e->name++;
            e->state = json_is_string(state) ? json_string_value(state) : "";
            json_object_foreach(json_is_object(labels) ? labels : NULL, k, v) {
                if (json_is_string(v) && kv_set(&e->labels, k, json_string_value(v)) < 0) {
                    err_set(err, -ENOMEM, "%s: out of memory", x->what);
                    break;
                }
            }
            if (err->code)
                break;
        }
    }
    x->cb.list(x->ud, err->code ? err : NULL, err->code ? NULL : items, err->code ? 0 : n);
    for (i = 0; i < n; i++)
        kv_cleanup(&items[i].labels);
    free(items);
}

static void on_names(struct dcx *x, struct enr_error *err, json_t *root)
{
    json_t *vols = json_is_object(root) ? json_object_get(root, "Volumes") : NULL, *v;
    const char **names = NULL;
    size_t n = 0, i;

    if (err->code == 0 && !json_is_array(vols) && !json_is_null(vols))
        err_set(err, -EPROTO, "%s: answer has no Volumes array", x->what);
    if (err->code == 0 && (names = calloc(json_array_size(vols) + 1, sizeof(*names))) == NULL)
        err_set(err, -ENOMEM, "%s: out of memory", x->what);
    if (err->code == 0) {
        json_array_foreach(vols, i, v) {
            json_t *name = json_object_get(v, "Name");
            if (json_is_string(name))
                names[n++] = json_string_value(name);
        }
    }
    x->cb.names(x->ud, err->code ? err : NULL, err->code ? NULL : names, err->code ? 0 : n);
    free(names);
}

static void on_answer(void *ud, const struct enr_error *e, long status, const char *body, size_t len)
{
    struct dcx *x = ud;
    struct enr_error err = {0};
    json_t *root = NULL;

    (void)status;
    if (e != NULL)
        err = *e;
    else if (x->kind != DCX_DONE && (root = json_loadb(body, len, 0, NULL)) == NULL)
        err_set(&err, -EPROTO, "%s: the answer is not JSON", x->what);
    switch (x->kind) {
    case DCX_DONE: x->cb.done(x->ud, err.code ? &err : NULL); break;
    case DCX_ID: on_id(x, &err, root); break;
    case DCX_VOLUME: on_volume(x, &err, root); break;
    case DCX_LIST: on_list(x, &err, root); break;
    case DCX_NAMES: on_names(x, &err, root); break;
    }
    json_decref(root);
    dcx_free(x);
}

/* Queues x (taking it); escaped is one path segment (an id or a name). */
static int send_req(struct docker_client *dc, struct dcx *x, const char *method, const char *path,
                    const char *query, const void *body, size_t len, const char *ctype, struct enr_error *err)
{
    int rc;

    if (x == NULL)
        return err_set(err, -ENOMEM, "%s %s: out of memory", method, path);
    snprintf(x->what, sizeof(x->what), "%s %s", method, path);
    rc = docker_client_request(dc, method, path, query, body, len, ctype, on_answer, x, err);
    if (rc < 0)
        dcx_free(x);
    return rc;
}

/* path = fmt with one escaped segment; -EINVAL for an empty or long one. */
static int seg_path(char *out, size_t size, const char *fmt, const char *seg, struct enr_error *err)
{
    char *esc;

    if (seg == NULL || *seg == '\0' || strlen(seg) > 200)
        return err_set(err, -EINVAL, "docker: bad id or name");
    if ((esc = curl_easy_escape(NULL, seg, 0)) == NULL)
        return err_set(err, -ENOMEM, "docker: out of memory");
    snprintf(out, size, fmt, esc);
    curl_free(esc);
    return 0;
}

static char *label_filter(const char *label)
{
    json_t *f = json_pack("{s:[s]}", "label", label);
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL, *esc = NULL, *q = NULL;

    json_decref(f);
    if (text != NULL && (esc = curl_easy_escape(NULL, text, 0)) != NULL &&
        (q = malloc(strlen(esc) + 16)) != NULL)
        sprintf(q, "filters=%s", esc);
    free(text);
    curl_free(esc);
    return q;
}

int docker_containers_tar(const struct docker_containers_file *files, size_t n, void **out, size_t *out_len,
                          struct enr_error *err)
{
    const struct docker_libarchive *L = docker_libarchive_get(err);
    struct archive *a = NULL;
    struct archive_entry *e = NULL;
    size_t cap = 10240, used = 0;
    char *buf = NULL;
    int rc = 0;

    *out = NULL;
    *out_len = 0;
    if (L == NULL)
        return err->code;
    a = L->archive_write_new();
    e = L->archive_entry_new();
    for (size_t i = 0; i < n; i++)
        cap += files[i].len + 1024;
    if (a == NULL || e == NULL || (buf = calloc(1, cap)) == NULL) {
        rc = err_set(err, -ENOMEM, "tar: out of memory");
        goto fail;
    }
    if (L->archive_write_set_format_ustar(a) != ARCHIVE_OK || L->archive_write_add_filter_none(a) != ARCHIVE_OK ||
        L->archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        L->archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK) {
        rc = err_set(err, -EIO, "tar: %s", L->archive_error_string(a));
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        L->archive_entry_clear(e);
        L->archive_entry_set_pathname(e, files[i].path);
        L->archive_entry_set_filetype(e, AE_IFREG);
        L->archive_entry_set_perm(e, files[i].mode);
        L->archive_entry_set_size(e, (la_int64_t)files[i].len);
        L->archive_entry_set_uid(e, 0);
        L->archive_entry_set_gid(e, 0);
        L->archive_entry_set_mtime(e, time(NULL), 0);
        if (L->archive_write_header(a, e) != ARCHIVE_OK ||
            L->archive_write_data(a, files[i].data, files[i].len) != (la_ssize_t)files[i].len) {
            rc = err_set(err, -EIO, "tar: %s: %s", files[i].path, L->archive_error_string(a));
            goto fail;
        }
    }
    if (L->archive_write_close(a) != ARCHIVE_OK) {
        rc = err_set(err, -EIO, "tar: %s", L->archive_error_string(a));
        goto fail;
    }
    *out = buf;
    *out_len = used;
    buf = NULL;
fail:
    if (buf != NULL) {
        memset(buf, 0, cap); /* it may hold a secret */
        free(buf);
    }
    L->archive_entry_free(e);
    L->archive_write_free(a);
    return rc;
}

int docker_containers_create(struct docker_client *dc, const char *name, const char *body,
                             docker_containers_id_cb cb, void *ud, struct enr_error *err)
{
    char query[256];
    char *esc;

    if (name == NULL || *name == '\0' || strlen(name) > 200)
        return err_set(err, -EINVAL, "POST /containers/create: bad name");
    if ((esc = curl_easy_escape(NULL, name, 0)) == NULL)
        return err_set(err, -ENOMEM, "POST /containers/create: out of memory");
    snprintf(query, sizeof(query), "name=%s", esc);
    curl_free(esc);
    return send_req(dc, dcx_new(DCX_ID, (void *)cb, ud), "POST", "/containers/create", query, body, strlen(body),
                    "application/json", err);
}

int docker_containers_upload(struct docker_client *dc, const char *id, const char *dir, const void *tar,
                             size_t len, docker_containers_done_cb cb, void *ud, struct enr_error *err)
{
    char path[256], query[256];
    char *esc;

    if (seg_path(path, sizeof(path), "/containers/%s/archive", id, err) < 0)
        return err->code;
    if ((esc = curl_easy_escape(NULL, dir, 0)) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", path);
    snprintf(query, sizeof(query), "path=%s", esc);
    curl_free(esc);
    return send_req(dc, dcx_new(DCX_DONE, (void *)cb, ud), "PUT", path, query, tar, len, "application/x-tar", err);
}

int docker_containers_start(struct docker_client *dc, const char *id, docker_containers_done_cb cb, void *ud,
                            struct enr_error *err)
{
    char path[256];

    if (seg_path(path, sizeof(path), "/containers/%s/start", id, err) < 0)
        return err->code;
    return send_req(dc, dcx_new(DCX_DONE, (void *)cb, ud), "POST", path, NULL, NULL, 0, NULL, err);
}

int docker_containers_remove(struct docker_client *dc, const char *id, docker_containers_done_cb cb, void *ud,
                             struct enr_error *err)
{
    char path[256];

    if (seg_path(path, sizeof(path), "/containers/%s", id, err) < 0)
        return err->code;
    return send_req(dc, dcx_new(DCX_DONE, (void *)cb, ud), "DELETE", path, "force=1", NULL, 0, NULL, err);
}

int docker_containers_volume_create(struct docker_client *dc, const char *name, const struct kv_list *labels,
                                    docker_containers_done_cb cb, void *ud, struct enr_error *err)
{
    struct dcx *x = dcx_new(DCX_VOLUME, (void *)cb, ud);
    json_t *body = json_pack("{s:s, s:{}}", "Name", name, "Labels");
    char *text = NULL;
    int rc;

    if (x == NULL || body == NULL || kv_copy(&x->want, labels) < 0) {
        rc = err_set(err, -ENOMEM, "POST /volumes/create: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < labels->len; i++)
        if (json_object_set_new(json_object_get(body, "Labels"), labels->items[i].key,
                                json_string(labels->items[i].value)) < 0) {
            rc = err_set(err, -ENOMEM, "POST /volumes/create: out of memory");
            goto fail;
        }
    if ((text = json_dumps(body, JSON_COMPACT)) == NULL) {
        rc = err_set(err, -ENOMEM, "POST /volumes/create: out of memory");
        goto fail;
    }
    rc = send_req(dc, x, "POST", "/volumes/create", NULL, text, strlen(text), "application/json", err);
    x = NULL; /* taken */
fail:
    dcx_free(x);
    json_decref(body);
    free(text);
    return rc;
}

int docker_containers_volume_remove(struct docker_client *dc, const char *name, docker_containers_done_cb cb,
                                    void *ud, struct enr_error *err)
{
    char path[256];

    if (seg_path(path, sizeof(path), "/volumes/%s", name, err) < 0)
        return err->code;
    return send_req(dc, dcx_new(DCX_DONE, (void *)cb, ud), "DELETE", path, NULL, NULL, 0, NULL, err);
}

int docker_containers_list(struct docker_client *dc, const char *label, docker_containers_list_cb cb, void *ud,
                           struct enr_error *err)
{
    char *f = label_filter(label), *q;
    int rc;

    if (f == NULL || (q = malloc(strlen(f) + 8)) == NULL) {
        free(f);
        return err_set(err, -ENOMEM, "GET /containers/json: out of memory");
    }
    sprintf(q, "all=1&%s", f);
    rc = send_req(dc, dcx_new(DCX_LIST, (void *)cb, ud), "GET", "/containers/json", q, NULL, 0, NULL, err);
    free(q);
    free(f);
    return rc;
}

int docker_containers_volumes(struct docker_client *dc, const char *label, docker_containers_names_cb cb,
                              void *ud, struct enr_error *err)
{
    char *f = label_filter(label);
    int rc;

    if (f == NULL)
        return err_set(err, -ENOMEM, "GET /volumes: out of memory");
    rc = send_req(dc, dcx_new(DCX_NAMES, (void *)cb, ud), "GET", "/volumes", f, NULL, 0, NULL, err);
    free(f);
    return rc;
}
