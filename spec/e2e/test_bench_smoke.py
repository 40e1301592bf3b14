#!/usr/bin/python3
"""Smoke test of bench/: each benchmark runs with tiny sizes and prints its
Markdown tables with sane numbers.  No timing is asserted: only that the
tables exist, that counts add up (N creates on a first pass, zero writes on
an unchanged one) and that latencies and costs are positive numbers."""
import os
import re
import subprocess
import sys
import unittest

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(SRC, "bench")
PY = "/usr/bin/python3"


def run(*args):
    r = subprocess.run([PY] + list(args), capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (args[0], r.returncode, r.stderr[-3000:]))
    return r.stdout


def rows(md, first_cell):
    """Cells of the table rows whose first cell is first_cell."""
    out = []
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            out.append(cells)
    return out


class BenchSmoke(unittest.TestCase):
    def test_latency(self):
        out = run(os.path.join(BENCH, "latency.py"), "-n", "3", "--burst", "3", "--poll-n", "3")
        self.assertIn("### Registration latency", out)
        for kind in ("floor", "enroller", "poll"):
            r = rows(out, kind)
            self.assertGreaterEqual(len(r), 1, kind)
            for cells in r[:-1] if kind != "poll" else r[:1]:
                p50 = float(cells[3])
                self.assertTrue(-50 < p50 < 60000, cells)
        self.assertTrue(rows(out, "enroller / floor, one at a time"))
        poll = rows(out, "poll")[0]
        self.assertEqual(poll[2], "3")

    def test_scale(self):
        # --phase-mark 0.01: both passes at N = 5 run past 10 ms, so the table
        # by phase has its row
        out = run(os.path.join(BENCH, "scale.py"), "--sizes", "5", "--repeat", "1", "--cross-check", "3",
                  "--phase-mark", "0.01")
        self.assertIn("### Scale", out)
        r = rows(out, "5")[0]
        # first pass: 5 creates; unchanged pass: no writes
        self.assertEqual(r[2], "yes / yes")
        self.assertEqual(int(r[6]), 5)
        self.assertEqual(int(r[11]), 0)
        self.assertGreater(float(r[3]), 0)
        # the first-pass floor of the same run: a CPU figure and the ratio to it
        self.assertGreater(float(r[13]), 0)
        self.assertGreater(float(r[14]), 0)
        # and the paced floor (enroller's write pacing): its CPU and the ratio to it
        self.assertGreater(float(r[15]), 0)
        self.assertGreater(float(r[16]), 0)
        base = rows(out, "0")[0]
        self.assertGreater(float(base[13]), 0)
        self.assertGreater(float(base[15]), 0)
        # CPU per container: N, first, unchanged, floor, ratio, paced floor, ratio
        per = [c for c in rows(out, "5") if len(c) == 7][0]
        for i in (3, 4, 5, 6):
            self.assertNotEqual(per[i], "n/a", i)
        # the first pass by phase: the first 0.01 s and the rest, enroller's
        # and the paced floor's, and the ratios
        phase = out.split("### The first pass by phase", 1)[1].split("###", 1)[0]
        ph = rows(phase, "5")[0]
        for i in range(1, 7):
            self.assertGreater(float(ph[i]), 0, i)
        self.assertIn("First-pass floor: `bench_floor --first-pass`", out)
        self.assertIn("### Memory", out)
        self.assertIn("### The daemon", out)
        self.assertIn("### Cross-check", out)
        real = rows(out, "real dockerd")[0]
        self.assertEqual(int(real[5]), 3)
        self.assertGreaterEqual(int(real[10]), 3)  # Docker calls, counted by the proxy

    def test_scale_strace(self):
        out = run(os.path.join(BENCH, "scale.py"), "--strace", "--sizes", "3")
        self.assertIn("### System calls of one first `enroller run --once` pass", out)
        base, three = rows(out, "0")[0], rows(out, "3")[0]
        self.assertEqual(three[1], "yes")
        self.assertEqual(int(three[2]), 3)  # a first pass: 3 creates
        for r in (base, three):
            self.assertGreater(int(r[3].replace(",", "")), 0)
            self.assertEqual(len(r[6].split(", ")), 5, r)  # the top 5 calls
        self.assertGreater(float(three[4]), 0)

    def test_rule_cost(self):
        out = run(os.path.join(BENCH, "rule_cost.py"), "--iterations", "10", "--cg-iterations", "2")
        base = rows(out, "baseline (empty rule)")[0]
        none = rows(out, "shipped rules/, no rule matches")[0]
        rabbit = rows(out, "shipped rules/, matching (rabbitmq)")[0]
        self.assertEqual(base[3], "0.00")
        self.assertEqual(none[3], "0.00")
        self.assertEqual(rabbit[3], "1.00")
        self.assertEqual(base[5], "1.00")
        for r in (base, none, rabbit):
            self.assertGreater(int(r[4]), 0)
        # the matching container runs match(), apps() and the output check
        self.assertGreater(int(rabbit[4]), int(base[4]))

    def test_fleet(self):
        out = run(os.path.join(BENCH, "fleet.py"), "--hosts", "1,2", "--per-host", "4", "--steady", "2",
                  "--resync", "1")
        self.assertIn("### A fleet on one cluster", out)
        one, two = rows(out, "1")[0], rows(out, "2")[0]
        self.assertEqual(one[1], "4")
        self.assertEqual(two[1], "8")
        # each enroller sees every host's app events: twice as many with two hosts
        self.assertGreaterEqual(int(one[4].replace(",", "")), 4)
        self.assertEqual(int(two[4].replace(",", "")), 2 * int(one[4].replace(",", "")))
        self.assertEqual(two[11], "0")  # no writes with nothing changing
        # the observer receives what each enroller receives, and pays for it
        obs = rows(out, "2")[1]
        self.assertEqual(obs[2], two[4])
        self.assertGreater(float(obs[3]), 0.0)
        self.assertIn("Extrapolation to 100 hosts", out)

    def test_heap(self):
        out = run(os.path.join(BENCH, "heap.py"), "--sizes", "5")
        self.assertIn("### Heap by owner", out)
        self.assertIn("### Peak RSS", out)
        # every byte of the peak has an owner: the rows add up to the total
        for col in (1, 2):
            owners = [int(r[col].replace(",", "")) for r in
                      (rows(out, o)[0] for o in ("Lua states", "teleport view entries", "resources (desired)",
                                                  "label strings", "inspect JSON kept",
                                                  "container snapshots and table", "Docker listing and sync",
                                                  "Auth calls (protobuf, HTTP/2, TLS)", "planner and executor",
                                                  "libcurl", "other", "malloc overhead (massif estimate)"))]
            total = int(rows(out, "total heap + overhead")[0][col].replace(",", ""))
            self.assertEqual(sum(owners), total)
            self.assertGreater(total, 0)
        base, five = rows(out, "0")[0], rows(out, "5")[0]
        self.assertGreater(float(base[1]), 0)
        self.assertGreater(float(five[1]), 0)

    def test_cpu_profile(self):
        sys.path.insert(0, BENCH)
        import cpu_profile
        out = run(os.path.join(BENCH, "cpu_profile.py"), "--sizes", "5")
        self.assertIn("### Instructions of one `enroller run --once` first pass, by part", out)
        # every instruction has a part: the rows add up to the total
        parts = [rows(out, p)[0] for p in cpu_profile.ORDER]
        total = rows(out, "total")[0]
        self.assertEqual(sum(int(r[1].replace(",", "")) for r in parts), int(total[1].replace(",", "")))
        self.assertGreater(int(total[2].replace(",", "")), 0)  # instructions per container
        # the parts each container adds to (at N = 5 the others, TLS among them, are within
        # start-up's variation from run to run, and may come out below N = 0)
        for p in ("rules: Lua and the rule library", "Docker JSON: inspect and list (yajl, jansson, json_pick)",
                  "Docker HTTP (libcurl, docker_client)"):
            self.assertGreater(int(rows(out, p)[0][2].replace(",", "")), 0, p)

    def test_rss_map_heap(self):
        sys.path.insert(0, BENCH)
        import heap
        out = run(os.path.join(BENCH, "rss_map.py"), "--heap", "--resyncs", "1")
        self.assertIn("### Idle daemon's heap by owner against the libraries' floor", out)
        owners = [r for o in heap.ORDER for r in rows(out, o)]
        total = rows(out, "**heap + overhead**")[0]
        # each column's owners add up to its total, and the difference column is the daemon's less the floor's
        for col in (1, 2):
            self.assertEqual(sum(int(r[col].replace(",", "")) for r in owners), int(total[col].replace(",", "")))
        for r in owners + [total]:
            floor, daemon, diff = (int(r[i].replace(",", "").replace("+", "")) for i in (1, 2, 3))
            self.assertEqual(daemon - floor, diff, r)
        # the daemon holds Lua states (the rules) and the floor none; both have a heap
        lua = rows(out, "Lua states")[0]
        self.assertEqual(int(lua[1].replace(",", "")), 0)
        self.assertGreater(int(lua[2].replace(",", "")), 0)
        self.assertGreater(int(total[1].replace(",", "")), 0)

    def test_rss_map(self):
        out = run(os.path.join(BENCH, "rss_map.py"), "--resyncs", "1")
        self.assertIn("### Idle daemon: resident memory by mapping", out)
        # the first table (by mapping) ends at the first blank line after its header
        lines = out.splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith("| mapping"))
        end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
        table = [ln for ln in lines[start:end] if ln.startswith("| ") and not ln.startswith("| mapping")]
        libs = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in table
                if not ln.startswith("| **")]
        names = [r[0] for r in libs]
        self.assertIn("[heap]", names)
        self.assertIn("enroller", names)
        self.assertTrue(any(n.startswith("libc.so") for n in names), names)
        # the rows add up to the sum, and the sum is the process's resident set
        total = rows(out, "**sum of mappings**")[0]
        for col in (1, 2, 3):
            self.assertEqual(sum(int(r[col].replace(",", "")) for r in libs), int(total[col].replace(",", "")))
        hwm = rows(out, "**VmHWM / VmRSS**")[0]
        self.assertGreater(int(hwm[1].replace(",", "")), 0)
        self.assertGreaterEqual(int(hwm[1].replace(",", "")), int(hwm[2].replace(",", "")))
        # the libraries' floor of the same run: each figure positive, the daemon's ratio to it positive
        self.assertIn("### Idle daemon against the libraries' floor", out)
        for k in ("VmRSS", "file-backed", "anonymous", "Pss"):
            r = rows(out, k)
            self.assertEqual(len(r), 1, k)
            floor, daemon, ratio = (float(r[0][i].replace(",", "")) for i in (1, 2, 3))
            self.assertGreater(floor, 0, r)
            self.assertGreater(daemon, 0, r)
            self.assertGreater(ratio, 0, r)
        self.assertRegex(out, r"idle VmRSS [0-9.]+ MiB, of which [0-9.]+ MiB is the libraries' floor; "
                              r"enroller's own part -?[0-9.]+ MiB")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
