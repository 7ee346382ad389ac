"""Start and drive the test kube-apiserver (test/kubeapi/server.py) from Python tests.

    from kubeapi import KubeAPI
    with KubeAPI() as k:
        st, obj = k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "x"}})
        k.kubectl("get", "ns", "x")
        k.add_fault(method="GET", path="/secrets", action="status", status=500, times=2)

The server runs in a temporary directory (k.dir) and is stopped (SIGTERM, then SIGKILL) by stop() or at
the end of the with block. See docs/test-servers.md for the files, the control API and the features.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kubeapi", "server.py")


class KubeAPIError(RuntimeError):
    pass


class WatchClosed(Exception):
    """The watch stream ended without a clean end of the chunked body (dropped connection)."""


class Watch:
    """One watch stream. next() returns an event dict, None at a clean end of stream, raises WatchClosed
    when the connection was cut, and socket.timeout when nothing arrives in time."""

    def __init__(self, api, path, query, timeout, headers=None, cert=False):
        self.conn = api._connection(timeout, cert)
        q = dict(query or {})
        q.setdefault("watch", "true")
        h = dict(api._auth_headers(cert))
        h.update(headers or {})
        self.conn.request("GET", path + "?" + urlencode(q), headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())
        self.error = None
        self.ended = False
        if self.status != 200:
            raw = self.resp.read()
            try:
                self.error = json.loads(raw)
            except ValueError:
                self.error = raw.decode(errors="replace")
            self.ended = True

    def next(self, timeout=None):
        if self.ended:
            return None
        if timeout is not None:
            self.conn.sock.settimeout(timeout)
        try:
            line = self.resp.readline()
        except http.client.IncompleteRead as e:
            self.ended = True
            raise WatchClosed(f"stream cut: {e!r}") from None
        except (ConnectionError, ssl.SSLError, http.client.HTTPException) as e:
            self.ended = True
            raise WatchClosed(f"stream cut: {e!r}") from None
        if not line:
            self.ended = True
            return None
        return json.loads(line)

    def collect(self, n, timeout=10.0):
        """Up to n events (fewer if the stream ends); raises socket.timeout if they do not come in time."""
        out = []
        end = time.monotonic() + timeout
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"only {len(out)} of {n} watch events within {timeout}s")
            ev = self.next(left)
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KubeAPI:
    """A running test kube-apiserver. Arguments map to server.py options."""

    def __init__(self, history=None, token=None, crd_dirs=None, bookmark_interval=None, watch_timeout=None,
                 extra_args=(), start_timeout=30.0, keep_dir=False):
        self.dir = tempfile.mkdtemp(prefix="kubeapi-")
        self.keep_dir = keep_dir
        self.proc = None
        self._stderr = None
        args = [sys.executable, SERVER, "--state-dir", self.dir]
        if history is not None:
            args += ["--history", str(history)]
        if token is not None:
            args += ["--token", token]
        for d in crd_dirs or ():
            args += ["--crd-dir", d]
        if bookmark_interval is not None:
            args += ["--bookmark-interval", str(bookmark_interval)]
        if watch_timeout is not None:
            args += ["--watch-timeout", str(watch_timeout)]
        args += list(extra_args)
        self.args = args
        self.start_timeout = start_timeout
        self.start()

    # -- life cycle
    def start(self):
        errpath = os.path.join(self.dir, "server.stderr")
        self._stderr = open(errpath, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr)
        end = time.monotonic() + self.start_timeout
        ready = os.path.join(self.dir, "ready")
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                err = self.stderr_text()
                self.stop()
                raise KubeAPIError(f"test kube-apiserver exited with {self.proc.returncode} before it was ready:\n{err}")
            if time.monotonic() > end:
                err = self.stderr_text()
                self.stop()
                raise KubeAPIError(f"test kube-apiserver not ready within {self.start_timeout}s:\n{err}")
            time.sleep(0.02)
        self.url = self._read("url")
        self.port = int(self._read("port"))
        self.token = self._read("token")
        self.ca = os.path.join(self.dir, "ca.crt")
        self.client_cert = os.path.join(self.dir, "client.crt")
        self.client_key = os.path.join(self.dir, "client.key")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.kubeconfig_cert = os.path.join(self.dir, "kubeconfig-cert")
        self.kubeconfig_tokenfile = os.path.join(self.dir, "kubeconfig-tokenfile")
        self._ctx = ssl.create_default_context(cafile=self.ca)
        self._cert_ctx = ssl.create_default_context(cafile=self.ca)
        self._cert_ctx.load_cert_chain(self.client_cert, self.client_key)

    def stderr_text(self):
        try:
            with open(os.path.join(self.dir, "server.stderr"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _read(self, name):
        with open(os.path.join(self.dir, name), encoding="utf-8") as f:
            return f.read().strip()

    def stop(self):
        """SIGTERM the server (SIGKILL after 5 s) and remove its directory. Safe to call twice."""
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if not self.keep_dir and self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        return p.returncode if p is not None else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- HTTP
    def _connection(self, timeout=30.0, cert=False):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self._cert_ctx if cert else self._ctx)

    def _auth_headers(self, cert=False):
        return {} if cert else {"Authorization": "Bearer " + self.token}

    def request(self, method, path, body=None, content_type=None, query=None, headers=None, cert=False,
                timeout=30.0):
        """One request; returns (status, parsed JSON body or text or None). body: dict/list (JSON) or bytes/str."""
        if query:
            path = path + ("&" if "?" in path else "?") + urlencode(query)
        h = dict(self._auth_headers(cert))
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = content_type or "application/json"
        elif body is not None:
            h["Content-Type"] = content_type or "application/json"
        h["Accept"] = "application/json"
        h.update(headers or {})
        conn = self._connection(timeout, cert)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            self.last_headers = resp.getheaders()
        finally:
            conn.close()
        if not raw:
            return resp.status, None
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def create(self, path, obj, **query):
        return self.request("POST", path, obj, query=query or None)

    def update(self, path, obj, **query):
        return self.request("PUT", path, obj, query=query or None)

    def patch(self, path, patch, type="merge", **query):
        ct = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
              "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}[type]
        return self.request("PATCH", path, patch, content_type=ct, query=query or None)

    def delete(self, path, body=None, **query):
        return self.request("DELETE", path, body, query=query or None)

    def watch(self, path, query=None, timeout=10.0, headers=None, cert=False):
        return Watch(self, path, query, timeout, headers, cert)

    def kubectl(self, *args, input=None, kubeconfig=None, timeout=60):
        """Run kubectl against this server (token kubeconfig unless another is given)."""
        cmd = ["kubectl", "--kubeconfig", kubeconfig or self.kubeconfig,
               "--cache-dir", os.path.join(self.dir, "kubectl-cache"), *args]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)

    # -- control API
    def _control(self, method, path, body=None):
        st, out = self.request(method, "/_test/" + path, body)
        if st >= 300:
            raise KubeAPIError(f"{method} /_test/{path} failed with {st}: {out}")
        return out

    def validate(self, obj):
        """Errors the server finds in obj by the built-in kinds' types (for a Secret also in the manifests of
        its data, as ManagedResource Secrets carry them): a list of sentences, empty when valid."""
        return self._control("POST", "validate", obj)["errors"]

    def add_fault(self, **rule):
        """Add a fault rule (see docs/test-servers.md); returns its id."""
        return self._control("POST", "faults", rule)["id"]

    def faults(self):
        return self._control("GET", "faults")

    def clear_faults(self):
        self._control("DELETE", "faults")

    def compact(self, mode="event"):
        return self._control("POST", "compact", {"mode": mode})["resourceVersion"]

    def drop_watches(self):
        return self._control("POST", "drop-watches")["dropped"]

    def bookmark(self):
        return self._control("POST", "bookmark")

    def requests(self):
        return self._control("GET", "requests")

    def clear_requests(self):
        self._control("DELETE", "requests")

    def open_watches(self):
        return self._control("GET", "watches")

    def wait_watches(self, n, timeout=10.0):
        """Wait until exactly n watch streams are open; returns True, or False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.open_watches() == n:
                return True
            time.sleep(0.02)
        return False

    def bulk(self, path, items):
        return self._control("POST", "bulk", {"path": path, "items": items})

    def state(self):
        return self._control("GET", "state")
