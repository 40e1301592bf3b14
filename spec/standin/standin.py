#!/usr/bin/python3
"""Teleport Auth Service stand-in: a real gRPC server with mutual TLS that
speaks Teleport's proto.AuthService messages and reproduces its semantics for
apps, app servers, databases and provision tokens (see README.md). This file
is the service wiring (command line, listeners, main loop); the parts are

    store.py    durable cluster state (snapshot + journal)
    auth.py     Auth core: identity, roles, backend writes + events, watch, Ping
    kinds.py    table-driven handlers per kind (apps/databases share one)
    listing.py  ListResources
    agents.py   the emulated Application Service
    databases.py the emulated Database Service, ListApps/ListDatabases
    faults.py   counters and injected faults
    service.py  gRPC plumbing, TLS credentials, admin service
    netio.py    the Auth and Proxy listeners (relays)

    standin.py --state DIR [--listen 127.0.0.1:0] [--proxy-listen 127.0.0.1:0]
               [--roles FILE]... [--cluster-name NAME]
               [--app-service-labels 'k=v,k2=v2']... [--db-service-labels ...] [--no-list-apps]
               [--heartbeat S]
               [--max-connection-age S] [--seed N] [--log FILE]
               [--cache-lag-ms MS] [--version 16|17|master]
"""
import argparse
import concurrent.futures
import datetime
import json
import logging
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import yaml  # noqa: E402

import agents  # noqa: E402
import netio  # noqa: E402
import pbload  # noqa: E402
import pki  # noqa: E402
import resources as res  # noqa: E402
from auth import AuthServer, VERSIONS  # noqa: E402
from faults import Counters, Faults  # noqa: E402
from rbac import TraceError  # noqa: E402
from service import Service, ServerCreds  # noqa: E402
from store import Store  # noqa: E402,F401  (bench/standin_fast.py patches Store.save)

ADMIN_ROLE = {
    "kind": "role", "version": "v7", "metadata": {"name": "admin"},
    "spec": {"allow": {"rules": [{"resources": ["*"], "verbs": ["*"]}],
                       "app_labels": {"*": "*"}, "db_labels": {"*": "*"}, "node_labels": {"*": "*"}}},
}
ADMIN_USER = {"kind": "user", "version": "v2", "metadata": {"name": "admin"}, "spec": {"roles": ["admin"]}}

log = logging.getLogger("standin")


def q(s):
    return res.q(s)


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
    ap.add_argument("--app-service-labels", action="append",
                    help="label matcher 'k=v,k2=v2' of the emulated Application Service (app_service.resources); "
                         "repeat for several matchers ('*=*' serves every dynamic app); without it no "
                         "Application Service runs")
    ap.add_argument("--db-service-labels", action="append",
                    help="label matcher 'k=v,k2=v2' of the emulated Database Service (db_service.resources); "
                         "repeatable ('*=*' serves every database); without it no Database Service runs, "
                         "as with --app-service-labels")
    ap.add_argument("--no-list-apps", action="store_true",
                    help="leave out ListApps and ListDatabases (UNIMPLEMENTED), as an Auth Service older than them")
    ap.add_argument("--heartbeat", type=float, default=60.0, help="app server re-announce period, seconds")
    ap.add_argument("--proxy-listen", help="also open a Proxy listener (TLS routing by ALPN) on this loopback "
                                           "host:port; its address goes to DIR/proxy_addr")
    ap.add_argument("--max-connection-age", type=float, default=0.0,
                    help="seconds after which the server sends GOAWAY on a connection (0: never)")
    ap.add_argument("--seed", type=int, help="seed of the fault injector's random numbers")
    ap.add_argument("--cache-lag-ms", type=float, default=0.0,
                    help="delay before a write reaches Auth's cache, which GetApp(s), GetDatabase(s), the "
                         "existence checks of Update/Delete and ListResources read (default 0)")
    ap.add_argument("--version", default="17", choices=sorted(VERSIONS),
                    help="Teleport release line whose texts and Ping version are reproduced (default 17)")
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
    try:
        matchers = [agents.parse_selector(s) for s in (args.app_service_labels or [])]
    except ValueError as e:
        ap.error("--app-service-labels: %s" % e)
    if args.cache_lag_ms < 0:
        ap.error("--cache-lag-ms must not be negative")
    try:
        db_matchers = [agents.parse_selector(s) for s in (args.db_service_labels or [])]
    except ValueError as e:
        ap.error("--db-service-labels: %s" % e)
    auth = AuthServer(store, cluster, pb, matchers, counters, conns, version=args.version,
                      cache_lag_ms=args.cache_lag_ms, db_service_matchers=db_matchers, no_list=args.no_list_apps)
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
    # a port still held by another process must fail loudly; and Auth's limit
    # of streams on one connection, which its SETTINGS announce:
    # grpc.MaxConcurrentStreams(defaults.GRPCMaxConcurrentStreams) in
    # NewGRPCServer (lib/auth/grpcserver.go), 1000 (lib/defaults/defaults.go)
    options = [("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 1000)]
    if args.max_connection_age > 0:
        options += [("grpc.max_connection_age_ms", int(args.max_connection_age * 1000)),
                    ("grpc.max_connection_age_grace_ms", 5000)]
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64),
                         handlers=[svc.auth_handler(), svc.admin_handler()], options=options)
    # The gRPC server listens on a private loopback port without TLS; the
    # Auth (and Proxy) listeners in front of it are the TLS endpoint
    # (netio.py) and tell it who each connection's client is.
    internal = server.add_insecure_port("127.0.0.1:0")
    if not internal:
        raise SystemExit("standin: cannot open the internal gRPC port")
    backend = ("127.0.0.1", internal)
    log.info("internal gRPC port 127.0.0.1:%d (behind the listeners)", internal)
    try:
        auth_relay = netio.Relay("auth", args.listen, backend, conns, tls=creds.context)
        proxy_relay = None
        if args.proxy_listen:
            proxy_relay = netio.Relay("proxy", args.proxy_listen, backend, conns,
                                      route=make_proxy_route(cluster.name), tls=creds.context)
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
