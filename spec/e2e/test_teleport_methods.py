#!/usr/bin/python3
"""e2e: the C Teleport client's database, app server and WatchEvents calls,
and the 4 MiB receive cap (RESOURCE_EXHAUSTED -> halve the ListResources page),
against the stand-in through spec/c/live_teleport_client.c.  Loopback only.
"""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_teleport_client as ttc  # noqa: E402

check = ttc.check
live = ttc.live


def main():
    if not os.path.exists(ttc.LIVE):
        print("missing %s (build target live_teleport_client)" % ttc.LIVE)
        return 1
    tmp = tempfile.mkdtemp(prefix="e2e-tmethods-")
    st = ttc.Standin(tmp)
    try:
        st.start()

        # --- databases and app servers, each write seen on a watch of app, db, app_server.
        r = live(st, "watch", "create_db", "pg1", "postgres", "localhost:5432", "get_dbs",
                 "update_db", "pg1", "mysql", "localhost:3306", "create_db", "pg1", "postgres", "localhost:5432",
                 "upsert_server", "srv1", "http://127.0.0.1:9", "host-1", "list_app_servers",
                 "delete_server", "host-1", "srv1", "delete_db", "pg1", "delete_db", "pg1", "sleep", "300", "unwatch",
                 "ping")
        steps = {}
        for x in r:
            steps.setdefault(x["step"], []).append(x)
        ev = [(e["op"], e["kind"], e["name"]) for e in steps.get("event", [])]
        check(steps["watch"][0]["ok"] and ev[0][0] == "INIT", "watch set up (INIT first)")
        check(steps["create_db"][0]["ok"], "CreateDatabase")
        dbs = steps["get_dbs"][0]["items"]
        check(len(dbs) == 1 and dbs[0]["name"] == "pg1" and dbs[0]["uri"] == "localhost:5432" and dbs[0]["revision"],
              "GetDatabases returns it with a revision: %s" % dbs)
        check(steps["update_db"][0]["ok"], "UpdateDatabase")
        check(not steps["create_db"][1]["ok"] and steps["create_db"][1]["grpc_status"] == "ALREADY_EXISTS",
              "CreateDatabase again -> ALREADY_EXISTS: %s" % steps["create_db"][1].get("msg"))
        check(steps["upsert_server"][0]["ok"], "UpsertApplicationServer")
        srv = [x for x in steps["list_app_servers"][0]["items"] if x["name"] == "srv1"]
        check(len(srv) == 1 and srv[0]["host_id"] == "host-1",
              "the app server is listed with its host id: %s" % srv)
        check(steps["delete_server"][0]["ok"], "DeleteApplicationServer")
        check(steps["delete_db"][0]["ok"] and not steps["delete_db"][1]["ok"]
              and steps["delete_db"][1]["grpc_status"] == "NOT_FOUND", "DeleteDatabase, then NOT_FOUND")
        want = [("PUT", "db", "pg1"), ("PUT", "db", "pg1"), ("PUT", "app_server", "srv1"),
                ("DELETE", "app_server", "srv1"), ("DELETE", "db", "pg1")]
        check(ev[1:] == want, "events in order: %s" % ev)
        evs = steps["event"]
        check(evs[2]["protocol"] == "mysql" and evs[4]["host_id"] == "host-1",
              "event payloads: db protocol after update, app_server DELETE host id: %s" % evs[2:5])
        check(steps["watch_end"][0]["ok"] if "watch_end" in steps else True, "no error end before unwatch")
        check(steps["ping"][0]["ok"], "calls go on after unwatch")

        # --- an out-of-band delete is seen on the watch (the driver's long
        # sleep ends as soon as the event is there).
        st.tctl("create", "-f", write(tmp, "app.yaml", APP_YAML))
        seen = {}

        def on_line(rec):
            if rec["step"] == "watch" and "rm_at" not in seen:
                seen["rm_at"] = time.monotonic()
                threading.Thread(target=lambda: st.tctl("rm", "app/oob")).start()
            if rec["step"] == "event" and rec["op"] == "DELETE" and rec["name"] == "oob":
                seen["deleted_at"] = time.monotonic()

        def oob_deleted(rec):
            return rec["step"] == "event" and rec["op"] == "DELETE" and rec["name"] == "oob"
        r = live(st, "watch", "sleep", "60000", "unwatch", on_line=on_line, until=oob_deleted)
        steps_seen = [x["step"] for x in r]
        check(any(oob_deleted(x) for x in r) and "watch_end" not in steps_seen,
              "out-of-band delete seen on the open watch: %s" % steps_seen)
        if "deleted_at" in seen:
            print("     (seen %.2f s after tctl rm started, tctl itself ~0.5 s)" % (seen["deleted_at"] - seen["rm_at"]))

        # --- the watch ends with an error when the server goes away.
        def stop_on_watch(rec):
            if rec["step"] == "watch":
                st.stop()

        # Ended once the end is seen, plus a second in which a duplicate end
        # would show (a lower bound: more time can only make one more visible).
        r = live(st, "watch", "sleep", "60000", on_line=stop_on_watch, until=lambda rec: rec["step"] == "watch_end",
                 linger=1.0)
        ends = [x for x in r if x["step"] == "watch_end"]
        check(len(ends) == 1, "server stop (GOAWAY, then close) ends the watch exactly once: %s" % ends)
        st.start()

        # --- 4 MiB cap: a ~4.6 MB page fails with RESOURCE_EXHAUSTED, the client halves the page.
        st.tctl("bulk", "--count", "90", "--kind", "app_server", "--label-bytes", "50000", "--prefix", "big")
        os.environ["ENR_LIVE_DEBUG"] = "1"
        try:
            r = live(st, "list_app_servers")
        finally:
            del os.environ["ENR_LIVE_DEBUG"]
        items = r[1].get("items", [])
        check(r[1]["ok"] and len([x for x in items if x["name"].startswith("big")]) == 90,
              "all 90 oversized app servers listed: %s" % {k: v for k, v in r[1].items() if k != "items"})
        check("page too large, retrying with limit 250" in live.stderr and "limit 62" in live.stderr,
              "page halved 500 -> 250 -> 125 -> 62 after RESOURCE_EXHAUSTED")
    finally:
        st.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(ttc.failures))
    return 1 if ttc.failures else 0


APP_YAML = """kind: app
version: v3
metadata:
  name: oob
spec:
  uri: http://127.0.0.1:9
"""


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
