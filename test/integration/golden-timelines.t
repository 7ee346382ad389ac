#!/usr/bin/env python3
"""Golden timelines of a failed shoot: no capacity for the first device, a retry that succeeds, the
device stuck provisioning past the creation timeout and replaced, then recovery. The journal is
written from test/golden/capacity-recovery.jsonl (fixed times) by test/tools/journal_script; the
outputs of the audit and replay commands are compared with test/golden/capacity-recovery.*.txt.
EQXM_UPDATE_GOLDEN=1 rewrites the golden files (review the diff)."""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
from tap import Tap  # noqa: E402

BIN = os.environ.get("EQXM_BIN", "bin/gardener-extension-provider-equinix-metal")
BUILD = os.environ.get("EQXM_BUILD", "build/release")
GOLDEN = os.path.join(ROOT, "test", "golden")
UPDATE = os.environ.get("EQXM_UPDATE_GOLDEN") == "1"
NS = "shoot--dev--capacity"
t = Tap()
tmp = tempfile.mkdtemp(prefix="golden-")


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def golden(name, text, what):
    path = os.path.join(GOLDEN, f"capacity-recovery.{name}.txt")
    if UPDATE:
        with open(path, "w") as f:
            f.write(text)
    try:
        with open(path) as f:
            want = f.read()
    except FileNotFoundError:
        want = None
    t.ok(want == text, f"golden {name}: {what}",
         diag=f"differs from {path} (EQXM_UPDATE_GOLDEN=1 rewrites it):\n{text}" if want != text else None)


def main():
    j = os.path.join(tmp, "capacity.db")
    with open(os.path.join(GOLDEN, "capacity-recovery.jsonl")) as f:
        r = subprocess.run([os.path.join(BUILD, "test/tools/journal_script"), j], stdin=f,
                           capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, "the scripted journal is written", diag=r.stderr)

    rc, out, err = run("audit", "devices", j)
    t.ok(rc == 0, "audit devices", diag=err)
    golden("devices", out, "audit devices")
    rc, out, err = run("audit", "devices", "--output", "json", j)
    rows = [json.loads(l) for l in out.splitlines()]
    prov = [r for r in rows if r["state"] == "provisioning" and r["name"].endswith("-x1")]
    t.ok(len(prov) == 1 and prov[0]["durationMs"] == (34 * 60 + 5) * 1000,
         "the stuck device spent 34m05s provisioning", diag=out)
    dep = [r for r in rows if r["state"] == "deprovisioning"]
    t.ok(len(dep) == 1 and "metal.device.delete" in dep[0]["decidedBy"]
         and "creation timeout" in dep[0]["reason"],
         "deprovisioning was decided by the delete action, with its reason", diag=str(dep))
    q = [r for r in rows if r["state"] == "queued" and r["name"].endswith("-x1")]
    t.ok(len(q) == 1 and "seq 11" in q[0]["decidedBy"], "the device was created by the retry (seq 11)",
         diag=str(q))
    active = [r for r in rows if r["state"] == "active"]
    t.ok(len(active) == 1 and active[0]["ongoing"] is True, "the replacement is still active at the end")
    rc, out, _ = run("audit", "devices", "--output", "csv", j)
    recs = list(csv.DictReader(io.StringIO(out)))
    t.ok(rc == 0 and len(recs) == len(rows) and recs[0]["DEVICE"].endswith("-x1"),
         "audit devices --output csv", diag=out)
    golden("devices-csv", out, "audit devices --output csv")
    rc, out, _ = run("audit", "devices", "--since", "2026-11-24T00:40:00Z", "--output", "json", j)
    since = [json.loads(l) for l in out.splitlines()]
    t.ok(rc == 0 and since and all(r["toMs"] >= 1795478400000 + 40 * 60000 for r in since) and len(since) < len(rows),
         "--since drops periods that ended before", diag=out)
    rc, out, _ = run("audit", "devices", "--shoot", "shoot--other--one", j)
    t.ok(rc == 0 and "(no devices match)" in out, "--shoot of another shoot shows nothing", diag=out)
    rc, out, _ = run("audit", "devices", "--state", "provisioning", "--shoot", NS, j)
    t.ok(rc == 0 and len(out.splitlines()) == 3, "--state filters periods", diag=out)
    lines = out.splitlines()
    t.ok(len(lines) == 3 and lines[0].index("STATE") == lines[1].index("provisioning")
         == lines[2].index("provisioning"), "table columns are aligned under their titles", diag=out)

    rc, out, err = run("audit", "machines", j)
    t.ok(rc == 0, "audit machines", diag=err)
    golden("machines", out, "audit machines")

    rc, out, err = run("audit", "operations", "--shoot", NS, j)
    golden("operations", out, "audit operations")
    rc, out, err = run("audit", "errors", j)
    t.ok(rc == 0 and "ERR_INFRA_RESOURCES_DEPLETED" in out, "audit errors names the capacity error", diag=out)
    golden("errors", out, "audit errors")

    rc, out, err = run("audit", "sql", "SELECT state, count(*) AS n FROM device_states GROUP BY state "
                       "ORDER BY state", j)
    t.ok(rc == 0 and out.splitlines()[0].split() == ["state", "n"] and ["provisioning", "2"] in [l.split() for l in out.splitlines()],
         "audit sql over the device_states view", diag=out + err)
    rc, out, err = run("audit", "sql", "--output", "json", "SELECT gardener_code FROM errors", j)
    t.ok(rc == 0 and json.loads(out.splitlines()[0]) == {"gardener_code": "ERR_INFRA_RESOURCES_DEPLETED"},
         "audit sql --output json over the errors view", diag=out + err)
    m1 = f"Machine/{NS}/{NS}-pool-a-x1"
    rc, out, err = run("replay", "--explain", "--object", m1, j)
    t.ok(rc == 0 and "was provisioning for 34 min 5 s" in out and "past the 20m creation timeout" in out
         and "metal.device.delete" in out and "seq 17" in out,
         "replay --explain: the device was provisioning 34 min, past the timeout, replaced at seq 17",
         diag=out + err)
    t.ok("ERR_INFRA_RESOURCES_DEPLETED" in out, "replay --explain names the capacity error", diag=out)
    t.ok("the Secret shoot--dev--capacity/cloudprovider changed at seq 10" in out,
         "replay --explain shows the Secret change the retry waited for", diag=out)
    golden("explain", out, "replay --explain")
    rc, out, err = run("replay", "--explain", j)
    t.ok(rc == 2, "replay --explain without --object is a usage error", diag=err)
    rc, out, err = run("replay", "--explain", "--object", f"Machine/{NS}/nope", j)
    t.ok(rc == 0 and "nothing in the journal is about this object" in out, "explain of an unknown object",
         diag=out)
    rc, out, err = run("audit", "sql", "DELETE FROM events", j)
    t.ok(rc == 2 and "read-only" in err, "audit sql refuses a write", diag=err)
    rc, out, err = run("audit", "sql", "ATTACH 'x.db' AS x", j)
    t.ok(rc == 2 and "ATTACH is refused" in err, "audit sql refuses ATTACH", diag=err)


try:
    t.run("capacity then recovery", main)
finally:
    subprocess.run(["rm", "-rf", tmp])
sys.exit(t.done())
