/*
 * teleport_convert.h - struct resource <-> Teleport protobuf messages
 * (types.AppV3, types.DatabaseV3, proto.Event), packed with protobuf-c.
 * Used by teleport_client and checked byte for byte against
 * spec/fixtures/golden/ by spec/c/test_golden.c.
 */
#ifndef ENR_TELEPORT_CONVERT_H
#define ENR_TELEPORT_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "teleport/legacy/client/proto/authservice.pb-c.h"
#include "teleport/legacy/client/proto/event.pb-c.h"
#include "teleport/legacy/types/types.pb-c.h"

#include "model/resource.h"
#include "teleport/teleport_event.h"

#define TELEPORT_GO_ZERO_TIME (-62135596800LL) /* 0001-01-01T00:00:00Z: Go's "unset" time */

/* Fill r (initialised by resource_init) from a decoded message, in full or
 * in brief as d says (struct teleport_detail; NULL: in full); -ENOMEM. */
int teleport_convert_from_app(const Types__AppV3 *a, const struct teleport_detail *d, struct resource *r);
int teleport_convert_from_db(const Types__DatabaseV3 *db, const struct teleport_detail *d, struct resource *r);
/* What enroller reads of an app_server or db_server: r->name is the name of
 * the app (database) it serves (the server's own without one),
 * r->container_id its host id; -ENOMEM. */
int teleport_convert_from_app_server(const Types__AppServerV3 *s, struct resource *r);
int teleport_convert_from_db_server(const Types__DatabaseServerV3 *s, struct resource *r);
/* Pack r as types.AppV3 / types.DatabaseV3 (kind, version v3, namespace
 * "default") into a malloc'd buffer; -ENOMEM. */
int teleport_convert_pack_app(const struct resource *r, uint8_t **out, size_t *out_len);
int teleport_convert_pack_db(const struct resource *r, uint8_t **out, size_t *out_len);

/* Requests, packed as Teleport's Go client packs them (gogoproto
 * non-nullable empty messages included, map keys sorted). */
int teleport_convert_pack_resource_request(const char *name, uint8_t **out, size_t *out_len);
/* labels may be NULL. */
int teleport_convert_pack_list_resources(const char *resource_type, int32_t limit, const char *start_key,
                                         const struct kv_list *labels, uint8_t **out, size_t *out_len);
/* ListAppsRequest (kind RESOURCE_APP) or ListDatabasesRequest (RESOURCE_DB);
 * start_key NULL: the first page. */
/* The first field number in m (or its nested messages' first level) that
 * the compiled .proto does not know, or 0.  A List* reply whose items all
 * landed there was sent by a server whose field numbers differ. */
uint32_t teleport_convert_unknown_field(const ProtobufCMessage *m);
int teleport_convert_pack_list_page(enum resource_kind kind, int32_t limit, const char *start_key, uint8_t **out,
                                    size_t *out_len);
/* expires: absolute unix seconds, 0: none; labels (Metadata.Labels) may be
 * NULL. */
int teleport_convert_pack_token(const char *token, const char *const *roles, size_t n_roles, int64_t expires,
                                const struct kv_list *labels, uint8_t **out, size_t *out_len);
/* UpsertApplicationServerRequest: an app_server named after app, serving
 * app (as pack_app packs it) on host_id (also its hostname), reporting
 * version; expires unix seconds, 0: none. */
int teleport_convert_pack_app_server(const struct resource *app, const char *host_id, int64_t expires,
                                     const char *version, uint8_t **out, size_t *out_len);
int teleport_convert_pack_delete_app_server(const char *host_id, const char *name, uint8_t **out, size_t *out_len);
int teleport_convert_pack_watch(const char *const *kinds, size_t n_kinds, int allow_partial, uint8_t **out,
                                size_t *out_len);

/* Decodes an Event into ev (res initialised here; resource_cleanup it), an
 * app or database in full or in brief as d says.  -EPROTO when msg is not
 * an Event, -ENOMEM. */
int teleport_convert_event(const uint8_t *msg, size_t len, const struct teleport_detail *d, struct teleport_event *ev);

#endif
