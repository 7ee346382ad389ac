"""Helpers for the webhook integration tests: run `webhook serve`, talk raw HTTP over TLS, apply JSON
patches, and load Kubernetes objects into the test kube-apiserver.

    from whtest import Webhook, https_request, apply_patch
    with Webhook(["--standalone", "--webhook-config-cert-dir", d]) as w:
        st, hdrs, body = https_request(w.port, "GET", "/healthz", cafile=ca, hostname="localhost")
"""
import base64
import copy
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

BIN = os.environ.get("EQXM_BIN", os.path.join(os.environ.get("EQXM_ROOT", "."), "bin",
                                              "gardener-extension-provider-equinix-metal"))
SERVICE_NAME = "gardener-extension-provider-equinix-metal"


class Webhook:
    """`webhook serve` on 127.0.0.1 and a free port. Log lines (JSON) are collected in self.logs."""

    def __init__(self, args, env=None, wait_tls=True, start_timeout=30.0):
        cmd = [BIN, "webhook", "serve", "--webhook-config-server-host=127.0.0.1", "--webhook-config-server-port=0"]
        cmd += list(args)
        self.logs = []
        self.raw = []
        self._cond = threading.Condition()
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=e)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            line = self.wait_log("webhook server listening", start_timeout)
            self.port = int(line["port"])
            if wait_tls:
                self.wait_log("webhook server is serving TLS", start_timeout)
        except Exception:
            self.stop()
            raise

    def _read(self):
        for raw in self.proc.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                self.raw.append(text)
                try:
                    self.logs.append(json.loads(text))
                except ValueError:
                    pass
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_log(self, msg, timeout=20.0, start=0):
        """The first log line (from index start) whose msg is msg; raises TimeoutError."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.logs[start:]:
                    if line.get("msg") == msg:
                        return line
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"webhook server exited ({self.proc.returncode}) before logging {msg!r}:\n"
                                       + "\n".join(self.raw[-30:]))
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no log line {msg!r} within {timeout}s:\n" + "\n".join(self.raw[-30:]))
                self._cond.wait(min(left, 0.2))

    def log_count(self, msg):
        with self._cond:
            return sum(1 for line in self.logs if line.get("msg") == msg)

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def tls_context(cafile=None, cadata=None, verify=True, minimum=None, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if cafile:
            ctx.load_verify_locations(cafile=cafile)
        if cadata:
            ctx.load_verify_locations(cadata=cadata)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def tls_connect(port, ctx, hostname="localhost", timeout=10.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=hostname)
    except Exception:
        raw.close()
        raise


def read_response(sock):
    """Read one HTTP/1.1 response with Content-Length: (status, headers dict lower-case, body bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the response headers ({buf[:200]!r})")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the response body")
        rest += chunk
    return status, headers, rest[:n]


def https_request(port, method, path, body=None, ctx=None, hostname="localhost", headers=None, timeout=10.0,
                  content_type="application/json"):
    """One request on a fresh TLS connection."""
    ctx = ctx or tls_context(verify=False)
    s = tls_connect(port, ctx, hostname, timeout)
    try:
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        h = {"Host": hostname, "Connection": "close"}
        if body is not None:
            h["Content-Type"] = content_type
            h["Content-Length"] = str(len(data))
        h.update(headers or {})
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        s.sendall(req.encode() + data)
        return read_response(s)
    finally:
        s.close()


def review_response(port, path, review, ctx=None, hostname="localhost"):
    """POST an AdmissionReview; returns (http status, response document, decoded patch or None)."""
    st, _, body = https_request(port, "POST", path, review, ctx=ctx, hostname=hostname)
    doc = json.loads(body)
    patch = None
    resp = doc.get("response") or {}
    if "patch" in resp:
        patch = json.loads(base64.b64decode(resp["patch"]))
    return st, doc, patch


# ---- JSON patch (RFC 6902) ------------------------------------------------------------------------

def _tokens(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"bad pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _parent(doc, tokens):
    cur = doc
    for t in tokens[:-1]:
        cur = cur[int(t)] if isinstance(cur, list) else cur[t]
    return cur


def apply_patch(doc, ops):
    """Apply an RFC 6902 patch (add, remove, replace, test, move, copy) to a copy of doc."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, toks = op["op"], _tokens(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise ValueError(f"{kind} without value")
        if not toks:
            if kind in ("add", "replace"):
                doc = copy.deepcopy(op["value"])
                continue
            raise ValueError(f"{kind} on the root")
        parent, last = _parent(doc, toks), toks[-1]
        if kind == "add":
            if isinstance(parent, list):
                i = len(parent) if last == "-" else int(last)
                if i > len(parent):
                    raise IndexError(op["path"])
                parent.insert(i, copy.deepcopy(op["value"]))
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif kind == "replace":
            if isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op["value"])
            else:
                if last not in parent:
                    raise KeyError(op["path"])
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent[last]
            if cur != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        else:
            raise ValueError(f"unsupported op {kind}")
    return doc


# ---- objects in the test kube-apiserver -----------------------------------------------------------

PLURALS = {
    "Namespace": "namespaces", "Secret": "secrets", "ConfigMap": "configmaps", "Deployment": "deployments",
    "StatefulSet": "statefulsets", "Cluster": "clusters", "Infrastructure": "infrastructures",
    "ManagedResource": "managedresources", "CloudProfile": "cloudprofiles",
    "NamespacedCloudProfile": "namespacedcloudprofiles", "Shoot": "shoots",
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
}
CLUSTER_SCOPED = {"Namespace", "Cluster", "CloudProfile", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration", "CustomResourceDefinition"}


def collection_path(api_version, kind, namespace=None):
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    plural = PLURALS[kind]
    if kind in CLUSTER_SCOPED or not namespace:
        return f"{base}/{plural}"
    return f"{base}/namespaces/{namespace}/{plural}"


def object_path(obj):
    md = obj["metadata"]
    return collection_path(obj["apiVersion"], obj["kind"], md.get("namespace")) + "/" + md["name"]


def _crd(plural, kind, scope):
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.core.gardener.cloud"},
        "spec": {"group": "core.gardener.cloud", "scope": scope,
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": kind + "List"},
                 "versions": [{"name": "v1beta1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}},
                               "subresources": {"status": {}}}]},
    }


def add_garden_kinds(k):
    """Serve core.gardener.cloud CloudProfiles, NamespacedCloudProfiles and Shoots (schema-less)."""
    for plural, kind, scope in (("cloudprofiles", "CloudProfile", "Cluster"),
                                ("namespacedcloudprofiles", "NamespacedCloudProfile", "Namespaced"),
                                ("shoots", "Shoot", "Namespaced")):
        st, body = k.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(plural, kind, scope))
        if st not in (200, 201, 409):
            raise RuntimeError(f"cannot create the {kind} CRD: {st} {body}")


def ensure_namespace(k, name, labels=None):
    st, body = k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": name, "labels": labels or {}}})
    if st not in (200, 201, 409):
        raise RuntimeError(f"cannot create namespace {name}: {st} {body}")


def load_objects(k, objects):
    """Create objects (namespaces first as needed); a "status" is written through /status afterwards."""
    for obj in objects:
        obj = copy.deepcopy(obj)
        ns = obj["metadata"].get("namespace")
        if ns and obj["kind"] not in CLUSTER_SCOPED:
            ensure_namespace(k, ns)
        status = obj.pop("status", None)
        st, body = k.create(collection_path(obj["apiVersion"], obj["kind"], ns), obj)
        if st not in (200, 201):
            raise RuntimeError(f"cannot create {obj['kind']} {obj['metadata']['name']}: {st} {body}")
        if status is not None:
            body["status"] = status
            st, out = k.update(object_path(obj) + "/status", body)
            if st != 200:
                raise RuntimeError(f"cannot write the status of {obj['kind']} {obj['metadata']['name']}: {st} {out}")
