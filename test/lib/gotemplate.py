"""A small renderer for the subset of Go templates (text/template + a few sprig functions) that the
extension chart uses, so that the chart can be rendered and checked without Helm.

    from gotemplate import render_chart
    docs = render_chart("charts/gardener-extension-provider-equinix-metal", namespace="garden",
                        values={"replicaCount": 1})          # {template file: rendered text}

Supported: {{ pipeline }}, {{- -}} trimming, {{/* comments */}}, if / else if / else, range (with
$k, $v :=), with, define / include / template, variables ($ and $x :=), parentheses, and the
functions quote, squote, default, required, fail, toYaml, indent, nindent, join, sha256sum, print,
printf (%s %d %v), int, toString, trim, lower, upper, not, and, or, eq, ne, lt, le, gt, ge, empty,
hasKey, b64enc, list, dict. Anything else is an error naming the template and the construct, so a
chart change that needs more fails loudly instead of rendering wrongly.
"""
import base64
import copy
import hashlib
import os
import re

import yaml


class TemplateError(Exception):
    pass


class Fail(TemplateError):
    """`fail` or `required` in the chart: a message meant for the user."""


# ---- lexing --------------------------------------------------------------------------------------

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def _split(src, name):
    """Text and action tokens, with trimming applied."""
    out = []
    pos = 0
    for m in ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", m.group(2).strip(), bool(m.group(3))))
        pos = m.end()
    out.append(("text", src[pos:]))
    # right trim: the text after an action ending in " -}}"
    res = []
    trim_next = False
    for t in out:
        if t[0] == "text":
            res.append(("text", t[1].lstrip() if trim_next else t[1]))
            trim_next = False
        else:
            res.append(("action", t[1]))
            trim_next = t[2]
    return res


TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
                   r'|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)'
                   r'|(?P<op>:=|=|\||\(|\)|,)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))')


def _tokens(expr, where):
    toks = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{where}: cannot parse {expr[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "field" and val != "." and toks and toks[-1][0] == "op" and toks[-1][1] == ")":
            kind = "chain"
        toks.append((kind, val))
    return toks


# ---- parsing -------------------------------------------------------------------------------------

class Node:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def _parse(tokens, name):
    """A tree: list of nodes; control structures nest."""
    root = []
    stack = [(None, root)]
    defines = {}
    for t in tokens:
        cur = stack[-1][1]
        if t[0] == "text":
            if t[1]:
                cur.append(Node("text", text=t[1]))
            continue
        body = t[1]
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"{name}: unterminated comment")
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        where = f"{name}: {{{{ {body} }}}}"
        if word in ("if", "with"):
            n = Node(word, branches=[(rest, [])], else_body=None, where=where)
            cur.append(n)
            stack.append((n, n.branches[0][1]))
        elif word == "range":
            n = Node("range", expr=rest, body=[], else_body=None, where=where)
            cur.append(n)
            stack.append((n, n.body))
        elif word == "define":
            m = re.match(r'^"([^"]+)"$', rest)
            if not m:
                raise TemplateError(f"{where}: define needs a quoted name")
            n = Node("define", body=[], where=where)
            defines[m.group(1)] = n.body
            stack.append((n, n.body))
        elif word == "else":
            owner = stack[-1][0]
            if owner is None or owner.kind not in ("if", "with", "range"):
                raise TemplateError(f"{where}: else without if/with/range")
            stack.pop()
            if rest.startswith("if ") and owner.kind == "if":
                owner.branches.append((rest[3:].strip(), []))
                stack.append((owner, owner.branches[-1][1]))
            elif rest:
                raise TemplateError(f"{where}: unsupported else form")
            else:
                owner.else_body = []
                stack.append((owner, owner.else_body))
        elif word == "end":
            if stack[-1][0] is None:
                raise TemplateError(f"{where}: end without a block")
            stack.pop()
        elif word in ("block", "break", "continue"):
            raise TemplateError(f"{where}: {word} is not supported")
        else:
            cur.append(Node("action", expr=body, where=where))
    if len(stack) != 1:
        raise TemplateError(f"{name}: missing {{{{ end }}}} for {stack[-1][0].where}")
    return root, defines


# ---- values --------------------------------------------------------------------------------------

def truthy(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return _go_repr(v)
    return str(v)


def _go_repr(v):
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_repr(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_repr(x) for x in v) + "]"
    return to_text(v)


def _to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, width=1 << 20).rstrip("\n")


def _indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in to_text(s).split("\n"))


def _printf(fmt, *args):
    out = []
    it = iter(args)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            d = fmt[i + 1]
            i += 2
            if d == "%":
                out.append("%")
            elif d in "sdv":
                out.append(to_text(next(it)))
            elif d == "q":
                out.append('"' + to_text(next(it)).replace('"', '\\"') + '"')
            else:
                raise TemplateError(f"printf: unsupported verb %{d}")
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _cmp(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        raise TemplateError("comparison of booleans")
    return (a > b) - (a < b)


def _fail(msg):
    raise Fail(to_text(msg))


def _required(msg, v):
    if v is None or (isinstance(v, str) and v == ""):
        raise Fail(to_text(msg))
    return v


FUNCS = {
    "quote": lambda *a: " ".join('"' + to_text(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in a),
    "squote": lambda *a: " ".join("'" + to_text(x) + "'" for x in a),
    "default": lambda d, v=None: v if truthy(v) else d,
    "required": _required,
    "fail": _fail,
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "join": lambda sep, lst: to_text(sep).join(to_text(x) for x in (lst or [])),
    "sha256sum": lambda s: hashlib.sha256(to_text(s).encode()).hexdigest(),
    "b64enc": lambda s: base64.b64encode(to_text(s).encode()).decode(),
    "print": lambda *a: "".join(to_text(x) for x in a),
    "printf": _printf,
    "int": lambda v: int(float(v)) if v not in (None, "") else 0,
    "toString": to_text,
    "trim": lambda s: to_text(s).strip(),
    "lower": lambda s: to_text(s).lower(),
    "upper": lambda s: to_text(s).upper(),
    "not": lambda v: not truthy(v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: _cmp(a, b) < 0,
    "le": lambda a, b: _cmp(a, b) <= 0,
    "gt": lambda a, b: _cmp(a, b) > 0,
    "ge": lambda a, b: _cmp(a, b) >= 0,
    "empty": lambda v: not truthy(v),
    "hasKey": lambda d, k: isinstance(d, dict) and k in d,
    "list": lambda *a: list(a),
    "dict": lambda *a: {to_text(a[i]): a[i + 1] for i in range(0, len(a) - 1, 2)},
}
LAZY = {"and", "or"}


# ---- evaluation ----------------------------------------------------------------------------------

class Renderer:
    def __init__(self, templates, defines):
        self.templates = templates  # name -> tree
        self.defines = defines      # name -> tree
        self.depth = 0

    def render(self, name, dot):
        return self._exec(self.templates[name], dot, {"$": dot}, name)

    def _exec(self, nodes, dot, vars, name):
        out = []
        for n in nodes:
            if n.kind == "text":
                out.append(n.text)
            elif n.kind == "action":
                v = self._pipeline(n.expr, dot, vars, n.where, allow_assign=True)
                if v is not _ASSIGNED:
                    out.append(to_text(v))
            elif n.kind == "if":
                for cond, body in n.branches:
                    if truthy(self._pipeline(cond, dot, vars, n.where)):
                        out.append(self._exec(body, dot, dict(vars), name))
                        break
                else:
                    if n.else_body is not None:
                        out.append(self._exec(n.else_body, dot, dict(vars), name))
            elif n.kind == "with":
                v = self._pipeline(n.branches[0][0], dot, vars, n.where)
                if truthy(v):
                    out.append(self._exec(n.branches[0][1], v, dict(vars), name))
                elif n.else_body is not None:
                    out.append(self._exec(n.else_body, dot, dict(vars), name))
            elif n.kind == "range":
                expr = n.expr
                kv = re.match(r"^(\$[A-Za-z0-9_]+)\s*(?:,\s*(\$[A-Za-z0-9_]+))?\s*:=\s*(.*)$", expr, re.S)
                names = []
                if kv:
                    names = [x for x in (kv.group(1), kv.group(2)) if x]
                    expr = kv.group(3)
                v = self._pipeline(expr, dot, vars, n.where)
                if isinstance(v, dict):
                    items = [(k, v[k]) for k in sorted(v)]
                elif isinstance(v, (list, tuple)):
                    items = list(enumerate(v))
                elif v is None:
                    items = []
                elif isinstance(v, int):
                    items = [(i, i) for i in range(v)]
                else:
                    raise TemplateError(f"{n.where}: cannot range over {type(v).__name__}")
                if not items and n.else_body is not None:
                    out.append(self._exec(n.else_body, dot, dict(vars), name))
                for k, item in items:
                    vv = dict(vars)
                    if len(names) == 1:
                        vv[names[0]] = item
                    elif len(names) == 2:
                        vv[names[0]] = k
                        vv[names[1]] = item
                    out.append(self._exec(n.body, item, vv, name))
        return "".join(out)

    def include(self, tname, dot):
        self.depth += 1
        if self.depth > 50:
            raise TemplateError(f"include {tname}: nested too deeply")
        try:
            if tname in self.defines:
                return self._exec(self.defines[tname], dot, {"$": dot}, tname)
            if tname in self.templates:
                return self._exec(self.templates[tname], dot, {"$": dot}, tname)
            raise TemplateError(f"include: no template named {tname!r}")
        finally:
            self.depth -= 1

    def _pipeline(self, expr, dot, vars, where, allow_assign=False):
        toks = _tokens(expr, where)
        if allow_assign and len(toks) >= 2 and toks[0][0] == "var" and toks[1] == ("op", ":="):
            vars[toks[0][1]] = self._eval_pipe(toks[2:], dot, vars, where)
            return _ASSIGNED
        if allow_assign and len(toks) >= 2 and toks[0][0] == "var" and toks[1] == ("op", "="):
            if toks[0][1] not in vars:
                raise TemplateError(f"{where}: undefined variable {toks[0][1]}")
            vars[toks[0][1]] = self._eval_pipe(toks[2:], dot, vars, where)
            return _ASSIGNED
        return self._eval_pipe(toks, dot, vars, where)

    def _eval_pipe(self, toks, dot, vars, where):
        cmds = [[]]
        depth = 0
        for t in toks:
            if t == ("op", "(") :
                depth += 1
            elif t == ("op", ")"):
                depth -= 1
            if t == ("op", "|") and depth == 0:
                cmds.append([])
            else:
                cmds[-1].append(t)
        val = _NONE
        for c in cmds:
            if not c:
                raise TemplateError(f"{where}: empty command in pipeline")
            val = self._command(c, dot, vars, where, val)
        return val

    def _operands(self, toks, where):
        """Split a command's tokens into operands (parenthesised groups stay together)."""
        ops = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t == ("op", "("):
                depth = 1
                j = i + 1
                while j < len(toks) and depth:
                    if toks[j] == ("op", "("):
                        depth += 1
                    elif toks[j] == ("op", ")"):
                        depth -= 1
                    j += 1
                if depth:
                    raise TemplateError(f"{where}: unbalanced parentheses")
                group = ("group", toks[i + 1:j - 1])
                chain = []
                while j < len(toks) and toks[j][0] == "chain":
                    chain.append(toks[j][1])
                    j += 1
                ops.append(("grouped", group, chain))
                i = j
            else:
                ops.append(t)
                i += 1
        return ops

    def _value(self, op, dot, vars, where):
        if op[0] == "grouped":
            v = self._eval_pipe(op[1][1], dot, vars, where)
            for c in op[2]:
                v = _field(v, c, where)
            return v
        kind, val = op
        if kind == "str":
            return bytes(val[1:-1], "utf-8").decode("unicode_escape")
        if kind == "raw":
            return val[1:-1]
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "field":
            return dot if val == "." else _field(dot, val, where)
        if kind == "var":
            base, _, rest = val.partition(".")
            if base not in vars:
                raise TemplateError(f"{where}: undefined variable {base}")
            return _field(vars[base], "." + rest, where) if rest else vars[base]
        if kind == "ident":
            if val in ("true", "false"):
                return val == "true"
            if val == "nil":
                return None
            return self._call(val, [], dot, vars, where)
        raise TemplateError(f"{where}: unexpected {val!r}")

    def _call(self, fn, args, dot, vars, where):
        if fn == "include" or fn == "template":
            if len(args) != 2:
                raise TemplateError(f"{where}: include needs a name and a value")
            return self.include(to_text(args[0]), args[1])
        if fn not in FUNCS:
            raise TemplateError(f"{where}: unsupported function {fn!r}")
        try:
            return FUNCS[fn](*args)
        except Fail:
            raise
        except TemplateError as e:
            raise TemplateError(f"{where}: {e}")
        except TypeError as e:
            raise TemplateError(f"{where}: {fn}: {e}")

    def _command(self, toks, dot, vars, where, piped):
        ops = self._operands(toks, where)
        first = ops[0]
        if first[0] == "ident" and first[1] not in ("true", "false", "nil"):
            fn = first[1]
            if fn in LAZY:
                vals = [self._value(o, dot, vars, where) for o in ops[1:]]
                if piped is not _NONE:
                    vals.append(piped)
                if fn == "and":
                    for v in vals:
                        if not truthy(v):
                            return v
                    return vals[-1]
                for v in vals:
                    if truthy(v):
                        return v
                return vals[-1]
            args = [self._value(o, dot, vars, where) for o in ops[1:]]
            if piped is not _NONE:
                args.append(piped)
            return self._call(fn, args, dot, vars, where)
        if len(ops) != 1 or piped is not _NONE:
            raise TemplateError(f"{where}: cannot call a value")
        return self._value(first, dot, vars, where)


class _Sentinel:
    pass


_NONE = _Sentinel()
_ASSIGNED = _Sentinel()


def _field(v, path, where):
    for part in path.strip(".").split("."):
        if not part:
            continue
        if isinstance(v, dict):
            v = v.get(part)
        elif v is None:
            return None
        else:
            raise TemplateError(f"{where}: cannot read field {part!r} of {type(v).__name__}")
    return v


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def render_chart(chart_dir, namespace="garden", release="gardener-extension-provider-equinix-metal",
                 values=None):
    """Render every template of the chart: {"templates/x.yaml": text}. Raises Fail for `fail` and
    `required`, TemplateError for anything this renderer does not support."""
    with open(os.path.join(chart_dir, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        vals = yaml.safe_load(f) or {}
    vals = deep_merge(vals, values)
    cname = chart["name"]
    base = f"{cname}/templates"
    tdir = os.path.join(chart_dir, "templates")
    templates, defines = {}, {}
    for fn in sorted(os.listdir(tdir)):
        if not (fn.endswith(".yaml") or fn.endswith(".tpl")):
            continue
        with open(os.path.join(tdir, fn)) as f:
            src = f.read()
        tree, defs = _parse(_split(src, fn), fn)
        defines.update(defs)
        templates[f"{base}/{fn}"] = tree
    r = Renderer(templates, defines)
    out = {}
    for name in templates:
        fn = name.rsplit("/", 1)[1]
        if fn.startswith("_"):
            continue
        dot = {"Values": vals, "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
               "Chart": {"Name": cname, "Version": chart.get("version"), "AppVersion": chart.get("appVersion")},
               "Template": {"Name": name, "BasePath": base}, "Capabilities": {}}
        out["templates/" + fn] = r.render(name, dot)
    return out


def manifests(rendered):
    """All non-empty YAML documents of a render, in file order."""
    docs = []
    for name in sorted(rendered):
        for d in yaml.safe_load_all(rendered[name]):
            if d:
                docs.append(d)
    return docs
