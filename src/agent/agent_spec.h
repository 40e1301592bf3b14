/*
 * agent_spec.h - what one app's agent container is: its names, its labels
 * and the body of POST /containers/create.  Pure: no I/O.
 *
 * The agent runs `teleport app start --name N --uri U --labels k=v,...
 * --auth-server ADDR --token=/run/enroller/join-token`
 * (tool/teleport/common/teleport.go, appStartCmd), from the image's
 * /usr/local/bin/teleport under dumb-init as Teleport's own image does
 * (build.assets/charts/Dockerfile-distroless).  --token takes a value or an
 * absolute path to a file holding it (lib/utils TryReadValueAsFile): only
 * the path is in the container's arguments; the token itself is uploaded
 * as a file (mode 0400) before the start, so it is in no argv, env or
 * label and not in `docker inspect`.  The data dir (/var/lib/teleport:
 * host_uuid, proc/sqlite.db) is a named volume, so an agent restarted after
 * its token expired needs no new token; its host_uuid is chosen by
 * enroller and written before the first start (lib/utils/hostid reads an
 * existing file), so the agent's app_server is found by its HostID.
 */
#ifndef ENR_AGENT_SPEC_H
#define ENR_AGENT_SPEC_H

#include <stddef.h>

#include "base/error.h"
#include "base/kv.h"

/* The owner label, the same as the apps' (reconcile/planner.h). */
#define AGENT_LABEL_OWNER "enroller.dev/owner"
/* On agent containers and volumes: the app served ... */
#define AGENT_LABEL_APP "enroller.dev/agent-app"
/* ... the container it serves (name and id) and the agent's host id. */
#define AGENT_LABEL_TARGET "enroller.dev/agent-target"
#define AGENT_LABEL_TARGET_ID "enroller.dev/agent-target-id"
#define AGENT_LABEL_HOST_ID "enroller.dev/agent-host-id"

#define AGENT_SPEC_DATA_DIR "/var/lib/teleport"
#define AGENT_SPEC_TOKEN_DIR "/run/enroller"
#define AGENT_SPEC_TOKEN_PATH AGENT_SPEC_TOKEN_DIR "/join-token"

struct agent_spec {
    const char *owner;
    const char *app;           /* the app's name */
    const char *uri;
    const struct kv_list *labels; /* the app's labels */
    const char *target;        /* the container served: name ... */
    const char *target_id;     /* ... and id */
    const char *image;         /* "repo:tag" */
    const char *auth_addr;     /* Proxy or Auth "host:port" */
    const char *network;       /* the network that reaches the app; NULL: Docker's default */
    const char *host_id;       /* the agent's host_uuid */
};

/* "enroller-agent-<app>", its volume "enroller-agent-<app>-data" and its
 * hostname (the container name cut to 63 characters). */
void agent_spec_names(const char *app, char *container, size_t csize, char *volume, size_t vsize,
                      char *hostname, size_t hsize);

/* "k=v,k2=v2" for --labels; -EINVAL (err names the label) when a key or
 * value holds ',' or '=' (a key) that the flag cannot carry.  *out malloc'd. */
int agent_spec_labels_arg(const struct kv_list *labels, char **out, struct enr_error *err);

/* The JSON body for POST /containers/create (malloc'd): Entrypoint and Cmd
 * as above, Hostname, Labels (owner, app, target, target id, host id),
 * HostConfig {Binds volume:data dir, RestartPolicy unless-stopped,
 * NetworkMode}. */
char *agent_spec_create_body(const struct agent_spec *s, struct enr_error *err);

/* Labels of the agent's volume: owner and app. */
int agent_spec_volume_labels(const struct agent_spec *s, struct kv_list *out);

/* Labels of the agent's join token (Metadata.Labels, as Teleport's
 * ProvisionTokenV2 carries them): owner, app, target and the host id of the
 * agent it is for, so that a token whose agent never came to exist (enroller
 * killed in between) is found and deleted at the next start.  -ENOMEM. */
int agent_spec_token_labels(const struct agent_spec *s, struct kv_list *out);

#endif
