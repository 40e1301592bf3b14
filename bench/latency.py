#!/usr/bin/python3
"""Registration latency on the real private dockerd and the stand-in.

    bench/latency.py [-n 200] [--burst 20] [--poll-n 60] [--json FILE]

Latency = from the Docker API start call (POST /containers/{id}/start)
returning in this process to the app's PUT event arriving on a WatchEvents
stream (kind app) from the stand-in, both on time.monotonic().  Three
registrars, one after the other, on the same dockerd and stand-in:

  floor     bench_floor: Docker event -> inspect -> one CreateApp (no rules)
  enroller  enroller run, events on (the shipped config)
  poll      enroller run with events = false, resync = 5 (the guide's way)

Each is measured "one at a time" (start, wait for the app, next) and in
bursts (--burst containers started at once from as many threads).  Poll mode
is measured open-loop (a start every 50 ms, then wait), because one at a
time would take 2.5 s per container.  Containers are created before the
timed start and removed after each phase; each phase uses new names, so
every app is new.  A warm-up container per registrar is not counted.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import harness, log  # noqa: E402

IMAGE = "rabbitmq:3-management"


class Registrar:
    def __init__(self, cl, kind, tag):
        self.cl, self.kind, self.tag = cl, kind, tag
        self.proc = None
        self.en = None

    def app_name(self, cname):
        return ("floor-" if self.kind == "floor" else "rabbitmq-") + cname

    def start(self):
        if self.kind == "floor":
            self.logf = open(os.path.join(self.cl.tmp, "floor.log"), "ab")
            self.proc = subprocess.Popen([common.FLOOR, "--docker", self.cl.docker_host, "--auth",
                                          self.cl.auth_addr, "--identity", self.cl.identity],
                                         stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            harness.wait_for(lambda: b"ready" in open(os.path.join(self.cl.tmp, "floor.log"), "rb").read(),
                             timeout=30, what="floor ready")
            self.pid = self.proc.pid
        else:
            poll = self.kind == "poll"
            cfg = common.write_config(self.cl, os.path.join(self.cl.tmp, "lat-%s.lua" % self.kind),
                                      self.cl.docker_host, "bench-" + self.kind,
                                      resync=5 if poll else 60, events=not poll)
            self.en = self.cl.start_enroller(cfg)
            self.pid = self.en.proc.pid

    def alive(self):
        return (self.proc.poll() is None) if self.proc else self.en.alive()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.logf.close()
        if self.en:
            self.en.stop()


def create_all(cl, names):
    return common.parallel(lambda nm: common.Docker(cl.docker_host).create(nm, IMAGE, harness.NETWORK),
                           names, workers=4)


def remove_all(cl, ids):
    def rm(cid):
        d = common.Docker(cl.docker_host)
        d.remove(cid)
        d.close()
    common.parallel(rm, ids, workers=4)


def one_at_a_time(cl, watch, reg, names, ids, dk):
    out = []
    for nm, cid in zip(names, ids):
        dk.start(cid)
        t0 = time.monotonic()
        app = reg.app_name(nm)
        t1 = watch.wait([app], timeout=30)[app]
        out.append((t1 - t0) * 1000)
    return out


def bursts(cl, watch, reg, names, ids, size):
    out = []
    for i in range(0, len(names), size):
        group = list(zip(names[i:i + size], ids[i:i + size]))
        conns = [common.Docker(cl.docker_host) for _ in group]
        for d in conns:
            d.call("GET", "/_ping", ok=(200,))  # connect before the burst
        t0s = [None] * len(group)
        barrier = threading.Barrier(len(group))

        def go(k):
            barrier.wait()
            conns[k].start(group[k][1])
            t0s[k] = time.monotonic()
        ts = [threading.Thread(target=go, args=(k,)) for k in range(len(group))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        apps = [reg.app_name(nm) for nm, _ in group]
        seen = watch.wait(apps, timeout=60)
        out += [(seen[a] - t0) * 1000 for a, t0 in zip(apps, t0s)]
        for d in conns:
            d.close()
    return out


def open_loop(cl, watch, reg, names, ids, dk, spacing=0.05):
    t0s = []
    for cid in ids:
        dk.start(cid)
        t0s.append(time.monotonic())
        time.sleep(spacing)
    apps = [reg.app_name(nm) for nm in names]
    seen = watch.wait(apps, timeout=120)
    return [(seen[a] - t0) * 1000 for a, t0 in zip(apps, t0s)]


def measure(cl, watch, kind, n, burst, poll_n):
    reg = Registrar(cl, kind, kind[0])
    dk = common.Docker(cl.docker_host)
    res = {}
    reg.start()
    try:
        # warm-up: first container after start (connections, caches) is not counted
        wid = create_all(cl, ["%s-warm" % kind])
        dk.start(wid[0])
        watch.wait([reg.app_name("%s-warm" % kind)], timeout=60)
        cpu0 = common.proc_cpu_ms(reg.pid)
        phases = [("one at a time", n), ("burst of %d" % burst, n)] if kind != "poll" else \
            [("open loop, 1 start / 50 ms", poll_n)]
        for label, count in phases:
            names = ["%s-%s-%04d" % (kind, "b" if label.startswith("burst") else "o", i) for i in range(count)]
            ids = create_all(cl, names)
            log("%s: %s, %d containers" % (kind, label, count))
            if label == "one at a time":
                s = one_at_a_time(cl, watch, reg, names, ids, dk)
            elif label.startswith("burst"):
                s = bursts(cl, watch, reg, names, ids, burst)
            else:
                s = open_loop(cl, watch, reg, names, ids, dk)
            res[label] = s
            if not reg.alive():
                raise RuntimeError("%s died" % kind)
            remove_all(cl, ids)
            time.sleep(3)  # let the registrar finish its deletes before the next phase
        res["_cpu_ms"] = common.proc_cpu_ms(reg.pid) - cpu0
        st = common.proc_status(reg.pid)
        res["_vmhwm_kib"] = st["VmHWM"]
        remove_all(cl, wid)
    finally:
        reg.stop()
        dk.close()
    return res


def report(res, n, burst):
    def row(kind, label):
        s = res[kind][label]
        return [kind, label, len(s), "%.1f" % common.pct(s, 50), "%.1f" % common.pct(s, 90),
                "%.1f" % common.pct(s, 99), "%.1f" % max(s)]
    out = ["### Registration latency: Docker start call returned -> app PUT event from the stand-in (ms)\n"]
    rows = []
    bl = "burst of %d" % burst
    for kind in ("floor", "enroller"):
        for label in ("one at a time", bl):
            rows.append(row(kind, label))
    pl = [k for k in res["poll"] if not k.startswith("_")][0]
    rows.append(row("poll", pl))
    out.append(common.table(["registrar", "starts", "n", "p50", "p90", "p99", "max"], rows))
    out.append("\nRatios (same run):\n")
    rows = []
    for label in ("one at a time", bl):
        f, e = res["floor"][label], res["enroller"][label]
        rows.append(["enroller / floor, " + label, "%.2f" % common.ratio(common.pct(e, 50), common.pct(f, 50)),
                     "%.2f" % common.ratio(common.pct(e, 90), common.pct(f, 90)),
                     "%.2f" % common.ratio(common.pct(e, 99), common.pct(f, 99))])
    e1, p = res["enroller"]["one at a time"], res["poll"][pl]
    rows.append(["poll / enroller (poll open loop vs enroller one at a time)",
                 "%.0f" % common.ratio(common.pct(p, 50), common.pct(e1, 50)),
                 "%.0f" % common.ratio(common.pct(p, 90), common.pct(e1, 90)),
                 "%.0f" % common.ratio(common.pct(p, 99), common.pct(e1, 99))])
    out.append(common.table(["ratio", "p50", "p90", "p99"], rows))
    out.append("\nRegistrar CPU over its measured phases (from /proc, after warm-up) and peak RSS:\n")
    rows = []
    for kind in ("floor", "enroller", "poll"):
        cnt = sum(len(v) for k, v in res[kind].items() if not k.startswith("_"))
        rows.append([kind, cnt, "%.0f" % res[kind]["_cpu_ms"], "%.2f" % (res[kind]["_cpu_ms"] / max(1, cnt)),
                     "%.1f" % (res[kind]["_vmhwm_kib"] / 1024.0)])
    out.append(common.table(["registrar", "containers", "CPU ms", "CPU ms / container (incl. stop+remove)",
                             "peak RSS MiB"], rows))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="containers per phase (one at a time, bursts)")
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--poll-n", type=int, default=60)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.n > 240 or args.poll_n > 240:
        ap.error("the test network is a /24: at most 240 containers per phase")
    res = {}
    with harness.Cluster(owner="bench") as cl:
        cl.tag(IMAGE)
        watch = common.AppWatch(cl)
        try:
            for kind in ("floor", "enroller", "poll"):
                res[kind] = measure(cl, watch, kind, args.n, args.burst, args.poll_n)
        finally:
            watch.close()
    common.emit(report(res, args.n, args.burst), res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
