#!/usr/bin/env python3
"""The device poller of the Equinix Metal client reports changes, not polls: a device that goes
`failed` yields one event however many polls follow, a device deleted out of band is reported `gone`
and disappears from the next device-set marker, a new device's progress is reported, and no two
consecutive events of a device carry the same payload."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
NS = "shoot--po--a"
TAG = "kubernetes.io/cluster/" + NS


def device_events(p, uid=None):
    return [e for e in p.events() if e["type"] == "metal.device" and (uid is None or e["uid"] == uid)]


def sets(p):
    return [e for e in p.events() if e["type"] == "metal.device-set"]


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)
        a, b, c = m.seed(3, tags=[TAG, "kubernetes.io/role/node"], hostname_prefix=NS + "-w-")
        stranger = m.seed(1, tags=["kubernetes.io/cluster/shoot--po--b"])[0]
        p = tool.start_poll("--ns", NS, "--fast-ms", "40", "--slow-ms", "80", "--set-every-ms", "600000",
                            "--rate", "200", "--burst", "50")
        try:
            p.wait_for(lambda p: len(sets(p)) >= 1, what="the first device-set marker")
            evs = device_events(p)
            t.eq({a, b, c}, {e["uid"] for e in evs}, "the first poll reports the shoot's three devices")
            t.ok(stranger not in {e["uid"] for e in p.events()}, "another shoot's device is not reported")
            first = evs[0]
            t.eq(("metal", NS, "metal.equinix.com/Device"), (first["source"], first["ns"], first["group_kind"]),
                 "device events: source metal, the shoot namespace, the device kind")
            t.ok(first["name"].startswith(NS + "-w-") and first["payload"]["id"] == first["uid"],
                 "name is the hostname, uid the device id", diag=first)
            t.ok("userdata" not in first["payload"] and "root_password" not in first["payload"],
                 "the payload holds no userdata or root password", diag=first["payload"])
            s0 = sets(p)[0]["payload"]
            t.eq(sorted([{"id": x, "state": "active"} for x in (a, b, c)], key=lambda d: d["id"]),
                 s0["devices"], "the marker lists the ids and states, sorted")

            p.wait_polls(3)
            t.eq(3, len(device_events(p)), "stable devices are not reported again")
            t.eq(1, len(sets(p)), "no marker while nothing changes")

            # a goes failed: exactly one event, whatever the number of polls.
            m.set_device_state(a, "failed", hold=True)
            p.wait_for(lambda p: any(e["payload"]["state"] == "failed" for e in device_events(p, a)),
                       what="a failed event")
            p.wait_polls(6)
            failed = [e for e in device_events(p, a) if e["payload"]["state"] == "failed"]
            t.eq(1, len(failed), "the failure is reported once over six more polls")

            # b is deleted out of band: deprovisioning, then gone, and the next marker lacks it.
            r = m.request("DELETE", f"/devices/{b}")
            t.eq(204, r.status, "out-of-band delete accepted")
            p.kick()
            p.wait_for(lambda p: any(e["payload"]["state"] == "gone" for e in device_events(p, b)),
                       what="b gone")
            gone = [e for e in device_events(p, b) if e["payload"]["state"] == "gone"][0]
            t.ok(gone["payload"]["reason"] in ("not-found", "deleted"), "gone after a confirming read",
                 diag=gone)
            p.wait_for(lambda p: len(sets(p)) >= 2, what="a new marker")
            last = sets(p)[-1]["payload"]
            t.ok(b not in [d["id"] for d in last["devices"]], "the next marker no longer lists b", diag=last)
            t.ok(a in [d["id"] for d in last["devices"]], "and still lists a")

            # a new device of the shoot: reported while it provisions, until active.
            r = tool.run("ensure", "--key", "po-new", "--hostname", NS + "-w-new", "--metro", "sv",
                         "--plan", "c3.small.x86", "--os", "flatcar_stable", "--tag", TAG)
            new = r["device"]["id"]
            p.kick()
            p.wait_for(lambda p: any(e["payload"]["state"] == "active" for e in device_events(p, new)),
                       what="the new device active")
            states = [e["payload"]["state"] for e in device_events(p, new)]
            t.eq("active", states[-1], "the new device ends active", )
            t.ok(states.index("active") > 0, "its way to active was reported", diag=states)

            for uid in {e["uid"] for e in device_events(p)}:
                pl = [json.dumps(e["payload"], sort_keys=True) for e in device_events(p, uid)]
                if any(x == y for x, y in zip(pl, pl[1:])):
                    t.ok(False, "no two consecutive events of a device are equal", diag=uid)
                    break
            else:
                t.ok(True, "no two consecutive events of a device are equal")
        finally:
            rc = p.stop()
        t.eq(0, rc, "the poller exits cleanly (no leak under ASan)")
        t.ok(not any(e["type"] == "metal.poll-error" for e in p.events()), "no poll errors")
        t.ok(all(m.token not in o for o in tool.outputs), "the API token never appears in the output")


t.run("poller", main)
sys.exit(t.done())
