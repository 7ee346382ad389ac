"""A test stand-in for the MCM core (machine-controller-manager's MachineDeployment and MachineSet
controllers), after the reference's section 7, so that the C machine controller can be tested end to
end without Go.

    from core import MCMCore
    core = MCMCore(kube, "shoot--foo--bar")   # kube: test/lib/kubeapi.KubeAPI of the seed
    core.start()                              # a thread reconciling every `interval` seconds
    ...; core.stop()

It talks to the test kube-apiserver over HTTPS like any client: lists MachineDeployments,
MachineSets and Machines of the namespace each pass (level-triggered) and writes with POST, merge
patches (with resourceVersion where MCM updates) and DELETE. What it does:

- MachineDeployment: finalizer machine.sapcloud.io/machine-controller-manager; one MachineSet per
  template (hash of the template's labels, annotations and class name, FNV-32a as decimal; name
  <md>-<5 chars of the hash in the alphabet bcdfghjklmnpqrstvwxz2456789>), labels and selector with
  machine-template-hash, controller ownerReference, revision annotations; rolling update by
  maxSurge (rounded up) and maxUnavailable (rounded down; both 0 -> maxUnavailable 1); old
  MachineSets at 0 replicas are deleted when the rollout is complete; status replicas,
  updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas, failedMachines, conditions
  Available and Progressing; deletion deletes the MachineSets, then drops the finalizer.
- MachineSet: finalizer; creates Machines (generateName "<ms>-", template labels and spec,
  controller ownerReference) up to spec.replicas; deletes surplus Machines (Terminating < Failed <
  CrashLoopBackOff < Unknown < Pending < Available < Running, then oldest first) and every Failed
  Machine (the replacement); after each DELETE it sets lastOperation "Deleting machine from cloud
  provider" / Processing / Delete and phase Terminating, as the core does; status replicas,
  availableReplicas (Running or Available), readyReplicas (Running), failedMachines.

Every action is appended to `core.log` (tuples), so tests can check the order of events.
"""
import json
import threading
import time
import traceback

API = "/apis/machine.sapcloud.io/v1alpha1/namespaces/{ns}/{plural}"
FINALIZER = "machine.sapcloud.io/machine-controller-manager"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
PHASE_ORDER = ["Terminating", "Failed", "CrashLoopBackOff", "Unknown", "Pending", "Available", "Running"]


def fnv32a(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(n):
    s = str(n)
    return "".join(ALPHABET[int(c) % len(ALPHABET)] for c in s)


def int_or_percent(v, total, round_up):
    if v is None:
        return 0
    if isinstance(v, str) and v.endswith("%"):
        p = int(v[:-1])
        return -(-p * total // 100) if round_up else p * total // 100
    return int(v)


def phase(m):
    return ((m.get("status") or {}).get("currentStatus") or {}).get("phase") or ""


def owned_by(obj, uid):
    return any(o.get("uid") == uid and o.get("controller") for o in obj["metadata"].get("ownerReferences") or [])


class MCMCore:
    def __init__(self, kube, namespace, interval=0.2):
        self.kube = kube
        self.ns = namespace
        self.interval = interval
        self.log = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = None
        self.passes = 0

    # ---- plumbing ----------------------------------------------------------------------------

    def path(self, plural, name=None):
        p = API.format(ns=self.ns, plural=plural)
        return p + "/" + name if name else p

    def list(self, plural):
        st, body = self.kube.request("GET", self.path(plural))
        if st != 200:
            raise RuntimeError(f"list {plural}: {st} {body}")
        return body.get("items") or []

    def patch(self, plural, name, patch, status=False):
        p = self.path(plural, name) + ("/status" if status else "")
        st, body = self.kube.request("PATCH", p, body=patch, content_type="application/merge-patch+json")
        return st, body

    def start(self):
        self._thread = threading.Thread(target=self._run, name="mcm-core", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - keep running; tests read self.errors
                self.errors.append(traceback.format_exc())
            self.passes += 1
            self._stop.wait(self.interval)

    def wait_passes(self, n=2, timeout=10):
        """Wait until n more complete passes ran (a positive signal that the core saw the state)."""
        target = self.passes + n
        end = time.monotonic() + timeout
        while self.passes < target and time.monotonic() < end:
            time.sleep(0.02)
        return self.passes >= target

    # ---- reconcile -----------------------------------------------------------------------------

    def reconcile(self):
        mds = self.list("machinedeployments")
        mss = self.list("machinesets")
        machines = self.list("machines")
        for md in mds:
            self.sync_md(md, mss, machines)
        mss = self.list("machinesets")
        machines = self.list("machines")
        for ms in mss:
            self.sync_ms(ms, machines)

    def ensure_finalizer(self, plural, obj):
        fins = obj["metadata"].get("finalizers") or []
        if FINALIZER in fins or obj["metadata"].get("deletionTimestamp"):
            return
        self.patch(plural, obj["metadata"]["name"], {"metadata": {
            "finalizers": fins + [FINALIZER], "resourceVersion": obj["metadata"]["resourceVersion"]}})

    def drop_finalizer(self, plural, obj):
        fins = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        self.patch(plural, obj["metadata"]["name"], {"metadata": {
            "finalizers": fins, "resourceVersion": obj["metadata"]["resourceVersion"]}})

    @staticmethod
    def template_hash(tmpl):
        md = tmpl.get("metadata") or {}
        labels = {k: v for k, v in (md.get("labels") or {}).items() if k != "machine-template-hash"}
        key = {"labels": labels, "annotations": md.get("annotations") or {},
               "class": ((tmpl.get("spec") or {}).get("class") or {}).get("name")}
        return str(fnv32a(json.dumps(key, sort_keys=True).encode()))

    def counts(self, ms, machines):
        mine = [m for m in machines if owned_by(m, ms["metadata"]["uid"])]
        avail = [m for m in mine if phase(m) in ("Running", "Available") and not m["metadata"].get("deletionTimestamp")]
        return mine, avail

    def set_ms_replicas(self, ms, n, why):
        if (ms["spec"].get("replicas") or 0) == n:
            return
        self.log.append(("scale", ms["metadata"]["name"], ms["spec"].get("replicas") or 0, n, why))
        self.patch("machinesets", ms["metadata"]["name"], {"spec": {"replicas": n}})
        ms["spec"]["replicas"] = n

    def sync_md(self, md, mss, machines):
        name = md["metadata"]["name"]
        uid = md["metadata"]["uid"]
        owned = sorted([ms for ms in mss if owned_by(ms, uid)], key=lambda s: s["metadata"]["creationTimestamp"])
        if md["metadata"].get("deletionTimestamp"):
            for ms in owned:
                if not ms["metadata"].get("deletionTimestamp"):
                    self.kube.request("DELETE", self.path("machinesets", ms["metadata"]["name"]))
            if not owned:
                self.drop_finalizer("machinedeployments", md)
            return
        self.ensure_finalizer("machinedeployments", md)
        spec = md.get("spec") or {}
        replicas = spec.get("replicas") or 0
        tmpl = spec.get("template") or {}
        h = self.template_hash(tmpl)
        new = next((ms for ms in owned if (ms["metadata"].get("labels") or {}).get("machine-template-hash") == h), None)
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = int_or_percent(ru.get("maxSurge", 1), replicas, True)
        unavail = int_or_percent(ru.get("maxUnavailable", 0), replicas, False)
        if surge == 0 and unavail == 0:
            unavail = min(1, replicas)
        old = [ms for ms in owned if ms is not new]
        if new is None:
            revs = [int((ms["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
                    for ms in owned]
            msname = f"{name}-{safe_encode(h)[:5]}"
            labels = dict((tmpl.get("metadata") or {}).get("labels") or {}, **{"machine-template-hash": h})
            sel = dict(((spec.get("selector") or {}).get("matchLabels") or {}), **{"machine-template-hash": h})
            init = replicas if not old else 0
            obj = {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineSet",
                   "metadata": {"name": msname, "namespace": self.ns, "labels": labels,
                                "annotations": {"deployment.kubernetes.io/revision": str(max(revs + [0]) + 1),
                                                "deployment.kubernetes.io/desired-replicas": str(replicas),
                                                "deployment.kubernetes.io/max-replicas": str(replicas + surge)},
                                "ownerReferences": [{"apiVersion": "machine.sapcloud.io/v1alpha1",
                                                     "kind": "MachineDeployment", "name": name, "uid": uid,
                                                     "controller": True, "blockOwnerDeletion": True}]},
                   "spec": {"replicas": init, "selector": {"matchLabels": sel},
                            "machineClass": (tmpl.get("spec") or {}).get("class") or {},
                            "template": {"metadata": {"labels": labels}, "spec": tmpl.get("spec") or {}}}}
            st, body = self.kube.request("POST", self.path("machinesets"), body=obj)
            if st >= 300:
                raise RuntimeError(f"create MachineSet {msname}: {st} {body}")
            self.log.append(("create-ms", msname, init))
            return
        # Counts straight from the Machines (status of the MachineSets may lag).
        info = {}
        for ms in owned:
            mine, avail = self.counts(ms, machines)
            info[ms["metadata"]["name"]] = (len(mine), len(avail))
        total_actual = sum(a for a, _ in info.values())
        total_spec = sum(ms["spec"].get("replicas") or 0 for ms in owned)
        if not old:
            self.set_ms_replicas(new, replicas, "scale")
        else:
            # New machine set up, within maxSurge.
            if total_actual < replicas + surge:
                want = min(replicas, (new["spec"].get("replicas") or 0) + (replicas + surge - total_actual))
                if want > (new["spec"].get("replicas") or 0):
                    self.set_ms_replicas(new, want, "rolling: surge")
            total_spec = sum(ms["spec"].get("replicas") or 0 for ms in owned)
            # Old machine sets down, within maxUnavailable.
            new_spec = new["spec"].get("replicas") or 0
            new_avail = info[new["metadata"]["name"]][1]
            max_down = total_spec - (replicas - unavail) - (new_spec - new_avail)
            if max_down > 0:
                for ms in old:
                    if max_down <= 0:
                        break
                    mine, avail = info[ms["metadata"]["name"]]
                    cur = ms["spec"].get("replicas") or 0
                    bad = max(cur - avail, 0)
                    d = min(bad, max_down, cur)
                    if d > 0:
                        self.set_ms_replicas(ms, cur - d, "rolling: drop unavailable")
                        max_down -= d
                total_avail = sum(v for _, v in info.values())
                excess = total_avail - (replicas - unavail)
                for ms in old:
                    if excess <= 0 or max_down <= 0:
                        break
                    cur = ms["spec"].get("replicas") or 0
                    d = min(cur, excess, max_down)
                    if d > 0:
                        self.set_ms_replicas(ms, cur - d, "rolling: scale down old")
                        excess -= d
                        max_down -= d
        # Complete: delete empty old machine sets.
        done = info[new["metadata"]["name"]][1] >= replicas and new["spec"].get("replicas") == replicas
        for ms in old:
            if done and (ms["spec"].get("replicas") or 0) == 0 and info[ms["metadata"]["name"]][0] == 0 \
                    and not ms["metadata"].get("deletionTimestamp"):
                self.kube.request("DELETE", self.path("machinesets", ms["metadata"]["name"]))
                self.log.append(("delete-ms", ms["metadata"]["name"]))
        # Status.
        avail_total = sum(v for _, v in info.values())
        failed = []
        for ms in owned:
            failed += (ms.get("status") or {}).get("failedMachines") or []
        available = avail_total >= replicas - unavail
        status = {"observedGeneration": md["metadata"].get("generation", 1),
                  "replicas": total_actual, "updatedReplicas": info[new["metadata"]["name"]][0],
                  "readyReplicas": avail_total, "availableReplicas": avail_total,
                  "unavailableReplicas": max(total_spec - avail_total, 0), "failedMachines": failed,
                  "conditions": [
                      {"type": "Available", "status": "True" if available else "False",
                       "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"},
                      {"type": "Progressing", "status": "True",
                       "reason": "NewMachineSetAvailable" if done and not old else "MachineSetUpdated"}]}
        if (md.get("status") or {}) != status:
            self.patch("machinedeployments", name, {"status": status}, status=True)

    def delete_machine(self, m, why):
        name = m["metadata"]["name"]
        self.log.append(("delete-machine", name, phase(m), why,
                         ((m.get("status") or {}).get("lastOperation") or {}).get("description", "")))
        self.kube.request("DELETE", self.path("machines", name))
        self.patch("machines", name, {"status": {
            "lastOperation": {"description": "Deleting machine from cloud provider", "state": "Processing",
                              "type": "Delete", "lastUpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "currentStatus": {"phase": "Terminating", "timeoutActive": False,
                              "lastUpdateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}, status=True)

    def sync_ms(self, ms, machines):
        name = ms["metadata"]["name"]
        uid = ms["metadata"]["uid"]
        mine = [m for m in machines if owned_by(m, uid)]
        if ms["metadata"].get("deletionTimestamp"):
            for m in mine:
                if not m["metadata"].get("deletionTimestamp"):
                    self.delete_machine(m, "machine set deleted")
            if not mine:
                self.drop_finalizer("machinesets", ms)
            return
        self.ensure_finalizer("machinesets", ms)
        active = [m for m in mine if not m["metadata"].get("deletionTimestamp") and phase(m) != "Terminating"]
        for m in list(active):
            if phase(m) == "Failed":
                self.delete_machine(m, "failed")
                active.remove(m)
        want = ms["spec"].get("replicas") or 0
        tmpl = ms["spec"].get("template") or {}
        if len(active) < want:
            for _ in range(min(want - len(active), 100)):
                obj = {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
                       "metadata": {"generateName": name + "-", "namespace": self.ns,
                                    "labels": dict((tmpl.get("metadata") or {}).get("labels") or {}),
                                    "ownerReferences": [{"apiVersion": "machine.sapcloud.io/v1alpha1",
                                                         "kind": "MachineSet", "name": name, "uid": uid,
                                                         "controller": True, "blockOwnerDeletion": True}]},
                       "spec": json.loads(json.dumps(tmpl.get("spec") or {}))}
                st, body = self.kube.request("POST", self.path("machines"), body=obj)
                if st >= 300:
                    raise RuntimeError(f"create Machine for {name}: {st} {body}")
                self.log.append(("create-machine", body["metadata"]["name"], name))
        elif len(active) > want:
            victims = sorted(active, key=lambda m: (PHASE_ORDER.index(phase(m)) if phase(m) in PHASE_ORDER else 4,
                                                    m["metadata"]["creationTimestamp"]))
            for m in victims[:len(active) - want]:
                self.delete_machine(m, "scale down")
        avail = [m for m in mine if phase(m) in ("Running", "Available")]
        failed = [{"name": m["metadata"]["name"], "providerID": (m.get("spec") or {}).get("providerID", ""),
                   "lastOperation": (m.get("status") or {}).get("lastOperation") or {},
                   "ownerRef": name}
                  for m in mine if ((m.get("status") or {}).get("lastOperation") or {}).get("state") == "Failed"]
        status = {"replicas": len(mine), "fullyLabeledReplicas": len(mine), "availableReplicas": len(avail),
                  "readyReplicas": len([m for m in mine if phase(m) == "Running"]),
                  "observedGeneration": ms["metadata"].get("generation", 1)}
        if failed:
            status["failedMachines"] = failed
        cur = ms.get("status") or {}
        if any(cur.get(k) != v for k, v in status.items()) or ("failedMachines" in cur and not failed):
            if not failed and "failedMachines" in cur:
                status["failedMachines"] = None
            self.patch("machinesets", name, {"status": status}, status=True)
