#!/usr/bin/python3
"""Agent mode: from a target container's start to its app_server appearing.

    bench/agent_latency.py [-n 10]

On the real private dockerd and the stand-in, one after the other:

  dynamic   enroller, dynamic registration: CreateApp, then the stand-in's
            emulated Application Service announces the app_server (the
            same-run baseline)
  agent     enroller in agent mode: token -> volume -> create -> upload ->
            start -> the emulated join (spec/e2e/agent_join.py plays it as
            soon as the agent container runs) -> app_server

The clock starts when `docker run -d` of the target returns and stops when
`tctl get app_servers` first lists the app (polled every 50 ms: the figures
include up to one tctl round trip).  One target at a time; each is removed
(and, in agent mode, its agent, volume and token with it) before the next.
Prints a Markdown table and the agent/dynamic ratio at p50.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
from common import harness  # noqa: E402
import agent_join as aj  # noqa: E402

OWNER = "agent-host"
ROLE = os.path.join(common.SRC, "examples", "agent-mode", "role.yaml")
RULES = os.path.join(common.SRC, "examples", "agent-mode", "rules")


def run_target(cl, name):
    cl.docker("run", "-d", "--name", name, "--network", harness.NETWORK, "--expose", "8080",
              "--label", "teleport.dev/name=" + name, "--label", "teleport.dev/port=8080", harness.TINY)
    return time.monotonic()


def measure(cl, en, prefix, n, agent):
    out = []
    for i in range(n + 1):                      # the first one warms up
        name = "%s%02d" % (prefix, i)
        t0 = run_target(cl, name)
        harness.wait_for(lambda: name in cl.app_servers() or None, interval=0.05, timeout=300,
                         what="app_server " + name)
        dt = (time.monotonic() - t0) * 1000.0
        if i:
            out.append(dt)
        cl.docker("rm", "-f", name)
        harness.wait_for(lambda: name not in cl.app_servers() or None, timeout=300, what=name + " gone")
        if agent:
            harness.wait_for(lambda: not aj.agents(cl) and not aj.tokens(cl) or None, timeout=300,
                             what="agent of %s removed" % name)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    args = ap.parse_args()
    rows = {}
    with harness.Cluster(owner=OWNER, roles=(ROLE, "enroller-apps.yaml"),
                         user_roles=("enroller-agent", "enroller-apps")) as cl, aj.AgentPlayer(cl):
        aj.make_agent_image(cl)
        en = cl.start_enroller(config=cl.write_config(rules_dir=RULES, name="dynamic.lua"))
        rows["dynamic"] = measure(cl, en, "dyn", args.n, False)
        en.stop()
        cfg = cl.write_config(rules_dir=RULES, name="agent.lua", extra=(
            'agent { registration = "agent", image = "%s", version = "%s" }\n'
            % (aj.AGENT_IMAGE, aj.AGENT_VERSION)))
        en = cl.start_enroller(config=cfg)
        rows["agent"] = measure(cl, en, "agt", args.n, True)
        left = aj.tokens(cl)
    print(common.table(["registration", "n", "p50 ms", "p90 ms", "max ms"],
                       [[k, len(v), "%.0f" % common.pct(v, 50), "%.0f" % common.pct(v, 90), "%.0f" % max(v)]
                        for k, v in rows.items()]))
    print("\nagent/dynamic at p50: %.2f; join tokens left in Teleport: %d" % (
        common.ratio(common.pct(rows["agent"], 50), common.pct(rows["dynamic"], 50)), len(left)))


if __name__ == "__main__":
    main()
