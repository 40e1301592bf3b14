#!/usr/bin/python3
"""e2e (bad input): the C Teleport client against a scripted TLS + HTTP/2
server (python3-h2) that misbehaves on the first call of each connection:
a trailer without grpc-status, a truncated message, an oversized message,
RST_STREAM, a malformed HTTP/2 frame, a server certificate from another CA,
and a wrong server name.  Each must be a clear error on that call, the
connection reset only where needed (a malformed frame), the next call
working, and no crash (the driver exits 0).  Loopback only.
"""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import h2.config
import h2.connection
import h2.events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_teleport_client as ttc  # noqa: E402

check = ttc.check
FIX = os.path.join(ttc.SRC, "spec", "fixtures", "identity")


def frame(msg):
    return b"\0" + len(msg).to_bytes(4, "big") + msg


# PingResponse{ClusterName "scripted"}: field 1, string.
PING_OK = frame(b"\x0a\x08scripted")


class Server:
    def __init__(self, scenario, cert, key):
        self.scenario = scenario
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        self.ctx = ctx
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.conns = 0
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stop:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(s, self.conns), daemon=True).start()

    def serve(self, raw, n):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, validate_inbound_headers=False))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        first = True
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.StreamEnded):
                        sid = ev.stream_id
                        if first and n == 1:
                            first = False
                            if self.bad(conn, s, sid):
                                return
                        else:
                            self.reply(conn, sid, PING_OK, [("grpc-status", "0")])
                s.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            s.close()

    @staticmethod
    def reply(conn, sid, body, trailers):
        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        if body:
            conn.send_data(sid, body)
        conn.send_headers(sid, trailers, end_stream=True)

    def bad(self, conn, s, sid):
        sc = self.scenario
        if sc == "no_status":
            self.reply(conn, sid, PING_OK, [("x-other", "1")])
        elif sc == "truncated":
            self.reply(conn, sid, b"\0\0\0\0\x64" + b"x" * 10, [("grpc-status", "0")])
        elif sc == "oversized":
            self.reply(conn, sid, b"\0" + (5 << 20).to_bytes(4, "big") + b"y" * 1000, [("grpc-status", "0")])
        elif sc == "rst":
            conn.reset_stream(sid, error_code=2)
        elif sc == "garbage":
            s.sendall(conn.data_to_send())
            # A DATA frame on stream 0: a connection error (PROTOCOL_ERROR) in HTTP/2.
            s.sendall(b"\x00\x00\x04\x00\x00\x00\x00\x00\x00abcd")
            return False
        return False


def live(addr, identity, *steps, opts=()):
    p = subprocess.run([ttc.LIVE] + list(opts) + [addr, identity] + list(steps), capture_output=True, text=True,
                       timeout=60)
    import json
    out = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return p.returncode, out, p.stderr


def main():
    if not os.path.exists(ttc.LIVE):
        print("missing %s" % ttc.LIVE)
        return 1
    tmp = tempfile.mkdtemp(prefix="e2e-tbad-")
    servers = []
    try:
        ident = os.path.join(tmp, "id")
        shutil.copy(os.path.join(FIX, "valid_rsa.identity"), ident)
        os.chmod(ident, 0o600)
        cert, key = os.path.join(FIX, "server.pem"), os.path.join(FIX, "server.key")

        cases = {
            "no_status": ("INTERNAL", "reply without grpc-status"),
            "truncated": ("INTERNAL", "stream ended inside a message (10 of 100 bytes)"),
            "oversized": ("RESOURCE_EXHAUSTED", "message of 5242880 bytes exceeds the limit of 4194304"),
            "rst": ("INTERNAL", "reset"),
            "garbage": ("UNAVAILABLE", "HTTP/2 protocol error from the server"),
        }
        for sc, (code, text) in cases.items():
            srv = Server(sc, cert, key)
            servers.append(srv)
            rc, r, err = live(srv.addr, ident, "ping", "ping", "info", opts=["--timeout-ms", "3000"])
            check(rc == 0 and len(r) == 4, "%s: the driver ran every step (rc %d)" % (sc, rc))
            if len(r) < 4:
                print(err[-800:])
                continue
            check(not r[1]["ok"] and r[1]["grpc_status"] == code and text in r[1]["msg"],
                  "%s: clear error on that call: %s %s" % (sc, r[1].get("grpc_status"), r[1].get("msg")))
            check(r[2]["ok"] and r[2]["cluster"] == "scripted", "%s: the next call works" % sc)
            want_conns = 2 if sc == "garbage" else 1
            check(r[3]["connects"] == want_conns,
                  "%s: %s" % (sc, "connection reset and reopened" if want_conns == 2 else "connection kept"))

        # A server certificate from another CA.
        other_key, other_cert = os.path.join(tmp, "o.key"), os.path.join(tmp, "o.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", other_key,
                        "-out", other_cert, "-subj", "/CN=teleport.cluster.local", "-days", "1",
                        "-addext", "subjectAltName=DNS:teleport.cluster.local"], check=True, capture_output=True)
        srv = Server("none", other_cert, other_key)
        servers.append(srv)
        rc, r, err = live(srv.addr, ident, "ping")
        check(rc == 0 and not r[1]["ok"] and "server certificate not trusted" in r[1]["msg"],
              "server cert from another CA refused: %s" % (r[1].get("msg") if len(r) > 1 else err[-300:]))
        # The right CA, the wrong name.
        srv = Server("none", cert, key)
        servers.append(srv)
        rc, r, err = live(srv.addr, ident, "ping", opts=["--server-name", "auth.example.com"])
        check(rc == 0 and not r[1]["ok"] and "server certificate not trusted" in r[1]["msg"]
              and "auth.example.com" in r[1]["msg"], "wrong server name refused: %s" % r[1].get("msg"))
    finally:
        for s in servers:
            s.stop = True
            s.ls.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(ttc.failures))
    return 1 if ttc.failures else 0


if __name__ == "__main__":
    sys.exit(main())
