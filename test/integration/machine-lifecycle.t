#!/usr/bin/env python3
"""The machine controller end to end (issue 12), with the real binary: two MachineDeployments (3 + 2)
through the MCM core stand-in reach Running with one device each (idempotency tag, providerID,
node label, finalizers, bootstrap token substituted into the userdata and deleted after the join,
the node labelled with its machine); the token secret never reaches the journal; scaling a pool
down drains, deletes the devices, the Nodes and the Machines; the journal verifies and replays to
the same actions."""
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_env import run_scenario, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def main(env):
    env.pool("pool-a", 3)
    env.pool("pool-b", 2, plan="m3.small.x86")
    c = env.controller()
    env.wait_running({"pool-a": 3, "pool-b": 2}, controller=c)
    ms = env.machines()
    devs = {d["id"]: d for d in env.devices()}
    t.eq(5, len(devs), "exactly one device per machine")
    ok = True
    diag = []
    for m in ms:
        name = m["metadata"]["name"]
        pid = m["spec"].get("providerID", "")
        dev = devs.get(pid.rsplit("/", 1)[-1])
        good = (pid.startswith("equinixmetal://") and dev is not None and dev["hostname"] == name
                and len(env.idem_tags(dev)) == 1 and env.cluster_tag in dev["tags"]
                and (m["metadata"].get("labels") or {}).get("node") == name
                and "machine.sapcloud.io/machine-controller-manager" in (m["metadata"].get("finalizers") or [])
                and (m["metadata"].get("annotations") or {}).get("machinepriority.machine.sapcloud.io") == "3")
        if not good:
            ok = False
            diag.append((name, pid, m["metadata"]))
    t.ok(ok, "every machine has providerID equinixmetal://<device>, the node label, the priority annotation, "
             "our finalizer, and its device carries the hostname, one idempotency tag and the cluster tag", diag=diag)
    pa = [m for m in ms if m["metadata"]["labels"]["name"] == "pool-b"]
    t.ok(all(devs[m["spec"]["providerID"].rsplit("/", 1)[-1]]["plan"]["slug"] == "m3.small.x86" for m in pa),
         "pool-b devices have pool-b's machine type")
    lo = last_op(ms[0])
    t.eq(("Successful", "Create"), (lo.get("state"), lo.get("type")), "lastOperation Create Successful")
    t.ok(lo.get("description", "").startswith(f"Machine {ms[0]['metadata']['name']} successfully joined the cluster in"),
         "MCM's join description", diag=lo)
    # Node side.
    for m in ms:
        name = m["metadata"]["name"]
        env.wait(f"node {name} labelled", lambda: (env.node(name) or {}).get("metadata", {}).get("labels", {})
                 .get("node.gardener.cloud/machine-name") == name, controller=c)
    t.ok(True, "every node carries node.gardener.cloud/machine-name=<machine>")
    # Userdata: both placeholders substituted, the token is the one of the bootstrap token secret.
    ud = env.nodes.userdata
    name0 = ms[0]["metadata"]["name"]
    t.ok(all("<<" not in (ud.get(m["metadata"]["name"]) or "<<") for m in ms),
         "no placeholder left in any device's userdata")
    t.ok(f"content: {name0}\n" in (ud.get(name0) or ""), "the machine name is in its userdata")
    tok = env.token_of(ud.get(name0))
    t.ok(tok and len(tok) == 23 and tok[6] == ".", "a bootstrap token <6>.<16> is in the userdata", diag=tok)

    def tokens():
        st, body = env.shoot.get("/api/v1/namespaces/kube-system/secrets")
        return [s for s in (body or {}).get("items") or [] if s["metadata"]["name"].startswith("bootstrap-token-")]
    env.wait("bootstrap tokens deleted after the join", lambda: not tokens(), controller=c)
    t.ok(True, "the bootstrap token secrets are deleted once the machines joined")
    text = env.journal_text()
    secrets = [env.token_of(ud.get(m["metadata"]["name"])) for m in ms]
    t.ok(all(s and s.split(".")[1] not in text for s in secrets), "no token secret is in the journal")
    t.ok("<<BOOTSTRAP_TOKEN>>" not in text, "the userdata is not in the journal in clear")
    # Finalizers on the class and its secrets.
    st, mc = env.seed.get(env.path("machineclasses", "pool-a-cls1"))
    t.ok("machine.sapcloud.io/machine-controller-manager" in (mc["metadata"].get("finalizers") or []),
         "the MachineClass carries MCM's finalizer")
    st, cp = env.seed.get(f"/api/v1/namespaces/{env.ns}/secrets/cloudprovider")
    t.ok("machine.sapcloud.io/machine-controller" in (cp["metadata"].get("finalizers") or []),
         "the credentials secret carries machine.sapcloud.io/machine-controller")

    # Scale pool-b down to 0: drain, device, node, machine.
    gone = [m["metadata"]["name"] for m in ms if m["metadata"]["labels"]["name"] == "pool-b"]
    gone_devs = [m["spec"]["providerID"].rsplit("/", 1)[-1] for m in ms if m["metadata"]["name"] in gone]
    env.scale("pool-b", 0)
    env.wait("pool-b machines deleted", lambda: not env.machines("pool-b"), controller=c)
    st = {d["id"]: d for d in env.metal.state()["devices"]}
    t.ok(all(st[i]["state"] in ("deprovisioning", "deleted") for i in gone_devs), "their devices are deleted",
         diag=[st[i]["state"] for i in gone_devs])
    t.ok(all(env.node(n) is None for n in gone), "their nodes are deleted")
    nodes = {n["metadata"]["name"]: n for n in env.nodes_list()}
    t.ok(all(n not in nodes for n in gone), "no node of pool-b is left")
    t.eq(3, len([d for d in env.devices() if d["state"] not in ("deprovisioning",)]), "pool-a's three devices remain")
    port = c.wait_log("serving metrics and health probes")["port"]

    def scrape(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    text = env.wait("mcm metrics", lambda: (lambda x: "mcm_machine_items_total 3" in x and x)(scrape("/metrics")[1]),
                    controller=c)
    a0 = env.machines("pool-a")[0]["metadata"]["name"]
    t.ok(f'mcm_machine_current_status_phase{{name="{a0}",namespace="{env.ns}"}} 1' in text,
         "/metrics has MCM's machine items and phases (Running = 1)",
         diag=[l for l in text.splitlines() if l.startswith("mcm_")][:10])
    t.eq((200, "ok"), (lambda r: (r[0], r[1].strip()))(scrape("/healthz")), "/healthz is ok on the same port")
    t.eq(0, c.stop(), "SIGTERM exits 0")
    rc, out = env.journal_verify()
    t.ok(rc == 0, "journal verify passes", diag=out[-2000:])
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])


run_scenario(t, main)
