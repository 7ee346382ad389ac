#!/usr/bin/env python3
"""Worker restore after a control-plane migration (issue 11; Gardener's restoreMachineSetsAndMachines),
with the real binary and the test kube-apiserver: gardenlet has copied the machine state into
`status.state`; the restore creates its MachineSets, then its Machines (name, labels, annotations and
spec, in the Worker's namespace; an existing one is left as it is), then deploys the MachineDeployments
with the state's replicas, succeeds and drops the `restore` annotation. A state that is not a list of
objects fails with ERR_CONFIGURATION_PROBLEM naming the field. `replay --check` finds no difference."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import (MCM, WORKERS, annotate, get_worker, items, mcm_make_available, shoot, succeeded,  # noqa: E402
                       wait, worker)

t = Tap()
NS = "shoot--foo--moved"
BAD = "shoot--foo--badstate"
MD_A, MD_B = NS + "-pool-a", NS + "-pool-b"


def machine_set(name, md, cls):
    return {"metadata": {"name": name, "namespace": "old-seed-ns", "labels": {"name": md},
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"name": md}},
                     "template": {"metadata": {"labels": {"name": md}},
                                  "spec": {"class": {"kind": "MachineClass", "name": cls}}}}}


def machine(name, md, cls, node, device):
    return {"metadata": {"name": name, "namespace": "old-seed-ns", "labels": {"name": md, "node": node},
                         "annotations": {"example.com/restored": "yes"}},
            "spec": {"class": {"kind": "MachineClass", "name": cls}, "providerID": "equinixmetal://" + device}}


def set_state(env, ns, state):
    st, o = env.kube.patch(WORKERS.format(ns=ns) + "/worker/status", {"status": {"state": state}})
    assert st < 300, o


def main(env):
    shoot(env, NS)
    worker(env, NS, annotate=False)
    state = {"machineDeployments": {
        MD_A: {"replicas": 3,
               "machineSets": [machine_set(MD_A + "-5d8f9", MD_A, MD_A + "-cls")],
               "machines": [machine(MD_A + "-5d8f9-aaaaa", MD_A, MD_A + "-cls", "node-a1", "dev-a1"),
                            machine(MD_A + "-5d8f9-bbbbb", MD_A, MD_A + "-cls", "node-a2", "dev-a2")]},
        MD_B: {"replicas": 2, "machines": [machine(MD_B + "-77c4e-ccccc", MD_B, MD_B + "-cls", "node-b1", "dev-b1")]}}}
    set_state(env, NS, state)
    # One Machine is there already (the MCM of this seed was quicker): it must be left alone.
    st, o = env.kube.create(f"{MCM}/namespaces/{NS}/machines", {
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
        "metadata": {"name": MD_A + "-5d8f9-bbbbb", "namespace": NS, "labels": {"name": MD_A, "here": "before"}},
        "spec": {"class": {"kind": "MachineClass", "name": MD_A + "-cls"}}})
    assert st < 300, o
    annotate(env, WORKERS.format(ns=NS) + "/worker", "restore")

    shoot(env, BAD)
    worker(env, BAD, annotate=False)
    set_state(env, BAD, {"machineDeployments": {BAD + "-pool-a": {"replicas": 1, "machines": {"not": "a list"}}}})
    annotate(env, WORKERS.format(ns=BAD) + "/worker", "restore")

    n_before = len(env.kube.requests())
    c = env.controller("--controllers", "worker")

    def restored():
        w = get_worker(env, NS)
        if w and (w.get("status") or {}).get("machineDeployments"):
            mcm_make_available(env, NS)
        return succeeded(w) and w
    w = wait("the restored Worker to succeed", restored, timeout=60, controller=c)
    t.eq(("Restore", "Succeeded"), (last_op(w).get("type"), last_op(w).get("state")),
         "the operation is a Restore, Succeeded, and the annotation is gone")

    sets = items(env, NS, "machinesets")
    ms = sets.get(MD_A + "-5d8f9") or {}
    t.eq(sorted([MD_A + "-5d8f9"]), sorted(sets), "the state's MachineSet is created")
    want = machine_set(MD_A + "-5d8f9", MD_A, MD_A + "-cls")
    t.eq((want["metadata"]["labels"], want["metadata"]["annotations"], want["spec"]),
         ((ms.get("metadata") or {}).get("labels"), (ms.get("metadata") or {}).get("annotations"), ms.get("spec")),
         "with the labels, annotations and spec of the state, in the Worker's namespace")
    ms_ = items(env, NS, "machines")
    t.eq(sorted([MD_A + "-5d8f9-aaaaa", MD_A + "-5d8f9-bbbbb", MD_B + "-77c4e-ccccc"]), sorted(ms_),
         "every Machine of the state exists")
    m1 = ms_.get(MD_A + "-5d8f9-aaaaa") or {}
    t.eq(("equinixmetal://dev-a1", "node-a1", "yes"),
         ((m1.get("spec") or {}).get("providerID"), (m1["metadata"].get("labels") or {}).get("node"),
          (m1["metadata"].get("annotations") or {}).get("example.com/restored")),
         "a restored Machine keeps its providerID, node label and annotations")
    m2 = ms_.get(MD_A + "-5d8f9-bbbbb") or {}
    t.eq("before", (m2.get("metadata", {}).get("labels") or {}).get("here"), "an existing Machine is left as it was")
    t.ok("providerID" not in (m2.get("spec") or {}), "(not overwritten by the state)", diag=m2.get("spec"))
    seq = []
    for r in env.kube.requests()[n_before:]:
        parts = r["path"].split("/")
        if f"/namespaces/{NS}/machine" not in r["path"] or r["path"].endswith("/status"):
            continue
        kind = parts[-1] if r["method"] == "POST" else parts[-2] if r["method"] == "PATCH" else None
        if kind and (not seq or seq[-1] != kind):
            seq.append(kind)
    t.eq(["machinesets", "machines", "machineclasses", "machinedeployments"], seq,
         "one pass: the MachineSets, then the Machines, then the classes and MachineDeployments")
    mds = items(env, NS, "machinedeployments")
    t.eq((3, 2), ((mds.get(MD_A) or {}).get("spec", {}).get("replicas"), (mds.get(MD_B) or {}).get("spec", {}).get("replicas")),
         "the MachineDeployments take the state's replicas (pool-a 3 within 1..3; pool-b 2)")

    def bad():
        o = get_worker(env, BAD)
        return o and last_op(o).get("state") == "Error" and o
    b = wait("the Worker with a bad state fails", bad, timeout=30, controller=c)
    le = b["status"].get("lastError") or {}
    t.eq(["ERR_CONFIGURATION_PROBLEM"], le.get("codes"), "a malformed state is ERR_CONFIGURATION_PROBLEM")
    t.ok(f"status.state.machineDeployments[{BAD}-pool-a].machines: Invalid value" in le.get("description", ""),
         "naming the field", diag=le)
    t.eq({}, items(env, BAD, "machinedeployments"), "and nothing is deployed for it")

    c.stop()
    t.eq(0, c.returncode, "SIGTERM stops the controller with exit 0 (under ASan: no leak)")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-2000:])


with Env(seed_crds=True) as env:
    t.run("worker restore", main, env)
sys.exit(t.done())
