#!/usr/bin/env python3
"""The ControlPlane controller ships the shoot webhooks (issue 13) when the webhook server runs in the
same process: its reconcile creates the ManagedResource extension-controlplane-shoot-webhooks with a
Secret holding the shoot MutatingWebhookConfiguration (with the CA bundle of the serving certificate),
and its deletion removes it. `replay --check` finds no difference."""
import base64
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402
from whtest import ensure_namespace  # noqa: E402
from workerenv import wait  # noqa: E402

t = Tap()
NS = "shoot--wh--cp"
CPS = f"/apis/extensions.gardener.cloud/v1alpha1/namespaces/{NS}/controlplanes"
MR = f"/apis/resources.gardener.cloud/v1alpha1/namespaces/{NS}/managedresources/extension-controlplane-shoot-webhooks"

env = Env(seed_crds=True)
try:
    ensure_namespace(env.kube, "garden")
    env.shoot(NS)
    c = env.controller("--controllers", "controlplane", "--webhook-config-mode", "url", "--webhook-config-url",
                       "127.0.0.1:9443", "--webhook-config-server-port", "0", "--webhook-config-namespace", "garden",
                       "--heartbeat-namespace", "garden", webhooks=True)
    st, o = env.kube.create(CPS, {
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "ControlPlane",
        "metadata": {"name": "controlplane", "namespace": NS, "annotations": {"gardener.cloud/operation": "reconcile"}},
        "spec": {"type": "equinixmetal", "region": "ny", "secretRef": {"name": "cloudprovider", "namespace": NS}}})
    t.ok(st == 201, "ControlPlane created", diag=o)
    wait("the ControlPlane to succeed",
         lambda: last_op((env.kube.get(f"{CPS}/controlplane")[1]) or {}).get("state") == "Succeeded",
         controller=c, timeout=60)
    st, mr = env.kube.get(MR)
    t.ok(st == 200 and mr["spec"]["secretRefs"], "the shoot webhooks ManagedResource exists", diag=mr)
    st, sec = env.kube.get(f"/api/v1/namespaces/{NS}/secrets/{mr['spec']['secretRefs'][0]['name']}")
    docs = [yaml.safe_load(base64.b64decode(v)) for v in (sec.get("data") or {}).values()]
    mwc = next((d for d in docs if d and d.get("kind") == "MutatingWebhookConfiguration"), None)
    t.ok(mwc is not None and mwc["metadata"]["name"] == "gardener-extension-provider-equinix-metal-shoot"
         and all(w["clientConfig"].get("caBundle") for w in mwc.get("webhooks", [])),
         "its Secret carries the shoot MutatingWebhookConfiguration with the CA bundle", diag=mwc)
    t.eq([], env.kube.validate(sec), "the configuration is a valid MutatingWebhookConfiguration")
    env.kube.delete(f"{CPS}/controlplane")
    wait("the ControlPlane to be gone", lambda: env.kube.get(f"{CPS}/controlplane")[0] == 404, controller=c,
         timeout=60)
    t.eq(404, env.kube.get(MR)[0], "deleting the ControlPlane deletes the shoot webhooks ManagedResource")
    t.eq(0, c.stop(), "the controller stops cleanly")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])
finally:
    env.close()
t.done()
