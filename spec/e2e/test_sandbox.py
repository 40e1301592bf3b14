"""A pathological rule on a real dockerd and the stand-in: a rule that
catches its own budget error with pcall is stopped anyway, with one line
naming the rule file, the container and the budget; the other rules go on;
and SIGTERM ends a daemon that is busy in such a rule within a second."""

import os
import re
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SPIN = '''local enroller = require("enroller")
return enroller.rule {
  name = "spin",
  description = "catches its own budget error and tries again",
  match = function(c)
    if c:label("spin") == nil then return false end
    while true do pcall(function() while true do end end) end
  end,
  apps = function(c) return {} end,
}
'''


class Sandbox(unittest.TestCase):
    def test_runaway_rule(self):
        with harness.Cluster() as cl:
            rules = os.path.join(cl.tmp, "rules")
            os.makedirs(rules)
            shutil.copy(os.path.join(harness.SRC, "rules", "rabbitmq.lua"), rules)
            with open(os.path.join(rules, "spin.lua"), "w") as f:
                f.write(SPIN)
            config = cl.write_config(rules_dir=rules, resync=2)

            # 1. the runaway rule is an error for its container only
            cl.run_container("spin0", "rabbitmq:3-management", labels={"spin": "1"})
            cl.run_container("rmq1", "rabbitmq:3-management")
            en = cl.start_enroller(config=config)
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="rmq1's app")
            err = re.compile(r"container spin0: rules/spin\.lua:\d+: rule exceeded instruction budget")
            en.wait_log(err, what="spin0's budget error")
            self.assertNotIn("rabbitmq-spin0", cl.apps(), "a failed rule writes nothing for its container")
            en.wait_resyncs(1)
            self.assertEqual(en.count(err), 1, "logged once, not once per pass")
            self.assertEqual(en.stop(), 0)

            # 2. SIGTERM while the daemon evaluates the runaway rule for many
            #    containers: it stops within a second
            for i in range(1, 16):
                cl.run_container("spin%d" % i, "rabbitmq:3-management", labels={"spin": "1"})
            en = cl.start_enroller(config=config)
            en.wait_log(re.compile(r"container spin\d+: rules/spin\.lua:\d+: rule exceeded instruction budget"),
                        what="the first budget error")
            t0 = time.monotonic()
            en.signal(signal.SIGTERM)
            en.proc.wait(timeout=harness.DEADLINE)
            took = time.monotonic() - t0
            harness.log("SIGTERM during a runaway rule -> exit: %.0f ms" % (took * 1000))
            self.assertEqual(en.proc.returncode, 0)
            self.assertLess(took, 1.0)


if __name__ == "__main__":
    unittest.main()
