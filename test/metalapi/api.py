"""The Metal API operations of the test server: routing, input validation, authorisation, pagination.

dispatch(store, ctx) returns (status, body or None, template) for one authenticated request, where
template is the spec path template of the operation (for response validation). Business rules live in
store.py, JSON shapes in render.py.
"""
import math
import re
import urllib.parse

import catalog
import render
from store import ApiError, not_found

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
BILLING_CYCLES = ("hourly", "daily", "monthly", "yearly")
IP_TYPES = ("global_ipv4", "private_ipv4", "public_ipv4", "public_ipv6")
MAX_TAG_LEN = 80
MAX_PER_PAGE = 1000


class Ctx:
    """One API request as the handlers see it."""

    def __init__(self, method, path, query, body, body_error, scope):
        self.method = method
        self.path = path  # after /metal/v1, no query
        self.query = query  # name -> [values]
        self.body = body
        self.body_error = body_error
        self.scope = scope  # project id the token may see, or "*"
        self.include = _csv_set(query.get("include", []))
        self.exclude = _csv_set(query.get("exclude", []))

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def json_object(self):
        if self.body_error:
            raise ApiError(422, errors=[f"The request body is not valid JSON: {self.body_error}"])
        if not isinstance(self.body, dict):
            raise ApiError(422, errors=["The request body must be a JSON object"])
        return self.body


def _csv_set(values):
    out = set()
    for v in values:
        out.update(x.strip() for x in v.split(",") if x.strip())
    return out


def _int_param(ctx, name, default, lo, hi):
    raw = ctx.q(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ApiError(422, errors=[f"{name} must be an integer, got {raw!r}"]) from None
    if v < lo or v > hi:
        raise ApiError(422, errors=[f"{name} must be between {lo} and {hi}, got {v}"])
    return v


def _bool_param(ctx, name):
    raw = ctx.q(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(422, errors=[f"{name} must be true or false, got {raw!r}"])


def paginate(ctx, items, default_per_page):
    """(items of the requested page, Meta object) per `page`/`per_page`."""
    per_page = _int_param(ctx, "per_page", default_per_page, 1, MAX_PER_PAGE)
    page = _int_param(ctx, "page", 1, 1, 100000)
    total = len(items)
    last = max(1, math.ceil(total / per_page))
    rest = [(k, v) for k, vs in ctx.query.items() if k not in ("page", "per_page") for v in vs]

    def ref(p):
        qs = urllib.parse.urlencode([("page", p), ("per_page", per_page)] + rest)
        return {"href": f"{render.BASE}{ctx.path}?{qs}"}

    meta = {"first": ref(1), "last": ref(last), "self": ref(page), "total": total,
            "current_page": page, "last_page": last}
    if page < last:
        meta["next"] = ref(page + 1)
    if page > 1:
        meta["previous"] = ref(min(page - 1, last))
    start = (page - 1) * per_page
    return items[start:start + per_page], meta


# ---- authorisation ----------------------------------------------------------------------------

def check_project(store, ctx, pid):
    if not UUID_RE.match(pid):
        raise not_found()
    if ctx.scope == pid:
        store.ensure_project(pid)
        return
    if pid not in store.projects:
        raise not_found()
    if ctx.scope != "*":
        raise ApiError(403, "You are not authorized to view this project")


def check_owner(ctx, project, what):
    if ctx.scope != "*" and ctx.scope != project:
        raise ApiError(403, f"You are not authorized to view this {what}")


# ---- input validation -------------------------------------------------------------------------

def parse_device_create(body):
    """Normalised create request from a DeviceCreateInMetroInput/DeviceCreateInFacilityInput body.

    Raises ApiError(422) listing every problem found.
    """
    errs = []
    req = {}
    metro = body.get("metro")
    facility = body.get("facility")
    if metro is not None and facility is not None:
        errs.append("Only one of metro or facility may be given")
    elif metro is not None:
        if not isinstance(metro, str) or not metro.strip():
            errs.append("Metro can't be blank")
        elif metro.strip().lower() == "any":
            req["metro"] = "any"
        elif catalog.find_metro(metro) is None:
            errs.append(f"{metro} is not a valid metro")
        else:
            req["metro"] = catalog.find_metro(metro)
    elif facility is not None:
        facs = facility if isinstance(facility, list) else [facility]
        picked = None
        for f in facs:
            if isinstance(f, str) and f.lower() == "any":
                picked = "any"
                break
            if isinstance(f, str) and f.lower() in catalog.FACILITY_TO_METRO:
                picked = catalog.FACILITY_TO_METRO[f.lower()]
                break
        if picked is None:
            errs.append(f"{facility} is not a valid facility")
        else:
            req["metro"] = picked
    else:
        errs.append("Metro can't be blank")

    plan = body.get("plan")
    if plan is None or plan == "":
        errs.append("Plan can't be blank")
    elif not isinstance(plan, str) or plan not in catalog.PLANS:
        errs.append(f"{plan} is not a valid plan")
    else:
        req["plan"] = plan

    os_slug = body.get("operating_system")
    if os_slug is None or os_slug == "":
        errs.append("Operating system can't be blank")
    elif not isinstance(os_slug, str) or os_slug not in catalog.OPERATING_SYSTEMS:
        errs.append(f"{os_slug} is not a valid operating system")
    else:
        req["operating_system"] = os_slug

    ipxe = body.get("ipxe_script_url")
    if ipxe is not None and ipxe != "":
        if not isinstance(ipxe, str) or not re.match(r"^https?://[^\s/]+", ipxe):
            errs.append("ipxe_script_url must be an http:// or https:// URL")
        elif os_slug != "custom_ipxe":
            errs.append("ipxe_script_url can only be set when operating_system is custom_ipxe")
        else:
            req["ipxe_script_url"] = ipxe
    elif os_slug == "custom_ipxe":
        errs.append("ipxe_script_url is required when operating_system is custom_ipxe")

    hostname = body.get("hostname")
    if hostname is not None:
        if not isinstance(hostname, str) or not 1 <= len(hostname) <= 253 or \
                re.search(r"[\s\x00-\x1f]", hostname):
            errs.append("Hostname must be 1 to 253 characters without spaces")
        else:
            req["hostname"] = hostname

    for name in ("description", "userdata"):
        v = body.get(name)
        if v is not None:
            if not isinstance(v, str):
                errs.append(f"{name} must be a string")
            else:
                req[name] = v

    tags = body.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errs.append("tags must be an array of strings")
        else:
            for t in tags:
                if len(t) > MAX_TAG_LEN:
                    errs.append(f"Tag {t!r} is too long (maximum is {MAX_TAG_LEN} characters)")
                elif t == "":
                    errs.append("Tags can't be blank")
            req["tags"] = tags

    bc = body.get("billing_cycle")
    if bc is not None:
        if bc not in BILLING_CYCLES:
            errs.append(f"{bc} is not a valid billing cycle (one of {', '.join(BILLING_CYCLES)})")
        else:
            req["billing_cycle"] = bc

    cd = body.get("customdata")
    if cd is not None:
        if not isinstance(cd, dict):
            errs.append("customdata must be an object")
        else:
            req["customdata"] = cd

    for name in ("always_pxe", "locked", "no_ssh_keys", "spot_instance", "network_frozen"):
        v = body.get(name)
        if v is not None and not isinstance(v, bool):
            errs.append(f"{name} must be true or false")
        elif v is not None:
            req[name] = v
    if req.get("spot_instance"):
        errs.append("Spot instances are not available in this project")

    keys = body.get("project_ssh_keys")
    if keys is not None:
        if not isinstance(keys, list) or not all(isinstance(k, str) and UUID_RE.match(k) for k in keys):
            errs.append("project_ssh_keys must be an array of SSH key UUIDs")
        else:
            req["project_ssh_keys"] = [k.lower() for k in keys]

    hr = body.get("hardware_reservation_id")
    if hr is not None and hr != "":
        if not isinstance(hr, str) or not (hr == "next-available" or UUID_RE.match(hr)):
            errs.append(f"{hr} is not a valid hardware reservation id (a UUID or next-available)")
        else:
            req["hardware_reservation_id"] = hr.lower()

    tt = body.get("termination_time")
    if tt is not None:
        if not isinstance(tt, str) or not _DT_RE.match(tt):
            errs.append("termination_time must be an RFC 3339 date-time")
        else:
            req["termination_time"] = tt

    st = body.get("storage")
    if st is not None:
        if not isinstance(st, dict):
            errs.append("storage must be an object")
        else:
            req["storage"] = st

    ips = body.get("ip_addresses")
    req["public_ipv4"] = True
    req["public_ipv6"] = True
    if ips is not None:
        ok = isinstance(ips, list) and all(isinstance(x, dict) for x in ips)
        if ok:
            fams = [(x.get("address_family"), x.get("public", True)) for x in ips]
            if any(f not in (4, 6) or not isinstance(p, bool) for f, p in fams):
                ok = False
        if not ok:
            errs.append("ip_addresses must be an array of {address_family: 4|6, public: bool} objects")
        elif (4, False) not in fams:
            errs.append("ip_addresses must include a private IPv4 address")
        else:
            req["public_ipv4"] = (4, True) in fams
            req["public_ipv6"] = (6, True) in fams
    if errs:
        raise ApiError(422, errors=errs)
    return req


# ---- handlers ---------------------------------------------------------------------------------

def _device(store, ctx, did):
    if not UUID_RE.match(did):
        raise not_found()
    d = store.get_device(did.lower())
    if d is None or d.state == "deleted":
        raise not_found()
    check_owner(ctx, d.project, "device")
    return d


def find_device(store, ctx, did):
    d = _device(store, ctx, did)
    return 200, render.device_json(store, d, ctx.include, ctx.exclude)


def delete_device(store, ctx, did):
    _device(store, ctx, did)
    store.delete_device(did.lower())
    return 204, None


def create_device(store, ctx, pid):
    check_project(store, ctx, pid)
    req = parse_device_create(ctx.json_object())
    d = store.create_device(pid, req)
    return 201, render.device_json(store, d, ctx.include, ctx.exclude)


def _match_search(store, d, s):
    s = s.lower()
    fields = [d.hostname, d.description or "", d.short_id, d.plan, d.os, d.metro,
              catalog.METROS[d.metro]["facility"]] + list(d.tags)
    fields += [str(store.assignments[a].address) for a in d.assignments if a in store.assignments]
    return any(s in f.lower() for f in fields)


def list_devices(store, ctx, pid):
    check_project(store, ctx, pid)
    tag = ctx.q("tag")
    hostname = ctx.q("hostname")
    search = ctx.q("search")
    metro = ctx.q("metro")
    facility = ctx.q("facility")
    reserved = _bool_param(ctx, "reserved")
    kind = ctx.q("type")
    devs = store.list_devices(pid)
    out = []
    for d in devs:
        if tag is not None and tag not in d.tags:
            continue
        if hostname and hostname not in d.hostname:
            continue
        if search and not _match_search(store, d, search):
            continue
        if metro and catalog.find_metro(metro) != d.metro:
            continue
        if facility and catalog.FACILITY_TO_METRO.get(facility.lower()) != d.metro:
            continue
        if reserved is not None and bool(d.hw_reservation) != reserved:
            continue
        if kind and kind != ("reserved" if d.hw_reservation else "ondemand"):
            continue
        out.append(d)
    page, meta = paginate(ctx, out, 10)
    return 200, {"devices": [render.device_json(store, d, ctx.include, ctx.exclude) for d in page],
                 "meta": meta}


def create_ssh_key(store, ctx, pid):
    check_project(store, ctx, pid)
    body = ctx.json_object()
    errs = []
    label, key, tags = body.get("label"), body.get("key"), body.get("tags", [])
    if not isinstance(label, str) or not label.strip():
        errs.append("Label can't be blank")
    if not isinstance(key, str) or not key.strip():
        errs.append("Key can't be blank")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errs.append("tags must be an array of strings")
    if errs:
        raise ApiError(422, errors=errs)
    k = store.create_ssh_key(pid, label, key, tags)
    return 201, render.ssh_key_json(k)


def list_ssh_keys(store, ctx, pid):
    check_project(store, ctx, pid)
    q = (ctx.q("query") or "").lower()
    keys = [k for k in store.ssh_keys.values() if k["project"] == pid and
            (not q or q in k["label"].lower() or q in k["key"].lower() or q in k["fingerprint"])]
    return 200, {"ssh_keys": [render.ssh_key_json(k) for k in keys]}


def _ssh_key(store, ctx, kid):
    if not UUID_RE.match(kid):
        raise not_found()
    k = store.ssh_keys.get(kid.lower())
    if k is None:
        raise not_found()
    check_owner(ctx, k["project"], "SSH key")
    return k


def find_ssh_key(store, ctx, kid):
    return 200, render.ssh_key_json(_ssh_key(store, ctx, kid))


def delete_ssh_key(store, ctx, kid):
    _ssh_key(store, ctx, kid)
    store.delete_ssh_key(kid.lower())
    return 204, None


def list_ips(store, ctx, pid):
    check_project(store, ctx, pid)
    types = _csv_set(ctx.query.get("types", []) + ctx.query.get("types[]", []))
    bad = sorted(types - set(IP_TYPES) - {"vrf"})
    if bad:
        raise ApiError(422, errors=[f"{', '.join(bad)} is not a valid IP reservation type"])
    store.advance_all()
    res = [r for r in store.ips.values() if r.project == pid and (not types or r.type in types)]
    page, meta = paginate(ctx, res, 250)
    return 200, {"ip_addresses": [render.reservation_json(store, r, ctx.include, ctx.exclude)
                                  for r in page], "meta": meta}


def request_ips(store, ctx, pid):
    check_project(store, ctx, pid)
    body = ctx.json_object()
    errs = []
    rtype, qty = body.get("type"), body.get("quantity")
    metro = body.get("metro")
    if metro is None and isinstance(body.get("facility"), str):
        metro = catalog.FACILITY_TO_METRO.get(body["facility"].lower(), body["facility"])
    if rtype == "vrf" or "vrf_id" in body:
        raise ApiError(422, errors=["VRF IP reservations are not available in this project"])
    if rtype not in IP_TYPES:
        errs.append(f"Type must be one of {', '.join(IP_TYPES)}")
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
        errs.append("Quantity must be a positive integer")
    elif qty & (qty - 1) or qty > 256:
        errs.append("Quantity must be a power of 2, at most 256")
    code = None
    if metro is None or metro == "":
        if rtype != "global_ipv4":
            errs.append("Metro can't be blank")
    else:
        code = catalog.find_metro(metro)
        if code is None:
            errs.append(f"{metro} is not a valid metro")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errs.append("tags must be an array of strings")
    details = body.get("details")
    if details is not None and not isinstance(details, str):
        errs.append("details must be a string")
    customdata = body.get("customdata")
    if customdata is not None and not isinstance(customdata, dict):
        errs.append("customdata must be an object")
    foar = body.get("fail_on_approval_required", False)
    if not isinstance(foar, bool):
        errs.append("fail_on_approval_required must be true or false")
    if errs:
        raise ApiError(422, errors=errs)
    r = store.request_ips(pid, rtype, code, qty, tags, details, customdata, foar)
    return 201, render.reservation_json(store, r, ctx.include, ctx.exclude)


def delete_ip(store, ctx, ipid):
    if not UUID_RE.match(ipid):
        raise not_found()
    ipid = ipid.lower()
    owner = None
    if ipid in store.ips:
        owner = store.ips[ipid].project
    elif ipid in store.assignments:
        d = store.devices.get(store.assignments[ipid].device)
        owner = d.project if d else None
    if owner is None:
        raise not_found()
    check_owner(ctx, owner, "IP address")
    store.delete_ip(ipid)
    return 204, None


def list_hw(store, ctx, pid):
    check_project(store, ctx, pid)
    store.advance_all()
    state = ctx.q("state")
    prov = ctx.q("provisionable")
    hs = [h for h in store.hw.values() if h["project"] == pid]
    if prov == "only":
        hs = [h for h in hs if h["device"] is None]
    if state in ("spare", "need_of_service"):
        hs = []
    page, meta = paginate(ctx, hs, 10)
    return 200, {"hardware_reservations": [render.hw_json(store, h, ctx.include) for h in page],
                 "meta": meta}


def find_hw(store, ctx, hid):
    if not UUID_RE.match(hid):
        raise not_found()
    store.advance_all()
    h = store.hw.get(hid.lower())
    if h is None:
        raise not_found()
    check_owner(ctx, h["project"], "hardware reservation")
    return 200, render.hw_json(store, h, ctx.include)


def find_project(store, ctx, pid):
    check_project(store, ctx, pid)
    return 200, render.project_json(store.projects[pid])


def list_metros(store, ctx):
    return 200, {"metros": [catalog.metro_json(m) for m in catalog.METROS]}


def list_plans(store, ctx):
    slug = ctx.q("slug")
    plans = [catalog.plan_json(p) for p in catalog.PLANS if slug is None or p == slug]
    return 200, {"plans": plans}


def list_oses(store, ctx):
    return 200, {"operating_systems": [catalog.os_json(o) for o in catalog.OPERATING_SYSTEMS]}


_P = "([^/]+)"
ROUTES = [
    ("GET", "/devices/{id}", find_device),
    ("DELETE", "/devices/{id}", delete_device),
    ("POST", "/projects/{id}/devices", create_device),
    ("GET", "/projects/{id}/devices", list_devices),
    ("POST", "/projects/{id}/ssh-keys", create_ssh_key),
    ("GET", "/projects/{id}/ssh-keys", list_ssh_keys),
    ("GET", "/ssh-keys/{id}", find_ssh_key),
    ("DELETE", "/ssh-keys/{id}", delete_ssh_key),
    ("GET", "/projects/{id}/ips", list_ips),
    ("POST", "/projects/{id}/ips", request_ips),
    ("DELETE", "/ips/{id}", delete_ip),
    ("GET", "/projects/{id}/hardware-reservations", list_hw),
    ("GET", "/hardware-reservations/{id}", find_hw),
    ("GET", "/projects/{id}", find_project),
    ("GET", "/locations/metros", list_metros),
    ("GET", "/plans", list_plans),
    ("GET", "/operating-systems", list_oses),
]
_COMPILED = [(m, re.compile("^" + t.replace("{id}", _P) + "/?$"), t, fn) for m, t, fn in ROUTES]


def route(method, path):
    """(template, handler, args) for a request, or (template-or-None, None, None) when not routable."""
    known = None
    for m, rx, tmpl, fn in _COMPILED:
        mt = rx.match(path)
        if mt:
            if m == method:
                return tmpl, fn, mt.groups()
            known = tmpl
    return known, None, None


def dispatch(store, ctx):
    """(status, body, template) for one authenticated API request."""
    tmpl, fn, args = route(ctx.method, ctx.path)
    if fn is None:
        return 404, {"errors": ["Not found"]}, tmpl
    try:
        with store.lock:
            status, body = fn(store, ctx, *args)
    except ApiError as e:
        return e.status, e.body, tmpl
    return status, body, tmpl
