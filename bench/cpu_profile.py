#!/usr/bin/python3
"""Where the instructions go: one first `enroller run --once` pass by part.

    bench/cpu_profile.py [--sizes 1000] [--json FILE] [--keep DIR]

For N = 0 (the baseline) and each N of --sizes, a fresh stand-in
(bench/standin_fast.py) and the Docker replay server (bench/docker_replay.py,
N recorded rabbitmq containers, each wanting one app); then the first pass
(N creates) under `valgrind --tool=callgrind`.  The callgrind.out file is read
here (no callgrind_annotate needed): every instruction is counted once, in
the function that executed it (self cost; code inlined from a header counts
for the function it was inlined into), and that function is given to one
part by its source file (enroller's own code) or its library (PARTS below,
the first match wins).  A call into libc's malloc, string and printf
functions is charged whole to its caller's part (LIBC_LEAF); the rest of
libc is a part of its own.  The table gives each part's instructions per
container, net of N = 0, and its share of the whole.  Instruction counts do
not depend on the machine's load; the system calls' own cost does not show
(callgrind counts user space only).
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import harness, log  # noqa: E402
from scale import ReplayCluster  # noqa: E402

# (part, regex on "object|source file|function"): the first part whose regex
# matches takes the function's instructions.
PARTS = [
    ("rules: Lua and the rule library", r"liblua|/src/(lua|rules)/"),
    ("Docker JSON: inspect and list (yajl, jansson, json_pick)", r"libyajl|libjansson|/src/base/json_pick\."
                                                                  r"|/src/docker/docker_(list|event)\.|/src/model/container\."),
    ("Docker HTTP (libcurl, docker_client)", r"libcurl|/src/docker/"),
    ("TLS (OpenSSL, tls_socket)", r"libssl|libcrypto|/src/net/tls_socket\."),
    ("HTTP/2, gRPC, protobuf (Auth calls)", r"libnghttp2|libprotobuf-c|/src/net/|/src/teleport/"),
    ("daemon and start-up (config, rules loaded, ld.so)", r"ld-linux|/src/(daemon|main|config|config_decl)\."),
    ("log lines", r"/src/base/log\."),
    ("reconciler, planner, executor, view, tables, base/", r"/src/(reconcile|model|base)/"),
    ("libuv (the loop)", r"libuv"),
    ("libc (malloc, strings, printf)", r"libc\.so|libm\.so"),  # what LIBC_LEAF leaves
]
ORDER = [p for p, _ in PARTS] + ["other"]
_PART_RE = [(p, re.compile(rx)) for p, rx in PARTS]
_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def part_of(key):
    for name, rx in _PART_RE:
        if rx.search(key):
            return name
    return "other"


# libc functions that call nothing outside libc: a call to one is charged,
# whole, to the part of its caller (malloc for the rules is the rules' cost).
LIBC_LEAF = re.compile(r"^(malloc|free|calloc|realloc|cfree|__libc_(malloc|free|calloc|realloc)|_int_|"
                       r"__(mem|str|wmem|stp|raw)|mem|str|stp|__?v?s?n?printf|__vfprintf|_IO_|__GI_|"
                       r"clock_gettime|__clock_gettime|gettimeofday|time$|localtime|gmtime|__tz|"
                       r"pthread_mutex_(lock|unlock)|__pthread_mutex_(lock|unlock))")
LIBC = re.compile(r"/libc\.so|/libm\.so")


def parse_callgrind(path):
    """Instructions (Ir) by part, and the total."""
    names = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl",
               "fn": "fn", "cfn": "fn"}
    cur = {"ob": "", "fl": "", "fn": ""}
    call = {"ob": None, "fn": ""}
    parts = dict((p, 0) for p in ORDER)
    in_call = False
    total = 0

    def resolve(kind, value):
        m = _NAMED.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
            return m.group(2)
        return names[kind].get(m.group(1), value)

    with open(path) as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                fields = line.split()
                if len(fields) < 2:
                    continue
                ir = int(fields[1])
                if in_call:  # the inclusive cost of the call just named
                    in_call = False
                    callee_ob = call["ob"] if call["ob"] is not None else cur["ob"]
                    if (LIBC.search(callee_ob) and not LIBC.search(cur["ob"]) and LIBC_LEAF.match(call["fn"])):
                        parts[part_of("%s|%s|%s" % (cur["ob"], cur["fl"], cur["fn"]))] += ir
                        parts["libc (malloc, strings, printf)"] -= ir
                    call["ob"] = None
                    continue
                parts[part_of("%s|%s|%s" % (cur["ob"], cur["fl"], cur["fn"]))] += ir
                total += ir
                continue
            if "=" not in line:
                continue
            key, value = line.rstrip("\n").split("=", 1)
            if key == "calls":
                in_call = True
            elif key in kind_of:
                name = resolve(kind_of[key], value)
                if key in ("ob", "fl", "fn"):  # fi=/fe= (inlined code) keep the function's file
                    cur[key] = name
                elif key == "cob":
                    call["ob"] = name
                elif key == "cfn":
                    call["fn"] = name
    return parts, total


def profile_pass(n, keep):
    with ReplayCluster(n) as cl:
        config = common.write_config(cl, os.path.join(cl.tmp, "cpu.lua"), cl.docker_host, "bench")
        out = os.path.join(keep or cl.tmp, "callgrind.N%d.out" % n)
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                harness.ENROLLER, "run", "--once", "-c", config]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=7200)
        text = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise RuntimeError("callgrind run at N=%d exited %d:\n%s" % (n, r.returncode, text[-3000:]))
        writes = common.auth_counters(cl).get("CreateApp", 0)
        if writes != n:
            raise RuntimeError("N=%d: the first pass made %d CreateApp calls" % (n, writes))
        parts, total = parse_callgrind(out)
        log("N=%d callgrind: %d instructions, %d creates" % (n, total, writes))
        return {"n": n, "parts": parts, "total": total}


def report(results):
    base = results[0]
    out = ["### Instructions of one `enroller run --once` first pass, by part (callgrind)\n"]
    hdr = ["part", "N = 0"]
    for r in results[1:]:
        hdr += ["N = {:,} per container".format(r["n"]), "share"]
    rows = []
    for p in ORDER + ["total"]:
        b = base["total"] if p == "total" else base["parts"][p]
        row = [p, "{:,}".format(b)]
        for r in results[1:]:
            v = r["total"] if p == "total" else r["parts"][p]
            net = (r["total"] - base["total"])
            row += ["{:,.0f}".format((v - b) / r["n"]), "%.1f%%" % (100.0 * (v - b) / net if net else 0)]
        rows.append(row)
    out.append(common.table(hdr, rows))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--keep", help="keep the callgrind.out files in this directory")
    args = ap.parse_args()
    sizes = sorted(set(int(s) for s in args.sizes.split(",") if s.strip() and int(s) > 0))
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results = [profile_pass(n, args.keep) for n in [0] + sizes]
    common.emit(report(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
