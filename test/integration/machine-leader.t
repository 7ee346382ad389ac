#!/usr/bin/env python3
"""Two machine-controller replicas (own journals) with leader election on the Lease
machine-controller in the shoot namespace: only the leader acts (one device per machine); after a
SIGKILL of the leader the standby takes over and finishes a scale-up without duplicates; both
journals replay to the same actions."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
LE = ["--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms"]


def leaders(cs):
    return [c for c in cs if any(l.get("msg") == "became leader; acting" for l in c.log_lines())]


def one_device_each(env):
    per = {}
    for d in env.devices():
        if d["state"] != "deprovisioning":
            per.setdefault(d["hostname"], []).append(d["id"])
    return per, {h: v for h, v in per.items() if len(v) > 1}


def main(env):
    env.pool("pool-a", 2)
    j1, j2 = os.path.join(env.dir, "a.db"), os.path.join(env.dir, "b.db")
    c1 = env.controller(*LE, journal=j1, name="a", leader_election=True)
    c2 = env.controller(*LE, journal=j2, name="b", leader_election=True)
    env.wait_running({"pool-a": 2}, controller=None)
    ls = leaders([c1, c2])
    t.eq(1, len(ls), "exactly one replica became leader")
    st, lease = env.seed.get(f"/apis/coordination.k8s.io/v1/namespaces/{env.ns}/leases/machine-controller")
    t.ok(st == 200 and (lease.get("spec") or {}).get("holderIdentity"), "the Lease machine-controller has a holder")
    per, dups = one_device_each(env)
    t.ok(len(per) == 2 and not dups, "one device per machine", diag=per)
    leader = ls[0] if ls else c1
    standby = c2 if leader is c1 else c1
    leader.stop(sig=signal.SIGKILL)
    env.scale("pool-a", 4)
    env.wait_running({"pool-a": 4}, controller=standby)
    t.ok(standby in leaders([standby]), "the standby took over after the leader was killed")
    per, dups = one_device_each(env)
    t.ok(len(per) == 4 and not dups, "after the takeover still one device per machine", diag=per)
    t.eq(0, standby.stop(), "SIGTERM exits 0")
    for j in (j1, j2):
        rc, out = env.replay_check(j)
        t.ok(rc == 0, f"replay --check of {os.path.basename(j)} finds no difference", diag=out[-2000:])


run_scenario(t, main)
