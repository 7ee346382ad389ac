#!/usr/bin/env python3
"""Writes test/golden/capacity-recovery.jsonl: the journal events (as the controller journals them) of
a shoot whose first device cannot be created (no capacity for the plan in the metro), is created on
the retry, then stays provisioning past the creation timeout and is replaced; the replacement becomes
active and the Worker Succeeded. Times are seconds after 2026-11-24T00:00:00Z. Run it to regenerate
the script after changing it; the golden outputs are rewritten by
`EQXM_UPDATE_GOLDEN=1 test/integration/golden-timelines.t`."""
import json
import os

NS = "shoot--dev--capacity"
POOL = "pool-a"
W_UID = "5b0c7a51-0d3e-4b9e-9a1c-2f6e8d4c1b01"
CORR = f"worker/{NS}/worker/5b0c7a51-1"
WGK = "extensions.gardener.cloud/Worker"
MGK = "machine.sapcloud.io/Machine"
DGK = "metal.equinix.com/Device"
SGK = "/Secret"

ev = []


def add(t, source, typ, gk="", ns="", name="", uid="", corr="", payload=None, rv=""):
    ev.append({"t": t, "source": source, "type": typ, "group_kind": gk, "namespace": ns, "name": name,
               "uid": uid, "resource_version": rv, "correlation_id": corr, "payload": payload or {}})


def action(t, aid, kind, gk, ns, name, reason, params=None, controller="machine", cause=0):
    a = {"id": aid, "key": "k" * 32, "controller": controller, "kind": kind, "correlation": CORR,
         "target": {"groupKind": gk, "namespace": ns, "name": name, "uid": ""},
         "attempt": int(aid.rsplit("/", 1)[1]),
         "params": params or {}, "reason": reason}
    add(t, "engine", "engine.action", gk, ns, name, "", CORR, {"action": a, "causeSeq": cause})
    return a


def intent(t, a, resolving=False):
    tg = a["target"]
    add(t, "executor", "executor.intent", tg["groupKind"], tg["namespace"], tg["name"], "", CORR,
        {"controller": a["controller"], "actionId": a["id"], "key": a["key"], "kind": a["kind"],
         "attempt": a["attempt"], "epoch": 1, "resolving": resolving})


def result(t, a, ok, output=None, error=None, ms=120):
    p = {"controller": a["controller"], "actionId": a["id"], "key": a["key"], "kind": a["kind"],
         "attempt": a["attempt"], "ok": ok, "durationMs": ms}
    if ok:
        p["output"] = output or {}
    else:
        p["error"] = error
    tg = a["target"]
    add(t, "executor", "executor.result", tg["groupKind"], tg["namespace"], tg["name"], "", CORR, p)


def device(t, did, host, state, **extra):
    p = {"id": did, "hostname": host, "state": state, "metro": "sv", "plan": "c3.small.x86",
         "operating_system": "flatcar_stable", "billing_cycle": "hourly", "created_at": "",
         "locked": False, "tags": [f"kubernetes.io/cluster/{NS}", "kubernetes.io/role/node"], "ips": []}
    p.update(extra)
    add(t, "metal", "metal.device", DGK, NS, host, did, "", p)


def secret(t, digest, rv):
    add(t, "kube", "kube.modified", SGK, NS, "cloudprovider", "4e1f0c2a-secret", "",
        {"type": "MODIFIED", "object": {"apiVersion": "v1", "kind": "Secret",
                                        "metadata": {"name": "cloudprovider", "namespace": NS,
                                                     "resourceVersion": rv},
                                        "type": "Opaque",
                                        "data": {"apiToken": digest, "projectID": "sha256:" + "1" * 64}}},
        rv=rv)


def worker(t, state, rv, desc):
    add(t, "kube", "kube.modified", WGK, NS, "worker", W_UID, "",
        {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Worker",
         "metadata": {"name": "worker", "namespace": NS, "uid": W_UID, "generation": 1,
                      "resourceVersion": rv},
         "spec": {"type": "equinixmetal", "pools": [{"name": POOL, "machineType": "c3.small.x86",
                                                     "minimum": 1, "maximum": 1}]},
         "status": {"lastOperation": {"type": "Create", "state": state, "description": desc}}}, rv=rv)


def machine(t, name, phase, rv, node="", pid=""):
    add(t, "kube", "kube.modified", MGK, NS, name, "m-" + name, "",
        {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
         "metadata": {"name": name, "namespace": NS, "labels": {"worker.gardener.cloud/pool": POOL}},
         "spec": {"providerID": pid},
         "status": {"node": node, "currentStatus": {"phase": phase}}}, rv=rv)


M1 = f"{NS}-{POOL}-x1"
add(0, "engine", "engine.start", payload={"version": "0.1.0"})
secret(1, "sha256:" + "a" * 64, "100")
worker(2, "Processing", "200", "Worker is being created")
machine(2, M1, "Pending", "300")
a1 = action(3, f"machine/{NS}/{M1}/c1/create/1", "metal.device.create", MGK, NS, M1,
            f"create device {M1} (c3.small.x86 in sv) for Machine {M1} of pool {POOL}",
            {"hostname": M1, "plan": "c3.small.x86", "metro": "sv"}, cause=len(ev))
intent(3, a1)
result(4, a1, False, error={"code": "ENG_DEPLETED", "message": "creating device " + M1 + ": Equinix Metal "
                            "has no capacity for plan c3.small.x86 in metro sv (422)",
                            "gardenerCodes": ["ERR_INFRA_RESOURCES_DEPLETED"], "retryable": True,
                            "retryAfterMs": -1, "httpStatus": 422})
machine(4, M1, "Failed", "301")
worker(5, "Error", "201", "Error reconciling worker: no capacity for plan c3.small.x86 in metro sv")
# The operator rotates the credentials meanwhile; the retry waits for the new Secret.
secret(40, "sha256:" + "b" * 64, "101")
a2 = action(64, f"machine/{NS}/{M1}/c1/create/2", "metal.device.create", MGK, NS, M1,
            f"retry creating device {M1} after no capacity (attempt 2, after the new credentials)",
            {"hostname": M1, "plan": "c3.small.x86", "metro": "sv"}, cause=len(ev))
intent(64, a2)
result(65, a2, True, output={"id": "d0000001-aaaa-4bbb-8ccc-000000000001", "hostname": M1, "state": "queued"})
device(66, "d0000001-aaaa-4bbb-8ccc-000000000001", M1, "queued")
machine(66, M1, "Pending", "302", pid="equinixmetal://d0000001-aaaa-4bbb-8ccc-000000000001")
device(126, "d0000001-aaaa-4bbb-8ccc-000000000001", M1, "provisioning")
# 34 minutes provisioning: past the 20 minute creation timeout; the machine controller replaces it.
t_rep = 126 + 34 * 60
a3 = action(t_rep, f"machine/{NS}/{M1}/c1/delete-stuck/1", "metal.device.delete", MGK, NS, M1,
            f"device {M1} was provisioning for 34m00s, past the 20m creation timeout: delete it and "
            "create a replacement", {"deviceId": "d0000001-aaaa-4bbb-8ccc-000000000001"}, cause=len(ev))
intent(t_rep, a3)
result(t_rep + 1, a3, True, output={"gone": True})
device(t_rep + 5, "d0000001-aaaa-4bbb-8ccc-000000000001", M1, "deprovisioning")
M2 = f"{NS}-{POOL}-x2"
machine(t_rep + 5, M1, "Terminating", "303")
a4 = action(t_rep + 6, f"machine/{NS}/{M2}/c2/create/1", "metal.device.create", MGK, NS, M2,
            f"create device {M2} (c3.small.x86 in sv) for Machine {M2} of pool {POOL}, replacing {M1}",
            {"hostname": M2, "plan": "c3.small.x86", "metro": "sv"}, cause=len(ev))
intent(t_rep + 6, a4)
result(t_rep + 7, a4, True, output={"id": "d0000002-aaaa-4bbb-8ccc-000000000002", "hostname": M2, "state": "queued"})
device(t_rep + 8, "d0000002-aaaa-4bbb-8ccc-000000000002", M2, "queued")
add(t_rep + 60, "metal", "metal.device", DGK, NS, M1, "d0000001-aaaa-4bbb-8ccc-000000000001", "",
    {"id": "d0000001-aaaa-4bbb-8ccc-000000000001", "hostname": M1, "state": "gone", "reason": "deleted",
     "last_state": "deprovisioning"})
add(t_rep + 60, "kube", "kube.deleted", MGK, NS, M1, "m-" + M1, "", {"metadata": {"name": M1, "namespace": NS}})
device(t_rep + 68, "d0000002-aaaa-4bbb-8ccc-000000000002", M2, "provisioning")
device(t_rep + 668, "d0000002-aaaa-4bbb-8ccc-000000000002", M2, "active")
machine(t_rep + 700, M2, "Running", "304", node=M2, pid="equinixmetal://d0000002-aaaa-4bbb-8ccc-000000000002")
worker(t_rep + 720, "Succeeded", "202", "Worker has been created")
add(t_rep + 900, "engine", "engine.stop", payload={"reason": "signal"})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capacity-recovery.jsonl")
with open(out, "w") as f:
    f.write("# generated by make_capacity_recovery.py: a shoot whose device had no capacity, then "
            "was stuck provisioning and replaced\n")
    for e in ev:
        f.write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
