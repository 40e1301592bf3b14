"""enroller as a container (examples/compose-deploy/Dockerfile), built and
run offline on the harness's private dockerd: the cached debootstrap base
is imported as debian:bookworm-slim, apt in both build stages reads a local
repository of the persistent .deb cache served on loopback (the build runs
on the host network), and the image runs as uid 10001 with the socket's
group added, beside the containers it registers, against the stand-in.  An
app appears when a container starts and goes when it is removed.  Without
the socket's group the container stops at once with one line naming the
group to add.

Needs root, the base ($ENR_CI_CACHE/base, default /var/cache/enroller-ci/base)
and the .deb cache (see test_package.py); fails, saying which, without them.

    /usr/bin/python3 spec/e2e/test_container_image.py
"""

import functools
import glob
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from test_package import BASE, deb_cache  # noqa: E402

IMAGE = "enroller-image-test:latest"
UID = 10001


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class ContainerImage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="enr-img-", dir="/tmp")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve_repo(self, cache):
        """A flat apt repository of the .deb cache on a loopback port."""
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        os.symlink(cache, os.path.join(repo, "debs"))
        with open(os.path.join(repo, "Packages"), "w") as f:
            subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null", "debs/"], cwd=cache, stdout=f,
                           stderr=subprocess.DEVNULL, check=True, timeout=600)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=repo))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return "http://127.0.0.1:%d/" % srv.server_address[1]

    def context_tar(self):
        """The repository's files (tracked and new, not ignored) as a build context."""
        files = subprocess.run(["git", "-C", harness.SRC, "ls-files", "-co", "--exclude-standard", "-z"],
                               capture_output=True, check=True).stdout
        tar = os.path.join(self.tmp, "context.tar")
        subprocess.run(["tar", "-C", harness.SRC, "--null", "-T", "-", "-cf", tar], input=files, check=True,
                       stdout=subprocess.DEVNULL)
        return tar

    def test_image(self):
        self.assertEqual(os.geteuid(), 0, "needs root")
        self.assertTrue(os.path.isfile(os.path.join(BASE, "etc/debian_version")),
                        "no Debian 12 base at %s (scripts/fresh-check makes it)" % BASE)
        cache = deb_cache()
        self.assertIsNotNone(cache, "no .deb cache with libcurl4")
        url = self.serve_repo(cache)
        tar = self.context_tar()

        with harness.Cluster() as cl:
            def cli(*args, **kw):
                return subprocess.run(cl.cli + list(args), env=cl.docker_env, capture_output=True, text=True,
                                      stdin=kw.pop("stdin", subprocess.DEVNULL), timeout=kw.pop("timeout", 1800),
                                      **kw)

            imp = subprocess.Popen(["tar", "-C", BASE, "-c", "."], stdout=subprocess.PIPE)
            r = cli("import", "-", "debian:bookworm-slim", stdin=imp.stdout)
            imp.stdout.close()
            imp.wait()
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(tar, "rb") as f:
                r = cli("build", "--network", "host", "-f", "examples/compose-deploy/Dockerfile",
                        "--build-arg", "APT_SOURCES=deb [trusted=yes] %s ./" % url, "-t", IMAGE, "-", stdin=f)
            self.assertEqual(r.returncode, 0, "build failed:\n" + (r.stdout + r.stderr)[-4000:])

            r = cli("run", "--rm", IMAGE, "--version")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("enroller "), r.stdout)
            r = cli("run", "--rm", "--entrypoint", "id", IMAGE, "-u")
            self.assertEqual(r.stdout.strip(), str(UID), "runs as the non-root user")

            sock = cl.docker_host[len("unix://"):]
            gid = os.stat(sock).st_gid
            etc = os.path.join(self.tmp, "etc")
            os.makedirs(etc)
            shutil.copy(cl.identity, os.path.join(etc, "identity"))
            os.chown(os.path.join(etc, "identity"), UID, UID)
            os.chmod(os.path.join(etc, "identity"), 0o600)
            with open(os.path.join(harness.SRC, "examples/compose-deploy/enroller.lua")) as f:
                config = f.read()
            # The host's network: the listener on a free loopback port, not the example's 0.0.0.0:9464.
            self.assertIn('"0.0.0.0:9464"', config)
            port = free_port()
            with open(os.path.join(etc, "config.lua"), "w") as f:
                f.write(config.replace('"0.0.0.0:9464"', '"127.0.0.1:%d"' % port))
            os.chmod(etc, 0o755)
            mounts = ["-v", "%s:/var/run/docker.sock" % sock,
                      "-v", "%s/config.lua:/etc/enroller/config.lua:ro" % etc,
                      "-v", "%s/identity:/var/lib/enroller/identity:ro" % etc]
            env = ["-e", "ENROLLER_OWNER=%s" % cl.owner, "-e", "ENROLLER_TELEPORT_ADDR=%s" % cl.auth_addr]

            # The config checks inside the image, against its installed rules.
            r = cli("run", "--rm", *mounts, *env, IMAGE, "check", "-c", "/etc/enroller/config.lua")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

            # Without the socket's group: one line naming the group to add.
            if gid != 0 or os.stat(sock).st_mode & 0o006 != 0o006:
                r = cli("run", "--rm", "--network", "host", *mounts, *env, IMAGE)
                self.assertNotEqual(r.returncode, 0)
                lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("--group-add %d" % gid, lines[0])

            r = cli("run", "-d", "--name", "enroller", "--network", "host", "--group-add", str(gid),
                    "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *mounts, *env, IMAGE)
            self.assertEqual(r.returncode, 0, r.stderr)

            def logs():
                return cli("logs", "enroller").stderr

            try:
                # teleport.dev/port names one of the container's TCP ports: expose it.
                cl.docker("run", "-d", "--name", "web", "--network", harness.NETWORK, "--expose", "8080",
                          "--label", "teleport.dev/name=web", "--label", "teleport.dev/port=8080", harness.TINY)
                harness.wait_for(lambda: "web" in cl.apps(), timeout=120, what="web's app (log: %s)" % logs()[-2000:])
                app = cl.apps()["web"]
                self.assertEqual(app["metadata"]["labels"]["enroller.dev/owner"], cl.owner)
                cl.docker("rm", "-f", "web")
                harness.wait_for(lambda: "web" not in cl.apps(), timeout=120, what="web's app gone")
                self.assertEqual(cli("inspect", "-f", "{{.State.Running}}", "enroller").stdout.strip(), "true")
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=10) as resp:
                    self.assertEqual(resp.status, 200)
                secrets = [ln.strip() for ln in open(cl.identity) if len(ln.strip()) >= 16
                           and not ln.startswith("-----")]
                text = logs()
                for line in secrets:
                    self.assertNotIn(line, text)
            finally:
                cli("rm", "-f", "enroller")


if __name__ == "__main__":
    unittest.main()
