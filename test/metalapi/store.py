"""In-memory state of the test Metal API: projects, devices (with their lifecycle), SSH keys, IP
reservations and assignments, hardware reservations, and the knobs tests turn (capacity, quota,
provisioning failures, time scale).

Every public method takes the store lock; callers never hold references to mutable state across calls
except under `with store.lock`. Device states advance lazily: each read computes the transitions that
are due on a virtual lifecycle clock which runs `time_scale` times faster than real time.
"""
import base64
import datetime
import hashlib
import ipaddress
import itertools
import re
import secrets
import threading
import time
import uuid

import catalog

# Lifecycle durations in device seconds (divided by the time scale in real time).
QUEUED_S = 5.0
PROVISIONING_S = 60.0
DEPROVISIONING_S = 30.0
POWER_S = 20.0

DEVICE_STATES = ("queued", "provisioning", "deprovisioning", "reinstalling", "active", "inactive",
                 "failed", "powering_on", "powering_off", "deleted")
PRIVATE_BLOCK_CIDR = 25
HW_RESERVATIONS_PER_PROJECT = (("c3.small.x86", "sv"), ("c3.small.x86", "sv"), ("m3.large.x86", "ny"))


class ApiError(Exception):
    """An API-visible failure: HTTP status and JSON error body."""

    def __init__(self, status, message=None, errors=None):
        super().__init__(message or "; ".join(errors or []))
        self.status = status
        if errors is not None:
            self.body = {"errors": list(errors)}
        else:
            self.body = {"error": message}


def not_found():
    return ApiError(404, errors=["Not found"])


def rfc3339(wall):
    return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Virtual lifecycle clock: `scale` virtual seconds per real second, re-anchored on scale changes."""

    def __init__(self, scale):
        self.scale = float(scale)
        self._mono0 = time.monotonic()
        self._wall0 = time.time()
        self._anchor_real = self._mono0
        self._anchor_virtual = 0.0

    def now(self):
        return self._anchor_virtual + (time.monotonic() - self._anchor_real) * self.scale

    def set_scale(self, scale):
        v = self.now()
        self._anchor_real = time.monotonic()
        self._anchor_virtual = v
        self.scale = float(scale)

    def real_of(self, v):
        """Monotonic real time at which virtual time v was (or will be) reached at the current scale."""
        if self.scale <= 0:
            return time.monotonic()
        return self._anchor_real + (v - self._anchor_virtual) / self.scale

    def wall_of(self, mono):
        return self._wall0 + (mono - self._mono0)


class Project:
    def __init__(self, pid, wall):
        self.id = pid
        self.name = f"test-project-{pid[:8]}"
        self.created = wall
        self.max_devices = None
        self.private_blocks = {}  # metro -> [reservation id]
        self.v6_block = {}  # metro -> reservation id


class Device:
    def __init__(self):
        self.history = []
        self.assignments = []  # IP assignment ids
        self.hold = False
        self.fail = False
        self.deleted_at = None


class Reservation:
    """An IP block: management (per device /31, per project+metro private /25 and IPv6 /56) or requested."""

    def __init__(self):
        self.assignments = []
        self.tags = []
        self.details = None
        self.customdata = {}
        self.management = False
        self.device = None
        self.state = "created"
        self.used_slots = set()


class Assignment:
    pass


class Store:
    def __init__(self, time_scale=1.0):
        self.lock = threading.RLock()
        self.clock = Clock(time_scale)
        self.projects = {}
        self.tokens = {}  # token -> project id or "*"
        self.devices = {}
        self.ssh_keys = {}
        self.ips = {}  # reservation id -> Reservation
        self.assignments = {}  # assignment id -> Assignment
        self.hw = {}  # hardware reservation id -> dict
        self.capacity = {}  # (metro|"*", plan|"*") -> remaining on-demand creates
        self.provision_failures = []
        self._public_used = {m: set() for m in catalog.METROS}  # int addresses in use
        self._public_hint = {m: 0 for m in catalog.METROS}
        self._private_next = int(ipaddress.IPv4Address("10.64.0.0"))
        self._v6_next = {m: itertools.count(1) for m in catalog.METROS}
        self.user = {"id": catalog.stable_id("user", "test"), "short_id": catalog.stable_id("user", "test")[:8],
                     "full_name": "Test User", "first_name": "Test", "last_name": "User",
                     "email": "test-user@example.com",
                     "href": f"/metal/v1/users/{catalog.stable_id('user', 'test')}"}

    # ---- time -------------------------------------------------------------------------------

    def _wall_now(self):
        return time.time()

    def set_time_scale(self, scale):
        with self.lock:
            self._advance_all()
            self.clock.set_scale(scale)

    # ---- projects and tokens -----------------------------------------------------------------

    def ensure_project(self, pid):
        """The project with id pid, created (with its hardware reservations) on first use."""
        with self.lock:
            p = self.projects.get(pid)
            if p is None:
                p = Project(pid, self._wall_now())
                self.projects[pid] = p
                for i, (plan, metro) in enumerate(HW_RESERVATIONS_PER_PROJECT):
                    self.add_hw_reservation(pid, plan, metro,
                                            catalog.stable_id("hw", f"{pid}:{i}"))
            return p

    def add_token(self, token, project):
        with self.lock:
            if project != "*":
                self.ensure_project(project)
            self.tokens[token] = project

    def token_project(self, token):
        with self.lock:
            return self.tokens.get(token)

    def add_hw_reservation(self, pid, plan, metro, hid=None):
        with self.lock:
            hid = hid or str(uuid.uuid4())
            self.hw[hid] = {"id": hid, "project": pid, "plan": plan, "metro": metro, "device": None,
                            "created": self._wall_now(), "switch_uuid": secrets.token_hex(4),
                            "custom_rate": catalog.PLANS[plan]["pricing"]["hour"] * 24 * 30 * 0.8}
            return hid

    # ---- IP allocation ----------------------------------------------------------------------

    def _alloc_public(self, metro, size):
        """First free aligned block of `size` addresses in the metro's public pool, as an ip_network."""
        pool = catalog.METROS[metro]["public_pool"]
        base = int(pool.network_address)
        n = pool.num_addresses
        used = self._public_used[metro]
        start = self._public_hint[metro] - self._public_hint[metro] % size
        for k in range(0, n, size):
            off = (start + k) % n
            if all((base + off + j) not in used for j in range(size)):
                for j in range(size):
                    used.add(base + off + j)
                self._public_hint[metro] = (off + size) % n
                prefix = 32 - (size.bit_length() - 1)
                return ipaddress.ip_network(f"{ipaddress.IPv4Address(base + off)}/{prefix}")
        raise ApiError(422, errors=[f"There are no public IPv4 addresses left in metro {metro}"])

    def _free_public(self, metro, net):
        used = self._public_used[metro]
        for j in range(net.num_addresses):
            used.discard(int(net.network_address) + j)

    def _new_reservation(self, pid, rtype, metro, net, management, wall):
        r = Reservation()
        r.id = str(uuid.uuid4())
        r.project = pid
        r.type = rtype
        r.metro = metro
        r.net = net
        r.management = management
        r.created = wall
        self.ips[r.id] = r
        return r

    def _private_block_slot(self, pid, metro, wall):
        """(reservation, slot) for a new private /31 in the project's private blocks of the metro."""
        p = self.projects[pid]
        blocks = p.private_blocks.setdefault(metro, [])
        slots = 2 ** (31 - PRIVATE_BLOCK_CIDR)
        for rid in blocks:
            r = self.ips[rid]
            for s in range(slots):
                if s not in r.used_slots:
                    r.used_slots.add(s)
                    return r, s
        net = ipaddress.ip_network(f"{ipaddress.IPv4Address(self._private_next)}/{PRIVATE_BLOCK_CIDR}")
        self._private_next += net.num_addresses
        r = self._new_reservation(pid, "private_ipv4", metro, net, True, wall)
        blocks.append(r.id)
        r.used_slots.add(0)
        return r, 0

    def _v6_block(self, pid, metro, wall):
        p = self.projects[pid]
        rid = p.v6_block.get(metro)
        if rid is None:
            n = next(self._v6_next[metro])
            net = ipaddress.ip_network(f"{catalog.METROS[metro]['v6_prefix']}:{n % 256:02x}00::/56")
            r = self._new_reservation(pid, "public_ipv6", metro, net, True, wall)
            p.v6_block[metro] = r.id
            rid = r.id
        return self.ips[rid]

    def _assign(self, dev, res, net, address, gateway, wall, slot=None):
        a = Assignment()
        a.id = str(uuid.uuid4())
        a.device = dev.id
        a.reservation = res.id
        a.net = net
        a.address = address
        a.gateway = gateway
        a.public = res.type != "private_ipv4"
        a.family = net.version
        a.management = res.management
        a.created = wall
        a.slot = slot
        a.metro = res.metro
        self.assignments[a.id] = a
        res.assignments.append(a.id)
        dev.assignments.append(a.id)
        return a

    def _give_ips(self, dev, want_public4, want_public6, wall):
        if want_public4:
            net = self._alloc_public(dev.metro, 2)
            r = self._new_reservation(dev.project, "public_ipv4", dev.metro, net, True, wall)
            r.device = dev.id
            self._assign(dev, r, net, net.network_address + 1, net.network_address, wall)
        r, slot = self._private_block_slot(dev.project, dev.metro, wall)
        base = r.net.network_address + 2 * slot
        net = ipaddress.ip_network(f"{base}/31")
        self._assign(dev, r, net, base + 1, base, wall, slot)
        if want_public6:
            r = self._v6_block(dev.project, dev.metro, wall)
            slot = 0
            while slot in r.used_slots:
                slot += 1
            r.used_slots.add(slot)
            base = r.net.network_address + 2 * slot
            net = ipaddress.ip_network(f"{base}/127")
            self._assign(dev, r, net, base + 1, base, wall, slot)

    def _release_ips(self, dev):
        for aid in list(dev.assignments):
            a = self.assignments.pop(aid, None)
            if a is None:
                continue
            r = self.ips.get(a.reservation)
            if r is None:
                continue
            if aid in r.assignments:
                r.assignments.remove(aid)
            if a.slot is not None:
                r.used_slots.discard(a.slot)
            if r.device == dev.id:
                self._free_public(r.metro, r.net)
                del self.ips[r.id]
        dev.assignments = []

    # ---- devices: lifecycle -----------------------------------------------------------------

    def _transition(self, d, state, v, reason):
        d.state = state
        d.since = v
        mono = self.clock.real_of(v)
        if mono > time.monotonic():
            mono = time.monotonic()
        wall = self.clock.wall_of(mono)
        d.updated = wall
        d.history.append({"state": state, "t": round(mono, 6), "at": rfc3339(wall), "reason": reason})
        if state == "active" and d.root_password is None:
            d.root_password = secrets.token_urlsafe(12)
        if state == "deleted":
            d.deleted_at = wall
            self._release_ips(d)
            if d.hw_reservation and self.hw.get(d.hw_reservation, {}).get("device") == d.id:
                self.hw[d.hw_reservation]["device"] = None

    def _advance(self, d, vnow=None):
        if vnow is None:
            vnow = self.clock.now()
        while not d.hold:
            nxt = None
            if d.state == "queued":
                nxt = ("provisioning", d.since + QUEUED_S)
            elif d.state == "provisioning":
                nxt = ("failed" if d.fail else "active", d.since + PROVISIONING_S)
            elif d.state == "deprovisioning":
                nxt = ("deleted", d.since + DEPROVISIONING_S)
            elif d.state in ("powering_on", "reinstalling"):
                nxt = ("active", d.since + POWER_S)
            elif d.state == "powering_off":
                nxt = ("inactive", d.since + POWER_S)
            if nxt is None or vnow < nxt[1]:
                return
            self._transition(d, nxt[0], nxt[1], "lifecycle")

    def _advance_all(self):
        vnow = self.clock.now()
        for d in self.devices.values():
            self._advance(d, vnow)

    def provisioning_percentage(self, d):
        if d.state == "queued":
            return 0.0
        if d.state == "provisioning":
            frac = (self.clock.now() - d.since) / PROVISIONING_S
            return round(max(0.0, min(99.0, frac * 100.0)), 1)
        return None

    # ---- devices: operations ----------------------------------------------------------------

    def _capacity_key(self, metro, plan):
        for key in ((metro, plan), (metro, "*"), ("*", plan), ("*", "*")):
            if key in self.capacity:
                return key
        return None

    def _has_capacity(self, metro, plan):
        key = self._capacity_key(metro, plan)
        return key is None or self.capacity[key] > 0

    def set_capacity(self, metro, plan, available):
        with self.lock:
            key = (metro or "*", plan or "*")
            if available is None:
                self.capacity.pop(key, None)
            else:
                self.capacity[key] = int(available)

    def _live_devices(self, pid):
        return [d for d in self.devices.values() if d.project == pid and d.state != "deleted"]

    def _pick_hw(self, pid, want, plan, metro):
        """The hardware reservation to use (id), or raise the error the API gives."""
        if want == "next-available":
            for h in self.hw.values():
                if h["project"] == pid and h["device"] is None and h["plan"] == plan and \
                        (metro == "any" or h["metro"] == metro):
                    return h["id"]
            where = "any metro" if metro == "any" else f"metro {metro}"
            raise ApiError(422, errors=[
                f"There are no available hardware reservations for plan {plan} in {where}"])
        h = self.hw.get(want)
        if h is None or h["project"] != pid:
            raise ApiError(422, errors=[f"Hardware reservation {want} was not found in this project"])
        if h["device"] is not None:
            holder = self.devices.get(h["device"])
            if holder is not None and holder.state == "deprovisioning":
                raise ApiError(422, errors=[
                    f"Server is not provisionable: hardware reservation {want} is still being "
                    "deprovisioned"])
            raise ApiError(422, errors=[
                f"Hardware reservation {want} is already in use by device {h['device']}"])
        if h["plan"] != plan:
            raise ApiError(422, errors=[
                f"Hardware reservation {want} is for plan {h['plan']}, not {plan}"])
        if metro != "any" and h["metro"] != metro:
            raise ApiError(422, errors=[
                f"Hardware reservation {want} is in metro {h['metro']}, not {metro}"])
        return want

    def _match_failure(self, hostname, tags):
        for rule in self.provision_failures:
            if rule["times"] == 0:
                continue
            if rule.get("hostname") and not re.search(rule["hostname"], hostname or ""):
                continue
            if rule.get("tag") and rule["tag"] not in tags:
                continue
            if rule["times"] > 0:
                rule["times"] -= 1
            return True
        return False

    def create_device(self, pid, req, state=None, reason="created", enforce_limits=True):
        """Create a device from a normalised request (see api.parse_device_create); returns it.

        Raises ApiError for business-rule failures (quota, capacity, reservations, SSH keys).
        `state` (seeding) starts the device in that state instead of queued.
        """
        with self.lock:
            p = self.ensure_project(pid)
            wall = self._wall_now()
            plan = req["plan"]
            metro = req["metro"]
            hw_id = None
            for kid in req.get("project_ssh_keys", []):
                k = self.ssh_keys.get(kid)
                if k is None or k["project"] != pid:
                    raise ApiError(422, errors=[f"SSH key {kid} was not found in this project"])
            if enforce_limits and p.max_devices is not None and \
                    len(self._live_devices(pid)) >= p.max_devices:
                raise ApiError(422, errors=[
                    f"You have reached the maximum number of devices ({p.max_devices}) allowed "
                    "for this project. Please contact support to increase your limit."])
            if req.get("hardware_reservation_id"):
                hw_id = self._pick_hw(pid, req["hardware_reservation_id"], plan, metro)
                metro = self.hw[hw_id]["metro"]
            elif metro == "any":
                metro = next((m for m in catalog.METROS if self._has_capacity(m, plan)), None)
                if metro is None:
                    raise ApiError(422, errors=[
                        f"There aren't available {plan} servers in any metro"])
            elif enforce_limits and not self._has_capacity(metro, plan):
                raise ApiError(422, errors=[
                    f"The metro {metro} has no provisionable {plan} servers matching your criteria"])
            d = Device()
            d.id = str(uuid.uuid4())
            d.short_id = d.id[:8]
            d.project = pid
            d.hostname = req.get("hostname") or f"{plan.split('.')[0]}-{d.short_id}"
            d.description = req.get("description")
            d.tags = list(req.get("tags", []))
            d.plan = plan
            d.os = req["operating_system"]
            d.metro = metro
            d.billing_cycle = req.get("billing_cycle", "hourly")
            d.userdata = req.get("userdata", "")
            d.customdata = req.get("customdata", {})
            d.ipxe_script_url = req.get("ipxe_script_url")
            d.always_pxe = bool(req.get("always_pxe", False))
            d.locked = bool(req.get("locked", False))
            d.ssh_key_ids = list(req.get("project_ssh_keys", []))
            if not d.ssh_key_ids and not req.get("no_ssh_keys"):
                d.ssh_key_ids = [k["id"] for k in self.ssh_keys.values() if k["project"] == pid]
            d.hw_reservation = hw_id
            d.termination_time = req.get("termination_time")
            d.storage = req.get("storage")
            d.created = wall
            d.updated = wall
            d.switch_uuid = secrets.token_hex(4)
            d.root_password = None
            d.macs = ["b4:96:91:%02x:%02x:%02x" % tuple(secrets.token_bytes(3)) for _ in range(2)]
            d.port_ids = [str(uuid.uuid4()) for _ in range(3)]
            d.fail = self._match_failure(d.hostname, d.tags)
            d.request = req
            try:
                self._give_ips(d, req.get("public_ipv4", True), req.get("public_ipv6", True), wall)
            except ApiError:
                self._release_ips(d)
                raise
            # Nothing can fail from here on: commit the reservation and the capacity.
            if hw_id:
                self.hw[hw_id]["device"] = d.id
            elif enforce_limits:
                key = self._capacity_key(metro, plan)
                if key is not None:
                    self.capacity[key] -= 1
            self.devices[d.id] = d
            self._transition(d, state or "queued", self.clock.now(), reason)
            return d

    def get_device(self, did):
        """The device (advanced to now) or None; deleted devices are returned too (callers decide)."""
        with self.lock:
            d = self.devices.get(did)
            if d is not None:
                self._advance(d)
            return d

    def list_devices(self, pid):
        with self.lock:
            out = []
            vnow = self.clock.now()
            for d in self.devices.values():
                if d.project != pid:
                    continue
                self._advance(d, vnow)
                if d.state != "deleted":
                    out.append(d)
            return out

    def delete_device(self, did):
        with self.lock:
            d = self.get_device(did)
            if d is None or d.state == "deleted":
                raise not_found()
            if d.locked:
                raise ApiError(422, errors=["Cannot delete a locked device. Unlock it first."])
            if d.state != "deprovisioning":
                d.hold = False
                self._transition(d, "deprovisioning", self.clock.now(), "delete")

    def force_state(self, did, state, hold=False):
        with self.lock:
            d = self.get_device(did)
            if d is None:
                raise not_found()
            if state not in DEVICE_STATES:
                raise ApiError(422, errors=[f"state must be one of {', '.join(DEVICE_STATES)}"])
            if d.state == "deleted":
                raise ApiError(422, errors=["the device is already deleted"])
            d.hold = bool(hold)
            self._transition(d, state, self.clock.now(), "forced")
            return d

    # ---- SSH keys ---------------------------------------------------------------------------

    @staticmethod
    def fingerprint(key):
        """MD5 fingerprint (colon hex) of an OpenSSH public key line, or None if it is not one."""
        parts = key.strip().split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            return None
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except ValueError:
            return None
        if len(blob) < 4:
            return None
        n = int.from_bytes(blob[:4], "big")
        if blob[4:4 + n] != parts[0].encode():
            return None
        h = hashlib.md5(blob).hexdigest()  # noqa: S324 - the API's fingerprint format
        return ":".join(h[i:i + 2] for i in range(0, 32, 2))

    def create_ssh_key(self, pid, label, key, tags):
        with self.lock:
            self.ensure_project(pid)
            fp = self.fingerprint(key)
            if fp is None:
                raise ApiError(422, errors=["Key is invalid: it is not an OpenSSH public key"])
            for k in self.ssh_keys.values():
                if k["project"] == pid and k["fingerprint"] == fp:
                    raise ApiError(422, errors=["Fingerprint has already been taken"])
            wall = self._wall_now()
            kid = str(uuid.uuid4())
            k = {"id": kid, "project": pid, "label": label, "key": key.strip(), "fingerprint": fp,
                 "tags": list(tags), "created": wall, "updated": wall}
            self.ssh_keys[kid] = k
            return k

    def delete_ssh_key(self, kid):
        with self.lock:
            if self.ssh_keys.pop(kid, None) is None:
                raise not_found()

    # ---- IP reservations --------------------------------------------------------------------

    def request_ips(self, pid, rtype, metro, quantity, tags, details, customdata, fail_on_approval):
        with self.lock:
            self.ensure_project(pid)
            wall = self._wall_now()
            if rtype == "private_ipv4":
                net = ipaddress.ip_network(
                    f"{ipaddress.IPv4Address(self._private_next)}/{32 - (quantity.bit_length() - 1)}")
                self._private_next += max(quantity, 128)
            elif rtype == "public_ipv6":
                net = ipaddress.ip_network(
                    f"{catalog.METROS[metro]['v6_prefix']}:ff{next(self._v6_next[metro]) % 256:02x}::/64")
            elif rtype == "global_ipv4":
                net = self._alloc_public("sv" if metro is None else metro, quantity)
            else:
                net = self._alloc_public(metro, quantity)
            state = "created"
            if rtype in ("public_ipv4", "global_ipv4") and quantity > 8:
                if fail_on_approval:
                    self._free_public("sv" if metro is None else metro, net)
                    raise ApiError(422, errors=[
                        f"A request for {quantity} {rtype} addresses requires approval, and "
                        "fail_on_approval_required is set"])
                state = "pending"
            r = self._new_reservation(pid, rtype, metro, net, False, wall)
            r.tags = list(tags)
            r.details = details
            r.customdata = customdata or {}
            r.state = state
            return r

    def delete_ip(self, ipid):
        """DELETE /ips/{id}: removes a requested reservation or unassigns a non-management address."""
        with self.lock:
            r = self.ips.get(ipid)
            if r is not None:
                if r.management:
                    raise ApiError(422, errors=["Management IP blocks cannot be deleted"])
                if r.assignments:
                    raise ApiError(422, errors=[
                        "This IP block has assignments; unassign its addresses first"])
                if r.type in ("public_ipv4", "global_ipv4"):
                    self._free_public("sv" if r.metro is None else r.metro, r.net)
                del self.ips[ipid]
                return
            a = self.assignments.get(ipid)
            if a is None:
                raise not_found()
            # Every assignment this server makes is a management address of a device.
            raise ApiError(422, errors=["Management IP addresses cannot be unassigned"])

    # ---- test control -----------------------------------------------------------------------

    def advance_all(self):
        with self.lock:
            self._advance_all()
