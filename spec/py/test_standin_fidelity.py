#!/usr/bin/python3
"""Fidelity of the Teleport Auth stand-in to Teleport's own behaviour: each
test names the Teleport source the behaviour follows (gravitational/teleport,
paths relative to its repository). Starts its own stand-ins in temp dirs."""
import json
import os
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "spec", "py"))

import grpc  # noqa: E402

from test_standin import OWNER, StandIn, tctl  # noqa: E402  (also puts spec/standin on sys.path)
import client  # noqa: E402
import pbload  # noqa: E402

DEADLINE = 60.0     # generous: waits are on observable conditions


def wait_for(pred, what, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Fixture(unittest.TestCase):
    EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="standin-fidelity-")
        cls.state = os.path.join(cls.tmp.name, "state")
        os.makedirs(cls.state)
        cls.srv = StandIn(cls.state, *cls.EXTRA)
        cls.addClassCleanup(lambda: cls.srv.proc.poll() is None and cls.srv.proc.kill())
        cls.pb = pbload.load(os.path.join(cls.state, "pygen"))
        cls.t, cls.a, cls.e = cls.pb.types_pb2, cls.pb.authservice_pb2, cls.pb.empty_pb2
        cls.chans = []
        cls.admin = cls.connect(os.path.join(cls.state, "admin.identity"))
        cls.enroller = cls.connect(cls.sign("enroller"))
        with open(os.path.join(cls.state, "cluster.json")) as f:
            cls.host_id = json.load(f)["host_id"]

    @classmethod
    def tearDownClass(cls):
        for c in cls.chans:
            c.close()
        rc = cls.srv.stop()
        cls.tmp.cleanup()
        assert rc == 0, "stand-in exit status %s" % rc

    @classmethod
    def sign(cls, user):
        out = os.path.join(cls.tmp.name, user + ".identity")
        tctl("--state", cls.state, "auth", "sign", "--user", user, "--out", out, "--ttl", "1h")
        return out

    @classmethod
    def connect(cls, identity):
        chan = client.channel(cls.srv.addr, identity)
        cls.chans.append(chan)
        return client.Auth(chan, cls.pb)

    def app(self, name, owner="me", kind="app", uri="http://127.0.0.1:8080", **labels):
        a = self.t.AppV3(Kind=kind, Version="v3")
        a.Metadata.Name = name
        if owner is not None:
            a.Metadata.Labels[OWNER] = owner
        for k, v in labels.items():
            a.Metadata.Labels[k.replace("__", "/")] = v
        a.Spec.URI = uri
        return a

    def rr(self, name):
        return self.t.ResourceRequest(Name=name)

    def rpc_error(self, fn, req):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(req, timeout=30)
        return cm.exception.code(), cm.exception.details()

    def upsert_server(self, host, name, owner="me", **labels):
        s = self.t.AppServerV3()
        s.Metadata.Name = name
        s.Spec.HostID = host
        s.Spec.Hostname = "test-agent"
        s.Spec.App.CopyFrom(self.app(name, owner=owner, **labels))
        self.admin.UpsertApplicationServer(self.a.UpsertApplicationServerRequest(Server=s), timeout=30)

    def delete_servers(self, host, names):
        for n in names:
            self.admin.DeleteApplicationServer(self.a.DeleteApplicationServerRequest(
                Namespace="default", HostID=host, Name=n), timeout=30)

    def page(self, c, limit, start="", **kw):
        r = c.ListResources(self.a.ListResourcesRequest(ResourceType="app_server", Limit=limit, StartKey=start,
                                                        **kw), timeout=30)
        return [x.AppServer.Metadata.Name for x in r.Resources], r.NextKey, r


class TestKindValidation(Fixture):
    def test_wrong_or_empty_kind_is_invalid_argument(self):
        # lib/auth/auth_with_roles.go CreateApp/UpdateApp check the caller's
        # label matchers (checkAccessToApp -> lib/services/role.go checkAccess
        # -> checkRoleLabelsMatch) before the auth server's CheckAndSetDefaults
        # sets Kind; api/types/role.go GetLabelMatchers has none for an
        # unknown kind: BadParameter("can't get label matchers for resource kind %q").
        for kind in ("bogus", ""):
            code, msg = self.rpc_error(self.enroller.CreateApp, self.app("kind-" + (kind or "empty"), kind=kind))
            self.assertEqual((code, msg), (grpc.StatusCode.INVALID_ARGUMENT,
                                           "can't get label matchers for resource kind \"%s\"" % kind))
            code, _ = self.rpc_error(self.admin.GetApp, self.rr("kind-" + (kind or "empty")))
            self.assertEqual(code, grpc.StatusCode.NOT_FOUND)       # nothing was stored
        self.enroller.CreateApp(self.app("kind-ok"), timeout=30)
        code, msg = self.rpc_error(self.enroller.UpdateApp, self.app("kind-ok", kind="application"))
        self.assertEqual((code, msg), (grpc.StatusCode.INVALID_ARGUMENT,
                                       "can't get label matchers for resource kind \"application\""))
        self.enroller.DeleteApp(self.rr("kind-ok"), timeout=30)

    def test_database_kind_is_set_before_rbac(self):
        # lib/auth/grpcserver.go CreateDatabase runs services.ValidateDatabase
        # (CheckAndSetDefaults: Kind = db) before ServerWithRoles.CreateDatabase.
        d = self.t.DatabaseV3(Kind="bogus")
        d.Metadata.Name = "kind-db"
        d.Spec.Protocol, d.Spec.URI = "postgres", "127.0.0.1:5432"
        self.admin.CreateDatabase(d, timeout=30)
        self.assertEqual(self.admin.GetDatabase(self.rr("kind-db"), timeout=30).Kind, "db")
        self.admin.DeleteDatabase(self.rr("kind-db"), timeout=30)


class TestTokens(Fixture):
    def test_token_without_expires_is_stored_without_expiry(self):
        # lib/services/local/provisioning.go tokenToItem: Expires = p.Expiry();
        # no server-side default since v13.
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "fidelity-token-0123456789"
        tok.Spec.Roles.append("App")
        self.admin.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=30)
        got = self.admin.GetToken(self.rr(tok.Metadata.Name), timeout=30)
        self.assertFalse(got.Metadata.HasField("Expires"))
        got = [t for t in self.admin.GetTokens(self.e.Empty(), timeout=30).ProvisionTokens
               if t.Metadata.Name == tok.Metadata.Name]
        self.assertEqual(len(got), 1)
        self.assertFalse(got[0].Metadata.HasField("Expires"))
        # An expiry that is given is kept.
        tok.Metadata.Name = "fidelity-token-expiring-0123"
        tok.Metadata.Expires.FromSeconds(int(time.time()) + 3600)
        self.admin.UpsertTokenV2(self.a.UpsertTokenV2Request(V2=tok), timeout=30)
        got = self.admin.GetToken(self.rr(tok.Metadata.Name), timeout=30)
        self.assertEqual(got.Metadata.Expires.seconds, tok.Metadata.Expires.seconds)
        for n in ("fidelity-token-0123456789", "fidelity-token-expiring-0123"):
            self.admin.DeleteToken(self.rr(n), timeout=30)

    def test_missing_token_text_masks_the_name(self):
        # lib/services/local/provisioning.go GetToken/DeleteToken:
        # NotFound("provisioning token(%s) not found", backend.MaskKeyName(token));
        # lib/backend/backend.go MaskKeyName hides the first 75% of the bytes.
        name = "fidelity-missing-0123456789"         # 27 bytes: 20 hidden
        for fn in (self.admin.GetToken, self.admin.DeleteToken):
            code, msg = self.rpc_error(fn, self.rr(name))
            self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND,
                                           "provisioning token(" + "*" * 20 + "3456789) not found"))


class TestListResources(Fixture):
    HOST = "h-list"

    def setUp(self):
        # Stored key order: h-list/a0 a1 a2 (enroller's), b0 b1 (someone else's), c0 (enroller's, env=dev)
        for n in ("a0", "a1", "a2"):
            self.upsert_server(self.HOST, n, env="prod", grp="fid")
        for n in ("b0", "b1"):
            self.upsert_server(self.HOST, n, owner=None, env="prod", grp="fid")
        self.upsert_server(self.HOST, "c0", env="dev", grp="fid")
        self.names = ["a0", "a1", "a2", "b0", "b1", "c0"]

    def tearDown(self):
        self.delete_servers(self.HOST, self.names)

    def test_next_key_is_set_before_the_checks(self):
        # lib/auth/auth_with_roles.go ListResources: IterateResources; once
        # `limit` resources are collected, the next item read sets NextKey
        # (backend.GetPaginationKey) before its RBAC check and filters, so the
        # page it leads to may be empty.
        prod = {"grp": "fid", "env": "prod"}
        names, nxt, _ = self.page(self.enroller, 3, Labels=prod)
        self.assertEqual((names, nxt), (["a0", "a1", "a2"], self.HOST + "/b0"))    # b0: hidden by RBAC
        names, nxt, _ = self.page(self.enroller, 3, nxt, Labels=prod)
        self.assertEqual((names, nxt), ([], ""))                                   # b0, b1 hidden, c0 filtered
        names, nxt, _ = self.page(self.admin, 5, Labels=prod)
        self.assertEqual((names, nxt), (["a0", "a1", "a2", "b0", "b1"], self.HOST + "/c0"))  # c0: filtered
        names, nxt, _ = self.page(self.admin, 5, nxt, Labels=prod)
        self.assertEqual((names, nxt), ([], ""))
        # Items hidden before the limit is reached are skipped and not counted.
        names, nxt, _ = self.page(self.enroller, 4, Labels={"grp": "fid"})
        self.assertEqual((names, nxt), (["a0", "a1", "a2", "c0"], ""))

    def test_predicate_expression_after_rbac(self):
        # auth_with_roles.go ListResources: services.NewResourceExpression
        # (lib/services/parser.go) is matched by MatchResourceByFilters after
        # the caller's access check, against the server's app.
        expr = 'labels["grp"] == "fid" && labels.env == "prod"'
        names, _, _ = self.page(self.admin, 0, PredicateExpression=expr)
        self.assertEqual(names, ["a0", "a1", "a2", "b0", "b1"])
        names, _, _ = self.page(self.enroller, 0, PredicateExpression=expr)
        self.assertEqual(names, ["a0", "a1", "a2"])
        for expr, want in (('hasPrefix(name, "b") && exists(labels.grp)', ["b0", "b1"]),
                           ('labels.grp == "fid" && !(labels.env == "prod")', ["c0"]),
                           ('search("c0") || equals(resource.metadata.name, "a1")', ["a1", "c0"]),
                           ('resource.spec.uri == "http://127.0.0.1:8080" && labels.env == "dev"', ["c0"]),
                           ('contains(split("a0,b1", ","), name)', ["a0", "b1"])):
            names, _, _ = self.page(self.admin, 0, PredicateExpression=expr)
            self.assertEqual(names, want, expr)
        # With sorting (fake pagination) the predicate applies as well.
        names, _, r = self.page(self.enroller, 0, PredicateExpression='labels.env == "prod"',
                                SortBy=self.t.SortBy(Field="name", IsDesc=True))
        self.assertEqual((names, r.TotalCount), (["a2", "a1", "a0"], 3))
        # Bad expressions: BadParameter -> INVALID_ARGUMENT.
        for bad in ('labels.env ==', 'nosuch(name)', 'labels.env == "prod" &&& name', 'resource.spec.nosuch == "x"'):
            with self.assertRaises(grpc.RpcError) as cm:
                self.page(self.admin, 0, PredicateExpression=bad)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad)

    def test_sort_by_fake_paginates_with_pagination_keys(self):
        # auth_with_roles.go listResourcesWithSort -> lib/services/local/presence.go
        # FakePaginate: NextKey is backend.GetPaginationKey (<HostID>/<Name>) of
        # the first item after the page; a StartKey not in the list starts from
        # the beginning; TotalCount is always the filtered count.
        f = {"grp": "fid"}
        srt = self.t.SortBy(Field="name", IsDesc=True)
        names, nxt, r = self.page(self.admin, 2, SortBy=srt, Labels=f)
        self.assertEqual((names, nxt, r.TotalCount), (["c0", "b1"], self.HOST + "/b0", 6))
        names, nxt, _ = self.page(self.admin, 2, nxt, SortBy=srt, Labels=f)
        self.assertEqual((names, nxt), (["b0", "a2"], self.HOST + "/a1"))
        names, nxt, _ = self.page(self.admin, 2, nxt, SortBy=srt, Labels=f)
        self.assertEqual((names, nxt), (["a1", "a0"], ""))
        names, nxt, _ = self.page(self.admin, 2, "no-such-key", SortBy=srt, Labels=f)
        self.assertEqual((names, nxt), (["c0", "b1"], self.HOST + "/b0"))
        names, nxt, _ = self.page(self.admin, 2, "7", SortBy=srt, Labels=f)     # an old numeric offset
        self.assertEqual(names, ["c0", "b1"])
        # RBAC applies before paginating (ServerWithRoles.GetApplicationServers).
        names, nxt, r = self.page(self.enroller, 10, SortBy=self.t.SortBy(Field="name"), Labels=f)
        self.assertEqual((names, nxt, r.TotalCount), (["a0", "a1", "a2", "c0"], "", 4))
        # api/types/app_server.go AppServers.SortByCustom: name, description, publicAddr.
        with self.assertRaises(grpc.RpcError) as cm:
            self.page(self.admin, 2, SortBy=self.t.SortBy(Field="hostname"))
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.UNIMPLEMENTED,
                          'sorting by field "hostname" for resource "app_server" is not supported'))


class TestNoClientCertificate(Fixture):
    def test_nop_role(self):
        # lib/auth/middleware.go: ClientAuth tls.VerifyClientCertIfGiven; GetUser
        # answers BuiltinRole{Role: types.RoleNop} for a connection without a
        # client certificate; lib/services/role.go NewRoleSet gives the Nop role
        # alone no implicit role. ServerWithRoles.Ping needs no permission.
        with open(os.path.join(self.state, "host_ca.crt"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        chan = grpc.secure_channel(self.srv.addr, creds,
                                   options=[("grpc.ssl_target_name_override", client.SERVER_NAME)])
        self.chans.append(chan)
        nop = client.Auth(chan, self.pb)
        self.assertEqual(nop.Ping(self.a.PingRequest(), timeout=30).ClusterName, "enroller-test")
        for fn, req, verb, kind in ((nop.GetApps, self.e.Empty(), "list", "app"),
                                    (nop.GetApp, self.rr("x"), "read", "app"),
                                    (nop.CreateApp, self.app("nop1"), "create", "app"),
                                    (nop.GetDatabases, self.e.Empty(), "list", "db"),
                                    (nop.GetTokens, self.e.Empty(), "list", "token"),
                                    (nop.ListResources, self.a.ListResourcesRequest(ResourceType="app_server"),
                                     "list", "app_server")):
            code, msg = self.rpc_error(fn, req)
            self.assertEqual((code, msg), (grpc.StatusCode.PERMISSION_DENIED,
                                           'access denied to perform action "%s" on "%s"' % (verb, kind)))
        w = self.a.Watch()
        w.Kinds.add(Kind="app")
        watch = chan.unary_stream("/proto.AuthService/WatchEvents", request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=self.pb.event_pb2.Event.FromString)
        with self.assertRaises(grpc.RpcError) as cm:
            list(watch(w, timeout=30))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        with self.assertRaises(grpc.RpcError) as cm:
            client.Admin(chan).call("Counters", {})
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_bad_certificate_still_refused(self):
        # tls.VerifyClientCertIfGiven verifies a certificate that is sent:
        # one that has expired fails the handshake.
        out = os.path.join(self.tmp.name, "short.identity")
        tctl("--state", self.state, "auth", "sign", "--user", "enroller", "--out", out, "--ttl", "1s")
        wait_for(lambda: time.time() > os.path.getmtime(out) + 2.5, "the 1s certificate to expire")
        chan = client.channel(self.srv.addr, out)
        try:
            code, _ = self.rpc_error(client.Auth(chan, self.pb).Ping, self.a.PingRequest())
            self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        finally:
            chan.close()


class TestCacheLag(Fixture):
    LAG_MS = 4000
    EXTRA = ("--cache-lag-ms", str(LAG_MS), "--app-service-labels", "*=*")

    def test_reads_see_writes_after_the_lag(self):
        # lib/auth/auth.go Server.GetApp/GetApps read GetCache(); ServerWithRoles
        # UpdateApp/DeleteApp read the existing app through it too
        # (auth_with_roles.go); lib/cache is fed by the backend's events, so
        # its reads trail the writes. CreateApp's existence check is the
        # backend's (backend.Create).
        c = self.enroller
        t0 = time.monotonic()
        c.CreateApp(self.app("lag1"), timeout=30)
        code, msg = self.rpc_error(c.GetApp, self.rr("lag1"))
        code2, _ = self.rpc_error(c.UpdateApp, self.app("lag1", uri="http://127.0.0.1:9"))
        code3, msg3 = self.rpc_error(c.CreateApp, self.app("lag1"))
        names = [a.Metadata.Name for a in c.GetApps(self.e.Empty(), timeout=30).Apps]
        servers = [x.AppServer.Metadata.Name for x in c.ListResources(
            self.a.ListResourcesRequest(ResourceType="app_server"), timeout=30).Resources]
        elapsed = time.monotonic() - t0
        if elapsed >= self.LAG_MS / 1000.0:
            self.skipTest("the calls took %.1fs, longer than the lag" % elapsed)
        self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND, 'no value for key "lag1" in index name'))
        self.assertEqual(code2, grpc.StatusCode.NOT_FOUND)
        self.assertEqual((code3, msg3), (grpc.StatusCode.ALREADY_EXISTS, 'app "lag1" already exists'))
        self.assertNotIn("lag1", names)
        self.assertNotIn("lag1", servers)
        wait_for(lambda: "lag1" in [a.Metadata.Name for a in c.GetApps(self.e.Empty(), timeout=30).Apps],
                 "the app to reach the cache")
        self.assertEqual(c.GetApp(self.rr("lag1"), timeout=30).Metadata.Name, "lag1")
        wait_for(lambda: "lag1" in [x.AppServer.Metadata.Name for x in c.ListResources(
            self.a.ListResourcesRequest(ResourceType="app_server"), timeout=30).Resources],
            "the app server to reach the cache")
        # A delete: the cache still has the app for a while.
        c.DeleteApp(self.rr("lag1"), timeout=30)
        t0 = time.monotonic()
        still = c.GetApp(self.rr("lag1"), timeout=30).Metadata.Name
        code, msg = self.rpc_error(c.DeleteApp, self.rr("lag1"))     # cache has it, the backend does not
        if time.monotonic() - t0 < self.LAG_MS / 1000.0:
            self.assertEqual(still, "lag1")
            self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND, 'app "lag1" doesn\'t exist'))
        wait_for(lambda: "lag1" not in [a.Metadata.Name for a in c.GetApps(self.e.Empty(), timeout=30).Apps],
                 "the delete to reach the cache")

    def test_get_token_reads_the_cache_get_tokens_the_backend(self):
        # lib/auth/auth.go: Server.GetToken is GetCache().GetToken (as is
        # ValidateToken's read, the join's); Server.GetTokens is
        # Services.GetTokens, the backend.
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "fidelity-lag-token-0123456789"
        tok.Metadata.Expires.FromSeconds(int(time.time()) + 3600)
        tok.Spec.Roles.append("App")
        t0 = time.monotonic()
        self.admin.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=30)
        code, _ = self.rpc_error(self.admin.GetToken, self.rr(tok.Metadata.Name))
        listed = [t.Metadata.Name for t in self.admin.GetTokens(self.e.Empty(), timeout=30).ProvisionTokens]
        if time.monotonic() - t0 >= self.LAG_MS / 1000.0:
            self.skipTest("the calls took longer than the lag")
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertIn(tok.Metadata.Name, listed)
        def cached():
            try:
                return self.admin.GetToken(self.rr(tok.Metadata.Name), timeout=30)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return None
        wait_for(cached, "the token in the cache")
        self.admin.DeleteToken(self.rr(tok.Metadata.Name), timeout=30)


class TestVersion16AndAppService(Fixture):
    EXTRA = ("--version", "16", "--app-service-labels", "serve=yes", "--app-service-labels", "tier=web*,zone=a")

    def test_v16_not_found_texts(self):
        # v16's cache kept apps and databases in lib/services/local services
        # (memory backend): NotFound("application %q doesn't exist").
        self.assertRegex(self.admin.Ping(self.a.PingRequest(), timeout=30).ServerVersion, r"^16\.")
        code, msg = self.rpc_error(self.admin.GetApp, self.rr("nosuch"))
        self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND, 'application "nosuch" doesn\'t exist'))
        code, msg = self.rpc_error(self.admin.GetDatabase, self.rr("nosuch"))
        self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND, 'database "nosuch" doesn\'t exist'))

    def test_app_service_serves_matching_apps_only(self):
        # lib/srv/app: app_service.resources matchers, services.MatchResourceLabels
        # (any matcher; within one, every label).
        def served():
            return sorted(s.Metadata.Name for s in self.admin.list_app_servers() if s.Spec.HostID == self.host_id)
        self.admin.CreateApp(self.app("svc-a", serve="yes"), timeout=30)
        self.admin.CreateApp(self.app("svc-b", tier="web-1", zone="a"), timeout=30)
        self.admin.CreateApp(self.app("svc-c", tier="web-1", zone="b"), timeout=30)
        self.admin.CreateApp(self.app("svc-d"), timeout=30)
        self.assertEqual(served(), ["svc-a", "svc-b"])
        self.admin.UpdateApp(self.app("svc-a", serve="no"), timeout=30)      # stops matching
        self.assertEqual(served(), ["svc-b"])
        self.admin.UpdateApp(self.app("svc-c", tier="web-2", zone="a"), timeout=30)
        self.assertEqual(served(), ["svc-b", "svc-c"])
        for n in ("svc-a", "svc-b", "svc-c", "svc-d"):
            self.admin.DeleteApp(self.rr(n), timeout=30)
        self.assertEqual(served(), [])


class TestCacheLagWatch(Fixture):
    """lib/auth/auth.go Server.NewWatcher -> GetCache().NewWatcher: WatchEvents
    is served by Auth's cache, which applies each backend event to its
    collections and then emits it to its watchers (lib/cache/cache.go
    processEvent, fanout). A watcher therefore sees a write exactly when the
    cache's reads do: never before (a GetApp right after the PUT event finds
    the app), and a watcher opened while a write is still on its way gets
    it after INIT (the listing it takes then does not have it yet)."""
    LAG_MS = 3000
    EXTRA = ("--cache-lag-ms", str(LAG_MS))

    def watch(self, c, names, *kinds):
        """Starts WatchEvents; returns a queue of (event, GetApp outcome read
        the moment the event arrived) after INIT, for the apps in names (the
        other tests' writes may still be on their way)."""
        import queue
        import threading
        w = self.a.Watch()
        for k in kinds:
            w.Kinds.add(Kind=k)
        fn = c.chan.unary_stream("/proto.AuthService/WatchEvents",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=self.pb.event_pb2.Event.FromString)
        call = fn(w, timeout=120)
        got = queue.Queue()
        init = next(call)
        self.assertEqual(init.Type, self.pb.event_pb2.INIT)

        def read():
            try:
                for ev in call:
                    name = (ev.ResourceHeader.Metadata.Name if ev.HasField("ResourceHeader")
                            else ev.App.Metadata.Name)
                    if name not in names:
                        continue
                    try:
                        seen = c.GetApp(self.rr(name), timeout=30).Metadata.Name
                    except grpc.RpcError as e:
                        seen = e.code()
                    got.put((ev, seen))
            except grpc.RpcError:
                pass
        threading.Thread(target=read, daemon=True).start()
        self.addCleanup(call.cancel)
        return got

    def test_watch_sees_a_write_when_the_cache_reads_do(self):
        c = self.enroller
        got = self.watch(c, {"wl1"}, "app")
        t0 = time.monotonic()
        c.CreateApp(self.app("wl1"), timeout=30)
        ev, seen = got.get(timeout=DEADLINE)
        self.assertEqual((ev.Type, ev.App.Metadata.Name), (self.pb.event_pb2.PUT, "wl1"))
        self.assertEqual(seen, "wl1", "GetApp at the PUT event must find the app (the event came from the cache)")
        self.assertGreaterEqual(time.monotonic() - t0, self.LAG_MS / 1000.0, "the event trails the write")
        c.DeleteApp(self.rr("wl1"), timeout=30)
        ev, seen = got.get(timeout=DEADLINE)
        self.assertEqual((ev.Type, ev.ResourceHeader.Metadata.Name), (self.pb.event_pb2.DELETE, "wl1"))
        self.assertEqual(seen, grpc.StatusCode.NOT_FOUND, "GetApp at the DELETE event must not find the app")

    def test_watch_opened_during_the_lag_gets_the_write(self):
        c = self.enroller
        t0 = time.monotonic()
        c.CreateApp(self.app("wl2"), timeout=30)
        got = self.watch(c, {"wl2", "wl3"}, "app")  # INIT while wl2 is still on its way to the cache
        listed = [a.Metadata.Name for a in c.GetApps(self.e.Empty(), timeout=30).Apps]
        if time.monotonic() - t0 >= self.LAG_MS / 1000.0:
            self.skipTest("the calls took longer than the lag")
        self.assertNotIn("wl2", listed)
        c.CreateApp(self.app("wl3"), timeout=30)
        names = []
        for _ in range(2):
            ev, seen = got.get(timeout=DEADLINE)
            self.assertEqual(ev.Type, self.pb.event_pb2.PUT)
            names.append(ev.App.Metadata.Name)
        self.assertEqual(names, ["wl2", "wl3"], "the watch must carry the write its INIT's listing lacked")
        for n in ("wl2", "wl3"):
            c.DeleteApp(self.rr(n), timeout=30)


class TestAppServiceBehindTheCache(Fixture):
    """A Teleport App Service follows dynamic apps through a watcher of Auth
    (lib/srv/app/server.go resource watcher, lib/services/watcher.go), and
    WatchEvents is served by Auth's cache: it learns of an app a cache lag
    after the write, and its app_server, a backend write of its own, reaches
    Auth's cache one lag later again."""
    LAG_MS = 2000
    EXTRA = ("--cache-lag-ms", str(LAG_MS), "--app-service-labels", "*=*")

    def test_served_two_lags_after_the_write(self):
        w = self.a.Watch()
        w.Kinds.add(Kind="app")
        w.Kinds.add(Kind="app_server")
        fn = self.enroller.chan.unary_stream("/proto.AuthService/WatchEvents",
                                             request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=self.pb.event_pb2.Event.FromString)
        call = fn(w, timeout=120)
        self.addCleanup(call.cancel)
        self.assertEqual(next(call).Type, self.pb.event_pb2.INIT)
        t0 = time.monotonic()
        self.enroller.CreateApp(self.app("behind1"), timeout=30)
        seen = []
        for ev in call:
            if ev.Type != self.pb.event_pb2.PUT:
                continue
            if ev.HasField("App") and ev.App.Metadata.Name == "behind1":
                seen.append(("app", time.monotonic() - t0))
            elif ev.HasField("AppServer") and ev.AppServer.Metadata.Name == "behind1":
                seen.append(("app_server", time.monotonic() - t0))
                break
        self.assertEqual([k for k, _ in seen], ["app", "app_server"])
        self.assertGreaterEqual(seen[0][1], self.LAG_MS / 1000.0)
        self.assertGreaterEqual(seen[1][1], 2 * self.LAG_MS / 1000.0,
                                "the App Service saw the app before Auth's cache had it")
        self.enroller.DeleteApp(self.rr("behind1"), timeout=30)
        wait_for(lambda: "behind1" not in [s.Metadata.Name for s in self.admin.list_app_servers()],
                 "the app server to go")


class TestNoAppService(Fixture):
    def test_no_selector_runs_no_app_service(self):
        # A Teleport Application Service serves only what its
        # app_service.resources select (lib/srv/app/server.go); the stand-in
        # started without --app-service-labels has none, so nothing is served.
        self.admin.CreateApp(self.app("nosvc"), timeout=30)
        self.assertEqual([s.Metadata.Name for s in self.admin.list_app_servers()], [])
        self.admin.DeleteApp(self.rr("nosvc"), timeout=30)


class TestAppServiceSelector(Fixture):
    # services.MatchResourceLabels: matchers in order; the first with an empty
    # label map returns false for the whole list; values are globs or
    # ^...$ regular expressions (services.MatchLabels, utils.SliceMatchesRegex).
    EXTRA = ("--app-service-labels", "env=^(prod|stage)$", "--app-service-labels", "",
             "--app-service-labels", "*=*")

    def test_regex_values_and_an_empty_matcher_ends_the_search(self):
        def served():
            return sorted(s.Metadata.Name for s in self.admin.list_app_servers() if s.Spec.HostID == self.host_id)
        self.admin.CreateApp(self.app("sel-prod", env="prod"), timeout=30)
        self.admin.CreateApp(self.app("sel-stage", env="stage"), timeout=30)
        self.admin.CreateApp(self.app("sel-production", env="production"), timeout=30)
        self.admin.CreateApp(self.app("sel-none"), timeout=30)
        # sel-production and sel-none reach the empty matcher: not served,
        # although the `*=*` after it would match them.
        self.assertEqual(served(), ["sel-prod", "sel-stage"])
        for n in ("sel-prod", "sel-stage", "sel-production", "sel-none"):
            self.admin.DeleteApp(self.rr(n), timeout=30)
        self.assertEqual(served(), [])


class VersionRows:
    """The rows of README "Fidelity" that differ by release, for a stand-in
    started with --version VERSION: each release's answers, and none of the
    other releases' (so a --version that changed nothing would fail)."""
    VERSION = None
    PING = None                 # api/version.go of the release line
    APP_NOT_FOUND = None        # the cache's NotFound text
    DB_NOT_FOUND = None
    TOKEN_EXISTS = None         # CreateTokenV2 on a taken name
    VALIDATES_APP_NAME = None   # lib/services/app.go ValidateApp on CreateApp

    ALL_TEXTS = {
        "app": {'application "nosuch" doesn\'t exist', 'no value for key "nosuch" in index name'},
        "db": {'database "nosuch" doesn\'t exist', 'no value for key "nosuch" in index name'},
        "token": {"UNIQUE constraint failed: kv.key",
                  "token could not be created due to name conflict with an existing scoped or unscoped token, "
                  "please try again with a different name or delete the conflicting token"},
    }

    def test_ping_version(self):
        self.assertEqual(self.admin.Ping(self.a.PingRequest(), timeout=30).ServerVersion, self.PING)

    def test_cache_not_found_texts(self):
        # v16: lib/services/local apps/databases services on the cache's
        # memory backend; v17 and master: lib/cache store.get.
        for fn, want, kind in ((self.admin.GetApp, self.APP_NOT_FOUND, "app"),
                               (self.admin.GetDatabase, self.DB_NOT_FOUND, "db")):
            code, msg = self.rpc_error(fn, self.rr("nosuch"))
            self.assertEqual((code, msg), (grpc.StatusCode.NOT_FOUND, want))
            self.assertIn(want, self.ALL_TEXTS[kind])

    def test_token_name_conflict_text(self):
        # lib/services/local/provisioning.go CreateToken: backend.Create up
        # to v17 (lib/backend/lite/lite.go: sqlite's constraint error as
        # AlreadyExists), an AtomicWrite with the name-conflict text on master.
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "version-token-0123456789"
        tok.Metadata.Expires.FromSeconds(int(time.time()) + 3600)
        tok.Spec.Roles.append("App")
        self.admin.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=30)
        try:
            code, msg = self.rpc_error(self.admin.CreateTokenV2, self.a.CreateTokenV2Request(V2=tok))
            self.assertEqual((code, msg), (grpc.StatusCode.ALREADY_EXISTS, self.TOKEN_EXISTS))
            self.assertIn(msg, self.ALL_TEXTS["token"])
            self.assertNotIn(tok.Metadata.Name, msg)
        finally:
            self.admin.DeleteToken(self.rr(tok.Metadata.Name), timeout=30)

    def test_app_name_validation(self):
        # master: lib/services/app.go ValidateApp (DNS-1123 names) on
        # CreateApp; v16/v17 store the same app.
        a = self.app("Version_App")
        if self.VALIDATES_APP_NAME:
            code, msg = self.rpc_error(self.admin.CreateApp, a)
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, msg)
        else:
            self.admin.CreateApp(a, timeout=30)
            self.admin.DeleteApp(self.rr("Version_App"), timeout=30)


class TestVersion16(VersionRows, Fixture):
    EXTRA = ("--version", "16")
    PING = "16.5.4"
    APP_NOT_FOUND = 'application "nosuch" doesn\'t exist'
    DB_NOT_FOUND = 'database "nosuch" doesn\'t exist'
    TOKEN_EXISTS = "UNIQUE constraint failed: kv.key"
    VALIDATES_APP_NAME = False


class TestVersion17(VersionRows, Fixture):
    EXTRA = ()                  # the default
    PING = "17.5.4"
    APP_NOT_FOUND = 'no value for key "nosuch" in index name'
    DB_NOT_FOUND = 'no value for key "nosuch" in index name'
    TOKEN_EXISTS = "UNIQUE constraint failed: kv.key"
    VALIDATES_APP_NAME = False


class TestVersionMaster(VersionRows, Fixture):
    EXTRA = ("--version", "master")
    PING = "19.0.0-dev"
    APP_NOT_FOUND = 'no value for key "nosuch" in index name'
    DB_NOT_FOUND = 'no value for key "nosuch" in index name'
    TOKEN_EXISTS = ("token could not be created due to name conflict with an existing scoped or unscoped token, "
                    "please try again with a different name or delete the conflicting token")
    VALIDATES_APP_NAME = True


if __name__ == "__main__":
    unittest.main(verbosity=2)
