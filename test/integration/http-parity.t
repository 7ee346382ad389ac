#!/usr/bin/env python3
"""One HTTP server, two transports: the controller's plain-HTTP metrics port and its TLS webhook port
get the same bytes and must give the same answers (status, Connection: close) for every edge of the
request parser and its limits: bare LF line ends, header sections just under and over 16 KiB, too
many header fields, chunked bodies, missing Host, other HTTP versions, bad request lines, bad percent
escapes, NUL bytes, and pipelined keep-alive requests. (Before there was one server, the metrics
port served bare-LF requests and refused headers over 8 KiB while the webhook port refused the
former and served the latter.)

Then the limits and overload behaviour with the same options on both transports (test/tools/httpd_pair:
one plain and one TLS port): the connection cap (clients that cannot get a slot within 1 s are
answered 503 with Retry-After), the body cap (413 from the headers), a request that does not
arrive in time and an idle kept-alive connection (both closed without an answer)."""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env  # noqa: E402
from tap import Tap  # noqa: E402
from whtest import ensure_namespace, tls_connect, tls_context  # noqa: E402

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/kubeapi"))
from certs import make_pki  # noqa: E402

t = Tap()
SECRET = "/api/v1/namespaces/garden/secrets/gardener-extension-provider-equinix-metal-webhook-certs"


def header_of(size):
    """GET /nope with one header field making the header section exactly size bytes."""
    head = b"GET /nope HTTP/1.1\r\nHost: x\r\nX-Fill: "
    return head + b"a" * (size - len(head) - 4) + b"\r\n\r\n"


CASES = [
    ("a bare LF line end", b"GET /nope HTTP/1.1\nHost: x\n\n", 400),
    ("a bare LF after CRLF lines", b"GET /nope HTTP/1.1\r\nHost: x\n\r\n", 400),
    ("a 10 KiB header section", header_of(10 * 1024), 404),
    ("a header section of exactly 16 KiB", header_of(16 * 1024), 404),
    ("a header section of 16 KiB + 1", header_of(16 * 1024 + 1), 431),
    ("65 header fields", b"GET /nope HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 64 + b"\r\n", 431),
    ("a chunked body", b"GET /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    ("another transfer coding", b"GET /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("HTTP/1.1 without Host", b"GET /nope HTTP/1.1\r\n\r\n", 400),
    ("HTTP/2.0", b"GET /nope HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("HTTP/1.9 (served as 1.1)", b"GET /nope HTTP/1.9\r\nHost: x\r\n\r\n", 404),
    ("a request line with a fourth part", b"GET /nope HTTP/1.1 x\r\nHost: x\r\n\r\n", 400),
    ("a target that is not a path", b"GET nope HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("a bad percent escape", b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("an encoded NUL", b"GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("a NUL byte in a header", b"GET /nope HTTP/1.1\r\nHost: x\x00y\r\n\r\n", 400),
    ("folded header lines", b"GET /nope HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    ("two Host fields", b"GET /nope HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    ("conflicting Content-Length", b"GET /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
     b"Content-Length: 2\r\n\r\nab", 400),
    ("Expect other than 100-continue", b"GET /nope HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n", 417),
    ("a target over 2048 bytes", b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("empty lines before the request line", b"\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
]


def answers(sock, data, n=1):
    """Send data, read up to n responses: [(status, connection header)], ("no answer", why) for a
    missing one. Bytes after one response are kept for the next (pipelined answers)."""
    out, buf = [], b""
    try:
        sock.sendall(data)
        for _ in range(n):
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed before a response ({buf[:80]!r})")
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
            length = int(hdrs.get("content-length", "0"))
            while len(buf) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside a body")
                buf += chunk
            buf = buf[length:]
            out.append((int(lines[0].split(" ")[1]), hdrs.get("connection", "")))
    except (ConnectionError, ssl.SSLError, socket.timeout, OSError, ValueError) as e:
        out.append(("no answer", repr(e)[:80]))
    return out


def main(env):
    ensure_namespace(env.kube, "garden")
    c = env.controller("--webhook-config-mode", "url", "--webhook-config-url", "127.0.0.1:9443",
                       "--webhook-config-server-port", "0", "--webhook-config-namespace", "garden",
                       webhooks=True)
    wport = int(c.wait_log("webhook server listening")["port"])
    mport = int(c.wait_log("serving metrics")["port"])
    c.wait_log("webhook server is serving TLS")
    st, sec = env.kube.get(SECRET)
    t.eq(200, st, "the webhook certificate Secret exists")
    ctx = tls_context(cadata=base64.b64decode(sec["data"]["ca.crt"]).decode())

    def plain():
        return socket.create_connection(("127.0.0.1", mport), timeout=10)

    def tls():
        return tls_connect(wport, ctx, hostname="127.0.0.1")

    for what, data, want in CASES:
        got = {}
        for name, dial in (("plain", plain), ("tls", tls)):
            s = dial()
            try:
                got[name] = answers(s, data)[0]
            finally:
                s.close()
        refusal = want >= 400 and want != 404
        t.ok(got["plain"][0] == got["tls"][0] == want and
             (not refusal or got["plain"][1] == got["tls"][1] == "close"),
             f"{what}: {want} on both ports" + (" and the connection closes" if refusal else ""),
             diag=got)
    # Keep-alive and pipelining: three requests in one write, three answers, the last closes.
    pipelined = (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" * 2 +
                 b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = {}
    for name, dial in (("plain", plain), ("tls", tls)):
        s = dial()
        try:
            got[name] = answers(s, pipelined, 3)
        finally:
            s.close()
    want = [(404, ""), (404, ""), (404, "close")]
    t.ok(got["plain"] == got["tls"] == want, "three pipelined requests get three answers in order on both",
         diag=got)
    t.eq(0, c.stop(), "the controller stops cleanly")


def closed_silently(sock, within):
    """The server closes the connection within `within` seconds without sending anything."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ssl.SSLError as e:
        return "EOF" in str(e) or "closed" in str(e).lower()
    except ConnectionError:
        return True
    except socket.timeout:
        return False


def limits():
    tmp = tempfile.mkdtemp(prefix="http-parity-")
    proc = None
    try:
        make_pki(tmp)
        shutil.copy(os.path.join(tmp, "server.crt"), os.path.join(tmp, "tls.crt"))
        shutil.copy(os.path.join(tmp, "server.key"), os.path.join(tmp, "tls.key"))
        tool = os.path.join(os.environ.get("EQXM_BUILD", "build/release"), "test", "tools", "httpd_pair")
        proc = subprocess.Popen([tool, "--cert-dir", tmp, "--max-conns", "2", "--read-timeout", "3",
                                 "--idle-timeout", "2", "--max-body", "1024"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ports = dict(proc.stdout.readline().split() for _ in range(2))
        ctx = tls_context(cafile=os.path.join(tmp, "ca.crt"))
        dials = {"plain": lambda: socket.create_connection(("127.0.0.1", int(ports["plain"])), timeout=10),
                 "tls": lambda: tls_connect(int(ports["tls"]), ctx, hostname="127.0.0.1")}

        def both(fn):
            return {name: fn(dial) for name, dial in dials.items()}

        def one(dial, data):
            s = dial()
            try:
                return answers(s, data)[0]
            finally:
                s.close()

        got = both(lambda d: one(d, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"))
        t.ok(got["plain"] == got["tls"] == (200, ""), "both ports serve the same route", diag=got)
        got = both(lambda d: one(d, b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024))
        t.ok(got["plain"] == got["tls"] == (200, ""), "a body of exactly --max-body is served on both", diag=got)
        got = both(lambda d: one(d, b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"))
        t.ok(got["plain"] == got["tls"] == (413, "close"), "a body over --max-body gets 413 from the headers on both",
             diag=got)

        def overload(dial):
            held = [dial(), dial()]  # both slots, silent (TLS: after the handshake)
            try:
                start = time.monotonic()
                s = dial()  # waits in the listen queue, then is accepted only to be refused
                try:
                    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    buf = b""
                    while b"\r\n\r\n" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    waited = time.monotonic() - start
                finally:
                    s.close()
                head = buf.split(b"\r\n\r\n")[0].decode("latin-1")
                return (head.split("\r\n")[0][:12], "Retry-After: 1" in head, "Connection: close" in head,
                        waited >= 0.9)
            finally:
                for h in held:
                    h.close()
        got = both(overload)
        t.ok(got["plain"] == got["tls"] == ("HTTP/1.1 503", True, True, True),
             "at the connection cap, a client that got no slot within 1 s is answered 503 with Retry-After "
             "and Connection: close on both", diag=got)
        # Once the held connections are gone, the slots are free again (a client that connects before
        # the server has noticed waits in the listen queue for the slot).
        got = both(lambda d: one(d, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        t.ok(got["plain"] == got["tls"] == (200, "close"), "after the cap, new clients are served again on both",
             diag=got)

        def slow(dial):
            s = dial()
            try:
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")  # and never the rest
                return closed_silently(s, 8)
            finally:
                s.close()
        got = both(slow)
        t.ok(got["plain"] is got["tls"] is True,
             "a request that does not arrive within the read timeout is closed without an answer on both", diag=got)

        def idle(dial):
            s = dial()
            try:
                first = answers(s, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")[0]
                return first, closed_silently(s, 8)
            finally:
                s.close()
        got = both(idle)
        t.ok(got["plain"] == got["tls"] == ((200, ""), True),
             "a kept-alive connection is closed after the idle timeout on both", diag=got)
        proc.stdin.close()
        t.eq(0, proc.wait(20), "the tool stops cleanly")
        proc = None
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


with Env() as env:
    t.run("one HTTP server on both transports", main, env)
t.run("the same limits and overload answers on both transports", limits)
sys.exit(t.done())
