#!/usr/bin/python3
"""e2e: the C Teleport client (src/teleport_client.c over http2_conn, grpc_frame
and identity_file) against the Auth stand-in, through the driver
spec/c/live_teleport_client.c.  Only loopback is used; no dockerd is needed.

Checks: Ping; CreateApp/GetApps/UpdateApp/ListResources(app_server)/DeleteApp
with results confirmed by the stand-in's tctl; gRPC errors carried with status
and message (ALREADY_EXISTS, NOT_FOUND); paging over more than one page of app
servers; one connection reused for all calls; a per-call deadline
(DEADLINE_EXCEEDED while the server is stopped); reconnect after the server
restarts; a wrong server name refused by TLS verification; backoff after a
refused connect; an identity file with loose permissions refused.
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ENR_BUILD_DIR") or os.path.join(SRC, "build")
LIVE = os.environ.get("ENR_LIVE_TELEPORT_CLIENT") or os.path.join(BUILD, "live_teleport_client")
PY = "/usr/bin/python3"
STANDIN = os.path.join(SRC, "spec", "standin", "standin.py")
TCTL = os.path.join(SRC, "spec", "standin", "tctl")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Standin:
    def __init__(self, tmp):
        self.tmp = tmp
        self.state = os.path.join(tmp, "state")
        self.listen = "127.0.0.1:0"
        self.proc = None
        self.extra = []

    def start(self):
        addr_file = os.path.join(self.state, "addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        self.log = open(os.path.join(self.tmp, "standin.log"), "ab")
        # The App Service emulation serves every app: the ListResources(app_server) checks need it.
        self.proc = subprocess.Popen([PY, STANDIN, "--state", self.state, "--listen", self.listen,
                                      "--app-service-labels", "*=*"] + self.extra,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(addr_file):
                with open(addr_file) as f:
                    a = f.read().strip()
                if a:
                    self.addr = self.listen = a
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("stand-in did not start; see " + os.path.join(self.tmp, "standin.log"))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.proc = None

    @property
    def identity(self):
        return os.path.join(self.state, "admin.identity")

    def tctl(self, *args):
        r = subprocess.run([PY, TCTL, "--state", self.state] + list(args), capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise RuntimeError("tctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout


def live(st, *steps, opts=(), identity=None, addr=None, on_line=None, timeout=120, until=None, linger=0.0):
    """Runs the driver; returns its JSON lines (one per step, after "new").

    on_line(rec) sees each line as it comes (live.proc is the driver).  With
    until, the driver is ended (SIGTERM) linger seconds after the first line
    for which until(rec) is true, instead of running out its last steps: a
    long "sleep" step then waits on that line, not on time.  A driver still
    running after timeout seconds is killed and the run fails."""
    cmd = [LIVE] + list(opts) + [addr or st.addr, identity or st.identity] + list(steps)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    live.proc = p
    lines, errs = queue.Queue(), []

    def read_out():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)
    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=lambda: errs.extend(p.stderr), daemon=True)]
    for t in readers:
        t.start()
    out = []
    deadline = time.monotonic() + timeout
    end_at = None
    ended = False
    try:
        while True:
            now = time.monotonic()
            if end_at is not None and now >= end_at:
                p.send_signal(signal.SIGTERM)
                ended = True
                break
            if now >= deadline:
                raise RuntimeError("live_teleport_client %s: still running after %ds" % (" ".join(steps), timeout))
            try:
                line = lines.get(timeout=min(deadline, end_at or deadline) - now)
            except queue.Empty:
                continue
            if line is None:
                break
            rec = json.loads(line)
            out.append(rec)
            if on_line:
                on_line(rec)
            if until is not None and end_at is None and until(rec):
                end_at = time.monotonic() + linger
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for t in readers:
            t.join(30)
    err = "".join(errs)
    live.stderr = err
    p.stderr.close()
    p.stdout.close()
    if p.returncode not in (0, 2) and not (ended and p.returncode == -signal.SIGTERM):
        raise RuntimeError("live_teleport_client exited %d: %s" % (p.returncode, err))
    return out


def apps_by_name(st):
    return {a["metadata"]["name"]: a for a in json.loads(st.tctl("get", "apps", "--format", "json") or "[]")}


def main():
    if not os.path.exists(LIVE):
        print("missing %s (build target live_teleport_client)" % LIVE)
        return 1
    tmp = tempfile.mkdtemp(prefix="e2e-tclient-")
    st = Standin(tmp)
    try:
        st.start()
        os.environ.setdefault("ENR_STANDIN_STATE", st.state)

        # --- CRUD round trip, confirmed through tctl.
        r = live(st, "ping", "create", "web1", "http://127.0.0.1:8080", "create", "web1", "http://127.0.0.1:8080",
                 "get_apps")
        check(r[0]["step"] == "new" and r[0]["ok"] and r[0]["user"] == "admin", "identity loaded (user admin)")
        check(r[1]["ok"] and r[1]["cluster"] == "enroller-test" and r[1]["version"], "Ping returns cluster/version")
        check(r[2]["ok"], "CreateApp web1")
        check(not r[3]["ok"] and r[3]["grpc_status"] == "ALREADY_EXISTS"
              and r[3]["msg"] == 'CreateApp "web1": ALREADY_EXISTS: app "web1" already exists',
              "duplicate CreateApp -> ALREADY_EXISTS with message: %s" % r[3].get("msg"))
        check(live.stderr.count("teleport: connected to") == 1,
              "one connection for four calls: %r" % live.stderr)
        got = {a["name"]: a for a in r[4]["items"]}
        check(r[4]["ok"] and "web1" in got and got["web1"]["uri"] == "http://127.0.0.1:8080"
              and got["web1"]["labels"].get("enroller.dev/owner") == "live-test" and got["web1"]["revision"],
              "GetApps returns web1 with uri, labels, revision")
        apps = apps_by_name(st)
        check("web1" in apps and apps["web1"]["spec"]["uri"] == "http://127.0.0.1:8080"
              and apps["web1"]["metadata"]["labels"]["enroller.dev/container"] == "web1"
              and apps["web1"]["metadata"].get("description") == "created by live_teleport_client",
              "tctl sees web1 as created")

        r = live(st, "update", "web1", "http://127.0.0.1:9090", "list_app_servers", "update", "nope", "http://x")
        check(r[1]["ok"], "UpdateApp web1")
        apps = apps_by_name(st)
        check(apps["web1"]["spec"]["uri"] == "http://127.0.0.1:9090"
              and apps["web1"]["metadata"].get("description") == "updated by live_teleport_client",
              "tctl sees web1 updated")
        srv = [a for a in r[2]["items"] if a["name"] == "web1"]
        # A server is read as the name it serves and its host, nothing more.
        check(r[2]["ok"] and len(srv) == 1 and srv[0]["host_id"] and srv[0]["uri"] == "",
              "ListResources(app_server) lists web1 with a host id")
        check(not r[3]["ok"] and r[3]["grpc_status"] == "NOT_FOUND" and r[3]["msg"].startswith('UpdateApp "nope": NOT_FOUND: '),
              "UpdateApp of a missing app -> NOT_FOUND: %s" % r[3].get("msg"))

        r = live(st, "delete", "web1", "delete", "web1")
        check(r[1]["ok"] and "web1" not in apps_by_name(st), "DeleteApp web1 (gone in tctl)")
        check(not r[2]["ok"] and r[2]["grpc_status"] == "NOT_FOUND", "second DeleteApp -> NOT_FOUND")

        # --- CreateTokenV2: stored with role and expiry; the secret never
        # appears in a message.
        secret = "s3cr3t-" + os.urandom(8).hex()
        t0 = time.time()
        r = live(st, "create_token", secret, "App", "3600", "create_token", secret, "App", "3600")
        check(r[1]["ok"], "CreateTokenV2: %s" % r[1].get("msg"))
        check(not r[2]["ok"] and r[2]["grpc_status"] == "ALREADY_EXISTS" and secret not in r[2]["msg"]
              and secret not in live.stderr,
              "duplicate token -> ALREADY_EXISTS without the secret: %s" % r[2].get("msg"))
        toks = json.loads(st.tctl("get", "tokens", "--format", "json") or "[]")
        tok = [t for t in toks if t["metadata"]["name"] == secret]
        check(len(tok) == 1 and tok[0]["spec"]["roles"] == ["App"], "tctl sees the token with role App")
        # A server message that quotes the token: the client scrubs it.
        st.tctl("faults", "set", "--method", "CreateTokenV2", "--error-rate", "1", "--code", "ALREADY_EXISTS",
                "--message", 'token "%sx" already exists' % secret, "--count", "1")
        r = live(st, "create_token", secret + "x", "App", "60")
        st.tctl("faults", "clear")
        check(not r[1]["ok"] and secret not in r[1]["msg"] and '"<redacted, ' in r[1]["msg"],
              "token quoted by the server is redacted: %s" % r[1].get("msg"))

        # --- paging: more app servers than one page (500).
        n = 520  # the stand-in's tctl create is slow for many apps; 2 pages suffice
        docs = "".join("---\nkind: app\nversion: v3\nmetadata:\n  name: bulk-%04d\n  labels:\n    enroller.dev/owner: bulk\n"
                       "spec:\n  uri: http://127.0.0.1:%d\n" % (i, 10000 + i) for i in range(n))
        path = os.path.join(tmp, "bulk.yaml")
        with open(path, "w") as f:
            f.write(docs)
        st.tctl("create", "-f", path)
        st.tctl("reset-counters")
        r = live(st, "list_app_servers", "get_apps")
        names = sorted(a["name"] for a in r[1]["items"])
        check(r[1]["ok"] and names == ["bulk-%04d" % i for i in range(n)],
              "ListResources(app_server) pages through all %d app servers (got %d)" % (n, len(names)))
        check(r[2]["ok"] and len(r[2]["items"]) == n, "GetApps returns all %d apps" % n)
        counters = json.loads(st.tctl("counters", "--format", "json"))
        pages = sum(counters.get("/proto.AuthService/ListResources", {}).values())
        check(pages == 2, "2 ListResources pages of <= 500 for %d servers (got %d)" % (n, pages))
        # ListApps: the same apps in pages of 500.
        r = live(st, "list_apps")
        names = sorted(a["name"] for a in r[1]["items"]) if r[1]["ok"] else []
        check(r[1]["ok"] and names == ["bulk-%04d" % i for i in range(n)],
              "ListApps pages through all %d apps (got %d)" % (n, len(names)))
        counters = json.loads(st.tctl("counters", "--format", "json"))
        pages = sum(counters.get("/proto.AuthService/ListApps", {}).values())
        check(pages == 2, "2 ListApps pages of <= 500 for %d apps (got %d)" % (n, pages))
        # The same listing handed over page by page.
        r = live(st, "list_app_pages")
        check(r[1]["ok"] and r[1]["pages"] == [500, n - 500] and
              sorted(r[1]["names"]) == ["bulk-%04d" % i for i in range(n)],
              "ListApps page by page: pages %s, %d names" % (r[1].get("pages"), len(r[1].get("names", []))))

        # --- RESOURCE_EXHAUSTED: the page size is halved and the page retried.
        st.tctl("reset-counters")
        st.tctl("faults", "set", "--method", "ListResources", "--error-rate", "1", "--code", "RESOURCE_EXHAUSTED",
                "--count", "2")
        r = live(st, "list_app_servers")
        st.tctl("faults", "clear")
        names = sorted(a["name"] for a in r[1]["items"]) if r[1]["ok"] else []
        check(r[1]["ok"] and names == ["bulk-%04d" % i for i in range(n)],
              "RESOURCE_EXHAUSTED twice, then all %d app servers: %s" % (n, r[1].get("msg", len(names))))
        counters = json.loads(st.tctl("counters", "--format", "json")).get("/proto.AuthService/ListResources", {})
        # 500 -> 250 -> 125: 2 refused pages, then ceil(520 / 125) = 5 pages.
        check(counters.get("RESOURCE_EXHAUSTED") == 2 and counters.get("OK") == 5,
              "halved page size 500 -> 125: %s" % counters)

        # --- deadline: the server is frozen while a call is in flight.
        def freeze_after_first_ping(rec):
            if rec["step"] == "ping" and rec["ok"] and not freeze_after_first_ping.done:
                freeze_after_first_ping.done = True
                st.proc.send_signal(signal.SIGSTOP)
        freeze_after_first_ping.done = False
        t0 = time.monotonic()
        try:
            # The frozen server never answers: without the deadline the call
            # would last until live() kills the driver (120 s).
            # The driver sleeps between the two pings, so the second is sent
            # after the freeze however late this process reads the first line.
            r = live(st, "ping", "sleep", "3000", "ping", opts=["--timeout-ms", "700"],
                     on_line=freeze_after_first_ping)
        finally:
            st.proc.send_signal(signal.SIGCONT)
        elapsed = time.monotonic() - t0
        r = [x for x in r if x["step"] != "sleep"]
        check(r[1]["ok"], "ping before the freeze")
        check(not r[2]["ok"] and r[2]["grpc_status"] == "DEADLINE_EXCEEDED"
              and r[2]["msg"] == "Ping: DEADLINE_EXCEEDED: no reply within 700 ms",
              "call to a frozen server -> DEADLINE_EXCEEDED: %s" % r[2].get("msg"))
        # Generous for a loaded machine (driver start-up included), and far
        # from the 120 s a missing deadline would take.
        check(elapsed < 60, "the deadline ended the call (%.1fs)" % elapsed)

        # --- reconnect: the server restarts (same port) between two calls.
        def restart_after_first(rec):
            if rec["step"] == "ping" and not restart_after_first.done:
                restart_after_first.done = True
                # The driver is held (SIGSTOP) until the stand-in listens again,
                # however long its start-up takes on this machine.
                live.proc.send_signal(signal.SIGSTOP)
                try:
                    st.stop()
                    st.start()
                finally:
                    live.proc.send_signal(signal.SIGCONT)
        restart_after_first.done = False
        # The driver sleeps while the stand-in restarts; a call right after it
        # may fail, the last must work.
        r = live(st, "ping", "sleep", "4000", "ping", "sleep", "1000", "ping", on_line=restart_after_first)
        r = [x for x in r if x["step"] != "sleep"]
        oks = [x["ok"] for x in r[1:]]
        # The call right after the restart may see the old connection's end
        # (UNAVAILABLE); the one after that must be on a new connection.
        check(oks[0] and oks[-1], "reconnects after the server restarted: %s" % r[1:])
        bad = [x for x in r[1:] if not x["ok"] and x["grpc_status"] != "UNAVAILABLE"]
        check(not bad, "only UNAVAILABLE while reconnecting: %s" % bad)

        # --- GOAWAY: the server ages connections out after 1 s; calls go on.
        st.stop()
        st.extra = ["--max-connection-age", "1"]
        st.start()
        r = live(st, "ping", "sleep", "1800", "ping", "sleep", "1800", "ping")
        r = [x for x in r if x["step"] == "ping"]
        check(all(x["ok"] for x in r), "calls succeed across GOAWAY: %s" % r)
        check(live.stderr.count("teleport: connected to") >= 2,
              "a new connection after GOAWAY: %r" % live.stderr)
        st.stop()
        st.extra = []
        st.start()

        # --- TLS: the server's name is verified.
        r = live(st, "ping", opts=["--server-name", "auth.example.com"])
        check(not r[1]["ok"] and r[1]["grpc_status"] == "UNAVAILABLE" and "hostname mismatch" in r[1]["msg"],
              "wrong server name refused: %s" % r[1].get("msg"))

        # --- refused connect, then backoff (fail fast without a new attempt).
        r = live(st, "ping", "ping", addr="127.0.0.1:1")
        check(not r[1]["ok"] and "Connection refused" in r[1]["msg"], "refused connect -> UNAVAILABLE")
        check(not r[2]["ok"] and r[2]["grpc_status"] == "UNAVAILABLE" and "not reconnecting for" in r[2]["msg"],
              "next call inside the backoff fails fast: %s" % r[2].get("msg"))

        # --- identity file permissions.
        loose = os.path.join(tmp, "loose.identity")
        shutil.copy(st.identity, loose)
        os.chmod(loose, 0o644)
        r = live(st, "ping", identity=loose)
        check(not r[0]["ok"] and r[0]["msg"] == "identity file %s: permissions 0644 are too open; want 0600" % loose,
              "loose identity file refused: %s" % r[0].get("msg"))
    finally:
        st.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
