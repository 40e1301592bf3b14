/* test_agent_spec.c - agent/agent_spec: the agent's names, the --labels
 * argument (refusing what the flag cannot carry) and the container create
 * body: the token file's path in the command, never a token; labels,
 * volume, restart policy and network. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_spec.h"
#include "test.h"

static void test_names(void)
{
    char c[256], v[256], h[64];
    agent_spec_names("web1", c, sizeof(c), v, sizeof(v), h, sizeof(h));
    ASSERT_STREQ(c, "enroller-agent-web1");
    ASSERT_STREQ(v, "enroller-agent-web1-data");
    ASSERT_STREQ(h, "enroller-agent-web1");
    /* a 63-character app: the hostname is cut to 63 and does not end in '-' */
    agent_spec_names("a23456789012345678901234567890123456789012345678-0123456789abcd", c, sizeof(c), v,
                     sizeof(v), h, sizeof(h));
    ASSERT_EQ(strlen(h) <= 63, 1);
    ASSERT_TRUE(h[strlen(h) - 1] != '-');
    ASSERT_TRUE(strncmp(h, "enroller-agent-a2345", 20) == 0);
}

static void test_labels_arg(void)
{
    struct kv_list l;
    struct enr_error err = {0};
    char *s = NULL;

    kv_init(&l);
    ASSERT_EQ(agent_spec_labels_arg(&l, &s, &err), 0);
    ASSERT_STREQ(s, "");
    free(s);
    kv_set(&l, "team", "web");
    kv_set(&l, "enroller.dev/owner", "h1");
    ASSERT_EQ(agent_spec_labels_arg(&l, &s, &err), 0);
    ASSERT_STREQ(s, "enroller.dev/owner=h1,team=web");
    free(s);
    kv_set(&l, "bad", "a,b");
    ASSERT_TRUE(agent_spec_labels_arg(&l, &s, &err) < 0);
    ASSERT_TRUE(s == NULL);
    ASSERT_CONTAINS(err.msg, "label bad=a,b");
    kv_cleanup(&l);
}

static void test_create_body(void)
{
    struct kv_list l;
    struct enr_error err = {0};
    struct agent_spec s = {.owner = "h1", .app = "web1", .uri = "http://10.0.0.2:8080", .labels = &l,
                           .target = "web1", .target_id = "abc123", .image = "img:17",
                           .auth_addr = "proxy.example.com:443", .network = "apps",
                           .host_id = "11111111-2222-4333-8444-555555555555"};
    char *text;
    json_t *b, *cmd;
    size_t i;
    json_t *v;

    kv_init(&l);
    kv_set(&l, "team", "web");
    text = agent_spec_create_body(&s, &err);
    ASSERT_TRUE(text != NULL);
    b = json_loads(text, 0, NULL);
    ASSERT_TRUE(b != NULL);
    ASSERT_STREQ(json_string_value(json_object_get(b, "Image")), "img:17");
    ASSERT_STREQ(json_string_value(json_object_get(b, "Hostname")), "enroller-agent-web1");
    ASSERT_STREQ(json_string_value(json_array_get(json_object_get(b, "Entrypoint"), 1)), "/usr/local/bin/teleport");
    cmd = json_object_get(b, "Cmd");
    const char *want[] = {"app", "start", "--name=web1", "--uri=http://10.0.0.2:8080", "--labels=team=web",
                          "--auth-server=proxy.example.com:443", "--token=/run/enroller/join-token"};
    ASSERT_EQ(json_array_size(cmd), sizeof(want) / sizeof(want[0]));
    json_array_foreach(cmd, i, v)
        ASSERT_STREQ(json_string_value(v), want[i]);
    ASSERT_TRUE(json_object_get(b, "Env") == NULL);
    json_t *labels = json_object_get(b, "Labels");
    ASSERT_STREQ(json_string_value(json_object_get(labels, AGENT_LABEL_OWNER)), "h1");
    ASSERT_STREQ(json_string_value(json_object_get(labels, AGENT_LABEL_APP)), "web1");
    ASSERT_STREQ(json_string_value(json_object_get(labels, AGENT_LABEL_TARGET)), "web1");
    ASSERT_STREQ(json_string_value(json_object_get(labels, AGENT_LABEL_TARGET_ID)), "abc123");
    ASSERT_STREQ(json_string_value(json_object_get(labels, AGENT_LABEL_HOST_ID)), s.host_id);
    json_t *host = json_object_get(b, "HostConfig");
    ASSERT_STREQ(json_string_value(json_array_get(json_object_get(host, "Binds"), 0)),
                 "enroller-agent-web1-data:/var/lib/teleport");
    ASSERT_STREQ(json_string_value(json_object_get(json_object_get(host, "RestartPolicy"), "Name")),
                 "unless-stopped");
    ASSERT_STREQ(json_string_value(json_object_get(host, "NetworkMode")), "apps");
    json_decref(b);
    free(text);

    /* a label the flag cannot carry: no body, one line naming it */
    kv_set(&l, "x", "1,2");
    ASSERT_TRUE(agent_spec_create_body(&s, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "label x=1,2");
    kv_cleanup(&l);
}

/* The join token's labels: owner, app, target, host id; nothing else (no
 * token: it is not even in the spec). */
static void test_token_labels(void)
{
    struct agent_spec s = {.owner = "h1", .app = "web1", .target = "web1-c", .host_id = "hid-1"};
    struct kv_list l;

    kv_init(&l);
    ASSERT_EQ(agent_spec_token_labels(&s, &l), 0);
    ASSERT_EQ(l.len, 4);
    ASSERT_STREQ(kv_get(&l, AGENT_LABEL_OWNER), "h1");
    ASSERT_STREQ(kv_get(&l, AGENT_LABEL_APP), "web1");
    ASSERT_STREQ(kv_get(&l, AGENT_LABEL_TARGET), "web1-c");
    ASSERT_STREQ(kv_get(&l, AGENT_LABEL_HOST_ID), "hid-1");
    kv_cleanup(&l);
}

int main(void)
{
    test_names();
    test_labels_arg();
    test_create_body();
    test_token_labels();
    printf("test_agent_spec: ok\n");
    return 0;
}
