"""Databases from containers on a real dockerd and the stand-in: a database
appears for an official postgres image, is confirmed by the emulated
Database Service, drifts back after an out-of-band edit, goes after the grace
period; a bad protocol label is one rule error that touches nothing else; an
unowned database with the wanted name is left alone.  And the fallback to
GetApps/GetDatabases against an Auth without ListApps/ListDatabases."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

wait_for = harness.wait_for

ROLES = ("register-apps.yaml", "register-apps-impersonator.yaml", "enroller-apps.yaml", "enroller-dbs.yaml")
USER_ROLES = ("register-apps", "enroller-apps", "enroller-dbs")


def dbs(cl):
    """name -> database (tctl's JSON shape), as the stand-in has them now."""
    out = json.loads(cl.tctl("get", "dbs", "--format", "json").stdout or "[]")
    return {d["metadata"]["name"]: d for d in out}


def calls(cl, m):
    return harness.calls(cl.counters(), m)


def write_json(cl, name, doc):
    path = os.path.join(cl.tmp, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


class Databases(unittest.TestCase):
    def test_database_lifecycle_conflict_and_bad_protocol(self):
        # The confirmation needs a Database Service serving it: say so.
        with harness.Cluster(roles=ROLES, user_roles=USER_ROLES,
                             standin_args=["--db-service-labels", "enroller.dev/owner=*"]) as cl:
            # Someone else's database with the very name enroller will want.
            theirs = write_json(cl, "theirs.json", {
                "kind": "db", "version": "v3", "metadata": {"name": "postgres-pg2", "labels": {"team": "dba"}},
                "spec": {"protocol": "postgres", "uri": "db.example.internal:5432"}})
            cl.tctl("create", "-f", theirs)
            before = dbs(cl)["postgres-pg2"]
            en = cl.start_enroller(resync=3600, reconcile="grace = 2, confirm = 60")
            cl.run_container("pg1", image="postgres:16")
            cl.run_container("pg2", image="postgres:16")
            db = wait_for(lambda: dbs(cl).get("postgres-pg1"), what="database postgres-pg1")
            self.assertEqual(db["spec"]["protocol"], "postgres")
            self.assertEqual(db["spec"]["uri"], "%s:5432" % cl.ip_of("pg1"))
            self.assertEqual(db["metadata"]["labels"]["enroller.dev/owner"], cl.owner)
            self.assertEqual(db["metadata"]["labels"]["db.engine"], "postgres")
            # The Database Service serves it (db_server), and enroller sees that.
            en.wait_log("database postgres-pg1 is served by a Database Service", what="the confirmation")
            # The unowned one: the role (db_labels = the owner label) keeps it out
            # of enroller's listing, so enroller tries to create it and Teleport
            # refuses (ALREADY_EXISTS, retried with backoff); it is never written.
            wait_for(lambda: [ln for ln in en.log().splitlines()
                              if "create database postgres-pg2" in ln and "already exists" in ln],
                     what="the refused create")
            self.assertEqual(dbs(cl)["postgres-pg2"], before)

            # Drift: an out-of-band edit of an owned database comes back (the watch, not a resync).
            en.wait_log("watching apps and databases", what="the watch")
            want = db["spec"]["uri"]
            db["spec"]["uri"] = "tampered.example:1"
            cl.tctl("create", "-f", write_json(cl, "tampered.json", db), wait=False)
            wait_for(lambda: "database postgres-pg1 was changed outside enroller" in en.log(), what="drift report")
            wait_for(lambda: dbs(cl)["postgres-pg1"]["spec"]["uri"] == want, what="the restore")

            # A bad protocol label: one rule error naming the container, the rule and the label.
            cl.run_container("bad", image=harness.TINY, labels={
                "teleport.dev/discovery-type": "db", "teleport.dev/protocol": "postgresql"})
            line = wait_for(lambda: [ln for ln in en.log().splitlines()
                                     if "container bad:" in ln and "teleport.dev/protocol" in ln],
                            what="the rule error")[0]
            self.assertIn("rules/labels.lua", line)
            self.assertIn("'postgresql' is not a database protocol", line)
            self.assertEqual(set(dbs(cl)), {"postgres-pg1", "postgres-pg2"})

            # Gone: the database goes after the grace period; the unowned one stays as it was.
            cl.docker("rm", "-f", "pg1")
            wait_for(lambda: "postgres-pg1" not in dbs(cl), what="the delete after the grace period")
            self.assertEqual(calls(cl, "DeleteDatabase"), 1)
            self.assertEqual(dbs(cl)["postgres-pg2"], before)
            self.assertIn("deleted database postgres-pg1", en.log())

    def test_fallback_without_list_apps(self):
        with harness.Cluster(roles=ROLES, user_roles=USER_ROLES, standin_args=["--no-list-apps"]) as cl:
            en = cl.start_enroller(resync=1, reconcile="grace = 1")
            cl.run_container("rmq1")
            cl.run_container("cache", image="redis:7")
            wait_for(lambda: "rabbitmq-rmq1" in cl.apps(), what="the app")
            wait_for(lambda: "redis-cache" in dbs(cl), what="the database")
            en.wait_log("ListApps: not implemented by this Auth Service; using GetApps", what="the app fallback")
            en.wait_log("ListDatabases: not implemented by this Auth Service; using GetDatabases",
                        what="the database fallback")
            en.wait_resyncs(3, what="passes on the old calls")
            # Remembered for the connection: asked once, then the old calls only.
            self.assertEqual(calls(cl, "ListApps"), 1)
            self.assertEqual(calls(cl, "ListDatabases"), 1)
            self.assertGreaterEqual(calls(cl, "GetApps"), 3)
            self.assertGreaterEqual(calls(cl, "GetDatabases"), 3)
            cl.docker("rm", "-f", "cache")
            wait_for(lambda: "redis-cache" not in dbs(cl), what="the delete")
            self.assertIn("rabbitmq-rmq1", cl.apps())


if __name__ == "__main__":
    unittest.main(verbosity=2)
