"""Teleport role evaluation, reduced to what the Auth API checks for apps,
app servers, databases and tokens (lib/services/role.go, api/types/role.go).

* Rules: a role allows kind+verb when a rule lists the kind (or '*') and the
  verb (or '*'); deny rules are checked first. Every role set also carries
  Teleport's implicit role (DefaultImplicitRules: read+list on node, app,
  app_server, db, db_server, ... for everybody), except the role set of the
  built-in Nop role of a client without a certificate (services.NewRoleSet:
  "unauthenticated Nop role should not have any privileges").
* Labels: `app_labels` / `db_labels` as services.MatchLabels: empty selector
  matches nothing, {'*': '*'} matches everything, otherwise every selector key
  must be present and its value must match one of the selector values; a
  value is a glob ('*' wildcard) unless written as a `^...$` regexp
  (utils.SliceMatchesRegex). Deny labels are checked first.
"""
import re


class TraceError(Exception):
    """A gravitational/trace error: kind names the gRPC code (api/trail)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def access_denied(msg):
    return TraceError("AccessDenied", msg)


VERB_LIST, VERB_READ, VERB_CREATE, VERB_UPDATE, VERB_DELETE = "list", "read", "create", "update", "delete"
RO = [VERB_READ, VERB_LIST]

# lib/services/role.go DefaultImplicitRules (the subset of kinds relevant here
# plus the rest of the list for completeness).
IMPLICIT_RULES = [
    {"resources": [k], "verbs": RO} for k in (
        "node", "proxy", "auth_server", "reverse_tunnel", "cluster_auth_preference", "cluster_name",
        "ssh_session", "app_server", "remote_cluster", "kube_server", "db_server", "db", "app",
        "windows_desktop_service", "windows_desktop", "dynamic_windows_desktop", "kube_cluster",
        "vnet_config", "spiffe_federation")
] + [{"resources": ["cert_authority"], "verbs": ["readnosecrets", "list"]},
     {"resources": ["usage_event"], "verbs": ["create"]}]


def _as_list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]


def _labels(sel):
    """Role label selector (YAML: value or list of values) -> {key: [values]}."""
    if not sel:
        return {}
    return {str(k): _as_list(v) for k, v in sel.items()}


class Role:
    def __init__(self, doc):
        if not isinstance(doc, dict) or doc.get("kind") != "role":
            raise TraceError("BadParameter", "expected kind role")
        meta = doc.get("metadata") or {}
        self.name = meta.get("name") or ""
        if not self.name:
            raise TraceError("BadParameter", "missing parameter Name")
        self.version = doc.get("version") or "v7"
        if self.version not in ("v3", "v4", "v5", "v6", "v7", "v8"):
            raise TraceError("BadParameter", "unrecognized role version: %s" % self.version)
        spec = doc.get("spec") or {}
        self.doc = doc
        self.allow = self._cond(spec.get("allow") or {}, allow=True)
        self.deny = self._cond(spec.get("deny") or {}, allow=False)

    def _cond(self, c, allow):
        rules = []
        for r in c.get("rules") or []:
            rules.append({"resources": _as_list(r.get("resources")), "verbs": _as_list(r.get("verbs")),
                          "where": r.get("where") or ""})
        out = {"rules": rules}
        for key in ("app_labels", "db_labels", "node_labels"):
            sel = c.get(key)
            # RoleV6.CheckAndSetDefaults: v3/v4 roles default unset allow
            # labels to wildcard; v5+ leave them empty (no access).
            if allow and sel is None and self.version in ("v3", "v4"):
                sel = {"*": "*"}
            out[key] = _labels(sel)
        imp = c.get("impersonate") or {}
        out["impersonate"] = {"users": _as_list(imp.get("users")), "roles": _as_list(imp.get("roles"))}
        return out


def _rule_matches(rule, kind, verb):
    if rule.get("where"):
        # `where` predicates are not evaluated by the stand-in: a rule with a
        # where clause never matches (fail closed).
        return False
    kinds, verbs = rule["resources"], rule["verbs"]
    return (kind in kinds or "*" in kinds) and (verb in verbs or "*" in verbs)


def check_rule(roles, kind, verb):
    """RoleSet.CheckAccessToRule for one verb."""
    for role in roles:
        if any(_rule_matches(r, kind, verb) for r in role.deny["rules"]):
            raise access_denied('access denied to perform action "%s" on "%s"' % (verb, kind))
    for role in roles:
        if any(_rule_matches(r, kind, verb) for r in role.allow["rules"]):
            return
    raise access_denied('access denied to perform action "%s" on "%s"' % (verb, kind))


def check_action(roles, kind, *verbs):
    """ServerWithRoles.action(namespace, kind, verbs...): all verbs needed."""
    for v in verbs:
        check_rule(roles, kind, v)


def glob_to_regexp(s):
    return re.escape(s).replace(r"\*", "(.*)")


def slice_matches_regex(value, exprs):
    for e in exprs:
        if not (e.startswith("^") and e.endswith("$")):
            e = "^" + glob_to_regexp(e) + "$"
        try:
            if re.match(e, value):
                return True
        except re.error as ex:
            raise TraceError("BadParameter", "failed parsing regexp \"%s\": %s" % (e, ex))
    return False


def match_labels(selector, target):
    """services.MatchLabels(selector, target) -> bool."""
    if not selector:
        return False
    if selector.get("*") == ["*"]:
        return True
    for key, values in selector.items():
        if key not in target:
            return False
        if "*" in values:
            continue
        if not slice_matches_regex(target[key], values):
            return False
    return True


# api/types/role.go RoleV6.GetLabelMatchers: the role selector that applies
# to each kind; any other kind is BadParameter("can't get label matchers for
# resource kind %q"). The stand-in parses app_labels, db_labels and
# node_labels; the other selectors never match.
LABEL_MATCHER_KEYS = {
    "remote_cluster": "cluster_labels", "node": "node_labels", "kube_cluster": "kubernetes_labels",
    "app": "app_labels", "saml_idp_service_provider": "app_labels", "db": "db_labels",
    "db_service": "db_service_labels", "windows_desktop": "windows_desktop_labels",
    "dynamic_windows_desktop": "windows_desktop_labels", "windows_desktop_service": "windows_desktop_labels",
    "user_group": "group_labels", "git_server": "github_permissions", "workload_identity": "workload_identity_labels",
}


def check_labels(roles, kind, labels, extra=""):
    """RoleSet.checkAccess for a resource of `kind` with these labels (MFA
    treated as verified). `extra` is Teleport's additionalDeniedMessage
    (databases have one). lib/services/role.go checkRoleLabelsMatch asks each
    role for its label matchers for the resource's own Kind, so a resource
    whose Kind has none (a wrong or empty kind) is BadParameter before any
    label is compared."""
    if roles and kind not in LABEL_MATCHER_KEYS:
        raise TraceError("BadParameter", "can't get label matchers for resource kind %s" % _q(kind))
    labels_key = LABEL_MATCHER_KEYS.get(kind)
    msg = "access to %s denied. User does not have permissions. %s" % (kind, extra)
    for role in roles:
        if match_labels(role.deny.get(labels_key) or {}, labels):
            raise access_denied(msg)
    for role in roles:
        if match_labels(role.allow.get(labels_key) or {}, labels):
            return
    raise access_denied(msg)


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def role_set(roles, nop=False):
    """services.NewRoleSet: the roles plus the implicit role, unless the set
    is the built-in Nop role alone (then it is empty: no privileges)."""
    if nop:
        return []
    return list(roles) + [IMPLICIT_ROLE]


IMPLICIT_ROLE = Role({"kind": "role", "version": "v7", "metadata": {"name": "default-implicit-role"},
                      "spec": {"allow": {"rules": IMPLICIT_RULES}}})
