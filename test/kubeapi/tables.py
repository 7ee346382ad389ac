"""Server-side printing: metav1 Table responses for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`.

Custom resources use their CRD's additionalPrinterColumns (a small JSONPath subset: .a.b, [n], [*],
[?(@.k=="v")]); the built-in kinds use a short fixed column set close to kubectl's.
"""
import datetime
import json
import re

from kutil import human_duration, parse_time


def _age(ts, now):
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return human_duration((now - t).total_seconds())


_tok_re = re.compile(r'\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["\']([^"\']*)["\']\)\]')


def jsonpath(obj, path):
    """Results of a simple JSONPath (list; empty when nothing matches)."""
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1]
    cur = [obj]
    pos = 0
    while pos < len(p):
        m = _tok_re.match(p, pos)
        if not m:
            return []
        pos = m.end()
        nxt = []
        for c in cur:
            if m.group(1) is not None:
                if isinstance(c, dict) and m.group(1) in c:
                    nxt.append(c[m.group(1)])
            elif m.group(2) is not None:
                if isinstance(c, list):
                    if m.group(2) == "*":
                        nxt.extend(c)
                    elif int(m.group(2)) < len(c):
                        nxt.append(c[int(m.group(2))])
            else:
                if isinstance(c, list):
                    for it in c:
                        v = it
                        for part in m.group(3).split("."):
                            v = v.get(part) if isinstance(v, dict) else None
                        if v is not None and str(v) == m.group(4):
                            nxt.append(it)
        cur = nxt
    return cur


def _cell(ctype, value, now):
    if value is None:
        return None
    if ctype == "date":
        if isinstance(value, str):
            return _age(value, now) if parse_time(value) else "<invalid>"
        return None
    if ctype == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if ctype == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if ctype == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _get(obj, *path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _node_status(o):
    for c in _get(o, "status", "conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return "Ready" if c.get("status") == "True" else "NotReady" if c.get("status") == "False" else "Unknown"
    return "Unknown"


def _ready(o):
    return f"{_get(o, 'status', 'readyReplicas') or 0}/{_get(o, 'spec', 'replicas') if _get(o, 'spec', 'replicas') is not None else 1}"


def _obj_ref(o):
    io = o.get("involvedObject") or {}
    return f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}"


def _last_seen(o, now):
    ts = o.get("lastTimestamp") or o.get("eventTime") or _get(o, "metadata", "creationTimestamp")
    return _age(ts, now) if ts else "<unknown>"


S = "string"
# (name, type, priority, getter(obj, now))
BUILTIN_COLUMNS = {
    ("", "namespaces"): [("Status", S, 0, lambda o, n: _get(o, "status", "phase"))],
    ("", "secrets"): [("Type", S, 0, lambda o, n: o.get("type")),
                      ("Data", "integer", 0, lambda o, n: len(o.get("data") or {}))],
    ("", "configmaps"): [("Data", "integer", 0, lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData") or {}))],
    ("", "nodes"): [("Status", S, 0, lambda o, n: _node_status(o))],
    ("", "services"): [("Type", S, 0, lambda o, n: _get(o, "spec", "type") or "ClusterIP"),
                       ("Cluster-IP", S, 0, lambda o, n: _get(o, "spec", "clusterIP") or "<none>")],
    ("", "pods"): [("Status", S, 0, lambda o, n: _get(o, "status", "phase") or "Pending")],
    ("apps", "deployments"): [("Ready", S, 0, lambda o, n: _ready(o)),
                              ("Up-to-date", "integer", 0, lambda o, n: _get(o, "status", "updatedReplicas") or 0),
                              ("Available", "integer", 0, lambda o, n: _get(o, "status", "availableReplicas") or 0)],
    ("apps", "statefulsets"): [("Ready", S, 0, lambda o, n: _ready(o))],
    ("coordination.k8s.io", "leases"): [("Holder", S, 0, lambda o, n: _get(o, "spec", "holderIdentity") or "")],
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"):
        [("Webhooks", "integer", 0, lambda o, n: len(o.get("webhooks") or []))],
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"):
        [("Webhooks", "integer", 0, lambda o, n: len(o.get("webhooks") or []))],
}


def _columns(res):
    """[(name, type, format, priority, description, getter)] for a resource."""
    name_col = ("Name", "string", "name", 0, "Name must be unique within a namespace.",
                lambda o, n: _get(o, "metadata", "name"))
    age_col = ("Age", "string", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.",
               lambda o, n: _age(_get(o, "metadata", "creationTimestamp"), n))
    if res.columns is not None:
        cols = [name_col]
        for c in res.columns:
            if not isinstance(c, dict):
                continue
            path, ctype = str(c.get("jsonPath", "")), str(c.get("type", "string"))

            def getter(o, n, path=path, ctype=ctype):
                r = jsonpath(o, path)
                return _cell(ctype, r[0], n) if r else None
            cols.append((str(c.get("name", "")), "string" if ctype == "date" else ctype, str(c.get("format", "")),
                         int(c.get("priority", 0) or 0), str(c.get("description", "")), getter))
        return cols
    if res.skey == ("", "events"):
        return [("Last Seen", S, "", 0, "", lambda o, n: _last_seen(o, n)),
                ("Type", S, "", 0, "", lambda o, n: o.get("type")),
                ("Reason", S, "", 0, "", lambda o, n: o.get("reason")),
                ("Object", S, "", 0, "", lambda o, n: _obj_ref(o)),
                ("Message", S, "", 0, "", lambda o, n: o.get("message")),
                ("Name", S, "name", 1, "", lambda o, n: _get(o, "metadata", "name"))]
    if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return [name_col, ("Created At", "date", "", 0, "", lambda o, n: _get(o, "metadata", "creationTimestamp"))]
    extra = [(c[0], c[1], "", c[2], "", c[3]) for c in BUILTIN_COLUMNS.get(res.skey, [])]
    return [name_col] + extra + [age_col]


def _partial(obj, res):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def to_table(res, objs, list_meta, include_object="Metadata", headers=True, now=None):
    """A meta.k8s.io/v1 Table for objs. include_object: None|Metadata|Object (the includeObject param)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cols = _columns(res)
    rows = []
    for o in objs:
        row = {"cells": [c[5](o, now) for c in cols]}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = _partial(o, res)
        rows.append(row)
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(list_meta or {})}
    if headers:
        t["columnDefinitions"] = [{"name": c[0], "type": c[1], "format": c[2], "description": c[4], "priority": c[3]}
                                  for c in cols]
    t["rows"] = rows
    return t


def wants_table(accept):
    """True if the Accept header asks for a meta.k8s.io Table first (before plain JSON)."""
    if not accept:
        return False
    for part in accept.split(","):
        params = {}
        bits = [b.strip() for b in part.split(";")]
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip()] = v.strip()
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
        if bits[0] in ("application/json", "*/*", "application/*") and "as" not in params:
            return False
    return False
