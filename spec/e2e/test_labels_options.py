"""The shipped labels rule on a real dockerd and the stand-in emulating
Teleport master (--version master, stricter app validation):

- a Compose-labelled container becomes <service>-<project>-<replica>, a TCP
  app with port ranges and the options its labels ask for, and carries only
  the labels it opted into (not its db.password label);
- containers whose labels Teleport would refuse (a public address that is an
  IP, an upper-case name, CR LF in a path) are one log line each naming the
  container, the rule and the field; they get no app, the good container is
  not affected, and nothing owned is deleted because of them."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

COMPOSE = {
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "web",
    "com.docker.compose.container-number": "2",
    "com.docker.compose.oneoff": "False",
    "teleport.dev/tcp-ports": "8080,9000-9010",
    "teleport.dev/use-any-proxy-public-addr": "true",
    "teleport.dev/required-apps": "api-shop",
    "teleport.dev/label.env": "demo",
    "db.password": "hunter2",
}


class LabelsOptions(unittest.TestCase):
    def test_labels_options_and_bad_labels(self):
        with harness.Cluster(standin_args=("--version", "master")) as cl:
            en = cl.start_enroller()
            cl.run_container("shop-web-2", harness.TINY, labels=COMPOSE)
            cl.run_container("ip-addr", harness.TINY, labels={"teleport.dev/name": "ipaddr",
                                                               "teleport.dev/tcp-ports": "8080",
                                                               "teleport.dev/public-addr": "10.1.2.3"})
            cl.run_container("upper", harness.TINY, labels={"teleport.dev/name": "Upper",
                                                             "teleport.dev/tcp-ports": "8080"})
            cl.run_container("crlf", harness.TINY, labels={"teleport.dev/name": "crlf",
                                                            "teleport.dev/tcp-ports": "8080",
                                                            "teleport.dev/path": "/a\r\nX-Injected: 1"})

            app = harness.wait_for(lambda: cl.apps().get("web-shop-2"), what="the Compose container's app")
            ip = cl.ip_of("shop-web-2")
            self.assertEqual(app["spec"]["uri"], "tcp://%s" % ip)
            self.assertEqual(app["spec"]["tcp_ports"], [{"port": 8080}, {"port": 9000, "end_port": 9010}])
            self.assertTrue(app["spec"]["use_any_proxy_public_addr"])
            self.assertEqual(app["spec"]["required_app_names"], ["api-shop"])
            labels = app["metadata"]["labels"]
            self.assertEqual(labels["env"], "demo")
            self.assertEqual(labels["compose.project"], "shop")
            self.assertEqual(labels["compose.service"], "web")
            self.assertNotIn("db.password", labels)
            self.assertFalse([k for k in labels if k.startswith("com.docker.")], labels)

            en.wait_log("container ip-addr: ", what="the IP public address refused")
            en.wait_log("container upper: ", what="the upper-case name refused")
            en.wait_log("container crlf: ", what="the CR LF path refused")
            log = en.log()
            self.assertIn("container ip-addr: rules/labels.lua: rule 'labels': app field 'public_addr': "
                          "'10.1.2.3' is an IP address; Teleport wants a DNS name", log)
            self.assertIn("container upper: rules/labels.lua: label teleport.dev/name: 'Upper' is not a "
                          "valid app name", log)
            self.assertIn("container crlf: rules/labels.lua: label teleport.dev/path: contains a control "
                          "character", log)
            # one line each, not one per pass
            en.wait_resyncs(1)
            for name in ("ip-addr", "upper", "crlf"):
                self.assertEqual(en.count("error rules: container %s: " % name), 1, name)
            apps = cl.apps()
            self.assertEqual(sorted(apps), ["web-shop-2"], "no app for a refused container")
            self.assertNotIn("deleted app", en.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
