#!/usr/bin/python3
"""The bad-input corpus (spec/bad/): each case is a directory with its
inputs and an `expect` file; the case is copied to a fresh directory,
enroller runs there, and the test checks the exit status, that the exact
expected line was printed once (a log line is compared without its time
stamp), that no second error line came with it, nothing crashed, and that
nothing was written to Teleport (the stand-in's call counters, or the
scripted server's list of calls).

A case directory holds:
  config.lua   the config; @DOCKER@ and @AUTH@ are replaced by the fake
               Docker engine's host and the Teleport address
  rules/ ...   rule files, identity files, anything the config names
  setup        optional, one directive a line:
                 cmd ARGS...          enroller's arguments before -c (default: run --once)
                 config PATH          what -c names (default: config.lua)
                 docker MODE          the fake engine: ok (no containers), one (one
                                      container: the case's inspect.json if it has one, else
                                      spec/fixtures/docker/inspect_rabbitmq.json), notjson
                                      (the container list is not JSON), absent (no engine
                                      behind the socket)
                 teleport MODE        standin (default) or badproto (a scripted server
                                      whose every reply is a protobuf that does not decode)
                 identity NAME        ./identity is spec/fixtures/identity/NAME instead
                                      of one the stand-in signed; `identity foreign`: a
                                      certificate from another cluster's user CA (the
                                      stand-in's host CA trusted), `identity none`: no file
                 copy REPO_PATH PATH  a file of the repository (a shipped rule) into the case
                 chmod MODE PATH | fifo PATH | symlink PATH TARGET | mkdir PATH
                 truncate PATH SIZE   a file of SIZE zero bytes (sparse; nothing large in git)
  expect       `exit N` and `line TEXT`: the exit status and the exact line; in TEXT
               @DIR@ is the case's directory, @TIME@ any RFC 3339 UTC time, @AUTH@ the
               Teleport address and @ANY@ any text (what the kernel or OpenSSL adds);
               `absent TEXT` (any number): TEXT appears nowhere in the output;
               `others ok`: other output lines may be there when each is a check's
               `...: ok (...)` (check --connect reports every endpoint)

Loopback and unix sockets only."""
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

SRC = harness.SRC
BAD = os.path.join(SRC, "spec", "bad")
FIX = os.path.join(SRC, "spec", "fixtures")
ENROLLER = os.environ.get("ENR_ENROLLER") or os.path.join(harness.BUILD, "enroller")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")
OK_LINE = re.compile(r"^\S+ \S+: ok \(.*\)$")
WRITES = ("Create", "Update", "Upsert", "Delete")


# ---- a fake Docker engine on a unix socket ----------------------------------------

class DockerHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", "1.43")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        mode, inspect = self.server.mode, self.server.inspect
        path = self.path.split("?", 1)[0]
        cid = inspect["Id"]
        if path.endswith("/_ping"):
            self.send(200, b"OK", "text/plain")
        elif path.endswith("/containers/json"):
            if mode == "notjson":
                self.send(200, b"<html><body>502 Bad Gateway</body></html>\n", "text/html")
            elif mode == "one":
                self.send(200, json.dumps([{"Id": cid, "Names": ["/" + inspect["Name"].lstrip("/")],
                                            "Image": inspect["Config"]["Image"], "State": "running"}]).encode())
            else:
                self.send(200, b"[]")
        elif path.endswith("/containers/%s/json" % cid) and mode == "one":
            self.send(200, json.dumps(inspect).encode())
        elif path.endswith("/events"):
            # A live stream that sends nothing until the engine goes away.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Api-Version", "1.43")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self.server.closing.wait()
            self.close_connection = True
        else:
            self.send(404, b'{"message":"no such object"}')


class FakeDocker(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path, mode, inspect=None):
        self.mode = mode
        self.closing = threading.Event()
        with open(inspect or os.path.join(FIX, "docker", "inspect_rabbitmq.json")) as f:
            self.inspect = json.load(f)
        super().__init__(path, DockerHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port)


# ---- a Teleport Auth whose replies do not decode -------------------------------------

class BadProtoAuth:
    """TLS + HTTP/2 (python3-h2) with the fixtures' server certificate; every
    call gets HTTP 200, one gRPC message that is not valid protobuf, and
    grpc-status 0.  Records each call's path."""

    def __init__(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(FIX, "identity", "server.pem"), os.path.join(FIX, "identity", "server.key"))
        ctx.set_alpn_protocols(["h2"])
        self.ctx = ctx
        self.calls = []
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.ls.close()

    def accept_loop(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        paths = {}
        try:
            s.sendall(conn.data_to_send())
            while True:
                data = s.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        paths[ev.stream_id] = dict(ev.headers).get(b":path", b"").decode()
                    elif isinstance(ev, h2.events.StreamEnded):
                        sid = ev.stream_id
                        self.calls.append(paths.get(sid, ""))
                        # Field 1, wire type 2 (length-delimited), length 100, 3 bytes: cut short.
                        bad = b"\x0a\x64abc"
                        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                        conn.send_data(sid, b"\0" + len(bad).to_bytes(4, "big") + bad)
                        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
                s.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            s.close()


# ---- the cases ---------------------------------------------------------------------------

def read_expect(path):
    exit_code, line, absent, others_ok = None, None, [], False
    with open(path) as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if raw.startswith("exit "):
                exit_code = int(raw[5:])
            elif raw.startswith("line "):
                line = raw[5:]
            elif raw.startswith("absent "):
                absent.append(raw[7:])
            elif raw == "others ok":
                others_ok = True
            elif raw.strip():
                raise ValueError("%s: unknown line %r" % (path, raw))
    if exit_code is None or line is None:
        raise ValueError("%s: needs `exit N` and `line TEXT`" % path)
    return exit_code, line, absent, others_ok


def write_counts(counters):
    """Calls of write methods (any result) in the stand-in's counters."""
    return {m: sum(v.values()) for m, v in counters.items() if m.split("/")[-1].startswith(WRITES)}


class BadCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = harness.Cluster(owner="bad-corpus")
        cls.addClassCleanup(cls.cl.close)
        cls.cl.start_standin()
        cls.cl.sign_identity()

    def write_foreign_identity(self, path):
        """An identity whose client certificate another cluster's user CA
        signed; the stand-in's host CA is trusted, so only Auth can refuse it."""
        sys.path.insert(0, os.path.join(SRC, "spec", "standin"))
        import pki  # noqa: E402
        foreign = pki.Cluster.create(tempfile.mkdtemp(prefix="enr-foreign-", dir=self.cl.tmp), "foreign.example")
        ours = pki.Cluster(self.cl.state)
        p = foreign.sign_parts(self.cl.user, ["register-apps"], 7200)
        pki.write_private(path, pki.encode_identity_file(p["key"], p["ssh_cert"], p["tls_cert"],
                                                         ours.host_ca_ssh_lines(), ours.host_ca_pems()))

    def run_case(self, name):
        src = os.path.join(BAD, name)
        tmp = tempfile.mkdtemp(prefix="enr-bad-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        d = os.path.join(tmp, name)
        shutil.copytree(src, d, symlinks=True)
        args, cfg, docker_mode, auth_mode = ["run", "--once"], "config.lua", "ok", "standin"
        ident = self.cl.identity
        later = []
        if os.path.exists(os.path.join(d, "setup")):
            with open(os.path.join(d, "setup")) as f:
                for raw in f:
                    w = raw.split()
                    if not w or w[0].startswith("#"):
                        continue
                    if w[0] == "cmd":
                        args = w[1:]
                    elif w[0] == "config":
                        cfg = w[1]
                    elif w[0] == "docker":
                        docker_mode = w[1]
                    elif w[0] == "teleport":
                        auth_mode = w[1]
                    elif w[0] == "identity":
                        ident = w[1] if w[1] in ("foreign", "none") else os.path.join(FIX, "identity", w[1])
                    elif w[0] in ("chmod", "fifo", "symlink", "mkdir", "copy", "truncate"):
                        later.append(w)
                    else:
                        self.fail("%s/setup: unknown directive %r" % (name, raw))
        if ident == "foreign":
            self.write_foreign_identity(os.path.join(d, "identity"))
        elif ident != "none":
            shutil.copy(ident, os.path.join(d, "identity"))
            os.chmod(os.path.join(d, "identity"), 0o600)
        for w in later:
            p = os.path.join(d, w[-1] if w[0] not in ("symlink", "truncate") else w[1])
            if w[0] == "chmod":
                os.chmod(p, int(w[1], 8))
            elif w[0] == "fifo":
                os.mkfifo(p)
            elif w[0] == "symlink":
                os.symlink(w[2], p)
            elif w[0] == "truncate":
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.truncate(int(w[2]))
            elif w[0] == "copy":
                os.makedirs(os.path.dirname(p), exist_ok=True)
                shutil.copy(os.path.join(SRC, w[1]), p)
            else:
                os.makedirs(p, exist_ok=True)

        sock = os.path.join(d, "docker.sock")
        if docker_mode != "absent":
            inspect = os.path.join(d, "inspect.json")
            docker = FakeDocker(sock, docker_mode, inspect if os.path.exists(inspect) else None)
            self.addCleanup(docker.server_close)
            self.addCleanup(docker.shutdown)
            self.addCleanup(docker.closing.set)
        auth = None
        addr = self.cl.auth_addr
        if auth_mode == "badproto":
            auth = BadProtoAuth()
            self.addCleanup(auth.close)
            addr = auth.addr
        cpath = os.path.join(d, "config.lua")
        if os.path.isfile(cpath):
            with open(cpath) as f:
                text = f.read()
            with open(cpath, "w") as f:
                f.write(text.replace("@DOCKER@", "unix://" + sock).replace("@AUTH@", addr))

        before = write_counts(self.cl.counters())
        r = subprocess.run([ENROLLER] + args + ["-c", cfg], cwd=d, capture_output=True, text=True,
                           timeout=harness.CMD_DEADLINE, stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        want_exit, want_line, absent, others_ok = read_expect(os.path.join(src, "expect"))
        pattern = re.compile(re.escape(want_line).replace(re.escape("@DIR@"), re.escape(d))
                             .replace(re.escape("@TIME@"), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
                           .replace(re.escape("@AUTH@"), re.escape(addr)).replace(re.escape("@ANY@"), ".*") + "$")
        lines = [STAMP.sub("", l) for l in out.splitlines()]
        self.assertNotIn("Sanitizer", out)
        for text in absent:
            self.assertNotIn(text, out, "%s: %r must not be shown" % (name, text))
        self.assertEqual(r.returncode, want_exit, "%s: exit status\n%s" % (name, out))
        self.assertEqual(sum(1 for l in lines if pattern.match(l)), 1,
                         "%s: the line %r, once\n%s" % (name, want_line, out))
        if want_exit != 0:
            # Besides log lines, at most the one expected line.
            plain = [l for l in out.splitlines() if l.strip() and not STAMP.match(l)]
            if others_ok:
                plain = [l for l in plain if not OK_LINE.match(l)]
            self.assertLessEqual(len(plain), 1, "%s: one error line, nothing more\n%s" % (name, out))
            self.assertTrue(all(pattern.match(l) for l in plain), "%s: an unexpected line\n%s" % (name, out))
        self.assertEqual(write_counts(self.cl.counters()), before, "%s: nothing written to Teleport" % name)
        if auth is not None:
            self.assertTrue(auth.calls, "%s: the scripted Auth was called" % name)
            self.assertEqual([c for c in auth.calls if c.split("/")[-1].startswith(WRITES)], [],
                             "%s: nothing written to Teleport" % name)


def add_cases():
    for name in sorted(os.listdir(BAD)):
        if os.path.isdir(os.path.join(BAD, name)):
            setattr(BadCorpus, "test_" + name.replace("-", "_"), lambda self, n=name: self.run_case(n))


add_cases()

if __name__ == "__main__":
    unittest.main(verbosity=2)
