#!/usr/bin/env python3
"""Machines restored after a control-plane migration (issue 11/12): the Worker has recreated a Machine
from status.state with the providerID and `node` label it had on the old seed, a new uid and no
status; its device and Node live on. The machine controller binds it to that device and brings it to
Running without a bootstrap token and without a create (no second device), and keeps the device
(it is claimed) while an unclaimed device of the cluster is collected as an orphan. `replay --check` finds no difference."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import MachineEnv, phase, stop_and_replay_check  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def main(env):
    env.machine_class("pool-a-cls1")
    # The device the old seed's machine controller created; the node stand-in registers its Node.
    dev = env.metal.seed(1, tags=[env.cluster_tag, "kubernetes.io/role/node"], hostname_prefix="pool-a-5d8f9-aaaa",
                         state="active")[0]
    name = "pool-a-5d8f9-aaaa0"
    env.wait("the Node of the old device registers", lambda: env.node(name), timeout=30)
    st, m = env.seed.create(env.path("machines"), {
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
        "metadata": {"name": name, "namespace": env.ns, "labels": {"name": "pool-a", "node": name}},
        "spec": {"class": {"kind": "MachineClass", "name": "pool-a-cls1"}, "providerID": "equinixmetal://" + dev}})
    assert st < 300, m
    # A device of the cluster that no Machine claims: the control for orphan collection.
    orphan = env.metal.seed(1, tags=[env.cluster_tag, "kubernetes.io/role/node"], hostname_prefix="orphan-")[0]
    c = env.controller("--machine-safety-orphan-vms-grace=1s")
    got = env.wait("the restored Machine to run", lambda: (lambda x: x if phase(x) == "Running" else None)(
        env.machine(name)), controller=c)
    t.eq("Running", phase(got), "the restored Machine reaches Running")
    t.eq("equinixmetal://" + dev, got["spec"].get("providerID"), "bound to the device it names")
    posts = [r for r in env.metal.requests() if r["method"] == "POST" and r["path"].endswith("/devices")]
    t.eq([], posts, "no device create was sent")
    env.wait("the unclaimed device to be collected",
             lambda: env.metal.device(orphan)["state"] == "deleted", controller=c)
    t.eq([dev], [d["id"] for d in env.devices()],
         "the unclaimed device is collected as an orphan; the restored Machine's device is kept")
    st, secrets = env.shoot.get("/api/v1/namespaces/kube-system/secrets")
    tokens = [s["metadata"]["name"] for s in (secrets or {}).get("items", [])
              if s["metadata"]["name"].startswith("bootstrap-token-")]
    t.eq([], tokens, "no bootstrap token is made for a machine whose node exists")
    stop_and_replay_check(t, env, c)


with MachineEnv(core=False) as env:
    t.run("restored machine", main, env)
sys.exit(t.done())
