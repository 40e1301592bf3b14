"""Reconciler behaviour on a real dockerd and the stand-in: grace period,
deletion cap, policies, network events, drift, bursts and several hosts."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

wait_for = harness.wait_for


HEALTHY_RULE = """local enroller = require "enroller"
return enroller.rule {
  name = "healthy",
  description = "web=1 containers, registered only while their healthcheck passes",
  match = function(c) return c:label("web") ~= nil and c.health == "healthy" end,
  apps = function(c)
    return { { name = "web-" .. c.name, uri = "http://" .. c:ip() .. ":80" } }
  end,
}
"""


PUBLIC_ADDR_RULE = """local enroller = require "enroller"
return enroller.rule {
  name = "web",
  description = "web=<public address> containers",
  match = function(c) return c:label("web") ~= nil end,
  apps = function(c)
    return { { name = "web-" .. c.name, uri = "http://" .. c:ip() .. ":80", public_addr = c:label("web") } }
  end,
}
"""


def calls(cl, m):
    return harness.calls(cl.counters(), m)


class Reconcile(unittest.TestCase):
    def test_grace_period_keeps_a_restarting_container(self):
        with harness.Cluster() as cl:
            en = cl.start_enroller(reconcile="grace = 3")
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            # A restart within the grace period: the app is never deleted.
            cl.docker("restart", "-t", "0", "rmq1")
            time.sleep(4)
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 0)
            # Gone for good: deleted once the grace period is over, not before.
            cl.docker("stop", "-t", "0", "rmq1")
            t0 = time.monotonic()
            time.sleep(1.5)
            self.assertIn("rabbitmq-rmq1", cl.apps(), "deleted before the grace period ended")
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), timeout=10, what="delete after grace")
            self.assertGreaterEqual(time.monotonic() - t0, 2.9)
            self.assertIn("grace period", en.log())

    def test_deletion_cap_holds_until_approved(self):
        # The cap is per pass.  Containers stopping one by one arrive as one
        # event (one small pass) each; what the cap guards against is a pass
        # that finds many gone at once: a restart of enroller or of dockerd
        # after a mass change, or a listing that comes back empty.
        with harness.Cluster() as cl:
            cfg = cl.write_config(reconcile="max_deletes = 2")
            en = cl.start_enroller(config=cfg)
            names = ["c%d" % i for i in range(4)]
            for n in names:
                cl.run_container(n)
            wait_for(lambda: len(cl.apps()) == 4, what="4 apps")
            self.assertEqual(en.stop(), 0)
            cl.docker("stop", "-t", "0", *names)
            en = cl.start_enroller(config=cfg)
            wait_for(lambda: "deletion cap" in en.log(), what="cap report")
            self.assertIn("would delete 4 of 4 owned apps", en.log())
            time.sleep(1.5)
            self.assertEqual(len(cl.apps()), 4, "nothing deleted above the cap")
            self.assertEqual(calls(cl, "DeleteApp"), 0)
            en.signal(signal.SIGUSR1)
            wait_for(lambda: len(cl.apps()) == 0, what="approved deletions")
            self.assertEqual(calls(cl, "DeleteApp"), 4)

    def test_upsert_only_never_deletes(self):
        with harness.Cluster() as cl:
            cl.start_enroller(reconcile='policy = "upsert-only"')
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            cl.docker("stop", "-t", "0", "rmq1")
            time.sleep(1.5)
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 0)

    def test_network_connect_and_disconnect(self):
        with harness.Cluster() as cl:
            cl.docker("network", "create", "--internal", "--subnet", "10.214.%d.0/24" % (os.getpid() % 250),
                      "enr-net2")
            cl.start_enroller()
            # Wants an address on enr-net2, which it does not have yet: no app.
            cl.run_container("rmq1", labels={"enroller.network": "enr-net2"})
            time.sleep(1)
            self.assertNotIn("rabbitmq-rmq1", cl.apps())
            cl.docker("network", "connect", "enr-net2", "rmq1")
            ip = cl.ip_of("rmq1", "enr-net2")
            wait_for(lambda: cl.apps().get("rabbitmq-rmq1", {}).get("spec", {}).get("uri")
                     == "http://%s:15672" % ip, what="app on the new network")
            cl.docker("network", "disconnect", "enr-net2", "rmq1")
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="app gone with its address")

    def test_healthy_only_rule_follows_health_events(self):
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            os.makedirs(rules)
            with open(os.path.join(rules, "healthy.lua"), "w") as f:
                f.write(HEALTHY_RULE)
            en = cl.start_enroller(rules_dir=rules)
            cl.docker("run", "-d", "--name", "hc", "--network", harness.NETWORK, "--label", "web=1",
                      "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1",
                      harness.TINY)
            time.sleep(2.5)
            self.assertNotIn("web-hc", cl.apps(), "registered before it was healthy")
            cl.docker("exec", "hc", "/bin/busybox", "touch", "/tmp/ok")
            wait_for(lambda: "web-hc" in cl.apps(), timeout=15, what="app once healthy")
            cl.docker("exec", "hc", "/bin/busybox", "rm", "/tmp/ok")
            wait_for(lambda: "web-hc" not in cl.apps(), timeout=15, what="app gone once unhealthy")
            self.assertIn("health_status", en.log())

    def test_registered_but_not_served_is_reported(self):
        # The emulated Application Service serves only apps labelled team=web.
        with harness.Cluster(standin_args=["--app-service-labels", "team=web"]) as cl:
            en = cl.start_enroller(reconcile="confirm = 2")
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            wait_for(lambda: "app rabbitmq-rmq1 is registered but no Application Service serves it" in en.log(),
                     timeout=15, what="the not-served report")
        with harness.Cluster() as cl:
            en = cl.start_enroller(reconcile="confirm = 2")
            cl.run_container("rmq1")
            wait_for(lambda: "app rabbitmq-rmq1 is served by an Application Service" in en.log(), timeout=15,
                     what="the served report")
            self.assertNotIn("no Application Service serves it", en.log())

    def test_lease_apps_of_a_dead_enroller_expire(self):
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1, reconcile="lease = 6")
            cl.run_container("rmq1")
            app = wait_for(lambda: cl.apps().get("rabbitmq-rmq1"), what="app")
            self.assertIn("expires", app["metadata"], "a leased app carries Metadata.Expires")
            time.sleep(8)   # longer than the lease: refreshed while enroller lives
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertGreater(calls(cl, "UpdateApp"), 0, "lease refreshed")
            en.signal(signal.SIGKILL)
            en.proc.wait()
            t0 = time.monotonic()
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), timeout=15, what="the app to expire")
            self.assertLess(time.monotonic() - t0, 7.5)
            self.assertEqual(calls(cl, "DeleteApp"), 0, "expired, not deleted")

    def test_odd_and_huge_labels(self):
        # Container labels are the container's business: the shipped rules
        # copy only identity labels (container.name, image, ...), so odd keys
        # and a 64 KiB value neither break the rule nor reach Teleport.
        with harness.Cluster() as cl:
            en = cl.start_enroller()
            cl.run_container("rmq-odd", labels={"we.ird/ké_y!": "v=a;l\"ue", "big": "x" * 65536,
                                                "enroller.dev/owner": "someone-else"})
            app = wait_for(lambda: cl.apps().get("rabbitmq-rmq-odd"), what="app")
            labels = app["metadata"]["labels"]
            self.assertEqual(labels["enroller.dev/owner"], cl.owner, "a container cannot choose the owner")
            self.assertNotIn("big", labels)
            self.assertTrue(all(len(v) < 1024 for v in labels.values()))
            self.assertTrue(en.alive())

    def test_one_failing_app_backs_off_and_blocks_nothing(self):
        # Teleport refuses one app (a reserved public address); the others go
        # through, and the refused one is retried with backoff, not hammered.
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            os.makedirs(rules)
            with open(os.path.join(rules, "web.lua"), "w") as f:
                f.write(PUBLIC_ADDR_RULE)
            en = cl.start_enroller(rules_dir=rules, resync=1)
            cl.run_container("bad", harness.TINY, labels={"web": "kube-teleport-proxy-alpn.x.example"})
            for n in ("ok1", "ok2", "ok3"):
                cl.run_container(n, harness.TINY, labels={"web": ""})
            wait_for(lambda: {"web-ok1", "web-ok2", "web-ok3"} <= set(cl.apps()), what="the good apps")
            t0 = time.monotonic()
            time.sleep(6)
            failures = cl.counters().get("/proto.AuthService/CreateApp", {}).get("INVALID_ARGUMENT", 0)
            self.assertGreaterEqual(failures, 2, "the refused app is retried")
            # 0.5 s doubling with jitter: at most ~6 tries in the first ~7 s, not one per resync/event.
            self.assertLessEqual(failures, 7, "retried with backoff, not hammered (%d tries in %.1fs)"
                                 % (failures, time.monotonic() - t0 + 1))
            self.assertNotIn("web-bad", cl.apps())
            self.assertIn("retrying in", en.log())

    def test_drift_is_restored(self):
        # resync = 60: the restore must come from Teleport's watch, not a resync.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=60)
            cl.run_container("rmq1")
            app = wait_for(lambda: cl.apps().get("rabbitmq-rmq1"), what="app")
            wait_for(lambda: "watching apps and app servers" in en.log(), what="the watch")
            want = app["spec"]["uri"]
            app["spec"]["uri"] = "http://tampered.example:1"
            path = os.path.join(cl.tmp, "tampered.json")
            with open(path, "w") as f:
                json.dump(app, f)
            cl.tctl("create", "-f", path)
            t0 = time.monotonic()
            wait_for(lambda: "changed outside enroller" in en.log(), timeout=5, what="the drift report")
            wait_for(lambda: cl.apps()["rabbitmq-rmq1"]["spec"]["uri"] == want, timeout=5, what="restore")
            harness.log("out-of-band edit restored within %.2f s (includes the tctl read)" % (time.monotonic() - t0))
            # An out-of-band delete of an owned, still-wanted app: created again.
            cl.tctl("rm", "app/rabbitmq-rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), timeout=5, what="re-create after an out-of-band delete")

    def test_burst_of_containers(self):
        n = 40
        with harness.Cluster() as cl:
            cl.start_enroller()
            cl.tag("rabbitmq:3-management")
            ids = []
            for i in range(n):
                ids.append(cl.docker("create", "--name", "b%02d" % i, "--network", harness.NETWORK,
                                     "rabbitmq:3-management"))
            cl.docker("start", *ids)
            wait_for(lambda: len(cl.apps()) == n, timeout=60, what="%d apps" % n)
            self.assertEqual(calls(cl, "CreateApp"), n, "each app created exactly once")
            cl.docker("rm", "-f", *ids)
            wait_for(lambda: len(cl.apps()) == 0, timeout=60, what="all gone")
            self.assertEqual(calls(cl, "DeleteApp"), n)

    def test_two_hosts_share_one_cluster(self):
        with harness.Cluster() as cl:
            b = harness.Engine(cl, "d2")
            ea = cl.start_enroller(owner="host-a", resync=1)
            eb = cl.start_enroller(owner="host-b", resync=1, docker_host=b.host)
            cl.run_container("a1")
            b.run_container("b1")
            # The same container name on both hosts: one app name, two owners.
            cl.run_container("same")
            wait_for(lambda: {"rabbitmq-a1", "rabbitmq-same"} <= set(cl.apps()), what="host a's apps")
            b.run_container("same")
            wait_for(lambda: "rabbitmq-b1" in cl.apps(), what="host b's app")
            wait_for(lambda: "conflict on app rabbitmq-same" in eb.log(), what="host b's conflict")
            apps = cl.apps()
            self.assertEqual(apps["rabbitmq-a1"]["metadata"]["labels"]["enroller.dev/owner"], "host-a")
            self.assertEqual(apps["rabbitmq-b1"]["metadata"]["labels"]["enroller.dev/owner"], "host-b")
            self.assertEqual(apps["rabbitmq-same"]["metadata"]["labels"]["enroller.dev/owner"], "host-a")
            # Host a's containers go: only host a's apps go.
            cl.docker("rm", "-f", "a1", "same")
            wait_for(lambda: set(cl.apps()) == {"rabbitmq-b1", "rabbitmq-same"}, what="host a's apps gone")
            # Host b now wins the free name.
            wait_for(lambda: cl.apps()["rabbitmq-same"]["metadata"]["labels"]["enroller.dev/owner"] == "host-b",
                     timeout=10, what="host b takes the free name")
            time.sleep(1.5)
            self.assertIn("rabbitmq-b1", cl.apps())
            self.assertTrue(ea.alive() and eb.alive())


if __name__ == "__main__":
    unittest.main()
