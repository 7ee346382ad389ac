#!/usr/bin/env python3
"""Worker errors as Gardener reports them (issue 11): a pool provider config that does not validate
ends the operation with ERR_CONFIGURATION_PROBLEM and a description naming the field, and nothing is
written; an unknown machine image is named; a failed machine in a MachineDeployment is a severe error
with Gardener's "machine(s) failed" text; `replay --check` finds no difference."""
import os
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from workerenv import MCM, PROVIDER_API, get_worker, items, pools, shoot, wait, worker  # noqa: E402

t = Tap()


def errored(env, ns):
    return lambda: (lambda o: o if o and last_op(o).get("state") == "Error" else None)(get_worker(env, ns))


def main(env):
    # 1. A WorkerConfig with a wrong type.
    ns1 = "shoot--foo--badcfg"
    shoot(env, ns1)
    ps = pools()
    ps[0]["providerConfig"] = {"apiVersion": PROVIDER_API, "kind": "WorkerConfig", "reservationIDs": "hr-1"}
    worker(env, ns1, ps)
    # 2. An image neither in the CloudProfile nor in the Worker status.
    ns2 = "shoot--foo--noimage"
    shoot(env, ns2)
    ps = pools()
    ps[1]["machineImage"] = {"name": "flatcar", "version": "0.0.1"}
    worker(env, ns2, ps)
    # 3. A machine that failed.
    ns3 = "shoot--foo--failed"
    shoot(env, ns3)
    worker(env, ns3)
    c = env.controller()

    w = wait("the Worker with a bad provider config fails", errored(env, ns1), controller=c)
    le = w["status"].get("lastError") or {}
    t.eq(["ERR_CONFIGURATION_PROBLEM"], le.get("codes"), "a bad provider config is ERR_CONFIGURATION_PROBLEM")
    t.ok("spec.pools[0].providerConfig.reservationIDs" in le.get("description", ""),
         "the description names the field", diag=le.get("description"))
    t.ok(le.get("description", "").startswith("Error reconciling Worker: could not decode provider config"),
         "with Gardener's prefix", diag=le.get("description"))
    t.eq({}, items(env, ns1, "machinedeployments"), "nothing is written for a Worker that does not validate")

    w = wait("the Worker with an unknown image fails", errored(env, ns2), controller=c)
    d = (w["status"].get("lastError") or {}).get("description", "")
    t.ok("could not find machine image for flatcar/0.0.1 neither in cloud profile nor in worker status" in d,
         "an unknown machine image is named", diag=d)

    mds = wait("machine deployments of the third shoot", lambda: (lambda m: m if len(m) == 2 else None)(
        items(env, ns3, "machinedeployments")), controller=c)
    name = sorted(mds)[0]
    failed = {"name": name + "-x-y", "lastOperation": {"description": "Cloud provider message - no capacity",
                                                       "state": "Failed", "type": "Create"}}
    st, o = env.kube.patch(f"{MCM}/namespaces/{ns3}/machinedeployments/{name}/status",
                           {"status": {"failedMachines": [failed]}})
    t.ok(st < 300, "the MCM stand-in reports a failed machine", diag=str(o))
    w = wait("the Worker with a failed machine fails", errored(env, ns3), controller=c)
    d = (w["status"].get("lastError") or {}).get("description", "")
    t.eq(f'Error reconciling Worker: machine(s) failed: 1 error occurred: "{name}-x-y": '
         "Cloud provider message - no capacity", d, "a failed machine is reported with Gardener's text")
    cond = wait("condition EveryNodeReady False", lambda: next(
        (x for x in (get_worker(env, ns3).get("status") or {}).get("conditions") or []
         if x.get("type") == "EveryNodeReady" and x.get("status") == "False"
         and "failed" in x.get("message", "")), None), controller=c, timeout=75)
    t.eq(f'machine "{name}-x-y" failed: Cloud provider message - no capacity', cond.get("message"),
         "the health check reports the failed machine in EveryNodeReady")
    t.eq("HealthCheckUnsuccessful", cond.get("reason"), "with reason HealthCheckUnsuccessful")
    c.stop()
    code, out = env.replay_check()
    t.ok(code == 0, "replay --check finds no difference", diag=out[-2000:])


with Env(seed_crds=True) as env:
    t.run("worker errors", main, env)
sys.exit(t.done())
