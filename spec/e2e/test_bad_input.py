"""Bad input at start-up: one clear line naming the file and line, or the
field, and a non-zero exit; nothing crashes and nothing is written."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def run_enroller(cfg, *cmd):
    return subprocess.run([harness.ENROLLER] + list(cmd or ["run"]) + ["-c", cfg], capture_output=True,
                          text=True, timeout=harness.CMD_DEADLINE)


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cl = harness.Cluster().__enter__()
        # Also when a later step of the class set-up fails.
        cls.addClassCleanup(cls.cl.close)

    @classmethod
    def tearDownClass(cls):
        cls.cl.close()

    def config(self, body, name="bad.lua"):
        path = os.path.join(self.cl.tmp, name)
        with open(path, "w") as f:
            f.write(body)
        return path

    def assertOneLine(self, r, *parts):
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("AddressSanitizer", r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.startswith("enroller:")]
        self.assertEqual(len(lines), 1, r.stderr)
        for p in parts:
            self.assertIn(p, lines[0])

    def good_lines(self, identity=None):
        cl = self.cl
        return ('owner "bad-input"\ndocker { host = "%s" }\nteleport { addr = "%s", identity = "%s" }\n'
                'rules { dir = "%s" }\n' % (cl.docker_host, cl.auth_addr, identity or cl.identity,
                                            os.path.join(harness.SRC, "rules")))

    def test_config_field_errors_name_file_and_line(self):
        r = run_enroller(self.config(self.good_lines() + 'reconcile { resync = "soon" }\n'))
        self.assertOneLine(r, "bad.lua:5:", "reconcile.resync")
        r = run_enroller(self.config('owner "x"\nteleport { addr = 3025, identity = "i" }\n'))
        self.assertOneLine(r, "bad.lua:2:", "teleport.addr", "expected string, got number")
        r = run_enroller(self.config(self.good_lines() + "rulez { dir = 'x' }\n"))
        self.assertOneLine(r, "bad.lua:5:", "rulez")

    def test_missing_rules_dir(self):
        body = self.good_lines().replace(os.path.join(harness.SRC, "rules"), "/nonexistent/rules")
        r = run_enroller(self.config(body))
        self.assertOneLine(r, "/nonexistent/rules")

    def test_missing_identity_file(self):
        r = run_enroller(self.config(self.good_lines(identity="/nonexistent/identity")))
        self.assertOneLine(r, "/nonexistent/identity")

    def test_unreadable_and_garbage_identity(self):
        junk = os.path.join(self.cl.tmp, "junk-identity")
        with open(junk, "w") as f:
            f.write("this is not an identity file\n")
        os.chmod(junk, 0o600)
        r = run_enroller(self.config(self.good_lines(identity=junk)))
        self.assertOneLine(r, junk)
        os.chmod(self.cl.identity, 0o644)
        try:
            r = run_enroller(self.config(self.good_lines()))
            self.assertOneLine(r, self.cl.identity, "0644")
        finally:
            os.chmod(self.cl.identity, 0o600)

    def test_expired_identity(self):
        expired = os.path.join(self.cl.tmp, "expired-identity")
        self.cl.tctl("auth", "sign", "--user", self.cl.user, "--out", expired, "--ttl", "1s")
        harness.wait_cert_expired(expired)
        r = run_enroller(self.config(self.good_lines(identity=expired)))
        self.assertOneLine(r, expired, "expired")

    def test_check_command(self):
        r = run_enroller(self.config(self.good_lines()), "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^rule rabbitmq\b.*: ok$")

    def test_no_writes_from_bad_starts(self):
        before = self.cl.counters()
        for m in ("CreateApp", "UpdateApp", "DeleteApp"):
            self.assertEqual(harness.calls(before, m), 0, m)


if __name__ == "__main__":
    unittest.main()
