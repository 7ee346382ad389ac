#!/usr/bin/env python3
"""`make demo`: the extension's whole lifecycle on loopback test servers, with the examples.

Starts a seed and a shoot test kube-apiserver, the test Equinix Metal API (token and project of
example/29-cluster.yaml), the MCM core and node stand-ins (test/mcm/), applies example/20-crd-* and
29/30-*.yaml with kubectl, runs `run` and `machine-controller` with journals under DIR (./demo), and
shows Infrastructure, ControlPlane and Worker reaching Succeeded while devices go queued ->
provisioning -> active and nodes become Ready; fails one device and shows its replacement; deletes
everything; prints the `replay` timeline and an `audit` summary. Exit 0 on success, 1 with the step
that failed. Everything it starts listens on 127.0.0.1 and is stopped at the end.

    python3 test/lib/demo.py [--dir ./demo] [--quiet] [--time-scale 40]
"""
import argparse
import base64
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

LIB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("EQXM_ROOT", os.path.abspath(os.path.join(LIB, "..", "..")))
sys.path.insert(0, LIB)
sys.path.insert(0, os.path.join(ROOT, "test", "mcm"))
BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin", "gardener-extension-provider-equinix-metal"))
EX = os.path.join(ROOT, "example")
NS = "shoot--dev--demo"
API = "/apis/extensions.gardener.cloud/v1alpha1/namespaces/" + NS
TOKEN, PROJECT = "demo-api-token", "6f3c1e9a-2b4d-4c8e-9f10-0a1b2c3d4e5f"
T0 = time.monotonic()
QUIET = False


def say(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def step(msg):
    print(f"\n== {msg}", flush=True)


class DemoError(Exception):
    pass


def load(name):
    with open(os.path.join(EX, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def last_op(o):
    return ((o or {}).get("status") or {}).get("lastOperation") or {}


class Demo:
    def __init__(self, dir, time_scale):
        from kubeapi import KubeAPI
        from metalapi import MetalAPI
        from core import MCMCore
        from nodes import NodeStandIn
        self.dir = dir
        self.procs = []
        self.empty = tempfile.mkdtemp(prefix="demo-nocrds-")
        step("Test servers on 127.0.0.1")
        self.seed = KubeAPI(crd_dirs=[self.empty])
        self.shoot = KubeAPI()
        self.metal = MetalAPI(time_scale=time_scale, tokens={TOKEN: PROJECT})
        say(f"seed kube-apiserver  {self.seed.url}  (kubeconfig {self.seed.kubeconfig})")
        say(f"shoot kube-apiserver {self.shoot.url}")
        say(f"Equinix Metal API    {self.metal.url}  (time x{time_scale}: provisioning takes {60 / time_scale:.1f}s)")
        self.core = MCMCore(self.seed, NS)
        self.nodes = NodeStandIn(self.metal, self.shoot, "kubernetes.io/cluster/" + NS, ready_after=0.5)
        self.seen_states = {}

    def close(self):
        for p, log in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
            log.close()
        for x in (self.core, self.nodes):
            try:
                x.stop()
            except Exception:  # noqa: BLE001 - best effort at the end
                pass
        self.metal.stop()
        self.shoot.stop()
        self.seed.stop()
        shutil.rmtree(self.empty, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------------------------
    def kubectl(self, *args, input=None):
        p = self.seed.kubectl(*args, input=input)
        if p.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout

    def apply(self, name, docs=None):
        out = self.kubectl("apply", "-f", "-" if docs else os.path.join(EX, name),
                           input=yaml.safe_dump_all(docs) if docs else None)
        for line in out.strip().splitlines():
            say(f"kubectl apply {name}: {line}")

    def get(self, plural, name="demo"):
        st, o = self.seed.get(f"{API}/{plural}/{name}")
        return o if st == 200 else None

    def start(self, name, args):
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        p = subprocess.Popen([BIN] + args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((p, log))
        say(f"started {name} (pid {p.pid}, log {os.path.relpath(log.name)})")
        return p

    def devices(self):
        return [d for d in self.metal.state().get("devices", []) if d.get("project_id") == PROJECT]

    def ready_nodes(self):
        st, lst = self.shoot.get("/api/v1/nodes")
        out = []
        for n in (lst or {}).get("items", []):
            conds = {c["type"]: c["status"] for c in (n.get("status") or {}).get("conditions", [])}
            if conds.get("Ready") == "True":
                out.append(n["metadata"]["name"])
        return sorted(out)

    def progress(self):
        for d in self.devices():
            key = d["id"]
            st = d["state"]
            if self.seen_states.get(key) != st:
                self.seen_states[key] = st
                say(f"device {d['hostname']:<40} {st}")
        nodes = self.ready_nodes()
        if nodes != getattr(self, "_nodes", None):
            self._nodes = nodes
            say(f"shoot nodes Ready: {len(nodes)} {' '.join(nodes)}")
        for plural, kind in (("infrastructures", "Infrastructure"), ("controlplanes", "ControlPlane"), ("workers", "Worker")):
            lo = last_op(self.get(plural))
            s = (lo.get("type"), lo.get("state"), lo.get("description"))
            if lo and getattr(self, "_lo_" + kind, None) != s:
                setattr(self, "_lo_" + kind, s)
                say(f"{kind:<14} {lo.get('type')} {lo.get('state')}: {lo.get('description')}")

    def wait(self, what, cond, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.progress()
            for p, log in self.procs:
                if p.poll() is not None:
                    raise DemoError(f"{os.path.basename(log.name)} exited with {p.returncode} while waiting for {what}; "
                                    f"see {os.path.relpath(log.name)}")
            r = cond()
            if r:
                return r
            time.sleep(0.1)
        raise DemoError(f"timed out after {timeout}s waiting for {what}; logs are in {os.path.relpath(self.dir)}/")

    def succeeded(self, plural):
        def f():
            o = self.get(plural)
            ann = ((o or {}).get("metadata") or {}).get("annotations") or {}
            return o if last_op(o).get("state") == "Succeeded" and "gardener.cloud/operation" not in ann else None
        return f

    # ---- the story --------------------------------------------------------------------------
    def run(self):
        step("The seed's CRDs and shoot namespace (example/20-crd-*.yaml, 29-cluster.yaml)")
        args = []
        for c in sorted(glob.glob(os.path.join(EX, "20-crd-*.yaml"))):
            args += ["-f", c]
        out = self.kubectl("apply", *args)
        say(f"kubectl apply: {out.count('created') + out.count('configured')} CRDs")
        self.apply("29-cluster.yaml")
        self.core.start()
        self.nodes.start()
        say("MCM core stand-in (MachineDeployment/MachineSet controllers) and node stand-in (a Node per active "
            "device) running: test/mcm/, not Gardener's real components")

        step("The extension controller and the machine controller")
        journal = os.path.join(self.dir, "journal.db")
        self.start("controller", [
            "run", "--kubeconfig", self.seed.kubeconfig, "--journal", journal,
            "--config-file", os.path.join(EX, "00-componentconfig.yaml"),
            "--image-vector", os.path.join(ROOT, "providers/equinix-metal/imagevector/images.yaml"),
            "--metal-api-url", self.metal.url, "--metal-ca-file", self.metal.ca,
            "--leader-election=false", "--leader-election-namespace", "kube-system",
            "--metal-poll-seconds", "1", "--metal-poll-fast-seconds", "1",
            "--metrics-bind-address", "127.0.0.1:0", "--health-bind-address", "127.0.0.1:0",
            "--disable-webhooks", "*", "--log-format", "json"])
        self.mc_journal = os.path.join(self.dir, "machine-controller.db")
        self.start("machine-controller", [
            "machine-controller", "--namespace", NS, "--control-kubeconfig", self.seed.kubeconfig,
            "--target-kubeconfig", self.shoot.kubeconfig, "--journal", self.mc_journal,
            "--metal-api-url", self.metal.url, "--metal-ca-file", self.metal.ca, "--leader-elect=false",
            "--port=0", "--address=127.0.0.1", "--metal-poll-seconds=1", "--metal-poll-fast-seconds=1",
            "--machine-health-timeout=5s", "--log-format", "json"])

        step("Infrastructure (example/30-infrastructure.yaml): the project SSH key")
        self.apply("30-infrastructure.yaml")
        infra = self.wait("the Infrastructure to succeed", self.succeeded("infrastructures"))
        ssh_key = infra["status"]["providerStatus"]["sshKeyID"]
        keys = [k for k in self.metal.state().get("ssh_keys", []) if k.get("id") == ssh_key]
        say(f"SSH key {ssh_key} ({keys[0]['label'] if keys else '?'}) exists on Equinix Metal: {bool(keys)}")
        if not keys:
            raise DemoError("the Infrastructure reports an SSH key that Equinix Metal does not have")

        # gardenlet keeps the shoot's kubeconfig in Secret gardener (and gardener-internal) of the shoot namespace.
        with open(self.shoot.kubeconfig, "rb") as f:
            kubeconfig = base64.b64encode(f.read()).decode()
        st, o = self.seed.create(f"/api/v1/namespaces/{NS}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gardener", "namespace": NS},
            "type": "Opaque", "data": {"kubeconfig": kubeconfig}})
        if st >= 300:
            raise DemoError(f"cannot write Secret {NS}/gardener: {o}")
        say("Secret gardener (the shoot's kubeconfig, as gardenlet writes it) created")

        step("ControlPlane and Worker (30-controlplane.yaml, 30-worker.yaml; the SSH key ID from the Infrastructure, as gardenlet copies it)")
        for name in ("30-controlplane.yaml", "30-worker.yaml"):
            docs = load(name)
            for d in docs:
                ips = (d.get("spec") or {}).get("infrastructureProviderStatus")
                if ips:
                    ips["sshKeyID"] = ssh_key
            self.apply(name, docs)
        self.wait("the ControlPlane to succeed", self.succeeded("controlplanes"))
        st, mrs = self.seed.get(f"/apis/resources.gardener.cloud/v1alpha1/namespaces/{NS}/managedresources")
        say("ControlPlane shipped the CCM and MetalLB as ManagedResources: "
            + " ".join(m["metadata"]["name"] for m in (mrs or {}).get("items", []))
            + " (no resource manager runs here, so they are not deployed further)")
        pool = load("30-worker.yaml")[-1]["spec"]["pools"][0]
        want = pool["minimum"]
        self.wait(f"{want} devices active and {want} nodes Ready and the Worker Succeeded",
                  lambda: len([d for d in self.devices() if d["state"] == "active"]) == want
                  and len(self.ready_nodes()) == want and self.succeeded("workers")(), timeout=90)
        say(f"Worker Succeeded with {want} machines")
        st, lst = self.shoot.get("/api/v1/nodes")
        nets = sorted({(n["metadata"].get("annotations") or {}).get("metal.equinix.com/network-4-private", "-")
                       for n in (lst or {}).get("items", [])})
        infra = self.get("infrastructures") or {}
        say(f"nodes annotated metal.equinix.com/network-4-private={','.join(nets)}; Infrastructure "
            f"status.nodesCIDR={(infra.get('status') or {}).get('nodesCIDR')}")
        if "-" in nets or not (infra.get("status") or {}).get("nodesCIDR"):
            raise DemoError("the Worker did not annotate every node with its private network, or did not "
                            "report status.nodesCIDR to the Infrastructure")

        step("A device fails: its machine is replaced")
        victim = sorted((d for d in self.devices() if d["state"] == "active"), key=lambda d: d["hostname"])[0]
        self.metal.set_device_state(victim["id"], "failed", hold=True)
        say(f"forced device {victim['hostname']} ({victim['id']}) to failed on the test Metal API")
        self.wait("a replacement device active and the failed one deleted",
                  lambda: len([d for d in self.devices() if d["state"] == "active" and d["id"] != victim["id"]]) == want
                  and next(d for d in self.devices() if d["id"] == victim["id"])["state"] in ("deprovisioning", "deleted")
                  and len(self.ready_nodes()) == want, timeout=90)
        say(f"replaced: {want} devices active again, {victim['hostname']} deprovisioned")

        step("Delete everything (Worker, ControlPlane, Infrastructure)")
        for kind in ("worker", "controlplane", "infrastructure"):
            self.kubectl("delete", kind, "-n", NS, "demo", "--wait=false")
            say(f"kubectl delete {kind} demo")
        self.wait("the Worker, ControlPlane and Infrastructure to be gone, devices deleted, SSH key removed",
                  lambda: all(self.get(p) is None for p in ("workers", "controlplanes", "infrastructures"))
                  and all(d["state"] == "deleted" for d in self.devices())
                  and not [k for k in self.metal.state().get("ssh_keys", []) if k.get("id") == ssh_key and not k.get("deleted")],
                  timeout=90)
        say(f"all gone: {len(self.devices())} devices deleted, SSH key {ssh_key} removed")

        step("Stop the controllers (SIGTERM)")
        for p, log in self.procs:
            p.terminate()
        for p, log in self.procs:
            rc = p.wait(timeout=30)
            say(f"{os.path.basename(log.name)[:-4]} exited with {rc}")
            if rc != 0:
                raise DemoError(f"{os.path.basename(log.name)} exited with {rc}; see {os.path.relpath(log.name)}")

        step("replay: the decisions of the controller, from its journal (full timeline in demo/replay.txt)")
        p = subprocess.run([BIN, "replay", journal], capture_output=True, text=True, timeout=120)
        with open(os.path.join(self.dir, "replay.txt"), "w") as f:
            f.write(p.stdout)
        if p.returncode != 0:
            raise DemoError(f"replay failed: {p.stderr.strip()}")
        lines = p.stdout.splitlines()
        shown = [l for l in lines if " Worker " in l or " Infrastructure " in l or " ControlPlane " in l or l.startswith("  +")]
        for l in (shown[:40] if QUIET is False else shown[:10]):
            print(l)
        print(f"... {len(lines)} lines in {os.path.relpath(os.path.join(self.dir, 'replay.txt'))}")
        p = subprocess.run([BIN, "replay", "--check", "--quiet", journal], capture_output=True, text=True, timeout=120)
        say(f"replay --check: {'the journal yields the same actions' if p.returncode == 0 else 'DIFFERENT: ' + p.stdout + p.stderr}")
        if p.returncode != 0:
            raise DemoError("replay --check found a difference")

        step("audit operations: the reconcile history")
        p = subprocess.run([BIN, "audit", "operations", journal], capture_output=True, text=True, timeout=120)
        print(p.stdout.rstrip())
        if p.returncode != 0:
            raise DemoError(f"audit failed: {p.stderr.strip()}")
        for kind in ("Infrastructure", "ControlPlane", "Worker"):
            if kind not in p.stdout:
                raise DemoError(f"audit operations shows no {kind} operation")
        for j in (journal, self.mc_journal):
            p = subprocess.run([BIN, "journal", "verify", j], capture_output=True, text=True, timeout=120)
            say(f"journal verify {os.path.relpath(j)}: {'intact' if p.returncode == 0 else p.stdout + p.stderr}")
            if p.returncode != 0:
                raise DemoError(f"journal verify {j} failed")


def main():
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.path.join(os.getcwd(), "demo"), help="journals and logs (default ./demo, recreated)")
    ap.add_argument("--time-scale", type=float, default=40.0, help="Metal device seconds per real second (default 40)")
    ap.add_argument("--quiet", action="store_true", help="shorter replay excerpt")
    a = ap.parse_args()
    QUIET = a.quiet
    if not os.access(BIN, os.X_OK):
        print(f"demo: {BIN} is missing; run 'make' first (make demo builds it)", file=sys.stderr)
        return 1
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    os.environ["EQXM_ROOT"] = ROOT
    d = None
    try:
        d = Demo(a.dir, a.time_scale)
        d.run()
    except DemoError as e:
        print(f"\ndemo FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if d:
            d.close()
    print(f"\ndemo: done in {time.monotonic() - T0:.1f}s; journals and logs in {os.path.relpath(a.dir)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
