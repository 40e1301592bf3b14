"""Loads the Python modules protoc generates from proto/.

$ENR_PYGEN (CMake's build/gen/py) is used when set; otherwise the modules are
generated with `protoc --python_out` into a directory the caller names (the
stand-in uses STATE/pygen) or a temporary one, so the stand-in also runs outside CMake.
"""
import atexit
import os
import shutil
import subprocess
import tempfile
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(HERE, "..", ".."))
PROTO_DIR = os.path.join(SOURCE_DIR, "proto")
_loaded = None


def _proto_files():
    out = []
    for root, _, names in os.walk(PROTO_DIR):
        out += [os.path.join(root, n) for n in names if n.endswith(".proto")]
    return sorted(out)


def _generate(dest):
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["protoc", "-I" + PROTO_DIR, "-I/usr/include", "--python_out=" + dest]
                   + _proto_files(), check=True)


def load(fallback_dir=None):
    """Returns a namespace with types_pb2, wrappers_pb2, authservice_pb2,
    event_pb2, empty_pb2, timestamp_pb2."""
    global _loaded
    if _loaded is not None:
        return _loaded
    gen = os.environ.get("ENR_PYGEN") or ""
    if not gen or not os.path.exists(os.path.join(gen, "teleport", "legacy", "types", "types_pb2.py")):
        if fallback_dir is None:
            fallback_dir = tempfile.mkdtemp(prefix="standin-pygen-")
            atexit.register(shutil.rmtree, fallback_dir, True)
        gen = fallback_dir
        _generate(gen)
    if gen not in sys.path:
        sys.path.insert(0, gen)
    from google.protobuf import empty_pb2, timestamp_pb2
    from teleport.legacy.types import types_pb2
    from teleport.legacy.types.wrappers import wrappers_pb2
    from teleport.legacy.client.proto import authservice_pb2, event_pb2

    class NS:
        pass
    ns = NS()
    ns.types_pb2, ns.wrappers_pb2 = types_pb2, wrappers_pb2
    ns.authservice_pb2, ns.event_pb2 = authservice_pb2, event_pb2
    ns.empty_pb2, ns.timestamp_pb2 = empty_pb2, timestamp_pb2
    ns.gen_dir = gen
    _loaded = ns
    return ns
