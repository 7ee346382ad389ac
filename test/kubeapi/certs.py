"""Test PKI made with certtool (gnutls-bin): a CA, a serving certificate for 127.0.0.1/localhost/::1
and a client certificate (CN = user name, O = group), all ECDSA P-256, valid from one hour ago for
three days.
"""
import datetime
import os
import subprocess


class CertError(RuntimeError):
    pass


def _run(args, cwd):
    try:
        p = subprocess.run(["certtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CertError("certtool is not installed; install gnutls-bin (make install-requirements)") from None
    if p.returncode != 0:
        raise CertError(f"certtool {' '.join(args)} failed: {p.stderr.strip() or p.stdout.strip()}")


def _key(d, name):
    _run(["--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1", "--no-text", "--outfile", name], d)
    os.chmod(os.path.join(d, name), 0o600)


def _tmpl(d, name, lines):
    start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines + [f'activation_date = "{start}"', f'expiration_date = "{end}"']) + "\n")
    return name


def make_pki(d, client_cn="test-client-cert", client_org="system:masters"):
    """Write ca.crt/ca.key, server.crt/server.key, client.crt/client.key into directory d."""
    work = os.path.join(d, ".pki-tmp")
    os.makedirs(work, exist_ok=True)
    _key(d, "ca.key")
    _run(["--generate-self-signed", "--no-text", "--load-privkey", "ca.key", "--outfile", "ca.crt",
          "--template", os.path.join(".pki-tmp", _tmpl(work, "ca.tmpl", [
              'cn = "kubeapi-test-ca"', "ca", "cert_signing_key", "crl_signing_key"]))], d)
    _key(d, "server.key")
    _run(["--generate-certificate", "--no-text", "--load-privkey", "server.key", "--load-ca-certificate", "ca.crt",
          "--load-ca-privkey", "ca.key", "--outfile", "server.crt",
          "--template", os.path.join(".pki-tmp", _tmpl(work, "server.tmpl", [
              'cn = "kube-apiserver"', 'dns_name = "localhost"', 'ip_address = "127.0.0.1"',
              'ip_address = "::1"', "tls_www_server", "signing_key"]))], d)
    _key(d, "client.key")
    _run(["--generate-certificate", "--no-text", "--load-privkey", "client.key", "--load-ca-certificate", "ca.crt",
          "--load-ca-privkey", "ca.key", "--outfile", "client.crt",
          "--template", os.path.join(".pki-tmp", _tmpl(work, "client.tmpl", [
              f'cn = "{client_cn}"', f'organization = "{client_org}"', "tls_www_client", "signing_key"]))], d)
    for f in os.listdir(work):
        os.unlink(os.path.join(work, f))
    os.rmdir(work)
