#!/usr/bin/env python3
"""example/: the CRDs are the vendored ones; every seed-side file applies cleanly with kubectl to a
test apiserver that starts with no CRDs at all (the example CRDs are applied first); the garden-side
files are well-formed and consistent (the Shoot's images and region are in the CloudProfile, which
maps every image version; CredentialsBinding, not SecretBinding); the component config is one the
binary loads."""
import glob
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from kubeapi import KubeAPI  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
EX = os.path.join(ROOT, "example")
BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin/gardener-extension-provider-equinix-metal"))
SPECS = os.environ.get("EQXM_SPECS", os.path.join(ROOT, "test/specs"))


def docs(name):
    with open(os.path.join(EX, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


for name in ("00-componentconfig.yaml", "23-project.yaml", "25-secret.yaml", "26-cloudprofile.yaml",
             "29-cluster.yaml", "30-infrastructure.yaml", "30-controlplane.yaml", "30-worker.yaml",
             "90-shoot.yaml", "controller-registration.yaml"):
    t.ok(os.path.exists(os.path.join(EX, name)), f"example/{name} exists")

# CRDs: the vendored ones, byte for byte.
crds = sorted(glob.glob(os.path.join(EX, "20-crd-*.yaml")))
vendored = sorted(glob.glob(os.path.join(SPECS, "gardener-crds/*.yaml")) + glob.glob(os.path.join(SPECS, "seed-crds/*.yaml")))
t.eq(sorted("20-crd-" + os.path.basename(v) for v in vendored), [os.path.basename(c) for c in crds],
     "example/20-crd-* are the vendored CRDs (test/specs/{gardener,seed}-crds)")
t.ok(all(open(os.path.join(EX, "20-crd-" + os.path.basename(v)), "rb").read() == open(v, "rb").read()
         for v in vendored if os.path.exists(os.path.join(EX, "20-crd-" + os.path.basename(v)))),
     "... with the same content")

# Garden side.
kinds = {d["kind"]: d for n in ("23-project.yaml", "25-secret.yaml", "26-cloudprofile.yaml", "90-shoot.yaml") for d in docs(n)}
t.eq({"Project", "Secret", "CredentialsBinding", "CloudProfile", "Shoot"}, set(kinds), "garden-side kinds")
shoot, cp, cb, sec = kinds["Shoot"], kinds["CloudProfile"], kinds["CredentialsBinding"], kinds["Secret"]
t.ok(shoot["spec"].get("credentialsBindingName") == cb["metadata"]["name"] and "secretBindingName" not in shoot["spec"],
     "the Shoot uses the CredentialsBinding (not the deprecated SecretBinding)")
t.eq((sec["metadata"]["name"], sec["metadata"]["namespace"]),
     (cb["credentialsRef"]["name"], cb["credentialsRef"]["namespace"]), "the binding refers to the Secret")
t.eq({"apiToken", "projectID"}, set(sec.get("stringData", sec.get("data", {}))), "credentials keys apiToken, projectID")
t.eq(kinds["Project"]["spec"]["namespace"], shoot["metadata"]["namespace"], "the Shoot lives in the project's namespace")
t.eq(cp["metadata"]["name"], shoot["spec"]["cloudProfile"]["name"], "the Shoot uses the CloudProfile")
mapping = {(i["name"], v["version"]) for i in cp["spec"]["providerConfig"]["machineImages"] for v in i["versions"]
           if v.get("id") or v.get("ipxeScriptUrl")}
offered = {(i["name"], v["version"]) for i in cp["spec"]["machineImages"] for v in i["versions"]}
t.ok(offered and offered <= mapping, "every image version of the CloudProfile has an Equinix Metal mapping",
     diag=offered - mapping)
regions = {r["name"]: [z["name"] for z in r.get("zones", [])] for r in cp["spec"]["regions"]}
types = {m["name"] for m in cp["spec"]["machineTypes"]}
bad = []
for w in shoot["spec"]["provider"]["workers"]:
    img = (w["machine"]["image"]["name"], w["machine"]["image"]["version"])
    if img not in mapping:
        bad.append(f"image {img}")
    if w["machine"]["type"] not in types:
        bad.append(f"type {w['machine']['type']}")
    bad += [f"zone {z}" for z in w.get("zones", []) if z not in regions.get(shoot["spec"]["region"], [])]
t.ok(shoot["spec"]["region"] in regions and not bad, "the Shoot's region, zones, types and images are in the CloudProfile",
     diag=bad)

# Seed side: the Cluster carries the same CloudProfile providerConfig and shoot.
cluster = [d for d in docs("29-cluster.yaml") if d["kind"] == "Cluster"][0]
t.eq(cp["spec"]["providerConfig"], cluster["spec"]["cloudProfile"]["spec"]["providerConfig"],
     "the Cluster's CloudProfile providerConfig is the CloudProfile's")
t.eq(shoot["spec"]["provider"]["workers"][0]["machine"], cluster["spec"]["shoot"]["spec"]["provider"]["workers"][0]["machine"],
     "the Cluster's shoot has the Shoot's worker machine")
worker = [d for d in docs("30-worker.yaml") if d["kind"] == "Worker"][0]
pool = worker["spec"]["pools"][0]
t.eq((shoot["spec"]["provider"]["workers"][0]["machine"]["type"], shoot["spec"]["provider"]["workers"][0]["machine"]["image"]),
     (pool["machineType"], pool["machineImage"]), "the Worker pool is the Shoot's worker")

# The component config loads.
with tempfile.TemporaryDirectory() as d:
    proc = subprocess.Popen([BIN, "webhook", "serve", "--standalone", "--config-file", os.path.join(EX, "00-componentconfig.yaml"),
                             "--webhook-config-server-host", "127.0.0.1", "--webhook-config-server-port", "0",
                             "--webhook-config-cert-dir", d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "webhook server listening" in line:
            break
    proc.terminate()
    proc.communicate(timeout=20)
    t.ok(any("webhook server listening" in l for l in seen), "the binary loads example/00-componentconfig.yaml", diag="".join(seen))

# kubectl apply against a test apiserver that starts without CRDs.
with tempfile.TemporaryDirectory() as empty, KubeAPI(crd_dirs=[empty]) as k:
    st, _ = k.get("/apis/extensions.gardener.cloud/v1alpha1/infrastructures")
    t.eq(404, st, "the apiserver starts without the extension CRDs")
    args = []
    for c in crds:
        args += ["-f", c]
    p = k.kubectl("apply", *args)
    # (the test apiserver has the VPA and ManagedResource kinds built in, so those two are "configured")
    t.ok(p.returncode == 0 and p.stdout.count("created") + p.stdout.count("configured") == len(crds),
         f"kubectl apply of the {len(crds)} example CRDs",
         diag=p.stdout + p.stderr)
    for name in ("29-cluster.yaml", "30-infrastructure.yaml", "30-controlplane.yaml", "30-worker.yaml"):
        n = len(docs(name))
        p = k.kubectl("apply", "-f", os.path.join(EX, name))
        t.ok(p.returncode == 0 and p.stdout.count("created") == n and "Warning" not in p.stderr,
             f"kubectl apply -f example/{name} creates its {n} objects cleanly", diag=p.stdout + p.stderr)
        p = k.kubectl("apply", "-f", os.path.join(EX, name))
        t.ok(p.returncode == 0 and p.stdout.count("unchanged") == n, f"... and applying it again changes nothing",
             diag=p.stdout + p.stderr)
    p = k.kubectl("get", "infrastructures,controlplanes,workers", "-n", "shoot--dev--demo", "-o", "name")
    t.eq(["controlplane.extensions.gardener.cloud/demo", "infrastructure.extensions.gardener.cloud/demo",
          "worker.extensions.gardener.cloud/demo"], sorted(p.stdout.split()), "kubectl lists the three extension objects")
    p = k.kubectl("get", "secret", "-n", "shoot--dev--demo", "cloudprovider", "-o", "jsonpath={.data.projectID}")
    t.ok(p.returncode == 0 and p.stdout, "the cloudprovider Secret has its projectID",
         diag=p.stderr)

sys.exit(t.done())
