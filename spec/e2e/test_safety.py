"""What enroller must never do, on a real dockerd and the stand-in:
touch an app it does not own, delete because Docker or Teleport failed, or
let one broken rule take the others down."""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

MANUAL = """kind: app
version: v3
metadata:
  name: %s
  labels:
    team: ops
spec:
  uri: %s
"""


class Safety(unittest.TestCase):
    def create_app(self, cl, name, uri):
        path = os.path.join(cl.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(MANUAL % (name, uri))
        cl.tctl("create", "-f", path)
        return cl.apps()[name]["metadata"].get("revision")

    def test_unowned_apps_survive_every_pass(self):
        with harness.Cluster() as cl:
            cl.run_container("rmq1", "rabbitmq:3-management")
            cl.run_container("rmq2", "rabbitmq:3-management")
            uri1 = "http://%s:15672" % cl.ip_of("rmq1")
            # Same URI, other name; and the very name enroller wants.
            rev_same_uri = self.create_app(cl, "manual-rmq", uri1)
            rev_same_name = self.create_app(cl, "rabbitmq-rmq2", "http://elsewhere.example:15672")
            en = cl.start_enroller(resync=1)
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            harness.wait_for(lambda: "conflict on app rabbitmq-rmq2" in en.log(), what="conflict report")
            en.wait_resyncs(2, what="a couple of resyncs with both containers running")
            cl.docker("stop", "-t", "0", "rmq1", "rmq2")
            harness.wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="rmq1's app to go")
            en.wait_log(en.container_line("rmq2", "gone"), what="enroller to see rmq2 gone")
            en.wait_resyncs(2, what="a couple of resyncs with both containers gone")
            apps = cl.apps()
            self.assertEqual(apps["manual-rmq"]["metadata"].get("revision"), rev_same_uri)
            self.assertEqual(apps["rabbitmq-rmq2"]["metadata"].get("revision"), rev_same_name)
            self.assertEqual(apps["rabbitmq-rmq2"]["spec"]["uri"], "http://elsewhere.example:15672")
            self.assertNotIn("enroller.dev/owner", apps["rabbitmq-rmq2"]["metadata"].get("labels", {}))
            self.assertTrue(en.alive())

    def test_another_hosts_app_is_left_alone_until_adopted(self):
        # Another enroller's app is read in brief (name, revision, owner):
        # enough to report the conflict, and for reconcile.adopt to update it
        # at the revision it has.
        with harness.Cluster() as cl:
            cl.run_container("rmq1", "rabbitmq:3-management")
            uri1 = "http://%s:15672" % cl.ip_of("rmq1")
            path = os.path.join(cl.tmp, "other.yaml")
            with open(path, "w") as f:
                f.write(MANUAL.replace("    team: ops", "    team: ops\n    enroller.dev/owner: other-host")
                        % ("rabbitmq-rmq1", "http://elsewhere.example:15672"))
            cl.tctl("create", "-f", path)
            rev = cl.apps()["rabbitmq-rmq1"]["metadata"].get("revision")
            en = cl.start_enroller(resync=1)
            en.wait_log("conflict on app rabbitmq-rmq1: an app with this name exists and is owned by enroller "
                        "instance other-host")
            en.wait_resyncs(2, what="a couple of resyncs")
            app = cl.apps()["rabbitmq-rmq1"]
            self.assertEqual(app["metadata"].get("revision"), rev)
            self.assertEqual(app["spec"]["uri"], "http://elsewhere.example:15672")
            en.stop()
            en = cl.start_enroller(resync=1, reconcile="adopt = true")
            harness.wait_for(lambda: cl.apps()["rabbitmq-rmq1"]["metadata"]["labels"].get("enroller.dev/owner")
                             == cl.owner, what="the app adopted")
            app = cl.apps()["rabbitmq-rmq1"]
            self.assertEqual(app["spec"]["uri"], uri1)
            self.assertNotIn("team", app["metadata"]["labels"])
            self.assertTrue(en.alive())

    def test_docker_unreachable_means_no_deletions(self):
        with harness.Cluster() as cl:
            cl.run_container("rmq1", "rabbitmq:3-management")
            en = cl.start_enroller(resync=1)
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            deletes_before = harness.calls(cl.counters(), "DeleteApp")
            # Kill the engine outright: the event stream breaks, lists fail.
            with open(os.path.join(cl.dockerd_dir, "dockerd.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGKILL)
            harness.wait_for(lambda: "list containers" in en.log() or "event stream ended" in en.log(),
                             what="enroller to notice Docker is gone")
            # Several resyncs whose listing failed, each followed by a plan.
            en.wait_resyncs(3, needle="docker INCOMPLETE", what="3 resyncs with Docker gone")
            self.assertGreaterEqual(en.count("list containers: "), 1, "the failed listings are logged")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(harness.calls(cl.counters(), "DeleteApp"), deletes_before)
            self.assertTrue(en.alive())

    def test_standin_down_then_back_converges(self):
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1)
            cl.run_container("rmq1", "rabbitmq:3-management")
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            cl.stop_standin()
            cl.run_container("rmq2", "rabbitmq:3-management")
            cl.docker("stop", "-t", "0", "rmq1")
            # enroller has seen both changes and worked through resyncs that
            # could not reach Auth.
            en.wait_log(en.container_line("rmq1", "gone"), what="enroller to see rmq1 gone")
            en.wait_log(en.container_line("rmq2", "running"), what="enroller to see rmq2 running")
            # Auth's loss is seen (the watch ends, the relist fails), then
            # Docker resyncs go on, each planning everything, with no deletion
            # while the Teleport view is unknown.
            en.wait_log(re.compile("no writes until Teleport answers|watch ended"), what="enroller to see Auth down")
            en.wait_resyncs(2, needle="resync done: docker", what="2 resyncs with Auth down")
            self.assertTrue(en.alive(), "enroller keeps running while Auth is down")
            cl.start_standin()
            harness.wait_for(lambda: set(cl.apps()) == {"rabbitmq-rmq2"},
                             what="convergence after the stand-in returns")
            self.assertTrue(en.alive())

    def test_broken_rule_file(self):
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            shutil.copytree(os.path.join(harness.SRC, "rules"), rules)
            broken = os.path.join(rules, "zz_broken.lua")
            with open(broken, "w") as f:
                f.write("return rule {\n  name = 'broken',\n  match = function(c) return true end\n  apps = nil\n}\n")
            # At start-up: exit non-zero, one line naming file and line.
            cfg = cl.write_config(rules_dir=rules)
            r = subprocess.run([harness.ENROLLER, "run", "-c", cfg], capture_output=True, text=True, timeout=harness.CMD_DEADLINE)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("zz_broken.lua:4:", r.stderr)
            # While running: a broken edit is reported and the old rules keep working.
            os.unlink(broken)
            en = cl.start_enroller(config=cfg)
            cl.run_container("rmq1", "rabbitmq:3-management")
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            with open(broken, "w") as f:
                f.write("return rule {\n  name = 'broken',\n  match = function(c) return true end\n  apps = nil\n}\n")
            en.signal(signal.SIGHUP)
            harness.wait_for(lambda: "rules NOT changed" in en.log(), what="reload refusal")
            self.assertIn("zz_broken.lua:4:", en.log())
            cl.run_container("rmq2", "rabbitmq:3-management")
            harness.wait_for(lambda: "rabbitmq-rmq2" in cl.apps(), what="rmq2's app with the old rules")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertTrue(en.alive())

    def test_rule_error_touches_only_that_container(self):
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            shutil.copytree(os.path.join(harness.SRC, "rules"), rules)
            web = os.path.join(rules, "web.lua")
            with open(web, "w") as f:
                f.write(WEB_RULE % "")
            en = cl.start_enroller(rules_dir=rules, resync=1)
            cl.run_container("good", "enroller-tiny:latest", labels={"web": "yes"})
            cl.run_container("bad", "enroller-tiny:latest", labels={"web": "explode"})
            cl.run_container("rmq1", "rabbitmq:3-management")
            harness.wait_for(lambda: {"web-good", "rabbitmq-rmq1"} <= set(cl.apps()), what="good apps")
            harness.wait_for(lambda: "container bad: " in en.log(), what="the rule error")
            line = [l for l in en.log().splitlines() if "container bad: " in l][0]
            self.assertIn("web.lua:8:", line)
            self.assertIn("boom for bad", line)
            self.assertNotIn("web-bad", cl.apps())
            # A rule that starts failing for everyone deletes nothing.
            with open(web, "w") as f:
                f.write(WEB_RULE % "error('always broken')")
            en.signal(signal.SIGHUP)
            harness.wait_for(lambda: "always broken" in en.log(), what="the new rule's errors")
            en.wait_resyncs(2, what="passes planned with the failing rule")
            self.assertIn("web-good", cl.apps())
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(harness.calls(cl.counters(), "DeleteApp"), 0)
            self.assertEqual([p for p in en.plans() if p[2]], [], "no pass planned a delete")
            self.assertTrue(en.alive())


    def test_deletion_cap_holds_over_a_window(self):
        # Containers stopped one by one from a script: each pass deletes one
        # app, but no more than max_deletes go within the window.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1, reconcile='max_deletes = 3, window = "5m"')
            names = ["w%d" % i for i in range(6)]
            for n in names:
                cl.run_container(n, "rabbitmq:3-management")
            harness.wait_for(lambda: set(cl.apps()) == {"rabbitmq-" + n for n in names}, what="six apps")
            for n in names:
                cl.docker("stop", "-t", "0", n)
                en.wait_log(en.container_line(n, "gone"), what="enroller to see %s gone" % n)
            en.wait_log("deletion cap: 3 apps deleted within the last 300s", what="the window's cap")
            en.wait_resyncs(2, what="passes with the cap holding")
            self.assertEqual(harness.calls(cl.counters(), "DeleteApp"), 3)
            self.assertEqual(len(cl.apps()), 3, "the deletions over the window's cap were held")
            # The operator approves: the held deletions go, once.
            en.signal(signal.SIGUSR1)
            harness.wait_for(lambda: cl.apps() == {}, what="the held deletions after SIGUSR1")
            en.wait_log("SIGUSR1 approval used by this pass", what="the approval used and disarmed")
            self.assertEqual(harness.calls(cl.counters(), "DeleteApp"), 6)
            self.assertTrue(en.alive())


    def test_reload_applies_the_limits(self):
        # A config edit changes the deletion cap and the write limits of the
        # running daemon; a change that needs a restart is named as such.
        with harness.Cluster() as cl:
            cfg = cl.write_config(resync=1, reconcile='max_deletes = 1, window = "5m"')
            en = cl.start_enroller(config=cfg)
            for n in ("l1", "l2"):
                cl.run_container(n, "rabbitmq:3-management")
            harness.wait_for(lambda: {"rabbitmq-l1", "rabbitmq-l2"} <= set(cl.apps()), what="two apps")
            for n in ("l1", "l2"):
                cl.docker("stop", "-t", "0", n)
                en.wait_log(en.container_line(n, "gone"), what="enroller to see %s gone" % n)
            en.wait_log("deletion cap: 1 apps deleted within the last 300s", what="the window's cap")
            self.assertEqual(len(cl.apps()), 1)
            with open(cfg) as f:
                text = f.read()
            with open(cfg, "w") as f:
                f.write(text.replace("max_deletes = 1,", "max_deletes = 10, write_rate = 5, write_burst = 5,")
                        .replace("resync = 1,", "resync = 2,"))
            en.wait_log("config: applied reconcile.max_deletes, reconcile.write_rate, reconcile.write_burst",
                        what="the new limits applied")
            en.wait_log("config changed; needs a restart to apply: reconcile.resync", what="the restart notice")
            harness.wait_for(lambda: cl.apps() == {}, what="the held deletion under the new cap")
            self.assertEqual(harness.calls(cl.counters(), "DeleteApp"), 2)
            self.assertTrue(en.alive())


WEB_RULE = """local enroller = require "enroller"
return enroller.rule {
  name = "web",
  description = "containers labelled web=...: an app on port 80",
  match = function(c) return c:label("web") ~= nil end,
  apps = function(c)
    %s
    if c:label("web") == "explode" then error("boom for " .. c.name) end
    return { { name = "web-" .. c.name, uri = "http://" .. c:ip() .. ":80" } }
  end,
}
"""


if __name__ == "__main__":
    unittest.main()
