/* test_teleport_convert_list.c - a List* reply from a server whose field
 * numbers differ from proto/: its items land in unknown fields, which
 * teleport_convert_unknown_field reports so that teleport_client asks the
 * old GetApps/GetDatabases instead of reading an empty listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "teleport/teleport_convert.h"
#include "test.h"

/* A ListAppsResponse as this build packs it: unknown_field is 0. */
static void test_known_numbers(void)
{
    Types__AppV3 app = TYPES__APP_V3__INIT;
    Types__AppV3 *apps[1] = {&app};
    Proto__ListAppsResponse resp = PROTO__LIST_APPS_RESPONSE__INIT;
    app.kind = "app";
    resp.n_applications = 1;
    resp.applications = apps;
    resp.next_key = "b";
    size_t len = proto__list_apps_response__get_packed_size(&resp);
    uint8_t *buf = malloc(len);
    ASSERT_TRUE(buf != NULL);
    proto__list_apps_response__pack(&resp, buf);
    Proto__ListAppsResponse *back = proto__list_apps_response__unpack(NULL, len, buf);
    ASSERT_TRUE(back != NULL);
    ASSERT_EQ(back->n_applications, 1);
    ASSERT_EQ(teleport_convert_unknown_field(&back->base), 0);
    proto__list_apps_response__free_unpacked(back, NULL);
    free(buf);
}

/* The same app under field 3 (length-delimited): nothing decodes, field 3
 * is reported; likewise for ListDatabasesResponse. */
static void test_other_numbers(void)
{
    const uint8_t wire[] = {(3 << 3) | 2, 5, 0x0a, 0x03, 'a', 'p', 'p'};
    Proto__ListAppsResponse *apps = proto__list_apps_response__unpack(NULL, sizeof(wire), wire);
    ASSERT_TRUE(apps != NULL);
    ASSERT_EQ(apps->n_applications, 0);
    ASSERT_EQ(teleport_convert_unknown_field(&apps->base), 3);
    proto__list_apps_response__free_unpacked(apps, NULL);

    Proto__ListDatabasesResponse *dbs = proto__list_databases_response__unpack(NULL, sizeof(wire), wire);
    ASSERT_TRUE(dbs != NULL);
    ASSERT_EQ(dbs->n_databases, 0);
    ASSERT_EQ(teleport_convert_unknown_field(&dbs->base), 3);
    proto__list_databases_response__free_unpacked(dbs, NULL);
    ASSERT_EQ(teleport_convert_unknown_field(NULL), 0);
}

int main(void)
{
    test_known_numbers();
    test_other_numbers();
    printf("test_teleport_convert_list: ok\n");
    return 0;
}
