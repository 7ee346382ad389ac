#!/usr/bin/env python3
"""Machine health (issue 12): a device set to `failed` is replaced; a node NotReady past the health
timeout is replaced (Running -> Unknown -> Failed, then the MCM core deletes it and creates a new one);
a per-pool creation timeout from the MachineDeployment fails machines whose node never becomes Ready;
MCM's meltdown protection marks at most one machine of a pool Failed at a time."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, phase, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def dev_id(m):
    return m["spec"]["providerID"].rsplit("/", 1)[-1]


def deleted_as_failed(env, name):
    return [e for e in env.core.log if e[0] == "delete-machine" and e[1] == name and e[3] == "failed"]


def main(env):
    env.pool("pool-a", 3)
    env.pool("pool-b", 1, machine_config={"creationTimeout": "3s"})
    env.nodes.never_ready("^pool-b-")
    c = env.controller("--machine-health-timeout=3s", "--machine-creation-timeout=10m")
    env.wait_running({"pool-a": 3}, controller=c)

    # Per-pool creation timeout: pool-b's node never becomes Ready.
    first_b = env.wait("a pool-b machine failed by its creation timeout",
                       lambda: next((e for e in env.core.log if e[0] == "delete-machine" and e[3] == "failed"
                                     and e[1].startswith("pool-b-")), None), controller=c)
    t.ok("failed to join the cluster in 0 minutes." in first_b[4],
         "pool-b's machine failed after the MachineDeployment's creationTimeout (3s, not the flag's 10m)",
         diag=first_b)
    env.scale("pool-b", 0)

    # A failed device.
    ms = env.machines("pool-a")
    a = ms[0]
    env.metal.set_device_state(dev_id(a), "failed", hold=True)
    e = env.wait("the machine of the failed device replaced", lambda: deleted_as_failed(env, a["metadata"]["name"]),
                 controller=c)
    t.ok("is in state failed" in e[0][4], "the machine of a failed device is marked Failed", diag=e)
    env.wait_running({"pool-a": 3}, controller=c)
    names = [m["metadata"]["name"] for m in env.machines("pool-a")]
    t.ok(a["metadata"]["name"] not in names, "the MCM core replaced it with a new machine")
    st = {d["id"]: d for d in env.metal.state()["devices"]}
    env.wait("the failed device deleted", lambda: {d["id"]: d for d in env.metal.state()["devices"]}[dev_id(a)]
             ["state"] in ("deprovisioning", "deleted"), controller=c)
    t.ok(True, "the failed device is deleted")

    # A node NotReady past the health timeout.
    b = env.machines("pool-a")[0]
    bn = b["metadata"]["name"]
    env.nodes.not_ready(bn)
    seen_unknown = env.wait("the machine Unknown", lambda: phase(env.machine(bn) or {}) == "Unknown" and
                            env.machine(bn), controller=c)
    t.ok(last_op(seen_unknown).get("description", "").startswith(f"Machine {bn} is unhealthy - changing MachinePhase to Unknown"),
         "Running -> Unknown with MCM's description", diag=last_op(seen_unknown))
    e = env.wait("the NotReady machine replaced", lambda: deleted_as_failed(env, bn), controller=c)
    t.ok("health checks failing since last" in e[0][4], "Unknown -> Failed after the health timeout", diag=e)
    env.wait_running({"pool-a": 3}, controller=c)
    t.ok(bn not in [m["metadata"]["name"] for m in env.machines("pool-a")], "the NotReady machine was replaced")

    # Meltdown: two nodes go NotReady together; at most one machine of the pool is Failed at a time.
    two = env.machines("pool-a")[:2]
    for m in two:
        env.nodes.not_ready(m["metadata"]["name"])
    worst = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ms = env.machines("pool-a")
        failing = [m for m in ms if phase(m) == "Failed" or (phase(m) == "Terminating" and
                   m["metadata"]["name"] in [x["metadata"]["name"] for x in two])]
        worst = max(worst, len(failing))
        if all(deleted_as_failed(env, m["metadata"]["name"]) for m in two) and len(ms) == 3 and \
                all(phase(m) == "Running" for m in ms):
            break
        time.sleep(0.05)
    t.ok(all(deleted_as_failed(env, m["metadata"]["name"]) for m in two), "both unhealthy machines were replaced",
         diag=[(m["metadata"]["name"], phase(m), last_op(m).get("description")) for m in env.machines()]
         + [m["metadata"]["name"] for m in two])
    t.eq(1, worst, "never more than one machine of the pool Failed or terminating after a failure at once")
    order = [e[1] for e in env.core.log if e[0] == "delete-machine" and e[1] in [m["metadata"]["name"] for m in two]]
    t.eq(2, len(order), "each was deleted once")
    t.eq(0, c.stop(), "SIGTERM exits 0")
    rc, out = env.journal_verify()
    t.ok(rc == 0, "journal verify passes", diag=out[-2000:])
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])


run_scenario(t, main)
