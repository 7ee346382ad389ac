"""Object storage, write semantics and the bounded event history of the test kube-apiserver.

One lock serialises every write; a global counter gives each write a new resourceVersion and one
history event (ADDED/MODIFIED/DELETED). Stored objects are never modified in place (every write
builds a new dict), so readers and watch streams may serialise them after releasing the lock.

The history keeps at least the last `history` events; a watch or an exact list from a
resourceVersion older than that window (or older than the last compaction) gets 410 Expired.
"""
import base64
import binascii
import bisect
import json
import random
import threading
import time
import uuid

import resources as resmod
from kutil import (STALE, ApiError, FieldError, already_exists, bad_request, conflict, forbidden, invalid,
                   jcopy, not_found, now_rfc3339, required)
from patches import PatchError, json_patch, merge_patch, strategic_merge_patch
import builtin_types
from schema import META_KEYS, check_metadata, check_name, validate_custom

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Event:
    __slots__ = ("rv", "type", "skey", "key", "obj", "prev", "raw")

    def __init__(self, rv, etype, skey, key, obj, prev):
        self.rv = rv
        self.type = etype
        self.skey = skey
        self.key = key
        self.obj = obj
        self.prev = prev
        self.raw = None  # cached JSON encoding of {"type","object"} (plain JSON watches)


class Expired(Exception):
    """A resourceVersion or continue token older than the history window."""

    def __init__(self, requested, oldest, message=None):
        super().__init__(message or f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest
        self.message = message or f"too old resource version: {requested} ({oldest})"


def expired_error(e, list_meta=None):
    return ApiError(410, "Expired", e.message, list_meta=list_meta)


def parse_rv(s, what="resourceVersion"):
    try:
        v = int(s)
    except (TypeError, ValueError):
        raise bad_request(f'invalid {what}: "{s}": resource versions are decimal integers on this server') from None
    if v < 0:
        raise bad_request(f'invalid {what}: "{s}"')
    return v


def encode_continue(rv, key, inconsistent=False):
    tok = {"v": 1, "rv": rv, "start": list(key)}
    if inconsistent:
        tok["i"] = 1
    return base64.urlsafe_b64encode(json.dumps(tok, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_continue(s):
    try:
        pad = "=" * (-len(s) % 4)
        tok = json.loads(base64.urlsafe_b64decode(s + pad))
        rv = int(tok["rv"])
        key = tuple(tok["start"])
        if len(key) != 2 or not all(isinstance(x, str) for x in key):
            raise ValueError
        return rv, key, bool(tok.get("i"))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad_request(f'continue key is not valid: "{s}"') from None


def _strip_for_generation(res, obj):
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    if res.status:
        out.pop("status", None)
    return out


def _same_except_rv(a, b):
    ma = dict(a.get("metadata") or {})
    mb = dict(b.get("metadata") or {})
    ma.pop("resourceVersion", None)
    mb.pop("resourceVersion", None)
    if ma != mb:
        return False
    skip = ("metadata", "apiVersion")  # versions of one CRD share storage
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}


class Store:
    def __init__(self, registry, history=1000):
        self.registry = registry
        self.max_hist = max(1, int(history))
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1
        self.data = {}        # skey -> {(ns, name): obj}
        self.sorted = {}      # skey -> sorted key list (None = stale)
        self.hist = []
        self.hist_first = 2   # rv of hist[0] (the next rv when empty)
        self.compact_rv = 0   # nothing at or before this rv may be replayed
        self.expired_mode = "event"
        self.crd_hooks = []   # callables(event_type, crd_obj) run under the lock after CRD writes

    # ---- history ------------------------------------------------------------------------------
    def oldest_rv(self):
        """Smallest cursor rv from which every later event is still in the history."""
        return max(self.compact_rv, self.rv - self.max_hist, self.hist_first - 1)

    def _commit(self, res, etype, key, obj, prev):
        self.rv += 1
        rv = self.rv
        meta = dict(obj.get("metadata") or {})
        meta["resourceVersion"] = str(rv)
        obj = dict(obj)
        obj["metadata"] = meta
        table = self.data.setdefault(res.skey, {})
        if etype == "DELETED":
            table.pop(key, None)
            self.sorted[res.skey] = None
        else:
            if key not in table:
                self.sorted[res.skey] = None
            table[key] = obj
        self.hist.append(Event(rv, etype, res.skey, key, obj, prev))
        if len(self.hist) > 2 * self.max_hist + 64:
            drop = len(self.hist) - self.max_hist
            del self.hist[:drop]
            self.hist_first += drop
        self.cond.notify_all()
        return obj

    def compact(self, mode):
        with self.lock:
            self.compact_rv = self.rv
            self.hist = []
            self.hist_first = self.rv + 1
            self.expired_mode = mode
            self.cond.notify_all()
            return self.rv

    def events_after(self, cursor):
        """Events with rv > cursor (caller holds the lock). Raises Expired when they are gone."""
        oldest = self.oldest_rv()
        if cursor < oldest:
            raise Expired(cursor, oldest + 1)
        if self.rv <= cursor:
            return []
        return self.hist[cursor - self.hist_first + 1:]

    def wait_rv(self, rv, timeout):
        """Wait (lock held) until the store reached rv; False on timeout."""
        end = time.monotonic() + timeout
        while self.rv < rv:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.cond.wait(left)
        return True

    def too_large(self, rv):
        return ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self.rv}",
                        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                         "retryAfterSeconds": 1})

    # ---- reads --------------------------------------------------------------------------------
    def _keys(self, skey):
        ks = self.sorted.get(skey)
        if ks is None:
            ks = sorted(self.data.get(skey, {}))
            self.sorted[skey] = ks
        return ks

    def get(self, res, ns, name):
        with self.lock:
            obj = self.data.get(res.skey, {}).get((ns, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def get_rv(self, res, ns, name, rv_param):
        if rv_param not in (None, "", "0"):
            want = parse_rv(rv_param)
            with self.lock:
                if want > self.rv and not self.wait_rv(want, 3.0):
                    raise self.too_large(want)
        return self.get(res, ns, name)

    def snapshot_items(self, skey, at_rv):
        """Sorted (key, obj) of skey as of at_rv (lock held); raises Expired if out of the window."""
        table = self.data.get(skey, {})
        if at_rv >= self.rv:
            return self._keys(skey), table.get
        evs = self.events_after(at_rv)
        overlay = {}
        for ev in reversed(evs):
            if ev.skey == skey:
                overlay[ev.key] = ev.prev
        keys = self._keys(skey)
        extra = [k for k in overlay if k not in table]
        if extra:
            keys = sorted(set(keys) | set(extra))

        def lookup(k):
            if k in overlay:
                return overlay[k]
            return table.get(k)
        return keys, lookup

    def list(self, res, ns, label_pred=None, field_pred=None, limit=0, cont=None, rv_param=None, rv_match=None):
        """List semantics of the api-concepts table. Returns (items, list_rv, continue_token, remaining)."""
        with self.lock:
            start_key = None
            if cont:
                if rv_param not in (None, "", "0"):
                    raise bad_request('specifying resource version is not allowed when using continue')
                at, start_key, _ = decode_continue(cont)
                if at > self.rv:
                    raise bad_request('continue key is not valid: resource version is in the future')
                try:
                    keys, lookup = self.snapshot_items(res.skey, at)
                except Expired:
                    tok = encode_continue(self.rv, start_key, inconsistent=True)
                    raise expired_error(Expired(at, self.oldest_rv() + 1,
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter, or use the continue token "
                        "in this response to retrieve the remainder of the results. Continuing with the provided "
                        "token results in an inconsistent list - objects that were created, modified, or deleted "
                        "between the time the first chunk was returned and now may show up in the list."),
                        list_meta={"continue": tok}) from None
            else:
                at = self.rv
                if rv_param not in (None, "", "0"):
                    want = parse_rv(rv_param)
                    exact = rv_match == "Exact" or (limit and rv_match != "NotOlderThan")
                    if want > self.rv and not self.wait_rv(want, 3.0):
                        raise self.too_large(want)
                    if exact:
                        at = want
                try:
                    keys, lookup = self.snapshot_items(res.skey, at)
                except Expired as e:
                    raise expired_error(e) from None
            if ns is not None and res.namespaced:
                lo = bisect.bisect_left(keys, (ns, ""))
            else:
                lo = 0
            if start_key is not None:
                lo = max(lo, bisect.bisect_right(keys, start_key))
            items = []
            last = None
            i = lo
            n = len(keys)
            while i < n:
                k = keys[i]
                if ns is not None and res.namespaced and k[0] != ns:
                    break
                i += 1
                o = lookup(k)
                if o is None:
                    continue
                if label_pred and not label_pred(o):
                    continue
                if field_pred and not field_pred(o):
                    continue
                items.append(o)
                last = k
                if limit and len(items) >= limit:
                    break
            token = ""
            remaining = None
            if limit and len(items) >= limit:
                # More keys after `last` within the scope?
                j = i
                more = False
                while j < n:
                    k = keys[j]
                    if ns is not None and res.namespaced and k[0] != ns:
                        break
                    if lookup(k) is not None:
                        more = True
                        break
                    j += 1
                if more:
                    token = encode_continue(at, last)
                    if not label_pred and not field_pred:
                        remaining = sum(1 for k in keys[j:] if (ns is None or not res.namespaced or k[0] == ns)
                                        and lookup(k) is not None)
            return items, str(at), token, remaining

    # ---- writes -------------------------------------------------------------------------------
    def _ns_check(self, res, ns, name):
        if not res.namespaced or res.skey == ("", "namespaces"):
            return
        nsobj = self.data.get(("", "namespaces"), {}).get(("", ns))
        if nsobj is None:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})
        if (nsobj.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError(403, "Forbidden",
                           f'{res.group_resource} "{name}" is forbidden: unable to create new content in namespace '
                           f'{ns} because it is being terminated',
                           {"name": name, "group": res.group, "kind": res.plural,
                            "causes": [{"reason": "NamespaceTerminating",
                                        "message": f"namespace {ns} is being terminated",
                                        "field": "metadata.namespace"}]})

    def _check_type(self, res, body, custom_strict=True):
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        av, kind = body.get("apiVersion"), body.get("kind")
        if res.custom and (not av or not kind):
            raise bad_request("Object 'Kind' is missing in request body" if not kind else
                              "Object 'apiVersion' is missing in request body")
        if av and av != res.api_version:
            raise bad_request(f"the API version in the data ({av}) does not match the expected API version "
                              f"({res.api_version})")
        if kind and kind != res.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")

    def _clean_meta(self, res, body):
        meta = body.get("metadata")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be a JSON object")
        meta = {k: jcopy(v) for k, v in meta.items() if k in META_KEYS and v is not None}
        errs, bad = check_metadata(meta)
        if bad:
            raise bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: {bad}")
        return meta, errs

    def _normalize(self, res, obj, old, errs):
        """Kind-specific defaults and checks (built-in kinds), schema checks (custom kinds)."""
        sk = res.skey
        if sk == ("", "secrets"):
            data = obj.get("data")
            if data is not None and not isinstance(data, dict):
                raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: data must be a map")
            data = dict(data or {})
            for k, v in data.items():
                if not isinstance(v, str):
                    raise bad_request(f"Secret in version \"v1\" cannot be handled as a Secret: data[{k!r}] must be a base64 string")
                try:
                    base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError):
                    raise bad_request(f"Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k!r}]") from None
            sd = obj.pop("stringData", None)
            if sd is not None:
                if not isinstance(sd, dict) or not all(isinstance(v, str) for v in sd.values()):
                    raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: stringData must be a map of strings")
                for k, v in sd.items():
                    data[k] = base64.b64encode(v.encode()).decode()
            if data or "data" in obj:
                obj["data"] = data
            obj.setdefault("type", "Opaque")
            if old is not None and old.get("type", "Opaque") != obj["type"]:
                errs.append(FieldError("FieldValueInvalid", "type", f'Invalid value: "{obj["type"]}": field is immutable'))
            if old is not None and old.get("immutable") and (old.get("data") != obj.get("data") or not obj.get("immutable")):
                errs.append(FieldError("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set"))
        elif sk == ("", "configmaps"):
            data = obj.get("data")
            if data is not None and (not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values())):
                raise bad_request("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: data must be a map of strings")
        elif sk == ("", "namespaces"):
            spec = obj.setdefault("spec", {}) if isinstance(obj.get("spec", {}), dict) else {}
            spec.setdefault("finalizers", ["kubernetes"])
            obj["spec"] = spec
        elif sk == ("", "services"):
            if isinstance(obj.get("spec"), dict):
                obj["spec"].setdefault("type", "ClusterIP")
        if res.custom and res.schema is not None:
            pruned, serrs, unknown = validate_custom(obj, res.schema, old)
            errs.extend(serrs)
            return pruned, unknown
        if not res.custom:
            berrs, unknown = builtin_types.check(res.group, res.plural, obj)
            errs.extend(berrs)
            return obj, unknown
        return obj, []

    def _finish_fields(self, res, obj, unknown, field_validation, warnings):
        if unknown and field_validation == "Apply":
            # Server-side apply of a built-in kind: the typed patch cannot hold an unknown field.
            raise invalid(res, (obj.get("metadata") or {}).get("name", ""),
                          [FieldError("FieldValueInvalid", u, "field not declared in schema") for u in unknown])
        if unknown:
            if field_validation == "Strict":
                raise bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                                  "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
            if field_validation == "Warn":
                warnings.extend(f'unknown field "{u}"' for u in unknown)

    def create(self, res, ns, body, dry_run=False, field_validation="Warn", warnings=None, _from_apply=False):
        """POST to a collection. Returns the stored object (201)."""
        warnings = warnings if warnings is not None else []
        self._check_type(res, body)
        meta, errs = self._clean_meta(res, body)
        obj = jcopy({k: v for k, v in body.items() if k not in ("metadata", "apiVersion", "kind")})
        if res.namespaced:
            bns = meta.get("namespace")
            if bns and bns != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
            ns = ""
        with self.lock:
            name = meta.get("name")
            if not name:
                gen = meta.get("generateName")
                if not gen:
                    raise invalid(res, "", [required("metadata.name", "name or generateName is required")])
                for _ in range(20):
                    name = gen + "".join(random.choice(NAME_CHARS) for _ in range(5))
                    if (ns, name) not in self.data.get(res.skey, {}):
                        break
                meta["name"] = name
            errs = check_name(name, "metadata.name", label_only=(res.skey == ("", "namespaces"))) + errs
            self._ns_check(res, ns, name)
            if (ns, name) in self.data.get(res.skey, {}):
                raise already_exists(res, name)
            for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                      "managedFields", "generation"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if res.generation:
                meta["generation"] = 1
            if res.status:
                obj.pop("status", None)
            obj, unknown = self._normalize(res, obj, None, errs)
            if res.skey == ("", "namespaces"):
                obj["status"] = {"phase": "Active"}
            if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._crd_check(res, name, dict(obj, kind="CustomResourceDefinition", metadata=meta), errs)
            if errs:
                raise invalid(res, name, errs)
            self._finish_fields(res, dict(obj, metadata=meta), unknown, field_validation, warnings)
            full = {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta}
            full.update(obj)
            if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
                full["status"] = self._crd_status(full)
            if dry_run:
                return full
            stored = self._commit(res, "ADDED", (ns, name), full, None)
            if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
                for h in self.crd_hooks:
                    h("ADDED", stored)
            return stored

    def _crd_check(self, res, name, crd, errs):
        try:
            resmod.resources_from_crd(crd)
        except resmod.CRDError as e:
            errs.append(FieldError("FieldValueInvalid", "spec", f"Invalid value: {e}"))

    def _crd_status(self, crd):
        names = dict((crd.get("spec") or {}).get("names") or {})
        ts = now_rfc3339()
        return {"acceptedNames": names, "storedVersions": [v.get("name") for v in (crd.get("spec") or {}).get("versions", [])
                                                           if isinstance(v, dict) and v.get("storage")],
                "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                "message": "no conflicts found", "lastTransitionTime": ts},
                               {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                "message": "the initial names have been accepted", "lastTransitionTime": ts}]}

    def update(self, res, ns, name, body, sub=None, dry_run=False, field_validation="Warn", warnings=None,
               from_patch=False):
        """PUT to an object or its /status. Returns (object, created=False)."""
        warnings = warnings if warnings is not None else []
        self._check_type(res, body)
        meta, errs = self._clean_meta(res, body)
        ns = ns if res.namespaced else ""
        if meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})")
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        with self.lock:
            old = self.data.get(res.skey, {}).get((ns, name))
            if old is None:
                raise not_found(res, name)
            ometa = old["metadata"]
            brv = meta.get("resourceVersion")
            if not brv:
                if res.custom and not from_patch:
                    raise invalid(res, name, [FieldError("FieldValueInvalid", "metadata.resourceVersion",
                                                         "Invalid value: 0x0: must be specified for an update")])
            elif brv != ometa.get("resourceVersion"):
                raise conflict(res, name, STALE)
            if meta.get("uid") and meta["uid"] != ometa.get("uid"):
                raise conflict(res, name, f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {ometa.get('uid')}")
            if sub == "status":
                new = {k: v for k, v in old.items() if k != "status"}
                new["metadata"] = dict(ometa)
                if "status" in body and body["status"] is not None:
                    new["status"] = jcopy(body["status"])
                errs = []
                obj, unknown = self._normalize(res, {k: v for k, v in new.items() if k != "metadata"}, old, errs)
                new = dict(obj, metadata=new["metadata"])
            else:
                obj = jcopy({k: v for k, v in body.items() if k not in ("metadata",)})
                for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "generation", "namespace", "name"):
                    if k in ometa:
                        meta[k] = ometa[k]
                    else:
                        meta.pop(k, None)
                meta.pop("managedFields", None)
                meta.pop("selfLink", None)
                meta["resourceVersion"] = ometa.get("resourceVersion")
                if res.status:
                    obj.pop("status", None)
                    if "status" in old:
                        obj["status"] = old["status"]
                if ometa.get("deletionTimestamp"):
                    added = [f for f in meta.get("finalizers", []) if f not in ometa.get("finalizers", [])]
                    if added:
                        errs.append(FieldError("FieldValueForbidden", "metadata.finalizers",
                                               "Forbidden: no new finalizers can be added if the object is being "
                                               f"deleted, found new finalizers {json.dumps(added)}"))
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
                obj, unknown = self._normalize(res, obj, old, errs)
                new = {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta}
                new.update(obj)
                if res.skey == ("", "namespaces") and "status" not in new:
                    new["status"] = old.get("status")
                if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
                    self._crd_check(res, name, new, errs)
                    new["status"] = self._crd_status(new)
                    if old.get("status"):
                        new["status"] = old["status"]
                if res.generation:
                    g = ometa.get("generation", 1)
                    if _strip_for_generation(res, new) != _strip_for_generation(res, old):
                        g += 1
                    new["metadata"]["generation"] = g
            if errs:
                raise invalid(res, name, errs)
            self._finish_fields(res, new, unknown, field_validation, warnings)
            new["apiVersion"] = res.api_version
            new["kind"] = res.kind
            if _same_except_rv(new, old):
                return old
            if dry_run:
                return new
            key = (ns, name)
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") \
                    and res.skey != ("", "namespaces"):
                stored = self._commit(res, "DELETED", key, new, old)
                self._after_delete(res, stored)
                return stored
            stored = self._commit(res, "MODIFIED", key, new, old)
            if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
                for h in self.crd_hooks:
                    h("MODIFIED", stored)
            if res.skey == ("", "namespaces"):
                self._maybe_finish_namespace(name)
            return stored

    def patch(self, res, ns, name, ptype, body, sub=None, dry_run=False, field_validation="Warn",
              warnings=None, field_manager=None):
        """PATCH: apply the patch to the current object, then update it (status rules for /status).

        ptype: "json" | "merge" | "strategic" | "apply". Returns (object, created).
        """
        ns = ns if res.namespaced else ""
        if ptype == "strategic" and res.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        if ptype == "apply":
            if not field_manager:
                raise bad_request("PATCH requests with apply content type (application/apply-patch+yaml) "
                                  "require a fieldManager query parameter")
            if not isinstance(body, dict):
                raise bad_request("the apply patch must be a YAML or JSON object")
            bm = body.get("metadata") or {}
            if not isinstance(bm, dict) or bm.get("name") not in (None, name):
                raise bad_request(f"the name of the object ({bm.get('name')}) does not match the name on the URL ({name})")
            if bm.get("managedFields"):
                raise bad_request("metadata.managedFields must be nil")
            if not res.custom:
                field_validation = "Apply"
        with self.lock:
            old = self.data.get(res.skey, {}).get((ns, name))
            if old is None:
                if ptype == "apply" and sub is None:
                    b = jcopy(body)
                    b.setdefault("metadata", {})["name"] = name
                    return self.create(res, ns, b, dry_run, field_validation, warnings, _from_apply=True), True
                raise not_found(res, name)
            base = old if old.get("apiVersion") == res.api_version else dict(old, apiVersion=res.api_version)
            try:
                if ptype == "json":
                    patched = json_patch(base, body)
                elif ptype == "merge":
                    if not isinstance(body, dict):
                        raise PatchError(400, "merge patch must be a JSON object")
                    patched = merge_patch(base, body)
                elif ptype == "strategic":
                    patched = strategic_merge_patch(base, body)
                else:
                    self._check_type(res, body)
                    patched = merge_patch(base, body)
            except PatchError as e:
                if e.code == 422:
                    raise ApiError(422, "Invalid", e.message) from None
                raise bad_request(e.message) from None
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched object is not a JSON object")
            pm = patched.get("metadata")
            if isinstance(pm, dict) and not pm.get("resourceVersion"):
                pm["resourceVersion"] = old["metadata"].get("resourceVersion")
            return self.update(res, ns, name, patched, sub, dry_run, field_validation, warnings,
                               from_patch=True), False

    def delete(self, res, ns, name, preconditions=None, dry_run=False):
        """DELETE one object. Returns (object, gone): gone=False while finalizers hold it."""
        ns = ns if res.namespaced else ""
        with self.lock:
            old = self.data.get(res.skey, {}).get((ns, name))
            if old is None:
                raise not_found(res, name)
            ometa = old["metadata"]
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != ometa.get("uid"):
                raise conflict(res, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {ometa.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != ometa.get("resourceVersion"):
                raise conflict(res, name, f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                                          f"ResourceVersion in object meta: {ometa.get('resourceVersion')}")
            if dry_run:
                return old, not ometa.get("finalizers")
            if res.skey == ("", "namespaces"):
                return self._delete_namespace(res, old), False
            if ometa.get("finalizers"):
                if ometa.get("deletionTimestamp"):
                    return old, False
                new = dict(old)
                new["metadata"] = dict(ometa, deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0)
                if res.generation:
                    new["metadata"]["generation"] = ometa.get("generation", 1) + 1
                return self._commit(res, "MODIFIED", (ns, name), new, old), False
            stored = self._commit(res, "DELETED", (ns, name), old, old)
            self._after_delete(res, stored)
            return stored, True

    def _after_delete(self, res, stored):
        meta = stored["metadata"]
        if res.skey == ("apiextensions.k8s.io", "customresourcedefinitions"):
            for h in self.crd_hooks:
                h("DELETED", stored)
        if res.namespaced and meta.get("namespace"):
            self._maybe_finish_namespace(meta["namespace"])

    def _delete_namespace(self, res, old):
        ometa = old["metadata"]
        ns = ometa["name"]
        cur = old
        if not ometa.get("deletionTimestamp"):
            new = dict(old)
            new["metadata"] = dict(ometa, deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0)
            new["status"] = dict(old.get("status") or {}, phase="Terminating")
            cur = self._commit(res, "MODIFIED", ("", ns), new, old)
        # The namespace controller's job: delete everything inside, then the namespace itself.
        for r in self.registry.all():
            if not r.namespaced or r.skey == ("", "namespaces"):
                continue
            for key in [k for k in list(self.data.get(r.skey, {})) if k[0] == ns]:
                o = self.data[r.skey].get(key)
                if o is None or o["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.delete(self._res_for(r.skey), ns, key[1])
                except ApiError:
                    pass
        self._maybe_finish_namespace(ns)
        return self.data.get(("", "namespaces"), {}).get(("", ns), cur)

    def _res_for(self, skey):
        for r in self.registry.all():
            if r.skey == skey:
                return r
        return None

    def _maybe_finish_namespace(self, ns):
        nsres = self._res_for(("", "namespaces"))
        nsobj = self.data.get(("", "namespaces"), {}).get(("", ns))
        if nsobj is None or not nsobj["metadata"].get("deletionTimestamp") or nsobj["metadata"].get("finalizers"):
            return
        for skey, table in self.data.items():
            if skey == ("", "namespaces"):
                continue
            for k in table:
                if k[0] == ns:
                    return
        self._commit(nsres, "DELETED", ("", ns), nsobj, nsobj)

    def drop_resource(self, res):
        """Remove every object of a custom kind (its CRD was deleted), with DELETED events."""
        table = self.data.get(res.skey, {})
        for key in list(table):
            o = table.get(key)
            if o is not None:
                self._commit(res, "DELETED", key, o, o)

    def seed(self, res, obj):
        """Create an object at start-up (default namespaces, CRD objects); errors are fatal."""
        return self.create(res, (obj.get("metadata") or {}).get("namespace", ""), obj)
