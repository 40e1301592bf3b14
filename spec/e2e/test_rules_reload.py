"""Hot reload on a real dockerd and the stand-in: a rule file written into the
watched rules directory takes effect without SIGHUP; a broken edit is
refused with file:line and the previous rules keep working; 100 rule files
reload; a config edit applies log.level and names fields needing a restart;
`enroller explain` shows a live container's rule outcomes."""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

GRAFANA = open(os.path.join(harness.SRC, "rules", "grafana.lua")).read()


def write(path, text):
    # write then rename, as editors do: the watch is on the directory
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class RulesReload(unittest.TestCase):
    def test_reload(self):
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            os.makedirs(rules)
            shutil.copy(os.path.join(harness.SRC, "rules", "rabbitmq.lua"), rules)
            config = cl.write_config(rules_dir=rules)
            en = cl.start_enroller(config=config)
            cl.run_container("rmq1", "rabbitmq:3-management")
            cl.run_container("graf1", "grafana/grafana:11.0.0")
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            en.wait_log(en.container_line("graf1", "running"), what="enroller to see graf1")
            self.assertNotIn("grafana-graf1", cl.apps(), "no grafana rule yet")

            # 1. a new rule file is picked up without SIGHUP
            t0 = time.monotonic()
            write(os.path.join(rules, "grafana.lua"), GRAFANA)
            apps = harness.wait_for(lambda: (lambda a: a if "grafana-graf1" in a else None)(cl.apps()),
                                    what="grafana app after the rule file appeared")
            harness.log("new rule file -> app in Teleport: %.0f ms" % ((time.monotonic() - t0) * 1000))
            self.assertEqual(apps["grafana-graf1"]["spec"]["uri"], "http://%s:3000" % cl.ip_of("graf1"))
            self.assertRegex(en.log(), r"rules reloaded \(rules dir changed\): 2 rules \(grafana, rabbitmq\), "
                                       r"hash [0-9a-f]{16}")
            # In enroller's own order: graf1's app was written only once the rule was there.
            log = en.log()
            self.assertLess(log.index("rules reloaded (rules dir changed)"), log.index("created app grafana-graf1"),
                            "no grafana rule yet")

            # 2. a broken edit: one line with file:line, old rules stay and keep working
            broken = GRAFANA.replace("port = 3000,", "port = 3000 3000,", 1)
            self.assertNotEqual(broken, GRAFANA)
            write(os.path.join(rules, "grafana.lua"), broken)
            harness.wait_for(lambda: "rules NOT changed" in en.log(), what="the refusal")
            log = en.log()
            self.assertRegex(log, r"rules/grafana\.lua:\d+: .*expected")
            self.assertRegex(log, r"rules NOT changed \(rules dir changed\); keeping 2 rules from "
                                  r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(hash [0-9a-f]{16}\)")
            cl.run_container("graf2", "grafana/grafana:11.0.0")
            harness.wait_for(lambda: "grafana-graf2" in cl.apps(), what="old rules still serving graf2")
            self.assertIn("grafana-graf1", cl.apps(), "nothing was deleted by the broken edit")
            self.assertTrue(en.alive())

            # a rule that loops is refused the same way
            write(os.path.join(rules, "grafana.lua"), "while true do end\n")
            harness.wait_for(lambda: "rules/grafana.lua:1: rule exceeded instruction budget" in en.log(),
                             what="the budget error")

            # 3. 100 rule files reload at once (debounced into few reloads)
            write(os.path.join(rules, "grafana.lua"), GRAFANA)
            for i in range(100):
                write(os.path.join(rules, "r%03d.lua" % i),
                      'local enroller = require("enroller")\n'
                      'return enroller.rule { name = "r%03d", description = "d",\n'
                      '  match = function(c) return c:label("r%03d") == "yes" end,\n'
                      '  apps = function(c) return { { name = "r%03d-" .. c.name, uri = "http://x:1" } } end }\n'
                      % (i, i, i))
            m = harness.wait_for(lambda: re.search(r"rules reloaded \(rules dir changed\): 102 rules .*"
                                                   r"loaded in ([0-9.]+) ms", en.log()),
                                 what="102 rules loaded")
            harness.log("reload of 102 rule files: %s ms" % m.group(1))
            cl.run_container("r7", "busybox:latest", labels={"r007": "yes"})
            harness.wait_for(lambda: "r007-r7" in cl.apps(), what="an app from one of the 100 rules")

            # 4. config edits: log.level applies, other fields need a restart
            with open(config) as f:
                text = f.read()
            write(config, text.replace('level = "debug"', 'level = "info"').replace("resync = 60", "resync = 30"))
            harness.wait_for(lambda: "config: log.level is now info" in en.log(), what="log level applied")
            harness.wait_for(lambda: "config changed; needs a restart to apply: reconcile.resync"
                             in en.log(), what="restart notice")
            write(config, "owner = \n")
            harness.wait_for(lambda: "config NOT changed" in en.log(), what="a broken config refused")
            self.assertTrue(en.alive())
            write(config, text)

            # 5. explain: one live container, Docker only
            r = subprocess.run([harness.ENROLLER, "explain", "-c", config, "graf1"], capture_output=True,
                               text=True, timeout=harness.CMD_DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("container graf1 (", r.stdout)
            self.assertIn("rule grafana (rules/grafana.lua, priority 0): MATCH: image grafana/grafana", r.stdout)
            # the rabbitmq rule's pre-filter (match_image) answers, in C
            self.assertIn("rule rabbitmq (rules/rabbitmq.lua, priority 0): no match: image grafana/grafana "
                          "not in match_image", r.stdout)
            self.assertIn("  app grafana-graf1 uri=http://%s:3000" % cl.ip_of("graf1"), r.stdout)
            self.assertIn("result: 1 app, 0 db", r.stdout)
            r = subprocess.run([harness.ENROLLER, "explain", "-c", config, "no-such"], capture_output=True,
                               text=True, timeout=harness.CMD_DEADLINE)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.strip(), "enroller: explain: container no-such: no such container")

            self.assertEqual(en.stop(), 0)


if __name__ == "__main__":
    unittest.main()
