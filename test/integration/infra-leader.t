#!/usr/bin/env python3
"""Leader election with fencing (issue 5): two controllers with their own journals watch the same
seed; only the leader acts (the standby journals observations but never an intent); the epoch in
every intent is the lease's leaseTransitions; after SIGKILL of the leader the standby takes the lease
over when it expires and reconciles; both journals replay to their recorded actions."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
LEASE = ["--leader-election-lease-duration-seconds", "4", "--leader-election-renew-deadline-seconds", "3",
         "--leader-election-retry-period-seconds", "1"]


def export(journal, *args):
    out = subprocess.run([BIN, "journal", "export", *args, journal], capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def lease(env):
    st, obj = env.kube.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                           "provider-equinix-metal-leader-election")
    return obj if st == 200 else None


def main(env):
    ja, jb = os.path.join(env.dir, "a.db"), os.path.join(env.dir, "b.db")
    env.shoot("shoot--le--one")
    a = env.controller(*LEASE, journal=ja, leader_election=True, name="a")
    a.wait_log("became leader; acting")
    b = env.controller(*LEASE, journal=jb, leader_election=True, name="b")
    line = b.wait_log("controller running")
    t.ok(line.get("controllers", "").split(",")[:1] == ["infrastructure"] and "heartbeat" in line.get("controllers", ""),
         "the start-up line names the controllers that run", diag=line)
    env.infrastructure("shoot--le--one")
    env.wait_infra("shoot--le--one", lambda o: last_op(o).get("state") == "Succeeded", controller=a)
    # positive signal instead of a sleep: the standby has journaled the Succeeded Infrastructure,
    # i.e. it saw the whole reconcile the leader did (and had every chance to act on it)
    deadline = time.monotonic() + 20
    seen = False
    while not seen and time.monotonic() < deadline:
        seen = any(e.get("type", "").startswith("kube.") and '"Succeeded"' in json.dumps(e.get("payload"))
                   for e in export(jb, "--type-prefix", "kube."))
        if not seen:
            time.sleep(0.1)
    t.ok(seen, "the standby journaled the Succeeded Infrastructure")
    ia, ib = export(ja, "--type", "executor.intent"), export(jb, "--type", "executor.intent")
    t.ok(len(ia) >= 4, "the leader journaled intents", diag=len(ia))
    t.eq(0, len(ib), "the standby never journaled an intent: it does not act")
    t.ok(len(export(jb, "--type-prefix", "kube.")) > 0, "the standby still journals what it observes")
    epoch = (lease(env) or {}).get("spec", {}).get("leaseTransitions", 0)
    t.ok(all(i["payload"]["epoch"] == epoch for i in ia), "every intent carries the lease's epoch",
         diag=f"lease epoch {epoch}, intents {[i['payload']['epoch'] for i in ia]}")

    a.kill()
    b.wait_log("became leader; acting", timeout=20)
    env.shoot("shoot--le--two")
    env.infrastructure("shoot--le--two")
    env.wait_infra("shoot--le--two", lambda o: last_op(o).get("state") == "Succeeded", controller=b)
    ib = export(jb, "--type", "executor.intent")
    t.ok(any("shoot--le--two" in i["payload"]["actionId"] for i in ib), "after the takeover the new leader acts")
    epochs = {i["payload"]["epoch"] for i in ib}
    t.ok(epochs and min(epochs) > epoch, "the new leader acts with a newer epoch", diag=f"{epoch} -> {epochs}")
    t.eq(1, len(env.ssh_keys("shoot--le--one-ssh-publickey")), "no duplicate key for the first shoot after takeover")
    t.eq(0, b.stop(), "the new leader stops cleanly (and releases the lease)")
    held = (lease(env) or {}).get("spec", {}).get("holderIdentity", "")
    t.eq("", held, "the lease was released on SIGTERM")
    for name, j in (("leader", ja), ("standby", jb)):
        rc, out = env.replay_check(j)
        t.ok(rc == 0, f"replay --check of the {name}'s journal", diag=out)


with Env() as env:
    t.run("leader election", main, env)
sys.exit(t.done())
