#!/usr/bin/python3
"""e2e: docker_client over tcp:// (plain and TLS with client certificates, as
DOCKER_CERT_PATH works) against a small Engine-API imitation on 127.0.0.1.
No dockerd is needed: Debian's dockerd cannot be given test certificates
without also listening on TCP, and the imitation lets us check the TLS
failure cases too.

Certificates are made with the openssl CLI in a temp dir.  Checks:
  * plain tcp: ping (version clamped to our 1.43), list, inspect;
  * TLS with ca.pem/cert.pem/key.pem: the same, and the server saw the client cert;
  * TLS with a foreign CA: a clear certificate error, exit 1;
  * a plain client against the TLS port: an error, not a hang.
"""
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("ENR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ENR_BUILD_DIR", os.path.join(SRC, "build"))
DRIVER = os.path.join(BUILD, "live_docker_client")
FIXTURE = os.path.join(SRC, "spec", "fixtures", "docker", "inspect_rabbitmq.json")

seen_paths = []
seen_client_cn = []


class Engine(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        seen_paths.append(self.path)
        peer = getattr(self.connection, "getpeercert", None)
        if peer and peer():
            seen_client_cn.append(dict(x[0] for x in peer()["subject"])["commonName"])
        if self.path == "/_ping":
            self.reply(200, "OK", [("Api-Version", "1.44")])
        elif self.path == "/v1.43/containers/json":
            self.reply(200, json.dumps([{"Id": "abc"}]))
        elif self.path == "/v1.43/containers/abc/json":
            with open(FIXTURE) as f:
                self.reply(200, f.read())
        else:
            self.reply(404, json.dumps({"message": "no route " + self.path}))


def serve(ctx=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    srv.daemon_threads = True
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_pki(d):
    """ca.pem + server cert for IP 127.0.0.1 + client cert, and a foreign CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{d}/{ca}-key.pem", "-out", f"{d}/{ca}.pem",
                "-days", "2", "-subj", f"/CN=enroller-{ca}")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", f"{d}/{name}-key.pem", "-out", f"{d}/{name}.csr",
                "-subj", f"/CN=enroller-test-{name}")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey",
                f"{d}/ca-key.pem", "-CAcreateserial", "-out", f"{d}/{name}-cert.pem", "-days", "2",
                "-extfile", f"{d}/{name}.ext")
    good = os.path.join(d, "docker-certs")
    bad = os.path.join(d, "docker-certs-foreign-ca")
    for cd, ca in ((good, "ca.pem"), (bad, "other-ca.pem")):
        os.mkdir(cd)
        shutil.copy(f"{d}/{ca}", f"{cd}/ca.pem")
        shutil.copy(f"{d}/client-cert.pem", f"{cd}/cert.pem")
        shutil.copy(f"{d}/client-key.pem", f"{cd}/key.pem")
    return good, bad


def run_driver(*args):
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CERT_PATH", None)
    t0 = time.monotonic()
    p = subprocess.run([DRIVER, "--timeout-ms", "3000", "--seconds", "0"] + list(args),
                       capture_output=True, text=True, timeout=30, env=env)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return p.returncode, lines, time.monotonic() - t0, p.stderr


def check_ok(rc, lines, stderr):
    assert rc == 0, (rc, lines, stderr)
    ops = [o["op"] for o in lines]
    assert ops == ["ping", "list", "inspect", "done"], lines
    assert lines[0]["api_version"] == "1.43", lines[0]
    assert lines[1]["ids"] == ["abc"], lines[1]
    assert lines[2]["name"] == "rabbitmq" and lines[2]["image"] == "rabbitmq:3-management", lines[2]


def main():
    assert os.access(DRIVER, os.X_OK), "build live_docker_client first: " + DRIVER
    tmp = tempfile.mkdtemp(prefix="enr-e2e-tcp.")
    servers = []
    try:
        good, bad = make_pki(tmp)

        plain = serve()
        servers.append(plain)
        rc, lines, _, err = run_driver("--host", "tcp://127.0.0.1:%d" % plain.server_port)
        check_ok(rc, lines, err)
        assert seen_paths[:3] == ["/_ping", "/v1.43/containers/json", "/v1.43/containers/abc/json"], seen_paths

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{tmp}/server-cert.pem", f"{tmp}/server-key.pem")
        ctx.load_verify_locations(f"{tmp}/ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
        tls = serve(ctx)
        servers.append(tls)
        host = "tcp://127.0.0.1:%d" % tls.server_port

        rc, lines, _, err = run_driver("--host", host, "--cert-path", good)
        check_ok(rc, lines, err)
        assert "enroller-test-client" in seen_client_cn, seen_client_cn

        rc, lines, took, err = run_driver("--host", host, "--cert-path", bad)
        assert rc == 1, (rc, lines, err)
        assert lines[0]["op"] == "error" and lines[0]["stage"] == "ping", lines
        msg = lines[0]["message"]
        assert msg.startswith("GET /_ping: %s: " % host), msg
        assert "certificate" in msg.lower() or "ssl" in msg.lower(), msg
        # Refused in the handshake, not left to the 3 s request timeout.
        assert "timed out" not in msg.lower(), (msg, took)

        rc, lines, took, err = run_driver("--host", host)  # plain HTTP to a TLS port
        assert rc == 1, (rc, lines, err)
        assert lines[0]["op"] == "error" and lines[0]["message"].startswith("GET /_ping: "), lines
        assert "timed out" not in lines[0]["message"].lower(), (lines, took)
        print("test_docker_client_tcp: ok")
        return 0
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
