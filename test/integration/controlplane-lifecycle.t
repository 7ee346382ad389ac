#!/usr/bin/env python3
"""The ControlPlane controller end to end (issue 13), with the real binary against the test kube-apiserver
(serving the seed CRDs and validating built-in kinds by the Kubernetes Python client's types): a
ControlPlane yields the shoot access Secret and the ManagedResources extension-controlplane-seed (class
seed), -shoot and -storageclasses with immutable Secrets whose objects equal test/golden/controlplane/
field by field and are valid (built-in kinds and CRDs, created here as the resource manager would);
the CCM Service selects the CCM pods and the ServiceMonitor selects that Service; the image vector and
IMAGEVECTOR_OVERWRITE decide the images; hibernation scales the CCM to 0; deletion removes the
ManagedResources first and waits for them, then the access and ManagedResource Secrets; `replay --check`
finds no difference."""
import base64
import json
import os
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
import subprocess  # noqa: E402

from e2e import BIN, Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import diff, normalise, wait  # noqa: E402

t = Tap()
NS = "shoot--foo--cp"
API = "/apis/extensions.gardener.cloud/v1alpha1"
CPS = f"{API}/namespaces/{NS}/controlplanes"
MRS = f"/apis/resources.gardener.cloud/v1alpha1/namespaces/{NS}/managedresources"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
GOLDEN = os.path.join(ROOT, "test", "golden", "controlplane")
UPDATE = os.environ.get("EQXM_UPDATE_GOLDEN") == "1"
PATHS = {"Deployment": "/apis/apps/v1/namespaces/{ns}/deployments", "Service": "/api/v1/namespaces/{ns}/services",
         "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
         "VerticalPodAutoscaler": "/apis/autoscaling.k8s.io/v1/namespaces/{ns}/verticalpodautoscalers",
         "ServiceMonitor": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors",
         "PrometheusRule": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules"}


def get(path):
    st, o = env.kube.get(path)
    return o if st == 200 else None


def cp():
    return get(f"{CPS}/controlplane")


def succeeded_after(n):
    def f():
        o = cp()
        lo = last_op(o) if o else {}
        return o if lo.get("state") == "Succeeded" and reconciled() > n else None
    return f


def reconciled():
    st, evs = env.kube.get(f"/api/v1/namespaces/{NS}/events")
    return sum(e.get("count") or 1 for e in (evs or {}).get("items", [])
               if e.get("reason") == "Reconciled" and (e.get("involvedObject") or {}).get("kind") == "ControlPlane")


def mr_objects(mr):
    """The objects the ManagedResource mr carries (decoded from its Secret), and the Secret."""
    m = get(f"{MRS}/{mr}")
    name = m["spec"]["secretRefs"][0]["name"]
    s = get(f"{SECRETS}/{name}")
    objs = [json.loads(base64.b64decode(v)) for _, v in sorted((s.get("data") or {}).items())]
    return m, s, objs


def check_golden(fname, objs):
    got = [normalise(o) for o in objs]
    for o in got:
        ann = (((o.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
        if "checksum/secret-cloudprovider" in ann:
            ann["checksum/secret-cloudprovider"] = "<checksum>"
    path = os.path.join(GOLDEN, fname)
    if UPDATE:
        with open(path, "w") as f:
            json.dump(got, f, indent=2, sort_keys=True)
            f.write("\n")
    with open(path) as f:
        want = json.load(f)
    d = diff(want, got)
    t.ok(not d, f"the objects of {fname[:-5]} equal test/golden/controlplane/{fname} field by field",
         diag="\n".join(d))


env = Env(seed_crds=True)
try:
    env.shoot(NS)
    env.kube.patch(f"{API}/clusters/{NS}", {"metadata": {"annotations": {
        "generic-token-kubeconfig.secret.gardener.cloud/name": "generic-token-kubeconfig-1a2b3c4d"}}})
    overwrite = os.path.join(env.dir, "overwrite.yaml")
    with open(overwrite, "w") as f:
        f.write("images:\n- name: metallb-speaker\n  repository: registry.example/metallb/speaker\n  tag: v0.12.1-patched\n")
    os.environ["IMAGEVECTOR_OVERWRITE"] = overwrite
    c = env.controller("--controllers", "controlplane", "--image-vector",
                       os.path.join(ROOT, "providers/equinix-metal/imagevector/images.yaml"))
    del os.environ["IMAGEVECTOR_OVERWRITE"]
    st, o = env.kube.create(CPS, {
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "ControlPlane",
        "metadata": {"name": "controlplane", "namespace": NS, "annotations": {"gardener.cloud/operation": "reconcile"}},
        "spec": {"type": "equinixmetal", "region": "ny", "secretRef": {"name": "cloudprovider", "namespace": NS},
                 "infrastructureProviderStatus": {"apiVersion": "equinixmetal.provider.extensions.gardener.cloud/v1alpha1",
                                                  "kind": "InfrastructureStatus", "sshKeyID": "k-1"}}})
    t.ok(st == 201, "ControlPlane created", diag=o)
    obj = wait("the ControlPlane to succeed", succeeded_after(0), controller=c, timeout=60)
    t.ok("extensions.gardener.cloud/controlplane" in obj["metadata"].get("finalizers", []) and
         obj["status"].get("observedGeneration") == obj["metadata"]["generation"] and
         last_op(obj).get("description") == "Successfully reconciled ControlPlane",
         "Succeeded with the finalizer, observedGeneration and Gardener's description", diag=obj.get("status"))

    acc = get(f"{SECRETS}/shoot-access-cloud-controller-manager")
    t.ok(acc and acc["metadata"]["labels"].get("resources.gardener.cloud/purpose") == "token-requestor"
         and acc["metadata"]["labels"].get("resources.gardener.cloud/class") == "shoot"
         and acc["metadata"]["annotations"].get("serviceaccount.resources.gardener.cloud/name") == "cloud-controller-manager"
         and acc["metadata"]["annotations"].get("serviceaccount.resources.gardener.cloud/namespace") == "kube-system",
         "the shoot access Secret asks the token requestor for kube-system/cloud-controller-manager", diag=acc)

    seed_mr, seed_sec, seed = mr_objects("extension-controlplane-seed")
    shoot_mr, shoot_sec, shoot = mr_objects("extension-controlplane-shoot")
    sc_mr, sc_sec, sc = mr_objects("extension-controlplane-storageclasses")
    t.ok(seed_mr["spec"].get("class") == "seed" and "class" not in shoot_mr["spec"]
         and shoot_mr["metadata"]["labels"].get("origin") == "gardener",
         "the seed ManagedResource is of class seed, the shoot one has no class and origin gardener",
         diag=(seed_mr["spec"], shoot_mr["metadata"]))
    t.ok(all(s.get("immutable") is True and s["metadata"]["name"].startswith(m + "-")
             and s["metadata"]["labels"].get("resources.gardener.cloud/garbage-collectable-reference") == "true"
             for m, s in (("extension-controlplane-seed", seed_sec), ("extension-controlplane-shoot", shoot_sec),
                          ("extension-controlplane-storageclasses", sc_sec))),
         "each ManagedResource Secret is immutable, garbage-collectable and named <mr>-<hash>")
    t.ok(sc == [], "the storage classes ManagedResource is empty", diag=sc)
    for s in (seed_sec, shoot_sec):
        errs = env.kube.validate(s)
        t.ok(errs == [], f"the objects in {s['metadata']['name']} are valid built-in kinds", diag=errs)
    check_golden("seed.json", seed)
    check_golden("shoot.json", shoot)

    kinds = {o["kind"]: o for o in seed}
    dep, svc, sm = kinds["Deployment"], kinds["Service"], kinds["ServiceMonitor"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    t.ok(all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
         "the CCM Service selects the CCM pods (the Go original's does not)", diag=(svc["spec"]["selector"], pod_labels))
    t.ok(all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
         "the ServiceMonitor selects the CCM Service", diag=sm["spec"]["selector"])
    ann = dep["spec"]["template"]["metadata"].get("annotations") or {}
    t.ok(len(ann.get("checksum/secret-cloudprovider", "")) == 64, "the CCM pods carry the credentials checksum", diag=ann)
    imgs = {c2["name"]: c2["image"] for o in shoot if o["kind"] in ("Deployment", "DaemonSet")
            for c2 in o["spec"]["template"]["spec"]["containers"]}
    t.ok(dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith("cloud-provider-equinix-metal:v3.6.2")
         and imgs.get("controller") == "quay.io/metallb/controller:v0.12.1"
         and imgs.get("speaker") == "registry.example/metallb/speaker:v0.12.1-patched",
         "images come from the image vector, IMAGEVECTOR_OVERWRITE replacing an entry", diag=imgs)

    # Act as the seed's resource manager: the seed objects must be accepted by the apiserver (built-in
    # types and the seed CRDs).
    for o in seed:
        st, r = env.kube.create(PATHS[o["kind"]].format(ns=NS), o)
        t.ok(st == 201, f"the seed object {o['kind']} {o['metadata']['name']} is accepted by the apiserver", diag=r)

    # Credentials change: a new checksum.
    before = reconciled()
    old_secret = seed_sec["metadata"]["name"]
    env.secret(NS, "tok-rotated", env.project)
    env.kube.patch(f"{CPS}/controlplane", {"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}})
    wait("the reconcile after the rotation", succeeded_after(before), controller=c, timeout=60)
    _, s2, seed2 = mr_objects("extension-controlplane-seed")
    ann2 = {o["kind"]: o for o in seed2}["Deployment"]["spec"]["template"]["metadata"].get("annotations") or {}
    t.ok(s2["metadata"]["name"] != old_secret and ann2.get("checksum/secret-cloudprovider") != ann.get("checksum/secret-cloudprovider"),
         "new credentials give a new checksum (and a new ManagedResource Secret)", diag=(ann, ann2))

    # Hibernation.
    before = reconciled()
    env.kube.patch(f"{API}/clusters/{NS}", {"spec": {"shoot": {"spec": {"hibernation": {"enabled": True}}}}})
    env.kube.patch(f"{CPS}/controlplane", {"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}})
    wait("the hibernation reconcile", succeeded_after(before), controller=c, timeout=60)
    _, _, seed3 = mr_objects("extension-controlplane-seed")
    t.eq(0, {o["kind"]: o for o in seed3}["Deployment"]["spec"]["replicas"], "hibernated: the CCM has 0 replicas")

    # Deletion: the ManagedResources first; the controller waits while one of them is held.
    current = [get(f"{MRS}/{m}")["spec"]["secretRefs"][0]["name"] for m in
               ("extension-controlplane-seed", "extension-controlplane-shoot", "extension-controlplane-storageclasses")]
    env.kube.patch(f"{MRS}/extension-controlplane-seed", {"metadata": {"finalizers": ["resources.gardener.cloud/gardener-resource-manager"]}})
    st, _ = env.kube.delete(f"{CPS}/controlplane")
    t.ok(st in (200, 202), "ControlPlane deletion requested")
    held = wait("the seed ManagedResource to be marked for deletion",
                lambda: (get(f"{MRS}/extension-controlplane-seed") or {}).get("metadata", {}).get("deletionTimestamp"),
                controller=c, timeout=30)
    t.ok(get(f"{MRS}/extension-controlplane-shoot") is None and get(f"{MRS}/extension-controlplane-storageclasses") is None,
         "the shoot ManagedResources are deleted first")
    o = cp()
    t.ok(o is not None and get(f"{SECRETS}/shoot-access-cloud-controller-manager") is not None,
         "while the seed ManagedResource is held, the ControlPlane and the access Secret stay", diag=last_op(o or {}))
    env.kube.patch(f"{MRS}/extension-controlplane-seed", {"metadata": {"finalizers": []}})
    wait("the ControlPlane to be gone", lambda: cp() is None, controller=c, timeout=60)
    left = [s["metadata"]["name"] for s in get(SECRETS)["items"]]
    # Secrets of earlier reconciles are no longer referenced: the resource manager's garbage collector
    # removes them (label garbage-collectable-reference), as for Gardener's own ManagedResources.
    t.ok("shoot-access-cloud-controller-manager" not in left and not set(current) & set(left)
         and "cloudprovider" in left,
         "the access Secret and the ManagedResources' Secrets are deleted, the credentials stay",
         diag=(current, left))
    t.eq([], get(MRS)["items"], "no ManagedResource is left")
    t.eq(0, c.stop(), "the controller stops cleanly (exit 0; under ASan: no leak)")
    p = subprocess.run([BIN, "journal", "export", "--type", "engine.action", env.journal], capture_output=True,
                       text=True, timeout=60)
    acts = [json.loads(l)["payload"]["action"] for l in p.stdout.splitlines() if l.strip().startswith("{")]
    mr_secret_acts = [a for a in acts if a.get("kind") == "kube.apply" and (a.get("target") or {}).get("name", "").startswith("extension-controlplane-seed-")]
    t.ok(mr_secret_acts and all("data" not in a["params"]["object"] and
                                any(k.startswith("deployment__") for k in a["params"].get("manifests", {}))
                                for a in mr_secret_acts),
         "the journal holds the ManagedResource objects as manifests, not as Secret data (kept only as digests)",
         diag=(p.returncode, p.stderr[-500:], [a.get("params", {}).keys() for a in mr_secret_acts][:2]))
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])
finally:
    env.close()
t.done()
