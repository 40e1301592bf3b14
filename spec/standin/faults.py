"""Per-method call counters and injected faults (latency, errors) for the
stand-in's gRPC methods; not Teleport behaviour but test instruments."""
import json
import random
import threading

import grpc

from rbac import TraceError

AUTH_SERVICE = "proto.AuthService"


def q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.data = {}

    def inc(self, method, code):
        with self.lock:
            m = self.data.setdefault(method, {})
            m[code] = m.get(code, 0) + 1

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.data))

    def reset(self):
        with self.lock:
            self.data = {}


class Faults:
    """Injected faults per method path: added latency, then an error with a
    chosen gRPC code at a chosen rate; optionally only for the next N calls."""

    def __init__(self, seed=None):
        self.lock = threading.Lock()
        self.rules = {}
        self.rng = random.Random(seed)
        self.epoch = 0  # bumped by clear(): latency still being served ends early

    @staticmethod
    def path_of(method):
        if method == "*" or method.startswith("/"):
            return method
        return "/%s/%s" % (AUTH_SERVICE, method)

    def set(self, req):
        method = req.get("method") or ""
        if not method:
            raise TraceError("BadParameter", "faults: missing method (a method name, a full path or *)")
        code = (req.get("code") or "UNAVAILABLE").upper()
        if code == "OK" or code not in grpc.StatusCode.__members__:
            raise TraceError("BadParameter", "faults: %s is not a gRPC error code" % q(code))
        rate = float(req.get("error_rate", 0.0))
        latency = float(req.get("latency_ms", 0.0))
        count = req.get("count")
        if not 0.0 <= rate <= 1.0:
            raise TraceError("BadParameter", "faults: error_rate must be within [0, 1], got %s" % rate)
        if latency < 0:
            raise TraceError("BadParameter", "faults: latency_ms must not be negative")
        if count is not None and int(count) <= 0:
            raise TraceError("BadParameter", "faults: count must be positive")
        rule = {"latency_ms": latency, "error_rate": rate, "code": code,
                "message": req.get("message") or "stand-in injected fault: %s" % code,
                "count": None if count is None else int(count)}
        with self.lock:
            self.rules[self.path_of(method)] = rule
        return rule

    def clear(self):
        with self.lock:
            self.rules = {}
            self.epoch += 1

    def cleared_since(self, epoch):
        with self.lock:
            return self.epoch != epoch

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.rules))

    def pick(self, path):
        """-> (latency seconds, (StatusCode, message) or None, epoch) for one call."""
        with self.lock:
            key = path if path in self.rules else ("*" if "*" in self.rules else None)
            if key is None:
                return 0.0, None, self.epoch
            rule = self.rules[key]
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    del self.rules[key]
            err = None
            if rule["error_rate"] > 0 and self.rng.random() < rule["error_rate"]:
                err = (grpc.StatusCode[rule["code"]], rule["message"])
            return rule["latency_ms"] / 1000.0, err, self.epoch
