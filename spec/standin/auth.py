"""The Auth server's core: caller identity and roles, the backend writes
with their watch events, the cache reads go through, WatchEvents, Ping,
TTL expiry, and the table of proto.AuthService methods built from the
per-kind handlers (kinds.py, listing.py)."""
import collections
import queue
import threading
import time

from cryptography import x509

import agents
import databases
import kinds
import listing
import netio
import pki
import rbac
import resources as res
from rbac import TraceError
from store import new_revision

# --version: Teleport release whose behaviour is reproduced where releases
# differ (see README "Fidelity"). Ping reports `server_version`.
# token_exists: CreateTokenV2 on a taken name. Up to the release that
# added scoped tokens, lib/services/local/provisioning.go CreateToken is a
# backend.Create, and the default backend's conflict is sqlite's own text
# (lib/backend/lite/lite.go inTransaction: a constraint error becomes
# trace.AlreadyExists("%s", err), "UNIQUE constraint failed: kv.key");
# master's CreateToken is an AtomicWrite whose failed condition answers
# "token could not be created due to name conflict ...". Neither names
# the token.
VERSIONS = {
    "16": {"server_version": "16.5.4", "cache_not_found": "v16", "token_exists": "backend"},
    "17": {"server_version": "17.5.4", "cache_not_found": "generic", "token_exists": "backend"},
    "master": {"server_version": "19.0.0-dev", "cache_not_found": "generic", "token_exists": "scoped"},
}


def q(s):
    return res.q(s)


class Cache:
    """Auth's cache (lib/cache): a copy of the backend fed by its event
    stream. GetApp/GetApps/GetDatabase(s), the existing-resource reads of
    UpdateApp/DeleteApp/UpdateDatabase/DeleteDatabase (lib/auth/auth.go
    Server.GetApp -> GetCache().GetApp) and ListResources read it, and
    WatchEvents is served from it (lib/auth/auth.go Server.NewWatcher ->
    GetCache().NewWatcher: the cache applies an event to its collections,
    then emits it to its watchers, lib/cache/cache.go processEvent). With a
    lag of L seconds a write reaches the cache, and so every reader and
    watcher, L seconds after the backend, at one instant for all of them."""

    def __init__(self, store, lag_s, tables):
        self.lag = lag_s
        self.lock = threading.Lock()
        self.pending = collections.deque()        # (due, kind, key, msg or None, event or None)
        self.data = {kind: dict(getattr(store, t)) for kind, t in tables.items()}

    def record(self, kind, key, msg, ev=None):
        """A backend write; returns the monotonic time it reaches the cache."""
        due = time.monotonic() + self.lag
        with self.lock:
            self.pending.append((due, kind, key, msg, ev))
        return due

    def unapplied(self):
        """(due, kind, event) of the writes the cache has not applied yet."""
        now = time.monotonic()
        with self.lock:
            return [(due, kind, ev) for due, kind, _, _, ev in self.pending if due > now and ev is not None]

    def _apply_due(self):
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _, k, key, msg, _ = self.pending.popleft()
            if msg is None:
                self.data[k].pop(key, None)
            else:
                self.data[k][key] = msg

    def view(self, kind):
        with self.lock:
            self._apply_due()
            return dict(self.data[kind])

    def get(self, kind, key):
        with self.lock:
            self._apply_due()
            return self.data[kind].get(key)


class Identity:
    def __init__(self, fields, peer):
        self.__dict__.update(fields)
        self.peer = peer


class AuthServer:
    """proto.AuthService state and handlers; the gRPC plumbing is service.py."""

    KIND_VERSION = {"app": "v3", "app_server": "v3", "token": "v2", "db": "v3", "db_server": "v3"}
    EVENT_FIELD = {"app": "App", "app_server": "AppServer", "token": "ProvisionToken", "db": "Database",
                   "db_server": "DatabaseServer"}
    TABLES = {"app": "apps", "app_server": "app_servers", "token": "tokens", "db": "databases",
              "db_server": "db_servers"}

    def __init__(self, store, cluster, pb, app_service_matchers, counters, conns=None, version="17",
                 cache_lag_ms=0, db_service_matchers=None, no_list=False):
        self.store, self.cluster, self.pb = store, cluster, pb
        self.conns = conns or netio.ConnTable()
        self.t, self.a = pb.types_pb2, pb.authservice_pb2
        self.counters = counters
        self.version = VERSIONS[version]
        self.server_version = self.version["server_version"]
        self.cache = Cache(store, cache_lag_ms / 1000.0, self.TABLES) if cache_lag_ms > 0 else None
        self.watch_lock = threading.Lock()
        self.watchers = []
        self.stopping = threading.Event()
        self.app_service = agents.AppService(self, app_service_matchers)
        self.apps = kinds.LabeledResource(self, kinds.APP,
                                          on_change=lambda n: self.agent_sees(self.app_service.app_changed, n))
        # databases.py: the Database Service (serves nothing without matchers)
        # and, unless no_list (an Auth older than them), ListApps/ListDatabases.
        self.db_service = databases.DatabaseService(self, db_service_matchers or [])
        self.no_list = no_list
        self.databases = kinds.LabeledResource(self, kinds.DB,
                                               on_change=lambda n: self.agent_sees(self.db_service.db_changed, n))
        self.app_servers = kinds.AppServers(self)
        self.tokens = kinds.Tokens(self)
        self.listing = listing.ListResources(self)
        self._methods = {"Ping": self.Ping, "WatchEvents": self.WatchEvents}
        for h in (self.apps, self.databases, self.app_servers, self.tokens, self.listing):
            self._methods.update(h.methods())
        self._methods.update(databases.list_methods(self, self.apps, self.databases))

    def method(self, name):
        """The handler of /proto.AuthService/<name>, or None (UNIMPLEMENTED)."""
        return self._methods.get(name)

    # ---- identity and roles ---------------------------------------------------------
    def identity(self, context):
        """The caller, from the TLS connection it came in on (lib/auth/middleware.go
        GetUser): the certificate's identity, or the built-in Nop role when the
        client sent no certificate."""
        peer = context.peer()
        up = self.upstream_of(peer)
        c = self.conns.conn_of(up) if up else None
        if c is None or not c.tls:
            raise TraceError("AccessDenied", "access denied: not a TLS connection to Auth")
        if c.peer_cert_der is None:
            return Identity({"username": "Nop", "roles": [], "nop": True}, peer)
        cert = x509.load_der_x509_certificate(c.peer_cert_der)
        return Identity(pki.parse_subject(cert.subject), peer)

    def roles_of(self, ident):
        """The caller's role set (lib/authz: a user's roles; Nop for no certificate)."""
        if getattr(ident, "nop", False):
            return rbac.role_set([], nop=True)
        out = []
        with self.store.lock:
            for name in ident.roles:
                doc = self.store.roles.get(name)
                if doc is None:
                    raise TraceError("NotFound", "role %s is not found" % name)
                out.append(rbac.Role(doc))
        return rbac.role_set(out)

    # ---- backend and cache -----------------------------------------------------------
    def table(self, kind):
        return getattr(self.store, self.TABLES[kind])

    @staticmethod
    def live(table, key):
        m = table.get(key)
        if m is None or res.is_expired(m):
            return None
        return m

    @staticmethod
    def copy(m):
        c = type(m)()
        c.CopyFrom(m)
        return c

    def read_one(self, kind, key):
        """One resource as a read through Auth's cache sees it now, or None."""
        m = self.cache.get(kind, key) if self.cache is not None else self.table(kind).get(key)
        return None if m is None or res.is_expired(m) else m

    def agent_sees(self, fn, name):
        """An agent (the emulated App or Database Service) learns of a write
        to app or database `name` and runs fn(name) (store lock held). A
        real one follows dynamic resources through a watcher of Auth
        (lib/srv/app/server.go and lib/srv/db/server.go resource watchers,
        lib/services/watcher.go), and WatchEvents is served by Auth's cache:
        with a cache lag it learns of the write that much later, and what
        it serves is what the cache holds then (read_one)."""
        if self.cache is None:
            fn(name)
            return

        def later():
            if self.stopping.is_set():
                return
            with self.store.lock:
                fn(name)
                self.store.save()
        t = threading.Timer(self.cache.lag, later)
        t.daemon = True
        t.start()

    def read_view(self, kind):
        """What a read through Auth's cache sees now: key -> resource. Without
        lag the cache holds what the backend holds."""
        table = self.cache.view(kind) if self.cache is not None else self.table(kind)
        return {k: v for k, v in table.items() if not res.is_expired(v)}

    def cache_not_found(self, spec, name):
        """NotFound text of a read through Auth's cache: v16's cache kept apps
        and databases in local services on a memory backend
        (lib/services/local: `application %q doesn't exist`); v17's generic
        collections answer from their store (lib/cache store.get: `no value
        for key %q in index %v`, index "name")."""
        if self.version["cache_not_found"] == "v16":
            return "%s %s doesn't exist" % (spec.missing_noun, q(name))
        return "no value for key %s in index name" % q(name)

    def token_exists(self):
        """AlreadyExists text of CreateTokenV2 on a taken name (VERSIONS)."""
        if self.version["token_exists"] == "scoped":
            return ("token could not be created due to name conflict with an existing scoped or unscoped "
                    "token, please try again with a different name or delete the conflicting token")
        return "UNIQUE constraint failed: kv.key"

    def backend_write(self, kind, key, msg, ev=None):
        """Backend write; it reaches the cache (and, with an event, the
        watchers) after the cache lag. A write without an event (tctl bulk)
        still reaches the cache."""
        if msg is None:
            self.table(kind).pop(key, None)
        else:
            self.table(kind)[key] = msg
        with self.watch_lock:
            due = self.cache.record(kind, key, msg, ev) if self.cache is not None else 0.0
            if ev is not None:
                self._publish(kind, due, ev)

    def put(self, kind, key, msg):
        """Backend Put: store and tell watchers (Event PUT with the resource)."""
        ev = self.pb.event_pb2.Event(Type=self.pb.event_pb2.PUT)
        getattr(ev, self.EVENT_FIELD[kind]).CopyFrom(msg)
        self.backend_write(kind, key, msg, ev)

    def delete(self, kind, key):
        """Backend Delete (or TTL expiry): Event DELETE carrying a ResourceHeader,
        as the local services' resource parsers build it."""
        msg = self.table(kind)[key]
        ev = self.pb.event_pb2.Event(Type=self.pb.event_pb2.DELETE)
        h = ev.ResourceHeader
        h.Kind, h.Version = kind, self.KIND_VERSION[kind]
        h.Metadata.Name = msg.Metadata.Name
        h.Metadata.Namespace = res.DEFAULT_NAMESPACE
        if kind in ("app_server", "db_server"):
            h.Metadata.Description = msg.Spec.HostID   # host ID travels in Description
        self.backend_write(kind, key, None, ev)

    @staticmethod
    def _watches(w, kind, ev):
        name = ev.ResourceHeader.Metadata.Name if ev.HasField("ResourceHeader") else \
            getattr(ev, AuthServer.EVENT_FIELD[kind]).Metadata.Name
        return any(k.Kind == kind and (not k.Name or k.Name == name) for k in w["kinds"])

    def _publish(self, kind, due, ev):
        """Queues ev for every watcher of its kind, to be sent at `due` (watch_lock held)."""
        for w in self.watchers:
            if self._watches(w, kind, ev):
                w["queue"].put((due, ev))

    def heartbeat(self):
        self.app_service.heartbeat()
        self.db_service.heartbeat()

    def sweep(self):
        """Backend TTL: expired items are removed."""
        now = res.now_utc()
        changed = False
        with self.store.lock:
            for kind in ("app", "app_server", "token", "db", "db_server"):
                table = self.table(kind)
                for k in [k for k, v in table.items() if res.is_expired(v, now)]:
                    self.delete(kind, k)
                    changed = True
                    if kind == "app":
                        self.agent_sees(self.app_service.app_changed, k)
                    if kind == "db":
                        self.agent_sees(self.db_service.db_changed, k)
            if changed:
                self.store.save()

    # ---- Ping ------------------------------------------------------------------------
    def Ping(self, req, ident):
        r = self.a.PingResponse(ClusterName=self.cluster.name, ServerVersion=self.server_version,
                                ProxyPublicAddr="", IsBoring=False, LoadAllCAs=False)
        f = r.ServerFeatures
        f.Kubernetes = f.App = f.DB = f.Desktop = True
        f.AdvancedAccessWorkflows = False
        r.RemoteAddr = self.client_addr(ident.peer)
        return r

    def upstream_of(self, grpc_peer):
        """gRPC peer "ipv4:127.0.0.1:PORT" -> (host, port) of the relay's socket."""
        peer = grpc_peer or ""
        for prefix in ("ipv4:", "ipv6:"):
            if peer.startswith(prefix):
                peer = peer[len(prefix):]
        host, _, port = peer.rpartition(":")
        try:
            return host.strip("[]"), int(port)
        except ValueError:
            return None

    def client_addr(self, grpc_peer):
        """The client's own address (as Auth sees it behind the relay)."""
        up = self.upstream_of(grpc_peer)
        return (self.conns.peer_of(up) if up else None) or ""

    # ---- WatchEvents -----------------------------------------------------------------
    def WatchEvents(self, req, ident, context):
        """Server stream: INIT (WatchStatus with the accepted kinds), then PUT/DELETE."""
        roles = self.roles_of(ident)
        if not len(req.Kinds):
            raise TraceError("AccessDenied", "can't setup global watch")
        # auth_with_roles.go authorizeWatchRequest: read on every kind;
        # AllowPartialSuccess drops the unauthorized ones.
        allowed = []
        for k in req.Kinds:
            try:
                rbac.check_action(roles, k.Kind, rbac.VERB_READ)
            except TraceError:
                if req.AllowPartialSuccess:
                    continue
                raise
            allowed.append(k)
        if not allowed:
            raise TraceError("BadParameter", "none of the requested kinds can be watched")
        # services/local/events.go NewWatcher: kinds without a parser.
        kinds = []
        for k in allowed:
            if k.Kind not in self.KIND_VERSION:
                if req.AllowPartialSuccess:
                    continue
                raise TraceError("BadParameter", "watcher on object kind %s is not supported" % q(k.Kind))
            kinds.append(k)
        if not kinds:
            raise TraceError("BadParameter", "none of the requested kinds can be watched")
        w = {"kinds": kinds, "queue": queue.Queue()}
        with self.watch_lock:
            # A new watcher of the cache gets every event the cache applies
            # after its INIT: the writes still on their way to it included.
            if self.cache is not None:
                for due, kind, ev in self.cache.unapplied():
                    if self._watches(w, kind, ev):
                        w["queue"].put((due, ev))
            self.watchers.append(w)

        def stream():
            try:
                init = self.pb.event_pb2.Event(Type=self.pb.event_pb2.INIT)
                st = init.WatchStatus
                st.Kind, st.Version = "watch_status", "v1"
                st.Metadata.Name = "watch_status"
                for k in kinds:
                    st.Spec.Kinds.add().CopyFrom(k)
                yield init
                while context.is_active() and not self.stopping.is_set():
                    try:
                        due, ev = w["queue"].get(timeout=0.2)
                    except queue.Empty:
                        continue
                    # Sent when the write reaches the cache, as the cache's
                    # fanout emits it (events are queued in write order).
                    while time.monotonic() < due and context.is_active() and not self.stopping.is_set():
                        time.sleep(min(0.05, max(0.0, due - time.monotonic())))
                    yield ev
            finally:
                with self.watch_lock:
                    if w in self.watchers:
                        self.watchers.remove(w)
        return stream()

    # ---- admin (tctl create for roles/users/apps/dbs/tokens, bypassing RBAC) ------------------
    def create_resource(self, doc, force):
        kind = (doc or {}).get("kind")
        name = ((doc or {}).get("metadata") or {}).get("name") or ""
        with self.store.lock:
            if kind == "role":
                rbac.Role(doc)   # validates
                existed = name in self.store.roles
                if existed and not force:
                    raise TraceError("AlreadyExists", "role %s already exists" % q(name))
                self.store.roles[name] = doc
                msg = "role '%s' has been %s" % (name, "updated" if existed else "created")
            elif kind == "user":
                if not name:
                    raise TraceError("BadParameter", "missing parameter Name")
                existed = name in self.store.users
                if existed and not force:
                    raise TraceError("AlreadyExists", "user %s already exists" % q(name))
                self.store.users[name] = doc
                msg = 'user "%s" has been %s' % (name, "updated" if existed else "created")
            elif kind == "app":
                app = self.t.AppV3()
                res.dict_to_msg({k: v for k, v in doc.items() if k in ("kind", "sub_kind", "version",
                                                                         "metadata", "spec")}, app, "app")
                kinds.default_origin(app)
                res.check_app(app)
                existed = self.live(self.store.apps, name) is not None
                if existed and not force:
                    raise TraceError("AlreadyExists", "app %s already exists" % q(name))
                app.Metadata.Revision = new_revision()
                self.put("app", name, app)
                self.agent_sees(self.app_service.app_changed, name)
                msg = 'app "%s" has been %s' % (name, "updated" if existed else "created")
            elif kind == "db":
                db = self.t.DatabaseV3()
                res.dict_to_msg({k: v for k, v in doc.items() if k in ("kind", "sub_kind", "version",
                                                                         "metadata", "spec")}, db, "db")
                kinds.default_origin(db)
                res.check_database(db)
                existed = self.live(self.store.databases, name) is not None
                if existed and not force:
                    raise TraceError("AlreadyExists", "database %s already exists" % q(name))
                db.Metadata.Revision = new_revision()
                self.put("db", name, db)
                self.agent_sees(self.db_service.db_changed, name)
                msg = 'database "%s" has been %s' % (name, "updated" if existed else "created")
            elif kind == "token":
                tok = self.t.ProvisionTokenV2()
                res.dict_to_msg({k: v for k, v in doc.items() if k in ("kind", "sub_kind", "version",
                                                                         "metadata", "spec")}, tok, "token")
                kinds.Tokens.defaults(tok)
                existed = self.live(self.store.tokens, name) is not None
                if existed and not force:
                    raise TraceError("AlreadyExists", "token %s already exists" % q(res.mask_key_name(name)))
                tok.Metadata.Revision = new_revision()
                self.put("token", name, tok)
                msg = "provision_token %s has been %s" % (q(res.mask_key_name(name)),
                                                          "updated" if existed else "created")
            else:
                raise TraceError("BadParameter", "unsupported resource kind %s" % q(kind or ""))
            self.store.save()
        return msg

    def bulk(self, req):
        """Many app servers (or apps) with a large padding label, in one write:
        for responses above gRPC's default 4 MiB receive limit."""
        kind = req.get("kind") or "app_server"
        count, pad = int(req.get("count") or 0), int(req.get("label_bytes") or 0)
        prefix = req.get("prefix") or "bulk-"
        host_id = req.get("host_id") or "bulk-host"
        if kind not in ("app", "app_server"):
            raise TraceError("BadParameter", "bulk: kind must be app or app_server")
        if not 0 < count <= 100000 or not 0 <= pad <= 1 << 20:
            raise TraceError("BadParameter", "bulk: count must be 1..100000 and label_bytes 0..1048576")
        labels = dict(req.get("labels") or {})
        with self.store.lock:
            for i in range(count):
                name = "%s%05d" % (prefix, i)
                app = self.t.AppV3(Kind="app", Version="v3")
                app.Metadata.Name, app.Metadata.Namespace = name, res.DEFAULT_NAMESPACE
                for k, v in labels.items():
                    app.Metadata.Labels[k] = v
                app.Metadata.Labels["bulk/pad"] = "x" * pad
                app.Metadata.Labels[res.ORIGIN_LABEL] = res.ORIGIN_DYNAMIC
                app.Spec.URI = "http://127.0.0.1:%d" % (10000 + i % 50000)
                app.Metadata.Revision = new_revision()
                if kind == "app":
                    self.backend_write("app", name, app)
                    continue
                srv = self.t.AppServerV3(Kind="app_server", Version="v3")
                srv.Metadata.Name, srv.Metadata.Namespace = name, res.DEFAULT_NAMESPACE
                srv.Metadata.Revision = new_revision()
                srv.Spec.Version, srv.Spec.Hostname, srv.Spec.HostID = self.server_version, "bulk", host_id
                srv.Spec.App.CopyFrom(app)
                res.go_non_null_times(srv)
                self.backend_write("app_server", "%s/%s" % (host_id, name), srv)
            self.store.save()
        return {"created": count, "kind": kind}
