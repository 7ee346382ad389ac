#!/usr/bin/env python3
"""audit shows crashes and restarts: an SSH key creation that hangs is killed (SIGKILL) in the middle of
its attempt several times; each new process resumes it. audit operations must count every interrupted
attempt, audit actions must list them as INTERRUPTED, audit errors must group them, and audit restarts
must list every start with the previous run as a crash, then the clean stop at the end."""
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
KILLS = 5


def audit(*args):
    p = subprocess.run([BIN, "audit", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def intents(journal, step):
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM events WHERE type = 'executor.intent' AND "
                              "json_extract(payload, '$.actionId') LIKE ?", (f"%/{step}/%",)).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def wait_intents(journal, step, n, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if intents(journal, step) >= n:
            return True
        time.sleep(0.02)
    return False


def main(env):
    ns = "shoot--audit--restarts"
    env.shoot(ns)
    # Every SSH key request hangs: the attempt never answers, so each kill interrupts it.
    env.metal.fault(path="/ssh-keys", action="hang", times=-1)
    env.infrastructure(ns)
    j = env.journal
    for i in range(1, KILLS + 1):
        c = env.controller(name=f"kill-{i}")
        ok = wait_intents(j, "ensure-ssh-key", i)
        c.kill()
        if not ok:
            t.ok(False, f"run {i} journaled an intent for the key", diag=c.logs()[-2000:])
            return
    t.eq(KILLS, intents(j, "ensure-ssh-key"), f"{KILLS} intents after {KILLS} kills")
    env.metal.clear_faults()
    c = env.controller(name="final")
    env.wait_infra(ns, lambda o: last_op(o).get("state") == "Succeeded", controller=c)
    t.eq(0, c.stop(), "the last run stops cleanly")

    rc, out, err = audit("operations", "--output", "json", "--object", f"Infrastructure/{ns}/infrastructure", j)
    ops = [json.loads(l) for l in out.splitlines()]
    create = [o for o in ops if o["operation"] == "Create"]
    t.ok(rc == 0 and len(create) == 1, "one Create operation", diag=out + err)
    if create:
        o = create[0]
        t.eq(KILLS, o["interrupted"], "audit operations counts every interrupted attempt")
        t.ok(o["attempts"] >= KILLS + 1, "and every attempt", diag=str(o))
        t.ok(o["resumed"] >= KILLS, "attempts resumed by the next process are counted", diag=str(o))
        t.eq("Succeeded", o["outcome"], "the operation still ends Succeeded")
    rc, out, _ = audit("operations", j)
    header = out.splitlines()[0] if out else ""
    t.ok("INTERRUPTED" in header and "ATTEMPTS" in header, "the table has ATTEMPTS and INTERRUPTED columns",
         diag=out)
    lines = out.splitlines()
    starts = {len(l.split("  ")[0]) for l in lines[1:] if l.strip()}
    t.ok(len(lines) >= 2 and all(l.index("OBJECT") >= 0 for l in lines[:1]) and len(starts) == 1,
         "the table's columns are aligned", diag=out)

    rc, out, _ = audit("actions", "--failed", "--output", "json", "--shoot", ns, j)
    rows = [json.loads(l) for l in out.splitlines()]
    intr = [r for r in rows if r["result"] == "INTERRUPTED" and "ensure-ssh-key" in r["actionId"]]
    t.ok(len(intr) == KILLS, "audit actions --failed lists each interrupted attempt", diag=out[-2000:])
    t.ok(all("restarted at seq" in r["errorMessage"] for r in intr), "with the restart that cut it short")

    rc, out, _ = audit("errors", "--output", "csv", j)
    recs = list(csv.DictReader(io.StringIO(out)))
    g = [r for r in recs if r["CODE"] == "INTERRUPTED_BY_RESTART"]
    t.ok(rc == 0 and g and g[0]["COUNT"] == str(KILLS), "audit errors --output csv groups the interruptions",
         diag=out)

    rc, out, err = audit("restarts", "--output", "json", j)
    rs = [json.loads(l) for l in out.splitlines()]
    t.ok(len(rs) == KILLS + 1, "audit restarts lists every start", diag=out + err)
    if len(rs) == KILLS + 1:
        t.ok("first start" in rs[0]["previousRun"], "the first start has no previous run")
        t.ok(all(r["cleanStop"] is False and "crashed" in r["previousRun"] for r in rs[1:]),
             "each later start follows a crash", diag=out)
        t.ok(all(r["interrupted"] == 1 for r in rs[1:]), "each crash interrupted one attempt", diag=out)
        t.ok(all(r["resumed"] >= 1 for r in rs[1:]), "each later run resumed it", diag=out)
        t.ok(all(r["downtimeMs"] >= 0 for r in rs[1:]), "downtime is shown")
    rc, out, _ = audit("restarts", j)
    t.ok(rc == 0 and out.startswith("STARTED") and out.count("crashed or was killed") == KILLS,
         "audit restarts as a table", diag=out)
    rc, out, _ = audit("restarts", "--since", "2999-01-01T00:00:00Z", j)
    t.ok(rc == 0 and "(no starts recorded)" in out, "--since filters restarts", diag=out)
    rc, out, err = audit("restarts", "--output", "xml", j)
    t.eq(2, rc, "a bad --output is a usage error")
    rc, out, err = audit("operations", "--shoot", "a/b", j)
    t.eq(2, rc, "a malformed --shoot is a usage error")
    rc, out, _ = audit("restarts", "--help")
    t.ok(rc == 0 and "Usage:" in out, "audit restarts --help")
    rc, out = env.replay_check(j)
    t.ok(rc == 0, "replay --check across the kills", diag=out)


with Env() as env:
    t.run("restarts", main, env)
sys.exit(t.done())
