/*
 * teleport_event.h - one WatchEvents event (proto.Event) as enroller uses
 * it.  No protobuf here: decoded by teleport_convert_event, delivered by
 * teleport_client_watch.
 */
#ifndef ENR_TELEPORT_EVENT_H
#define ENR_TELEPORT_EVENT_H

#include "model/resource.h"

enum teleport_event_op { TELEPORT_EVENT_INIT = 0, TELEPORT_EVENT_PUT = 1, TELEPORT_EVENT_DELETE = 2 };

struct teleport_event {
    enum teleport_event_op op;
    char kind[32];            /* "app", "db", "app_server", "db_server"; "" for INIT */
    struct resource res;      /* PUT app/db: the resource; PUT app_server (db_server): the served app (db) with
                                 container_id = host id; DELETE: name only (app_server: host id
                                 in container_id, from the header's Description) */
};

#endif
