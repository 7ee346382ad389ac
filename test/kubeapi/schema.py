"""Validation and pruning of custom resources against a CRD's structural openAPIV3Schema.

Supported: type (object/array/string/integer/number/boolean), properties, additionalProperties,
required, items, enum, nullable, pattern, format (date-time, byte, int32, int64), minimum/maximum,
minLength/maxLength, minItems/maxItems, anyOf (type check only), x-kubernetes-int-or-string,
x-kubernetes-preserve-unknown-fields, and the CEL rule "self == oldSelf" (immutability). Other CEL
rules are ignored. Unknown fields are pruned (reported for fieldValidation Strict/Warn); null values
of non-nullable object fields are dropped, as the real apiserver does.
"""
import base64
import binascii
import re

from kutil import FieldError, forbidden_field, invalid_value, required, type_error, unsupported_value, parse_time

_MISSING = object()
_PRUNE = object()
_re_cache = {}

META_KEYS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
             "ownerReferences", "finalizers", "managedFields")


def _regex(p):
    r = _re_cache.get(p)
    if r is None:
        try:
            r = re.compile(p)
        except re.error:
            r = False
        _re_cache[p] = r
    return r


def _join(path, key):
    return f"{path}.{key}" if path else key


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _type_ok(v, t):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return _is_int(v)
    if t == "number":
        return _is_int(v) or isinstance(v, float)
    if t == "boolean":
        return isinstance(v, bool)
    return True


class Checker:
    """One validation pass; collects errors and unknown-field paths."""

    def __init__(self):
        self.errors = []
        self.unknown = []

    def check(self, v, s, path, old=_MISSING, in_object=True):
        """Validate v against schema s; returns the pruned value, or _PRUNE to drop the field."""
        if not isinstance(s, dict) or not s:
            return v
        if v is None:
            if s.get("nullable"):
                return None
            if in_object:
                return _PRUNE
            self.errors.append(type_error(path, v, s.get("type", "object")))
            return v
        self._cel(v, s, path, old)
        if s.get("x-kubernetes-int-or-string"):
            if not (_is_int(v) or isinstance(v, str)):
                self.errors.append(type_error(path, v, "integer or string"))
                return v
            self._scalar(v, s, path, "string" if isinstance(v, str) else "integer")
            return v
        any_of = s.get("anyOf")
        if isinstance(any_of, list) and any_of and "type" not in s:
            types = [b.get("type") for b in any_of if isinstance(b, dict) and b.get("type")]
            if types and not any(_type_ok(v, t) for t in types):
                self.errors.append(type_error(path, v, " or ".join(types)))
                return v
        t = s.get("type")
        if t and not _type_ok(v, t):
            self.errors.append(type_error(path, v, t))
            return v
        if "enum" in s and isinstance(s["enum"], list) and v not in s["enum"]:
            self.errors.append(unsupported_value(path, v, s["enum"]))
        if isinstance(v, dict):
            return self._object(v, s, path, old)
        if isinstance(v, list):
            return self._array(v, s, path, old)
        self._scalar(v, s, path, t)
        return v

    def _cel(self, v, s, path, old):
        rules = s.get("x-kubernetes-validations")
        if not isinstance(rules, list):
            return
        for r in rules:
            if not isinstance(r, dict):
                continue
            rule = re.sub(r"\s+", "", str(r.get("rule", "")))
            if rule in ("self==oldSelf", "oldSelf==self") and old is not _MISSING and old != v:
                msg = r.get("message") or "failed rule: " + str(r.get("rule"))
                tname = "object" if isinstance(v, dict) else "array" if isinstance(v, list) else \
                    "string" if isinstance(v, str) else "integer" if _is_int(v) else "number" \
                    if isinstance(v, float) else "boolean"
                self.errors.append(FieldError("FieldValueInvalid", path, f'Invalid value: "{tname}": {msg}'))

    def _object(self, v, s, path, old):
        props = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        addl = s.get("additionalProperties")
        preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        out = {}
        olddict = old if isinstance(old, dict) else {}
        for k, x in v.items():
            sub = _join(path, k)
            if k in props:
                r = self.check(x, props[k], sub, olddict.get(k, _MISSING))
            elif isinstance(addl, dict):
                r = self.check(x, addl, sub, olddict.get(k, _MISSING))
            elif addl is True or preserve or (not props and addl is None and "type" not in s):
                r = x
            else:
                self.unknown.append(sub)
                continue
            if r is not _PRUNE:
                out[k] = r
        req = s.get("required")
        if isinstance(req, list):
            for k in req:
                if k not in out:
                    self.errors.append(required(_join(path, k)))
        if "maxProperties" in s and len(out) > s["maxProperties"]:
            self.errors.append(FieldError("FieldValueTooMany", path, f"Too many: {len(out)}: must have at most {s['maxProperties']} items"))
        return out

    def _array(self, v, s, path, old):
        items = s.get("items")
        out = []
        oldlist = old if isinstance(old, list) else None
        for i, x in enumerate(v):
            o = oldlist[i] if oldlist is not None and i < len(oldlist) else _MISSING
            r = self.check(x, items, f"{path}[{i}]", o, in_object=False) if isinstance(items, dict) else x
            out.append(x if r is _PRUNE else r)
        if "minItems" in s and len(out) < s["minItems"]:
            self.errors.append(invalid_value(path, len(out), f"must have at least {s['minItems']} items"))
        if "maxItems" in s and len(out) > s["maxItems"]:
            self.errors.append(FieldError("FieldValueTooMany", path, f"Too many: {len(out)}: must have at most {s['maxItems']} items"))
        return out

    def _scalar(self, v, s, path, t):
        if isinstance(v, str):
            if "maxLength" in s and len(v) > s["maxLength"]:
                self.errors.append(FieldError("FieldValueTooLong", path, f"Too long: may not be more than {s['maxLength']} bytes"))
            if "minLength" in s and len(v) < s["minLength"]:
                self.errors.append(invalid_value(path, v, f"{path} in body should be at least {s['minLength']} chars long"))
            p = s.get("pattern")
            if isinstance(p, str):
                rx = _regex(p)
                if rx and not rx.search(v):
                    self.errors.append(invalid_value(path, v, f"{path} in body should match '{p}'"))
            f = s.get("format")
            if f == "date-time" and parse_time(v) is None:
                self.errors.append(invalid_value(path, v, f"{path} in body must be of type date-time"))
            elif f == "byte":
                try:
                    base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError):
                    self.errors.append(invalid_value(path, v, f"{path} in body must be of type byte"))
        elif _is_int(v) or isinstance(v, float):
            f = s.get("format")
            if f == "int32" and _is_int(v) and not (-2**31 <= v < 2**31):
                self.errors.append(invalid_value(path, v, f"{path} in body must be of type int32"))
            if "minimum" in s and isinstance(s["minimum"], (int, float)) and v < s["minimum"]:
                self.errors.append(invalid_value(path, v, f"{path} in body should be greater than or equal to {s['minimum']}"))
            if "maximum" in s and isinstance(s["maximum"], (int, float)) and v > s["maximum"]:
                self.errors.append(invalid_value(path, v, f"{path} in body should be less than or equal to {s['maximum']}"))


def validate_custom(obj, schema, old=None):
    """Check a custom resource (without metadata) against its root schema.

    Returns (pruned_object, errors, unknown_field_paths). metadata is passed through untouched.
    """
    c = Checker()
    if not isinstance(schema, dict):
        return obj, [], []
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    out = {}
    olddict = old if isinstance(old, dict) else {}
    for k, v in obj.items():
        if k in ("apiVersion", "kind", "metadata"):
            out[k] = v
            continue
        if k in props:
            r = c.check(v, props[k], k, olddict.get(k, _MISSING) if old is not None else _MISSING)
            if r is not _PRUNE:
                out[k] = r
        elif preserve or not props:
            out[k] = v
        else:
            c.unknown.append(k)
    req = schema.get("required")
    if isinstance(req, list):
        for k in req:
            if k not in out and k not in ("apiVersion", "kind", "metadata"):
                c.errors.append(required(k))
    return out, c.errors, c.unknown


_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(name, field, label_only=False):
    """DNS-1123 subdomain (or label) name check; returns a list of FieldError."""
    if label_only:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            return [invalid_value(field, name, "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                                  "characters or '-', and must start and end with an alphanumeric character")]
        return []
    if len(name) > 253 or not _DNS1123_SUB.match(name):
        return [invalid_value(field, name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                              "characters, '-' or '.', and must start and end with an alphanumeric character")]
    return []


def _check_qualified_key(k, field):
    errs = []
    parts = k.split("/")
    if len(parts) > 2 or not parts[-1]:
        return [invalid_value(field, k, "name part must be non-empty and consist of alphanumeric characters, "
                              "'-', '_' or '.', and must start and end with an alphanumeric character")]
    if len(parts) == 2:
        prefix, name = parts
        if not prefix or len(prefix) > 253 or not _DNS1123_SUB.match(prefix):
            errs.append(invalid_value(field, k, "prefix part must be a lowercase RFC 1123 subdomain"))
    else:
        name = parts[0]
    if len(name) > 63 or not _LABEL_NAME.match(name):
        errs.append(invalid_value(field, k, "name part must consist of alphanumeric characters, '-', '_' or '.', "
                                  "and must start and end with an alphanumeric character"))
    return errs


def check_metadata(meta):
    """ObjectMeta checks common to all kinds (labels, annotations, finalizers, ownerReferences types).

    Returns (errors, bad_request_message_or_None). Type mismatches are 400s (decode errors), value
    problems are 422 field errors.
    """
    errs = []
    for fld in ("labels", "annotations"):
        m = meta.get(fld)
        if m is None:
            continue
        if not isinstance(m, dict):
            return [], f"metadata.{fld} must be a map of strings"
        for k, v in m.items():
            if not isinstance(v, str):
                return [], f"metadata.{fld}[{k!r}] must be a string"
            errs += _check_qualified_key(k, f"metadata.{fld}")
            if fld == "labels" and (len(v) > 63 or not _LABEL_NAME.match(v)):
                errs.append(invalid_value(f"metadata.labels", v, "a valid label must be an empty string or consist "
                                          "of alphanumeric characters, '-', '_' or '.', and must start and end "
                                          "with an alphanumeric character"))
        if fld == "annotations" and sum(len(k) + len(v) for k, v in m.items()) > 256 * 1024:
            errs.append(FieldError("FieldValueTooLong", "metadata.annotations", "Too long: must have at most 262144 bytes"))
    fin = meta.get("finalizers")
    if fin is not None:
        if not isinstance(fin, list) or not all(isinstance(f, str) for f in fin):
            return [], "metadata.finalizers must be a list of strings"
        for i, f in enumerate(fin):
            errs += _check_qualified_key(f, f"metadata.finalizers[{i}]")
    owners = meta.get("ownerReferences")
    if owners is not None:
        if not isinstance(owners, list) or not all(isinstance(o, dict) for o in owners):
            return [], "metadata.ownerReferences must be a list of objects"
        for i, o in enumerate(owners):
            for k in ("apiVersion", "kind", "name", "uid"):
                if not o.get(k):
                    errs.append(required(f"metadata.ownerReferences[{i}].{k}"))
    for fld in ("name", "generateName", "namespace", "resourceVersion", "uid"):
        if fld in meta and meta[fld] is not None and not isinstance(meta[fld], str):
            return [], f"metadata.{fld} must be a string"
    return errs, None


__all__ = ["validate_custom", "check_name", "check_metadata", "META_KEYS", "forbidden_field"]
