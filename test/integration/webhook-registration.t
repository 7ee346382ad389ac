#!/usr/bin/env python3
"""Registration and certificates against the test kube-apiserver, with the real binary:
service mode creates the certificate Secret and the MutatingWebhookConfiguration whose caBundle verifies
the served certificate; existing shoot webhook ManagedResources are refreshed; the optional validating
configuration; a restart reuses the certificate; an expiring serving certificate and an expiring CA are
renewed (the old CA stays in the bundle); url mode; disabled webhooks; the ControlPlane helper that
creates the shoot webhooks ManagedResource."""
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402
from whtest import SERVICE_NAME, Webhook, ensure_namespace, https_request, tls_connect, tls_context  # noqa: E402

SECRET = "/api/v1/namespaces/garden/secrets/gardener-extension-provider-equinix-metal-webhook-certs"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/gardener-extension-provider-equinix-metal"
VWC = ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
       "gardener-extension-provider-equinix-metal-admission")
MR = "/apis/resources.gardener.cloud/v1alpha1/namespaces/{}/managedresources/extension-controlplane-shoot-webhooks"
SHOOT_LABELS = {"gardener.cloud/role": "shoot", "shoot.gardener.cloud/provider": "equinixmetal"}
TOOL = os.path.join(os.environ.get("EQXM_BUILD", "build/release"), "test", "tools", "wh_shoot_webhooks")


def b64d(s):
    return base64.b64decode(s).decode()


def pem_to_der(pem):
    return ssl.PEM_cert_to_DER_cert(pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")


def served_der(port, ctx, hostname):
    s = tls_connect(port, ctx, hostname)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def not_after(pem):
    out = subprocess.run(["certtool", "-i"], input=pem, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "Not After:" in line:
            return line.split("Not After:", 1)[1].strip()
    return ""


def days_left(pem):
    """Days until the certificate expires, from certtool's Not After (UTC)."""
    import datetime
    s = not_after(pem)
    dt = datetime.datetime.strptime(s, "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=datetime.timezone.utc)
    return (dt - datetime.datetime.now(datetime.timezone.utc)).days


def certtool_pair(d, name, template, ca=None):
    key = os.path.join(d, name + ".key")
    crt = os.path.join(d, name + ".crt")
    tmpl = os.path.join(d, name + ".tmpl")
    with open(tmpl, "w") as f:
        f.write(template)
    subprocess.run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", key], check=True,
                   capture_output=True)
    if ca:
        subprocess.run(["certtool", "--generate-certificate", "--load-privkey", key, "--load-ca-certificate", ca[0],
                        "--load-ca-privkey", ca[1], "--template", tmpl, "--outfile", crt], check=True,
                       capture_output=True)
    else:
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key, "--template", tmpl,
                        "--outfile", crt], check=True, capture_output=True)
    with open(crt) as f1, open(key) as f2:
        return f1.read(), f2.read()


def server_template(days):
    names = "".join(f'dns_name = "{SERVICE_NAME}{s}"\n' for s in ("", ".garden", ".garden.svc", ".garden.svc.cluster.local"))
    return f'cn = "{SERVICE_NAME}"\n{names}tls_www_server\nsigning_key\nencryption_key\nexpiration_days = {days}\n'


def main():
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="webhook-reg-")
    svc_host = f"{SERVICE_NAME}.garden.svc"
    try:
        with KubeAPI() as k:
            ensure_namespace(k, "garden")
            ensure_namespace(k, "shoot--foo--bar", SHOOT_LABELS)
            ensure_namespace(k, "shoot--foo--baz", SHOOT_LABELS)
            st, _ = k.create(MR.format("shoot--foo--bar").rsplit("/", 1)[0],
                             {"apiVersion": "resources.gardener.cloud/v1alpha1", "kind": "ManagedResource",
                              "metadata": {"name": "extension-controlplane-shoot-webhooks",
                                           "namespace": "shoot--foo--bar"},
                              "spec": {"secretRefs": [{"name": "old-secret"}]}})
            t.eq(201, st, "a shoot namespace with an existing shoot webhooks ManagedResource")
            base = ["--kubeconfig", k.kubeconfig, "--webhook-config-namespace=garden",
                    "--webhook-config-service-port=443"]

            # 1. first start: Secret, MWC, VWC, shoot MR refresh
            with Webhook(base + ["--webhook-config-cert-dir", os.path.join(tmp, "d1"),
                                 "--webhook-config-register-validator"]) as w:
                w.wait_log("webhook registrations are up to date")
                st, sec = k.get(SECRET)
                t.ok(st == 200 and set(sec["data"]) == {"ca.crt", "ca.key", "ca-bundle.crt", "tls.crt", "tls.key"},
                     "the certificate Secret holds the CA and the serving pair", diag=f"{st} {sec}")
                bundle = b64d(sec["data"]["ca-bundle.crt"])
                st, mwc = k.get(MWC)
                hooks = mwc.get("webhooks", []) if st == 200 else []
                t.eq(["controlplane.equinix-metal.extensions.gardener.cloud",
                      "seedprovider.equinix-metal.extensions.gardener.cloud"], [h["name"] for h in hooks],
                     "the seed MutatingWebhookConfiguration lists controlplane and seedprovider")
                t.ok(all(h["clientConfig"].get("caBundle") and b64d(h["clientConfig"]["caBundle"]) == bundle
                         for h in hooks), "its caBundle is the Secret's CA bundle")
                t.ok(all(h["failurePolicy"] == "Fail" and h["sideEffects"] == "None" and h["timeoutSeconds"] == 10
                         and h["matchPolicy"] == "Exact" and h["admissionReviewVersions"] == ["v1", "v1beta1"]
                         for h in hooks), "failurePolicy Fail, sideEffects None, timeout 10 s, matchPolicy Exact")
                t.eq({"namespace": "garden", "name": SERVICE_NAME, "path": "/controlplane", "port": 443},
                     hooks[0]["clientConfig"].get("service") if hooks else None, "service client configuration")
                st, gns = k.get("/api/v1/namespaces/garden")
                t.eq(gns["metadata"]["uid"], (mwc["metadata"].get("ownerReferences") or [{}])[0].get("uid"),
                     "the configuration is owned by the extension's namespace")
                ctx = tls_context(cadata=b64d(hooks[0]["clientConfig"]["caBundle"]))
                st, _, body = https_request(w.port, "GET", "/healthz", ctx=ctx, hostname=svc_host)
                t.ok(st == 200, "the registered caBundle verifies the served certificate for the Service name")
                first_der = served_der(w.port, ctx, svc_host)
                t.eq(pem_to_der(b64d(sec["data"]["tls.crt"])), first_der, "the served certificate is the Secret's")
                st, vwc = k.get(VWC)
                t.ok(st == 200 and vwc["webhooks"][0]["name"] == "validator.equinix-metal.extensions.gardener.cloud"
                     and vwc["webhooks"][0]["objectSelector"]["matchLabels"]
                     == {"provider.extensions.gardener.cloud/equinixmetal": "true"},
                     "the validating configuration is registered when asked for", diag=json.dumps(vwc)[:500])
                st, mr = k.get(MR.format("shoot--foo--bar"))
                ref = mr["spec"]["secretRefs"][0]["name"]
                t.ok(ref.startswith("extension-controlplane-shoot-webhooks-") and ref != "old-secret",
                     "the existing shoot webhooks ManagedResource now points to a new Secret", diag=json.dumps(mr))
                st, msec = k.get(f"/api/v1/namespaces/shoot--foo--bar/secrets/{ref}")
                data = list(msec.get("data", {}).values())
                shoot_cfg = yaml.safe_load(b64d(data[0])) if data else {}
                sh = (shoot_cfg.get("webhooks") or [{}])[0]
                t.ok(shoot_cfg.get("metadata", {}).get("name") == "gardener-extension-provider-equinix-metal-shoot"
                     and sh.get("failurePolicy") == "Ignore"
                     and sh.get("clientConfig", {}).get("url") == f"https://{SERVICE_NAME}.garden:443/shoot"
                     and b64d(sh["clientConfig"]["caBundle"]) == bundle and msec.get("immutable") is True,
                     "it ships the shoot configuration (url-service, Ignore, the CA bundle)", diag=json.dumps(shoot_cfg))
                st, _ = k.get(MR.format("shoot--foo--baz"))
                t.eq(404, st, "shoot namespaces without the ManagedResource do not get one from the server")
                rv = sec["metadata"]["resourceVersion"]
                rc = w.stop()
                t.eq(0, rc, "SIGTERM ends the server with status 0")

            # 2. restart with a fresh cert dir and a disabled webhook: the certificate is reused
            with Webhook(base + ["--webhook-config-cert-dir", os.path.join(tmp, "d2"),
                                 "--disable-webhooks=seedprovider"]) as w:
                w.wait_log("webhook registrations are up to date")
                st, sec2 = k.get(SECRET)
                t.eq(rv, sec2["metadata"]["resourceVersion"], "a restart leaves the certificate Secret alone")
                t.eq(first_der, served_der(w.port, ctx, svc_host), "and serves the same certificate")
                st, mwc = k.get(MWC)
                t.eq(["controlplane.equinix-metal.extensions.gardener.cloud"], [h["name"] for h in mwc["webhooks"]],
                     "--disable-webhooks=seedprovider drops it from the configuration")
                st, _, _ = https_request(w.port, "POST", "/seedprovider", {}, ctx=ctx, hostname=svc_host)
                t.eq(404, st, "and from the server")
                t.eq(0, w.stop(), "stopped")

            # 3. a serving certificate close to expiry is renewed (same CA)
            d = os.path.join(tmp, "certs")
            os.makedirs(d)
            ca_pair = (os.path.join(d, "ca.crt"), os.path.join(d, "ca.key"))
            with open(ca_pair[0], "w") as f:
                f.write(b64d(sec["data"]["ca.crt"]))
            with open(ca_pair[1], "w") as f:
                f.write(b64d(sec["data"]["ca.key"]))
            crt, key = certtool_pair(d, "short", server_template(3), ca_pair)
            sec2["data"]["tls.crt"] = base64.b64encode(crt.encode()).decode()
            sec2["data"]["tls.key"] = base64.b64encode(key.encode()).decode()
            st, _ = k.update(SECRET, sec2)
            t.eq(200, st, "the Secret now holds a serving certificate that expires in 3 days")
            with Webhook(base + ["--webhook-config-cert-dir", os.path.join(tmp, "d3")]) as w:
                w.wait_log("webhook registrations are up to date")
                st, sec3 = k.get(SECRET)
                new_crt = b64d(sec3["data"]["tls.crt"])
                t.ok(new_crt != crt and days_left(new_crt) > 300, "it was renewed for a year",
                     diag=not_after(new_crt))
                t.eq(sec2["data"]["ca.crt"], sec3["data"]["ca.crt"], "the CA was kept")
                t.eq(pem_to_der(new_crt), served_der(w.port, ctx, svc_host), "the renewed certificate is served")
                t.eq(0, w.stop(), "stopped")

            # 4. a CA close to expiry is replaced; the old one stays in the bundle
            old_ca, old_key = certtool_pair(d, "oldca", 'cn = "old ca"\nca\ncert_signing_key\nexpiration_days = 5\n')
            crt, key = certtool_pair(d, "srv2", server_template(4),
                                     (os.path.join(d, "oldca.crt"), os.path.join(d, "oldca.key")))
            for name, val in (("ca.crt", old_ca), ("ca.key", old_key), ("ca-bundle.crt", old_ca), ("tls.crt", crt),
                              ("tls.key", key)):
                sec3["data"][name] = base64.b64encode(val.encode()).decode()
            st, _ = k.update(SECRET, sec3)
            t.eq(200, st, "the Secret now holds a CA that expires in 5 days")
            with Webhook(base + ["--webhook-config-cert-dir", os.path.join(tmp, "d4")]) as w:
                w.wait_log("webhook registrations are up to date")
                st, sec4 = k.get(SECRET)
                new_ca = b64d(sec4["data"]["ca.crt"])
                bundle = b64d(sec4["data"]["ca-bundle.crt"])
                t.ok(new_ca != old_ca and days_left(new_ca) > 3000, "a new CA was made", diag=not_after(new_ca))
                t.ok(bundle.count("BEGIN CERTIFICATE") == 2 and old_ca.strip() in bundle and new_ca.strip() in bundle,
                     "the bundle holds the new and the old CA")
                st, mwc = k.get(MWC)
                t.eq(bundle, b64d(mwc["webhooks"][0]["clientConfig"]["caBundle"]),
                     "the configuration carries the new bundle")
                st, _, _ = https_request(w.port, "GET", "/healthz", ctx=tls_context(cadata=new_ca), hostname=svc_host)
                t.eq(200, st, "the serving certificate is signed by the new CA")
                t.eq(0, w.stop(), "stopped")

            # 5. url mode: the certificate covers the URL's address, the configuration uses the URL
            ensure_namespace(k, "ext-url")
            with Webhook(["--kubeconfig", k.kubeconfig, "--webhook-config-namespace=ext-url",
                          "--webhook-config-cert-dir", os.path.join(tmp, "d5"), "--webhook-config-mode=url",
                          "--webhook-config-url=127.0.0.1:9443"]) as w:
                w.wait_log("webhook registrations are up to date")
                st, mwc = k.get(MWC)
                cc = mwc["webhooks"][0]["clientConfig"]
                t.eq("https://127.0.0.1:9443/controlplane", cc.get("url"), "url mode registers the URL")
                st, _, _ = https_request(w.port, "GET", "/healthz", ctx=tls_context(cadata=b64d(cc["caBundle"])),
                                         hostname="127.0.0.1")
                t.eq(200, st, "and the certificate is valid for its address")
                t.eq(0, w.stop(), "stopped")

            # 6. what the ControlPlane controller calls: create the shoot webhooks ManagedResource
            p = subprocess.run([TOOL, k.kubeconfig, "shoot--foo--baz", "service", "garden", "create"],
                               capture_output=True, text=True, timeout=60)
            t.ok(p.returncode == 0, "the shoot webhooks ManagedResource is created in a new shoot namespace",
                 diag=p.stderr)
            st, mr = k.get(MR.format("shoot--foo--baz"))
            ref = mr["spec"]["secretRefs"][0]["name"] if st == 200 else ""
            st2, msec = k.get(f"/api/v1/namespaces/shoot--foo--baz/secrets/{ref}")
            cfg = yaml.safe_load(b64d(list(msec["data"].values())[0])) if st2 == 200 else {}
            t.ok(cfg.get("webhooks", [{}])[0].get("clientConfig", {}).get("url")
                 == f"https://{SERVICE_NAME}.garden:443/shoot", "with the shoot configuration in its Secret",
                 diag=json.dumps(cfg))
            p = subprocess.run([TOOL, k.kubeconfig, "shoot--foo--baz", "service", "garden", "create"],
                               capture_output=True, text=True, timeout=60)
            st, mr2 = k.get(MR.format("shoot--foo--baz"))
            t.ok(p.returncode == 0 and mr2["metadata"]["resourceVersion"] == mr["metadata"]["resourceVersion"],
                 "reconciling again changes nothing")
            ensure_namespace(k, "shoot--foo--qux", SHOOT_LABELS)
            p = subprocess.run([TOOL, k.kubeconfig, "shoot--foo--qux", "service", "garden", "update"],
                               capture_output=True, text=True, timeout=60)
            st, _ = k.get(MR.format("shoot--foo--qux"))
            t.ok(p.returncode != 0 and st == 404, "update-only does not create one", diag=p.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
