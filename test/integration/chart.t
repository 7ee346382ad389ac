#!/usr/bin/env python3
"""The extension chart, rendered without Helm (test/lib/gotemplate.py): well-formed objects, the
Deployment's flags are flags the binary has, probes/ports/volumes/labels as Gardener expects, the PVC
and emptyDir journal options, and RBAC that covers every Kubernetes kind the source code uses
(derived from the C sources, not listed by hand). The objects the test apiserver serves are applied
to it with kubectl."""
import glob
import os
import re
import subprocess
import sys

import yaml

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))

from gotemplate import Fail, manifests, render_chart  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
CHART = os.path.join(ROOT, "charts/gardener-extension-provider-equinix-metal")
BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin/gardener-extension-provider-equinix-metal"))
NAME = "gardener-extension-provider-equinix-metal"
NS = "garden-extensions"


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def render(values=None):
    return by_kind(manifests(render_chart(CHART, namespace=NS, values=values)))


# ---- Chart.yaml, values.yaml -----------------------------------------------------------------------
with open(os.path.join(CHART, "Chart.yaml")) as f:
    chart = yaml.safe_load(f)
t.eq(NAME, chart.get("name"), "Chart.yaml names the chart")
t.ok(re.match(r"^\d+\.\d+\.\d+", str(chart.get("version", ""))), "Chart.yaml has a semantic version",
     diag=chart)
with open(os.path.join(CHART, "values.yaml")) as f:
    values = yaml.safe_load(f)
# Value names of the Go original's chart (docs: go-provider-inventory §5.1).
for key in ("image", "replicaCount", "maxUnavailable", "maxSurge", "resources", "vpa", "metricsPort",
            "healthPort", "controllers", "disableControllers", "disableWebhooks", "ignoreResources",
            "webhookConfig", "metrics", "config", "gardener", "imageVectorOverwrite"):
    t.ok(key in values, f"values.yaml has {key} (as the Go original)")
t.eq({"servicePort": 443, "serverPort": 10250}, values["webhookConfig"], "webhookConfig ports")

# ---- default render ---------------------------------------------------------------------------------
k = render()
want = {"ConfigMap", "Deployment", "PodDisruptionBudget", "PersistentVolumeClaim", "ClusterRole",
        "ClusterRoleBinding", "Role", "RoleBinding", "Service", "ServiceAccount", "VerticalPodAutoscaler"}
t.eq(sorted(want), sorted(k), "the default render has exactly these kinds")
for kind, docs in sorted(k.items()):
    for d in docs:
        md = d.get("metadata") or {}
        good = d.get("apiVersion") and md.get("name") and (kind.startswith("Cluster") or md.get("namespace") == NS)
        t.ok(good, f"{kind} {md.get('name')} has apiVersion, name and (if namespaced) the release namespace",
             diag=d)

dep = k["Deployment"][0]
pod = dep["spec"]["template"]
spec = pod["spec"]
c = spec["containers"][0]
args = c["command"]
t.eq("/gardener-extension-provider-equinix-metal", args[0], "the container runs the binary at its image path")
t.eq("run", args[1], "... its run command")
helptext = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True).stdout
known = set(re.findall(r"--[a-z0-9-]+", helptext))
flags = [a.split("=", 1)[0] for a in args[2:]]
unknown = [f for f in flags if f not in known]
t.ok(flags and not unknown, "every flag the chart passes is a flag of `run`", diag=f"unknown: {unknown}")
argmap = dict(a.split("=", 1) for a in args[2:] if "=" in a)
t.eq(NS, argmap.get("--heartbeat-namespace"), "the heartbeat Lease goes to the extension's namespace")
t.eq(NS, argmap.get("--webhook-config-namespace"), "webhooks registered for the extension's namespace")
t.eq("10250", argmap.get("--webhook-config-server-port"), "webhook server port 10250")
t.eq("443", argmap.get("--webhook-config-service-port"), "webhook service port 443")
t.eq("/var/lib/gardener-extension-provider-equinix-metal/journal.db", argmap.get("--journal"), "journal path")
cfg_path = argmap.get("--config-file", "")
env = {e["name"]: e for e in c.get("env", [])}
t.eq("metadata.namespace", env.get("LEADER_ELECTION_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"),
     "LEADER_ELECTION_NAMESPACE from the pod's namespace")
t.ok("IMAGEVECTOR_OVERWRITE" not in env, "no IMAGEVECTOR_OVERWRITE without an overwrite")
t.eq("gardener-system-900", spec.get("priorityClassName"), "priority class gardener-system-900")
t.eq(False, spec.get("automountServiceAccountToken"), "pod does not automount the token")
t.eq(NAME, spec.get("serviceAccountName"), "pod uses the chart's ServiceAccount")
t.eq(False, k["ServiceAccount"][0].get("automountServiceAccountToken"), "ServiceAccount: automountServiceAccountToken false")
vols = {v["name"]: v for v in spec["volumes"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
proj = vols.get("kube-api-access-gardener", {}).get("projected", {}).get("sources", [])
t.ok(any("serviceAccountToken" in s and s["serviceAccountToken"].get("expirationSeconds") for s in proj)
     and any(s.get("configMap", {}).get("name") == "kube-root-ca.crt" for s in proj)
     and mounts.get("kube-api-access-gardener", {}).get("mountPath") == "/var/run/secrets/kubernetes.io/serviceaccount",
     "expiring projected token, CA and namespace mounted where the in-cluster client reads them", diag=vols)
t.eq(k["PersistentVolumeClaim"][0]["metadata"]["name"], vols["journal"].get("persistentVolumeClaim", {}).get("claimName"),
     "journal volume is the chart's PVC")
t.eq("/var/lib/gardener-extension-provider-equinix-metal", mounts["journal"]["mountPath"], "journal volume mounted at the journal's directory")
t.eq(os.path.dirname(cfg_path), mounts.get("config", {}).get("mountPath"), "--config-file lies in the mounted ConfigMap")
t.eq("/tmp/gardener-extensions-cert", argmap.get("--webhook-config-cert-dir"), "webhook cert dir")
t.ok(mounts.get("webhook-cert", {}).get("mountPath") == "/tmp" and c["securityContext"].get("readOnlyRootFilesystem"),
     "read-only root file system with a writable /tmp for the webhook certificate")
t.eq("Recreate", dep["spec"]["strategy"]["type"], "a PVC journal: Recreate (one ReadWriteOnce volume)")
health = str(values["healthPort"])
t.eq(("/healthz", health), (c["livenessProbe"]["httpGet"]["path"], str(c["livenessProbe"]["httpGet"]["port"])), "liveness /healthz on the health port")
t.eq(("/readyz", health), (c["readinessProbe"]["httpGet"]["path"], str(c["readinessProbe"]["httpGet"]["port"])), "readiness /readyz on the health port")
t.eq(":" + health, argmap.get("--health-bind-address"), "health server bound on the probed port")
t.eq(":" + str(values["metricsPort"]), argmap.get("--metrics-bind-address"), "metrics on metricsPort")
ann = pod["metadata"]["annotations"]
t.ok(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(values["metricsPort"]),
     "metrics scraping annotations", diag=ann)
t.ok(re.match(r"^[0-9a-f]{64}$", ann.get("checksum/configmap-extension-config", "")), "config checksum annotation")
labels = pod["metadata"]["labels"]
for l in ("networking.gardener.cloud/to-dns", "networking.gardener.cloud/to-runtime-apiserver",
          "networking.gardener.cloud/to-public-networks", "networking.gardener.cloud/to-private-networks",
          "networking.resources.gardener.cloud/to-all-shoots-kube-apiserver-tcp-443"):
    t.eq("allowed", labels.get(l), f"pod label {l}")
sel = dep["spec"]["selector"]["matchLabels"]
t.ok(all(labels.get(a) == b for a, b in sel.items()), "selector matches the pod labels")

svc = k["Service"][0]
ports = {p["name"]: p for p in svc["spec"]["ports"]}
t.eq((443, 10250), (ports["webhook-server"]["port"], ports["webhook-server"]["targetPort"]), "webhook Service 443 -> 10250")
t.eq(sel, svc["spec"]["selector"], "Service selects the pods")
sann = svc["metadata"]["annotations"]
for a in ("from-world-to-ports", "from-all-webhook-targets-allowed-ports", "from-all-seed-scrape-targets-allowed-ports",
          "namespace-selectors", "pod-label-selector-namespace-alias"):
    t.ok("networking.resources.gardener.cloud/" + a in sann, f"Service annotation {a}")
t.ok('"port":10250' in sann.get("networking.resources.gardener.cloud/from-world-to-ports", ""), "from-world-to-ports names the server port")
pdb = k["PodDisruptionBudget"][0]["spec"]
t.eq((1, "AlwaysAllow"), (pdb.get("maxUnavailable"), pdb.get("unhealthyPodEvictionPolicy")), "PDB maxUnavailable 1, AlwaysAllow")
vpa = k["VerticalPodAutoscaler"][0]["spec"]
t.eq(NAME, vpa["targetRef"]["name"], "VPA targets the Deployment")
cm = k["ConfigMap"][0]
cc = yaml.safe_load(cm["data"]["config.yaml"])
t.eq(("ControllerConfiguration", 100, 130, "25Gi"),
     (cc.get("kind"), cc["clientConnection"]["qps"], cc["clientConnection"]["burst"], cc["etcd"]["storage"]["capacity"]),
     "ControllerConfiguration ConfigMap")

# The rendered ControllerConfiguration is one the binary accepts.
tmpcfg = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"chart-t-config-{os.getpid()}.yaml")
with open(tmpcfg, "w") as f:
    f.write(cm["data"]["config.yaml"])
certdir = tmpcfg + ".certs"
proc = subprocess.Popen([BIN, "webhook", "serve", "--standalone", "--config-file", tmpcfg,
                         "--webhook-config-server-host", "127.0.0.1", "--webhook-config-server-port", "0",
                         "--webhook-config-cert-dir", certdir, "--log-format", "json"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
seen = []
for line in proc.stdout:
    seen.append(line)
    if "webhook server listening" in line:
        break
proc.terminate()
rest, _ = proc.communicate(timeout=20)
# (webhook serve installs its signal handlers before it logs "listening": SIGTERM is a clean exit.)
t.ok(any("webhook server listening" in l for l in seen) and proc.returncode == 0,
     "the binary loads the rendered ControllerConfiguration and serves", diag=f"rc={proc.returncode}\n" + "".join(seen) + (rest or ""))
subprocess.run(["rm", "-rf", certdir])
os.unlink(tmpcfg)

# ---- options ------------------------------------------------------------------------------------
k2 = render({"journal": {"persistence": {"enabled": False}}, "replicaCount": 2})
dep2 = k2["Deployment"][0]
v2 = {v["name"]: v for v in dep2["spec"]["template"]["spec"]["volumes"]}
t.ok("emptyDir" in v2["journal"] and "PersistentVolumeClaim" not in k2, "emptyDir option: no PVC, journal on an emptyDir")
t.eq(("RollingUpdate", 2), (dep2["spec"]["strategy"]["type"], dep2["spec"]["replicas"]), "emptyDir journals allow 2 replicas, rolling")
try:
    render({"replicaCount": 2})
    t.ok(False, "2 replicas on one ReadWriteOnce journal volume are refused")
except Fail as e:
    t.ok("replicaCount 1" in str(e), "2 replicas on one ReadWriteOnce journal volume are refused with a reason", diag=e)
k3 = render({"journal": {"persistence": {"storageClassName": "premium", "size": "10Gi"}}})
pvc = k3["PersistentVolumeClaim"][0]["spec"]
t.eq(("premium", "10Gi"), (pvc.get("storageClassName"), pvc["resources"]["requests"]["storage"]), "PVC class and size from values")
iv = "images:\n- name: metabot\n  repository: r.example/metabot\n  tag: v9\n"
k4 = render({"imageVectorOverwrite": iv})
c4 = k4["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
env4 = {e["name"]: e.get("value") for e in c4["env"]}
cms = {m["metadata"]["name"]: m for m in k4["ConfigMap"]}
ivcm = cms.get(NAME + "-imagevector-overwrite")
t.ok(ivcm and yaml.safe_load(ivcm["data"]["images_overwrite.yaml"]) == yaml.safe_load(iv)
     and env4.get("IMAGEVECTOR_OVERWRITE") == "/charts_overwrite/images_overwrite.yaml"
     and any(m["mountPath"].rstrip("/") == "/charts_overwrite" for m in c4["volumeMounts"]),
     "image vector overwrite: ConfigMap, IMAGEVECTOR_OVERWRITE and its mount", diag=env4)
k5 = render({"disableWebhooks": ["shoot", "seedprovider"], "ignoreResources": True, "vpa": {"enabled": False}})
a5 = k5["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["command"]
t.ok("--disable-webhooks=shoot,seedprovider" in a5, "disableWebhooks joined into one flag", diag=a5)
t.ok(k5["Deployment"][0]["metadata"].get("annotations", {}).get("resources.gardener.cloud/ignore") == "true"
     and "VerticalPodAutoscaler" not in k5, "ignoreResources annotation; vpa.enabled=false drops the VPA")

# ---- RBAC derived from the source ----------------------------------------------------------------
src = {}
for path in glob.glob(os.path.join(ROOT, "engine/**/*.c"), recursive=True) + \
        glob.glob(os.path.join(ROOT, "providers/**/*.c"), recursive=True) + \
        glob.glob(os.path.join(ROOT, "webhook/**/*.c"), recursive=True):
    with open(path) as f:
        src[os.path.relpath(path, ROOT)] = f.read()
DEF = re.compile(r'struct\s+kube_resource\s+(\w+)\s*=\s*\{\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"', re.S)
kinds = {}
for path, text in src.items():
    for m in DEF.finditer(text):
        kinds[m.group(1)] = (m.group(2), m.group(4), path)
t.ok(len(kinds) >= 10, f"found {len(kinds)} Kubernetes kinds in the source", diag=sorted(kinds))

rules = [(r, "cluster") for r in k["ClusterRole"][0]["rules"]] + [(r, "namespace") for r in k["Role"][0]["rules"]]


def granted(group, resource, scope=None):
    verbs = set()
    for r, sc in rules:
        if scope and sc != scope:
            continue
        if group in r.get("apiGroups", []) and resource in r.get("resources", []):
            verbs |= set(r.get("verbs", []))
    return verbs


# Kinds the machine controller (MCM's sidecar, not deployed by this chart) and the Worker's node-network step
# (through the shoot's kubeconfig from Secret gardener-internal/gardener) read and write only in
# the shoot, through --target-kubeconfig and the shoot's RBAC: not the seed chart's business.
SHOOT_SIDE = {("providers/equinix-metal/act/exec_machine.c", "nodes"), ("providers/equinix-metal/act/exec_machine.c", "pods"),
              ("providers/equinix-metal/machine_controller.c", "nodes"),
              ("providers/equinix-metal/act/exec_nodenet.c", "nodes")}
missing = []
for var, (group, plural, path) in sorted(kinds.items()):
    if (path, plural) in SHOOT_SIDE:
        continue
    if not granted(group, plural):
        missing.append(f"{group or 'core'}/{plural} ({var} in {path})")
t.ok(not missing, "every kind the source defines is granted by the chart's RBAC",
     diag="not granted (add them to charts/.../templates/rbac.yaml): " + ", ".join(missing))

# The executor's writable kinds (run.c passes them to exec_kube_new) need write verbs; the
# extension kinds also their /status.
run_c = src.get("providers/equinix-metal/run.c", "")
exec_vars = re.findall(r"kres\[nk\+\+\]\s*=\s*&(\w+)", run_c)
t.ok(exec_vars, "run.c lists the executor's kinds", diag=exec_vars)
bad = []
for var in exec_vars:
    if var not in kinds:
        bad.append(f"{var}: definition not found")
        continue
    group, plural, _ = kinds[var]
    need = {"get", "patch"} if group == "extensions.gardener.cloud" else {"get", "create", "patch", "update", "delete"}
    if not need <= granted(group, plural):
        bad.append(f"{group or 'core'}/{plural} needs {sorted(need - granted(group, plural))}")
    if group == "extensions.gardener.cloud" and "patch" not in granted(group, plural + "/status"):
        bad.append(f"{group}/{plural}/status needs patch")
t.ok(not bad, "the executor's kinds have the verbs it uses", diag="; ".join(bad))
# Informers need list and watch.
inf_vars = re.findall(r"informer\(a,\s*&(\w+)", run_c) + re.findall(r"const struct kube_resource \*kinds\[\]\s*=\s*\{([^}]*)\}", run_c)
inf = []
for v in inf_vars:
    inf += re.findall(r"&?(\w+)", v)
bad = [v for v in inf if v in kinds and not {"list", "watch"} <= granted(kinds[v][0], kinds[v][1])]
t.ok(inf and not bad, f"watched kinds ({len(set(inf))}) may be listed and watched", diag=bad)
t.ok({"get", "update", "create"} <= granted("coordination.k8s.io", "leases", "namespace")
     and not granted("coordination.k8s.io", "leases", "cluster"),
     "Leases only in the extension's namespace (leader election and heartbeat)")
names = [r.get("resourceNames", []) for r, sc in rules if sc == "namespace"]
t.ok(any("gardener-extension-heartbeat" in n and "provider-equinix-metal-leader-election" in n for n in names),
     "Role names the heartbeat and leader Leases")
t.ok(not any("*" in r.get("verbs", []) or "*" in r.get("resources", []) for r, _ in rules), "no wildcard rules")
crb = k["ClusterRoleBinding"][0]
t.eq([{"kind": "ServiceAccount", "name": NAME, "namespace": NS}], crb["subjects"], "bound to the chart's ServiceAccount")

# ---- the objects the test apiserver serves apply with kubectl -------------------------------------
from kubeapi import KubeAPI  # noqa: E402

specs = os.environ.get("EQXM_SPECS", os.path.join(ROOT, "test/specs"))
with KubeAPI(crd_dirs=[os.path.join(specs, "gardener-crds"), os.path.join(specs, "seed-crds")]) as kube:
    kube.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    served = [d for d in manifests(render_chart(CHART, namespace=NS))
              if d["kind"] in ("ConfigMap", "Service", "ServiceAccount", "Deployment", "VerticalPodAutoscaler")]
    p = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(served))
    t.ok(p.returncode == 0 and p.stdout.count("created") == len(served),
         f"kubectl apply of the {len(served)} served objects", diag=p.stdout + p.stderr)
    p = kube.kubectl("get", "deployment", "-n", NS, NAME, "-o", "jsonpath={.spec.template.spec.priorityClassName}")
    t.eq("gardener-system-900", p.stdout, "kubectl reads the Deployment back")

sys.exit(t.done())
