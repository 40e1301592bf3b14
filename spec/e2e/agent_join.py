"""Test helpers for agent mode: the agent image and the emulated join.

Teleport's image cannot run here, so the agent image is the tiny busybox
image with a /usr/bin/dumb-init that sleeps (enroller starts agents as
`/usr/bin/dumb-init /usr/local/bin/teleport app start ...`), and
AgentPlayer plays each agent's join: it reads the token file out of the
agent container through the Docker API (GET /containers/{id}/archive, on the
unix socket) and presents it, with the agent's host id, hostname and app, to
the stand-in's JoinApp admin call, which checks it as Teleport's token join
does and records the app_server.  Everything enroller does is real; on a
connected machine the real image joins by itself."""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

sys.path.insert(0, os.path.join(harness.SRC, "spec", "standin"))
import client  # noqa: E402

AGENT_IMAGE = "enroller-test-agent"
AGENT_VERSION = "1"
TOKEN_PATH = "/run/enroller/join-token"
LABEL_APP = "enroller.dev/agent-app"
LABEL_HOST_ID = "enroller.dev/agent-host-id"


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def docker_api(cl, method, path):
    """(status, body bytes) of one Engine API call on the cluster's socket."""
    conn = UnixHTTP(cl.docker_host[len("unix://"):])
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def make_agent_image(cl):
    """enroller-test-agent:1 = enroller-tiny + a dumb-init that sleeps."""
    r = subprocess.run(cl.cli + ["image", "inspect", "%s:%s" % (AGENT_IMAGE, AGENT_VERSION)], env=cl.docker_env,
                       capture_output=True, timeout=harness.CMD_DEADLINE)
    if r.returncode == 0:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"#!/bin/sh\nexec /bin/sleep infinity\n"
        info = tarfile.TarInfo("usr/bin/dumb-init")
        info.mode = 0o755
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    name = "agent-image-build"
    cl.docker("create", "--name", name, harness.TINY)
    path = os.path.join(cl.tmp, "agent-image.tar")
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    with open(path, "rb") as f:
        subprocess.run(cl.cli + ["cp", "-", name + ":/"], stdin=f, env=cl.docker_env, check=True,
                       capture_output=True, timeout=harness.CMD_DEADLINE)
    cl.docker("commit", name, "%s:%s" % (AGENT_IMAGE, AGENT_VERSION))
    cl.docker("rm", name)


def agents(cl):
    """Agent containers (all states): list of Docker's list entries."""
    q = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": [LABEL_APP]})})
    status, body = docker_api(cl, "GET", "/containers/json?" + q)
    assert status == 200, body
    return json.loads(body)


def agent_volumes(cl):
    q = urllib.parse.urlencode({"filters": json.dumps({"label": [LABEL_APP]})})
    status, body = docker_api(cl, "GET", "/volumes?" + q)
    assert status == 200, body
    return [v["Name"] for v in (json.loads(body).get("Volumes") or [])]


def read_token_file(cl, cid):
    """(token, mode) of the agent's token file, read through the archive API."""
    status, body = docker_api(cl, "GET", "/containers/%s/archive?path=%s" % (cid, urllib.parse.quote(TOKEN_PATH)))
    if status != 200:
        return None, None
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        m = tar.getmembers()[0]
        return tar.extractfile(m).read().decode(), m.mode & 0o7777


def tokens(cl):
    out = json.loads(cl.tctl("get", "tokens", "--format", "json").stdout or "[]")
    return [t["metadata"]["name"] for t in out]


def parse_args(cmd):
    """--name/--uri/--labels/--token of the agent's command line."""
    out = {}
    for a in cmd or []:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


class Background:
    """A loop (self.run, checking self.stop_ev) on its own thread for the
    length of a with block."""

    def __init__(self):
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(10)


class AgentPlayer(Background):
    """Plays the join of every running agent container, as the real image
    would, except for apps in self.never (agents that never join)."""

    def __init__(self, cl):
        self.cl = cl
        self.never = set()
        self.joined = {}          # container id -> app
        self.errors = []
        self.admin = client.Admin(client.channel(cl.auth_addr, os.path.join(cl.state, "admin.identity")))
        super().__init__()

    def join(self, entry):
        cid = entry["Id"]
        status, body = docker_api(self.cl, "GET", "/containers/%s/json" % cid)
        if status != 200:
            return
        ins = json.loads(body)
        if not ins["State"]["Running"] or LABEL_HOST_ID not in (ins["Config"]["Labels"] or {}):
            return
        args = parse_args(ins["Args"])
        assert args.get("token") == TOKEN_PATH, args
        token, mode = read_token_file(self.cl, cid)
        if token is None:
            return
        labels = dict(kv.split("=", 1) for kv in args.get("labels", "").split(",") if kv)
        try:
            self.admin.call("JoinApp", {"token": token, "host_id": ins["Config"]["Labels"][LABEL_HOST_ID],
                                        "hostname": ins["Config"]["Hostname"],
                                        "app": {"name": args["name"], "uri": args["uri"], "labels": labels}})
            self.joined[cid] = (args["name"], mode, token)
        except Exception as e:  # a denied join is kept for the test to look at
            self.errors.append("%s: %s" % (args["name"], e))
            self.joined[cid] = (args["name"], mode, None)

    def run(self):
        while not self.stop_ev.is_set():
            try:
                for e in agents(self.cl):
                    app = e["Labels"].get(LABEL_APP)
                    if e["Id"] in self.joined or app in self.never or e["State"] != "running":
                        continue
                    self.join(e)
            except Exception as ex:
                harness.log("agent player: %s" % ex)
            time.sleep(0.05)
