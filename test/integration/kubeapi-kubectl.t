#!/usr/bin/env python3
"""kubectl is the referee: the real kubectl (default flags) applies, gets, watches, patches and deletes
Gardener extension objects on the test kube-apiserver, with the bearer-token and the client-certificate
kubeconfigs; a wrong token is refused."""
import os
import queue
import shutil
import subprocess
import sys
import threading

import yaml

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))

from kubeapi import KubeAPI  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
ROOT = os.environ.get("EQXM_ROOT", ".")
DATA = os.path.join(ROOT, "test/integration/data/kubeapi")
NS = "shoot--foobar--eqxm"


def ok_run(k, name, *args, input=None, kubeconfig=None, want=None):
    """Run kubectl, assert rc 0 (and that stdout contains want); return the CompletedProcess."""
    p = k.kubectl(*args, input=input, kubeconfig=kubeconfig)
    good = p.returncode == 0 and (want is None or want in p.stdout)
    t.ok(good, name, diag=f"kubectl {' '.join(args)}\nrc={p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def manifest(name, **changes):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for path, value in changes.items():
        cur = doc
        parts = path.split("__")
        for p in parts[:-1]:
            cur = cur[p]
        cur[parts[-1]] = value
    return yaml.safe_dump(doc)


class LineReader:
    """Collect a process's stdout lines in a thread so the test can wait with a timeout."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._run, args=(proc.stdout,), daemon=True).start()

    def _run(self, f):
        for line in f:
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, pred, timeout=20):
        import time
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.lines.append(line)
            if pred(line):
                return line


def main():
    if not shutil.which("kubectl"):
        t.ok(False, "kubectl is installed (hack/install-requirements.sh installs kubernetes-client)")
        return
    with KubeAPI() as k:
        flow(k)


def flow(k):
    p = ok_run(k, "kubectl apply -f creates namespace, secret, Cluster and Infrastructure", "apply", "-f", DATA)
    for what in ("namespace/shoot--foobar--eqxm created", "secret/cloudprovider created",
                 "cluster.extensions.gardener.cloud/shoot--foobar--eqxm created",
                 "infrastructure.extensions.gardener.cloud/infrastructure created"):
        t.ok(what in p.stdout, f"apply reports: {what}", diag=p.stdout)

    p = ok_run(k, "kubectl get infrastructures", "get", "infrastructures", "-n", NS)
    lines = p.stdout.splitlines()
    t.ok(len(lines) == 2 and lines[0].split()[:4] == ["NAME", "TYPE", "REGION", "STATUS"]
         and lines[1].split()[:3] == ["infrastructure", "equinixmetal", "ny"],
         "get prints the CRD printer columns with the object", diag=p.stdout)
    p = ok_run(k, "kubectl get cluster (cluster-scoped)", "get", "clusters.extensions.gardener.cloud", want=NS)
    p = ok_run(k, "kubectl get ns shows the namespace Active", "get", "ns", NS, want="Active")
    p = ok_run(k, "kubectl get infra -A (short name, all namespaces)", "get", "infra", "-A", want=NS)

    p = ok_run(k, "kubectl get -o yaml", "get", "infrastructure", "infrastructure", "-n", NS, "-o", "yaml")
    obj = yaml.safe_load(p.stdout) if p.returncode == 0 else {}
    t.ok(obj.get("spec", {}).get("region") == "ny" and obj["spec"].get("type") == "equinixmetal"
         and obj["metadata"].get("uid") and obj["metadata"].get("generation") == 1
         and "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"].get("annotations", {}),
         "get -o yaml shows spec, uid, generation 1 and the last-applied annotation", diag=p.stdout)

    # get -w in the background; an apply shows up as a new line.
    w = subprocess.Popen(["kubectl", "--kubeconfig", k.kubeconfig, "--cache-dir", os.path.join(k.dir, "kubectl-cache"),
                          "get", "infrastructures", "-n", NS, "-w"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        rd = LineReader(w)
        first = rd.wait_for(lambda line: "infrastructure" in line and "ny" in line)
        t.ok(first is not None, "get -w prints the current object", diag="".join(rd.lines))
        t.ok(k.wait_watches(1), "get -w holds a watch open")
        ok_run(k, "kubectl apply of a changed manifest", "apply", "-f", "-",
               input=manifest("40-infrastructure.yaml", spec__region="da"), want="configured")
        line = rd.wait_for(lambda line: "infrastructure" in line and " da " in f" {line} ")
        t.ok(line is not None, "get -w prints the changed object", diag="".join(rd.lines))
    finally:
        w.kill()
        w.wait()
        w.stdout.close()
        w.stderr.close()

    ok_run(k, "kubectl apply of the same manifest again is unchanged", "apply", "-f", "-",
           input=manifest("40-infrastructure.yaml", spec__region="da"), want="unchanged")
    ok_run(k, "kubectl apply changes a Secret (strategic merge patch of a built-in kind)", "apply", "-f", "-",
           input=manifest("20-secret.yaml", data={"apiToken": "bmV3Cg==", "projectID": "cHJvamVjdElkCg=="}),
           want="configured")
    st, sec = k.get(f"/api/v1/namespaces/{NS}/secrets/cloudprovider")
    t.eq("bmV3Cg==", sec["data"]["apiToken"], "the Secret has the applied value")

    gen = lambda: k.get(f"/apis/extensions.gardener.cloud/v1alpha1/namespaces/{NS}/infrastructures/infrastructure")[1]  # noqa: E731
    before = gen()["metadata"]["generation"]
    ok_run(k, "kubectl patch --type merge", "patch", "infrastructure", "infrastructure", "-n", NS, "--type", "merge",
           "-p", '{"spec":{"region":"sv"}}', want="patched")
    after = gen()
    t.eq(("sv", before + 1), (after["spec"]["region"], after["metadata"]["generation"]),
         "patch changed the value and bumped generation")

    # delete with a finalizer: deletionTimestamp, object stays until the finalizer is removed.
    ok_run(k, "kubectl patch adds a finalizer", "patch", "infra", "infrastructure", "-n", NS, "--type", "merge",
           "-p", '{"metadata":{"finalizers":["extensions.gardener.cloud/infrastructure"]}}')
    ok_run(k, "kubectl delete --wait=false", "delete", "infra", "infrastructure", "-n", NS, "--wait=false", want="deleted")
    p = ok_run(k, "object still there with deletionTimestamp", "get", "infra", "infrastructure", "-n", NS, "-o",
               "jsonpath={.metadata.deletionTimestamp}")
    t.ok(p.stdout.strip().endswith("Z"), "deletionTimestamp is set", diag=p.stdout)
    d = subprocess.Popen(["kubectl", "--kubeconfig", k.kubeconfig, "--cache-dir", os.path.join(k.dir, "kubectl-cache"),
                          "delete", "infra", "infrastructure", "-n", NS, "--timeout=60s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t.ok(k.wait_watches(1, timeout=20), "a waiting kubectl delete watches the object")
        t.eq(None, d.poll(), "kubectl delete waits while the finalizer remains")
        ok_run(k, "kubectl patch removes the finalizer", "patch", "infra", "infrastructure", "-n", NS, "--type", "json",
               "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        out, err = d.communicate(timeout=30)
        t.ok(d.returncode == 0 and "deleted" in out, "the waiting kubectl delete returns once the object is gone",
             diag=out + err)
    finally:
        if d.poll() is None:
            d.kill()
            d.communicate()
    p = k.kubectl("get", "infra", "infrastructure", "-n", NS)
    t.ok(p.returncode != 0 and "NotFound" in p.stderr, "the object is gone", diag=p.stderr)

    # The same with the client-certificate kubeconfig.
    kc = k.kubeconfig_cert
    k.clear_requests()
    ok_run(k, "cert: kubectl apply", "apply", "-f", os.path.join(DATA, "40-infrastructure.yaml"), kubeconfig=kc,
           want="created")
    ok_run(k, "cert: kubectl get", "get", "infra", "-n", NS, kubeconfig=kc, want="equinixmetal")
    ok_run(k, "cert: kubectl patch --type merge", "patch", "infra", "infrastructure", "-n", NS, "--type", "merge",
           "-p", '{"spec":{"region":"fr"}}', kubeconfig=kc, want="patched")
    p = ok_run(k, "cert: kubectl get -o yaml", "get", "infra", "infrastructure", "-n", NS, "-o", "yaml", kubeconfig=kc)
    t.ok("region: fr" in p.stdout, "cert: the patch is visible", diag=p.stdout)
    ok_run(k, "cert: kubectl delete", "delete", "infra", "infrastructure", "-n", NS, kubeconfig=kc, want="deleted")
    users = {e["user"] for e in k.requests()}
    t.eq({"test-client-cert"}, users, "all those requests were authenticated by the client certificate")

    ok_run(k, "tokenFile kubeconfig: kubectl get", "get", "ns", "default", kubeconfig=k.kubeconfig_tokenfile,
           want="Active")

    # Server-side apply, as kubectl does it.
    ok_run(k, "kubectl apply --server-side on a ConfigMap", "apply", "--server-side", "-f", "-",
           input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  a: b\n",
           want="serverside-applied")

    # A wrong token is refused.
    bad = os.path.join(k.dir, "kubeconfig-bad")
    with open(k.kubeconfig, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cfg["users"][0]["user"]["token"] = "wrong-token"
    with open(bad, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)
    k.clear_requests()
    p = k.kubectl("get", "ns", kubeconfig=bad)
    t.ok(p.returncode != 0 and ("Unauthorized" in p.stderr or "logged in" in p.stderr),
         "kubectl with a wrong token fails as unauthorized", diag=p.stderr)
    t.ok(any(e["status"] == 401 for e in k.requests()), "the server answered 401")


main()
sys.exit(t.done())
