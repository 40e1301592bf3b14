"""Emulated Teleport agents: one Application Service instance.

A real App Service with `app_service.resources` watches dynamic apps and
serves those whose labels match one of its matchers
(lib/srv/app/server.go + services.MatchResourceLabels: a matcher with no
labels matches nothing and ends the search, `*: *` matches everything,
otherwise every key must be present and its value match, as a glob or a
`^...$` regular expression, utils.SliceMatchesRegex). Started without
matchers the stand-in runs no App Service: no app is served.
For each served app it heartbeats an app_server (Name = app name, Spec.App = the app, HostID = its own host ID,
Expires = now + apidefaults.ServerAnnounceTTL) and deletes it when the app
goes away or stops matching."""
import datetime

import rbac
import resources as res
from store import new_revision

APP_SERVICE_HOSTNAME = "standin-app-service"


def parse_selector(s):
    """'k=v,k2=v2' -> one role-style label matcher {k: [v], k2: [v2]}."""
    out = {}
    for part in filter(None, (p.strip() for p in s.split(","))):
        if "=" not in part:
            raise ValueError("%r is not key=value" % part)
        k, v = part.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


class AppService:
    def __init__(self, auth, matchers):
        self.auth = auth
        self.matchers = matchers        # list of label matchers (app_service.resources)

    def serves(self, app):
        """services.MatchResourceLabels(matchers, app.GetAllLabels()), matcher
        by matcher in order: an empty matcher ends the search with no match
        (`return false`, not `continue`), the first matching one serves it.
        No matchers (no --app-service-labels): no App Service, nothing served."""
        labels = res.all_labels(app)
        for m in self.matchers:
            if not m:
                return False
            if rbac.match_labels(m, labels):
                return True
        return False

    def _key(self, name):
        return "%s/%s" % (self.auth.cluster.host_id, name)

    def announce(self, app):
        a = self.auth
        srv = a.t.AppServerV3(Kind="app_server", Version="v3")
        srv.Metadata.Name = app.Metadata.Name
        srv.Metadata.Namespace = res.DEFAULT_NAMESPACE
        res.ts_set(srv.Metadata.Expires, res.now_utc() + datetime.timedelta(seconds=res.APP_SERVER_TTL))
        srv.Metadata.Revision = new_revision()
        srv.Spec.Version = a.server_version
        srv.Spec.Hostname = APP_SERVICE_HOSTNAME
        srv.Spec.HostID = a.cluster.host_id
        srv.Spec.App.CopyFrom(app)
        res.go_non_null_times(srv)
        a.put("app_server", self._key(app.Metadata.Name), srv)

    def app_changed(self, name):
        """Keep the agent's app servers in step with dynamic app `name` (store lock held)."""
        a = self.auth
        if not self.matchers:
            return                      # no App Service runs
        app = a.read_one("app", name)  # what Auth's cache holds (AuthServer.agent_sees)
        if app is not None and self.serves(app):
            self.announce(app)
        elif self._key(name) in a.store.app_servers:
            a.delete("app_server", self._key(name))

    def heartbeat(self):
        a = self.auth
        if not self.matchers:
            return
        with a.store.lock:
            for name in list(a.store.apps):
                self.app_changed(name)
            a.store.save()
