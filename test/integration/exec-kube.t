#!/usr/bin/env python3
"""The executor's generic Kubernetes writes (kube.apply, kube.create, kube.delete) against the test
kube-apiserver: server-side apply creates and then updates, with our field manager; create makes an
absent object and leaves an existing one as it is; a delete reports "gone", also for an object that
is already absent; malformed actions fail without a request and are not retried."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402

BUILD = os.environ.get("EQXM_BUILD", "build/release")
TOOL = os.path.join(BUILD, "test/tools/exec_kube_tool")
NS = "default"
t = Tap()


def action(n, kind, name, params, gk="/ConfigMap"):
    return {"id": f"test/{NS}/{name}/op/{kind}/{n}", "key": "%032x" % n, "controller": "test",
            "kind": kind, "correlation": "op", "attempt": 1, "reason": "test",
            "target": {"groupKind": gk, "namespace": NS, "name": name, "uid": ""},
            "params": params}


def cm(name, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": data}


def run(k, actions):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(actions, f)
    try:
        r = subprocess.run([TOOL, "--kubeconfig", k.kubeconfig, f.name], capture_output=True,
                           text=True, timeout=60)
    finally:
        os.unlink(f.name)
    return r.returncode, [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")], r.stderr


with KubeAPI() as k:
    rc, res, err = run(k, [
        action(1, "kube.apply", "a1", {"object": cm("a1", {"x": "1"})}),
        action(2, "kube.apply", "a1", {"object": cm("a1", {"x": "2", "y": "3"})}),
        action(3, "kube.apply", "a1", {"object": cm("other", {"x": "1"})}),
        action(4, "kube.apply", "a1", {}),
        action(5, "kube.apply", "l1", {"object": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                  "metadata": {"name": "l1", "namespace": NS}}},
               gk="coordination.k8s.io/Lease"),
        action(6, "kube.delete", "a1", {}),
        action(7, "kube.delete", "a1", {}),
        action(8, "kube.delete", "never", {"propagationPolicy": "Foreground"}),
    ])
    t.ok(rc == 0, "the tool ran every action", diag=err)
    t.eq(8, len(res), "every action has a result")
    res += [{}] * (8 - len(res))
    t.ok(res[0].get("ok") is True and res[0].get("output", {}).get("uid"),
         "apply creates the object and reports its uid", diag=json.dumps(res[0]))
    t.ok(res[1].get("ok") is True and res[1]["output"].get("resourceVersion") != res[0]["output"].get("resourceVersion"),
         "a second apply updates it (new resourceVersion)", diag=json.dumps(res[1]))
    t.eq(res[0].get("output", {}).get("uid"), res[1].get("output", {}).get("uid"), "the update keeps the object (same uid)")
    t.ok(res[2].get("ok") is False and res[2].get("error", {}).get("retryable") is False and "must name the action's target" in json.dumps(res[2]),
         "an object that is not the action's target is refused, not retried", diag=json.dumps(res[2]))
    t.ok(res[3].get("ok") is False and "no object to apply" in json.dumps(res[3]),
         "an apply without an object is refused", diag=json.dumps(res[3]))
    t.ok(res[4].get("ok") is False and "not registered" in json.dumps(res[4]),
         "a kind the executor was not given is refused", diag=json.dumps(res[4]))
    t.ok(res[5].get("ok") is True and res[5].get("output") == {"gone": True}, "delete reports gone",
         diag=json.dumps(res[5]))
    t.ok(res[6].get("ok") is True and res[6].get("output") == {"gone": True},
         "deleting an absent object also reports gone", diag=json.dumps(res[6]))
    t.ok(res[7].get("ok") is True, "a delete with a propagation policy of a never-created object is gone")
    reqs = [r for r in k.requests() if "/configmaps" in r["path"]]
    applies = [r for r in reqs if r["method"] == "PATCH"]
    t.eq(2, len(applies), "only the two valid applies reached the server (malformed ones sent nothing)")
    t.ok(all((r.get("query") or {}).get("fieldManager") == "gardener-extension-provider-equinix-metal"
             and (r.get("query") or {}).get("force") == "true" for r in applies),
         "applies name our field manager and force", diag=json.dumps(applies[:1]))
    st, obj = k.get(f"/api/v1/namespaces/{NS}/configmaps/a1")
    t.eq(404, st, "the deleted object is gone from the server")

    rc, res, err = run(k, [
        action(9, "kube.create", "c1", {"object": cm("c1", {"x": "1"})}),
        action(10, "kube.create", "c1", {"object": cm("c1", {"x": "2"})}),
        action(11, "kube.create", "c2", {}),
    ])
    t.ok(len(res) == 3, "every create has a result", diag=err)
    res += [{}] * (3 - len(res))
    t.ok(res[0].get("ok") is True and res[0].get("output", {}).get("created") is True
         and res[0]["output"].get("uid"), "create makes an absent object", diag=json.dumps(res[0]))
    t.ok(res[1].get("ok") is True and res[1].get("output") == {"created": False},
         "creating an existing object succeeds without a write", diag=json.dumps(res[1]))
    st, obj = k.get(f"/api/v1/namespaces/{NS}/configmaps/c1")
    t.eq({"x": "1"}, (obj or {}).get("data"), "the existing object is left as it was")
    t.ok(res[2].get("ok") is False and "cannot create" in json.dumps(res[2]) and "no object" in json.dumps(res[2]),
         "a create without an object is refused", diag=json.dumps(res[2]))
    posts = [r for r in k.requests() if r["method"] == "POST" and "/configmaps" in r["path"]]
    t.eq(2, len(posts), "the two valid creates were POSTs")
t.done()
