"""The stand-in's durable cluster state (Teleport's backend): apps, app
servers, tokens, databases, roles and users, kept in DIR/state.json plus an
append-only journal so that an acknowledged write survives a crash."""
import base64
import json
import os
import threading
import uuid

from google.protobuf import json_format

import pki


def new_revision():
    """backend.CreateRevision: a new opaque revision on every write."""
    return str(uuid.uuid4())


class Store:
    """Cluster state, durable like Teleport's backend: an acknowledged write
    survives a crash.  DIR/state.json is a snapshot; every write appends the
    records that changed to DIR/state.journal (one JSON line each), so a
    write costs what it changed, not the size of the cluster.  The journal is
    folded into the snapshot at start-up and when it grows long."""

    MESSAGE_COLLS = ("apps", "app_servers", "tokens", "databases", "db_servers")
    COMPACT_AFTER = 5000

    def __init__(self, state_dir, pb):
        self.path = os.path.join(state_dir, "state.json")
        self.journal_path = os.path.join(state_dir, "state.journal")
        self.pb = pb
        self.lock = threading.RLock()
        self.apps, self.app_servers, self.tokens, self.databases = {}, {}, {}, {}
        self.db_servers = {}
        self.roles, self.users = {}, {}
        self._saved = {}          # (coll, key) -> serialized bytes last written
        self._journal = None
        self._journal_lines = 0
        if os.path.exists(self.path):
            self._load()
        self._replay_journal()
        self._compact()

    def _types(self):
        t = self.pb.types_pb2
        return {"apps": t.AppV3, "app_servers": t.AppServerV3, "tokens": t.ProvisionTokenV2,
                "databases": t.DatabaseV3, "db_servers": t.DatabaseServerV3}

    def _load(self):
        t = self._types()
        with open(self.path) as f:
            d = json.load(f)
        for coll in self.MESSAGE_COLLS:
            setattr(self, coll, {k: json_format.ParseDict(v, t[coll]()) for k, v in d.get(coll, {}).items()})
        self.roles = d.get("roles", {})
        self.users = d.get("users", {})

    def _replay_journal(self):
        if not os.path.exists(self.journal_path):
            return
        t = self._types()
        with open(self.journal_path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    break           # a torn last line from a crash: the write was never acknowledged
                coll, key, val = rec["c"], rec["k"], rec.get("v")
                m = getattr(self, coll)
                if val is None:
                    m.pop(key, None)
                elif coll in self.MESSAGE_COLLS:
                    m[key] = t[coll].FromString(base64.b64decode(val))
                else:
                    m[key] = val

    def _snapshot_bytes(self):
        def enc(m):
            return json_format.MessageToDict(m, preserving_proto_field_name=True)
        d = {coll: {k: enc(v) for k, v in getattr(self, coll).items()} for coll in self.MESSAGE_COLLS}
        d["roles"], d["users"] = self.roles, self.users
        return json.dumps(d, indent=1, sort_keys=True).encode()

    def _current(self):
        cur = {}
        for coll in self.MESSAGE_COLLS:
            for k, v in getattr(self, coll).items():
                cur[(coll, k)] = v.SerializeToString(deterministic=True)
        for coll in ("roles", "users"):
            for k, v in getattr(self, coll).items():
                cur[(coll, k)] = json.dumps(v, sort_keys=True).encode()
        return cur

    def _compact(self):
        with self.lock:
            pki.write_private(self.path, self._snapshot_bytes())
            if self._journal is not None:
                self._journal.close()
            self._journal = open(self.journal_path, "w")
            os.chmod(self.journal_path, 0o600)
            self._journal_lines = 0
            self._saved = self._current()

    def save(self):
        """Appends every record that changed since the last save."""
        with self.lock:
            cur = self._current()
            out = []
            for key, b in cur.items():
                if self._saved.get(key) != b:
                    coll, k = key
                    v = base64.b64encode(b).decode() if coll in self.MESSAGE_COLLS else getattr(self, coll)[k]
                    out.append(json.dumps({"c": coll, "k": k, "v": v}))
            for key in self._saved.keys() - cur.keys():
                out.append(json.dumps({"c": key[0], "k": key[1], "v": None}))
            self._saved = cur
            if not out:
                return
            self._journal.write("\n".join(out) + "\n")
            self._journal.flush()
            self._journal_lines += len(out)
            if self._journal_lines > self.COMPACT_AFTER:
                self._compact()
