#!/usr/bin/env python3
"""The Worker's post-reconcile work against the shoot (issue 11; the Go original's PostReconcileHook),
with the real binary, a seed and a shoot test kube-apiserver and the test Metal API:
- the shoot's kubeconfig comes from Secret `gardener-internal`, else `gardener` (key kubeconfig);
- every Node without `metal.equinix.com/network-4-private` whose providerID names a device
  (equinixmetal://, packet:// or bare) is annotated with the parent block of the device's private IPv4
  management address; other providers' Nodes and already annotated Nodes are left alone;
- Infrastructure status.nodesCIDR gets the node networks through the status subresource, and only
  when they differ (the Go original patched the main resource, which drops status, with an inverted
  guard);
- vpn-seed-server's container gets NODE_NETWORK (Deployment, or the StatefulSet of HA control planes),
  other containers and env untouched;
- a providerID with two "://" fails the Worker naming the node; no kubeconfig Secret fails it naming
  the Secrets; the shoot's token never reaches the journal; `replay --check` finds no difference."""
import base64
import os
import re
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
sys.path.insert(0, os.path.join(ROOT, "test/kubeapi"))
from tap import Tap  # noqa: E402
from workerenv import (WORKERS, annotate, get_worker, mcm_make_available, reconciled_events,  # noqa: E402
                       run_with_shoot_api, shoot, stop_and_check_journal, succeeded, wait, worker)

t = Tap()
NS = "shoot--foo--bar"
ANN = "metal.equinix.com/network-4-private"
INFRA = f"/apis/extensions.gardener.cloud/v1alpha1/namespaces/{NS}/infrastructures"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"
STS = f"/apis/apps/v1/namespaces/{NS}/statefulsets"


def private_block(env, device_id):
    """The parent block of the device's first private IPv4 management address, read from the Metal API."""
    r = env.metal.request("GET", f"/devices/{device_id}", query={"include": "ip_addresses.parent_block"})
    assert r.status == 200, r
    for ip in r.json.get("ip_addresses") or []:
        if not ip.get("public") and ip.get("management") and ip.get("address_family") == 4:
            pb = ip.get("parent_block") or {}
            return f"{pb['network']}/{pb['cidr']}"
    raise AssertionError(f"device {device_id} has no private address: {r.json}")


def node(shoot_api, name, provider_id, annotations=None):
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"providerID": provider_id} if provider_id is not None else {}}
    st, o = shoot_api.create("/api/v1/nodes", body)
    assert st < 300, o


def node_annotation(shoot_api, name):
    st, o = shoot_api.get("/api/v1/nodes/" + name)
    assert st == 200, o
    return (o["metadata"].get("annotations") or {}).get(ANN)


def workload(kind, env_list):
    spec = {"selector": {"matchLabels": {"app": "vpn-seed-server"}},
            "template": {"metadata": {"labels": {"app": "vpn-seed-server"}},
                         "spec": {"containers": [
                             {"name": "vpn-seed-server", "image": "vpn-server:v1", "env": env_list},
                             {"name": "sidecar", "image": "sidecar:v1", "env": [{"name": "X", "value": "1"}]}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = "vpn-seed-server"
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "vpn-seed-server", "namespace": NS},
            "spec": spec}


def env_of(obj, container):
    for c in obj["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container:
            return {e["name"]: e.get("value") for e in c.get("env") or []}
    return None


def status_patches(env):
    return [r for r in env.kube.requests() if r["method"] == "PATCH" and r["path"].startswith(INFRA)]


def reconciled(env, c, create=False):
    """Trigger a reconcile (or create the Worker), let the MCM stand-in report the MachineDeployments
    available, wait for the Worker to report Succeeded once more."""
    before = reconciled_events(env, NS)
    if create:
        worker(env, NS)
    else:
        annotate(env, WORKERS.format(ns=NS) + "/worker")

    def done():
        w = get_worker(env, NS)
        if succeeded(w) and reconciled_events(env, NS) > before:
            return w
        if w and (w.get("status") or {}).get("machineDeployments"):
            mcm_make_available(env, NS)
        return None
    return wait("the Worker to succeed", done, timeout=60, controller=c)


def failed_with(env, c, needle, what):
    """Trigger a reconcile, let the MCM stand-in report the MachineDeployments available, wait for a
    lastError whose description contains needle, and return that lastError."""
    annotate(env, WORKERS.format(ns=NS) + "/worker")

    def done():
        w = get_worker(env, NS)
        le = ((w or {}).get("status") or {}).get("lastError") or {}
        if needle in (le.get("description") or ""):
            return le
        if w and (w.get("status") or {}).get("machineDeployments"):
            mcm_make_available(env, NS)
        return None
    return wait(what, done, timeout=60, controller=c)


def like(text, pattern, name):
    t.ok(re.search(pattern, text or "") is not None, name, diag=f"{text!r} does not match {pattern!r}")


def run(env, shoot_api):
    # Devices in two metros: each metro has its own private /25 in the project.
    ny = env.metal.seed(2, project=env.project, metro="ny", hostname_prefix="ny-")
    da = env.metal.seed(1, project=env.project, metro="da", hostname_prefix="da-")
    cidr_ny, cidr_da = private_block(env, ny[0]), private_block(env, da[0])
    t.ok(cidr_ny != cidr_da and private_block(env, ny[1]) == cidr_ny,
         f"the test Metal API gives each metro its own private block ({cidr_ny}, {cidr_da})")
    node(shoot_api, "node-a", "equinixmetal://" + ny[0])
    node(shoot_api, "node-b", "packet://" + ny[1])
    node(shoot_api, "node-c", "aws:///eu-west-1a/i-0abc")
    node(shoot_api, "node-d", None)  # not yet initialised by the CCM: no providerID
    node(shoot_api, "node-e", "equinixmetal://" + da[0], annotations={ANN: "10.99.0.0/25"})

    shoot(env, NS)
    # The Secret `gardener-internal` wins over `gardener` (which points at the seed, where no Nodes are).
    with open(shoot_api.kubeconfig) as f:
        kc = f.read()
    st, o = env.kube.create(f"/api/v1/namespaces/{NS}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gardener-internal", "namespace": NS},
        "data": {"kubeconfig": base64.b64encode(kc.encode()).decode()}})
    assert st < 300, o
    env.infrastructure(NS, name="worker", annotate=False)
    st, o = env.kube.create(DEPLOY, workload("Deployment", [{"name": "SERVICE_NETWORK", "value": "100.64.0.0/13"},
                                                            {"name": "NODE_NETWORK", "value": "stale"}]))
    assert st < 300, o

    c = env.controller("--controllers", "worker")
    reconciled(env, c, create=True)
    t.ok(True, "the Worker succeeds with the post-reconcile steps")

    t.eq(cidr_ny, node_annotation(shoot_api, "node-a"), "node-a (equinixmetal://) is annotated with its private block")
    t.eq(cidr_ny, node_annotation(shoot_api, "node-b"), "node-b (packet://) is annotated with its private block")
    t.eq(None, node_annotation(shoot_api, "node-c"), "node-c of another provider is left alone")
    t.eq(None, node_annotation(shoot_api, "node-d"), "node-d without providerID is left alone")
    t.eq("10.99.0.0/25", node_annotation(shoot_api, "node-e"), "node-e's annotation is kept (not re-read)")
    want = ",".join(sorted({cidr_ny, "10.99.0.0/25"}))
    infra = env.get_infra(NS, "worker")
    t.eq(want, (infra.get("status") or {}).get("nodesCIDR"),
         "Infrastructure status.nodesCIDR holds the node networks, sorted and joined")
    patches = status_patches(env)
    t.ok(patches and all(r["path"].endswith("/worker/status") for r in patches),
         "nodesCIDR was written through the status subresource", diag=str(patches))
    st, d = env.kube.get(DEPLOY + "/vpn-seed-server")
    t.eq({"SERVICE_NETWORK": "100.64.0.0/13", "NODE_NETWORK": want}, env_of(d, "vpn-seed-server"),
         "vpn-seed-server's NODE_NETWORK is set in place, its other env kept")
    t.eq({"X": "1"}, env_of(d, "sidecar"), "the other container is untouched")
    writes = sorted((x["method"], x["path"]) for x in shoot_api.requests() if x["method"] not in ("GET", "POST"))
    t.eq([("PATCH", "/api/v1/nodes/node-a"), ("PATCH", "/api/v1/nodes/node-b")], writes,
         "the only writes to the shoot are the two annotations (the test made the POSTs)")

    # A second reconcile with nothing new: no status write, no Deployment update.
    n_patches = len(status_patches(env))
    rv = d["metadata"]["resourceVersion"]
    reconciled(env, c)
    t.eq(n_patches, len(status_patches(env)), "an unchanged nodesCIDR is not written again")
    st, d = env.kube.get(DEPLOY + "/vpn-seed-server")
    t.eq(rv, d["metadata"]["resourceVersion"], "an unchanged NODE_NETWORK is not written again")

    # HA control plane: vpn-seed-server is a StatefulSet; a Node in another metro joins.
    env.kube.delete(DEPLOY + "/vpn-seed-server")
    st, o = env.kube.create(STS, workload("StatefulSet", None))
    assert st < 300, o
    node(shoot_api, "node-f", da[0])  # a bare device id
    reconciled(env, c)
    t.eq(cidr_da, node_annotation(shoot_api, "node-f"), "node-f (bare id, second metro) is annotated")
    want = ",".join(sorted({cidr_ny, cidr_da, "10.99.0.0/25"}))
    t.eq(want, (env.get_infra(NS, "worker").get("status") or {}).get("nodesCIDR"),
         "nodesCIDR follows the new node network")
    st, s = env.kube.get(STS + "/vpn-seed-server")
    t.eq({"NODE_NETWORK": want}, env_of(s, "vpn-seed-server"), "the StatefulSet of an HA control plane gets NODE_NETWORK")

    # A providerID with two "://" fails the Worker naming the node, and is retried once it is gone.
    node(shoot_api, "node-g", "equinixmetal://x://y")
    le = failed_with(env, c, "node-g", "the Worker to report the bad providerID")
    like(le["description"], r'node node-g has spec\.providerID equinixmetal://x://y with more than one "://"',
           "the error names the node and its providerID")
    shoot_api.delete("/api/v1/nodes/node-g")
    wait("the Worker to succeed after the node is gone",
         lambda: succeeded(get_worker(env, NS)), timeout=90, controller=c)
    t.ok(True, "the retry succeeds once the bad Node is gone")

    # No kubeconfig Secret: the Worker fails with a sentence naming the Secret.
    for name in ("gardener-internal", "gardener"):
        env.kube.delete(f"/api/v1/namespaces/{NS}/secrets/{name}")
    le = failed_with(env, c, "kubeconfig", "the Worker to report the missing kubeconfig")
    like(le["description"], rf"could not read the shoot's kubeconfig from Secret {NS}/gardener",
           "without the Secrets the error names the last Secret tried")

    stop_and_check_journal(t, env, c, shoot_api)


run_with_shoot_api(t, "worker post-reconcile against the shoot", run)
