#!/usr/bin/env python3
"""`run` observes the Equinix Metal devices of every equinixmetal shoot (issue 4's poller, wired by
run): each device of the shoot (tag kubernetes.io/cluster/<namespace>) reaches the journal as a
metal.device event when it changes, not on every poll; a device that fails is journaled once as
failed; one deleted out of band is journaled as gone; devices of other clusters never appear; no
credential reaches the journal; the journal still replays."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
NS = "shoot--dev--watch"


def events(env, type_):
    out = subprocess.run([BIN, "journal", "export", "--type", type_, env.journal], capture_output=True,
                         text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def device_polls(env):
    """How many device lists the Metal API has answered (one per poll of a project)."""
    return len([r for r in env.metal.requests() if r.get("method") == "GET"
                and r.get("path", "").split("?")[0].endswith("/devices")])


def more_polls(env, n):
    """Wait until n more polls have been answered: the positive signal that polls happened."""
    p0 = device_polls(env)
    return wait(lambda: device_polls(env) >= p0 + n, timeout=30)


def wait(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def main(env):
    env.shoot(NS)
    ours = env.metal.seed(3, tags=[f"kubernetes.io/cluster/{NS}", "kubernetes.io/role/node"], hostname_prefix="w-")
    other = env.metal.seed(2, tags=["kubernetes.io/cluster/shoot--someone--else"], hostname_prefix="x-")
    env.infrastructure(NS, annotate=True)
    c = env.controller("--metal-poll-seconds", "1", "--metal-poll-fast-seconds", "1")
    env.wait_infra(NS, lambda o: last_op(o).get("state") == "Succeeded", controller=c)
    seen = wait(lambda: {e["uid"] for e in events(env, "metal.device")} >= set(ours) or None)
    devs = events(env, "metal.device")
    t.ok(seen and {e["uid"] for e in devs} == set(ours), "every device of the shoot was journaled, and only those",
         diag=f"journaled {sorted({e['uid'] for e in devs})}, ours {sorted(ours)}, others {sorted(other)}")
    t.ok(all(e["namespace"] == NS and e["payload"]["state"] == "active" for e in devs),
         "device events carry the shoot namespace and the device state")
    sets = events(env, "metal.device-set")
    t.ok(sets and sorted(d["id"] for d in sets[-1]["payload"]["devices"]) == sorted(ours),
         "a device-set marker lists the complete set")
    n_before = len(devs)
    t.ok(more_polls(env, 3), "three more polls were answered")
    t.eq(n_before, len(events(env, "metal.device")), "unchanged devices are not journaled again on every poll")

    env.metal.set_device_state(ours[0], "failed", hold=True)
    failed = wait(lambda: [e for e in events(env, "metal.device") if e["uid"] == ours[0]
                           and e["payload"]["state"] == "failed"])
    t.eq(1, len(failed or []), "a device that fails is journaled once as failed")
    t.ok(more_polls(env, 2), "two more polls were answered while the device stays failed")
    t.eq(1, len([e for e in events(env, "metal.device") if e["uid"] == ours[0] and e["payload"]["state"] == "failed"]),
         "and not again while it stays failed")

    resp = env.metal.request("DELETE", f"/devices/{ours[1]}")
    t.eq(204, resp.status, "a device is deleted out of band")
    gone = wait(lambda: [e for e in events(env, "metal.device") if e["uid"] == ours[1]
                         and e["payload"]["state"] == "gone"], timeout=30)
    t.ok(gone, "a device deleted out of band is journaled as gone", diag=json.dumps(events(env, "metal.device"))[-1500:])
    dump = subprocess.run([BIN, "journal", "export", env.journal], capture_output=True, text=True).stdout
    t.ok(env.token not in dump, "the API token appears nowhere in the journal")
    t.eq(0, c.stop(), "stops cleanly")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check with device events in the journal", diag=out)


with Env(time_scale=1000.0) as env:
    t.run("device observation", main, env)
sys.exit(t.done())
