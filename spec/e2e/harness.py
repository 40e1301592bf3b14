"""End-to-end harness: a real private dockerd, the Teleport Auth stand-in and
enroller itself, each started by the project's own scripts and stopped at the
end, whatever happens.

    with Cluster() as cl:                 # dockerd + stand-in + identity
        en = cl.start_enroller()          # enroller on examples/rabbitmq rules
        cl.run_container("rmq1", "rabbitmq:3-management")
        cl.wait_for(lambda: "rabbitmq-rmq1" in cl.apps())

Only loopback and unix sockets are used: container addresses are read from
Docker and written into Teleport, never connected to.
"""

import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("ENR_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ENR_BUILD_DIR") or os.path.join(SRC, "build")
ENROLLER = os.environ.get("ENR_ENROLLER") or os.path.join(BUILD, "enroller")
PY = "/usr/bin/python3"
TCTL = os.path.join(SRC, "spec", "standin", "tctl")
STANDIN = os.path.join(SRC, "spec", "standin", "standin.py")
DOCKERD_TEST = os.path.join(SRC, "scripts", "dockerd-test")
PODMAN_TEST = os.path.join(SRC, "scripts", "podman-test")
# The engine a Cluster runs: "docker" (scripts/dockerd-test) or "podman"
# (scripts/podman-test, a Podman service on the Docker-compatible API).
ENGINE = os.environ.get("ENR_E2E_ENGINE", "docker")
ROLES_DIR = os.path.join(SRC, "spec", "standin", "roles")
# Delay before a write reaches the stand-in's Auth cache (standin.py
# --cache-lag-ms), and so its reads and WatchEvents, as a real Auth cache
# trails its backend. On by default so every e2e test meets an eventually
# consistent Auth; ENR_STANDIN_CACHE_LAG_MS=0 turns it off.
STANDIN_CACHE_LAG_MS = os.environ.get("ENR_STANDIN_CACHE_LAG_MS", "300")
TINY = "enroller-tiny:latest"
NETWORK = "enroller-test"


def log(msg):
    print("[e2e] " + msg, file=sys.stderr, flush=True)


class TimeoutError_(AssertionError):
    pass


# How long any one awaited condition may take: generous, so that a loaded
# machine makes a test slower, never red.
DEADLINE = 60.0
# How long one docker or tctl command may take before it counts as hung (a
# `docker start` of 40 containers on a busy machine takes a while).
CMD_DEADLINE = 300


def wait_for(pred, timeout=DEADLINE, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a transient failure is just "not yet"
            last_exc = e
        time.sleep(interval)
    raise TimeoutError_("timed out after %.1fs waiting for %s%s" % (
        timeout, what, (" (last error: %s)" % last_exc) if last_exc else ""))


class Enroller:
    """One enroller process; its stderr goes to a log file we can search."""

    def __init__(self, config, logpath, env=None):
        self.config = config
        self.logpath = logpath
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen([ENROLLER, "run", "-c", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env, stdin=subprocess.DEVNULL)
        return self

    def log(self):
        with open(self.logpath, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- progress, as enroller logs it: what a test waits on instead of a sleep
    def lines(self, needle):
        """(time, line) of each log line containing needle, oldest first;
        time is the line's own UTC stamp in seconds since the epoch."""
        return log_lines(self.log(), needle)

    def count(self, needle):
        return len(self.lines(needle))

    @staticmethod
    def container_line(name, state):
        """What enroller logs when it sees container name start ("running")
        or go ("gone"), as a pattern for lines() and wait_log()."""
        return re.compile(r"container %s \([0-9a-f]+\) is %s" % (re.escape(name), state))

    def wait_log(self, needle, count=1, timeout=DEADLINE, what=None):
        """Waits until at least count log lines contain needle; returns them."""
        return wait_for(lambda: (lambda ls: ls if len(ls) >= count else None)(self.lines(needle)),
                        timeout=timeout, what=what or "%d log line(s) with %r" % (count, needle))

    def wait_resyncs(self, n=2, needle="resync done:", timeout=DEADLINE, what=None):
        """Waits until n more resync passes than now have finished (only those
        whose "resync done" line contains needle, e.g. "docker INCOMPLETE").
        Each pass is followed at once by a plan of what it found changed and
        of the names whose deletion the cap or an unknown container holds (of
        every name after a Teleport listing and every 10th time), so when the
        nth is logged, the plans after the
        first n-1 have run: with n=2, at least one plan that saw the whole
        of Docker was made after whatever the log showed before the call.
        The line is logged at debug level, which write_config sets."""
        base = self.count(needle)
        return self.wait_log(needle, base + n, timeout=timeout,
                             what=what or "%d more resync passes (%r)" % (n, needle))

    def plans(self):
        """(create, update, delete) of each pass that wrote anything, in order."""
        return [tuple(int(x) for x in m.groups())
                for m in re.finditer(r"plan: (\d+) create, (\d+) update, (\d+) delete", self.log())]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=DEADLINE):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        rc = self.proc.returncode
        self.proc = None
        return rc


class Cluster:
    """dockerd + stand-in + a signed identity, torn down on exit."""

    def __init__(self, owner="e2e-host", user="register-apps",
                 roles=("register-apps.yaml", "register-apps-impersonator.yaml", "enroller-apps.yaml"),
                 user_roles=("register-apps", "enroller-apps"), standin_args=(), engine=None,
                 app_service_labels=()):
        """app_service_labels: the label matchers ('k=v,k2=v2', '*=*') of the
        stand-in's emulated Application Service (app_service.resources); with
        none, no App Service runs and no app is served."""
        self.engine = engine or ENGINE
        if self.engine not in ("docker", "podman"):
            raise ValueError("engine must be docker or podman, not %r" % self.engine)
        self.engine_script = PODMAN_TEST if self.engine == "podman" else DOCKERD_TEST
        self.owner = owner
        self.user = user
        self.roles = roles
        self.user_roles = user_roles
        self.standin_args = list(standin_args)
        for m in app_service_labels:
            self.standin_args += ["--app-service-labels", m]
        self.tmp = tempfile.mkdtemp(prefix="enr-e2e-", dir="/tmp")
        self.dockerd_dir = os.path.join(self.tmp, "d")
        self.state = os.path.join(self.tmp, "standin")
        self.identity = os.path.join(self.tmp, "identity")
        self.standin = None
        self.enrollers = []
        self.engines = []
        self.docker_env = None

    # ---- lifecycle
    def __enter__(self):
        try:
            self.start_dockerd()
            self.start_standin()
            self.sign_identity()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for e in self.enrollers:
            try:
                e.stop()
            except Exception as ex:
                log("stopping enroller: %s" % ex)
        self.stop_standin()
        for e in self.engines:
            e.stop()
        if self.docker_env is not None:
            subprocess.run([self.engine_script, "stop", self.dockerd_dir], stdout=subprocess.DEVNULL)
            self.docker_env = None
        if os.environ.get("ENR_E2E_KEEP"):
            log("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_dockerd(self):
        r = subprocess.run([self.engine_script, "start", self.dockerd_dir], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s start failed: %s" % (os.path.basename(self.engine_script), r.stderr.strip()))
        sock = "podman.sock" if self.engine == "podman" else "docker.sock"
        self.docker_host = "unix://" + os.path.join(self.dockerd_dir, sock)
        self.docker_env = dict(os.environ, DOCKER_HOST=self.docker_host)
        # The engine's own CLI: podman talks to the service as a remote client.
        self.cli = (["podman", "--remote", "--url", self.docker_host] if self.engine == "podman"
                    else ["docker"])

    def stop_dockerd(self):
        subprocess.run([self.engine_script, "stop", self.dockerd_dir], stdout=subprocess.DEVNULL, check=True)
        self.docker_env = None

    def restart_dockerd(self):
        self.start_dockerd()

    def start_standin(self, fresh_log=True):
        os.makedirs(self.state, exist_ok=True)
        addr_file = os.path.join(self.state, "addr")
        if os.path.exists(addr_file):
            os.unlink(addr_file)
        args = [PY, STANDIN, "--state", self.state, "--listen", getattr(self, "standin_listen", "127.0.0.1:0"),
                "--cache-lag-ms", STANDIN_CACHE_LAG_MS]
        for r in self.roles:
            args += ["--roles", os.path.join(ROLES_DIR, r)]
        args += self.standin_args
        self.standin_log = open(os.path.join(self.tmp, "standin.log"), "ab")
        self.standin = subprocess.Popen(args, stdout=self.standin_log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        # A first start makes the cluster's keys: slow on a busy machine, so
        # the deadline is a command's, not a condition's; an exit ends it.
        addr = wait_for(lambda: self._read(addr_file) or (self.standin.poll() is not None and "exited"),
                        timeout=CMD_DEADLINE, what="stand-in to listen")
        if addr == "exited":
            raise RuntimeError("stand-in exited with status %s; see %s"
                               % (self.standin.returncode, os.path.join(self.tmp, "standin.log")))
        self.auth_addr = addr.strip()
        # Restarts keep the port so enroller's config stays valid.
        self.standin_listen = self.auth_addr

    def stop_standin(self):
        if self.standin is not None:
            if self.standin.poll() is None:
                self.standin.send_signal(signal.SIGTERM)
                try:
                    self.standin.wait(10)
                except subprocess.TimeoutExpired:
                    self.standin.kill()
                    self.standin.wait()
            self.standin_log.close()
            self.standin = None

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def sign_identity(self):
        user_yaml = os.path.join(self.tmp, "user.yaml")
        with open(user_yaml, "w") as f:
            f.write("kind: user\nversion: v2\nmetadata:\n  name: %s\nspec:\n  roles: [%s]\n"
                    % (self.user, ", ".join(self.user_roles)))
        self.tctl("create", "-f", user_yaml)
        self.tctl("auth", "sign", "--user", self.user, "--out", self.identity, "--ttl", "2h")

    # ---- tools
    def tctl(self, *args, check=True, wait=True):
        """wait=False for a write enroller is expected to undo at once (a
        drift test's tampering): the cache may never show it."""
        r = subprocess.run([TCTL, "--state", self.state] + list(args), capture_output=True, text=True,
                           timeout=CMD_DEADLINE)
        if check and r.returncode != 0:
            raise RuntimeError("tctl %s: %s" % (" ".join(args), r.stderr.strip()))
        if wait and args and args[0] == "create" and r.returncode == 0:
            self._wait_created(args[-1])
        return r

    # `tctl get` reads Auth's cache, which lags writes (--cache-lag-ms), as
    # Teleport's does: after `tctl create` of apps or databases, a test waits
    # until the cache shows what it wrote before it reads them back.
    _GETS = {"app": "apps", "db": "dbs"}

    def _wait_created(self, path):
        import yaml
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
        for d in docs:
            what = self._GETS.get(d.get("kind"))
            name = (d.get("metadata") or {}).get("name")
            if what is None or name is None:
                continue
            want = (d.get("spec") or {}).get("uri")

            def shown(what=what, name=name, want=want):
                out = json.loads(self.tctl("get", what, "--format", "json").stdout or "[]")
                got = {x["metadata"]["name"]: x for x in out}.get(name)
                return got is not None and (want is None or got.get("spec", {}).get("uri") == want)
            wait_for(shown, what="%s %s in Auth's cache after tctl create" % (d["kind"], name))

    def apps(self):
        """name -> app (tctl's JSON shape), as the stand-in has them now."""
        out = json.loads(self.tctl("get", "apps", "--format", "json").stdout or "[]")
        return {a["metadata"]["name"]: a for a in out}

    def app_servers(self):
        out = json.loads(self.tctl("get", "app_servers", "--format", "json").stdout or "[]")
        return {s["metadata"]["name"]: s for s in out}

    def counters(self):
        return json.loads(self.tctl("counters", "--format", "json").stdout)

    def docker(self, *args, check=True):
        r = subprocess.run(self.cli + list(args), capture_output=True, text=True, env=self.docker_env,
                           timeout=CMD_DEADLINE)
        if check and r.returncode != 0:
            raise RuntimeError("%s %s: %s" % (self.engine, " ".join(args)[:300], r.stderr.strip()[-500:]))
        return r.stdout.strip()

    def docker_each(self, verb, names, workers=4):
        """`docker VERB NAME` for each name, a few at a time. The engine's CLI
        handles `docker start a b c` one container after the other in one
        command, so a burst of many containers on a busy machine can outlast
        CMD_DEADLINE, which bounds one container operation; here each
        container gets its own command and deadline, and the burst stays a
        burst. Returns the outputs in the order of names."""
        import concurrent.futures
        verb = [verb] if isinstance(verb, str) else list(verb)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda n: self.docker(*(verb + [n])), names))

    def tag(self, image):
        self.docker("tag", TINY, image)

    def run_container(self, name, image="rabbitmq:3-management", network=NETWORK, labels=None):
        if image != TINY:
            self.tag(image)
        args = ["run", "-d", "--name", name]
        if network:
            args += ["--network", network]
        for k, v in (labels or {}).items():
            args += ["--label", "%s=%s" % (k, v)]
        return self.docker(*(args + [image]))

    def ip_of(self, name, network=NETWORK):
        return self.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network, name)

    # ---- enroller
    def write_config(self, rules_dir=None, resync=60, extra="", owner=None, name="enroller.lua",
                     docker_host=None, reconcile=""):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write('owner "%s"\n' % (owner or self.owner))
            f.write('docker { host = "%s" }\n' % (docker_host or self.docker_host))
            f.write('teleport { addr = "%s", identity = "%s" }\n' % (self.auth_addr, self.identity))
            f.write('rules { dir = "%s" }\n' % (rules_dir or os.path.join(SRC, "rules")))
            # No grace period unless a test asks for one: the tests wait for
            # deletions, and the default (60 s) covers a dockerd restart.
            if "grace" not in reconcile:
                reconcile = "grace = 0" + ((", " + reconcile) if reconcile else "")
            f.write('reconcile { resync = %d, %s }\n' % (resync, reconcile))
            f.write('log { level = "debug" }\n')
            f.write(extra)
        return path

    def start_enroller(self, config=None, **kw):
        if config is None:
            kw.setdefault("name", "enroller-%d.lua" % len(self.enrollers))
            config = self.write_config(**kw)
        e = Enroller(config, os.path.join(self.tmp, "enroller-%d.log" % len(self.enrollers))).start()
        self.enrollers.append(e)
        return e


_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")


def log_lines(text, needle):
    """(time, line) of each enroller log line in text containing needle (a
    string, or a compiled regular expression searched for)."""
    out = []
    for line in text.splitlines():
        m = _STAMP.match(line)
        if m is None or not (needle in line if isinstance(needle, str) else needle.search(line)):
            continue
        v = [int(x) for x in m.groups()]
        out.append((calendar.timegm(tuple(v[:6]) + (0, 0, 0)) + v[6] / 1000.0, line))
    return out


def cert_not_after(pem):
    """Expiry, in seconds since the epoch, of the first certificate in PEM
    text (in an identity file: the user's TLS certificate)."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    if m is None:
        raise ValueError("no certificate in the PEM text")
    r = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=m.group(0), capture_output=True,
                       text=True, timeout=CMD_DEADLINE, check=True)
    return calendar.timegm(time.strptime(r.stdout.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))


def wait_cert_expired(path, what=None):
    """Waits until the first certificate in the PEM file at path has expired
    (by this machine's clock, a second past its NotAfter)."""
    with open(path) as f:
        not_after = cert_not_after(f.read())
    wait_for(lambda: time.time() >= not_after + 1, what=what or "the certificate in %s to expire" % path)


def calls(counters, method):
    """Calls to /proto.AuthService/<method> in a counters snapshot (any code)."""
    m = counters.get("/proto.AuthService/" + method) or counters.get(method) or {}
    if isinstance(m, int):
        return m
    return sum(v for v in m.values() if isinstance(v, int))


class Engine:
    """A further private dockerd in the same cluster (a second Docker host)."""

    def __init__(self, cluster, name):
        self.dir = os.path.join(cluster.tmp, name)
        r = subprocess.run([DOCKERD_TEST, "start", self.dir], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("dockerd-test start failed: " + r.stderr.strip())
        self.host = "unix://" + os.path.join(self.dir, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST=self.host)
        cluster.engines.append(self)

    def docker(self, *args, check=True):
        r = subprocess.run(["docker"] + list(args), capture_output=True, text=True, env=self.env,
                           timeout=CMD_DEADLINE)
        if check and r.returncode != 0:
            raise RuntimeError("docker %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout.strip()

    def run_container(self, name, image="rabbitmq:3-management", network=NETWORK):
        if image != TINY:
            self.docker("tag", TINY, image)
        return self.docker("run", "-d", "--name", name, "--network", network, image)

    def stop(self):
        subprocess.run([DOCKERD_TEST, "stop", self.dir], stdout=subprocess.DEVNULL)
