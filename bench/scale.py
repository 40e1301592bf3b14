#!/usr/bin/python3
"""Scale and memory: one full pass of `enroller run --once` at several N.

    bench/scale.py [--sizes 100,1000,10000] [--repeat 3] [--cross-check 200] [--phase-mark 10]
                   [--json FILE]
    bench/scale.py --strace [--sizes 100,1000,10000] [--json FILE]

For each N, a fresh stand-in (bench/standin_fast.py) and the Docker replay
server (bench/docker_replay.py, N recorded rabbitmq containers) on a unix
socket; then
  * pass 1 "first": `enroller run --once` on an empty stand-in (N creates);
  * pass 2.. "unchanged": the same again --repeat times (target: 0 writes).
Each pass is one process: CPU = user+sys from wait4(), peak RSS = ru_maxrss
(VmHWM), wall = fork to exit.  Last, at each N on the replay server, the
first-pass floor: the stand-in is restarted (it keeps no apps: a fresh state,
as for the first pass) and `bench_floor --first-pass` (bench/floor.c) lists
the N containers, inspects each and makes one CreateApp each (apps named
floor-<container>), with as many requests in flight as enroller's first pass
and no rules, planner, view or write rate limit; its CPU comes from
bench_rusage as the passes' does.  Then the paced first-pass floor: the same
with its CreateApps paced as enroller paces its writes by default
(`--write-rate 100 --write-burst 200`), since at N = 10,000 the pacing's
wake-ups are a cost of their own.  N = 0 is the baseline (start-up, config, rules,
TLS handshake, one empty listing each side).  Auth calls come from the
stand-in's counters, Docker calls from the replay server's.

--phase-mark S also reads the CPU of each first pass, and of the paced
floor, S seconds after it started (default 10): at N = 10,000 the first 10 s
hold the listing, the inspects, the rules, the plan, the burst of writes and
the first paced ones, the rest paced writes only, and the table "by phase" shows which of the two
holds enroller's distance from the paced floor.

--cross-check N runs the same two passes against the real private dockerd
(scripts/dockerd-test) with N containers, and against the replay server with
N, so the replay can be judged.  On the real engine, Docker calls are counted
by docker_replay.py --proxy, a byte-for-byte relay in front of its socket.

--strace counts system calls instead: for each N (and N = 0), one first
pass set up as above, under `strace -c -f` (every thread), and a table of
the calls in total, per container and the 5 most frequent.  A count, not a
timing: strace slows the traced process down many times over.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import harness, log  # noqa: E402

WRITES = ("CreateApp", "UpdateApp", "DeleteApp")


class ReplayCluster(harness.Cluster):
    """harness.Cluster with the Docker replay server instead of dockerd."""

    def __init__(self, n):
        super().__init__(owner="bench")
        self.n = n
        self.replay = None

    def start_dockerd(self):
        sock = os.path.join(self.tmp, "replay.sock")
        ready = os.path.join(self.tmp, "replay.ready")
        self.replay_log = open(os.path.join(self.tmp, "replay.log"), "ab")
        self.replay = subprocess.Popen([common.PY, common.REPLAY, "--socket", sock, "-n", str(self.n),
                                        "--ready", ready], stdout=self.replay_log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        harness.wait_for(lambda: os.path.exists(ready), timeout=120, what="replay server")
        self.docker_host = "unix://" + sock
        self.replay_docker = common.Docker(self.docker_host)

    def docker_counters(self):
        return self.replay_docker.call("GET", "/_replay/counters")

    def reset_docker_counters(self):
        self.replay_docker.call("POST", "/_replay/reset")

    def close(self):
        if self.replay is not None:
            self.replay_docker.close()
            self.replay.terminate()
            try:
                self.replay.wait(10)
            except subprocess.TimeoutExpired:
                self.replay.kill()
                self.replay.wait()
            self.replay_log.close()
            self.replay = None
        super().close()


def one_pass(cl, config, count_docker, mark_s=None):
    cl.tctl("reset-counters")
    if count_docker:
        cl.reset_docker_counters()
    r = common.run_measured([harness.ENROLLER, "run", "--once", "-c", config], mark_s=mark_s)
    summary = [ln for ln in r["out"].splitlines() if "--once:" in ln]
    r["summary"] = summary[-1].split("--once:", 1)[1].strip() if summary else ""
    if r["rc"] != 0:
        # An incomplete pass is a result too (reported as such), not a crash.
        if not summary:
            raise RuntimeError("enroller --once exited %d:\n%s" % (r["rc"], r["out"][-2000:]))
        errs = [ln for ln in r["out"].splitlines() if " warn " in ln or " error " in ln]
        r["why"] = errs[-1] if errs else ""
        log("--once exited %d: %s | %s" % (r["rc"], r["summary"], r["why"][-300:]))
    a = common.auth_counters(cl)
    r["auth_calls"] = sum(a.values())
    r["auth_writes"] = sum(a.get(m, 0) for m in WRITES)
    r["auth"] = a
    if count_docker:
        d = cl.docker_counters()
        r["docker_calls"] = sum(d.values())
        r["docker"] = d
    else:
        r["docker_calls"] = None
    del r["out"]
    return r


def passes(cl, n, repeat, count_docker, mark_s, with_daemon=True):
    config = common.write_config(cl, os.path.join(cl.tmp, "bench.lua"), cl.docker_host, "bench")
    first = one_pass(cl, config, count_docker, mark_s=mark_s)
    log("N=%d first pass: cpu %.0f ms wall %.0f ms rss %d KiB auth %d (writes %d)" % (
        n, first["cpu_ms"], first["wall_ms"], first["maxrss_kib"], first["auth_calls"], first["auth_writes"]))
    if n and first["rc"] == 0 and first["auth_writes"] < n:
        raise RuntimeError("first pass at N=%d made only %d writes" % (n, first["auth_writes"]))
    same = [one_pass(cl, config, count_docker) for _ in range(repeat)]
    log("N=%d unchanged: cpu %s ms" % (n, ", ".join("%.0f" % s["cpu_ms"] for s in same)))
    out = {"n": n, "first": first, "unchanged": same}
    if count_docker and with_daemon:
        out["daemon"] = daemon(cl, n)
        # last, so that nothing above sees the floor's apps or its load
        out["floor"] = first_pass_floor(cl, n, mark_s)
        out["paced_floor"] = first_pass_floor(cl, n, mark_s, paced=True)
    return out


FLOOR_PREFIX = "floor-"


def read_limits():
    """The #define values of src/reconcile/limits.h, read once: the bench
    config leaves the write pace and the requests in flight as they are, and
    the floors (bench_floor is built with the same header) follow them."""
    with open(os.path.join(common.SRC, "src", "reconcile", "limits.h")) as f:
        limits = dict(re.findall(r"^#define ([A-Z_]+) (\d+)$", f.read(), re.M))
    for name in ("EXECUTOR_DEFAULT_RATE", "EXECUTOR_DEFAULT_BURST", "EXECUTOR_DEFAULT_INFLIGHT"):
        if name not in limits:
            raise RuntimeError("limits.h: %s not found" % name)
    return limits


LIMITS = read_limits()
PACING = ["--write-rate", LIMITS["EXECUTOR_DEFAULT_RATE"], "--write-burst", LIMITS["EXECUTOR_DEFAULT_BURST"]]
INFLIGHT = LIMITS["EXECUTOR_DEFAULT_INFLIGHT"]
FLOOR_LINE = re.compile(r"^first-pass listed (\d+) inspected (\d+) created (\d+) errors (\d+)$", re.M)


def first_pass_floor(cl, n, mark_s, paced=False):
    """The first-pass floor at N: bench_floor --first-pass on the same replay
    server and a fresh stand-in state (the stand-in restarted: bench's keeps
    no apps), under bench_rusage; paced: its CreateApps paced as enroller's
    (PACING).  Its apps are FLOOR_PREFIX + container name, so they cannot be
    taken for enroller's."""
    cl.stop_standin()
    cl.start_standin()
    cl.tctl("reset-counters")
    cl.reset_docker_counters()
    r = common.run_measured([common.FLOOR, "--first-pass"] + (PACING if paced else []) +
                            ["--docker", cl.docker_host, "--auth", cl.auth_addr, "--identity", cl.identity,
                             "--prefix", FLOOR_PREFIX], mark_s=mark_s)
    m = FLOOR_LINE.search(r["out"])
    if r["rc"] != 0 or not m or int(m.group(3)) != n:
        raise RuntimeError("bench_floor --first-pass at N=%d exited %d:\n%s" % (n, r["rc"], r["out"][-2000:]))
    a = common.auth_counters(cl)
    r.update(listed=int(m.group(1)), inspected=int(m.group(2)), created=int(m.group(3)),
             auth_calls=sum(a.values()), auth_writes=sum(a.get(x, 0) for x in WRITES),
             docker_calls=sum(cl.docker_counters().values()))
    del r["out"]
    log("N=%d first-pass floor%s: cpu %.0f ms wall %.0f ms created %d auth %d docker %d" % (
        n, " (paced)" if paced else "", r["cpu_ms"], r["wall_ms"], r["created"], r["auth_calls"], r["docker_calls"]))
    return r


def strace_counts(path):
    """{system call: calls} and the total from a `strace -c` summary."""
    calls, total = {}, None
    with open(path) as f:
        for line in f:
            t = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(t) < 5 or not t[3].isdigit():
                continue
            if t[-1] == "total":
                total = int(t[3])
            else:
                calls[t[-1]] = calls.get(t[-1], 0) + int(t[3])
    if total is None:
        raise RuntimeError("no total in strace's summary %s" % path)
    return calls, total


def strace_pass(n):
    """One first `enroller run --once` pass at N, as run_replay's first,
    under `strace -c -f`: its system calls."""
    log("strace N=%d" % n)
    with ReplayCluster(n) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "bench.lua"), cl.docker_host, "bench")
        out = os.path.join(cl.tmp, "strace.txt")
        cl.tctl("reset-counters")
        p = subprocess.run(["strace", "-c", "-f", "-o", out, harness.ENROLLER, "run", "--once", "-c", config],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=1800)
        if p.returncode != 0 and b"--once:" not in p.stdout:
            raise RuntimeError("enroller --once under strace exited %d:\n%s" % (
                p.returncode, p.stdout.decode(errors="replace")[-2000:]))
        calls, total = strace_counts(out)
        writes = sum(common.auth_counters(cl).get(m, 0) for m in WRITES)
    log("N=%d: %d system calls, %d writes" % (n, total, writes))
    return {"n": n, "rc": p.returncode, "total": total, "writes": writes, "calls": calls}


def strace_report(results):
    rows = []
    base = next((r["total"] for r in results if r["n"] == 0), None)
    for r in results:
        top = sorted(r["calls"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        per = r["n"] and fmt(r["total"] / r["n"], 1)
        net = r["n"] and base is not None and fmt((r["total"] - base) / r["n"], 1)
        rows.append([r["n"], "yes" if r["rc"] == 0 else "NO (exit %d)" % r["rc"], r["writes"],
                     "{:,}".format(r["total"]), per or "-", net or "-",
                     ", ".join("%s %s" % (k, "{:,}".format(v)) for k, v in top)])
    return ("### System calls of one first `enroller run --once` pass (`strace -c -f`, Docker: replay server)\n\n"
            + common.table(["N", "pass complete", "writes", "system calls", "per container",
                            "per container, net of N = 0", "top 5 by count"], rows))


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


# The daemon's debug line for a pass over every name after a listing: a
# listing that inspected every container (docker_sync.c does so every so
# many listings), or one after a stream cut.
FULL_PASS = re.compile(r"pass: every name \(.*\) after a listing")


def daemon(cl, n, resync=1, resyncs=7, max_listings=40):
    """The daemon's resync with nothing changed: CPU per resync, and its memory.

    `enroller run` with resync = 1 s over apps that already exist.  A resync
    starts with GET /containers/json, and the next is only timed once the
    previous one is done, so the CPU of all its threads (schedstat, in ns)
    between the moments the replay server sees list calls k and k + 1 is one
    whole pass; the median of those is reported (and the mean).
    Listings 3 .. 3 + resyncs are quiet ones.  The daemon logs at debug
    level, and its line "pass: every name ... after a listing" tells which
    listing inspected every container and planned every name: the first such
    listing after them is measured apart (a few debug lines per resync are
    all the level adds)."""
    config = common.write_config(cl, os.path.join(cl.tmp, "daemon.lua"), cl.docker_host, "bench",
                                 resync=resync, level="debug")
    cl.reset_docker_counters()
    en = cl.start_enroller(config)

    def lists():
        return cl.docker_counters().get("/containers/json", 0)

    def at_list(k):
        harness.wait_for(lambda: lists() >= k, timeout=600, interval=0.002, what="listing %d" % k)
        return common.proc_cpu_ns(en.proc.pid) / 1e6, time.time()

    def full_passes(t0, t1):
        return [t for t, _ in en.lines(FULL_PASS) if t0 < t <= t1]
    try:
        at_list(2)          # start-up pass done, first resync begun
        cpu0, t0 = at_list(3)
        a0 = common.auth_counters(cl)
        d0 = cl.docker_counters()
        marks = [(cpu0, t0)] + [at_list(k) for k in range(4, 4 + resyncs)]
        cpu1, t1 = marks[-1]
        a1 = common.auth_counters(cl)
        d1 = cl.docker_counters()
        if full_passes(t0, t1):
            raise RuntimeError("a pass over every name fell within the %d quiet listings (3 to %d): lower "
                               "resyncs" % (resyncs, 3 + resyncs))
        # From here, listing by listing until one holds a pass over every name.
        k, prev, full_between = 4 + resyncs, marks[-1], None
        while full_between is None:
            if k > max_listings:
                raise RuntimeError("no pass over every name by listing %d" % max_listings)
            cur = at_list(k)
            if full_passes(prev[1], cur[1]):
                full_between, full0, full1 = [k - 1, k], prev[0], cur[0]
            prev, k = cur, k + 1
        st = common.proc_status(en.proc.pid)
        sm = smaps(en.proc.pid)
        if not en.alive():
            raise RuntimeError("enroller died:\n" + en.log()[-2000:])
    finally:
        en.stop()
    marks = [c for c, _ in marks]
    writes = sum(a1.get(m, 0) - a0.get(m, 0) for m in WRITES)
    calls = sum(a1.values()) - sum(a0.values())
    per = sorted(b - a for a, b in zip(marks, marks[1:]))
    r = {"cpu_ms_per_resync": per[len(per) // 2], "cpu_ms_mean": (cpu1 - cpu0) / resyncs,
         "resyncs": resyncs, "writes": writes,
         "cpu_ms_full_resync": full1 - full0, "full_between_lists": full_between,
         "auth_calls_per_resync": calls / resyncs,
         "docker_calls_per_resync": (sum(d1.values()) - sum(d0.values())) / resyncs,
         "docker_calls_by_endpoint": {k: v - d0.get(k, 0) for k, v in d1.items() if v != d0.get(k, 0)},
         "complete": not any(w in en.log() for w in ("INCOMPLETE", "no writes until", "RESOURCE_EXHAUSTED")), "vmhwm_kib": st["VmHWM"], "vmrss_kib": st["VmRSS"],
         "pss_kib": sm.get("Pss", 0), "private_kib": sm.get("Private_Clean", 0) + sm.get("Private_Dirty", 0),
         "anon_kib": sm.get("Anonymous", 0)}
    r.update(list_floor(cl.docker_host, 2 * resyncs + 1))
    log("N=%d daemon: %s" % (n, r))
    return r


def list_floor(docker_host, rounds):
    """The resync floor: bench_list_floor makes `rounds` listings of the same
    containers, each parsed and hashed per entry, nothing else."""
    out = subprocess.run([common.LIST_FLOOR, docker_host[len("unix://"):], str(max(3, rounds))],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("bench_list_floor: " + out.stderr.strip())
    f = out.stdout.split()
    return {"floor_entries": int(f[1]), "floor_cpu_ms": float(f[7]), "floor_cpu_ms_mean": float(f[3]),
            "floor_wall_ms": float(f[5])}


def run_replay(n, repeat, mark_s):
    log("replay N=%d" % n)
    with ReplayCluster(n) as cl:
        return passes(cl, n, repeat, True, mark_s)


def run_dockerd(n, repeat, mark_s):
    log("real dockerd N=%d: creating containers" % n)
    with harness.Cluster(owner="bench") as cl:
        cl.tag("rabbitmq:3-management")
        dk = common.Docker(cl.docker_host)
        names = ["rmq-%05d" % i for i in range(n)]
        ids = common.parallel(lambda nm: common.Docker(cl.docker_host).create(
            nm, "rabbitmq:3-management", harness.NETWORK), names, workers=4)

        def start(cid):
            d = common.Docker(cl.docker_host)
            d.start(cid)
            d.close()
        common.parallel(start, ids, workers=4)
        dk.close()
        # enroller talks to dockerd through a counting proxy (docker_replay.py --proxy)
        sock = os.path.join(cl.tmp, "proxy.sock")
        ready = os.path.join(cl.tmp, "proxy.ready")
        plog = open(os.path.join(cl.tmp, "proxy.log"), "ab")
        proxy = subprocess.Popen([common.PY, common.REPLAY, "--socket", sock, "--proxy",
                                  cl.docker_host[len("unix://"):], "--ready", ready], stdout=plog,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            harness.wait_for(lambda: os.path.exists(ready), timeout=60, what="docker proxy")
            pdk = common.Docker("unix://" + sock)
            cl.docker_host = "unix://" + sock
            cl.docker_counters = lambda: pdk.call("GET", "/_replay/counters")
            cl.reset_docker_counters = lambda: pdk.call("POST", "/_replay/reset")
            return passes(cl, n, repeat, True, mark_s, with_daemon=False)
        finally:
            proxy.terminate()
            proxy.wait(10)
            plog.close()


def summarise(res):
    u = res["unchanged"]
    pick = sorted(u, key=lambda r: r["cpu_ms"])[len(u) // 2] if u else None
    return res["first"], pick, common.median([r["cpu_ms"] for r in u]), common.median([r["wall_ms"] for r in u])


def ok(r):
    return "yes" if r["rc"] == 0 else "NO (exit %d)" % r["rc"]


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    return ("%%.%df" % nd) % x


def report(results, cross, mark_s):
    out = []
    base = next((r for r in results if r["n"] == 0), None)
    rows = []
    for r in results:
        first, pick, ucpu, uwall = summarise(r)
        fl, pf = r.get("floor"), r.get("paced_floor")
        rows.append([r["n"], "replay", ok(first) + " / " + ok(pick),
                     fmt(first["cpu_ms"]), fmt(first["wall_ms"]), first["auth_calls"], first["auth_writes"],
                     fmt(first["docker_calls"]),
                     fmt(ucpu), fmt(uwall), pick["auth_calls"], pick["auth_writes"], fmt(pick["docker_calls"]),
                     fmt(fl["cpu_ms"]) if fl else "n/a",
                     fmt(common.ratio(first["cpu_ms"], fl["cpu_ms"]), 2) if fl else "n/a",
                     fmt(pf["cpu_ms"]) if pf else "n/a",
                     fmt(common.ratio(first["cpu_ms"], pf["cpu_ms"]), 2) if pf else "n/a"])
    out.append("### Scale: one pass of `enroller run --once` (Docker: replay server)\n")
    out.append(common.table(["N", "docker", "pass complete (first / unchanged)", "first: CPU ms", "first: wall ms", "first: Auth calls",
                             "first: writes", "first: Docker calls", "unchanged: CPU ms (median)",
                             "unchanged: wall ms", "unchanged: Auth calls", "unchanged: writes",
                             "unchanged: Docker calls", "first-pass floor: CPU ms", "first pass / floor",
                             "paced floor: CPU ms", "first pass / paced floor"], rows))
    if any("floor" in r for r in results):
        out.append("\nFirst-pass floor: `bench_floor --first-pass` in the same run on the same replay server and a "
                   "restarted (empty) stand-in: one listing, one inspect and one CreateApp per container "
                   "(8 inspects and %s CreateApps in flight, as enroller's first pass), no rules, planner, view "
                   "or write rate limit; CPU = user+sys of the process, as the passes'.  Paced floor: the same "
                   "with its CreateApps paced as enroller's default (%s), in batches as enroller's executor "
                   "sends them: the writes' wall time, and the wake-ups it costs, are enroller's too."
                   % (INFLIGHT, " ".join(PACING)))
    # growth per 10x, net of the N=0 baseline
    grow = []
    sized = [r for r in results if r["n"] > 0]
    for a, b in zip(sized, sized[1:]):
        fa, pa, ua, _ = summarise(a)
        fb, pb, ub, _ = summarise(b)
        bf = base["first"]["cpu_ms"] if base else 0.0
        bu = summarise(base)[2] if base else 0.0
        grow.append(["%d -> %d (x%g)" % (a["n"], b["n"], b["n"] / a["n"]),
                     fmt(common.ratio(fb["cpu_ms"] - bf, fa["cpu_ms"] - bf), 1),
                     fmt(common.ratio(ub - bu, ua - bu), 1),
                     fmt(common.ratio(fb["wall_ms"], fa["wall_ms"]), 1),
                     fmt(common.ratio(fb["maxrss_kib"] - (base["first"]["maxrss_kib"] if base else 0),
                                      fa["maxrss_kib"] - (base["first"]["maxrss_kib"] if base else 0)), 1)])
    if grow:
        out.append("\nGrowth (CPU and RSS net of the N = 0 baseline; linear = the N ratio):\n")
        out.append(common.table(["N step", "first-pass CPU ratio", "unchanged-pass CPU ratio",
                                 "first-pass wall ratio", "peak RSS ratio"], grow))
    # per-container CPU
    rows = []
    for r in sized:
        first, pick, ucpu, _ = summarise(r)
        bf = base["first"]["cpu_ms"] if base else 0.0
        bu = summarise(base)[2] if base else 0.0
        fl, bfl = r.get("floor"), base.get("floor") if base else None
        pf, bpf = r.get("paced_floor"), base.get("paced_floor") if base else None
        per_floor = (fl["cpu_ms"] - (bfl["cpu_ms"] if bfl else 0.0)) * 1000 / r["n"] if fl else None
        per_paced = (pf["cpu_ms"] - (bpf["cpu_ms"] if bpf else 0.0)) * 1000 / r["n"] if pf else None
        per_first = (first["cpu_ms"] - bf) * 1000 / r["n"]
        rows.append([r["n"], fmt(per_first), fmt((ucpu - bu) * 1000 / r["n"]), fmt(per_floor),
                     fmt(common.ratio(per_first, per_floor), 2) if per_floor else "n/a",
                     fmt(per_paced), fmt(common.ratio(per_first, per_paced), 2) if per_paced else "n/a"])
    if rows:
        out.append("\nCPU per container, net of N = 0 (the floor net of its own N = 0):\n")
        out.append(common.table(["N", "first pass µs/container", "unchanged pass µs/container",
                                 "first-pass floor µs/container", "first pass / floor, per container",
                                 "paced floor µs/container", "first pass / paced floor, per container"], rows))
    # the first pass by phase: its first mark_s seconds and the rest
    rows = []
    for r in sized:
        first, pf = r["first"], r.get("paced_floor")
        if not pf or first.get("cpu_ms_mark") is None or pf.get("cpu_ms_mark") is None:
            continue
        fa, pa = first["cpu_ms_mark"], pf["cpu_ms_mark"]
        fr, pr = first["cpu_ms"] - fa, pf["cpu_ms"] - pa
        rows.append([r["n"], fmt(fa), fmt(pa), fmt(common.ratio(fa, pa), 2), fmt(fr), fmt(pr),
                     fmt(common.ratio(fr, pr), 2) if pr > 0 else "n/a"])
    if rows:
        out.append("\n### The first pass by phase: its first %g s and the rest, against the paced floor's\n"
                   % mark_s)
        m = mark_s
        out.append(common.table(["N", "first %g s: CPU ms" % m, "paced floor, first %g s: CPU ms" % m,
                                 "first %g s / paced floor" % m, "the rest: CPU ms",
                                 "paced floor, the rest: CPU ms", "the rest / paced floor"], rows))
        out.append("\nThe CPU of all the process's threads (/proc/PID/task/*/schedstat) %g s after it started; "
                   "the rest is its whole CPU less that.  In the first seconds: the listing, the inspects, "
                   "the rules and the plan (enroller only), the burst of writes and the first paced ones; in "
                   "the rest, paced writes only.  A row only where both passes ran past the mark." % mark_s)
    # memory
    rows = []
    prev = base
    for r in results:
        rss = r["first"]["maxrss_kib"]
        urss = max(x["maxrss_kib"] for x in r["unchanged"]) if r["unchanged"] else None
        slope = ""
        if prev is not None and r is not prev and r["n"] > prev["n"]:
            slope = fmt((rss - prev["first"]["maxrss_kib"]) * 1024.0 / (r["n"] - prev["n"]))
        rows.append([r["n"], "%.1f" % (rss / 1024.0), fmt(urss / 1024.0 if urss else None, 1),
                     fmt(common.ratio(rss, base["first"]["maxrss_kib"]), 2) if base else "n/a", slope or "-"])
        prev = r
    out.append("\n### Memory: peak RSS (VmHWM) of one `--once` pass\n")
    out.append(common.table(["N", "first pass MiB", "unchanged pass MiB", "x baseline (N = 0)",
                             "bytes per container (slope from previous N)"], rows))
    if any("daemon" in r for r in results):
        rows = []
        prev = None
        quiet = next(r["daemon"]["resyncs"] for r in results if "daemon" in r)
        for r in results:
            d = r.get("daemon")
            if not d:
                continue
            slope = "-"
            if prev is not None and r["n"] > prev["n"]:
                slope = fmt((d["anon_kib"] - prev["daemon"]["anon_kib"]) * 1024.0 / (r["n"] - prev["n"]))
            rows.append([r["n"], "yes" if d["complete"] else "NO", "%.1f" % d["cpu_ms_per_resync"],
                         "%.1f" % d["floor_cpu_ms"], fmt(common.ratio(d["cpu_ms_per_resync"], d["floor_cpu_ms"]), 2),
                         "%.0f" % d["cpu_ms_full_resync"] if "cpu_ms_full_resync" in d else "-",
                         d["writes"], "%.0f" % d["auth_calls_per_resync"], "%.0f" % d["docker_calls_per_resync"],
                         "%.1f" % (d["vmhwm_kib"] / 1024.0), "%.1f" % (d["vmrss_kib"] / 1024.0),
                         "%.1f" % (d["anon_kib"] / 1024.0), slope])
            prev = r
        out.append("\n### The daemon: a resync with nothing changed, and its memory (Docker: replay server)\n")
        out.append("`enroller run` with `reconcile { resync = 1 }` after the passes above (apps exist); "
                   "CPU of all its threads (/proc/PID/task/*/schedstat, in ns) between list calls k and k+1: "
                   "the median of %d quiet listings. "
                   "Floor: `bench_list_floor`, one listing of the same containers parsed and hashed per entry, "
                   "nothing else (the median CPU of its listings, same run). The first listing after them that "
                   "inspects every container and plans every name (the daemon's debug line \"pass: every name\") "
                   "is the column \"full listing\" (the CPU between the list calls whose interval holds that "
                   "line).\n" % quiet)
        out.append(common.table(["N", "complete", "CPU ms per resync", "floor: CPU ms per listing",
                                 "resync / floor", "full listing: CPU ms", "writes", "Auth calls per resync",
                                 "Docker calls per resync", "VmHWM MiB", "VmRSS MiB", "anonymous MiB",
                                 "anonymous bytes per container (slope)"], rows))
    if cross:
        rows = []
        for label, r in cross:
            first, pick, ucpu, uwall = summarise(r)
            rows.append([label, r["n"], fmt(first["cpu_ms"]), fmt(first["wall_ms"]), first["auth_calls"],
                         first["auth_writes"], fmt(ucpu), pick["auth_calls"], pick["auth_writes"],
                         "%.1f" % (first["maxrss_kib"] / 1024.0), fmt(first["docker_calls"])])
        real = next((r for lab, r in cross if lab.startswith("real")), None)
        rep = next((r for lab, r in cross if lab.startswith("replay")), None)
        out.append("\n### Cross-check: replay server vs the real dockerd\n")
        out.append(common.table(["docker", "N", "first: CPU ms", "first: wall ms", "first: Auth calls",
                                 "first: writes", "unchanged: CPU ms", "unchanged: Auth calls",
                                 "unchanged: writes", "peak RSS MiB", "first: Docker calls"], rows))
        if real and rep:
            out.append("\nreal/replay: first-pass CPU %.2f, unchanged-pass CPU %.2f, first-pass wall %.2f, RSS %.2f" % (
                common.ratio(real["first"]["cpu_ms"], rep["first"]["cpu_ms"]),
                common.ratio(summarise(real)[2], summarise(rep)[2]),
                common.ratio(real["first"]["wall_ms"], rep["first"]["wall_ms"]),
                common.ratio(real["first"]["maxrss_kib"], rep["first"]["maxrss_kib"])))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cross-check", type=int, default=200, help="N for real dockerd vs replay (0: skip)")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--phase-mark", type=float, default=10.0,
                    help="seconds: also read each first pass's CPU this long after its start, to split "
                         "the pass into its first seconds and its paced rest (default 10)")
    ap.add_argument("--strace", action="store_true",
                    help="count the system calls of one first pass per N (strace -c -f) instead")
    args = ap.parse_args()
    sizes = [0] + [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.strace:
        results = [strace_pass(n) for n in sizes]
        common.emit(strace_report(results), {"strace": results}, args.json)
        return 0
    results = [run_replay(n, args.repeat, args.phase_mark) for n in sizes]
    cross = []
    if args.cross_check:
        cross.append(("real dockerd", run_dockerd(args.cross_check, args.repeat, args.phase_mark)))
        cross.append(("replay", run_replay(args.cross_check, args.repeat, args.phase_mark)))
    common.emit(report(results, cross, args.phase_mark), {"results": results, "cross": cross}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
