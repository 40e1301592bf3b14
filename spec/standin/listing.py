"""ListResources (proto.AuthService), as lib/auth/auth_with_roles.go
ListResources / listResourcesWithSort and lib/services/local/presence.go
FakePaginate serve it. The stand-in stores app servers only; the other
paginated kinds list empty."""
import predicate
import databases
import rbac
import resources as res
from rbac import TraceError

DEFAULT_CHUNK_SIZE = 1000          # apidefaults.DefaultChunkSize

# auth_with_roles.go ListResources: kinds with real pagination (node needs
# only `list`, the others `list` and `read`); anything else is NotImplemented.
PAGINATED_KINDS = ("node", "db_server", "db_service", "app_server", "kube_server", "windows_desktop",
                   "windows_desktop_service", "user_group", "saml_idp_service_provider", "git_server")
# listResourcesWithSort: kinds fake pagination serves.
SORTABLE_KINDS = ("node", "app_server", "saml_idp_service_provider", "db_server", "kube_cluster", "kube_server",
                  "windows_desktop", "user_group")
# api/types/app_server.go AppServers.SortByCustom (fields of the server's app).
APP_SERVER_SORT = {"name": lambda s: s.Spec.App.Metadata.Name,
                   "description": lambda s: s.Spec.App.Metadata.Description,
                   "publicAddr": lambda s: s.Spec.App.Spec.PublicAddr}


def q(s):
    return res.q(s)


def check_and_set_defaults(req):
    """proto.ListResourcesRequest.CheckAndSetDefaults -> (namespace, limit)."""
    namespace = req.Namespace or res.DEFAULT_NAMESPACE
    limit = req.Limit or DEFAULT_CHUNK_SIZE
    if limit < 0:
        raise TraceError("BadParameter", "negative parameter limit")
    return namespace, limit


class ListResources:
    def __init__(self, auth):
        self.auth = auth

    def _check_access(self, roles, srv):
        # resourceChecker.CanAccess: an AppServer is checked as its app.
        rbac.check_labels(roles, srv.Spec.App.Kind, res.all_labels(srv.Spec.App))

    @staticmethod
    def _match_filters(srv, req, expr):
        """services.MatchResourceByFilters for an app server: the predicate,
        the labels and the search keywords, all against the app."""
        if expr is not None and not expr.evaluate(srv.Spec.App):
            return False
        labels = res.app_server_labels(srv)
        for k, v in req.Labels.items():
            if labels.get(k) != v:
                return False
        if req.SearchKeywords:
            app = srv.Spec.App
            fields = []
            for k, v in labels.items():
                fields += [k, v]
            fields += [srv.Metadata.Name, app.Metadata.Description, app.Spec.PublicAddr]
            fields = [f.lower() for f in fields]
            for kw in req.SearchKeywords:
                if not any(kw.lower() in f for f in fields):
                    return False
        return True

    @staticmethod
    def _expression(req):
        # services.NewResourceExpression, parsed before any resource is read.
        return predicate.Expression(req.PredicateExpression) if req.PredicateExpression else None

    def handle(self, req, ident):
        # proto.ListResourcesRequest.RequiresFakePagination
        if req.SortBy.Field or req.NeedTotalCount or req.ResourceType == "kube_cluster":
            return self._with_sort(req, ident)
        namespace, limit = check_and_set_defaults(req)
        if req.ResourceType not in PAGINATED_KINDS:
            raise TraceError("NotImplemented", "resource type %s does not support pagination" % req.ResourceType)
        roles = self.auth.roles_of(ident)
        verbs = [rbac.VERB_LIST] if req.ResourceType == "node" else [rbac.VERB_LIST, rbac.VERB_READ]
        rbac.check_action(roles, req.ResourceType, *verbs)
        expr = self._expression(req)
        if req.ResourceType == "db_server" and namespace == res.DEFAULT_NAMESPACE:
            return databases.list_db_servers(self, req, ident, limit)
        resp = self.auth.a.ListResourcesResponse()
        if req.ResourceType != "app_server" or namespace != res.DEFAULT_NAMESPACE:
            return resp
        with self.auth.store.lock:
            view = self.auth.read_view("app_server")
            for key in sorted(k for k in view if k >= req.StartKey):
                # The limit+1-th item read sets NextKey before any check: the
                # next page may turn out empty (RBAC, filters).
                if len(resp.Resources) == limit:
                    resp.NextKey = key
                    break
                srv = view[key]
                try:
                    self._check_access(roles, srv)
                except TraceError as e:
                    if e.kind == "AccessDenied":
                        continue
                    raise
                if self._match_filters(srv, req, expr):
                    resp.Resources.add().AppServer.CopyFrom(srv)
        return resp

    def _with_sort(self, req, ident):
        """listResourcesWithSort + FakePaginate."""
        namespace, limit = check_and_set_defaults(req)
        if req.ResourceType not in SORTABLE_KINDS:
            raise TraceError("NotImplemented", "resource type %s is not supported for listResourcesWithSort"
                             % q(req.ResourceType))
        resp = self.auth.a.ListResourcesResponse()
        items = []
        if req.ResourceType == "app_server" and namespace == res.DEFAULT_NAMESPACE:
            # ServerWithRoles.GetApplicationServers: list+read, then the servers
            # whose app the caller may access.
            roles = self.auth.roles_of(ident)
            rbac.check_action(roles, "app_server", rbac.VERB_LIST, rbac.VERB_READ)
            with self.auth.store.lock:
                view = self.auth.read_view("app_server")
                for key in sorted(view):
                    try:
                        self._check_access(roles, view[key])
                    except TraceError as e:
                        if e.kind == "AccessDenied":
                            continue
                        raise
                    items.append((key, view[key]))
            if req.SortBy.Field:
                g = APP_SERVER_SORT.get(req.SortBy.Field)
                if g is None:
                    raise TraceError("NotImplemented", "sorting by field %s for resource %s is not supported"
                                     % (q(req.SortBy.Field), q("app_server")))
                items.sort(key=lambda kv: g(kv[1]), reverse=req.SortBy.IsDesc)
        expr = self._expression(req)
        filtered = [(k, s) for k, s in items if self._match_filters(s, req, expr)]
        # FakePaginate: StartKey is a pagination key (<HostID>/<Name>); one
        # that is not in the list starts from the beginning.
        start = 0
        if req.StartKey:
            for i, (k, _) in enumerate(filtered):
                if k == req.StartKey:
                    start = i
                    break
        end = start + limit
        if end < len(filtered):
            resp.NextKey = filtered[end][0]
        for _, srv in filtered[start:end]:
            resp.Resources.add().AppServer.CopyFrom(srv)
        resp.TotalCount = len(filtered)
        return resp

    def methods(self):
        return {"ListResources": self.handle}
