#!/usr/bin/python3
"""Rule evaluation cost per container: instructions (callgrind) and time.

    bench/rule_cost.py [--iterations 2000] [--rules DIR] [--compare BUILD_DIR]

Drives bench_rule_cost (rule_loader_load + rule_set_eval over the recorded
inspect documents in spec/fixtures/docker/) for three rows:

  baseline   one rule whose match() returns false, over the containers no
             shipped rule matches: the fixed cost of entering a rule's Lua
             state, building the container object and calling match()
  no match   the shipped rules/ over those same containers (6 of the 7
             recordings: no image or label any shipped rule asks for)
  matching   the shipped rules/ over the RabbitMQ container (one app)

Each row's ratio is to the baseline of the same build.  --compare runs the
same rows, in the same run and over the same recordings, with a second build
(its bench_rule_cost, and the rules/ of the source tree its lua/ link points
at), e.g. a build of the main branch; the rows are told apart by the
"build" column.

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
MATCHING = "inspect_rabbitmq.json"
ROWS = ("baseline (empty rule)", "shipped rules/, no rule matches", "shipped rules/, matching (rabbitmq)")


def fixtures(matching):
    fs = sorted(glob.glob(os.path.join(common.SRC, "spec", "fixtures", "docker", "inspect_*.json")))
    return [f for f in fs if (os.path.basename(f) == MATCHING) == matching]


def timed(driver, rules, iterations, fx, runs=5):
    ns = []
    for _ in range(runs):
        out = subprocess.run([driver, rules, str(iterations)] + fx, capture_output=True,
                             text=True, check=True).stdout
        m = re.search(r"evals=(\d+) apps=(\d+) ns_per_eval=([\d.]+)", out)
        ns.append(float(m.group(3)))
        evals, apps = int(m.group(1)), int(m.group(2))
    return common.median(ns), evals, apps


def instructions(driver, rules, iterations, fx):
    with tempfile.TemporaryDirectory(prefix="enr-bench-cg-") as d:
        out = os.path.join(d, "cg.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            "--collect-atstart=no", "--toggle-collect=rule_set_eval",
                            driver, rules, str(iterations)] + fx,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("callgrind: " + r.stderr[-1000:])
        m = re.search(r"evals=(\d+)", r.stdout)
        evals = int(m.group(1))
        with open(out) as f:
            summary = [ln for ln in f if ln.startswith(("summary:", "totals:"))]
        ir = int(summary[-1].split()[1])
    return ir / evals, evals


def source_of(build):
    """The source tree a build dir was made from (its lua/ links there)."""
    lua = os.path.join(build, "lua")
    if not os.path.isdir(lua):
        raise SystemExit("rule_cost: %s has no lua/ (not a build dir?)" % build)
    return os.path.dirname(os.path.realpath(lua))


def describe(build, src):
    r = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    rev = r.stdout.strip() if r.returncode == 0 else "no git"
    return "%s (source %s, %s)" % (build, src, rev)


def measure(name, driver, rules, base_dir, args):
    """The three rows for one build: {row: (ns, ir, evals, apps, n_fixtures)}."""
    res = {}
    for label, d, fx in ((ROWS[0], base_dir, fixtures(False)),
                         (ROWS[1], rules, fixtures(False)),
                         (ROWS[2], rules, fixtures(True))):
        common.log("rule_cost: build %s: %s" % (name, label))
        ns, evals, apps = timed(driver, d, args.iterations, fx)
        ir, _ = instructions(driver, d, args.cg_iterations, fx)
        res[label] = (ns, ir, evals, apps, len(fx))
    # the row names must stay true: nothing matches, and then one app
    if res[ROWS[1]][3] != 0 or res[ROWS[2]][3] == 0:
        raise SystemExit("rule_cost: build %s: the shipped rules matched %d no-match evaluations and "
                         "produced %d apps for the matching container" % (name, res[ROWS[1]][3], res[ROWS[2]][3]))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=2000, help="rounds over the fixtures for timing")
    ap.add_argument("--cg-iterations", type=int, default=50, help="rounds under callgrind")
    ap.add_argument("--rules", default=os.path.join(common.SRC, "rules"))
    ap.add_argument("--compare", metavar="BUILD_DIR",
                    help="a second build (e.g. of main) measured in the same run, with its own rules/")
    args = ap.parse_args()
    builds = [("A", common.RULE_COST, args.rules, describe(common.BUILD, common.SRC))]
    if args.compare:
        src = source_of(args.compare)
        builds.append(("B", os.path.join(args.compare, "bench_rule_cost"), os.path.join(src, "rules"),
                       describe(args.compare, src)))
    results = {}
    with tempfile.TemporaryDirectory(prefix="enr-bench-rules-") as base:
        with open(os.path.join(base, "nothing.lua"), "w") as f:
            f.write(BASELINE_RULE)
        for name, driver, rules, _ in builds:
            results[name] = measure(name, driver, rules, base, args)
    rows = []
    for label in ROWS:
        for name, _, _, _ in builds:
            ns, ir, evals, apps, nfx = results[name][label]
            b_ns, b_ir = results[name][ROWS[0]][:2]
            rows.append([label, name, nfx, "%.2f" % (apps / float(evals)), "%.0f" % ir,
                         "%.2f" % common.ratio(ir, b_ir), "%.2f" % (ns / 1000.0), "%.2f" % common.ratio(ns, b_ns)])
    print("### Rules: cost of rule_set_eval per container (recorded inspect documents)\n")
    for name, _, _, desc in builds:
        print("- build %s: %s" % (name, desc))
    print()
    print(common.table(["rule set", "build", "containers", "apps per container",
                        "instructions per eval (callgrind)", "× baseline", "µs per eval (median of 5)",
                        "× baseline"], rows))
    if args.compare:
        print()
        for label in ROWS:
            a, b = results["A"][label], results["B"][label]
            print("- %s: A / B instructions %.3f, time %.3f" % (label, common.ratio(a[1], b[1]),
                                                             common.ratio(a[0], b[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
