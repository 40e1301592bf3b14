#!/usr/bin/python3
"""Teleport Auth Service stand-in: a real gRPC server with mutual TLS that
speaks Teleport's proto.AuthService messages and reproduces its semantics for
apps, app servers and provision tokens (see README.md).

    standin.py --state DIR [--listen 127.0.0.1:0] [--proxy-listen 127.0.0.1:0]
               [--roles FILE]... [--cluster-name NAME]
               [--app-service-labels 'k=v,k2=v2' | '*=*'] [--heartbeat S]
               [--max-connection-age S] [--seed N] [--log FILE]
"""
import argparse
import base64
import concurrent.futures
import datetime
import json
import logging
import os
import queue
import random
import signal
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import yaml  # noqa: E402
from cryptography import x509  # noqa: E402
from google.protobuf import json_format  # noqa: E402

import pbload  # noqa: E402
import pki  # noqa: E402
import netio  # noqa: E402
import rbac  # noqa: E402
import resources as res  # noqa: E402
from rbac import TraceError  # noqa: E402

SERVER_VERSION = "17.5.4"
APP_SERVICE_HOSTNAME = "standin-app-service"
DEFAULT_CHUNK_SIZE = 1000          # apidefaults.DefaultChunkSize
ADMIN_SERVICE = "enroller.standin.Admin"
AUTH_SERVICE = "proto.AuthService"

# api/trail: trace error kind -> gRPC status code
CODES = {
    "AccessDenied": grpc.StatusCode.PERMISSION_DENIED,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "BadParameter": grpc.StatusCode.INVALID_ARGUMENT,
    "CompareFailed": grpc.StatusCode.FAILED_PRECONDITION,
    "ConnectionProblem": grpc.StatusCode.UNAVAILABLE,
    "LimitExceeded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "NotImplemented": grpc.StatusCode.UNIMPLEMENTED,
}

# Kinds presence.ListResources paginates (the stand-in stores only app servers;
# the other kinds list as empty).
PAGINATED_KINDS = ("node", "db_server", "db_service", "app_server", "kube_server", "windows_desktop",
                   "windows_desktop_service", "user_group")

# lib/services/local/provisioning.go CreateToken (newest; never names the token)
TOKEN_EXISTS = ("token could not be created due to name conflict with an existing scoped or unscoped token, "
                "please try again with a different name or delete the conflicting token")

ADMIN_ROLE = {
    "kind": "role", "version": "v7", "metadata": {"name": "admin"},
    "spec": {"allow": {"rules": [{"resources": ["*"], "verbs": ["*"]}],
                       "app_labels": {"*": "*"}, "db_labels": {"*": "*"}, "node_labels": {"*": "*"}}},
}
ADMIN_USER = {"kind": "user", "version": "v2", "metadata": {"name": "admin"}, "spec": {"roles": ["admin"]}}

log = logging.getLogger("standin")


def q(s):
    return res.q(s)


def new_revision():
    return str(uuid.uuid4())


class Store:
    """Cluster state, durable like Teleport's backend: an acknowledged write
    survives a crash.  DIR/state.json is a snapshot; every write appends the
    records that changed to DIR/state.journal (one JSON line each), so a
    write costs what it changed, not the size of the cluster.  The journal is
    folded into the snapshot at start-up and when it grows long."""

    MESSAGE_COLLS = ("apps", "app_servers", "tokens", "databases")
    COMPACT_AFTER = 5000

    def __init__(self, state_dir, pb):
        self.path = os.path.join(state_dir, "state.json")
        self.journal_path = os.path.join(state_dir, "state.journal")
        self.pb = pb
        self.lock = threading.RLock()
        self.apps, self.app_servers, self.tokens, self.databases = {}, {}, {}, {}
        self.roles, self.users = {}, {}
        self._saved = {}          # (coll, key) -> serialized bytes last written
        self._journal = None
        self._journal_lines = 0
        if os.path.exists(self.path):
            self._load()
        self._replay_journal()
        self._compact()

    def _types(self):
        t = self.pb.types_pb2
        return {"apps": t.AppV3, "app_servers": t.AppServerV3, "tokens": t.ProvisionTokenV2,
                "databases": t.DatabaseV3}

    def _load(self):
        t = self._types()
        with open(self.path) as f:
            d = json.load(f)
        for coll in self.MESSAGE_COLLS:
            setattr(self, coll, {k: json_format.ParseDict(v, t[coll]()) for k, v in d.get(coll, {}).items()})
        self.roles = d.get("roles", {})
        self.users = d.get("users", {})

    def _replay_journal(self):
        if not os.path.exists(self.journal_path):
            return
        t = self._types()
        with open(self.journal_path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    break           # a torn last line from a crash: the write was never acknowledged
                coll, key, val = rec["c"], rec["k"], rec.get("v")
                m = getattr(self, coll)
                if val is None:
                    m.pop(key, None)
                elif coll in self.MESSAGE_COLLS:
                    m[key] = t[coll].FromString(base64.b64decode(val))
                else:
                    m[key] = val

    def _snapshot_bytes(self):
        def enc(m):
            return json_format.MessageToDict(m, preserving_proto_field_name=True)
        d = {coll: {k: enc(v) for k, v in getattr(self, coll).items()} for coll in self.MESSAGE_COLLS}
        d["roles"], d["users"] = self.roles, self.users
        return json.dumps(d, indent=1, sort_keys=True).encode()

    def _current(self):
        cur = {}
        for coll in self.MESSAGE_COLLS:
            for k, v in getattr(self, coll).items():
                cur[(coll, k)] = v.SerializeToString(deterministic=True)
        for coll in ("roles", "users"):
            for k, v in getattr(self, coll).items():
                cur[(coll, k)] = json.dumps(v, sort_keys=True).encode()
        return cur

    def _compact(self):
        with self.lock:
            pki.write_private(self.path, self._snapshot_bytes())
            if self._journal is not None:
                self._journal.close()
            self._journal = open(self.journal_path, "w")
            os.chmod(self.journal_path, 0o600)
            self._journal_lines = 0
            self._saved = self._current()

    def save(self):
        """Appends every record that changed since the last save."""
        with self.lock:
            cur = self._current()
            out = []
            for key, b in cur.items():
                if self._saved.get(key) != b:
                    coll, k = key
                    v = base64.b64encode(b).decode() if coll in self.MESSAGE_COLLS else getattr(self, coll)[k]
                    out.append(json.dumps({"c": coll, "k": k, "v": v}))
            for key in self._saved.keys() - cur.keys():
                out.append(json.dumps({"c": key[0], "k": key[1], "v": None}))
            self._saved = cur
            if not out:
                return
            self._journal.write("\n".join(out) + "\n")
            self._journal.flush()
            self._journal_lines += len(out)
            if self._journal_lines > self.COMPACT_AFTER:
                self._compact()


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.data = {}

    def inc(self, method, code):
        with self.lock:
            m = self.data.setdefault(method, {})
            m[code] = m.get(code, 0) + 1

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.data))

    def reset(self):
        with self.lock:
            self.data = {}


class Faults:
    """Injected faults per method path: added latency, then an error with a
    chosen gRPC code at a chosen rate; optionally only for the next N calls."""

    def __init__(self, seed=None):
        self.lock = threading.Lock()
        self.rules = {}
        self.rng = random.Random(seed)
        self.epoch = 0  # bumped by clear(): latency still being served ends early

    @staticmethod
    def path_of(method):
        if method == "*" or method.startswith("/"):
            return method
        return "/%s/%s" % (AUTH_SERVICE, method)

    def set(self, req):
        method = req.get("method") or ""
        if not method:
            raise TraceError("BadParameter", "faults: missing method (a method name, a full path or *)")
        code = (req.get("code") or "UNAVAILABLE").upper()
        if code == "OK" or code not in grpc.StatusCode.__members__:
            raise TraceError("BadParameter", "faults: %s is not a gRPC error code" % q(code))
        rate = float(req.get("error_rate", 0.0))
        latency = float(req.get("latency_ms", 0.0))
        count = req.get("count")
        if not 0.0 <= rate <= 1.0:
            raise TraceError("BadParameter", "faults: error_rate must be within [0, 1], got %s" % rate)
        if latency < 0:
            raise TraceError("BadParameter", "faults: latency_ms must not be negative")
        if count is not None and int(count) <= 0:
            raise TraceError("BadParameter", "faults: count must be positive")
        rule = {"latency_ms": latency, "error_rate": rate, "code": code,
                "message": req.get("message") or "stand-in injected fault: %s" % code,
                "count": None if count is None else int(count)}
        with self.lock:
            self.rules[self.path_of(method)] = rule
        return rule

    def clear(self):
        with self.lock:
            self.rules = {}
            self.epoch += 1

    def cleared_since(self, epoch):
        with self.lock:
            return self.epoch != epoch

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.rules))

    def pick(self, path):
        """-> (latency seconds, (StatusCode, message) or None, epoch) for one call."""
        with self.lock:
            key = path if path in self.rules else ("*" if "*" in self.rules else None)
            if key is None:
                return 0.0, None, self.epoch
            rule = self.rules[key]
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    del self.rules[key]
            err = None
            if rule["error_rate"] > 0 and self.rng.random() < rule["error_rate"]:
                err = (grpc.StatusCode[rule["code"]], rule["message"])
            return rule["latency_ms"] / 1000.0, err, self.epoch


class ServerCreds:
    """The Auth server's TLS credentials, re-read on each new connection's
    handshake after a rotation (grpc dynamic_ssl_server_credentials):
    connections already open keep the certificate they were made with."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.pending = False

    def config(self):
        return grpc.ssl_server_certificate_configuration(
            [(self.cluster.server_key_pem, self.cluster.server_cert_pem)],
            root_certificates=self.cluster.user_ca_pem)

    def fetch(self):
        with self.lock:
            if not self.pending:
                return None
            self.pending = False
            return self.config()

    def rotate(self, new_host_ca):
        with self.lock:
            cert = self.cluster.rotate_server_cert(new_host_ca)
            self.pending = True
            return cert

    def credentials(self):
        return grpc.dynamic_ssl_server_credentials(self.config(), self.fetch,
                                                   require_client_authentication=True)


def parse_selector(s):
    """--app-service-labels 'k=v,k2=v2' -> role-style selector {k: [v]}."""
    out = {}
    for part in filter(None, (p.strip() for p in s.split(","))):
        if "=" not in part:
            raise SystemExit("standin: --app-service-labels: %r is not key=value" % part)
        k, v = part.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


class Identity:
    def __init__(self, fields, peer):
        self.__dict__.update(fields)
        self.peer = peer


class AuthServer:
    """proto.AuthService handlers plus the emulated Application Service."""

    def __init__(self, store, cluster, pb, app_service_selector, counters, conns=None):
        self.store, self.cluster, self.pb = store, cluster, pb
        self.conns = conns or netio.ConnTable()
        self.t, self.a = pb.types_pb2, pb.authservice_pb2
        self.selector = app_service_selector
        self.counters = counters
        self.watch_lock = threading.Lock()
        self.watchers = []
        self.stopping = threading.Event()

    # ---- identity and roles ---------------------------------------------------------
    def identity(self, context):
        ac = context.auth_context()
        pems = ac.get("x509_pem_cert") or []
        if not pems:
            raise TraceError("AccessDenied", "access denied")
        cert = x509.load_pem_x509_certificate(pems[0])
        return Identity(pki.parse_subject(cert.subject), context.peer())

    def roles_of(self, ident):
        out = []
        with self.store.lock:
            for name in ident.roles:
                doc = self.store.roles.get(name)
                if doc is None:
                    raise TraceError("NotFound", "role %s is not found" % name)
                out.append(rbac.Role(doc))
        return out

    # ---- storage with watch events -------------------------------------------------------
    KIND_VERSION = {"app": "v3", "app_server": "v3", "token": "v2", "db": "v3"}
    EVENT_FIELD = {"app": "App", "app_server": "AppServer", "token": "ProvisionToken", "db": "Database"}

    def table(self, kind):
        return {"app": self.store.apps, "app_server": self.store.app_servers, "token": self.store.tokens,
                "db": self.store.databases}[kind]

    def put(self, kind, key, msg):
        """Backend Put: store and tell watchers (Event PUT with the resource)."""
        self.table(kind)[key] = msg
        ev = self.pb.event_pb2.Event(Type=self.pb.event_pb2.PUT)
        getattr(ev, self.EVENT_FIELD[kind]).CopyFrom(msg)
        self._publish(kind, msg.Metadata.Name, ev)

    def delete(self, kind, key):
        """Backend Delete (or TTL expiry): Event DELETE carrying a ResourceHeader,
        as the local services' resource parsers build it."""
        msg = self.table(kind).pop(key)
        ev = self.pb.event_pb2.Event(Type=self.pb.event_pb2.DELETE)
        h = ev.ResourceHeader
        h.Kind, h.Version = kind, self.KIND_VERSION[kind]
        h.Metadata.Name = msg.Metadata.Name
        h.Metadata.Namespace = res.DEFAULT_NAMESPACE
        if kind == "app_server":
            h.Metadata.Description = msg.Spec.HostID   # host ID travels in Description
        self._publish(kind, msg.Metadata.Name, ev)

    def _publish(self, kind, name, ev):
        with self.watch_lock:
            for w in list(self.watchers):
                if any(k.Kind == kind and (not k.Name or k.Name == name) for k in w["kinds"]):
                    w["queue"].put(ev)

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
                        yield w["queue"].get(timeout=0.2)
                    except queue.Empty:
                        continue
            finally:
                with self.watch_lock:
                    if w in self.watchers:
                        self.watchers.remove(w)
        return stream()

    # ---- helpers ---------------------------------------------------------------------
    def _live(self, table, key):
        m = table.get(key)
        if m is None or res.is_expired(m):
            return None
        return m

    def _copy(self, m):
        c = type(m)()
        c.CopyFrom(m)
        return c

    def _serve_app(self, app):
        return rbac.match_labels(self.selector, res.all_labels(app))

    def _announce(self, app):
        """The emulated app agent (re)announces an app server for a dynamic app."""
        srv = self.t.AppServerV3(Kind="app_server", Version="v3")
        srv.Metadata.Name = app.Metadata.Name
        srv.Metadata.Namespace = res.DEFAULT_NAMESPACE
        res.ts_set(srv.Metadata.Expires, res.now_utc() + datetime.timedelta(seconds=res.APP_SERVER_TTL))
        srv.Metadata.Revision = new_revision()
        srv.Spec.Version = SERVER_VERSION
        srv.Spec.Hostname = APP_SERVICE_HOSTNAME
        srv.Spec.HostID = self.cluster.host_id
        srv.Spec.App.CopyFrom(app)
        res.go_non_null_times(srv)
        self.put("app_server", "%s/%s" % (self.cluster.host_id, app.Metadata.Name), srv)

    def _app_changed(self, name):
        """Keep the emulated agent's app servers in step with dynamic app `name`."""
        key = "%s/%s" % (self.cluster.host_id, name)
        app = self._live(self.store.apps, name)
        if app is not None and self._serve_app(app):
            self._announce(app)
        else:
            if key in self.store.app_servers:
                self.delete("app_server", key)

    def heartbeat(self):
        with self.store.lock:
            for name in list(self.store.apps):
                self._app_changed(name)
            self.store.save()

    def sweep(self):
        """Backend TTL: expired items are removed."""
        now = res.now_utc()
        changed = False
        with self.store.lock:
            for kind in ("app", "app_server", "token", "db"):
                table = self.table(kind)
                for k in [k for k, v in table.items() if res.is_expired(v, now)]:
                    self.delete(kind, k)
                    changed = True
                    if kind == "app":
                        self._app_changed(k)
            if changed:
                self.store.save()

    def _check_app_access(self, roles, app):
        rbac.check_labels(roles, "app", "app_labels", res.all_labels(app))

    # ---- Ping ------------------------------------------------------------------------
    def Ping(self, req, ident):
        r = self.a.PingResponse(ClusterName=self.cluster.name, ServerVersion=SERVER_VERSION,
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

    # ---- apps ------------------------------------------------------------------------
    def GetApps(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_LIST, rbac.VERB_READ)
        out = self.t.AppV3List()
        with self.store.lock:
            for name in sorted(self.store.apps):
                app = self._live(self.store.apps, name)
                if app is None:
                    continue
                try:
                    self._check_app_access(roles, app)
                except TraceError:
                    continue
                out.Apps.add().CopyFrom(app)
        return out

    def _get_app(self, name):
        app = self._live(self.store.apps, name)
        if app is None:
            raise TraceError("NotFound", "application %s doesn't exist" % q(name))
        return app

    def GetApp(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_READ)
        with self.store.lock:
            app = self._get_app(req.Name)
            self._check_app_access(roles, app)
            return self._copy(app)

    def _default_origin(self, app):
        # grpcserver.CreateApp/UpdateApp (v15+): origin defaults to dynamic.
        if not app.Metadata.Labels.get(res.ORIGIN_LABEL):
            app.Metadata.Labels[res.ORIGIN_LABEL] = res.ORIGIN_DYNAMIC

    def CreateApp(self, app, ident):
        self._default_origin(app)
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_CREATE)
        self._check_app_access(roles, app)
        res.check_app(app)
        with self.store.lock:
            if self._live(self.store.apps, app.Metadata.Name) is not None:
                raise TraceError("AlreadyExists", "app %s already exists" % q(app.Metadata.Name))
            app.Metadata.Revision = new_revision()
            self.put("app", app.Metadata.Name, app)
            self._app_changed(app.Metadata.Name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def UpdateApp(self, app, ident):
        self._default_origin(app)
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_UPDATE)
        with self.store.lock:
            existing = self._get_app(app.Metadata.Name)
            self._check_app_access(roles, existing)
            self._check_app_access(roles, app)
            res.check_app(app)
            if self._live(self.store.apps, app.Metadata.Name) is None:
                raise TraceError("NotFound", "app %s doesn't exist" % q(app.Metadata.Name))
            # Unconditional write: the revision the client sent is not compared.
            app.Metadata.Revision = new_revision()
            self.put("app", app.Metadata.Name, app)
            self._app_changed(app.Metadata.Name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def DeleteApp(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_DELETE)
        with self.store.lock:
            app = self._get_app(req.Name)
            self._check_app_access(roles, app)
            self.delete("app", req.Name)
            self._app_changed(req.Name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def DeleteAllApps(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app", rbac.VERB_LIST, rbac.VERB_DELETE)
        with self.store.lock:
            for name in list(self.store.apps):
                app = self._live(self.store.apps, name)
                if app is None:
                    continue
                try:
                    self._check_app_access(roles, app)
                except TraceError:
                    continue
                self.delete("app", name)
                self._app_changed(name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    # ---- app servers -----------------------------------------------------------------
    def UpsertApplicationServer(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_CREATE, rbac.VERB_UPDATE)
        srv = self._copy(req.Server)
        res.check_app_server(srv, SERVER_VERSION)
        res.go_non_null_times(srv)
        with self.store.lock:
            srv.Metadata.Revision = new_revision()
            self.put("app_server", "%s/%s" % (srv.Spec.HostID, srv.Metadata.Name), srv)
            self.store.save()
        ka = self.t.KeepAlive()
        res.go_zero(ka.Expires)       # non-nullable: an "empty" KeepAlive still carries it
        if res.expires_of(srv) is not None:
            ka.Type = self.t.KeepAlive.APP
            ka.Name = srv.Metadata.Name
            ka.Namespace = srv.Metadata.Namespace
            ka.HostID = srv.Spec.HostID
            ka.Expires.CopyFrom(srv.Metadata.Expires)
        return ka

    def DeleteApplicationServer(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_DELETE)
        key = "%s/%s" % (req.HostID, req.Name)
        with self.store.lock:
            if req.Namespace != res.DEFAULT_NAMESPACE or self._live(self.store.app_servers, key) is None:
                raise TraceError("NotFound", 'key "/appServers/%s/%s/%s" is not found'
                                 % (req.Namespace, req.HostID, req.Name))
            self.delete("app_server", key)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def DeleteAllApplicationServers(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_LIST, rbac.VERB_DELETE)
        if not req.Namespace:
            raise TraceError("BadParameter", "missing parameter namespace")
        with self.store.lock:
            if req.Namespace == res.DEFAULT_NAMESPACE:
                for key in list(self.store.app_servers):
                    self.delete("app_server", key)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    # ---- ListResources ---------------------------------------------------------------
    def _match_filters(self, srv, req):
        labels = res.app_server_labels(srv)
        for k, v in req.Labels.items():
            if labels.get(k) != v:
                return False
        if req.SearchKeywords:
            app = srv.Spec.App
            fields = []
            for k, v in labels.items():
                fields += [k, v]
            fields += [srv.Metadata.Name, app.Metadata.Description, app.Spec.PublicAddr]
            fields = [f.lower() for f in fields]
            for kw in req.SearchKeywords:
                if not any(kw.lower() in f for f in fields):
                    return False
        return True

    def ListResources(self, req, ident):
        # ListResourcesRequest.CheckAndSetDefaults
        namespace = req.Namespace or res.DEFAULT_NAMESPACE
        limit = req.Limit
        if limit == 0:
            limit = DEFAULT_CHUNK_SIZE
        if limit < 0:
            raise TraceError("BadParameter", "negative parameter limit")
        roles = self.roles_of(ident)
        verbs = [rbac.VERB_LIST] if req.ResourceType == "node" else [rbac.VERB_LIST, rbac.VERB_READ]
        rbac.check_action(roles, req.ResourceType, *verbs)
        if req.ResourceType not in PAGINATED_KINDS and req.ResourceType != "kube_cluster":
            # dynamic resources (app, db) included: use GetApps/GetDatabases
            raise TraceError("NotImplemented", "resource type %s does not support pagination" % req.ResourceType)
        if req.PredicateExpression:
            raise TraceError("NotImplemented", "the Auth stand-in does not evaluate PredicateExpression")
        resp = self.a.ListResourcesResponse()
        if req.ResourceType != "app_server" or namespace != res.DEFAULT_NAMESPACE:
            return resp
        with self.store.lock:
            keys = sorted(self.store.app_servers)
            visible = []
            fake = bool(req.SortBy.Field) or req.NeedTotalCount
            for key in keys:
                if not fake and key < req.StartKey:
                    continue
                srv = self._live(self.store.app_servers, key)
                if srv is None:
                    continue
                try:
                    self._check_app_access(roles, srv.Spec.App)
                except TraceError:
                    continue      # RBAC-denied items are skipped, not counted
                if not self._match_filters(srv, req):
                    continue
                visible.append((key, srv))
                if not fake and len(visible) > limit:
                    break
            if fake:
                return self._fake_paginate(visible, req, limit, resp)
            for key, srv in visible[:limit]:
                resp.Resources.add().AppServer.CopyFrom(srv)
            if len(visible) > limit:
                resp.NextKey = visible[limit][0]
        return resp

    def _fake_paginate(self, items, req, limit, resp):
        """local.FakePaginate: sort the full list, StartKey is a numeric offset."""
        field = req.SortBy.Field or "name"
        getters = {"name": lambda s: s.Metadata.Name,
                   "description": lambda s: s.Spec.App.Metadata.Description,
                   "publicaddr": lambda s: s.Spec.App.Spec.PublicAddr,
                   "hostname": lambda s: s.Spec.Hostname}
        g = getters.get(field.lower())
        if g is None:
            raise TraceError("NotImplemented", "sorting by field %s for resource %s is not supported"
                             % (q(field), q("app_server")))
        items = sorted(items, key=lambda kv: g(kv[1]), reverse=req.SortBy.IsDesc)
        start = 0
        if req.StartKey:
            try:
                start = int(req.StartKey)
            except ValueError:
                raise TraceError("BadParameter", "invalid start key %s" % q(req.StartKey))
        page = items[start:start + limit]
        for _, srv in page:
            resp.Resources.add().AppServer.CopyFrom(srv)
        if start + limit < len(items):
            resp.NextKey = str(start + limit)
        if req.NeedTotalCount:
            resp.TotalCount = len(items)
        return resp

    # ---- databases -------------------------------------------------------------------
    def _check_db_access(self, roles, db):
        rbac.check_labels(roles, "db", "db_labels", res.all_labels(db),
                          extra="Confirm database user and name.")

    def _get_db(self, name):
        db = self._live(self.store.databases, name)
        if db is None:
            raise TraceError("NotFound", "database %s doesn't exist" % q(name))
        return db

    def GetDatabases(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_LIST, rbac.VERB_READ)
        out = self.t.DatabaseV3List()
        with self.store.lock:
            for name in sorted(self.store.databases):
                db = self._live(self.store.databases, name)
                if db is None:
                    continue
                try:
                    self._check_db_access(roles, db)
                except TraceError:
                    continue
                out.Databases.add().CopyFrom(db)
        return out

    def GetDatabase(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_READ)
        with self.store.lock:
            db = self._get_db(req.Name)
            self._check_db_access(roles, db)
            return self._copy(db)

    def _prepare_db(self, db):
        # grpcserver.CreateDatabase/UpdateDatabase: origin default, then
        # services.ValidateDatabase, before the RBAC layer.
        self._default_origin(db)
        res.check_database(db)

    def CreateDatabase(self, db, ident):
        self._prepare_db(db)
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_CREATE)
        self._check_db_access(roles, db)
        with self.store.lock:
            if self._live(self.store.databases, db.Metadata.Name) is not None:
                raise TraceError("AlreadyExists", "database %s already exists" % q(db.Metadata.Name))
            db.Metadata.Revision = new_revision()
            self.put("db", db.Metadata.Name, db)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def UpdateDatabase(self, db, ident):
        self._prepare_db(db)
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_UPDATE)
        with self.store.lock:
            existing = self._get_db(db.Metadata.Name)
            self._check_db_access(roles, existing)
            self._check_db_access(roles, db)
            db.Metadata.Revision = new_revision()
            self.put("db", db.Metadata.Name, db)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def DeleteDatabase(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_DELETE)
        with self.store.lock:
            db = self._get_db(req.Name)
            self._check_db_access(roles, db)
            self.delete("db", req.Name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def DeleteAllDatabases(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "db", rbac.VERB_LIST, rbac.VERB_DELETE)
        with self.store.lock:
            for name in list(self.store.databases):
                db = self._live(self.store.databases, name)
                if db is None:
                    continue
                try:
                    self._check_db_access(roles, db)
                except TraceError:
                    continue
                self.delete("db", name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    # ---- tokens ----------------------------------------------------------------------
    def _token_defaults(self, tok):
        res.check_token(tok)
        if res.expires_of(tok) is None:
            res.ts_set(tok.Metadata.Expires, res.now_utc() + datetime.timedelta(seconds=res.TOKEN_TTL))

    def CreateTokenV2(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_CREATE)
        if req.WhichOneof("Token") != "V2":
            raise TraceError("BadParameter", "token not set in request")
        tok = self._copy(req.V2)
        self._token_defaults(tok)
        with self.store.lock:
            if self._live(self.store.tokens, tok.Metadata.Name) is not None:
                raise TraceError("AlreadyExists", TOKEN_EXISTS)
            tok.Metadata.Revision = new_revision()
            self.put("token", tok.Metadata.Name, tok)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def UpsertTokenV2(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_CREATE, rbac.VERB_UPDATE)
        if req.WhichOneof("Token") != "V2":
            raise TraceError("BadParameter", "token not set in request")
        tok = self._copy(req.V2)
        self._token_defaults(tok)
        with self.store.lock:
            tok.Metadata.Revision = new_revision()
            self.put("token", tok.Metadata.Name, tok)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    def GetTokens(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_LIST, rbac.VERB_READ)
        out = self.t.ProvisionTokenV2List()
        with self.store.lock:
            for name in sorted(self.store.tokens):
                tok = self._live(self.store.tokens, name)
                if tok is not None:
                    out.ProvisionTokens.add().CopyFrom(tok)
        return out

    def _get_token(self, name):
        tok = self._live(self.store.tokens, name)
        if tok is None:
            raise TraceError("NotFound", "provisioning token(%s) not found" % res.mask_key_name(name))
        return tok

    def GetToken(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_READ)
        with self.store.lock:
            return self._copy(self._get_token(req.Name))

    def DeleteToken(self, req, ident):
        roles = self.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_DELETE)
        with self.store.lock:
            self._get_token(req.Name)
            self.delete("token", req.Name)
            self.store.save()
        return self.pb.empty_pb2.Empty()

    # ---- admin (tctl create for roles/users/apps/tokens, bypassing RBAC) ------------------
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
                self._default_origin(app)
                res.check_app(app)
                existed = self._live(self.store.apps, name) is not None
                if existed and not force:
                    raise TraceError("AlreadyExists", "app %s already exists" % q(name))
                app.Metadata.Revision = new_revision()
                self.put("app", name, app)
                self._app_changed(name)
                msg = 'app "%s" has been %s' % (name, "updated" if existed else "created")
            elif kind == "token":
                tok = self.t.ProvisionTokenV2()
                res.dict_to_msg({k: v for k, v in doc.items() if k in ("kind", "sub_kind", "version",
                                                                         "metadata", "spec")}, tok, "token")
                self._token_defaults(tok)
                existed = self._live(self.store.tokens, name) is not None
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
                    self.table("app")[name] = app
                    continue
                srv = self.t.AppServerV3(Kind="app_server", Version="v3")
                srv.Metadata.Name, srv.Metadata.Namespace = name, res.DEFAULT_NAMESPACE
                srv.Metadata.Revision = new_revision()
                srv.Spec.Version, srv.Spec.Hostname, srv.Spec.HostID = SERVER_VERSION, "bulk", host_id
                srv.Spec.App.CopyFrom(app)
                res.go_non_null_times(srv)
                self.table("app_server")["%s/%s" % (host_id, name)] = srv
            self.store.save()
        return {"created": count, "kind": kind}


class Service:
    """gRPC plumbing: generic handlers, error mapping, counters, logging."""

    def __init__(self, auth, counters, pb, faults=None, creds=None):
        self.auth, self.counters, self.pb = auth, counters, pb
        self.faults = faults or Faults()
        self.creds = creds

    def _inject(self, path, context):
        """Injected latency (cut short when the call ends or the faults are
        cleared), then maybe an error."""
        if not path.startswith("/%s/" % AUTH_SERVICE):
            return None
        delay, err, epoch = self.faults.pick(path)
        end = time.monotonic() + delay
        while delay > 0 and context.is_active() and not self.faults.cleared_since(epoch):
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.05))
        return err

    def _finish(self, path, ident, code, msg, context):
        self.counters.inc(path, code.name)
        user = ident.username if ident else "?"
        if code == grpc.StatusCode.OK:
            log.info("%s user=%s OK", path, user)
        else:
            log.info("%s user=%s %s: %s", path, user, code.name, msg)

    def unary(self, path, fn, req_cls, resp_ser):
        def handler(req, context):
            ident = None
            err = self._inject(path, context)
            if err is not None:
                self._finish(path, ident, err[0], err[1], context)
                context.abort(err[0], err[1])
            try:
                ident = self.auth.identity(context)
                resp = fn(req, ident)
            except TraceError as e:
                code = CODES.get(e.kind, grpc.StatusCode.UNKNOWN)
                self._finish(path, ident, code, e.message, context)
                context.abort(code, e.message)
            except Exception as e:  # noqa: BLE001 - becomes UNKNOWN like any Go error
                log.exception("%s failed", path)
                self._finish(path, ident, grpc.StatusCode.UNKNOWN, str(e), context)
                context.abort(grpc.StatusCode.UNKNOWN, str(e))
            self._finish(path, ident, grpc.StatusCode.OK, "", context)
            return resp
        return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=req_cls.FromString,
                                                   response_serializer=resp_ser)

    def server_stream(self, path, fn, req_cls, resp_ser):
        def handler(req, context):
            ident = None
            err = self._inject(path, context)
            if err is not None:
                self._finish(path, ident, err[0], err[1], context)
                context.abort(err[0], err[1])
            try:
                ident = self.auth.identity(context)
                it = fn(req, ident, context)
            except TraceError as e:
                code = CODES.get(e.kind, grpc.StatusCode.UNKNOWN)
                self._finish(path, ident, code, e.message, context)
                context.abort(code, e.message)
            self._finish(path, ident, grpc.StatusCode.OK, "", context)
            yield from it
        return grpc.unary_stream_rpc_method_handler(handler, request_deserializer=req_cls.FromString,
                                                    response_serializer=resp_ser)

    def not_implemented(self, path, streaming):
        def handler(req, context):
            self.counters.inc(path, "UNIMPLEMENTED")
            log.info("%s UNIMPLEMENTED", path)
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "%s is not implemented by the Teleport Auth stand-in" % path)
        if streaming:
            def stream_handler(req, context):
                handler(req, context)
                yield None  # pragma: no cover - abort raises
            return grpc.unary_stream_rpc_method_handler(stream_handler)
        return grpc.unary_unary_rpc_method_handler(handler)

    def auth_handler(self):
        from google.protobuf import symbol_database
        db = symbol_database.Default()
        svc = self.pb.authservice_pb2.DESCRIPTOR.services_by_name["AuthService"]
        handlers = {}
        for m in svc.methods:
            path = "/%s/%s" % (AUTH_SERVICE, m.name)
            fn = getattr(self.auth, m.name, None)
            if fn is None or m.client_streaming:
                handlers[m.name] = self.not_implemented(path, m.server_streaming)
                continue
            req_cls = db.GetSymbol(m.input_type.full_name)
            resp_cls = db.GetSymbol(m.output_type.full_name)
            make = self.server_stream if m.server_streaming else self.unary
            handlers[m.name] = make(path, fn, req_cls, resp_cls.SerializeToString)
        return grpc.method_handlers_generic_handler(AUTH_SERVICE, handlers)

    def admin_handler(self):
        def admin_only(fn):
            def wrapped(body, ident):
                if "admin" not in ident.roles:
                    raise TraceError("AccessDenied", "access denied: the admin service needs role admin")
                try:
                    req = json.loads(body.decode() or "{}")
                except ValueError as e:
                    raise TraceError("BadParameter", "request is not JSON: %s" % e)
                if not isinstance(req, dict):
                    raise TraceError("BadParameter", "request is not a JSON object")
                return json.dumps(fn(req, ident)).encode()
            return wrapped

        def create(req, ident):
            return {"message": self.auth.create_resource(req.get("resource"), bool(req.get("force")))}

        def counters(req, ident):
            return {"methods": self.counters.snapshot()}

        def reset(req, ident):
            self.counters.reset()
            return {}

        def set_fault(req, ident):
            try:
                return {"rule": self.faults.set(req)}
            except (TypeError, ValueError) as e:
                raise TraceError("BadParameter", "faults: %s" % e)

        def clear_faults(req, ident):
            self.faults.clear()
            return {}

        def list_faults(req, ident):
            return {"faults": self.faults.snapshot()}

        def drop(req, ident):
            up = self.auth.upstream_of(ident.peer)
            keep = self.auth.conns.conn_of(up) if up else None
            n = self.auth.conns.drop_all(reset=bool(req.get("reset")), keep=keep)
            log.info("dropped %d connections (reset=%s)", n, bool(req.get("reset")))
            return {"dropped": n}

        def connections(req, ident):
            return {"connections": self.auth.conns.count()}

        def rotate(req, ident):
            cert = self.creds.rotate(bool(req.get("host_ca")))
            if req.get("host_ca"):
                # tctl --state keeps working: the admin identity trusts the new host CA.
                c = self.auth.cluster
                pki.write_private(os.path.join(c.dir, "admin.identity"),
                                  c.sign_identity("admin", ["admin"], 10 * 365 * 86400))
            log.info("rotated the server certificate (new host CA: %s)", bool(req.get("host_ca")))
            return {"serial": "%x" % cert.serial_number,
                    "not_after": cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).isoformat()}

        def bulk(req, ident):
            return self.auth.bulk(req)

        class Raw:
            FromString = staticmethod(lambda b: b)
        ident_ser = (lambda b: b)
        fns = {"CreateResource": create, "Counters": counters, "ResetCounters": reset,
               "SetFault": set_fault, "ClearFaults": clear_faults, "Faults": list_faults,
               "DropConnections": drop, "Connections": connections, "RotateCert": rotate, "Bulk": bulk}
        handlers = {name: self.unary("/%s/%s" % (ADMIN_SERVICE, name), admin_only(fn), Raw, ident_ser)
                    for name, fn in fns.items()}
        return grpc.method_handlers_generic_handler(ADMIN_SERVICE, handlers)


# Teleport's Proxy ALPN handlers (lib/srv/alpnproxy/common/protocols.go) the
# stand-in knows by name but does not serve.
OTHER_PROTOCOLS = ("h2", "http/1.1", "teleport-proxy-ssh", "teleport-reversetunnel", "teleport-proxy-grpc",
                   "teleport-proxy-grpc-mtls", "teleport-tcp", "teleport-postgres", "teleport-mysql",
                   "teleport-mongodb", "teleport-redis", "teleport-kube", "acme-tls/1")


def make_proxy_route(cluster_name):
    """Mirrors alpnproxy.Proxy.getHandleDescBasedOnALPNVal + AuthProxyDialerService:
    the first client protocol a handler matches wins (no ALPN = http/1.1, the
    web handler); the Auth handler (prefix teleport-auth@, ForwardTLS) then
    decodes the cluster from ALPN[0]. Only that route exists here; every other
    outcome closes the connection without a TLS alert, as Teleport does on a
    handler error."""
    def route(hello):
        alpn = hello["alpn"]
        for p in alpn or ["http/1.1"]:
            if p.startswith(netio.PROTOCOL_AUTH):
                if not alpn[0].startswith(netio.PROTOCOL_AUTH):
                    return "auth routing prefix not found"
                try:
                    name = netio.decode_cluster_name(alpn[0][len(netio.PROTOCOL_AUTH):])
                except netio.HelloError as e:
                    return str(e)
                if name != cluster_name:
                    return 'auth server for "%s" cluster name not found' % name
                return None
            if p in OTHER_PROTOCOLS or p.startswith("teleport-"):
                return "ALPN %s goes to a Teleport Proxy handler the stand-in does not have" % q(p)
        return "failed to find ALPN handler based on received client supported protocols %s" % json.dumps(
            alpn or ["http/1.1"])
    return route


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def write_atomic(path, text):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Teleport Auth Service stand-in")
    ap.add_argument("--state", required=True, help="state directory (created on first start)")
    ap.add_argument("--listen", default="127.0.0.1:0", help="loopback host:port (default 127.0.0.1:0)")
    ap.add_argument("--roles", action="append", default=[], help="Teleport role/user YAML file to load")
    ap.add_argument("--cluster-name", default="enroller-test")
    ap.add_argument("--app-service-labels", default="*=*",
                    help="labels of dynamic apps the emulated Application Service serves")
    ap.add_argument("--heartbeat", type=float, default=60.0, help="app server re-announce period, seconds")
    ap.add_argument("--proxy-listen", help="also open a Proxy listener (TLS routing by ALPN) on this loopback "
                                           "host:port; its address goes to DIR/proxy_addr")
    ap.add_argument("--max-connection-age", type=float, default=0.0,
                    help="seconds after which the server sends GOAWAY on a connection (0: never)")
    ap.add_argument("--seed", type=int, help="seed of the fault injector's random numbers")
    ap.add_argument("--log", help="log file (default stderr)")
    args = ap.parse_args(argv)

    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s standin %(levelname)s %(message)s")
    for flag, value in (("--listen", args.listen), ("--proxy-listen", args.proxy_listen)):
        if value is not None and value.rpartition(":")[0] not in ("127.0.0.1", "localhost", "[::1]", "::1"):
            ap.error("%s must be a loopback address" % flag)
    state = os.path.abspath(args.state)
    os.makedirs(state, exist_ok=True)
    for stale in ("addr", "pid", "proxy_addr"):
        try:
            os.unlink(os.path.join(state, stale))
        except FileNotFoundError:
            pass
    pb = pbload.load(os.path.join(state, "pygen"))

    fresh = not pki.Cluster.exists(state)
    cluster = pki.Cluster.create(state, args.cluster_name) if fresh else pki.Cluster(state)
    store = Store(state, pb)
    with store.lock:
        store.roles.setdefault("admin", ADMIN_ROLE)
        store.users.setdefault("admin", ADMIN_USER)
    counters = Counters()
    conns = netio.ConnTable()
    auth = AuthServer(store, cluster, pb, parse_selector(args.app_service_labels), counters, conns)
    for path in args.roles:
        for doc in load_yaml_docs(path):
            try:
                auth.create_resource(doc, force=True)
            except TraceError as e:
                raise SystemExit("standin: %s: %s" % (path, e.message))
    store.save()
    if fresh or not os.path.exists(os.path.join(state, "admin.identity")):
        pki.write_private(os.path.join(state, "admin.identity"),
                          cluster.sign_identity("admin", ["admin"], 10 * 365 * 86400))

    creds = ServerCreds(cluster)
    svc = Service(auth, counters, pb, Faults(args.seed), creds)
    options = [("grpc.so_reuseport", 0)]   # a port still held by another process must fail loudly
    if args.max_connection_age > 0:
        options += [("grpc.max_connection_age_ms", int(args.max_connection_age * 1000)),
                    ("grpc.max_connection_age_grace_ms", 5000)]
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64),
                         handlers=[svc.auth_handler(), svc.admin_handler()], options=options)
    # The gRPC server listens on a private loopback port; the Auth (and Proxy)
    # listeners are the stand-in's own relays in front of it (netio.py).
    internal = server.add_secure_port("127.0.0.1:0", creds.credentials())
    if not internal:
        raise SystemExit("standin: cannot open the internal gRPC port")
    backend = ("127.0.0.1", internal)
    log.info("internal gRPC port 127.0.0.1:%d (behind the relays)", internal)
    try:
        auth_relay = netio.Relay("auth", args.listen, backend, conns)
        proxy_relay = None
        if args.proxy_listen:
            proxy_relay = netio.Relay("proxy", args.proxy_listen, backend, conns,
                                      route=make_proxy_route(cluster.name))
    except OSError as e:
        raise SystemExit("standin: cannot listen: %s (address in use?)" % e)
    bound = auth_relay.addr[1]
    server.start()
    auth_relay.start()
    if proxy_relay:
        proxy_relay.start()
    auth.heartbeat()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    write_atomic(os.path.join(state, "pid"), "%d\n" % os.getpid())
    if proxy_relay:
        write_atomic(os.path.join(state, "proxy_addr"), "127.0.0.1:%d\n" % proxy_relay.addr[1])
        log.info("proxy listening on 127.0.0.1:%d", proxy_relay.addr[1])
    write_atomic(os.path.join(state, "addr"), "127.0.0.1:%d\n" % bound)
    log.info("listening on 127.0.0.1:%d cluster=%s", bound, cluster.name)

    last_beat = datetime.datetime.now()
    while not stop.wait(1.0):
        auth.sweep()
        if (datetime.datetime.now() - last_beat).total_seconds() >= args.heartbeat:
            auth.heartbeat()
            last_beat = datetime.datetime.now()
    auth.stopping.set()
    auth_relay.stop()
    if proxy_relay:
        proxy_relay.stop()
    server.stop(grace=1).wait()     # GOAWAY to every client, through the relays
    conns.drop_all()
    for f in ("addr", "pid", "proxy_addr"):
        try:
            os.unlink(os.path.join(state, f))
        except FileNotFoundError:
            pass
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
