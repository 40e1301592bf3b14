"""ListResources (proto.AuthService), as lib/auth/auth_with_roles.go
ListResources / listResourcesWithSort and lib/services/local/presence.go
FakePaginate serve it. The stand-in stores app servers only; the other
paginated kinds list empty."""
import rbac
import resources as res
from rbac import TraceError

DEFAULT_CHUNK_SIZE = 1000          # apidefaults.DefaultChunkSize

# Kinds presence.ListResources paginates.
PAGINATED_KINDS = ("node", "db_server", "db_service", "app_server", "kube_server", "windows_desktop",
                   "windows_desktop_service", "user_group")


def q(s):
    return res.q(s)


class ListResources:
    def __init__(self, auth):
        self.auth = auth

    def _check_app_access(self, roles, app):
        rbac.check_labels(roles, "app", "app_labels", res.all_labels(app))

    def _match_filters(self, srv, req):
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

    def handle(self, req, ident):
        # ListResourcesRequest.CheckAndSetDefaults
        namespace = req.Namespace or res.DEFAULT_NAMESPACE
        limit = req.Limit
        if limit == 0:
            limit = DEFAULT_CHUNK_SIZE
        if limit < 0:
            raise TraceError("BadParameter", "negative parameter limit")
        roles = self.auth.roles_of(ident)
        verbs = [rbac.VERB_LIST] if req.ResourceType == "node" else [rbac.VERB_LIST, rbac.VERB_READ]
        rbac.check_action(roles, req.ResourceType, *verbs)
        if req.ResourceType not in PAGINATED_KINDS and req.ResourceType != "kube_cluster":
            # dynamic resources (app, db) included: use GetApps/GetDatabases
            raise TraceError("NotImplemented", "resource type %s does not support pagination" % req.ResourceType)
        if req.PredicateExpression:
            raise TraceError("NotImplemented", "the Auth stand-in does not evaluate PredicateExpression")
        resp = self.auth.a.ListResourcesResponse()
        if req.ResourceType != "app_server" or namespace != res.DEFAULT_NAMESPACE:
            return resp
        with self.auth.store.lock:
            keys = sorted(self.auth.store.app_servers)
            visible = []
            fake = bool(req.SortBy.Field) or req.NeedTotalCount
            for key in keys:
                if not fake and key < req.StartKey:
                    continue
                srv = self.auth.live(self.auth.store.app_servers, key)
                if srv is None:
                    continue
                try:
                    self._check_app_access(roles, srv.Spec.App)
                except TraceError:
                    continue      # RBAC-denied items are skipped, not counted
                if not self._match_filters(srv, req):
                    continue
                visible.append((key, srv))
                if not fake and len(visible) > limit:
                    break
            if fake:
                return self._fake_paginate(visible, req, limit, resp)
            for key, srv in visible[:limit]:
                resp.Resources.add().AppServer.CopyFrom(srv)
            if len(visible) > limit:
                resp.NextKey = visible[limit][0]
        return resp

    def _fake_paginate(self, items, req, limit, resp):
        """local.FakePaginate: sort the full list, StartKey is a numeric offset."""
        field = req.SortBy.Field or "name"
        getters = {"name": lambda s: s.Metadata.Name,
                   "description": lambda s: s.Spec.App.Metadata.Description,
                   "publicaddr": lambda s: s.Spec.App.Spec.PublicAddr,
                   "hostname": lambda s: s.Spec.Hostname}
        g = getters.get(field.lower())
        if g is None:
            raise TraceError("NotImplemented", "sorting by field %s for resource %s is not supported"
                             % (q(field), q("app_server")))
        items = sorted(items, key=lambda kv: g(kv[1]), reverse=req.SortBy.IsDesc)
        start = 0
        if req.StartKey:
            try:
                start = int(req.StartKey)
            except ValueError:
                raise TraceError("BadParameter", "invalid start key %s" % q(req.StartKey))
        page = items[start:start + limit]
        for _, srv in page:
            resp.Resources.add().AppServer.CopyFrom(srv)
        if start + limit < len(items):
            resp.NextKey = str(start + limit)
        if req.NeedTotalCount:
            resp.TotalCount = len(items)
        return resp

    def methods(self):
        return {"ListResources": self.handle}
