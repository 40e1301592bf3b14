#!/usr/bin/python3
"""e2e: the C Teleport client through the stand-in's Proxy listener (TLS
routing, ALPN teleport-auth@<hex cluster>), mode selection, tbot output
directories, credential rotation without a restart, refused credentials,
HTTP/2 keepalive and name resolution.  Driver: spec/c/live_teleport_client.c.
Only loopback is used; no dockerd is needed.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_teleport_client as ttc  # noqa: E402  (Standin, live, check)
import harness  # noqa: E402  (wait_cert_expired)

check = ttc.check
live = ttc.live


def main():
    if not os.path.exists(ttc.LIVE):
        print("missing %s (build target live_teleport_client)" % ttc.LIVE)
        return 1
    tmp = tempfile.mkdtemp(prefix="e2e-tproxy-")
    st = ttc.Standin(tmp)
    st.extra = ["--proxy-listen", "127.0.0.1:0"]
    try:
        st.start()
        with open(os.path.join(st.state, "proxy_addr")) as f:
            proxy = f.read().strip()

        # --- Proxy with TLS routing: cluster name from the identity's CA, then from the config.
        r = live(st, "ping", "info", addr=proxy, opts=["--mode", "proxy"])
        check(r[1]["ok"] and r[1]["cluster"] == "enroller-test", "proxy mode, cluster from the CA: Ping ok: %s" % r[1])
        check(r[2]["mode"] == "proxy" and r[2]["connects"] == 1, "one connection, proxy mode: %s" % r[2])
        r = live(st, "ping", addr=proxy, opts=["--mode", "proxy", "--cluster", "enroller-test"])
        check(r[1]["ok"], "proxy mode, cluster from the config: Ping ok")
        r = live(st, "ping", addr=proxy, opts=["--mode", "proxy", "--cluster", "other-cluster"])
        check(not r[1]["ok"] and r[1]["grpc_status"] == "UNAVAILABLE" and "connection closed by the server" in r[1]["msg"],
              "another cluster's name is refused by the Proxy: %s" % r[1].get("msg"))
        r = live(st, "ping", addr=proxy, opts=["--mode", "direct"])
        check(not r[1]["ok"] and "TLS handshake: connection closed by the server" in r[1]["msg"],
              "direct mode against the Proxy fails (ALPN h2 is not routed to Auth): %s" % r[1].get("msg"))
        # The Proxy ALPN list works against the Auth listener too (Auth selects h2).
        r = live(st, "ping", opts=["--mode", "proxy"])
        check(r[1]["ok"], "proxy ALPN list against the Auth listener: Ping ok")

        # --- auto: direct first; the Proxy closes the handshake, so the Proxy way; the call is not lost.
        r = live(st, "ping", "ping", "info", addr=proxy)
        check(r[1]["ok"] and r[2]["ok"], "auto mode through the Proxy: calls succeed")
        check(r[3]["mode"] == "proxy" and r[3]["connects"] == 2, "auto: switched to proxy after one refused handshake: %s" % r[3])
        check("trying it as a Proxy with TLS routing" in live.stderr, "auto: the switch is logged")
        r = live(st, "ping", "info")
        check(r[1]["ok"] and r[2]["mode"] == "direct" and r[2]["connects"] == 1, "auto against Auth: direct: %s" % r[2])

        # --- names are resolved (localhost only: tests never leave loopback).
        port = st.addr.rsplit(":", 1)[1]
        r = live(st, "ping", addr="localhost:" + port)
        check(r[1]["ok"], "addr localhost:PORT resolves and connects")

        # --- tbot output directory.
        tbot = os.path.join(tmp, "tbot")
        st.tctl("auth", "sign", "--user", "admin", "--out", tbot, "--format", "tbot", "--ttl", "1h")
        r = live(st, "ping", "info", identity=tbot, opts=["--tbot"])
        check(r[0]["ok"] and r[0]["user"] == "admin" and 3500 < r[0]["ttl"] <= 3600, "tbot dir loaded: %s" % r[0])
        check(r[1]["ok"], "tbot dir: Ping ok")
        check("certificate valid for" in live.stderr, "seconds to expiry logged at load")
        r = live(st, "ping", identity=tbot, addr=proxy, opts=["--tbot", "--mode", "proxy"])
        check(r[1]["ok"], "tbot dir through the Proxy (cluster from teleport-host-ca.crt)")
        os.chmod(os.path.join(tbot, "key"), 0o640)
        r = live(st, "ping", identity=tbot, opts=["--tbot"])
        check(not r[0]["ok"] and r[0]["msg"] == "tbot key %s/key: permissions 0640 are too open; want 0600" % tbot,
              "tbot key readable by group refused: %s" % r[0].get("msg"))
        os.chmod(os.path.join(tbot, "key"), 0o600)

        # --- rotation: three calls in flight while the files change finish on the old
        # connection; the next call uses a new connection with the new certificate.
        # Every step waits on a condition: the stand-in holds the three Pings until the
        # faults are cleared, which happens only once the client has reloaded.
        st.tctl("faults", "set", "--method", "Ping", "--latency-ms", "600000", "--count", "3")
        resigned = threading.Event()

        def on_line(rec):
            if rec["step"] == "pings_bg" and not resigned.is_set():
                st.tctl("auth", "sign", "--user", "admin", "--out", tbot, "--format", "tbot", "--ttl", "2h")
                resigned.set()
            elif rec["step"] == "await_generation":
                st.tctl("faults", "clear")

        r = live(st, "ping", "pings_bg", "3", "await_generation", "2", "60000", "await_bg", "ping", "info",
                 identity=tbot, opts=["--tbot", "--watch"], on_line=on_line, timeout=120)
        check(resigned.is_set() and r[2]["ok"] and r[2]["started"] == 3, "three Pings in flight: %s" % r[2])
        check(r[3]["ok"] and r[3]["generation"] == 2, "credentials reloaded while they were in flight: %s" % r[3])
        check(r[4]["ok"] and r[4]["failed"] == 0, "calls in flight during the rotation all succeed: %s" % r[4])
        check(r[5]["ok"], "the call after the rotation succeeds")
        check(r[6]["generation"] == 2 and r[6]["connects"] == 2 and 7000 < r[6]["ttl"] <= 7200,
              "credentials reloaded, new connection, new TTL: %s" % r[6])

        # --- an invalid rotation keeps the current credentials (one log line).
        def break_cert(rec):
            if rec["step"] == "ping" and not getattr(break_cert, "done", False):
                break_cert.done = True
                path = os.path.join(tbot, "tlscert")
                with open(path + ".tmp", "w") as f:
                    f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
                os.replace(path + ".tmp", path)

        r = live(st, "ping", "sleep", "800", "ping", "info", identity=tbot, opts=["--tbot", "--watch"], on_line=break_cert)
        check(r[2]["ok"] and r[3]["generation"] == 1, "a broken rotation is refused; calls go on: %s" % r[3])
        check(live.stderr.count("credentials changed but not reloaded") == 1 and "tlscert" in live.stderr,
              "one log line naming the file: %r" % live.stderr[-600:])

        # --- expired certificate: the file and the reason are named.
        st.tctl("auth", "sign", "--user", "admin", "--out", tbot, "--format", "tbot", "--ttl", "1s")
        harness.wait_cert_expired(os.path.join(tbot, "tlscert"))
        r = live(st, "ping", identity=tbot, opts=["--tbot"])
        check(not r[0]["ok"] and ("%s/tlscert" % tbot) in r[0]["msg"] and "certificate expired at" in r[0]["msg"],
              "expired tbot certificate refused, file named: %s" % r[0].get("msg"))

        # --- keepalive.  Idle PINGs more often than every 5 min are refused by gRPC servers
        # (GOAWAY ENHANCE_YOUR_CALM too_many_pings, as the stand-in's grpc core does), so
        # the default is 5 min; with 200 ms the server hangs up and calls go on regardless.
        r = live(st, "ping", "sleep", "1500", "ping", "info", opts=["--keepalive-ms", "200", "--keepalive-timeout-ms", "500"])
        check(r[1]["ok"] and r[2]["ok"], "calls succeed with aggressive keepalive: %s" % r[3])
        check("ENHANCE_YOUR_CALM" in live.stderr and r[3]["connects"] == 2,
              "server refuses too frequent PINGs; the client reconnects: %r" % live.stderr[-300:])
        r = live(st, "ping", "sleep", "1500", "ping", "info")
        check(r[1]["ok"] and r[2]["ok"] and r[3]["connects"] == 1, "default keepalive: the idle connection stays: %s" % r[3])

        def freeze(rec):
            if rec["step"] == "ping":
                st.proc.send_signal(signal.SIGSTOP)

        try:
            r = live(st, "ping", "sleep", "1500", "info",
                     opts=["--keepalive-ms", "200", "--keepalive-timeout-ms", "500"], on_line=freeze)
        finally:
            st.proc.send_signal(signal.SIGCONT)
        check("no reply to HTTP/2 PING within 500 ms" in live.stderr,
              "a silent server fails the connection by keepalive: %r" % live.stderr[-400:])
    finally:
        st.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(ttc.failures))
    return 1 if ttc.failures else 0


if __name__ == "__main__":
    sys.exit(main())
