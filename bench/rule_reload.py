#!/usr/bin/python3
"""Rule set load time (what a hot reload costs) against the number of rule files.

    bench/rule_reload.py [--runs 15] [--sizes 1,10,100,300]

For each size N it writes N rule files (each a real rule{} with match() and
apps(), like the shipped ones) into a temp dir, and times `enroller check
-c CONFIG` (config + a brand-new Lua state + load and validate every file,
which is what rule_watch.c does on a reload), median of --runs.  The baseline
is the same command on 1 rule file, so "minus baseline" is the cost of the
extra files, without process start-up.  A hot reload in the daemon logs its
own "loaded in X ms" figure too.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

ENROLLER = os.path.join(common.BUILD, "enroller")

RULE = '''local enroller = require("enroller")
local util = require("enroller.util")
return enroller.rule {
  name = "r%(i)04d",
  description = "bench rule %(i)d",
  match = function(c) return c:label("bench.r%(i)04d") == "yes" end,
  apps = function(c)
    local ip = assert(util.address(c))
    return { { name = util.dns_name("r%(i)04d", c.name), uri = util.uri("http", ip, 8080) } }
  end,
}
'''


def setup(n):
    d = tempfile.mkdtemp(prefix="enr-bench-reload-", dir="/tmp")
    os.makedirs(os.path.join(d, "rules"))
    for i in range(n):
        with open(os.path.join(d, "rules", "r%04d.lua" % i), "w") as f:
            f.write(RULE % {"i": i})
    with open(os.path.join(d, "config.lua"), "w") as f:
        f.write('owner "bench"\nteleport { addr = "127.0.0.1:1", identity = "id" }\nrules { dir = "rules" }\n')
    return d


def time_check(d, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([ENROLLER, "check", "-c", os.path.join(d, "config.lua")], capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            raise SystemExit("enroller check failed: " + r.stderr.decode())
    return common.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--sizes", default="1,10,100,300")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    results = {}
    for n in sorted(set(sizes + [1])):
        d = setup(n)
        try:
            time_check(d, 2)  # warm the page cache
            results[n] = time_check(d, a.runs)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    base = results[1]
    rows = []
    for n in sizes:
        extra = results[n] - base
        rows.append([n, "%.1f" % results[n], "%.1f" % extra,
                     "%.3f" % (extra / (n - 1)) if n > 1 else "-"])
    print("### Rule set load (hot reload) time, `enroller check`, median of %d runs\n" % a.runs)
    print(common.table(["rule files", "ms (check, whole process)", "ms minus 1-file baseline",
                        "ms per extra file"], rows))


if __name__ == "__main__":
    main()
