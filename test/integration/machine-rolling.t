#!/usr/bin/env python3
"""Rolling update (issue 12): a machine-type change (a new MachineClass in the MachineDeployment's
template) makes the MCM core stand-in roll the pool through the machine controller within maxSurge 1
/ maxUnavailable 0: never more than replicas + 1 machines, never fewer than replicas available; at the
end every machine runs on a device of the new type and the old devices are deleted."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, stop_and_replay_check, phase  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def main(env):
    env.pool("pool-a", 3, max_surge=1, max_unavailable=0)
    c = env.controller()
    env.wait_running({"pool-a": 3}, controller=c)
    old = {m["metadata"]["name"]: m["spec"]["providerID"].rsplit("/", 1)[-1] for m in env.machines("pool-a")}
    env.machine_class("pool-a-cls2", plan="m3.small.x86")
    env.set_class("pool-a", "pool-a-cls2")
    most, least = 0, 99
    deadline = time.monotonic() + 120
    done = False
    while time.monotonic() < deadline:
        ms = env.machines("pool-a")
        most = max(most, len(ms))
        least = min(least, len([m for m in ms if phase(m) == "Running" and not m["metadata"].get("deletionTimestamp")]))
        if len(ms) == 3 and all(phase(m) == "Running" and m["spec"]["class"]["name"] == "pool-a-cls2" for m in ms):
            done = True
            break
        time.sleep(0.05)
    t.ok(done, "the pool rolled to the new class")
    t.ok(most <= 4, "never more than replicas + maxSurge machines", diag=most)
    t.ok(least >= 3, "never fewer than replicas - maxUnavailable available machines", diag=least)
    ms = env.machines("pool-a")
    t.ok(all(m["metadata"]["name"] not in old for m in ms), "every machine was replaced")
    t.ok(all(env.metal.device(m["spec"]["providerID"].rsplit("/", 1)[-1])["plan"]["slug"] == "m3.small.x86" for m in ms),
         "the new devices have the new machine type")
    env.wait("old devices deleted", lambda: all(env.metal.device(i)["state"] in ("deprovisioning", "deleted")
                                                for i in old.values()), controller=c)
    t.ok(True, "the old devices are deleted")
    env.wait("old machine set deleted", lambda: len(env.seed.get(env.path("machinesets"))[1]["items"]) == 1, controller=c)
    t.ok(True, "the old MachineSet is gone")
    stop_and_replay_check(t, env, c)


run_scenario(t, main)
