#!/usr/bin/env python3
"""Device polls leave unchanged devices unparsed (issue 10: parsing them was most of a steady poll's
CPU), and that changes nothing a shoot sees: a device whose JSON is byte for byte the one its shoot
last saw is only marked present; one that changed in any byte is parsed again (an event when its
summary changed, none when only other fields did); a shoot joining the project's poll later gets
every one of its devices reported although the other shoot had already seen the same listing; a
stranger's device is left unparsed and never reported."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
A, B = "shoot--un--a", "shoot--un--b"
TAG_A, TAG_B = "kubernetes.io/cluster/" + A, "kubernetes.io/cluster/" + B


def device_events(p, ns=None, uid=None):
    return [e for e in p.events() if e["type"] == "metal.device"
            and (ns is None or e["ns"] == ns) and (uid is None or e["uid"] == uid)]


def per_poll(p, polls):
    """Unchanged devices counted per poll over the next `polls` polls (after the current one)."""
    p.wait_polls(1)
    start = p.ticks()[-1]
    p.wait_polls(polls)
    end = p.ticks()[-1]
    return (end[1] - start[1]) / (end[0] - start[0])


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)
        a = m.seed(3, tags=[TAG_A, "kubernetes.io/role/node"], hostname_prefix=A + "-w-")
        b = m.seed(2, tags=[TAG_B], hostname_prefix=B + "-w-")
        stranger = m.seed(1, tags=["kubernetes.io/cluster/shoot--un--other"])[0]
        p = tool.start_poll("--ns", A, "--also-ns", B, "--also-after", "10", "--fast-ms", "30",
                            "--slow-ms", "60", "--set-every-ms", "600000", "--rate", "500", "--burst", "100")
        try:
            p.wait_polls(3)
            t.eq(set(a), {e["uid"] for e in device_events(p, A)}, "the first shoot's three devices are reported")
            t.eq(3, len(device_events(p)), "once each")
            t.eq(3.0, per_poll(p, 3), "alone in its project (tag-filtered listing): all 3 left unparsed per poll")

            # B joins: the listing becomes the project's, split by tag. B has seen nothing yet.
            p.wait_for(lambda p: {e["uid"] for e in device_events(p, B)} >= set(b), what="B's devices")
            t.eq(set(b), {e["uid"] for e in device_events(p, B)},
                 "the shoot that joined later gets both its devices, although A had seen their listing")
            t.ok(stranger not in {e["uid"] for e in p.events()}, "the stranger's device is never reported")
            t.eq(6.0, per_poll(p, 3), "then all 6 devices of the project are left unparsed per poll "
                 "(3 of A, 2 of B, the stranger's)")
            t.eq(5, len(device_events(p)), "and no device was reported twice")

            # A byte change that leaves the summary alone: parsed again, no event, then skipped again.
            before = p.ticks()[-1]
            m.set_device_state(b[0], "active")
            p.wait_polls(3)
            t.ok(p.ticks()[-1][1] - before[1] < 6 * (p.ticks()[-1][0] - before[0]),
                 "a device whose text changed (new provisioning event) is parsed again",
                 diag=f"{before} -> {p.ticks()[-1]}")
            t.eq(1, len(device_events(p, B, b[0])), "its summary did not change: no event")
            t.eq(6.0, per_poll(p, 3), "and from the next poll it is left unparsed again")

            # A real change: one event, for its own shoot.
            m.set_device_state(b[1], "failed", hold=True)
            p.wait_for(lambda p: any(e["payload"]["state"] == "failed" for e in device_events(p, B, b[1])),
                       what="b[1] failed")
            p.wait_polls(4)
            t.eq(1, len([e for e in device_events(p, uid=b[1]) if e["payload"]["state"] == "failed"]),
                 "a device that failed is reported once, under its own shoot")
            t.eq(6.0, per_poll(p, 3), "and is left unparsed again while it stays failed")
        finally:
            rc = p.stop()
        t.eq(0, rc, "the poller exits cleanly (no leak under ASan)")
        t.ok(not any(e["type"] == "metal.poll-error" for e in p.events()), "no poll errors")


t.run("unchanged devices", main)
sys.exit(t.done())
