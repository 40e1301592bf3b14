"""Install and package: `cmake --install` lays out the program, the rule
library, the shipped rules, the examples, the manual page and the systemd
unit, and the installed program finds its rule library from the prefix
alone (no build path is compiled in).  `cpack -G DEB` makes a .deb whose
dependencies come from dpkg-shlibdeps; it is installed with apt into a
fresh Debian 12 root (an overlay on the cached debootstrap base, offline: a
local repository made from the persistent .deb cache) and run there:
`enroller --version`, `enroller check` on an installed example.

Needs root, the debootstrap base ($ENR_CI_CACHE/base, default
/var/cache/enroller-ci/base; scripts/fresh-check mounts it read-only in CI)
and the .deb cache (/var/cache/enroller-ci/debs, or /var/cache/apt/archives
in CI).  Without them the test fails, saying which is missing.

    /usr/bin/python3 spec/e2e/test_package.py     # or: ctest -R e2e_test_package -V
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

CACHE = os.environ.get("ENR_CI_CACHE", "/var/cache/enroller-ci")
BASE = os.path.join(CACHE, "base")
DEB_CACHES = (os.path.join(CACHE, "debs"), "/var/cache/apt/archives")

HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=enroller", "SupplementaryGroups=docker",
             "DynamicUser=yes", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n")


def run(cmd, **kw):
    kw.setdefault("timeout", 600)
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout


def deb_cache():
    for d in DEB_CACHES:
        if glob.glob(os.path.join(d, "libcurl4_*.deb")):
            return d
    return None


# A valid identity, 0600 (CMake copies spec/fixtures/identity/valid_rsa.identity there).
IDENTITY = os.path.join(harness.BUILD, "example-identity", "valid_rsa.identity")

class FreshRoot:
    """An overlay of the cached base with a tmpfs upper: thrown away on exit."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "fresh")
        self.mounts = []

    def mount(self, *args):
        target = args[-1]
        os.makedirs(target, exist_ok=True)
        run(["mount"] + list(args))
        self.mounts.append(target)

    def __enter__(self):
        try:
            scratch = os.path.join(self.dir, "scratch")
            self.mount("-t", "tmpfs", "tmpfs", scratch)
            os.makedirs(os.path.join(scratch, "upper"))
            os.makedirs(os.path.join(scratch, "work"))
            self.root = os.path.join(self.dir, "root")
            self.mount("-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s/upper,workdir=%s/work"
                       % (BASE, scratch, scratch), self.root)
            self.mount("-t", "proc", "proc", os.path.join(self.root, "proc"))
            self.mount("--bind", "/dev", os.path.join(self.root, "dev"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for m in reversed(self.mounts):
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []
        return False

    def chroot(self, *cmd):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
               "DEBIAN_FRONTEND": "noninteractive"}
        return run(["chroot", self.root] + list(cmd), env=env)


class Package(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="enr-pkg-", dir="/tmp")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_install_layout(self):
        prefix = os.path.join(self.tmp, "inst")
        run(["cmake", "--install", harness.BUILD, "--prefix", prefix, "--strip"])
        for f in ("bin/enroller", "share/enroller/lua/enroller/init.lua", "share/enroller/rules/labels.lua",
                  "share/doc/enroller/examples/labels-only/config.lua", "share/doc/enroller/README.md",
                  "share/doc/enroller/examples/systemd/enroller.service", "share/man/man1/enroller.1",
                  "lib/systemd/system/enroller.service"):
            self.assertTrue(os.path.exists(os.path.join(prefix, f)), f)
        with open(os.path.join(prefix, "bin/enroller"), "rb") as f:
            binary = f.read()
        for path in (harness.SRC, harness.BUILD):
            self.assertNotIn(os.fsencode(path), binary, "the installed program names %s" % path)

        # The rule library comes from the prefix: the example checks with
        # nothing in the environment pointing at it.
        env = {k: v for k, v in os.environ.items() if k != "ENROLLER_LUA_PATH"}
        # check loads the identity: a valid one, private as check wants it
        env["ENROLLER_IDENTITY"] = IDENTITY
        ex = os.path.join(prefix, "share/doc/enroller/examples")
        for name in ("labels-only", "rabbitmq"):
            out = run([os.path.join(prefix, "bin/enroller"), "check", "-c", os.path.join(ex, name, "config.lua")],
                      env=env, cwd=self.tmp)
            self.assertIn("ok", out)
        # The manual page is the --help text.
        with open(os.path.join(prefix, "share/man/man1/enroller.1")) as f:
            man = f.read()
        self.assertTrue(man.startswith(".TH ENROLLER 1 "), man[:80])
        for c in ("run", "check", "plan", "explain", "test\\-rules"):
            self.assertIn('.SS "enroller ', man)
            self.assertIn(c, man)
        help_text = run([os.path.join(prefix, "bin/enroller"), "check", "--help"])
        summary = "validate the config, the identity and every rule file; with --connect, reach Auth and Docker"
        # --help wraps at 80 columns and troff fills lines: compare the words
        self.assertIn(summary, " ".join(help_text.split()))
        self.assertIn(summary, " ".join(man.replace("\\-", "-").split()))

        with open(os.path.join(prefix, "lib/systemd/system/enroller.service")) as f:
            unit = f.read()
        for want in HARDENING:
            self.assertIn("\n" + want, unit)
        groups = [ln for ln in unit.splitlines() if ln.startswith("SupplementaryGroups=")]
        self.assertEqual(groups, ["SupplementaryGroups=docker"])

    def test_deb_in_a_fresh_root(self):
        self.assertEqual(os.geteuid(), 0, "needs root (mount, chroot)")
        self.assertTrue(os.path.isfile(os.path.join(BASE, "etc/debian_version")),
                        "no Debian 12 base at %s (scripts/fresh-check makes it)" % BASE)
        cache = deb_cache()
        self.assertIsNotNone(cache, "no .deb cache with libcurl4 in %s" % " or ".join(DEB_CACHES))

        out = os.path.join(self.tmp, "deb")
        run(["cpack", "--config", os.path.join(harness.BUILD, "CPackConfig.cmake"), "-B", out])
        debs = glob.glob(os.path.join(out, "enroller_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = debs[0]
        depends = run(["dpkg-deb", "-f", deb, "Depends"])
        for lib in ("libcurl4", "libnghttp2-14", "libssl3", "libuv1", "libjansson4", "liblua5.4-0",
                    "libprotobuf-c1", "libmicrohttpd12", "libc6"):
            self.assertIn(lib, depends)
        files = run(["dpkg-deb", "-c", deb])
        for f in ("./usr/bin/enroller", "./usr/share/enroller/lua/enroller/init.lua",
                  "./usr/share/enroller/rules/labels.lua", "./usr/share/man/man1/enroller.1",
                  "./usr/lib/systemd/system/enroller.service", "./usr/share/doc/enroller/examples/"):
            self.assertIn(f, files)

        # An offline apt repository of the .deb cache (file:, read in place):
        # apt resolves the dependencies from it and downloads nothing.
        packages = os.path.join(self.tmp, "Packages")
        with open(packages, "w") as f:
            subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null", "debs/"], cwd=cache, stdout=f,
                           stderr=subprocess.DEVNULL, check=True, timeout=600)
        with FreshRoot(self.tmp) as fr:
            self.assertFalse(os.path.exists(os.path.join(fr.root, "usr/bin/enroller")))
            fr.mount("--bind", "-o", "ro", cache, os.path.join(fr.root, "srv/repo/debs"))
            shutil.copy(packages, os.path.join(fr.root, "srv/repo/Packages"))
            shutil.copy(deb, os.path.join(fr.root, "tmp/enroller.deb"))
            with open(os.path.join(fr.root, "etc/apt/sources.list"), "w") as f:
                f.write("deb [trusted=yes] file:/srv/repo ./\n")
            for extra in glob.glob(os.path.join(fr.root, "etc/apt/sources.list.d/*")):
                os.unlink(extra)
            fr.chroot("apt-get", "update", "-o", "Acquire::Languages=none")
            fr.chroot("apt-get", "install", "-y", "--no-install-recommends", "/tmp/enroller.deb")

            version = fr.chroot("enroller", "--version")
            self.assertTrue(version.startswith("enroller "), version)
            for lib in ("libcurl:", "nghttp2:", "openssl:", "lua:", "libuv:"):
                self.assertIn(lib, version)
            shutil.copy(IDENTITY, os.path.join(fr.root, "tmp/identity"))
            os.chmod(os.path.join(fr.root, "tmp/identity"), 0o600)
            ident = "ENROLLER_IDENTITY=/tmp/identity"
            out = fr.chroot("env", ident, "enroller", "check", "-c",
                            "/usr/share/doc/enroller/examples/labels-only/config.lua")
            self.assertIn("ok", out)
            out = fr.chroot("env", ident, "enroller", "check", "-c",
                            "/usr/share/doc/enroller/examples/rabbitmq/config.lua")
            self.assertIn("rule rabbitmq", out)
            self.assertIn("enroller check", fr.chroot("enroller", "--help"))


if __name__ == "__main__":
    unittest.main()
