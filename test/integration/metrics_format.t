#!/usr/bin/env python3
"""The metrics and health endpoints, scraped with Python's own HTTP client from
test/tools/obs_server (the standard metric set with sample data), and the
exposition checked against the Prometheus text format 0.0.4 by an independent,
strict parser written here (promtool is not a Debian package). Also: health
output, 404/405/HEAD, bind-address errors and disabled endpoints.
"""
import http.client
import math
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402

ROOT = os.environ.get("EQXM_ROOT", ".")
TOOL = os.path.join(os.environ.get("EQXM_BUILD", "build/release"), "test/tools/obs_server")

# ---- the exposition format (text 0.0.4) ---------------------------------------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(Exception):
    pass


def parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise FormatError(f"{where}: bad value {s!r}")
    return float(s)


def parse_labels(s, i, where):
    """Parse '{a="x",b="y"}' starting at s[i] == '{'. Returns (dict, ordered names, next index)."""
    labels, order = {}, []
    i += 1
    if s[i:i + 1] == "}":
        return labels, order, i + 1
    while True:
        m = LABEL_NAME.match(s, i)
        if not m:
            raise FormatError(f"{where}: bad label name at {s[i:i + 20]!r}")
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise FormatError(f"{where}: expected =\" after label {name}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise FormatError(f"{where}: unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt == "\\":
                    val.append("\\")
                elif nxt == '"':
                    val.append('"')
                elif nxt == "n":
                    val.append("\n")
                else:
                    raise FormatError(f"{where}: invalid escape \\{nxt} in label value")
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise FormatError(f"{where}: raw newline in label value")
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise FormatError(f"{where}: label {name} repeated")
        labels[name] = "".join(val)
        order.append(name)
        if s[i:i + 1] == ",":
            i += 1
            if s[i:i + 1] == "}":
                return labels, order, i + 1
            continue
        if s[i:i + 1] == "}":
            return labels, order, i + 1
        raise FormatError(f"{where}: expected , or }} in labels")


def unescape_help(s, where):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            nxt = s[i + 1:i + 2]
            if nxt == "\\":
                out.append("\\")
            elif nxt == "n":
                out.append("\n")
            else:
                raise FormatError(f"{where}: invalid escape \\{nxt} in HELP")
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def family_of(sample_name, types):
    """The family a sample belongs to (histogram and summary samples carry suffixes)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            if types.get(base) in ("histogram", "summary"):
                return base
    return sample_name


def parse(text):
    """Parse and validate an exposition. Returns {family: {"type", "help", "samples": [...]}}."""
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    fams, types, order = {}, {}, []
    current = None
    seen_series = set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}"
        if line == "":
            raise FormatError(f"{where}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.fullmatch(name):
                    raise FormatError(f"{where}: bad metric name {name!r}")
                fam = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if fam["samples"]:
                    raise FormatError(f"{where}: {parts[1]} for {name} after its samples")
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise FormatError(f"{where}: second HELP for {name}")
                    fam["help"] = unescape_help(parts[3] if len(parts) > 3 else "", where)
                else:
                    if fam["type"] is not None:
                        raise FormatError(f"{where}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError(f"{where}: bad TYPE line {line!r}")
                    fam["type"] = parts[3]
                    types[name] = parts[3]
                if name not in order:
                    order.append(name)
                current = name
            continue
        m = METRIC_NAME.match(line)
        if not m:
            raise FormatError(f"{where}: bad sample line {line!r}")
        sname = m.group(0)
        i = m.end()
        labels, lorder = {}, []
        if line[i:i + 1] == "{":
            labels, lorder, i = parse_labels(line, i, where)
        if line[i:i + 1] != " ":
            raise FormatError(f"{where}: expected a space before the value")
        rest = line[i + 1:].split(" ")
        if len(rest) not in (1, 2):
            raise FormatError(f"{where}: trailing garbage {line[i:]!r}")
        value = parse_value(rest[0], where)
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise FormatError(f"{where}: bad timestamp {rest[1]!r}")
        fam_name = family_of(sname, types)
        if fam_name != current:
            if fam_name in fams and fams[fam_name]["samples"]:
                raise FormatError(f"{where}: samples of {fam_name} are not contiguous")
            current = fam_name
            if fam_name not in order:
                order.append(fam_name)
        fam = fams.setdefault(fam_name, {"type": None, "help": None, "samples": []})
        if fam["type"] is None:
            raise FormatError(f"{where}: sample of {fam_name} before its TYPE line")
        key = (sname, tuple(sorted(labels.items())))
        if key in seen_series:
            raise FormatError(f"{where}: duplicate series {sname}{labels}")
        seen_series.add(key)
        if fam["type"] == "counter" and not value >= 0:
            raise FormatError(f"{where}: counter {sname} has value {value}")
        if fam["type"] in ("counter", "gauge") and sname != fam_name:
            raise FormatError(f"{where}: {sname} is not a sample name of {fam['type']} {fam_name}")
        fam["samples"].append({"name": sname, "labels": labels, "order": lorder, "value": value})
    for name, fam in fams.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return fams, order


def check_histogram(name, samples):
    series = {}
    for s in samples:
        base = {k: v for k, v in s["labels"].items() if k != "le"}
        key = tuple(sorted(base.items()))
        e = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s["name"] == name + "_bucket":
            if "le" not in s["labels"]:
                raise FormatError(f"{name}: bucket without le")
            if s["order"][-1] != "le":
                raise FormatError(f"{name}: le is not the last label")
            e["buckets"].append((parse_value(s["labels"]["le"], name), s["value"]))
        elif s["name"] == name + "_sum":
            e["sum"] = s["value"]
        elif s["name"] == name + "_count":
            e["count"] = s["value"]
        else:
            raise FormatError(f"{name}: unexpected sample {s['name']}")
    for key, e in series.items():
        les = [b[0] for b in e["buckets"]]
        if les != sorted(les) or len(set(les)) != len(les):
            raise FormatError(f"{name}{dict(key)}: buckets not in increasing le order")
        if not les or les[-1] != math.inf:
            raise FormatError(f"{name}{dict(key)}: no +Inf bucket")
        counts = [b[1] for b in e["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise FormatError(f"{name}{dict(key)}: bucket counts are not cumulative")
        if e["count"] is None or e["sum"] is None:
            raise FormatError(f"{name}{dict(key)}: _sum or _count missing")
        if counts[-1] != e["count"]:
            raise FormatError(f"{name}{dict(key)}: +Inf bucket {counts[-1]} != _count {e['count']}")


# ---- helpers ------------------------------------------------------------------------------

def start(*args):
    p = subprocess.Popen([TOOL, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    ports = {}
    for _ in range(2):
        line = p.stdout.readline()
        if not line:
            break
        what, val = line.split()
        ports[what] = None if val == "disabled" else int(val)
    return p, ports


def stop(p):
    """Close stdin (the tool's signal to stop); returns (exit code, stderr)."""
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    return p.returncode, err


def get(port, path, method="GET", body=None, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=20)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read().decode("utf-8")
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        c.close()


def documented_metrics():
    with open(os.path.join(ROOT, "docs/metrics.md"), encoding="utf-8") as f:
        return set(re.findall(r"^\| `((?:eqxm|process)_[a-z_]+)` \|", f.read(), re.M))


def main():
    t = Tap()

    # The parser itself must reject what Prometheus rejects.
    bad = {
        "sample before TYPE": "x 1\n",
        "bad escape": '# TYPE x gauge\nx{a="\\t"} 1\n',
        "non-cumulative buckets": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                  "h_sum 1\nh_count 1\n",
        "+Inf != count": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "duplicate series": "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",
        "negative counter": "# TYPE c counter\nc -1\n",
        "no final newline": "# TYPE x gauge\nx 1",
        "interleaved": "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"y\"} 2\n",
    }
    for what, text in bad.items():
        try:
            parse(text)
            t.ok(False, f"the format checker rejects: {what}")
        except FormatError:
            t.ok(True, f"the format checker rejects: {what}")

    with tempfile.TemporaryDirectory() as tmp:
        ready = os.path.join(tmp, "ready")
        p, ports = start("--metrics-bind-address=127.0.0.1:0", "--health-bind-address=127.0.0.1:0",
                         "--ready-file=" + ready)
        try:
            t.ok(ports.get("metrics") and ports.get("health"), "obs_server reports both ports",
                 diag=str(ports))
            mp, hp = ports["metrics"], ports["health"]

            status, headers, text = get(mp, "/metrics")
            t.eq(200, status, "GET /metrics is 200")
            t.eq("text/plain; version=0.0.4; charset=utf-8", headers.get("content-type"),
                 "/metrics has the 0.0.4 content type")
            fams, order = {}, []
            try:
                fams, order = parse(text)
                t.ok(True, "the exposition is valid text format 0.0.4")
            except FormatError as e:
                t.ok(False, "the exposition is valid text format 0.0.4", diag=f"{e}\n{text}")
            t.eq(sorted(order), order, "metric families are sorted by name")
            for name, fam in fams.items():
                keys = [[s["labels"].get(k, "") for k in s["order"] if k != "le"]
                        for s in fam["samples"] if s["name"] in (name, name + "_count")]
                if keys != sorted(keys):
                    t.ok(False, f"label sets of {name} are sorted", diag=str(keys))
                    break
            else:
                t.ok(True, "label sets within each family are sorted")
            missing = documented_metrics() - set(fams)
            if os.environ.get("EQXM_VARIANT") == "asan":
                # ASan's allocator serves malloc there, and glibc cannot tell the heap in use.
                missing.discard("eqxm_heap_in_use_bytes")
            t.ok(not missing, "every metric documented in docs/metrics.md is exposed",
                 diag=f"missing: {sorted(missing)}")
            t.ok(len(documented_metrics()) >= 20, "docs/metrics.md lists the metrics",
                 diag=str(documented_metrics()))
            undocumented = {f for f in fams if f not in documented_metrics()}
            t.ok(not undocumented, "every exposed metric is documented",
                 diag=f"undocumented: {sorted(undocumented)}")
            types_ok = all(fams[n]["type"] == ty for n, ty in [
                ("eqxm_reconciles_total", "counter"), ("eqxm_reconcile_duration_seconds", "histogram"),
                ("eqxm_api_request_duration_seconds", "histogram"), ("eqxm_leader_status", "gauge"),
                ("process_cpu_seconds_total", "counter"), ("process_open_fds", "gauge")] if n in fams)
            t.ok(types_ok, "metric types are as documented")

            def value(name, **labels):
                fam = family_of(name, {k: v["type"] for k, v in fams.items()})
                for s in fams.get(fam, {}).get("samples", []):
                    if s["name"] == name and s["labels"] == labels:
                        return s["value"]
                return None

            t.eq(1.0, value("eqxm_leader_status"), "eqxm_leader_status is 1")
            t.eq(1.0, value("eqxm_actions_total", controller="worker",
                            kind='weird "kind"\\with\nnewline', result="retry"),
                 "an escaped label value reads back as the original")
            t.eq(1.0, value("eqxm_api_errors_total", api="kube", method="GET", reason="timeout"),
                 "API errors are counted by reason")
            t.eq(123456.0, value("eqxm_journal_size_bytes"), "the journal size callback is read")
            t.eq(1.0, value("eqxm_metrics_label_overflow_total", metric="eqxm_watch_relists_total"),
                 "a label set over the cap is dropped and counted")
            t.eq(None, value("eqxm_watch_relists_total", resource="configmaps"),
                 "the dropped label set is not exposed")
            t.eq(2.0, value("eqxm_journal_commit_duration_seconds_count"), "histogram _count")
            t.eq(1.0, value("eqxm_journal_commit_duration_seconds_bucket", le="0.001"),
                 "histogram bucket le=0.001")
            bi = fams.get("eqxm_build_info", {}).get("samples", [])
            t.ok(len(bi) == 1 and bi[0]["value"] == 1 and bi[0]["labels"].get("version"),
                 "eqxm_build_info is 1 with the version", diag=str(bi))
            start_s = value("process_start_time_seconds") or 0
            t.ok(time.time() - 3600 < start_s <= time.time() + 5,
                 "process_start_time_seconds is when the tool started", diag=str(start_s))
            t.ok((value("process_open_fds") or 0) >= 4, "process_open_fds counts the sockets",
                 diag=str(value("process_open_fds")))
            t.ok((value("process_resident_memory_bytes") or 0) > 100000,
                 "process_resident_memory_bytes is plausible")

            status, headers, body = get(mp, "/metrics", method="HEAD")
            t.ok(status == 200 and body == "" and int(headers.get("content-length", 0)) > 1000,
                 "HEAD /metrics: headers with the length, no body", diag=str((status, headers)))
            t.eq(404, get(mp, "/nope")[0], "unknown path is 404")
            t.eq(404, get(mp, "/healthz")[0], "health is not on the metrics port")
            st, hd, _ = get(mp, "/metrics", method="POST", body="x")
            t.ok(st == 405 and hd.get("allow") == "GET, HEAD", "POST is 405 with Allow",
                 diag=str((st, hd)))

            t.eq((200, "ok"), get(hp, "/healthz")[::2], "/healthz is ok")
            st, _, body = get(hp, "/readyz")
            t.eq((500, "[-]journal failed: reason withheld\nreadyz check failed\n"), (st, body),
                 "/readyz fails while the journal is not ready")
            st, _, body = get(hp, "/readyz/journal")
            t.ok(st == 500 and body.startswith("internal server error: the journal is not open"),
                 "/readyz/journal gives the reason", diag=body)
            open(ready, "w").close()
            t.eq((200, "ok"), get(hp, "/readyz")[::2], "/readyz passes once the journal is ready")
            t.eq((200, "[+]journal ok\nreadyz check passed\n"), get(hp, "/readyz?verbose")[::2],
                 "/readyz?verbose lists the checks")
            t.eq(404, get(hp, "/metrics")[0], "metrics are not on the health port")

            # A second instance on the same ports fails with a sentence naming flag and address.
            p2, _ = start(f"--metrics-bind-address=127.0.0.1:{mp}", "--health-bind-address=0")
            rc, err = stop(p2)
            t.ok(rc == 1 and "--metrics-bind-address" in err and f"127.0.0.1:{mp}" in err
                 and "already in use" in err, "a port in use fails the start with a clear error",
                 diag=f"rc={rc} err={err}")
        finally:
            rc, err = stop(p)
        t.eq(0, rc, "obs_server stops cleanly when its stdin closes (and leaks nothing under ASan)")
        if rc:
            t.diag(err)

    p, ports = start("--metrics-bind-address=::1:8080")
    rc, err = stop(p)
    t.ok(rc == 2 and "--metrics-bind-address" in err and "::1:8080" in err,
         "a malformed address is a usage error naming the flag", diag=f"rc={rc} err={err}")
    p, ports = start("--metrics-bind-address=0", "--health-bind-address=")
    rc, err = stop(p)
    t.ok(ports == {"metrics": None, "health": None} and rc == 0,
         "\"0\" disables metrics and an empty health address disables health",
         diag=f"ports={ports} rc={rc} err={err}")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
