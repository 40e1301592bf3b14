/*
 * docker_client_internal.h - one Engine API request of any method, for the
 * write calls in docker/docker_containers.c.  Nothing outside src/docker/
 * includes it.
 */
#ifndef ENR_DOCKER_CLIENT_INTERNAL_H
#define ENR_DOCKER_CLIENT_INTERNAL_H

#include <stddef.h>

#include "base/error.h"

struct docker_client;

/* err NULL for any 2xx and for 304 (Docker's "already started/stopped");
 * else err says "METHOD /path: HTTP n: message" with ENR_ENOTFOUND for 404
 * and -EEXIST for 409.  body (the response, NUL-terminated) is borrowed for
 * the call; status 0 when no answer came. */
typedef void (*docker_client_raw_cb)(void *ud, const struct enr_error *err, long status, const char *body,
                                     size_t len);

/* method "GET", "POST", "PUT" or "DELETE" on path (?query when not NULL),
 * with body (copied; NULL: empty) of content_type (NULL: application/json). */
int docker_client_request(struct docker_client *dc, const char *method, const char *path, const char *query,
                          const void *body, size_t len, const char *content_type, docker_client_raw_cb cb,
                          void *ud, struct enr_error *err);

#endif
