#!/usr/bin/env python3
"""The test Metal API (test/metalapi/server.py) implements its operations as the official OpenAPI spec
says: every response body is validated here against both bundled specs (fetched and SDK-patched) with
jsonschema, the server's own --validate finds no violation, and the lifecycle, pagination, filters,
authorisation, catalog errors, fault injection and the control API behave as docs/test-servers.md says.
"""
import base64
import http.client
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.environ.get("EQXM_ROOT", ".")
sys.path.insert(0, os.path.join(ROOT, "test/lib"))
sys.path.insert(0, os.path.join(ROOT, "test/metalapi"))

import openapi  # noqa: E402
from metalapi import MetalAPI  # noqa: E402
from tap import Tap  # noqa: E402

SPECS = os.environ.get("EQXM_SPECS") or os.path.join(ROOT, "test", "specs")
SPEC_FILES = [os.path.join(SPECS, n) for n in
              ("equinix-metal-openapi.json", "equinix-metal-openapi.sdk-patched.json")]
NET_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)

t = Tap()


def ssh_key_line(comment="test@example"):
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


class Checked:
    """Makes API calls and validates every response against the specs (collected, reported once)."""

    def __init__(self, m, specs):
        self.m = m
        self.specs = specs
        self.count = 0
        self.bad = []

    def check(self, method, tmpl, r):
        self.count += 1
        problems = []
        if r.status == 204:
            if r.raw:
                problems.append("204 with a body")
        elif r.json is None:
            problems.append(f"not a JSON body (Content-Type {r.headers.get('Content-Type')!r})")
        for s in self.specs:
            for e in s.validate_response(tmpl, method.lower(), r.status, r.json, has_body=bool(r.raw)):
                problems.append(f"[{os.path.basename(s.path)}] {e}")
        if problems:
            self.bad.append(f"{method} {tmpl} -> {r.status}: " + "; ".join(problems[:5]))

    def __call__(self, method, tmpl, expect=None, name=None, token=..., body=None, query=None,
                 raw_body=None, path=None, **params):
        r = self.m.request(method, path or tmpl.format(**params), body=body, query=query, token=token,
                           raw_body=raw_body)
        self.check(method, tmpl, r)
        if expect is not None:
            t.eq(expect, r.status, name or f"{method} {tmpl} answers {expect}")
        return r


def errors_text(r):
    j = r.json or {}
    return " | ".join(([j["error"]] if "error" in j else []) + j.get("errors", []))


def wait_for(fn, what, limit=30.0):
    """Poll fn() until it returns a true value (a wait with a generous limit, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.01)
    t.ok(False, f"waiting for {what}")
    return None


def expect_net_error(fn, name):
    try:
        r = fn()
    except NET_ERRORS as e:
        t.ok(True, name)
        return e
    t.ok(False, name, diag=f"got a response: {r!r}")
    return None


# ---------------------------------------------------------------------------------------------

def test_startup(m):
    t.ok(m.url.startswith(f"https://127.0.0.1:{m.port}/metal/v1"), "url file names the https base URL")
    t.ok(os.path.exists(os.path.join(m.dir, "ca.crt")), "ca.crt written")
    t.ok(os.path.exists(os.path.join(m.dir, "ready")), "ready written")
    # The server certificate verifies against ca.crt for 127.0.0.1 and localhost.
    for host in ("127.0.0.1", "localhost"):
        ctx = ssl.create_default_context(cafile=m.ca)
        with socket.create_connection(("127.0.0.1", m.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname=host) as ss:
                t.ok(ss.version() is not None, f"TLS handshake verifies for {host}")


def test_auth(c, m, other_token, other_project):
    p = m.project
    r = c("GET", "/projects/{id}/devices", 401, "no token: 401", token=None, id=p)
    t.ok(isinstance((r.json or {}).get("error"), str), "401 body carries an error message")
    c("GET", "/projects/{id}/devices", 401, "wrong token: 401", token="nope", id=p)
    c("GET", "/devices/{id}", 401, "wrong token on a device: 401", token="nope", id=str(uuid.uuid4()))
    c("GET", "/projects/{id}/devices", 403, "another known project: 403", id=other_project)
    c("GET", "/projects/{id}/ssh-keys", 403, "another project's keys: 403", id=other_project)
    c("GET", "/projects/{id}/devices", 404, "unknown project: 404", id=str(uuid.uuid4()))
    c("GET", "/projects/{id}/devices", 404, "malformed project id: 404", id="not-a-uuid")
    theirs = m.seed(1, project=other_project, hostname_prefix="theirs-")[0]
    c("GET", "/devices/{id}", 403, "another project's device: 403", id=theirs)
    c("DELETE", "/devices/{id}", 403, "deleting another project's device: 403", id=theirs)
    c("GET", "/devices/{id}", 200, "its own token sees it", token=other_token, id=theirs)
    m.add_token("tok-user-" + p, "*")
    c("GET", "/devices/{id}", 200, "a '*' token sees every project", token="tok-user-" + p, id=theirs)
    c("GET", "/projects/{id}/devices", 404, "a '*' token: unknown project 404", token="tok-user-" + p,
      id=str(uuid.uuid4()))
    r = m.request("POST", "/_test/faults", body={"action": "explode"}, token=None)
    t.ok(r.status == 400 and "action" in r.json.get("error", ""), "control API rejects a bad fault rule",
         diag=repr(r))
    r = m.request("POST", "/_test/devices/x/state", body={"state": "active"}, token=None)
    t.eq(404, r.status, "forcing the state of an unknown device: 404")
    r = c("GET", "/projects/{id}", 200, "GET /projects/{id}", id=p)
    t.eq(p, r.json.get("id"), "project id echoed")
    log = m.requests()
    bad = [e for e in log if e["token_ok"] is False]
    t.ok(len(bad) >= 3 and all(e["status"] == 401 for e in bad), "request log marks bad tokens",
         diag=str(bad[:3]))
    t.ok(all("x-auth-token" not in {k.lower() for k in e["headers"]} for e in log),
         "request log does not keep tokens")


def test_catalog(c):
    r = c("GET", "/locations/metros", 200)
    t.ok({"sv", "ny", "da", "am"} <= {x["code"] for x in r.json["metros"]}, "metros include sv ny da am")
    r = c("GET", "/plans", 200)
    t.ok({"c3.small.x86", "m3.large.x86", "t1.small.x86"} <= {x["slug"] for x in r.json["plans"]},
         "plans include the catalog")
    r = c("GET", "/operating-systems", 200)
    t.ok({"flatcar_stable", "ubuntu_20_04", "ubuntu_22_04", "custom_ipxe"} <=
         {x["slug"] for x in r.json["operating_systems"]}, "operating systems include the catalog")


def test_ssh_keys(c, m):
    p = m.project
    key = ssh_key_line()
    r = c("POST", "/projects/{id}/ssh-keys", 201, "create project SSH key", id=p,
          body={"label": "shoot--dev--a-ssh-publickey", "key": key, "tags": ["gardener"]})
    k = r.json
    t.ok(len(k.get("fingerprint", "").split(":")) == 16, "fingerprint is colon hex MD5",
         diag=k.get("fingerprint"))
    t.eq(f"/metal/v1/projects/{p}", k.get("entity", {}).get("href"), "key entity is the project")
    r = c("POST", "/projects/{id}/ssh-keys", 422, "same key again: 422", id=p,
          body={"label": "again", "key": key})
    t.ok("already been taken" in errors_text(r), "duplicate key message", diag=errors_text(r))
    r = c("POST", "/projects/{id}/ssh-keys", 422, "not a public key: 422", id=p,
          body={"label": "bad", "key": "ssh-rsa AAAAnotbase64!!"})
    r = c("POST", "/projects/{id}/ssh-keys", 422, "missing label and key: 422", id=p, body={})
    t.eq(2, len(r.json.get("errors", [])), "both missing fields are named")
    other = c("POST", "/projects/{id}/ssh-keys", 201, "create a second key", id=p,
              body={"label": "to-delete", "key": ssh_key_line()}).json
    r = c("GET", "/projects/{id}/ssh-keys", 200, "list project keys", id=p)
    t.eq({k["id"], other["id"]}, {x["id"] for x in r.json["ssh_keys"]}, "list holds both keys")
    t.ok("meta" not in r.json, "SSH key list is not paginated")
    r = c("GET", "/projects/{id}/ssh-keys", 200, "list with query", id=p, query={"query": "shoot--dev"})
    t.eq([k["id"]], [x["id"] for x in r.json["ssh_keys"]], "query searches labels")
    r = c("GET", "/projects/{id}/ssh-keys", 200, "list with fingerprint query", id=p,
          query={"query": other["fingerprint"]})
    t.eq([other["id"]], [x["id"] for x in r.json["ssh_keys"]], "query searches fingerprints")
    r = c("GET", "/ssh-keys/{id}", 200, "get key", id=k["id"])
    t.eq(key, r.json.get("key"), "key text round-trips")
    c("DELETE", "/ssh-keys/{id}", 204, "delete key: 204", id=other["id"])
    c("GET", "/ssh-keys/{id}", 404, "deleted key: 404", id=other["id"])
    c("DELETE", "/ssh-keys/{id}", 404, "delete again: 404", id=other["id"])
    c("GET", "/ssh-keys/{id}", 404, "malformed key id: 404", id="xyz")
    return k


def test_create(c, m, key):
    p = m.project
    body = {"metro": "sv", "plan": "c3.small.x86", "operating_system": "flatcar_stable",
            "hostname": "node-a", "userdata": '{"ignition":{"version":"3.3.0"}}',
            "tags": ["kubernetes.io/cluster/shoot--dev--a", "kubernetes.io/role/node"],
            "project_ssh_keys": [key["id"]], "billing_cycle": "hourly"}
    r = c("POST", "/projects/{id}/devices", 201, "create device", id=p, body=body)
    d = r.json
    t.eq("queued", d.get("state"), "a new device is queued")
    t.eq(("sv", "c3.small.x86", "flatcar_stable"),
         (d["metro"]["code"], d["plan"]["slug"], d["operating_system"]["slug"]),
         "metro, plan and OS as requested")
    t.eq((body["tags"], body["userdata"], "hourly", "node-a"),
         (d["tags"], d["userdata"], d["billing_cycle"], d["hostname"]), "tags, userdata, billing, hostname")
    t.eq([f"/metal/v1/ssh-keys/{key['id']}"], [x["href"] for x in d["ssh_keys"]], "project SSH key attached")
    t.eq(f"/metal/v1/projects/{p}", d["project"]["href"], "project href")
    t.ok(d["short_id"] == d["id"][:8] and "provisioning_percentage" in d, "short_id and progress present")
    fams = sorted((a["address_family"], a["public"], a["management"]) for a in d["ip_addresses"])
    t.eq([(4, False, True), (4, True, True), (6, True, True)], fams,
         "public IPv4, private IPv4 and public IPv6 assigned on creation")
    r2 = c("POST", "/projects/{id}/devices", 201, "same hostname again is allowed", id=p, body=body)
    t.ok(r2.json["id"] != d["id"], "duplicate hostname gives a second device")

    r = c("POST", "/projects/{id}/devices", 422, "empty body: 422", id=p, body={})
    msgs = errors_text(r)
    t.ok(all(s in msgs for s in ("Metro can't be blank", "Plan can't be blank",
                                 "Operating system can't be blank")), "all three required fields named",
         diag=msgs)
    for field, value, text in (("plan", "c9.huge.x86", "c9.huge.x86 is not a valid plan"),
                               ("operating_system", "windows_95", "windows_95 is not a valid operating system"),
                               ("metro", "zz", "zz is not a valid metro"),
                               ("billing_cycle", "weekly", "not a valid billing cycle"),
                               ("tags", ["x" * 81], "too long"),
                               ("project_ssh_keys", [str(uuid.uuid4())], "was not found in this project"),
                               ("hardware_reservation_id", str(uuid.uuid4()), "was not found"),
                               ("ip_addresses", [{"address_family": 4, "public": True}],
                                "private IPv4")):
        r = c("POST", "/projects/{id}/devices", 422, f"invalid {field}: 422", id=p,
              body=dict(body, **{field: value}))
        t.ok(text in errors_text(r), f"invalid {field} message", diag=errors_text(r))
    r = c("POST", "/projects/{id}/devices", 422, "custom_ipxe without URL: 422", id=p,
          body=dict(body, operating_system="custom_ipxe"))
    t.ok("ipxe_script_url is required" in errors_text(r), "custom_ipxe message", diag=errors_text(r))
    r = c("POST", "/projects/{id}/devices", 422, "ipxe URL with another OS: 422", id=p,
          body=dict(body, ipxe_script_url="https://boot.example/ipxe"))
    r = c("POST", "/projects/{id}/devices", 201, "custom_ipxe with URL", id=p,
          body=dict(body, operating_system="custom_ipxe", ipxe_script_url="https://boot.example/ipxe",
                    always_pxe=True, hostname="ipxe-1"))
    t.eq(("https://boot.example/ipxe", True), (r.json.get("ipxe_script_url"), r.json.get("always_pxe")),
         "ipxe_script_url and always_pxe returned")
    r = c("POST", "/projects/{id}/devices", 422, "malformed JSON: 422", id=p, raw_body=b"{not json")
    r = c("POST", "/projects/{id}/devices", 201, "metro any", id=p, body=dict(body, metro="any"))
    t.ok(r.json["metro"]["code"] in ("sv", "ny", "da", "dc", "ch", "am", "fr", "ld", "sg", "ty"),
         "metro any lands in a catalog metro")
    r = c("POST", "/projects/{id}/devices", 201, "deprecated facility input", id=p,
          body={k: v for k, v in dict(body, facility="ny5").items() if k != "metro"})
    t.eq("ny", r.json["metro"]["code"], "facility ny5 maps to metro ny")
    r = c("POST", "/projects/{id}/devices", 201, "private-only addresses", id=p,
          body=dict(body, ip_addresses=[{"address_family": 4, "public": False}], hostname="private-only"))
    t.eq([(4, False)], [(a["address_family"], a["public"]) for a in r.json["ip_addresses"]],
         "only a private IPv4 when asked")
    return d


def test_hardware_reservations(c, m):
    p = m.project
    r = c("GET", "/projects/{id}/hardware-reservations", 200, "list hardware reservations", id=p)
    hrs = r.json["hardware_reservations"]
    t.eq(3, r.json["meta"]["total"], "three reservations per project")
    sv = [h for h in hrs if h["plan"]["slug"] == "c3.small.x86"]
    t.eq(2, len(sv), "two c3.small.x86 reservations")
    body = {"metro": "sv", "plan": "c3.small.x86", "operating_system": "ubuntu_22_04", "hostname": "reserved-1",
            "hardware_reservation_id": sv[0]["id"]}
    r = c("POST", "/projects/{id}/devices", 201, "create on a hardware reservation", id=p, body=body)
    t.eq(f"/metal/v1/hardware-reservations/{sv[0]['id']}", r.json.get("hardware_reservation", {}).get("href"),
         "device names its reservation")
    dev = r.json["id"]
    r = c("GET", "/devices/{id}", 200, "include=hardware_reservation", id=dev,
          query={"include": "hardware_reservation"})
    t.eq(sv[0]["id"], r.json["hardware_reservation"].get("id"), "reservation expanded by include")
    r = c("POST", "/projects/{id}/devices", 422, "reservation in use: 422", id=p, body=body)
    t.ok("already in use" in errors_text(r), "in-use message", diag=errors_text(r))
    r = c("POST", "/projects/{id}/devices", 422, "reservation for another plan: 422", id=p,
          body=dict(body, plan="m3.large.x86", hardware_reservation_id=sv[1]["id"]))
    r = c("POST", "/projects/{id}/devices", 201, "next-available", id=p,
          body=dict(body, hardware_reservation_id="next-available", hostname="reserved-2"))
    t.eq(f"/metal/v1/hardware-reservations/{sv[1]['id']}", r.json["hardware_reservation"]["href"],
         "next-available takes the free one")
    r = c("POST", "/projects/{id}/devices", 422, "next-available exhausted: 422", id=p,
          body=dict(body, hardware_reservation_id="next-available"))
    t.ok(" no available hardware reservations " in errors_text(r), "exhausted message",
         diag=errors_text(r))
    r = c("GET", "/hardware-reservations/{id}", 200, "get a reservation", id=sv[0]["id"])
    t.eq((False, f"/metal/v1/devices/{dev}"), (r.json["provisionable"], r.json.get("device", {}).get("href")),
         "reservation shows its device")
    r = c("GET", "/projects/{id}/hardware-reservations", 200, "provisionable=only", id=p,
          query={"provisionable": "only"})
    t.eq(["m3.large.x86"], [h["plan"]["slug"] for h in r.json["hardware_reservations"]],
         "only the free reservation is provisionable")
    return dev


def test_get_include(c, m, dev):
    r = c("GET", "/devices/{id}", 200, "get device", id=dev["id"])
    priv = [a for a in r.json["ip_addresses"] if not a["public"] and a["address_family"] == 4]
    t.ok(len(priv) == 1 and set(priv[0].get("parent_block", {})) == {"href"},
         "without include the parent block is an href", diag=str(priv))
    for inc in ("ip_addresses.parent_block,parent_block", "ip_addresses.parent_block", "parent_block"):
        r = c("GET", "/devices/{id}", 200, f"include={inc}", id=dev["id"], query={"include": inc})
        priv = [a for a in r.json["ip_addresses"] if not a["public"] and a["address_family"] == 4][0]
        pb = priv.get("parent_block", {})
        t.ok(priv["management"] and pb.get("cidr") == 25 and pb.get("network", "").startswith("10.")
             and pb.get("netmask") == "255.255.255.128",
             f"include={inc}: private management address has its /25 parent block", diag=str(pb))
    r = c("GET", "/devices/{id}", 200, "exclude=plan", id=dev["id"], query={"exclude": "plan"})
    t.eq(["href"], list(r.json["plan"]), "exclude replaces plan by its href")
    c("GET", "/devices/{id}", 404, "unknown device: 404", id=str(uuid.uuid4()))
    c("GET", "/devices/{id}", 404, "malformed device id: 404", id="123")
    return pb


def test_lifecycle(c, m):
    p = m.project
    base = {"metro": "da", "plan": "m3.small.x86", "operating_system": "ubuntu_20_04"}
    m.set_time_scale(20000)
    d = c("POST", "/projects/{id}/devices", 201, "create for lifecycle", id=p,
          body=dict(base, hostname="life-1")).json

    def active():
        r = c("GET", "/devices/{id}", id=d["id"])
        return r.json if r.status == 200 and r.json["state"] == "active" else None
    j = wait_for(active, "device becomes active")
    if j:
        t.ok("provisioning_percentage" not in j and j.get("root_password"), "active: no progress, root password")
    hist = [h["state"] for h in m.device(d["id"])["history"]]
    t.eq(["queued", "provisioning", "active"], hist, "state history queued -> provisioning -> active")

    m.set_device_state(d["id"], "provisioning", hold=True)
    r = c("GET", "/devices/{id}", 200, "held in provisioning", id=d["id"])
    t.ok(r.json["state"] == "provisioning" and isinstance(r.json.get("provisioning_percentage"), float),
         "provisioning shows provisioning_percentage", diag=str(r.json.get("state")))
    m.set_device_state(d["id"], "failed")
    r = c("GET", "/devices/{id}", 200, "forced failed", id=d["id"])
    t.eq("failed", r.json["state"], "forced state is visible")

    m.fail_provisioning(hostname="^doomed")
    doomed = c("POST", "/projects/{id}/devices", 201, "create a device that will fail", id=p,
               body=dict(base, hostname="doomed-1")).json
    wait_for(lambda: c("GET", "/devices/{id}", id=doomed["id"]).json["state"] == "failed",
             "provisioning failure")
    t.eq(["queued", "provisioning", "failed"], [h["state"] for h in m.device(doomed["id"])["history"]],
         "failed provisioning history")

    locked = c("POST", "/projects/{id}/devices", 201, "create a locked device", id=p,
               body=dict(base, hostname="locked-1", locked=True)).json
    r = c("DELETE", "/devices/{id}", 422, "deleting a locked device: 422", id=locked["id"])

    # Deletion: deprovisioning (slowly), then gone.
    m.set_time_scale(1)
    public4 = [a for a in j["ip_addresses"] if a["public"] and a["address_family"] == 4][0] if j else None
    c("DELETE", "/devices/{id}", 204, "delete device: 204", id=d["id"])
    r = c("GET", "/devices/{id}", 200, "deleted device is deprovisioning", id=d["id"])
    t.eq("deprovisioning", r.json["state"], "state after DELETE")
    c("DELETE", "/devices/{id}", 204, "DELETE while deprovisioning: 204", id=d["id"])
    m.set_time_scale(20000)
    wait_for(lambda: c("GET", "/devices/{id}", id=d["id"]).status == 404, "device gone")
    c("DELETE", "/devices/{id}", 404, "delete a gone device: 404", id=d["id"])
    st = m.device(d["id"])
    t.eq("deleted", st["state"], "/_test/state keeps the deleted device")
    t.eq(["deprovisioning", "deleted"], [h["state"] for h in st["history"]][-2:], "deletion history")
    r = c("GET", "/projects/{id}/ips", 200, "ips after deletion", id=p, query={"types": "public_ipv4"})
    if public4:
        t.ok(all(x["network"] != public4["network"] for x in r.json["ip_addresses"]),
             "the deleted device's public /31 is released")
    m.set_time_scale(1)


def test_pagination(c, m):
    proj = str(uuid.uuid4())
    tok = "tok-pages-" + uuid.uuid4().hex
    m.add_token(tok, proj)
    a = m.seed(200, project=proj, tags=["pool:a"], hostname_prefix="a-")
    b = m.seed(50, project=proj, tags=["pool:b"], hostname_prefix="b-")
    seeded = set(a) | set(b)

    def walk(query, name):
        pages, ids = [], []
        r = c("GET", "/projects/{id}/devices", token=tok, id=proj, query=query)
        while True:
            if r.status != 200:
                t.ok(False, f"{name}: page {len(pages) + 1} answered {r.status}")
                return pages, ids
            pages.append(r.json)
            ids += [d["id"] for d in r.json["devices"]]
            nxt = r.json["meta"].get("next")
            if not nxt or len(pages) > 100:
                return pages, ids
            r = c("GET", "/projects/{id}/devices", token=tok, path=nxt["href"], id=proj)

    pages, ids = walk(None, "default per_page")
    t.eq(25, len(pages), "250 devices at the default per_page are 25 pages")
    t.eq([10] * 25, [len(p["devices"]) for p in pages], "10 devices per page by default")
    t.eq((250, 1, 25), (pages[0]["meta"]["total"], pages[0]["meta"]["current_page"],
                        pages[0]["meta"]["last_page"]), "meta total/current_page/last_page")
    t.ok("previous" not in pages[0]["meta"] and "next" not in pages[-1]["meta"] and
         "previous" in pages[-1]["meta"], "first page has no previous, last no next")
    t.eq(seeded, set(ids), "the pages hold every device once")
    t.eq(250, len(ids), "no device twice")
    pages, ids = walk({"per_page": 100}, "per_page=100")
    t.eq([100, 100, 50], [len(p["devices"]) for p in pages], "per_page=100: 100, 100, 50")
    t.eq(seeded, set(ids), "per_page=100 pages hold every device")
    pages, ids = walk({"tag": "pool:b", "per_page": 20}, "tag filter")
    t.eq((set(b), [20, 20, 10]), (set(ids), [len(p["devices"]) for p in pages]),
         "tag filter with paging finds exactly the tagged devices")
    t.ok("tag=pool%3Ab" in pages[0]["meta"]["next"]["href"], "meta hrefs keep the filter",
         diag=pages[0]["meta"]["next"]["href"])
    r = c("GET", "/projects/{id}/devices", 200, "page past the end", token=tok, id=proj,
          query={"page": 40})
    t.eq(([], 40), (r.json["devices"], r.json["meta"]["current_page"]), "page past the end is empty")
    r = c("GET", "/projects/{id}/devices", 200, "hostname filter", token=tok, id=proj,
          query={"hostname": "b-1", "per_page": 100})
    t.eq(11, r.json["meta"]["total"], "hostname filter is a substring match (b-1, b-10..b-19)")
    r = c("GET", "/projects/{id}/devices", 200, "search", token=tok, id=proj,
          query={"search": "pool:b", "per_page": 1})
    t.eq(50, r.json["meta"]["total"], "search matches tags")
    r = c("GET", "/projects/{id}/devices", 200, "empty tag", token=tok, id=proj, query={"tag": "none"})
    t.eq((0, 1, []), (r.json["meta"]["total"], r.json["meta"]["last_page"], r.json["devices"]),
         "no match: total 0, one empty page")
    for bad in ("0", "abc", "1001"):
        c("GET", "/projects/{id}/devices", 422, f"per_page={bad}: 422", token=tok, id=proj,
          query={"per_page": bad})
    held = m.seed(1, project=proj, tags=["held"], state="provisioning")[0]
    r = c("GET", "/devices/{id}", 200, "seeded in provisioning", token=tok, id=held)
    t.eq("provisioning", r.json["state"], "seeded state is kept")


def test_ips(c, m, parent_block):
    p = m.project
    r = c("GET", "/projects/{id}/ips", 200, "list IP reservations", id=p)
    meta = r.json["meta"]
    t.ok("per_page=250" in meta["self"]["href"], "ips default per_page is 250", diag=meta["self"]["href"])
    types = {x["type"] for x in r.json["ip_addresses"]}
    t.eq({"public_ipv4", "private_ipv4", "public_ipv6"}, types, "management blocks of all three types")
    priv = [x for x in r.json["ip_addresses"] if x["type"] == "private_ipv4" and x["metro"]["code"] == "sv"]
    t.ok(any(x["network"] == parent_block["network"] and x["cidr"] == parent_block["cidr"] and
             x["management"] for x in priv), "the private /25 parent block is a management reservation")
    r = c("GET", "/projects/{id}/ips", 200, "types=private_ipv4", id=p,
          query={"types": "private_ipv4", "include": "parent_block"})
    t.eq({"private_ipv4"}, {x["type"] for x in r.json["ip_addresses"]}, "types filter")
    r = c("GET", "/projects/{id}/ips", 200, "types repeated", id=p,
          query=[("types", "public_ipv4"), ("types", "public_ipv6")])
    t.eq({"public_ipv4", "public_ipv6"}, {x["type"] for x in r.json["ip_addresses"]}, "repeated types filter")
    r = c("GET", "/projects/{id}/ips", 200, "include=assignments", id=p,
          query={"types": "private_ipv4", "include": "assignments,parent_block"})
    asg = [a for x in r.json["ip_addresses"] for a in x["assignments"]]
    t.ok(asg and all("address" in a and "cidr" in a.get("parent_block", {}) for a in asg),
         "assignments expanded with parent blocks")
    c("GET", "/projects/{id}/ips", 422, "unknown type: 422", id=p, query={"types": "bogus"})
    r = c("GET", "/projects/{id}/ips", 200, "ips paging", id=p, query={"per_page": 1})
    t.eq(r.json["meta"]["total"], r.json["meta"]["last_page"], "ips per_page=1 pages one by one")

    eip = c("POST", "/projects/{id}/ips", 201, "request public IPv4 /31", id=p,
            body={"type": "public_ipv4", "quantity": 2, "metro": "sv", "tags": ["eip:shoot--dev--a"],
                  "fail_on_approval_required": True}).json
    t.eq(("public_ipv4", 31, ["eip:shoot--dev--a"], "created", False),
         (eip["type"], eip["cidr"], eip["tags"], eip["state"], eip["management"]), "reservation fields")
    r = c("GET", "/projects/{id}/ips", 200, "find the EIP", id=p, query={"types": "public_ipv4"})
    t.ok(any(x["id"] == eip["id"] for x in r.json["ip_addresses"]), "requested block is listed")
    c("POST", "/projects/{id}/ips", 422, "quantity 3: 422", id=p,
      body={"type": "public_ipv4", "quantity": 3, "metro": "sv"})
    c("POST", "/projects/{id}/ips", 422, "no metro: 422", id=p, body={"type": "public_ipv4", "quantity": 1})
    r = c("POST", "/projects/{id}/ips", 422, "needs approval with fail_on_approval_required: 422", id=p,
          body={"type": "public_ipv4", "quantity": 16, "metro": "sv", "fail_on_approval_required": True})
    r = c("POST", "/projects/{id}/ips", 201, "needs approval: pending", id=p,
          body={"type": "public_ipv4", "quantity": 16, "metro": "sv"})
    t.eq("pending", r.json["state"], "large request is pending")
    c("DELETE", "/ips/{id}", 204, "delete reservation: 204", id=eip["id"])
    c("DELETE", "/ips/{id}", 404, "delete again: 404", id=eip["id"])
    c("DELETE", "/ips/{id}", 422, "delete a management block: 422", id=priv[0]["id"])


def test_faults(c, m):
    p = m.project
    dev = m.seed(1, hostname_prefix="fault-")[0]
    m.fault(path=r"^/projects/[^/]+/devices$", method="GET", status=429, retry_after=2)
    r = c("GET", "/projects/{id}/devices", 429, "injected 429", id=p)
    t.eq(("2", "0"), (r.headers.get("Retry-After"), r.headers.get("X-RateLimit-Remaining")),
         "429 has Retry-After and X-RateLimit-Remaining")
    t.ok(r.headers.get("X-RateLimit-Limit") and int(r.headers.get("X-RateLimit-Reset", "0")) > time.time() - 5,
         "429 has X-RateLimit-Limit and X-RateLimit-Reset")
    c("GET", "/projects/{id}/devices", 200, "the rule fired once", id=p)
    c("POST", "/projects/{id}/devices", 422, "a GET rule does not touch POST", id=p, body={})

    m.fault(path="/devices/", status=500, times=2)
    c("GET", "/devices/{id}", 500, "injected 500 (1/2)", id=dev)
    c("GET", "/devices/{id}", 500, "injected 500 (2/2)", id=dev)
    c("GET", "/devices/{id}", 200, "times=2 is used up", id=dev)
    m.fault(path="/devices/", status=503, retry_after=1)
    r = c("GET", "/devices/{id}", 503, "injected 503", id=dev)
    t.eq("1", r.headers.get("Retry-After"), "503 with Retry-After")
    m.fault(path="/devices$", method="POST", status=422,
            body={"errors": ["The metro sv has no provisionable c3.small.x86 servers matching your criteria"]})
    r = c("POST", "/projects/{id}/devices", 422, "injected 422 with a body", id=p, body={})
    t.ok("no provisionable" in errors_text(r), "custom fault body is sent")

    m.fault(path="/devices$", method="POST", status=500, body_match=r'"hostname": *"only-me"')
    c("POST", "/projects/{id}/devices", 422, "body_match: a body without the pattern passes the rule by",
      id=p, body={"hostname": "not-me"})
    c("POST", "/projects/{id}/devices", 500, "body_match: the body with the pattern fires it", id=p,
      body={"hostname": "only-me"})
    r = m.request("POST", "/_test/faults", body={"body_match": "("}, token=None)
    t.ok(r.status == 400 and "body_match" in r.json.get("error", ""), "a bad body_match is refused, named",
         diag=r.json)

    m.fault(path="/devices/", action="html")
    r = m.request("GET", f"/devices/{dev}")
    t.ok(r.status == 502 and r.headers.get("Content-Type", "").startswith("text/html") and
         b"502 Bad Gateway" in r.raw and r.json is None, "html fault: a proxy's 502 page", diag=repr(r))

    # Each network fault is checked on its own (clear_faults: a rule a failed request did not reach
    # must not leak into the next check).
    m.clear_faults()
    m.fault(path="/devices/", action="reset")
    expect_net_error(lambda: m.request("GET", f"/devices/{dev}"), "reset fault: the connection is reset")
    m.clear_faults()
    m.fault(path="/devices/", action="hang")
    e = expect_net_error(lambda: m.request("GET", f"/devices/{dev}", timeout=1), "hang fault: no answer")
    t.ok(isinstance(e, (socket.timeout, TimeoutError)), "hang fault: the client times out", diag=repr(e))
    m.clear_faults()
    m.fault(path="/devices/", action="hang", delay_ms=50)
    expect_net_error(lambda: m.request("GET", f"/devices/{dev}"), "bounded hang ends without a response")
    m.clear_faults()
    m.fault(path="/devices/", action="delay", delay_ms=30)
    c("GET", "/devices/{id}", 200, "delay fault still answers", id=dev)
    t.ok(any(e["fault"] == "delay" and e["status"] == 200 for e in m.requests()), "the log shows the delay")
    m.clear_faults()
    m.fault(path="/devices/", action="truncate")
    expect_net_error(lambda: m.request("GET", f"/devices/{dev}"), "truncate fault: body cut short")
    m.clear_faults()

    rid = m.fault(path="/devices/", status=500, times=-1)
    for i in range(3):
        c("GET", "/devices/{id}", 500, f"times=-1 keeps firing ({i + 1})", id=dev)
    t.ok(any(f["id"] == rid and f["hits"] == 3 for f in m._control("GET", "/_test/faults")),
         "fault list counts hits")
    m.clear_faults()
    c("GET", "/devices/{id}", 200, "DELETE /_test/faults clears rules", id=dev)

    # Create succeeded, response lost.
    m.clear_requests()
    m.fault(path=r"^/projects/[^/]+/devices$", method="POST", action="lose_response")
    expect_net_error(lambda: m.request("POST", f"/projects/{p}/devices",
                                       body={"metro": "sv", "plan": "c3.small.x86",
                                             "operating_system": "flatcar_stable", "hostname": "lost-1",
                                             "tags": ["machine-uid:lost-1"]}),
                     "lose_response: the client sees no response")
    lost = [d for d in m.state()["devices"] if d["hostname"] == "lost-1"]
    t.ok(len(lost) == 1 and lost[0]["state"] != "deleted", "lose_response: the device exists anyway",
         diag=str(len(lost)))
    r = c("GET", "/projects/{id}/devices", 200, "find the lost device by tag", id=p,
          query={"tag": "machine-uid:lost-1"})
    t.eq([lost[0]["id"]] if lost else None, [d["id"] for d in r.json["devices"]], "tag lookup adopts it")
    log = [e for e in m.requests() if e["method"] == "POST"]
    t.ok(log and log[0]["status"] is None and log[0]["lost_status"] == 201 and
         log[0]["fault"] == "lose_response", "request log records the lost 201", diag=str(log[:1]))

    # Capacity and quota.
    body = {"metro": "da", "plan": "m3.large.x86", "operating_system": "flatcar_stable", "hostname": "cap"}
    m.set_capacity(1, metro="da", plan="m3.large.x86")
    c("POST", "/projects/{id}/devices", 201, "capacity 1: first create succeeds", id=p, body=body)
    r = c("POST", "/projects/{id}/devices", 422, "capacity exhausted: 422", id=p, body=body)
    t.ok("no provisionable m3.large.x86 servers" in errors_text(r), "capacity message", diag=errors_text(r))
    r = c("POST", "/projects/{id}/devices", 201, "metro any avoids the full metro", id=p,
          body=dict(body, metro="any"))
    t.ok(r.json["metro"]["code"] != "da", "metro any picks a metro with capacity")
    m.set_capacity(None, metro="da", plan="m3.large.x86")
    c("POST", "/projects/{id}/devices", 201, "capacity limit removed", id=p, body=body)
    qproj = str(uuid.uuid4())
    qtok = "tok-quota-" + uuid.uuid4().hex
    m.add_token(qtok, qproj)
    m.set_quota(1, project=qproj)
    c("POST", "/projects/{id}/devices", 201, "quota 1: first create", token=qtok, id=qproj, body=body)
    r = c("POST", "/projects/{id}/devices", 422, "quota reached: 422", token=qtok, id=qproj, body=body)
    t.ok("maximum number of devices" in errors_text(r), "quota message", diag=errors_text(r))

    # Server-side rate limit (a token bucket that never refills during the test).
    m.rate_limit(0.001, 3)
    rs = [c("GET", "/devices/{id}", id=dev) for _ in range(4)]
    t.eq([200, 200, 200, 429], [r.status for r in rs], "burst 3 then 429")
    t.eq(["2", "1", "0"], [r.headers.get("X-RateLimit-Remaining") for r in rs[:3]],
         "X-RateLimit-Remaining counts down")
    t.ok(int(rs[3].headers.get("Retry-After", "0")) >= 1 and rs[3].headers.get("X-RateLimit-Reset"),
         "rate-limited answer has Retry-After and X-RateLimit-Reset")
    m.rate_limit(None)
    c("GET", "/devices/{id}", 200, "rate limit off", id=dev)


def test_validation_hook(c, m):
    # The server's --validate notices a body that breaks the spec (an injected one) ...
    dev = m.seed(1, hostname_prefix="v-")[0]
    m._control("DELETE", "/_test/violations")
    m.fault(path="/devices/", status=200, body={"id": "not-a-uuid", "state": "exploded"})
    r = m.request("GET", f"/devices/{dev}")
    v = m.violations()
    t.ok(r.status == 200 and len(v) == 1 and v[0]["operation"] == "GET /devices/{id}",
         "server --validate records a violating body", diag=str(v))
    # ... and so does this test's checker.
    errs = c.specs[0].validate_response("/devices/{id}", "get", 200, r.json)
    t.ok(len(errs) == 2, "the test's checker rejects it too", diag=str(errs))
    m._control("DELETE", "/_test/violations")


def test_requests_log(m):
    log = m.requests()
    keys = {"method", "path", "query", "status", "t", "token_ok"}
    t.ok(log and all(keys <= set(e) for e in log), "request log entries carry the documented fields")
    t.ok(all(a["t"] <= b["t"] for a, b in zip(log, log[1:])), "request log is in arrival order")
    m.clear_requests()
    t.eq([], m.requests(), "DELETE /_test/requests clears the log")


def test_cli():
    d = tempfile.mkdtemp(prefix="metalapi-cli-")
    srv = os.path.join(ROOT, "test/metalapi/server.py")
    for args, what in ((["--state-dir", d, "--token", "no-colon"], "a bad --token"),
                       (["--state-dir", d, "--time-scale", "0"], "a zero --time-scale"),
                       ([], "no --state-dir")):
        r = subprocess.run([sys.executable, srv] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        t.ok(r.returncode == 2 and r.stderr, f"server.py rejects {what} with status 2",
             diag=r.stderr.decode()[-300:])
    os.rmdir(d)


def main():
    specs = [openapi.Spec(f) for f in SPEC_FILES]
    other_project = str(uuid.uuid4())
    other_token = "tok-other-" + uuid.uuid4().hex
    m = MetalAPI(time_scale=1, validate=True)
    try:
        c = Checked(m, specs)
        m.add_token(other_token, other_project)
        t.run("startup", test_startup, m)
        t.run("auth", test_auth, c, m, other_token, other_project)
        t.run("catalog", test_catalog, c)
        key = t.run("ssh keys", test_ssh_keys, c, m)
        dev = t.run("create", test_create, c, m, key or {"id": str(uuid.uuid4())})
        t.run("hardware reservations", test_hardware_reservations, c, m)
        pb = t.run("get/include", test_get_include, c, m, dev) if dev else None
        t.run("lifecycle", test_lifecycle, c, m)
        t.run("pagination", test_pagination, c, m)
        t.run("ips", test_ips, c, m, pb or {"network": "?", "cidr": 0})
        t.run("faults", test_faults, c, m)
        t.run("requests log", test_requests_log, m)
        t.ok(c.count > 150 and not c.bad, f"all {c.count} responses validate against both specs",
             diag="\n".join(c.bad[:15]))
        v = m.violations()
        t.eq([], v[:5], "the server's --validate found no response violation")
        rv = m.request_violations()
        t.ok(any(x["operation"] == "POST /projects/{id}/devices" for x in rv),
             "invalid create bodies were recorded as request violations")
        t.run("validation hook", test_validation_hook, c, m)
    finally:
        rc = m.stop()
    t.eq(0, rc, "SIGTERM stops the server with status 0")

    with MetalAPI(tls=False, validate=False) as plain:
        t.ok(plain.url.startswith("http://127.0.0.1:") and plain.ca is None and
             not os.path.exists(os.path.join(plain.dir, "ca.crt")), "--no-tls serves http, no ca.crt")
        r = plain.request("GET", f"/projects/{plain.project}/devices")
        t.eq(200, r.status, "plain HTTP works")
        t.eq(0, plain.stop(), "plain server stops with status 0")
    test_cli()
    sys.exit(t.done())


main()
