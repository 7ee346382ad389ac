#!/usr/bin/env python3
"""The Infrastructure controller end to end (issue 5), with the real binary against the test
kube-apiserver and test Metal API: Create to Succeeded with sshKeyID, the reconcile annotation
removed, the finalizer, Events, metrics and readiness; a restart does nothing new; a provider config
that does not validate gives ERR_CONFIGURATION_PROBLEM; deletion removes the key and the finalizer;
SIGTERM stops cleanly; every journal replays to byte-identical actions."""
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, INFRA  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
NS = "shoot--foo--bar"
LABEL = NS + "-ssh-publickey"


def succeeded(o):
    return last_op(o).get("state") == "Succeeded"


def scrape(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.read().decode()


def main(env):
    env.shoot(NS)
    env.infrastructure(NS)
    c = env.controller()
    obj = env.wait_infra(NS, succeeded, controller=c)
    st = obj["status"]
    t.eq("Create", last_op(obj).get("type"), "the first operation is a Create")
    t.eq("Successfully reconciled infrastructure", last_op(obj).get("description"), "Go's success description")
    t.eq(100, last_op(obj).get("progress"), "progress 100")
    keys = env.ssh_keys(LABEL)
    t.eq(1, len(keys), "exactly one project SSH key named <namespace>-ssh-publickey")
    ps = st.get("providerStatus") or {}
    t.eq({"apiVersion": "equinixmetal.provider.extensions.gardener.cloud/v1alpha1", "kind": "InfrastructureStatus",
          "sshKeyID": keys[0]["id"] if keys else None}, ps, "providerStatus is an InfrastructureStatus with the key id")
    t.eq(1, st.get("observedGeneration"), "observedGeneration = generation")
    t.ok(st.get("lastError") is None, "no lastError")
    t.ok("gardener.cloud/operation" not in (obj["metadata"].get("annotations") or {}),
         "the reconcile annotation was removed")
    t.eq(["extensions.gardener.cloud/infrastructure"], obj["metadata"].get("finalizers"), "our finalizer is set")
    s, evs = env.kube.get(f"/api/v1/namespaces/{NS}/events")
    reasons = sorted({e.get("reason") for e in (evs or {}).get("items", [])})
    t.ok("Reconciling" in reasons and "Reconciled" in reasons, "Events Reconciling and Reconciled were recorded",
         diag=f"reasons: {reasons}")

    # Metrics and readiness.
    ms = c.wait_log("serving metrics")
    hs = c.wait_log("serving health probes")
    code, text = scrape(ms["port"], "/metrics")
    t.ok(code == 200 and 'eqxm_actions_total{controller="infrastructure",kind="metal.sshkey.ensure",result="success"} 1'
         in text, "metrics count the successful SSH key action", diag=text[:1500])
    t.ok('eqxm_api_request_duration_seconds_count{api="metal"' in text, "metrics time Metal API requests")
    t.ok('eqxm_journal_events_total{source="kube"}' in text and
         'eqxm_journal_events_total{source="executor"}' in text, "metrics count journal events by source",
         diag=[l for l in text.splitlines() if "journal_events" in l])
    commits = [l for l in text.splitlines() if l.startswith("eqxm_journal_commit_duration_seconds_count")]
    t.ok(commits and float(commits[0].split()[-1]) > 0, "metrics time journal commits", diag=commits)
    t.ok('eqxm_watch_relists_total{resource="infrastructures.extensions.gardener.cloud"} 1' in text,
         "metrics count the first list of each watch",
         diag=[l for l in text.splitlines() if "watch_" in l])
    code, text = scrape(hs["port"], "/readyz")
    t.eq((200, "ok"), (code, text.strip()), "/readyz is ok once the informers synced")

    # A restart changes nothing: no new action for a Succeeded object.
    t.eq(0, c.stop(), "SIGTERM exits 0")
    c2 = env.controller(name="restart")
    c2.wait_log("controller running")
    # positive signal instead of a sleep: the restarted controller is ready (its informers listed
    # the Succeeded Infrastructure and the decider folded it)
    hs2 = c2.wait_log("serving health probes")
    deadline = time.monotonic() + 20
    ready = False
    while not ready and time.monotonic() < deadline:
        try:
            ready = scrape(hs2["port"], "/readyz")[0] == 200
        except OSError:  # urllib's HTTPError for 5xx while not ready
            ready = False
        if not ready:
            time.sleep(0.05)
    t.ok(ready, "the restarted controller becomes ready")
    obj2 = env.get_infra(NS)
    t.eq(obj["metadata"]["resourceVersion"], obj2["metadata"]["resourceVersion"],
         "after a restart the Succeeded Infrastructure is left alone")
    t.eq(1, len(env.ssh_keys(LABEL)), "still one key after the restart")

    # A provider config that does not validate: ERR_CONFIGURATION_PROBLEM, not retried.
    ns2 = "shoot--foo--bad"
    env.shoot(ns2)
    env.infrastructure(ns2, provider_config={"apiVersion": "equinixmetal.provider.extensions.gardener.cloud/v1alpha1",
                                             "kind": "InfrastructureConfig", "vlan": 12})
    bad = env.wait_infra(ns2, lambda o: last_op(o).get("state") == "Error", controller=c2)
    le = bad["status"].get("lastError") or {}
    t.eq(["ERR_CONFIGURATION_PROBLEM"], le.get("codes"), "an invalid provider config gives ERR_CONFIGURATION_PROBLEM")
    t.ok(le.get("description", "").startswith("Error checking infrastructure config: spec.providerConfig.vlan"),
         "the description names the field", diag=le.get("description"))
    t.eq(50, last_op(bad).get("progress"), "an Error has progress 50")
    t.eq(0, len(env.ssh_keys(ns2 + "-ssh-publickey")), "no key was created for the invalid config")

    # Deletion removes the key and the finalizer; the object goes away.
    st_, _ = env.kube.delete(INFRA.format(ns=NS) + "/infrastructure")
    t.ok(st_ in (200, 202), "delete accepted (deletionTimestamp set while the finalizer is on)")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and env.get_infra(NS) is not None:
        time.sleep(0.05)
    t.ok(env.get_infra(NS) is None, "the Infrastructure is gone: the finalizer was removed", diag=c2.logs()[-2000:])
    t.eq(0, len(env.ssh_keys(LABEL)), "the project SSH key was deleted")
    t.eq(0, c2.stop(), "the second controller stops cleanly")

    rc, out = env.replay_check()
    t.ok(rc == 0 and "0 differences" in out, "replay --check: recomputed actions equal the recorded ones", diag=out)
    p = os.popen(f"{os.environ.get('EQXM_BIN')} journal verify {env.journal}")
    t.ok("intact" in p.read() and p.close() is None, "journal verify: the hash chain is intact")


with Env() as env:
    t.run("infrastructure lifecycle", main, env)
sys.exit(t.done())
