#!/usr/bin/python3
"""The status page as a browser shows it: build/ops_page_server serves a fixed
sample snapshot on loopback, headless Chromium loads / and dumps the DOM it
built (container names, resource states, an error message, the recent rule
reloads; a container named <script>... shows as text, runs nothing), then
takes a phone-sized screenshot, kept as build/artifacts/status-page.png.
Needs /usr/bin/chromium (scripts/setup installs it)."""
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.join(HERE, "..", "..")
BUILD = os.environ.get("ENR_BUILD_DIR") or os.path.join(SRC, "build")
SERVER = os.path.join(BUILD, "ops_page_server")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def png_info(path):
    """(width, height, distinct byte values in the decompressed image data)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("%s is not a PNG" % path)
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw))


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError("%s is missing: run scripts/setup" % CHROMIUM)
        if not os.access(SERVER, os.X_OK):
            raise AssertionError("%s is missing: build first (scripts/build)" % SERVER)
        cls.tmp = tempfile.mkdtemp(prefix="enr-ops-page-")
        cls.server = subprocess.Popen([SERVER, "127.0.0.1:0"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([cls.server.stdout], [], [], 60)
        line = cls.server.stdout.readline() if ready else ""
        if not line.startswith("port "):
            cls.server.kill()
            raise AssertionError("ops_page_server did not start: %r %s" % (line, cls.server.stderr.read()))
        cls.url = "http://127.0.0.1:%d/" % int(line.split()[1])

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        try:
            cls.server.wait(timeout=30)
        finally:
            if cls.server.poll() is None:
                cls.server.kill()
                cls.server.wait()
            errors = cls.server.stderr.read()
            cls.server.stdout.close()
            cls.server.stderr.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)
        # A clean stop on SIGTERM (and, in a sanitizer build, no report).
        if cls.server.returncode != 0 or "Sanitizer" in errors:
            raise AssertionError("ops_page_server exited %d: %s" % (cls.server.returncode, errors[-2000:]))

    def chromium(self, *args):
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.tmp)
        env = dict(os.environ, HOME=self.tmp)
        r = subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + list(args),
                           capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, "chromium failed: %s" % r.stderr[-2000:])
        return r.stdout

    def test_dom(self):
        dom = self.chromium("--dump-dom", self.url)
        self.assertIn("<title>enroller status</title>", dom)
        for name in ("grafana", "billing-db", "wiki", "old-jenkins"):
            self.assertIn("<h3>%s</h3>" % name, dom)
        for state in ("registered", "error", "conflict", "waiting", "held"):
            self.assertIn('<span class="badge %s">%s</span>' % (state, state), dom)
        self.assertIn("CreateDatabase: PERMISSION_DENIED: access denied to perform action", dom)
        self.assertIn("held by guard rail <strong>grace</strong>: container gone 40s ago", dom)
        self.assertIn("rules/postgres.lua:12: attempt to index a nil value", dom)
        self.assertIn("Containers (5)", dom)
        self.assertIn("no rule matched", dom)
        # The hostile name is text in the DOM, not an element.
        self.assertIn("<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>", dom)
        self.assertNotIn("<script", dom)

    def test_phone_screenshot(self):
        artifacts = os.path.join(BUILD, "artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.chromium("--screenshot=" + shot, "--window-size=412,915", self.url)
        self.assertTrue(os.path.exists(shot), "no screenshot at %s" % shot)
        width, height, distinct = png_info(shot)
        self.assertEqual((width, height), (412, 915))
        self.assertGreater(os.path.getsize(shot), 10000)
        # Text, badges and cards, not a blank or one-colour page.
        self.assertGreater(distinct, 64)


if __name__ == "__main__":
    unittest.main(verbosity=2)
