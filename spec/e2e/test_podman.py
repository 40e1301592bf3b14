"""The guide's scenario against Podman's Docker-compatible API (a private
rootful `podman system service` from scripts/podman-test) and the stand-in:
containers started become apps, a stopped one's app goes, `podman rm -f`
takes its app away, a network connect/disconnect moves the app, the service
dying and coming back deletes nothing, and an app enroller does not own is
never touched.

Where Podman behaves unlike Docker on this machine, the test says so in its
output ("[e2e] podman: ...") instead of skipping silently."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

MANUAL = """kind: app
version: v3
metadata:
  name: %s
  labels:
    team: ops
spec:
  uri: %s
"""

DEADLINE = 60.0  # any one awaited condition: generous, a loaded machine only makes it slower


def wait_for(pred, what, timeout=DEADLINE, interval=0.05):
    return harness.wait_for(pred, timeout=timeout, interval=interval, what=what)


def calls(cl, method):
    return harness.calls(cl.counters(), method)


def pid_alive(pid):
    """False once pid has exited, reaped or not (a zombie has stopped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Podman(unittest.TestCase):
    def create_unowned_app(self, cl, name, uri):
        path = os.path.join(cl.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(MANUAL % (name, uri))
        cl.tctl("create", "-f", path)
        return cl.apps()[name]["metadata"].get("revision")

    def uri_of(self, cl, name, network=harness.NETWORK):
        return "http://%s:15672" % cl.ip_of(name, network)

    def service_pid(self, cl):
        with open(os.path.join(cl.dockerd_dir, "podman.pid")) as f:
            return int(f.read().strip())

    def test_guide_scenario(self):
        with harness.Cluster(engine="podman") as cl:
            version = cl.docker("version", "--format", "{{.Server.Version}}")
            harness.log("podman: service %s on %s" % (version, cl.docker_host))
            manual_rev = self.create_unowned_app(cl, "manual-ops", "http://ops.example:8080")
            en = cl.start_enroller(resync=2)
            wait_for(lambda: "resync done" in en.log(), "enroller's first resync")

            # Started -> app appears (the image reads localhost/rabbitmq:3-management).
            for n in ("rmq1", "rmq2", "rmq3"):
                cl.run_container(n, "rabbitmq:3-management")
            cl.run_container("plain", "busybox:latest")
            self.assertEqual(cl.docker("inspect", "-f", "{{.ImageName}}", "rmq1"),
                             "localhost/rabbitmq:3-management")
            names = {"rabbitmq-rmq1", "rabbitmq-rmq2", "rabbitmq-rmq3"}
            apps = wait_for(lambda: (lambda a: a if names <= set(a) else None)(cl.apps()), "three apps")
            self.assertEqual(set(apps), names | {"manual-ops"}, "only the RabbitMQ containers are registered")
            for n in ("rmq1", "rmq2", "rmq3"):
                app = apps["rabbitmq-" + n]
                self.assertEqual(app["spec"]["uri"], self.uri_of(cl, n))
                labels = app["metadata"]["labels"]
                self.assertEqual(labels["enroller.dev/owner"], cl.owner)
                self.assertEqual(labels["enroller.dev/container"], n)
                self.assertEqual(labels["enroller.dev/rule"], "rabbitmq")
            self.assertIn("image rabbitmq:3-management", en.log())
            self.assertNotIn("image localhost/", en.log())

            # No connect event at start on Podman (Docker sends one per network).
            rmq1_id = cl.docker("inspect", "-f", "{{.Id}}", "rmq1")
            connects = en.log().count("event network connect %s" % rmq1_id[:12])
            if connects == 0:
                harness.log("podman: no network connect event when a container starts "
                            "(enroller reads the networks from the inspect after start)")
            else:
                harness.log("podman: %d network connect event(s) at start" % connects)

            # Stopped -> app goes (needs the die event: Podman 4.3 filters on "died").
            t0 = time.monotonic()
            cl.docker("stop", "-t", "1", "rmq2")
            wait_for(lambda: "rabbitmq-rmq2" not in cl.apps(), "rmq2's app to go after stop")
            harness.log("podman: stop -> app gone in %.2f s" % (time.monotonic() - t0))
            rmq2_id = cl.docker("inspect", "-f", "{{.Id}}", "rmq2")
            self.assertIn("event container die %s" % rmq2_id[:12], en.log())

            # rm -f -> app goes, and the removal arrives as Docker's "destroy".
            rmq3_id = cl.docker("inspect", "-f", "{{.Id}}", "rmq3")
            t0 = time.monotonic()
            cl.docker("rm", "-f", "-t", "0", "rmq3")
            wait_for(lambda: "rabbitmq-rmq3" not in cl.apps(), "rmq3's app to go after rm -f")
            harness.log("podman: rm -f -> app gone in %.2f s" % (time.monotonic() - t0))
            wait_for(lambda: "event container destroy %s" % rmq3_id[:12] in en.log(),
                     "the removal as a destroy event")
            self.assertNotIn("event container remove", en.log())

            # Network connect/disconnect -> the app follows.  Podman's events
            # name the container only in Actor.ID.
            cl.run_container("rmq4", labels={"enroller.network": "podman"})
            wait_for(lambda: any("container rmq4 (" in l and "is running" in l for l in en.log().splitlines()),
                     "rmq4 seen running")
            time.sleep(0.5)
            self.assertNotIn("rabbitmq-rmq4", cl.apps(), "no address on network podman yet")
            cl.docker("network", "connect", "podman", "rmq4")
            uri = self.uri_of(cl, "rmq4", "podman")
            wait_for(lambda: cl.apps().get("rabbitmq-rmq4", {}).get("spec", {}).get("uri") == uri,
                     "app on the connected network")
            rmq4_id = cl.docker("inspect", "-f", "{{.Id}}", "rmq4")
            self.assertIn("event network connect %s" % rmq4_id[:12], en.log())
            cl.docker("network", "disconnect", "podman", "rmq4")
            wait_for(lambda: "rabbitmq-rmq4" not in cl.apps(), "app gone with its address")
            self.assertIn("event network disconnect %s" % rmq4_id[:12], en.log())

            # Health checks: Podman runs them from systemd timers; without
            # systemd nothing runs them, and the status stays "starting".
            cl.docker("run", "-d", "--name", "hc", "--network", harness.NETWORK, "--health-cmd", "true",
                      "--health-interval", "1s", "--health-retries", "1", harness.TINY)
            time.sleep(3)
            status = cl.docker("inspect", "-f", "{{.State.Health.Status}}", "hc")
            if status != "healthy":
                harness.log("podman: health checks do not run here (no systemd): State.Health.Status "
                            "stays %r after 3 s; rules that need c.health are not exercised on Podman" % status)
            else:
                harness.log("podman: health checks run (status healthy)")

            # The service dies mid-stream (SIGKILL) and comes back: the
            # containers keep running under conmon, nothing is deleted.
            before = {k: v["metadata"].get("revision") for k, v in cl.apps().items()}
            deletes = calls(cl, "DeleteApp")
            pid = self.service_pid(cl)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), "the killed service to stop")
            wait_for(lambda: "event stream ended" in en.log(), "enroller to see the stream end")
            ended = [l for l in en.log().splitlines() if "event stream ended" in l]
            harness.log("podman: service killed; enroller says: %s" % ended[-1][ended[-1].find("event"):])
            wait_for(lambda: "resync done: docker INCOMPLETE" in en.log() or "list containers:" in en.log(),
                     "a resync that could not list")
            self.assertEqual(calls(cl, "DeleteApp"), deletes, "deleted while the service was down")
            self.assertEqual({k: v["metadata"].get("revision") for k, v in cl.apps().items()}, before)
            cl.start_dockerd()  # scripts/podman-test start: a new service on the same storage
            n_resyncs = en.log().count("resync done: docker complete")
            wait_for(lambda: en.log().count("resync done: docker complete") >= n_resyncs + 2,
                     "two complete resyncs after the restart")
            self.assertEqual(calls(cl, "DeleteApp"), deletes, "deleted after the service came back")
            self.assertEqual({k: v["metadata"].get("revision") for k, v in cl.apps().items()}, before)
            # Events work again.
            cl.docker("stop", "-t", "1", "rmq1")
            wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), "rmq1's app to go after the restart")

            # Never touched: the app enroller does not own.
            apps = cl.apps()
            self.assertEqual(apps["manual-ops"]["metadata"].get("revision"), manual_rev)
            self.assertEqual(apps["manual-ops"]["spec"]["uri"], "http://ops.example:8080")
            self.assertTrue(en.alive())
            self.assertEqual(en.stop(), 0)
            self.assertNotIn("AddressSanitizer", en.log())


if __name__ == "__main__":
    unittest.main()
