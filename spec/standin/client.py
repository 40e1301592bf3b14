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
            "ListApps": a.ListAppsResponse, "ListDatabases": a.ListDatabasesResponse,
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


    def list_db_servers(self, limit=0):
        out, start = [], ""
        while True:
            r = self.ListResources(self.pb.authservice_pb2.ListResourcesRequest(
                ResourceType="db_server", Limit=limit, StartKey=start), timeout=30)
            out += [x.DatabaseServer for x in r.Resources]
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


# ---- raw TLS + HTTP/2 (python3-h2): what grpcio cannot do, e.g. offer the
# Proxy's `teleport-auth@...` ALPN or keep a connection from before a rotation.

def tls_context(identity_path=None, alpn=("h2",), cas=None):
    """ssl client context: the identity's key and TLS cert (if given), trusting
    the identity's TLS CAs (or `cas` PEM text), offering `alpn`."""
    import ssl
    import tempfile
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ident = None
    if identity_path:
        with open(identity_path, "rb") as f:
            ident = parse_identity(f.read())
    ctx.load_verify_locations(cadata=cas if cas is not None else "".join(ident["tls_cas"]))
    if ident is not None:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(ident["key"])
            with open(cert, "w") as f:
                f.write(ident["tls_cert"])
            ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(addr, ctx, server_name=SERVER_NAME, timeout=10):
    import socket
    host, _, port = addr.rpartition(":")
    raw = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


class H2Client:
    """gRPC unary calls over an already open TLS socket with python3-h2 (one
    HTTP/2 connection, one call at a time)."""

    def __init__(self, sock):
        import h2.config
        import h2.connection
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()

    def unary(self, path, request, timeout=10):
        """-> (grpc-status int, grpc-message, response message bytes or None)."""
        import struct
        import time
        import h2.events
        conn = self.conn
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"), (":path", path),
                                (":authority", SERVER_NAME), ("content-type", "application/grpc"),
                                ("te", "trailers")])
        body = request if isinstance(request, bytes) else request.SerializeToString()
        conn.send_data(sid, b"\0" + struct.pack("!I", len(body)) + body, end_stream=True)
        self.sock.sendall(conn.data_to_send())
        data, headers = b"", {}
        deadline = time.monotonic() + timeout
        done = False
        while not done:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the call ended")
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    headers.update(dict(ev.headers))
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    done = True
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise ConnectionError("call ended by %s" % type(ev).__name__)
            out = conn.data_to_send()
            if out:
                self.sock.sendall(out)
        msg = None
        if len(data) >= 5:
            msg = data[5:5 + struct.unpack("!I", data[1:5])[0]]
        return int(headers.get("grpc-status", "2")), headers.get("grpc-message", ""), msg


def h2_unary(sock, path, request, timeout=10):
    """One gRPC unary call on a fresh HTTP/2 connection over `sock`."""
    return H2Client(sock).unary(path, request, timeout)
