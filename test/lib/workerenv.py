"""Worker test helpers: a shoot with a CloudProfile for Equinix Metal, a 2-pool Worker, the user data
Secrets, and a stand-in for the MCM core that reports MachineDeployments as available.

    from workerenv import *
    env = Env(seed_crds=True)
    shoot(env, NS); worker(env, NS)
"""
import base64
import copy
import json
import os
import subprocess
import sys
import time

from e2e import BIN, Env, b64, last_op
from kubeapi import KubeAPI

ROOT = os.environ.get("EQXM_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(ROOT, "test", "golden", "worker")
API = "/apis/extensions.gardener.cloud/v1alpha1"
MCM = "/apis/machine.sapcloud.io/v1alpha1"
WORKERS = API + "/namespaces/{ns}/workers"
PROVIDER_API = "equinixmetal.provider.extensions.gardener.cloud/v1alpha1"

CLOUD_PROFILE = {
    "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile", "metadata": {"name": "equinix-metal"},
    "spec": {
        "machineTypes": [{"name": "c3.small.x86", "cpu": "8", "gpu": "0", "memory": "32Gi", "usable": True},
                         {"name": "m3.large.x86", "cpu": "32", "gpu": "0", "memory": "256Gi", "usable": True},
                         {"name": "m3.small.x86", "cpu": "8", "gpu": "0", "memory": "64Gi", "usable": True}],
        "providerConfig": {"apiVersion": PROVIDER_API, "kind": "CloudProfileConfig",
                           "machineImages": [{"name": "flatcar", "versions": [
                               {"version": "3510.2.0", "id": "flatcar_stable"},
                               {"version": "3510.2.2", "ipxeScriptUrl": "https://boot.example/flatcar.ipxe"}]}]}}}


def shoot(env, ns, hibernated=False, shoot_api=None):
    """Namespace, cloudprovider Secret, Cluster (technical ID = ns), the pools' user data Secrets and
    the Secret `gardener` with the kubeconfig of the shoot's kube-apiserver (shoot_api, a KubeAPI;
    by default the seed's own server, which has no Nodes)."""
    env.shoot(ns)
    set_cluster(env, ns, hibernated)
    with open((shoot_api or env.kube).kubeconfig) as f:
        kubeconfig = f.read()
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gardener", "namespace": ns},
            "type": "Opaque", "data": {"kubeconfig": b64(kubeconfig)}}
    st, obj = env.kube.create(f"/api/v1/namespaces/{ns}/secrets", body)
    assert st < 300, obj
    for pool in ("pool-a", "pool-b"):
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "user-data-" + pool, "namespace": ns},
                "type": "Opaque", "data": {"cloud_config": b64(f"#cloud-config for {pool}: <<BOOTSTRAP_TOKEN>>\n")}}
        st, obj = env.kube.create(f"/api/v1/namespaces/{ns}/secrets", body)
        assert st < 300, obj


def set_cluster(env, ns, hibernated):
    st, cl = env.kube.get(API + "/clusters/" + ns)
    assert st == 200, cl
    cl["spec"]["cloudProfile"] = CLOUD_PROFILE
    sh = cl["spec"]["shoot"]
    sh.setdefault("status", {})["technicalID"] = ns
    sh["spec"]["hibernation"] = {"enabled": hibernated}
    st, obj = env.kube.patch(API + "/clusters/" + ns, {"spec": cl["spec"]})
    assert st < 300, obj


def pools():
    return [
        {"name": "pool-a", "machineType": "c3.small.x86", "minimum": 1, "maximum": 3, "maxSurge": 1,
         "maxUnavailable": 0, "machineImage": {"name": "flatcar", "version": "3510.2.0"},
         "userDataSecretRef": {"name": "user-data-pool-a", "key": "cloud_config"},
         "nodeAgentSecretName": "gardener-node-agent-pool-a-77ac3",
         "zones": ["ny5"], "priority": 10,
         "labels": {"worker.gardener.cloud/pool": "pool-a", "node.kubernetes.io/role": "node", "team": "blue"},
         "annotations": {"example.com/owner": "blue"},
         "taints": [{"key": "dedicated", "value": "blue", "effect": "NoSchedule"}],
         "clusterAutoscaler": {"scaleDownUtilizationThreshold": "0.4", "maxNodeProvisionTime": "20m0s"},
         "machineControllerManager": {"machineDrainTimeout": "1h0m0s", "machineHealthTimeout": "10m0s",
                                      "machineCreationTimeout": "20m0s", "maxEvictRetries": 30,
                                      "nodeConditions": ["ReadonlyFilesystem", "DiskPressure"]},
         "providerConfig": {"apiVersion": PROVIDER_API, "kind": "WorkerConfig",
                            "reservationIDs": ["hr-1", "hr-2"], "reservedDevicesOnly": True}},
        {"name": "pool-b", "machineType": "m3.large.x86", "minimum": 2, "maximum": 2, "maxSurge": "25%",
         "maxUnavailable": 0, "machineImage": {"name": "flatcar", "version": "3510.2.2"},
         "userDataSecretRef": {"name": "user-data-pool-b", "key": "cloud_config"},
         "nodeAgentSecretName": "gardener-node-agent-pool-b-1f0e2",
         "labels": {"worker.gardener.cloud/pool": "pool-b"}},
    ]


def worker(env, ns, pool_list=None, annotate=True):
    obj = {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Worker",
           "metadata": {"name": "worker", "namespace": ns},
           "spec": {"type": "equinixmetal", "region": "ny",
                    "secretRef": {"name": "cloudprovider", "namespace": ns},
                    "infrastructureProviderStatus": {"apiVersion": PROVIDER_API, "kind": "InfrastructureStatus",
                                                     "sshKeyID": "ssh-key-1"},
                    "pools": pool_list if pool_list is not None else pools()}}
    if annotate:
        obj["metadata"]["annotations"] = {"gardener.cloud/operation": "reconcile"}
    st, o = env.kube.create(WORKERS.format(ns=ns), obj)
    assert st < 300, o
    return o


def get_worker(env, ns):
    st, o = env.kube.get(WORKERS.format(ns=ns) + "/worker")
    return o if st == 200 else None


def reconciled_events(env, ns):
    """How many times the Worker reported Succeeded (Events with reason Reconciled, counted)."""
    st, evs = env.kube.get(f"/api/v1/namespaces/{ns}/events")
    return sum(e.get("count") or 1 for e in (evs or {}).get("items", [])
               if e.get("reason") == "Reconciled" and (e.get("involvedObject") or {}).get("kind") == "Worker")


def run_with_shoot_api(t, name, fn):
    """Run fn(env, shoot_api) with a seed (with the MCM CRDs) and a second test kube-apiserver standing
    in for the shoot, then exit with the TAP result."""
    with Env(seed_crds=True) as env:
        shoot_api = KubeAPI()
        try:
            t.run(name, fn, env, shoot_api)
        finally:
            shoot_api.stop()
    sys.exit(t.done())


def stop_and_check_journal(t, env, c, shoot_api):
    """Stop the controller (exit 0: under ASan, no leak); neither apiserver's token is in the journal;
    `replay --check` finds no difference."""
    c.stop()
    t.eq(0, c.returncode, "SIGTERM stops the controller with exit 0 (under ASan: no leak)")
    text = subprocess.run([BIN, "journal", "export", env.journal], capture_output=True, text=True).stdout
    t.ok(text and shoot_api.token not in text and env.kube.token not in text,
         "no kube-apiserver token in the journal")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-2000:])


def annotate(env, path, value="reconcile"):
    st, o = env.kube.patch(path, {"metadata": {"annotations": {"gardener.cloud/operation": value}}})
    assert st < 300, o


def wait(what, fn, timeout=30, controller=None, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        if controller is not None and not controller.running():
            break
        time.sleep(interval)
    logs = controller.logs()[-4000:] if controller else ""
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def items(env, ns, plural, group=MCM):
    path = f"{group}/namespaces/{ns}/{plural}" if group else f"/api/v1/namespaces/{ns}/{plural}"
    st, lst = env.kube.get(path)
    assert st == 200, lst
    return {o["metadata"]["name"]: o for o in lst.get("items", [])}


def class_secrets(env, ns):
    return {n: s for n, s in items(env, ns, "secrets", group=None).items()
            if (s["metadata"].get("labels") or {}).get("gardener.cloud/purpose") == "machineclass"}


def mcm_make_available(env, ns, names=None):
    """Stand-in for the MCM core: every (named) MachineDeployment reports all replicas available."""
    for name, md in items(env, ns, "machinedeployments").items():
        if names and name not in names:
            continue
        r = md["spec"].get("replicas", 0)
        status = {"observedGeneration": md["metadata"].get("generation", 1), "replicas": r, "updatedReplicas": r,
                  "readyReplicas": r, "availableReplicas": r, "unavailableReplicas": 0,
                  "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                 {"type": "Progressing", "status": "True", "reason": "NewMachineSetAvailable"}]}
        st, o = env.kube.patch(f"{MCM}/namespaces/{ns}/machinedeployments/{name}/status", {"status": status})
        assert st < 300, o


def machine(env, ns, name, md):
    obj = {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
           "metadata": {"name": name, "namespace": ns, "labels": {"name": md}},
           "spec": {"class": {"kind": "MachineClass", "name": "x"}}}
    st, o = env.kube.create(f"{MCM}/namespaces/{ns}/machines", obj)
    assert st < 300, o
    return o


VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def normalise(obj):
    o = copy.deepcopy(obj)
    md = o.get("metadata", {})
    for k in VOLATILE:
        md.pop(k, None)
    o.pop("status", None)
    return o


def golden(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return json.load(f)


def diff(expected, actual, path=""):
    """Field-by-field differences as readable lines."""
    out = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k in sorted(set(expected) | set(actual)):
            p = f"{path}.{k}" if path else k
            if k not in actual:
                out.append(f"{p}: missing (expected {json.dumps(expected[k])})")
            elif k not in expected:
                out.append(f"{p}: unexpected {json.dumps(actual[k])}")
            else:
                out += diff(expected[k], actual[k], p)
    elif expected != actual:
        out.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")
    return out


def succeeded(o):
    return o and last_op(o).get("state") == "Succeeded" and not (o["metadata"].get("annotations") or {}).get(
        "gardener.cloud/operation")


def decode(s):
    return base64.b64decode(s).decode()
