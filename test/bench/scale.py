#!/usr/bin/python3
"""Scale benchmark: one `run` process against N shoots (see docs/benchmarks.md).

For every N in EQXM_SCALE_SHOOTS (default 100,300,1000) and both credential modes (one project
shared by every shoot; one project and token per shoot) it starts the test kube-apiserver and the
test Metal API, creates N shoots (Namespace, Cluster, cloudprovider Secret, Infrastructure) with
EQXM_SCALE_DEVICES (10) active devices each in the Metal server, runs the real binary and prints:

  peak RSS (VmHWM), the time until every Infrastructure is Succeeded, that time divided by the
  lower bound the configured rate limits allow (Metal requests needed / rate per project, kube
  writes needed / --kube-api-qps), steady-state CPU (share of one core over one poll interval),
  and Metal device-list requests per project per poll (list calls, and requests with pages).

Knobs: EQXM_SCALE_SHOOTS, EQXM_SCALE_DEVICES, EQXM_SCALE_MODES (shared,per-project),
EQXM_SCALE_RPS (Metal requests/s per project, 50), EQXM_SCALE_POLL (poll seconds, 15),
EQXM_SCALE_KUBE_QPS (--kube-api-qps and burst, 200; 0 = the binary's default), EQXM_SCALE_TIMEOUT (seconds per configuration, 240),
EQXM_SCALE_ARGS (more arguments for `run`), EQXM_SCALE_CLUSTER_KB (pad each Cluster's cloud profile
with machine images to about that many KB), EQXM_SCALE_PERF=PREFIX (perf record of the measured steady-state window into PREFIX-N-MODE.data;
EQXM_SCALE_PERF_ARGS, default -g, e.g. "--call-graph dwarf").
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.environ.get("EQXM_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
from e2e import b64, ssh_key_for  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402
from metalapi import MetalAPI  # noqa: E402

BIN = os.environ.get("EQXM_BIN", os.path.join(ROOT, "bin", "gardener-extension-provider-equinix-metal"))
GROUP = "/apis/extensions.gardener.cloud/v1alpha1"
TICK = os.sysconf("SC_CLK_TCK")

# Requests one Infrastructure needs at least on Metal: list the project's SSH keys, create the key.
# On Kubernetes the bound counts the requests the controller actually sent until all Succeeded.
METAL_PER_SHOOT = 2


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def make_objects(kube, metal, n, mode, devices):
    shoots = [f"shoot--bench--s{i:04d}" for i in range(n)]
    creds = {}
    if mode == "shared":
        tok, proj = metal.token, metal.project
        for ns in shoots:
            creds[ns] = (tok, proj)
    else:
        for ns in shoots:
            tok, proj = "tok-" + uuid.uuid4().hex, str(uuid.uuid4())
            metal.add_token(tok, proj)
            creds[ns] = (tok, proj)
    metros = ["sv", "ny", "da", "dc", "ch", "am", "fr", "ld", "sg", "ty"]  # a metro's IPv4 pool holds 8192
    for i, ns in enumerate(shoots):
        metal._control("POST", "/_test/seed", {"project": creds[ns][1], "count": devices,
                                               "metro": metros[i % len(metros)],
                                               "tags": [f"kubernetes.io/cluster/{ns}"],
                                               "hostname_prefix": ns + "-w-", "state": "active"})
    kube.bulk("/api/v1/namespaces", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                                     for ns in shoots])
    clusters = []
    # EQXM_SCALE_CLUSTER_KB: a cloud profile with machine images, as real ones carry (their size
    # is most of a real Cluster's): what the informers list and the journal records grows.
    kb = env_int("EQXM_SCALE_CLUSTER_KB", 0)
    images = [{"name": f"image-{i:03d}", "versions": [
        {"version": f"{3000 + i}.{v}.0", "cri": [{"name": "containerd"}],
         "architectures": ["amd64", "arm64"], "classification": "supported"} for v in range(4)]}
        for i in range(kb * 1024 // 560)]
    for ns in shoots:
        shoot = {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
                 "metadata": {"name": ns.split("--")[-1], "namespace": "garden-bench"},
                 "spec": {"region": "ny", "provider": {"type": "equinixmetal"}},
                 "status": {"lastOperation": {"type": "Reconcile", "state": "Succeeded", "progress": 100}}}
        clusters.append({"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
                         "metadata": {"name": ns},
                         "spec": {"cloudProfile": {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
                                                   "spec": {"type": "equinixmetal", "machineImages": images}},
                                  "seed": {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Seed"},
                                  "shoot": shoot}})
    kube.bulk(GROUP + "/clusters", clusters)
    for ns in shoots:
        tok, proj = creds[ns]
        kube.bulk(f"/api/v1/namespaces/{ns}/secrets", [{
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudprovider", "namespace": ns},
            "type": "Opaque", "data": {"apiToken": b64(tok), "projectID": b64(proj)}}])
        kube.bulk(f"{GROUP}/namespaces/{ns}/infrastructures", [{
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Infrastructure",
            "metadata": {"name": "infrastructure", "namespace": ns,
                         "annotations": {"gardener.cloud/operation": "reconcile"}},
            "spec": {"type": "equinixmetal", "region": "ny",
                     "secretRef": {"name": "cloudprovider", "namespace": ns},
                     "sshPublicKey": b64(ssh_key_for(ns))}}])
    return shoots, creds


def succeeded(kube):
    st, lst = kube.get(GROUP + "/infrastructures")
    if st != 200:
        return 0
    n = 0
    for o in lst.get("items", []):
        lo = (o.get("status") or {}).get("lastOperation") or {}
        n += lo.get("state") == "Succeeded"
    return n


def one(n, mode, devices, rps, burst, poll, kube_qps, timeout):
    work = tempfile.mkdtemp(prefix="eqxm-scale-")
    kube = KubeAPI(history=max(1000, 10 * n))
    metal = MetalAPI(time_scale=1000.0, validate=False)
    proc = None
    try:
        t_setup = time.monotonic()
        shoots, creds = make_objects(kube, metal, n, mode, devices)
        setup_s = time.monotonic() - t_setup
        projects = len(set(p for _, p in creds.values()))
        metal._control("DELETE", "/_test/requests")
        log = open(os.path.join(work, "controller.log"), "wb")
        args = [BIN, "run", "--kubeconfig", kube.kubeconfig, "--journal", os.path.join(work, "journal.db"),
                "--metal-api-url", metal.url, "--metal-ca-file", metal.ca, "--leader-election=false",
                "--metrics-bind-address", "127.0.0.1:0", "--health-bind-address", "127.0.0.1:0",
                "--disable-webhooks", "*", "--log-level", "warn",
                "--metal-requests-per-second", str(rps), "--metal-request-burst", str(burst),
                "--metal-poll-seconds", str(poll), "--infrastructure-max-concurrent-reconciles", "50"]
        if kube_qps:
            args += ["--kube-api-qps", str(kube_qps), "--kube-api-burst", str(kube_qps)]
        args += os.environ.get("EQXM_SCALE_ARGS", "").split()
        t0 = time.monotonic()
        wrap = os.environ.get("EQXM_SCALE_WRAP", "").split()
        proc = subprocess.Popen(wrap + args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        done = 0
        t_done = None
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                break
            done = succeeded(kube)
            if done >= n:
                t_done = time.monotonic() - t0
                break
            time.sleep(0.5)
        hwm_kb = proc_status(proc.pid, "VmHWM") if proc.poll() is None else 0
        # Kubernetes requests the controller needed (the benchmark's own listings excluded).
        kube_reqs = sum(1 for r in kube.requests()
                        if not (r["method"] == "GET" and r["path"] == GROUP + "/infrastructures"))
        if os.environ.get("EQXM_SCALE_DUMP"):
            with open(os.environ["EQXM_SCALE_DUMP"] + f"-{n}-{mode}.json", "w") as f:
                json.dump([{k: r.get(k) for k in ("method", "path", "query", "status", "t", "fault")}
                           for r in metal._control("GET", "/_test/requests")], f)
            with open(os.environ["EQXM_SCALE_DUMP"] + f"-{n}-{mode}-kube.json", "w") as f:
                json.dump([{k: r.get(k) for k in ("method", "path", "status", "t", "watch")}
                           for r in kube.requests()] + [{"method": "START", "path": "", "t": t0}], f)
        cpu = None
        lists = reqs = None
        if t_done is not None:
            # Steady state: let the first full poll round pass, then one poll interval measured.
            time.sleep(poll)
            metal._control("DELETE", "/_test/requests")
            perf = None
            if os.environ.get("EQXM_SCALE_PERF"):
                perf = subprocess.Popen(["perf", "record", "-q", "-p", str(proc.pid), "-o",
                                         os.environ["EQXM_SCALE_PERF"] + f"-{n}-{mode}.data"]
                                        + os.environ.get("EQXM_SCALE_PERF_ARGS", "-g").split(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            c0, w0 = cpu_ticks(proc.pid), time.monotonic()
            time.sleep(poll)
            c1, w1 = cpu_ticks(proc.pid), time.monotonic()
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait()
            cpu = (c1 - c0) / TICK / (w1 - w0)
            log_reqs = metal._control("GET", "/_test/requests")
            dev = [r for r in log_reqs if r["method"] == "GET" and r["path"].endswith("/devices")]
            rounds = (w1 - w0) / poll
            lists = sum(1 for r in dev if (r.get("query") or {}).get("page", ["1"])[0] == "1") / projects / rounds
            reqs = len(log_reqs) / projects / rounds
            hwm_kb = proc_status(proc.pid, "VmHWM")
            if os.environ.get("EQXM_SCALE_VERBOSE"):
                print("  " + ", ".join(f"{k} {proc_status(proc.pid, k) / 1024:.1f} MiB"
                                       for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile")), flush=True)
        # Lower bound: Metal requests per project over its rate (after the burst), kube writes over qps.
        per_project = n * METAL_PER_SHOOT / projects
        metal_bound = max(0.0, (per_project - burst) / rps)
        kube_bound = max(0.0, (kube_reqs - kube_qps) / kube_qps) if kube_qps else 0.0
        bound = max(metal_bound, kube_bound)
        return {"n": n, "mode": mode, "projects": projects, "setup_s": setup_s, "hwm_mib": hwm_kb / 1024.0,
                "done": done, "t_done": t_done, "bound": bound, "metal_bound": metal_bound,
                "kube_bound": kube_bound, "cpu": cpu, "lists": lists, "reqs": reqs,
                "exit": proc.poll()}
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        metal.stop()
        kube.stop()
        if os.environ.get("EQXM_KEEP_TMP") != "1":
            subprocess.run(["rm", "-rf", work])
        else:
            print(f"  (kept {work})")


def fmt(v, f):
    return "—" if v is None else f.format(v)


def main():
    sizes = [int(x) for x in os.environ.get("EQXM_SCALE_SHOOTS", "100,300,1000").split(",") if x]
    modes = [m for m in os.environ.get("EQXM_SCALE_MODES", "shared,per-project").split(",") if m]
    devices = env_int("EQXM_SCALE_DEVICES", 10)
    rps = env_int("EQXM_SCALE_RPS", 50)
    burst = env_int("EQXM_SCALE_BURST", 20)
    poll = env_int("EQXM_SCALE_POLL", 15)
    kube_qps = env_int("EQXM_SCALE_KUBE_QPS", 200)
    timeout = env_int("EQXM_SCALE_TIMEOUT", 240)
    print(f"scale: {devices} devices per shoot, Metal {rps} req/s burst {burst} per project, "
          f"kube {kube_qps} qps, polls every {poll} s; {os.cpu_count()} cores")
    print(f"{'shoots':>6} {'mode':<11} {'peak RSS':>9} {'Succeeded':>10} {'bound':>7} {'ratio':>6} "
          f"{'CPU':>6} {'lists/proj/poll':>15} {'req/proj/poll':>13}")
    results = []
    for n in sizes:
        for mode in modes:
            r = one(n, mode, devices, rps, burst, poll, kube_qps, timeout)
            results.append(r)
            ratio = r["t_done"] / r["bound"] if r["t_done"] is not None and r["bound"] > 0 else None
            succ = fmt(r["t_done"], "{:.1f} s") if r["t_done"] is not None else f"{r['done']}/{n}"
            print(f"{n:>6} {mode:<11} {r['hwm_mib']:>5.1f} MiB {succ:>10} {r['bound']:>5.1f} s "
                  f"{fmt(ratio, '{:.2f}'):>6} {fmt(None if r['cpu'] is None else 100 * r['cpu'], '{:.1f} %'):>6} "
                  f"{fmt(r['lists'], '{:.2f}'):>15} {fmt(r['reqs'], '{:.2f}'):>13}", flush=True)
    for r in results:
        if r["n"] == 1000:
            limit = 64 if r["mode"] == "shared" else 128
            print(f"target peak RSS at 1000 shoots ({r['mode']}) < {limit} MiB: "
                  f"{'met' if r['hwm_mib'] and r['hwm_mib'] < limit else 'not met'}")
    ok = all(r["t_done"] is not None for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
