"""The stand-in cluster's certificate authorities and identity files.

Teleport keeps a host CA (signs server certificates) and a user CA (signs
user certificates); both have an X.509 and an SSH side. Here each CA is one
RSA 2048 key used for both sides (Teleport uses separate keys). Client
certificate subjects are encoded as lib/tlsca Identity.Subject() does.
"""
import datetime
import json
import os
import subprocess
import tempfile
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

SERVER_NAME = "teleport.cluster.local"   # constants.APIDomain
# lib/tlsca OIDs
OID_TELEPORT_CLUSTER = x509.ObjectIdentifier("1.3.9999.1.7")
OID_USER_TYPE = x509.ObjectIdentifier("1.3.9999.1.20")
OID_SYSTEM_ROLES = x509.ObjectIdentifier("1.3.9999.2.11")
OID_IMPERSONATOR = x509.ObjectIdentifier("1.3.9999.2.7")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key):
    """PKCS#1 `RSA PRIVATE KEY`, as api/utils/keys.MarshalPrivateKey writes RSA keys."""
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def load_key(pem):
    return serialization.load_pem_private_key(pem, password=None)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(cluster):
    """Self-signed CA: CN=O=cluster name, like tlsca.GenerateSelfSignedCA."""
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster),
                      x509.NameAttribute(NameOID.COMMON_NAME, cluster)])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _rdn(oid, values):
    """One multi-valued RDN holding every value, as Go's pkix.Name.appendRDNs does."""
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, v) for v in values])


def identity_subject(username, roles, logins, cluster, traits=None, route_to_cluster=None,
                     user_type="local", system_roles=(), impersonator=""):
    """x509.Name in the RDN order of Go's pkix.Name.ToRDNSequence for
    tlsca.Identity.Subject(): L(principals) STREET(route) POSTALCODE(traits)
    O(roles) OU(usage) CN(user), then the 1.3.9999 extra names."""
    rdns = []
    if logins:
        rdns.append(_rdn(NameOID.LOCALITY_NAME, logins))
    rdns.append(_rdn(NameOID.STREET_ADDRESS, [route_to_cluster if route_to_cluster is not None else cluster]))
    rdns.append(_rdn(NameOID.POSTAL_CODE, [json.dumps(traits, separators=(",", ":")) if traits else "null"]))
    if roles:
        rdns.append(_rdn(NameOID.ORGANIZATION_NAME, roles))
    rdns.append(_rdn(NameOID.COMMON_NAME, [username]))
    for r in system_roles:
        rdns.append(_rdn(OID_SYSTEM_ROLES, [r]))
    if cluster:
        rdns.append(_rdn(OID_TELEPORT_CLUSTER, [cluster]))
    if impersonator:
        rdns.append(_rdn(OID_IMPERSONATOR, [impersonator]))
    if user_type:
        rdns.append(_rdn(OID_USER_TYPE, [user_type]))
    return x509.Name(rdns)


def parse_subject(name):
    """tlsca.FromSubject, reduced to what the stand-in uses."""
    def vals(oid):
        return [a.value for a in name.get_attributes_for_oid(oid)]
    cn = vals(NameOID.COMMON_NAME)
    traits_raw = vals(NameOID.POSTAL_CODE)
    traits = {}
    if traits_raw and traits_raw[0]:
        try:
            traits = json.loads(traits_raw[0]) or {}
        except ValueError:
            traits = {}
    street = vals(NameOID.STREET_ADDRESS)
    return {
        "username": cn[0] if cn else "",
        "roles": vals(NameOID.ORGANIZATION_NAME),
        "usage": vals(NameOID.ORGANIZATIONAL_UNIT_NAME),
        "logins": vals(NameOID.LOCALITY_NAME),
        "route_to_cluster": street[0] if street else "",
        "traits": traits,
        "system_roles": vals(OID_SYSTEM_ROLES),
        "teleport_cluster": (vals(OID_TELEPORT_CLUSTER) or [""])[0],
        "impersonator": (vals(OID_IMPERSONATOR) or [""])[0],
    }


def sign_cert(ca_key, ca_cert, public_key, subject, not_after, dns_names=(), server=False):
    now = _now()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
         .public_key(public_key).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=True, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                               ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False))
    if dns_names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                            critical=False)
    return b.sign(ca_key, hashes.SHA256())


def make_server_cert(host_key, host_cert):
    """The Auth server's own certificate: a fresh key, signed by the host CA,
    DNS SAN teleport.cluster.local (constants.APIDomain)."""
    srv_key = new_key()
    srv_subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Admin"),
                             x509.NameAttribute(NameOID.COMMON_NAME, str(uuid.uuid4()))])
    srv_cert = sign_cert(host_key, host_cert, srv_key.public_key(), srv_subject,
                         _now() + datetime.timedelta(days=3650),
                         dns_names=[SERVER_NAME, "localhost", "*.teleport.cluster.local"], server=True)
    return srv_key, srv_cert


def ssh_public_line(key):
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def ssh_sign_user(ca_key, user_key, username, logins, roles, cluster, ttl_seconds):
    """A real OpenSSH user certificate made by `ssh-keygen -s` with the user CA key.
    Returns the certificate line (`ssh-rsa-cert-v01@openssh.com AAAA...`)."""
    with tempfile.TemporaryDirectory() as tmp:
        ca_path = os.path.join(tmp, "ca")
        with open(os.open(ca_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(ca_key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.OpenSSH,
                                         serialization.NoEncryption()))
        pub_path = os.path.join(tmp, "user.pub")
        with open(pub_path, "w") as f:
            f.write(ssh_public_line(user_key) + "\n")
        roles_ext = json.dumps({"version": "v1", "roles": list(roles)}, separators=(",", ":"))
        cmd = ["ssh-keygen", "-q", "-s", ca_path, "-I", username, "-n", ",".join(logins),
               "-V", "-1m:+%ds" % ttl_seconds,
               "-O", "clear", "-O", "permit-pty", "-O", "permit-port-forwarding",
               "-O", "extension:teleport-roles=" + roles_ext,
               "-O", "extension:teleport-route-to-cluster=" + cluster,
               pub_path]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(os.path.join(tmp, "user-cert.pub")) as f:
            return f.read().strip()


def cert_authority_line(cluster, host_ca_key):
    """sshutils.MarshalAuthorizedHostsFormat(clusterName, key, nil)."""
    return "@cert-authority %s,*.%s %s type=host" % (cluster, cluster, ssh_public_line(host_ca_key))


def encode_identity_file(key_bytes, ssh_cert, tls_cert, ssh_ca_lines, tls_cas):
    """api/identityfile encodeIdentityFile: each part newline-terminated, in order."""
    parts = [key_bytes, ssh_cert.encode() if isinstance(ssh_cert, str) else ssh_cert, tls_cert]
    parts += [l.encode() for l in ssh_ca_lines]
    parts += list(tls_cas)
    out = b""
    for p in parts:
        out += p if p.endswith(b"\n") else p + b"\n"
    return out


def write_private(path, data):
    """Atomic write, mode 0600."""
    tmp = path + ".tmp-%d" % os.getpid()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Cluster:
    """CA material kept in the state directory (created on first start)."""

    def __init__(self, state_dir):
        self.dir = state_dir
        with open(os.path.join(state_dir, "cluster.json")) as f:
            meta = json.load(f)
        self.name = meta["cluster_name"]
        self.host_id = meta["host_id"]

        def rd(n):
            with open(os.path.join(state_dir, n), "rb") as f:
                return f.read()
        self.host_ca_key = load_key(rd("host_ca.key"))
        self.host_ca_pem = rd("host_ca.crt")
        self.host_ca = x509.load_pem_x509_certificate(self.host_ca_pem)
        self.user_ca_key = load_key(rd("user_ca.key"))
        self.user_ca_pem = rd("user_ca.crt")
        self.user_ca = x509.load_pem_x509_certificate(self.user_ca_pem)
        self.server_key_pem = rd("server.key")
        self.server_cert_pem = rd("server.crt")

    @staticmethod
    def exists(state_dir):
        return os.path.exists(os.path.join(state_dir, "cluster.json"))

    @staticmethod
    def create(state_dir, cluster_name):
        os.makedirs(state_dir, exist_ok=True)
        host_key, host_cert = make_ca(cluster_name)
        user_key, user_cert = make_ca(cluster_name)
        srv_key, srv_cert = make_server_cert(host_key, host_cert)
        write_private(os.path.join(state_dir, "host_ca.key"), key_pem(host_key))
        write_private(os.path.join(state_dir, "host_ca.crt"), cert_pem(host_cert))
        write_private(os.path.join(state_dir, "user_ca.key"), key_pem(user_key))
        write_private(os.path.join(state_dir, "user_ca.crt"), cert_pem(user_cert))
        write_private(os.path.join(state_dir, "server.key"), key_pem(srv_key))
        write_private(os.path.join(state_dir, "server.crt"), cert_pem(srv_cert))
        # cluster.json last: its presence marks a complete cluster.
        write_private(os.path.join(state_dir, "cluster.json"), json.dumps(
            {"cluster_name": cluster_name, "host_id": str(uuid.uuid4())}).encode())
        return Cluster(state_dir)

    def host_ca_pems(self):
        """Trusted host CA certificates, newest first: after `rotate-cert
        --host-ca` the previous CA stays trusted (host_ca_prev.crt), as during
        a Teleport CA rotation."""
        out = [self.host_ca_pem]
        prev = os.path.join(self.dir, "host_ca_prev.crt")
        if os.path.exists(prev):
            with open(prev, "rb") as f:
                out.append(f.read())
        return out

    def host_ca_ssh_lines(self):
        lines = [cert_authority_line(self.name, self.host_ca_key)]
        prev = os.path.join(self.dir, "host_ca_prev.key")
        if os.path.exists(prev):
            with open(prev, "rb") as f:
                lines.append(cert_authority_line(self.name, load_key(f.read())))
        return lines

    def rotate_server_cert(self, new_host_ca=False):
        """Issues a new Auth server key and certificate (kept in the state
        directory). new_host_ca: first replace the host CA; the old one is kept
        as host_ca_prev.* (still trusted by newly signed identities), so
        identities signed before the rotation no longer verify the server."""
        if new_host_ca:
            os.replace(os.path.join(self.dir, "host_ca.key"), os.path.join(self.dir, "host_ca_prev.key"))
            os.replace(os.path.join(self.dir, "host_ca.crt"), os.path.join(self.dir, "host_ca_prev.crt"))
            key, cert = make_ca(self.name)
            write_private(os.path.join(self.dir, "host_ca.key"), key_pem(key))
            write_private(os.path.join(self.dir, "host_ca.crt"), cert_pem(cert))
            self.host_ca_key, self.host_ca, self.host_ca_pem = key, cert, cert_pem(cert)
        srv_key, srv_cert = make_server_cert(self.host_ca_key, self.host_ca)
        self.server_key_pem, self.server_cert_pem = key_pem(srv_key), cert_pem(srv_cert)
        write_private(os.path.join(self.dir, "server.key"), self.server_key_pem)
        write_private(os.path.join(self.dir, "server.crt"), self.server_cert_pem)
        return srv_cert

    def sign_parts(self, username, roles, ttl_seconds, traits=None, logins=None):
        """A fresh key and its certificates: what `tctl auth sign` writes."""
        key = new_key()
        if not logins:
            logins = ["-teleport-nologin-" + str(uuid.uuid4())]
        logins = list(logins) + ["-teleport-internal-join"]
        subject = identity_subject(username, roles, logins, self.name, traits=traits)
        not_after = _now() + datetime.timedelta(seconds=ttl_seconds)
        tls = sign_cert(self.user_ca_key, self.user_ca, key.public_key(), subject, not_after)
        ssh_cert = ssh_sign_user(self.user_ca_key, key, username, logins, roles, self.name, ttl_seconds)
        return {"key": key_pem(key), "ssh_pub": ssh_public_line(key), "ssh_cert": ssh_cert,
                "tls_cert": cert_pem(tls), "ssh_cas": self.host_ca_ssh_lines(),
                "host_cas": self.host_ca_pems(), "user_cas": [self.user_ca_pem]}

    @staticmethod
    def encode_parts(p):
        return encode_identity_file(p["key"], p["ssh_cert"], p["tls_cert"], p["ssh_cas"], p["host_cas"])

    def sign_identity(self, username, roles, ttl_seconds, traits=None, logins=None):
        """Identity file bytes for `tctl auth sign --format=file`."""
        return self.encode_parts(self.sign_parts(username, roles, ttl_seconds, traits, logins))


def write_public(path, data):
    """Atomic write, mode 0644 (certificates, public keys)."""
    write_private(path, data)
    os.chmod(path, 0o644)


def write_tbot_dir(out_dir, parts):
    """A tbot identity output directory (lib/tbot identity output artifacts,
    Teleport's lib/tbot/config output names): each file replaced atomically; `key` and `identity` 0600."""
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    write_private(os.path.join(out_dir, "key"), parts["key"])
    write_public(os.path.join(out_dir, "key.pub"), (parts["ssh_pub"] + "\n").encode())
    write_public(os.path.join(out_dir, "key-cert.pub"), (parts["ssh_cert"] + "\n").encode())
    write_public(os.path.join(out_dir, "tlscert"), parts["tls_cert"])
    write_public(os.path.join(out_dir, "teleport-host-ca.crt"), b"".join(parts["host_cas"]))
    write_public(os.path.join(out_dir, "teleport-user-ca.crt"), b"".join(parts["user_cas"]))
    write_private(os.path.join(out_dir, "identity"), Cluster.encode_parts(parts))
