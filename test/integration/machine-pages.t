#!/usr/bin/env python3
"""Many devices (issue 12): 40 machines with a Metal page size of 7 are all created once, tracked
across pages and reach Running; devices of the cluster that no Machine claims (listed among the
pages) are deleted after the orphan grace period with the reason journaled, devices of other
clusters are left alone."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, stop_and_replay_check  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def main(env):
    orphans = env.metal.seed(3, tags=[env.cluster_tag, "kubernetes.io/role/node"], hostname_prefix="orphan-")
    foreign = env.metal.seed(2, tags=["kubernetes.io/cluster/shoot--other--x", "kubernetes.io/role/node"],
                             hostname_prefix="other-")
    env.pool("pool-a", 40)
    c = env.controller("--metal-page-size=7", "--machine-safety-orphan-vms-grace=2s", "--concurrent-syncs=20")
    env.wait_running({"pool-a": 40}, controller=c, timeout=240)
    ms = env.machines("pool-a")
    live = [d for d in env.devices() if d["hostname"].startswith("pool-a-") and d["state"] == "active"]
    t.eq(40, len(live), "40 devices, one per machine")
    t.eq(sorted(m["metadata"]["name"] for m in ms), sorted(d["hostname"] for d in live), "hostnames are the machine names")
    pages = {r["query"].get("page", ["1"])[0] for r in env.metal.requests()
             if r["method"] == "GET" and r["path"].endswith("/devices") and "tag" in r["query"]}
    t.ok(len(pages) >= 6, "the cluster's devices (40 and more) were listed over 6 or more pages", diag=sorted(pages))
    env.wait("orphans deleted", lambda: all(env.metal.device(i)["state"] in ("deprovisioning", "deleted")
                                            for i in orphans), controller=c)
    t.ok(True, "the three unclaimed devices of the cluster are deleted")
    t.ok(all(env.metal.device(i)["state"] == "active" for i in foreign), "devices of another cluster are untouched")
    text = env.journal_text()
    t.ok(all(f"no Machine in {env.ns} claims the device {i}" in text for i in orphans),
         "each orphan deletion is journaled with its reason")
    stop_and_replay_check(t, env, c)


run_scenario(t, main)
