#!/usr/bin/env python3
"""Device polls per project, not per shoot (issue 10): two shoots whose Secrets name the same project
and token are served by one listing of the project per poll, split by the kubernetes.io/cluster/<ns>
tag, while a shoot alone in its project keeps its tag-filtered listing. Each shoot still journals
exactly its own devices, under its own namespace, and a change to one device is journaled once for
its shoot only."""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
A, B, C = "shoot--pp--a", "shoot--pp--b", "shoot--pp--c"


def events(env, type_):
    out = subprocess.run([BIN, "journal", "export", "--type", type_, env.journal], capture_output=True,
                         text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def wait(pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def lists(env, project):
    return [r for r in env.metal.requests() if r["method"] == "GET"
            and r["path"] == f"/projects/{project}/devices" and r["query"].get("page", ["1"]) == ["1"]]


def main(env):
    other_tok, other_proj = "tok-" + uuid.uuid4().hex, str(uuid.uuid4())
    env.metal.add_token(other_tok, other_proj)
    devs = {}
    for ns in (A, B):
        env.shoot(ns)
        devs[ns] = env.metal.seed(3, tags=[f"kubernetes.io/cluster/{ns}"], hostname_prefix=ns + "-w-")
    env.shoot(C, token=other_tok, project=other_proj)
    devs[C] = env.metal.seed(2, project=other_proj, tags=[f"kubernetes.io/cluster/{C}"], hostname_prefix=C + "-w-")
    stranger = env.metal.seed(1, tags=["kubernetes.io/cluster/shoot--someone--else"])[0]
    for ns in (A, B, C):
        env.infrastructure(ns)
    c = env.controller("--metal-poll-seconds", "1", "--metal-poll-fast-seconds", "1")
    for ns in (A, B, C):
        env.wait_infra(ns, lambda o: last_op(o).get("state") == "Succeeded", controller=c)
    want = {uid: ns for ns, ids in devs.items() for uid in ids}
    wait(lambda: {e["uid"] for e in events(env, "metal.device")} >= set(want) or None)
    got = events(env, "metal.device")
    t.eq(set(want), {e["uid"] for e in got}, "every shoot's devices were journaled, and no stranger's")
    t.ok(all(e["namespace"] == want[e["uid"]] for e in got), "each device under its own shoot's namespace")
    t.eq(len(want), len(got), "each device once while nothing changes")

    env.metal.clear_requests()
    env.metal.set_device_state(devs[A][0], "failed", hold=True)
    env.metal.set_device_state(devs[C][0], "failed", hold=True)
    failed = wait(lambda: len({e["uid"] for e in events(env, "metal.device")
                              if e["payload"]["state"] == "failed"}) == 2)
    t.ok(failed, "a failure in the shared project and one in the other project are both journaled")
    fa = [e for e in events(env, "metal.device") if e["payload"]["state"] == "failed"]
    t.eq({(devs[A][0], A), (devs[C][0], C)}, {(e["uid"], e["namespace"]) for e in fa},
         "each failure once, for its own shoot")
    shared = lists(env, env.project)
    solo = lists(env, other_proj)
    t.ok(shared and all("tag" not in r["query"] for r in shared),
         "the shared project is listed whole (split by tag), not once per shoot with a tag filter",
         diag=[r["query"] for r in shared][:5])
    t.ok(solo and all(r["query"].get("tag") == [f"kubernetes.io/cluster/{C}"] for r in solo),
         "a shoot alone in its project keeps the tag-filtered listing", diag=[r["query"] for r in solo][:5])
    t.ok(len(shared) <= len(solo) + 2, "the two shoots of one project cost one listing per poll, like one shoot",
         diag=f"shared {len(shared)}, solo {len(solo)}")
    sets = {ns: [e for e in events(env, "metal.device-set") if e["namespace"] == ns] for ns in (A, B, C)}
    t.ok(all(sets[ns] and sorted(d["id"] for d in sets[ns][-1]["payload"]["devices"]) == sorted(devs[ns])
             for ns in (A, B, C)), "each shoot's device-set marker lists exactly its devices")
    t.eq(0, c.stop(), "stops cleanly")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check", diag=out)


with Env(time_scale=1000.0) as env:
    t.run("per-project device polls", main, env)
sys.exit(t.done())
