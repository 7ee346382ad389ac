#!/usr/bin/env python3
"""`run` embeds the webhook server (issue 5 + 6): with the webhooks enabled, the controller process
creates the certificate Secret and the MutatingWebhookConfiguration, answers an AdmissionReview over
TLS with the same patch as `webhook serve` would, reports the server in /readyz, sends the
Gardener heartbeat, and still reconciles Infrastructures."""
import base64
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from whtest import ensure_namespace, review_response, tls_context  # noqa: E402

t = Tap()
SECRET = "/api/v1/namespaces/garden/secrets/gardener-extension-provider-equinix-metal-webhook-certs"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/gardener-extension-provider-equinix-metal"
HEARTBEAT = "/apis/coordination.k8s.io/v1/namespaces/garden/leases/gardener-extension-heartbeat"


def main(env):
    ensure_namespace(env.kube, "garden")
    ns = "shoot--wh--run"
    env.shoot(ns)
    env.kube.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {"shoot.gardener.cloud/provider": "equinixmetal"}}})
    c = env.controller("--webhook-config-mode", "url", "--webhook-config-url", "127.0.0.1:9443",
                       "--webhook-config-server-port", "0", "--webhook-config-namespace", "garden",
                       "--heartbeat-namespace", "garden", webhooks=True)
    listening = c.wait_log("webhook server listening")
    c.wait_log("webhook registrations are up to date")
    port = int(listening["port"])
    st, sec = env.kube.get(SECRET)
    t.eq(200, st, "run created the webhook certificate Secret")
    st, mwc = env.kube.get(MWC)
    t.eq(200, st, "run registered the MutatingWebhookConfiguration")
    ca = base64.b64decode(sec["data"]["ca.crt"]).decode() if st == 200 else ""
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "u-1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                          "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                          "name": "kube-controller-manager", "namespace": ns, "operation": "CREATE",
                          "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "kube-controller-manager", "namespace": ns},
                                     "spec": {"template": {"spec": {"containers": [
                                         {"name": "kube-controller-manager",
                                          "command": ["/usr/local/bin/kube-controller-manager", "--v=2"]}]}}}}}}
    code, doc, patch = review_response(port, "/controlplane", review, ctx=tls_context(cadata=ca), hostname="127.0.0.1")
    t.ok(code == 200 and doc["response"]["uid"] == "u-1" and doc["response"]["allowed"],
         "the embedded server answers an AdmissionReview over TLS with the Secret's CA", diag=json.dumps(doc)[:800])
    t.ok(patch and any(op.get("value") == "--cloud-provider=external" for op in patch),
         "kube-controller-manager gets --cloud-provider=external", diag=patch)
    ms = c.wait_log("serving metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{ms['port']}/metrics", timeout=5) as r:
        mtext = r.read().decode()
    t.ok('eqxm_webhook_requests_total{webhook="controlplane",operation="CREATE",result="patched"} 1' in mtext,
         "metrics count the patched admission", diag=[l for l in mtext.splitlines() if "webhook" in l])
    hs = c.wait_log("serving health probes")
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline and "[+]webhook-server ok" not in text:
        with urllib.request.urlopen(f"http://127.0.0.1:{hs['port']}/readyz?verbose", timeout=5) as r:
            text = r.read().decode()
        time.sleep(0.1)
    t.ok("[+]webhook-server ok" in text, "/readyz?verbose lists the webhook server as ready", diag=text)
    st, lease = env.kube.get(HEARTBEAT)
    t.ok(st == 200 and lease["spec"].get("holderIdentity") == "provider-equinix-metal",
         "the gardener-extension-heartbeat Lease is held by provider-equinix-metal", diag=lease)
    env.infrastructure(ns)
    obj = env.wait_infra(ns, lambda o: last_op(o).get("state") == "Succeeded", controller=c)
    t.ok(((obj.get("status") or {}).get("providerStatus") or {}).get("sshKeyID"),
         "the controller still reconciles with the webhooks running")
    t.eq(0, c.stop(), "SIGTERM stops the controller and the webhook server cleanly")


with Env() as env:
    t.run("run with webhooks", main, env)
sys.exit(t.done())
