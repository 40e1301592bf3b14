#!/usr/bin/python3
"""Rule evaluation cost per container: instructions (callgrind) and time.

    bench/rule_cost.py [--iterations 2000] [--rules DIR]

Drives bench_rule_cost (rule_loader_load + rule_set_eval over the recorded
inspect documents in spec/fixtures/docker/) for two rule directories:

  shipped   rules/ (the rabbitmq rule): what enroller runs
  baseline  one rule whose match() returns false: the fixed cost of calling
            into Lua, building the container object and checking the result

Instructions: valgrind --tool=callgrind, counting only inside rule_set_eval
(--toggle-collect), divided by the number of evaluations.  Time: the driver's
own clock over --iterations rounds, median of 5 runs.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

BASELINE_RULE = '''local enroller = require("enroller")
return enroller.rule {
  name = "nothing",
  description = "matches nothing: the baseline of bench/rule_cost.py",
  match = function(c) return false end,
  apps = function(c) return {} end,
}
'''


def fixtures(only=None):
    fs = sorted(glob.glob(os.path.join(common.SRC, "spec", "fixtures", "docker", "inspect_*.json")))
    return [f for f in fs if only is None or os.path.basename(f) == only]


def timed(rules, iterations, fx, runs=5):
    ns = []
    for _ in range(runs):
        out = subprocess.run([common.RULE_COST, rules, str(iterations)] + fx, capture_output=True,
                             text=True, check=True).stdout
        m = re.search(r"evals=(\d+) apps=(\d+) ns_per_eval=([\d.]+)", out)
        ns.append(float(m.group(3)))
        evals, apps = int(m.group(1)), int(m.group(2))
    return common.median(ns), evals, apps


def instructions(rules, iterations, fx):
    with tempfile.TemporaryDirectory(prefix="enr-bench-cg-") as d:
        out = os.path.join(d, "cg.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            "--collect-atstart=no", "--toggle-collect=rule_set_eval",
                            common.RULE_COST, rules, str(iterations)] + fx,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("callgrind: " + r.stderr[-1000:])
        m = re.search(r"evals=(\d+)", r.stdout)
        evals = int(m.group(1))
        with open(out) as f:
            summary = [ln for ln in f if ln.startswith(("summary:", "totals:"))]
        ir = int(summary[-1].split()[1])
    return ir / evals, evals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=2000, help="rounds over the fixtures for timing")
    ap.add_argument("--cg-iterations", type=int, default=50, help="rounds under callgrind")
    ap.add_argument("--rules", default=os.path.join(common.SRC, "rules"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="enr-bench-rules-") as base:
        with open(os.path.join(base, "nothing.lua"), "w") as f:
            f.write(BASELINE_RULE)
        rows = []
        res = {}
        for label, d, fx in (("baseline (matches nothing)", base, fixtures()),
                             ("shipped rules/", args.rules, fixtures()),
                             ("shipped rules/, the matching rabbitmq container only", args.rules,
                              fixtures("inspect_rabbitmq.json"))):
            ns, evals, apps = timed(d, args.iterations, fx)
            ir, _ = instructions(d, args.cg_iterations, fx)
            res[label] = (ns, ir)
            rows.append([label, len(fx), "%.2f" % (apps / float(evals)), "%.0f" % ir, "%.2f" % (ns / 1000.0)])
    b = res["baseline (matches nothing)"]
    s = res["shipped rules/"]
    print("### Rules: cost of rule_set_eval per container (%d recorded inspect documents)\n" % len(fixtures()))
    print(common.table(["rule set", "fixtures", "apps per container", "instructions per eval (callgrind)",
                        "µs per eval (median of 5)"], rows))
    print("\nshipped / baseline: instructions %.2f, time %.2f; shipped minus baseline: %.0f instructions" % (
        common.ratio(s[1], b[1]), common.ratio(s[0], b[0]), s[1] - b[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
