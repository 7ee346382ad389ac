#!/usr/bin/env python3
"""Test kube-apiserver: an HTTPS Kubernetes API server for integration tests, with fault injection.

    python3 test/kubeapi/server.py --state-dir DIR [--port 0] [--history N] [--crd-dir DIR]...
                                   [--token TOKEN] [--bookmark-interval S] [--watch-timeout S] [--verbose]

Writes into DIR: ca.crt, client.crt, client.key, token, kubeconfig, kubeconfig-cert,
kubeconfig-tokenfile, port, url and finally ready. Serves until SIGTERM/SIGINT. See docs/test-servers.md.
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The built-in kinds are validated by Debian's python3-kubernetes, which only /usr/bin/python3 sees
# where another python3 comes first in PATH: run there instead.
try:
    import kubernetes.client.models  # noqa: E402,F401
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3") \
            and not os.environ.get("KUBEAPI_REEXEC"):
        os.environ["KUBEAPI_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    sys.stderr.write("kubeapi: cannot start: the Python package 'kubernetes' is missing "
                     "(apt-get install python3-kubernetes)\n")
    sys.exit(1)

import yaml  # noqa: E402

import builtin_types  # noqa: E402

import certs  # noqa: E402
import resources as resmod  # noqa: E402
import tables  # noqa: E402
from kutil import ApiError, bad_request, dumps, generic_error, status_obj  # noqa: E402
from labelsel import SelectorError, parse_fields, parse_labels  # noqa: E402
from store import Expired, Store, parse_rv  # noqa: E402

MAX_BODY = 3 * 1024 * 1024            # kube-apiserver's request body limit
MAX_CONTROL_BODY = 256 * 1024 * 1024  # /_test/bulk fixtures may be large
TOKEN_USER = "test-admin"
CLIENT_CN = "test-client-cert"
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kubeapi-test",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"}
TRUE = ("1", "true", "True")


# ---- fault injection, request log, open watches -------------------------------------------------

class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, rule):
        if not isinstance(rule, dict):
            raise bad_request("a fault rule must be a JSON object")
        action = rule.get("action")
        if action not in ("status", "drop", "delay", "raw"):
            raise bad_request('fault "action" must be "status", "drop", "delay" or "raw"')
        body = rule.get("body", "")
        if action == "raw" and not isinstance(body, str):
            raise bad_request('fault "body" (the raw answer of a "raw" fault) must be a string')
        method = rule.get("method")
        if method is not None and not isinstance(method, str):
            raise bad_request('fault "method" must be a string or null')
        path = rule.get("path") or ""
        try:
            rx = re.compile(path)
        except (re.error, TypeError) as e:
            raise bad_request(f'fault "path" is not a valid regular expression: {e}') from None
        watch = rule.get("watch")
        if watch not in (None, True, False):
            raise bad_request('fault "watch" must be true, false or null')

        def num(k, default, lo):
            v = rule.get(k, default)
            if v is None:
                v = default
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise bad_request(f'fault "{k}" must be an integer >= {lo}')
            return v
        status = num("status", 200 if action == "raw" else 500, 100)
        if status > 599:
            raise bad_request('fault "status" must be an HTTP status code')
        times = num("times", 1, -1)
        if times == 0:
            raise bad_request('fault "times" must be positive or -1 (forever)')
        r = {"id": 0, "method": method.upper() if method else None, "path": path, "watch": watch,
             "action": action, "status": status,
             "retry_after": num("retry_after", 0, 0) if rule.get("retry_after") is not None else None,
             "retry_after_header": rule.get("retry_after_header") is not False,
             "delay_ms": num("delay_ms", 0, 0), "after_events": num("after_events", 0, 0),
             "times": times, "message": str(rule.get("message") or f"injected fault ({action})"), "_rx": rx,
             "body": body}
        with self.lock:
            r["id"] = self.next_id
            self.next_id += 1
            self.rules.append(r)
        return r["id"]

    def match(self, method, path, is_watch):
        with self.lock:
            for r in self.rules:
                if r["method"] and r["method"] != method:
                    continue
                if r["watch"] is not None and r["watch"] != is_watch:
                    continue
                if not r["_rx"].search(path):
                    continue
                if r["times"] > 0:
                    r["times"] -= 1
                    if r["times"] == 0:
                        self.rules.remove(r)
                return dict(r)
        return None

    def list(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def remove(self, fid):
        with self.lock:
            n = len(self.rules)
            self.rules = [r for r in self.rules if r["id"] != fid]
            return n != len(self.rules)

    def clear(self):
        with self.lock:
            self.rules = []


class WatchState:
    __slots__ = ("drop", "bookmark_seq", "handler")

    def __init__(self, handler):
        self.drop = False
        self.bookmark_seq = 0
        self.handler = handler


class DropConnection(Exception):
    """Close the client connection abruptly (fault injection)."""


# ---- the server -------------------------------------------------------------------------------

class KubeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, ctx, opts, store, registry, token):
        super().__init__(addr, Handler)
        self.ctx = ctx
        self.opts = opts
        self.store = store
        self.registry = registry
        self.token = token
        self.faults = Faults()
        self.log_lock = threading.Lock()
        self.requests = deque(maxlen=20000)
        self.watches = set()
        self.bookmark_seq = 0

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        if self.opts.verbose:
            traceback.print_exc()

    def log_request_entry(self, entry):
        with self.log_lock:
            self.requests.append(entry)


class Handler(BaseHTTPRequestHandler):
    entry = None
    logged = False
    _body = None
    max_body = MAX_BODY
    warnings = ()
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test"
    sys_version = ""
    timeout = 600

    # -- connection setup: TLS handshake in the connection's own thread
    def setup(self):
        raw = self.request
        raw.settimeout(30)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            self.request = self.server.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            try:
                raw.close()
            except OSError:
                pass
            raise ConnectionAbortedError("TLS handshake failed") from None
        self.connection = self.request
        self.request.settimeout(self.timeout)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        try:
            self.request.close()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("kubeapi: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    # -- plumbing
    def send_response(self, code, message=None):
        super().send_response(code, message)
        if self.entry is not None and not self.logged:
            self.logged = True
            self.entry["status"] = code
            self.server.log_request_entry(self.entry)

    def body_bytes(self):
        if self._body is not None:
            return self._body
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise bad_request("truncated chunked request body")
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise bad_request("malformed chunked request body") from None
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += n
                if total > self.max_body:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "the request body is too large (limit 3 MiB)")
                chunks.append(self.rfile.read(n))
                self.rfile.readline(3)
            self._body = b"".join(chunks)
            return self._body
        cl = self.headers.get("Content-Length")
        if not cl:
            self._body = b""
            return self._body
        try:
            n = int(cl)
        except ValueError:
            self.close_connection = True
            raise bad_request("invalid Content-Length") from None
        if n > self.max_body:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "the request body is too large (limit 3 MiB)")
        self._body = self.rfile.read(n)
        return self._body

    def json_body(self, allow_empty=False, yaml_ok=False):
        raw = self.body_bytes()
        if not raw.strip():
            if allow_empty:
                return None
            raise bad_request("the request body is empty; a JSON object was expected")
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if yaml_ok or ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            try:
                return yaml.safe_load(raw.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise bad_request(f"error decoding YAML: {e}") from None
        if "protobuf" in ctype or "cbor" in ctype:
            raise ApiError(415, "UnsupportedMediaType",
                           f'the body of the request was in an unknown format - accepted media types include: '
                           f'application/json, application/yaml')
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}") from None

    def send_json(self, code, obj, headers=None):
        data = dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_status(self, e):
        self.send_json(e.code, e.status(), e.headers)

    def abort_connection(self, partial=None):
        """Close the TCP connection without a clean end. For a chunked stream (partial is not None) first
        send a chunk header promising more than is sent, so the client sees a cut mid-chunk."""
        if partial is not None:
            try:
                self.wfile.write(b"%x\r\n" % (len(partial) + 4096) + partial[: max(0, len(partial) // 2)])
            except OSError:
                pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def authenticate(self):
        auth = self.headers.get("Authorization") or ""
        try:
            cert = self.connection.getpeercert()
        except (ValueError, OSError):
            cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        if auth[:7].lower() == "bearer ":
            tok = auth[7:].strip()
            if hmac.compare_digest(tok.encode(), self.server.token.encode()):
                return TOKEN_USER
        return None

    # -- dispatch
    def dispatch(self, method):
        self._body = None
        self.entry = None
        self.logged = False
        self.warnings = []
        url = urlsplit(self.path)
        path = unquote(url.path or "/")  # like Go's URL.Path: percent-escapes decoded
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        is_watch = q.get("watch") in TRUE or "/watch/" in path
        control = path.startswith("/_test/") or path == "/_test"
        self.max_body = MAX_CONTROL_BODY if control else MAX_BODY
        if not control:
            self.entry = {"method": method, "path": path, "query": q, "status": None, "user": None,
                          "t": round(time.monotonic(), 6),
                          "watch": is_watch}
        try:
            # Read the whole body first, so that the connection stays usable whatever we answer.
            try:
                self.body_bytes()
            except ApiError:
                self.close_connection = True
                raise
            user = self.authenticate()
            if self.entry is not None:
                self.entry["user"] = user
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if control:
                self.control(method, path, q)
                return
            fault = self.server.faults.match(method, path, is_watch)
            if fault:
                if fault["action"] == "delay":
                    time.sleep(fault["delay_ms"] / 1000.0)
                elif fault["action"] == "status":
                    raise generic_error(fault["status"], fault["message"], fault["retry_after"],
                                        fault["retry_after_header"])
                elif fault["action"] == "drop" and not is_watch:
                    raise DropConnection()
                elif fault["action"] == "raw":
                    # A body of the test's own making, as a broken or hostile server would send.
                    data = fault["body"].encode("utf-8")
                    self.send_response(fault["status"])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    if self.entry is not None:
                        self.entry["status"] = fault["status"]
                    return
            self.route(method, path, q, is_watch, fault if fault and fault["action"] == "drop" else None)
        except DropConnection:
            if self.entry is not None and not self.logged:
                self.logged = True
                self.entry["status"] = 0
                self.server.log_request_entry(self.entry)
            self.abort_connection()
        except ApiError as e:
            self.send_error_status(e)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug must not kill the connection thread silently
            traceback.print_exc()
            try:
                self.send_error_status(ApiError(500, "InternalError", f"Internal error occurred: {e}"))
            except OSError:
                self.close_connection = True

    # -- /_test control API
    def control(self, method, path, q):
        srv = self.server
        st = srv.store
        if path == "/_test/faults":
            if method == "POST":
                fid = srv.faults.add(self.json_body())
                return self.send_json(200, {"id": fid})
            if method == "GET":
                return self.send_json(200, srv.faults.list())
            if method == "DELETE":
                srv.faults.clear()
                return self.send_json(200, {"cleared": True})
        m = re.match(r"^/_test/faults/(\d+)$", path)
        if m and method == "DELETE":
            if srv.faults.remove(int(m.group(1))):
                return self.send_json(200, {"removed": int(m.group(1))})
            raise ApiError(404, "NotFound", f"fault {m.group(1)} not found")
        if path == "/_test/compact" and method == "POST":
            body = self.json_body(allow_empty=True) or {}
            mode = body.get("mode", "event") if isinstance(body, dict) else None
            if mode not in ("event", "http"):
                raise bad_request('compact "mode" must be "event" or "http"')
            rv = st.compact(mode)
            return self.send_json(200, {"resourceVersion": str(rv), "mode": mode})
        if path == "/_test/drop-watches" and method == "POST":
            with st.lock:
                ws = list(srv.watches)
                for w in ws:
                    w.drop = True
                st.cond.notify_all()
            start = time.monotonic()
            forced = False
            while time.monotonic() < start + 5:
                with st.lock:
                    left = [w for w in ws if w in srv.watches]
                if not left:
                    break
                if not forced and time.monotonic() > start + 1:
                    # A stream blocked writing to a client that does not read: cut the socket under it.
                    forced = True
                    for w in left:
                        try:
                            w.handler.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                time.sleep(0.01)
            return self.send_json(200, {"dropped": len(ws)})
        if path == "/_test/bookmark" and method == "POST":
            with st.lock:
                srv.bookmark_seq += 1
                st.cond.notify_all()
            return self.send_json(200, {"resourceVersion": str(st.rv)})
        if path == "/_test/requests":
            if method == "GET":
                with srv.log_lock:
                    return self.send_json(200, list(srv.requests))
            if method == "DELETE":
                with srv.log_lock:
                    srv.requests.clear()
                return self.send_json(200, {"cleared": True})
        if path == "/_test/watches" and method == "GET":
            with st.lock:
                return self.send_json(200, len(srv.watches))
        if path == "/_test/bulk" and method == "POST":
            return self.bulk()
        if path == "/_test/validate" and method == "POST":
            body = self.json_body()
            return self.send_json(200, {"errors": builtin_types.check_object(body)})
        if path == "/_test/state" and method == "GET":
            with st.lock:
                return self.send_json(200, {"resourceVersion": str(st.rv), "oldestResourceVersion": str(st.oldest_rv()),
                                            "history": len(st.hist), "expiredMode": st.expired_mode})
        raise ApiError(404, "NotFound", f"no control endpoint {method} {path}")

    def bulk(self):
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not isinstance(body.get("items"), list):
            raise bad_request('bulk needs {"path": "<collection path>", "items": [objects]}')
        res, ns, name, sub, _ = self.resolve(body["path"])
        if name is not None or sub is not None or (res.namespaced and ns is None):
            raise bad_request("bulk path must be a collection path (namespaced kinds need a namespace)")
        st = self.server.store
        n = 0
        with st.lock:
            for it in body["items"]:
                st.create(res, ns, it)
                n += 1
            rv = st.rv
        return self.send_json(200, {"created": n, "resourceVersion": str(rv)})

    # -- routing
    def route(self, method, path, q, is_watch, drop_fault):
        if method == "HEAD":
            method = "GET"
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        if path == "/version":
            return self.send_json(200, VERSION)
        if path.startswith("/openapi/"):
            return self.openapi(path)
        segs = [s for s in path.split("/") if s]
        if method == "GET":
            reg = self.server.registry
            if segs == ["api"]:
                return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.server.server_address[1]}"}]})
            if segs == ["apis"]:
                return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                            "groups": [self.api_group(g) for g in reg.groups()]})
            if len(segs) == 2 and segs[0] == "apis":
                if segs[1] not in reg.groups():
                    raise self.not_found_path()
                return self.send_json(200, dict(self.api_group(segs[1]), kind="APIGroup", apiVersion="v1"))
            if (len(segs) == 2 and segs[0] == "api") or (len(segs) == 3 and segs[0] == "apis"):
                group, version = ("", segs[1]) if segs[0] == "api" else (segs[1], segs[2])
                rs = reg.in_gv(group, version)
                if not rs:
                    raise self.not_found_path()
                out = []
                for r in sorted(rs, key=lambda r: r.plural):
                    out.extend(r.discovery())
                return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                            "groupVersion": f"{group}/{version}" if group else version,
                                            "resources": out})
        res, ns, name, sub, legacy_watch = self.resolve(path)
        is_watch = is_watch or legacy_watch
        fv = q.get("fieldValidation") or "Warn"
        if fv not in ("Ignore", "Warn", "Strict"):
            raise bad_request(f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{fv}"')
        dry = q.get("dryRun")
        if dry not in (None, "", "All"):
            raise bad_request(f'unsupported dryRun value "{dry}" (only "All")')
        dry = dry == "All"
        st = self.server.store
        table = tables.wants_table(self.headers.get("Accept"))
        if name is None:
            if method == "GET":
                if is_watch:
                    return self.watch(res, ns, q, table, drop_fault)
                return self.list(res, ns, q, table)
            if method == "POST":
                if res.namespaced and ns is None:
                    raise ApiError(405, "MethodNotAllowed", f"POST is not supported on {res.group_resource} across all namespaces; use a namespaced path")
                obj = st.create(res, ns, self.json_body(), dry, fv, self.warnings)
                return self.send_obj(201, res, obj)
            if method == "DELETE" and res.skey != ("", "namespaces"):
                return self.delete_collection(res, ns, q, dry)
            raise self.method_not_allowed(method, res)
        if is_watch:
            raise bad_request("watch is only supported on collections; use fieldSelector=metadata.name=<name>")
        if sub == "eviction":
            if method != "POST":
                raise self.method_not_allowed(method, res)
            return self.evict(res, ns, name, dry)
        if method == "GET":
            obj = st.get_rv(res, ns or "", name, q.get("resourceVersion"))
            return self.send_obj(200, res, obj, table)
        if method == "PUT":
            obj = st.update(res, ns or "", name, self.json_body(), sub, dry, fv, self.warnings)
            return self.send_obj(200, res, obj)
        if method == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            kinds = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
                     "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}
            if ctype not in kinds:
                raise ApiError(415, "UnsupportedMediaType",
                               f'the body of the request was in an unknown format - accepted media types include: '
                               f'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml'
                               f'{"" if res.custom else ", application/strategic-merge-patch+json"}')
            ptype = kinds[ctype]
            body = self.json_body(yaml_ok=(ptype == "apply"))
            obj, created = st.patch(res, ns or "", name, ptype, body, sub, dry, fv, self.warnings,
                                    q.get("fieldManager"))
            return self.send_obj(201 if created else 200, res, obj)
        if method == "DELETE":
            if sub is not None:
                raise self.method_not_allowed(method, res)
            opts = self.json_body(allow_empty=True) or {}
            if not isinstance(opts, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            pre = opts.get("preconditions") or {}
            if not isinstance(pre, dict):
                raise bad_request("preconditions must be a JSON object")
            pol = opts.get("propagationPolicy") or q.get("propagationPolicy")
            if pol not in (None, "Background", "Foreground", "Orphan"):
                raise bad_request(f'propagationPolicy "{pol}" is not one of Background, Foreground, Orphan')
            dry = dry or (opts.get("dryRun") == ["All"])
            obj, gone = st.delete(res, ns or "", name, pre, dry)
            if gone and not res.custom:
                return self.send_json(200, status_obj(200, "", "", {
                    "name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"].get("uid")}))
            return self.send_obj(200, res, obj)
        raise self.method_not_allowed(method, res)

    def evict(self, res, ns, name, dry):
        """POST pods/<name>/eviction (policy/v1): 429 while a PodDisruptionBudget selecting the pod
        allows no disruption (computed from minAvailable/maxUnavailable over the live pods it
        selects), otherwise the pod is deleted and 201 answers a Success Status."""
        st = self.server.store
        body = self.json_body(allow_empty=True) or {}
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise bad_request("the body of an eviction must be an Eviction object")
        pod = st.get(res, ns, name)
        labels = (pod.get("metadata") or {}).get("labels") or {}
        pdb_res = self.server.registry.get("policy", "v1", "poddisruptionbudgets")

        def selects(sel, lbls):
            ml = (sel or {}).get("matchLabels") or {}
            return bool(ml) and all(lbls.get(k) == v for k, v in ml.items())

        if pdb_res is not None:
            pdbs, _, _, _ = st.list(pdb_res, ns)
            pods, _, _, _ = st.list(res, ns)
            for pdb in pdbs:
                spec = pdb.get("spec") or {}
                if not selects(spec.get("selector"), labels):
                    continue
                live = [p for p in pods if selects(spec.get("selector"), (p.get("metadata") or {}).get("labels") or {})
                        and not (p.get("metadata") or {}).get("deletionTimestamp")]
                healthy = len(live)

                def amount(v):
                    if isinstance(v, str) and v.endswith("%"):
                        return -(-int(v[:-1]) * healthy // 100)
                    return int(v)

                if spec.get("minAvailable") is not None:
                    allowed = healthy - amount(spec["minAvailable"])
                elif spec.get("maxUnavailable") is not None:
                    allowed = amount(spec["maxUnavailable"])
                else:
                    allowed = healthy
                if allowed <= 0:
                    pname = pdb["metadata"]["name"]
                    raise ApiError(429, "TooManyRequests",
                                   "Cannot evict pod as it would violate the pod's disruption budget.",
                                   {"causes": [{"reason": "DisruptionBudget",
                                                "message": f"The disruption budget {pname} needs "
                                                           f"{healthy - max(allowed, 0)} healthy pods and has "
                                                           f"{healthy} currently"}]})
        if not dry:
            st.delete(res, ns, name, {}, False)
        return self.send_json(201, status_obj(201, "", "", None) | {"status": "Success"})

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found_path(self):
        return ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def method_not_allowed(self, method, res):
        return ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource",
                        {"group": res.group, "kind": res.plural})

    def api_group(self, g):
        vs = self.server.registry.versions_of(g)
        gvs = [{"groupVersion": f"{g}/{v}", "version": v} for v in vs]
        return {"name": g, "versions": gvs, "preferredVersion": gvs[0]}

    def resolve(self, path):
        """(resource, namespace|None, name|None, subresource|None, legacy_watch) for a REST path."""
        segs = [s for s in path.split("/") if s]
        if len(segs) >= 2 and segs[0] == "api":
            group, version, rest = "", segs[1], segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise self.not_found_path()
        legacy = False
        if rest and rest[0] == "watch":
            legacy, rest = True, rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise self.not_found_path()
        res = self.server.registry.get(group, version, rest[0])
        if res is None:
            raise self.not_found_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if ns is not None and not res.namespaced:
            raise self.not_found_path()
        if res.namespaced and name is not None and ns is None:
            raise self.not_found_path()
        if sub == "eviction" and res.skey == ("", "pods"):
            return res, ns, name, sub, legacy
        if sub is not None and (sub != "status" or not res.status):
            raise self.not_found_path()
        return res, ns, name, sub, legacy

    def out_obj(self, res, obj):
        if obj.get("apiVersion") != res.api_version:
            obj = dict(obj, apiVersion=res.api_version)
        return obj

    def send_obj(self, code, res, obj, table=False):
        hdrs = {}
        if self.warnings:
            hdrs["Warning"] = ['299 - ' + json.dumps(w) for w in self.warnings]
        obj = self.out_obj(res, obj)
        if table:
            obj = tables.to_table(res, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                  self.include_object())
        self.send_json(code, obj, hdrs)

    def include_object(self):
        q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        v = q.get("includeObject", "Metadata")
        if v not in ("None", "Metadata", "Object"):
            raise bad_request('includeObject must be "None", "Metadata" or "Object"')
        return v

    def selectors(self, res, q):
        try:
            return parse_labels(q.get("labelSelector")), parse_fields(q.get("fieldSelector"), res.skey)
        except SelectorError as e:
            raise bad_request(str(e)) from None

    def list_checks(self, q, watch):
        rv, match = q.get("resourceVersion"), q.get("resourceVersionMatch")
        if match not in (None, ""):
            if match not in ("Exact", "NotOlderThan"):
                raise ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                               f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"')
            if watch:
                if q.get("sendInitialEvents") is None or match != "NotOlderThan":
                    raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                                   'Forbidden: resourceVersionMatch is forbidden for watch unless '
                                                   'sendInitialEvents is provided')
            else:
                if not rv:
                    raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                                   'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided')
                if q.get("continue"):
                    raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                                   'Forbidden: resourceVersionMatch is forbidden when continue is provided')
                if match == "Exact" and rv == "0":
                    raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                                   'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
        if not watch and q.get("sendInitialEvents") is not None:
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                                           'sendInitialEvents is forbidden for list')
        if watch and q.get("sendInitialEvents") in TRUE and q.get("allowWatchBookmarks") not in TRUE:
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: allowWatchBookmarks: Forbidden: '
                                           'allowWatchBookmarks must be true when sendInitialEvents is set')

    def list(self, res, ns, q, table):
        self.list_checks(q, False)
        lp, fp = self.selectors(res, q)
        limit = q.get("limit") or "0"
        try:
            limit = int(limit)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise bad_request(f'limit must be a non-negative integer, not "{q.get("limit")}"') from None
        items, rv, token, remaining = self.server.store.list(
            res, ns, lp, fp, limit, q.get("continue") or None, q.get("resourceVersion"), q.get("resourceVersionMatch"))
        meta = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        items = [self.out_obj(res, o) for o in items]
        if table:
            return self.send_json(200, tables.to_table(res, items, meta, self.include_object()))
        # Hand-assemble the JSON so that large lists need one pass over the objects.
        head = dumps({"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta})
        data = (head[:-1] + ',"items":[' + ",".join(dumps(o) for o in items) + "]}").encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def delete_collection(self, res, ns, q, dry):
        lp, fp = self.selectors(res, q)
        st = self.server.store
        with st.lock:
            items, rv, _, _ = st.list(res, ns, lp, fp)
            out = []
            for o in items:
                m = o["metadata"]
                try:
                    obj, _ = st.delete(res, m.get("namespace", ""), m["name"], None, dry)
                    out.append(self.out_obj(res, obj))
                except ApiError:
                    pass
        return self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                                    "metadata": {"resourceVersion": str(st.rv)}, "items": out})

    # -- watch
    def watch(self, res, ns, q, table, drop_fault):
        self.list_checks(q, True)
        lp, fp = self.selectors(res, q)
        srv = self.server
        st = srv.store
        bookmarks = q.get("allowWatchBookmarks") in TRUE
        send_initial = q.get("sendInitialEvents") in TRUE
        try:
            timeout = float(q.get("timeoutSeconds") or srv.opts.watch_timeout)
        except ValueError:
            raise bad_request("timeoutSeconds must be an integer") from None
        if timeout <= 0:
            timeout = srv.opts.watch_timeout
        rv_param = q.get("resourceVersion")
        initial = []
        expired = None
        with st.lock:
            if send_initial or rv_param in (None, "", "0"):
                if rv_param not in (None, "", "0"):
                    want = parse_rv(rv_param)
                    if want > st.rv and not st.wait_rv(want, 3.0):
                        raise st.too_large(want)
                initial, _, _, _ = st.list(res, ns, lp, fp)
                cursor = st.rv
            else:
                cursor = parse_rv(rv_param)
                if cursor > st.rv and not st.wait_rv(cursor, 3.0):
                    raise st.too_large(cursor)
                oldest = st.oldest_rv()
                if cursor < oldest:
                    expired = Expired(cursor, oldest + 1)
                    if st.expired_mode == "http":
                        raise ApiError(410, "Expired", expired.message)
            state = WatchState(self)
            state.bookmark_seq = srv.bookmark_seq
            srv.watches.add(state)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.stream(res, ns, lp, fp, table, bookmarks, send_initial, timeout, initial, cursor, expired,
                        state, drop_fault)
        finally:
            with st.lock:
                srv.watches.discard(state)

    def stream(self, res, ns, lp, fp, table, bookmarks, send_initial, timeout, initial, cursor, expired, state,
               drop_fault):
        srv = self.server
        st = srv.store
        deadline = time.monotonic() + timeout
        interval = srv.opts.bookmark_interval
        next_bm = time.monotonic() + interval
        budget = drop_fault["after_events"] if drop_fault else None
        skey = res.skey
        scoped = ns is not None and res.namespaced
        kind_hdr = {"kind": res.kind, "apiVersion": res.api_version}

        def encode(etype, obj, cache_ev=None):
            if table:
                o = tables.to_table(res, [self.out_obj(res, obj)], {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
                return ('{"type":"%s","object":%s}\n' % (etype, dumps(o))).encode("utf-8")
            if cache_ev is not None and cache_ev.type == etype and obj.get("apiVersion") == res.api_version:
                if cache_ev.raw is None:
                    cache_ev.raw = ('{"type":"%s","object":%s}\n' % (etype, dumps(obj))).encode("utf-8")
                return cache_ev.raw
            return ('{"type":"%s","object":%s}\n' % (etype, dumps(self.out_obj(res, obj)))).encode("utf-8")

        def bookmark(rv, initial_end=False):
            meta = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return ('{"type":"BOOKMARK","object":%s}\n' % dumps(dict(kind_hdr, metadata=meta))).encode("utf-8")

        def write(lines):
            nonlocal budget
            if not lines:
                return
            if budget is not None:
                if len(lines) >= budget:
                    keep = lines[:budget]
                    if keep:
                        data = b"".join(keep)
                        self.chunk(data)
                    nxt = lines[budget] if budget < len(lines) else b'{"type":"MODIFIED","object":{"kind"'
                    raise DropConnection(nxt)
                budget -= len(lines)
            data = b"".join(lines)
            self.chunk(data)

        def error_event(e):
            return ('{"type":"ERROR","object":%s}\n' % dumps(status_obj(410, "Expired", e.message))).encode("utf-8")

        try:
            if expired is not None:
                self.chunk(error_event(expired))
                self.wfile.write(b"0\r\n\r\n")
                return
            batch = []
            for o in initial:
                batch.append(encode("ADDED", o))
                if len(batch) >= 512:
                    write(batch)
                    batch = []
            write(batch)
            if budget == 0:
                raise DropConnection(b"")
            if send_initial and bookmarks:
                self.chunk(bookmark(cursor, True))
            while True:
                with st.lock:
                    if state.drop:
                        raise DropConnection(b'{"type":"MODIFIED","object":{"kind"')
                    try:
                        evs = st.events_after(cursor)
                        if not evs:
                            now = time.monotonic()
                            wait = min(deadline - now, 0.25)
                            if bookmarks:
                                wait = min(wait, next_bm - now)
                            if wait > 0 and state.bookmark_seq == srv.bookmark_seq:
                                st.cond.wait(wait)
                            if state.drop:
                                raise DropConnection(b'{"type":"MODIFIED","object":{"kind"')
                            evs = st.events_after(cursor)
                    except Expired as e:
                        evs = None
                        err = e
                    if evs:
                        cursor = evs[-1].rv
                    force_bm = state.bookmark_seq != srv.bookmark_seq
                    state.bookmark_seq = srv.bookmark_seq
                if evs is None:
                    self.chunk(error_event(err))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                lines = []
                for ev in evs:
                    if ev.skey != skey or (scoped and ev.key[0] != ns):
                        continue
                    if lp is None and fp is None:
                        lines.append(encode(ev.type, ev.obj, ev))
                        continue
                    new_m = (lp is None or lp(ev.obj)) and (fp is None or fp(ev.obj))
                    if ev.type == "MODIFIED":
                        old_m = ev.prev is not None and (lp is None or lp(ev.prev)) and (fp is None or fp(ev.prev))
                        if new_m and old_m:
                            lines.append(encode("MODIFIED", ev.obj, ev))
                        elif new_m:
                            lines.append(encode("ADDED", ev.obj))
                        elif old_m:
                            lines.append(encode("DELETED", ev.obj))
                    elif new_m:
                        lines.append(encode(ev.type, ev.obj, ev))
                    if len(lines) >= 512:
                        write(lines)
                        lines = []
                write(lines)
                now = time.monotonic()
                if bookmarks and (now >= next_bm or force_bm):
                    bm = bookmark(cursor)
                    self.chunk(bm)
                    next_bm = now + interval
                if now >= deadline:
                    if bookmarks:
                        bm = bookmark(cursor)
                        self.chunk(bm)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if self.client_gone():
                    self.close_connection = True
                    return
        except DropConnection as d:
            partial = d.args[0] if d.args else b""
            self.abort_connection(partial)

    def chunk(self, data):
        """Write data as one HTTP chunk, or as several of --watch-chunk-bytes bytes (events then straddle
        chunk boundaries, which clients must handle)."""
        n = self.server.opts.watch_chunk_bytes
        if n and n > 0 and len(data) > n:
            out = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + n]), data[i:i + n]) for i in range(0, len(data), n))
            self.wfile.write(out)
        else:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def client_gone(self):
        """True if the client closed its side (a watch client never sends anything while streaming)."""
        try:
            if self.connection.pending():
                return False
            r, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    # -- OpenAPI v3 (enough for kubectl: it learns that PATCH supports fieldValidation, so it relies on
    # server-side field validation instead of downloading OpenAPI v2 for client-side validation)
    def openapi(self, path):
        reg = self.server.registry
        gvs = {}
        for r in reg.all():
            gvs.setdefault((r.group, r.version), []).append(r)

        def gv_path(g, v):
            return f"apis/{g}/{v}" if g else f"api/{v}"

        def gv_hash(rs):
            h = hashlib.sha256()
            for r in sorted(rs, key=lambda r: r.plural):
                h.update(f"{r.group}/{r.version}/{r.plural}/{r.kind}/{bool(r.schema)}".encode())
            return h.hexdigest()[:16].upper()
        if path in ("/openapi/v3", "/openapi/v3/"):
            return self.send_json(200, {"paths": {gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}?hash={gv_hash(rs)}"}
                                                  for (g, v), rs in gvs.items()}})
        if path.startswith("/openapi/v3/"):
            want = path[len("/openapi/v3/"):].strip("/")
            for (g, v), rs in gvs.items():
                if gv_path(g, v) == want:
                    return self.send_json(200, self.openapi_doc(g, v, rs))
        raise self.not_found_path()

    def openapi_doc(self, g, v, rs):
        paths, schemas = {}, {}
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        for r in rs:
            prefix = f"/apis/{g}/{v}" if g else f"/api/{v}"
            coll = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
            gvk = {"group": g, "version": v, "kind": r.kind}
            sname = ".".join(reversed(g.split("."))) + f".{v}.{r.kind}" if g else f"io.k8s.api.core.{v}.{r.kind}"
            ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{sname}"}}}}}
            paths[coll + "/{name}"] = {
                "get": {"operationId": f"read{r.kind}", "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": ok},
                "patch": {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
                          "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": ok},
            }
            sch = dict(r.schema) if isinstance(r.schema, dict) else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            sch["x-kubernetes-group-version-kind"] = [gvk]
            schemas[sname] = sch
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
                "paths": paths, "components": {"schemas": schemas}}


# ---- start-up ---------------------------------------------------------------------------------

def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_crd_dirs():
    return [default_crd_dir(), os.path.join(os.path.dirname(default_crd_dir()), "seed-crds")]


def default_crd_dir():
    specs = os.environ.get("EQXM_SPECS")
    if specs:
        return os.path.join(specs, "gardener-crds")
    return os.path.join(repo_root(), "test", "specs", "gardener-crds")


def write_file(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def kubeconfig(url, user_entry, ca_entry):
    cfg = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "kubeapi-test", "cluster": dict({"server": url}, **ca_entry)}],
           "users": [{"name": "kubeapi-test-user", "user": user_entry}],
           "contexts": [{"name": "kubeapi-test", "context": {"cluster": "kubeapi-test", "user": "kubeapi-test-user",
                                                             "namespace": "default"}}],
           "current-context": "kubeapi-test", "preferences": {}}
    return yaml.safe_dump(cfg, sort_keys=False)


def build_store(opts):
    registry = resmod.Registry()
    for r in resmod.builtin_resources():
        registry.add(r)
    store = Store(registry, opts.history)
    crd_res = registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")

    def crd_hook(etype, crd):
        name = crd["metadata"]["name"]
        if etype == "DELETED":
            gone = [r for r in registry.all() if r.crd_name == name]
            if gone:
                store.drop_resource(gone[0])
            registry.remove_crd(name)
            return
        try:
            rs = resmod.resources_from_crd(crd)
        except resmod.CRDError:
            return
        registry.remove_crd(name)
        for r in rs:
            if registry.get(r.group, r.version, r.plural) is None:
                registry.add(r)
    store.crd_hooks.append(crd_hook)
    ns_res = registry.get("", "v1", "namespaces")
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        store.create(ns_res, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    dirs = opts.crd_dir or default_crd_dirs()
    for crd in resmod.load_crd_files(dirs) + resmod.schemaless_crds():
        if registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions") and \
                (("", crd["metadata"]["name"]) not in store.data.get(crd_res.skey, {})):
            store.create(crd_res, "", crd)
    return registry, store


def main(argv=None):
    ap = argparse.ArgumentParser(description="Test kube-apiserver for integration tests (see docs/test-servers.md).")
    ap.add_argument("--state-dir", required=True, help="directory for certificates, kubeconfigs, port, url, ready")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--history", type=int, default=1000, help="watch history window in events (default 1000)")
    ap.add_argument("--crd-dir", action="append", help="directory of CRD YAML files (repeatable; default: the gardener-crds and seed-crds of the specs)")
    ap.add_argument("--token", help="bearer token to accept (default: random)")
    ap.add_argument("--bookmark-interval", type=float, default=1.0, help="seconds between BOOKMARK events (default 1)")
    ap.add_argument("--watch-timeout", type=float, default=1800.0, help="watch timeout when timeoutSeconds is unset")
    ap.add_argument("--watch-chunk-bytes", type=int, default=0,
                    help="split watch output into HTTP chunks of at most this many bytes (0 = one chunk per batch)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    opts = ap.parse_args(argv)
    if opts.history < 1:
        ap.error("--history must be at least 1")
    if opts.bookmark_interval <= 0:
        ap.error("--bookmark-interval must be positive")
    d = os.path.abspath(opts.state_dir)
    os.makedirs(d, exist_ok=True)
    for f in ("ready", "port", "url"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    try:
        certs.make_pki(d, client_cn=CLIENT_CN)
        registry, store = build_store(opts)
    except (certs.CertError, resmod.CRDError, ApiError) as e:
        sys.stderr.write(f"kubeapi: cannot start: {e}\n")
        return 1
    token = opts.token or secrets.token_hex(24)
    write_file(os.path.join(d, "token"), token, 0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        srv = KubeServer(("127.0.0.1", opts.port), ctx, opts, store, registry, token)
    except OSError as e:
        sys.stderr.write(f"kubeapi: cannot listen on 127.0.0.1:{opts.port}: {e}\n")
        return 1
    port = srv.server_address[1]
    url = f"https://127.0.0.1:{port}"
    ca = os.path.join(d, "ca.crt")
    with open(ca, "rb") as f:
        import base64
        ca_data = base64.b64encode(f.read()).decode()
    write_file(os.path.join(d, "kubeconfig"), kubeconfig(url, {"token": token}, {"certificate-authority-data": ca_data}), 0o600)
    write_file(os.path.join(d, "kubeconfig-cert"), kubeconfig(
        url, {"client-certificate": os.path.join(d, "client.crt"), "client-key": os.path.join(d, "client.key")},
        {"certificate-authority": ca}), 0o600)
    write_file(os.path.join(d, "kubeconfig-tokenfile"), kubeconfig(
        url, {"tokenFile": os.path.join(d, "token")}, {"certificate-authority": ca}), 0o600)
    write_file(os.path.join(d, "port"), f"{port}\n")
    write_file(os.path.join(d, "url"), url + "\n")
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    write_file(os.path.join(d, "ready"), f"{os.getpid()}\n")
    sys.stderr.write(f"kubeapi: serving {url} (state in {d})\n")
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    try:
        srv.socket.close()
    except OSError:
        pass
    try:
        os.unlink(os.path.join(d, "ready"))
    except OSError:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
