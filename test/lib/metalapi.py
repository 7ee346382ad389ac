"""Start and drive the test Equinix Metal API (test/metalapi/server.py) from Python tests.

    from metalapi import MetalAPI
    with MetalAPI(time_scale=1000) as m:           # TLS, one random token for one random project
        r = m.request("GET", f"/projects/{m.project}/devices")
        r.status, r.json, r.headers["Content-Type"]
        m.fault(path=r"/devices$", method="POST", action="lose_response")
        m.state()["devices"]

Attributes: url (".../metal/v1"), ca (path of ca.crt, None without TLS), dir (state directory),
tokens ({token: project}), token and project (the default pair), port.
The server is stopped (SIGTERM, then SIGKILL after 5 s) by stop(), by leaving the `with` block, and at
interpreter exit; a state directory the wrapper created is removed then unless keep=True.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.environ.get("EQXM_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.path.join(ROOT, "test", "metalapi", "server.py")


class Response:
    """status (int), headers (case-insensitive message), raw (bytes), json (parsed body or None)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json = None
        ctype = headers.get("Content-Type", "") if headers is not None else ""
        if raw and ctype.startswith("application/json"):
            self.json = json.loads(raw)

    def __repr__(self):
        return f"<Response {self.status} {self.raw[:200]!r}>"


class MetalAPIError(RuntimeError):
    pass


class MetalAPI:
    def __init__(self, tls=True, time_scale=1.0, tokens=None, validate=True, port=0, state_dir=None,
                 keep=False, verbose=False, extra_args=()):
        """Start a server. tokens: {token: project_uuid} (default: one random pair)."""
        self._own_dir = state_dir is None
        self.dir = state_dir or tempfile.mkdtemp(prefix="metalapi-")
        self.keep = keep
        if tokens is None:
            tokens = {"tok-" + uuid.uuid4().hex: str(uuid.uuid4())}
        self.tokens = dict(tokens)
        self.token, self.project = next(iter(self.tokens.items())) if self.tokens else (None, None)
        args = [sys.executable, SERVER, "--state-dir", self.dir, "--port", str(port),
                "--time-scale", repr(float(time_scale)), "--tls" if tls else "--no-tls"]
        for t, p in self.tokens.items():
            args += ["--token", f"{t}:{p}"]
        if validate:
            args.append("--validate")
        if verbose:
            args.append("--verbose")
        args += list(extra_args)
        self._log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.returncode = None
        atexit.register(self.stop)
        ready = os.path.join(self.dir, "ready")
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.server_log()
                self.stop()
                raise MetalAPIError(f"the test Metal API did not start (exit {self.proc.returncode}):\n{log}")
            time.sleep(0.02)
        with open(os.path.join(self.dir, "url")) as f:
            self.url = f.read().strip()
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read().strip())
        with open(os.path.join(self.dir, "tokens")) as f:
            self.tokens.update(json.load(f))  # the server makes one pair when given none
        if self.token is None and self.tokens:
            self.token, self.project = next(iter(self.tokens.items()))
        self.tls = tls
        self.ca = os.path.join(self.dir, "ca.crt") if tls else None
        self._ssl = None
        if tls:
            self._ssl = ssl.create_default_context(cafile=self.ca)

    # ---- lifecycle ----------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        """SIGTERM the server, wait (SIGKILL after 5 s); returns its exit status."""
        if self.returncode is None and getattr(self, "proc", None) is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.returncode = self.proc.returncode
            self._log.close()
            if self._own_dir and not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
        return self.returncode

    # ---- raw HTTP -----------------------------------------------------------------------------

    def _conn(self, timeout):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token=..., headers=None, query=None, timeout=10,
                raw_body=None):
        """One request on a fresh connection. path: relative to /metal/v1 (e.g. "/devices/ID"),
        or absolute when it starts with /metal/ or /_test/. token=... uses the default token,
        None sends none. Network failures raise (ConnectionError, socket.timeout, ssl.SSLError...)."""
        if not (path.startswith("/_test") or path.startswith("/metal/")):
            path = "/metal/v1" + path
        if query:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query, doseq=True)
        h = {"Accept": "application/json"}
        if token is ...:
            token = self.token
        if token is not None:
            h["X-Auth-Token"] = token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = self._conn(timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            return Response(r.status, r.headers, raw)
        finally:
            c.close()

    def _control(self, method, path, body=None):
        r = self.request(method, path, body=body, token=None)
        if r.status >= 300:
            raise MetalAPIError(f"{method} {path}: {r.status} {r.raw[:300]!r}")
        return r.json

    # ---- control API --------------------------------------------------------------------------

    def add_token(self, token, project):
        self._control("POST", "/_test/tokens", {"token": token, "project": project})
        self.tokens[token] = project

    def fault(self, path=".*", method=None, action="status", status=None, retry_after=None,
              ratelimit_reset=None, body=None, delay_ms=None, times=1, body_match=None):
        """Add a fault rule (see docs/test-servers.md); returns its id."""
        rule = {"method": method, "path": path, "action": action, "times": times}
        for k, v in (("status", status), ("retry_after", retry_after), ("ratelimit_reset", ratelimit_reset),
                     ("body", body), ("delay_ms", delay_ms), ("body_match", body_match)):
            if v is not None:
                rule[k] = v
        return self._control("POST", "/_test/faults", rule)["id"]

    def clear_faults(self):
        self._control("DELETE", "/_test/faults")

    def requests(self):
        return self._control("GET", "/_test/requests")

    def clear_requests(self):
        self._control("DELETE", "/_test/requests")

    def state(self):
        return self._control("GET", "/_test/state")

    def device(self, device_id):
        """The device as /_test/state shows it (including deleted ones, with history), or None."""
        for d in self.state()["devices"]:
            if d["id"] == device_id:
                return d
        return None

    def set_device_state(self, device_id, state, hold=False):
        return self._control("POST", f"/_test/devices/{device_id}/state", {"state": state, "hold": hold})

    def seed(self, count, project=None, tags=(), hostname_prefix="seed-", state="active", **kw):
        body = {"project": project or self.project, "count": count, "tags": list(tags),
                "hostname_prefix": hostname_prefix, "state": state}
        body.update(kw)
        return self._control("POST", "/_test/seed", body)["ids"]

    def set_time_scale(self, scale):
        self._control("POST", "/_test/time-scale", {"scale": scale})

    def rate_limit(self, rps, burst=None):
        """Server-side token bucket per API token; rate_limit(None) turns it off."""
        self._control("POST", "/_test/rate-limit", None if rps is None else {"rps": rps, "burst": burst or rps})

    def set_capacity(self, available, metro=None, plan=None):
        self._control("POST", "/_test/capacity", {"metro": metro, "plan": plan, "available": available})

    def set_quota(self, max_devices, project=None):
        self._control("POST", "/_test/quota", {"project": project or self.project, "max_devices": max_devices})

    def fail_provisioning(self, hostname=None, tag=None, times=1):
        self._control("POST", "/_test/provision-failures", {"hostname": hostname, "tag": tag, "times": times})

    def add_hardware_reservation(self, project=None, plan="c3.small.x86", metro="sv", rid=None):
        body = {"project": project or self.project, "plan": plan, "metro": metro}
        if rid:
            body["id"] = rid
        return self._control("POST", "/_test/hardware-reservations", body)["id"]

    def violations(self):
        return self._control("GET", "/_test/violations")

    def request_violations(self):
        return self._control("GET", "/_test/request-violations")
