"""Databases beyond CRUD: the emulated Database Service, and the paginated
ListApps / ListDatabases (with the switch that leaves them out, as an Auth
Service older than them).

Database Service: a real one with `db_service.resources` watches dynamic
databases and serves those whose labels match one of its matchers
(lib/srv/db/server.go + services.MatchResourceLabels, the same rule as the
App Service's); for each served database it heartbeats a db_server (Name =
database name, Spec.Database = the database, HostID = its own host ID,
Expires = now + apidefaults.ServerAnnounceTTL) and deletes it when the
database goes away or stops matching.

ListApps / ListDatabases (lib/auth/auth_with_roles.go ListApps /
ListDatabases over lib/services/local's generic ListResources): names in
order from start_key (inclusive), `limit` of them (0: the default chunk),
next_key = the name after the page, set BEFORE the RBAC filter drops what
the caller may not see, so a page may come back empty with a next_key."""
import datetime

import rbac
import resources as res
from rbac import TraceError
from store import new_revision

DB_SERVICE_HOSTNAME = "standin-db-service"
# api/defaults DefaultChunkSize; a larger limit is capped to it.
DEFAULT_PAGE = 1000


class DatabaseService:
    def __init__(self, auth, matchers):
        self.auth = auth
        self.matchers = matchers        # list of label matchers (db_service.resources); [] serves nothing

    def serves(self, db):
        labels = res.all_labels(db)
        return any(m and rbac.match_labels(m, labels) for m in self.matchers)

    def _key(self, name):
        return "%s/%s" % (self.auth.cluster.host_id, name)

    def announce(self, db):
        a = self.auth
        srv = a.t.DatabaseServerV3(Kind="db_server", Version="v3")
        srv.Metadata.Name = db.Metadata.Name
        srv.Metadata.Namespace = res.DEFAULT_NAMESPACE
        res.ts_set(srv.Metadata.Expires, res.now_utc() + datetime.timedelta(seconds=res.APP_SERVER_TTL))
        srv.Metadata.Revision = new_revision()
        srv.Spec.Version = a.server_version
        srv.Spec.Hostname = DB_SERVICE_HOSTNAME
        srv.Spec.HostID = a.cluster.host_id
        srv.Spec.Database.CopyFrom(db)
        a.put("db_server", self._key(db.Metadata.Name), srv)

    def db_changed(self, name):
        """Keep the agent's db servers in step with dynamic database `name` (store lock held)."""
        a = self.auth
        db = a.read_one("db", name)  # what Auth's cache holds (AuthServer.agent_sees)
        if db is not None and self.serves(db):
            self.announce(db)
        elif self._key(name) in a.store.db_servers:
            a.delete("db_server", self._key(name))

    def heartbeat(self):
        a = self.auth
        with a.store.lock:
            for name in list(a.store.databases):
                self.db_changed(name)
            a.store.save()


# The request's and reply's paging fields: ListApps names them limit,
# start_key and next_key; ListDatabases page_size, page_token and
# next_page_token (api/proto/teleport/legacy/client/proto/authservice.proto).
APP_PAGING = ("limit", "start_key", "next_key")
DB_PAGING = ("page_size", "page_token", "next_page_token")


def list_page(resource, resp_cls, field, req, ident, paging=APP_PAGING):
    """ListApps / ListDatabases for one kinds.LabeledResource."""
    a = resource.auth
    roles = a.roles_of(ident)
    rbac.check_action(roles, resource.spec.kind, rbac.VERB_LIST, rbac.VERB_READ)
    size, start, next_field = paging
    req_limit = getattr(req, size)
    if req_limit < 0:
        raise TraceError("BadParameter", "negative limit %d" % req_limit)
    limit = req_limit if 0 < req_limit <= DEFAULT_PAGE else DEFAULT_PAGE
    out = resp_cls()
    items = getattr(out, field)
    with a.store.lock:
        view = a.read_view(resource.spec.kind)
        names = sorted(n for n in view if n >= getattr(req, start))
        if len(names) > limit:
            setattr(out, next_field, names[limit])
        for name in names[:limit]:
            m = view[name]
            try:
                resource.check_access(roles, m)
            except TraceError:
                continue
            items.add().CopyFrom(m)
    return out


def list_methods(auth, apps, databases):
    """The paginated list methods, or none for an Auth older than them
    (the client then gets UNIMPLEMENTED and falls back to GetApps)."""
    if getattr(auth, "no_list", False):
        return {}
    return {"ListApps": lambda req, ident: list_page(apps, auth.a.ListAppsResponse, "applications", req, ident),
            "ListDatabases": lambda req, ident: list_page(databases, auth.a.ListDatabasesResponse, "databases",
                                                          req, ident, DB_PAGING)}


# ---- ListResources(db_server) -------------------------------------------------------

def list_db_servers(listing, req, ident, limit):
    """ListResources for db_server (the unsorted, paginated path): servers in
    key order, each checked as its database; NextKey set before the check."""
    a = listing.auth
    roles = a.roles_of(ident)
    rbac.check_action(roles, "db_server", rbac.VERB_LIST, rbac.VERB_READ)
    resp = a.a.ListResourcesResponse()
    with a.store.lock:
        view = a.read_view("db_server")
        for key in sorted(k for k in view if k >= req.StartKey):
            if len(resp.Resources) == limit:
                resp.NextKey = key
                break
            srv = view[key]
            db = srv.Spec.Database
            try:
                rbac.check_labels(roles, db.Kind, res.all_labels(db))
            except TraceError as e:
                if e.kind == "AccessDenied":
                    continue
                raise
            # DatabaseServerV3.GetAllLabels (api/types/databaseserver.go):
            # the server's own labels, then its database's over them.
            labels = dict(srv.Metadata.Labels)
            labels.update(res.all_labels(db))
            if any(labels.get(k) != v for k, v in req.Labels.items()):
                continue
            resp.Resources.add().DatabaseServer.CopyFrom(srv)
    return resp
