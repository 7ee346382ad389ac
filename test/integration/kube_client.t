#!/usr/bin/env python3
"""The Kubernetes client against the test kube-apiserver: every write verb and its error mapping,
the conflict-retry helper, 429 Retry-After, event de-duplication, the three ways to authenticate
(token, client certificate, token file with rotation) and in-cluster configuration."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402

BUILD = os.environ.get("EQXM_BUILD", "build/release")
TOOL = os.path.join(BUILD, "test/tools/kube_client_tool")
INFORMER = os.path.join(BUILD, "test/tools/kube_informer_tool")
NS = "default"
CM = f"/api/v1/namespaces/{NS}/configmaps"

t = Tap()


def tool(*args, env=None, timeout=60):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout, env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return r.returncode, lines, r.stderr


def create_cm(k, name, data=None):
    st, obj = k.create(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                            "data": data or {"counter": "0"}})
    assert st == 201, (st, obj)
    return obj


def test_writes(k):
    rc, lines, err = tool("write", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "w1")
    t.eq(0, rc, "create/update/patch/delete: every step gives the expected result", )
    steps = {ln["step"]: ln for ln in lines}
    t.eq("ENG_EXISTS", steps.get("create-again", {}).get("err"), "409 AlreadyExists maps to ENG_EXISTS")
    t.eq("ENG_CONFLICT", steps.get("update-stale", {}).get("err"), "409 Conflict maps to ENG_CONFLICT")
    t.ok("please apply your changes" in steps.get("update-stale", {}).get("message", "") and
         "update configmaps default/w1" in steps.get("update-stale", {}).get("message", ""),
         "the conflict sentence names the verb, the object and the server's message",
         diag=json.dumps(steps.get("update-stale")))
    t.eq("ENG_INVALID", steps.get("json-patch-test-fails", {}).get("err"), "a failed JSON-patch test maps to ENG_INVALID")
    t.eq("ENG_CONFLICT", steps.get("delete-wrong-uid", {}).get("err"), "a delete precondition on the uid is sent")
    t.eq("ENG_NOTFOUND", steps.get("get-deleted", {}).get("err"), "404 maps to ENG_NOTFOUND")
    reqs = [r for r in k.requests() if r["path"].endswith("/w1") or r["path"] == CM]
    ctypes = [r for r in reqs if r["method"] == "PATCH"]
    t.eq(3, len(ctypes), "three PATCH requests reached the server", )
    if err.strip():
        t.diag(err)


def test_conflict_retry(k):
    create_cm(k, "conflicted")
    k.clear_requests()
    rc, lines, err = tool("conflict-update", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "conflicted")
    res = lines[-1] if lines else {}
    t.eq(0, rc, "the update that met a 409 was retried and succeeded", )
    if rc:
        t.diag(err)
    obj = res.get("object", {})
    t.eq({"counter": "1", "other": "changed-meanwhile"}, obj.get("data"),
         "the final object has both the concurrent change and ours")
    t.eq(2, res.get("mutations"), "the mutation ran twice: on the stale copy and on the re-read object")
    seq = [(r["method"], r["status"]) for r in k.requests() if r["path"].endswith("/conflicted")]
    t.eq([("GET", 200), ("PATCH", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)], seq,
         "request sequence: read, concurrent patch, PUT 409, re-GET, PUT 200")


def test_retry_after(k):
    create_cm(k, "slow")
    k.clear_requests()
    k.add_fault(method="GET", path=f"^{CM}/slow$", action="status", status=429, retry_after=2, times=2)
    rc, lines, err = tool("get", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "slow")
    t.eq(0, rc, "a GET answered 429 twice succeeds on the third attempt")
    reqs = [r for r in k.requests() if r["path"] == f"{CM}/slow"]
    t.eq([429, 429, 200], [r["status"] for r in reqs], "the client retried after each 429")
    times = [r.get("t") for r in reqs]
    gaps = [b - a for a, b in zip(times, times[1:])] if all(isinstance(x, (int, float)) for x in times) else None
    t.ok(gaps is not None and len(gaps) == 2 and all(g >= 1.95 for g in gaps),
         "each retry waited the server's Retry-After (2 s), by the server's request log", diag=str(gaps))
    # Exhausted retries surface as ENG_RATELIMIT with the sentence.
    k.add_fault(method="GET", path=f"^{CM}/slow$", action="status", status=429, retry_after=0, times=-1)
    rc, lines, err = tool("get", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "slow",
                          "--expect-error", "ENG_RATELIMIT", timeout=120)
    t.eq(0, rc, "persistent 429 ends in ENG_RATELIMIT", )
    t.ok(lines and "429 Too Many Requests" in lines[0].get("message", ""), "the sentence names the 429",
         diag=json.dumps(lines))
    k.clear_faults()


def test_retry_after_clamp(k):
    """A hostile wait (99999999999999999 s) is clamped to 24 h, whether it came in the
    Retry-After header or only in the Status body's details.retryAfterSeconds."""
    create_cm(k, "hostile")
    huge = 99999999999999999
    for header, what in ((False, "details.retryAfterSeconds alone"), (True, "Retry-After and the body")):
        k.add_fault(method="GET", path=f"^{CM}/hostile$", action="status", status=429, retry_after=huge,
                    retry_after_header=header, times=1)
        rc, lines, err = tool("get", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "hostile",
                              "--max-retries", "0", "--expect-error", "ENG_RATELIMIT")
        got = lines[0].get("retryAfterMs") if lines else None
        t.ok(rc == 0, f"429 with {what}: the answer is ENG_RATELIMIT without a retry", diag=(lines, err))
        t.eq(24 * 3600 * 1000, got, f"429 with {what}: the wait is clamped to 24 h (ms)")
    k.add_fault(method="GET", path=f"^{CM}/hostile$", action="status", status=503, retry_after=7,
                retry_after_header=False, times=1)
    rc, lines, err = tool("get", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "hostile",
                          "--max-retries", "0", "--expect-error", "ENG_UNAVAILABLE")
    t.ok(rc == 0 and lines and lines[0].get("retryAfterMs") == 7000,
         "503 with details.retryAfterSeconds 7 only: the client reads the wait from the body",
         diag=(rc, lines, err))
    # And it is honoured: with retries allowed, the next attempt waits the body's 1 s.
    k.clear_requests()
    k.add_fault(method="GET", path=f"^{CM}/hostile$", action="status", status=429, retry_after=1,
                retry_after_header=False, times=1)
    rc, lines, err = tool("get", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "hostile")
    reqs = [r for r in k.requests() if r["path"] == f"{CM}/hostile"]
    gap = reqs[1]["t"] - reqs[0]["t"] if len(reqs) == 2 else None
    t.ok(rc == 0 and gap is not None and gap >= 0.95,
         "a 429 whose wait is only in the body is retried after that wait", diag=(rc, gap, err))
    k.clear_faults()


def test_events_dedup(k):
    obj = create_cm(k, "evented")
    rc, _, err = tool("event", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "evented",
                      "--reason", "Reconciled", "--message", "Successfully reconciled", "--times", "2")
    t.eq(0, rc, "two identical events recorded")
    st, lst = k.get(f"/api/v1/namespaces/{NS}/events")
    evs = [e for e in lst.get("items", []) if e.get("involvedObject", {}).get("name") == "evented"]
    t.eq(1, len(evs), "the second identical event did not create a new Event object")
    e = evs[0] if evs else {}
    t.eq(2, e.get("count"), "the Event's count was incremented to 2")
    t.eq(obj["metadata"]["uid"], e.get("involvedObject", {}).get("uid"), "involvedObject carries the uid")
    t.ok(e.get("metadata", {}).get("name", "").startswith("evented."), "the Event is named <object>.<hex time>",
         diag=e.get("metadata", {}).get("name"))
    t.eq(("Normal", "Reconciled", "Successfully reconciled"), (e.get("type"), e.get("reason"), e.get("message")),
         "type, reason and message as recorded")
    # A different message is a different Event.
    rc, _, _ = tool("event", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "evented",
                    "--reason", "ReconcileError", "--message", "boom")
    st, lst = k.get(f"/api/v1/namespaces/{NS}/events")
    evs = [e for e in lst.get("items", []) if e.get("involvedObject", {}).get("name") == "evented"]
    t.eq(2, len(evs), "a different reason and message make a second Event")
    # The Event expired on the server: the next occurrence creates it again, whole.
    obj = create_cm(k, "expiring")
    rc, lines, err = tool("event", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "expiring",
                          "--reason", "Reconciled", "--message", "again and again", "--times", "5",
                          "--expire-after", "2")
    st, lst = k.get(f"/api/v1/namespaces/{NS}/events")
    evs = [e for e in lst.get("items", []) if e.get("involvedObject", {}).get("name") == "expiring"]
    e = evs[0] if len(evs) == 1 else {}
    t.ok(rc == 0 and len(evs) == 1 and e.get("count") == 5 and e.get("message") == "again and again"
         and e.get("reason") == "Reconciled" and e.get("involvedObject", {}).get("uid") == obj["metadata"]["uid"]
         and e.get("source") == {"component": "kube-client-tool", "host": "test-host"}
         and e.get("firstTimestamp") and e.get("lastTimestamp") >= e.get("firstTimestamp"),
         "an Event deleted by the server is created again from what the recorder kept, with the count so far",
         diag=json.dumps(evs) + err)


def test_status_subresource(k):
    ns = "shoot--p--status"
    k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    rc, lines, err = tool("status", "--kubeconfig", k.kubeconfig, "--namespace", ns, "--name", "infra")
    steps = {ln["step"]: ln for ln in lines}
    t.eq(0, rc, "status subresource: create, merge-patch /status, PUT /status", )
    if rc:
        t.diag(json.dumps(lines) + err)
    lo = steps.get("get", {}).get("object", {}).get("status", {}).get("lastOperation", {})
    t.eq(("Succeeded", 100, "starting"), (lo.get("state"), lo.get("progress"), lo.get("description")),
         "the status written through both subresource calls is stored")
    paths = [(r["method"], r["path"]) for r in k.requests() if r["path"].endswith("/infra/status")]
    t.eq([("PATCH", f"/apis/extensions.gardener.cloud/v1alpha1/namespaces/{ns}/infrastructures/infra/status"),
          ("PUT", f"/apis/extensions.gardener.cloud/v1alpha1/namespaces/{ns}/infrastructures/infra/status")],
         paths, "both went to the /status subresource")


def test_event_scrub(k):
    create_cm(k, "scrubbed")
    rc, _, err = tool("event", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "scrubbed",
                      "--reason", "ReconcileError", "--message", "call failed with token s3cr3t-t0ken-value",
                      "--secret", "s3cr3t-t0ken-value")
    st, lst = k.get(f"/api/v1/namespaces/{NS}/events")
    msgs = [e.get("message", "") for e in lst.get("items", []) if e.get("involvedObject", {}).get("name") == "scrubbed"]
    t.ok(len(msgs) == 1 and "s3cr3t-t0ken-value" not in msgs[0] and "REDACTED" in msgs[0],
         "event messages pass through log_scrub(): a registered secret never reaches the Event", diag=str(msgs))


def test_auth_modes(k, tmp):
    create_cm(k, "auth")
    for name, kc in (("client certificate", k.kubeconfig_cert), ("token file", k.kubeconfig_tokenfile)):
        rc, lines, err = tool("get", "--kubeconfig", kc, "--namespace", NS, "--name", "auth")
        t.eq(0, rc, f"authenticates with a {name}")
    # A token file that starts wrong and is then rotated: the client re-reads it after a 401.
    tokfile = os.path.join(tmp, "rotating-token")
    with open(tokfile, "w") as f:
        f.write("wrong-token\n")
    with open(k.kubeconfig_tokenfile) as f:
        text = f.read()
    kc = os.path.join(tmp, "kubeconfig-rotating")
    with open(kc, "w") as f:
        f.write(text.replace(os.path.join(k.dir, "token"), tokfile))
    rc, lines, err = tool("get", "--kubeconfig", kc, "--namespace", NS, "--name", "auth",
                          "--expect-error", "ENG_UNAUTHENTICATED")
    t.eq(0, rc, "a wrong token gives ENG_UNAUTHENTICATED")
    t.ok(lines and "check the credentials of kubeconfig" in lines[0].get("message", ""),
         "the 401 sentence says to check the credentials", diag=json.dumps(lines))
    p = subprocess.Popen([INFORMER, "--kubeconfig", kc, "--plural", "configmaps", "--kind", "ConfigMap",
                          "--namespace", NS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        with open(tokfile, "w") as f:
            f.write(k.token + "\n")
        synced = False
        end = time.monotonic() + 30
        while time.monotonic() < end and not synced:
            p.stdin.write("dump\n")
            p.stdin.flush()
            synced = json.loads(p.stdout.readline())["synced"]
            time.sleep(0.2)
        t.ok(synced, "after the token file was rotated the informer authenticated and synced")
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait(30)
        t.eq(0, p.returncode, "the informer tool exits cleanly")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_in_cluster(k, tmp):
    sa = os.path.join(tmp, "sa")
    os.makedirs(sa)
    shutil.copy(k.ca, os.path.join(sa, "ca.crt"))
    with open(os.path.join(sa, "token"), "w") as f:
        f.write(k.token)
    with open(os.path.join(sa, "namespace"), "w") as f:
        f.write(NS)
    env = {k2: v for k2, v in os.environ.items() if k2 != "KUBECONFIG"}
    env.update({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(k.port),
                "EQXM_SERVICEACCOUNT_DIR": sa, "HOME": tmp})
    rc, lines, err = tool("list", "--namespace", NS, env=env)
    t.eq(0, rc, "in-cluster configuration (service host/port + service-account dir) works")
    t.ok(lines and lines[0].get("count", 0) >= 1, "and lists the namespace's ConfigMaps", diag=err)


def test_inflight_bound(k):
    """Requests other than watches on the wire at once are bounded (each is a TLS connection):
    with 3 allowed and every GET held 300 ms by the server, request i reaches the server no
    earlier than 300 ms after request i - 3; without a bound all go out together."""
    create_cm(k, "burst")
    path = f"{CM}/burst"

    def arrivals():
        return sorted(r["t"] for r in k.requests() if r["path"] == path)

    k.add_fault(method="GET", path=f"^{path}$", action="delay", delay_ms=300, times=-1)
    k.clear_requests()
    rc, lines, err = tool("burst", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "burst",
                          "--times", "9", "--max-inflight", "3")
    t.ok(rc == 0, "9 GETs with 3 on the wire all succeed", diag=err)
    out = lines[0] if lines else {}
    t.eq(9, out.get("ok"), "every GET got its answer")
    t.ok(out.get("most_on_wire") == 3, "never more than 3 requests on the wire", diag=json.dumps(out))
    t.eq(6, out.get("slot_waits"), "6 requests waited for a slot")
    ts = arrivals()
    gaps = [ts[i] - ts[i - 3] for i in range(3, len(ts))]
    t.ok(len(ts) == 9 and all(g >= 0.28 for g in gaps),
         "by the server's log, each request came after one of the 3 before it was answered",
         diag=str([round(g, 3) for g in gaps]))

    k.clear_requests()
    rc, lines, err = tool("burst", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "burst",
                          "--times", "9", "--max-inflight", "0")
    out = lines[0] if lines else {}
    ts = arrivals()
    t.ok(rc == 0 and out.get("slot_waits") == 0 and len(ts) == 9 and ts[-1] - ts[0] < 0.25,
         "with no bound (0) all 9 go out at once", diag=json.dumps(out) + " " + str(ts))

    # Canceling calls frees their slots (on the wire) or their places (waiting): the rest finish.
    k.clear_requests()
    rc, lines, err = tool("burst", "--kubeconfig", k.kubeconfig, "--namespace", NS, "--name", "burst",
                          "--times", "8", "--max-inflight", "2", "--cancel", "3")
    out = lines[0] if lines else {}
    t.ok(rc == 0 and out.get("ok") == 5 and out.get("canceled") == 3 and out.get("most_on_wire") == 2,
         "3 canceled at once (2 on the wire, 1 waiting): the other 5 are answered, 2 at a time",
         diag=json.dumps(out) + " " + err)
    k.clear_faults()


def main():
    tmp = tempfile.mkdtemp(prefix="kube-client-t-")
    try:
        with KubeAPI() as k:
            t.run("writes", test_writes, k)
            t.run("conflict retry", test_conflict_retry, k)
            t.run("retry-after", test_retry_after, k)
            t.run("retry-after clamp", test_retry_after_clamp, k)
            t.run("in-flight bound", test_inflight_bound, k)
            t.run("events", test_events_dedup, k)
            t.run("event scrub", test_event_scrub, k)
            t.run("status subresource", test_status_subresource, k)
            t.run("auth modes", test_auth_modes, k, tmp)
            t.run("in-cluster", test_in_cluster, k, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
