#!/usr/bin/env python3
"""The test kube-apiserver validates built-in kinds by the Kubernetes Python client's types: wrong
types and missing required fields are 422 Invalid; unknown fields are 400 with fieldValidation=Strict,
a warning with Warn, 422 for server-side apply; valid objects pass. /_test/validate judges the manifests
inside ManagedResource Secrets the same way. The seed CRDs are served by default."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))

from kubeapi import KubeAPI  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
NS = "default"


def deploy(name, **spec_extra):
    spec = {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "busybox",
                                                  "resources": {"requests": {"cpu": "100m", "memory": 64}}}]}}}
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS}, "spec": spec}


D = f"/apis/apps/v1/namespaces/{NS}/deployments"

with KubeAPI() as k:
    st, o = k.create(D, deploy("ok"))
    t.ok(st == 201, "a valid Deployment is created", diag=o)

    bad = deploy("wrongtype", replicas="two")
    st, o = k.create(D, bad)
    t.ok(st == 422 and o.get("reason") == "Invalid" and "spec.replicas" in o.get("message", ""),
         "a string for spec.replicas is 422 Invalid naming the field", diag=o)

    bad = deploy("noselector")
    del bad["spec"]["selector"]
    st, o = k.create(D, bad)
    t.ok(st == 422 and any(c.get("field") == "spec.selector" and c.get("reason") == "FieldValueRequired"
                           for c in o.get("details", {}).get("causes", [])),
         "a Deployment without spec.selector is 422 with a FieldValueRequired cause", diag=o)

    bad = deploy("noname")
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    st, o = k.create(D, bad)
    t.ok(st == 422 and "spec.template.spec.containers[0].name" in o.get("message", ""),
         "a container without a name is 422 naming the nested field", diag=o)

    bad = deploy("unknown", replica=3)
    st, o = k.create(D, bad, fieldValidation="Strict")
    t.ok(st == 400 and 'unknown field "spec.replica"' in o.get("message", ""),
         "an unknown field with fieldValidation=Strict is 400 naming it", diag=o)
    st, o = k.create(D, bad, fieldValidation="Warn")
    warn = [v for h, v in k.last_headers if h.lower() == "warning"]
    t.ok(st == 201 and any("spec.replica" in w for w in warn),
         "an unknown field with fieldValidation=Warn is accepted with a Warning header", diag=(st, warn))

    body = json.dumps(deploy("applied", replica=3))
    st, o = k.request("PATCH", f"{D}/applied", body, content_type="application/apply-patch+yaml",
                      query={"fieldManager": "t", "force": "true"})
    t.ok(st == 422 and "spec.replica" in o.get("message", "") and "not declared in schema" in o.get("message", ""),
         "server-side apply with an unknown field is 422", diag=o)
    st, o = k.request("PATCH", f"{D}/applied", json.dumps(deploy("applied")), content_type="application/apply-patch+yaml",
                      query={"fieldManager": "t", "force": "true"})
    t.ok(st == 201, "server-side apply of a valid Deployment creates it", diag=o)
    st, o = k.patch(f"{D}/applied", {"spec": {"paused": "yes"}})
    t.ok(st == 422 and "spec.paused" in o.get("message", ""), "a merge patch making spec.paused a string is 422", diag=o)

    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"name": "m", "protocol": "TCP"}], "selector": {"app": "x"}}}
    st, o = k.create(f"/api/v1/namespaces/{NS}/services", svc)
    t.ok(st == 422 and "spec.ports[0].port" in o.get("message", ""), "a Service port without port is 422", diag=o)

    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "kube-system"}]}
    st, o = k.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", crb)
    t.ok(st == 201, "a valid ClusterRoleBinding is created (RBAC is served)", diag=o)
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "x"}}}}
    st, o = k.create(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets", pdb)
    t.ok(st == 201, "a valid PodDisruptionBudget is created (int-or-string maxUnavailable)", diag=o)
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"leaseDurationSeconds": "15"}}
    st, o = k.create(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", lease)
    t.ok(st == 422 and "spec.leaseDurationSeconds" in o.get("message", ""), "a Lease with a string duration is 422",
         diag=o)

    good = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: kube-system\n"
    wrong = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: ds\nspec:\n  selector: {}\n"
             "  template:\n    spec:\n      containers:\n      - name: c\n        imagee: x\n")
    sec = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "managedresource-x"},
           "data": {"sa.yaml": base64.b64encode(good.encode()).decode(),
                    "ds.yaml": base64.b64encode(wrong.encode()).decode()}}
    errs = k.validate(sec)
    t.ok(len(errs) == 1 and "ds.yaml" in errs[0] and "imagee" in errs[0],
         "the manifests of a ManagedResource Secret are validated: one unknown field found", diag=errs)
    del sec["data"]["ds.yaml"]
    t.eq([], k.validate(sec), "a Secret with valid manifests has no findings")

    st, o = k.get("/apis/resources.gardener.cloud/v1alpha1")
    t.ok(st == 200 and any(r["name"] == "managedresources" for r in o.get("resources", [])),
         "the seed CRDs are served by default (ManagedResource)", diag=o)
    st, o = k.get("/apis/monitoring.coreos.com/v1")
    t.ok(st == 200 and {"servicemonitors", "prometheusrules"} <= {r["name"] for r in o.get("resources", [])},
         "ServiceMonitor and PrometheusRule are served", diag=o)

t.done()
