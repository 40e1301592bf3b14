"""Reconciler behaviour on a real dockerd and the stand-in: grace period,
deletion cap, policies, network events, drift, bursts and several hosts."""

import datetime
import json
import math
import os
import re
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


def epoch(rfc3339):
    """Seconds since the epoch of a tctl timestamp (2026-01-02T03:04:05.5Z)."""
    base, _, frac = rfc3339.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


def deletes_planned(en):
    return [p for p in en.plans() if p[2]]


class Reconcile(unittest.TestCase):
    def test_grace_period_keeps_a_restarting_container(self):
        # Times come from enroller's own log stamps (when it saw the container
        # go, when it planned the delete), not from this script's clock.  The
        # grace period is long next to a `docker restart` on a loaded machine.
        grace = 10
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1, reconcile="grace = %d" % grace)
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            gone, running = en.container_line("rmq1", "gone"), en.container_line("rmq1", "running")
            # A restart within the grace period: the app is never deleted.
            # A stop and then a start: enroller sees it go at the die event
            # and come back at the start's inspect.
            cl.docker("stop", "-t", "0", "rmq1")
            cl.docker("start", "rmq1")
            t_gone = en.wait_log(gone, what="enroller to see rmq1 go")[0][0]
            t_back = en.wait_log(running, 2, what="enroller to see rmq1 back")[1][0]
            self.assertLess(t_back - t_gone, grace, "the restart itself took longer than the grace period")
            # Past the end of the grace period (time passes on purpose), then
            # two more passes: the hold has ended and nothing was deleted.
            wait_for(lambda: time.time() > t_gone + grace + 0.5, what="the grace period to end")
            en.wait_resyncs(2, what="passes after the grace period")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 0)
            self.assertEqual(deletes_planned(en), [], "a delete was planned for a restarting container")
            # Gone for good: deleted once the grace period is over, not before.
            cl.docker("stop", "-t", "0", "rmq1")
            t_gone = en.wait_log(gone, 2, what="enroller to see rmq1 go for good")[1][0]
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="delete after grace")
            t_delete = en.wait_log("deleted app rabbitmq-rmq1", what="the delete in the log")[0][0]
            # The delete is planned when enroller's loop clock says the grace
            # period is over; the stamp of the "gone" line can trail that clock
            # by a moment on a busy machine, hence the small allowance.
            self.assertGreaterEqual(t_delete - t_gone, grace - 0.5, "deleted before the grace period ended")
            self.assertIn("grace period", en.log())

    def test_grace_expiry_plans_the_names_of_the_container_gone(self):
        # No resync within the test, so no pass plans every name: the delete
        # can only come from the pass the grace period's end starts, over the
        # names of the container that went.  The other container's app stays.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=3600, reconcile="grace = 2")
            cl.run_container("rmq1")
            cl.run_container("rmq2")
            wait_for(lambda: {"rabbitmq-rmq1", "rabbitmq-rmq2"} <= set(cl.apps()), what="two apps")
            resyncs = en.count("resync done:")      # the first listing's
            cl.docker("stop", "-t", "0", "rmq1")
            en.wait_log(en.container_line("rmq1", "gone"), what="enroller to see rmq1 go")
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="the delete at the grace period's end")
            self.assertIn("rabbitmq-rmq2", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 1)
            self.assertEqual(en.count("resync done:"), resyncs, "a listing ran: the test would not tell")

    def test_deletion_cap_holds_until_approved(self):
        # The cap is per pass.  Containers stopping one by one arrive as one
        # event (one small pass) each; what the cap guards against is a pass
        # that finds many gone at once: a restart of enroller or of dockerd
        # after a mass change, or a listing that comes back empty.
        with harness.Cluster() as cl:
            cfg = cl.write_config(resync=1, reconcile="max_deletes = 2")
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
            en.wait_resyncs(2, what="passes after the cap report")
            self.assertEqual(len(cl.apps()), 4, "nothing deleted above the cap")
            self.assertEqual(calls(cl, "DeleteApp"), 0)
            self.assertEqual(deletes_planned(en), [], "a delete above the cap was planned")
            en.signal(signal.SIGUSR1)
            wait_for(lambda: len(cl.apps()) == 0, what="approved deletions")
            self.assertEqual(calls(cl, "DeleteApp"), 4)

    def test_upsert_only_never_deletes(self):
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1, reconcile='policy = "upsert-only"')
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            cl.docker("stop", "-t", "0", "rmq1")
            en.wait_log(en.container_line("rmq1", "gone"), what="enroller to see rmq1 go")
            en.wait_resyncs(2, what="passes with rmq1 gone")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 0)
            self.assertEqual(deletes_planned(en), [])
            # A deletion the policy holds is held until something changes:
            # quiet listings plan no name (not every name, for the held one).
            quiet = "pass: changed names (0 desired, 0 in Teleport) after a listing"
            full, n_quiet = en.count("pass: every name"), en.count(quiet)
            en.wait_resyncs(4, what="quiet passes with rmq1's deletion held")
            self.assertLessEqual(en.count("pass: every name") - full, 1, "at most one full pass in 4 listings")
            self.assertGreaterEqual(en.count(quiet) - n_quiet, 3, "a quiet listing plans no name")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(calls(cl, "DeleteApp"), 0)

    def test_network_connect_and_disconnect(self):
        with harness.Cluster() as cl:
            cl.docker("network", "create", "--internal", "--subnet", "10.214.%d.0/24" % (os.getpid() % 250),
                      "enr-net2")
            en = cl.start_enroller()
            # Wants an address on enr-net2, which it does not have yet: no app.
            cl.run_container("rmq1", labels={"enroller.network": "enr-net2"})
            en.wait_log(en.container_line("rmq1", "running"), what="enroller to see rmq1")
            self.assertNotIn("rabbitmq-rmq1", cl.apps())
            cl.docker("network", "connect", "enr-net2", "rmq1")
            ip = cl.ip_of("rmq1", "enr-net2")
            wait_for(lambda: cl.apps().get("rabbitmq-rmq1", {}).get("spec", {}).get("uri")
                     == "http://%s:15672" % ip, what="app on the new network")
            # Never written with any other address (nor before it had one).
            writes = [l for _, l in en.lines(re.compile(r"(created|updated) app rabbitmq-rmq1 "))]
            self.assertTrue(writes and all("uri http://%s:15672)" % ip in l for l in writes), writes)
            cl.docker("network", "disconnect", "enr-net2", "rmq1")
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="app gone with its address")

    def test_rename_is_followed_by_its_event(self):
        # A running container's new name comes with a "rename" event (moby
        # daemon/rename.go): its app follows at once, not at the next listing.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=3600)
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            en.wait_log("resync done:", what="the first listing")
            resyncs = en.count("resync done:")
            cl.docker("rename", "rmq1", "rmq9")
            wait_for(lambda: sorted(cl.apps()) == ["rabbitmq-rmq9"], what="the app under the new name")
            self.assertEqual(cl.apps()["rabbitmq-rmq9"]["metadata"]["labels"]["container.name"], "rmq9")
            self.assertIn("event container rename", en.log())
            self.assertEqual(en.count("resync done:"), resyncs, "followed by the event, not by a listing")

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
            en.wait_log("health_status: unhealthy", what="enroller to see hc unhealthy")
            self.assertNotIn("web-hc", cl.apps(), "registered before it was healthy")
            cl.docker("exec", "hc", "/bin/busybox", "touch", "/tmp/ok")
            wait_for(lambda: "web-hc" in cl.apps(), what="app once healthy")
            # In enroller's own order: no write of web-hc before it saw "healthy".
            log = en.log()
            self.assertLess(log.index("health_status: healthy"), log.index("created app web-hc"),
                            "registered before it was healthy")
            cl.docker("exec", "hc", "/bin/busybox", "rm", "/tmp/ok")
            wait_for(lambda: "web-hc" not in cl.apps(), what="app gone once unhealthy")
            self.assertIn("health_status", en.log())

    def test_registered_but_not_served_is_reported(self):
        # The emulated Application Service serves only apps labelled team=web.
        with harness.Cluster(app_service_labels=["team=web"]) as cl:
            en = cl.start_enroller(reconcile="confirm = 2")
            cl.run_container("rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="app")
            wait_for(lambda: "app rabbitmq-rmq1 is registered but no Application Service serves it" in en.log(),
                     what="the not-served report")
        # An Application Service whose matcher selects enroller's apps.
        with harness.Cluster(app_service_labels=["enroller.dev/owner=*"]) as cl:
            en = cl.start_enroller(reconcile="confirm = 2")
            cl.run_container("rmq1")
            wait_for(lambda: "app rabbitmq-rmq1 is served by an Application Service" in en.log(),
                     what="the served report")
            self.assertNotIn("no Application Service serves it", en.log())

    def test_lease_apps_of_a_dead_enroller_expire(self):
        with harness.Cluster() as cl:
            lease = 6
            en = cl.start_enroller(resync=1, reconcile="lease = %d" % lease)
            cl.run_container("rmq1")
            app = wait_for(lambda: cl.apps().get("rabbitmq-rmq1"), what="app")
            self.assertIn("expires", app["metadata"], "a leased app carries Metadata.Expires")
            first = epoch(app["metadata"]["expires"])
            # Past the first lease's expiry (time passes on purpose): refreshed while enroller lives.
            wait_for(lambda: time.time() > first + 1, what="the first lease to run out")
            app = cl.apps().get("rabbitmq-rmq1")
            self.assertIsNotNone(app, "the app expired while enroller lives")
            self.assertGreater(epoch(app["metadata"]["expires"]), first, "lease refreshed")
            self.assertGreater(calls(cl, "UpdateApp"), 0, "lease refreshed")
            en.signal(signal.SIGKILL)
            en.proc.wait(30)
            t_kill = time.time()
            seen = []   # the expiry as the stand-in holds it after the kill, while the app is still there

            def expired():
                a = cl.apps().get("rabbitmq-rmq1")
                if a is not None:
                    seen.append(epoch(a["metadata"]["expires"]))
                return a is None
            wait_for(expired, what="the app to expire")
            # Nothing refreshes it after the kill: its expiry is at most one lease
            # (and the second the expiry is rounded to) after it.
            if seen:
                self.assertLessEqual(max(seen) - t_kill, lease + 1, "expiry %.1fs after the kill" % (max(seen) - t_kill))
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
            t0 = time.monotonic()   # no try of web-bad can come before this
            cl.run_container("bad", harness.TINY, labels={"web": "kube-teleport-proxy-alpn.x.example"})
            for n in ("ok1", "ok2", "ok3"):
                cl.run_container(n, harness.TINY, labels={"web": ""})
            wait_for(lambda: {"web-ok1", "web-ok2", "web-ok3"} <= set(cl.apps()), what="the good apps")

            def refused():
                return cl.counters().get("/proto.AuthService/CreateApp", {}).get("INVALID_ARGUMENT", 0)
            # Retries are seen, over a window long enough (at least 6 s, on
            # purpose) that one try per resync or event would show.
            wait_for(lambda: refused() >= 3 and time.monotonic() - t0 >= 6, what="3 refused tries of web-bad")
            failures = refused()
            elapsed = time.monotonic() - t0
            # 0.5 s doubling, jitter x0.5..1.5: try k+1 comes at least 0.25 * 2^(k-1) s
            # after try k, so n tries take at least 0.25 * (2^(n-1) - 1) s.  Allowing
            # 1 s for timer slack: n <= 1 + log2((elapsed + 1) / 0.25 + 1), 6 tries in
            # the first ~7 s; once a second (resync = 1) would be 7 or more.  A slow
            # machine only makes elapsed, and so the bound, larger.
            most = int(1 + math.log2((elapsed + 1) / 0.25 + 1))
            self.assertLessEqual(failures, most, "retried with backoff, not hammered (%d tries in %.1fs)"
                                 % (failures, elapsed))
            self.assertNotIn("web-bad", cl.apps())
            self.assertIn("retrying in", en.log())

    def test_drift_is_restored(self):
        # The restore must come from Teleport's watch, not a resync: resync is
        # an hour, and no resync pass may run between the edit and the restore.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=3600)
            cl.run_container("rmq1")
            app = wait_for(lambda: cl.apps().get("rabbitmq-rmq1"), what="app")
            # The watch is up (its INIT relists Teleport only; Docker's resync
            # ran at start and, with resync = 3600, runs no more).
            en.wait_log("watching apps and databases", what="the watch")
            resyncs = en.count("resync done:")
            want = app["spec"]["uri"]
            app["spec"]["uri"] = "http://tampered.example:1"
            path = os.path.join(cl.tmp, "tampered.json")
            with open(path, "w") as f:
                json.dump(app, f)
            cl.tctl("create", "-f", path, wait=False)
            t0 = time.monotonic()
            wait_for(lambda: "changed outside enroller" in en.log(), what="the drift report")
            wait_for(lambda: cl.apps()["rabbitmq-rmq1"]["spec"]["uri"] == want, what="restore")
            harness.log("out-of-band edit restored within %.2f s (includes the tctl read)" % (time.monotonic() - t0))
            self.assertEqual(en.count("resync done:"), resyncs, "restored by a resync, not the watch")
            # An out-of-band delete of an owned, still-wanted app: created again.
            cl.tctl("rm", "app/rabbitmq-rmq1")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="re-create after an out-of-band delete")
            self.assertEqual(en.count("resync done:"), resyncs, "re-created by a resync, not the watch")

    def test_quiet_resync_plans_only_what_changed(self):
        # The event stream and the watch keep both sides current: a listing
        # that finds nothing changed plans no name; every 10th listing
        # inspects every container and plans every name.
        with harness.Cluster() as cl:
            en = cl.start_enroller(resync=1)
            cl.run_container("rmq1")
            cl.run_container("rmq2")
            wait_for(lambda: len(cl.apps()) == 2, what="two apps")
            en.wait_log("watching apps and databases", what="the watch")
            en.wait_resyncs(2)
            full, quiet = en.count("pass: every name"), en.count("pass: changed names (0 desired, 0 in Teleport) "
                                                                 "after a listing")
            en.wait_resyncs(4)
            self.assertLessEqual(en.count("pass: every name") - full, 1, "at most one full pass in 4 listings")
            self.assertGreaterEqual(en.count("pass: changed names (0 desired, 0 in Teleport) after a listing") - quiet,
                                    3, "a quiet listing plans no name")
            # A change the listing finds is planned by name, and only it.
            cl.docker("rm", "-f", "rmq2")
            wait_for(lambda: sorted(cl.apps()) == ["rabbitmq-rmq1"], what="rmq2's app deleted")
            full = en.count("pass: every name")
            en.wait_resyncs(11)
            self.assertGreaterEqual(en.count("pass: every name") - full, 1, "the 10th listing plans every name")
            self.assertEqual(sorted(cl.apps()), ["rabbitmq-rmq1"])
            self.assertEqual(calls(cl, "CreateApp"), 2, "nothing written again")

    def test_burst_of_containers(self):
        n = 40
        with harness.Cluster() as cl:
            cl.start_enroller()
            cl.tag("rabbitmq:3-management")
            ids = []
            for i in range(n):
                ids.append(cl.docker("create", "--name", "b%02d" % i, "--network", harness.NETWORK,
                                     "rabbitmq:3-management"))
            cl.docker_each("start", ids)
            wait_for(lambda: len(cl.apps()) == n, timeout=180, what="%d apps" % n)
            self.assertEqual(calls(cl, "CreateApp"), n, "each app created exactly once")
            cl.docker_each(["rm", "-f"], ids)
            wait_for(lambda: len(cl.apps()) == 0, timeout=180, what="all gone")
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
                     what="host b takes the free name")
            ea.wait_resyncs(2, what="host a's passes after the handover")
            eb.wait_resyncs(2, what="host b's passes after the handover")
            self.assertIn("rabbitmq-b1", cl.apps())
            deleted_by_a = {l.split("deleted app ")[1].split()[0] for _, l in ea.lines("deleted app ")}
            self.assertEqual(deleted_by_a, {"rabbitmq-a1", "rabbitmq-same"}, "host a deletes only its own apps")
            self.assertEqual(deletes_planned(eb), [], "host b had nothing to delete")
            self.assertTrue(ea.alive() and eb.alive())


if __name__ == "__main__":
    unittest.main()
