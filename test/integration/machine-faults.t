#!/usr/bin/env python3
"""Device creation faults (issue 12): a lost create reply adopts the device by its idempotency tag
(no duplicate); no capacity in one metro gives ResourceExhausted (CrashLoopBackOff, MCM's
description) there while another pool reaches Running; hardware reservations are tried in order, and
reservedDevicesOnly without a usable reservation fails with the Go driver's message."""
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, stop_and_replay_check, phase, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def main(env):
    hws = [h for h in env.metal.state().get("hardware_reservations", [])
           if (h.get("project_id") or h.get("project", {}).get("id") or env.project) and
           (h.get("plan", {}).get("slug") if isinstance(h.get("plan"), dict) else h.get("plan")) == "c3.small.x86"]
    hw = hws[0]["id"] if hws else None
    # Only pool-a's creates can succeed on the first try, so only one of them loses its reply (the
    # other pools' first POSTs are refused, and their order is up to the scheduler).
    env.metal.fault(path=r"/projects/[^/]+/devices$", method="POST", action="lose_response", times=1,
                    body_match=r'"hostname": *"[^"]*pool-a')
    env.metal.set_capacity(0, metro="da")
    env.pool("pool-a", 2)
    env.pool("pool-da", 1, metro="da")
    env.pool("pool-r", 1, reservation_ids=[str(uuid.uuid4()), hw], reserved_only=True)
    env.pool("pool-bad", 1, reservation_ids=[str(uuid.uuid4())], reserved_only=True)
    c = env.controller("--resource-exhausted-retry=1h")
    env.wait_running({"pool-a": 2, "pool-r": 1}, controller=c)
    lost = [r for r in env.metal.requests() if r["method"] == "POST" and r.get("lost_status")]
    t.eq(1, len(lost), "one create reply was lost")
    host = (lost[0].get("body") or {}).get("hostname") if lost else None
    live = [d for d in env.devices() if d.get("hostname") == host]
    t.eq(1, len(live), "the machine whose create reply was lost has exactly one device (adopted by tag)")
    names = [m["metadata"]["name"] for m in env.machines("pool-a")]
    per = {n: len([d for d in env.devices() if d["hostname"] == n]) for n in names}
    t.ok(all(v == 1 for v in per.values()), "no duplicate device for any machine", diag=per)

    def da_failed():
        ms = env.machines("pool-da")
        return ms and last_op(ms[0]).get("errorCode") == "ResourceExhausted" and ms[0]
    m = env.wait("pool-da ResourceExhausted", da_failed, controller=c)
    t.eq("CrashLoopBackOff", phase(m), "no capacity in da: CrashLoopBackOff")
    t.ok(last_op(m).get("description", "").startswith("Cloud provider message - machine codes error: code = [ResourceExhausted]"),
         "MCM's create failure description", diag=last_op(m))
    r = env.machines("pool-r")[0]
    dev = env.metal.device(r["spec"]["providerID"].rsplit("/", 1)[-1])
    got = (dev.get("hardware_reservation") or {}).get("id") if isinstance(dev.get("hardware_reservation"), dict) else None
    t.ok(hw is not None and got == hw, "pool-r's device uses the second (usable) reservation", diag=(hw, dev.get("hardware_reservation")))

    def bad():
        ms = env.machines("pool-bad")
        return ms and "reservedOnly is true" in last_op(ms[0]).get("description", "") and ms[0]
    m = env.wait("pool-bad refused", bad, controller=c)
    t.eq("ResourceExhausted", last_op(m).get("errorCode"), "reservedDevicesOnly without a usable reservation")
    t.eq(0, len([d for d in env.devices() if d["hostname"].startswith("pool-bad")]), "and no on-demand device")
    stop_and_replay_check(t, env, c)


run_scenario(t, main)
