#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target (spec/fuzz/<target>/seed-*)
from the repository's real examples: Docker answers recorded from real
engines (spec/fixtures/docker, spec/fixtures/podman, examples/*/cases),
identities (spec/fixtures/identity), Teleport's protobuf replies
(spec/fixtures/golden, and messages built with the same .proto files the
stand-in serves) and the example configs.

    ENR_PYGEN=build/gen/py /usr/bin/python3 spec/fuzz/seeds.py

Files named crash-* are regressions (inputs that once crashed) and are
never touched here.  Run it again after changing a fixture; commit the
result."""
import glob
import os
import re
import struct
import sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
fuzz = os.path.join(top, "spec", "fuzz")
sys.path.insert(0, os.environ.get("ENR_PYGEN", os.path.join(top, "build", "gen", "py")))


def rd(path):
    with open(os.path.join(top, path), "rb") as f:
        return f.read()


def hexfile(path):
    return bytes.fromhex("".join(rd(path).decode().split()))


def put(target, name, data):
    d = os.path.join(fuzz, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def grpc(msg, flag=0):
    return struct.pack(">BI", flag, len(msg)) + msg


def clear():
    for p in glob.glob(os.path.join(fuzz, "*", "seed-*")):
        os.unlink(p)


def docker():
    for src in ["spec/fixtures/docker/events_raw.jsonl", "spec/fixtures/podman/events_raw.jsonl",
                "spec/fixtures/podman/events_filtered_podman_names.jsonl"]:
        data = rd(src)
        stem = src.split("/")[2] + "-" + os.path.basename(src).split(".")[0]
        for seed in (0, 7, 200):
            put("docker_event", "%s-%d" % (stem, seed), bytes([seed]) + data)
    put("docker_event", "crlf-blank", b"\x03" + b'{"Type":"container","Action":"start","id":"ab"}\r\n\n  \n{}\n')
    for src in glob.glob(os.path.join(top, "spec/fixtures/*/containers_list_*.json")):
        rel = os.path.relpath(src, top)
        put("docker_list", rel.split("/")[2] + "-" + os.path.basename(src), rd(rel))
    put("docker_list", "empty.json", b"[]")
    put("docker_list", "no-id.json", b'[{"Id":""}]')
    for src in sorted(glob.glob(os.path.join(top, "spec/fixtures/docker/inspect_*.json")) +
                      glob.glob(os.path.join(top, "examples/*/cases/*.inspect.json"))):
        rel = os.path.relpath(src, top)
        put("docker_inspect", rel.replace("/", "-"), rd(rel))
    put("json_pick", "rabbitmq.inspect.json", rd("examples/rabbitmq/cases/rabbitmq.inspect.json"))
    put("json_pick", "picked.json", b'{"a":[1,2.5,-0e+3,true,false,null],"n":{"x":{"b":"\\u00e9\\ud83d\\ude00",'
                                    b'"c":1},"y":[{"b":2}]},"l":[{"b":3}],"z":"\\"\\\\\\/\\b\\f\\n\\r\\t"}')
    put("json_pick", "scalars.json", b' [0, -1, 1e9, 9223372036854775807, "\xc3\xa9", {}, []] ')


def identities():
    for src in sorted(glob.glob(os.path.join(top, "spec/fixtures/identity/*.identity"))):
        put("identity", os.path.basename(src), rd(os.path.relpath(src, top)))
    text = rd("spec/fixtures/identity/valid_rsa.identity").decode()
    pems = re.findall(r"-----BEGIN [^-]+-----\n.*?-----END [^-]+-----\n", text, re.S)
    key, cert, cas = pems[0], pems[1], "".join(pems[2:])
    sep = "\n--8<--\n"
    put("tbot", "valid", (key + sep + cert + sep + cas).encode())
    put("tbot", "no-ca", (key + sep + cert).encode())
    put("tbot", "swapped", (cert + sep + key + sep + cas).encode())


def teleport():
    from teleport.legacy.client.proto import authservice_pb2, event_pb2
    from teleport.legacy.types import types_pb2
    golden = "spec/fixtures/golden/"
    put("teleport_reply", "ping", b"\x00" + authservice_pb2.PingResponse(
        ClusterName="example.teleport.sh", ServerVersion="17.0.0", ProxyPublicAddr="example.teleport.sh:443",
    ).SerializeToString())
    put("teleport_reply", "AppV3List", b"\x01" + hexfile(golden + "AppV3List.hex"))
    db = types_pb2.DatabaseV3(Kind="db", Version="v3")
    db.Metadata.Name = "pg"
    db.Metadata.Labels["enroller.dev/owner"] = "h1"
    db.Spec.Protocol = "postgres"
    db.Spec.URI = "10.0.0.2:5432"
    put("teleport_reply", "DatabaseV3List", b"\x02" + types_pb2.DatabaseV3List(Databases=[db]).SerializeToString())
    put("teleport_reply", "ListResourcesResponse", b"\x03" + hexfile(golden + "ListResourcesResponse.hex"))
    for ev in ("Event_INIT", "Event_PUT", "Event_DELETE"):
        put("teleport_reply", ev, b"\x04" + hexfile(golden + ev + ".hex"))
    hdr = event_pb2.Event(Type=2)
    hdr.ResourceHeader.Kind = "app_server"
    hdr.ResourceHeader.Metadata.Name = "web"
    hdr.ResourceHeader.Metadata.Description = "host-1"
    put("teleport_reply", "Event_DELETE_header", b"\x04" + hdr.SerializeToString())

    apps = hexfile(golden + "AppV3List.hex")
    for seed in (0, 5):
        put("grpc_frame", "two-%d" % seed, bytes([seed, 0]) + grpc(apps) + grpc(b""))
    put("grpc_frame", "compressed", b"\x09\x00" + grpc(b"abc", 1))
    put("grpc_frame", "too-big", b"\x01\x01" + grpc(apps))
    put("grpc_frame", "cut-short", b"\x02\x00" + grpc(apps)[:40])

    put("grpc_headers", "status-0", b"\x00" + b"0")
    put("grpc_headers", "status-bad", b"\x00" + b"1x")
    put("grpc_headers", "message", b"\x01" + b"access denied to %2Fproto.AuthService%2FGetApps %zz %")
    put("grpc_headers", "other", b"\x02" + b"grpc-status:14")
    put("grpc_headers", "timeout-ms", b"\x03" + struct.pack(">Q", 1500))
    put("grpc_headers", "timeout-hours", b"\x03" + struct.pack(">Q", 99999999 * 3600000 + 1))

    # The server side of two gRPC calls (Ping, GetApps), made with the
    # python3-h2 state machine the stand-in's tests use.
    import h2.config
    import h2.connection
    for name, seed, kind in (("answers", 0, "ok"), ("answers-cut", 9, "ok"), ("goaway", 3, "goaway"),
                             ("reset", 0, "reset")):
        cl = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        sv = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        cl.initiate_connection()
        req = [(":method", "POST"), (":scheme", "https"), (":path", "/proto.AuthService/Ping"),
               (":authority", "teleport.cluster.local"), ("content-type", "application/grpc"), ("te", "trailers")]
        cl.send_headers(1, req)
        cl.send_data(1, grpc(b""), end_stream=True)
        cl.send_headers(3, req)
        cl.send_data(3, grpc(b""), end_stream=True)
        sv.initiate_connection()
        sv.receive_data(cl.data_to_send())
        ok = [(":status", "200"), ("content-type", "application/grpc")]
        sv.send_headers(1, ok)
        sv.send_data(1, grpc(authservice_pb2.PingResponse(ClusterName="c").SerializeToString()))
        sv.send_headers(1, [("grpc-status", "0")], end_stream=True)
        if kind == "ok":
            sv.send_headers(3, ok + [("grpc-status", "7"), ("grpc-message", "access%20denied")], end_stream=True)
        elif kind == "goaway":
            sv.close_connection(last_stream_id=1)
        else:
            sv.reset_stream(3, 8)
        put("http2_conn", name, bytes([seed]) + sv.data_to_send())

    for src in sorted(glob.glob(os.path.join(top, "examples/*/config.lua"))):
        rel = os.path.relpath(src, top)
        put("config", rel.split("/")[1] + ".lua", rd(rel))
    put("config", "errors.lua", b'owner "h"\nreconcile { grace = -1, resync = "x" }\n')
    put("config", "zero.lua", b'owner "h"\nreconcile { grace = 0, lease = 0, confirm = 0 }\n')


clear()
docker()
identities()
teleport()
