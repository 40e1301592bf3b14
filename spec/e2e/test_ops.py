"""The operations listener in the running daemon: a real dockerd, the
stand-in and enroller with http { listen = ... } on a free loopback port.
A container a rule registers and one a rule refuses; /readyz turns 200,
/metrics counts the managed app, the status page (headless Chromium) shows
both containers and the registered state, and nothing served contains the
identity's key or certificate.  A port in use or a bad address stops the
start with one line naming it.  With log { format = "json" } every line is
one JSON object; Auth and Docker calls and errors are counted by method
and code, a deletion held by the grace period is counted, and no log line
holds the identity's key or certificate."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    """(status, body) of a GET; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def metric(text, name):
    """The value of the sample `name` (with its labels, as written) in a
    Prometheus text, or None."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def pem_body_lines(path):
    """The base64 lines inside every PEM block of the identity file."""
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("-----BEGIN"):
                inside = True
            elif line.startswith("-----END"):
                inside = False
            elif inside and len(line) >= 16:
                lines.append(line)
    return lines


class Ops(unittest.TestCase):
    def chromium(self, tmp, *args):
        profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
        env = dict(os.environ, HOME=tmp)
        r = subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + list(args),
                           capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, "chromium failed: %s" % r.stderr[-2000:])
        return r.stdout

    def test_listener(self):
        with harness.Cluster() as cl:
            port = free_port()
            base = "http://127.0.0.1:%d" % port
            en = cl.start_enroller(extra='http { listen = "127.0.0.1:%d" }\n' % port)
            cl.run_container("rmq1", "rabbitmq:3-management")
            # Asks the http rule for an app with a port that is no port: a rule error.
            cl.run_container("refused", harness.TINY,
                             labels={"enroller.http": "true", "enroller.http.port": "notaport"})
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), timeout=60, what="rmq1's app")
            harness.wait_for(lambda: get(base + "/readyz")[0] == 200, timeout=60, what="/readyz 200")
            self.assertEqual(get(base + "/healthz")[0], 200)

            def registered_metric():
                status, text = get(base + "/metrics")
                want = ('enroller_managed_resources{kind="app",state="registered"} 1\n',
                        "enroller_rule_errors_total 1\n")  # the refused container's
                return text if status == 200 and all(w in text for w in want) else None
            metrics = harness.wait_for(registered_metric, timeout=60, what="the registered app in /metrics")
            for name in ("enroller_build_info", "enroller_reconcile_passes_total",
                         "enroller_reconcile_pass_duration_seconds_bucket", "enroller_docker_connected 1",
                         "enroller_auth_connected 1", "enroller_first_sync_complete 1",
                         "enroller_identity_expires_in_seconds"):
                self.assertIn(name, metrics)
            self.assertNotIn("enroller_reconcile_passes_total 0\n", metrics)
            self.assertIn("enroller_auth_writes_total{result=\"ok\"}", metrics)

            def page_ready():
                status, text = get(base + "/")
                return text if status == 200 and "rmq1" in text and "refused" in text else None
            page = harness.wait_for(page_ready, timeout=60, what="both containers on the status page")

            dom = self.chromium(cl.tmp, "--dump-dom", base + "/")
            for want in ("rmq1", "refused", "rabbitmq-rmq1", "registered", "container refused: rules/http.lua: label enroller.http.port"):
                self.assertIn(want, dom)
            art = os.path.join(harness.BUILD, "artifacts")
            os.makedirs(art, exist_ok=True)
            png = os.path.join(art, "status-page-e2e.png")
            if os.path.exists(png):
                os.unlink(png)
            self.chromium(cl.tmp, "--screenshot=" + png, "--window-size=412,915", base + "/")
            self.assertTrue(os.path.exists(png) and os.path.getsize(png) > 1000, png)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

            # Nothing secret is served.
            secrets = pem_body_lines(cl.identity)
            self.assertGreater(len(secrets), 4, "the identity has PEM blocks")
            for text in (metrics, page, dom, get(base + "/metrics")[1], get(base + "/")[1]):
                for line in secrets:
                    self.assertNotIn(line, text)

            self.assertTrue(en.alive())
            self.assertEqual(en.stop(), 0)
            # The listener went with the daemon.
            with self.assertRaises(OSError):
                urllib.request.urlopen(base + "/healthz", timeout=5)

    def test_counters_json_logs_and_no_secrets(self):
        with harness.Cluster() as cl:
            port = free_port()
            base = "http://127.0.0.1:%d" % port
            cfg = cl.write_config(name="json.lua", reconcile="grace = 3600",
                                  extra='http { listen = "127.0.0.1:%d" }\n' % port)
            with open(cfg) as f:
                text = f.read()
            self.assertIn('log { level = "debug" }\n', text)
            with open(cfg, "w") as f:
                f.write(text.replace('log { level = "debug" }', 'log { level = "debug", format = "json" }'))
            # The first CreateApp is refused: an Auth error by method and code.
            cl.tctl("faults", "set", "--method", "CreateApp", "--error-rate", "1", "--code", "PERMISSION_DENIED",
                    "--count", "1")
            en = cl.start_enroller(config=cfg)
            cl.run_container("rmq1", "rabbitmq:3-management")
            harness.wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), timeout=60, what="rmq1's app")

            def scrape(pred):
                def f():
                    status, text = get(base + "/metrics")
                    return text if status == 200 and pred(text) else None
                return f
            m = harness.wait_for(scrape(lambda t: (metric(t, 'enroller_auth_calls_total{method="CreateApp"}') or 0) >= 2),
                                 timeout=60, what="two CreateApp calls counted")
            self.assertEqual(metric(m, 'enroller_auth_errors_total{method="CreateApp",code="PERMISSION_DENIED"}'), 1)
            self.assertGreaterEqual(metric(m, 'enroller_auth_calls_total{method="ListApps"}'), 1)
            self.assertGreaterEqual(metric(m, 'enroller_auth_calls_total{method="WatchEvents"}'), 1)
            self.assertGreaterEqual(metric(m, 'enroller_docker_calls_total{endpoint="GET /containers/json"}'), 1)
            self.assertGreaterEqual(metric(m, 'enroller_docker_calls_total{endpoint="GET /containers/{id}/json"}'), 1)
            self.assertGreaterEqual(metric(m, 'enroller_docker_calls_total{endpoint="GET /events"}'), 1)
            self.assertEqual(metric(m, 'enroller_deletes_held_total{guard="grace"}'), 0)

            # Gone: the grace period holds its app, and says so once.
            cl.docker("rm", "-f", "rmq1")
            m = harness.wait_for(scrape(lambda t: metric(t, 'enroller_deletes_held_total{guard="grace"}') == 1),
                                 timeout=60, what="the grace period's hold counted")
            self.assertIn("rabbitmq-rmq1", cl.apps())
            self.assertEqual(metric(m, 'enroller_deletes_held_total{guard="policy"}'), 0)
            passes = metric(m, "enroller_reconcile_passes_total")
            en.signal(signal.SIGHUP)  # a reload replans every name: the hold is not counted again
            harness.wait_for(lambda: "rules reloaded (SIGHUP)" in en.log(), timeout=30, what="the SIGHUP reload")
            m = harness.wait_for(scrape(lambda t: metric(t, "enroller_reconcile_passes_total") > passes),
                                 timeout=30, what="a pass after the reload")
            self.assertEqual(metric(m, 'enroller_deletes_held_total{guard="grace"}'), 1)
            self.assertEqual(en.stop(), 0)

            lines = [ln for ln in en.log().splitlines() if ln.strip()]
            self.assertGreater(len(lines), 10)
            for ln in lines:
                obj = json.loads(ln)  # every line is one JSON object
                self.assertEqual(sorted(obj), ["level", "msg", "subsystem", "time"], ln)
                self.assertIn(obj["level"], ("debug", "info", "warn", "error"))
            msgs = [json.loads(ln)["msg"] for ln in lines]
            self.assertTrue(any("rabbitmq-rmq1" in x and "rmq1" in x.replace("rabbitmq-rmq1", "") for x in msgs),
                            "a line names the app and its container")
            self.assertTrue(any("PERMISSION_DENIED" in x for x in msgs), "the refused write is logged")
            secrets = pem_body_lines(cl.identity)
            self.assertGreater(len(secrets), 4, "the identity has PEM blocks")
            log = en.log()
            for line in secrets:
                self.assertNotIn(line, log)

    def test_port_in_use_and_bad_address(self):
        with harness.Cluster() as cl:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
                busy.bind(("127.0.0.1", 0))
                busy.listen(1)
                addr = "127.0.0.1:%d" % busy.getsockname()[1]
                cfg = cl.write_config(name="busy.lua", extra='http { listen = "%s" }\n' % addr)
                r = subprocess.run([harness.ENROLLER, "run", "-c", cfg], capture_output=True, text=True,
                                   timeout=60, stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0)
            out = (r.stdout + r.stderr).splitlines()
            naming = [ln for ln in out if addr in ln]
            self.assertEqual(len(naming), 1, "one line names the address: %r" % out)
            self.assertTrue(naming[0].startswith("enroller: http.listen: "), naming[0])
            self.assertFalse(any(" running: owner " in ln for ln in out), "it never ran: %r" % out)

            cfg = cl.write_config(name="bad.lua", extra='http { listen = "300.0.0.1:9464" }\n')
            r = subprocess.run([harness.ENROLLER, "run", "-c", cfg], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0)
            out = (r.stdout + r.stderr).splitlines()
            naming = [ln for ln in out if "300.0.0.1:9464" in ln]
            self.assertEqual(len(naming), 1, "one line names the address: %r" % out)
            self.assertIn("bad.lua:7: http.listen: ", naming[0])
            r = subprocess.run([harness.ENROLLER, "check", "-c", cfg], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("bad.lua:7: http.listen: ", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
