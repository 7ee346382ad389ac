#!/usr/bin/env python3
"""The replay and audit commands: their output on a real journal, bad arguments and bad files
(usage errors exit 2, unreadable journals exit 1 naming the file), and replay --check detecting a
recorded action that differs from what the reducers decide."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op, BIN  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main(env):
    ns = "shoot--cli--replay"
    env.shoot(ns)
    env.infrastructure(ns)
    c = env.controller()
    env.wait_infra(ns, lambda o: last_op(o).get("state") == "Succeeded", controller=c)
    t.eq(0, c.stop(), "controller stopped")
    j = env.journal
    done = [l for l in c.log_lines() if l.get("msg") == "operation succeeded"]
    t.ok(len(done) == 1 and done[0].get("level") == "info" and done[0].get("operation") == "Create"
         and done[0].get("kind") == "Infrastructure" and done[0].get("namespace") == ns
         and done[0].get("name") == "infrastructure",
         "one info log line for the successful operation", diag=str(done))

    rc, out, err = run("replay", "--object", f"Infrastructure/{ns}/infrastructure", j)
    t.ok(rc == 0 and "ensure-ssh-key/1 [metal.sshkey.ensure] ensure the project SSH key" in out,
         "replay shows each action with its kind and reason", diag=out[-2000:] + err)
    rc, out, _ = run("replay", "--object", f"{ns}/infrastructure", "--show-state", "--quiet", j)
    t.ok(rc == 0 and '"phase": "done"' in out, "replay --show-state prints the object's reducer state", diag=out[-1500:])
    rc, out, _ = run("replay", "--format", "json", "--object", f"{ns}/infrastructure", j)
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    t.ok(rc == 0 and lines and all("seq" in l and "actions" in l for l in lines), "replay --format json gives JSON lines")
    rc, out, _ = run("audit", "operations", "--format", "json", j)
    ops = [json.loads(l) for l in out.splitlines() if l.strip()]
    t.ok(rc == 0 and any(o["outcome"] == "Succeeded" and o["operation"] == "Create" for o in ops),
         "audit operations --format json", diag=out)
    rc, out, _ = run("audit", "actions", "--kind", "metal.sshkey.ensure", j)
    t.ok(rc == 0 and "metal.sshkey.ensure" in out and "ok" in out, "audit actions --kind filters", diag=out)

    for args, what in ((["replay", "--nope", j], "unknown option"),
                       (["replay", "--object", "no-slash", j], "malformed --object"),
                       (["replay", "--show-state", j], "--show-state without --object"),
                       (["replay"], "missing journal"),
                       (["audit", "operations", "--since", "yesterday", j], "malformed --since"),
                       (["audit", "operations", "--format", "xml", j], "bad --format"),
                       (["audit", "frobnicate", j], "unknown query")):
        rc, out, err = run(*args)
        t.ok(rc == 2 and err.strip(), f"usage error exits 2 with a message: {what}", diag=f"{rc} {err}")
    rc, _, err = run("replay", os.path.join(env.dir, "missing.db"))
    t.ok(rc == 1 and "missing.db" in err, "a missing journal exits 1 naming the file", diag=err)
    notj = os.path.join(env.dir, "notes.txt")
    with open(notj, "w") as f:
        f.write("this is not a journal\n" * 100)
    rc, _, err = run("audit", "errors", notj)
    t.ok(rc == 1 and "notes.txt" in err, "a file that is not a journal exits 1 naming it", diag=err)
    for cmd in (["replay", "--help"], ["audit", "--help"], ["audit", "actions", "--help"]):
        rc, out, _ = run(*cmd)
        t.ok(rc == 0 and "Usage:" in out, f"{' '.join(cmd)} prints the usage")

    # Tamper with one recorded action (the hash chain would notice too; replay --check must on its own).
    bad = os.path.join(env.dir, "tampered.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(j + suffix):
            shutil.copy(j + suffix, bad + suffix)
    db = sqlite3.connect(bad)
    seq, payload = db.execute("SELECT seq, payload FROM events WHERE type='engine.action' ORDER BY seq LIMIT 1").fetchone()
    doc = json.loads(payload)
    doc["action"]["reason"] = "something else"
    db.execute("UPDATE events SET payload=? WHERE seq=?", (json.dumps(doc, sort_keys=True, separators=(",", ":")), seq))
    db.commit()
    db.close()
    rc, out, err = run("replay", "--check", "--quiet", bad)
    t.ok(rc == 1 and "1 differences" in out and "differs" in out, "replay --check finds a recorded action that differs",
         diag=out + err)


with Env() as env:
    t.run("replay and audit", main, env)
sys.exit(t.done())
