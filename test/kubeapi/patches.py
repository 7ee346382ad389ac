"""PATCH bodies: RFC 7386 merge patch, RFC 6902 JSON patch, and Kubernetes strategic merge patch.

All functions take and return fresh JSON values and never modify their inputs.
Errors are raised as PatchError(code, message): 400 for a malformed patch, 422 for a patch that does
not apply (as kube-apiserver does for a failed JSON-patch "test").
"""
from kutil import jcopy


class PatchError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, everything else (arrays too) replaces."""
    if not isinstance(patch, dict):
        return jcopy(patch)
    out = jcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge_patch(out.get(k), v)
        else:
            out[k] = jcopy(v)
    return out


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _split(path):
    if not isinstance(path, str):
        raise PatchError(400, "JSON patch path must be a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(400, f'JSON patch path "{path}" must start with "/"')
    return [_unescape(t) for t in path[1:].split("/")]


def _index(container, tok, path, allow_end=False):
    if tok == "-" and allow_end:
        return len(container)
    if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        raise PatchError(422, f'JSON patch: invalid array index "{tok}" in path "{path}"')
    i = int(tok)
    limit = len(container) + (1 if allow_end else 0)
    if i >= limit:
        raise PatchError(422, f'JSON patch: array index {i} out of bounds in path "{path}"')
    return i


def _parent(doc, toks, path):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, path)]
        else:
            raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')
    return cur


def _get(doc, path):
    toks = _split(path)
    if not toks:
        return doc
    par = _parent(doc, toks, path)
    last = toks[-1]
    if isinstance(par, dict):
        if last not in par:
            raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')
        return par[last]
    if isinstance(par, list):
        return par[_index(par, last, path)]
    raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')


def _add(doc, path, value):
    toks = _split(path)
    if not toks:
        return value
    par = _parent(doc, toks, path)
    last = toks[-1]
    if isinstance(par, dict):
        par[last] = value
    elif isinstance(par, list):
        par.insert(_index(par, last, path, allow_end=True), value)
    else:
        raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')
    return doc


def _remove(doc, path):
    toks = _split(path)
    if not toks:
        raise PatchError(422, "JSON patch: cannot remove the whole document")
    par = _parent(doc, toks, path)
    last = toks[-1]
    if isinstance(par, dict):
        if last not in par:
            raise PatchError(422, f'JSON patch: unable to remove nonexistent key: {last}: missing value')
        return par.pop(last)
    if isinstance(par, list):
        return par.pop(_index(par, last, path))
    raise PatchError(422, f'JSON patch: doc is missing path: "{path}": missing value')


def json_patch(target, ops):
    """RFC 6902 on a copy of target. A failed "test" is 422, like kube-apiserver."""
    if not isinstance(ops, list):
        raise PatchError(400, "JSON patch must be a JSON array of operations")
    doc = jcopy(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(400, f"JSON patch operation {i} must be an object with an \"op\"")
        kind = op["op"]
        path = op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(400, f'JSON patch operation {i} ("{kind}") is missing "value"')
        if kind == "add":
            doc = _add(doc, path, jcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            toks = _split(path)
            if not toks:
                doc = jcopy(op["value"])
            else:
                par = _parent(doc, toks, path)
                if isinstance(par, dict):
                    par[toks[-1]] = jcopy(op["value"])
                else:
                    par[_index(par, toks[-1], path)] = jcopy(op["value"])
        elif kind == "move":
            frm = op.get("from")
            v = _get(doc, frm)
            _remove(doc, frm)
            doc = _add(doc, path, v)
        elif kind == "copy":
            v = jcopy(_get(doc, op.get("from")))
            doc = _add(doc, path, v)
        elif kind == "test":
            try:
                v = _get(doc, path)
            except PatchError:
                raise PatchError(422, f'testing value {path} failed: test failed') from None
            if not _json_equal(v, op["value"]):
                raise PatchError(422, f'testing value {path} failed: test failed')
        else:
            raise PatchError(400, f'JSON patch operation {i}: unknown op "{kind}"')
    return doc


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


# --- strategic merge patch ------------------------------------------------------------------------
# Merge keys of the list fields of the built-in kinds we serve (from the Go struct tags of core/v1,
# apps/v1 and admissionregistration/v1). Lists not named here are replaced wholesale.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "webhooks": "name", "secrets": "name",
    "resourceClaims": "name", "addresses": "type", "taints": "key",
}
PRIMITIVE_MERGE = {"finalizers"}


def _list_key(field, items):
    if field == "ports":
        for it in items:
            if isinstance(it, dict):
                return "containerPort" if "containerPort" in it else "port"
        return "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target, patch):
    """Kubernetes strategic merge patch with a fixed table of list merge keys.

    Supports the directives $patch (replace/delete/merge), $retainKeys, $deleteFromPrimitiveList/<f>
    and $setElementOrder/<f>.
    """
    if not isinstance(patch, dict):
        raise PatchError(400, "strategic merge patch must be a JSON object")
    r = _smp_map(target if isinstance(target, dict) else {}, patch)
    return {} if r is None else r


def _smp_map(orig, patch):
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return {k: jcopy(v) for k, v in body.items() if not k.startswith("$")}
    if directive not in (None, "merge"):
        raise PatchError(400, f'unknown $patch directive "{directive}"')
    out = jcopy(orig)
    retain = body.pop("$retainKeys", None)
    orders = {}
    for k in list(body):
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = body.pop(k)
        elif k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            drop = body.pop(k) or []
            if isinstance(out.get(f), list):
                out[f] = [x for x in out[f] if x not in drop]
    for k, v in body.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            cur = out.get(k)
            r = _smp_map(cur if isinstance(cur, dict) else {}, v)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        elif isinstance(v, list):
            out[k] = _smp_list(k, out.get(k), v)
        else:
            out[k] = jcopy(v)
    for f, order in orders.items():
        if isinstance(out.get(f), list) and isinstance(order, list):
            out[f] = _apply_order(f, out[f], order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(field, orig, patch):
    orig = orig if isinstance(orig, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [jcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if field in PRIMITIVE_MERGE:
        out = list(orig)
        for p in patch:
            if p not in out:
                out.append(p)
        return out
    key = _list_key(field, patch + orig)
    if not key or not all(isinstance(p, dict) for p in patch):
        return jcopy([p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
    out = jcopy(orig)
    for p in patch:
        kv = p.get(key)
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == kv), None)
        if p.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            r = _smp_map({}, p)
            if r is not None:
                out.append(r)
        else:
            r = _smp_map(out[idx], p)
            if r is None:
                out.pop(idx)
            else:
                out[idx] = r
    return out


def _apply_order(field, items, order):
    key = None if field in PRIMITIVE_MERGE else _list_key(field, items)
    if key is None and any(isinstance(x, (dict, list)) for x in list(items) + list(order)):
        return items

    def ident(x):
        return x.get(key) if key and isinstance(x, dict) else x
    pos = {}
    for i, o in enumerate(order):
        pos.setdefault(ident(o) if isinstance(o, dict) else o, i)
    ranked = sorted(enumerate(items), key=lambda t: (pos.get(ident(t[1]), len(order)), t[0]))
    return [x for _, x in ranked]
