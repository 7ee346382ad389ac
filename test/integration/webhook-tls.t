#!/usr/bin/env python3
"""The webhook server's HTTPS front door, against the real binary in --standalone mode with certificates
made by certtool: TLS versions, every kind of bad request, slow and idle clients, keep-alive and
pipelining, many concurrent connections, certificate reload, and a clean SIGTERM."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from whtest import Webhook, https_request, read_response, tls_connect, tls_context  # noqa: E402

ETCD_REVIEW = {
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "u-1", "kind": {"group": "druid.gardener.cloud", "version": "v1alpha1", "kind": "Etcd"},
                "resource": {"group": "druid.gardener.cloud", "version": "v1alpha1", "resource": "etcds"},
                "name": "etcd-main", "namespace": "shoot--a--b", "operation": "CREATE",
                "object": {"apiVersion": "druid.gardener.cloud/v1alpha1", "kind": "Etcd",
                           "metadata": {"name": "etcd-main", "namespace": "shoot--a--b"}, "spec": {}}}}


def certtool(*args):
    subprocess.run(["certtool", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d, cn):
    """CA (ca.crt) and a serving pair (tls.crt/tls.key) for localhost and 127.0.0.1, made with certtool."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ca.tmpl"), "w") as f:
        f.write('cn = "webhook test ca"\nca\ncert_signing_key\nexpiration_days = 2\n')
    with open(os.path.join(d, "srv.tmpl"), "w") as f:
        f.write(f'cn = "{cn}"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\n'
                'signing_key\nencryption_key\nexpiration_days = 2\n')
    if not os.path.exists(os.path.join(d, "ca.key")):
        certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", os.path.join(d, "ca.key"))
        certtool("--generate-self-signed", "--load-privkey", os.path.join(d, "ca.key"), "--template",
                 os.path.join(d, "ca.tmpl"), "--outfile", os.path.join(d, "ca.crt"))
    certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", os.path.join(d, "new.key"))
    certtool("--generate-certificate", "--load-privkey", os.path.join(d, "new.key"), "--load-ca-certificate",
             os.path.join(d, "ca.crt"), "--load-ca-privkey", os.path.join(d, "ca.key"), "--template",
             os.path.join(d, "srv.tmpl"), "--outfile", os.path.join(d, "new.crt"))


def install(src, dst):
    """Replace dst/tls.{key,crt} atomically with the pair src/new.{key,crt}."""
    for name in ("key", "crt"):
        shutil.copy(os.path.join(src, f"new.{name}"), os.path.join(dst, f".tls.{name}.tmp"))
        os.rename(os.path.join(dst, f".tls.{name}.tmp"), os.path.join(dst, f"tls.{name}"))


def peer_cn(port, ctx):
    s = tls_connect(port, ctx)
    try:
        cert = s.getpeercert()
        return dict(x[0] for x in cert["subject"])["commonName"]
    finally:
        s.close()


def gnutls_cli(port, version, ca):
    p = subprocess.run(["gnutls-cli", "--priority", f"NORMAL:-VERS-ALL:+VERS-{version}", "--x509cafile", ca,
                        "-p", str(port), "127.0.0.1"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stdout + p.stderr


def raw_exchange(port, ctx, data, timeout=10):
    s = tls_connect(port, ctx, timeout=timeout)
    try:
        s.sendall(data)
        return read_response(s)
    finally:
        s.close()


def closed_by_server(sock, timeout):
    """True when the server closes the connection (EOF or reset) within timeout seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def main():
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="webhook-tls-")
    try:
        certs, cdir = os.path.join(tmp, "ca"), os.path.join(tmp, "serving")
        make_certs(certs, "first")
        os.makedirs(cdir)
        install(certs, cdir)
        ca = os.path.join(certs, "ca.crt")
        ctx = tls_context(cafile=ca)
        args = ["--standalone", "--webhook-config-cert-dir", cdir, "--webhook-read-timeout=1",
                "--webhook-idle-timeout=4", "--webhook-max-request-bytes=65536", "--webhook-max-connections=16"]
        with Webhook(args) as w:
            port = w.port
            st, _, body = https_request(port, "GET", "/healthz", ctx=ctx)
            t.ok(st == 200 and body == b"ok\n", "healthz answers over verified TLS", diag=f"{st} {body!r}")

            # TLS versions
            for v in ("TLS1.2", "TLS1.3"):
                rc, out = gnutls_cli(port, v, ca)
                t.ok(rc == 0 and v in out, f"a {v} client is served", diag=out)
            for v in ("TLS1.0", "TLS1.1"):
                rc, out = gnutls_cli(port, v, ca)
                t.ok(rc != 0 and "protocol version" in out.lower(), f"a {v} client is refused", diag=out)

            # plain HTTP on the TLS port
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            t.ok(data.startswith(b"HTTP/1.0 400") and b"HTTP request to an HTTPS server" in data,
                 "plain HTTP gets 400 and is closed", diag=repr(data))
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"\x00\x01\x02garbage")
            t.ok(closed_by_server(s, 5), "non-TLS, non-HTTP bytes are closed")
            s.close()

            # bad requests
            def post(body, ctype="application/json", path="/seedprovider", method="POST"):
                return https_request(port, method, path, body, ctx=ctx, content_type=ctype)

            st, _, body = post(b"this is not json")
            t.ok(st == 400 and b"not valid JSON" in body, "a body that is not JSON gets 400", diag=f"{st} {body!r}")
            wrong = dict(ETCD_REVIEW, kind="Pod")
            st, _, body = post(wrong)
            t.ok(st == 400 and b"expected AdmissionReview" in body, "a document of another kind gets 400",
                 diag=f"{st} {body!r}")
            st, _, body = post(dict(ETCD_REVIEW, apiVersion="admission.k8s.io/v2"))
            t.ok(st == 400 and b"apiVersion" in body, "an unknown AdmissionReview version gets 400", diag=body)
            st, _, body = post({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})
            t.ok(st == 400 and b"no request" in body, "a review without request gets 400", diag=body)
            noid = json.loads(json.dumps(ETCD_REVIEW))
            del noid["request"]["uid"]
            st, _, body = post(noid)
            t.ok(st == 400 and b"no uid" in body, "a review without uid gets 400", diag=body)
            st, _, body = post(ETCD_REVIEW, ctype="text/plain")
            t.ok(st == 415, "a review that is not application/json gets 415", diag=f"{st} {body!r}")
            st, hdrs, _ = post(None, method="GET")
            t.ok(st == 405 and hdrs.get("allow") == "POST", "GET on a webhook path gets 405 with Allow: POST")
            st, _, _ = post(ETCD_REVIEW, path="/nope")
            t.eq(404, st, "an unknown path gets 404")
            st, _, _ = post(ETCD_REVIEW, path="/validate", method="PUT")
            t.eq(405, st, "PUT on /validate gets 405")
            # oversized: refused from the headers alone, before the body is sent
            s = tls_connect(port, ctx)
            s.sendall(b"POST /seedprovider HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 10000000\r\n\r\n")
            st, hdrs, _ = read_response(s)
            t.ok(st == 413 and hdrs.get("connection") == "close", "an oversized body gets 413 before it is sent")
            s.close()
            st, _, body = raw_exchange(port, ctx, b"POST /seedprovider HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                       b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            t.ok(st == 411 and b"chunked" in body, "a chunked request body gets 411", diag=body)
            st, _, body = raw_exchange(port, ctx, b"GET /healthz HTTP/1.1\r\n\r\n")
            t.ok(st == 400 and b"Host" in body, "HTTP/1.1 without Host gets 400", diag=body)
            st, _, body = raw_exchange(port, ctx, b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n")
            t.eq(505, st, "an unknown HTTP version gets 505")
            big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
            st, _, _ = raw_exchange(port, ctx, big_header)
            t.eq(431, st, "a header section over 16 KiB gets 431")

            # every answer outside a review is a metav1.Status with the matching reason and code
            def status_ok(raw, code, reason):
                try:
                    doc = json.loads(raw)
                except ValueError:
                    return False
                return (doc.get("kind") == "Status" and doc.get("apiVersion") == "v1"
                        and doc.get("status") == "Failure" and doc.get("reason") == reason
                        and doc.get("code") == code and isinstance(doc.get("message"), str)
                        and doc["message"] != "")
            for what, (st, _, raw), reason in [
                    ("not JSON", post(b"this is not json"), "BadRequest"),
                    ("text/plain", post(ETCD_REVIEW, ctype="text/plain"), "UnsupportedMediaType"),
                    ("GET on a webhook", post(None, method="GET"), "MethodNotAllowed"),
                    ("unknown path", post(ETCD_REVIEW, path="/nope"), "NotFound"),
                    ("chunked", raw_exchange(port, ctx, b"POST /seedprovider HTTP/1.1\r\nHost: x\r\n"
                                             b"Content-Type: application/json\r\nTransfer-Encoding: "
                                             b"chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), "BadRequest"),
                    ("no Host", raw_exchange(port, ctx, b"GET /healthz HTTP/1.1\r\n\r\n"), "BadRequest"),
                    ("header too big", raw_exchange(port, ctx, big_header), "BadRequest")]:
                t.ok(status_ok(raw, st, reason), f"the {st} answer ({what}) is a metav1.Status, reason {reason}",
                     diag=raw)

            # a review for a kind the webhook does not handle: 400 inside the review
            pod = json.loads(json.dumps(ETCD_REVIEW))
            pod["request"]["kind"] = {"group": "", "version": "v1", "kind": "Pod"}
            st, _, body = post(pod)
            doc = json.loads(body)
            t.ok(st == 200 and doc["response"]["allowed"] is False and doc["response"]["status"]["code"] == 400,
                 "a review of an unregistered kind is refused inside the review (400)", diag=body)
            # standalone: mutations that need cluster objects are denied with a reason
            kapi = json.loads(json.dumps(ETCD_REVIEW))
            kapi["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
            kapi["request"]["object"] = {"metadata": {"name": "kube-apiserver"}, "spec": {}}
            st, _, body = post(kapi, path="/controlplane")
            doc = json.loads(body)
            t.ok(doc["response"]["allowed"] is False and "no access to the Kubernetes API"
                 in doc["response"]["status"]["message"], "without API access a context mutation is denied",
                 diag=body)

            # slow loris: bytes trickle in; the request must be complete within the read timeout (1 s)
            s = tls_connect(port, ctx)
            request = b"POST /seedprovider HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            cut = False
            for i in range(len(request)):
                try:
                    s.sendall(request[i:i + 1])
                except (ConnectionError, ssl.SSLError):
                    cut = True
                    break
                if closed_by_server(s, 0.25):
                    cut = True
                    break
            t.ok(cut, "a slow client is disconnected before it finishes its request")
            s.close()
            # idle connection after the handshake: closed after the idle timeout
            s = tls_connect(port, ctx)
            t.ok(closed_by_server(s, 10), "an idle connection is closed")
            s.close()
            # TCP connection that never starts TLS
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            t.ok(closed_by_server(s, 10), "a connection that never starts the handshake is closed")
            s.close()

            # keep-alive and pipelining on one connection
            s = tls_connect(port, ctx)
            body = json.dumps(ETCD_REVIEW).encode()
            req = (b"POST /seedprovider HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
            s.sendall(req)
            st1, h1, b1 = read_response(s)
            s.sendall(req + req)
            st2, _, _ = read_response(s)
            st3, _, b3 = read_response(s)
            t.ok(st1 == st2 == st3 == 200 and "connection" not in h1 and b1 == b3,
                 "keep-alive: three requests (two pipelined) on one connection", diag=f"{st1} {st2} {st3} {h1}")
            s.close()

            # many connections at once, more than the connection cap (16): all are served
            results = []
            lock = threading.Lock()

            def one(i):
                try:
                    r = dict(ETCD_REVIEW)
                    r["request"] = dict(ETCD_REVIEW["request"], uid=f"u-{i}")
                    st, _, b = https_request(port, "POST", "/seedprovider", r, ctx=ctx, timeout=30)
                    ok = st == 200 and json.loads(b)["response"]["uid"] == f"u-{i}"
                except Exception as e:  # noqa: BLE001
                    ok = repr(e)
                with lock:
                    results.append(ok)
            threads = [threading.Thread(target=one, args=(i,)) for i in range(120)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(60)
            bad = [r for r in results if r is not True]
            t.ok(len(results) == 120 and not bad, "120 concurrent admissions over 16 connection slots all answered",
                 diag=f"{len(results)} results, failures: {bad[:5]}")

            # certificate reload: new connections see the new certificate, open ones keep working
            keep = tls_connect(port, ctx)
            t.eq("first", peer_cn(port, ctx), "the first certificate is served")
            make_certs(certs, "second")
            install(certs, cdir)
            seen = None
            end = time.monotonic() + 20
            while time.monotonic() < end:
                seen = peer_cn(port, ctx)
                if seen == "second":
                    break
                time.sleep(0.1)
            t.eq("second", seen, "after the files change, new connections get the new certificate")
            keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            st, _, _ = read_response(keep)
            t.eq(200, st, "a connection opened before the change still works")
            keep.close()
            # a broken replacement is ignored: the previous certificate stays
            with open(os.path.join(cdir, ".tls.crt.tmp"), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
            os.rename(os.path.join(cdir, ".tls.crt.tmp"), os.path.join(cdir, "tls.crt"))
            w.wait_log("the changed serving certificate cannot be used; still serving the previous one", 20)
            t.eq("second", peer_cn(port, ctx), "a broken certificate file is not taken; the previous one is served")
            rc = w.stop()
            t.ok(rc == 0, "SIGTERM stops the server with status 0", diag=f"status {rc}\n" + "\n".join(w.raw[-80:]))
            errors = [line for line in w.logs if line.get("level") == "error" and "certificate" not in line["msg"]]
            t.ok(not errors, "no unexpected errors were logged", diag="\n".join(map(json.dumps, errors)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
