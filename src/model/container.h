/*
 * container.h - the small, immutable snapshot of one Docker container that
 * rules and the planner see.
 *
 * Built from `GET /containers/{id}/json` (docker inspect) by
 * container_from_inspect(); it keeps only what rules use, not the whole
 * document (README "Architecture": small resident state).  Never mutated after creation;
 * shared read-only with the Lua binding.  Its strings and labels are interned
 * (base/intern.h): the image, the network names, the state and the label
 * keys and values most containers share are stored once.  The networks and
 * ports arrays live in the same allocation as the struct (container_free).
 */
#ifndef ENR_CONTAINER_H
#define ENR_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/kv.h"

struct container_network {
    const char *name;       /* network name as in NetworkSettings.Networks keys */
    const char *ip;         /* IPv4 address, "" when none */
    const char *ipv6;       /* GlobalIPv6Address, "" when none */
    const char *aliases_0;  /* first alias or "" (reserved for rules that want it) */
};

struct container_port {
    unsigned port;      /* container port, e.g. 15672 */
    char proto[8];      /* "tcp", "udp", "sctp" */
    unsigned host_port; /* published host port, 0 when not published */
    const char *host_ip; /* published host IP, "" when not published */
};

struct container {
    const char *id;          /* full 64-hex id */
    const char *name;        /* without the leading '/' */
    const char *image;       /* Config.Image as the user wrote it: "rabbitmq:3-management" */
    const char *image_id;    /* Image: "sha256:..." */
    const char *hostname;    /* Config.Hostname */
    struct kv_list labels;  /* Config.Labels */
    struct container_network *networks; /* sorted by name */
    size_t n_networks;
    struct container_port *ports; /* exposed and published, sorted by (port, proto) */
    size_t n_ports;
    const char *state;       /* State.Status: "running", "exited", ... */
    const char *health;      /* State.Health.Status or "" when no healthcheck */
    int64_t created;   /* Created, unix seconds */
    int64_t started;   /* State.StartedAt, unix seconds (0 if never) */
    uint64_t hash;     /* FNV-1a of every field above: equal hash, equal snapshot */
};

/* Parses one inspect document.  Returns NULL and fills err on malformed
 * JSON or a missing Id/Name/Config. */
struct container *container_from_inspect(const char *json, size_t len, struct enr_error *err);
void container_free(struct container *c);

#endif
