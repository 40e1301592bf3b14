"""Table-driven proto.AuthService handlers, one per resource kind.

Apps and databases share `LabeledResource`, parameterised by a `KindSpec`
(kind, message classes, validation, RBAC kind and label selector, texts), as
their ServerWithRoles methods in Teleport's lib/auth/auth_with_roles.go
share one shape: rule check, then the existing resource (read through
Auth's cache, lib/auth/auth.go GetApp/GetDatabase), then the role's label
matchers (lib/services/role.go checkAccess), then the write."""
import rbac
import resources as res
from rbac import TraceError
from store import new_revision


def q(s):
    return res.q(s)


class KindSpec:
    def __init__(self, kind, table, single, plural, msg, list_msg, list_field, noun,
                 missing_noun, validate, validate_first, denied_extra=""):
        self.kind = kind                  # types.KindApp, types.KindDatabase: the RBAC kind
        self.table = table                # Store attribute
        self.single, self.plural = single, plural     # method names: GetApp / GetApps
        self.msg, self.list_msg, self.list_field = msg, list_msg, list_field
        self.noun = noun                  # AlreadyExists text: app "x" already exists
        self.missing_noun = missing_noun  # v16 cache NotFound text: application "x" doesn't exist
        self.validate = validate          # CheckAndSetDefaults (resources.py)
        # grpcserver.CreateDatabase/UpdateDatabase run services.ValidateDatabase
        # before the RBAC layer; apps are checked by the auth server after it.
        self.validate_first = validate_first
        self.denied_extra = denied_extra  # RoleSet.checkAccess additionalDeniedMessage


APP = KindSpec("app", "apps", "App", "Apps", "AppV3", "AppV3List", "Apps", "app",
               "application", res.check_app, validate_first=False)
DB = KindSpec("db", "databases", "Database", "Databases", "DatabaseV3", "DatabaseV3List", "Databases",
              "database", "database", res.check_database, validate_first=True,
              denied_extra="Confirm database user and name.")


def default_origin(msg):
    # grpcserver.CreateApp/UpdateApp/CreateDatabase/UpdateDatabase (v15+):
    # the origin label defaults to dynamic.
    if not msg.Metadata.Labels.get(res.ORIGIN_LABEL):
        msg.Metadata.Labels[res.ORIGIN_LABEL] = res.ORIGIN_DYNAMIC


class LabeledResource:
    """CRUD for one labelled kind (app or db)."""

    def __init__(self, auth, spec, on_change=None):
        self.auth, self.spec = auth, spec
        self.on_change = on_change or (lambda name: None)

    def table(self):
        return getattr(self.auth.store, self.spec.table)

    def _validate_late(self, msg):
        """CheckAndSetDefaults after the RBAC checks, and on master (apps)
        lib/services/app.go ValidateApp."""
        self.spec.validate(msg)
        if self.spec.kind == "app" and res.strict_app_validation(self.auth.server_version):
            res.validate_app_master(msg)

    def check_access(self, roles, msg):
        rbac.check_labels(roles, msg.Kind, res.all_labels(msg), extra=self.spec.denied_extra)

    def _cached(self, name):
        """authServer.GetApp / GetDatabase: the read goes through Auth's cache."""
        m = self.auth.read_view(self.spec.kind).get(name)
        if m is None:
            raise TraceError("NotFound", self.auth.cache_not_found(self.spec, name))
        return m

    def _backend_missing(self, name):
        # the write itself found nothing (the cache still had it)
        return TraceError("NotFound", "%s %s doesn't exist" % (self.spec.noun, q(name)))

    def get_all(self, req, ident):
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_LIST, rbac.VERB_READ)
        out = getattr(self.auth.t, self.spec.list_msg)()
        items = getattr(out, self.spec.list_field)
        with self.auth.store.lock:
            view = self.auth.read_view(self.spec.kind)
            for name in sorted(view):
                m = view[name]
                try:
                    self.check_access(roles, m)
                except TraceError:
                    continue
                items.add().CopyFrom(m)
        return out

    def get(self, req, ident):
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_READ)
        with self.auth.store.lock:
            m = self._cached(req.Name)
            self.check_access(roles, m)
            return self.auth.copy(m)

    def create(self, msg, ident):
        default_origin(msg)
        if self.spec.validate_first:
            self.spec.validate(msg)
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_CREATE)
        self.check_access(roles, msg)
        if not self.spec.validate_first:
            self._validate_late(msg)
        with self.auth.store.lock:
            if self.auth.live(self.table(), msg.Metadata.Name) is not None:
                raise TraceError("AlreadyExists", "%s %s already exists" % (self.spec.noun, q(msg.Metadata.Name)))
            msg.Metadata.Revision = new_revision()
            self.auth.put(self.spec.kind, msg.Metadata.Name, msg)
            self.on_change(msg.Metadata.Name)
            self.auth.store.save()
        return self.auth.pb.empty_pb2.Empty()

    def update(self, msg, ident):
        default_origin(msg)
        if self.spec.validate_first:
            self.spec.validate(msg)
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_UPDATE)
        with self.auth.store.lock:
            existing = self._cached(msg.Metadata.Name)
            self.check_access(roles, existing)
            self.check_access(roles, msg)
            if not self.spec.validate_first:
                self._validate_late(msg)
            if self.auth.live(self.table(), msg.Metadata.Name) is None:
                raise self._backend_missing(msg.Metadata.Name)
            # Unconditional write: the revision the client sent is not compared.
            msg.Metadata.Revision = new_revision()
            self.auth.put(self.spec.kind, msg.Metadata.Name, msg)
            self.on_change(msg.Metadata.Name)
            self.auth.store.save()
        return self.auth.pb.empty_pb2.Empty()

    def delete(self, req, ident):
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_DELETE)
        with self.auth.store.lock:
            m = self._cached(req.Name)
            self.check_access(roles, m)
            if self.auth.live(self.table(), req.Name) is None:
                raise self._backend_missing(req.Name)
            self.auth.delete(self.spec.kind, req.Name)
            self.on_change(req.Name)
            self.auth.store.save()
        return self.auth.pb.empty_pb2.Empty()

    def delete_all(self, req, ident):
        roles = self.auth.roles_of(ident)
        rbac.check_action(roles, self.spec.kind, rbac.VERB_LIST, rbac.VERB_DELETE)
        with self.auth.store.lock:
            view = self.auth.read_view(self.spec.kind)
            for name in sorted(view):
                try:
                    self.check_access(roles, view[name])
                except TraceError:
                    continue
                if self.auth.live(self.table(), name) is None:
                    raise self._backend_missing(name)
                self.auth.delete(self.spec.kind, name)
                self.on_change(name)
            self.auth.store.save()
        return self.auth.pb.empty_pb2.Empty()

    def methods(self):
        s = self.spec
        return {"Get" + s.plural: self.get_all, "Get" + s.single: self.get, "Create" + s.single: self.create,
                "Update" + s.single: self.update, "Delete" + s.single: self.delete,
                "DeleteAll" + s.plural: self.delete_all}


class AppServers:
    """UpsertApplicationServer / DeleteApplicationServer / DeleteAllApplicationServers
    (lib/services/local/presence.go: plain backend writes under
    /appServers/<namespace>/<hostID>/<name>)."""

    def __init__(self, auth):
        self.auth = auth

    def upsert(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_CREATE, rbac.VERB_UPDATE)
        srv = a.copy(req.Server)
        res.check_app_server(srv, a.server_version)
        res.go_non_null_times(srv)
        with a.store.lock:
            srv.Metadata.Revision = new_revision()
            a.put("app_server", "%s/%s" % (srv.Spec.HostID, srv.Metadata.Name), srv)
            a.store.save()
        ka = a.t.KeepAlive()
        res.go_zero(ka.Expires)       # non-nullable: an "empty" KeepAlive still carries it
        if res.expires_of(srv) is not None:
            ka.Type = a.t.KeepAlive.APP
            ka.Name = srv.Metadata.Name
            ka.Namespace = srv.Metadata.Namespace
            ka.HostID = srv.Spec.HostID
            ka.Expires.CopyFrom(srv.Metadata.Expires)
        return ka

    def delete(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_DELETE)
        key = "%s/%s" % (req.HostID, req.Name)
        with a.store.lock:
            if req.Namespace != res.DEFAULT_NAMESPACE or a.live(a.store.app_servers, key) is None:
                # lib/backend/lite/lite.go and memory/memory.go: key %q is not found
                raise TraceError("NotFound", 'key "/appServers/%s/%s/%s" is not found'
                                 % (req.Namespace, req.HostID, req.Name))
            a.delete("app_server", key)
            a.store.save()
        return a.pb.empty_pb2.Empty()

    def delete_all(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "app_server", rbac.VERB_LIST, rbac.VERB_DELETE)
        if not req.Namespace:
            raise TraceError("BadParameter", "missing parameter namespace")
        with a.store.lock:
            if req.Namespace == res.DEFAULT_NAMESPACE:
                for key in list(a.store.app_servers):
                    a.delete("app_server", key)
            a.store.save()
        return a.pb.empty_pb2.Empty()

    def methods(self):
        return {"UpsertApplicationServer": self.upsert, "DeleteApplicationServer": self.delete,
                "DeleteAllApplicationServers": self.delete_all}


class Tokens:
    """CreateTokenV2 / UpsertTokenV2 / GetTokens / GetToken / DeleteToken
    (lib/services/local/provisioning.go)."""

    def __init__(self, auth):
        self.auth = auth

    @staticmethod
    def defaults(tok):
        # lib/services/local/provisioning.go tokenToItem: CheckAndSetDefaults,
        # then Expires = p.Expiry(); a token without metadata.expires is
        # stored without one (the 30-minute server default went in v13).
        res.check_token(tok)

    def _token_of(self, req):
        if req.WhichOneof("Token") != "V2":
            raise TraceError("BadParameter", "token not set in request")
        tok = self.auth.copy(req.V2)
        self.defaults(tok)
        return tok

    def create(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_CREATE)
        tok = self._token_of(req)
        with a.store.lock:
            if a.live(a.store.tokens, tok.Metadata.Name) is not None:
                raise TraceError("AlreadyExists", a.token_exists())
            tok.Metadata.Revision = new_revision()
            a.put("token", tok.Metadata.Name, tok)
            a.store.save()
        return a.pb.empty_pb2.Empty()

    def upsert(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_CREATE, rbac.VERB_UPDATE)
        tok = self._token_of(req)
        with a.store.lock:
            tok.Metadata.Revision = new_revision()
            a.put("token", tok.Metadata.Name, tok)
            a.store.save()
        return a.pb.empty_pb2.Empty()

    def get_all(self, req, ident):
        """GetTokens(Empty) -> ProvisionTokenV2List: lib/auth/auth_with_roles.go
        ServerWithRoles.GetTokens checks a.action(KindToken, VerbList,
        VerbRead) (both verbs, no label matching) before returning every
        token, with its Metadata.Labels (lib/auth/grpcserver.go GetTokens
        wraps each as a ProvisionTokenV2); expired ones are gone from the
        backend.  Newer releases add AuthorizeAdminActionAllowReusedMFA, which
        asks nothing of an identity signed by tctl auth sign or tbot."""
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_LIST, rbac.VERB_READ)
        out = a.t.ProvisionTokenV2List()
        with a.store.lock:
            for name in sorted(a.store.tokens):
                tok = a.live(a.store.tokens, name)
                if tok is not None:
                    out.ProvisionTokens.add().CopyFrom(tok)
        return out

    @staticmethod
    def _found(tok, name):
        if tok is None:
            raise TraceError("NotFound", "provisioning token(%s) not found" % res.mask_key_name(name))
        return tok

    def _get(self, name):
        """The backend's token (DeleteToken: Services.DeleteToken)."""
        return self._found(self.auth.live(self.auth.store.tokens, name), name)

    def get(self, req, ident):
        """lib/auth/auth.go Server.GetToken reads Auth's cache
        (GetCache().GetToken); GetTokens reads the backend
        (Services.GetTokens)."""
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_READ)
        with a.store.lock:
            return a.copy(self._found(a.read_one("token", req.Name), req.Name))

    def delete(self, req, ident):
        a = self.auth
        roles = a.roles_of(ident)
        rbac.check_action(roles, "token", rbac.VERB_DELETE)
        with a.store.lock:
            self._get(req.Name)
            a.delete("token", req.Name)
            a.store.save()
        return a.pb.empty_pb2.Empty()

    def methods(self):
        return {"CreateTokenV2": self.create, "UpsertTokenV2": self.upsert, "GetTokens": self.get_all,
                "GetToken": self.get, "DeleteToken": self.delete}
