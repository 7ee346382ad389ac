#!/usr/bin/env python3
"""Golden admission cases over real TLS against the real binary.

Every folder test/webhook/<webhook>-<description>/ is one case (adding a case needs no code):
  review.json    the AdmissionReview sent (admission.k8s.io/v1 or v1beta1) to /<webhook>
                 (/validate for "validate-" cases)
  patch.json     the expected JSONPatch; [] means "allowed, no patch". Compared structurally: the actual
                 and the expected patch must both apply to the admitted object and give the same result.
  objects.json   optional: objects the test kube-apiserver holds during the case (Cluster, Secret, ...)
  response.json  optional: expected {"allowed", "status": {"code"}, "message_contains"} of the response
The server runs in service mode with its certificate in a Secret; the client trusts only the CA bundle of
that Secret and checks the Service name. WEBHOOK_GOLDEN_WRITE=1 writes patch.json files for new cases
(review them before committing).
"""
import base64
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402
from whtest import (SERVICE_NAME, Webhook, add_garden_kinds, apply_patch, ensure_namespace, load_objects,  # noqa: E402
                    object_path, review_response, tls_context)

ROOT = os.environ.get("EQXM_ROOT", ".")
CASES = os.path.join(ROOT, "test", "webhook")
WRITE = os.environ.get("WEBHOOK_GOLDEN_WRITE") == "1"


def load(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def webhook_path(case):
    prefix = case.split("-", 1)[0]
    return "/validate" if prefix == "validate" else "/" + prefix


def run_case(t, k, w, ctx, case):
    d = os.path.join(CASES, case)
    review = load(os.path.join(d, "review.json"))
    objects = load(os.path.join(d, "objects.json"), [])
    expect = load(os.path.join(d, "response.json"), {"allowed": True})
    want_patch = load(os.path.join(d, "patch.json"))
    load_objects(k, objects)
    try:
        st, doc, patch = review_response(w.port, webhook_path(case), review, ctx=ctx,
                                         hostname=f"{SERVICE_NAME}.garden.svc")
    finally:
        for obj in reversed(objects):
            k.delete(object_path(obj))
    resp = doc.get("response") or {}
    problems = []
    if st != 200:
        problems.append(f"HTTP status {st}")
    if doc.get("apiVersion") != review["apiVersion"] or doc.get("kind") != "AdmissionReview":
        problems.append(f"response is {doc.get('apiVersion')} {doc.get('kind')}, not {review['apiVersion']}")
    if resp.get("uid") != review["request"]["uid"]:
        problems.append(f"uid {resp.get('uid')!r} is not the request's")
    if resp.get("allowed") != expect.get("allowed", True):
        problems.append(f"allowed is {resp.get('allowed')}: {json.dumps(resp.get('status'))}")
    code = (expect.get("status") or {}).get("code")
    if code is not None and (resp.get("status") or {}).get("code") != code:
        problems.append(f"status code {(resp.get('status') or {}).get('code')}, expected {code}")
    needle = expect.get("message_contains")
    if needle and needle not in (resp.get("status") or {}).get("message", ""):
        problems.append(f"message {(resp.get('status') or {}).get('message')!r} lacks {needle!r}")
    if ("patch" in resp) != ("patchType" in resp) or (patch is not None and resp.get("patchType") != "JSONPatch"):
        problems.append("patch and patchType must come together, patchType JSONPatch")
    if patch == []:
        problems.append("an empty patch must be left out")
    if expect.get("allowed", True):
        if WRITE and want_patch is None:
            with open(os.path.join(d, "patch.json"), "w", encoding="utf-8") as f:
                json.dump(patch or [], f, indent=2)
                f.write("\n")
            want_patch = patch or []
        if want_patch is None:
            problems.append("patch.json is missing (WEBHOOK_GOLDEN_WRITE=1 writes it)")
        else:
            obj = review["request"].get("object")
            try:
                got = apply_patch(obj, patch or [])
                want = apply_patch(obj, want_patch)
                if got != want:
                    problems.append("the patch gives a different object than patch.json:\n  got:  "
                                    + json.dumps(patch) + "\n  want: " + json.dumps(want_patch))
            except Exception as e:  # noqa: BLE001
                problems.append(f"the patch does not apply: {e!r}: {json.dumps(patch)}")
    elif patch is not None:
        problems.append("a denial must not carry a patch")
    t.ok(not problems, f"{case}", diag="\n".join(problems))


def main():
    t = Tap()
    cases = sorted(c for c in os.listdir(CASES) if os.path.exists(os.path.join(CASES, c, "review.json")))
    t.ok(len(cases) >= 20, f"{len(cases)} golden cases found")
    with KubeAPI() as k, tempfile.TemporaryDirectory() as tmp:
        add_garden_kinds(k)
        ensure_namespace(k, "garden")
        args = ["--kubeconfig", k.kubeconfig, "--webhook-config-namespace=garden", "--webhook-config-cert-dir", tmp,
                "--config-file", os.path.join(CASES, "config.yaml"), "--webhook-cache-ttl=0",
                "--machine-controller-image=registry.example/gardener-extension-provider-equinix-metal:v1.2.3"]
        with Webhook(args) as w:
            w.wait_log("registered the webhooks")
            st, sec = k.get("/api/v1/namespaces/garden/secrets/gardener-extension-provider-equinix-metal-webhook-certs")
            t.eq(200, st, "the certificate Secret exists")
            ctx = tls_context(cadata=base64.b64decode(sec["data"]["ca-bundle.crt"]).decode())
            for case in cases:
                t.run(case, run_case, t, k, w, ctx, case)
            rc = w.stop()
            t.ok(rc == 0, "the server stops cleanly on SIGTERM", diag=f"status {rc}\n" + "\n".join(w.raw[-80:]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
