#!/usr/bin/env python3
"""Credentials at start (issue 10): every shoot asks for its Metal credentials as soon as its
Infrastructure is seen, before the cloudprovider Secret informer has listed. The requests wait for
that list and are answered from its cache, so a seed's start costs one list of Secrets, not one GET
per shoot out of the Kubernetes client's rate limit. When the list cannot be had (here the API
server fails it), they read the Secrets themselves after 10 s, and the shoots still reconcile."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from e2e import Env, last_op  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
SECRET_GET = re.compile(r"^/api/v1/namespaces/[^/]+/secrets/cloudprovider$")


def secret_gets(env):
    return [r for r in env.kube.requests() if r["method"] == "GET" and SECRET_GET.match(r["path"])]


def secret_lists(env):
    return [r for r in env.kube.requests() if r["method"] == "GET" and r["path"] == "/api/v1/secrets"
            and not r.get("watch")]


def succeeded(o):
    return last_op(o).get("state") == "Succeeded"


def from_the_informer(env):
    shoots = [f"shoot--cw--s{i}" for i in range(6)]
    for ns in shoots:
        env.shoot(ns)
        env.infrastructure(ns)
    c = env.controller()
    for ns in shoots:
        env.wait_infra(ns, succeeded, controller=c)
    t.ok(all(succeeded(env.get_infra(ns)) for ns in shoots), "six shoots reconciled")
    t.eq([], [r["path"] for r in secret_gets(env)],
         "no cloudprovider Secret was read on its own: all came from the informer's list")
    lists = secret_lists(env)
    t.ok(lists and all("metadata.name=cloudprovider" in str(r["query"].get("fieldSelector"))
                       for r in lists), "the informer listed the cloudprovider Secrets by field selector",
         diag=[r["query"] for r in lists][:3])
    t.eq(0, c.stop(), "stops cleanly")


def without_the_informer(env):
    env.kube.add_fault(method="GET", path="^/api/v1/secrets$", watch=False, action="status", status=500,
                       times=-1, message="etcd is unhappy")
    ns = "shoot--cw--late"
    env.shoot(ns)
    env.infrastructure(ns)
    start = time.monotonic()
    c = env.controller()
    env.wait_infra(ns, succeeded, controller=c, timeout=60)
    took = time.monotonic() - start
    t.ok(succeeded(env.get_infra(ns)), "with the Secret list failing, the shoot still reconciles")
    gets = secret_gets(env)
    t.ok(len(gets) >= 1 and all(r["t"] - start >= 9.5 for r in gets),
         "by reading its Secret itself, after waiting 10 s for the list",
         diag=f"{[round(r['t'] - start, 2) for r in gets]} (reconciled after {took:.1f} s)")
    t.ok(any(l.get("msg", "").startswith("the credentials Secret informer has not listed yet")
             for l in c.log_lines()), "the controller says why")
    env.kube.clear_faults()
    t.eq(0, c.stop(), "stops cleanly")


with Env() as env:
    t.run("credentials from the informer", from_the_informer, env)
with Env() as env:
    t.run("credentials without the informer", without_the_informer, env)
sys.exit(t.done())
