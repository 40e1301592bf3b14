#!/usr/bin/python3
"""Where the bytes go: the heap of one `enroller run --once` pass by owner.

    bench/heap.py [--sizes 1000] [--large] [--unchanged] [--json FILE] [--keep DIR]
    bench/heap.py --timeline N


For N = 0 (the baseline) and each N of --sizes (--large adds 10,000), a
fresh stand-in (bench/standin_fast.py) and the Docker replay server
(bench/docker_replay.py, N recorded rabbitmq containers); then
  * `enroller run --once` under bench_rusage: the first pass (N creates), its
    peak RSS (ru_maxrss), then an unchanged pass, its peak RSS;
  * on a second fresh stand-in, the same first pass under
    `valgrind --tool=massif`; the snapshot massif marks as the peak is read
    (massif.out parsed here, no ms_print needed) and every byte of it is
    given to one owner by the allocation's call stack (OWNERS below, the
    first owner whose pattern matches any frame wins);
  * with --unchanged, a second pass under massif over the apps the first
    created: nothing to write, which is the daemon's start-up pass.
With --timeline N (no valgrind: massif runs a pass many times slower, so its
peak is not where a real pass's is): one first pass at N and then an
unchanged one, VmRSS read from /proc every 0.2 s, each step up of 0.5 MiB or
more printed with the time and the pass's last log line (what it was doing).
The table gives each owner's bytes at the heap's peak and, net of N = 0,
bytes per container; "malloc overhead" is massif's estimate of the
allocator's own per-block bytes (mem_heap_extra_B).
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
from scale import ReplayCluster  # noqa: E402

# (owner, frame regex): the first owner (in this order) with a matching frame
# anywhere in the allocation's stack takes the bytes.  Order matters: a Lua
# allocation made while a rule reads a container is the Lua state's; the
# desired apps are computed inside the inspect callback, so they come before
# the inspect owners.  An interned string (base/intern.c) is counted once, for
# the owner that first asked for it; the others share it.
OWNERS = [
    ("Lua states", r"^(l_alloc|capped_alloc|lua_|luaL_|luaM_|luaH_|luaS_|luaC_|luaD_|luaF_|luaV_|luaE_|luaY_|"
                   r"luaK_|luaU_|luaX_|luaZ_|luaT_|luaG_|luaopen_|lua_runtime_|lua_sandbox_)"),
    ("teleport view entries", r"^(teleport_view_|stage$|view_put|recent_put)"),
    ("resources (desired)", r"^(container_table_evaluate|rule_output_|rule_set_eval|index_add)"),
    ("label strings", r"^(get_labels)$"),
    ("inspect JSON kept", r"^(json_|jsonp_|hashtable_|on_body$)"),
    ("container snapshots and table", r"^(container_from_inspect|container_table_put|get_networks|get_ports|port_slot)"),
    ("Docker listing and sync", r"^(docker_sync_|docker_list_|diff_list|list_cb|request_inspect|yajl_)"),
    ("Auth calls (protobuf, HTTP/2, TLS)", r"^(teleport_|protobuf_c_|nghttp2_|grpc_|http2_conn_|tls_socket_|"
                                          r"CRYPTO_|SSL_|ssl|OPENSSL_|BIO_|EVP_|X509|ERR_)"),
    ("planner and executor", r"^(planner_|plan_|executor_|reconciler_|reconcile_)"),
    ("libcurl", r"^(curl_|Curl_)"),
]
ORDER = [o for o, _ in OWNERS] + ["other", "malloc overhead (massif estimate)"]
_OWNER_RE = [(o, re.compile(p)) for o, p in OWNERS]
_NODE = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
_FRAME = re.compile(r"^0x[0-9A-Fa-f]+: (\S+)")


def owner_of(stack):
    for name, rx in _OWNER_RE:
        for fn in stack:
            if rx.search(fn):
                return name
    return "other"


def parse_massif(path):
    """The peak snapshot of a massif.out: {owner: bytes}, heap bytes, extra bytes.

    A detailed tree lists, under the allocation functions, each caller with
    the bytes allocated through it and its own callers below it, one per
    line, indented by depth; a leaf's bytes have the stack from the root to
    it ("in N places, all below massif's threshold" lines keep their
    parent's stack)."""
    with open(path) as f:
        lines = f.read().splitlines()
    snaps = []
    cur = None
    for i, ln in enumerate(lines):
        if ln.startswith("snapshot="):
            cur = {"line": i}
            snaps.append(cur)
        elif cur is not None and "=" in ln and not ln.startswith(" ") and not ln.startswith("n"):
            k, v = ln.split("=", 1)
            cur[k] = v
    peak = next((s for s in snaps if s.get("heap_tree") == "peak"), None)
    if peak is None:  # no peak marked (tiny run): the largest detailed snapshot
        det = [s for s in snaps if s.get("heap_tree") in ("detailed", "peak")]
        if not det:
            raise RuntimeError("%s: no detailed snapshot" % path)
        peak = max(det, key=lambda s: int(s["mem_heap_B"]))
    heap = int(peak["mem_heap_B"])
    extra = int(peak["mem_heap_extra_B"])
    owners = {o: 0 for o in ORDER}
    i = peak["line"] + 1
    while i < len(lines) and not _NODE.match(lines[i]):
        i += 1
    stack = []  # frames from the allocation function outwards
    while i < len(lines):
        m = _NODE.match(lines[i])
        if m is None:
            break
        depth, nkids, nbytes, rest = len(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
        del stack[depth:]
        fm = _FRAME.match(rest)
        stack.append(fm.group(1) if fm else "")
        if nkids == 0 and depth > 0:
            owners[owner_of(stack[1:])] += nbytes
        i += 1
    owners["malloc overhead (massif estimate)"] = extra
    got = sum(v for k, v in owners.items() if k != "malloc overhead (massif estimate)")
    if got != heap:  # the leaves must add up to the heap total
        raise RuntimeError("%s: leaves add up to %d bytes, the peak heap is %d" % (path, got, heap))
    return owners, heap, extra


def massif_run(cl, n, config, out):
    argv = ["valgrind", "--tool=massif", "--massif-out-file=" + out, "--depth=60", "--threshold=0.0",
            "--detailed-freq=1000000", "--max-snapshots=100",
            harness.ENROLLER, "run", "--once", "-c", config]
    cl.tctl("reset-counters")
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=7200)
    text = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("massif run at N=%d exited %d:\n%s" % (n, r.returncode, text[-3000:]))
    writes = sum(common.auth_counters(cl).get(m, 0) for m in ("CreateApp", "UpdateApp"))
    owners, heap, extra = parse_massif(out)
    log("N=%d massif: peak heap %d B (+%d B malloc overhead), %d writes" % (n, heap, extra, writes))
    return {"owners": owners, "heap": heap, "extra": extra, "writes": writes}


def massif_pass(n, keep, unchanged=False):
    """The first pass under massif; with unchanged, then a second pass over
    the apps the first created (the daemon's start-up pass is this one)."""
    with ReplayCluster(n) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "heap.lua"), cl.docker_host, "bench")
        res = massif_run(cl, n, config, os.path.join(keep or cl.tmp, "massif.N%d.out" % n))
        if unchanged:
            res["unchanged"] = massif_run(cl, n, config, os.path.join(keep or cl.tmp, "massif.N%d.unchanged.out" % n))
        return res


def rss_passes(n):
    with ReplayCluster(n) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "heap.lua"), cl.docker_host, "bench")
        first = common.run_measured([harness.ENROLLER, "run", "--once", "-c", config])
        same = common.run_measured([harness.ENROLLER, "run", "--once", "-c", config])
        for what, r in (("first", first), ("unchanged", same)):
            # An incomplete pass (the stand-in's listing trails its writes,
            # as Auth's cache does) still measured its memory; no summary is a crash.
            if r["rc"] != 0 and "--once:" not in r["out"]:
                raise RuntimeError("enroller --once (%s) at N=%d exited %d:\n%s" % (what, n, r["rc"],
                                                                                  r["out"][-2000:]))
            if r["rc"] != 0:
                log("N=%d %s pass exited %d: %s" % (n, what, r["rc"], r["out"].splitlines()[-1][-200:]))
        log("N=%d peak RSS: first %d KiB, unchanged %d KiB" % (n, first["maxrss_kib"], same["maxrss_kib"]))
        return {"first_kib": first["maxrss_kib"], "unchanged_kib": same["maxrss_kib"]}


def last_line(path):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 400))
            lines = f.read().decode(errors="replace").splitlines()
        return lines[-1][:160] if lines else ""
    except OSError:
        return ""


def timeline_pass(cl, config, what):
    """One `enroller run --once`, VmRSS sampled every 0.2 s; the rows where it
    rose by 0.5 MiB or more since the last row printed, and the peak."""
    out = os.path.join(cl.tmp, "timeline-%s.log" % what)
    rows, samples = [], []
    with open(out, "wb") as lf:
        p = subprocess.Popen([harness.ENROLLER, "run", "--once", "-c", config], stdout=lf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        t0 = time.monotonic()
        while p.poll() is None:
            try:
                st = common.proc_status(p.pid)
            except (OSError, ValueError):
                break
            samples.append((time.monotonic() - t0, st.get("VmRSS", 0), st.get("VmHWM", 0), last_line(out)))
            time.sleep(0.2)
        p.wait()
    hwm = max((s[2] for s in samples), default=0)
    shown = 0
    for t, rss, h, line in samples:
        if rss >= shown + 512:
            rows.append(["%.1f" % t, "%.1f" % (rss / 1024.0), "%.1f" % (h / 1024.0), line.replace("|", "/")])
            shown = rss
    return {"what": what, "vmhwm_kib": hwm, "rows": rows}


def timeline(n):
    log("timeline N=%d" % n)
    with ReplayCluster(n) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "heap.lua"), cl.docker_host, "bench")
        res = [timeline_pass(cl, config, "first"), timeline_pass(cl, config, "unchanged")]
    out = []
    for r in res:
        out.append("\n### VmRSS of one %s `enroller run --once` pass at N = {:,}: VmHWM %.1f MiB\n".format(n) % (
            r["what"], r["vmhwm_kib"] / 1024.0))
        out.append(common.table(["s", "VmRSS MiB", "VmHWM MiB", "last log line"], r["rows"]))
    return "\n".join(out), res


def measure(n, keep, unchanged=False):
    log("heap N=%d" % n)
    return {"n": n, "rss": rss_passes(n), "massif": massif_pass(n, keep, unchanged)}


def fmt_bytes(b):
    return "{:,}".format(int(b))


def owner_table(title, base, sized):
    out = [title]
    hdr = ["owner", "N = 0 bytes"]
    for r in sized:
        hdr += ["N = {:,} bytes".format(r["n"]), "N = {:,} bytes per container".format(r["n"])]
    rows = []
    for o in ORDER:
        row = [o, fmt_bytes(base["owners"][o])]
        for r in sized:
            b = r["massif"]["owners"][o]
            row += [fmt_bytes(b), "%.0f" % ((b - base["owners"][o]) / r["n"])]
        rows.append(row)
    row = ["total heap + overhead", fmt_bytes(base["heap"] + base["extra"])]
    for r in sized:
        t = r["massif"]["heap"] + r["massif"]["extra"]
        row += [fmt_bytes(t), "%.0f" % ((t - base["heap"] - base["extra"]) / r["n"])]
    rows.append(row)
    out.append(common.table(hdr, rows))
    return out


def report(results):
    base = results[0]
    sized = results[1:]
    out = owner_table("### Heap by owner at the peak of one `enroller run --once` first pass (massif)\n",
                      base["massif"], sized)
    if "unchanged" in base["massif"]:
        out.append("")
        out += owner_table("### Heap by owner at the peak of an unchanged pass (massif; the apps exist)\n",
                           base["massif"]["unchanged"], [{"n": r["n"], "massif": r["massif"]["unchanged"]}
                                                         for r in sized])
    out.append("\n### Peak RSS of one `enroller run --once` pass (no valgrind)\n")
    rows = []
    b0 = base["rss"]["first_kib"]
    for r in results:
        d = r["rss"]
        per = "-" if not r["n"] else "%.0f" % ((d["first_kib"] - b0) * 1024.0 / r["n"])
        rows.append(["{:,}".format(r["n"]), "%.1f" % (d["first_kib"] / 1024.0), "%.1f" % (d["unchanged_kib"] / 1024.0),
                     "%.2f" % common.ratio(d["first_kib"], b0), per])
    out.append(common.table(["N", "first pass MiB", "unchanged pass MiB", "first pass x N = 0",
                             "first pass bytes per container (net of N = 0)"], rows))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--large", action="store_true", help="also N = 10,000")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--keep", help="keep the massif.out files in this directory")
    ap.add_argument("--unchanged", action="store_true",
                    help="also an unchanged pass under massif (where the daemon's start-up peaks)")
    ap.add_argument("--timeline", type=int, metavar="N",
                    help="only VmRSS through a first and an unchanged pass at N (no valgrind)")
    args = ap.parse_args()
    if args.timeline:
        text, res = timeline(args.timeline)
        common.emit(text, res, args.json)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.large and 10000 not in sizes:
        sizes.append(10000)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results = [measure(n, args.keep, args.unchanged) for n in [0] + sorted(set(s for s in sizes if s > 0))]
    common.emit(report(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
