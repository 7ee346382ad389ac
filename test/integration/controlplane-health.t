#!/usr/bin/env python3
"""ControlPlane health (issue 13): condition ControlPlaneHealthy in the ControlPlane's status.conditions,
judged every sync period (here 1 s) from the seed Deployment cloud-controller-manager as observed by the
controller's watch: not found → False; available → True "All health checks successful"; unavailable → False
naming the failed Deployment condition, with a new lastTransitionTime; hibernated → True "Shoot is
hibernated". No SystemComponentsHealthy condition is written (none is registered). `replay --check`
finds no difference."""
import base64
import json
import os
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import wait  # noqa: E402

t = Tap()
NS = "shoot--foo--health"
API = "/apis/extensions.gardener.cloud/v1alpha1"
CPS = f"{API}/namespaces/{NS}/controlplanes"
MRS = f"/apis/resources.gardener.cloud/v1alpha1/namespaces/{NS}/managedresources"
DEPS = f"/apis/apps/v1/namespaces/{NS}/deployments"


def get(path):
    st, o = env.kube.get(path)
    return o if st == 200 else None


def cond():
    o = get(f"{CPS}/controlplane") or {}
    for c in (o.get("status") or {}).get("conditions") or []:
        if c.get("type") == "ControlPlaneHealthy":
            return c
    return None


def cond_is(status, text):
    def f():
        c = cond()
        return c if c and c.get("status") == status and text in c.get("message", "") else None
    return f


def set_available(status, reason, message):
    d = get(f"{DEPS}/cloud-controller-manager")
    st, o = env.kube.patch(f"{DEPS}/cloud-controller-manager/status", {"status": {
        "observedGeneration": d["metadata"]["generation"], "replicas": 1,
        "availableReplicas": 1 if status == "True" else 0,
        "conditions": [{"type": "Available", "status": status, "reason": reason, "message": message,
                        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    return st


env = Env(seed_crds=True)
try:
    env.shoot(NS)
    c = env.controller("--controllers", "controlplane,healthcheck", "--healthcheck-sync-period", "1")
    st, o = env.kube.create(CPS, {
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "ControlPlane",
        "metadata": {"name": "controlplane", "namespace": NS, "annotations": {"gardener.cloud/operation": "reconcile"}},
        "spec": {"type": "equinixmetal", "region": "ny", "secretRef": {"name": "cloudprovider", "namespace": NS}}})
    t.ok(st == 201, "ControlPlane created", diag=o)
    wait("the ControlPlane to succeed", lambda: last_op(get(f"{CPS}/controlplane") or {}).get("state") == "Succeeded",
         controller=c, timeout=60)
    c1 = wait("ControlPlaneHealthy False (not found)", cond_is("False", 'deployment "cloud-controller-manager" in '
                                                                        f'namespace "{NS}" not found'),
              controller=c, timeout=30)
    t.ok(c1["reason"] == "HealthCheckUnsuccessful" and c1.get("lastTransitionTime"),
         "without the Deployment: False, HealthCheckUnsuccessful, not found", diag=c1)

    # The resource manager's part, by hand: create the Deployment from the seed ManagedResource.
    m = get(f"{MRS}/extension-controlplane-seed")
    sec = get(f"/api/v1/namespaces/{NS}/secrets/{m['spec']['secretRefs'][0]['name']}")
    dep = next(json.loads(base64.b64decode(v)) for k, v in sec["data"].items() if k.startswith("deployment__"))
    st, o = env.kube.create(DEPS, dep)
    t.ok(st == 201, "the CCM Deployment of the seed ManagedResource is created", diag=o)
    t.ok(set_available("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") == 200,
         "the Deployment reports Available")
    c2 = wait("ControlPlaneHealthy True", cond_is("True", "All health checks successful"), controller=c, timeout=30)
    t.ok(c2["reason"] == "HealthCheckSuccessful" and c2["lastTransitionTime"] != c1["lastTransitionTime"],
         "available: True, HealthCheckSuccessful, a new lastTransitionTime", diag=(c1, c2))

    set_available("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    c3 = wait("ControlPlaneHealthy False (unhealthy)", cond_is("False", "is unhealthy"), controller=c, timeout=30)
    t.ok(c3["message"] == f'deployment "cloud-controller-manager" in namespace "{NS}" is unhealthy: condition '
         '"Available" has invalid status False (expected True) due to MinimumReplicasUnavailable: Deployment does '
         'not have minimum availability.' and c3["lastTransitionTime"] != c2["lastTransitionTime"],
         "unavailable: False with Gardener's message naming the condition", diag=c3)

    env.kube.patch(f"{API}/clusters/{NS}", {"spec": {"shoot": {"spec": {"hibernation": {"enabled": True}}}}})
    c4 = wait("ControlPlaneHealthy True (hibernated)", cond_is("True", "Shoot is hibernated"), controller=c, timeout=30)
    t.ok(c4["reason"] == "HealthCheckSuccessful", "hibernated: True, Shoot is hibernated", diag=c4)
    types = [x["type"] for x in (get(f"{CPS}/controlplane")["status"].get("conditions") or [])]
    t.ok(types == ["ControlPlaneHealthy"], "only ControlPlaneHealthy is written (no SystemComponentsHealthy)",
         diag=types)
    t.eq(0, c.stop(), "the controller stops cleanly (exit 0; under ASan: no leak)")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])
finally:
    env.close()
t.done()
