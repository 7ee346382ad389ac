#!/usr/bin/env python3
"""Errors of the Equinix Metal client, end to end against the test API: each class gets its engine code,
its Gardener code and a sentence naming the operation and the object; HTML error pages, resets, hangs and
TLS problems are handled; and neither the API token nor user data ever appears in output or logs, even
at debug level."""
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
SECRET_UD = "#cloud-config bootstrap-token: SECRET-UD-4f9a1c"


def create(tool, host, metro="ny", plan="c3.small.x86", os_="flatcar_stable", *extra):
    return tool.run("ensure", "--key", "k-" + host, "--hostname", host, "--metro", metro, "--plan", plan,
                    "--os", os_, "--userdata", SECRET_UD, "--log-level", "debug", *extra)


def check(r, code, gardener, words, name):
    t.ok(not r["ok"] and r["code"] == code, f"{name}: {code}", diag=r)
    t.eq(gardener, r.get("gardener_code"), f"{name}: Gardener code")
    missing = [w for w in words if w not in r.get("message", "")]
    t.ok(not missing, f"{name}: the message names {', '.join(words)}", diag=r.get("message"))


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)
        tokens = [m.token]

        bad = MetalTool(m, token="tok-wrong-" + uuid.uuid4().hex)
        tokens.append(bad.env["METAL_TOKEN"])
        r = bad.run("list", "--log-level", "debug")
        check(r, "ENG_UNAUTHENTICATED", "ERR_INFRA_UNAUTHENTICATED", ["listing the devices of project",
              "HTTP 401", "apiToken"], "wrong token")
        tool.outputs += bad.outputs

        other = str(uuid.uuid4())
        m.add_token("tok-other-" + uuid.uuid4().hex, other)
        foreign = MetalTool(m, project=other)
        r = foreign.run("list")
        check(r, "ENG_FORBIDDEN", "ERR_INFRA_UNAUTHORIZED", ["HTTP 403", other], "another project")
        tool.outputs += foreign.outputs

        m.set_capacity(0, metro="ny", plan="c3.small.x86")
        r = create(tool, "shoot--e--a-worker-1")
        check(r, "ENG_DEPLETED", "ERR_INFRA_RESOURCES_DEPLETED",
              ["creating device shoot--e--a-worker-1 in metro ny failed", "no capacity for plan c3.small.x86",
               "HTTP 422", "choose another plan or metro or retry later"], "no capacity")
        t.ok(r.get("retryable") is False, "no capacity is not retried by the client")
        m.set_capacity(None, metro="ny", plan="c3.small.x86")

        m.set_quota(0)
        r = create(tool, "shoot--e--a-worker-2")
        check(r, "ENG_QUOTA", "ERR_INFRA_QUOTA_EXCEEDED", ["shoot--e--a-worker-2", "HTTP 422", "maximum number"],
              "quota")
        m.set_quota(None)

        r = create(tool, "shoot--e--a-worker-3", metro="xx")
        check(r, "ENG_CONFIG", "ERR_CONFIGURATION_PROBLEM", ["xx is not a valid metro", "metro xx"], "bad metro")
        r = create(tool, "shoot--e--a-worker-4", os_="beos_5")
        check(r, "ENG_CONFIG", "ERR_CONFIGURATION_PROBLEM", ["beos_5 is not a valid operating system"], "bad OS")

        m.fault(path=r"^/devices/", method="GET", action="html", status=502, times=-1)
        r = tool.run("get", str(uuid.uuid4()), "--max-retries", "-1")
        m.clear_faults()
        check(r, "ENG_UNAVAILABLE", "ERR_RETRYABLE_INFRA_DEPENDENCIES", ["reading device", "HTTP 502",
              "Bad Gateway"], "HTML error page")
        t.ok("<" not in r["message"], "no markup in the message", diag=r["message"])

        did = m.seed(1, tags=["x"])[0]
        m.fault(path=r"^/devices/", method="GET", action="reset", times=2)
        r = tool.run("get", did, "--retry-base-ms", "10")
        t.ok(r["ok"] and r["requests"] == 3, "two connection resets on a read are retried", diag=r)
        m.fault(path=r"^/devices/", method="GET", action="reset", times=1)
        r = tool.run("get", did, "--max-retries", "-1")
        check(r, "ENG_UNAVAILABLE", "ERR_RETRYABLE_INFRA_DEPENDENCIES", ["reading device " + did], "reset")
        t.ok(r["retryable"] and r["ambiguous"], "a reset is retryable and ambiguous")
        m.fault(path=r"^/devices/", method="GET", action="hang", times=1)
        r = tool.run("get", did, "--max-retries", "-1", "--timeout-ms", "300")
        check(r, "ENG_TIMEOUT", "ERR_RETRYABLE_INFRA_DEPENDENCIES", ["did not answer in time"], "hang")

        notls = MetalTool(m, ca=None)
        r = notls.run("get", did)
        check(r, "ENG_PROTOCOL", "ERR_RETRYABLE_INFRA_DEPENDENCIES", ["TLS", "CA bundle"], "unknown CA")
        tool.outputs += notls.outputs

        r = tool.run("delete", did)
        t.ok(r["ok"] and not r["gone"], "delete accepted", diag=r)
        r = tool.run("delete", str(uuid.uuid4()))
        t.ok(r["ok"] and r["gone"], "deleting a device that does not exist is success (gone)", diag=r)
        r = tool.run("get", "")
        t.ok(r["_exit"] == 2 or (not r["ok"] and r["code"] == "ENG_INVALID"), "an empty id is refused",
             diag=r)

        r = tool.run("ensure", "--key", "ipx", "--hostname", "shoot--e--a-worker-5", "--metro", "sv",
                     "--plan", "c3.small.x86", "--os", "flatcar_stable")
        t.ok(r["ok"], "a device is created", diag=r)
        r = tool.run("ip-list", "--per-page", "1")
        t.ok(r["ok"] and r["count"] >= 3 and r["pages"] >= 3, "IP reservations are listed over every page",
             diag=r)
        r = tool.run("ip-list", "--types", "private_ipv4")
        t.ok(r["ok"] and r["count"] >= 1 and all(x["type"] == "private_ipv4" for x in r["ips"]),
             "IP reservations filtered by type", diag=r)

        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7ZxPPRdGGT1wS6l4Jv8mTgK3y0x8U5ojS2nW6Sx0n1 e"
        r = tool.run("sshkey-ensure", "--label", "shoot--e--a-ssh-publickey", "--public-key", key)
        t.ok(r["ok"], "an SSH key is created", diag=r)
        r = tool.run("sshkey-ensure", "--label", "shoot--e--b-ssh-publickey", "--public-key", key)
        check(r, "ENG_CONFIG", "ERR_CONFIGURATION_PROBLEM", ["creating project SSH key shoot--e--b-ssh-publickey",
              "already been taken", "under another label"], "same public key under another label")

        t.eq([], m.violations(), "every answer matched the spec")
        leaks = [o for o in tool.outputs if any(tok in o for tok in tokens)]
        t.eq([], leaks, "no API token in any output or log line (debug level included)")
        t.ok(not any("SECRET-UD-4f9a1c" in o for o in tool.outputs), "user data never appears in output")
        t.ok(any('"level":"debug"' in o for o in tool.outputs), "debug logging was on (the check means "
             "something)")


t.run("errors", main)
sys.exit(t.done())
