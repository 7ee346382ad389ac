"""The machine controller crash suite (issue 12): SIGKILL the controller at random moments of a
20-machine rollout and restart it on the same journal; then no machine may have two devices, the
pool must reach Running, deleting it must leave no device of the cluster, `journal verify` must pass
and `replay --check` must show no difference. Used by test/integration/machine-crash.t (a few kills)
and test/soak/machine-crash.t (50 kills)."""
import os
import random
import signal
import time

from machine_env import MachineEnv
from tap import Tap


def run(kills, machines=20):
    t = Tap()
    seed = int(os.environ.get("EQXM_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t.diag(f"random seed {seed} (EQXM_CRASH_SEED reproduces it)")
    with MachineEnv() as env:
        try:
            env.pool("pool-a", machines)
            c = env.controller("--concurrent-syncs=20")
            for i in range(kills):
                time.sleep(rnd.uniform(0.05, 0.8))
                c.stop(sig=signal.SIGKILL)
                c = env.controller("--concurrent-syncs=20", name=f"restart-{i}")
            env.wait_running({"pool-a": machines}, controller=c, timeout=300)
            per = {}
            for d in env.devices():
                if d["state"] not in ("deprovisioning",):
                    per.setdefault(d["hostname"], []).append(d["id"])
            dups = {h: ids for h, ids in per.items() if len(ids) > 1}
            t.ok(not dups, f"after {kills} kills no machine has two devices", diag=dups)
            t.eq(machines, len(per), "one device per machine")
            bound = all(m["spec"]["providerID"].rsplit("/", 1)[-1] in per.get(m["metadata"]["name"], [])
                        for m in env.machines("pool-a"))
            t.ok(bound, "every machine's providerID names its device")
            # Kill during the deletion as well.
            env.scale("pool-a", 0)
            for i in range(max(1, kills // 5)):
                time.sleep(rnd.uniform(0.05, 0.8))
                c.stop(sig=signal.SIGKILL)
                c = env.controller("--concurrent-syncs=20", name=f"restart-del-{i}")
            env.wait("all machines deleted", lambda: not env.machines("pool-a"), controller=c, timeout=300)
            left = [d for d in env.devices() if d["state"] not in ("deprovisioning", "deleted")]
            t.ok(not left, "no device of the cluster is left after the deletion", diag=[(d["hostname"], d["state"]) for d in left])
            t.eq(0, c.stop(), "SIGTERM exits 0")
            rc, out = env.journal_verify()
            t.ok(rc == 0, "journal verify passes", diag=out[-2000:])
            rc, out = env.replay_check()
            t.ok(rc == 0, "replay --check finds no difference", diag=out[-3000:])
        except AssertionError as e:
            t.ok(False, "the scenario completed", diag=str(e)[-6000:])
    t.done()
