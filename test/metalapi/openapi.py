"""Validate JSON bodies against the Equinix Metal OpenAPI 3.0 spec with python3-jsonschema.

The spec's schemas are OpenAPI 3.0 schema objects, a dialect of JSON Schema draft 4. They are converted
once into one draft-4 document:

  * `#/components/schemas/X` references become `#/definitions/X` of that document, so every reference
    resolves locally (no RefResolver/referencing API, which differs between jsonschema versions);
  * `nullable: true` becomes a `"null"` member of `type` (and of `enum` when there is one);
  * OpenAPI-only keywords (`discriminator`, `xml`, `externalDocs`, `example`, `deprecated`, `x-*`) are
    dropped; siblings of `$ref` are ignored by draft 4 as by OpenAPI 3.0.

Formats: date-time (RFC 3339), date, uuid, ipv4 and email are checked; OpenAPI's numeric formats
(int32, float, ...) are not formats of JSON Schema and are ignored.

List responses (an object schema with array properties of referenced items, e.g. DeviceList) are checked
as the envelope plus each item on its own; an item whose JSON text was valid before is not checked
again. That is equivalent (the list schemas put no constraint on the arrays but their items) and makes
paging through hundreds of identical-looking devices cheap.

    spec = Spec("/path/equinix-metal-openapi.json")
    errs = spec.validate_response("/devices/{id}", "get", 200, body)   # [] when valid
    tmpl = spec.match("/devices/6f1c...")                                  # "/devices/{id}"
"""
import datetime
import hashlib
import ipaddress
import json
import re

import jsonschema

_DROP = {"discriminator", "xml", "externalDocs", "example", "deprecated"}
_REF_PREFIX = "#/components/schemas/"
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def convert(node):
    """A draft-4 copy of an OpenAPI 3.0 schema object (see the module comment)."""
    if isinstance(node, list):
        return [convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in _DROP or k.startswith("x-") or k == "nullable":
            continue
        if k == "$ref" and isinstance(v, str) and v.startswith(_REF_PREFIX):
            out[k] = "#/definitions/" + v[len(_REF_PREFIX):]
        elif k in ("properties", "definitions", "patternProperties"):
            out[k] = {name: convert(s) for name, s in v.items()}
        else:
            out[k] = convert(v)
    if node.get("nullable") is True:
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
        elif "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _format_checker():
    fc = jsonschema.FormatChecker(formats=())

    @fc.checks("date-time", raises=ValueError)
    def _dt(v):
        if not isinstance(v, str):
            return True
        if not _DATETIME_RE.match(v):
            return False
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    @fc.checks("date", raises=ValueError)
    def _date(v):
        if not isinstance(v, str):
            return True
        if not _DATE_RE.match(v):
            return False
        datetime.date.fromisoformat(v)
        return True

    @fc.checks("uuid")
    def _uuid(v):
        return not isinstance(v, str) or bool(_UUID_RE.match(v))

    @fc.checks("ipv4", raises=ValueError)
    def _ipv4(v):
        if isinstance(v, str):
            ipaddress.IPv4Address(v)
        return True

    @fc.checks("email")
    def _email(v):
        return not isinstance(v, str) or "@" in v

    return fc


class Spec:
    """One OpenAPI document, its operations and cached draft-4 validators."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.path = path
        self.definitions = {n: convert(s) for n, s in self.doc["components"]["schemas"].items()}
        self._params = self.doc["components"].get("parameters", {})
        self._fc = _format_checker()
        self._cache = {}
        self._memo = {}
        self._templates = []
        for tmpl in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
            # Literal segments beat parameters: sort by number of parameters.
            self._templates.append((tmpl.count("{"), re.compile(rx), tmpl))
        self._templates.sort(key=lambda x: x[0])

    def match(self, path):
        """The spec path template a concrete path (after /metal/v1, no query) belongs to, or None."""
        for _n, rx, tmpl in self._templates:
            if rx.match(path):
                return tmpl
        return None

    def operation(self, tmpl, method):
        return self.doc["paths"].get(tmpl, {}).get(method.lower())

    def _validator(self, key, schema):
        v = self._cache.get(key)
        if v is None:
            root = {"definitions": self.definitions, "allOf": [convert(schema)]}
            v = jsonschema.Draft4Validator(root, format_checker=self._fc)
            self._cache[key] = v
        return v

    def schema_validator(self, name):
        """Validator for one named schema of components.schemas."""
        return self._validator(("schema", name), {"$ref": _REF_PREFIX + name})

    def _list_items(self, schema):
        """{property: item schema name} when schema is a $ref to a list envelope, else {}."""
        ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
        if not ref.startswith(_REF_PREFIX):
            return {}
        target = self.doc["components"]["schemas"].get(ref[len(_REF_PREFIX):], {})
        out = {}
        for prop, ps in target.get("properties", {}).items():
            items = ps.get("items", {}) if ps.get("type") == "array" else {}
            if set(ps) <= {"type", "items", "description"} and set(items) == {"$ref"} and \
                    items["$ref"].startswith(_REF_PREFIX):
                out[prop] = items["$ref"][len(_REF_PREFIX):]
        return out

    def _validate(self, key, schema, body):
        split = self._list_items(schema) if isinstance(body, dict) else {}
        split = {p: n for p, n in split.items() if isinstance(body.get(p), list)}
        if not split:
            return self._errors(self._validator(key, schema), body)
        envelope = dict(body)
        for p in split:
            envelope[p] = []
        errs = self._errors(self._validator(key, schema), envelope)
        for p, name in split.items():
            v = self.schema_validator(name)
            for i, item in enumerate(body[p]):
                mk = (name, hashlib.sha1(json.dumps(item, sort_keys=True).encode()).digest())
                if mk in self._memo:
                    continue
                item_errs = self._errors(v, item)
                if item_errs:
                    errs += [f"{p}/{i}/{e}" if not e.startswith("(root)") else f"{p}/{i}{e[6:]}"
                             for e in item_errs]
                    if len(errs) >= 10:
                        return errs[:10]
                else:
                    if len(self._memo) > 50000:
                        self._memo.clear()
                    self._memo[mk] = True
        return errs

    @staticmethod
    def _errors(validator, body):
        out = []
        for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            msg = e.message[:300]
            if e.context:
                best = jsonschema.exceptions.best_match(e.context)
                bwhere = "/".join(str(p) for p in best.absolute_path) or "(root)"
                msg += f" (closest: {bwhere}: {best.message[:200]})"
            out.append(f"{where}: {msg}")
            if len(out) >= 10:
                break
        return out

    def validate_response(self, tmpl, method, status, body, has_body=None):
        """Problems of one response (status code int, body = parsed JSON or None) as sentences.

        A status the operation does not declare is accepted for 4xx/5xx when the body is an `Error`
        (the spec says errors use it everywhere); an undeclared 2xx/3xx is a problem.
        """
        if has_body is None:
            has_body = body is not None
        op = self.operation(tmpl, method)
        if op is None:
            return [f"{method.upper()} {tmpl} is not an operation of the spec"]
        resp = op.get("responses", {}).get(str(status)) or op.get("responses", {}).get("default")
        if resp is None:
            if status >= 400:
                if not has_body:
                    return []
                return self._errors(self.schema_validator("Error"), body)
            return [f"status {status} is not declared for {method.upper()} {tmpl}"]
        content = resp.get("content", {}).get("application/json")
        if content is None:
            return [f"status {status} of {method.upper()} {tmpl} has no body, but one was sent"] \
                if has_body else []
        if not has_body:
            return [f"status {status} of {method.upper()} {tmpl} needs a JSON body, none was sent"]
        return self._validate(("resp", tmpl, method.lower(), str(status)), content["schema"], body)

    def validate_request(self, tmpl, method, body):
        """Problems of a request body against the operation's requestBody schema ([] if it has none)."""
        op = self.operation(tmpl, method)
        if op is None or "requestBody" not in op:
            return []
        content = op["requestBody"].get("content", {}).get("application/json")
        if content is None:
            return []
        v = self._validator(("req", tmpl, method.lower()), content["schema"])
        return self._errors(v, body)
