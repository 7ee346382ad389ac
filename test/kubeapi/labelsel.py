"""Label and field selectors (the query parameters labelSelector and fieldSelector).

parse_labels / parse_fields return a predicate obj -> bool or raise SelectorError (a 400).
"""
import re


class SelectorError(ValueError):
    pass


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VAL = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_key_re = re.compile("^" + _KEY + "$")
_val_re = re.compile("^" + _VAL + "$")


def _split_top(s):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _req(part):
    p = part.strip()
    if not p:
        raise SelectorError("found '', expected: !, identifier, or 'end of string'")
    m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", p)
    if m:
        key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
        _check_key(key)
        for v in vals:
            _check_val(v)
        vs = set(vals)
        if op == "in":
            return lambda lb: key in lb and lb[key] in vs
        return lambda lb: key not in lb or lb[key] not in vs
    if p.startswith("!"):
        key = p[1:].strip()
        _check_key(key)
        return lambda lb: key not in lb
    for op in ("==", "!=", "=", ">", "<"):
        i = p.find(op)
        if i > 0:
            key, val = p[:i].strip(), p[i + len(op):].strip()
            _check_key(key)
            if op in (">", "<"):
                try:
                    n = int(val)
                except ValueError:
                    raise SelectorError(f"for 'Gt', 'Lt' operators, the value must be an integer: {val}") from None

                def num(lb, key=key, n=n, op=op):
                    try:
                        x = int(lb[key])
                    except (KeyError, ValueError):
                        return False
                    return x > n if op == ">" else x < n
                return num
            _check_val(val)
            if op == "!=":
                return lambda lb: lb.get(key) != val
            return lambda lb: key in lb and lb[key] == val
    _check_key(p)
    return lambda lb: p in lb


def _check_key(k):
    if not _key_re.match(k) or len(k.split("/")[-1]) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label key \"{k}\"")


def _check_val(v):
    if len(v) > 63 or not _val_re.match(v):
        raise SelectorError(f"unable to parse requirement: invalid label value: \"{v}\"")


def parse_labels(s):
    if s is None or s.strip() == "":
        return None
    reqs = [_req(p) for p in _split_top(s)]

    def pred(obj):
        lb = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(lb) for r in reqs)
    return pred


# Field labels every kind supports, plus the extra ones the built-in kinds register.
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EXTRA_FIELDS = {
    ("", "events"): ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    ("", "secrets"): ("type",),
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "status.phase", "status.podIP", "status.nominatedNodeName"),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "namespaces"): ("status.phase",),
}


def _field_value(obj, path):
    if path == "source":
        return ((obj.get("source") or {}).get("component")) or ""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append(v[i + 1])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def _split_fields(s):
    parts, cur, i = [], [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if s[i] == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(s[i])
        i += 1
    parts.append("".join(cur))
    return parts


def parse_fields(s, skey):
    """Field selector for the resource with store key skey; equality and inequality only."""
    if s is None or s.strip() == "":
        return None
    allowed = _COMMON_FIELDS + _EXTRA_FIELDS.get(skey, ())
    reqs = []
    for part in _split_fields(s):
        p = part.strip()
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", p)
        if not m:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{p}'")
        field, op, val = m.group(1).strip(), m.group(2), _unescape(m.group(3).strip())
        if field not in allowed:
            raise SelectorError(f'field label not supported: {field}')
        reqs.append((field, op == "!=", val))

    def pred(obj):
        for field, neg, val in reqs:
            eq = _field_value(obj, field) == val
            if eq == neg:
                return False
        return True
    return pred


def single_name(s):
    """The name of an equality metadata.name selector (used to short-cut lookups), else None."""
    if not s:
        return None
    parts = _split_fields(s)
    for p in parts:
        m = re.match(r"^\s*metadata\.name\s*(==|=)(.*)$", p)
        if m:
            return _unescape(m.group(2).strip())
    return None
