"""gRPC plumbing of the stand-in: the server's TLS credentials, the generic
method handlers (fault injection, error mapping of api/trail, counters,
logging), the proto.AuthService method table and the private admin service."""
import datetime
import json
import logging
import os
import ssl
import threading
import time

import grpc

import join
import pki
from faults import Faults
from rbac import TraceError

ADMIN_SERVICE = "enroller.standin.Admin"
AUTH_SERVICE = "proto.AuthService"

# api/trail: trace error kind -> gRPC status code
CODES = {
    "AccessDenied": grpc.StatusCode.PERMISSION_DENIED,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "BadParameter": grpc.StatusCode.INVALID_ARGUMENT,
    "CompareFailed": grpc.StatusCode.FAILED_PRECONDITION,
    "ConnectionProblem": grpc.StatusCode.UNAVAILABLE,
    "LimitExceeded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "NotImplemented": grpc.StatusCode.UNIMPLEMENTED,
}

log = logging.getLogger("standin")


class ServerCreds:
    """The Auth server's TLS configuration (the listeners in netio.py are the
    TLS endpoint): its certificate, client certificates verified against the
    user CA when given (lib/auth/middleware.go: ClientAuth =
    tls.VerifyClientCertIfGiven; a client without one is the Nop role), ALPN
    h2. A rotation builds a new context for new handshakes; connections
    already open keep the certificate they were made with."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.ctx = self._build()

    def _build(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        d = self.cluster.dir
        ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        ctx.load_verify_locations(cadata=self.cluster.user_ca_pem.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def context(self):
        with self.lock:
            return self.ctx

    def rotate(self, new_host_ca):
        with self.lock:
            cert = self.cluster.rotate_server_cert(new_host_ca)
            self.ctx = self._build()
            return cert


class Service:
    """gRPC plumbing: generic handlers, error mapping, counters, logging."""

    def __init__(self, auth, counters, pb, faults=None, creds=None):
        self.auth, self.counters, self.pb = auth, counters, pb
        self.faults = faults or Faults()
        self.creds = creds

    def _inject(self, path, context):
        """Injected latency (cut short when the call ends or the faults are
        cleared), then maybe an error."""
        if not path.startswith("/%s/" % AUTH_SERVICE):
            return None
        delay, err, epoch = self.faults.pick(path)
        end = time.monotonic() + delay
        while delay > 0 and context.is_active() and not self.faults.cleared_since(epoch):
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.05))
        return err

    def _finish(self, path, ident, code, msg, context):
        self.counters.inc(path, code.name)
        user = ident.username if ident else "?"
        if code == grpc.StatusCode.OK:
            log.info("%s user=%s OK", path, user)
        else:
            log.info("%s user=%s %s: %s", path, user, code.name, msg)

    def unary(self, path, fn, req_cls, resp_ser):
        def handler(req, context):
            ident = None
            err = self._inject(path, context)
            if err is not None:
                self._finish(path, ident, err[0], err[1], context)
                context.abort(err[0], err[1])
            try:
                ident = self.auth.identity(context)
                resp = fn(req, ident)
            except TraceError as e:
                code = CODES.get(e.kind, grpc.StatusCode.UNKNOWN)
                self._finish(path, ident, code, e.message, context)
                context.abort(code, e.message)
            except Exception as e:  # noqa: BLE001 - becomes UNKNOWN like any Go error
                log.exception("%s failed", path)
                self._finish(path, ident, grpc.StatusCode.UNKNOWN, str(e), context)
                context.abort(grpc.StatusCode.UNKNOWN, str(e))
            self._finish(path, ident, grpc.StatusCode.OK, "", context)
            return resp
        return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=req_cls.FromString,
                                                   response_serializer=resp_ser)

    def server_stream(self, path, fn, req_cls, resp_ser):
        def handler(req, context):
            ident = None
            err = self._inject(path, context)
            if err is not None:
                self._finish(path, ident, err[0], err[1], context)
                context.abort(err[0], err[1])
            try:
                ident = self.auth.identity(context)
                it = fn(req, ident, context)
            except TraceError as e:
                code = CODES.get(e.kind, grpc.StatusCode.UNKNOWN)
                self._finish(path, ident, code, e.message, context)
                context.abort(code, e.message)
            self._finish(path, ident, grpc.StatusCode.OK, "", context)
            yield from it
        return grpc.unary_stream_rpc_method_handler(handler, request_deserializer=req_cls.FromString,
                                                    response_serializer=resp_ser)

    def not_implemented(self, path, streaming):
        def handler(req, context):
            self.counters.inc(path, "UNIMPLEMENTED")
            log.info("%s UNIMPLEMENTED", path)
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "%s is not implemented by the Teleport Auth stand-in" % path)
        if streaming:
            def stream_handler(req, context):
                handler(req, context)
                yield None  # pragma: no cover - abort raises
            return grpc.unary_stream_rpc_method_handler(stream_handler)
        return grpc.unary_unary_rpc_method_handler(handler)

    def auth_handler(self):
        from google.protobuf import symbol_database
        db = symbol_database.Default()
        svc = self.pb.authservice_pb2.DESCRIPTOR.services_by_name["AuthService"]
        handlers = {}
        for m in svc.methods:
            path = "/%s/%s" % (AUTH_SERVICE, m.name)
            fn = self.auth.method(m.name)
            if fn is None or m.client_streaming:
                handlers[m.name] = self.not_implemented(path, m.server_streaming)
                continue
            req_cls = db.GetSymbol(m.input_type.full_name)
            resp_cls = db.GetSymbol(m.output_type.full_name)
            make = self.server_stream if m.server_streaming else self.unary
            handlers[m.name] = make(path, fn, req_cls, resp_cls.SerializeToString)
        return grpc.method_handlers_generic_handler(AUTH_SERVICE, handlers)

    def admin_handler(self):
        def admin_only(fn):
            def wrapped(body, ident):
                if "admin" not in ident.roles:
                    raise TraceError("AccessDenied", "access denied: the admin service needs role admin")
                try:
                    req = json.loads(body.decode() or "{}")
                except ValueError as e:
                    raise TraceError("BadParameter", "request is not JSON: %s" % e)
                if not isinstance(req, dict):
                    raise TraceError("BadParameter", "request is not a JSON object")
                return json.dumps(fn(req, ident)).encode()
            return wrapped

        def create(req, ident):
            return {"message": self.auth.create_resource(req.get("resource"), bool(req.get("force")))}

        def counters(req, ident):
            return {"methods": self.counters.snapshot()}

        def reset(req, ident):
            self.counters.reset()
            return {}

        def set_fault(req, ident):
            try:
                return {"rule": self.faults.set(req)}
            except (TypeError, ValueError) as e:
                raise TraceError("BadParameter", "faults: %s" % e)

        def clear_faults(req, ident):
            self.faults.clear()
            return {}

        def list_faults(req, ident):
            return {"faults": self.faults.snapshot()}

        def drop(req, ident):
            up = self.auth.upstream_of(ident.peer)
            keep = self.auth.conns.conn_of(up) if up else None
            n = self.auth.conns.drop_all(reset=bool(req.get("reset")), keep=keep)
            log.info("dropped %d connections (reset=%s)", n, bool(req.get("reset")))
            return {"dropped": n}

        def connections(req, ident):
            return {"connections": self.auth.conns.count()}

        def rotate(req, ident):
            cert = self.creds.rotate(bool(req.get("host_ca")))
            if req.get("host_ca"):
                # tctl --state keeps working: the admin identity trusts the new host CA.
                c = self.auth.cluster
                pki.write_private(os.path.join(c.dir, "admin.identity"),
                                  c.sign_identity("admin", ["admin"], 10 * 365 * 86400))
            log.info("rotated the server certificate (new host CA: %s)", bool(req.get("host_ca")))
            return {"serial": "%x" % cert.serial_number,
                    "not_after": cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).isoformat()}

        def bulk(req, ident):
            return self.auth.bulk(req)

        def join_app(req, ident):
            return join.join_app(self.auth, req)

        class Raw:
            FromString = staticmethod(lambda b: b)
        ident_ser = (lambda b: b)
        fns = {"CreateResource": create, "Counters": counters, "ResetCounters": reset,
               "SetFault": set_fault, "ClearFaults": clear_faults, "Faults": list_faults,
               "DropConnections": drop, "Connections": connections, "RotateCert": rotate, "Bulk": bulk,
               "JoinApp": join_app}
        handlers = {name: self.unary("/%s/%s" % (ADMIN_SERVICE, name), admin_only(fn), Raw, ident_ser)
                    for name, fn in fns.items()}
        return grpc.method_handlers_generic_handler(ADMIN_SERVICE, handlers)
