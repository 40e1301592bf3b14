/*
 * docker_event.h - one line of Docker's (or Podman's) /events stream ->
 * struct docker_event, under Docker's names.
 *
 *   docker_event_parse("{\"Type\":\"container\",\"Action\":\"start\",...}", len,
 *                      "GET /events", on_event, ud, &err);
 *
 * Pure: no I/O, no state; the line splitting and the transport are
 * docker_client.c's.
 */
#ifndef ENR_DOCKER_EVENT_H
#define ENR_DOCKER_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* One event from /events.  Pointers are valid during the callback only. */
struct docker_event {
    const char *type;        /* "container" or "network" */
    const char *action;      /* "start", "die", "destroy", "connect", "disconnect", ... (Docker's
                              * names: Podman's "remove" comes as "destroy", "died" as "die") */
    const char *container_id;/* the container concerned (network events: Actor.Attributes.container,
                              * or Actor.ID where Podman sends no such attribute) */
    int64_t time_nano;       /* timeNano (or time * 1e9); 0 when absent or implausible */
};

typedef void (*docker_event_cb)(void *ud, const struct docker_event *ev);

/* Parses one line (without its '\n'; a trailing '\r' or blanks are
 * ignored).  A wanted event (container start/die/destroy/stop/pause/
 * unpause/health_status/rename, network connect/disconnect) is passed to cb; any
 * other event, or one without a container id (logged), is skipped and 0 is
 * returned.  A line that is not a JSON object: -EPROTO and err names `what`. */
int docker_event_parse(const char *line, size_t len, const char *what, docker_event_cb cb, void *ud,
                       struct enr_error *err);

#endif
