"""Generate a throw-away CA and a server certificate for 127.0.0.1/localhost with certtool (gnutls-bin).

make_certs(dir) writes ca.crt, ca.key, server.crt, server.key into dir and returns their paths.
ECDSA P-256 keys keep generation fast; validity starts a day before now and lasts two days.
"""
import datetime
import os
import subprocess

_CA_TEMPLATE = """cn = "Test Metal API CA"
organization = "eqxm tests"
serial = 1
activation_date = "{activation}"
expiration_days = 2
ca
cert_signing_key
crl_signing_key
"""

_SERVER_TEMPLATE = """cn = "localhost"
organization = "eqxm tests"
serial = 2
activation_date = "{activation}"
expiration_days = 2
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
"""


class CertError(RuntimeError):
    pass


def _run(args):
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    except FileNotFoundError:
        raise CertError("certtool is not installed; install the Debian package gnutls-bin "
                        "(hack/install-requirements.sh does)") from None
    if r.returncode != 0:
        raise CertError(f"{' '.join(args[:2])} failed: {r.stderr.decode(errors='replace').strip()}")


def make_certs(d):
    p = {n: os.path.join(d, n) for n in ("ca.key", "ca.crt", "server.key", "server.crt",
                                          "ca.tmpl", "server.tmpl")}
    activation = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime(
        "%Y-%m-%d %H:%M:%S")
    with open(p["ca.tmpl"], "w") as f:
        f.write(_CA_TEMPLATE.replace("{activation}", activation))
    with open(p["server.tmpl"], "w") as f:
        f.write(_SERVER_TEMPLATE.replace("{activation}", activation))
    for key in ("ca.key", "server.key"):
        _run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1",
              "--outfile", p[key]])
        os.chmod(p[key], 0o600)
    _run(["certtool", "--generate-self-signed", "--load-privkey", p["ca.key"],
          "--template", p["ca.tmpl"], "--outfile", p["ca.crt"]])
    _run(["certtool", "--generate-certificate", "--load-privkey", p["server.key"],
          "--load-ca-certificate", p["ca.crt"], "--load-ca-privkey", p["ca.key"],
          "--template", p["server.tmpl"], "--outfile", p["server.crt"]])
    for t in ("ca.tmpl", "server.tmpl"):
        os.unlink(p.pop(t))
    return p
