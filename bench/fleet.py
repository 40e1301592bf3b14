#!/usr/bin/python3
"""A fleet on one cluster: H enrollers, one per simulated Docker host, each
with its own owner id and M containers, against one Teleport stand-in.

    bench/fleet.py [--hosts 1,5,20] [--per-host 200] [--steady 30] [--resync 10] [--json FILE]

Past one machine the distributed part is Teleport's own backend: each Docker
host runs its own enroller with its own `owner`, and they share nothing but
the cluster.  For each H, on this one machine:

  * one stand-in (bench/standin_fast.py) and H Docker replay servers
    (bench/docker_replay.py --prefix hNN: host NN's containers are hNN-00000
    ..., all rabbitmq, each wanting one app), so every host's apps have
    distinct names;
  * one Application Service serving every app (the stand-in's), as a
    cluster that registers apps this way has: it heartbeats an app_server
    per app;
  * a WatchEvents stream (kind app, what every enroller watches in dynamic
    registration; databases too, of which the fleet has none; app servers
    only in agent mode) opened by the benchmark itself: it receives exactly
    what each enroller receives, so it counts the events and bytes per
    enroller;
  * the H enrollers start at once (a cold fleet start: every app is a
    create).  "start" ends when the watch has seen every one of the H x M
    apps PUT and then nothing for a second;
  * an observer: one more enroller, on a host with no containers, started
    and watching before the H.  It writes nothing, so what it spends while
    the H register is exactly what every enroller pays for the other hosts'
    apps: its CPU per event received (from the scheduler's account, not
    clock ticks) and its resident memory per app of the cluster.

Reported per H: time to register the fleet and Auth writes per second at
start (first start to last app PUT); WatchEvents events and bytes each
enroller received during the start; each enroller's CPU for the start (mean
and max over the H); and the steady state: each enroller's CPU per minute
over --steady seconds with nothing changing (resync every --resync s), and
the events received then.  The baseline is H = 1 in the same run: ratios
against it show how each figure grows with H.

Why every enroller sees every app event: WatchEvents cannot be narrowed by
label for apps (enroller narrows what it can: it does not watch app servers,
whose heartbeats never stop, and lists only its own when it confirms that a
created app is served).  Teleport's `WatchKind.Matches` (api/types/events.go) applies
`Filter` only to access requests, web sessions, locks and cert authorities
("we don't know about this filter, let the event through"), and `Name`
narrows a kind to one resource name; RBAC on watches is per kind
(`ServerWithRoles.NewWatcher`, lib/auth/auth_with_roles.go).  So the cost of
foreign events is measured here, not avoided.

The stand-in is Python and runs on the same 2 cores as every enroller, so
absolute rates describe this machine; the growth with H is the result.
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

WRITES = ("CreateApp", "UpdateApp", "DeleteApp")


class FleetCluster(harness.Cluster):
    """harness.Cluster with H Docker replay servers instead of dockerd."""

    def __init__(self, hosts, per_host):
        # One Application Service serving every dynamic app, as a cluster that
        # registers apps this way has: its app_server records are part of the
        # watch traffic every enroller receives.
        super().__init__(owner="fleet", standin_args=("--app-service-labels", "*=*"))
        self.hosts = hosts
        self.per_host = per_host
        self.replays = []
        self.replay_log = None
        self.observer_host = None

    def start_dockerd(self):
        self.replay_log = open(os.path.join(self.tmp, "replay.log"), "ab")
        self.docker_hosts = []
        for h in range(self.hosts):
            sock = os.path.join(self.tmp, "replay-%02d.sock" % h)
            ready = os.path.join(self.tmp, "replay-%02d.ready" % h)
            self.replays.append(subprocess.Popen(
                [common.PY, common.REPLAY, "--socket", sock, "-n", str(self.per_host), "--prefix", "h%02d" % h,
                 "--ready", ready], stdout=self.replay_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            self.docker_hosts.append("unix://" + sock)
        # The observer's host: no containers.
        obs_sock, obs_ready = os.path.join(self.tmp, "replay-obs.sock"), os.path.join(self.tmp, "replay-obs.ready")
        self.replays.append(subprocess.Popen(
            [common.PY, common.REPLAY, "--socket", obs_sock, "-n", "0", "--prefix", "obs", "--ready", obs_ready],
            stdout=self.replay_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        self.observer_host = "unix://" + obs_sock
        readies = [os.path.join(self.tmp, "replay-%02d.ready" % h) for h in range(self.hosts)] + [obs_ready]
        for ready in readies:
            harness.wait_for(lambda r=ready: os.path.exists(r), timeout=120, what="replay server " + ready)
        self.docker_host = self.docker_hosts[0]

    def close(self):
        for p in self.replays:
            p.terminate()
        for p in self.replays:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.replays = []
        if self.replay_log:
            self.replay_log.close()
            self.replay_log = None
        super().close()


class FleetWatch:
    """WatchEvents(app) on the stand-in, as each enroller opens it:
    counts events and their bytes on the wire (protobuf message sizes), and
    the distinct apps PUT."""

    def __init__(self, cl):
        import client
        import grpc
        self.grpc = grpc
        self.auth = client.Auth(client.channel(cl.auth_addr, os.path.join(cl.state, "admin.identity")))
        pb = self.auth.pb
        w = pb.types_pb2.Watch() if hasattr(pb.types_pb2, "Watch") else pb.authservice_pb2.Watch()
        w.Kinds.add(Kind="app")
        Event = pb.event_pb2.Event
        fn = self.auth.chan.unary_stream("/proto.AuthService/WatchEvents",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=lambda b: (len(b), Event.FromString(b)))
        self.PUT = pb.event_pb2.PUT
        self.call = fn(w, timeout=24 * 3600)
        self.lock = threading.Lock()
        self.events = 0
        self.bytes = 0
        self.by_kind = {}
        self.apps = set()
        self.last_event = time.monotonic()
        self.last_app_put = None
        self.error = None
        self.init = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        if not self.init.wait(60):
            raise RuntimeError("WatchEvents: no INIT event")

    def _read(self):
        try:
            for size, ev in self.call:
                now = time.monotonic()
                which = ev.WhichOneof("Resource")
                if which == "WatchStatus" or not self.init.is_set():
                    self.init.set()
                    continue
                with self.lock:
                    self.events += 1
                    self.bytes += size + 5  # the gRPC message prefix
                    self.by_kind[which] = self.by_kind.get(which, 0) + 1
                    self.last_event = now
                    if ev.Type == self.PUT and which == "App":
                        self.apps.add(ev.App.Metadata.Name)
                        self.last_app_put = now
        except self.grpc.RpcError as e:
            if e.code() != self.grpc.StatusCode.CANCELLED:
                self.error = e
        self.init.set()

    def snapshot(self):
        with self.lock:
            return {"events": self.events, "bytes": self.bytes, "by_kind": dict(self.by_kind),
                    "apps": len(self.apps), "last_event": self.last_event, "last_app_put": self.last_app_put}

    def close(self):
        self.call.cancel()
        self.thread.join(5)


def run_fleet(hosts, per_host, steady, resync):
    log("fleet H=%d x %d: starting %d replay servers and the stand-in" % (hosts, per_host, hosts))
    with FleetCluster(hosts, per_host) as cl:
        watch = FleetWatch(cl)
        try:
            configs = [common.write_config(cl, os.path.join(cl.tmp, "host-%02d.lua" % h), cl.docker_hosts[h],
                                           "host-%02d" % h, resync=resync) for h in range(hosts)]
            obs = cl.start_enroller(common.write_config(cl, os.path.join(cl.tmp, "observer.lua"), cl.observer_host,
                                                        "observer", resync=resync))
            obs.wait_log("watching apps and databases", timeout=120)
            time.sleep(2)  # its first listing (empty) lands
            cl.tctl("reset-counters")
            w0 = watch.snapshot()
            obs0 = (common.proc_status(obs.proc.pid)["VmRSS"], common.proc_cpu_ns(obs.proc.pid))
            t0 = time.monotonic()
            ens = [cl.start_enroller(c) for c in configs]
            want = hosts * per_host
            deadline = t0 + max(600.0, want / 10.0)
            while True:
                s = watch.snapshot()
                if s["apps"] >= want and time.monotonic() - s["last_event"] >= 1.0:
                    break
                dead = [i for i, e in enumerate(ens) if not e.alive()]
                if dead:
                    raise RuntimeError("enroller host-%02d died:\n%s" % (dead[0], ens[dead[0]].log()[-2000:]))
                if watch.error:
                    raise RuntimeError("WatchEvents failed: %s" % watch.error)
                if time.monotonic() > deadline:
                    raise RuntimeError("fleet H=%d: %d of %d apps after %.0f s" % (hosts, s["apps"], want,
                                                                                   time.monotonic() - t0))
                time.sleep(0.2)
            w1 = watch.snapshot()
            obs1 = (common.proc_status(obs.proc.pid)["VmRSS"], common.proc_cpu_ns(obs.proc.pid))
            start_cpu = [common.proc_cpu_ms(e.proc.pid) for e in ens]
            a1 = common.auth_counters(cl)
            standin_cpu1 = common.proc_cpu_ms(cl.standin.pid)
            log("fleet H=%d: registered %d apps in %.1f s" % (hosts, want, w1["last_app_put"] - t0))
            # Steady state: nothing changes; each enroller resyncs every `resync` s.
            t2 = time.monotonic()
            time.sleep(steady)
            steady_cpu = [common.proc_cpu_ms(e.proc.pid) for e in ens]
            t3 = time.monotonic()
            w3 = watch.snapshot()
            a3 = common.auth_counters(cl)
            standin_cpu3 = common.proc_cpu_ms(cl.standin.pid)
            rss = [common.proc_status(e.proc.pid)["VmHWM"] for e in ens]
            if not all(e.alive() for e in ens + [obs]):
                raise RuntimeError("an enroller died in the steady state")
        finally:
            watch.close()
        writes_start = sum(a1.get(m, 0) for m in WRITES)
        per_min = [(b - a) * 60.0 / (t3 - t2) for a, b in zip(start_cpu, steady_cpu)]
        r = {
            "hosts": hosts, "per_host": per_host, "apps": hosts * per_host,
            "start_s": w1["last_app_put"] - t0,
            "writes_start": writes_start,
            "writes_per_s": writes_start / max(1e-9, w1["last_app_put"] - t0),
            "events_start": w1["events"] - w0["events"], "bytes_start": w1["bytes"] - w0["bytes"],
            "events_by_kind_start": {k: v - w0["by_kind"].get(k, 0) for k, v in w1["by_kind"].items()},
            "start_cpu_ms": start_cpu,
            "steady_s": t3 - t2, "steady_cpu_ms_per_min": per_min,
            "events_steady": w3["events"] - w1["events"],
            "writes_steady": sum(a3.get(m, 0) - a1.get(m, 0) for m in WRITES),
            "calls_steady": {m: a3.get(m, 0) - a1.get(m, 0) for m in a3 if a3.get(m, 0) != a1.get(m, 0)},
            "standin_cpu_ms_start": standin_cpu1, "standin_cpu_ms_steady": standin_cpu3 - standin_cpu1,
            "vmhwm_kib": rss,
            "observer_cpu_us_per_event": (obs1[1] - obs0[1]) / 1000.0 / max(1, w1["events"] - w0["events"]),
            "observer_rss_b_per_app": (obs1[0] - obs0[0]) * 1024.0 / (hosts * per_host),
        }
        log("fleet H=%d: %s" % (hosts, {k: v for k, v in r.items() if not isinstance(v, list)}))
        return r


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def fmt(x, nd=0):
    return ("%%.%df" % nd) % x


def report(results, target_hosts, target_per_host):
    out = []
    base = results[0]
    rows = []
    for r in results:
        rows.append([r["hosts"], "{:,}".format(r["apps"]), fmt(r["start_s"], 1), fmt(r["writes_per_s"]),
                     "{:,}".format(r["events_start"]), fmt(r["bytes_start"] / 1024.0), fmt(mean(r["start_cpu_ms"])),
                     fmt(max(r["start_cpu_ms"])), fmt(mean(r["steady_cpu_ms_per_min"]), 1),
                     fmt(max(r["steady_cpu_ms_per_min"]), 1), r["events_steady"], r["writes_steady"],
                     ", ".join("%s %d" % kv for kv in sorted(r["calls_steady"].items())) or "none",
                     fmt(mean(r["vmhwm_kib"]) / 1024.0, 1)])
    out.append("### A fleet on one cluster: H enrollers x %d containers each, one stand-in\n" % base["per_host"])
    out.append("All H start at once (every app a create). Each enroller receives what the benchmark's own "
               "WatchEvents(app) stream receives. Steady state: %.0f s, nothing changing, "
               "resync every few seconds.\n" % base["steady_s"])
    out.append(common.table(["H", "apps", "start: s to register all", "start: Auth writes/s",
                             "start: watch events per enroller", "start: watch KiB per enroller",
                             "start: CPU ms per enroller (mean)", "(max)", "steady: CPU ms/min per enroller (mean)",
                             "(max)", "steady: watch events", "steady: writes",
                             "steady: Auth calls (the observer's too)", "peak RSS MiB per enroller (mean)"],
                            rows))
    rows = []
    for r in results:
        rows.append(["%d / %d" % (r["hosts"], base["hosts"]), fmt(common.ratio(r["writes_per_s"], base["writes_per_s"]), 2),
                     fmt(common.ratio(r["events_start"], base["events_start"]), 2),
                     fmt(common.ratio(mean(r["start_cpu_ms"]), mean(base["start_cpu_ms"])), 2),
                     fmt(common.ratio(mean(r["steady_cpu_ms_per_min"]), mean(base["steady_cpu_ms_per_min"])), 2)])
    out.append("\nGrowth against H = %d in the same run (linear in H would be the H ratio):\n" % base["hosts"])
    out.append(common.table(["H ratio", "Auth writes/s", "watch events per enroller", "start CPU per enroller",
                             "steady CPU per enroller"], rows))
    rows = [[r["hosts"], "{:,}".format(r["apps"]), "{:,}".format(r["events_start"]),
             fmt(r["observer_cpu_us_per_event"], 1), fmt(r["observer_rss_b_per_app"])] for r in results]
    out.append("\nWhat the other hosts' apps cost each enroller: an observer, one more enroller on a host with "
               "no containers, watching from before the start. It writes nothing: all it spends is for the "
               "others' apps (CPU from the scheduler's account, while the H share the cores with it).\n")
    out.append(common.table(["H", "apps", "events received", "observer CPU µs per event",
                             "observer resident B per app"], rows))
    # Extrapolation: per-enroller start CPU = own work + foreign events x the observer's cost per event.
    last = results[-1]
    ev_per_app = common.ratio(base["events_start"], base["apps"]) or 0.0
    bytes_per_ev = common.ratio(base["bytes_start"], base["events_start"]) or 0.0
    apps_t = target_hosts * target_per_host
    ev_t = apps_t * ev_per_app
    foreign_ev = ev_t - target_per_host * ev_per_app
    lines = ["\nExtrapolation to %d hosts x %s apps (%s apps), from the figures above:\n" % (
        target_hosts, "{:,}".format(target_per_host), "{:,}".format(apps_t))]
    lines.append("* watch events each enroller receives on a cold fleet start: %s (%.2f per app), %.1f MiB; "
                 "Auth sends %s in all (H x that)" % ("{:,.0f}".format(ev_t), ev_per_app,
                                                      ev_t * bytes_per_ev / 1048576.0,
                                                      "{:,.0f}".format(ev_t * target_hosts)))
    own = mean(base["start_cpu_ms"]) * target_per_host / base["per_host"]
    lines.append("* CPU per enroller for that start: %.0f ms of its own work (start-up included) + %.0f ms for the "
                 "other hosts' events at the observer's %.1f µs per event at H = %d (%.0f ms at H = %d's %.1f µs, "
                 "with %d enrollers on the same cores)" % (
                     own, foreign_ev * base["observer_cpu_us_per_event"] / 1000.0, base["observer_cpu_us_per_event"],
                     base["hosts"], foreign_ev * last["observer_cpu_us_per_event"] / 1000.0, last["hosts"],
                     last["observer_cpu_us_per_event"], last["hosts"]))
    lines.append("* memory per enroller for the other hosts' apps: %.1f MiB (%.0f B per app, the observer's at H = %d)"
                 % ((apps_t - target_per_host) * last["observer_rss_b_per_app"] / 1048576.0,
                    last["observer_rss_b_per_app"], last["hosts"]))
    lines.append("* steady state: %.1f ms CPU per minute per enroller at H = %d and %.1f at H = %d, receiving %d and "
                 "%d watch events; with nothing changing only the cluster's own changes would flow, so %d "
                 "enrollers cost about %.1f CPU-seconds per minute in all" % (
                     mean(base["steady_cpu_ms_per_min"]), base["hosts"], mean(last["steady_cpu_ms_per_min"]),
                     last["hosts"], base["events_steady"], last["events_steady"], target_hosts,
                     target_hosts * mean(last["steady_cpu_ms_per_min"]) * target_per_host / last["per_host"] / 1000.0))
    lines.append("* Auth writes at a cold start: each enroller writes at most its `write_rate` (default 100/s), "
                 "so the fleet asks for up to %s writes/s; Teleport's backend, not enroller, sets what is "
                 "achieved (this stand-in reached %.0f/s at H = %d)" % ("{:,}".format(100 * target_hosts),
                                                                       last["writes_per_s"], last["hosts"]))
    out.append("\n".join(lines))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", default="1,5,20")
    ap.add_argument("--per-host", type=int, default=200)
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of steady state measured")
    ap.add_argument("--resync", type=int, default=10, help="each enroller's resync period, s")
    ap.add_argument("--extrapolate", default="100x1000", help="HOSTSxAPPS to extrapolate to")
    ap.add_argument("--json", help="also write raw results here")
    args = ap.parse_args()
    hosts = sorted({int(h) for h in args.hosts.split(",") if h.strip()})
    if not hosts or hosts[0] < 1 or hosts[-1] > 99:
        ap.error("--hosts: 1 to 99 enrollers")
    th, tp = (int(x) for x in args.extrapolate.lower().split("x", 1))
    results = [run_fleet(h, args.per_host, args.steady, args.resync) for h in hosts]
    common.emit(report(results, th, tp), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
