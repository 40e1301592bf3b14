"""A small Python client for the stand-in (used by tctl and the tests):
reads a Teleport identity file and opens a mutual-TLS gRPC channel to Auth."""
import json
import os

import grpc

import pbload

SERVER_NAME = "teleport.cluster.local"


def parse_identity(data):
    """api/identityfile reader rules: 1st PEM block = key, 2nd = TLS cert,
    later PEM blocks = TLS CAs, `@cert-authority` lines = SSH CAs, a line whose
    first token is an SSH cert type = SSH cert."""
    text = data.decode() if isinstance(data, bytes) else data
    out = {"key": None, "ssh_cert": None, "tls_cert": None, "ssh_cas": [], "tls_cas": []}
    pems, cur = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if cur is not None:
            cur.append(line)
            if line.startswith("-----END"):
                pems.append("\n".join(cur) + "\n")
                cur = None
            continue
        if line.startswith("-----BEGIN"):
            cur = [line]
        elif line.startswith("@cert-authority"):
            out["ssh_cas"].append(line)
        elif line.split(" ", 1)[0].endswith("-cert-v01@openssh.com"):
            out["ssh_cert"] = line
    if cur is not None:
        raise ValueError("identity file: unterminated PEM block")
    if len(pems) < 2:
        raise ValueError("identity file: expected a private key and a TLS certificate")
    if out["ssh_cert"] is None:
        raise ValueError("identity file: no SSH certificate")
    out["key"], out["tls_cert"], out["tls_cas"] = pems[0], pems[1], pems[2:]
    return out


def channel(addr, identity_path):
    with open(identity_path, "rb") as f:
        ident = parse_identity(f.read())
    creds = grpc.ssl_channel_credentials(root_certificates="".join(ident["tls_cas"]).encode(),
                                         private_key=ident["key"].encode(),
                                         certificate_chain=ident["tls_cert"].encode())
    return grpc.secure_channel(addr, creds, options=[("grpc.ssl_target_name_override", SERVER_NAME),
                                                     ("grpc.default_authority", SERVER_NAME)])


class Auth:
    """Typed calls on /proto.AuthService/* (request/response per the proto)."""

    def __init__(self, chan, pb=None):
        self.chan = chan
        self.pb = pb or pbload.load()
        t, a, e = self.pb.types_pb2, self.pb.authservice_pb2, self.pb.empty_pb2
        sig = {
            "Ping": a.PingResponse, "ListResources": a.ListResourcesResponse,
            "GetToken": t.ProvisionTokenV2, "GetTokens": t.ProvisionTokenV2List,
            "CreateTokenV2": e.Empty, "UpsertTokenV2": e.Empty, "DeleteToken": e.Empty,
            "GetApps": t.AppV3List, "GetApp": t.AppV3, "CreateApp": e.Empty, "UpdateApp": e.Empty,
            "DeleteApp": e.Empty, "DeleteAllApps": e.Empty,
            "UpsertApplicationServer": t.KeepAlive, "DeleteApplicationServer": e.Empty,
            "DeleteAllApplicationServers": e.Empty,
            "GetDatabases": t.DatabaseV3List, "GetDatabase": t.DatabaseV3, "CreateDatabase": e.Empty,
            "UpdateDatabase": e.Empty, "DeleteDatabase": e.Empty, "DeleteAllDatabases": e.Empty,
        }
        for name, resp in sig.items():
            setattr(self, name, chan.unary_unary("/proto.AuthService/" + name,
                                                 request_serializer=lambda m: m.SerializeToString(),
                                                 response_deserializer=resp.FromString))

    def raw(self, path, resp_cls):
        return self.chan.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=resp_cls.FromString)

    def list_app_servers(self, limit=0):
        out, start = [], ""
        while True:
            r = self.ListResources(self.pb.authservice_pb2.ListResourcesRequest(
                ResourceType="app_server", Limit=limit, StartKey=start), timeout=30)
            out += [x.AppServer for x in r.Resources]
            if not r.NextKey:
                return out
            start = r.NextKey


class Admin:
    """enroller.standin.Admin: JSON in, JSON out."""

    def __init__(self, chan):
        self.chan = chan

    def call(self, method, body):
        fn = self.chan.unary_unary("/enroller.standin.Admin/" + method,
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        return json.loads(fn(json.dumps(body).encode(), timeout=30).decode() or "{}")


def state_addr(state_dir):
    with open(os.path.join(state_dir, "addr")) as f:
        return f.read().strip()
