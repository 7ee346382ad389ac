#!/usr/bin/env python3
"""The Equinix Metal client never duplicates a device or an SSH key when a create's answer is lost:
ensure looks the idempotency tag up first, and after an ambiguous failure (lost or cut answer, hang)
it POSTs again only once a lookup has confirmed absence."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
CLUSTER = "kubernetes.io/cluster/shoot--idem--c"
SSH = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7ZxPPRdGGT1wS6l4Jv8mTgK3y0x8U5ojS2nW6Sx0n1 gardener"


def ensure(tool, key, host, *extra):
    return tool.run("ensure", "--key", key, "--hostname", host, "--metro", "ny", "--plan", "c3.small.x86",
                    "--os", "flatcar_stable", "--tag", CLUSTER, "--settle-ms", "50", "--retry-base-ms",
                    "20", *extra)


def devices_with(m, key):
    tag = "gardener.cloud/idempotency-key=" + key
    return [d for d in m.state()["devices"] if tag in d.get("tags", []) and d.get("state") != "deleted"]


def posts(m):
    return [r for r in m.requests() if r["method"] == "POST" and r["path"].endswith("/devices")]


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)

        # 1. The answer of the create is lost after the device was made: adopted, not duplicated.
        m.fault(path=r"/devices$", method="POST", action="lose_response")
        r = ensure(tool, "lost-1", "shoot--idem--c-worker-a")
        t.ok(r["ok"], "ensure succeeds although the create answer was lost", diag=r)
        t.ok(r.get("adopted") is True, "the device made by the lost create is adopted", diag=r)
        t.eq(1, len(devices_with(m, "lost-1")), "exactly one device carries the key")
        t.eq(1, len(posts(m)), "one POST only")
        r2 = ensure(tool, "lost-1", "shoot--idem--c-worker-a")
        t.ok(r2["ok"] and r2["adopted"] and r2["device"]["id"] == r["device"]["id"],
             "ensure again adopts the same device", diag=r2)
        t.eq(1, len(devices_with(m, "lost-1")), "still exactly one device after ensure again")
        t.eq(1, len(posts(m)), "ensure again sent no POST")

        # 2. The answer is cut in the middle of the body: the same.
        m.clear_requests()
        m.fault(path=r"/devices$", method="POST", action="truncate")
        r = ensure(tool, "cut-1", "shoot--idem--c-worker-b")
        t.ok(r["ok"] and r["adopted"], "a truncated create answer is settled by a lookup", diag=r)
        t.eq(1, len(devices_with(m, "cut-1")), "exactly one device after a truncated answer")

        # 3. The create hangs and the connection is then reset (the server did nothing): a lookup
        #    confirms absence, then one more POST, and the order of requests shows lookup before every
        #    POST. (Client-side timeouts of a create are covered by test/unit/metal_client_test.c.)
        m.clear_requests()
        m.fault(path=r"/devices$", method="POST", action="hang", delay_ms=800)
        r = ensure(tool, "hang-1", "shoot--idem--c-worker-c")
        t.ok(r["ok"] and not r["adopted"], "after a hang the device is created once absence is confirmed",
             diag=r)
        t.eq(1, len(devices_with(m, "hang-1")), "exactly one device after a hung create")
        seq = [(q["method"], "lookup" if q["method"] == "GET" else "create") for q in m.requests()
               if q["path"].endswith("/devices")]
        t.eq([("GET", "lookup"), ("POST", "create"), ("GET", "lookup"), ("POST", "create")], seq,
             "lookup, create (hangs), lookup, create")
        lookups = [q for q in m.requests() if q["method"] == "GET" and q["path"].endswith("/devices")]
        t.ok(all(q["query"].get("tag") == ["gardener.cloud/idempotency-key=hang-1"] for q in lookups),
             "lookups filter by the idempotency tag", diag=lookups)

        # 4. A 500 after which the server created nothing: lookup, then one retry that works.
        m.clear_requests()
        m.fault(path=r"/devices$", method="POST", action="status", status=500)
        r = ensure(tool, "err-1", "shoot--idem--c-worker-d")
        t.ok(r["ok"] and not r["adopted"], "a 500 on create is settled by lookup and one retry", diag=r)
        t.eq(2, len(posts(m)), "two POSTs: the failed one and the one after the lookup")
        t.eq(1, len(devices_with(m, "err-1")), "exactly one device after a 500")

        # 5. Creates that keep failing ambiguously stop after the attempt cap, with a retryable error.
        m.clear_requests()
        m.fault(path=r"/devices$", method="POST", action="status", status=503, times=-1)
        r = ensure(tool, "down-1", "shoot--idem--c-worker-e")
        m.clear_faults()
        t.ok(not r["ok"] and r["code"] == "ENG_UNAVAILABLE" and r["retryable"], "persistent 503s fail "
             "retryably", diag=r)
        t.eq(2, len(posts(m)), "at most two POSTs per ensure, each after a lookup")
        t.eq(0, len(devices_with(m, "down-1")), "no device was made")

        # 6. A definitive failure (422) is not retried and not looked up again.
        m.clear_requests()
        r = tool.run("ensure", "--key", "bad-1", "--hostname", "x", "--metro", "ny", "--plan", "zz.nope",
                     "--os", "flatcar_stable")
        t.ok(not r["ok"] and r["code"] == "ENG_CONFIG", "an invalid plan is a configuration problem",
             diag=r)
        t.eq(1, len(posts(m)), "a 422 is not retried")

        # 7. SSH keys: the label is the key; a lost answer does not duplicate.
        m.fault(path=r"/ssh-keys$", method="POST", action="lose_response")
        r = tool.run("sshkey-ensure", "--label", "shoot--idem--c-ssh-publickey", "--public-key", SSH,
                     "--settle-ms", "50")
        t.ok(r["ok"] and r["adopted"], "SSH key made by a lost create is adopted", diag=r)
        keys = [k for k in m.state()["ssh_keys"] if k["label"] == "shoot--idem--c-ssh-publickey"]
        t.eq(1, len(keys), "exactly one SSH key with the label")
        r = tool.run("sshkey-ensure", "--label", "shoot--idem--c-ssh-publickey", "--public-key", SSH)
        t.ok(r["ok"] and r["adopted"] and not r["key_differs"], "ensure again adopts the same key", diag=r)
        r = tool.run("sshkey-ensure", "--label", "shoot--idem--c-ssh-publickey", "--public-key",
                     SSH.replace("AAAAIB7", "AAAAIC8"))
        t.ok(r["ok"] and r["adopted"] and r["key_differs"], "a rotated public key is reported", diag=r)
        # The lookup searches by label (?query=) instead of reading every key of the project, and
        # still adopts only the exact label: a key whose label merely contains it is not ours.
        m.clear_requests()
        r = tool.run("sshkey-ensure", "--label", "shoot--idem--c", "--public-key", SSH.replace("AAAAIB7", "AAAAID9"))
        lookups = [q for q in m.requests() if q["method"] == "GET" and q["path"].endswith("/ssh-keys")]
        t.ok(lookups and all(q["query"].get("query") == ["shoot--idem--c"] for q in lookups),
             "the ensure lookup asks the API for the label", diag=lookups[:2])
        t.ok(r["ok"] and not r["adopted"], "a key labelled shoot--idem--c-ssh-publickey is not adopted for "
             "shoot--idem--c", diag=r)
        t.eq(1, len([k for k in m.state()["ssh_keys"] if k["label"] == "shoot--idem--c"]),
             "a key with the exact label was created")
        kid = keys[0]["id"]
        r = tool.run("sshkey-delete", kid)
        t.ok(r["ok"] and not r["gone"], "the key is deleted", diag=r)
        r = tool.run("sshkey-delete", kid)
        t.ok(r["ok"] and r["gone"], "deleting it again reports it gone", diag=r)

        t.eq([], m.violations(), "every answer the client read matched the spec")
        t.eq([], m.request_violations(), "every request body the client sent matched the spec")
        t.ok(all(m.token not in o for o in tool.outputs), "the API token never appears in the "
             "tool's output")


t.run("idempotency", main)
sys.exit(t.done())
