#!/usr/bin/env python3
"""Leader election and the Gardener heartbeat against the test kube-apiserver.

Three candidates (separate processes) share one Lease (lease 4 s, renew deadline 3 s, retry 0.5 s):
  A leads; B waits; A is killed with SIGKILL -> B takes over once A's lease has expired by B's own
  observation; C joins; B is stopped gracefully (SIGTERM, ReleaseOnCancel) -> C takes over at once,
  without waiting for the lease to expire.
Fencing: every process prints its "act" lines (a side effect allowed by kube_leader_may_act()) with
CLOCK_MONOTONIC times, which all processes on the machine share. The test checks that no two
leaders ever share an epoch, that epochs grow, that every act happened before its own deadline, and
that no act of an older epoch happens after a newer leader started.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from tap import Tap  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402

BUILD = os.environ.get("EQXM_BUILD", "build/release")
TOOL = os.path.join(BUILD, "test/tools/kube_leader_tool")
CLIENT = os.path.join(BUILD, "test/tools/kube_client_tool")
LEASE_MS, RENEW_MS, RETRY_MS = 4000, 3000, 500
# Upper bound for a takeover after the leader vanished: the lease duration, measured from the
# candidate's observation of the last renewal (up to one jittered retry period late), plus the
# candidate's next attempt (one more jittered period) and scheduling slack for a loaded machine.
TAKEOVER_BOUND_S = LEASE_MS / 1000 + 2 * 2.2 * RETRY_MS / 1000 + 4.0
t = Tap()


def mono_ms():
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)


class Candidate:
    def __init__(self, k, ident):
        self.ident = ident
        self.lines = []
        self.q = queue.Queue()
        self.p = subprocess.Popen([TOOL, "--kubeconfig", k.kubeconfig, "--namespace", "default",
                                   "--name", "test-leader", "--identity", ident,
                                   "--lease-ms", str(LEASE_MS), "--renew-ms", str(RENEW_MS),
                                   "--retry-ms", str(RETRY_MS), "--release-on-cancel"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        for line in self.p.stdout:
            parts = line.split()
            if not parts:
                continue
            ev = {"what": parts[0], "who": self.ident}
            for kv in parts[1:]:
                key, _, v = kv.partition("=")
                ev[key] = int(v)
            self.lines.append(ev)
            self.q.put(ev)

    def wait_for(self, what, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if ev["what"] == what:
                return ev
        return None

    def events(self, what):
        return [e for e in self.lines if e["what"] == what]

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.th.join(5)
        return self.p.returncode, self.p.stderr.read()


def test_election(k):
    a = Candidate(k, "candidate-a")
    b = c = None
    try:
        sa = a.wait_for("started", 15)
        t.ok(sa is not None, "the first candidate becomes leader")
        t.eq(0, sa and sa["epoch"], "it created the Lease: epoch 0")
        st, lease = k.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/test-leader")
        t.eq("candidate-a", lease.get("spec", {}).get("holderIdentity"), "the Lease names it as holder")
        t.eq(LEASE_MS // 1000, lease.get("spec", {}).get("leaseDurationSeconds"), "leaseDurationSeconds as configured")
        b = Candidate(k, "candidate-b")
        time.sleep(2.5)
        t.eq([], b.events("started"), "a second candidate does not lead while the first renews")
        a_acts = a.events("act")
        t.ok(len(a_acts) > 10, "the leader acts while its leadership is certain", diag=str(len(a_acts)))
        kill_ms = mono_ms()
        a.p.kill()
        rc, _ = a.stop()
        sb = b.wait_for("started", TAKEOVER_BOUND_S + 5)
        t.ok(sb is not None, "after SIGKILL of the leader the second candidate takes over")
        if sb:
            took = (sb["mono"] - kill_ms) / 1000
            t.ok(took <= TAKEOVER_BOUND_S, f"... within the lease duration plus retry periods ({TAKEOVER_BOUND_S:.1f} s)",
                 diag=f"took {took:.2f} s")
            last_deadline_a = max(e["deadline"] for e in a.lines if "deadline" in e)
            t.ok(sb["mono"] > last_deadline_a, "the new leader started only after the old leader's fencing deadline",
                 diag=f'{sb["mono"]} vs {last_deadline_a}')
            t.eq(1, sb["epoch"], "the takeover increments the epoch (leaseTransitions)")
        c = Candidate(k, "candidate-c")
        time.sleep(1.5)
        t.eq([], c.events("started"), "a third candidate waits while the second leads")
        rc, err = b.stop(signal.SIGTERM)
        t.eq(0, rc, "the leader exits cleanly on SIGTERM")
        rel = b.events("released")
        t.ok(rel and b.events("stopped"), "it stopped leading and released the Lease", diag=err[-2000:])
        sc = c.wait_for("started", LEASE_MS / 1000 + 5)
        t.ok(sc is not None, "the third candidate takes over after the release")
        if sc and rel:
            gap = (sc["mono"] - rel[0]["mono"]) / 1000
            t.ok(gap < LEASE_MS / 1000, "... at once, without waiting for the lease to expire", diag=f"{gap:.2f} s")
            t.eq(2, sc["epoch"], "epoch 2")
        st, lease = k.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/test-leader")
        t.eq(2, lease.get("spec", {}).get("leaseTransitions"), "leaseTransitions counts the two handovers")
        time.sleep(1.0)
    finally:
        for cand in (a, b, c):
            if cand:
                rc, err = cand.stop(signal.SIGTERM)
    everyone = a.lines + (b.lines if b else []) + (c.lines if c else [])
    starts = sorted([e for e in everyone if e["what"] == "started"], key=lambda e: e["mono"])
    epochs = [e["epoch"] for e in starts]
    t.eq(len(set(epochs)), len(epochs), "no two leaders ever had the same epoch")
    t.eq(sorted(epochs), epochs, "epochs grow with every new leader")
    acts = sorted([e for e in everyone if e["what"] == "act"], key=lambda e: e["mono"])
    t.ok(all(e["mono"] < e["deadline"] for e in acts), "every act happened before its leader's deadline")
    order = [e["epoch"] for e in acts]
    t.eq(sorted(order), order, "no act of an older epoch after a newer leader acted (fencing)")
    t.ok(len({e["epoch"] for e in acts}) == 3, "all three leaders acted", diag=str(sorted({e['epoch'] for e in acts})))


def test_heartbeat(k):
    r = subprocess.run([CLIENT, "heartbeat", "--kubeconfig", k.kubeconfig, "--namespace", "garden-ext",
                        "--name", "provider-test", "--times", "2"], capture_output=True, text=True, timeout=60)
    t.eq(0, r.returncode, "the heartbeat renewed twice", )
    st, lease = k.get("/apis/coordination.k8s.io/v1/namespaces/garden-ext/leases/gardener-extension-heartbeat")
    t.eq(200, st, "the Lease gardener-extension-heartbeat exists")
    spec = lease.get("spec", {}) if isinstance(lease, dict) else {}
    t.eq("provider-test", spec.get("holderIdentity"), "holderIdentity is the extension name")
    t.eq(1, spec.get("leaseDurationSeconds"), "leaseDurationSeconds is the renew interval")
    first = spec.get("renewTime")
    t.ok(isinstance(first, str) and first.endswith("Z") and len(first) == 27, "renewTime is a MicroTime",
         diag=str(first))
    r = subprocess.run([CLIENT, "heartbeat", "--kubeconfig", k.kubeconfig, "--namespace", "garden-ext",
                        "--name", "provider-test", "--times", "1"], capture_output=True, text=True, timeout=60)
    st, lease2 = k.get("/apis/coordination.k8s.io/v1/namespaces/garden-ext/leases/gardener-extension-heartbeat")
    t.ok(lease2["spec"]["renewTime"] != first, "a later run renews the existing Lease")


def main():
    with KubeAPI() as k:
        k.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "garden-ext"}})
        t.run("election", test_election, k)
        t.run("heartbeat", test_heartbeat, k)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
