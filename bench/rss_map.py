#!/usr/bin/python3
"""Where an idle daemon's resident memory is: /proc/PID/smaps grouped by mapping.

    bench/rss_map.py [--enroller PATH] [--compare PATH] [--resyncs 3] [--http] [--detail LIB]
                     [--floor PATH] [--json FILE]
    bench/rss_map.py --heap [--enroller PATH] [--resyncs 3] [--floor PATH] [--json FILE]

The daemon is started the way bench/scale.py starts it for its N = 0 row: the
Docker replay server (bench/docker_replay.py) with no containers on a unix
socket, a fresh stand-in, `enroller run` with `resync = 1`.  Once the replay
server has seen `--resyncs` more listings after the start-up pass (the daemon
is idle: connected to Docker and to Auth, nothing to do), the script reads
/proc/PID/smaps and /proc/PID/status and prints one table: Rss, Pss and
Anonymous KiB per library (every mapping of one file is one row; "[heap]",
"[stack]" and unnamed anonymous mappings are rows of their own), the sum,
and VmHWM / VmRSS.  --compare runs a second program (e.g. a build of main)
on a fresh stand-in and replay server in the same run and adds its columns
and the ratios.  --http also turns on the ops listener (http.listen on a
loopback port).  --detail LIB lists each mapping of a library (text, data,
relro) with its size and Rss.

The floor: in the same run, bench_idle_floor (bench/idle_floor.c: linked as
enroller is, only curl_global_init, OpenSSL's init and one libuv loop, then
asleep) is started, and once it prints "ready" its smaps and status are read
the same way.  A second table gives VmRSS, file-backed (Rss - Anonymous: page
cache pages mapped), anonymous and Pss KiB of the floor and of the daemon,
the daemon as a ratio of and a difference from the floor, and one line: the
daemon's VmRSS, of which the floor, and enroller's own part.
"""
import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import harness, log  # noqa: E402
from scale import ReplayCluster  # noqa: E402
import heap  # noqa: E402

FIELDS = ("Rss", "Pss", "Anonymous")


def group_of(name):
    """The row a mapping belongs to: a file's base name (libcrypto.so.3), or
    the kernel's name for an anonymous one ([heap], [stack], [anon])."""
    if not name:
        return "[anon]"
    if name.startswith("["):
        return name.split(":", 1)[0] + ("]" if ":" in name else "")
    return os.path.basename(name.split(" (deleted)")[0])


def smaps_mappings(pid):
    """Every mapping of /proc/PID/smaps: its group, permissions, size and FIELDS (KiB)."""
    out = []
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and not parts[0].endswith(":"):
                # a mapping's header: range perms offset dev inode [name]
                name = line.split(None, 5)[5].strip() if len(parts) >= 6 else ""
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = dict.fromkeys(FIELDS, 0)
                cur.update(group=group_of(name), perms=parts[1], size=(hi - lo) // 1024)
                out.append(cur)
                continue
            key = parts[0][:-1]
            if cur is not None and key in FIELDS and len(parts) >= 2 and parts[1].isdigit():
                cur[key] += int(parts[1])
    return out


def by_group(mappings):
    groups = {}
    for m in mappings:
        g = groups.setdefault(m["group"], dict.fromkeys(FIELDS, 0))
        for k in FIELDS:
            g[k] += m[k]
    return groups


def stop(proc):
    """Terminate proc and reap it; killed if it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def massif_argv(snapshot):
    """valgrind's massif in front of a program; its own output file (at exit)
    is not read: the snapshot is taken by vgdb (take_snapshot)."""
    return ["valgrind", "-q", "--tool=massif", "--vgdb=yes", "--depth=60", "--threshold=0.0",
            "--massif-out-file=" + snapshot + ".exit"]


def take_snapshot(pid, snapshot):
    """A detailed massif snapshot of the running pid into snapshot: owners."""
    r = subprocess.run(["vgdb", "--pid=%d" % pid, "detailed_snapshot", snapshot], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0 or not os.path.exists(snapshot):
        raise RuntimeError("vgdb detailed_snapshot of %d failed: %s%s" % (pid, r.stdout[-500:], r.stderr[-500:]))
    owners, total, extra = heap.parse_massif(snapshot)
    return {"owners": owners, "heap": total, "extra": extra}


@contextlib.contextmanager
def idle_daemon(enroller, resyncs, http, prefix=()):
    """enroller (after prefix, e.g. massif_argv) idle on a fresh replay server
    (N = 0) and stand-in, yielded once it has done `resyncs` resyncs; stopped
    at the end."""
    with ReplayCluster(0) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "idle.lua"), cl.docker_host, "bench", resync=1)
        if http:
            with open(config, "a") as f:
                f.write('http { listen = "127.0.0.1:%d" }\n' % free_port())
        cl.reset_docker_counters()
        logpath = os.path.join(cl.tmp, "idle-enroller.log")
        with open(logpath, "ab") as logf:
            proc = subprocess.Popen(list(prefix) + [enroller, "run", "-c", config], stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            def lists():
                return cl.docker_counters().get("/containers/json", 0)
            # listing 1 is the start-up pass; each later one is a resync
            harness.wait_for(lambda: lists() >= 1 + resyncs or proc.poll() is not None, timeout=300,
                             interval=0.05, what="%d resyncs" % resyncs)
            if proc.poll() is not None:
                with open(logpath, errors="replace") as f:
                    raise RuntimeError("%s exited %d:\n%s" % (enroller, proc.returncode, f.read()[-2000:]))
            yield proc
        finally:
            stop(proc)


@contextlib.contextmanager
def idle_floor(program, prefix=()):
    """The idle floor (after prefix), yielded once it has printed "ready";
    stopped at the end (its exit code is then proc.returncode)."""
    proc = subprocess.Popen(list(prefix) + [program], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()       # blocks until "ready" or its exit (EOF)
        if line.strip() != "ready":
            proc.wait(30)
            raise RuntimeError("%s exited %s before ready: %s%s" % (program, proc.returncode, line,
                                                                     proc.stdout.read()[-2000:]))
        yield proc
    finally:
        if proc.poll() is None:
            stop(proc)
        proc.stdout.close()


def measure(enroller, resyncs, http):
    """The idle daemon's smaps groups, status and threads."""
    with idle_daemon(enroller, resyncs, http) as proc:
        mappings = smaps_mappings(proc.pid)
        st = common.proc_status(proc.pid)
        threads = []
        for t in sorted(os.listdir("/proc/%d/task" % proc.pid), key=int):
            with open("/proc/%d/task/%s/comm" % (proc.pid, t)) as f:
                threads.append(f.read().strip())
    return {"enroller": enroller, "groups": by_group(mappings), "mappings": mappings, "vmhwm_kib": st["VmHWM"],
            "vmrss_kib": st["VmRSS"], "threads": threads}


def measure_floor(program):
    """The idle floor's smaps groups and status."""
    with idle_floor(program) as proc:
        mappings = smaps_mappings(proc.pid)
        st = common.proc_status(proc.pid)
    return {"program": program, "groups": by_group(mappings), "vmhwm_kib": st["VmHWM"], "vmrss_kib": st["VmRSS"],
            "rc": proc.returncode}


def figures(run):
    """VmRSS, file-backed, anonymous and Pss KiB of one measured process."""
    rss = sum(v["Rss"] for v in run["groups"].values())
    anon = sum(v["Anonymous"] for v in run["groups"].values())
    return {"VmRSS": run["vmrss_kib"], "file-backed": rss - anon, "anonymous": anon,
            "Pss": sum(v["Pss"] for v in run["groups"].values())}


def run_tag(runs, i, form):
    """What marks run i (0: A, 1: B) in a header or a line: form % "A" or "B"
    when two runs are compared, "" when there is one."""
    return "" if len(runs) == 1 else form % ("A" if i == 0 else "B")


def floor_report(runs, floor):
    out = ["\n### Idle daemon against the libraries' floor (`bench_idle_floor`, same run)\n"]
    f = figures(floor)
    header = ["KiB", "floor"]
    for i, r in enumerate(runs):
        tag = run_tag(runs, i, " (%s)")
        header += ["daemon" + tag, "daemon / floor" + tag, "daemon - floor" + tag]
    rows = []
    for k in ("VmRSS", "file-backed", "anonymous", "Pss"):
        cells = [k, fmt(f[k])]
        for r in runs:
            d = figures(r)[k]
            cells += [fmt(d), "%.2f" % common.ratio(d, f[k]), fmt(d - f[k])]
        rows.append(cells)
    out.append(common.table(header, rows))
    out.append("\nThe floor is `%s` (bench/idle_floor.c): linked as enroller is (%d files mapped), "
               "curl_global_init, OpenSSL's init and one libuv loop, nothing else." % (
                   floor["program"], sum(1 for g in floor["groups"] if not g.startswith("["))))
    for i, r in enumerate(runs):
        tag = run_tag(runs, i, "%s: ")
        diff = []
        for g in set(r["groups"]) | set(floor["groups"]):
            a, b = r["groups"].get(g, dict.fromkeys(FIELDS, 0)), floor["groups"].get(g, dict.fromkeys(FIELDS, 0))
            diff.append((a["Rss"] - b["Rss"], a["Rss"] - a["Anonymous"] - b["Rss"] + b["Anonymous"], g))
        top = sorted(diff, key=lambda x: (-x[0], x[2]))[:6]
        out.append("\n%sRss the daemon has beyond the floor, largest first (KiB, of which file-backed): %s" % (
            tag, "; ".join("%s %+d (%+d)" % (g, d, fb) for d, fb, g in top)))
        d = figures(r)
        out.append("\n%sidle VmRSS %.1f MiB, of which %.1f MiB is the libraries' floor; enroller's own part "
                   "%.1f MiB (file-backed %.1f, anonymous %.1f)" % (
                       tag, d["VmRSS"] / 1024.0, f["VmRSS"] / 1024.0, (d["VmRSS"] - f["VmRSS"]) / 1024.0,
                       (d["file-backed"] - f["file-backed"]) / 1024.0, (d["anonymous"] - f["anonymous"]) / 1024.0))
    return "\n".join(out)


def fmt(kib):
    return "{:,}".format(kib)


def report(runs, detail=None):
    out = ["### Idle daemon: resident memory by mapping (N = 0, `bench/rss_map.py`)\n"]
    names = set()
    for r in runs:
        names.update(r["groups"])
    first = runs[0]["groups"]
    order = sorted(names, key=lambda g: (-first.get(g, {}).get("Rss", 0),
                                         -max(r["groups"].get(g, {}).get("Rss", 0) for r in runs), g))
    header = ["mapping"]
    for i, r in enumerate(runs):
        tag = run_tag(runs, i, " (%s)")
        header += ["Rss KiB" + tag, "Pss KiB" + tag, "anon KiB" + tag]
    rows = []
    for g in order:
        cells = [g]
        for r in runs:
            v = r["groups"].get(g)
            cells += [fmt(v["Rss"]), fmt(v["Pss"]), fmt(v["Anonymous"])] if v else ["-", "-", "-"]
        if any(r["groups"].get(g, {}).get("Rss", 0) for r in runs):
            rows.append(cells)
    total = ["**sum of mappings**"]
    for r in runs:
        total += [fmt(sum(v[f] for v in r["groups"].values())) for f in FIELDS]
    rows.append(total)
    hwm = ["**VmHWM / VmRSS**"]
    for r in runs:
        hwm += [fmt(r["vmhwm_kib"]), fmt(r["vmrss_kib"]), ""]
    rows.append(hwm)
    out.append(common.table(header, rows))
    for i, r in enumerate(runs):
        tag = run_tag(runs, i, "%s: ")
        files = sum(1 for g in r["groups"] if not g.startswith("["))
        out.append("\n%s`%s`: %d files mapped, %d threads (%s), VmHWM %.1f MiB, anonymous %.1f MiB" % (
            tag, r["enroller"], files, len(r["threads"]), ", ".join(r["threads"]), r["vmhwm_kib"] / 1024.0,
            sum(v["Anonymous"] for v in r["groups"].values()) / 1024.0))
    for g in detail or ():
        out.append("\n%s, each mapping (size, Rss, anonymous KiB):" % g)
        for i, r in enumerate(runs):
            ms = [m for m in r["mappings"] if m["group"].startswith(g)]
            out.append("%s%s" % (run_tag(runs, i, "%s: "),
                                 "; ".join("%s %s %s %s" % (m["perms"], fmt(m["size"]), fmt(m["Rss"]),
                                                            fmt(m["Anonymous"])) for m in ms) or "not mapped"))
    if len(runs) == 2:
        out.append("\nA / B: VmHWM %.2f, Rss %.2f" % (
            common.ratio(runs[0]["vmhwm_kib"], runs[1]["vmhwm_kib"]),
            common.ratio(sum(v["Rss"] for v in runs[0]["groups"].values()),
                         sum(v["Rss"] for v in runs[1]["groups"].values()))))
    return "\n".join(out)


def heap_report(run, floor):
    d, f = run["heap"], floor["heap"]
    rows = []
    for o in heap.ORDER:
        a, b = d["owners"][o], f["owners"][o]
        if a or b:
            rows.append([o, fmt(b), fmt(a), "{:+,}".format(a - b)])
    rows.append(["**heap + overhead**", fmt(f["heap"] + f["extra"]), fmt(d["heap"] + d["extra"]),
                 "{:+,}".format(d["heap"] + d["extra"] - f["heap"] - f["extra"])])
    out = ["### Idle daemon's heap by owner against the libraries' floor (massif snapshots, bytes)\n",
           common.table(["owner", "floor (`bench_idle_floor`)", "idle daemon", "daemon - floor"], rows),
           "\nEach heap byte of a detailed massif snapshot goes to the first owner of bench/heap.py's OWNERS "
           "with a frame in its call stack; the floor's libraries' own start-up allocations (OpenSSL's error "
           "strings, GnuTLS's ASN.1 trees loaded through libcurl's dependencies) land where their frames "
           "say, in both columns. Program: `%s`." % run["enroller"]]
    return "\n".join(out)


def main_heap(args):
    with tempfile.TemporaryDirectory(prefix="enr-bench-heap-") as d:
        enroller, program = os.path.abspath(args.enroller), os.path.abspath(args.floor)
        snap = os.path.join(d, "daemon.snap")
        with idle_daemon(enroller, args.resyncs, False, massif_argv(snap)) as proc:
            run = {"enroller": enroller, "heap": take_snapshot(proc.pid, snap)}
        snap = os.path.join(d, "floor.snap")
        with idle_floor(program, massif_argv(snap)) as proc:
            floor = {"program": program, "heap": take_snapshot(proc.pid, snap)}
    log("idle heap: daemon %d B, floor %d B" % (run["heap"]["heap"], floor["heap"]["heap"]))
    common.emit(heap_report(run, floor), {"run": run, "floor": floor}, args.json)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--enroller", default=harness.ENROLLER, help="the program measured (A)")
    ap.add_argument("--compare", help="a second program (B), measured in the same run")
    ap.add_argument("--resyncs", type=int, default=3, help="resyncs (1 s apart) before smaps is read")
    ap.add_argument("--http", action="store_true", help="also run the ops listener on a loopback port")
    ap.add_argument("--detail", action="append", help="also list each mapping of the files whose name starts so "
                    "(repeatable), e.g. --detail libcrypto")
    ap.add_argument("--floor", default=os.path.join(common.BUILD, "bench_idle_floor"),
                    help="the idle floor program, measured in the same run")
    ap.add_argument("--heap", action="store_true", help="the heap by owner (massif snapshots), not the mappings")
    ap.add_argument("--json", help="also write raw results here")
    args = ap.parse_args()
    if args.heap:
        return main_heap(args)
    runs = [measure(os.path.abspath(args.enroller), args.resyncs, args.http)]
    if args.compare:
        runs.append(measure(os.path.abspath(args.compare), args.resyncs, args.http))
    floor = measure_floor(os.path.abspath(args.floor))
    for r in runs:
        log("%s: VmHWM %d KiB" % (r["enroller"], r["vmhwm_kib"]))
    log("%s: VmRSS %d KiB" % (floor["program"], floor["vmrss_kib"]))
    common.emit(report(runs, args.detail) + "\n" + floor_report(runs, floor), {"runs": runs, "floor": floor},
                args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
