#!/usr/bin/python3
"""The stand-in's paginated ListApps / ListDatabases (and the switch that
leaves them out, as an older Auth), and its Database Service emulation
(db_server records for the databases its selector matches)."""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import test_standin as ts  # noqa: E402

DBS_ROLE = os.path.join(ts.STANDIN_DIR, "roles", "enroller-dbs.yaml")


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Cluster(ts.Base):
    extra = ()

    @classmethod
    def setUpClass(cls):
        orig = ts.StandIn

        class WithDbs(orig):
            def __init__(self, state, *extra):
                # a Database Service serving every database, unless the class names its own
                dbs = () if "--db-service-labels" in cls.extra else ("--db-service-labels", "*=*")
                super().__init__(state, "--roles", DBS_ROLE, *(dbs + cls.extra + extra))
        ts.StandIn = WithDbs
        try:
            super().setUpClass()
        finally:
            ts.StandIn = orig
        user = os.path.join(cls.tmp.name, "dbuser.yaml")
        with open(user, "w") as f:
            f.write("kind: user\nversion: v2\nmetadata:\n  name: dbuser\nspec:\n"
                    "  roles: [enroller-apps, enroller-dbs]\n")
        ts.tctl("--state", cls.state, "create", "-f", user)
        cls.dbuser = cls.connect(cls.sign("dbuser"))

    def db(self, name, protocol="postgres", uri="127.0.0.1:5432", owner="me", **labels):
        d = self.t.DatabaseV3()
        d.Metadata.Name = name
        if owner is not None:
            d.Metadata.Labels[ts.OWNER] = owner
        for k, v in labels.items():
            d.Metadata.Labels[k] = v
        d.Spec.Protocol, d.Spec.URI = protocol, uri
        return d


class TestListAndDatabaseService(Cluster):
    extra = ("--db-service-labels", "env=dev")

    def pages(self, call, req_cls, field, limit):
        # ListApps pages with limit/start_key/next_key, ListDatabases with
        # page_size/page_token/next_page_token (Teleport's names).
        size, start_f, next_f = (("page_size", "page_token", "next_page_token") if field == "databases"
                                 else ("limit", "start_key", "next_key"))
        names, pages, start = [], [], ""
        while True:
            r = call(req_cls(**{size: limit, start_f: start}), timeout=30)
            nxt = getattr(r, next_f)
            page = [x.Metadata.Name for x in getattr(r, field)]
            pages.append((page, nxt))
            names += page
            if not nxt:
                return names, pages
            start = nxt

    def test_list_apps_pages_and_next_key_before_rbac(self):
        for n in ("la-1", "la-2", "la-3", "la-4", "la-5"):
            # la-1..la-3 are nobody's: the enroller role may not see them
            self.admin.CreateApp(self.app(n, owner=None if n <= "la-3" else "me"), timeout=30)
        names, pages = self.pages(self.admin.ListApps, self.a.ListAppsRequest, "applications", 2)
        self.assertEqual([x for x in names if x.startswith("la-")], ["la-1", "la-2", "la-3", "la-4", "la-5"])
        self.assertTrue(all(len(p) <= 2 for p, _ in pages))
        # As enroller: the first page (la-1, la-2) is filtered away but keeps its next key.
        r = self.enroller.ListApps(self.a.ListAppsRequest(limit=2, start_key="la-1"), timeout=30)
        self.assertEqual(len(r.applications), 0)
        self.assertEqual(r.next_key, "la-3")
        names, _ = self.pages(self.enroller.ListApps, self.a.ListAppsRequest, "applications", 2)
        self.assertEqual([x for x in names if x.startswith("la-")], ["la-4", "la-5"])
        self.assertRpcError(self.admin.ListApps, self.a.ListAppsRequest(limit=-1), grpc.StatusCode.INVALID_ARGUMENT)

    def test_list_databases_and_db_service(self):
        self.admin.CreateDatabase(self.db("ld-other", owner=None, env="dev"), timeout=30)
        self.dbuser.CreateDatabase(self.db("ld-pg", env="dev"), timeout=30)
        self.dbuser.CreateDatabase(self.db("ld-redis", protocol="redis", uri="10.0.0.9:6379", env="prod"),
                                   timeout=30)
        names, _ = self.pages(self.admin.ListDatabases, self.a.ListDatabasesRequest, "databases", 1)
        self.assertEqual([x for x in names if x.startswith("ld-")], ["ld-other", "ld-pg", "ld-redis"])
        names, _ = self.pages(self.dbuser.ListDatabases, self.a.ListDatabasesRequest, "databases", 1)
        self.assertEqual([x for x in names if x.startswith("ld-")], ["ld-pg", "ld-redis"])
        # The Database Service serves env=dev only, and names its host.
        servers = wait_for(lambda: {s.Metadata.Name: s for s in self.dbuser.list_db_servers()
                                    if s.Metadata.Name.startswith("ld-")}, what="db servers")
        self.assertEqual(sorted(servers), ["ld-pg"])   # ld-other: not the dbuser's to see
        self.assertEqual(servers["ld-pg"].Spec.HostID, self.host_id)
        self.assertEqual(servers["ld-pg"].Spec.Database.Spec.Protocol, "postgres")
        self.dbuser.DeleteDatabase(self.rr("ld-pg"), timeout=30)
        wait_for(lambda: not [s for s in self.dbuser.list_db_servers() if s.Metadata.Name == "ld-pg"],
                 what="the db server to go with its database")

    def test_database_validation(self):
        self.assertRpcError(self.dbuser.CreateDatabase, self.db("bad-proto", protocol="postgresql"),
                            grpc.StatusCode.INVALID_ARGUMENT)
        self.assertRpcError(self.dbuser.CreateDatabase, self.db("bad-uri", uri="10.0.0.1"),
                            grpc.StatusCode.INVALID_ARGUMENT,
                            'invalid database "bad-uri" address "10.0.0.1": address 10.0.0.1: missing port in address')
        # not the owner label: Teleport refuses the role
        self.assertRpcError(self.dbuser.CreateDatabase, self.db("unowned", owner=None),
                            grpc.StatusCode.PERMISSION_DENIED)


class TestNoListApps(Cluster):
    extra = ("--no-list-apps",)

    def test_only_the_old_calls(self):
        self.admin.CreateApp(self.app("old-1"), timeout=30)
        for call, req in ((self.admin.ListApps, self.a.ListAppsRequest()),
                          (self.admin.ListDatabases, self.a.ListDatabasesRequest())):
            with self.assertRaises(grpc.RpcError) as cm:
                call(req, timeout=30)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("old-1", [a.Metadata.Name for a in self.admin.GetApps(self.empty(), timeout=30).Apps])


if __name__ == "__main__":
    unittest.main(verbosity=2)
