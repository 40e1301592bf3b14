/*
 * fuzz_teleport_reply.c - the protobuf replies enroller decodes from Teleport
 * Auth, decoded the way teleport_client.c decodes them (protobuf-c unpack,
 * then teleport_convert).  Byte 0 picks the reply:
 *   0: PingResponse, 1: AppV3List (GetApps), 2: DatabaseV3List
 *   (GetDatabases), 3: ListResourcesResponse (app_server pages), 4: Event
 *   (WatchEvents).
 * Apps, databases and events are converted twice: in full, and as another
 * owner's resource would be (struct teleport_detail, in brief unless its
 * label says it is "fuzz"'s).  Every resource converted must carry a name
 * and a URI string, and a converted app must pack again
 * (teleport_convert_pack_app) when it is written back.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "teleport/teleport_convert.h"

static const struct teleport_detail details[2] = {{NULL, NULL}, {"enroller.dev/owner", "fuzz"}};

static void check_resource(const struct resource *r, int pack)
{
    uint8_t *out = NULL;
    size_t len = 0;

    FUZZ_CHECK(r->name != NULL && r->uri != NULL && r->description != NULL && r->public_addr != NULL);
    (void)strlen(r->name), (void)strlen(r->uri);
    for (size_t i = 0; i < resource_opts(r)->n_rewrite_redirect; i++)
        FUZZ_CHECK(resource_opts(r)->rewrite_redirect[i] != NULL);
    if (pack) {
        FUZZ_CHECK((r->kind == RESOURCE_DB ? teleport_convert_pack_db(r, &out, &len)
                                           : teleport_convert_pack_app(r, &out, &len)) == 0);
        free(out);
    }
}

static void apps(const uint8_t *msg, size_t len)
{
    Types__AppV3List *l = types__app_v3_list__unpack(NULL, len, msg);
    struct resource_list acc;

    if (l == NULL)
        return;
    resource_list_init(&acc);
    for (size_t i = 0; i < 2 * l->n_apps; i++) {
        struct resource *r = resource_list_push(&acc);
        FUZZ_CHECK(r != NULL && teleport_convert_from_app(l->apps[i / 2], &details[i % 2], r) == 0);
        check_resource(r, 1);
    }
    resource_list_cleanup(&acc);
    types__app_v3_list__free_unpacked(l, NULL);
}

static void dbs(const uint8_t *msg, size_t len)
{
    Types__DatabaseV3List *l = types__database_v3_list__unpack(NULL, len, msg);
    struct resource_list acc;

    if (l == NULL)
        return;
    resource_list_init(&acc);
    for (size_t i = 0; i < 2 * l->n_databases; i++) {
        struct resource *r = resource_list_push(&acc);
        FUZZ_CHECK(r != NULL && teleport_convert_from_db(l->databases[i / 2], &details[i % 2], r) == 0);
        check_resource(r, 1);
    }
    resource_list_cleanup(&acc);
    types__database_v3_list__free_unpacked(l, NULL);
}

static void list_resources(const uint8_t *msg, size_t len)
{
    Proto__ListResourcesResponse *resp = proto__list_resources_response__unpack(NULL, len, msg);
    struct resource_list acc;

    if (resp == NULL)
        return;
    resource_list_init(&acc);
    for (size_t i = 0; i < resp->n_resources; i++) {
        const Proto__PaginatedResource *pr = resp->resources[i];
        if (pr->resource_case != PROTO__PAGINATED_RESOURCE__RESOURCE_APP_SERVER || pr->appserver == NULL ||
            pr->appserver->spec == NULL || pr->appserver->spec->app == NULL)
            continue;
        struct resource *r = resource_list_push(&acc);
        FUZZ_CHECK(r != NULL && teleport_convert_from_app_server(pr->appserver, r) == 0);
        FUZZ_CHECK(r->container_id != NULL);
        check_resource(r, 0);
    }
    (void)(resp->nextkey ? strlen(resp->nextkey) : 0);
    resource_list_cleanup(&acc);
    proto__list_resources_response__free_unpacked(resp, NULL);
}

static void event(const uint8_t *msg, size_t len)
{
    for (size_t i = 0; i < 2; i++) {
        struct teleport_event ev;
        int rc = teleport_convert_event(msg, len, &details[i], &ev);

        FUZZ_CHECK(rc == 0 || rc == -EPROTO);
        if (rc == 0) {
            FUZZ_CHECK(memchr(ev.kind, '\0', sizeof(ev.kind)) != NULL);
            check_resource(&ev.res, 0);
        }
        resource_cleanup(&ev.res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *msg = data + 1;
    size_t len = size - 1;

    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0: {
        Proto__PingResponse *p = proto__ping_response__unpack(NULL, len, msg);
        if (p != NULL) {
            (void)(p->clustername ? strlen(p->clustername) : 0);
            (void)(p->serverversion ? strlen(p->serverversion) : 0);
        }
        proto__ping_response__free_unpacked(p, NULL);
        break;
    }
    case 1: apps(msg, len); break;
    case 2: dbs(msg, len); break;
    case 3: list_resources(msg, len); break;
    case 4: event(msg, len); break;
    }
    return 0;
}
