"""The stand-in's own TCP and TLS layer: the Auth listener and the Proxy
listener accept the connections, hold Auth's TLS endpoint and relay the
decrypted HTTP/2 bytes to the internal gRPC server (which listens on a
private loopback port). Owning the sockets lets the stand-in cut every live
connection on demand (fault `drop-connections`), route TLS by the
ClientHello's ALPN the way Teleport's Proxy does (lib/srv/alpnproxy/proxy.go,
ForwardTLS: the Proxy forwards the raw TLS bytes to Auth, so the client still
handshakes with Auth's certificate), and ask for a client certificate the way
Teleport's Auth server does (lib/auth/middleware.go: tls.VerifyClientCertIfGiven
-- a client without a certificate completes the handshake, one with a
certificate that does not verify is refused), which grpc-python's server
credentials cannot express.
"""
import binascii
import logging
import select
import socket
import ssl
import struct
import threading
import time

log = logging.getLogger("standin.net")

SERVER_NAME = "teleport.cluster.local"     # constants.APIDomain
PROTOCOL_AUTH = "teleport-auth@"          # alpncommon.ProtocolAuth
HELLO_READ_DEADLINE = 10.0                # defaults.HandshakeReadDeadline
MAX_HELLO_BYTES = 64 * 1024
MAX_CONNECTIONS = 256
CHUNK = 64 * 1024


class HelloError(Exception):
    pass


def encode_cluster_name(name):
    """api/utils.EncodeClusterName: hex(name) + "." + APIDomain."""
    return "%s.%s" % (binascii.hexlify(name.encode()).decode(), SERVER_NAME)


def decode_cluster_name(server_name):
    """api/utils.DecodeClusterName."""
    suffix = "." + SERVER_NAME
    if server_name == SERVER_NAME or not server_name.endswith(suffix):
        raise HelloError("no cluster name is encoded")
    try:
        return binascii.unhexlify(server_name[:-len(suffix)]).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise HelloError("cluster name is not hex: %s" % e)


def auth_alpn(cluster_name):
    return PROTOCOL_AUTH + encode_cluster_name(cluster_name)


class Reader:
    def __init__(self, data, what):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n):
        if self.pos + n > len(self.data):
            raise HelloError("%s: truncated (need %d bytes at offset %d of %d)"
                             % (self.what, n, self.pos, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u24(self):
        b = self.take(3)
        return (b[0] << 16) | (b[1] << 8) | b[2]

    def vec(self, lenlen):
        n = {1: self.u8, 2: self.u16, 3: self.u24}[lenlen]()
        return self.take(n)

    def done(self):
        return self.pos == len(self.data)


def handshake_bytes(buf):
    """Joins the handshake-layer payload of the TLS records in buf (RFC 8446
    5.1: a handshake message may span records). Returns (payload, complete):
    complete once the first handshake message is wholly present."""
    payload, pos = b"", 0
    while True:
        if len(payload) >= 4:
            need = 4 + ((payload[1] << 16) | (payload[2] << 8) | payload[3])
            if len(payload) >= need:
                return payload[:need], True
        if len(buf) - pos < 5:
            return payload, False
        ctype, major, length = buf[pos], buf[pos + 1], struct.unpack("!H", buf[pos + 3:pos + 5])[0]
        if ctype != 22:
            raise HelloError("not a TLS handshake record (content type %d)" % ctype)
        if major != 3:
            raise HelloError("not a TLS record (version major %d)" % major)
        if length == 0 or length > 16384 + 2048:
            raise HelloError("bad TLS record length %d" % length)
        if len(buf) - pos - 5 < length:
            return payload, False
        payload += buf[pos + 5:pos + 5 + length]
        pos += 5 + length


def parse_client_hello(msg):
    """ClientHello (RFC 8446 4.1.2) -> {"alpn": [...], "sni": str or ""}."""
    r = Reader(msg, "ClientHello")
    if r.u8() != 1:
        raise HelloError("first handshake message is not a ClientHello")
    body = Reader(r.vec(3), "ClientHello")
    body.take(2 + 32)                      # legacy_version, random
    body.vec(1)                            # legacy_session_id
    body.vec(2)                            # cipher_suites
    body.vec(1)                            # legacy_compression_methods
    out = {"alpn": [], "sni": ""}
    if body.done():
        return out                         # no extensions at all
    exts = Reader(body.vec(2), "ClientHello extensions")
    while not exts.done():
        etype = exts.u16()
        data = Reader(exts.vec(2), "extension %d" % etype)
        if etype == 16:                    # application_layer_protocol_negotiation
            names = Reader(data.vec(2), "ALPN list")
            while not names.done():
                out["alpn"].append(names.vec(1).decode("latin-1"))
        elif etype == 0:                   # server_name
            names = Reader(data.vec(2), "server_name list")
            while not names.done():
                kind, name = names.u8(), names.vec(2)
                if kind == 0:
                    out["sni"] = name.decode("latin-1")
    return out


class Conn:
    def __init__(self, kind, client, peer):
        self.kind, self.client, self.peer = kind, client, peer
        self.upstream = None
        self.upstream_local = None
        self.tls = False              # the TLS handshake with Auth's certificate completed
        self.peer_cert_der = None     # the client's verified certificate, if it sent one
        self.closed = threading.Event()


class ConnTable:
    """Every live relayed connection (Auth and Proxy listeners)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conns = set()
        self.by_upstream = {}

    def add(self, c):
        with self.lock:
            if len(self.conns) >= MAX_CONNECTIONS:
                return False
            self.conns.add(c)
            return True

    def bind(self, c):
        with self.lock:
            self.by_upstream[c.upstream_local] = c

    def remove(self, c):
        with self.lock:
            self.conns.discard(c)
            if c.upstream_local is not None:
                self.by_upstream.pop(c.upstream_local, None)

    def peer_of(self, upstream_local):
        """The client address behind the gRPC server's peer (host, port)."""
        with self.lock:
            c = self.by_upstream.get(upstream_local)
            return c.peer if c else None

    def conn_of(self, upstream_local):
        with self.lock:
            return self.by_upstream.get(upstream_local)

    def count(self):
        with self.lock:
            return len(self.conns)

    def drop_all(self, reset=False, keep=None):
        """Cut every live connection now (except `keep`): both sides see the
        TCP connection end without a TLS close_notify or an HTTP/2 GOAWAY,
        as after a network failure. reset=True sends RST instead of FIN."""
        with self.lock:
            victims = [c for c in self.conns if c is not keep]
        for c in victims:
            close_conn(c, reset)
        return len(victims)


def _close(sock, reset):
    if sock is None:
        return
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def close_conn(c, reset=False):
    if c.closed.is_set():
        return
    c.closed.set()
    _close(c.client, reset)
    _close(c.upstream, reset)


class Relay:
    """A loopback TCP listener whose connections are piped to `backend`
    ((host, port) of the internal gRPC server). With `route` set (the Proxy
    listener), the ClientHello is read first and `route(hello)` must return
    None to forward or an error string to refuse (the connection is closed).
    With `tls` (a callable returning the current server ssl.SSLContext) the
    relay is the TLS server and pipes plaintext to the backend."""

    def __init__(self, kind, listen, backend, table, route=None, tls=None):
        self.kind, self.backend, self.table, self.route, self.tls = kind, backend, table, route, tls
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, int(port or 0)))
        self.sock.listen(128)
        self.addr = self.sock.getsockname()[:2]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, name="relay-" + kind, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                client, peer = self.sock.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                time.sleep(0.05)
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(self.kind, client, "%s:%d" % (peer[0], peer[1]))
            if not self.table.add(c):
                log.warning("%s: connection limit %d reached; closing %s", self.kind, MAX_CONNECTIONS, c.peer)
                _close(client, False)
                continue
            threading.Thread(target=self._serve, args=(c,), name="conn-" + self.kind, daemon=True).start()

    def _read_hello(self, c):
        buf = b""
        deadline = time.monotonic() + HELLO_READ_DEADLINE
        while True:
            msg, complete = handshake_bytes(buf)
            if complete:
                return parse_client_hello(msg), buf
            if len(buf) > MAX_HELLO_BYTES:
                raise HelloError("ClientHello larger than %d bytes" % MAX_HELLO_BYTES)
            left = deadline - time.monotonic()
            if left <= 0:
                raise HelloError("no ClientHello within %.0fs" % HELLO_READ_DEADLINE)
            c.client.settimeout(left)
            try:
                data = c.client.recv(CHUNK)
            except socket.timeout:
                raise HelloError("no ClientHello within %.0fs" % HELLO_READ_DEADLINE)
            if not data:
                raise HelloError("connection closed before the ClientHello was complete")
            buf += data

    def _serve(self, c):
        try:
            first = b""
            if self.route is not None:
                try:
                    hello, first = self._read_hello(c)
                except (HelloError, OSError) as e:
                    log.info("proxy: %s: refused: %s", c.peer, e)
                    return
                why = self.route(hello)
                if why is not None:
                    log.info("proxy: %s: refused: %s", c.peer, why)
                    return
                c.client.settimeout(None)
            tls = None
            if self.tls is not None:
                try:
                    tls = self._handshake(c, first)
                except (HelloError, OSError) as e:
                    log.info("%s: %s: %s", self.kind, c.peer, e)
                    return
                first = b""
            try:
                up = socket.create_connection(self.backend, timeout=10)
            except OSError as e:
                log.warning("%s: %s: cannot reach the Auth server: %s", self.kind, c.peer, e)
                return
            up.settimeout(None)
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.upstream, c.upstream_local = up, up.getsockname()[:2]
            self.table.bind(c)
            if c.closed.is_set():
                return
            if first:
                up.sendall(first)
            if tls is not None:
                self._pump_tls(c, *tls)
            else:
                self._pump(c)
        except OSError:
            pass
        finally:
            close_conn(c)
            self.table.remove(c)

    def _handshake(self, c, first):
        """Server side of the TLS handshake over memory BIOs (one thread per
        connection, so the SSL object is never used concurrently)."""
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.tls().wrap_bio(inc, out, server_side=True)
        if first:
            inc.write(first)
        deadline = time.monotonic() + HELLO_READ_DEADLINE
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = out.read()
                if pending:
                    c.client.sendall(pending)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HelloError("no TLS handshake within %.0fs" % HELLO_READ_DEADLINE)
                # select in short steps, so that a cut made meanwhile (close_conn
                # from drop-connections) closes a socket no thread is blocked on.
                if c.closed.is_set():
                    raise HelloError("connection cut during the TLS handshake")
                try:
                    ready, _, _ = select.select([c.client], [], [], min(left, 0.2))
                except (OSError, ValueError):
                    raise HelloError("connection cut during the TLS handshake")
                if not ready:
                    continue
                data = c.client.recv(CHUNK)
                if not data:
                    raise HelloError("connection closed during the TLS handshake")
                inc.write(data)
            except ssl.SSLError as e:
                alert = out.read()
                if alert:
                    try:
                        c.client.sendall(alert)
                    except OSError:
                        pass
                raise HelloError("TLS handshake refused: %s" % e)
        pending = out.read()
        if pending:
            c.client.sendall(pending)
        c.client.settimeout(None)
        c.peer_cert_der = obj.getpeercert(binary_form=True)
        c.tls = True
        return obj, inc, out

    @staticmethod
    def _pump_tls(c, obj, inc, out):
        """Both directions in one thread: client TLS records <-> backend plaintext."""
        client, up = c.client, c.upstream
        try:
            while not c.closed.is_set():
                ready, _, _ = select.select([client, up], [], [], 0.5)
                if client in ready:
                    data = client.recv(CHUNK)
                    if not data:
                        return
                    inc.write(data)
                    while True:
                        try:
                            plain = obj.read(CHUNK)
                        except ssl.SSLWantReadError:
                            break
                        if not plain:
                            return
                        up.sendall(plain)
                    pending = out.read()
                    if pending:
                        client.sendall(pending)
                if up in ready:
                    data = up.recv(CHUNK)
                    if not data:
                        return
                    obj.write(data)
                    client.sendall(out.read())
        except (ssl.SSLError, OSError, ValueError):
            return
        finally:
            close_conn(c)

    @staticmethod
    def _copy(c, src, dst):
        """One direction; select with a timeout so a cut made by another
        thread (close_conn, possibly an RST close without shutdown) is seen."""
        while not c.closed.is_set():
            try:
                ready, _, _ = select.select([src], [], [], 0.5)
                if not ready:
                    continue
                data = src.recv(CHUNK)
                if not data:
                    return
                dst.sendall(data)
            except (OSError, ValueError):
                return

    def _pump(self, c):
        back = threading.Thread(target=self._run_copy, args=(c, c.upstream, c.client),
                                name="pipe-" + self.kind, daemon=True)
        back.start()
        self._run_copy(c, c.client, c.upstream)
        back.join()

    def _run_copy(self, c, src, dst):
        try:
            self._copy(c, src, dst)
        finally:
            close_conn(c)
