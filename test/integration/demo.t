#!/usr/bin/env python3
"""`make demo` end to end (hack/demo.sh -> test/lib/demo.py) in a temporary directory: exit 0, every
stage reached (SSH key, ControlPlane, devices active, nodes Ready, Worker Succeeded, a failed device
replaced, everything deleted, controllers stopped cleanly, replay --check, audit), journals left in
the directory."""
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from tap import Tap  # noqa: E402

t = Tap()
with tempfile.TemporaryDirectory() as d:
    out_dir = os.path.join(d, "demo")
    p = subprocess.run([os.path.join(ROOT, "hack/demo.sh"), "--dir", out_dir, "--quiet"], capture_output=True,
                       text=True, timeout=240, cwd=d)
    out = p.stdout
    t.ok(p.returncode == 0, "make demo exits 0", diag=(out + p.stderr)[-4000:])
    for what, needle in (("the Infrastructure succeeds", "Infrastructure Create Succeeded"),
                         ("the SSH key exists on Equinix Metal", "exists on Equinix Metal: True"),
                         ("the ControlPlane succeeds", "ControlPlane   Create Succeeded"),
                         ("devices are provisioning", " provisioning"),
                         ("devices become active", " active"),
                         ("nodes become Ready", "shoot nodes Ready: 2"),
                         ("the Worker succeeds", "Worker         Create Succeeded"),
                         ("a device fails", " failed"),
                         ("it is replaced", "replaced: 2 devices active again"),
                         ("everything is deleted", "all gone:"),
                         ("the controller stops cleanly", "controller exited with 0"),
                         ("the machine controller stops cleanly", "machine-controller exited with 0"),
                         ("replay --check agrees", "replay --check: the journal yields the same actions"),
                         ("the audit lists the Worker's deletion", "Delete     Succeeded")):
        t.ok(needle in out, f"demo: {what}", diag=out[-3000:])
    for f in ("journal.db", "machine-controller.db", "controller.log", "replay.txt"):
        t.ok(os.path.exists(os.path.join(out_dir, f)), f"demo leaves {f} in its directory")
sys.exit(t.done())
