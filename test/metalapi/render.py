"""JSON representations of the store's objects, as the API returns them (schemas of the spec).

`include` and `exclude` are sets of dotted attribute names from the query (comma separated there).
Related objects are returned as {"href": ...} unless included; `exclude` turns an embedded object into
its href. Call with the store lock held.
"""
import uuid

import catalog
from store import rfc3339

BASE = "/metal/v1"

_ACTIONS = {
    "active": [("power_off", "Power Off"), ("reboot", "Reboot"), ("rescue", "Rescue"),
               ("reinstall", "Reinstall")],
    "inactive": [("power_on", "Power On"), ("reinstall", "Reinstall")],
    "failed": [("reinstall", "Reinstall")],
}


def href(kind, oid):
    return {"href": f"{BASE}/{kind}/{oid}"}


def project_json(p):
    return {"id": p.id, "name": p.name, "href": f"{BASE}/projects/{p.id}", "type": "default",
            "created_at": rfc3339(p.created), "updated_at": rfc3339(p.created),
            "customdata": {}, "tags": [], "backend_transfer_enabled": False,
            "devices": [], "ssh_keys": [], "members": [], "memberships": [], "invitations": [],
            "volumes": [], "max_devices": {}, "network_status": {},
            "bgp_config": {"href": f"{BASE}/projects/{p.id}/bgp-config"}}


def _parent_block(res, expand):
    ref = f"{BASE}/ips/{res.id}"
    if not expand:
        return {"href": ref}
    return {"network": str(res.net.network_address), "netmask": str(res.net.netmask),
            "cidr": res.net.prefixlen, "href": ref}


def assignment_json(store, a, expand_parent):
    net = a.net
    out = {
        "id": a.id,
        "href": f"{BASE}/ips/{a.id}",
        "address_family": a.family,
        "public": a.public,
        "management": a.management,
        "manageable": True,
        "enabled": True,
        "global_ip": False,
        "address": str(a.address),
        "network": str(net.network_address),
        "gateway": str(a.gateway),
        "netmask": str(net.netmask),
        "cidr": net.prefixlen,
        "created_at": rfc3339(a.created),
        "assigned_to": href("devices", a.device),
        "metro": catalog.metro_json(a.metro),
    }
    res = store.ips.get(a.reservation)
    if res is not None:
        out["parent_block"] = _parent_block(res, expand_parent)
    return out


def _events(d):
    out = []
    for i, h in enumerate(d.history):
        out.append({
            "id": str(uuid.uuid5(uuid.UUID(d.id), str(i))),
            "href": f"{BASE}/events/{uuid.uuid5(uuid.UUID(d.id), str(i))}",
            "type": f"instance.{h['state']}",
            "state": "success",
            "body": f"Device {d.hostname} is {h['state']}",
            "interpolated": f"Device {d.hostname} is {h['state']} ({h['reason']})",
            "created_at": h["at"],
            "relationships": [href("devices", d.id)],
        })
    return out


def _ports(d):
    bond_id, eth0, eth1 = d.port_ids
    bond = {"id": bond_id, "name": "bond0"}
    return [
        {"id": bond_id, "href": f"{BASE}/ports/{bond_id}", "name": "bond0", "type": "NetworkBondPort",
         "network_type": "layer3", "data": {"bonded": True}, "disbond_operation_supported": True,
         "virtual_networks": []},
        {"id": eth0, "href": f"{BASE}/ports/{eth0}", "name": "eth0", "type": "NetworkPort",
         "network_type": "layer3", "data": {"mac": d.macs[0], "bonded": True}, "bond": bond,
         "disbond_operation_supported": True, "virtual_networks": []},
        {"id": eth1, "href": f"{BASE}/ports/{eth1}", "name": "eth1", "type": "NetworkPort",
         "network_type": "layer3", "data": {"mac": d.macs[1], "bonded": True}, "bond": bond,
         "disbond_operation_supported": True, "virtual_networks": []},
    ]


def hw_json(store, h, include=frozenset()):
    out = {
        "id": h["id"],
        "short_id": h["id"][:8],
        "href": f"{BASE}/hardware-reservations/{h['id']}",
        "created_at": rfc3339(h["created"]),
        "plan": catalog.plan_json(h["plan"]),
        "facility": catalog.facility_json(h["metro"]),
        "project": href("projects", h["project"]),
        "provisionable": h["device"] is None,
        "spare": False,
        "need_of_service": False,
        "switch_uuid": h["switch_uuid"],
        "custom_rate": round(h["custom_rate"], 2),
    }
    if h["device"] is not None:
        dev = store.devices.get(h["device"])
        if "device" in include and dev is not None:
            out["device"] = device_json(store, dev, set(), set())
        else:
            out["device"] = href("devices", h["device"])
    return out


def ssh_key_json(k):
    return {"id": k["id"], "href": f"{BASE}/ssh-keys/{k['id']}", "label": k["label"], "key": k["key"],
            "fingerprint": k["fingerprint"], "tags": list(k["tags"]),
            "entity": href("projects", k["project"]),
            "created_at": rfc3339(k["created"]), "updated_at": rfc3339(k["updated"])}


def device_json(store, d, include, exclude):
    """The Device object; include/exclude are sets of attribute names."""
    expand_parent = "ip_addresses.parent_block" in include or "parent_block" in include
    out = {
        "id": d.id,
        "short_id": d.short_id,
        "href": f"{BASE}/devices/{d.id}",
        "hostname": d.hostname,
        "state": d.state,
        "tags": list(d.tags),
        "created_at": rfc3339(d.created),
        "updated_at": rfc3339(d.updated),
        "billing_cycle": d.billing_cycle,
        "locked": d.locked,
        "always_pxe": d.always_pxe,
        "userdata": d.userdata,
        "customdata": d.customdata,
        "spot_instance": False,
        "network_frozen": False,
        "bonding_mode": 5,
        "metro": catalog.metro_json(d.metro),
        "facility": catalog.facility_json(d.metro),
        "plan": catalog.plan_json(d.plan),
        "operating_system": catalog.os_json(d.os),
        "project": href("projects", d.project),
        "project_lite": href("projects", d.project),
        "ip_addresses": [assignment_json(store, store.assignments[a], expand_parent)
                         for a in d.assignments if a in store.assignments],
        "network_ports": _ports(d),
        "ssh_keys": [href("ssh-keys", k) for k in d.ssh_key_ids],
        "actions": [{"type": t, "name": n} for t, n in _ACTIONS.get(d.state, [])],
        "provisioning_events": _events(d),
        "sos": f"{d.id}@sos.{catalog.METROS[d.metro]['facility']}.platformequinix.com",
        "switch_uuid": d.switch_uuid,
        "iqn": f"iqn.2024-01.net.packet:device.{d.short_id}",
        "user": catalog.OS_USER.get(d.os, "root"),
        "volumes": [],
        "created_by": dict(store.user),
    }
    if d.description is not None:
        out["description"] = d.description
    if d.ipxe_script_url is not None:
        out["ipxe_script_url"] = d.ipxe_script_url
    if d.termination_time is not None:
        out["termination_time"] = d.termination_time
    if d.storage is not None:
        out["storage"] = d.storage
    pct = store.provisioning_percentage(d)
    if pct is not None:
        out["provisioning_percentage"] = pct
    if d.state == "active" and d.root_password:
        out["root_password"] = d.root_password
    if d.hw_reservation:
        h = store.hw.get(d.hw_reservation)
        if "hardware_reservation" in include and h is not None:
            out["hardware_reservation"] = hw_json(store, h)
        else:
            out["hardware_reservation"] = href("hardware-reservations", d.hw_reservation)
    if "project" in include and d.project in store.projects:
        out["project"] = project_json(store.projects[d.project])
    if "ssh_keys" in include:
        out["ssh_keys"] = [ssh_key_json(store.ssh_keys[k]) if k in store.ssh_keys
                           else href("ssh-keys", k) for k in d.ssh_key_ids]
    for name in exclude:
        _exclude(out, name)
    return out


_EXCLUDE_HREF = {
    "metro": lambda o: f"{BASE}/locations/metros/{o.get('id')}",
    "facility": lambda o: f"{BASE}/facilities/{o.get('id')}",
    "plan": lambda o: f"{BASE}/plans/{o.get('id')}",
    "operating_system": lambda o: f"{BASE}/operating-systems/{o.get('id')}",
}


def _exclude(obj, name):
    """Replace the embedded object(s) `name` of obj by hrefs (spec: excluded objects keep only href)."""
    if name not in obj:
        return
    v = obj[name]
    if isinstance(v, dict):
        ref = v.get("href") or (_EXCLUDE_HREF[name](v) if name in _EXCLUDE_HREF else None)
        if ref:
            obj[name] = {"href": ref}
    elif isinstance(v, list):
        obj[name] = [{"href": x["href"]} if isinstance(x, dict) and "href" in x else x for x in v]


def reservation_json(store, r, include, exclude=frozenset()):
    """An IPReservation (the schema allows no other properties)."""
    net = r.net
    expand_assign = "assignments" in include
    expand_parent = "parent_block" in include or "assignments.parent_block" in include
    out = {
        "id": r.id,
        "href": f"{BASE}/ips/{r.id}",
        "type": r.type,
        "address_family": net.version,
        "address": str(net.network_address),
        "network": str(net.network_address),
        "gateway": str(net.network_address if net.prefixlen >= 31 else net.network_address + 1),
        "netmask": str(net.netmask),
        "cidr": net.prefixlen,
        "public": r.type != "private_ipv4",
        "management": r.management,
        "manageable": not r.management,
        "global_ip": r.type == "global_ipv4",
        "addon": not r.management,
        "bill": not r.management,
        "enabled": True,
        "state": r.state,
        "tags": list(r.tags),
        "customdata": dict(r.customdata),
        "created_at": rfc3339(r.created),
        "project": href("projects", r.project),
        "project_lite": href("projects", r.project),
        "requested_by": dict(href("users", store.user["id"])),
        "assignments": [assignment_json(store, store.assignments[a], expand_parent) if expand_assign
                        else {"href": f"{BASE}/ips/{a}"}
                        for a in r.assignments if a in store.assignments],
    }
    if r.metro is not None:
        out["metro"] = catalog.metro_json(r.metro)
        out["facility"] = catalog.facility_json(r.metro)
    if r.details is not None:
        out["details"] = r.details
    for name in exclude:
        _exclude(out, name)
    return out
