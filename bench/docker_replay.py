#!/usr/bin/python3
"""Docker Engine API replay server for the scale benchmark.

    bench/docker_replay.py --socket PATH -n N [--prefix rmq] [--ready FILE]
    bench/docker_replay.py --socket PATH --proxy UPSTREAM_SOCK [--ready FILE]

Serves, over HTTP/1.1 on a unix socket, N running containers made from the
recorded documents in spec/fixtures/docker/ (Engine API 1.41, docker.io
20.10.24): each is inspect_rabbitmq.json / the first entry of
containers_list_running.json with its own id, name (rmq-00000 ...; --prefix
picks the part before the dash, so several replay servers, one per simulated
host, serve distinct containers), hostname, alias and IPv4 address.  Nothing else about them differs, so every
container matches rules/rabbitmq.lua and wants one app.

Paths (an optional /vX.Y prefix is accepted, as dockerd does):
  GET /_ping                  "OK", header Api-Version: 1.41
  GET /containers/json        the N list entries
  GET /containers/{id}/json   the inspect document (404 for unknown ids)
  GET /events                 chunked stream that stays open, no events
  GET /_replay/counters       {"path template": count} of the requests above
  POST /_replay/reset         zero the counters

--proxy: no replay; every connection is relayed byte for byte to the real
engine's unix socket, and the requests seen on it are counted under the same
path templates (GET /_replay/counters and POST /_replay/reset on the proxy
socket are answered by the proxy itself, on a connection of their own).  This
counts the Docker calls enroller makes to a real dockerd.

Writes "ready" to --ready FILE once listening.  SIGTERM stops it.  Only the
unix socket is used: no TCP at all.
"""
import argparse
import hashlib
import json
import os
import re
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(os.path.dirname(HERE), "spec", "fixtures", "docker")
VERSION_RE = re.compile(r"^/v\d+\.\d+(/.*)$")


class Replay:
    def __init__(self, n, prefix="rmq"):
        self.prefix = prefix
        with open(os.path.join(FIX, "inspect_rabbitmq.json")) as f:
            self.inspect_tpl = json.load(f)
        with open(os.path.join(FIX, "containers_list_running.json")) as f:
            self.list_tpl = json.load(f)[0]
        self.net = next(iter(self.inspect_tpl["NetworkSettings"]["Networks"]))
        seed = "replay-" if prefix == "rmq" else "replay-%s-" % prefix
        self.ids = [hashlib.sha256(b"%s%d" % (seed.encode(), i)).hexdigest() for i in range(n)]
        self.index = {cid: i for i, cid in enumerate(self.ids)}
        self.list_body = json.dumps([self.list_entry(i) for i in range(n)]).encode()
        self.lock = threading.Lock()
        self.counters = {}

    def name(self, i):
        return "%s-%05d" % (self.prefix, i)

    @staticmethod
    def ip(i):
        # 10.64.0.2 upwards: a /10 holds far more than any N we use.
        v = (10 << 24) | (64 << 16) | (i + 2)
        return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)

    def list_entry(self, i):
        e = json.loads(json.dumps(self.list_tpl))
        e["Id"] = self.ids[i]
        e["Names"] = ["/" + self.name(i)]
        e["Image"] = self.inspect_tpl["Config"]["Image"]
        e["Labels"] = dict(self.inspect_tpl["Config"]["Labels"] or {})
        e["Ports"] = []
        e["HostConfig"] = {"NetworkMode": self.net}
        net = dict(self.inspect_tpl["NetworkSettings"]["Networks"][self.net])
        net["IPAddress"] = self.ip(i)
        e["NetworkSettings"] = {"Networks": {self.net: net}}
        return e

    def inspect(self, i):
        d = json.loads(json.dumps(self.inspect_tpl))
        cid = self.ids[i]
        d["Id"] = cid
        d["Name"] = "/" + self.name(i)
        d["Config"]["Hostname"] = self.name(i)
        net = d["NetworkSettings"]["Networks"][self.net]
        net["IPAddress"] = self.ip(i)
        net["Aliases"] = [cid[:12], self.name(i)]
        return json.dumps(d).encode()

    def count(self, key):
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "docker-replay"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def reply(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        rp = self.server.replay
        path = self.path.split("?", 1)[0]
        m = VERSION_RE.match(path)
        if m:
            path = m.group(1)
        if path == "/_replay/reset":
            with rp.lock:
                rp.counters = {}
            return self.reply(200, b"{}")
        self.reply(404, b'{"message":"not replayed"}')

    def do_GET(self):
        rp = self.server.replay
        path = self.path.split("?", 1)[0]
        m = VERSION_RE.match(path)
        if m:
            path = m.group(1)
        if path == "/_replay/counters":
            with rp.lock:
                body = json.dumps(rp.counters).encode()
            return self.reply(200, body)
        if path == "/_ping":
            rp.count("/_ping")
            return self.reply(200, b"OK", "text/plain; charset=utf-8")
        if path == "/containers/json":
            rp.count("/containers/json")
            return self.reply(200, rp.list_body)
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "containers" and parts[3] == "json":
            rp.count("/containers/{id}/json")
            i = rp.index.get(parts[2])
            if i is None:
                return self.reply(404, b'{"message":"No such container: %s"}' % parts[2].encode())
            return self.reply(200, rp.inspect(i))
        if path == "/events":
            rp.count("/events")
            self.send_response(200)
            self.send_header("Api-Version", "1.41")
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self.server.stopping.wait()
            self.close_connection = True
            return
        self.reply(404, b'{"message":"not replayed"}')


REQ_RE = re.compile(rb"(GET|POST|HEAD|PUT|DELETE) (\S+) HTTP/1\.[01]\r\n")


def template(path):
    path = path.split("?", 1)[0]
    m = VERSION_RE.match(path)
    if m:
        path = m.group(1)
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "containers" and parts[3] == "json":
        return "/containers/{id}/json"
    return path


class ProxyHandler(socketserver.BaseRequestHandler):
    """Relays one client connection to the engine, counting its requests."""

    def handle(self):
        import socket
        srv = self.server
        client = self.request
        first = client.recv(65536)
        if not first:
            return
        m = REQ_RE.match(first)
        if m and template(m.group(2).decode()) in ("/_replay/counters", "/_replay/reset"):
            if m.group(1) == b"POST":
                with srv.lock:
                    srv.counters = {}
                body = b"{}"
            else:
                with srv.lock:
                    body = json.dumps(srv.counters).encode()
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\n"
                           b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(srv.upstream)

        def count(data, tail):
            # tail: what followed the last request line seen (a line cut by recv)
            buf = tail + data
            end = 0
            for mm in REQ_RE.finditer(buf):
                key = template(mm.group(2).decode(errors="replace"))
                with srv.lock:
                    srv.counters[key] = srv.counters.get(key, 0) + 1
                end = mm.end()
            return buf[end:][-300:]

        def down():
            try:
                while True:
                    d = up.recv(65536)
                    if not d:
                        break
                    client.sendall(d)
            except OSError:
                pass
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=down, daemon=True)
        t.start()
        tail = count(first, b"")
        try:
            up.sendall(first)
            while True:
                d = client.recv(65536)
                if not d:
                    break
                tail = count(d, tail)
                up.sendall(d)
        except OSError:
            pass
        try:
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        t.join()
        up.close()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024  # enroller opens many connections at once


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("-n", type=int)
    ap.add_argument("--proxy", metavar="UPSTREAM_SOCK")
    ap.add_argument("--prefix", default="rmq", help="container names are PREFIX-00000 ... (default rmq)")
    ap.add_argument("--ready")
    args = ap.parse_args()
    if not re.match(r"^[a-z0-9]{1,20}$", args.prefix):
        ap.error("--prefix: lowercase letters and digits only, 1-20 of them")
    if (args.n is None) == (args.proxy is None):
        ap.error("give exactly one of -n and --proxy")
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    if args.proxy:
        srv = Server(args.socket, ProxyHandler)
        srv.upstream = args.proxy
        srv.lock = threading.Lock()
        srv.counters = {}
    else:
        srv = Server(args.socket, Handler)
        srv.replay = Replay(args.n, args.prefix)
    srv.stopping = threading.Event()

    def stop(*_):
        srv.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("ready\n")
        os.rename(args.ready + ".tmp", args.ready)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        try:
            os.unlink(args.socket)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
