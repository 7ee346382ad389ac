"""A test stand-in for the nodes of a shoot: kubelets that register when their Equinix Metal device
becomes active.

    from nodes import NodeStandIn
    n = NodeStandIn(metal, shoot, cluster_tag="kubernetes.io/cluster/shoot--foo--bar")
    n.start()                         # a thread polling the test Metal API every `interval` seconds
    n.never_ready(r"^pool-a-")        # fault: these nodes register but never become Ready
    n.not_ready("pool-a-abcde")       # fault: a Ready node turns NotReady (kubelet stopped)
    n.ready("pool-a-abcde")           # ... and Ready again
    n.stop()

metal is a test/lib/metalapi.MetalAPI, shoot a test/lib/kubeapi.KubeAPI playing the shoot's
kube-apiserver. For every device of the cluster (tag) that is `active` in /_test/state, a Node named
after the device's hostname registers with spec.providerID `equinixmetal://<device id>` (the form the
Equinix CCM writes), the label kubernetes.io/hostname, the taint
node.gardener.cloud/critical-components-not-ready:NoSchedule and Ready=False; after `ready_after`
seconds it becomes Ready=True and the taint goes (gardener-node-agent's job). The other conditions
(DiskPressure, ...) are False. The userdata the device was created with is kept per hostname
(`n.userdata[hostname]`), so tests can check the bootstrap token and machine name substitution.
"""
import re
import threading
import time
import traceback

TAINT = "node.gardener.cloud/critical-components-not-ready"


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class NodeStandIn:
    def __init__(self, metal, shoot, cluster_tag=None, interval=0.2, ready_after=0.3):
        self.metal = metal
        self.shoot = shoot
        self.tag = cluster_tag
        self.interval = interval
        self.ready_after = ready_after
        self.registered = {}  # hostname -> (device id, time registered)
        self.userdata = {}
        self._never = []
        self._down = set()
        self._stop = threading.Event()
        self._thread = None
        self.errors = []
        self.passes = 0
        self.lock = threading.Lock()

    def start(self):
        self._thread = threading.Thread(target=self._run, name="node-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def never_ready(self, hostname_regex):
        with self.lock:
            self._never.append(re.compile(hostname_regex))

    def not_ready(self, hostname):
        with self.lock:
            self._down.add(hostname)

    def ready(self, hostname):
        with self.lock:
            self._down.discard(hostname)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception:  # noqa: BLE001
                self.errors.append(traceback.format_exc())
            self.passes += 1
            self._stop.wait(self.interval)

    def conditions(self, ready):
        t = _now()
        out = [{"type": "Ready", "status": "True" if ready else "False",
                "reason": "KubeletReady" if ready else "KubeletNotReady",
                "lastHeartbeatTime": t, "lastTransitionTime": t}]
        for c in ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"):
            out.append({"type": c, "status": "False", "reason": "Fine", "lastHeartbeatTime": t,
                        "lastTransitionTime": t})
        return out

    def sync(self):
        devices = self.metal.state().get("devices", [])
        st, body = self.shoot.request("GET", "/api/v1/nodes")
        nodes = {n["metadata"]["name"]: n for n in (body or {}).get("items") or []} if st == 200 else {}
        for d in devices:
            if d.get("state") != "active" or d.get("deleted_at"):
                continue
            if self.tag and self.tag not in (d.get("tags") or []):
                continue
            host = d.get("hostname")
            if not host:
                continue
            if host not in self.registered or self.registered[host][0] != d["id"]:
                node = {"apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": host, "labels": {"kubernetes.io/hostname": host}},
                        "spec": {"providerID": "equinixmetal://" + d["id"],
                                 "taints": [{"key": TAINT, "effect": "NoSchedule"}]}}
                st, body = self.shoot.request("POST", "/api/v1/nodes", body=node)
                if st == 409:
                    st, body = self.shoot.request("GET", "/api/v1/nodes/" + host)
                    if st == 200 and (body.get("spec") or {}).get("providerID") != "equinixmetal://" + d["id"]:
                        # a Node of an earlier device with the same hostname: replace it.
                        self.shoot.request("DELETE", "/api/v1/nodes/" + host)
                        continue
                if st >= 300:
                    continue
                self.shoot.request("PATCH", f"/api/v1/nodes/{host}/status",
                                   body={"status": {"conditions": self.conditions(False)}},
                                   content_type="application/merge-patch+json")
                self.registered[host] = (d["id"], time.monotonic())
                self.userdata[host] = d.get("userdata")
                continue
            node = nodes.get(host)
            if node is None:
                continue
            with self.lock:
                never = any(r.search(host) for r in self._never)
                down = host in self._down
            want_ready = not never and not down and \
                time.monotonic() - self.registered[host][1] >= self.ready_after
            cur = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
            if (cur.get("Ready") == "True") != want_ready:
                self.shoot.request("PATCH", f"/api/v1/nodes/{host}/status",
                                   body={"status": {"conditions": self.conditions(want_ready)}},
                                   content_type="application/merge-patch+json")
            taints = (node.get("spec") or {}).get("taints") or []
            if want_ready and any(t.get("key") == TAINT for t in taints):
                self.shoot.request("PATCH", f"/api/v1/nodes/{host}",
                                   body={"spec": {"taints": [t for t in taints if t.get("key") != TAINT] or None}},
                                   content_type="application/merge-patch+json")
