"""The emulated token join of one Application Service agent.

A real agent started with `teleport app start --token=<file>` reads the
token, calls RegisterUsingToken and, with the host certificate it gets,
heartbeats an app_server for its app.  Agent-mode tests cannot run
Teleport's image, so a test helper reads the token file out of the agent
container and presents it here (admin call JoinApp), with the agent's host
id, hostname and app.

The token is checked as Teleport checks it:
  - lib/auth/auth.go ValidateToken: a token that does not exist or has
    expired is AccessDenied "token expired or not found";
  - lib/auth/join.go checkTokenJoinRequestCommon: the token's roles must
    include the role asked for (App), else AccessDenied "... the token does
    not allow \"App\" role".
Then the agent's app_server is recorded under its host id (lib/srv/app
heartbeats: Name = the app, Spec.HostID, Spec.Hostname, Spec.App), without
an expiry: the emulated agent does not heartbeat.  The token is left in
place, as Teleport leaves a non-bot token after a join: deleting it is the
caller's job."""
import rbac
import resources as res
from rbac import TraceError
from store import new_revision

TOKEN_EXPIRED_OR_NOT_FOUND = "token expired or not found"


def join_app(auth, req):
    token = req.get("token") or ""
    host_id = req.get("host_id") or ""
    hostname = req.get("hostname") or host_id
    app = req.get("app") or {}
    if not host_id or not app.get("name") or not app.get("uri"):
        raise TraceError("BadParameter", "JoinApp needs token, host_id, app.name and app.uri")
    with auth.store.lock:
        tok = auth.read_one("token", token) if token else None   # ValidateToken: GetCache().GetToken
        if tok is None:
            raise TraceError("AccessDenied", TOKEN_EXPIRED_OR_NOT_FOUND)
        if "App" not in [r for r in tok.Spec.Roles]:
            raise TraceError("AccessDenied", "node %s [%s] can not join the cluster, the token does not allow "
                             "\"App\" role" % (hostname, host_id))
        a = auth.t.AppV3(Kind="app", Version="v3")
        a.Metadata.Name = app["name"]
        a.Metadata.Namespace = res.DEFAULT_NAMESPACE
        for k, v in (app.get("labels") or {}).items():
            a.Metadata.Labels[k] = v
        a.Spec.URI = app["uri"]
        srv = auth.t.AppServerV3(Kind="app_server", Version="v3")
        srv.Metadata.Name = app["name"]
        srv.Metadata.Namespace = res.DEFAULT_NAMESPACE
        srv.Metadata.Revision = new_revision()
        srv.Spec.Version = auth.server_version
        srv.Spec.Hostname = hostname
        srv.Spec.HostID = host_id
        srv.Spec.App.CopyFrom(a)
        res.check_app_server(srv, auth.server_version)
        res.go_non_null_times(srv)
        auth.put("app_server", "%s/%s" % (host_id, app["name"]), srv)
        auth.store.save()
    return {"host_id": host_id, "app": app["name"]}
