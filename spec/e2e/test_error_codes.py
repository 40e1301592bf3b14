"""enroller decides on Teleport's gRPC status code, never on the message:
the texts differ by release (a NotFound from Auth's cache is `application
"x" doesn't exist` in v16, `no value for key "x" in index name` in v17, the
backend's `key "..." is not found` elsewhere; api/trail/trail.go carries
only the code across). On a stand-in started as v16, injected faults give
DeleteApp a not-found text under another code, and a NOT_FOUND code under
unrelated words."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def delete_calls(cl):
    return cl.counters().get("/proto.AuthService/DeleteApp", {})


class ErrorCodes(unittest.TestCase):
    def test_delete_decided_by_the_code(self):
        with harness.Cluster(standin_args=["--version", "16"]) as cl:
            en = cl.start_enroller(resync=3600)
            cl.run_container("rmq1")
            cl.run_container("rmq2")
            harness.wait_for(lambda: {"rabbitmq-rmq1", "rabbitmq-rmq2"} <= set(cl.apps()), what="both apps")

            # UNAVAILABLE that reads like "not found": a failure, retried
            # until the app is really gone.
            cl.tctl("faults", "set", "--method", "DeleteApp", "--error-rate", "1", "--code", "UNAVAILABLE",
                    "--message", 'application "rabbitmq-rmq1" doesn\'t exist', "--count", "1")
            cl.docker("stop", "-t", "0", "rmq1")
            en.wait_log("delete app rabbitmq-rmq1: ", what="the failed delete in the log")
            harness.wait_for(lambda: "rabbitmq-rmq1" not in cl.apps(), what="rmq1's app deleted by a retry")
            en.wait_log("deleted app rabbitmq-rmq1", what="the retried delete in the log")
            self.assertEqual(delete_calls(cl), {"UNAVAILABLE": 1, "OK": 1})

            # NOT_FOUND in other words: the app is taken as gone, no retry.
            # (The fault kept the stand-in from deleting it, so it stays.)
            cl.tctl("faults", "set", "--method", "DeleteApp", "--error-rate", "1", "--code", "NOT_FOUND",
                    "--message", "the stand-in says so in other words", "--count", "1")
            cl.docker("stop", "-t", "0", "rmq2")
            en.wait_log("deleted app rabbitmq-rmq2", what="the delete taken as done")
            self.assertNotIn("delete app rabbitmq-rmq2: ", en.log())
            self.assertEqual(delete_calls(cl), {"UNAVAILABLE": 1, "OK": 1, "NOT_FOUND": 1})
            self.assertIn("rabbitmq-rmq2", cl.apps())
            self.assertTrue(en.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
