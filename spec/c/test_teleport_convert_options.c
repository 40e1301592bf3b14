/* test_teleport_convert_options.c - the app options beyond name/URI/labels
 * (use_any_proxy_public_addr, required_apps, cors, tcp_ports,
 * rewrite.jwt_claims): packed under Teleport's field numbers
 * (api/proto/teleport/legacy/types/types.proto AppSpecV3, CORSPolicy,
 * PortRange, Rewrite), read back unchanged, compared and hashed by the
 * planner's resource_same_managed / resource_managed_hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/resource.h"
#include "teleport/teleport_convert.h"
#include "test.h"

static void fill(struct resource *r)
{
    struct resource_opts *o;

    ASSERT_EQ(resource_init(r), 0);
    ASSERT_TRUE((o = resource_opts_mut(r)) != NULL);
    ASSERT_EQ(resource_set_str(&r->name, "db"), 0);
    ASSERT_EQ(resource_set_str(&r->uri, "tcp://10.0.0.2"), 0);
    ASSERT_EQ(resource_set_str(&o->rewrite_jwt_claims, "roles"), 0);
    o->use_any_proxy_public_addr = true;
    ASSERT_EQ(resource_strv_push(&o->required_apps, "api"), 0);
    ASSERT_EQ(resource_strv_push(&o->required_apps, "auth"), 0);
    ASSERT_EQ(resource_strv_push(&o->cors.allowed_origins, "https://a.example.com"), 0);
    ASSERT_EQ(resource_strv_push(&o->cors.allowed_methods, "GET"), 0);
    ASSERT_EQ(resource_strv_push(&o->cors.allowed_headers, "X-A"), 0);
    ASSERT_EQ(resource_strv_push(&o->cors.exposed_headers, "X-B"), 0);
    o->cors.allow_credentials = true;
    o->cors.max_age = 600;
    o->tcp_ports = calloc(2, sizeof(*o->tcp_ports));
    ASSERT_TRUE(o->tcp_ports != NULL);
    o->tcp_ports[0].port = 5432;
    o->tcp_ports[1].port = 6000;
    o->tcp_ports[1].end_port = 6010;
    o->n_tcp_ports = 2;
}

static void test_round_trip(void)
{
    struct resource r, back, copy;
    uint8_t *buf = NULL;
    size_t n = 0;

    fill(&r);
    ASSERT_EQ(teleport_convert_pack_app(&r, &buf, &n), 0);
    Types__AppV3 *a = types__app_v3__unpack(NULL, n, buf);
    ASSERT_TRUE(a != NULL && a->spec != NULL);
    /* The wire, as Teleport's Go types read it. */
    ASSERT_EQ(a->spec->useanyproxypublicaddr, 1);
    ASSERT_EQ(a->spec->n_requiredappnames, 2);
    ASSERT_STREQ(a->spec->requiredappnames[1], "auth");
    ASSERT_TRUE(a->spec->cors != NULL);
    ASSERT_EQ(a->spec->cors->max_age, 600);
    ASSERT_EQ(a->spec->cors->allow_credentials, 1);
    ASSERT_EQ(a->spec->n_tcpports, 2);
    ASSERT_EQ(a->spec->tcpports[1]->endport, 6010);
    ASSERT_TRUE(a->spec->rewrite != NULL);
    ASSERT_STREQ(a->spec->rewrite->jwtclaims, "roles");

    ASSERT_EQ(resource_init(&back), 0);
    ASSERT_EQ(teleport_convert_from_app(a, NULL, &back), 0);
    ASSERT_TRUE(resource_same_managed(&r, &back));
    ASSERT_EQ(resource_managed_hash(&r), resource_managed_hash(&back));
    ASSERT_EQ(resource_copy(&copy, &back), 0);
    ASSERT_TRUE(resource_same_managed(&copy, &r));

    /* Each option is compared: a change is an update. */
    copy.opts->tcp_ports[1].end_port = 6011;
    ASSERT_TRUE(!resource_same_managed(&copy, &r));
    ASSERT_TRUE(resource_managed_hash(&copy) != resource_managed_hash(&r));
    copy.opts->tcp_ports[1].end_port = 6010;
    copy.opts->cors.max_age = 60;
    ASSERT_TRUE(!resource_same_managed(&copy, &r));
    copy.opts->cors.max_age = 600;
    copy.opts->use_any_proxy_public_addr = false;
    ASSERT_TRUE(!resource_same_managed(&copy, &r));
    copy.opts->use_any_proxy_public_addr = true;
    ASSERT_EQ(resource_set_str(&copy.opts->rewrite_jwt_claims, "none"), 0);
    ASSERT_TRUE(!resource_same_managed(&copy, &r));
    ASSERT_TRUE(resource_managed_hash(&copy) != resource_managed_hash(&r));

    types__app_v3__free_unpacked(a, NULL);
    free(buf);
    resource_cleanup(&r);
    resource_cleanup(&back);
    resource_cleanup(&copy);
}

/* An app without the options packs as before they existed: no CORS, no
 * ports, no rewrite message, and field 14 absent. */
static void test_unset_options_stay_off_the_wire(void)
{
    struct resource r;
    uint8_t *buf = NULL;
    size_t n = 0;

    ASSERT_EQ(resource_init(&r), 0);
    ASSERT_EQ(resource_set_str(&r.name, "web"), 0);
    ASSERT_EQ(resource_set_str(&r.uri, "http://10.0.0.2:80"), 0);
    ASSERT_EQ(teleport_convert_pack_app(&r, &buf, &n), 0);
    Types__AppV3 *a = types__app_v3__unpack(NULL, n, buf);
    ASSERT_TRUE(a != NULL && a->spec != NULL);
    ASSERT_TRUE(a->spec->cors == NULL);
    ASSERT_TRUE(a->spec->rewrite == NULL);
    ASSERT_EQ(a->spec->n_tcpports, 0);
    ASSERT_EQ(a->spec->n_requiredappnames, 0);
    /* Read back, it takes no room for options either. */
    struct resource back;
    ASSERT_EQ(resource_init(&back), 0);
    ASSERT_EQ(teleport_convert_from_app(a, NULL, &back), 0);
    ASSERT_TRUE(back.opts == NULL);
    ASSERT_TRUE(resource_same_managed(&r, &back));
    resource_cleanup(&back);
    /* AppSpecV3 field 14 (varint): tag byte 0x70, packed last (highest number). */
    uint8_t *spec = NULL;
    size_t spec_n = types__app_spec_v3__get_packed_size(a->spec);
    spec = malloc(spec_n ? spec_n : 1);
    ASSERT_TRUE(spec != NULL);
    types__app_spec_v3__pack(a->spec, spec);
    size_t unset_n = spec_n;
    ASSERT_TRUE(resource_opts_mut(&r) != NULL);
    r.opts->use_any_proxy_public_addr = true;
    free(buf);
    types__app_v3__free_unpacked(a, NULL);
    ASSERT_EQ(teleport_convert_pack_app(&r, &buf, &n), 0);
    a = types__app_v3__unpack(NULL, n, buf);
    ASSERT_TRUE(a != NULL);
    free(spec);
    spec_n = types__app_spec_v3__get_packed_size(a->spec);
    spec = malloc(spec_n);
    ASSERT_TRUE(spec != NULL);
    types__app_spec_v3__pack(a->spec, spec);
    ASSERT_EQ(spec_n, unset_n + 2);
    ASSERT_TRUE(spec[spec_n - 2] == 0x70 && spec[spec_n - 1] == 0x01);
    free(spec);
    free(buf);
    types__app_v3__free_unpacked(a, NULL);
    resource_cleanup(&r);
}

int main(void)
{
    test_round_trip();
    test_unset_options_stay_off_the_wire();
    printf("test_teleport_convert_options: ok\n");
    return 0;
}
