#!/usr/bin/env python3
"""The contributing guide's make targets: `start` passes the Go original's variables (also the
misspelt WEBHOOK_CONFIG_SERICE_PORT) as flags `run` has; `hook-me` calls hack/hook-me.sh with service,
namespace, port (the order the script reads); hack/hook-me.sh refuses bad arguments with exit 2;
`docker-images` builds a stage the Dockerfile has, which is a non-root slim runtime with the six
libraries."""
import os
import re
import subprocess
import sys

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from tap import Tap  # noqa: E402

t = Tap()
BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin/gardener-extension-provider-equinix-metal"))


def make_n(*args):
    p = subprocess.run(["make", "-s", "-n", "-C", ROOT, *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


known = set(re.findall(r"--[a-z0-9-]+", subprocess.run([BIN, "run", "--help"], capture_output=True, text=True).stdout))
rc, out = make_n("start")
run_line = out[out.find(" run "):]
flags = re.findall(r"(--[a-z0-9-]+)=", run_line)
t.ok(rc == 0 and flags and all(f in known for f in flags), "make start passes only flags of `run`",
     diag=[f for f in flags if f not in known] or out)
for want in ("--ignore-operation-annotation=true", "--webhook-config-mode=url", "--webhook-config-server-port=8443",
             "--webhook-config-service-port=443", "--webhook-config-url=host.docker.internal:8443",
             "--config-file=./example/00-componentconfig.yaml", "--leader-election=false"):
    t.ok(want in out, f"make start defaults: {want}", diag=out)
rc, out = make_n("start", "IGNORE_OPERATION_ANNOTATION=false", "WEBHOOK_CONFIG_MODE=service", "EXTENSION_NAMESPACE=ext-ns",
                 "WEBHOOK_CONFIG_PORT=9000", "WEBHOOK_CONFIG_SERICE_PORT=9443")
for want in ("--ignore-operation-annotation=false", "--webhook-config-mode=service", "--webhook-config-namespace=ext-ns",
             "--webhook-config-server-port=9000", "--webhook-config-service-port=9443"):
    t.ok(want in out, f"make start variables: {want}", diag=out)
t.ok("--webhook-config-url" not in out, "service mode passes the namespace, not a URL")
rc, out = make_n("start", "WEBHOOK_CONFIG_SERVICE_PORT=7443", "WEBHOOK_CONFIG_SERICE_PORT=9443")
t.ok("--webhook-config-service-port=7443" in out, "WEBHOOK_CONFIG_SERVICE_PORT wins over the misspelt one", diag=out)

rc, out = make_n("hook-me", "EXTENSION_NAMESPACE=ext-ns")
t.ok(rc == 0 and "hack/hook-me.sh gardener-extension-provider-equinix-metal ext-ns 8443" in out,
     "make hook-me: service, namespace, port", diag=out)
hook = os.path.join(ROOT, "hack/hook-me.sh")
p = subprocess.run([hook, "--help"], capture_output=True, text=True)
t.ok(p.returncode == 0 and "SERVICE NAMESPACE WEBHOOK_PORT" in p.stdout, "hook-me.sh --help names the argument order")
p = subprocess.run([hook, "gardener-extension-provider-equinix-metal"], capture_output=True, text=True)
t.ok(p.returncode == 2 and "SERVICE NAMESPACE WEBHOOK_PORT" in p.stderr, "hook-me.sh with one argument: usage error", diag=p.stderr)
p = subprocess.run([hook, "svc", "ns", "80x"], capture_output=True, text=True)
t.ok(p.returncode == 2 and "'80x' is not a port number" in p.stderr, "hook-me.sh refuses a bad port", diag=p.stderr)

rc, out = make_n("docker-images")
target = re.search(r"--target (\S+)", out)
with open(os.path.join(ROOT, "Dockerfile")) as f:
    df = f.read()
stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", df, re.M)
t.ok(target and target.group(1) in [s[1] for s in stages], "make docker-images builds a stage of the Dockerfile", diag=(out, stages))
t.ok(len(stages) == 2 and stages[0][0].startswith("debian:") and "slim" in stages[1][0], "multi-stage: Debian build, slim runtime",
     diag=stages)
runtime = df[df.rfind("FROM "):]
libs = ("libsqlite3-0", "libcurl3-gnutls", "libjansson4", "libyaml-0-2", "libgnutls30", "libev4")
t.ok(all(l in runtime for l in libs) and "-dev" not in runtime, "runtime has the six libraries and no -dev package")
user = re.findall(r"^USER (\S+)", runtime, re.M)
t.ok(user and not user[-1].startswith("0") and user[-1] != "root", "runtime runs as a non-root user", diag=user)
t.ok("images.yaml /etc/gardener-extension-provider-equinix-metal/images.yaml" in runtime,
     "the image vector is where `run` looks by default")
sys.exit(t.done())
