#!/usr/bin/env python3
"""Drain on machine deletion (issue 12): the node is cordoned, its pods are evicted through the
eviction API, which honours a PodDisruptionBudget (refused evictions are retried in later passes and
the machine stays Terminating with MCM's "Drain failed" description until the budget allows it);
DaemonSet pods are left alone; with the force-deletion label pods are deleted instead of evicted."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, stop_and_replay_check, phase, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
PODS = "/api/v1/namespaces/default/pods"
PDB = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


def pod(name, node, labels, owner=None):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "default", "labels": labels},
         "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}}
    if owner:
        p["metadata"]["ownerReferences"] = [owner]
    return p


def evictions(env, name):
    return [r for r in env.shoot.requests() if r.get("method") == "POST" and r.get("path", "").endswith(f"/pods/{name}/eviction")]


def exists(env, path):
    st, _ = env.shoot.get(path)
    return st == 200


def main(env):
    env.pool("pool-a", 2)
    c = env.controller("--machine-evict-retry-interval=1s")
    env.wait_running({"pool-a": 2}, controller=c)
    x, y = sorted(m["metadata"]["name"] for m in env.machines("pool-a"))
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "0f5e3a2c-1111-4a4a-9b9b-000000000001",
          "controller": True}
    for body in (pod("web-x", x, {"app": "web"}), pod("web-y", y, {"app": "web"}),
                 pod("agent-x", x, {"app": "agent"}, ds)):
        env._ok(*env.shoot.create(PODS, body), "create pod")
    env._ok(*env.shoot.create(PDB, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                    "metadata": {"name": "web", "namespace": "default"},
                                    "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
            "create pdb")
    env.shoot.clear_requests()
    env.seed.delete(env.path("machines", x))
    env.wait("two refused evictions of web-x", lambda: len([r for r in evictions(env, "web-x") if r.get("status") == 429]) >= 2,
             controller=c)
    t.ok(True, "the eviction of web-x is refused (429) and tried again in a later pass")
    m = env.machine(x)
    t.ok(m is not None and phase(m) == "Terminating" and "Drain failed due to" in last_op(m).get("description", ""),
         "the machine stays Terminating with MCM's drain failure description", diag=last_op(m or {}))
    t.ok(exists(env, PODS + "/web-x"), "web-x is still running (the PDB holds)")
    node = env.node(x)
    t.ok(node is not None and (node.get("spec") or {}).get("unschedulable") is True, "the node is cordoned")
    env.shoot.patch(PDB + "/web", {"spec": {"minAvailable": 1}})
    env.wait("the machine deleted", lambda: env.machine(x) is None, controller=c)
    t.ok(not exists(env, PODS + "/web-x"), "web-x was evicted once the budget allowed it")
    t.ok(exists(env, PODS + "/agent-x"), "the DaemonSet pod was not evicted")
    t.ok(not evictions(env, "agent-x"), "no eviction was tried for the DaemonSet pod")
    t.ok(env.node(x) is None, "the node is deleted")

    # Force deletion: pods are deleted, not evicted, whatever the budget says.
    env.shoot.patch(PDB + "/web", {"spec": {"minAvailable": 5}})
    env.seed.patch(env.path("machines", y), {"metadata": {"labels": {"force-deletion": "True"}}})
    env.seed.delete(env.path("machines", y))
    env.wait("the forced machine deleted", lambda: env.machine(y) is None, controller=c)
    t.ok(not exists(env, PODS + "/web-y"), "web-y was deleted despite the budget")
    t.eq(0, len(evictions(env, "web-y")), "no eviction for a force-deleted machine")
    dels = [r for r in env.shoot.requests() if r.get("method") == "DELETE" and r.get("path", "").endswith("/pods/web-y")]
    t.eq(1, len(dels), "web-y was deleted with one DELETE")
    stop_and_replay_check(t, env, c)


run_scenario(t, main)
