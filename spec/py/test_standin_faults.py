#!/usr/bin/python3
"""Stand-in fault injection (latency, error rate, code, next-N calls, counters)
and server certificate / host CA rotation. Shares the harness of
test_standin_net.py."""
import json
import os
import ssl
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402

from test_standin import StandIn  # noqa: E402
from test_standin_net import CLUSTER, NetBase  # noqa: E402
import client  # noqa: E402
import netio  # noqa: E402


class TestFaults(NetBase):
    def setUp(self):
        self.admin.call("ClearFaults", {})
        self.admin.call("ResetCounters", {})

    def counters(self, via_tctl=False):
        if via_tctl:
            data = json.loads(self.tctl("counters", "--format", "json").stdout)
        else:
            data = self.admin.call("Counters", {})["methods"]
        return {k: v for k, v in data.items() if k.startswith("/proto.AuthService/")}

    def test_error_for_next_n_calls_and_counters(self):
        c = self.auth()
        out = self.tctl("faults", "set", "--method", "Ping", "--error-rate", "1", "--code", "UNAVAILABLE",
                        "--message", "auth is restarting", "--count", "2").stdout
        self.assertEqual(json.loads(out)["code"], "UNAVAILABLE")
        for _ in range(2):
            with self.assertRaises(grpc.RpcError) as cm:
                c.Ping(self.a.PingRequest(), timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(cm.exception.details(), "auth is restarting")
        c.Ping(self.a.PingRequest(), timeout=10)
        c.GetApps(self.e.Empty(), timeout=10)
        self.assertEqual(self.counters(via_tctl=True), {"/proto.AuthService/Ping": {"UNAVAILABLE": 2, "OK": 1},
                                           "/proto.AuthService/GetApps": {"OK": 1}})
        self.assertEqual(json.loads(self.tctl("faults", "list").stdout), {})

    def test_latency_only_on_the_chosen_method(self):
        c = self.auth()
        self.admin.call("SetFault", {"method": "/proto.AuthService/GetApps", "latency_ms": 400})
        t0 = time.monotonic()
        c.Ping(self.a.PingRequest(), timeout=10)
        t_ping = time.monotonic() - t0
        t0 = time.monotonic()
        c.GetApps(self.e.Empty(), timeout=10)
        t_apps = time.monotonic() - t0
        self.assertGreaterEqual(t_apps, 0.4)
        self.assertLess(t_ping, 0.3)
        # A deadline shorter than the latency fails the call with DEADLINE_EXCEEDED.
        with self.assertRaises(grpc.RpcError) as cm:
            c.GetApps(self.e.Empty(), timeout=0.1)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_error_rate(self):
        c = self.auth()
        self.admin.call("SetFault", {"method": "*", "error_rate": 0.3, "code": "RESOURCE_EXHAUSTED"})
        fails = 0
        for _ in range(120):
            try:
                c.Ping(self.a.PingRequest(), timeout=10)
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                fails += 1
        self.assertTrue(15 <= fails <= 60, fails)
        # The admin service is never faulted.
        self.assertEqual(self.counters()["/proto.AuthService/Ping"].get("RESOURCE_EXHAUSTED"), fails)

    def test_bad_fault_requests(self):
        p = self.tctl("faults", "set", "--method", "Ping", "--code", "NOPE", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("ERROR: INVALID_ARGUMENT: faults: "), p.stderr)
        for body in ({"code": "OK", "error_rate": 1}, {"error_rate": 2}, {"latency_ms": -1}, {"count": 0},
                     {"error_rate": "x"}):
            with self.assertRaises(grpc.RpcError) as cm:
                self.admin.call("SetFault", dict(body, method="Ping"))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, body)

    def test_watch_stream_faulted(self):
        self.admin.call("SetFault", {"method": "WatchEvents", "error_rate": 1, "code": "UNAVAILABLE"})
        c = self.auth()
        stream = c.chan.unary_stream("/proto.AuthService/WatchEvents",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.pb.event_pb2.Event.FromString)
        w = self.a.Watch()
        w.Kinds.add().Kind = "app"
        with self.assertRaises(grpc.RpcError) as cm:
            next(iter(stream(w, timeout=10)))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)


class TestRotation(NetBase):
    def test_rotate_server_cert_then_host_ca(self):
        old_der = self.server_cert_der()
        ctx = client.tls_context(self.enroller_id)
        before = client.tls_connect(self.srv.addr, ctx)       # open across the rotation
        self.assertEqual(before.getpeercert(binary_form=True), old_der)
        out = self.tctl("rotate-cert").stdout
        self.assertIn("new server certificate serial", out)
        new_der = self.server_cert_der()
        self.assertNotEqual(new_der, old_der)
        # New connections get the new certificate; the old identity still trusts it (same host CA).
        with client.tls_connect(self.srv.addr, ctx) as s:
            self.assertEqual(s.getpeercert(binary_form=True), new_der)
            self.ping_over(s)
        # The connection made before keeps working on the old certificate.
        self.assertEqual(self.ping_over(before).ClusterName, CLUSTER)
        before.close()

        # A new host CA: identities signed before no longer verify the server.
        self.tctl("rotate-cert", "--host-ca")
        with self.assertRaises(ssl.SSLCertVerificationError):
            client.tls_connect(self.srv.addr, ctx).close()
        with self.assertRaises(ssl.SSLCertVerificationError):
            client.tls_connect(self.proxy_addr, client.tls_context(
                self.enroller_id, alpn=[netio.auth_alpn(CLUSTER), "h2"])).close()
        fresh = self.sign("enroller")
        ident = client.parse_identity(open(fresh, "rb").read())
        self.assertEqual(len(ident["tls_cas"]), 2)              # new CA first, old still trusted
        self.assertEqual(len(ident["ssh_cas"]), 2)
        self.assertEqual(self.auth(fresh).Ping(self.a.PingRequest(), timeout=10).ClusterName, CLUSTER)
        self.tctl("counters")                                   # tctl (admin.identity) follows the rotation
        rotated = self.server_cert_der()

        # A restart keeps the rotated certificate.
        self.srv.stop()
        self.srv = type(self).srv = StandIn(self.state, "--proxy-listen", "127.0.0.1:0")
        self.assertEqual(self.server_cert_der(), rotated)
        with client.tls_connect(self.srv.addr, client.tls_context(fresh)) as s:
            self.assertEqual(s.getpeercert(binary_form=True), rotated)



if __name__ == "__main__":
    unittest.main(verbosity=2)
