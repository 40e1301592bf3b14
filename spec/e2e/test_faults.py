"""Fault injection on the real dockerd and the stand-in.  Each test injects
one fault while enroller works, clears it, and asserts:
  - enroller converged within the expected time after the fault cleared;
  - no unowned app was touched (a sentinel app keeps its revision);
  - no still-desired app was deleted (DeleteApp calls == apps that had to go);
and records a row of the table printed at the end (the closing note's).

    /usr/bin/python3 spec/e2e/test_faults.py     # or: ctest -R e2e_test_faults -V
"""

import json
import os
import re
import signal
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

wait_for = harness.wait_for
ROWS = []
SENTINEL = """kind: app
version: v3
metadata:
  name: sentinel
  labels: {team: ops}
spec:
  uri: http://sentinel.example:8080
"""


def ok_calls(counters, method):
    m = counters.get("/proto.AuthService/" + method) or {}
    return m.get("OK", 0) if isinstance(m, dict) else 0


class Faults(unittest.TestCase):
    def setUp(self):
        self.cl = harness.Cluster().__enter__()
        path = os.path.join(self.cl.tmp, "sentinel.yaml")
        with open(path, "w") as f:
            f.write(SENTINEL)
        self.cl.tctl("create", path)
        self.sentinel_rev = self.cl.apps()["sentinel"]["metadata"].get("revision")

    def tearDown(self):
        self.cl.close()

    def want(self, names):
        return {"rabbitmq-" + n for n in names} | {"sentinel"}

    def finish(self, fault, t_clear, expected_deletes, names, timeout=harness.DEADLINE):
        cl = self.cl
        wait_for(lambda: set(cl.apps()) == self.want(names), timeout=timeout, what="convergence")
        converged = time.monotonic() - t_clear
        apps = cl.apps()
        self.assertEqual(apps["sentinel"]["metadata"].get("revision"), self.sentinel_rev, "sentinel touched")
        deletes = ok_calls(cl.counters(), "DeleteApp")
        wrongful = max(0, deletes - expected_deletes)
        ROWS.append((fault, "%.2f s" % converged, wrongful, deletes, expected_deletes))
        self.assertEqual(deletes, expected_deletes, "deletions of still-desired apps")
        for e in cl.enrollers:
            if e.proc is not None:
                self.assertTrue(e.alive(), "enroller died")

    def test_standin_killed_and_restarted_mid_pass(self):
        cl = self.cl
        en = cl.start_enroller(resync=2)
        cl.tag("rabbitmq:3-management")
        names = ["k%02d" % i for i in range(20)]
        ids = [cl.docker("create", "--name", n, "--network", harness.NETWORK, "rabbitmq:3-management")
               for n in names]
        cl.docker("start", *ids)
        # Mid-pass: once a pass has sent its first creates (some may be in flight).
        en.wait_log("plan: ", what="a pass with creates")
        cl.standin.send_signal(signal.SIGKILL)
        cl.standin.wait(30)
        cl.standin_log.close()
        cl.standin = None
        time.sleep(2)   # Auth stays away a while, on purpose; nothing below depends on how long
        cl.start_standin()
        t = time.monotonic()
        self.finish("stand-in killed mid-pass, restarted 2 s later", t, 0, names)
        self.assertTrue(en.alive())

    def test_dockerd_restarted(self):
        cl = self.cl
        os.environ["ENR_DOCKERD_LIVE_RESTORE"] = "1"
        try:
            cl.stop_dockerd()
            cl.start_dockerd()
            en = cl.start_enroller(resync=2)
            names = ["r1", "r2", "r3"]
            for n in names:
                cl.run_container(n)
            wait_for(lambda: set(cl.apps()) == self.want(names), what="apps")
            with open(os.path.join(cl.dockerd_dir, "dockerd.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)       # the event stream is cut, lists fail
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="dockerd exit")
            # enroller has seen the cut (and lists fail) before the engine returns.
            wait_for(lambda: "event stream ended" in en.log(), what="stream cut noticed")
            cl.start_dockerd()                  # containers survived (live-restore)
            t = time.monotonic()
            self.finish("dockerd restarted (event stream cut, lists fail meanwhile)", t, 0, names)
        finally:
            os.environ.pop("ENR_DOCKERD_LIVE_RESTORE", None)

    def test_rule_broken_and_fixed_mid_run(self):
        cl = self.cl
        rules = os.path.join(cl.tmp, "rules")
        shutil.copytree(os.path.join(harness.SRC, "rules"), rules)
        en = cl.start_enroller(rules_dir=rules)
        cl.run_container("ra")
        wait_for(lambda: "rabbitmq-ra" in cl.apps(), what="app ra")
        rmq = os.path.join(rules, "rabbitmq.lua")
        with open(rmq) as f:
            good = f.read()
        with open(rmq, "w") as f:
            f.write(good.replace("apps = function(c)", "apps = function(c)\n    error('broken on purpose')", 1))
        en.signal(signal.SIGHUP)
        wait_for(lambda: "rules NOT changed" in en.log() or "broken on purpose" in en.log(), what="reload result")
        cl.run_container("rb")
        en.wait_log(re.compile(r"container rb: .*broken on purpose"), what="the broken rule's error for rb")
        self.assertNotIn("rabbitmq-rb", cl.apps(), "the broken rule registered rb")
        # The fix is loaded by whichever comes first: the rules dir watch or SIGHUP.
        reloads = en.count("rules reloaded (")
        with open(rmq, "w") as f:
            f.write(good)
        en.signal(signal.SIGHUP)
        t = time.monotonic()
        self.finish("rule file broken, then fixed (SIGHUP)", t, 0, ["ra", "rb"])
        # In enroller's own order: rb's app was written only once the rule was fixed.
        log = en.log()
        fixed_at = [m.start() for m in re.finditer(re.escape("rules reloaded ("), log)][reloads]
        self.assertNotIn("created app rabbitmq-rb", log[:fixed_at], "the broken rule registered rb")

    def test_sigterm_during_a_pass(self):
        cl = self.cl
        cfg = cl.write_config()
        en = cl.start_enroller(config=cfg)
        cl.tag("rabbitmq:3-management")
        names = ["s%02d" % i for i in range(30)]
        ids = [cl.docker("create", "--name", n, "--network", harness.NETWORK, "rabbitmq:3-management")
               for n in names]
        cl.docker("start", *ids)
        en.wait_log("plan: ", what="a pass with creates")
        self.assertEqual(en.stop(), 0)          # SIGTERM mid-pass: exits 0, deletes nothing
        self.assertEqual(ok_calls(cl.counters(), "DeleteApp"), 0)
        en = cl.start_enroller(config=cfg)
        t = time.monotonic()
        self.finish("SIGTERM during a pass, then restart", t, 0, names)

    def test_identity_rotated(self):
        # The host CA rotates: the old identity no longer trusts Auth's new
        # certificate.  A fresh identity written over the old file (as tbot
        # does) is picked up without a restart, and nothing is lost.
        cl = self.cl
        en = cl.start_enroller(resync=1)
        cl.run_container("i1")
        wait_for(lambda: "rabbitmq-i1" in cl.apps(), what="app before rotation")
        cl.tctl("rotate-cert", "--host-ca")
        cl.tctl("drop-connections")
        cl.run_container("i2")            # wanted while the old identity cannot connect
        en.wait_log("skip app rabbitmq-i2: Teleport listing incomplete", what="i2 wanted while Auth is out of reach")
        tmp = cl.identity + ".new"
        cl.tctl("auth", "sign", "--user", cl.user, "--out", tmp, "--ttl", "2h")
        os.rename(tmp, cl.identity)       # atomic replace, as tbot writes
        t = time.monotonic()
        self.finish("identity rotated (host CA replaced, new identity file written)", t, 0, ["i1", "i2"])
        self.assertTrue(en.alive())

    def test_auth_errors_30_percent(self):
        cl = self.cl
        cl.tctl("faults", "set", "--method", "CreateApp", "--error-rate", "0.3", "--code", "UNAVAILABLE")
        cl.tctl("faults", "set", "--method", "GetApps", "--error-rate", "0.3", "--code", "UNAVAILABLE")
        cl.start_enroller(resync=2)
        cl.tag("rabbitmq:3-management")
        names = ["e%02d" % i for i in range(20)]
        ids = [cl.docker("create", "--name", n, "--network", harness.NETWORK, "rabbitmq:3-management")
               for n in names]
        cl.docker("start", *ids)
        # The faults stay on for at least 3 s (on purpose) and until enroller
        # has actually been refused.
        t_on = time.monotonic()

        def refused():
            c = cl.counters()
            return sum(c.get("/proto.AuthService/" + m, {}).get("UNAVAILABLE", 0) for m in ("CreateApp", "GetApps"))
        wait_for(lambda: refused() >= 1 and time.monotonic() - t_on >= 3, what="a refused call")
        cl.tctl("faults", "clear")
        t = time.monotonic()
        self.finish("30 % of CreateApp and GetApps failing (UNAVAILABLE) for 3 s", t, 0, names, timeout=120)

    def test_auth_slow_2s(self):
        cl = self.cl
        cl.tctl("faults", "set", "--method", "*", "--latency-ms", "2000")
        cl.start_enroller(resync=2)
        names = ["w1", "w2", "w3"]
        for n in names:
            cl.run_container(n)
        t0 = time.monotonic()
        wait_for(lambda: set(cl.apps()) == self.want(names), timeout=120, what="apps while slow")
        cl.tctl("faults", "clear")
        self.finish("Auth answering every call in 2 s (time from the start, while slow)", t0, 0, names)


def print_table():
    if not ROWS:
        return
    print("\n| fault | converged after fault cleared | wrongful deletions | DeleteApp calls | deletions expected |")
    print("|---|---|---|---|---|")
    for r in ROWS:
        print("| %s | %s | %d | %d | %d |" % r)
    sys.stdout.flush()


if __name__ == "__main__":
    prog = unittest.main(exit=False)
    print_table()
    sys.exit(0 if prog.result.wasSuccessful() else 1)
