/*
 * agent_spec.c - see agent_spec.h.
 */
#include "agent/agent_spec.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agent_spec_names(const char *app, char *container, size_t csize, char *volume, size_t vsize,
                      char *hostname, size_t hsize)
{
    snprintf(container, csize, "enroller-agent-%s", app);
    snprintf(volume, vsize, "enroller-agent-%s-data", app);
    snprintf(hostname, hsize < 64 ? hsize : 64, "%s", container);
    /* a hostname does not end in '-' */
    for (size_t n = strlen(hostname); n > 0 && hostname[n - 1] == '-'; n--)
        hostname[n - 1] = '\0';
}

int agent_spec_labels_arg(const struct kv_list *labels, char **out, struct enr_error *err)
{
    size_t n = 1, o = 0;
    char *s;

    *out = NULL;
    for (size_t i = 0; i < labels->len; i++) {
        const struct kv *l = &labels->items[i];
        if (strpbrk(l->key, ",=") != NULL || strchr(l->value, ',') != NULL)
            return err_set(err, -EINVAL, "label %s=%s: teleport app start --labels cannot carry ',' "
                           "(or '=' in a key)", l->key, l->value);
        n += strlen(l->key) + strlen(l->value) + 2;
    }
    if ((s = malloc(n)) == NULL)
        return err_set(err, -ENOMEM, "labels: out of memory");
    s[0] = '\0';
    for (size_t i = 0; i < labels->len; i++)
        o += (size_t)snprintf(s + o, n - o, "%s%s=%s", i ? "," : "", labels->items[i].key,
                              labels->items[i].value);
    *out = s;
    return 0;
}

int agent_spec_volume_labels(const struct agent_spec *s, struct kv_list *out)
{
    if (kv_set(out, AGENT_LABEL_OWNER, s->owner) < 0 || kv_set(out, AGENT_LABEL_APP, s->app) < 0)
        return -ENOMEM;
    return 0;
}

int agent_spec_token_labels(const struct agent_spec *s, struct kv_list *out)
{
    if (kv_set(out, AGENT_LABEL_OWNER, s->owner) < 0 || kv_set(out, AGENT_LABEL_APP, s->app) < 0 ||
        kv_set(out, AGENT_LABEL_TARGET, s->target ? s->target : "") < 0 ||
        kv_set(out, AGENT_LABEL_HOST_ID, s->host_id ? s->host_id : "") < 0)
        return -ENOMEM;
    return 0;
}

/* "--flag=value" as a new JSON string. */
static json_t *flag(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 4;
    char *s = malloc(n);
    json_t *j;

    if (s == NULL)
        return NULL;
    snprintf(s, n, "--%s=%s", name, value);
    j = json_string(s);
    free(s);
    return j;
}

char *agent_spec_create_body(const struct agent_spec *s, struct enr_error *err)
{
    char container[256], volume[256], hostname[64], bind[320];
    char *labels_arg = NULL, *text = NULL;
    json_t *body = NULL, *cmd, *labels, *host;

    agent_spec_names(s->app, container, sizeof(container), volume, sizeof(volume), hostname, sizeof(hostname));
    if (agent_spec_labels_arg(s->labels, &labels_arg, err) < 0)
        goto fail;
    snprintf(bind, sizeof(bind), "%s:%s", volume, AGENT_SPEC_DATA_DIR);
    body = json_pack("{s:s, s:s, s:[ss], s:[ss], s:{}, s:{s:[s], s:{s:s}}}",
                     "Image", s->image, "Hostname", hostname,
                     "Entrypoint", "/usr/bin/dumb-init", "/usr/local/bin/teleport",
                     "Cmd", "app", "start",
                     "Labels",
                     "HostConfig", "Binds", bind, "RestartPolicy", "Name", "unless-stopped");
    if (body == NULL)
        goto oom;
    cmd = json_object_get(body, "Cmd");
    labels = json_object_get(body, "Labels");
    host = json_object_get(body, "HostConfig");
    if (json_array_append_new(cmd, flag("name", s->app)) < 0 ||
        json_array_append_new(cmd, flag("uri", s->uri)) < 0 ||
        (labels_arg[0] != '\0' && json_array_append_new(cmd, flag("labels", labels_arg)) < 0) ||
        json_array_append_new(cmd, flag("auth-server", s->auth_addr)) < 0 ||
        json_array_append_new(cmd, flag("token", AGENT_SPEC_TOKEN_PATH)) < 0 ||
        json_object_set_new(labels, AGENT_LABEL_OWNER, json_string(s->owner)) < 0 ||
        json_object_set_new(labels, AGENT_LABEL_APP, json_string(s->app)) < 0 ||
        json_object_set_new(labels, AGENT_LABEL_TARGET, json_string(s->target)) < 0 ||
        json_object_set_new(labels, AGENT_LABEL_TARGET_ID, json_string(s->target_id)) < 0 ||
        json_object_set_new(labels, AGENT_LABEL_HOST_ID, json_string(s->host_id)) < 0 ||
        (s->network != NULL && json_object_set_new(host, "NetworkMode", json_string(s->network)) < 0))
        goto oom;
    if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
        goto oom;
    goto fail;
oom:
    err_set(err, -ENOMEM, "agent for app %s: out of memory", s->app);
fail:
    free(labels_arg);
    json_decref(body);
    return text;
}
