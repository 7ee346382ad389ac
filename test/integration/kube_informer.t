#!/usr/bin/env python3
"""The informer against the test kube-apiserver.

1. list+watch of 10,000 objects: the tool's cache, and the map rebuilt from the journal events it
   emitted, equal the server's list exactly (uid -> resourceVersion).
2. chaos: while objects are created, modified and deleted, watches are dropped (also in the middle
   of an event), history is compacted so watches end with 410 as an ERROR event in a 200 stream
   and as an HTTP 410, and list/watch requests fail with 500/429; at the end the client's view
   equals the server's exactly, nothing missed.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402

BUILD = os.environ.get("EQXM_BUILD", "build/release")
TOOL = os.path.join(BUILD, "test/tools/kube_informer_tool")
t = Tap()


class Informer:
    def __init__(self, k, *args):
        self.p = subprocess.Popen([TOOL, "--kubeconfig", k.kubeconfig, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def dump(self):
        self.p.stdin.write("dump\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the informer tool died: " + self.p.stderr.read())
        return json.loads(line)

    def quit(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
        err = self.p.stderr.read()
        return self.p.returncode, err

    def stop_checked(self, what):
        """quit(), and a test that the tool stopped cleanly (its stderr as diagnostics if not)."""
        rc, err = self.quit()
        t.eq(0, rc, what)
        if rc:
            t.diag(err[-3000:])


def server_map(k, path):
    st, lst = k.get(path)
    assert st == 200, (st, lst)
    return {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in lst["items"]}


def wait_equal(inf, k, path, timeout=60):
    """Poll until the tool's cache and journal equal the server's list; return the last dump."""
    end = time.monotonic() + timeout
    d = None
    while time.monotonic() < end:
        want = server_map(k, path)
        d = inf.dump()
        if d["synced"] and d["cache"] == want and d["journal"] == want:
            return d, want, True
        time.sleep(0.2)
    return d, server_map(k, path), False


def diff(a, b):
    missing = [u for u in b if u not in a][:5]
    extra = [u for u in a if u not in b][:5]
    stale = [(u, a[u], b[u]) for u in b if u in a and a[u] != b[u]][:5]
    return f"missing {missing} extra {extra} stale {stale}"


def test_ten_thousand(k):
    path = "/api/v1/namespaces/bulk/configmaps"
    k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}})
    for start in range(0, 10000, 2500):
        k.bulk(path, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:05d}"},
                       "data": {"i": str(i)}} for i in range(start, start + 2500)])
    inf = Informer(k, "--plural", "configmaps", "--kind", "ConfigMap", "--namespace", "bulk",
                   "--page-size", "500", "--second-plural", "namespaces", "--second-kind", "Namespace",
                   "--second-cluster-scoped")
    try:
        d, want, ok = wait_equal(inf, k, path)
        t.eq(10000, len(want), "the server holds 10,000 objects")
        t.ok(ok, "the informer's cache and its journal events equal the server's list exactly",
             diag=diff(d["cache"], want) if d else "no dump")
        t.eq(10000, d["handlers"]["add"], "on_add ran once per object")
        nss = server_map(k, "/api/v1/namespaces")
        t.ok(d.get("second_synced") and d.get("second") == nss,
             "a second informer (cluster-scoped namespaces) on the same client and loop is in sync too",
             diag=diff(d.get("second", {}), nss))
        list_reqs = [r for r in k.requests() if r["path"] == path and not r["watch"] and r["query"]]
        t.eq(20, len(list_reqs), "the list came in pages of 500 (20 requests)")
        t.ok(all(r["query"].get("resourceVersion") in (None, "0") for r in list_reqs[:1]),
             "the first list asks for resourceVersion 0", diag=json.dumps(list_reqs[:1]))
        # Changes after the sync arrive through the watch.
        k.patch(path + "/cm-00001", {"data": {"changed": "yes"}})
        k.delete(path + "/cm-00002")
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok, "a modification and a deletion after the sync are seen", diag=diff(d["cache"], want))
        t.eq(1, d["stats"]["lists"], "no relist was needed")
    finally:
        inf.stop_checked("the tool stops and frees everything (LeakSanitizer in the asan build)")


def test_chaos(k):
    t0 = time.monotonic()
    ns = "chaos"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    rnd = random.Random(42)
    names = set()
    k.bulk(path, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {"v": "0"}}
                  for i in range(200)])
    names.update(f"c{i}" for i in range(200))
    inf = Informer(k, "--plural", "configmaps", "--kind", "ConfigMap", "--namespace", ns,
                   "--page-size", "50", "--watch-timeout", "3", "--backoff-max-ms", "300")
    next_id = 200
    try:
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok, "chaos: initial sync", diag=diff(d["cache"], want) if d else "")
        faults_seen = {"drop": 0, "drop-mid-event": 0, "compact-event": 0, "compact-http": 0,
                       "watch-500": 0, "list-429": 0}
        expected_410 = 0
        for rnd_i in range(12):
            # Each fault should meet a running watch, not one still backing off.
            k.wait_watches(1, timeout=10)
            # A burst of writes.
            for _ in range(8):
                op = rnd.random()
                if op < 0.35 or not names:
                    n = f"c{next_id}"
                    next_id += 1
                    k.create(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n},
                                    "data": {"v": "0"}})
                    names.add(n)
                elif op < 0.75:
                    n = rnd.choice(sorted(names))
                    k.patch(f"{path}/{n}", {"data": {"v": str(rnd.random())}})
                else:
                    n = rnd.choice(sorted(names))
                    k.delete(f"{path}/{n}")
                    names.discard(n)
            fault = rnd_i % 6
            if fault == 0:
                k.drop_watches()
                faults_seen["drop"] += 1
            elif fault == 1:
                # The next watch is cut after 2 events, in the middle of the third.
                k.add_fault(method="GET", path=f"^{path}$", watch=True, action="drop", after_events=2, times=1)
                k.drop_watches()
                faults_seen["drop-mid-event"] += 1
            elif fault in (2, 3, 5):
                # Freeze the client, cut its watch, change objects and compact the history, then
                # let it continue: it re-watches from a resourceVersion that is gone, which the
                # server reports as an ERROR event in a 200 stream ("event") or as an HTTP 410
                # ("http"). In round 5 the relist that follows is answered 429 once.
                mode = "event" if fault == 2 else "http"
                inf.p.send_signal(signal.SIGSTOP)
                try:
                    k.drop_watches()
                    for _ in range(3):
                        n = rnd.choice(sorted(names))
                        k.patch(f"{path}/{n}", {"data": {"v": str(rnd.random())}})
                    k.compact(mode)
                    if fault == 5:
                        k.add_fault(method="GET", path=f"^{path}$", watch=False, action="status",
                                    status=429, retry_after=1, times=1)
                finally:
                    inf.p.send_signal(signal.SIGCONT)
                faults_seen["list-429" if fault == 5 else "compact-" + mode] += 1
                expected_410 += 1
            elif fault == 4:
                k.add_fault(method="GET", path=f"^{path}$", watch=True, action="status", status=500, times=2)
                k.drop_watches()
                faults_seen["watch-500"] += 1
            time.sleep(0.2)
        # Let the client meet every fault still armed (they are all one-shot) before disarming.
        end = time.monotonic() + 20
        while k.faults() and time.monotonic() < end:
            time.sleep(0.1)
        t.eq([], k.faults(), "the client met every injected fault")
        k.clear_faults()
        t.diag(f"chaos writes and faults took {time.monotonic() - t0:.1f} s")
        d, want, ok = wait_equal(inf, k, path, timeout=90)
        t.diag(f"converged after {time.monotonic() - t0:.1f} s")
        t.ok(ok, "after drops, compactions and errors the client's view equals the server's exactly",
             diag=diff(d["cache"], want) if d else "no dump")
        t.ok(d["cache"] == d["journal"], "the journal events describe the same set as the cache")
        st = d["stats"]
        t.ok(st["expired"] >= expected_410, f"every 410 provoked ({expected_410}) was met and handled",
             diag=json.dumps(st))
        t.ok(st["lists"] >= 3, "the informer relisted after the 410s", diag=json.dumps(st))
        t.ok(d["relisted"] == st["lists"], "every list produced one kube.relisted journal event",
             diag=f'{d["relisted"]} vs {st["lists"]}')
        reqs = [r for r in k.requests() if r["path"] == path]
        watch410 = [r for r in reqs if r["watch"] and r["status"] == 410]
        t.ok(st["expired"] - len(watch410) >= faults_seen["compact-event"] > 0,
             "the 410s of event-mode compactions came as ERROR events inside 200 streams",
             diag=f'{st["expired"]} expired, {len(watch410)} as HTTP 410')
        t.ok(len(watch410) >= faults_seen["compact-http"] + faults_seen["list-429"],
             "the 410s of http-mode compactions came as HTTP 410 responses", diag=str(len(watch410)))
        lists429 = [r for r in reqs if not r["watch"] and r["status"] == 429]
        t.eq(faults_seen["list-429"], len(lists429), "relists answered 429 were retried (Retry-After)")
        relist_rvs = [r["query"].get("resourceVersion") for r in reqs if not r["watch"]]
        t.ok(any(rv not in (None, "", "0") for rv in relist_rvs),
             "after a watch 410 the relist asks for the last resourceVersion (not older than)",
             diag=str(relist_rvs[:20]))
        watches = [r for r in reqs if r["watch"]]
        t.ok(all(r["query"].get("allowWatchBookmarks") == "true" for r in watches),
             "every watch asks for bookmarks")
        t.ok(all(r["query"].get("resourceVersion") not in (None, "", "0") for r in watches),
             "every watch resumes from a resourceVersion (no synthetic ADDED replay)")
        t.diag("faults: " + json.dumps(faults_seen) + " stats: " + json.dumps(st))
    finally:
        inf.stop_checked("the chaos tool stops cleanly")


def test_metadata_only(k):
    """An informer caching identities only (run's informers but the Secrets') still sees every
    addition, change and deletion, also deletions found by a relist after a 410."""
    ns = "mdonly"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    k.bulk(path, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"m{i}", "labels": {"x": "y"}},
                   "data": {"v": "0" * 200}} for i in range(40)])
    inf = Informer(k, "--plural", "configmaps", "--kind", "ConfigMap", "--namespace", ns, "--metadata-only",
                   "--watch-timeout", "3", "--backoff-max-ms", "300")
    try:
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok, "metadata-only: initial sync", diag=diff(d["cache"], want) if d else "")
        t.eq(["apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace", "metadata.resourceVersion",
              "metadata.uid"], sorted(d["shape"]), "the cache holds each object's identity alone")
        for i in range(5):
            k.patch(f"{path}/m{i}", {"data": {"v": "1"}})
        for i in range(5, 10):
            k.delete(f"{path}/m{i}")
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok, "metadata-only: watched changes and deletions", diag=diff(d["cache"], want) if d else "")
        # Deletions the watch never reports: found by the relist after a 410.
        inf.p.send_signal(signal.SIGSTOP)
        try:
            k.drop_watches()
            for i in range(10, 15):
                k.delete(f"{path}/m{i}")
            k.compact("http")
        finally:
            inf.p.send_signal(signal.SIGCONT)
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok, "metadata-only: deletions found by a relist", diag=diff(d["cache"], want) if d else "")
        t.ok(d["cache"] == d["journal"] and d["handlers"]["delete"] == 10 and d["handlers"]["update"] >= 5,
             "journal events and handlers saw every change", diag=json.dumps(d["handlers"]))
    finally:
        inf.stop_checked("the metadata-only tool stops cleanly")


def test_bad_page(k):
    """A list page whose items scan as JSON but one does not parse (a number with a leading zero):
    the list fails with a protocol error (what it handed over before is valid and is corrected by
    the next list), the informer backs off, lists again and ends equal to the server."""
    ns = "rawpage"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    k.bulk(path, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"r{i}"}, "data": {"v": "0"}}
                  for i in range(3)])
    bad = ('{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":['
           '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ghost","namespace":"rawpage",'
           '"uid":"ghost-uid","resourceVersion":"1"}},'
           '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"broken","namespace":"rawpage",'
           '"uid":"broken-uid","resourceVersion":01}}]}')
    k.add_fault(method="GET", path=f"^{path}$", watch=False, action="raw", body=bad, times=1)
    inf = Informer(k, "--plural", "configmaps", "--kind", "ConfigMap", "--namespace", ns,
                   "--backoff-max-ms", "300")
    try:
        end = time.monotonic() + 30
        while k.faults() and time.monotonic() < end:  # the informer's list takes the bad page
            time.sleep(0.05)
        d, want, ok = wait_equal(inf, k, path)
        t.ok(ok and len(want) == 3, "after a page with an item that is not JSON the informer lists again and "
             "equals the server", diag=diff(d["cache"], want) if d else "no dump")
        t.ok(d and d["stats"]["list_errors"] == 1 and "ghost-uid" not in d["journal"],
             "one failed list; the object it showed before the bad item is gone again",
             diag=json.dumps(d["stats"]) if d else "")
    finally:
        k.clear_faults()
        inf.stop_checked("the tool stops and frees everything")


def main():
    with KubeAPI(history=300, bookmark_interval=0.5) as k:
        t.run("10,000 objects", test_ten_thousand, k)
        t.run("chaos", test_chaos, k)
        t.run("metadata only", test_metadata_only, k)
        t.run("bad page", test_bad_page, k)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
