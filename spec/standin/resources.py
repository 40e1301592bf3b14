"""Resource conversion (tctl YAML/JSON <-> protobuf) and the validation the
Auth server applies (api/types: Metadata, AppV3, AppServerV3,
ProvisionTokenV2 CheckAndSetDefaults)."""
import datetime
import re
import urllib.parse

from google.protobuf.descriptor import FieldDescriptor as FD

from rbac import TraceError

DEFAULT_NAMESPACE = "default"
ORIGIN_LABEL = "teleport.dev/origin"
ORIGIN_DYNAMIC = "dynamic"
# api/types/common/constants.go OriginValues (newest list).
ORIGIN_VALUES = ["defaults", "config-file", "dynamic", "cloud", "kubernetes", "okta", "scim",
                 "discovery-kubernetes", "entra-id", "aws-identity-center", "sailpoint"]
# api/types/common.IsValidLabelKey (newest: ':' allowed).
LABEL_KEY_RE = re.compile(r"^[a-zA-Z/.0-9_:*-]+$")
CLOUD_VALUES = ("", "AWS", "Azure", "GCP")
AWS_CONSOLE_URL = "https://console.aws.amazon.com"
KUBE_ALPN_PREFIX = "kube-teleport-proxy-alpn."
JWT_CLAIMS = ("", "roles-and-traits", "roles", "none", "traits")
SYSTEM_ROLES = ["Auth", "Node", "Proxy", "Admin", "ProvisionToken", "Trusted_cluster", "Signup", "Nop",
                "RemoteProxy", "Kube", "App", "Db", "WindowsDesktop", "Bot", "Instance", "Discovery",
                "Okta", "MDM"]
JOIN_METHODS = ("token", "ec2", "iam", "github", "circleci", "kubernetes", "azure", "gitlab", "gcp",
                "spacelift", "tpm", "terraform_cloud", "bitbucket", "oracle")
APP_SERVER_TTL = 10 * 60     # apidefaults.ServerAnnounceTTL
GO_ZERO_SECONDS = -62135596800  # Go's time.Time{} as a Timestamp


def snake(name):
    """Teleport's JSON tags: PublicAddr -> public_addr, TCPPorts -> tcp_ports, URI -> uri."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def ts_set(ts, dt):
    ts.FromDatetime(dt.astimezone(datetime.timezone.utc).replace(tzinfo=None))


def ts_get(ts):
    """Timestamp -> aware datetime, None for unset / Go zero time."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    if ts.seconds <= GO_ZERO_SECONDS:
        return None
    return datetime.datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, datetime.timezone.utc)


def go_zero(ts):
    """Go's time.Time{} on the wire (gogoproto stdtime, nullable=false)."""
    ts.seconds, ts.nanos = GO_ZERO_SECONDS, 0


def go_non_null_times(srv):
    """An AppServerV3 as Go marshals it: Spec.Rotation and its timestamps are
    non-nullable, so unset ones travel as Go's zero time."""
    r = srv.Spec.Rotation
    r.SetInParent()
    for ts in (r.Started, r.LastRotated, r.Schedule.UpdateClients, r.Schedule.UpdateServers,
               r.Schedule.Standby):
        if ts.seconds == 0 and ts.nanos == 0:
            go_zero(ts)


def expires_of(msg):
    md = msg.Metadata
    if not md.HasField("Expires"):
        return None
    return ts_get(md.Expires)


def is_expired(msg, now=None):
    e = expires_of(msg)
    return e is not None and e <= (now or now_utc())


# ---- generic proto <-> dict (tctl YAML/JSON shape) ----------------------------

def _rfc3339(ts):
    dt = ts_get(ts)
    if dt is None:
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ("%.9f" % (dt.microsecond / 1e6))[1:].rstrip("0").rstrip(".") + "Z"


def msg_to_dict(msg):
    desc = msg.DESCRIPTOR
    if desc.full_name == "google.protobuf.Timestamp":
        return _rfc3339(msg)
    if desc.full_name == "wrappers.LabelValues":
        return {k: list(v.Values) for k, v in msg.Values.items()}
    out = {}
    for f in desc.fields:
        key = snake(f.name)
        val = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            if not val:
                continue
            if vf.type == FD.TYPE_MESSAGE:
                out[key] = {k: msg_to_dict(v) for k, v in val.items()}
            else:
                out[key] = dict(val)
        elif f.label == FD.LABEL_REPEATED:
            if not len(val):
                continue
            out[key] = [msg_to_dict(v) if f.type == FD.TYPE_MESSAGE else v for v in val]
        elif f.type == FD.TYPE_MESSAGE:
            if not msg.HasField(f.name):
                continue
            d = msg_to_dict(val)
            if d in (None, {}):
                continue
            out[key] = d
        else:
            if val == f.default_value:
                continue
            out[key] = val
    return out


def _parse_time(v):
    if isinstance(v, datetime.datetime):
        return v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc)
    s = str(v).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s)


def dict_to_msg(d, msg, where="resource"):
    """Fills msg from a tctl-shaped dict (snake_case keys). Unknown keys are an error."""
    desc = msg.DESCRIPTOR
    if desc.full_name == "google.protobuf.Timestamp":
        ts_set(msg, _parse_time(d))
        return msg
    if desc.full_name == "wrappers.LabelValues":
        for k, v in (d or {}).items():
            msg.Values[k].Values.extend(v if isinstance(v, list) else [v])
        return msg
    if not isinstance(d, dict):
        raise TraceError("BadParameter", "%s: expected an object" % where)
    by_key = {snake(f.name): f for f in desc.fields}
    for k, v in d.items():
        f = by_key.get(k) or desc.fields_by_name.get(k)
        if f is None:
            raise TraceError("BadParameter", '%s: unknown field "%s"' % (where, k))
        sub = "%s.%s" % (where, k)
        if v is None:
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            m = getattr(msg, f.name)
            for mk, mv in v.items():
                if vf.type == FD.TYPE_MESSAGE:
                    dict_to_msg(mv, m[str(mk)], sub)
                else:
                    m[str(mk)] = str(mv) if vf.type == FD.TYPE_STRING else mv
        elif f.label == FD.LABEL_REPEATED:
            rep = getattr(msg, f.name)
            for item in (v if isinstance(v, list) else [v]):
                if f.type == FD.TYPE_MESSAGE:
                    dict_to_msg(item, rep.add(), sub)
                else:
                    rep.append(item)
        elif f.type == FD.TYPE_MESSAGE:
            dict_to_msg(v, getattr(msg, f.name), sub)
        elif f.type == FD.TYPE_ENUM:
            setattr(msg, f.name, f.enum_type.values_by_name[v].number if isinstance(v, str) else int(v))
        elif f.type == FD.TYPE_STRING:
            setattr(msg, f.name, str(v))
        elif f.type == FD.TYPE_BOOL:
            setattr(msg, f.name, bool(v))
        else:
            setattr(msg, f.name, int(v))
    return msg


# ---- validation ------------------------------------------------------------------

def q(s):
    """Go's %q for the strings the stand-in quotes."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def valid_label_key(k):
    return bool(LABEL_KEY_RE.match(k))


def check_metadata(md):
    """types.Metadata.CheckAndSetDefaults."""
    if not md.Name:
        raise TraceError("BadParameter", "missing parameter Name")
    if not md.Namespace:
        md.Namespace = DEFAULT_NAMESPACE
    for key in md.Labels:
        if not valid_label_key(key):
            raise TraceError("BadParameter", "invalid label key: %s" % q(key))
    origin = md.Labels.get(ORIGIN_LABEL, "")
    if origin and origin not in ORIGIN_VALUES:
        raise TraceError("BadParameter", "invalid origin value %s, must be one of [%s]"
                         % (q(origin), " ".join(ORIGIN_VALUES)))


def _go_url_parse_ok(s):
    # Go's url.Parse rejects control characters, bad %-escapes and a
    # leading-colon "missing protocol scheme"; urllib is more lenient.
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in s):
        return "net/url: invalid control character in URL"
    if re.search(r"%(?![0-9a-fA-F]{2})", s):
        return "invalid URL escape"
    if s.startswith(":"):
        return "missing protocol scheme"
    return None


def check_app(app):
    """types.AppV3.CheckAndSetDefaults (v17)."""
    app.Kind, app.Version = "app", "v3"
    check_metadata(app.Metadata)
    name = app.Metadata.Name
    for key in app.Spec.DynamicLabels:
        if not valid_label_key(key):
            raise TraceError("BadParameter", "app %s invalid label key: %s" % (q(name), q(key)))
    if not app.Spec.URI:
        if app.Spec.Cloud:
            app.Spec.URI = "cloud://%s" % app.Spec.Cloud
        else:
            raise TraceError("BadParameter", "app %s URI is empty" % q(name))
    if not app.Spec.Cloud and app.Spec.URI.startswith(AWS_CONSOLE_URL):
        app.Spec.Cloud = "AWS"
    if app.Spec.Cloud not in CLOUD_VALUES:
        raise TraceError("BadParameter", "app %s has unexpected Cloud value %s" % (q(name), q(app.Spec.Cloud)))
    public_addr = app.Spec.PublicAddr
    if public_addr and "//" not in public_addr:
        public_addr = "//" + public_addr
    err = _go_url_parse_ok(public_addr)
    if err:
        raise TraceError("BadParameter", "invalid PublicAddr format: parse %s: %s" % (q(public_addr), err))
    host = app.Spec.PublicAddr
    netloc = urllib.parse.urlsplit(public_addr).netloc
    if netloc:
        host = netloc
    if host.startswith(KUBE_ALPN_PREFIX):
        raise TraceError("BadParameter", "app %s DNS prefix found in %s public_url is reserved for internal usage"
                         % (q(KUBE_ALPN_PREFIX), q(app.Spec.PublicAddr)))
    if app.Spec.HasField("Rewrite") and app.Spec.Rewrite.JWTClaims not in JWT_CLAIMS:
        raise TraceError("BadParameter", "app %s has unexpected JWT rewrite value %s"
                         % (q(name), q(app.Spec.Rewrite.JWTClaims)))
    if len(app.Spec.TCPPorts):
        u = urllib.parse.urlsplit(app.Spec.URI)
        if u.scheme == "tcp":
            if u.port is not None or re.search(r":\d*$", u.netloc):
                raise TraceError("BadParameter", "TCP app URI %s must not include a port number when the "
                                 "app spec defines a list of ports" % q(app.Spec.URI))
            for pr in app.Spec.TCPPorts:
                if not 1 <= pr.Port <= 65535:
                    raise TraceError("BadParameter", "validating a port range of a TCP app: "
                                     "port %d must be between 1 and 65535" % pr.Port)
                if pr.EndPort and not (pr.Port < pr.EndPort <= 65535):
                    raise TraceError("BadParameter", "validating a port range of a TCP app: end port must "
                                     "be between %d and 65535" % (pr.Port + 1))


# ---- master's stricter app validation ----------------------------------------
# lib/services/app.go ValidateApp on master, run by CreateApp and UpdateApp:
# a lower-case DNS-1123 app name (dots and '_' allowed for dynamic apps), and
# a public_addr that is a bare lower-case DNS-1123 host name (no scheme, no
# port, not an IP).  Older releases accept what this refuses.  The name text
# is Teleport's; the public_addr texts follow its wording.

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL_US = re.compile(r"^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")


def _dns1123_subdomain(s, underscore=False):
    rx = _DNS1123_LABEL_US if underscore else _DNS1123_LABEL
    return bool(s) and len(s) <= 253 and all(len(p) <= 63 and rx.match(p) for p in s.split("."))


def strict_app_validation(server_version):
    """True for the releases that run ValidateApp on CreateApp/UpdateApp
    (the stand-in's --version master)."""
    return server_version.endswith("-dev")


def validate_app_master(app):
    name, addr = app.Metadata.Name, app.Spec.PublicAddr
    if not _dns1123_subdomain(name, underscore=True):
        raise TraceError("BadParameter", "application name %s must be a valid DNS subdomain (lowercase "
                         "alphanumeric, '-', '_' or '.', must start and end with alphanumeric, max 253 chars)"
                         % q(name))
    if not addr:
        return
    if "://" in addr:
        raise TraceError("BadParameter", "application %s public_addr %s must not contain a URL scheme"
                         % (q(name), q(addr)))
    if ":" in addr:
        raise TraceError("BadParameter", "application %s public_addr %s must not contain a port"
                         % (q(name), q(addr)))
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", addr):
        raise TraceError("BadParameter", "application %s public_addr %s must be a DNS name, not an IP address"
                         % (q(name), q(addr)))
    if not _dns1123_subdomain(addr):
        raise TraceError("BadParameter", "application %s public_addr %s must be a valid DNS subdomain "
                         "(lowercase alphanumeric, '-' or '.', max 253 chars)" % (q(name), q(addr)))


def check_app_server(srv, server_version):
    """types.AppServerV3.CheckAndSetDefaults + presence's ValidateNamespaceDefault."""
    srv.Kind, srv.Version = "app_server", "v3"
    check_metadata(srv.Metadata)
    if srv.Metadata.Namespace != DEFAULT_NAMESPACE:
        raise TraceError("BadParameter", "namespace %s must be %s"
                         % (q(srv.Metadata.Namespace), q(DEFAULT_NAMESPACE)))
    if not srv.Spec.HostID:
        raise TraceError("BadParameter", "missing app server HostID")
    if not srv.Spec.Version:
        srv.Spec.Version = server_version
    if not srv.Spec.HasField("App"):
        raise TraceError("BadParameter", "missing app server App")
    check_app(srv.Spec.App)


def check_token(tok):
    """types.ProvisionTokenV2.CheckAndSetDefaults (roles, bot, join method)."""
    tok.Kind, tok.Version = "token", "v2"
    check_metadata(tok.Metadata)
    if not len(tok.Spec.Roles):
        raise TraceError("BadParameter", "provisioning token is missing roles")
    canon = {r.lower(): r for r in SYSTEM_ROLES}
    roles = []
    for r in tok.Spec.Roles:
        c = canon.get(r.lower())
        if c is None:
            raise TraceError("BadParameter", "role %s is not registered" % r)
        if c in roles:
            raise TraceError("BadParameter", "duplicate role %s" % c)
        roles.append(c)
    del tok.Spec.Roles[:]
    tok.Spec.Roles.extend(roles)
    if "Bot" in roles and not tok.Spec.BotName:
        raise TraceError("BadParameter", 'token with role "Bot" must set bot_name')
    if tok.Spec.BotName and "Bot" not in roles:
        raise TraceError("BadParameter", 'can only set bot_name on token with role "Bot"')
    has_allow = len(tok.Spec.Allow) > 0
    if not tok.Spec.JoinMethod:
        tok.Spec.JoinMethod = "ec2" if has_allow else "token"
    jm = tok.Spec.JoinMethod
    if jm not in JOIN_METHODS:
        raise TraceError("BadParameter", "unknown join method %s" % q(jm))
    if jm == "token" and has_allow:
        raise TraceError("BadParameter", 'allow rules are not compatible with the "token" join method')
    if jm in ("ec2", "iam") and not has_allow:
        raise TraceError("BadParameter", "the %s join method requires defined token allow rules" % q(jm))
    if jm in ("spacelift", "tpm"):
        # lib/auth: enterprise-only join methods are rejected on OSS.
        raise TraceError("AccessDenied", "%s joining is only available in Teleport Enterprise" % jm)


# lib/defaults DatabaseProtocols
DATABASE_PROTOCOLS = ["postgres", "mysql", "mongodb", "oracle", "cockroachdb", "redis", "snowflake",
                      "sqlserver", "cassandra", "elasticsearch", "opensearch", "dynamodb", "clickhouse",
                      "clickhouse-http", "spanner"]


def _split_host_port(addr):
    """Go's net.SplitHostPort, error text included."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            return "address %s: missing ']' in address" % addr
        rest = addr[end + 1:]
        if not rest.startswith(":"):
            return "address %s: missing port in address" % addr
        return None
    if addr.count(":") == 0:
        return "address %s: missing port in address" % addr
    if addr.count(":") > 1:
        return "address %s: too many colons in address" % addr
    return None


def check_database(db):
    """types.DatabaseV3.CheckAndSetDefaults + services.ValidateDatabase (common cases)."""
    db.Kind, db.Version = "db", "v3"
    check_metadata(db.Metadata)
    name = db.Metadata.Name
    for key in db.Spec.DynamicLabels:
        if not valid_label_key(key):
            raise TraceError("BadParameter", "database %s invalid label key: %s" % (q(name), q(key)))
    if not db.Spec.Protocol:
        raise TraceError("BadParameter", "database %s protocol is empty" % q(name))
    if not db.Spec.URI:
        raise TraceError("BadParameter", "database %s URI is empty" % q(name))
    proto = db.Spec.Protocol
    if proto not in DATABASE_PROTOCOLS:
        raise TraceError("BadParameter", "unsupported database %s protocol %s, supported are: [%s]"
                         % (q(name), q(proto), " ".join(DATABASE_PROTOCOLS)))
    uri = db.Spec.URI
    if proto == "mongodb" and uri.startswith(("mongodb://", "mongodb+srv://")):
        return
    if proto == "redis":
        return
    if proto == "snowflake":
        if "snowflakecomputing.com" not in uri:
            raise TraceError("BadParameter", "Snowflake address should contain snowflakecomputing.com")
        return
    if proto in ("clickhouse", "clickhouse-http"):
        want = "clickhouse" if proto == "clickhouse" else "https"
        scheme = urllib.parse.urlsplit(uri).scheme
        if scheme != want:
            raise TraceError("BadParameter", "invalid uri schema: %s for %s database protocol" % (scheme, proto))
        return
    if proto in ("sqlserver", "spanner"):
        return   # not validated by the stand-in
    if proto in ("cassandra", "dynamodb") and db.Spec.AWS.Region and db.Spec.AWS.AccountID:
        return
    err = _split_host_port(uri)
    if err:
        raise TraceError("BadParameter", "invalid database %s address %s: %s" % (q(name), q(uri), err))


def all_labels(app):
    """AppV3.GetAllLabels: static labels combined with dynamic label results."""
    out = dict(app.Metadata.Labels)
    for k, v in app.Spec.DynamicLabels.items():
        out[k] = v.Result
    return out


def app_server_labels(srv):
    out = dict(srv.Metadata.Labels)
    if srv.Spec.HasField("App"):
        out.update(srv.Spec.App.Metadata.Labels)
        for k, v in srv.Spec.App.Spec.DynamicLabels.items():
            out[k] = v.Result
    return out


def mask_key_name(name):
    """backend.MaskKeyName: hide the first 75% of a secret name."""
    n = int(0.75 * len(name))
    return "*" * n + name[n:]
