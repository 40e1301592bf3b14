#!/usr/bin/python3
"""Tests of the Teleport Auth stand-in (spec/standin): starts its own stand-in
on 127.0.0.1:0 in a temp dir, talks to it over mutual-TLS gRPC with the
generated Python stubs, and stops it."""
import datetime
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
STANDIN_DIR = os.path.join(SRC, "spec", "standin")
sys.path.insert(0, STANDIN_DIR)

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import client  # noqa: E402
import pbload  # noqa: E402
import pki  # noqa: E402

PY = "/usr/bin/python3"
STANDIN = os.path.join(STANDIN_DIR, "standin.py")
TCTL = os.path.join(STANDIN_DIR, "tctl")
ROLES = [os.path.join(STANDIN_DIR, "roles", n) for n in
         ("register-apps.yaml", "register-apps-impersonator.yaml", "enroller-apps.yaml")]
OWNER = "enroller.dev/owner"


class StandIn:
    def __init__(self, state, *extra):
        self.state = state
        self.log = open(os.path.join(state + ".log"), "ab")
        for f in ("addr",):
            try:
                os.unlink(os.path.join(state, f))
            except FileNotFoundError:
                pass
        args = [PY, STANDIN, "--state", state]
        for r in ROLES:
            args += ["--roles", r]
        self.proc = subprocess.Popen(args + list(extra), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120   # generous: a loaded machine starts it slowly
        while not os.path.exists(os.path.join(state, "addr")):
            if self.proc.poll() is not None:
                raise RuntimeError("stand-in exited with %s; see %s.log" % (self.proc.returncode, state))
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("stand-in did not write addr")
            time.sleep(0.05)
        self.addr = client.state_addr(state)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def tctl(*args, check=True):
    p = subprocess.run([PY, TCTL] + list(args), capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("tctl %s failed: %s" % (" ".join(args), p.stderr))
    return p


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="standin-test-")
        cls.state = os.path.join(cls.tmp.name, "state")
        os.makedirs(cls.state)
        # The App Service emulation serves every dynamic app here
        # (test_app_service_emulation, the app_server watch events).
        cls.srv = StandIn(cls.state, "--app-service-labels", "*=*")
        # tearDownClass does not run when setUpClass fails: stop it then too.
        cls.addClassCleanup(lambda: cls.srv.proc.poll() is None and cls.srv.proc.kill())
        cls.pb = pbload.load(os.path.join(cls.state, "pygen"))
        cls.t, cls.a, cls.e = cls.pb.types_pb2, cls.pb.authservice_pb2, cls.pb.empty_pb2
        cls.chans = []
        cls.admin = cls.connect(os.path.join(cls.state, "admin.identity"))
        cls.enroller_id = cls.sign("enroller")
        cls.enroller = cls.connect(cls.enroller_id)
        cls.register = cls.connect(cls.sign("register-apps"))
        with open(os.path.join(cls.state, "cluster.json")) as f:
            import json
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
    def connect(cls, identity, addr=None):
        chan = client.channel(addr or cls.srv.addr, identity)
        cls.chans.append(chan)
        return client.Auth(chan, cls.pb)

    def app(self, name, uri="http://127.0.0.1:8080", owner="me", **labels):
        a = self.t.AppV3(Kind="app", Version="v3")
        a.Metadata.Name = name
        if owner is not None:
            a.Metadata.Labels[OWNER] = owner
        for k, v in labels.items():
            a.Metadata.Labels[k.replace("__", "/")] = v
        a.Spec.URI = uri
        return a

    def rpc_error(self, fn, req):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(req, timeout=30)
        return cm.exception.code(), cm.exception.details()

    def assertRpcError(self, fn, req, code, details=None):
        got_code, got_details = self.rpc_error(fn, req)
        self.assertEqual(got_code, code, got_details)
        if details is not None:
            self.assertEqual(got_details, details)

    def rr(self, name):
        return self.t.ResourceRequest(Name=name)

    def empty(self):
        return self.e.Empty()


class TestStandIn(Base):
    def test_ping(self):
        r = self.enroller.Ping(self.a.PingRequest(), timeout=30)
        self.assertEqual(r.ClusterName, "enroller-test")
        self.assertRegex(r.ServerVersion, r"^17\.\d+\.\d+$")
        self.assertTrue(r.RemoteAddr.startswith("127.0.0.1:"), r.RemoteAddr)
        self.assertTrue(r.ServerFeatures.App)

    def test_app_crud_and_errors(self):
        c = self.enroller
        c.CreateApp(self.app("crud1"), timeout=30)
        got = c.GetApp(self.rr("crud1"), timeout=30)
        self.assertEqual((got.Kind, got.Version), ("app", "v3"))
        self.assertEqual(got.Metadata.Namespace, "default")
        self.assertEqual(got.Metadata.Labels["teleport.dev/origin"], "dynamic")
        self.assertTrue(got.Metadata.Revision)
        self.assertRpcError(c.CreateApp, self.app("crud1"), grpc.StatusCode.ALREADY_EXISTS,
                            'app "crud1" already exists')
        upd = self.app("crud1", uri="http://127.0.0.1:9090")
        upd.Metadata.Revision = "stale-revision-is-not-compared"
        c.UpdateApp(upd, timeout=30)
        got2 = c.GetApp(self.rr("crud1"), timeout=30)
        self.assertEqual(got2.Spec.URI, "http://127.0.0.1:9090")
        self.assertNotEqual(got2.Metadata.Revision, got.Metadata.Revision)
        self.assertNotEqual(got2.Metadata.Revision, "stale-revision-is-not-compared")
        c.DeleteApp(self.rr("crud1"), timeout=30)
        # GetApp, and the existing-app reads of DeleteApp and UpdateApp, go
        # through Auth's cache (lib/auth/auth.go Server.GetApp); v17's cache
        # store answers NotFound("no value for key %q in index %v").
        for fn, req in ((c.GetApp, self.rr("crud1")), (c.DeleteApp, self.rr("crud1")),
                        (c.UpdateApp, self.app("crud1"))):
            self.assertRpcError(fn, req, grpc.StatusCode.NOT_FOUND, 'no value for key "crud1" in index name')

    def test_static_fields_overwritten(self):
        a = self.app("static1")
        a.Version = "v9"
        self.enroller.CreateApp(a, timeout=30)
        got = self.enroller.GetApp(self.rr("static1"), timeout=30)
        self.assertEqual((got.Kind, got.Version), ("app", "v3"))

    def test_origin(self):
        a = self.app("origin1", **{"teleport.dev__origin": "kubernetes"})
        self.enroller.CreateApp(a, timeout=30)
        self.assertEqual(self.enroller.GetApp(self.rr("origin1"), timeout=30)
                         .Metadata.Labels["teleport.dev/origin"], "kubernetes")
        code, msg = self.rpc_error(self.enroller.CreateApp,
                                   self.app("origin2", **{"teleport.dev__origin": "enroller"}))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(msg.startswith('invalid origin value "enroller", must be one of [defaults '), msg)

    def test_validation(self):
        c = self.enroller
        self.assertRpcError(c.CreateApp, self.app(""), grpc.StatusCode.INVALID_ARGUMENT, "missing parameter Name")
        self.assertRpcError(c.CreateApp, self.app("val1", uri=""), grpc.StatusCode.INVALID_ARGUMENT,
                            'app "val1" URI is empty')
        bad = self.app("val2")
        bad.Metadata.Labels["bad key"] = "x"
        self.assertRpcError(c.CreateApp, bad, grpc.StatusCode.INVALID_ARGUMENT, 'invalid label key: "bad key"')
        dyn = self.app("val3")
        dyn.Spec.DynamicLabels["bad key"].Command.append("true")
        self.assertRpcError(c.CreateApp, dyn, grpc.StatusCode.INVALID_ARGUMENT,
                            'app "val3" invalid label key: "bad key"')
        cloud = self.app("val4")
        cloud.Spec.Cloud = "Oracle"
        self.assertRpcError(c.CreateApp, cloud, grpc.StatusCode.INVALID_ARGUMENT,
                            'app "val4" has unexpected Cloud value "Oracle"')
        kube = self.app("val5")
        kube.Spec.PublicAddr = "kube-teleport-proxy-alpn.example.com"
        code, _ = self.rpc_error(c.CreateApp, kube)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        tcp = self.app("val6", uri="tcp://127.0.0.1:5432")
        tcp.Spec.TCPPorts.add(Port=5432)
        code, msg = self.rpc_error(c.CreateApp, tcp)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("must not include a port number", msg)
        for n in ("val1", "val2", "val3", "val4", "val5", "val6"):
            self.assertRpcError(c.GetApp, self.rr(n), grpc.StatusCode.NOT_FOUND)

    def test_rbac_labels(self):
        self.admin.CreateApp(self.app("foreign1", owner=None, team="x"), timeout=30)
        self.enroller.CreateApp(self.app("mine1"), timeout=30)
        names = [a.Metadata.Name for a in self.enroller.GetApps(self.empty(), timeout=30).Apps]
        self.assertIn("mine1", names)
        self.assertNotIn("foreign1", names)
        self.assertIn("foreign1", [a.Metadata.Name for a in self.admin.GetApps(self.empty(), timeout=30).Apps])
        denied = "access to app denied. User does not have permissions. "
        self.assertRpcError(self.enroller.GetApp, self.rr("foreign1"), grpc.StatusCode.PERMISSION_DENIED, denied)
        self.assertRpcError(self.enroller.DeleteApp, self.rr("foreign1"), grpc.StatusCode.PERMISSION_DENIED, denied)
        self.assertRpcError(self.enroller.UpdateApp, self.app("foreign1"), grpc.StatusCode.PERMISSION_DENIED, denied)
        # Creating an app the role could not see, or updating one out of reach.
        self.assertRpcError(self.enroller.CreateApp, self.app("unowned1", owner=None),
                            grpc.StatusCode.PERMISSION_DENIED, denied)
        self.assertRpcError(self.enroller.UpdateApp, self.app("mine1", owner=None),
                            grpc.StatusCode.PERMISSION_DENIED, denied)
        # A missing app is NOT_FOUND even for a caller whose labels could not match.
        self.assertRpcError(self.enroller.GetApp, self.rr("nosuch"), grpc.StatusCode.NOT_FOUND)
        # DeleteAllApps only deletes what the caller can see.
        self.enroller.DeleteAllApps(self.empty(), timeout=30)
        self.admin.GetApp(self.rr("foreign1"), timeout=30)
        self.assertRpcError(self.admin.GetApp, self.rr("mine1"), grpc.StatusCode.NOT_FOUND)
        self.admin.DeleteApp(self.rr("foreign1"), timeout=30)

    def test_rbac_rules_register_apps_role(self):
        r = self.register
        self.assertRpcError(r.CreateApp, self.app("reg1"), grpc.StatusCode.PERMISSION_DENIED,
                            'access denied to perform action "create" on "app"')
        # list from the role + read from Teleport's implicit role
        r.GetApps(self.empty(), timeout=30)
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "reg-token-0123456789"
        tok.Spec.Roles.append("app")
        r.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=30)
        self.assertRpcError(r.GetTokens, self.empty(), grpc.StatusCode.PERMISSION_DENIED,
                            'access denied to perform action "list" on "token"')
        self.assertRpcError(self.enroller.CreateTokenV2, self.a.CreateTokenV2Request(V2=tok),
                            grpc.StatusCode.PERMISSION_DENIED, 'access denied to perform action "create" on "token"')
        self.admin.DeleteToken(self.rr("reg-token-0123456789"), timeout=30)

    def list_page(self, c, limit, start="", **kw):
        return c.ListResources(self.a.ListResourcesRequest(ResourceType="app_server", Limit=limit,
                                                           StartKey=start, **kw), timeout=30)

    def upsert_server(self, c, host, name, expires=None, **labels):
        s = self.t.AppServerV3()
        s.Metadata.Name = name
        s.Spec.HostID = host
        s.Spec.Hostname = "test-agent"
        s.Spec.App.CopyFrom(self.app(name, **labels))
        if expires is not None:
            s.Metadata.Expires.FromDatetime(expires)
        return c.UpsertApplicationServer(self.a.UpsertApplicationServerRequest(Server=s), timeout=30)

    def test_pagination(self):
        for i in range(25):
            self.upsert_server(self.admin, "h-page", "p%02d" % i, page="yes")
        sizes, start, keys = [], "", []
        while True:
            r = self.list_page(self.admin, 10, start, Labels={"page": "yes"})
            sizes.append(len(r.Resources))
            keys += ["%s/%s" % (x.AppServer.Spec.HostID, x.AppServer.Metadata.Name) for x in r.Resources]
            if not r.NextKey:
                break
            self.assertEqual(r.NextKey, "h-page/p%02d" % (10 * len(sizes)))
            start = r.NextKey
        self.assertEqual(sizes, [10, 10, 5])
        self.assertEqual(keys, ["h-page/p%02d" % i for i in range(25)])
        r = self.list_page(self.admin, 1, "h-page/p10", Labels={"page": "yes"})
        self.assertEqual(r.Resources[0].AppServer.Metadata.Name, "p10")      # StartKey inclusive
        self.assertEqual(r.NextKey, "h-page/p11")
        r = self.list_page(self.admin, 0, "h-page/zzz", Labels={"page": "yes"})  # unknown key: no error
        self.assertEqual((len(r.Resources), r.NextKey), (0, ""))
        self.assertRpcError(self.admin.ListResources,
                            self.a.ListResourcesRequest(ResourceType="app_server", Limit=-1),
                            grpc.StatusCode.INVALID_ARGUMENT, "negative parameter limit")
        self.assertRpcError(self.admin.ListResources, self.a.ListResourcesRequest(ResourceType="app"),
                            grpc.StatusCode.UNIMPLEMENTED, "resource type app does not support pagination")
        r = self.list_page(self.admin, 5, SearchKeywords=["P2"], Labels={"page": "yes"})
        self.assertEqual([x.AppServer.Metadata.Name for x in r.Resources], ["p20", "p21", "p22", "p23", "p24"])
        # NeedTotalCount: fake pagination (local.FakePaginate), NextKey still <HostID>/<Name>.
        r = self.list_page(self.admin, 10, NeedTotalCount=True, Labels={"page": "yes"})
        self.assertEqual((r.TotalCount, r.NextKey), (25, "h-page/p10"))
        for i in range(25):
            self.admin.DeleteApplicationServer(self.a.DeleteApplicationServerRequest(
                Namespace="default", HostID="h-page", Name="p%02d" % i), timeout=30)

    def test_list_resources_rbac_skips(self):
        for i in range(3):
            self.upsert_server(self.admin, "h-rbac", "f%d" % i, owner=None, rb="yes")
        for i in range(4):
            self.upsert_server(self.admin, "h-rbac", "g%d" % i, rb="yes")
        # Denied items are skipped and do not count toward the limit.
        r = self.list_page(self.enroller, 4, Labels={"rb": "yes"})
        self.assertEqual([x.AppServer.Metadata.Name for x in r.Resources], ["g0", "g1", "g2", "g3"])
        self.assertEqual(r.NextKey, "")
        r = self.list_page(self.admin, 4, Labels={"rb": "yes"})
        self.assertEqual(r.NextKey, "h-rbac/g1")

    def test_app_server_upsert_delete(self):
        ka = self.upsert_server(self.admin, "h-ka", "ka1")
        # No expiry: an empty KeepAlive, whose non-nullable Expires is Go's zero time.
        empty = self.t.KeepAlive()
        empty.Expires.seconds = -62135596800
        self.assertEqual(ka, empty)
        exp = datetime.datetime.utcnow().replace(microsecond=0) + datetime.timedelta(minutes=10)
        ka = self.upsert_server(self.admin, "h-ka", "ka2", expires=exp)
        self.assertEqual((ka.Type, ka.Name, ka.Namespace, ka.HostID),
                         (self.t.KeepAlive.APP, "ka2", "default", "h-ka"))
        self.assertEqual(ka.Expires.ToDatetime(), exp)
        s = self.t.AppServerV3()
        s.Metadata.Name = "ka3"
        s.Spec.App.CopyFrom(self.app("ka3"))
        self.assertRpcError(self.admin.UpsertApplicationServer, self.a.UpsertApplicationServerRequest(Server=s),
                            grpc.StatusCode.INVALID_ARGUMENT, "missing app server HostID")
        # register-apps may delete app servers (its one app_server rule) but not upsert them.
        self.register.DeleteApplicationServer(self.a.DeleteApplicationServerRequest(
            Namespace="default", HostID="h-ka", Name="ka1"), timeout=30)
        code, _ = self.rpc_error(self.register.DeleteApplicationServer, self.a.DeleteApplicationServerRequest(
            Namespace="default", HostID="h-ka", Name="ka1"))
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, _ = self.rpc_error(self.admin.DeleteApplicationServer, self.a.DeleteApplicationServerRequest(
            Namespace="", HostID="h-ka", Name="ka2"))
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertRpcError(self.register.UpsertApplicationServer, self.a.UpsertApplicationServerRequest(
            Server=s), grpc.StatusCode.PERMISSION_DENIED, 'access denied to perform action "create" on "app_server"')
        self.admin.DeleteApplicationServer(self.a.DeleteApplicationServerRequest(
            Namespace="default", HostID="h-ka", Name="ka2"), timeout=30)

    def servers_named(self, c, name):
        return [s for s in c.list_app_servers() if s.Metadata.Name == name]

    def test_app_service_emulation(self):
        self.enroller.CreateApp(self.app("svc1"), timeout=30)
        srvs = self.servers_named(self.enroller, "svc1")
        self.assertEqual(len(srvs), 1)
        s = srvs[0]
        self.assertEqual((s.Kind, s.Spec.HostID, s.Spec.Hostname), ("app_server", self.host_id, "standin-app-service"))
        self.assertEqual(s.Spec.App.Spec.URI, "http://127.0.0.1:8080")
        self.assertEqual(s.Spec.Rotation.Started.seconds, -62135596800)   # Go zero time, non-nullable
        self.assertEqual(s.Spec.Rotation.Schedule.Standby.seconds, -62135596800)
        exp = s.Metadata.Expires.ToDatetime()
        self.assertGreater(exp, datetime.datetime.utcnow() + datetime.timedelta(minutes=9))
        self.enroller.UpdateApp(self.app("svc1", uri="http://127.0.0.1:7070"), timeout=30)
        self.assertEqual(self.servers_named(self.enroller, "svc1")[0].Spec.App.Spec.URI, "http://127.0.0.1:7070")
        self.enroller.DeleteApp(self.rr("svc1"), timeout=30)
        self.assertEqual(self.servers_named(self.enroller, "svc1"), [])

    def test_expiry(self):
        a = self.app("exp1")
        a.Metadata.Expires.FromDatetime(datetime.datetime.utcnow() + datetime.timedelta(seconds=2))
        self.enroller.CreateApp(a, timeout=30)
        self.assertTrue(self.enroller.GetApp(self.rr("exp1"), timeout=30).Metadata.HasField("Expires"))
        self.assertEqual(len(self.servers_named(self.enroller, "exp1")), 1)
        time.sleep(3.5)
        self.assertRpcError(self.enroller.GetApp, self.rr("exp1"), grpc.StatusCode.NOT_FOUND)
        self.assertNotIn("exp1", [x.Metadata.Name for x in self.enroller.GetApps(self.empty(), timeout=30).Apps])
        self.assertEqual(self.servers_named(self.enroller, "exp1"), [])
        # The name is free again.
        self.enroller.CreateApp(self.app("exp1"), timeout=30)
        self.enroller.DeleteApp(self.rr("exp1"), timeout=30)

    def test_tokens(self):
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "tok-abcdefghijkl"
        tok.Spec.Roles.extend(["app", "NODE"])
        self.admin.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=30)
        got = self.admin.GetToken(self.rr("tok-abcdefghijkl"), timeout=30)
        self.assertEqual(list(got.Spec.Roles), ["App", "Node"])
        self.assertEqual((got.Kind, got.Version, got.Spec.JoinMethod), ("token", "v2", "token"))
        # No metadata.expires: stored without one (lib/services/local/provisioning.go).
        self.assertFalse(got.Metadata.HasField("Expires"))
        code, msg = self.rpc_error(self.admin.CreateTokenV2, self.a.CreateTokenV2Request(V2=tok))
        self.assertEqual(code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertNotIn("tok-abcdefghijkl", msg)   # the secret is masked
        tok.Spec.Roles.append("App")
        self.assertRpcError(self.admin.UpsertTokenV2, self.a.UpsertTokenV2Request(V2=tok),
                            grpc.StatusCode.INVALID_ARGUMENT, "duplicate role App")
        bot = self.t.ProvisionTokenV2()
        bot.Metadata.Name = "tok-bot-0123456789"
        bot.Spec.Roles.append("bot")
        self.assertRpcError(self.admin.CreateTokenV2, self.a.CreateTokenV2Request(V2=bot),
                            grpc.StatusCode.INVALID_ARGUMENT, 'token with role "Bot" must set bot_name')
        empty = self.t.ProvisionTokenV2()
        empty.Metadata.Name = "tok-empty-0123456789"
        self.assertRpcError(self.admin.CreateTokenV2, self.a.CreateTokenV2Request(V2=empty),
                            grpc.StatusCode.INVALID_ARGUMENT, "provisioning token is missing roles")
        names = [x.Metadata.Name for x in self.admin.GetTokens(self.empty(), timeout=30).ProvisionTokens]
        self.assertIn("tok-abcdefghijkl", names)
        # Metadata.Labels are kept and listed (agent mode finds its own tokens by them).
        lab = self.t.ProvisionTokenV2()
        lab.Metadata.Name = "tok-labelled-0123456789"
        lab.Metadata.Labels["enroller.dev/owner"] = "h1"
        lab.Spec.Roles.append("App")
        self.admin.CreateTokenV2(self.a.CreateTokenV2Request(V2=lab), timeout=30)
        listed = {x.Metadata.Name: dict(x.Metadata.Labels)
                  for x in self.admin.GetTokens(self.empty(), timeout=30).ProvisionTokens}
        self.assertEqual(listed["tok-labelled-0123456789"], {"enroller.dev/owner": "h1"})
        self.admin.DeleteToken(self.rr("tok-labelled-0123456789"), timeout=30)
        self.admin.DeleteToken(self.rr("tok-abcdefghijkl"), timeout=30)
        code, msg = self.rpc_error(self.admin.GetToken, self.rr("tok-abcdefghijkl"))
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertNotIn("tok-abcdefghijkl", msg)

    def test_watch_events(self):
        import queue
        import threading
        w = self.a.Watch()
        w.Kinds.add(Kind="app")
        w.Kinds.add(Kind="app_server")
        w.Kinds.add(Kind="token")   # enroller has no read on token: dropped with AllowPartialSuccess
        w.AllowPartialSuccess = True
        fn = self.enroller.chan.unary_stream("/proto.AuthService/WatchEvents",
                                             request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=self.pb.event_pb2.Event.FromString)
        call = fn(w, timeout=60)
        got = queue.Queue()

        def read():
            try:
                for ev in call:
                    got.put(ev)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.CANCELLED:
                    got.put(e)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            ev = got.get(timeout=10)
            self.assertEqual(ev.Type, self.pb.event_pb2.INIT)
            self.assertEqual([k.Kind for k in ev.WatchStatus.Spec.Kinds], ["app", "app_server"])
            self.enroller.CreateApp(self.app("watch1"), timeout=30)
            ev = got.get(timeout=10)
            self.assertEqual((ev.Type, ev.WhichOneof("Resource"), ev.App.Metadata.Name),
                             (self.pb.event_pb2.PUT, "App", "watch1"))
            ev = got.get(timeout=10)
            self.assertEqual((ev.WhichOneof("Resource"), ev.AppServer.Metadata.Name), ("AppServer", "watch1"))
            self.enroller.DeleteApp(self.rr("watch1"), timeout=30)
            ev = got.get(timeout=10)
            self.assertEqual((ev.Type, ev.ResourceHeader.Kind, ev.ResourceHeader.Metadata.Name),
                             (self.pb.event_pb2.DELETE, "app", "watch1"))
            ev = got.get(timeout=10)
            self.assertEqual((ev.ResourceHeader.Kind, ev.ResourceHeader.Metadata.Description),
                             ("app_server", self.host_id))
        finally:
            call.cancel()
            reader.join(timeout=10)
        call = fn(self.a.Watch(), timeout=30)
        with self.assertRaises(grpc.RpcError) as cm:
            list(call)
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.PERMISSION_DENIED, "can't setup global watch"))
        w = self.a.Watch()
        w.Kinds.add(Kind="token")
        with self.assertRaises(grpc.RpcError) as cm:
            list(fn(w, timeout=30))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def db(self, name, protocol="postgres", uri="127.0.0.1:5432", owner="me"):
        d = self.t.DatabaseV3()
        d.Metadata.Name = name
        if owner is not None:
            d.Metadata.Labels[OWNER] = owner
        d.Spec.Protocol, d.Spec.URI = protocol, uri
        return d

    def test_databases(self):
        # enroller-apps has no db rules; db_labels checks need a role with them.
        self.admin.CreateDatabase(self.db("db1"), timeout=30)
        got = self.admin.GetDatabase(self.rr("db1"), timeout=30)
        self.assertEqual((got.Kind, got.Version), ("db", "v3"))
        self.assertEqual(got.Metadata.Labels["teleport.dev/origin"], "dynamic")
        self.assertRpcError(self.admin.CreateDatabase, self.db("db1"), grpc.StatusCode.ALREADY_EXISTS,
                            'database "db1" already exists')
        self.assertRpcError(self.admin.CreateDatabase, self.db("db2", protocol="foo"),
                            grpc.StatusCode.INVALID_ARGUMENT)
        self.assertRpcError(self.admin.CreateDatabase, self.db("db2", uri="127.0.0.1"),
                            grpc.StatusCode.INVALID_ARGUMENT,
                            'invalid database "db2" address "127.0.0.1": address 127.0.0.1: missing port in address')
        self.assertRpcError(self.admin.CreateDatabase, self.db("db2", protocol=""),
                            grpc.StatusCode.INVALID_ARGUMENT, 'database "db2" protocol is empty')
        # implicit role: read/list on db for everyone, but enroller-apps has no db_labels
        self.assertEqual(len(self.enroller.GetDatabases(self.empty(), timeout=30).Databases), 0)
        self.assertRpcError(self.enroller.GetDatabase, self.rr("db1"), grpc.StatusCode.PERMISSION_DENIED,
                            "access to db denied. User does not have permissions. Confirm database user and name.")
        self.assertRpcError(self.enroller.CreateDatabase, self.db("db3"), grpc.StatusCode.PERMISSION_DENIED,
                            'access denied to perform action "create" on "db"')
        upd = self.db("db1", uri="127.0.0.1:5433")
        self.admin.UpdateDatabase(upd, timeout=30)
        got2 = self.admin.GetDatabase(self.rr("db1"), timeout=30)
        self.assertEqual(got2.Spec.URI, "127.0.0.1:5433")
        self.assertNotEqual(got2.Metadata.Revision, got.Metadata.Revision)
        self.admin.DeleteDatabase(self.rr("db1"), timeout=30)
        self.assertRpcError(self.admin.GetDatabase, self.rr("db1"), grpc.StatusCode.NOT_FOUND,
                            'no value for key "db1" in index name')
        self.assertRpcError(self.admin.ListResources, self.a.ListResourcesRequest(ResourceType="db"),
                            grpc.StatusCode.UNIMPLEMENTED, "resource type db does not support pagination")

    def test_unimplemented(self):
        chan = self.chans[0]
        for path in ("/proto.AuthService/NoSuchMethod", "/proto.AuthService/CreateToken",
                     "/proto.AuthService/GetApplicationServers", "/proto.AuthService/GetDatabaseServers",
                     "/proto.AuthService/UpsertApp",
                     "/teleport.apps.v1.AppService/ListApps"):
            fn = chan.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=lambda b: b)
            with self.assertRaises(grpc.RpcError) as cm:
                fn(self.empty(), timeout=30)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED, path)

    def test_identity_file_layout(self):
        path = self.enroller_id
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            data = f.read()
        lines = data.decode().splitlines()
        self.assertEqual(lines[0], "-----BEGIN RSA PRIVATE KEY-----")
        ident = client.parse_identity(data)
        self.assertTrue(ident["ssh_cert"].startswith("ssh-rsa-cert-v01@openssh.com "))
        # order: key, ssh cert, tls cert, @cert-authority, tls CAs
        i_ssh = lines.index(ident["ssh_cert"])
        i_tls = lines.index("-----BEGIN CERTIFICATE-----")
        i_ca = [i for i, l in enumerate(lines) if l.startswith("@cert-authority")]
        self.assertTrue(i_ssh < i_tls < i_ca[0], (i_ssh, i_tls, i_ca))
        self.assertEqual(ident["ssh_cas"][0].split()[1], "enroller-test,*.enroller-test")
        with tempfile.NamedTemporaryFile("w", suffix="-cert.pub") as f:
            f.write(ident["ssh_cert"] + "\n")
            f.flush()
            out = subprocess.run(["ssh-keygen", "-L", "-f", f.name], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('Key ID: "enroller"', out.stdout)
        self.assertIn("teleport-roles", out.stdout)
        cert = x509.load_pem_x509_certificate(ident["tls_cert"].encode())
        subj = pki.parse_subject(cert.subject)
        self.assertEqual(subj["username"], "enroller")
        self.assertEqual(subj["roles"], ["enroller-apps"])
        self.assertEqual(subj["route_to_cluster"], "enroller-test")
        self.assertEqual(subj["teleport_cluster"], "enroller-test")
        self.assertIn("-teleport-internal-join", subj["logins"])
        self.assertEqual(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "enroller")
        ttl = cert.not_valid_after - datetime.datetime.utcnow()
        self.assertTrue(datetime.timedelta(minutes=55) < ttl <= datetime.timedelta(hours=1), ttl)
        with open(os.path.join(self.state, "user_ca.crt"), "rb") as f:
            user_ca = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(cert.issuer, user_ca.subject)
        user_ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                    __import__("cryptography.hazmat.primitives.asymmetric.padding",
                                               fromlist=["PKCS1v15"]).PKCS1v15(), cert.signature_hash_algorithm)
        with open(os.path.join(self.state, "host_ca.crt")) as f:
            self.assertEqual(ident["tls_cas"], [f.read()])

    def test_foreign_ca_rejected(self):
        cluster = pki.Cluster.create(os.path.join(self.tmp.name, "other"), "enroller-test")
        other = os.path.join(self.tmp.name, "other.identity")
        pki.write_private(other, cluster.sign_identity("admin", ["admin"], 3600))
        # Trust the real server's CA but present a client cert from another CA.
        ident = client.parse_identity(open(other, "rb").read())
        with open(os.path.join(self.state, "host_ca.crt"), "rb") as f:
            real_ca = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=real_ca, private_key=ident["key"].encode(),
                                             certificate_chain=ident["tls_cert"].encode())
        chan = grpc.secure_channel(self.srv.addr, creds,
                                   options=[("grpc.ssl_target_name_override", "teleport.cluster.local")])
        try:
            c = client.Auth(chan, self.pb)
            code, _ = self.rpc_error(c.Ping, self.a.PingRequest())
            self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        finally:
            chan.close()

    def test_expired_client_cert_rejected(self):
        out = os.path.join(self.tmp.name, "short.identity")
        tctl("--state", self.state, "auth", "sign", "--user", "enroller", "--out", out, "--ttl", "1s")
        time.sleep(2)
        chan = client.channel(self.srv.addr, out)
        try:
            code, _ = self.rpc_error(client.Auth(chan, self.pb).Ping, self.a.PingRequest())
            self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        finally:
            chan.close()

    def test_admin_service_and_counters(self):
        adm = client.Admin(self.chans[0])
        adm.call("ResetCounters", {})
        self.enroller.Ping(self.a.PingRequest(), timeout=30)
        self.rpc_error(self.enroller.GetApp, self.rr("counted-missing"))
        data = adm.call("Counters", {})["methods"]
        self.assertGreaterEqual(data["/proto.AuthService/Ping"]["OK"], 1)
        self.assertGreaterEqual(data["/proto.AuthService/GetApp"]["NOT_FOUND"], 1)
        out = tctl("--state", self.state, "counters", "--format", "json").stdout
        self.assertIn("/proto.AuthService/GetApp", out)
        enr = client.Admin(self.enroller.chan)
        with self.assertRaises(grpc.RpcError) as cm:
            enr.call("Counters", {})
        self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_tctl(self):
        f = os.path.join(self.tmp.name, "tctl-app.yaml")
        with open(f, "w") as fh:
            fh.write("kind: app\nversion: v3\nmetadata:\n  name: tctl1\n  labels:\n    a: b\n"
                     "spec:\n  uri: http://127.0.0.1:1\n")
        tctl("--state", self.state, "create", f)
        p = tctl("--state", self.state, "create", f, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.strip(), 'ERROR: ALREADY_EXISTS: app "tctl1" already exists')
        tctl("--state", self.state, "create", "-f", f)
        import json
        got = json.loads(tctl("--state", self.state, "get", "app/tctl1", "--format", "json").stdout)
        self.assertEqual(got["metadata"]["labels"], {"a": "b", "teleport.dev/origin": "dynamic"})
        out = tctl("--auth-server", self.srv.addr, "-i", self.enroller_id, "get", "apps").stdout
        self.assertNotIn("tctl1", out)
        p = tctl("--auth-server", self.srv.addr, "-i", self.enroller_id, "rm", "app/tctl1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("PERMISSION_DENIED", p.stderr)
        tctl("--state", self.state, "rm", "app/tctl1")


class TestRestartAndSelector(unittest.TestCase):
    def test_restart_keeps_state_and_selector(self):
        with tempfile.TemporaryDirectory(prefix="standin-restart-") as tmp:
            state = os.path.join(tmp, "s")
            os.makedirs(state)
            srv = StandIn(state, "--app-service-labels", "serve=yes,tier=web*", "--cluster-name", "c2")
            pb = pbload.load(os.path.join(state, "pygen"))
            t = pb.types_pb2
            try:
                chan = client.channel(srv.addr, os.path.join(state, "admin.identity"))
                c = client.Auth(chan, pb)
                for name, labels in (("served", {"serve": "yes", "tier": "web-1"}),
                                     ("unserved", {"serve": "no", "tier": "web-1"})):
                    a = t.AppV3(Kind="app")
                    a.Metadata.Name = name
                    a.Metadata.Labels.update(labels)
                    a.Spec.URI = "http://127.0.0.1:1"
                    c.CreateApp(a, timeout=30)
                self.assertEqual([s.Metadata.Name for s in c.list_app_servers()], ["served"])
                rev = c.GetApp(t.ResourceRequest(Name="served"), timeout=30).Metadata.Revision
                # An open WatchEvents stream must not hold up SIGTERM.
                w = pb.authservice_pb2.Watch()
                w.Kinds.add(Kind="app")
                stream = chan.unary_stream("/proto.AuthService/WatchEvents",
                                           request_serializer=lambda m: m.SerializeToString(),
                                           response_deserializer=pb.event_pb2.Event.FromString)(w, timeout=60)
                self.assertEqual(next(stream).Type, pb.event_pb2.INIT)
                t0 = time.time()
            finally:
                self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - t0, 5)
            chan.close()
            self.assertFalse(os.path.exists(os.path.join(state, "addr")))
            first_addr = srv.addr
            srv = StandIn(state, "--listen", first_addr)   # same port again, as the e2e harness does
            self.assertEqual(srv.addr, first_addr)
            try:
                chan = client.channel(srv.addr, os.path.join(state, "admin.identity"))
                c = client.Auth(chan, pb)
                self.assertEqual(c.Ping(pb.authservice_pb2.PingRequest(), timeout=30).ClusterName, "c2")
                got = c.GetApp(t.ResourceRequest(Name="served"), timeout=30)
                self.assertEqual(got.Metadata.Revision, rev)
                self.assertEqual(sorted(a.Metadata.Name for a in c.GetApps(pb.empty_pb2.Empty(), timeout=30).Apps),
                                 ["served", "unserved"])
                # A second stand-in on the same port must fail, not share it.
                busy = subprocess.run([PY, STANDIN, "--state", os.path.join(tmp, "busy"), "--listen", srv.addr],
                                      capture_output=True, text=True, timeout=60)
                self.assertNotEqual(busy.returncode, 0)
                self.assertIn("cannot listen", busy.stderr)
                chan.close()
            finally:
                self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
