#!/usr/bin/python3
"""Tests of the stand-in's connection-level features: the Proxy
listener with TLS routing by ALPN, the ClientHello parser, fault injection,
dropped connections, server certificate rotation, tbot output directories,
responses above gRPC's 4 MiB default, GOAWAY by connection age, and the
WatchEvents / token semantics settled against Teleport's source."""
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from test_standin import StandIn, tctl  # noqa: E402  (also puts spec/standin on sys.path)
import client  # noqa: E402
import netio  # noqa: E402
import pbload  # noqa: E402

CLUSTER = "enroller-test"
PING = "/proto.AuthService/Ping"


def client_hello(alpn, sni="teleport.cluster.local"):
    """The ClientHello Python's ssl would send, captured through a MemoryBIO."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class TestClientHello(unittest.TestCase):
    def test_parse_alpn_and_sni(self):
        alpn = [netio.auth_alpn(CLUSTER), "h2"]
        buf = client_hello(alpn)
        msg, complete = netio.handshake_bytes(buf)
        self.assertTrue(complete)
        hello = netio.parse_client_hello(msg)
        self.assertEqual(hello["alpn"], alpn)
        self.assertEqual(hello["sni"], "teleport.cluster.local")
        self.assertEqual(netio.parse_client_hello(netio.handshake_bytes(client_hello(None))[0])["alpn"], [])

    def test_cluster_name_encoding(self):
        # api/utils.EncodeClusterName example (api/utils/tls.go in Teleport).
        self.assertEqual(netio.auth_alpn("example.com"),
                         "teleport-auth@6578616d706c652e636f6d.teleport.cluster.local")
        self.assertEqual(netio.decode_cluster_name("6578616d706c652e636f6d.teleport.cluster.local"),
                         "example.com")
        for bad in ("teleport.cluster.local", "zz.teleport.cluster.local", "6162.example.com"):
            with self.assertRaises(netio.HelloError):
                netio.decode_cluster_name(bad)

    def test_partial_fragmented_and_bad_input(self):
        buf = client_hello([netio.auth_alpn(CLUSTER)])
        for n in (0, 3, 5, 20, len(buf) - 1):
            self.assertFalse(netio.handshake_bytes(buf[:n])[1], n)
        # The same handshake message split over two records (RFC 8446 5.1).
        payload = buf[5:]
        cut = 40
        rec = lambda p: b"\x16\x03\x01" + struct.pack("!H", len(p)) + p  # noqa: E731
        msg, complete = netio.handshake_bytes(rec(payload[:cut]) + rec(payload[cut:]))
        self.assertTrue(complete)
        self.assertEqual(netio.parse_client_hello(msg)["alpn"], [netio.auth_alpn(CLUSTER)])
        with self.assertRaises(netio.HelloError):
            netio.handshake_bytes(b"GET / HTTP/1.1\r\n\r\n")
        with self.assertRaises(netio.HelloError):     # a record that is not a handshake
            netio.handshake_bytes(b"\x17\x03\x03\x00\x05hello")
        # Lengths that run past the data: an error, not a crash.
        bad = bytearray(netio.handshake_bytes(buf)[0])
        bad[4 + 2 + 32] = 0xFF                        # session id length
        with self.assertRaises(netio.HelloError):
            netio.parse_client_hello(bytes(bad))


class NetBase(unittest.TestCase):
    EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="standin-net-")
        cls.state = os.path.join(cls.tmp.name, "state")
        os.makedirs(cls.state)
        cls.srv = StandIn(cls.state, "--proxy-listen", "127.0.0.1:0", "--seed", "7", *cls.EXTRA)
        # tearDownClass does not run when setUpClass fails: stop it then too.
        cls.addClassCleanup(lambda: cls.srv.proc.poll() is None and cls.srv.proc.kill())
        with open(os.path.join(cls.state, "proxy_addr")) as f:
            cls.proxy_addr = f.read().strip()
        cls.pb = pbload.load()
        cls.a, cls.t, cls.e = cls.pb.authservice_pb2, cls.pb.types_pb2, cls.pb.empty_pb2
        cls.chans = []
        cls.enroller_id = cls.sign("enroller")
        admin_chan = client.channel(cls.srv.addr, os.path.join(cls.state, "admin.identity"))
        cls.chans.append(admin_chan)
        cls.admin = client.Admin(admin_chan)     # in-process; tctl itself is tested where it matters

    @classmethod
    def tearDownClass(cls):
        for c in cls.chans:
            c.close()
        rc = cls.srv.stop()
        cls.tmp.cleanup()
        assert rc == 0, "stand-in exit status %s" % rc

    @classmethod
    def sign(cls, user, fmt="file", out=None):
        out = out or os.path.join(cls.tmp.name, "%s-%d.%s" % (user, time.monotonic_ns(), fmt))
        tctl("--state", cls.state, "auth", "sign", "--user", user, "--out", out, "--ttl", "1h", "--format", fmt)
        return out

    def auth(self, identity=None):
        chan = client.channel(self.srv.addr, identity or self.enroller_id)
        self.chans.append(chan)
        return client.Auth(chan, self.pb)

    def ping_over(self, sock):
        if getattr(sock, "h2", None) is None:
            sock.h2 = client.H2Client(sock)
        status, msg, body = sock.h2.unary(PING, self.a.PingRequest())
        self.assertEqual(status, 0, msg)
        return self.a.PingResponse.FromString(body)

    def server_cert_der(self):
        with open(os.path.join(self.state, "server.crt"), "rb") as f:
            return x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)

    def tctl(self, *args, check=True):
        return tctl("--state", self.state, *args, check=check)


class TestProxy(NetBase):
    def test_auth_alpn_is_forwarded_end_to_end(self):
        ctx = client.tls_context(self.enroller_id, alpn=[netio.auth_alpn(CLUSTER), "h2"])
        with client.tls_connect(self.proxy_addr, ctx) as s:
            # Auth negotiated h2 and presented its own certificate: TLS was not terminated by the proxy.
            self.assertEqual(s.selected_alpn_protocol(), "h2")
            self.assertEqual(s.getpeercert(binary_form=True), self.server_cert_der())
            r = self.ping_over(s)
            self.assertEqual(r.ClusterName, CLUSTER)
            # RemoteAddr is the client's own address, not the relay's.
            self.assertEqual(r.RemoteAddr, "%s:%d" % s.getsockname()[:2])
            r2 = self.ping_over(s)       # a second call on the same connection
            self.assertEqual(r2.ClusterName, CLUSTER)

    def test_no_client_certificate_is_the_nop_role(self):
        # lib/auth/middleware.go: tls.VerifyClientCertIfGiven, and GetUser
        # gives a client without a certificate the built-in Nop role, whose
        # role set has no rules (services.NewRoleSet): Ping answers, the rest
        # is denied.
        ctx = client.tls_context(alpn=[netio.auth_alpn(CLUSTER), "h2"],
                                 cas=open(os.path.join(self.state, "host_ca.crt")).read())
        with client.tls_connect(self.proxy_addr, ctx) as s:
            self.assertEqual(s.getpeercert(binary_form=True), self.server_cert_der())
            self.assertEqual(self.ping_over(s).ClusterName, CLUSTER)
            status, msg, _ = s.h2.unary("/proto.AuthService/GetApps", self.e.Empty())
            self.assertEqual((status, urllib.parse.unquote(msg)), (grpc.StatusCode.PERMISSION_DENIED.value[0],
                                                                   'access denied to perform action "list" on "app"'))

    def test_other_protocols_are_refused(self):
        for alpn in (["h2"], None, ["http/1.1"], ["teleport-proxy-ssh"], ["something-else"],
                     ["h2", netio.auth_alpn(CLUSTER)],                 # h2 first: Teleport's web handler
                     [netio.auth_alpn("other-cluster"), "h2"],
                     ["teleport-auth@zz.teleport.cluster.local"]):
            ctx = client.tls_context(self.enroller_id, alpn=alpn)
            with self.subTest(alpn=alpn):
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                    with client.tls_connect(self.proxy_addr, ctx):
                        pass

    def test_not_tls_is_closed(self):
        host, _, port = self.proxy_addr.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(s.recv(100), b"")

    def test_half_hello_then_close_is_harmless(self):
        host, _, port = self.proxy_addr.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(client_hello([netio.auth_alpn(CLUSTER)])[:30])
        # The listener still works afterwards.
        ctx = client.tls_context(self.enroller_id, alpn=[netio.auth_alpn(CLUSTER), "h2"])
        with client.tls_connect(self.proxy_addr, ctx) as s2:
            self.assertEqual(self.ping_over(s2).ClusterName, CLUSTER)


class TestConnections(NetBase):
    def test_drop_connections(self):
        c = self.auth()
        c.Ping(self.a.PingRequest(), timeout=10)
        stream = c.chan.unary_stream("/proto.AuthService/WatchEvents",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.pb.event_pb2.Event.FromString)
        w = self.a.Watch()
        w.Kinds.add().Kind = "app"
        it = iter(stream(w, timeout=30))
        self.assertEqual(next(it).Type, self.pb.event_pb2.INIT)
        ctx = client.tls_context(self.enroller_id, alpn=[netio.auth_alpn(CLUSTER), "h2"])
        raw = client.tls_connect(self.proxy_addr, ctx)
        self.ping_over(raw)
        self.assertGreaterEqual(int(self.tctl("connections").stdout), 2)
        out = self.tctl("drop-connections").stdout
        self.assertGreaterEqual(int(out.split()[1]), 2, out)   # tctl's own connection is kept
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        raw.settimeout(5)
        try:
            self.assertEqual(raw.recv(100), b"")      # TCP FIN without close_notify
        except (ssl.SSLError, OSError):
            pass
        raw.close()
        c.Ping(self.a.PingRequest(), timeout=10)       # grpc reconnects

    def test_drop_with_reset(self):
        host, _, port = self.srv.addr.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            time.sleep(0.2)                      # the relay has connected it to Auth
            self.tctl("drop-connections", "--reset")
            raw.settimeout(5)
            with self.assertRaises(ConnectionResetError):
                raw.recv(100)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            time.sleep(0.2)
            self.tctl("drop-connections")
            raw.settimeout(5)
            self.assertEqual(raw.recv(100), b"")   # FIN

    def test_tbot_directory(self):
        out = os.path.join(self.tmp.name, "tbot-out")
        self.sign("enroller", fmt="tbot", out=out)
        names = sorted(os.listdir(out))
        self.assertEqual(names, sorted(["identity", "key", "key.pub", "key-cert.pub", "tlscert",
                                        "teleport-host-ca.crt", "teleport-user-ca.crt"]))
        for n in ("key", "identity"):
            self.assertEqual(os.stat(os.path.join(out, n)).st_mode & 0o777, 0o600, n)
        rd = lambda n: open(os.path.join(out, n), "rb").read()  # noqa: E731
        key = serialization.load_pem_private_key(rd("key"), None)
        cert = x509.load_pem_x509_certificate(rd("tlscert"))
        self.assertEqual(key.public_key().public_numbers(), cert.public_key().public_numbers())
        self.assertEqual(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value, "enroller")
        self.assertEqual(rd("teleport-host-ca.crt"), open(os.path.join(self.state, "host_ca.crt"), "rb").read())
        self.assertEqual(rd("teleport-user-ca.crt"), open(os.path.join(self.state, "user_ca.crt"), "rb").read())
        ident = client.parse_identity(rd("identity"))
        self.assertEqual(ident["key"].encode(), rd("key"))
        self.assertEqual(ident["tls_cert"].encode(), rd("tlscert"))
        self.assertEqual(ident["ssh_cert"] + "\n", rd("key-cert.pub").decode())
        self.assertTrue(rd("key.pub").startswith(b"ssh-rsa "))
        p = subprocess.run(["ssh-keygen", "-L", "-f", os.path.join(out, "key-cert.pub")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("user certificate", p.stdout)
        # The separate files are enough to talk to Auth.
        creds = grpc.ssl_channel_credentials(root_certificates=rd("teleport-host-ca.crt"),
                                             private_key=rd("key"), certificate_chain=rd("tlscert"))
        chan = grpc.secure_channel(self.srv.addr, creds, options=[
            ("grpc.ssl_target_name_override", client.SERVER_NAME)])
        self.chans.append(chan)
        r = client.Auth(chan, self.pb).Ping(self.a.PingRequest(), timeout=10)
        self.assertEqual(r.ClusterName, CLUSTER)
        # Signing again replaces every file with a new key.
        self.sign("enroller", fmt="tbot", out=out)
        self.assertNotEqual(rd("key"), key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                                         serialization.NoEncryption()))

    def test_oversized_response(self):
        """90 app servers with 50 kB labels: ListResources(limit 0) is ~4.6 MB,
        above grpc's default 4 MiB receive limit; halving the page works."""
        self.tctl("bulk", "--count", "90", "--label-bytes", "50000", "--prefix", "big-",
                  "--label", "enroller.dev/owner=bulk")
        c = self.auth()

        def page(limit, start=""):
            return c.ListResources(self.a.ListResourcesRequest(ResourceType="app_server", Limit=limit,
                                                               StartKey=start,
                                                               Labels={"bulk/pad": "x" * 50000}), timeout=30)
        with self.assertRaises(grpc.RpcError) as cm:
            page(0)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        # The Go client's answer: halve the page size and retry.
        limit, start, got = 90, "", []
        while True:
            try:
                r = page(limit, start)
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                limit //= 2
                continue
            got += [x.AppServer.Metadata.Name for x in r.Resources]
            if not r.NextKey:
                break
            start = r.NextKey
        self.assertEqual(limit, 45)
        self.assertEqual(got, ["big-%05d" % i for i in range(90)])
        # A client with a larger receive limit gets it in one page.
        ident = client.parse_identity(open(self.enroller_id, "rb").read())
        creds = grpc.ssl_channel_credentials("".join(ident["tls_cas"]).encode(), ident["key"].encode(),
                                             ident["tls_cert"].encode())
        chan = grpc.secure_channel(self.srv.addr, creds, options=[
            ("grpc.ssl_target_name_override", client.SERVER_NAME),
            ("grpc.max_receive_message_length", 16 << 20)])
        self.chans.append(chan)
        r = client.Auth(chan, self.pb).ListResources(
            self.a.ListResourcesRequest(ResourceType="app_server", Labels={"bulk/pad": "x" * 50000}), timeout=30)
        self.assertEqual(len(r.Resources), 90)
        self.assertGreater(r.ByteSize(), 4 << 20)

    def test_watch_semantics(self):
        admin = client.Auth(client.channel(self.srv.addr, os.path.join(self.state, "admin.identity")), self.pb)
        self.chans.append(admin.chan)
        stream = admin.chan.unary_stream("/proto.AuthService/WatchEvents",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=self.pb.event_pb2.Event.FromString)

        def first(w):
            return next(iter(stream(w, timeout=10)))
        with self.assertRaises(grpc.RpcError) as cm:
            first(self.a.Watch())
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.PERMISSION_DENIED, "can't setup global watch"))
        w = self.a.Watch()
        w.Kinds.add().Kind = "node"
        w.Kinds.add().Kind = "app"
        with self.assertRaises(grpc.RpcError) as cm:
            first(w)
        self.assertEqual((cm.exception.code(), cm.exception.details()),
                         (grpc.StatusCode.INVALID_ARGUMENT, 'watcher on object kind "node" is not supported'))
        w.AllowPartialSuccess = True
        init = first(w)
        self.assertEqual([k.Kind for k in init.WatchStatus.Spec.Kinds], ["app"])

    def test_token_already_exists_text(self):
        c = self.auth(os.path.join(self.state, "admin.identity"))
        tok = self.t.ProvisionTokenV2()
        tok.Metadata.Name = "not-a-secret-token-1"
        tok.Spec.Roles.append("App")
        c.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            c.CreateTokenV2(self.a.CreateTokenV2Request(V2=tok), timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        self.assertNotIn("not-a-secret-token-1", cm.exception.details())
        # --version 17 (the default): lib/backend/lite/lite.go's constraint
        # error; TF TestVersion* has each release's text.
        self.assertEqual(cm.exception.details(), "UNIQUE constraint failed: kv.key")


class TestGoaway(NetBase):
    EXTRA = ("--max-connection-age", "1")

    def test_goaway_after_max_age(self):
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
        with client.tls_connect(self.srv.addr, client.tls_context(self.enroller_id)) as s:
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            s.sendall(conn.data_to_send())
            deadline = time.monotonic() + 10
            seen = False
            while not seen and time.monotonic() < deadline:
                s.settimeout(1)
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                try:
                    for ev in conn.receive_data(data):
                        seen = seen or isinstance(ev, h2.events.ConnectionTerminated)
                except h2.exceptions.ProtocolError:
                    # A frame after the GOAWAY (a PING): h2 has already closed the connection.
                    seen = seen or conn.state_machine.state == h2.connection.ConnectionState.CLOSED
                    break
                s.sendall(conn.data_to_send())
            self.assertTrue(seen, "no GOAWAY within 10 s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
