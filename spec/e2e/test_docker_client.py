#!/usr/bin/python3
"""e2e: docker_client against a real, private dockerd (scripts/dockerd-test).

Drives spec/c/live_docker_client (built as $ENR_BUILD_DIR/live_docker_client),
which prints what the client sees as JSON lines, while this script starts,
connects, stops and removes containers with the docker CLI.  Asserts:

  * ping negotiates an API version, list and inspect work;
  * start, network connect, die, destroy events arrive within a bounded time,
    with the right container id;
  * inspect after start gives the container's address on enroller-test;
  * an unreachable socket, and a socket that never answers, give a clear
    error and a prompt exit, not a hang;
  * when the engine goes away the event stream ends with an error.
"""
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("ENR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("ENR_BUILD_DIR", os.path.join(SRC, "build"))
DRIVER = os.path.join(BUILD, "live_docker_client")
DOCKERD_TEST = os.path.join(SRC, "scripts", "dockerd-test")
WAIT = 60.0  # seconds any single expected observation may take (generous: a loaded machine is slow)


class Driver:
    """live_docker_client in the background; its JSON lines in a queue."""

    def __init__(self, args):
        self.proc = subprocess.Popen([DRIVER] + args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, what, pred, timeout=WAIT):
        """First line (already seen or arriving) for which pred is true."""
        for obj in self.seen:
            if pred(obj):
                return obj
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if obj is None:
                raise AssertionError("driver exited (rc=%s) before %s; saw %s; stderr: %s" % (
                    self.proc.wait(), what, self.seen, self.proc.stderr.read()))
            self.seen.append(obj)
            if pred(obj):
                return obj
        raise AssertionError("no %s within %.0fs; saw %s" % (what, timeout, self.seen))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def docker(sock, *args):
    out = subprocess.run(["docker", "-H", "unix://" + sock] + list(args), check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def event(action, cid, etype=None):
    def pred(o):
        return (o.get("op") == "event" and o["action"] == action and o["id"] == cid
                and (etype is None or o["type"] == etype))
    return pred


def check_unreachable(tmp):
    # No socket at all: immediate, clear error.  Were the client to keep
    # trying, the run would last its 300 s; the bound below is far from both.
    t0 = time.monotonic()
    p = subprocess.run([DRIVER, "--host", "unix://%s/nope.sock" % tmp, "--seconds", "300"],
                       capture_output=True, text=True, timeout=400)
    took = time.monotonic() - t0
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    first = json.loads(p.stdout.splitlines()[0])
    assert first["op"] == "error" and first["stage"] == "ping", first
    assert first["message"] == ("GET /_ping: cannot connect to unix://%s/nope.sock: "
                                "No such file or directory" % tmp), first
    assert took < 60, took

    # A socket that accepts and never answers: the per-request timeout.
    path = os.path.join(tmp, "mute.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    try:
        t0 = time.monotonic()
        p = subprocess.run([DRIVER, "--host", "unix://" + path, "--timeout-ms", "500",
                            "--seconds", "300"], capture_output=True, text=True, timeout=400)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    first = json.loads(p.stdout.splitlines()[0])
    assert first["op"] == "error" and first["stage"] == "ping", first
    assert first["message"].startswith("GET /_ping: unix://%s: " % path), first
    assert "timed out" in first["message"].lower(), first
    assert took < 60, took  # the 500 ms request timeout, not the 300 s run


def main():
    if os.geteuid() != 0:
        print("test_docker_client: needs root to run dockerd", file=sys.stderr)
        return 1
    assert os.access(DRIVER, os.X_OK), "build live_docker_client first: " + DRIVER
    tmp = tempfile.mkdtemp(prefix="enr-e2e-dk.", dir="/tmp")
    sock = os.path.join(tmp, "docker.sock")
    driver = None
    try:
        check_unreachable(tmp)

        out = subprocess.run([DOCKERD_TEST, "start", tmp], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "export DOCKER_HOST=unix://" + sock, out.stdout

        # One container before the driver starts: seen by list + inspect.
        pre = docker(sock, "run", "-d", "--name", "pre", "--network", "enroller-test",
                     "--label", "app=pre", "enroller-tiny:latest")
        driver = Driver(["--host", "unix://" + sock, "--seconds", "900"])
        ping = driver.wait_for("ping", lambda o: o.get("op") in ("ping", "error"))
        assert ping["op"] == "ping", ping
        assert ping["api_version"] == "1.41", ping  # docker.io 20.10: min(1.41, 1.43)
        lst = driver.wait_for("list", lambda o: o.get("op") == "list")
        assert lst["ids"] == [pre], lst
        ins = driver.wait_for("inspect of pre", lambda o: o.get("op") == "inspect" and o["id"] == pre)
        assert ins["name"] == "pre" and ins["labels"] == {"app": "pre"}, ins
        assert ins["networks"]["enroller-test"] == docker(
            sock, "inspect", "-f", "{{(index .NetworkSettings.Networks \"enroller-test\").IPAddress}}", pre)

        # Start: network connect + start, and an inspect with the address.
        cid = docker(sock, "run", "-d", "--name", "web-1", "--network", "enroller-test",
                     "--label", "enroller.dev/app=web", "--expose", "8080", "enroller-tiny:latest")
        ip = docker(sock, "inspect", "-f",
                    "{{(index .NetworkSettings.Networks \"enroller-test\").IPAddress}}", cid)
        assert ip.startswith("10.213."), ip
        driver.wait_for("start of web-1", event("start", cid, "container"))
        driver.wait_for("network connect of web-1", event("connect", cid, "network"))
        ins = driver.wait_for("inspect of web-1", lambda o: o.get("op") == "inspect" and o["id"] == cid)
        assert ins["name"] == "web-1", ins
        assert ins["state"] == "running", ins
        assert ins["networks"] == {"enroller-test": ip}, ins
        assert ins["ports"] == ["8080/tcp"], ins
        assert ins["labels"] == {"enroller.dev/app": "web"}, ins

        # A second network: connect event, inspect sees both addresses.
        docker(sock, "network", "create", "--internal", "--subnet", "10.215.3.0/24", "e2e-second")
        docker(sock, "network", "connect", "e2e-second", cid)
        ins2 = driver.wait_for(
            "inspect with two networks",
            lambda o: o.get("op") == "inspect" and o["id"] == cid and len(o["networks"]) == 2)
        assert ins2["networks"]["enroller-test"] == ip, ins2
        assert ins2["networks"]["e2e-second"].startswith("10.215.3."), ins2
        docker(sock, "network", "disconnect", "e2e-second", cid)
        driver.wait_for("network disconnect", event("disconnect", cid, "network"))

        # Stop and remove: die, stop, destroy.
        docker(sock, "stop", "-t", "1", cid)
        driver.wait_for("die of web-1", event("die", cid, "container"))
        driver.wait_for("stop of web-1", event("stop", cid, "container"))
        docker(sock, "rm", cid)
        driver.wait_for("destroy of web-1", event("destroy", cid, "container"))
        # Only wanted events: no "create", no network "create"/"destroy".
        for o in driver.seen:
            if o.get("op") == "event":
                assert o["action"] not in ("create", "attach", "exec_die"), o
                assert o["time_nano"] > 10**18, o
        errors = [o for o in driver.seen if o.get("op") == "error"]
        assert not errors, errors

        # The engine goes away: the stream ends with an error, the driver exits.
        out = subprocess.run([DOCKERD_TEST, "stop", tmp], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        end = driver.wait_for("stream end", lambda o: o.get("op") == "end")
        assert end["code"] < 0 and end["message"].startswith("GET /events: "), end
        driver.wait_for("done", lambda o: o.get("op") == "done")
        assert driver.proc.wait(timeout=WAIT) == 0
        print("test_docker_client: ok")
        return 0
    finally:
        if driver:
            driver.kill()
        subprocess.run([DOCKERD_TEST, "stop", tmp], capture_output=True, timeout=120)
        left = subprocess.run(["pgrep", "-f", tmp + "/"], capture_output=True, text=True).stdout
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left.strip(), "processes left for %s: %s" % (tmp, left)


if __name__ == "__main__":
    sys.exit(main())
