"""The kinds the test kube-apiserver serves: built-in core kinds, simple schema-less custom kinds and
CustomResourceDefinitions (loaded from YAML files or created through the API).

A Resource is one (group, version, plural). Versions of one CRD share storage: the store key is
(group, plural).
"""
import glob
import hashlib
import os

import yaml

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml binding missing
    _Loader = yaml.SafeLoader

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Resource:
    """One served (group, version, plural) and its semantics.

    custom: custom-resource semantics (PUT needs metadata.resourceVersion; strategic merge patch is 415).
    generation: metadata.generation is maintained (1 on create, +1 on a change outside metadata/status).
    status: the /status subresource exists (main writes ignore .status, status writes ignore the rest).
    schema: structural openAPIV3Schema (dict) or None (schema-less: everything is kept).
    columns: printer columns [{name,type,jsonPath,priority,description,format}] or None (built-in printer).
    """

    def __init__(self, group, version, kind, plural, singular=None, namespaced=True, short_names=(),
                 categories=(), status=False, generation=False, custom=False, schema=None, columns=None,
                 crd_name=None):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.generation = generation
        self.custom = custom
        self.schema = schema
        self.columns = columns
        self.crd_name = crd_name

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def skey(self):
        return (self.group, self.plural)

    @property
    def group_resource(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self):
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def discovery(self):
        """APIResource entries (the resource, then its status subresource)."""
        out = [{
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(ALL_VERBS),
            "storageVersionHash": hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).hexdigest()[:12],
        }]
        if self.short_names:
            out[0]["shortNames"] = list(self.short_names)
        if self.categories:
            out[0]["categories"] = list(self.categories)
        if self.status:
            out.append({"name": self.plural + "/status", "singularName": "", "namespaced": self.namespaced,
                        "kind": self.kind, "verbs": ["get", "patch", "update"]})
        return out


def builtin_resources():
    """The core kinds served without a CRD."""
    R = Resource
    return [
        R("", "v1", "Namespace", "namespaces", namespaced=False, short_names=["ns"], status=True),
        R("", "v1", "Secret", "secrets"),
        R("", "v1", "ConfigMap", "configmaps", short_names=["cm"]),
        R("", "v1", "Event", "events", short_names=["ev"]),
        R("", "v1", "Node", "nodes", namespaced=False, short_names=["no"], status=True),
        R("", "v1", "Service", "services", short_names=["svc"], status=True, categories=["all"]),
        R("", "v1", "ServiceAccount", "serviceaccounts", short_names=["sa"]),
        R("", "v1", "Pod", "pods", short_names=["po"], status=True, categories=["all"]),
        R("apps", "v1", "Deployment", "deployments", short_names=["deploy"], status=True, generation=True,
          categories=["all"]),
        R("apps", "v1", "StatefulSet", "statefulsets", short_names=["sts"], status=True, generation=True,
          categories=["all"]),
        R("apps", "v1", "DaemonSet", "daemonsets", short_names=["ds"], status=True, generation=True,
          categories=["all"]),
        R("coordination.k8s.io", "v1", "Lease", "leases"),
        R("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=["pdb"], status=True,
          generation=True),
        R("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        R("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
        R("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
        R("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        R("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
          "mutatingwebhookconfigurations", namespaced=False, generation=True),
        R("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
          "validatingwebhookconfigurations", namespaced=False, generation=True),
        R("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
          namespaced=False, short_names=["crd", "crds"], status=True, generation=True),
    ]


def _schemaless_crd(group, version, kind, plural, short_names=(), namespaced=True):
    """A CRD object for a kind we serve without a real schema (the webhook tests only need it to exist)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                      "singular": kind.lower(), **({"shortNames": list(short_names)} if short_names else {})},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [{
                "name": version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                "subresources": {"status": {}},
            }],
        },
    }


def schemaless_crds():
    """Gardener/ecosystem kinds that are CRDs in a real seed but for which we have no schema file."""
    return [
        _schemaless_crd("resources.gardener.cloud", "v1alpha1", "ManagedResource", "managedresources", ["mr"]),
        _schemaless_crd("autoscaling.k8s.io", "v1", "VerticalPodAutoscaler", "verticalpodautoscalers", ["vpa"]),
        _schemaless_crd("druid.gardener.cloud", "v1alpha1", "Etcd", "etcds", ["etcd"]),
    ]


class CRDError(ValueError):
    pass


def resources_from_crd(crd):
    """Resources (one per served version) for a CRD object; raises CRDError naming what is wrong."""
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise CRDError("not a CustomResourceDefinition")
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        raise CRDError("spec is missing")
    group = spec.get("group")
    names = spec.get("names") or {}
    kind = names.get("kind")
    plural = names.get("plural")
    if not (isinstance(group, str) and group and isinstance(kind, str) and kind and isinstance(plural, str) and plural):
        raise CRDError("spec.group, spec.names.kind and spec.names.plural are required")
    name = (crd.get("metadata") or {}).get("name")
    if name != f"{plural}.{group}":
        raise CRDError(f'metadata.name must be "{plural}.{group}"')
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise CRDError('spec.scope must be "Namespaced" or "Cluster"')
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        raise CRDError("spec.versions must list at least one version")
    out = []
    for v in versions:
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise CRDError("every spec.versions[] entry needs a name")
        if not v.get("served", True):
            continue
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if schema is not None and not isinstance(schema, dict):
            raise CRDError(f"version {v['name']}: schema.openAPIV3Schema must be an object")
        cols = v.get("additionalPrinterColumns")
        if cols is None:
            cols = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        subres = v.get("subresources") or {}
        out.append(Resource(group, v["name"], kind, plural, singular=names.get("singular") or kind.lower(),
                            namespaced=(scope == "Namespaced"), short_names=names.get("shortNames") or (),
                            categories=names.get("categories") or (), status=("status" in subres),
                            generation=True, custom=True, schema=schema, columns=list(cols), crd_name=name))
    return out


def load_crd_files(dirs):
    """All CRD documents from *.yaml/*.yml/*.json files in dirs (sorted); raises CRDError with the file name."""
    crds = []
    for d in dirs:
        if not os.path.isdir(d):
            raise CRDError(f"CRD directory {d} does not exist")
        files = sorted(glob.glob(os.path.join(d, "*.yaml")) + glob.glob(os.path.join(d, "*.yml"))
                       + glob.glob(os.path.join(d, "*.json")))
        for f in files:
            try:
                with open(f, encoding="utf-8") as fh:
                    docs = list(yaml.load_all(fh, Loader=_Loader))
            except (OSError, yaml.YAMLError) as e:
                raise CRDError(f"{f}: {e}") from e
            for doc in docs:
                if doc is None:
                    continue
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    try:
                        resources_from_crd(doc)
                    except CRDError as e:
                        raise CRDError(f"{f}: {e}") from e
                    crds.append(doc)
    return crds


class Registry:
    """All served resources, looked up by (group, version, plural) or by store key."""

    def __init__(self):
        self.by_gvr = {}
        self.order = []  # (group, version) in registration order, for discovery

    def add(self, res):
        self.by_gvr[(res.group, res.version, res.plural)] = res
        gv = (res.group, res.version)
        if gv not in self.order:
            self.order.append(gv)

    def remove_crd(self, crd_name):
        for k, r in list(self.by_gvr.items()):
            if r.crd_name == crd_name:
                del self.by_gvr[k]
        live = {(r.group, r.version) for r in list(self.by_gvr.values())}
        self.order = [gv for gv in self.order if gv in live]

    def get(self, group, version, plural):
        return self.by_gvr.get((group, version, plural))

    def versions_of(self, group):
        return [v for (g, v) in list(self.order) if g == group]

    def groups(self):
        seen = []
        for g, _ in list(self.order):
            if g and g not in seen:
                seen.append(g)
        return seen

    def in_gv(self, group, version):
        return [r for (g, v, _), r in list(self.by_gvr.items()) if g == group and v == version]

    def all(self):
        return list(self.by_gvr.values())
