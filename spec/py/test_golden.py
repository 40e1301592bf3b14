#!/usr/bin/python3
"""Conformance: the hand-written golden messages in spec/fixtures/golden
(composed byte by byte from Teleport's field numbers by make_golden.py, which
imports no generated code) decode with the Python modules generated from
proto/ to exactly the values their .txt files describe, re-encode to the same
bytes, and unknown fields (a newer Teleport) are skipped, not an error."""
import os
import subprocess
import sys
import unittest

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(SRC, "spec", "fixtures", "golden")
sys.path.insert(0, os.path.join(SRC, "spec", "standin"))

import pbload  # noqa: E402

PB = pbload.load()
T, A, EV = PB.types_pb2, PB.authservice_pb2, PB.event_pb2
GO_ZERO = -62135596800
HOST_ID = "5b0f6c0e-8a55-4c3e-9d0a-2f3b1c9e7d21"


def golden(name):
    with open(os.path.join(GOLDEN, name + ".hex")) as f:
        return bytes.fromhex("".join(f.read().split()))


class TestGolden(unittest.TestCase):
    def decode(self, name, cls, reencode=True):
        data = golden(name)
        msg = cls.FromString(data)
        if reencode:
            # Same bytes back: field order, presence of empty non-nullable
            # sub-messages and Go zero times all survive the round trip.
            self.assertEqual(msg.SerializeToString(deterministic=True).hex(), data.hex(), name)
        return msg

    def test_generator_matches_files(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(GOLDEN, "make_golden.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_every_golden_file_is_tested(self):
        names = {n[:-4] for n in os.listdir(GOLDEN) if n.endswith(".hex")}
        tested = {n[len("test_"):] for n in dir(self) if n.startswith("test_")}
        self.assertEqual(sorted(n for n in names if n.lower() not in tested), [])
        for n in names:
            self.assertTrue(os.path.exists(os.path.join(GOLDEN, n + ".txt")), n)

    def check_full_app(self, a):
        self.assertEqual((a.Kind, a.SubKind, a.Version), ("app", "", "v3"))
        md = a.Metadata
        self.assertEqual((md.Name, md.Namespace, md.Description),
                         ("rabbitmq-mgmt", "default", "RabbitMQ management UI"))
        self.assertEqual(dict(md.Labels), {"enroller.dev/owner": "docker-host-1",
                                           "enroller.dev/container": "rabbitmq-1",
                                           "enroller.dev/rule": "rabbitmq", "teleport.dev/origin": "dynamic"})
        self.assertTrue(md.HasField("Expires"))
        self.assertEqual((md.Expires.seconds, md.Expires.nanos), (1767225600, 500000000))
        self.assertEqual(md.Expires.ToJsonString(), "2026-01-01T00:00:00.500Z")
        self.assertEqual(md.Revision, "3f1c9a52-7d1e-4c2b-9a6e-0b8d2f4e6a11")
        sp = a.Spec
        self.assertEqual((sp.URI, sp.PublicAddr, sp.InsecureSkipVerify),
                         ("http://172.17.0.2:15672", "rabbitmq.example.com", True))
        self.assertEqual(list(sp.Rewrite.Redirect), ["localhost"])
        self.assertEqual([(h.Name, h.Value) for h in sp.Rewrite.Headers],
                         [("X-Forwarded-Proto", "https"), ("Host", "rmq")])
        self.assertEqual(sp.Cloud, "")
        self.assertEqual(len(sp.TCPPorts), 0)

    def check_min_app(self, a):
        self.assertEqual((a.Kind, a.Version, a.Metadata.Name, a.Metadata.Namespace),
                         ("app", "v3", "echo", "default"))
        self.assertEqual(dict(a.Metadata.Labels), {"enroller.dev/owner": "docker-host-1"})
        self.assertFalse(a.Metadata.HasField("Expires"))
        self.assertEqual(a.Metadata.Revision, "")
        self.assertEqual(a.Spec.URI, "http://127.0.0.1:8080")
        self.assertFalse(a.Spec.HasField("Rewrite"))

    def test_appv3(self):
        self.check_full_app(self.decode("AppV3", T.AppV3))

    def test_appv3list(self):
        lst = self.decode("AppV3List", T.AppV3List)
        self.assertEqual(len(lst.Apps), 2)
        self.check_full_app(lst.Apps[0])
        self.check_min_app(lst.Apps[1])

    def test_appv3_unknown_fields(self):
        data = golden("AppV3_unknown_fields")
        a = T.AppV3.FromString(data)         # unknown fields are skipped, not an error
        self.assertEqual((a.Kind, a.Version), ("app", "v3"))
        self.assertEqual((a.Metadata.Name, a.Metadata.Namespace, a.Metadata.Revision),
                         ("future-app", "default", "r1"))
        self.assertEqual(dict(a.Metadata.Labels), {"enroller.dev/owner": "docker-host-1"})
        self.assertEqual(a.Spec.URI, "http://127.0.0.1:9000")
        self.assertFalse(a.Spec.InsecureSkipVerify)
        # The parts this proto does not know really are in the bytes (and kept as unknown).
        self.assertIn(bytes.fromhex("9a06") + bytes([len("from-the-future")]) + b"from-the-future", data)
        self.assertEqual(len(a.UnknownFields()), 1)
        self.assertEqual(a.UnknownFields()[0].field_number, 99)
        self.assertEqual([f.field_number for f in a.Spec.UnknownFields()], [99, 100])
        self.assertEqual([(f.field_number, f.data) for f in a.Metadata.UnknownFields()], [(99, 12345)])
        # Without the unknown fields it is an ordinary app.
        a.DiscardUnknownFields()
        ref = T.AppV3(Kind="app", Version="v3")
        ref.Metadata.Name, ref.Metadata.Namespace, ref.Metadata.Revision = "future-app", "default", "r1"
        ref.Metadata.Labels["enroller.dev/owner"] = "docker-host-1"
        ref.Spec.URI = "http://127.0.0.1:9000"
        self.assertEqual(a, ref)

    def test_resourcerequest(self):
        self.assertEqual(self.decode("ResourceRequest", T.ResourceRequest).Name, "rabbitmq-mgmt")

    def test_listresourcesrequest(self):
        r = self.decode("ListResourcesRequest", A.ListResourcesRequest)
        self.assertEqual((r.ResourceType, r.Namespace, r.Limit, r.StartKey),
                         ("app_server", "default", 500, HOST_ID + "/echo"))
        self.assertEqual(dict(r.Labels), {"enroller.dev/owner": "docker-host-1"})
        self.assertTrue(r.HasField("SortBy"))
        self.assertEqual((r.SortBy.Field, r.SortBy.IsDesc), ("", False))
        self.assertTrue(r.HasField("WindowsDesktopFilter"))
        self.assertEqual((r.PredicateExpression, list(r.SearchKeywords), r.NeedTotalCount), ("", [], False))

    def test_listresourcesresponse(self):
        r = self.decode("ListResourcesResponse", A.ListResourcesResponse)
        self.assertEqual(len(r.Resources), 1)
        self.assertEqual(r.Resources[0].WhichOneof("resource"), "AppServer")
        s = r.Resources[0].AppServer
        self.assertEqual((s.Kind, s.Version, s.Metadata.Name, s.Metadata.Namespace),
                         ("app_server", "v3", "echo", "default"))
        self.assertEqual(s.Metadata.Expires.seconds, 1767226200)
        self.assertEqual(s.Metadata.Revision, "9b2e4f70-1111-4222-8333-944455556666")
        self.assertEqual((s.Spec.Version, s.Spec.Hostname, s.Spec.HostID), ("17.5.4", "app-agent-1", HOST_ID))
        rot = s.Spec.Rotation
        for ts in (rot.Started, rot.LastRotated, rot.Schedule.UpdateClients, rot.Schedule.UpdateServers,
                   rot.Schedule.Standby):
            self.assertEqual((ts.seconds, ts.nanos), (GO_ZERO, 0))
        self.check_min_app(s.Spec.App)
        self.assertEqual((r.NextKey, r.TotalCount), (HOST_ID + "/zzz", 0))

    def test_createtokenv2request(self):
        r = self.decode("CreateTokenV2Request", A.CreateTokenV2Request)
        self.assertEqual(r.WhichOneof("Token"), "V2")
        t = r.V2
        self.assertEqual((t.Kind, t.Version, t.Metadata.Name, t.Metadata.Namespace),
                         ("token", "v2", "example-token-not-a-secret", "default"))
        self.assertEqual(t.Metadata.Expires.seconds, 1767227400)
        self.assertEqual((list(t.Spec.Roles), t.Spec.JoinMethod, t.Spec.BotName), (["App"], "token", ""))

    def test_event_put(self):
        e = self.decode("Event_PUT", EV.Event)
        self.assertEqual(e.Type, EV.PUT)
        self.assertEqual(e.WhichOneof("Resource"), "App")
        self.check_full_app(e.App)

    def test_event_delete(self):
        e = self.decode("Event_DELETE", EV.Event)
        self.assertEqual(e.Type, EV.DELETE)
        self.assertEqual(e.WhichOneof("Resource"), "ResourceHeader")
        h = e.ResourceHeader
        self.assertEqual((h.Kind, h.SubKind, h.Version, h.Metadata.Name, h.Metadata.Namespace),
                         ("app", "", "v3", "rabbitmq-mgmt", "default"))

    def test_event_init(self):
        e = self.decode("Event_INIT", EV.Event)
        self.assertEqual(e.Type, EV.INIT)
        self.assertEqual(e.WhichOneof("Resource"), "WatchStatus")
        w = e.WatchStatus
        self.assertEqual((w.Kind, w.Version, w.Metadata.Name), ("watch_status", "v1", "watch_status"))
        self.assertEqual([k.Kind for k in w.Spec.Kinds], ["app", "app_server"])

    def test_watch(self):
        w = self.decode("Watch", A.Watch)
        self.assertEqual([k.Kind for k in w.Kinds], ["app", "app_server"])
        self.assertTrue(w.AllowPartialSuccess)

    def test_pingresponse(self):
        p = self.decode("PingResponse", A.PingResponse)
        self.assertEqual((p.ClusterName, p.ServerVersion, p.ProxyPublicAddr, p.IsBoring, p.RemoteAddr),
                         ("example.teleport.sh", "17.5.4", "example.teleport.sh:443", False, "127.0.0.1:51234"))
        f = p.ServerFeatures
        self.assertEqual((f.Kubernetes, f.App, f.DB, f.Desktop, f.OIDC), (True, True, True, True, False))

    def test_deleteapplicationserverrequest(self):
        r = self.decode("DeleteApplicationServerRequest", A.DeleteApplicationServerRequest)
        self.assertEqual((r.Namespace, r.HostID, r.Name), ("default", HOST_ID, "echo"))

    def test_databasev3(self):
        d = self.decode("DatabaseV3", T.DatabaseV3)
        self.assertEqual((d.Kind, d.Version, d.Metadata.Name, d.Metadata.Description),
                         ("db", "v3", "orders-pg", "orders database"))
        self.assertEqual(dict(d.Metadata.Labels), {"enroller.dev/owner": "docker-host-1",
                                                   "teleport.dev/origin": "dynamic"})
        self.assertEqual(d.Metadata.Revision, "0d6f2c1a-aaaa-4bbb-8ccc-dddddddddddd")
        self.assertEqual((d.Spec.Protocol, d.Spec.URI), ("postgres", "localhost:5432"))
        self.assertTrue(d.HasField("Status"))

    def test_truncated_message_is_an_error(self):
        from google.protobuf.message import DecodeError
        data = golden("AppV3")
        with self.assertRaises(DecodeError):
            T.AppV3.FromString(data[:-3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
