/*
 * docker_containers.h - the Engine API's write calls, for agent mode:
 * create, archive upload, start, stop and remove a container, create and
 * remove a named volume, and list containers and volumes by label.
 *
 * Asynchronous on docker_client's loop, with its contract: 0 once queued
 * (the callback runs later exactly once) or a negative code with err (no
 * callback).  A 404 gives ENR_ENOTFOUND, a 409 -EEXIST.  Nothing here
 * decides what may be touched: the caller passes only ids and names it
 * listed by its owner label or created itself.
 */
#ifndef ENR_DOCKER_CONTAINERS_H
#define ENR_DOCKER_CONTAINERS_H

#include <stddef.h>

#include "base/error.h"
#include "base/kv.h"
#include "docker/docker_client.h"

typedef void (*docker_containers_done_cb)(void *ud, const struct enr_error *err);
/* POST /containers/create: id of the new container (borrowed). */
typedef void (*docker_containers_id_cb)(void *ud, const struct enr_error *err, const char *id);

struct docker_containers_entry {
    const char *id;
    const char *name;   /* without the leading '/' */
    const char *state;  /* "created", "running", "exited", ... */
    struct kv_list labels;
};
/* items borrowed for the call. */
typedef void (*docker_containers_list_cb)(void *ud, const struct enr_error *err,
                                          const struct docker_containers_entry *items, size_t n);
/* volume names, borrowed for the call. */
typedef void (*docker_containers_names_cb)(void *ud, const struct enr_error *err, const char *const *names,
                                           size_t n);

/* One file of an archive upload. */
struct docker_containers_file {
    const char *path;   /* relative to the upload's directory: "var/lib/teleport/host_uuid" */
    const void *data;
    size_t len;
    unsigned mode;      /* 0400 */
};

/* A ustar archive (libarchive) of files, owned by root; *out is malloc'd
 * (the caller frees it, after wiping it when it holds a secret). */
int docker_containers_tar(const struct docker_containers_file *files, size_t n, void **out, size_t *out_len,
                          struct enr_error *err);

/* POST /containers/create?name=name with body (a JSON ContainerConfig). */
int docker_containers_create(struct docker_client *dc, const char *name, const char *body,
                             docker_containers_id_cb cb, void *ud, struct enr_error *err);
/* PUT /containers/{id}/archive?path=dir with tar (works on a created
 * container, volumes included). */
int docker_containers_upload(struct docker_client *dc, const char *id, const char *dir, const void *tar,
                             size_t len, docker_containers_done_cb cb, void *ud, struct enr_error *err);
/* POST /containers/{id}/start (already running counts as done). */
int docker_containers_start(struct docker_client *dc, const char *id, docker_containers_done_cb cb, void *ud,
                            struct enr_error *err);
/* DELETE /containers/{id}?force=1: stops (SIGKILL after Docker's stop) and
 * removes it; its named volumes stay. */
int docker_containers_remove(struct docker_client *dc, const char *id, docker_containers_done_cb cb, void *ud,
                             struct enr_error *err);
/* POST /volumes/create {Name, Labels}.  Docker answers an existing volume's
 * name with that volume: unless it carries every label given, it is not
 * ours and the call fails with -EPERM. */
int docker_containers_volume_create(struct docker_client *dc, const char *name, const struct kv_list *labels,
                                    docker_containers_done_cb cb, void *ud, struct enr_error *err);
/* DELETE /volumes/{name}. */
int docker_containers_volume_remove(struct docker_client *dc, const char *name, docker_containers_done_cb cb,
                                    void *ud, struct enr_error *err);
/* GET /containers/json?all=1 filtered on label "key=value" (all states). */
int docker_containers_list(struct docker_client *dc, const char *label, docker_containers_list_cb cb, void *ud,
                           struct enr_error *err);
/* GET /volumes filtered on label "key=value". */
int docker_containers_volumes(struct docker_client *dc, const char *label, docker_containers_names_cb cb,
                              void *ud, struct enr_error *err);

#endif
