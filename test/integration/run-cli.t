#!/usr/bin/env python3
"""`run` refuses bad arguments and bad start-up conditions with a sentence and the right exit code:
usage errors exit 2; a journal that is not a journal, or an unusable kubeconfig, exit 1 naming the
file, and leave the file unchanged."""
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
tmp = tempfile.mkdtemp(prefix="run-cli-")


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("KUBECONFIG", None)
    e.pop("KUBERNETES_SERVICE_HOST", None)
    e["HOME"] = tmp
    e.update(env or {})
    p = subprocess.run([BIN, "run", *args], capture_output=True, text=True, timeout=60, env=e)
    return p.returncode, p.stdout + p.stderr


rc, out = run("--help")
t.ok(rc == 0 and "--journal PATH" in out and "--webhook-config-mode" in out,
     "run --help lists its own and the webhook server's flags")
for args, what, needle in ((["--nope"], "unknown option", "--nope"),
                           (["--log-level", "loud"], "bad --log-level", "--log-level"),
                           (["--controllers", "infrastructure,dns"], "unknown controller", "dns"),
                           (["--infrastructure-max-concurrent-reconciles", "0"], "zero concurrency", "at least 1"),
                           (["--journal-retention-hours", "-3"], "negative retention", "--journal-retention-hours"),
                           (["--journal-retention-hours", "inf"], "infinite retention", "--journal-retention-hours"),
                           (["--journal-retention-hours", "1e300"], "huge retention", "--journal-retention-hours"),
                           (["--journal-retention-megabytes", "99999999999999"], "huge retention size",
                            "--journal-retention-megabytes"),
                           (["--metrics-bind-address", "not an address"], "bad bind address", "--metrics-bind-address"),
                           (["--webhook-config-mode", "carrier-pigeon"], "bad webhook mode", "webhook-config-mode"),
                           (["--kube-api-qps", "0"], "zero kube QPS", "--kube-api-qps")):
    rc, out = run(*args, "--journal", os.path.join(tmp, "j.db"), "--kubeconfig", "/dev/null")
    t.ok(rc == 2 and needle in out, f"usage error exits 2 naming the problem: {what}", diag=f"{rc}: {out[-600:]}")

cfg = os.path.join(tmp, "config.yaml")
with open(cfg, "w") as f:
    f.write("apiVersion: equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1\n"
            "kind: ControllerConfiguration\nclientConnection:\n  qps: fast\n  burst: 130\n")
rc, out = run("--config-file", cfg, "--journal", os.path.join(tmp, "j.db"), "--kubeconfig", "/dev/null")
t.ok(rc == 2 and "clientConnection.qps" in out and "config.yaml" in out,
     "a clientConnection.qps that is not a number is a usage error naming the file and field",
     diag=f"{rc}: {out[-600:]}")

kc = os.path.join(tmp, "kubeconfig")
with open(kc, "w") as f:
    f.write("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "users: [{name: u, user: {token: abc}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
            "current-context: x\n")
notj = os.path.join(tmp, "notes.db")
with open(notj, "w") as f:
    f.write("not a journal at all\n" * 50)
before = hashlib.sha256(open(notj, "rb").read()).hexdigest()
rc, out = run("--kubeconfig", kc, "--journal", notj, "--disable-webhooks", "*", "--metrics-bind-address", "0",
              "--health-bind-address", "0")
t.ok(rc == 1 and "notes.db" in out, "a file that is not a journal exits 1 naming it", diag=out[-800:])
t.eq(before, hashlib.sha256(open(notj, "rb").read()).hexdigest(), "and the file is unchanged")
rc, out = run("--kubeconfig", os.path.join(tmp, "nope.yaml"), "--journal", os.path.join(tmp, "j2.db"))
t.ok(rc == 1 and "nope.yaml" in out, "an unreadable kubeconfig exits 1 naming it", diag=out[-800:])
sys.exit(t.done())
