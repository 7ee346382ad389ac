#!/usr/bin/env python3
"""The Worker health check (issue 11): condition EveryNodeReady every --healthcheck-sync-period, as
Gardener's health check controller with its worker NodesChecker, with the real binary, a seed and a
shoot test kube-apiserver:
- each check lists the shoot's Nodes (kubeconfig from Secret gardener-internal, else gardener) and
  counts them as Gardener does (MCM-managed, ready: schedulable and Ready=True, not-managed-by-mcm);
- the verdict: True "All health checks successful"; a failed machine or an unhealthy
  MachineDeployment of the namespace → False HealthCheckUnsuccessful with Gardener's texts;
  a failed Node list → Unknown ConditionCheckError "failed to execute 1 health check: unable to check
  nodes. Failed to list shoot nodes: ..."; no shoot kubeconfig → Unknown "unable to execute any health
  check: ..."; hibernated → True "Shoot is hibernated" without talking to the shoot;
- lastTransitionTime changes only with the status; `replay --check` finds no difference."""
import json
import os
import subprocess
import sys
import time

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from e2e import BIN  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import (MCM, get_worker, items, mcm_make_available, run_with_shoot_api, set_cluster,  # noqa: E402
                       shoot, stop_and_check_journal, succeeded, wait, worker)

t = Tap()
NS = "shoot--foo--health"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"


def node(shoot_api, name, ready=True, unschedulable=False, annotations=None):
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {}}
    st, o = shoot_api.create("/api/v1/nodes", body)
    assert st < 300, o
    st, o = shoot_api.patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}]}})
    assert st < 300, o


def condition(env):
    for c in ((get_worker(env, NS) or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "EveryNodeReady":
            return c
    return None


def wait_condition(env, c, what, pred):
    return wait(what, lambda: (lambda x: x if x and pred(x) else None)(condition(env)), timeout=30,
                controller=c)


def node_lists(shoot_api):
    return len([r for r in shoot_api.requests()
                if r["method"] == "GET" and r["path"] == "/api/v1/nodes" and not r.get("watch")])


def run(env, shoot_api):
    shoot(env, NS, shoot_api=shoot_api)
    node(shoot_api, "n-ready")
    node(shoot_api, "n-cordoned", unschedulable=True)
    node(shoot_api, "n-notready", ready=False)
    node(shoot_api, "n-foreign", annotations={"node.machine.sapcloud.io/not-managed-by-mcm": "1"})
    c = env.controller("--controllers", "worker", "--healthcheck-sync-period", "1")
    worker(env, NS)

    def ok():
        w = get_worker(env, NS)
        if w and (w.get("status") or {}).get("machineDeployments"):
            mcm_make_available(env, NS)
        return succeeded(w) and w
    wait("the Worker to succeed", ok, timeout=60, controller=c)
    c1 = wait_condition(env, c, "EveryNodeReady True", lambda x: x["status"] == "True")
    t.eq(("HealthCheckSuccessful", "All health checks successful"), (c1["reason"], c1["message"]),
         "available deployments and a listable shoot: True, All health checks successful")
    t.ok(node_lists(shoot_api) >= 1, "the check listed the shoot's Nodes", diag=node_lists(shoot_api))

    # An unhealthy MachineDeployment (Gardener's CheckMachineDeployment texts). Condition times have
    # second resolution: wait past the second of the True condition, so the transition shows.
    time.sleep(1.1)
    mds = sorted(items(env, NS, "machinedeployments"))
    st, o = env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{mds[0]}/status", {"status": {"conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability."}]}})
    assert st < 300, o
    c2 = wait_condition(env, c, "EveryNodeReady False", lambda x: x["status"] == "False")
    t.eq(f'machine deployment "{mds[0]}" in namespace "{NS}" is unhealthy: Deployment does not have minimum '
         "availability (MinimumReplicasUnavailable)", c2["message"], "Available False: Gardener's message")
    t.eq("HealthCheckUnsuccessful", c2["reason"], "with reason HealthCheckUnsuccessful")
    t.ok(c2["lastTransitionTime"] > c1["lastTransitionTime"], "the status change moves lastTransitionTime",
         diag=(c1, c2))
    st, o = env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{mds[1]}/status", {"status": {
        "failedMachines": [{"name": mds[1] + "-m1", "lastOperation": {"description": "no capacity"}}]}})
    assert st < 300, o
    c3 = wait_condition(env, c, "the failed machine", lambda x: "failed:" in x["message"])
    t.eq(f'machine "{mds[1]}-m1" failed: no capacity', c3["message"],
         "a failed machine in any deployment comes before an unhealthy deployment")
    t.eq(c2["lastTransitionTime"], c3["lastTransitionTime"], "still False: lastTransitionTime kept")
    st, o = env.kube.patch(f"{MCM}/namespaces/{NS}/machinedeployments/{mds[1]}/status",
                           {"status": {"failedMachines": None}})
    assert st < 300, o
    mcm_make_available(env, NS)
    wait_condition(env, c, "EveryNodeReady True again", lambda x: x["status"] == "True")

    # The shoot's Node list fails.
    shoot_api.add_fault(action="status", method="GET", path=r"^/api/v1/nodes$", watch=False, status=503, times=-1,
                        message="etcd is down")
    c4 = wait_condition(env, c, "EveryNodeReady Unknown", lambda x: x["status"] == "Unknown")
    t.eq("ConditionCheckError", c4["reason"], "a failed Node list: Unknown, ConditionCheckError")
    t.ok(c4["message"].startswith("failed to execute 1 health check: unable to check nodes. Failed to list shoot "
                                  "nodes: ") and "etcd is down" in c4["message"],
         "Gardener's text, with the apiserver's message", diag=c4["message"])
    shoot_api.clear_faults()
    wait_condition(env, c, "True once the shoot answers", lambda x: x["status"] == "True")

    # No kubeconfig for the shoot.
    st, o = env.kube.delete(SECRETS + "/gardener")
    assert st < 300, o
    c5 = wait_condition(env, c, "Unknown without a kubeconfig", lambda x: x["status"] == "Unknown")
    t.ok(c5["message"].startswith("unable to execute any health check: could not read the shoot's kubeconfig "
                                  f"from Secret {NS}/gardener"), "no shoot client: the Secret is named",
         diag=c5["message"])

    # Hibernated: judged without the shoot.
    set_cluster(env, NS, True)
    c6 = wait_condition(env, c, "hibernated", lambda x: x["message"] == "Shoot is hibernated")
    t.eq(("True", "HealthCheckSuccessful"), (c6["status"], c6["reason"]), "hibernated: True, Shoot is hibernated")
    before = node_lists(shoot_api)
    n_before = len([r for r in env.kube.requests() if r["method"] == "GET" and r["path"] == SECRETS + "/gardener"])
    time.sleep(3.5)
    n_after = len([r for r in env.kube.requests() if r["method"] == "GET" and r["path"] == SECRETS + "/gardener"])
    t.eq((before, n_before), (node_lists(shoot_api), n_after),
         "while hibernated no check reads the kubeconfig or lists Nodes")

    out = subprocess.run([BIN, "journal", "export", "--type", "executor.result", env.journal],
                         capture_output=True, text=True).stdout
    counts = [e for e in (json.loads(line) for line in out.splitlines() if line.strip())
              if (e.get("payload") or {}).get("kind") == "shoot.nodes.count" and (e.get("payload") or {}).get("ok")]
    t.ok(counts, "the node counts are journaled", diag=out[-1500:])
    t.eq({"nodes": 4, "registered": 3, "ready": 1, "notManagedByMCM": 1},
         (counts[0]["payload"] if counts else {}).get("output"),
         "counted as Gardener does: 3 managed by MCM, 1 of them schedulable and Ready, 1 not managed")
    stop_and_check_journal(t, env, c, shoot_api)


run_with_shoot_api(t, "worker health check", run)
