"""Validation of built-in Kubernetes kinds by the types of the official Kubernetes Python client.

The client's models (``kubernetes.client.models``, generated from the Kubernetes OpenAPI document) carry
``openapi_types`` (attribute -> type name: ``str``, ``int``, ``bool``, ``float``, ``object``,
``datetime``, ``list[T]``, ``dict(str, T)`` or a model class name) and ``attribute_map`` (attribute ->
JSON key). Their setters raise ValueError for a required attribute set to None, which is how the
required fields are found here (with client-side validation switched on).

check(group, plural, obj) returns (errors, unknown): FieldErrors for wrong types and missing required
fields (the apiserver answers 422), and the paths of unknown fields (Strict: 400, Warn: a warning,
server-side apply: 422). Kinds without a model are not checked.

The package is Debian's python3-kubernetes; it is only importable by /usr/bin/python3 on machines where
another python3 comes first in PATH, which is why server.py re-executes itself there when needed.
"""
import functools

from kutil import FieldError, required, type_error

try:
    import kubernetes.client.models as _models
    from kubernetes.client.configuration import Configuration as _Configuration
    AVAILABLE = True
except ImportError:  # pragma: no cover - reported by server.py
    _models = None
    AVAILABLE = False

# (group, plural) -> model class name
KINDS = {
    ("", "secrets"): "V1Secret",
    ("", "configmaps"): "V1ConfigMap",
    ("", "services"): "V1Service",
    ("", "serviceaccounts"): "V1ServiceAccount",
    ("", "events"): "CoreV1Event",
    ("", "namespaces"): "V1Namespace",
    ("", "pods"): "V1Pod",
    ("", "nodes"): "V1Node",
    ("apps", "deployments"): "V1Deployment",
    ("apps", "statefulsets"): "V1StatefulSet",
    ("apps", "daemonsets"): "V1DaemonSet",
    ("rbac.authorization.k8s.io", "roles"): "V1Role",
    ("rbac.authorization.k8s.io", "rolebindings"): "V1RoleBinding",
    ("rbac.authorization.k8s.io", "clusterroles"): "V1ClusterRole",
    ("rbac.authorization.k8s.io", "clusterrolebindings"): "V1ClusterRoleBinding",
    ("policy", "poddisruptionbudgets"): "V1PodDisruptionBudget",
    ("coordination.k8s.io", "leases"): "V1Lease",
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): "V1MutatingWebhookConfiguration",
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): "V1ValidatingWebhookConfiguration",
}

# apiVersion/kind -> (group, plural), for objects found inside ManagedResource Secrets.
BY_KIND = {}
for (_g, _p), _cls in KINDS.items():
    _kind = _cls[2:] if _cls.startswith("V1") else _cls[len("CoreV1"):]
    BY_KIND[((_g + "/v1") if _g else "v1", _kind)] = (_g, _p)

# Quantities are dict(str, str) in the client, but the apiserver also accepts JSON numbers.
_QUANTITY_MAPS = {"limits", "requests", "capacity", "allocatable", "hard", "used"}
# Fields the client marks required although the apiserver defaults them or lets them be empty.
_NOT_REQUIRED = {("V1ProjectedVolumeSource", "sources")}


def _model(name):
    return getattr(_models, name, None) if _models else None


@functools.lru_cache(maxsize=None)
def _required(name):
    """The JSON keys of the required attributes of model name."""
    cls = _model(name)
    if cls is None:
        return frozenset()
    cfg = _Configuration()
    cfg.client_side_validation = True
    inst = cls.__new__(cls)
    inst.local_vars_configuration = cfg
    out = set()
    for attr in cls.openapi_types:
        if (name, attr) in _NOT_REQUIRED:
            continue
        try:
            setattr(inst, attr, None)
        except ValueError:
            out.add(cls.attribute_map[attr])
        except Exception:  # noqa: BLE001 - a setter we cannot judge
            pass
    return frozenset(out)


@functools.lru_cache(maxsize=None)
def _fields(name):
    """JSON key -> type name of model name."""
    cls = _model(name)
    if cls is None:
        return {}
    return {cls.attribute_map[a]: t for a, t in cls.openapi_types.items()}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _join(path, key):
    return f"{path}.{key}" if path else key


class _Walk:
    def __init__(self):
        self.errors = []
        self.unknown = []

    def value(self, v, t, path, key=None):
        if v is None:
            return  # null is "unset" for every optional field in JSON
        if t == "object":
            return
        if t == "str":
            if not isinstance(v, str):
                self.errors.append(type_error(path, v, "string"))
            return
        if t == "int":
            if not _is_int(v):
                self.errors.append(type_error(path, v, "integer"))
            return
        if t == "float":
            if not (_is_int(v) or isinstance(v, float)):
                self.errors.append(type_error(path, v, "number"))
            return
        if t == "bool":
            if not isinstance(v, bool):
                self.errors.append(type_error(path, v, "boolean"))
            return
        if t in ("datetime", "date"):
            if not isinstance(v, str):
                self.errors.append(type_error(path, v, "string"))
            return
        if t.startswith("list[") and t.endswith("]"):
            if not isinstance(v, list):
                self.errors.append(type_error(path, v, "array"))
                return
            inner = t[5:-1]
            for i, x in enumerate(v):
                self.value(x, inner, f"{path}[{i}]")
            return
        if t.startswith("dict(") and t.endswith(")"):
            if not isinstance(v, dict):
                self.errors.append(type_error(path, v, "object"))
                return
            inner = t[5:-1].split(",", 1)[1].strip()
            for k, x in v.items():
                if key in _QUANTITY_MAPS and inner == "str" and (_is_int(x) or isinstance(x, float)):
                    continue
                self.value(x, inner, f"{path}[{k}]")
            return
        self.model(v, t, path)

    def model(self, v, name, path):
        fields = _fields(name)
        if not fields:
            return
        if not isinstance(v, dict):
            self.errors.append(type_error(path or "<root>", v, "object"))
            return
        for k, x in v.items():
            t = fields.get(k)
            if t is None:
                self.unknown.append(_join(path, k))
                continue
            self.value(x, t, _join(path, k), k)
        for k in sorted(_required(name)):
            if v.get(k) is None and not (path == "" and k in ("metadata",)):
                self.errors.append(required(_join(path, k)))


def check(group, plural, obj):
    """(errors, unknown) for obj of the built-in kind (group, plural); ([], []) for other kinds."""
    name = KINDS.get((group, plural))
    if not AVAILABLE or name is None:
        return [], []
    w = _Walk()
    w.model(obj, name, "")
    return w.errors, w.unknown


def check_manifest(obj):
    """Errors (strings) of one object found in a ManagedResource Secret: an unknown built-in kind is
    not checked; unknown fields count as errors (the resource manager applies them server-side)."""
    if not isinstance(obj, dict):
        return ["not a JSON/YAML object"]
    gk = BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
    if gk is None:
        return []
    errs, unknown = check(gk[0], gk[1], obj)
    return [str(e) for e in errs] + [f'{u}: field not declared in schema' for u in unknown]


def check_secret_manifests(secret):
    """Errors of the objects a ManagedResource Secret carries: every data value is base64 of YAML (or
    JSON) documents, each document one object (gardener-resource-manager's format). "<key>: <error>"."""
    import base64
    import yaml
    out = []
    for key, val in sorted(((secret or {}).get("data") or {}).items()):
        try:
            docs = list(yaml.safe_load_all(base64.b64decode(val, validate=True)))
        except Exception as e:  # noqa: BLE001 - any decode error is a finding
            out.append(f"{key}: cannot decode: {e}")
            continue
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            where = key if len(docs) == 1 else f"{key}[{i}]"
            if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") or \
                    not (doc.get("metadata") or {}).get("name"):
                out.append(f"{where}: not an object with apiVersion, kind and metadata.name")
                continue
            out.extend(f"{where} ({doc['kind']} {doc['metadata']['name']}): {e}" for e in check_manifest(doc))
    return out


def check_object(obj):
    """Errors (strings) of one object as the apiserver would judge its built-in kind, plus, for a Secret,
    those of the manifests in its data (ManagedResource Secrets). Used by POST /_test/validate."""
    errs = check_manifest(obj)
    if isinstance(obj, dict) and obj.get("kind") == "Secret":
        errs += check_secret_manifests(obj)
    return errs


__all__ = ["AVAILABLE", "KINDS", "BY_KIND", "FieldError", "check", "check_manifest", "check_object",
           "check_secret_manifests"]
