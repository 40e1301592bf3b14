"""Credentials and endpoints, on the real dockerd and the stand-in: an
identity that expires while enroller runs, a client certificate from another
cluster's CA, and `check --connect`.  Each problem is one log or output line
naming the file or the endpoint, and nothing is deleted for it.

    /usr/bin/python3 spec/e2e/test_credentials.py   # or: ctest -R e2e_test_credentials -V
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

wait_for = harness.wait_for


def ok_calls(counters, method):
    m = counters.get("/proto.AuthService/" + method) or {}
    return m.get("OK", 0) if isinstance(m, dict) else 0


class Credentials(unittest.TestCase):
    def setUp(self):
        self.cl = harness.Cluster().__enter__()

    def tearDown(self):
        self.cl.close()

    def test_check_connect(self):
        # `check --connect`: one line per endpoint, exit 0 when both answer,
        # 1 with the endpoint that did not.
        cl = self.cl
        cfg = cl.write_config()
        r = subprocess.run([harness.ENROLLER, "check", "--connect", "-c", cfg], capture_output=True, text=True,
                           timeout=harness.CMD_DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^identity %s: ok \(user %s, " % (re.escape(cl.identity), cl.user))
        self.assertRegex(r.stdout, r"(?m)^docker %s: ok \(API [0-9.]+, 0 containers running\)$"
                         % re.escape(cl.docker_host))
        self.assertRegex(r.stdout, r"(?m)^teleport %s: ok \(cluster \S+, Teleport \S+, as %s\)$"
                         % (re.escape(cl.auth_addr), cl.user))
        cl.stop_standin()
        r = subprocess.run([harness.ENROLLER, "check", "--connect", "-c", cfg], capture_output=True, text=True,
                           timeout=harness.CMD_DEADLINE)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^docker .*: ok ")
        self.assertRegex(r.stdout, r"(?m)^teleport %s: FAILED: " % re.escape(cl.auth_addr))
        cl.start_standin()

    def test_identity_expires_in_place(self):
        # The identity expires while enroller runs (nobody renews it): the
        # next connection is refused, and the log says "expired", naming the
        # file, instead of a bare "connection closed"; nothing is deleted.
        cl = self.cl
        cl.tctl("auth", "sign", "--user", cl.user, "--out", cl.identity, "--ttl", "40s")
        en = cl.start_enroller(resync=1)
        cl.run_container("x1")
        wait_for(lambda: "rabbitmq-x1" in cl.apps(), what="app before expiry")
        # Loaded with most of its lifetime left (an info line); once less
        # than 10% is left, a warning, though nothing reloaded the file.
        loaded = "credentials %s: user %s, certificate valid for " % (cl.identity, cl.user)
        self.assertIn(loaded, en.log(), "the load's line is info")
        en.wait_log(re.compile(r"warn  teleport: credentials %s: user %s, certificate expires in \d+ s "
                               r"\(less than 10%% of its \d+ s lifetime left\)" % (re.escape(cl.identity), cl.user)),
                    what="the warning at 10% of the lifetime left")
        harness.wait_cert_expired(cl.identity)
        cl.tctl("drop-connections")        # the live connection goes; the next one needs the certificate
        en.wait_log("credentials %s: certificate expired at" % cl.identity, what="the expiry named")
        self.assertEqual(ok_calls(cl.counters(), "DeleteApp"), 0)
        # A fresh identity written over the file is picked up.
        tmp = cl.identity + ".new"
        cl.tctl("auth", "sign", "--user", cl.user, "--out", tmp, "--ttl", "2h")
        os.rename(tmp, cl.identity)
        wait_for(lambda: "new credentials for" in en.log(), what="the fresh identity picked up")
        cl.run_container("x2")
        wait_for(lambda: {"rabbitmq-x1", "rabbitmq-x2"} <= set(cl.apps()), what="apps after renewal")
        self.assertEqual(ok_calls(cl.counters(), "DeleteApp"), 0)
        self.assertTrue(en.alive())

    def test_identity_from_a_foreign_ca(self):
        # A client certificate issued by another cluster's user CA (and this
        # cluster's host CA, so the server is trusted): Auth refuses it with a
        # TLS alert, and the log says "rejected by the server (unknown CA?)".
        cl = self.cl
        sys.path.insert(0, os.path.join(harness.SRC, "spec", "standin"))
        import pki  # noqa: E402
        foreign = pki.Cluster.create(os.path.join(cl.tmp, "foreign"), "foreign.example")
        ours = pki.Cluster(cl.state)
        p = foreign.sign_parts(cl.user, ["register-apps"], 7200)
        data = pki.encode_identity_file(p["key"], p["ssh_cert"], p["tls_cert"], ours.host_ca_ssh_lines(),
                                        ours.host_ca_pems())
        pki.write_private(cl.identity, data)
        en = cl.start_enroller(resync=1)
        en.wait_log(re.compile(r"credentials %s: rejected by the server \S+ \([a-z ]+, unknown CA\?\)"
                               % re.escape(cl.identity)), what="the rejection named")
        self.assertNotIn("certificate expired", en.log())
        self.assertEqual(cl.apps(), {})
        self.assertTrue(en.alive())


if __name__ == "__main__":
    unittest.main()
