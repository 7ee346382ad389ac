#!/usr/bin/env python3
"""The Worker controller end to end (issue 11), with the real binary against the test kube-apiserver
(serving the seed's machine.sapcloud.io CRDs): a 2-pool Worker yields the MachineClasses, class Secrets
and MachineDeployments of test/golden/worker/ field by field, each valid against its CRD; the Worker
waits until the MachineDeployments are available, then reports Succeeded with the status fields
gardenlet reads; the autoscaler's replicas are kept within [minimum, maximum]; a machine-type change
(new node-agent secret) yields a new class and hash and removes the old ones; hibernation scales to 0
and marks machines for forced deletion, waking up scales back; deletion leaves nothing behind and waits
for the machines; `replay --check` finds no difference."""
import hashlib
import os
import subprocess
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
sys.path.insert(0, os.path.join(ROOT, "test/kubeapi"))
from e2e import BIN, Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import (MCM, WORKERS, annotate, class_secrets, reconciled_events, decode, diff, get_worker, golden,  # noqa: E402
                       items, machine, mcm_make_available, normalise, pools, set_cluster, shoot, succeeded,
                       wait, worker)
import resources as resmod  # noqa: E402
from schema import validate_custom  # noqa: E402

t = Tap()
NS = "shoot--foo--bar"
PROJECT = "0c8b2ff5-6d29-4d1e-9f4f-2f3a1c5e7b10"
MD_A, MD_B = NS + "-pool-a", NS + "-pool-b"


def pool_hash(node_agent_secret):
    """Gardener's WorkerPoolHash for a rolling pool, computed here independently."""
    h = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    return h(h(node_agent_secret))[:5]


def crd_schemas():
    out = {}
    for crd in resmod.load_crd_files([os.path.join(ROOT, "test/specs/seed-crds")]):
        for v in crd["spec"]["versions"]:
            out[crd["spec"]["names"]["kind"]] = v["schema"]["openAPIV3Schema"]
    return out


def check_golden(kind, name, got, golden_file):
    want = golden(golden_file)
    d = diff(want, normalise(got))
    t.ok(not d, f"{kind} {name} equals {golden_file} field by field", diag="\n".join(d))


def check_crd(schemas, obj):
    kind = obj["kind"]
    _, errors, unknown = validate_custom(obj, schemas[kind])
    t.ok(not errors and not unknown, f"{kind} {obj['metadata']['name']} validates against its CRD",
         diag=f"errors: {errors}\nunknown fields: {unknown}")


def journaled(env, obj):
    """The controller has journaled an observation of obj (KIND/NS/NAME)."""
    p = subprocess.run([BIN, "journal", "export", "--type", "kube.added", "--object", obj, env.journal],
                       capture_output=True, text=True, timeout=30)
    return p.returncode == 0 and p.stdout.strip() != ""


def reconcile_until_succeeded(env, c, what, before):
    """Wait for the MachineDeployments of the operation started after `before` Reconciled Events,
    let the MCM stand-in report them available, then wait for Succeeded."""
    def done():
        w = get_worker(env, NS)
        if succeeded(w) and reconciled_events(env, NS) > before:
            return w
        if w and last_op(w).get("state") == "Processing" and (w.get("status") or {}).get("machineDeployments"):
            mcm_make_available(env, NS)
        return None
    return wait(what, done, controller=c, interval=0.1)


def main(env):
    schemas = crd_schemas()
    shoot(env, NS)
    worker(env, NS)
    c = env.controller()
    cls_a, cls_b = f"{MD_A}-{pool_hash('gardener-node-agent-pool-a-77ac3')}", \
        f"{MD_B}-{pool_hash('gardener-node-agent-pool-b-1f0e2')}"

    # The objects, before the machine deployments are available.
    mds = wait("two MachineDeployments", lambda: (lambda m: m if len(m) == 2 else None)(
        items(env, NS, "machinedeployments")), controller=c)
    w = wait("status.machineDeployments", lambda: (lambda o: o if (o.get("status") or {}).get(
        "machineDeployments") else None)(get_worker(env, NS)), controller=c)
    t.eq("Processing", last_op(w).get("state"), "the Worker stays Processing while the deployments are unavailable")
    classes = items(env, NS, "machineclasses")
    secrets = class_secrets(env, NS)
    t.eq(sorted([cls_a, cls_b]), sorted(classes), "one MachineClass per pool, named <deployment>-<pool hash>")
    t.eq(sorted([cls_a, cls_b]), sorted(secrets), "one class Secret per pool, named like its class")
    t.eq(sorted([MD_A, MD_B]), sorted(mds), "one MachineDeployment per pool, named <technical ID>-<pool>")
    for name, g in ((cls_a, "machineclass-pool-a.json"), (cls_b, "machineclass-pool-b.json")):
        if name in classes:
            check_golden("MachineClass", name, classes[name], g)
            check_crd(schemas, classes[name])
    for name, g in ((MD_A, "machinedeployment-pool-a.json"), (MD_B, "machinedeployment-pool-b.json")):
        if name in mds:
            check_golden("MachineDeployment", name, mds[name], g)
            check_crd(schemas, mds[name])
    for name, g in ((cls_a, "secret-pool-a.json"), (cls_b, "secret-pool-b.json")):
        if name in secrets:
            s = dict(secrets[name])
            data = s.pop("data", {})
            check_golden("Secret", name, s, g)
            pool = "pool-a" if name == cls_a else "pool-b"
            t.eq(f"#cloud-config for {pool}: <<BOOTSTRAP_TOKEN>>\n", decode(data.get("userData", "")),
                 f"class Secret {name} carries the pool's user data as userData")

    # Available → Succeeded, with the status gardenlet and the cluster-autoscaler read.
    mcm_make_available(env, NS)
    w = wait("Worker Succeeded", lambda: (lambda o: o if succeeded(o) else None)(get_worker(env, NS)),
             controller=c)
    st = w["status"]
    t.eq("Successfully reconciled Worker", last_op(w).get("description"), "Gardener's success description")
    t.eq([{"name": MD_A, "minimum": 1, "maximum": 3, "priority": 10}, {"name": MD_B, "minimum": 2, "maximum": 2}],
         st.get("machineDeployments"), "status.machineDeployments names each deployment with minimum and maximum")
    t.ok(isinstance(st.get("machineDeploymentsLastUpdateTime"), str)
         and st["machineDeploymentsLastUpdateTime"].endswith("Z"), "machineDeploymentsLastUpdateTime is set",
         diag=str(st))
    t.eq({"apiVersion": "equinixmetal.provider.extensions.gardener.cloud/v1alpha1", "kind": "WorkerStatus",
          "machineImages": [{"name": "flatcar", "version": "3510.2.0", "id": "flatcar_stable"},
                            {"name": "flatcar", "version": "3510.2.2",
                             "ipxeScriptUrl": "https://boot.example/flatcar.ipxe"}]},
         st.get("providerStatus"), "providerStatus is a WorkerStatus with the machine images in use")
    t.eq(w["metadata"]["generation"], st.get("observedGeneration"), "observedGeneration = generation")
    t.ok(st.get("lastError") is None, "no lastError")
    t.eq(["extensions.gardener.cloud/worker"], w["metadata"].get("finalizers"), "our finalizer is set")
    cond = wait("condition EveryNodeReady True", lambda: next(
        (x for x in (get_worker(env, NS).get("status") or {}).get("conditions") or []
         if x.get("type") == "EveryNodeReady" and x.get("status") == "True"), None), controller=c, timeout=75)
    t.eq(("HealthCheckSuccessful", "All health checks successful"), (cond.get("reason"), cond.get("message")),
         "the health check reports EveryNodeReady True once the deployments are available")
    t.ok(cond.get("lastTransitionTime") and cond.get("lastUpdateTime"), "the condition carries its times",
         diag=str(cond))

    # The cluster-autoscaler scaled pool-a to 2 and someone set pool-b to 5: kept, and clamped.
    env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{MD_A}", {"spec": {"replicas": 2}})
    env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{MD_B}", {"spec": {"replicas": 5}})
    env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{MD_A}",
                   {"spec": {"template": {"metadata": {"annotations": {"rollout-workers": "2026-01-01T00:00:00Z"}}}}})
    n = reconciled_events(env, NS)
    annotate(env, WORKERS.format(ns=NS) + "/worker")
    reconcile_until_succeeded(env, c, "reconcile after scaling", n)
    mds = items(env, NS, "machinedeployments")
    t.eq(2, mds[MD_A]["spec"]["replicas"], "the autoscaler's replica count within [minimum, maximum] is kept")
    t.eq(2, mds[MD_B]["spec"]["replicas"], "a replica count above the maximum is clamped")
    t.eq({"rollout-workers": "2026-01-01T00:00:00Z"}, mds[MD_A]["spec"]["template"]["metadata"].get("annotations"),
         "template annotations set by others (rollout-workers) are kept")

    # Machine type change: gardenlet gives the pool a new node-agent secret → new hash and class.
    n = reconciled_events(env, NS)
    ps = pools()
    ps[0]["machineType"] = "m3.small.x86"
    ps[0]["nodeAgentSecretName"] = "gardener-node-agent-pool-a-9d2c1"
    st_, o = env.kube.patch(WORKERS.format(ns=NS) + "/worker",
                            {"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}},
                             "spec": {"pools": ps}})
    t.ok(st_ < 300, "the Worker's pools are updated", diag=str(o))
    new_a = f"{MD_A}-{pool_hash('gardener-node-agent-pool-a-9d2c1')}"
    w = reconcile_until_succeeded(env, c, "reconcile after the machine type change", n)
    classes, secrets, mds = items(env, NS, "machineclasses"), class_secrets(env, NS), items(env, NS, "machinedeployments")
    t.ok(new_a != cls_a, "the new node-agent secret changes the pool hash")
    t.eq(sorted([new_a, cls_b]), sorted(classes), "a new MachineClass replaces the old one of pool-a")
    t.eq(sorted([new_a, cls_b]), sorted(secrets), "the old class Secret is removed too")
    t.eq(new_a, mds[MD_A]["spec"]["template"]["spec"]["class"]["name"], "the MachineDeployment rolls to the new class")
    t.eq("m3.small.x86", (classes.get(new_a) or {}).get("providerSpec", {}).get("machineType"),
         "the new class has the new machine type")
    t.eq({"cpu": "8", "gpu": "0", "memory": "64Gi"}, (classes.get(new_a) or {}).get("nodeTemplate", {}).get("capacity"),
         "its nodeTemplate has the new type's capacity (from the CloudProfile)")

    # Hibernation: replicas 0, machines marked for forced deletion; waking up: back to the minimum.
    machine(env, NS, MD_A + "-abcde-x1y2z", MD_A)
    wait("the Machine in the journal", lambda: journaled(env, "Machine/" + NS + "/" + MD_A + "-abcde-x1y2z"),
         controller=c)
    set_cluster(env, NS, hibernated=True)
    n = reconciled_events(env, NS)
    annotate(env, WORKERS.format(ns=NS) + "/worker")
    w = reconcile_until_succeeded(env, c, "hibernating reconcile", n)
    mds = items(env, NS, "machinedeployments")
    t.eq([0, 0], [mds[MD_A]["spec"]["replicas"], mds[MD_B]["spec"]["replicas"]], "hibernation scales every pool to 0")
    m = items(env, NS, "machines").get(MD_A + "-abcde-x1y2z") or {}
    t.eq("True", (m.get("metadata", {}).get("labels") or {}).get("force-deletion"),
         "hibernation labels the machines force-deletion=True")
    set_cluster(env, NS, hibernated=False)
    n = reconciled_events(env, NS)
    annotate(env, WORKERS.format(ns=NS) + "/worker")
    reconcile_until_succeeded(env, c, "waking-up reconcile", n)
    mds = items(env, NS, "machinedeployments")
    t.eq([1, 2], [mds[MD_A]["spec"]["replicas"], mds[MD_B]["spec"]["replicas"]], "waking up scales to the minimum")

    # Deletion: everything goes; the finalizer stays until the machines are gone.
    st_, o = env.kube.delete(WORKERS.format(ns=NS) + "/worker")
    t.ok(st_ < 300, "the Worker is deleted", diag=str(o))
    wait("machine deployments, classes and class Secrets deleted",
         lambda: not items(env, NS, "machinedeployments") and not items(env, NS, "machineclasses")
         and not class_secrets(env, NS), controller=c)
    t.ok(True, "deletion removes every MachineDeployment, MachineClass and class Secret")
    w = get_worker(env, NS)
    t.ok(w is not None and "extensions.gardener.cloud/worker" in (w["metadata"].get("finalizers") or []),
         "the finalizer stays while a Machine exists")
    env.kube.delete(f"{MCM}/namespaces/{NS}/machines/{MD_A}-abcde-x1y2z")
    wait("the Worker is gone", lambda: get_worker(env, NS) is None, controller=c)
    t.ok(True, "once the machines are gone the finalizer is removed and the Worker disappears")
    t.eq(sorted(["user-data-pool-a", "user-data-pool-b", "cloudprovider", "gardener"]),
         sorted(n for n in items(env, NS, "secrets", group=None)), "only the Secrets gardenlet owns are left")

    c.stop()
    t.eq(0, c.returncode, "SIGTERM stops the controller with exit 0")
    code, out = env.replay_check()
    t.ok(code == 0, "replay --check finds no difference", diag=out[-2000:])
    logs = c.logs()
    t.ok("cloud-config for pool" not in logs and "PDw8Qk9PVFNUUkFQX1RPS0VOPj4" not in logs,
         "the user data never reaches the log")
    journal = subprocess.run([BIN, "journal", "export", env.journal], capture_output=True, text=True,
                             timeout=60).stdout
    t.ok(len(journal) > 0 and "cloud-config for pool" not in journal and
         "I2Nsb3VkLWNvbmZpZyBmb3IgcG9vbC1h" not in journal, "the user data never reaches the journal")


with Env(seed_crds=True, project=PROJECT) as env:
    t.run("worker lifecycle", main, env)
sys.exit(t.done())
