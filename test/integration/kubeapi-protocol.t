#!/usr/bin/env python3
"""The test kube-apiserver speaks the Kubernetes API protocol (no kubectl here): resourceVersions,
generation, optimistic concurrency, status subresource, patches, pagination, watch semantics,
bookmarks, timeouts, 410 after compaction, fault injection, finalizers, delete preconditions."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))

from kubeapi import KubeAPI, WatchClosed  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
NS = "shoot--p--proto"
EXT = "/apis/extensions.gardener.cloud/v1alpha1"
INFRAS = f"{EXT}/namespaces/{NS}/infrastructures"
CMS = f"/api/v1/namespaces/{NS}/configmaps"


def infra(name, region="ny", **spec):
    s = {"type": "equinixmetal", "region": region, "secretRef": {"name": "cloudprovider", "namespace": NS}}
    s.update(spec)
    return {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Infrastructure",
            "metadata": {"name": name, "namespace": NS}, "spec": s}


def cm(name, labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {"k": "v"}}


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def discovery(k):
    st, v = k.get("/version")
    t.eq((200, "1"), (st, v.get("major")), "/version answers")
    st, a = k.get("/api")
    t.eq((200, ["v1"]), (st, a.get("versions")), "/api lists v1")
    st, g = k.get("/apis")
    names = [x["name"] for x in g.get("groups", [])]
    t.ok(st == 200 and "extensions.gardener.cloud" in names and "coordination.k8s.io" in names
         and "admissionregistration.k8s.io" in names and "druid.gardener.cloud" in names, "/apis lists the groups",
         diag=names)
    st, rl = k.get(EXT)
    res = {r["name"]: r for r in rl.get("resources", [])}
    t.ok(st == 200 and res.get("infrastructures", {}).get("namespaced") is True
         and "infrastructures/status" in res and res.get("clusters", {}).get("namespaced") is False,
         "group-version discovery has infrastructures (+status) and cluster-scoped clusters", diag=list(res))
    st, o = k.get("/openapi/v3")
    t.ok(st == 200 and "apis/extensions.gardener.cloud/v1alpha1" in o.get("paths", {}), "/openapi/v3 root lists group versions")


def auth(k):
    st, body = k.request("GET", "/api/v1/namespaces", headers={"Authorization": ""})
    t.eq((401, "Unauthorized"), (st, (body or {}).get("reason")), "no credentials: 401 Unauthorized Status")
    st, body = k.request("GET", "/api/v1/namespaces", headers={"Authorization": "Bearer nope"})
    t.eq(401, st, "wrong bearer token: 401")
    k.clear_requests()
    st, _ = k.request("GET", "/api/v1/namespaces", cert=True)
    t.eq(200, st, "client certificate authenticates")
    st, _ = k.get("/api/v1/namespaces/default")
    log = k.requests()
    users = [e["user"] for e in log]
    t.eq(["test-client-cert", "test-admin"], users, "request log records the user of each request")
    e = log[-1]
    t.ok(set(e) >= {"method", "path", "query", "status", "user", "watch"} and e["status"] == 200
         and e["method"] == "GET" and e["watch"] is False, "request log entry shape", diag=e)


def errors(k):
    st, body = k.get("/apis/nope.example.com/v1/things")
    t.eq((404, "Status", "NotFound"), (st, (body or {}).get("kind"), body.get("reason")), "unknown path: 404 Status")
    st, body = k.get("/api/v1/namespaces/de%66ault")
    t.eq((200, "default"), (st, body["metadata"]["name"]), "percent-escaped path segments are decoded")
    st, body = k.request("POST", INFRAS, "{not json", content_type="application/json")
    t.eq((400, "BadRequest"), (st, body.get("reason")), "malformed JSON: 400 BadRequest Status")
    st, body = k.create(f"{EXT}/namespaces/missing-ns/infrastructures", dict(infra("x"), metadata={"name": "x"}))
    t.eq((404, "NotFound"), (st, body.get("reason")), "create in a missing namespace: 404")


def create_and_rv(k):
    st, a = k.create(INFRAS, infra("a"))
    m = a["metadata"]
    t.ok(st == 201 and m.get("uid") and m.get("creationTimestamp", "").endswith("Z") and m.get("generation") == 1
         and m.get("resourceVersion"), "create: 201 with uid, creationTimestamp, generation 1, resourceVersion", diag=a)
    st, dup = k.create(INFRAS, infra("a"))
    t.eq((409, "AlreadyExists"), (st, dup.get("reason")), "create of an existing name: 409 AlreadyExists")
    rvs = [rv(a)]
    for i in range(5):
        st, o = k.create(CMS, cm(f"rv-{i}"))
        rvs.append(rv(o))
        st, o = k.patch(f"{INFRAS}/a", {"metadata": {"labels": {"i": str(i)}}})
        rvs.append(rv(o))
    t.ok(all(x < y for x, y in zip(rvs, rvs[1:])), "resourceVersion grows with every write, across kinds", diag=rvs)
    st, lst = k.get(CMS)
    t.ok(int(lst["metadata"]["resourceVersion"]) >= rvs[-1], "list resourceVersion is the current one")


def generation(k):
    st, a = k.get(f"{INFRAS}/a")
    g0 = a["metadata"]["generation"]
    a["metadata"]["labels"] = {"only": "metadata"}
    st, a = k.update(f"{INFRAS}/a", a)
    t.eq((200, g0), (st, a["metadata"]["generation"]), "metadata-only update keeps generation")
    a["spec"]["region"] = "da"
    st, a = k.update(f"{INFRAS}/a", a)
    t.eq((200, g0 + 1), (st, a["metadata"]["generation"]), "spec update bumps generation")
    st, same = k.update(f"{INFRAS}/a", a)
    t.eq((rv(a), g0 + 1), (rv(same), same["metadata"]["generation"]), "no-op update: same resourceVersion, same generation")
    st, s = k.create(f"/api/v1/namespaces/{NS}/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                          "metadata": {"name": "s"}, "stringData": {"a": "b"}})
    t.ok(st == 201 and "generation" not in s["metadata"] and s["data"] == {"a": "Yg=="} and s["type"] == "Opaque",
         "Secret: no generation, stringData folded into data, type Opaque", diag=s)
    s["data"]["a"] = "Yw=="
    del s["metadata"]["resourceVersion"]
    st, s2 = k.update(f"/api/v1/namespaces/{NS}/secrets/s", s)
    t.ok(st == 200 and "generation" not in s2["metadata"], "Secret: unconditional PUT works, still no generation", diag=s2)


def conflicts(k):
    st, a = k.get(f"{INFRAS}/a")
    stale = dict(a, metadata=dict(a["metadata"], resourceVersion=str(rv(a) - 1)))
    st, body = k.update(f"{INFRAS}/a", stale)
    t.ok(st == 409 and body.get("reason") == "Conflict" and "the object has been modified" in body.get("message", ""),
         "PUT with a stale resourceVersion: 409 Conflict", diag=body)
    norv = dict(a, metadata={k2: v for k2, v in a["metadata"].items() if k2 != "resourceVersion"})
    st, body = k.update(f"{INFRAS}/a", norv)
    t.eq((422, "Invalid"), (st, body.get("reason")), "PUT of a custom resource without resourceVersion: 422")
    st, body = k.patch(f"{INFRAS}/a", {"metadata": {"resourceVersion": str(rv(a) - 1)}, "spec": {"region": "x"}})
    t.eq(409, st, "merge patch carrying a stale resourceVersion: 409")


def status_subresource(k):
    st, a = k.get(f"{INFRAS}/a")
    g = a["metadata"]["generation"]
    a["status"] = {"observedGeneration": 99}
    st, a2 = k.update(f"{INFRAS}/a", a)
    t.ok(st == 200 and "status" not in a2, "PUT to the main resource ignores .status", diag=a2)
    a2["status"] = {"observedGeneration": g, "lastOperation": {"type": "Create", "state": "Succeeded", "progress": 100,
                                                               "description": "ok", "lastUpdateTime": "2024-01-01T00:00:00Z"}}
    a2["spec"]["region"] = "changed-by-status-write"
    a2["metadata"]["labels"] = {"by": "status"}
    st, a3 = k.update(f"{INFRAS}/a/status", a2)
    t.ok(st == 200 and a3["status"]["observedGeneration"] == g and a3["spec"]["region"] != "changed-by-status-write"
         and a3["metadata"].get("labels") != {"by": "status"} and a3["metadata"]["generation"] == g,
         "PUT /status sets status only; spec, labels and generation unchanged", diag=a3)
    st, a4 = k.patch(f"{INFRAS}/a/status", {"status": {"lastError": {"description": "boom", "codes": ["ERR_INFRA_DEPENDENCIES"]}}})
    t.ok(st == 200 and a4["status"]["lastError"]["description"] == "boom" and a4["status"]["observedGeneration"] == g,
         "merge patch on /status merges into status", diag=a4)
    st, a5 = k.patch(f"{INFRAS}/a/status", {"status": {"lastError": None}})
    t.ok(st == 200 and "lastError" not in a5["status"], "merge patch null deletes a status field")
    st, g1 = k.get(f"{INFRAS}/a/status")
    t.eq((200, "Infrastructure"), (st, g1.get("kind")), "GET /status returns the object")


def patches(k):
    st, a = k.patch(f"{INFRAS}/a", {"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}})
    t.eq("reconcile", a["metadata"]["annotations"]["gardener.cloud/operation"], "merge patch adds an annotation")
    st, a = k.patch(f"{INFRAS}/a", [{"op": "remove", "path": "/metadata/annotations/gardener.cloud~1operation"}], type="json")
    t.ok(st == 200 and "gardener.cloud/operation" not in a["metadata"].get("annotations", {}),
         "JSON patch remove with ~1 escaping", diag=a)
    st, a = k.patch(f"{INFRAS}/a", [{"op": "test", "path": "/metadata/resourceVersion", "value": a["metadata"]["resourceVersion"]},
                                    {"op": "replace", "path": "/spec/region", "value": "sv"}], type="json")
    t.eq((200, "sv"), (st, a["spec"].get("region")), "JSON patch with a passing test op applies")
    st, body = k.patch(f"{INFRAS}/a", [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                                       {"op": "replace", "path": "/spec/region", "value": "zz"}], type="json")
    t.eq((422, "Invalid"), (st, body.get("reason")), "JSON patch with a failing test op: 422 Invalid (as kube-apiserver)")
    st, body = k.patch(f"{INFRAS}/a", {"spec": {"region": "x"}}, type="strategic")
    t.eq((415, "UnsupportedMediaType"), (st, body.get("reason")), "strategic merge patch on a custom resource: 415")
    st, c = k.create(CMS, cm("smp", data={"a": "1"}))
    st, c = k.patch(f"{CMS}/smp", {"data": {"b": "2"}, "metadata": {"finalizers": ["x.io/one"]}}, type="strategic")
    st, c = k.patch(f"{CMS}/smp", {"metadata": {"finalizers": ["x.io/two"]}}, type="strategic")
    t.ok(st == 200 and c["data"] == {"a": "1", "b": "2"} and c["metadata"]["finalizers"] == ["x.io/one", "x.io/two"],
         "strategic merge patch on a ConfigMap merges maps and finalizer lists", diag=c)
    st, c = k.patch(f"{CMS}/smp", {"metadata": {"finalizers": None}}, type="merge")
    st, body = k.request("PATCH", f"{INFRAS}/a", {"spec": {}}, content_type="text/plain")
    t.eq(415, st, "PATCH with an unknown content type: 415")
    st, ap = k.patch(f"{INFRAS}/ssa", {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Infrastructure",
                                       "metadata": {"name": "ssa"}, "spec": infra("ssa")["spec"]}, type="apply",
                     fieldManager="test")
    t.eq((201, "ny"), (st, (ap.get("spec") or {}).get("region")), "server-side apply creates a missing object")
    st, ap = k.patch(f"{INFRAS}/ssa", {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Infrastructure",
                                       "metadata": {"name": "ssa"}, "spec": {"region": "da"}}, type="apply",
                     fieldManager="test")
    t.eq((200, "da", "equinixmetal"), (st, ap["spec"].get("region"), ap["spec"].get("type")), "server-side apply updates it")


def validation(k):
    bad = infra("bad")
    del bad["spec"]["region"]
    st, body = k.create(INFRAS, bad)
    fields = [c.get("field") for c in (body.get("details") or {}).get("causes", [])]
    t.ok(st == 422 and body.get("reason") == "Invalid" and "spec.region" in fields,
         "schema: a missing required field is 422 naming spec.region", diag=body)
    unk = infra("unk")
    unk["spec"]["bogus"] = 1
    st, body = k.create(INFRAS, unk, fieldValidation="Strict")
    t.ok(st == 400 and "spec.bogus" in body.get("message", ""), "fieldValidation=Strict: unknown field is 400", diag=body)
    st, body = k.create(INFRAS, unk)
    warn = [v for h, v in k.last_headers if h.lower() == "warning"]
    t.ok(st == 201 and "bogus" not in body["spec"] and any("spec.bogus" in w for w in warn),
         "default (Warn): unknown field pruned with a Warning header", diag=(body, warn))
    cl = infra("cls", **{"class": "shoot"})
    st, o = k.create(INFRAS, cl)
    st, body = k.patch(f"{INFRAS}/cls", {"spec": {"class": "seed"}})
    t.ok(st == 422 and "immutable" in body.get("message", ""), "CEL self == oldSelf: spec.class is immutable", diag=body)
    st, body = k.create(INFRAS, dict(infra("typ"), spec=dict(infra("typ")["spec"], region=5)))
    t.eq(422, st, "schema: wrong type is 422")


def pagination(k):
    for i in range(25):
        k.create(CMS, cm(f"page-{i:02d}", labels={"set": "page", "parity": "even" if i % 2 == 0 else "odd"}))
    st, p1 = k.get(CMS, limit="10", labelSelector="set=page")
    t.ok(st == 200 and len(p1["items"]) == 10 and p1["metadata"].get("continue"), "limit=10: first page with continue")
    # Writes between pages must not show: the continuation serves the first page's snapshot.
    k.create(CMS, cm("page-99", labels={"set": "page"}))
    k.patch(f"{CMS}/page-15", {"data": {"k": "changed"}})
    k.delete(f"{CMS}/page-20")
    st, p2 = k.get(CMS, limit="10", labelSelector="set=page", **{"continue": p1["metadata"]["continue"]})
    st, p3 = k.get(CMS, limit="10", labelSelector="set=page", **{"continue": p2["metadata"]["continue"]})
    names = [o["metadata"]["name"] for o in p1["items"] + p2["items"] + p3["items"]]
    t.eq([f"page-{i:02d}" for i in range(25)], names, "pages are a consistent snapshot in key order")
    t.ok(p2["metadata"]["resourceVersion"] == p1["metadata"]["resourceVersion"] == p3["metadata"]["resourceVersion"]
         and not p3["metadata"].get("continue"), "all pages carry the first page's resourceVersion; last has no continue")
    p15 = [o for o in p2["items"] if o["metadata"]["name"] == "page-15"]
    t.eq("v", p15[0]["data"]["k"] if p15 else None, "a page shows an object as it was at the snapshot")
    st, full = k.get(CMS, labelSelector="set=page")
    t.eq(25, len(full["items"]), "a fresh list sees the changes")
    st, ev = k.get(CMS, labelSelector="set=page,parity in (even)")
    t.eq(12, len(ev["items"]), "set-based label selector")
    st, nl = k.get(CMS, labelSelector="set=page,!parity")
    t.eq(["page-99"], [o["metadata"]["name"] for o in nl["items"]], "label selector !key")
    st, one = k.get(CMS, fieldSelector="metadata.name=page-03")
    t.eq(["page-03"], [o["metadata"]["name"] for o in one["items"]], "field selector metadata.name")
    st, body = k.get(CMS, fieldSelector="data.k=v")
    t.eq(400, st, "unsupported field selector: 400")
    st, body = k.get(CMS, limit="5", **{"continue": "garbage!!"})
    t.eq(400, st, "a malformed continue token: 400")
    st, body = k.get(CMS, resourceVersionMatch="Exact")
    t.eq(422, st, "resourceVersionMatch without resourceVersion: 422")
    st, old = k.get(CMS, resourceVersion=p1["metadata"]["resourceVersion"], resourceVersionMatch="Exact",
                    labelSelector="set=page")
    t.ok(st == 200 and len(old["items"]) == 25 and "page-99" not in [o["metadata"]["name"] for o in old["items"]],
         "list with resourceVersionMatch=Exact serves the old state", diag=st)


def watches(k):
    st, base = k.get(CMS)
    start = base["metadata"]["resourceVersion"]
    with k.watch(CMS, {"resourceVersion": start}) as w:
        k.create(CMS, cm("w1"))
        k.patch(f"{CMS}/w1", {"data": {"k": "2"}})
        k.delete(f"{CMS}/w1")
        evs = w.collect(3)
        t.eq(["ADDED", "MODIFIED", "DELETED"], [e["type"] for e in evs], "watch from a resourceVersion: only later changes, in order")
        t.ok(all(e["object"]["metadata"]["name"] == "w1" for e in evs) and
             rv(evs[0]["object"]) < rv(evs[1]["object"]) < rv(evs[2]["object"]), "events carry growing resourceVersions")
    with k.watch(CMS, {"labelSelector": "set=page"}) as w:
        evs = w.collect(25)
        t.ok(len(evs) == 25 and all(e["type"] == "ADDED" for e in evs), "watch without resourceVersion: synthetic ADDED for each object")
        k.patch(f"{CMS}/page-01", {"data": {"k": "x"}})
        e = w.next(10)
        t.eq(("MODIFIED", "page-01"), (e["type"], e["object"]["metadata"]["name"]), "then live changes")
        k.patch(f"{CMS}/page-02", {"metadata": {"labels": {"set": "other"}}})
        e = w.next(10)
        t.eq(("DELETED", "page-02"), (e["type"], e["object"]["metadata"]["name"]),
             "an object leaving the label selection arrives as DELETED")
    st, now = k.get(CMS)
    with k.watch(CMS, {"resourceVersion": now["metadata"]["resourceVersion"], "allowWatchBookmarks": "true"}) as w:
        k.bookmark()
        e = w.next(10)
        t.ok(e["type"] == "BOOKMARK" and set(e["object"]) == {"kind", "apiVersion", "metadata"}
             and set(e["object"]["metadata"]) == {"resourceVersion"} and e["object"]["kind"] == "ConfigMap",
             "BOOKMARK carries only kind, apiVersion and metadata.resourceVersion", diag=e)
    with k.watch(CMS, {"resourceVersion": now["metadata"]["resourceVersion"], "timeoutSeconds": "1"}) as w:
        ended = w.next(15)
        t.eq(None, ended, "timeoutSeconds ends the stream cleanly")
    with k.watch(CMS, {"fieldSelector": "metadata.name=page-05", "resourceVersion": now["metadata"]["resourceVersion"]}) as w:
        k.patch(f"{CMS}/page-04", {"data": {"k": "y"}})
        k.patch(f"{CMS}/page-05", {"data": {"k": "y"}})
        e = w.next(10)
        t.eq("page-05", e["object"]["metadata"]["name"], "watch with a metadata.name field selector sees only that object")
    with k.watch(CMS, {"sendInitialEvents": "true", "allowWatchBookmarks": "true", "resourceVersionMatch": "NotOlderThan",
                       "labelSelector": "parity=odd"}) as w:
        evs = w.collect(13)
        t.ok([e["type"] for e in evs[:12]] == ["ADDED"] * 12 and evs[12]["type"] == "BOOKMARK"
             and evs[12]["object"]["metadata"].get("annotations", {}).get("k8s.io/initial-events-end") == "true",
             "sendInitialEvents: ADDEDs then the initial-events-end bookmark", diag=[e["type"] for e in evs])


def leases(k):
    L = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
    st, le = k.create(L, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "hb"},
                          "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                   "renewTime": "2024-01-01T00:00:00.000000Z"}})
    with k.watch(L, {"resourceVersion": le["metadata"]["resourceVersion"]}) as w:
        le["spec"]["holderIdentity"] = "b"
        st, le2 = k.update(f"{L}/hb", le)
        st2, body = k.update(f"{L}/hb", le)
        e = w.next(10)
        t.ok(st == 200 and st2 == 409 and e["type"] == "MODIFIED" and e["object"]["spec"]["holderIdentity"] == "b",
             "Lease: create, update, stale update 409, watch sees the change", diag=(st, st2, e))
    st, g = k.get(f"{L}/hb")
    t.eq("b", g["spec"]["holderIdentity"], "Lease GET")


def cluster_scoped(k):
    C = f"{EXT}/clusters"
    st, c = k.create(C, {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
                         "metadata": {"name": NS}, "spec": {"cloudProfile": {}, "shoot": {"spec": {"region": "ny"}}}})
    t.ok(st == 201 and "namespace" not in c["metadata"], "cluster-scoped Cluster created without namespace", diag=c)
    st, _ = k.get(f"{EXT}/namespaces/{NS}/clusters/{NS}")
    t.eq(404, st, "cluster-scoped kind under a namespace path: 404")
    st, body = k.request("GET", f"{INFRAS}", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    cols = [c["name"] for c in body.get("columnDefinitions", [])]
    t.ok(st == 200 and body.get("kind") == "Table" and cols[:3] == ["Name", "Type", "Region"]
         and any(r["cells"][0] == "a" for r in body["rows"]), "Table output uses the CRD printer columns", diag=body)
    for path in ("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                 f"/apis/resources.gardener.cloud/v1alpha1/namespaces/{NS}/managedresources",
                 f"/apis/druid.gardener.cloud/v1alpha1/namespaces/{NS}/etcds",
                 f"/apis/autoscaling.k8s.io/v1/namespaces/{NS}/verticalpodautoscalers",
                 f"/apis/apps/v1/namespaces/{NS}/statefulsets", f"/api/v1/namespaces/{NS}/events"):
        st, lst = k.get(path)
        t.eq(200, st, f"list {path}")


def dynamic_crds(k):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "things.ex.io"},
           "spec": {"group": "ex.io", "scope": "Cluster", "names": {"kind": "Thing", "plural": "things"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                      "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}},
                                 {"name": "v2", "served": True, "storage": False}]}}
    st, c = k.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    t.ok(st == 201 and any(x["type"] == "Established" for x in c.get("status", {}).get("conditions", [])),
         "a CRD created through the API is Established", diag=c)
    st, o = k.create("/apis/ex.io/v1/things", {"apiVersion": "ex.io/v1", "kind": "Thing", "metadata": {"name": "t"},
                                               "spec": {"size": 1}})
    t.eq(201, st, "its kind is served at once")
    st, o = k.create("/apis/ex.io/v1/things", {"apiVersion": "ex.io/v1", "kind": "Thing", "metadata": {"name": "u"},
                                               "spec": {"size": "big"}})
    t.eq(422, st, "and validated against its schema")
    st, o = k.patch("/apis/ex.io/v2/things/t", {"spec": {"size": 2}})
    t.eq((200, "ex.io/v2"), (st, o.get("apiVersion")), "another served version reads and patches the same object")
    st, _ = k.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.ex.io")
    st2, _ = k.get("/apis/ex.io/v1/things")
    t.eq((200, 404), (st, st2), "deleting the CRD removes the kind")


def finalizers(k):
    st, f = k.create(INFRAS, dict(infra("fin"), metadata={"name": "fin", "finalizers": ["extensions.gardener.cloud/infrastructure"]}))
    g = f["metadata"]["generation"]
    with k.watch(INFRAS, {"resourceVersion": f["metadata"]["resourceVersion"], "fieldSelector": "metadata.name=fin"}) as w:
        st, d = k.delete(f"{INFRAS}/fin")
        t.ok(st == 200 and d["metadata"].get("deletionTimestamp"), "DELETE with a finalizer: 200, deletionTimestamp set", diag=d)
        st, still = k.get(f"{INFRAS}/fin")
        t.ok(st == 200 and still["metadata"].get("deletionTimestamp") and still["metadata"]["generation"] == g + 1,
             "the object stays while the finalizer remains (generation bumped like kube-apiserver)", diag=still)
        st, body = k.patch(f"{INFRAS}/fin", {"metadata": {"finalizers": ["extensions.gardener.cloud/infrastructure", "x.io/new"]}})
        t.eq(422, st, "no new finalizers once deletion started")
        st, body = k.patch(f"{INFRAS}/fin", {"metadata": {"finalizers": None}})
        t.eq(200, st, "removing the last finalizer succeeds")
        st, _ = k.get(f"{INFRAS}/fin")
        t.eq(404, st, "then the object is gone")
        evs = w.collect(2)
        t.eq(["MODIFIED", "DELETED"], [e["type"] for e in evs], "watchers see MODIFIED (deletionTimestamp) then DELETED")
    st, p = k.create(CMS, cm("pre"))
    st, body = k.delete(f"{CMS}/pre", {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "wrong"}})
    t.eq((409, "Conflict"), (st, body.get("reason")), "DELETE with a wrong uid precondition: 409")
    st, body = k.delete(f"{CMS}/pre", {"preconditions": {"resourceVersion": "1"}})
    t.eq(409, st, "DELETE with a stale resourceVersion precondition: 409")
    st, body = k.delete(f"{CMS}/pre", {"preconditions": {"uid": p["metadata"]["uid"], "resourceVersion": p["metadata"]["resourceVersion"]}})
    t.ok(st == 200 and body.get("status") == "Success", "DELETE with matching preconditions succeeds", diag=body)
    st, body = k.delete(f"{CMS}/pre")
    t.eq(404, st, "DELETE of a missing object: 404")


def faults(k):
    S = f"/api/v1/namespaces/{NS}/secrets"
    k.add_fault(method="GET", path="/secrets$", action="status", status=500, times=1)
    st1, b1 = k.get(S)
    st2, _ = k.get(S)
    t.eq((500, "InternalError", 200), (st1, b1.get("reason"), st2), "status fault: one 500 Status, then normal")
    k.add_fault(path="/secrets$", action="status", status=429, retry_after=2, times=1)
    st, b = k.get(S)
    ra = [v for h, v in k.last_headers if h.lower() == "retry-after"]
    t.ok(st == 429 and b.get("reason") == "TooManyRequests" and b["details"]["retryAfterSeconds"] == 2 and ra == ["2"],
         "429 fault with Retry-After and details.retryAfterSeconds", diag=(b, ra))
    k.add_fault(method="GET", path="/secrets$", action="delay", delay_ms=300, times=1)
    t0 = time.monotonic()
    st, _ = k.get(S)
    t.ok(st == 200 and time.monotonic() - t0 >= 0.3, "delay fault delays (lower bound), then answers")
    k.add_fault(method="GET", path="/secrets$", action="drop", times=1)
    try:
        k.get(S)
        t.ok(False, "drop fault on a plain request closes the connection")
    except (ConnectionError, OSError) as e:
        t.ok(True, f"drop fault on a plain request closes the connection ({type(e).__name__})")
    st, _ = k.get(S)
    t.eq(200, st, "fault with times=1 is used up")
    fid = k.add_fault(path="/configmaps$", watch=True, action="drop", after_events=2, times=-1)
    st, _ = k.get(CMS)
    t.eq(200, st, "a watch-only fault leaves plain lists alone")
    with k.watch(CMS, {"labelSelector": "set=page"}) as w:
        got = []
        try:
            while True:
                e = w.next(10)
                if e is None:
                    break
                got.append(e)
            t.ok(False, "drop after_events=2 cuts the stream", diag=got)
        except WatchClosed:
            t.eq(2, len(got), "drop after_events=2: two events, then the stream is cut mid-chunk")
    st, _ = k.request("DELETE", f"/_test/faults/{fid}")
    t.eq(200, st, "a fault can be removed by id")
    t.eq([], k.faults(), "no faults left")
    st, now = k.get(CMS)
    ws = [k.watch(CMS, {"resourceVersion": now["metadata"]["resourceVersion"]}) for _ in range(3)]
    t.ok(k.wait_watches(3), "/_test/watches counts open watches")
    dropped = k.drop_watches()
    cut = 0
    for w in ws:
        try:
            w.next(10)
        except WatchClosed:
            cut += 1
        w.close()
    t.eq((3, 3), (dropped, cut), "drop-watches cuts every open watch")
    t.ok(k.wait_watches(0), "no watches open afterwards")
    st, body = k.delete("/api/v1/namespaces")
    t.eq(405, st, "deletecollection of namespaces is not allowed")
    # A client that vanishes mid-watch does not hurt the server.
    w = k.watch(CMS, {"resourceVersion": now["metadata"]["resourceVersion"]})
    w.conn.sock.shutdown(socket.SHUT_RDWR)
    w.close()
    t.ok(k.wait_watches(0), "a vanished watch client is noticed")
    st, _ = k.get("/version")
    t.eq(200, st, "server still serves after client disconnects")


def compaction(k):
    # History window: --history 50; a watch from before 60 writes ago is expired.
    st, first = k.create(CMS, cm("hist-0"))
    old = first["metadata"]["resourceVersion"]
    for i in range(60):
        k.patch(f"{CMS}/hist-0", {"data": {"k": str(i)}})
    with k.watch(CMS, {"resourceVersion": old}) as w:
        e = w.next(10)
        t.ok(w.status == 200 and e["type"] == "ERROR" and e["object"]["code"] == 410 and e["object"]["reason"] == "Expired",
             "watch from a resourceVersion outside the history window: ERROR 410 Expired in a 200 stream", diag=e)
    st, p1 = k.get(CMS, limit="3")
    tok = p1["metadata"]["continue"]
    recent = p1["metadata"]["resourceVersion"]
    k.create(CMS, cm("after-page"))
    k.compact("event")
    with k.watch(CMS, {"resourceVersion": recent}) as w:
        e = w.next(10)
        t.ok(w.status == 200 and e["type"] == "ERROR" and e["object"]["code"] == 410,
             "compact (event mode): watch from an older resourceVersion gets an ERROR 410 event", diag=e)
    st, body = k.get(CMS, limit="3", **{"continue": tok})
    t.ok(st == 410 and body.get("reason") == "Expired" and body["metadata"].get("continue"),
         "compact: an old continue token is 410 Expired (with an inconsistent-continue token)", diag=body)
    st, body = k.get(CMS, limit="3", resourceVersion=recent)
    t.eq(410, st, "compact: exact list at an old resourceVersion is 410")
    st, cur = k.get(CMS)
    with k.watch(CMS, {"resourceVersion": cur["metadata"]["resourceVersion"]}) as w:
        k.create(CMS, cm("post-compact"))
        t.eq("ADDED", w.next(10)["type"], "watch from the current resourceVersion still works after compaction")
    k.compact("http")
    with k.watch(CMS, {"resourceVersion": cur["metadata"]["resourceVersion"]}) as w:
        t.ok(w.status == 410 and (w.error or {}).get("reason") == "Expired",
             "compact (http mode): the watch gets an HTTP 410 Expired Status", diag=(w.status, w.error))
    k.compact("event")


def namespace_deletion(k):
    st, _ = k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    k.create("/api/v1/namespaces/doomed/configmaps", cm("c1"))
    k.create("/api/v1/namespaces/doomed/configmaps", dict(cm("c2"), metadata={"name": "c2", "finalizers": ["x.io/f"]}))
    st, ns = k.delete("/api/v1/namespaces/doomed")
    t.ok(st == 200 and ns["status"]["phase"] == "Terminating", "namespace DELETE: Terminating", diag=ns)
    st, c1 = k.get("/api/v1/namespaces/doomed/configmaps/c1")
    st2, c2 = k.get("/api/v1/namespaces/doomed/configmaps/c2")
    t.ok(st == 404 and st2 == 200 and c2["metadata"].get("deletionTimestamp"), "content deleted (finalized object waits)")
    st, body = k.create("/api/v1/namespaces/doomed/configmaps", cm("c3"))
    t.eq(403, st, "no new content in a terminating namespace")
    k.patch("/api/v1/namespaces/doomed/configmaps/c2", {"metadata": {"finalizers": None}})
    st, _ = k.get("/api/v1/namespaces/doomed")
    t.eq(404, st, "namespace disappears once empty")


def chunking():
    """With --watch-chunk-bytes 7 events straddle HTTP chunk boundaries; a stream parser still sees them whole."""
    with KubeAPI(extra_args=["--watch-chunk-bytes", "7"]) as k:
        st, base = k.get("/api/v1/namespaces/default/configmaps")
        with k.watch("/api/v1/namespaces/default/configmaps", {"resourceVersion": base["metadata"]["resourceVersion"]}) as w:
            for i in range(3):
                k.create("/api/v1/namespaces/default/configmaps", cm(f"c{i}", data={"k": "x" * 50}))
            evs = w.collect(3)
            t.eq(["c0", "c1", "c2"], [e["object"]["metadata"]["name"] for e in evs], "events split across 7-byte chunks arrive whole")


def performance():
    """10,000 objects: list (plain and paged) and a 10,000-event watch. Durations are reported, not asserted."""
    with KubeAPI(history=25000) as k:
        k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "perf"}})
        P = "/api/v1/namespaces/perf/configmaps"
        st, base = k.get(P)
        w = k.watch(P, {"resourceVersion": base["metadata"]["resourceVersion"]}, timeout=60)
        t0 = time.monotonic()
        for b in range(10):
            k.bulk(P, [cm(f"o-{b}-{i:04d}", labels={"b": str(b)}) for i in range(1000)])
        t1 = time.monotonic()
        st, lst = k.request("GET", P, timeout=60)
        t2 = time.monotonic()
        t.eq((200, 10000), (st, len(lst.get("items", []))), "list of 10,000 objects")
        n, tok = 0, None
        while True:
            q = {"limit": "500"}
            if tok:
                q["continue"] = tok
            st, page = k.get(P, **q)
            n += len(page["items"])
            tok = page["metadata"].get("continue")
            if not tok:
                break
        t3 = time.monotonic()
        t.eq(10000, n, "paged list (limit 500) returns 10,000 objects")
        evs = w.collect(10000, timeout=120)
        t4 = time.monotonic()
        w.close()
        t.ok(len(evs) == 10000 and all(e["type"] == "ADDED" for e in evs), "watch delivers 10,000 events")
        t.diag(f"create 10k (bulk) {t1 - t0:.2f}s; list 10k {t2 - t1:.2f}s; paged list {t3 - t2:.2f}s; "
               f"watch 10k events done {t4 - t0:.2f}s after start")


def main():
    k = KubeAPI(history=50, bookmark_interval=30)
    try:
        st, _ = k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        t.eq(201, st, "namespace created")
        for fn in (discovery, auth, errors, create_and_rv, generation, conflicts, status_subresource, patches,
                   validation, pagination, watches, leases, cluster_scoped, dynamic_crds, finalizers, faults, compaction,
                   namespace_deletion):
            t.run(fn.__name__, fn, k)
        rc = k.stop()
        t.eq(0, rc, "SIGTERM: the server exits 0")
    finally:
        k.stop()
    t.run("chunking", chunking)
    t.run("performance", performance)


main()
sys.exit(t.done())
