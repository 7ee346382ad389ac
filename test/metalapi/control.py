"""The /_test/ control API of the test Metal API (no authentication, loopback only).

handle(app, method, path, body) returns (status, JSON body or None). See docs/test-servers.md.
"""
import re

import catalog
import render
from faults import FaultError
from store import DEVICE_STATES, ApiError


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _obj(body, allow_null=False):
    if body is None and allow_null:
        return None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def _num(v, name, positive=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (positive and v <= 0) or v < 0:
        raise ControlError(400, f"{name} must be a {'positive' if positive else 'non-negative'} number")
    return v


def _project(body):
    pid = body.get("project")
    if not isinstance(pid, str) or not re.match(r"^[0-9a-f-]{36}$", pid):
        raise ControlError(400, "project must be a project UUID (lower case)")
    return pid


def state_json(app):
    st = app.store
    with st.lock:
        st.advance_all()
        devices = []
        for d in st.devices.values():
            j = render.device_json(st, d, {"ip_addresses.parent_block", "hardware_reservation"}, set())
            j.update({"project_id": d.project, "history": list(d.history), "hold": d.hold,
                      "will_fail": d.fail, "request": d.request,
                      "deleted_at": None if d.deleted_at is None else render.rfc3339(d.deleted_at)})
            devices.append(j)
        keys = []
        for k in st.ssh_keys.values():
            j = render.ssh_key_json(k)
            j["project_id"] = k["project"]
            keys.append(j)
        ips = []
        for r in st.ips.values():
            j = render.reservation_json(st, r, {"assignments", "parent_block"})
            j["project_id"] = r.project
            j["device_id"] = r.device
            ips.append(j)
        hws = []
        for h in st.hw.values():
            j = render.hw_json(st, h)
            j.update({"project_id": h["project"], "metro": h["metro"], "plan_slug": h["plan"],
                      "device_id": h["device"]})
            hws.append(j)
        return {
            "time_scale": st.clock.scale,
            "projects": [{"id": p.id, "name": p.name, "max_devices": p.max_devices}
                         for p in st.projects.values()],
            "devices": devices,
            "ssh_keys": keys,
            "ip_reservations": ips,
            "hardware_reservations": hws,
            "capacity": [{"metro": None if m == "*" else m, "plan": None if p == "*" else p,
                          "available": n} for (m, p), n in st.capacity.items()],
            "provision_failures": [dict(r) for r in st.provision_failures],
        }


def _seed(app, body):
    body = _obj(body)
    pid = _project(body)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100000:
        raise ControlError(400, "count must be an integer between 0 and 100000")
    state = body.get("state", "active")
    if state not in DEVICE_STATES or state == "deleted":
        raise ControlError(400, f"state must be one of {', '.join(s for s in DEVICE_STATES if s != 'deleted')}")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ControlError(400, "tags must be an array of strings")
    prefix = body.get("hostname_prefix", "seed-")
    if not isinstance(prefix, str):
        raise ControlError(400, "hostname_prefix must be a string")
    metro = catalog.find_metro(body.get("metro", "sv"))
    plan = body.get("plan", "c3.small.x86")
    os_slug = body.get("operating_system", "flatcar_stable")
    if metro is None or plan not in catalog.PLANS or os_slug not in catalog.OPERATING_SYSTEMS:
        raise ControlError(400, "metro, plan or operating_system is not in the catalog")
    ids = []
    st = app.store
    with st.lock:
        st.ensure_project(pid)
        for i in range(count):
            req = {"metro": metro, "plan": plan, "operating_system": os_slug, "tags": tags,
                   "hostname": f"{prefix}{i}", "billing_cycle": "hourly", "userdata": ""}
            try:
                d = st.create_device(pid, req, state=state, reason="seeded", enforce_limits=False)
            except ApiError as e:
                raise ControlError(400, f"seeding failed: {e}") from None
            ids.append(d.id)
    return {"ids": ids}


def handle(app, method, path, body):
    """Dispatch one control request; returns (status, body). Success is 200 (204 for DELETE)."""
    st = app.store
    try:
        if path == "/_test/faults":
            if method == "POST":
                try:
                    rule = app.faults.add(_obj(body))
                except FaultError as e:
                    raise ControlError(400, str(e)) from None
                return 200, {"id": rule.id}
            if method == "GET":
                return 200, app.faults.list()
            if method == "DELETE":
                app.faults.clear()
                return 204, None
        elif path == "/_test/requests":
            if method == "GET":
                return 200, app.request_log()
            if method == "DELETE":
                app.clear_requests()
                return 204, None
        elif path == "/_test/state" and method == "GET":
            return 200, state_json(app)
        elif path == "/_test/violations":
            if method == "GET":
                return 200, app.violations_list("response")
            if method == "DELETE":
                app.clear_violations()
                return 204, None
        elif path == "/_test/request-violations" and method == "GET":
            return 200, app.violations_list("request")
        elif path == "/_test/seed" and method == "POST":
            return 200, _seed(app, body)
        elif path == "/_test/time-scale" and method == "POST":
            scale = _num(_obj(body).get("scale"), "scale", positive=True)
            st.set_time_scale(scale)
            return 200, {"scale": scale}
        elif path == "/_test/rate-limit" and method == "POST":
            body = _obj(body, allow_null=True)
            if body is None or body.get("rps") is None:
                app.limiter.configure(None, None)
                return 200, None
            rps = _num(body.get("rps"), "rps")
            burst = _num(body.get("burst", max(1, rps)), "burst", positive=True)
            app.limiter.configure(float(rps), float(burst))
            return 200, {"rps": rps, "burst": burst}
        elif path == "/_test/tokens" and method == "POST":
            body = _obj(body)
            token, project = body.get("token"), body.get("project")
            if not isinstance(token, str) or not token:
                raise ControlError(400, "token must be a non-empty string")
            if project != "*":
                project = _project(body)
            st.add_token(token, project)
            return 200, {"token": token, "project": project}
        elif path == "/_test/capacity":
            if method == "POST":
                body = _obj(body)
                metro, plan, avail = body.get("metro"), body.get("plan"), body.get("available")
                if metro is not None and catalog.find_metro(metro) is None:
                    raise ControlError(400, f"unknown metro {metro}")
                if plan is not None and plan not in catalog.PLANS:
                    raise ControlError(400, f"unknown plan {plan}")
                if avail is not None:
                    _num(avail, "available")
                st.set_capacity(catalog.find_metro(metro) if metro else None, plan, avail)
                return 200, {"metro": metro, "plan": plan, "available": avail}
            if method == "DELETE":
                with st.lock:
                    st.capacity.clear()
                return 204, None
        elif path == "/_test/quota" and method == "POST":
            body = _obj(body)
            pid = _project(body)
            mx = body.get("max_devices")
            if mx is not None:
                _num(mx, "max_devices")
            with st.lock:
                st.ensure_project(pid).max_devices = mx
            return 200, {"project": pid, "max_devices": mx}
        elif path == "/_test/provision-failures":
            if method == "POST":
                body = _obj(body)
                rule = {"hostname": body.get("hostname"), "tag": body.get("tag"),
                        "times": body.get("times", 1)}
                if rule["hostname"] is not None:
                    try:
                        re.compile(rule["hostname"])
                    except (re.error, TypeError):
                        raise ControlError(400, "hostname must be a regular expression") from None
                if not isinstance(rule["times"], int) or rule["times"] == 0 or rule["times"] < -1:
                    raise ControlError(400, "times must be a positive count or -1")
                with st.lock:
                    st.provision_failures.append(rule)
                return 200, rule
            if method == "DELETE":
                with st.lock:
                    st.provision_failures.clear()
                return 204, None
        elif path == "/_test/hardware-reservations" and method == "POST":
            body = _obj(body)
            pid = _project(body)
            metro = catalog.find_metro(body.get("metro", "sv"))
            plan = body.get("plan", "c3.small.x86")
            if metro is None or plan not in catalog.PLANS:
                raise ControlError(400, "metro or plan is not in the catalog")
            hid = body.get("id")
            if hid is not None and (not isinstance(hid, str) or not re.match(r"^[0-9a-f-]{36}$", hid)):
                raise ControlError(400, "id must be a UUID (lower case)")
            with st.lock:
                st.ensure_project(pid)
                if hid in st.hw:
                    raise ControlError(409, f"hardware reservation {hid} exists")
                return 200, {"id": st.add_hw_reservation(pid, plan, metro, hid)}
        else:
            m = re.match(r"^/_test/devices/([^/]+)/state$", path)
            if m and method == "POST":
                body = _obj(body)
                try:
                    d = st.force_state(m.group(1), body.get("state"), body.get("hold", False))
                except ApiError as e:
                    raise ControlError(e.status if e.status != 422 else 400, str(e)) from None
                return 200, {"id": d.id, "state": d.state, "hold": d.hold}
        return 404, {"error": f"no control endpoint {method} {path}"}
    except ControlError as e:
        return e.status, {"error": str(e)}
