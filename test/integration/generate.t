#!/usr/bin/env python3
"""make generate / check-generate without Helm: the committed example/controller-registration.yaml is
up to date; the chart inside it is deterministic (sorted names, root:0, fixed mtime, gzip -n) and
extracts with the seed's check (`grep chart | awk | base64 -d | tar zxvf -`) to exactly the chart's
files; the ControllerDeployment/ControllerRegistration are what Gardener expects; check-generate
fails, naming the file, once the chart changes, and passes again after generate."""
import base64
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from tap import Tap  # noqa: E402

t = Tap()
NAME = "gardener-extension-provider-equinix-metal"


def version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            if line.startswith("VERSION"):
                return line.split(":=")[1].strip()
    raise AssertionError("no VERSION in the Makefile")


VERSION = version()
tmp = tempfile.mkdtemp(prefix="eqxm-generate-")
try:
    # A throw-away git checkout with just what generation reads.
    repo = os.path.join(tmp, "repo")
    os.makedirs(repo)
    for d in ("charts", "example", "hack"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(repo, d))
    shutil.copy(os.path.join(ROOT, "Makefile"), repo)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=repo, check=True)
    script = os.path.join(repo, "hack/generate-controller-registration.sh")

    def run(*args):
        return subprocess.run([script, *args], cwd=repo, capture_output=True, text=True)

    p = subprocess.run(["hack/generate-controller-registration.sh", "--check", VERSION], cwd=ROOT,
                       capture_output=True, text=True)
    t.ok(p.returncode == 0, "the committed example/controller-registration.yaml is up to date (make check-generate)",
         diag=p.stdout + p.stderr)

    reg_path = os.path.join(repo, "example/controller-registration.yaml")
    with open(reg_path) as f:
        text = f.read()
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"]: d for d in docs}
    cd = kinds.get("ControllerDeployment", {})
    cr = kinds.get("ControllerRegistration", {})
    t.eq("core.gardener.cloud/v1", cd.get("apiVersion"), "ControllerDeployment is core.gardener.cloud/v1")
    t.eq("core.gardener.cloud/v1beta1", cr.get("apiVersion"), "ControllerRegistration is core.gardener.cloud/v1beta1")
    t.eq([{"kind": "ControlPlane", "type": "equinixmetal"}, {"kind": "Infrastructure", "type": "equinixmetal"},
          {"kind": "Worker", "type": "equinixmetal"}], cr.get("spec", {}).get("resources"),
         "registered for Infrastructure, ControlPlane and Worker of type equinixmetal")
    t.eq([{"name": cd.get("metadata", {}).get("name")}], cr.get("spec", {}).get("deployment", {}).get("deploymentRefs"),
         "the registration refers to the deployment")
    t.eq("v" + VERSION, cd.get("helm", {}).get("values", {}).get("image", {}).get("tag"), "image tag is the version")
    raw = base64.b64decode(cd["helm"]["rawChart"])

    # The seed's check, verbatim.
    out = os.path.join(tmp, "extract")
    os.makedirs(out)
    p = subprocess.run(f"cat {reg_path} | grep chart | awk '{{print $2}}' | base64 -d | tar zxvf -",
                       shell=True, cwd=out, capture_output=True, text=True)
    t.ok(p.returncode == 0 and f"{NAME}/Chart.yaml" in p.stdout,
         "grep chart | awk '{print $2}' | base64 -d | tar zxvf - extracts the chart", diag=p.stdout + p.stderr)
    t.eq(1, sum(1 for l in text.splitlines() if "chart" in l), "exactly one line mentions 'chart' (the rawChart)")
    want = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "charts"))
                  for d, _, fs in os.walk(os.path.join(ROOT, "charts", NAME)) for f in fs)
    got = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    t.eq(want, got, "the package holds exactly the chart's files")
    same = all(open(os.path.join(ROOT, "charts", f), "rb").read() == open(os.path.join(out, f), "rb").read()
               for f in want if f in got)
    t.ok(same, "... byte for byte")

    # Determinism.
    t.ok(raw[:2] == b"\x1f\x8b" and raw[3] & 0x08 == 0 and raw[4:8] == b"\0\0\0\0",
         "gzip -n: no file name, no timestamp", diag=raw[:10])
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    t.eq(sorted(names), names, "tar members in sorted order")
    t.ok(all(m.uid == 0 and m.gid == 0 and m.mtime == 1546300800 for m in members),
         "owner root:0 and mtime 2019-01-01 for every member", diag=[(m.name, m.uid, m.gid, m.mtime) for m in members])
    t.ok(all(m.mode & 0o022 == 0 for m in members), "modes normalised (no group/other write)")
    with open(os.path.join(ROOT, "charts", NAME, "values.yaml")) as f:
        t.ok(gzip.decompress(raw) and "image" in yaml.safe_load(f), "chart values have image (tag set by the deployment)")

    p = run(VERSION)
    t.ok(p.returncode == 0, "generate", diag=p.stdout + p.stderr)
    with open(reg_path) as f:
        t.eq(text, f.read(), "generating again changes nothing (deterministic)")
    tgz = os.path.join(repo, f"build/chart/{NAME}-{VERSION}.tgz")
    t.ok(os.path.exists(tgz) and open(tgz, "rb").read() == raw, "build/chart/NAME-VERSION.tgz is the same package (OCI-ready)")
    with open(os.path.join(repo, "example/extension.yaml")) as f:
        ext = yaml.safe_load(f)
    ref = ext["spec"]["deployment"]["extension"]["helm"]["ociRepository"]["ref"]
    t.ok(ext["kind"] == "Extension" and ref.endswith(":" + VERSION), "Extension refers to the OCI chart of this version", diag=ref)

    # Stale detection.
    with open(os.path.join(repo, "charts", NAME, "values.yaml"), "a") as f:
        f.write("# changed\n")
    p = run("--check", VERSION)
    t.ok(p.returncode == 1 and "example/controller-registration.yaml" in p.stderr and "make generate" in p.stderr,
         "check-generate fails when the chart changed, naming the file and the fix", diag=p.stdout + p.stderr)
    p = run(VERSION)
    p2 = run("--check", VERSION)
    t.ok(p.returncode == 0 and p2.returncode == 0, "generate makes check-generate pass again", diag=p2.stderr)
    p = run("9.9.9")
    t.ok(p.returncode == 1 and "9.9.9" in p.stderr and "Chart.yaml" in p.stderr,
         "a VERSION that differs from Chart.yaml's is refused with both versions named", diag=p.stderr)
    p = run()
    t.eq(2, p.returncode, "no VERSION: usage error")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(t.done())
