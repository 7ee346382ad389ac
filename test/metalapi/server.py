#!/usr/bin/env python3
"""Test Equinix Metal API server (spec-shaped responses, device lifecycle, fault injection).

    python3 test/metalapi/server.py --state-dir DIR [--port 0] [--tls|--no-tls] [--time-scale F]
                                    [--token TOKEN:PROJECT_UUID ...] [--validate] [--spec FILE]

Writes DIR/ca.crt (TLS only), DIR/port, DIR/url, DIR/tokens, and finally DIR/ready. Serves the API
under /metal/v1 and the control API under /_test/ (see docs/test-servers.md). SIGTERM or SIGINT stops it
with exit status 0.
"""
import argparse
import http.server
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import control  # noqa: E402
import faults  # noqa: E402
import tlscert  # noqa: E402
from store import Store  # noqa: E402

BASE = "/metal/v1"
MAX_BODY = 4 << 20
MAX_LOG = 100000
HTML_BODIES = {
    502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
}
REASONS = {
    500: "Oh snap, something went wrong! We've logged the error and will take a look.",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    429: "Too many requests, please slow down", 401: "Invalid authentication token",
    403: "You are not authorized to perform this action", 404: "Not found",
    422: "Unprocessable entity",
}


class App:
    """Everything the request handlers share."""

    def __init__(self, args):
        self.store = Store(args.time_scale)
        self.faults = faults.Faults()
        self.limiter = faults.RateLimiter()
        self.validate = args.validate
        self.spec = None
        if args.validate:
            import openapi  # python3-jsonschema is only needed with --validate
            self.spec = openapi.Spec(args.spec)
        self.verbose = args.verbose
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._log = []
        self._violations = []

    def log_request(self, entry):
        with self._lock:
            self._log.append(entry)
            if len(self._log) > MAX_LOG:
                del self._log[: len(self._log) - MAX_LOG]

    def request_log(self):
        with self._lock:
            return [dict(e) for e in self._log]

    def clear_requests(self):
        with self._lock:
            self._log = []

    def add_violation(self, v):
        with self._lock:
            self._violations.append(v)

    def violations_list(self, kind):
        with self._lock:
            return [dict(v) for v in self._violations if v["kind"] == kind]

    def clear_violations(self):
        with self._lock:
            self._violations = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "metalapi-test/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # noqa: D102 - quiet unless --verbose
        if self.server.app.verbose:
            sys.stderr.write("metalapi: " + (fmt % args) + "\n")

    def do_GET(self):  # noqa: N802
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # ---- connection-level faults ------------------------------------------------------------

    def _reset(self):
        """Abort the connection with a TCP RST (no HTTP response)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass
        self._dead = True

    def _hang(self, max_ms):
        """Send nothing until the client gives up, the server stops, or max_ms passes; then reset."""
        deadline = time.monotonic() + (max_ms / 1000.0 if max_ms else 3600.0)
        app = self.server.app
        while not app.stop.is_set() and time.monotonic() < deadline:
            try:
                r, _w, _x = select.select([self.connection], [], [], 0.05)
            except (OSError, ValueError):
                break
            if r:
                break  # the client closed (or sent more): stop waiting
        self._reset()

    def _sleep(self, ms):
        self.server.app.stop.wait(ms / 1000.0)

    # ---- reading ----------------------------------------------------------------------------

    def _read_body(self):
        """(raw bytes or None, error sentence or None)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None, "malformed chunked body"
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data, None
                if len(data) + n > MAX_BODY:
                    return None, "too large"
                data += self.rfile.read(n)
                self.rfile.readline(16)
        n = self.headers.get("Content-Length")
        if n is None:
            return None, None
        try:
            n = int(n)
        except ValueError:
            return None, "bad Content-Length"
        if n > MAX_BODY:
            return None, "too large"
        return self.rfile.read(n) if n > 0 else b"", None

    # ---- writing ----------------------------------------------------------------------------

    def _send(self, status, data, headers=None, content_type="application/json; charset=utf-8",
              truncate=False):
        """Send one response; data is bytes or str. truncate sends half the body, then resets."""
        if isinstance(data, str):
            data = data.encode()
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            if truncate:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._reset()
                return
            self.wfile.write(data)

    def _send_json(self, status, body, headers=None, truncate=False):
        if body is None:
            self._send(status, b"", headers, truncate=truncate)
        else:
            self._send(status, json.dumps(body).encode(), headers, truncate=truncate)

    # ---- dispatch ---------------------------------------------------------------------------

    def _handle(self):
        app = self.server.app
        self._dead = False
        t0 = time.monotonic()
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        raw, body_err = self._read_body()
        if body_err == "too large":
            self.close_connection = True
            self._send_json(413, {"error": "Request body too large"})
            return
        body, json_err = None, None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as e:
                json_err = str(e)
        elif body_err:
            json_err = body_err

        if path.startswith("/_test/") or path == "/_test":
            if self.client_address[0] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
                self._send_json(403, {"error": "the control API answers loopback clients only"})
                return
            if json_err:
                self._send_json(400, {"error": f"the body is not valid JSON: {json_err}"})
                return
            try:
                status, out = control.handle(app, self.command, path, body)
            except Exception as e:  # noqa: BLE001 - a bug here must not kill the connection silently
                traceback.print_exc()
                status, out = 500, {"error": f"test server bug: {e!r}"}
            self._send_json(status, out)
            return

        api_path = path[len(BASE):] if path.startswith(BASE + "/") or path == BASE else None
        headers_logged = {k: v for k, v in self.headers.items() if k.lower() != "x-auth-token"}
        entry = {"method": self.command, "path": api_path if api_path is not None else path,
                 "raw_path": path, "query": query, "raw_query": parsed.query, "t": round(t0, 6),
                 "status": None, "token_ok": None, "fault": None, "headers": headers_logged,
                 "body": body if body is not None else (raw.decode("utf-8", "replace")[:4096]
                                                        if raw else None)}
        app.log_request(entry)
        if api_path is None:
            entry["status"] = 404
            self._send_json(404, {"errors": ["Not found"]})
            return
        api_path = api_path or "/"

        rule = app.faults.take(self.command, api_path, raw.decode("utf-8", "replace") if raw else "")
        if rule is not None:
            entry["fault"] = rule.action
            if rule.action == "delay":
                self._sleep(rule.delay_ms)
                rule = None
            elif rule.action in ("status", "html", "reset", "hang"):
                self._fault_response(rule, entry)
                return

        token = self.headers.get("X-Auth-Token")
        allowed, rl_headers = app.limiter.take(token or "")
        if not allowed:
            entry["status"] = 429
            entry["fault"] = "rate_limit"
            self._send_json(429, {"error": "Too many requests, please slow down"}, rl_headers)
            return

        scope = app.store.token_project(token) if token else None
        entry["token_ok"] = scope is not None
        tmpl = None
        if scope is None:
            msg = "Invalid authentication token" if token else "Missing X-Auth-Token header"
            status, out = 401, {"error": msg}
            tmpl, _fn, _args = api.route(self.command, api_path)
        else:
            ctx = api.Ctx(self.command, api_path, query, body, json_err, scope)
            try:
                status, out, tmpl = api.dispatch(app.store, ctx)
            except Exception as e:  # noqa: BLE001 - answer, and say so on stderr
                traceback.print_exc()
                status, out, tmpl = 500, {"error": f"test server bug: {e!r}"}, None
            if app.validate and tmpl and (body is not None or json_err):
                self._check_request(tmpl, api_path, body)
        if app.validate and tmpl:
            self._check_response(tmpl, api_path, status, out)

        if rule is not None and rule.action == "lose_response":
            entry["lost_status"] = status
            self._reset()
            return
        entry["status"] = status
        self._send_json(status, out, rl_headers if app.limiter.active() else None,
                        truncate=rule is not None and rule.action == "truncate")
        if rule is not None and rule.action == "truncate":
            entry["status"] = None
            entry["lost_status"] = status

    def _fault_response(self, rule, entry):
        if rule.action == "reset":
            self._reset()
            return
        if rule.action == "hang":
            self._hang(rule.delay_ms)
            return
        headers = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = str(int(rule.retry_after) if float(rule.retry_after).is_integer()
                                         else rule.retry_after)
        if rule.status == 429:
            reset = rule.ratelimit_reset
            if reset is None:
                reset = int(time.time() + (rule.retry_after or 1) + 0.999)
            headers.update({"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(int(reset))})
        entry["status"] = rule.status
        if rule.action == "html":
            title = f"{rule.status} {HTML_BODIES.get(rule.status, 'Error')}"
            html = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                    "</body>\r\n</html>\r\n")
            self._send(rule.status, html, headers, content_type="text/html")
            return
        body = rule.body if rule.body is not None else {
            "error": REASONS.get(rule.status, f"Injected error {rule.status}")}
        app = self.server.app
        if app.validate:
            tmpl, _fn, _args = api.route(self.command, entry["path"])
            if tmpl:
                self._check_response(tmpl, entry["path"], rule.status, body)
        self._send_json(rule.status, body, headers)

    def _check_request(self, tmpl, path, body):
        app = self.server.app
        errs = app.spec.validate_request(tmpl, self.command, body)
        if errs:
            app.add_violation({"kind": "request", "method": self.command, "path": path,
                               "operation": f"{self.command} {tmpl}", "errors": errs,
                               "t": round(time.monotonic(), 6)})

    def _check_response(self, tmpl, path, status, out):
        app = self.server.app
        errs = app.spec.validate_response(tmpl, self.command.lower(), status, out)
        if errs:
            app.add_violation({"kind": "response", "method": self.command, "path": path,
                               "operation": f"{self.command} {tmpl}", "status": status,
                               "errors": errs, "t": round(time.monotonic(), 6)})
            sys.stderr.write(f"metalapi: response of {self.command} {path} ({status}) violates the "
                             f"spec: {errs[0]}\n")

    def finish(self):
        if getattr(self, "_dead", False):
            return
        try:
            super().finish()
        except OSError:
            pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True
        if getattr(self, "_dead", False):
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, app, ssl_ctx):
        self.app = app
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        if self.ssl_ctx is not None:
            request.settimeout(10)
            try:
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                try:
                    request.close()
                except OSError:
                    pass
                return
            request.settimeout(None)
        try:
            super().finish_request(request, client_address)
        finally:
            if self.ssl_ctx is not None:
                # wrap_socket detached the accepted socket; the TLS socket is ours to close.
                try:
                    request.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.app.verbose:
            super().handle_error(request, client_address)


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _default_spec():
    here = os.path.dirname(os.path.abspath(__file__))
    cands = []
    if os.environ.get("EQXM_SPECS"):
        cands.append(os.path.join(os.environ["EQXM_SPECS"], "equinix-metal-openapi.json"))
    cands.append(os.path.join(here, "..", "specs", "equinix-metal-openapi.json"))
    for c in cands:
        if os.path.exists(c):
            return os.path.normpath(c)
    return cands[-1]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="server.py", description="Test Equinix Metal API (see docs/test-servers.md).")
    p.add_argument("--state-dir", required=True, help="directory for ca.crt, port, url, tokens, ready")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    p.add_argument("--tls", dest="tls", action="store_true", default=True, help="serve HTTPS (default)")
    p.add_argument("--no-tls", dest="tls", action="store_false", help="serve plain HTTP")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="device lifecycle seconds per real second (100: a 60 s provisioning takes 0.6 s)")
    p.add_argument("--token", action="append", nargs="+", default=[], metavar="TOKEN:PROJECT_UUID",
                   help="accept TOKEN for project PROJECT_UUID ('*' for every project); repeatable. "
                        "Without any, one random pair is made (see DIR/tokens)")
    p.add_argument("--validate", action="store_true",
                   help="validate every JSON response (and request) body against the spec")
    p.add_argument("--spec", default=_default_spec(), help="OpenAPI spec for --validate")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    a = p.parse_args(argv)
    if a.time_scale <= 0:
        p.error("--time-scale must be positive")
    if not 0 <= a.port <= 65535:
        p.error("--port must be between 0 and 65535")
    toks = []
    for t in [x for group in a.token for x in group]:
        tok, sep, proj = t.rpartition(":")
        if not sep or not tok or not (proj == "*" or api.UUID_RE.match(proj)):
            p.error(f"--token wants TOKEN:PROJECT_UUID (or TOKEN:*), got {t!r}")
        toks.append((tok, proj.lower()))
    if not toks:
        toks.append(("tok-" + uuid.uuid4().hex, str(uuid.uuid4())))
    a.tokens = toks
    if a.validate and not os.path.exists(a.spec):
        p.error(f"--validate needs the OpenAPI spec, which is not at {a.spec} (use --spec FILE)")
    return a


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    for name in ("ready", "port", "url"):
        try:
            os.unlink(os.path.join(args.state_dir, name))
        except FileNotFoundError:
            pass
    app = App(args)
    for tok, proj in args.tokens:
        app.store.add_token(tok, proj)
    ssl_ctx = None
    if args.tls:
        try:
            certs = tlscert.make_certs(args.state_dir)
        except tlscert.CertError as e:
            print(f"metalapi: cannot create the TLS certificates: {e}", file=sys.stderr)
            return 1
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(certs["server.crt"], certs["server.key"])
    try:
        srv = Server(("127.0.0.1", args.port), app, ssl_ctx)
    except OSError as e:
        print(f"metalapi: cannot listen on 127.0.0.1:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    port = srv.server_address[1]
    scheme = "https" if args.tls else "http"
    _write(os.path.join(args.state_dir, "port"), f"{port}\n")
    _write(os.path.join(args.state_dir, "url"), f"{scheme}://127.0.0.1:{port}{BASE}\n")
    _write(os.path.join(args.state_dir, "tokens"),
           json.dumps({t: p for t, p in args.tokens}, indent=1) + "\n")

    def on_signal(_signo, _frame):
        app.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    _write(os.path.join(args.state_dir, "ready"), f"{os.getpid()}\n")
    while not app.stop.wait(0.2):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
