"""Harness of the machine controller tests: a seed and a shoot (two test kube-apiservers), the test
Metal API, the MCM core stand-in, the node stand-in and the real `machine-controller` binary.

    from machine_env import MachineEnv
    with MachineEnv() as env:
        env.pool("pool-a", replicas=3)             # class Secret, MachineClass, MachineDeployment
        c = env.controller()                        # machine-controller with a journal in env.dir
        env.wait_machines(lambda ms: len(ms) == 3 and all(phase(m) == "Running" for m in ms))
"""
import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

from e2e import BIN, ROOT, Controller
from kubeapi import KubeAPI
from metalapi import MetalAPI

sys.path.insert(0, os.path.join(ROOT, "test", "mcm"))
from core import MCMCore  # noqa: E402
from nodes import NodeStandIn  # noqa: E402

SPECS = os.environ.get("EQXM_SPECS", os.path.join(ROOT, "test", "specs"))
MCM = "/apis/machine.sapcloud.io/v1alpha1/namespaces/{ns}/{plural}"
USERDATA = ("#cloud-config\nwrite_files:\n- path: /var/lib/gardener-node-agent/credentials/bootstrap-token\n"
            "  content: <<BOOTSTRAP_TOKEN>>\n- path: /var/lib/gardener-node-agent/machine-name\n"
            "  content: <<MACHINE_NAME>>\n")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def phase(m):
    return ((m.get("status") or {}).get("currentStatus") or {}).get("phase") or ""


def last_op(m):
    return (m.get("status") or {}).get("lastOperation") or {}


def run_scenario(t, main):
    """Run main(env) in a fresh MachineEnv; an AssertionError (a wait that timed out) becomes one
    failed test with its message, then the plan is closed."""
    with MachineEnv() as env:
        try:
            main(env)
        except AssertionError as e:
            t.ok(False, "the scenario completed", diag=str(e)[-6000:])
    t.done()


def stop_and_replay_check(t, env, c):
    """The end of every scenario: the controller exits 0 on SIGTERM and the journal replays
    without a difference."""
    t.eq(0, c.stop(), "SIGTERM exits 0")
    rc, out = env.replay_check()
    t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])


class MachineEnv:
    def __init__(self, ns="shoot--foo--bar", time_scale=200.0, node_ready_after=0.3, core=True, nodes=True):
        self.dir = tempfile.mkdtemp(prefix="eqxm-mc-")
        self.ns = ns
        self.seed = KubeAPI(crd_dirs=[os.path.join(SPECS, "gardener-crds"), os.path.join(SPECS, "seed-crds")])
        self.shoot = KubeAPI()
        self.project = str(uuid.uuid4())
        self.token = "tok-" + uuid.uuid4().hex
        self.metal = MetalAPI(time_scale=time_scale, tokens={self.token: self.project})
        self.journal = os.path.join(self.dir, "machine-controller.db")
        self.controllers = []
        self.cluster_tag = "kubernetes.io/cluster/" + ns
        self.core = MCMCore(self.seed, ns) if core else None
        self.nodes = NodeStandIn(self.metal, self.shoot, self.cluster_tag, ready_after=node_ready_after) \
            if nodes else None
        self._ok(*self.seed.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": ns}}), "create namespace")
        self._ok(*self.seed.create(f"/api/v1/namespaces/{ns}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudprovider", "namespace": ns},
            "type": "Opaque", "data": {"apiToken": b64(self.token), "projectID": b64(self.project)}}),
            "create the cloudprovider secret")
        if self.core:
            self.core.start()
        if self.nodes:
            self.nodes.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for c in self.controllers:
            c.stop()
        if self.core:
            self.core.stop()
        if self.nodes:
            self.nodes.stop()
        self.metal.stop()
        self.seed.stop()
        self.shoot.stop()
        if os.environ.get("EQXM_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _ok(status, obj, what):
        if status >= 300:
            raise AssertionError(f"{what} failed with {status}: {obj}")
        return obj

    def path(self, plural, name=None):
        p = MCM.format(ns=self.ns, plural=plural)
        return p + "/" + name if name else p

    # ---- objects ----------------------------------------------------------------------------

    def machine_class(self, name, plan="c3.small.x86", metro="sv", os_slug="flatcar_stable", userdata=USERDATA,
                      reservation_ids=None, reserved_only=False, extra=None):
        """A class Secret and a MachineClass with the providerSpec the Worker controller writes."""
        sec = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": self.ns, "labels": {"gardener.cloud/purpose": "machineclass"}},
               "type": "Opaque", "data": {"userData": b64(userdata)}}
        st, obj = self.seed.create(f"/api/v1/namespaces/{self.ns}/secrets", sec)
        if st == 409:
            self.seed.patch(f"/api/v1/namespaces/{self.ns}/secrets/{name}", {"data": sec["data"]})
        spec = {"projectID": self.project, "OS": os_slug, "billingCycle": "hourly", "machineType": plan,
                "metro": metro, "sshKeys": [], "tags": [self.cluster_tag, "kubernetes.io/role/node"]}
        if reservation_ids is not None:
            spec["reservationIDs"] = reservation_ids
        if reserved_only:
            spec["reservedDevicesOnly"] = True
        spec.update(extra or {})
        mc = {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineClass",
              "metadata": {"name": name, "namespace": self.ns}, "provider": "EquinixMetal",
              "providerSpec": spec, "secretRef": {"name": name, "namespace": self.ns},
              "credentialsSecretRef": {"name": "cloudprovider", "namespace": self.ns}}
        st, obj = self.seed.create(self.path("machineclasses"), mc)
        if st == 409:
            st, obj = self.seed.patch(self.path("machineclasses", name), {"providerSpec": spec})
        return self._ok(st, obj, "write machine class")

    def pool(self, name, replicas, cls=None, max_surge=1, max_unavailable=0, machine_config=None, **class_args):
        cls = cls or f"{name}-cls1"
        self.machine_class(cls, **class_args)
        tmpl_spec = {"class": {"kind": "MachineClass", "name": cls}}
        tmpl_spec.update(machine_config or {})
        md = {"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineDeployment",
              "metadata": {"name": name, "namespace": self.ns, "labels": {"worker.gardener.cloud/pool": name}},
              "spec": {"replicas": replicas, "minReadySeconds": 0, "revisionHistoryLimit": 0,
                       "selector": {"matchLabels": {"name": name}},
                       "strategy": {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
                       "template": {"metadata": {"labels": {"name": name}}, "spec": tmpl_spec}}}
        return self._ok(*self.seed.create(self.path("machinedeployments"), md), "create machine deployment")

    def scale(self, pool, replicas):
        return self._ok(*self.seed.patch(self.path("machinedeployments", pool), {"spec": {"replicas": replicas}}),
                        "scale")

    def set_class(self, pool, cls):
        return self._ok(*self.seed.patch(self.path("machinedeployments", pool),
                                         {"spec": {"template": {"spec": {"class": {"kind": "MachineClass",
                                                                                    "name": cls}}}}}), "set class")

    def machines(self, pool=None):
        st, body = self.seed.get(self.path("machines"))
        items = (body or {}).get("items") or []
        if pool:
            items = [m for m in items if (m["metadata"].get("labels") or {}).get("name") == pool]
        return items

    def machine(self, name):
        st, body = self.seed.get(self.path("machines", name))
        return body if st == 200 else None

    def devices(self, live=True):
        ds = self.metal.state().get("devices", [])
        if live:
            ds = [d for d in ds if d.get("state") not in ("deleted",) and not d.get("deleted_at")]
        return ds

    def node(self, name):
        st, body = self.shoot.get("/api/v1/nodes/" + name)
        return body if st == 200 else None

    def nodes_list(self):
        st, body = self.shoot.get("/api/v1/nodes")
        return (body or {}).get("items") or []

    # ---- the controller ---------------------------------------------------------------------------

    def controller(self, *extra, journal=None, name="machine-controller", leader_election=False):
        args = ["--namespace", self.ns, "--control-kubeconfig", self.seed.kubeconfig,
                "--target-kubeconfig", self.shoot.kubeconfig, "--journal", journal or self.journal,
                "--metal-api-url", self.metal.url, "--metal-ca-file", self.metal.ca,
                "--leader-elect=" + ("true" if leader_election else "false"),
                "--port=0", "--address=127.0.0.1", "--metal-poll-seconds=1", "--metal-poll-fast-seconds=1",
                "--log-format", "json", "--log-level", "debug"]
        args += list(extra)
        c = Controller(self, args, name=name, command="machine-controller")
        self.controllers.append(c)
        return c

    def wait(self, what, fn, timeout=60, controller=None, interval=0.1):
        """Wait for fn() to return a true value (returned); raise with the last value otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            if controller is not None and not controller.running():
                break
            time.sleep(interval)
        logs = controller.logs()[-4000:] if controller else ""
        errs = (self.core.errors[-2:] if self.core else []) + (self.nodes.errors[-2:] if self.nodes else [])
        raise AssertionError(f"timed out waiting for {what}; machines:\n"
                             + json.dumps([(m["metadata"]["name"], phase(m), last_op(m).get("description"))
                                           for m in self.machines()], indent=1)
                             + f"\nstand-in errors: {errs}\n{logs}")

    def wait_running(self, counts, timeout=int(os.environ.get("EQXM_MC_TIMEOUT", "90")), controller=None):
        """counts: {pool: n}; wait until exactly n Machines of each pool exist and all are Running."""
        def ok():
            for pool, n in counts.items():
                ms = self.machines(pool)
                if len(ms) != n or not all(phase(m) == "Running" for m in ms):
                    return False
            return True
        return self.wait(f"machines running {counts}", ok, timeout=timeout, controller=controller)

    def journal_verify(self, journal=None):
        p = subprocess.run([BIN, "journal", "verify", journal or self.journal], capture_output=True, text=True,
                           timeout=120)
        return p.returncode, p.stdout + p.stderr

    def replay_check(self, journal=None):
        p = subprocess.run([BIN, "replay", "--check", "--quiet", journal or self.journal],
                           capture_output=True, text=True, timeout=300)
        return p.returncode, p.stdout + p.stderr

    def journal_text(self, journal=None):
        """Every payload in the journal, as one string (to search for secrets)."""
        con = sqlite3.connect(journal or self.journal)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(events)")]
            col = "payload" if "payload" in cols else cols[-1]
            return "\n".join(str(r[0]) for r in con.execute(f"SELECT {col} FROM events"))
        finally:
            con.close()

    def idem_tags(self, device):
        return [t for t in device.get("tags") or [] if t.startswith("gardener.cloud/idempotency-key=")]

    @staticmethod
    def token_of(userdata):
        m = re.search(r"bootstrap-token\n  content: (\S+)", userdata or "")
        return m.group(1) if m else None
