"""1,000 containers at once, and a pass with nothing changed.

dockerd cannot hold 1,000 containers on these machines (a shim process
each), so Docker is bench/docker_replay.py: recorded Engine API documents
served over a unix socket, 1,000 RabbitMQ containers.  The stand-in is real.
Documented behaviour asserted here: every container gets exactly one app in
one pass (no duplicate creates, no errors), and a second pass with nothing
changed makes zero writes."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

N = 1000


class Scale(unittest.TestCase):
    def test_thousand_containers_then_nothing_changed(self):
        with harness.Cluster() as cl:
            sock = os.path.join(cl.tmp, "replay.sock")
            ready = os.path.join(cl.tmp, "replay.ready")
            replay = subprocess.Popen([harness.PY, os.path.join(harness.SRC, "bench", "docker_replay.py"),
                                       "--socket", sock, "-n", str(N), "--ready", ready],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                harness.wait_for(lambda: os.path.exists(ready), what="replay server")
                cfg = cl.write_config(docker_host="unix://" + sock)
                run = lambda: subprocess.run([harness.ENROLLER, "run", "--once", "-c", cfg],  # noqa: E731
                                             capture_output=True, text=True, timeout=300)
                r = run()
                self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                self.assertIn("%d created" % N, r.stderr)
                c = cl.counters()
                self.assertEqual(harness.calls(c, "CreateApp"), N, "one create per container")
                self.assertEqual(len(cl.apps()), N)
                r = run()
                self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                self.assertIn("0 created, 0 updated, 0 deleted", r.stderr)
                c2 = cl.counters()
                for m in ("CreateApp", "UpdateApp", "DeleteApp"):
                    self.assertEqual(harness.calls(c2, m), harness.calls(c, m), "%s on a no-change pass" % m)
            finally:
                replay.terminate()
                replay.wait(10)


if __name__ == "__main__":
    unittest.main()
