"""Bad answers from a Podman service, on a real Podman (scripts/podman-test)
seen through a fault-injecting proxy on a unix socket: each fault gives one
clear log line and deletes nothing; once the fault clears, enroller catches
up (which shows the test would see a deletion).

  - the event stream cut mid-stream (the service dying under it),
  - an API version the service does not serve (HTTP 400 on every /vX.Y/ path),
  - an inspect answering HTTP 500 that is not "no such container".
"""

import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

DEADLINE = 60.0  # any one awaited condition: generous, a loaded machine only makes it slower

MANUAL = """kind: app
version: v3
metadata:
  name: manual-ops
spec:
  uri: http://ops.example:8080
"""


def wait_for(pred, what, timeout=DEADLINE):
    return harness.wait_for(pred, timeout=timeout, what=what)


class FaultProxy:
    """Forwards each HTTP request to the Podman socket (one request per
    connection: "Connection: close" is forced), unless fault(path) returns
    (status, json body), which is answered instead.  cut() closes every open
    connection at once, mid-stream."""

    def __init__(self, path, upstream):
        self.path = path
        self.upstream = upstream
        self.fault = lambda p: None
        self.lock = threading.Lock()
        self.open = set()
        self.faulted = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(64)
        self.closed = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        up = None
        with self.lock:
            self.open.add(c)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                b = c.recv(65536)
                if not b:
                    return
                head += b
            head, _, _rest = head.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            f = self.fault(path)
            if f is not None:
                status, body = f
                data = json.dumps(body).encode()
                self.faulted.append(path)
                c.sendall(b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s" % (status, len(data), data))
                return
            kept = [l for l in lines[1:] if not l.lower().startswith("connection:")]
            req = "\r\n".join([lines[0]] + kept + ["Connection: close", "", ""]).encode("latin-1")
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.upstream)
            with self.lock:
                self.open.add(up)
            up.sendall(req)
            while True:
                b = up.recv(65536)
                if not b:
                    return
                c.sendall(b)
        except OSError:
            return
        finally:
            with self.lock:
                self.open.discard(c)
                self.open.discard(up)
            for s in (c, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def cut(self):
        with self.lock:
            socks = list(self.open)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.srv.close()
        self.cut()


class PodmanFaults(unittest.TestCase):
    def test_bad_answers_delete_nothing(self):
        with harness.Cluster(engine="podman") as cl:
            podman_sock = cl.docker_host[len("unix://"):]
            proxy = FaultProxy(os.path.join(cl.tmp, "proxy.sock"), podman_sock)
            self.addCleanup(proxy.close)
            path = os.path.join(cl.tmp, "manual.yaml")
            with open(path, "w") as f:
                f.write(MANUAL)
            cl.tctl("create", "-f", path)
            manual_rev = cl.apps()["manual-ops"]["metadata"].get("revision")

            cl.run_container("rmq1")
            cl.run_container("rmq2")
            en = cl.start_enroller(resync=1, docker_host="unix://" + proxy.path)
            wait_for(lambda: {"rabbitmq-rmq1", "rabbitmq-rmq2"} <= set(cl.apps()), "both apps")
            wait_for(lambda: "resync done: docker complete" in en.log(), "a complete resync")

            def deletes():
                return harness.calls(cl.counters(), "DeleteApp")

            def resyncs_after(n, what):
                base = en.log().count("resync done:")
                wait_for(lambda: en.log().count("resync done:") >= base + n, what)

            # 1. The event stream is cut mid-stream: one line, then it resumes.
            proxy.cut()
            wait_for(lambda: "event stream ended" in en.log(), "the cut stream reported")
            line = [l for l in en.log().splitlines() if "event stream ended" in l][-1]
            harness.log("cut mid-stream: " + line[line.find("event stream"):])
            resyncs_after(2, "resyncs after the cut")
            self.assertEqual(deletes(), 0)
            self.assertEqual({"rabbitmq-rmq1", "rabbitmq-rmq2"} & set(cl.apps()),
                             {"rabbitmq-rmq1", "rabbitmq-rmq2"})

            # 2. An API version the service does not serve: 400 on every
            # versioned path, while rmq1 stops.  Nothing can be listed, so
            # nothing is deleted; the line says why.
            unsupported = {"cause": "unsupported API version",
                           "message": "API version 1.41 is not supported by this service", "response": 400}
            proxy.fault = lambda p: (400, unsupported) if p.startswith("/v") else None
            proxy.cut()
            cl.docker("stop", "-t", "1", "rmq1")
            wait_for(lambda: "list containers: GET /containers/json: HTTP 400: API version 1.41 is not "
                             "supported by this service" in en.log(), "the list's 400 reported")
            wait_for(lambda: "event stream ended: GET /events: HTTP 400: API version 1.41" in en.log(),
                     "the stream's 400 reported")
            resyncs_after(3, "resyncs during the 400s")
            self.assertIn("resync done: docker INCOMPLETE", en.log())
            self.assertIn("rabbitmq-rmq1", cl.apps(), "deleted while the service refused the API version")
            self.assertEqual(deletes(), 0)
            line = [l for l in en.log().splitlines() if "list containers:" in l][-1]
            harness.log("unsupported API version: " + line[line.find("list containers"):])
            proxy.fault = lambda p: None
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), "rmq1's app to go once the service answers")
            self.assertEqual(deletes(), 1)

            # 3. An inspect answering 500 that is not "no such container": the
            # container is unknown, its app stays.  rmq2 loses its only
            # network, which would take its app away.
            rmq2 = cl.docker("inspect", "-f", "{{.Id}}", "rmq2")
            locked = {"cause": "database is locked",
                      "message": "inspecting container %s: database is locked" % rmq2, "response": 500}
            proxy.fault = lambda p: (500, locked) if "/containers/%s/json" % rmq2 in p else None
            n_faulted = len(proxy.faulted)
            cl.docker("network", "disconnect", harness.NETWORK, "rmq2")
            wait_for(lambda: "HTTP 500: inspecting container %s: database is locked" % rmq2 in en.log(),
                     "the inspect's 500 reported")
            resyncs_after(3, "resyncs during the 500s")
            self.assertGreater(len(proxy.faulted), n_faulted)
            self.assertIn("rabbitmq-rmq2", cl.apps(), "deleted on an inspect that failed")
            self.assertEqual(deletes(), 1)
            line = [l for l in en.log().splitlines() if "database is locked" in l][-1]
            harness.log("inspect 500: " + line[line.find("inspect"):])
            proxy.fault = lambda p: None
            wait_for(lambda: "rabbitmq-rmq2" not in cl.apps(), "rmq2's app to go once inspect answers")

            apps = cl.apps()
            self.assertEqual(apps["manual-ops"]["metadata"].get("revision"), manual_rev)
            self.assertTrue(en.alive())
            self.assertEqual(en.stop(), 0)
            self.assertNotIn("AddressSanitizer", en.log())


if __name__ == "__main__":
    unittest.main()
