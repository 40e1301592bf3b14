"""Agent mode's faults on a real dockerd and the stand-in (agent_join.py
plays the agents' joins).  Counted before and after each: join tokens in
Teleport, agent containers and agent volumes in Docker.

  - dockerd restarted without live-restore (as `systemctl restart docker`
    does): dockerd stops every container, targets and agents, and ends the
    event stream; when it is back the agents come back by their restart
    policy (unless-stopped) and the targets by theirs.  Never two agents for
    one target, nothing deleted in Teleport while Docker is away, and then
    everything converges: targets that run have their agent joined, a target
    that does not has its agent removed in order.
  - enroller killed (SIGKILL) while a join token exists and its agent
    container does not: the next enroller deletes that token (it carries
    our owner label), and never a token without it.
  - joins are learnt from the watch's app_server events: no polling of
    ListResources(app_server) while the watch is live.

    /usr/bin/python3 spec/e2e/test_agent_faults.py   # or: ctest -R e2e_test_agent_faults -V
"""

import ipaddress
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import agent_join as aj  # noqa: E402
import test_agent_mode as tam  # noqa: E402

wait_for = harness.wait_for
LABEL_OWNER = "enroller.dev/owner"
LABEL_TARGET = "enroller.dev/agent-target"


def web(cl, name, restart="no", ip=None):
    args = ["run", "-d", "--name", name, "--restart", restart, "--network", harness.NETWORK]
    if ip:
        args += ["--ip", ip]
    return cl.docker(*(args + ["--expose", "8080", "--label", "teleport.dev/name=" + name,
                               "--label", "teleport.dev/port=8080", harness.TINY]))


def ok_calls(counters, method):
    m = counters.get("/proto.AuthService/" + method) or {}
    return m.get("OK", 0) if isinstance(m, dict) else 0


def all_calls(counters, method):
    m = counters.get("/proto.AuthService/" + method) or {}
    return sum(m.values()) if isinstance(m, dict) else 0


def token_docs(cl):
    return json.loads(cl.tctl("get", "tokens", "--format", "json").stdout or "[]")


def counts(cl):
    return {"tokens": len(aj.tokens(cl)), "agents": len(aj.agents(cl)), "volumes": len(aj.agent_volumes(cl))}


def running(cl, name):
    return cl.docker("inspect", "-f", "{{.State.Running}}", name) == "true"


class Sampler(aj.Background):
    """Counts owner-labelled agent containers per target, all along."""

    def __init__(self, cl):
        self.cl = cl
        self.most = {}            # target -> most agent containers seen at once
        self.samples = 0
        super().__init__()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                per = {}
                for e in aj.agents(self.cl):
                    if e["Labels"].get(LABEL_OWNER) == tam.OWNER:
                        t = e["Labels"].get(LABEL_TARGET, "?")
                        per[t] = per.get(t, 0) + 1
                for t, n in per.items():
                    self.most[t] = max(self.most.get(t, 0), n)
                self.samples += 1
            except Exception:  # Docker away: nothing to count
                pass
            self.stop_ev.wait(0.05)


class AgentFaults(unittest.TestCase):
    def test_dockerd_restart(self):
        with tam.cluster() as cl, aj.AgentPlayer(cl) as pl, Sampler(cl) as sm:
            aj.make_agent_image(cl)
            cfg = cl.write_config(rules_dir=tam.RULES, name="agent.lua", resync=2, reconcile="grace = 10",
                                  extra=tam.agent_config(join_timeout="30s"))
            en = cl.start_enroller(config=cfg)
            subnet = ipaddress.ip_network(cl.docker("network", "inspect", "-f",
                                                    "{{(index .IPAM.Config 0).Subnet}}", harness.NETWORK))
            fixed = str(list(subnet.hosts())[-2])
            web(cl, "web1", "always", ip=fixed)     # comes back, with the same address
            web(cl, "web3", "always")               # comes back, maybe with another address
            web(cl, "web2", "no")                   # does not come back
            for n in ("web1", "web2", "web3"):
                en.wait_log("agent for app %s joined" % n, what="%s's agent to join" % n)
            wait_for(lambda: not aj.tokens(cl) or None, what="the join tokens deleted")
            before = cl.counters()
            host1 = cl.app_servers()["web1"]["spec"]["host_id"]
            agent1 = [a["Id"] for a in tam.by_app(cl)["web1"]]
            ip3 = cl.ip_of("web3")
            harness.log("before the restart: %s" % counts(cl))
            self.assertEqual(counts(cl), {"tokens": 0, "agents": 3, "volumes": 3})

            with open(os.path.join(cl.dockerd_dir, "dockerd.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)        # dockerd stops its containers, then exits
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="dockerd to exit")
            en.wait_log("event stream ended", what="enroller to see the stream end")
            en.wait_resyncs(2, needle="resync done: docker INCOMPLETE", what="passes while Docker is away")
            away = cl.counters()
            cl.start_dockerd()                  # same data root: the containers are still there
            for m in ("DeleteApplicationServer", "DeleteToken", "CreateTokenV2"):
                self.assertEqual(all_calls(away, m), all_calls(before, m), "%s while Docker was away" % m)

            for n in ("web1", "web3"):
                wait_for(lambda: running(cl, n), what="%s running again (restart always)" % n)
            self.assertFalse(running(cl, "web2"))
            # web2 does not come back: once its grace is over, its agent goes, in order.
            en.wait_log("agent for app web2 removed", timeout=120, what="web2's agent removed")
            replaced3 = cl.ip_of("web3") != ip3
            if replaced3:
                en.wait_log("app web3 changed; replacing its agent", what="web3's agent replaced (new address)")
                en.wait_log("agent for app web3 joined", count=2, what="web3's new agent joined")

            def settled():
                apps = tam.by_app(cl)
                srv = cl.app_servers()
                return (sorted(apps) == ["web1", "web3"] and all(len(v) == 1 for v in apps.values())
                        and all(running(cl, v[0]["Id"]) for v in apps.values())
                        and sorted(aj.agent_volumes(cl)) == ["enroller-agent-web1-data", "enroller-agent-web3-data"]
                        and not aj.tokens(cl) and sorted(srv) == ["web1", "web3"]
                        and cl.ip_of("web3") in srv["web3"]["spec"]["app"]["spec"]["uri"]) or None
            wait_for(settled, timeout=120, what="web1 and web3 with one joined agent each, no token, no web2")
            after = cl.counters()
            harness.log("after the restart: %s (web3 %s); agents per target at most %s over %d samples"
                        % (counts(cl), "replaced: new address" if replaced3 else "kept", sm.most, sm.samples))

            self.assertEqual(counts(cl), {"tokens": 0, "agents": 2, "volumes": 2})
            self.assertTrue(sm.samples > 0)
            self.assertEqual(max(sm.most.values()), 1, "two agents for one target: %s" % sm.most)
            # web1 (same address) kept its agent and its record: nothing deleted or made again.
            self.assertEqual([a["Id"] for a in tam.by_app(cl)["web1"]], agent1)
            self.assertEqual(cl.app_servers()["web1"]["spec"]["host_id"], host1)
            self.assertEqual(ok_calls(after, "CreateTokenV2") - ok_calls(before, "CreateTokenV2"), int(replaced3))
            self.assertEqual(ok_calls(after, "DeleteApplicationServer") - ok_calls(before, "DeleteApplicationServer"),
                             1 + int(replaced3), "web2's app_server (and web3's old one if replaced) only")
            self.assertEqual(pl.errors, [])
            self.assertTrue(en.alive())
            cl.docker("rm", "-f", "web1", "web3")
            wait_for(lambda: tam.settled_empty(cl), timeout=120, what="no token, agent or volume left")

    def test_killed_between_token_and_agent(self):
        with tam.cluster() as cl, aj.AgentPlayer(cl) as pl:
            # Tokens that are not ours: no owner label, another owner's.
            path = os.path.join(cl.tmp, "tokens.yaml")
            with open(path, "w") as f:
                f.write("kind: token\nversion: v2\nmetadata: {name: foreign-no-label-0123456789}\n"
                        "spec: {roles: [App], join_method: token}\n---\n"
                        "kind: token\nversion: v2\nmetadata: {name: foreign-other-owner-0123456789, labels: "
                        "{enroller.dev/owner: someone-else, enroller.dev/agent-app: web1}}\n"
                        "spec: {roles: [App], join_method: token}\n")
            cl.tctl("create", path)
            foreign = sorted(aj.tokens(cl))
            self.assertEqual(len(foreign), 2)
            # The agent image is missing and DeleteToken fails: a token exists
            # and no agent container ever does.
            bad = cl.write_config(rules_dir=tam.RULES, name="bad.lua", extra=tam.agent_config().replace(
                aj.AGENT_IMAGE, "enroller-no-such-image"))
            cl.tctl("faults", "set", "--method", "DeleteToken", "--error-rate", "1", "--code", "UNAVAILABLE")
            en = cl.start_enroller(config=bad)
            web(cl, "web1")
            en.wait_log("agent for app web1: create container", what="the missing image")
            ours = wait_for(lambda: [t for t in token_docs(cl) if t["metadata"]["name"] not in foreign] or None,
                            what="our token in Teleport")
            self.assertEqual(len(ours), 1)
            labels = ours[0]["metadata"].get("labels") or {}
            self.assertEqual(labels.get(LABEL_OWNER), tam.OWNER)
            self.assertEqual(labels.get("enroller.dev/agent-app"), "web1")
            self.assertEqual(labels.get(LABEL_TARGET), "web1")
            self.assertTrue(labels.get("enroller.dev/agent-host-id"))
            token = ours[0]["metadata"]["name"]
            self.assertNotIn(token, json.dumps(labels))
            self.assertEqual(aj.agents(cl), [])
            en.proc.send_signal(signal.SIGKILL)
            en.proc.wait()
            harness.log("after kill -9: %s (foreign tokens %d)" % (counts(cl), len(foreign)))
            self.assertEqual(counts(cl)["tokens"], 3)
            self.assertEqual(counts(cl)["agents"], 0)
            self.assertNotIn(token, en.log(), "the join token is in enroller's log")

            cl.tctl("faults", "clear")
            aj.make_agent_image(cl)
            cfg = cl.write_config(rules_dir=tam.RULES, name="agent.lua", extra=tam.agent_config())
            en2 = cl.start_enroller(config=cfg)
            en2.wait_log("deleted the join token of an attempt cut short (app web1)", what="the left token deleted")
            en2.wait_log("agent for app web1 joined", what="web1's agent to join")
            wait_for(lambda: sorted(aj.tokens(cl)) == foreign or None, what="only the foreign tokens left")
            harness.log("after the restart: %s (foreign tokens %d)" % (counts(cl), len(foreign)))
            self.assertEqual(counts(cl), {"tokens": 2, "agents": 1, "volumes": 1})
            self.assertNotIn(token, en2.log())
            self.assertEqual(en2.count("deleted the join token of an attempt cut short"), 1)
            self.assertEqual(pl.errors, [])
            cl.docker("rm", "-f", "web1")
            wait_for(lambda: not aj.agents(cl) and not aj.agent_volumes(cl) or None, what="web1's agent removed")
            self.assertEqual(sorted(aj.tokens(cl)), foreign, "foreign tokens are never deleted")
            self.assertTrue(en2.alive())

    def test_join_learnt_from_watch(self):
        with tam.cluster() as cl, aj.AgentPlayer(cl) as pl:
            aj.make_agent_image(cl)
            cfg = cl.write_config(rules_dir=tam.RULES, name="agent.lua", extra=tam.agent_config(join_timeout="4s"))
            en = cl.start_enroller(config=cfg)
            en.wait_log("watching apps, app servers and databases", what="the watch live")
            web(cl, "first")
            en.wait_log("agent for app first joined", what="first's agent to join")
            # An agent that takes its time: 4 s without an app_server.  A poll
            # every 250 ms would list app_servers some 16 times meanwhile.
            pl.never.add("slow")
            base = all_calls(cl.counters(), "ListResources")
            web(cl, "slow")
            en.wait_log("agent for app slow started", what="slow's agent started")
            en.wait_log("agent for app slow: join: no app_server", what="the join timeout")
            listed = all_calls(cl.counters(), "ListResources") - base
            harness.log("ListResources calls while slow's agent waited 4 s to join: %d" % listed)
            self.assertLessEqual(listed, 1, "app_servers polled while the watch is live")
            pl.never.discard("slow")
            en.wait_log("agent for app slow joined", what="slow's agent joined, seen from the watch")
            wait_for(lambda: not aj.tokens(cl) or None, what="the join tokens deleted")
            cl.docker("rm", "-f", "first", "slow")
            wait_for(lambda: tam.settled_empty(cl), what="no token, agent or volume left")
            self.assertTrue(en.alive())


if __name__ == "__main__":
    unittest.main()
