"""Shared pieces of the bench/ scripts: paths, a Docker API client over the
unix socket, the stand-in watcher, process measurement and Markdown tables.

Only loopback and unix sockets are used (spec/e2e/harness.py's rule)."""
import http.client
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "spec", "e2e"))
sys.path.insert(0, os.path.join(SRC, "spec", "standin"))
import harness  # noqa: E402

BUILD = harness.BUILD
PY = "/usr/bin/python3"
FLOOR = os.path.join(BUILD, "bench_floor")
RULE_COST = os.path.join(BUILD, "bench_rule_cost")
RUSAGE = os.path.join(BUILD, "bench_rusage")
LIST_FLOOR = os.path.join(BUILD, "bench_list_floor")
REPLAY = os.path.join(HERE, "docker_replay.py")
STANDIN_FAST = os.path.join(HERE, "standin_fast.py")
os.environ.setdefault("ENR_PYGEN", os.path.join(BUILD, "gen", "py"))
# Benchmarks run the stand-in without apps in its state file (bench/standin_fast.py).
harness.STANDIN = STANDIN_FAST
# The benchmarks time enroller, not Auth's cache: the stand-in serves reads
# and WatchEvents without the lag the e2e tests give it (a lag would add
# itself to every registration latency, floor and enroller alike).
# ENR_BENCH_CACHE_LAG_MS sets one.
harness.STANDIN_CACHE_LAG_MS = os.environ.get("ENR_BENCH_CACHE_LAG_MS", "0")


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- statistics
def pct(samples, p):
    """Nearest-rank percentile of a list (p in 0..100)."""
    s = sorted(samples)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(samples):
    s = sorted(samples)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2.0


def ratio(a, b):
    return float("nan") if not b else a / b


def emit(markdown, results, json_path=None):
    """Prints a benchmark's tables; with json_path, also writes its raw
    results there (the scripts' --json)."""
    print(markdown)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return "%s, %d cores, %d MiB RAM, Linux %s" % (cpu, os.cpu_count(), mem, os.uname().release)


# ---------------------------------------------------------------- Docker API
class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Docker:
    """The few Engine API calls the benchmarks make (one connection per object)."""

    def __init__(self, host):
        assert host.startswith("unix://")
        self.path = host[len("unix://"):]
        self.conn = UnixHTTPConnection(self.path)

    def call(self, method, path, body=None, ok=(200, 201, 204, 304)):
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, "/v1.41" + path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                out = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
                if attempt:
                    raise
        if r.status not in ok:
            raise RuntimeError("docker %s %s: %d %s" % (method, path, r.status, out[:200]))
        if not out or not r.getheader("Content-Type", "").startswith("application/json"):
            return out or None
        return json.loads(out)

    def create(self, name, image, network):
        return self.call("POST", "/containers/create?name=" + name,
                         {"Image": image, "HostConfig": {"NetworkMode": network}})["Id"]

    def start(self, cid):
        self.call("POST", "/containers/%s/start" % cid)

    def remove(self, cid):
        self.call("DELETE", "/containers/%s?force=1" % cid, ok=(200, 204, 404))

    def close(self):
        self.conn.close()


def parallel(fn, items, workers=8):
    """Runs fn(item) on a few threads; returns results in order; re-raises the first error."""
    items = list(items)
    out = [None] * len(items)
    errs = []
    q = queue.Queue()
    for i, it in enumerate(items):
        q.put((i, it))

    def work():
        while True:
            try:
                i, it = q.get_nowait()
            except queue.Empty:
                return
            try:
                out[i] = fn(it)
            except Exception as e:  # noqa: BLE001
                errs.append(e)
    ts = [threading.Thread(target=work) for _ in range(min(workers, max(1, len(items))))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
    return out


# ---------------------------------------------------------------- stand-in watch
class AppWatch:
    """WatchEvents(kind app) on the stand-in: records when each app's first PUT
    arrives (time.monotonic()), so latency is measured at event arrival, not by polling."""

    def __init__(self, cl):
        import client
        import grpc
        self.grpc = grpc
        self.auth = client.Auth(client.channel(cl.auth_addr, os.path.join(cl.state, "admin.identity")))
        pb = self.auth.pb
        w = pb.types_pb2.Watch() if hasattr(pb.types_pb2, "Watch") else pb.authservice_pb2.Watch()
        w.Kinds.add(Kind="app")
        fn = self.auth.chan.unary_stream("/proto.AuthService/WatchEvents",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=pb.event_pb2.Event.FromString)
        self.PUT = pb.event_pb2.PUT
        self.call = fn(w, timeout=24 * 3600)
        self.seen = {}
        self.cv = threading.Condition()
        self.init = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        if not self.init.wait(30):
            raise RuntimeError("WatchEvents: no INIT event")

    def _read(self):
        try:
            for ev in self.call:
                now = time.monotonic()
                if ev.WhichOneof("Resource") == "WatchStatus" or not self.init.is_set():
                    self.init.set()
                    continue
                if ev.Type == self.PUT and ev.WhichOneof("Resource") == "App":
                    name = ev.App.Metadata.Name
                    with self.cv:
                        self.seen.setdefault(name, now)
                        self.cv.notify_all()
        except self.grpc.RpcError as e:
            if e.code() != self.grpc.StatusCode.CANCELLED:
                self.error = e
        self.init.set()

    def wait(self, names, timeout=60.0):
        """Waits until every name was PUT; returns {name: arrival}."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                missing = [n for n in names if n not in self.seen]
                if not missing:
                    return {n: self.seen[n] for n in names}
                left = deadline - time.monotonic()
                if left <= 0 or self.error:
                    raise RuntimeError("apps not registered within %.0fs: %s%s" % (
                        timeout, ", ".join(missing[:5]), (" (%s)" % self.error) if self.error else ""))
                self.cv.wait(min(left, 0.5))

    def close(self):
        self.call.cancel()
        self.thread.join(5)


# ---------------------------------------------------------------- processes
def run_measured(argv, env=None, timeout=1800, mark_s=None):
    """Runs argv to completion under bench_rusage; returns rc, wall ms, CPU ms
    (user+sys), peak RSS KiB (ru_maxrss, the program's own) and its output.
    mark_s: also "cpu_ms_mark", the program's CPU in its first mark_s seconds
    (the scheduler's account of all its threads, read at that moment), None
    if it ended sooner."""
    fd, ru_file = tempfile.mkstemp(prefix="enr-bench-ru-")
    os.close(fd)
    try:
        with tempfile.TemporaryFile(prefix="enr-bench-out-") as out:
            t0 = time.monotonic()
            p = subprocess.Popen([RUSAGE, ru_file] + list(argv), stdout=out, stderr=subprocess.STDOUT,
                                 env=env, stdin=subprocess.DEVNULL)
            try:
                at_mark = cpu_ms_at(p, t0 + mark_s) if mark_s is not None else None
                p.wait(timeout=max(1, timeout - (time.monotonic() - t0)))
            except BaseException:
                p.kill()
                p.wait()
                raise
            wall = (time.monotonic() - t0) * 1000
            out.seek(0)
            text = out.read().decode(errors="replace")
        with open(ru_file) as f:
            ru = dict(kv.split("=", 1) for kv in f.read().split())
    finally:
        os.unlink(ru_file)
    return {"rc": int(ru["exit"]), "wall_ms": wall,
            "cpu_ms": (int(ru["utime_us"]) + int(ru["stime_us"])) / 1000.0, "cpu_ms_mark": at_mark,
            "maxrss_kib": int(ru["maxrss_kib"]), "out": text}


def cpu_ms_at(p, when):
    """The CPU ms at monotonic time `when` of the program bench_rusage (p)
    runs: its one child; None if it ended before then."""
    child = None
    while child is None and p.poll() is None:
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = f.read().split()
        except FileNotFoundError:
            return None
        if kids:
            child = int(kids[0])
        else:
            time.sleep(0.001)
    if child is None:
        return None
    while p.poll() is None and time.monotonic() < when:
        time.sleep(min(0.05, max(0.0, when - time.monotonic())))
    if p.poll() is not None:
        return None
    try:
        ns = proc_cpu_ns(child)
    except FileNotFoundError:
        return None
    return ns / 1e6


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def proc_cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000.0 / tck


def proc_cpu_ns(pid):
    """CPU time of every thread of pid in nanoseconds, from the scheduler's
    own account (/proc/PID/task/*/schedstat), not in clock ticks."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass        # a thread that ended in between
    return total


def auth_counters(cl):
    """{method: calls} from the stand-in (any status)."""
    snap = cl.counters()
    snap = snap.get("methods", snap)
    out = {}
    for k, v in snap.items():
        if "enroller.standin" in k:
            continue
        name = k.rsplit("/", 1)[-1]
        out[name] = sum(x for x in v.values() if isinstance(x, int)) if isinstance(v, dict) else v
    return out


def write_config(cl, path, docker_host, owner, resync=60, events=True, level="info", rules_dir=None):
    """Writes a config file and returns its path: in a directory of its own
    next to path (as /etc/enroller is), with a copy of the identity file,
    since the daemon watches the directories of both for edits and the
    stand-in and the replay server log every call to files in cl.tmp: woken
    by each of their log lines, the daemon would be measured reading inotify
    events."""
    d = os.path.join(os.path.dirname(path), "config")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, os.path.basename(path))
    identity = os.path.join(d, "identity")
    shutil.copyfile(cl.identity, identity)
    os.chmod(identity, 0o600)  # enroller refuses a key file others may read
    with open(path, "w") as f:
        f.write('owner "%s"\n' % owner)
        f.write('docker { host = "%s" }\n' % docker_host)
        f.write('teleport { addr = "%s", identity = "%s" }\n' % (cl.auth_addr, identity))
        f.write('rules { dir = "%s" }\n' % (rules_dir or os.path.join(SRC, "rules")))
        f.write('reconcile { resync = %d%s }\n' % (resync, "" if events else ", events = false"))
        f.write('log { level = "%s" }\n' % level)
    return path

