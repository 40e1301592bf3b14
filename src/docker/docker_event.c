/*
 * docker_event.c - see docker_event.h.
 *
 * Podman (4.3 and later) sends the same stream with three differences,
 * hidden here so that callers see Docker's names:
 *  - its stream says "died" and "remove" (pkg/api/handlers/compat/events.go)
 *    where Docker says "die" and "destroy": handed on as Docker's names;
 *  - its network connect/disconnect events name the container in Actor.ID
 *    and carry no Actor.Attributes.container (libpod/events/events.go before
 *    5.0): Actor.ID is used when that attribute is absent.
 *
 * Times.  An event's time is where the stream resumes after a cut
 * (since=), so a value from a broken engine must neither overflow (time is
 * seconds: times 1e9 overflows int64 past year 2262) nor lie far in the
 * future, which would skip real events on the next resume: both read as 0,
 * "no time".
 */
#include "docker/docker_event.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/json_pick.h"
#include "base/log.h"

#define FUTURE_SLACK_SEC 86400 /* clocks differ; a day ahead is not plausible */

static int64_t event_time(json_t *root)
{
    int64_t limit = ((int64_t)time(NULL) + FUTURE_SLACK_SEC) * 1000000000;
    json_t *v = json_object_get(root, "timeNano");
    int64_t t = 0;

    if (json_is_integer(v)) {
        t = (int64_t)json_integer_value(v);
    } else if (json_is_integer(v = json_object_get(root, "time"))) {
        json_int_t sec = json_integer_value(v);
        if (sec > 0 && sec <= limit / 1000000000)
            t = (int64_t)sec * 1000000000;
    }
    return t > 0 && t <= limit ? t : 0;
}

/* Not "kill": see docker_client_events. */
static const char *const container_actions[] = {
    "start", "die", "destroy", "stop", "pause", "unpause", "health_status",
    "rename", /* the same name in Podman (libpod/events/config.go) */
    "died", "remove", /* Podman's names for die and destroy */
};

static int wanted(const char *type, const char *action)
{
    if (strcmp(type, "network") == 0)
        return strcmp(action, "connect") == 0 || strcmp(action, "disconnect") == 0;
    if (strcmp(type, "container") != 0)
        return 0;
    for (size_t i = 0; i < sizeof(container_actions) / sizeof(container_actions[0]); i++) {
        size_t n = strlen(container_actions[i]);
        /* "health_status: healthy" matches "health_status" */
        if (strncmp(action, container_actions[i], n) == 0 &&
            (action[n] == '\0' ||
             (action[n] == ':' && strcmp(container_actions[i], "health_status") == 0)))
            return 1;
    }
    return 0;
}

/* The members read here; json_pick skips the rest of a line (most of it:
 * Actor.Attributes carries every label of the container). */
static const struct json_pick pick_attrs[] = {{"container", NULL}, {NULL, NULL}};
static const struct json_pick pick_actor[] = {{"ID", NULL}, {"Attributes", pick_attrs}, {NULL, NULL}};
static const struct json_pick pick_event[] = {
    {"Type", NULL}, {"Action", NULL}, {"Actor", pick_actor}, {"time", NULL}, {"timeNano", NULL}, {NULL, NULL},
};

int docker_event_parse(const char *line, size_t len, const char *what, docker_event_cb cb, void *ud,
                       struct enr_error *err)
{
    struct docker_event ev;
    struct enr_error perr = {0};
    json_t *root, *actor, *attrs;
    const char *type, *action, *id = NULL;

    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return 0;
    root = json_pick_parse(line, len, pick_event, "bad event line", &perr);
    if (!json_is_object(root)) {
        json_decref(root);
        if (root == NULL && perr.code == -ENOMEM)
            return err_set(err, -ENOMEM, "%s: %s", what, perr.msg);
        return err_set(err, -EPROTO, "%s: %s", what, root ? "bad event line: not an object" : perr.msg);
    }
    type = json_string_value(json_object_get(root, "Type"));
    action = json_string_value(json_object_get(root, "Action"));
    actor = json_object_get(root, "Actor");
    attrs = json_object_get(actor, "Attributes");
    if (type == NULL || action == NULL || !wanted(type, action)) {
        json_decref(root);
        return 0;
    }
    if (strcmp(type, "network") == 0) {
        id = json_string_value(json_object_get(attrs, "container"));
        /* Podman before 5.0: the container is the actor, no attribute. */
        if (id == NULL && json_object_get(attrs, "container") == NULL)
            id = json_string_value(json_object_get(actor, "ID"));
    } else {
        id = json_string_value(json_object_get(actor, "ID"));
        /* Podman's names for Docker's "destroy" and "die". */
        if (strcmp(action, "remove") == 0)
            action = "destroy";
        else if (strcmp(action, "died") == 0)
            action = "die";
    }
    if (id == NULL || *id == '\0') {
        log_warn(LOG_DOCKER, "%s: %s %s event without a container id; skipped", what, type,
                 action);
        json_decref(root);
        return 0;
    }
    ev.type = type;
    ev.action = action;
    ev.container_id = id;
    ev.time_nano = event_time(root);
    cb(ud, &ev);
    json_decref(root);
    return 0;
}

