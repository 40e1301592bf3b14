#!/usr/bin/python3
"""proto/ must match Teleport's wire facts in spec/fixtures/teleport-fields.json
(read from Teleport's own .proto files; its "_about" names them and their commits).

Compiles every proto/**/*.proto with `protoc --descriptor_set_out` and checks
each message, field name, number and type, and each AuthService method's
request/response, against the JSON. Messages in proto/ that the JSON does not
know are an error; JSON messages absent from proto/ are fine (proto/ is a subset).
"""
import json
import os
import subprocess
import tempfile
import unittest

from google.protobuf import descriptor_pb2

SRC = os.environ.get("ENR_SOURCE_DIR") or (
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIELDS_JSON = os.path.join(SRC, "spec", "fixtures", "teleport-fields.json")
FDP = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    FDP.TYPE_DOUBLE: "double", FDP.TYPE_FLOAT: "float", FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64", FDP.TYPE_INT32: "int32", FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32", FDP.TYPE_BOOL: "bool", FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes", FDP.TYPE_UINT32: "uint32", FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64", FDP.TYPE_SINT32: "sint32", FDP.TYPE_SINT64: "sint64",
}
# Packages whose names the JSON spells with their package prefix.
KEEP_PREFIX = ("google.protobuf.", "wrappers.")


def json_key(full):
    """Fully-qualified proto name (no leading dot) -> the JSON's message key."""
    if full.startswith(KEEP_PREFIX):
        return full
    pkg, _, rest = full.partition(".")
    return rest


def norm_json_type(t):
    """The JSON names types of this file without package, others with it;
    compare without the `types.`/`proto.` package so both spellings agree."""
    for p in ("types.", "proto."):
        t = t.replace(p, "")
    return t.replace(" ", "")


def compile_protos():
    proto_dir = os.path.join(SRC, "proto")
    files = []
    for root, _, names in os.walk(proto_dir):
        files += [os.path.relpath(os.path.join(root, n), proto_dir)
                  for n in names if n.endswith(".proto")]
    if not files:
        raise AssertionError("no .proto files under %s" % proto_dir)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "-I" + proto_dir, "-I/usr/include",
                        "--include_imports", "--descriptor_set_out=" + out] + sorted(files),
                       check=True)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    return fds, set(files)


class ProtoModel:
    def __init__(self, fds, own_files):
        self.messages = {}   # full name -> DescriptorProto
        self.own = set()     # full names defined in proto/
        self.services = []   # (package, ServiceDescriptorProto)
        for fd in fds.file:
            mine = fd.name in own_files
            for m in fd.message_type:
                self._add(fd.package + "." + m.name, m, mine)
            if mine:
                self.services += [(fd.package, s) for s in fd.service]

    def _add(self, full, m, mine):
        self.messages[full] = m
        if mine and not m.options.map_entry:
            self.own.add(full)
        for n in m.nested_type:
            self._add(full + "." + n.name, n, mine)

    def type_of(self, f):
        if f.type in SCALARS:
            base = SCALARS[f.type]
        elif f.type == FDP.TYPE_ENUM:
            base = "enum " + f.type_name.rsplit(".", 1)[-1]
        else:
            full = f.type_name.lstrip(".")
            m = self.messages[full]
            if m.options.map_entry:
                k = self.type_of(m.field[0])
                v = self.type_of(m.field[1])
                return "map<%s,%s>" % (k, v)
            base = json_key(full)
        if f.label == FDP.LABEL_REPEATED:
            return "repeated " + base
        return base


def check(model, spec):
    """Returns a list of drift descriptions (empty = match)."""
    errs = []
    jm = spec["messages"]
    for full in sorted(model.own):
        key = json_key(full)
        if key not in jm:
            errs.append("message %s (%s) is not in teleport-fields.json" % (full, key))
            continue
        want = jm[key]
        for f in model.messages[full].field:
            if f.name not in want:
                errs.append("%s.%s: field not in teleport-fields.json" % (key, f.name))
                continue
            num, typ = want[f.name]
            if f.number != num:
                errs.append("%s.%s: number %d, Teleport has %d" % (key, f.name, f.number, num))
            got = model.type_of(f)
            if norm_json_type(got) != norm_json_type(typ):
                errs.append("%s.%s: type %s, Teleport has %s" % (key, f.name, got, typ))
    methods = {}
    for pkg, svc in model.services:
        for m in svc.method:
            path = "/%s.%s/%s" % (pkg, svc.name, m.name)
            req = json_key(m.input_type.lstrip("."))
            resp = json_key(m.output_type.lstrip("."))
            if m.server_streaming:
                resp = "stream " + resp
            if m.client_streaming:
                req = "stream " + req
            methods[path] = [req, resp]
    for path, got in sorted(methods.items()):
        if path not in spec["methods"]:
            errs.append("method %s is not in teleport-fields.json" % path)
        elif got != spec["methods"][path]:
            errs.append("method %s: %s, Teleport has %s" % (path, got, spec["methods"][path]))
    return errs


class TestProtoFields(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(FIELDS_JSON) as f:
            cls.spec = json.load(f)
        fds, own = compile_protos()
        cls.model = ProtoModel(fds, own)

    def test_matches_teleport(self):
        errs = check(self.model, self.spec)
        self.assertEqual(errs, [], "\n".join(errs))

    def test_expected_subset_present(self):
        for name in ("types.AppV3", "types.AppServerV3", "types.ProvisionTokenV2",
                     "types.KeepAlive", "proto.ListResourcesRequest", "proto.Event",
                     "proto.ListAppsRequest", "proto.ListAppsResponse", "proto.ListDatabasesRequest",
                     "proto.ListDatabasesResponse", "types.DatabaseV3",
                     "wrappers.LabelValues"):
            self.assertIn(name, self.model.own)
        paths = {"/%s.%s/%s" % (p, s.name, m.name) for p, s in self.model.services for m in s.method}
        for p in ("/proto.AuthService/CreateApp", "/proto.AuthService/ListResources",
                  "/proto.AuthService/WatchEvents", "/proto.AuthService/CreateTokenV2",
                  "/proto.AuthService/ListApps", "/proto.AuthService/ListDatabases"):
            self.assertIn(p, paths)

    def test_checker_detects_drift(self):
        """The checker itself must fail on a changed number, type, name or method."""
        fds, own = compile_protos()
        model = ProtoModel(fds, own)  # a private copy: mutated below
        self.assertEqual(check(model, self.spec), check(self.model, self.spec))
        m = model.messages["types.Metadata"]
        f = next(x for x in m.field if x.name == "Revision")
        f.number = 9
        try:
            self.assertTrue(any("Metadata.Revision: number 9" in e for e in check(model, self.spec)))
        finally:
            f.number = 8
        f.type = FDP.TYPE_BYTES
        try:
            self.assertTrue(any("Metadata.Revision: type bytes" in e for e in check(model, self.spec)))
        finally:
            f.type = FDP.TYPE_STRING
        f.name = "Rev"
        try:
            self.assertTrue(any("Metadata.Rev: field not in" in e for e in check(model, self.spec)))
        finally:
            f.name = "Revision"
        svc = model.services[0][1]
        meth = svc.method[0]
        old = meth.output_type
        meth.output_type = ".google.protobuf.Empty"
        try:
            self.assertTrue(any(e.startswith("method ") for e in check(model, self.spec)))
        finally:
            meth.output_type = old


if __name__ == "__main__":
    unittest.main(verbosity=2)
