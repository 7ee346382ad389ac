#!/usr/bin/env python3
"""`run` limits its requests to the seed's API server client-side (issue 10): clientConnection.qps and
burst of the --config-file (ignored before) and --kube-api-qps / --kube-api-burst, which win over the
file. With qps 2 and burst 1, the server sees the controller's requests at least 0.5 s apart on
average: n requests span at least (n - 1) / 2 seconds (a lower bound the limiter guarantees)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
N = 7


def controller_requests(env, since):
    return [r for r in env.kube.requests() if r.get("t", 0) >= since and "/_test/" not in r.get("path", "")]


def spread(env, c, since, want=N):
    deadline = time.monotonic() + 30
    reqs = []
    while time.monotonic() < deadline and c.running():
        reqs = controller_requests(env, since)
        if len(reqs) >= want:
            break
        time.sleep(0.1)
    reqs = reqs[:want]
    return len(reqs), (reqs[-1]["t"] - reqs[0]["t"]) if len(reqs) >= 2 else 0.0


def main(env):
    env.shoot("shoot--q--a")
    env.infrastructure("shoot--q--a")
    cfg = os.path.join(env.dir, "config.yaml")
    with open(cfg, "w") as f:
        f.write("apiVersion: equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1\n"
                "kind: ControllerConfiguration\nclientConnection:\n  qps: 2\n  burst: 1\n")
    since = time.monotonic()
    c = env.controller("--config-file", cfg, name="from-file")
    n, span = spread(env, c, since)
    t.ok(n == N and span >= (N - 1) / 2 - 0.05, f"clientConnection qps 2 / burst 1: {N} requests over at least "
         f"{(N - 1) / 2} s", diag=f"{n} requests over {span:.2f} s")
    env.wait_infra("shoot--q--a", lambda o: last_op(o).get("state") == "Succeeded", controller=c, timeout=60)
    t.ok(last_op(env.get_infra("shoot--q--a")).get("state") == "Succeeded",
         "and the Infrastructure still becomes Succeeded")
    t.eq(0, c.stop(), "stops cleanly")

    with open(cfg, "w") as f:
        f.write("apiVersion: equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1\n"
                "kind: ControllerConfiguration\nclientConnection:\n  qps: 1000\n  burst: 1000\n")
    since = time.monotonic()
    c = env.controller("--config-file", cfg, "--kube-api-qps", "1", "--kube-api-burst", "1",
                       name="flags", journal=os.path.join(env.dir, "j2.db"))
    n, span = spread(env, c, since, 5)
    t.ok(n == 5 and span >= 4 - 0.05, "--kube-api-qps 1 overrides the file's qps 1000: 5 requests over at least 4 s",
         diag=f"{n} requests over {span:.2f} s")
    t.eq(0, c.stop(), "stops cleanly")


with Env() as env:
    t.run("kube API rate limit", main, env)
sys.exit(t.done())
