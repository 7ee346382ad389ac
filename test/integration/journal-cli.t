#!/usr/bin/env python3
"""The `journal` command of the real binary: verify, export and stats on a journal written by
test/tools/journal_writer, while it is being written, and on every kind of bad input. Also checks
that a planted token appears in none of the database, WAL, shared-memory or export bytes."""
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402

BIN = os.environ.get("EQXM_BIN", "bin/gardener-extension-provider-equinix-metal")
BUILD = os.environ.get("EQXM_BUILD", "build/release")
WRITER = os.path.join(BUILD, "test/tools/journal_writer")
TOKEN = "planted-cli-5e8f0a2b4c6d8e0f1a3b5c7d9e1f3a5b"
TOKEN_B64 = base64.b64encode(TOKEN.encode()).decode()

t = Tap()
tmp = tempfile.mkdtemp(prefix="journal-cli-")
os.chmod(tmp, 0o755)


def run(*args, user=None):
    pre, binary = None, BIN
    if user is not None:
        def pre():
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
        # The checkout may sit in a directory only root can enter: run a copy.
        binary = os.path.join(tmp, "bin-copy")
        if not os.path.exists(binary):
            shutil.copy(BIN, binary)
            os.chmod(binary, 0o755)
    return subprocess.run([binary, "journal", *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=pre)


def write(path, *args):
    r = subprocess.run([WRITER, path, *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"journal_writer failed: {r.stderr}")
    return r


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def export_lines(path, *args):
    r = run("export", *args, path)
    if r.returncode != 0:
        raise RuntimeError(f"export failed ({r.returncode}): {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines()], r


def usage_cases():
    r = run("--help")
    t.ok(r.returncode == 0 and "verify" in r.stdout and "export" in r.stdout, "journal --help")
    for sub in ("verify", "export", "stats", "backup"):
        r = run(sub, "--help")
        t.ok(r.returncode == 0 and "Usage:" in r.stdout, f"journal {sub} --help exits 0")
    cases = [(), ("bogus",), ("verify",), ("export", "--bogus", "x"), ("stats", "a", "b"),
             ("export", "--format", "csv", "j.db"), ("export", "--object", "noslash", "j.db"),
             ("export", "--from-seq", "9", "--to-seq", "3", "j.db")]
    for args in cases:
        r = run(*args)
        t.eq(2, r.returncode, f"usage error exits 2: journal {' '.join(args)}")


def main_journal():
    j = os.path.join(tmp, "main.db")
    write(j, "--count", "300", "--batch", "50", "--plant-token", TOKEN, "--snapshot-at", "200")
    r = run("verify", j)
    t.eq(0, r.returncode, "verify of an intact journal exits 0")
    t.eq(f"journal {j}: 300 events, seq 1..300, hash chain intact", r.stdout.strip(),
         "verify names count, range and verdict")
    rows, r = export_lines(j)
    t.eq(list(range(1, 301)), [x["seq"] for x in rows], "export yields every seq in order")
    lines = r.stdout.splitlines()
    t.ok(all(canonical(json.loads(line)) == line for line in lines), "export lines are canonical JSON")
    keys = {"seq", "recorded_ms", "recorded", "source", "type", "group_kind", "namespace", "name",
            "uid", "resource_version", "correlation_id", "payload", "hash"}
    t.eq(keys, set(rows[0].keys()), "export objects carry every column")
    blob = r.stdout.encode() + read(j) + read(j + "-wal") + read(j + "-shm")
    t.ok(TOKEN.encode() not in blob and TOKEN_B64.encode() not in blob,
         "planted token absent from export, db, wal and shm bytes")
    secrets = [x for x in rows if x["group_kind"] == "/Secret"]
    t.ok(secrets and all(v.startswith("hmac-sha256:") for v in secrets[0]["payload"]["object"]["data"].values()),
         "Secret data exported as keyed digests")
    plain = "sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest()
    t.ok(plain.encode() not in read(j) + read(j + "-wal"), "the plain SHA-256 of the token is not in the journal")
    t.ok(os.path.exists(j + ".key") and os.stat(j + ".key").st_mode & 0o777 == 0o600,
         "the digest key lives in JOURNAL.key (0600), outside the journal")
    # Filters against what the full export says.
    sub, _ = export_lines(j, "--from-seq", "10", "--to-seq", "19")
    t.eq(list(range(10, 20)), [x["seq"] for x in sub], "export --from-seq/--to-seq")
    sub, _ = export_lines(j, "--type", "executor.intent")
    t.eq([x["seq"] for x in rows if x["type"] == "executor.intent"], [x["seq"] for x in sub],
         "export --type")
    sub, _ = export_lines(j, "--source", "metal")
    t.eq([x["seq"] for x in rows if x["source"] == "metal"], [x["seq"] for x in sub], "export --source")
    want = [x["seq"] for x in rows if x["group_kind"] == "extensions.gardener.cloud/Worker"
            and x["namespace"] == "shoot--dev--a" and x["name"] == "obj-2"]
    sub, _ = export_lines(j, "--object", "Worker/shoot--dev--a/obj-2")
    t.ok(want and want == [x["seq"] for x in sub], "export --object KIND/NS/NAME",
         diag=f"{want} vs {[x['seq'] for x in sub]}")
    sub, _ = export_lines(j, "--object", "extensions.gardener.cloud/Worker/shoot--dev--a/obj-2")
    t.eq(want, [x["seq"] for x in sub], "export --object GROUP/KIND/NS/NAME")
    _, r = export_lines(j, "--progress", "--to-seq", "5")
    t.ok("exported 5 events" in r.stderr, "export --progress reports on stderr", diag=r.stderr)
    r = run("stats", j)
    t.ok(r.returncode == 0 and "300, seq 1..300" in r.stdout and "executor" in r.stdout
         and "test 1 (seq 200..200)" in r.stdout, "stats prints counts and snapshots", diag=r.stdout)
    r = run("stats", "--json", j)
    s = json.loads(r.stdout)
    t.ok(s["events"] == 300 and sum(s["by_source"].values()) == 300 and s["schema_version"] == 2
         and s["db_bytes"] > 0 and "wal_bytes" in s, "stats --json", diag=r.stdout)
    return j


def retention_and_crash():
    j = os.path.join(tmp, "retained.db")
    write(j, "--count", "120", "--batch", "10", "--snapshot-at", "80", "--retain-to-snapshot")
    r = run("verify", j)
    t.ok(r.returncode == 0 and "40 events, seq 81..120" in r.stdout and "anchored at seq 80" in r.stdout,
         "verify after retention starts at the anchor", diag=r.stdout + r.stderr)
    r = run("stats", j)
    t.ok("events up to seq 80 were removed" in r.stdout, "stats shows the retention anchor", diag=r.stdout)
    c = os.path.join(tmp, "crashed.db")
    write(c, "--count", "70", "--batch", "7", "--crash")
    t.ok(len(read(c + "-wal")) > 0, "a crashed writer leaves its WAL")
    r = run("verify", c)
    t.ok(r.returncode == 0 and "70 events" in r.stdout, "committed events survive a crash",
         diag=r.stdout + r.stderr)


def concurrent():
    j = os.path.join(tmp, "live.db")
    write(j, "--count", "10", "--batch", "10")
    p = subprocess.Popen([WRITER, j, "--count", "3000", "--batch", "20", "--sleep-ms", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ok_exports, ok_verifies, rounds = 0, 0, 0
    try:
        while p.poll() is None and rounds < 200:
            rounds += 1
            r = run("export", j)
            seqs = [json.loads(line)["seq"] for line in r.stdout.splitlines()]
            if r.returncode == 0 and seqs == list(range(1, len(seqs) + 1)):
                ok_exports += 1
            else:
                t.diag(f"export during writes: rc {r.returncode} {r.stderr}")
            r = run("verify", j)
            if r.returncode == 0:
                ok_verifies += 1
            else:
                t.diag(f"verify during writes: {r.stdout} {r.stderr}")
    finally:
        out, err = p.communicate(timeout=120)
    t.ok(p.returncode == 0, "the writer was never blocked by readers", diag=err)
    t.ok(rounds > 0 and ok_exports == rounds and ok_verifies == rounds,
         f"export and verify while the writer appends ({rounds} rounds)")
    r = run("verify", j)
    t.ok(r.returncode == 0 and "3010 events" in r.stdout, "all events there at the end", diag=r.stdout)


def bad_inputs(good):
    def refused(path, sub, needle, name):
        before = read(path)
        r = run(sub, path)
        msg = r.stdout + r.stderr
        t.ok(r.returncode == 1 and path in msg and needle in msg, name, diag=f"rc {r.returncode}: {msg}")
        t.ok(read(path) == before, f"{name}: file unchanged")

    txt = os.path.join(tmp, "notes.txt")
    with open(txt, "w") as f:
        f.write("not a journal\n" * 50)
    refused(txt, "stats", "not a SQLite database", "a text file is refused")
    r = run("verify", os.path.join(tmp, "absent.db"))
    t.ok(r.returncode == 1 and "does not exist" in r.stderr, "a missing journal is reported")
    t.ok(not os.path.exists(os.path.join(tmp, "absent.db")), "and not created")

    newer = os.path.join(tmp, "newer.db")
    shutil.copy(good, newer)
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 7")
    con.close()
    refused(newer, "export", "schema version 7", "a newer schema version is refused")
    r = run("verify", newer)
    t.ok("upgrade the binary" in r.stderr, "and the message says to upgrade", diag=r.stderr)

    trunc = os.path.join(tmp, "trunc.db")
    data = read(good)
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2 // 4096 * 4096])
    refused(trunc, "verify", "truncated", "a truncated journal is refused")

    bad = os.path.join(tmp, "badpage.db")
    page = len(data) // 4096 // 2
    with open(bad, "wb") as f:
        f.write(data[: page * 4096] + b"\xa5" * 4096 + data[(page + 1) * 4096:])
    refused(bad, "verify", "damaged", "a corrupted page fails verify")

    for name, stmt, seq in (("altered.db", "UPDATE events SET payload = '{}' WHERE seq = 5", 5),
                            ("deleted.db", "DELETE FROM events WHERE seq = 7", 8)):
        p = os.path.join(tmp, name)
        shutil.copy(good, p)
        con = sqlite3.connect(p)
        con.execute(stmt)
        con.commit()
        con.close()
        r = run("verify", p)
        t.ok(r.returncode == 1 and f"hash chain broken at seq {seq}:" in r.stdout,
             f"verify names seq {seq} after: {stmt}", diag=r.stdout + r.stderr)

    # Reading from a read-only directory (read-only media). Root ignores modes: drop to nobody.
    rodir = os.path.join(tmp, "ro")
    os.mkdir(rodir)
    ro = os.path.join(rodir, "j.db")
    shutil.copy(good, ro)
    os.chmod(ro, 0o644)
    os.chmod(rodir, 0o555)
    user = 65534 if os.geteuid() == 0 else None
    try:
        r = run("verify", ro, user=user)
        t.ok(r.returncode == 0 and "hash chain intact" in r.stdout,
             "verify works on a journal in a read-only directory", diag=r.stdout + r.stderr)
        r = run("export", "--to-seq", "3", ro, user=user)
        t.ok(r.returncode == 0 and len(r.stdout.splitlines()) == 3, "export from a read-only directory",
             diag=r.stderr)
    except PermissionError as e:
        print(f"ok {t.n + 1} # SKIP cannot run as an unprivileged user here: {e}", flush=True)
        t.n += 1
    finally:
        os.chmod(rodir, 0o755)


def backups():
    """journal backup of a live journal; a copy of the main file without its -wal; a copy with its
    -wal in a read-only directory."""
    live = os.path.join(tmp, "bk-live.db")
    write(live, "--count", "400", "--batch", "50", "--crash")  # events still in the WAL
    t.ok(len(read(live + "-wal")) > 0, "backup source: the events are in the -wal file")
    only = os.path.join(tmp, "bk-only")
    os.mkdir(only)
    shutil.copy(live, os.path.join(only, "bk-live.db"))
    r = run("verify", os.path.join(only, "bk-live.db"))
    t.ok(r.returncode == 1 and "-wal" in r.stderr and "journal backup" in r.stderr
         and "not copied" in r.stderr,
         "a copy without its -wal is refused with a message naming the missing -wal and backup",
         diag=r.stdout + r.stderr)

    copy = os.path.join(tmp, "bk-copy.db")
    p = subprocess.Popen([WRITER, live, "--count", "2000", "--batch", "20", "--sleep-ms", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r = run("backup", live, copy)
    finally:
        out, err = p.communicate(timeout=120)
    t.ok(r.returncode == 0 and "hash chain intact" in r.stdout, "backup of a journal being written",
         diag=r.stdout + r.stderr)
    t.ok(p.returncode == 0, "the writer was not blocked by the backup", diag=err)
    t.ok(not os.path.exists(copy + "-wal") and not os.path.exists(copy + "-shm"),
         "the backup is a single file")
    t.eq(b"\x01\x01", read(copy)[18:20], "the backup is in rollback-journal mode, not WAL")
    rows, _ = export_lines(copy)
    seqs = [x["seq"] for x in rows]
    t.ok(len(seqs) >= 400 and seqs == list(range(1, len(seqs) + 1)),
         f"the backup holds a gap-free prefix of the live journal ({len(seqs)} events)")
    r = run("backup", live, copy)
    t.ok(r.returncode == 1 and "already exists" in r.stderr, "backup never overwrites", diag=r.stderr)
    r = run("backup", live, os.path.join(tmp, "no-such-dir", "c.db"))
    t.ok(r.returncode == 1 and "does not exist" in r.stderr, "backup into a missing directory",
         diag=r.stderr)
    t.eq(2, run("backup", live).returncode, "backup without a destination is a usage error")

    user = 65534 if os.geteuid() == 0 else None
    rodir = os.path.join(tmp, "bk-ro")
    os.mkdir(rodir)
    crashed = os.path.join(tmp, "bk-crashed.db")
    write(crashed, "--count", "300", "--batch", "30", "--crash")
    for suffix in ("", "-wal"):
        shutil.copy(crashed + suffix, os.path.join(rodir, "j.db" + suffix))
        os.chmod(os.path.join(rodir, "j.db" + suffix), 0o444)
    robk = os.path.join(tmp, "bk-ro-single")
    os.mkdir(robk)
    shutil.copy(copy, os.path.join(robk, "c.db"))
    os.chmod(os.path.join(robk, "c.db"), 0o444)
    os.chmod(rodir, 0o555)
    os.chmod(robk, 0o555)
    try:
        ro = os.path.join(rodir, "j.db")
        r = run("verify", ro, user=user)
        t.ok(r.returncode == 0 and "300 events" in r.stdout,
             "a journal with its -wal in a read-only directory is read, WAL included",
             diag=r.stdout + r.stderr)
        t.ok("does not exist" not in r.stderr, "and nobody claims the directory does not exist")
        r = run("stats", ro, user=user)
        t.ok(r.returncode == 0 and "300, seq 1..300" in r.stdout, "stats in a read-only directory",
             diag=r.stdout + r.stderr)
        t.eq(["j.db", "j.db-wal"], sorted(os.listdir(rodir)), "nothing was created in the read-only directory")
        r = run("verify", os.path.join(robk, "c.db"), user=user)
        t.ok(r.returncode == 0 and "hash chain intact" in r.stdout and not r.stderr,
             "a backup in a read-only directory verifies without notes", diag=r.stdout + r.stderr)
    except PermissionError as e:
        print(f"ok {t.n + 1} # SKIP cannot run as an unprivileged user here: {e}", flush=True)
        t.n += 1
    finally:
        os.chmod(rodir, 0o755)
        os.chmod(robk, 0o755)


try:
    t.run("usage", usage_cases)
    t.run("backups", backups)
    good = t.run("main journal", main_journal)
    t.run("retention and crash", retention_and_crash)
    t.run("concurrent", concurrent)
    if good:
        t.run("bad inputs", bad_inputs, good)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(t.done())
