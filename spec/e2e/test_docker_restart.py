"""A restart of dockerd without live-restore (as `systemctl restart docker`
does) keeps every app: dockerd stops its containers and ends the event
stream, and enroller, with its default grace period, deletes nothing and
creates nothing again while Docker is away and once its containers run again.

    /usr/bin/python3 spec/e2e/test_docker_restart.py   # or: ctest -R e2e_test_docker_restart -V
"""

import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

wait_for = harness.wait_for


def ok_calls(counters, method):
    m = counters.get("/proto.AuthService/" + method) or {}
    return m.get("OK", 0) if isinstance(m, dict) else 0


class DockerRestart(unittest.TestCase):
    def test_restart_keeps_every_app(self):
        with harness.Cluster() as cl:
            # The defaults, as shipped: no grace set in the config.
            cfg = cl.write_config(resync=2)
            with open(cfg) as f:
                text = f.read()
            with open(cfg, "w") as f:
                f.write(re.sub(r",? *grace = 0,?", "", text))
            self.assertNotIn("grace", open(cfg).read())
            en = cl.start_enroller(config=cfg)
            cl.tag("rabbitmq:3-management")
            # Two come back by themselves (restart policy), one is started
            # again by hand once the engine is back.
            for n, restart in (("a1", "always"), ("a2", "always"), ("m1", "no")):
                cl.docker("run", "-d", "--name", n, "--restart", restart, "--network", harness.NETWORK,
                          "rabbitmq:3-management")
            want = {"rabbitmq-a1", "rabbitmq-a2", "rabbitmq-m1"}
            wait_for(lambda: set(cl.apps()) == want, what="the three apps")
            en.wait_resyncs(1, needle="resync done: docker complete", what="a complete resync")
            before = cl.counters()

            with open(os.path.join(cl.dockerd_dir, "dockerd.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)        # dockerd stops its containers, then exits
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="dockerd to exit")
            en.wait_log("event stream ended", what="enroller to see the stream end")
            cl.start_dockerd()                  # same data root: the containers are still there
            cl.docker("start", "m1")
            for n in ("a1", "a2", "m1"):
                wait_for(lambda: cl.docker("inspect", "-f", "{{.State.Running}}", n) == "true",
                         what="container %s running again" % n)
            # Seen running again as often as it was seen to go.  A container
            # whose die event did not reach enroller before the stream ended
            # was never seen to go (its state was unknown, not absent), so it
            # has no second "running" line: the complete listings below see it.
            for n in ("a1", "a2", "m1"):
                wait_for(lambda: (en.count(en.container_line(n, "running"))
                                  >= 1 + en.count(en.container_line(n, "gone"))),
                         what="enroller to see %s again" % n)
            # Passes after the engine came back, on complete listings.
            en.wait_resyncs(2, needle="resync done: docker complete", what="complete resyncs after the restart")

            after = cl.counters()
            self.assertEqual(set(cl.apps()), want)
            self.assertEqual(ok_calls(after, "DeleteApp"), ok_calls(before, "DeleteApp"), "an app was deleted")
            self.assertEqual(ok_calls(after, "CreateApp"), ok_calls(before, "CreateApp"), "an app was re-created")
            self.assertTrue(en.alive())
            harness.log("stops seen before the stream ended: %s" %
                        ("yes" if "Docker's event stream ended within" in en.log() else "no"))


if __name__ == "__main__":
    unittest.main()
