#!/usr/bin/python3
"""scripts/fresh-check's bad input and clean-up, without downloading anything.

A real run (debootstrap from the machine's mirror, then the whole suite) is
what CI does through .ci/run; these cases check what happens around it:
  - no Debian mirror in the apt sources: one line, exit 2, nothing made;
  - debootstrap failing (a mirror on a closed loopback port): one line naming
    the mirror and the log, the partial base removed;
  - a cached base that is incomplete, from another mirror, or too old: one
    line saying which, then a rebuild is tried;
  - a run in a (tiny, hand-made) base: the exit status of the command inside
    is fresh-check's, and on exit or SIGTERM every mount under the run is gone,
    no process is left in the root and the run's copy is removed.
Needs root (mount, chroot), like fresh-check itself.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(SRC, "scripts", "fresh-check")
CLOSED = "http://127.0.0.1:9/debian"   # discard port: nothing listens, refused at once


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def procs_rooted_under(path):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                root = os.readlink("/proc/%s/root" % pid)
            except OSError:
                continue
            if root.startswith(path):
                out.append(int(pid))
    return out


class FreshCheck(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("fresh-check needs root")
        self.tmp = tempfile.mkdtemp(prefix="enr-fresh-")
        self.cache = os.path.join(self.tmp, "cache")
        self.apt = os.path.join(self.tmp, "apt")
        os.makedirs(os.path.join(self.apt, "sources.list.d"))

    def tearDown(self):
        left = mounts_under(self.tmp)
        for m in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", m])
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(left, [], "mounts left behind")

    def sources(self, text, name="debian.sources"):
        with open(os.path.join(self.apt, "sources.list.d", name), "w") as f:
            f.write(text)

    def run_check(self, *args, timeout=120):
        env = dict(os.environ, ENR_CI_CACHE=self.cache, ENR_CI_APT_ETC=self.apt)
        return subprocess.run([SCRIPT] + list(args), env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def lines(self, r):
        return [x for x in r.stderr.splitlines() if x.strip()]

    def test_no_mirror(self):
        self.sources("Types: deb\nURIs: http://example.invalid/other\nSuites: trixie\nComponents: main\n")
        with open(os.path.join(self.apt, "sources.list"), "w") as f:
            f.write("# deb http://commented.invalid/debian bookworm main\n")
        r = self.run_check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(self.lines(r), [
            "fresh-check: no Debian mirror configured: no enabled 'deb URI bookworm' entry in "
            "%s/sources.list or %s/sources.list.d/" % (self.apt, self.apt)])
        self.assertFalse(os.path.exists(os.path.join(self.cache, "base")))

    def test_mirror_from_one_line_and_deb822_forms(self):
        # A one-line source with options is read too; the deb822 file is
        # disabled, so the one-line mirror is the one debootstrap is given.
        self.sources("Types: deb\nURIs: http://127.0.0.1:9/disabled\nSuites: bookworm\nEnabled: no\n")
        with open(os.path.join(self.apt, "sources.list"), "w") as f:
            f.write("deb [arch=amd64 signed-by=/x.gpg] %s bookworm main\n" % CLOSED)
        r = self.run_check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("debootstrap bookworm from %s failed" % CLOSED, r.stderr)

    def test_debootstrap_fails(self):
        self.sources("Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n" % CLOSED)
        r = self.run_check()
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = self.lines(r)
        self.assertEqual(lines[0], "fresh-check: no cached base in %s/base; making one" % self.cache)
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[1].startswith("fresh-check: debootstrap bookworm from %s failed: " % CLOSED), lines[1])
        self.assertTrue(lines[1].endswith("(log: %s/debootstrap.log)" % self.cache), lines[1])
        self.assertFalse(os.path.exists(os.path.join(self.cache, "base")), "partial base removed")
        self.assertFalse(os.path.exists(os.path.join(self.cache, "base.stamp")))

    def fake_base(self, stamp):
        """A base that passes the checks but is not Debian: enough to stop at
        the right line when it is judged stale."""
        base = os.path.join(self.cache, "base")
        for d in ("bin", "usr/bin"):
            os.makedirs(os.path.join(base, d))
        for exe in ("bin/bash", "usr/bin/apt-get"):
            with open(os.path.join(base, exe), "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(os.path.join(base, exe), 0o755)
        if stamp is not None:
            with open(os.path.join(self.cache, "base.stamp"), "w") as f:
                f.write(stamp)
        return base

    def test_stale_bases_are_named_and_rebuilt(self):
        self.sources("Types: deb\nURIs: %s\nSuites: bookworm\n" % CLOSED)
        cases = [
            (None, "cached base %s/base is incomplete (no %s/base.stamp: a debootstrap was cut short); rebuilding"
             % (self.cache, self.cache)),
            ("mirror=http://127.0.0.1:9/old\nmade=%d\n" % time.time(),
             "cached base %s/base is stale: made from http://127.0.0.1:9/old, the machine now uses %s; rebuilding"
             % (self.cache, CLOSED)),
            ("mirror=%s\nmade=%d\n" % (CLOSED, time.time() - 40 * 86400),
             "cached base %s/base is stale: made 40 days ago (limit 30); rebuilding" % self.cache),
        ]
        for stamp, want in cases:
            with self.subTest(want=want):
                self.fake_base(stamp)
                r = self.run_check()
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = self.lines(r)
                self.assertEqual(lines[0], "fresh-check: " + want)
                self.assertIn("debootstrap bookworm from %s failed" % CLOSED, lines[1])
                self.assertFalse(os.path.exists(os.path.join(self.cache, "base")))

    def runnable_base(self, inside):
        """A tiny root from busybox whose /usr/bin/env runs `inside` (a shell
        snippet) instead of scripts/test; stamped fresh so it is used as is."""
        base = self.fake_base("mirror=%s\nmade=%d\nsuite=bookworm\n" % (CLOSED, time.time()))
        for d in ("proc", "sys", "dev", "tmp", "root", "etc/apt/apt.conf.d", "var/cache/apt/archives"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        busybox = shutil.which("busybox") or "/bin/busybox"
        shutil.copy(busybox, os.path.join(base, "bin", "busybox"))
        for app in ("sh", "sleep"):
            os.symlink("busybox", os.path.join(base, "bin", app))
        with open(os.path.join(base, "usr/bin/env"), "w") as f:
            f.write("#!/bin/sh\n%s\n" % inside)
        os.chmod(os.path.join(base, "usr/bin/env"), 0o755)
        return base

    def assert_clean(self):
        self.assertEqual(mounts_under(self.cache), [], "nothing left mounted")
        runs = [d for d in os.listdir(self.cache) if d.startswith("run.")]
        self.assertEqual(runs, [], "the run's copy is removed")

    def test_exit_status_is_the_inside_one_and_all_is_cleaned(self):
        self.sources("Types: deb\nURIs: %s\nSuites: bookworm\n" % CLOSED)
        self.runnable_base("echo inside; exit 7")
        r = self.run_check()
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "inside", "the inside's output is the last")
        self.assert_clean()

    def test_sigterm_mid_run_kills_the_inside_and_cleans(self):
        self.sources("Types: deb\nURIs: %s\nSuites: bookworm\n" % CLOSED)
        self.runnable_base("echo started; exec /bin/sleep 600")
        env = dict(os.environ, ENR_CI_CACHE=self.cache, ENR_CI_APT_ETC=self.apt)
        p = subprocess.Popen([SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            line = p.stdout.readline()   # waits for the inside to run: a condition, not a delay
            self.assertEqual(line.strip(), "started")
            runs = [os.path.join(self.cache, d) for d in os.listdir(self.cache) if d.startswith("run.")]
            self.assertEqual(len(runs), 1)
            self.assertTrue(procs_rooted_under(runs[0]), "the inside runs in the root")
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=300)   # a deadline, generous for a loaded machine
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(rc, 143)
        self.assertEqual(procs_rooted_under(runs[0]), [], "no process left in the root")
        self.assert_clean()


if __name__ == "__main__":
    unittest.main(verbosity=2)
