"""Agent mode on a real dockerd and the stand-in: one Application Service
container per app (agent_join.py plays the agents' joins).

Counted before and after every scenario: join tokens in Teleport, agent
containers and agent volumes in Docker.  The token must never be in the
agent's argv, env, labels or `docker inspect`, nor in enroller's log or
/metrics."""

import json
import os
import socket
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import agent_join as aj  # noqa: E402

OWNER = "agent-host"
ROLE = os.path.join(harness.SRC, "examples", "agent-mode", "role.yaml")
RULES = os.path.join(harness.SRC, "examples", "agent-mode", "rules")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_config(join_timeout="8s", extra=""):
    return ('agent { registration = "agent", image = "%s", version = "%s", token_ttl = "5m", '
            'join_timeout = "%s" }\n%s' % (aj.AGENT_IMAGE, aj.AGENT_VERSION, join_timeout, extra))


def cluster():
    return harness.Cluster(owner=OWNER, roles=(ROLE,), user_roles=("enroller-agent",))


def web(cl, name, port=8080):
    """A container labels.lua makes the app `name`, http://<ip>:port."""
    return cl.docker("run", "-d", "--name", name, "--network", harness.NETWORK, "--expose", str(port),
                     "--label", "teleport.dev/name=" + name, "--label", "teleport.dev/port=%d" % port, harness.TINY)


def by_app(cl):
    """app -> list of agent containers."""
    out = {}
    for e in aj.agents(cl):
        out.setdefault(e["Labels"][aj.LABEL_APP], []).append(e)
    return out


def settled_empty(cl):
    """No token, agent container or agent volume left (or None)."""
    return not aj.tokens(cl) and not aj.agents(cl) and not aj.agent_volumes(cl) or None


class AgentMode(unittest.TestCase):
    def test_lifecycle_adoption_removal(self):
        with cluster() as cl, aj.AgentPlayer(cl) as pl:
            aj.make_agent_image(cl)
            self.assertEqual((aj.tokens(cl), aj.agents(cl), aj.agent_volumes(cl)), ([], [], []))
            port = free_port()
            cfg = cl.write_config(rules_dir=RULES, name="agent.lua",
                                  extra=agent_config(extra='http { listen = "127.0.0.1:%d" }\n' % port))
            en = cl.start_enroller(config=cfg)
            web(cl, "web1")
            en.wait_log("agent for app web1 joined", what="web1's agent to join")
            harness.wait_for(lambda: not aj.tokens(cl), what="web1's join token deleted")
            self.assertIn("web1", cl.app_servers())
            [agent] = by_app(cl)["web1"]
            ins = json.loads(cl.docker("inspect", agent["Id"]))[0]
            (name, mode, token) = pl.joined[agent["Id"]]
            self.assertEqual((name, mode), ("web1", 0o400))
            self.assertTrue(token and len(token) >= 32)
            # The token is nowhere but in the file.
            metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30).read().decode()
            for where, text in (("docker inspect", json.dumps(ins)), ("enroller's log", en.log()),
                                ("/metrics", metrics)):
                self.assertNotIn(token, text, "the join token is in " + where)
            args = aj.parse_args(ins["Args"])
            self.assertEqual(args["token"], aj.TOKEN_PATH)
            self.assertEqual(ins["Path"], "/usr/bin/dumb-init")
            self.assertEqual(ins["Args"][:3], ["/usr/local/bin/teleport", "app", "start"])
            self.assertEqual(args["name"], "web1")
            self.assertTrue(args["uri"].startswith("http://") and args["uri"].endswith(":8080"), args)
            self.assertIn("enroller.dev/owner=" + OWNER, args["labels"])
            labels = ins["Config"]["Labels"]
            self.assertEqual(labels["enroller.dev/owner"], OWNER)
            self.assertEqual(labels["enroller.dev/agent-target"], "web1")
            self.assertEqual(ins["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped")
            self.assertEqual(ins["HostConfig"]["NetworkMode"], harness.NETWORK)
            self.assertEqual(ins["Config"]["Hostname"], "enroller-agent-web1")
            self.assertEqual([m["Name"] for m in ins["Mounts"] if m["Destination"] == "/var/lib/teleport"],
                             ["enroller-agent-web1-data"])
            self.assertEqual(aj.agent_volumes(cl), ["enroller-agent-web1-data"])
            self.assertEqual(cl.app_servers()["web1"]["spec"]["host_id"], labels["enroller.dev/agent-host-id"])

            # Restart: the running agent is adopted, not doubled; leftovers of an
            # attempt cut short (a created container, a volume) whose target is
            # gone are collected; what is not ours is left alone.
            en.stop()
            creates = harness.calls(cl.counters(), "CreateTokenV2")
            own = ["--label", "enroller.dev/owner=" + OWNER, "--label", "enroller.dev/agent-app=ghost"]
            cl.docker("create", "--name", "enroller-agent-ghost", *(own + ["--label",
                      "enroller.dev/agent-target=ghost", harness.TINY]))
            cl.docker("volume", "create", *(own + ["enroller-agent-ghost-data"]))
            cl.docker("run", "-d", "--name", "enroller-agent-other", "--label", "enroller.dev/owner=someone-else",
                      "--label", "enroller.dev/agent-app=other", harness.TINY)
            cl.docker("volume", "create", "--label", "enroller.dev/agent-app=loose", "enroller-agent-loose-data")
            en2 = cl.start_enroller(config=cfg)
            en2.wait_log("adopted agent for app web1", what="the running agent adopted")
            en2.wait_log("agent for app web1 joined", what="the adopted agent seen joined")
            harness.wait_for(lambda: "ghost" not in by_app(cl) or None, what="the leftover container collected")
            harness.wait_for(lambda: "enroller-agent-ghost-data" not in aj.agent_volumes(cl) or None,
                             what="the leftover volume collected")
            self.assertEqual([a["Id"] for a in by_app(cl)["web1"]], [agent["Id"]])
            self.assertEqual(harness.calls(cl.counters(), "CreateTokenV2"), creates, "no new token for web1")
            self.assertIn("other", by_app(cl), "another owner's agent is left alone")
            self.assertIn("enroller-agent-loose-data", aj.agent_volumes(cl), "a volume without owner label stays")
            cl.docker("rm", "-f", "enroller-agent-other")
            cl.docker("volume", "rm", "enroller-agent-loose-data")

            # Removal in order: container, app_server, volume (token long gone).
            cl.docker("rm", "-f", "web1")
            en2.wait_log("agent for app web1 removed", what="web1's agent removed")
            harness.wait_for(lambda: settled_empty(cl), what="no token, agent or volume left")
            self.assertNotIn("web1", cl.app_servers())
            self.assertEqual(pl.errors, [])
            self.assertTrue(en2.alive())

    def test_faults(self):
        with cluster() as cl, aj.AgentPlayer(cl) as pl:
            aj.make_agent_image(cl)
            cfg = cl.write_config(rules_dir=RULES, name="agent.lua", extra=agent_config(join_timeout="4s"))
            en = cl.start_enroller(config=cfg)

            # An agent that never joins: reported, removed, retried; then it joins.
            pl.never.add("slow")
            web(cl, "slow")
            en.wait_log("agent for app slow: join: no app_server", what="the join timeout")
            en.wait_log("agent for app slow started", count=2, what="a second agent after the first was removed")
            self.assertLessEqual(len(by_app(cl).get("slow", [])), 1, "never two agents for one app")
            pl.never.discard("slow")
            en.wait_log("agent for app slow joined", what="slow's agent to join at last")
            harness.wait_for(lambda: not aj.tokens(cl) or None, what="every token deleted")
            self.assertEqual(len(by_app(cl)["slow"]), 1)

            # Token creation denied (RBAC): one line, retried with backoff.
            cl.tctl("faults", "set", "--method", "CreateTokenV2", "--error-rate", "1", "--code", "PERMISSION_DENIED",
                    "--count", "1")
            web(cl, "denied")
            en.wait_log("agent for app denied: join token:", what="the denied token creation")
            en.wait_log("agent for app denied joined", what="the retry to succeed")

            # A container of that name that is not ours: create fails, it is never touched.
            foreign = cl.docker("run", "-d", "--name", "enroller-agent-taken", harness.TINY)
            web(cl, "taken")
            en.wait_log("agent for app taken: create container", what="the name conflict")
            self.assertEqual(json.loads(cl.docker("inspect", foreign))[0]["State"]["Running"], True)
            cl.docker("rm", "-f", foreign)
            en.wait_log("agent for app taken joined", what="the retry once the name is free")

            # A volume of that name that is not ours: refused, never removed.
            cl.docker("volume", "create", "enroller-agent-vol-data")
            web(cl, "vol")
            en.wait_log("not enroller's, left alone", what="the foreign volume refused")
            self.assertIn("enroller-agent-vol-data", cl.docker("volume", "ls", "-q").split())
            cl.docker("volume", "rm", "enroller-agent-vol-data")
            en.wait_log("agent for app vol joined", what="the retry once the volume is gone")

            pl.never.add("gone")
            web(cl, "gone")
            harness.wait_for(lambda: by_app(cl).get("gone") or None, what="gone's agent container")
            # The target vanishes while its agent starts: the agent and all it made go.
            cl.docker("rm", "-f", "gone")
            en.wait_log("agent for app gone removed", what="gone's agent removed")

            for name in ("slow", "denied", "taken", "vol"):
                cl.docker("rm", "-f", name)
            harness.wait_for(lambda: settled_empty(cl), what="no token, agent or volume left")
            self.assertTrue(en.alive())

    def test_missing_image(self):
        with cluster() as cl, aj.AgentPlayer(cl):
            cfg = cl.write_config(rules_dir=RULES, name="agent.lua", extra=agent_config().replace(
                aj.AGENT_IMAGE, "enroller-no-such-image"))
            en = cl.start_enroller(config=cfg)
            web(cl, "web1")
            en.wait_log("agent for app web1: create container", what="the missing image reported")
            line = en.lines("agent for app web1: create container")[0][1]
            self.assertIn("enroller-no-such-image", line)
            en.wait_log("agent for app web1: create container", count=2, what="a retry")
            cl.docker("rm", "-f", "web1")
            harness.wait_for(lambda: settled_empty(cl), what="no token, agent or volume left")
            self.assertTrue(en.alive())

    def test_fifty_agents_come_and_go(self):
        n = 50
        with cluster() as cl, aj.AgentPlayer(cl):
            aj.make_agent_image(cl)
            cfg = cl.write_config(rules_dir=RULES, name="agent.lua", extra=agent_config(join_timeout="60s"))
            en = cl.start_enroller(config=cfg)
            names = ["app%02d" % i for i in range(n)]
            for name in names:
                web(cl, name)
            en.wait_log("joined", count=n, timeout=300, what="%d agents joined" % n)
            harness.wait_for(lambda: len(cl.app_servers()) == n or None, timeout=120, what="%d app_servers" % n)
            self.assertTrue(all(len(v) == 1 for v in by_app(cl).values()))
            cl.docker("rm", "-f", *names)
            harness.wait_for(lambda: settled_empty(cl), timeout=300, what="every agent, volume and token gone")
            self.assertEqual(aj.tokens(cl), [], "tokens left in Teleport after %d agents" % n)
            self.assertEqual(cl.app_servers(), {})
            self.assertEqual(en.count("joined"), n)
            self.assertTrue(en.alive())


if __name__ == "__main__":
    unittest.main()
