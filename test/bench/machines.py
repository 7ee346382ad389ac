#!/usr/bin/python3
"""Machine controller benchmark (docs/benchmarks.md): N Machines in one `machine-controller` process.

For every N in EQXM_MC_BENCH_MACHINES (default 100,1000) it starts two test kube-apiservers (seed
and shoot), the test Metal API (time scale 1000) and the node stand-in, creates a MachineClass and N
Machines at once, runs the real binary and prints: the time until every Machine is Running, the
lower bound the Metal rate limit allows (2 requests per machine, the tag lookup and the POST, at
EQXM_MC_BENCH_RPS requests/s, burst = rate), their ratio, and the peak RSS (VmHWM) of the
controller. Ratios against the smallest N of the same run show how time per machine and memory
grow.
"""
import os
import sys
import time

ROOT = os.environ.get("EQXM_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
from machine_env import MachineEnv, phase  # noqa: E402


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one(n, rps):
    with MachineEnv(time_scale=1000.0, core=False, node_ready_after=0.0) as env:
        env.nodes.interval = 1.0
        env.machine_class("bench")
        items = [{"apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
                  "metadata": {"name": f"bench-{i:05d}", "namespace": env.ns, "labels": {"name": "bench"}},
                  "spec": {"class": {"kind": "MachineClass", "name": "bench"}}} for i in range(n)]
        env.seed.bulk(env.path("machines"), items)
        t0 = time.monotonic()
        c = env.controller(f"--metal-requests-per-second={rps}", f"--metal-request-burst={rps}",
                           "--metal-poll-seconds=5", "--metal-poll-fast-seconds=2", "--log-level", "info",
                           "--metal-page-size=500")
        timeout = float(os.environ.get("EQXM_MC_BENCH_TIMEOUT", "900"))
        while time.monotonic() - t0 < timeout:
            ms = env.machines()
            if len(ms) == n and all(phase(m) == "Running" for m in ms):
                break
            if not c.running():
                raise SystemExit(f"the controller exited:\n{c.logs()[-3000:]}")
            time.sleep(0.5)
        else:
            raise SystemExit(f"{n} machines did not reach Running in {timeout} s")
        elapsed = time.monotonic() - t0
        rss = peak_rss_kib(c.proc.pid)
        c.stop()
        return elapsed, rss


def main():
    ns = [int(x) for x in os.environ.get("EQXM_MC_BENCH_MACHINES", "100,1000").split(",")]
    rps = int(os.environ.get("EQXM_MC_BENCH_RPS", "50"))
    base = None
    print(f"{'machines':>8} {'to Running s':>12} {'rate bound s':>12} {'ratio':>6} {'peak RSS MiB':>12} "
          f"{'s/machine vs base':>17} {'RSS vs base':>11}")
    for n in ns:
        elapsed, rss = one(n, rps)
        bound = 2 * n / rps
        if base is None:
            base = (elapsed / n, rss)
        print(f"{n:>8} {elapsed:>12.1f} {bound:>12.1f} {elapsed / bound:>6.2f} {rss / 1024:>12.1f} "
              f"{(elapsed / n) / base[0]:>17.2f} {rss / base[1]:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
