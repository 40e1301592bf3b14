/*
 * teleport_event.h - one WatchEvents event (proto.Event) as enroller uses
 * it.  No protobuf here: decoded by teleport_convert_event, delivered by
 * teleport_client_watch.
 */
#ifndef ENR_TELEPORT_EVENT_H
#define ENR_TELEPORT_EVENT_H

#include "model/resource.h"

enum teleport_event_op { TELEPORT_EVENT_INIT = 0, TELEPORT_EVENT_PUT = 1, TELEPORT_EVENT_DELETE = 2 };

/* Which apps and databases are decoded in full: those whose label `label`
 * has the value `value` (enroller's ownership label and its owner id).  Any
 * other is decoded in brief, with only what enroller reads of a resource it
 * does not own (the planner's conflict and adopt paths): its kind, name,
 * revision, expiry and that one label.  On a cluster shared by many hosts
 * most resources are another's, and a brief one costs a fraction of the
 * memory and time.  label NULL: every resource in full. */
struct teleport_detail {
    const char *label;
    const char *value;
};

struct teleport_event {
    enum teleport_event_op op;
    char kind[32];            /* "app", "db", "app_server", "db_server"; "" for INIT */
    struct resource res;      /* PUT app/db: the resource (in full or in brief: struct teleport_detail);
                                 PUT app_server (db_server): the name of the app (db) served and
                                 container_id = host id; DELETE: name only (app_server: host id
                                 in container_id, from the header's Description) */
};

#endif
