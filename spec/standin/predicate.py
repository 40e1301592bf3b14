"""ListResources' PredicateExpression, as lib/services/parser.go
NewResourceExpression builds it on lib/utils/typical: Go expression syntax
(`&&`, `||`, `!`, `==`, `!=`, string literals, calls, selectors, index),
evaluated against one resource (for app servers: the app,
services.MatchResourceByFilters).

Identifiers: `name` (metadata.name), `labels.K` / `labels["K"]` (static and
dynamic labels; "" when absent), `resource.metadata.name`,
`resource.metadata.labels["K"]`, `health.status` ("" here), and any other
`resource.<json path>` (predicate.GetFieldByTag; otherwise "identifier %s
is not defined"). Functions: hasPrefix, equals, search, exists, split,
contains. Every error is BadParameter (INVALID_ARGUMENT)."""
import ast
import json

import resources as res
from rbac import TraceError


def _bad(msg):
    return TraceError("BadParameter", msg)


def _translate(expr):
    """Go expression text -> Python expression text (strings decoded)."""
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c == '"':
            j = i + 1
            while j < n and expr[j] != '"':
                j += 2 if expr[j] == "\\" else 1
            if j >= n:
                raise _bad("parsing predicate expression %s: string literal not terminated" % res.q(expr))
            try:
                out.append(repr(json.loads(expr[i:j + 1])))
            except ValueError:
                raise _bad("parsing predicate expression %s: invalid string literal" % res.q(expr))
            i = j + 1
        elif c == "`":
            j = expr.find("`", i + 1)
            if j < 0:
                raise _bad("parsing predicate expression %s: raw string literal not terminated" % res.q(expr))
            out.append(repr(expr[i + 1:j]))
            i = j + 1
        elif expr.startswith("&&", i):
            out.append(" and ")
            i += 2
        elif expr.startswith("||", i):
            out.append(" or ")
            i += 2
        elif c == "!" and not expr.startswith("!=", i):
            out.append(" not ")
            i += 1
        elif c in "'#;:{}@$%^*+/<>\\":
            raise _bad("parsing predicate expression %s: unexpected %s" % (res.q(expr), res.q(c)))
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Expression:
    def __init__(self, text):
        self.text = text
        try:
            self.tree = ast.parse(_translate(text).strip(), mode="eval").body
        except SyntaxError as e:
            raise _bad("parsing predicate expression %s: %s" % (res.q(text), e.msg))
        self._check(self.tree)

    def _check(self, node):
        """Parse-time checks typical makes: known functions, supported syntax."""
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise _bad("unsupported function: %s" % name)
            for a in node.args:
                self._check(a)
            if node.keywords:
                raise _bad("parsing predicate expression %s: unexpected keyword" % res.q(self.text))
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check(node.operand)
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                raise _bad("parsing predicate expression %s: unsupported comparison" % res.q(self.text))
            self._check(node.left)
            self._check(node.comparators[0])
        elif isinstance(node, ast.Subscript):
            self._check(node.value)
            self._check(node.slice)
        elif isinstance(node, (ast.Attribute, ast.Name, ast.Constant)):
            pass
        else:
            raise _bad("parsing predicate expression %s: unsupported expression %s"
                       % (res.q(self.text), type(node).__name__))

    def evaluate(self, resource):
        """resource: a protobuf message with Metadata (an AppV3 for app servers)."""
        v = self._eval(self.tree, resource)
        if not isinstance(v, bool):
            raise _bad("expression %s evaluated to %s, expected bool" % (res.q(self.text), type(v).__name__))
        return v

    # ---- evaluation -------------------------------------------------------------------
    def _eval(self, node, r):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, bool)):
                return node.value
            raise _bad("unsupported literal %r" % (node.value,))
        if isinstance(node, ast.BoolOp):
            want_and = isinstance(node.op, ast.And)
            for v in node.values:
                b = self._eval(v, r)
                if not isinstance(b, bool):
                    raise _bad("operands of %s must be bool" % ("&&" if want_and else "||"))
                if b != want_and:
                    return b
            return want_and
        if isinstance(node, ast.UnaryOp):
            b = self._eval(node.operand, r)
            if not isinstance(b, bool):
                raise _bad("operand of ! must be bool")
            return not b
        if isinstance(node, ast.Compare):
            a, b = self._eval(node.left, r), self._eval(node.comparators[0], r)
            if type(a) is not type(b):
                raise _bad("cannot compare %s with %s" % (type(a).__name__, type(b).__name__))
            return (a == b) if isinstance(node.ops[0], ast.Eq) else (a != b)
        if isinstance(node, ast.Call):
            args = [self._eval(a, r) for a in node.args]
            return FUNCTIONS[node.func.id](r, args)
        if isinstance(node, ast.Subscript):
            m = self._eval(node.value, r)
            k = self._eval(node.slice, r)
            if not isinstance(m, dict) or not isinstance(k, str):
                raise _bad("index expression needs a map and a string key")
            return m.get(k, "")
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self._ident(_dotted(node), r)
        raise _bad("unsupported expression")

    def _ident(self, fields, r):
        path = ".".join(fields)
        if path == "labels":
            return res.all_labels(r)
        if fields[0] == "labels" and len(fields) == 2:
            return res.all_labels(r).get(fields[1], "")
        if path in ("name", "resource.metadata.name"):
            return r.Metadata.Name
        if path == "resource.metadata.labels":
            return dict(r.Metadata.Labels)
        if path == "health.status":
            return ""
        if path in ("true", "false"):
            return path == "true"
        if fields[0] == "resource" and len(fields) > 1:
            v = res.msg_to_dict(r)
            for f in fields[1:]:
                if not isinstance(v, dict) or f not in v:
                    v = None
                    break
                v = v[f]
            if isinstance(v, (str, bool)):
                return v
            if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
                return v
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
        raise _bad("identifier %s is not defined" % path)


def _dotted(node):
    out = []
    while isinstance(node, ast.Attribute):
        out.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise _bad("unsupported selector")
    out.append(node.id)
    return out[::-1]


def _strings(name, args, n=None, variadic=False):
    if (n is not None and len(args) != n) or (variadic and not args):
        raise _bad("function %s: wrong number of arguments" % name)
    return args


def _search(r, args):
    # types.AppV3.MatchSearch: labels (keys and values), name, description,
    # public address; every value must be a case-insensitive substring of one.
    fields = []
    for k, v in res.all_labels(r).items():
        fields += [k, v]
    fields += [r.Metadata.Name, r.Metadata.Description]
    if hasattr(r.Spec, "PublicAddr"):
        fields.append(r.Spec.PublicAddr)
    fields = [f.lower() for f in fields]
    return all(any(str(v).lower() in f for f in fields) for v in args)


def _str2(name):
    def check(args):
        _strings(name, args, 2)
        if not all(isinstance(a, str) for a in args):
            raise _bad("function %s: arguments must be strings" % name)
        return args
    return check


FUNCTIONS = {
    "hasPrefix": lambda r, a: (lambda s, p: s.startswith(p))(*_str2("hasPrefix")(a)),
    "equals": lambda r, a: (lambda x, y: x == y)(*_str2("equals")(a)),
    "search": lambda r, a: _search(r, _strings("search", a, variadic=True)),
    "exists": lambda r, a: _strings("exists", a, 1)[0] != "",
    "split": lambda r, a: (lambda s, d: s.split(d))(*_str2("split")(a)),
    "contains": lambda r, a: (lambda lst, v: isinstance(lst, list) and v in lst)(*_strings("contains", a, 2)),
}
