"""End-to-end harness: the test kube-apiserver, the test Metal API and the real controller binary.

    from e2e import Env
    with Env() as env:
        env.shoot("shoot--foo--bar")                 # Namespace, cloudprovider Secret, Cluster
        env.infrastructure("shoot--foo--bar")        # an equinixmetal Infrastructure
        c = env.controller()                          # `run` with a journal in env.dir
        obj = env.wait_infra("shoot--foo--bar", lambda o: state(o) == "Succeeded")
        c.stop()                                      # SIGTERM; returns the exit code

Everything lives in a temporary directory removed at the end (EQXM_KEEP_TMP=1 keeps it).
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from kubeapi import KubeAPI
from metalapi import MetalAPI

ROOT = os.environ.get("EQXM_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin", "gardener-extension-provider-equinix-metal"))
INFRA = "/apis/extensions.gardener.cloud/v1alpha1/namespaces/{ns}/infrastructures"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def ssh_key_for(name):
    """A well-formed ed25519 public key of its own for each shoot (Equinix Metal refuses the same
    public key twice in a project)."""
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(name.encode()).digest()
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + " " + name


def last_op(obj):
    return ((obj or {}).get("status") or {}).get("lastOperation") or {}


class Controller:
    """One `run` process. Logs (JSON lines) go to a file; stop() sends SIGTERM."""

    def __init__(self, env, args, name="controller", command="run"):
        self.env = env
        self.log_path = os.path.join(env.dir, f"{name}-{int(time.time() * 1000)}.log")
        self._log = open(self.log_path, "wb")
        self.args = [BIN, command] + args
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.returncode = None

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_lines(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def wait_log(self, msg, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in self.log_lines():
                if l.get("msg") == msg:
                    return l
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the controller did not log {msg!r} (exit {self.proc.poll()}):\n{self.logs()[-4000:]}")

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode

    def kill(self):
        return self.stop(sig=signal.SIGKILL)


class Env:
    def __init__(self, time_scale=200.0, metal_token=None, project=None, seed_crds=True):
        self.dir = tempfile.mkdtemp(prefix="eqxm-e2e-")
        # seed_crds (default): also serve the seed's CRDs (machine.sapcloud.io, VPA, ManagedResource, ...).
        specs = os.environ.get("EQXM_SPECS", os.path.join(ROOT, "test", "specs"))
        self.kube = KubeAPI(crd_dirs=[os.path.join(specs, "gardener-crds"), os.path.join(specs, "seed-crds")]
                            if seed_crds else None)
        self.project = project or str(uuid.uuid4())
        self.token = metal_token or "tok-" + uuid.uuid4().hex
        self.metal = MetalAPI(time_scale=time_scale, tokens={self.token: self.project})
        self.journal = os.path.join(self.dir, "journal.db")
        self.controllers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for c in self.controllers:
            c.stop()
        self.metal.stop()
        self.kube.stop()
        if os.environ.get("EQXM_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- objects ----------------------------------------------------------------------------

    def _ok(self, status, obj, what):
        if status >= 300:
            raise AssertionError(f"{what} failed with {status}: {obj}")
        return obj

    def shoot(self, ns, token=None, project=None, shoot_state="Succeeded", annotations=None):
        k = self.kube
        self._ok(*k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}}), "create namespace")
        self.secret(ns, token if token is not None else self.token, project or self.project)
        shoot = {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
                 "metadata": {"name": ns.split("--")[-1], "namespace": "garden-" + ns.split("--")[1],
                              "annotations": annotations or {}},
                 "spec": {"region": "ny", "provider": {"type": "equinixmetal"}},
                 "status": {"lastOperation": {"type": "Reconcile", "state": shoot_state, "progress": 100}}}
        cluster = {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
                   "metadata": {"name": ns},
                   "spec": {"cloudProfile": {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile"},
                            "seed": {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Seed"},
                            "shoot": shoot}}
        return self._ok(*k.create("/apis/extensions.gardener.cloud/v1alpha1/clusters", cluster), "create cluster")

    def secret(self, ns, token, project, name="cloudprovider"):
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                "type": "Opaque", "data": {"apiToken": b64(token), "projectID": b64(project)}}
        st, obj = self.kube.create(f"/api/v1/namespaces/{ns}/secrets", body)
        if st == 409:
            st, obj = self.kube.patch(f"/api/v1/namespaces/{ns}/secrets/{name}", {"data": body["data"]})
        return self._ok(st, obj, "write secret")

    def infrastructure(self, ns, name="infrastructure", annotate=True, ssh_key=None, provider_config=None):
        ssh_key = ssh_key or ssh_key_for(ns)
        obj = {"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Infrastructure",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"type": "equinixmetal", "region": "ny",
                        "secretRef": {"name": "cloudprovider", "namespace": ns},
                        "sshPublicKey": b64(ssh_key)}}
        if annotate:
            obj["metadata"]["annotations"] = {"gardener.cloud/operation": "reconcile"}
        if provider_config is not None:
            obj["spec"]["providerConfig"] = provider_config
        return self._ok(*self.kube.create(INFRA.format(ns=ns), obj), "create infrastructure")

    def get_infra(self, ns, name="infrastructure"):
        st, obj = self.kube.get(INFRA.format(ns=ns) + "/" + name)
        return obj if st == 200 else None

    def wait_infra(self, ns, pred, name="infrastructure", timeout=30, controller=None):
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            obj = self.get_infra(ns, name)
            if pred(obj):
                return obj
            if controller is not None and not controller.running():
                break
            time.sleep(0.05)
        logs = controller.logs()[-3000:] if controller else ""
        raise AssertionError(f"Infrastructure {ns}/{name} did not reach the expected state; last seen:\n"
                             f"{json.dumps(obj, indent=1)[:3000]}\n{logs}")

    def ssh_key_posts(self, label):
        """POST requests that tried to create the key with this label."""
        out = []
        for r in self.metal.requests():
            if r["method"] == "POST" and r["path"].endswith("/ssh-keys"):
                body = r.get("body") or {}
                if isinstance(body, dict) and body.get("label") == label:
                    out.append(r)
        return out

    def ssh_keys(self, label=None):
        keys = self.metal.state().get("ssh_keys", [])
        keys = [k for k in keys if not k.get("deleted")]
        return [k for k in keys if label is None or k.get("label") == label]

    # ---- the controller ---------------------------------------------------------------------

    def controller(self, *extra, journal=None, leader_election=False, webhooks=False, name="controller"):
        args = ["--kubeconfig", self.kube.kubeconfig, "--journal", journal or self.journal,
                "--metal-api-url", self.metal.url, "--metal-ca-file", self.metal.ca,
                "--leader-election=" + ("true" if leader_election else "false"),
                "--leader-election-namespace", "kube-system",
                "--metrics-bind-address", "127.0.0.1:0", "--health-bind-address", "127.0.0.1:0",
                "--log-format", "json", "--log-level", "debug"]
        if not webhooks:
            args += ["--disable-webhooks", "*"]
        args += list(extra)
        c = Controller(self, args, name=name)
        self.controllers.append(c)
        return c

    def replay_check(self, journal=None):
        """Run `replay --check` on a journal: (exit code, output)."""
        p = subprocess.run([BIN, "replay", "--check", "--quiet", journal or self.journal],
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout + p.stderr
