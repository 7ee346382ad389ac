"""Static catalog of the test Metal API: metros, facilities, plans and operating systems.

Everything here is invented test data shaped like the real catalog (slugs and codes follow the real
naming scheme). Ids are stable across runs (uuid5 of the slug), so tests and fixtures may hard-code them.
"""
import ipaddress
import uuid

_NS = uuid.UUID("5a1d0c2e-3b6f-4c1e-9a57-0e7d3c1f6b20")


def stable_id(kind, name):
    """A UUID that is the same in every run for (kind, name)."""
    return str(uuid.uuid5(_NS, f"{kind}:{name}"))


# code, name, country, facility code, public IPv4 pool, IPv6 /40 prefix (per metro)
_METROS = [
    ("sv", "Silicon Valley", "US", "sv15", "147.75.64.0/18", "2604:1380:4641"),
    ("ny", "New York", "US", "ny5", "147.75.128.0/18", "2604:1380:45e1"),
    ("da", "Dallas", "US", "da11", "139.178.64.0/18", "2604:1380:4642"),
    ("dc", "Washington DC", "US", "dc13", "139.178.128.0/18", "2604:1380:4601"),
    ("ch", "Chicago", "US", "ch3", "145.40.0.0/18", "2604:1380:45f1"),
    ("am", "Amsterdam", "NL", "am6", "145.40.64.0/18", "2604:1380:4602"),
    ("fr", "Frankfurt", "DE", "fr2", "145.40.128.0/18", "2604:1380:4091"),
    ("ld", "London", "GB", "ld7", "145.40.192.0/18", "2604:1380:4080"),
    ("sg", "Singapore", "SG", "sg4", "86.109.0.0/18", "2604:1380:40e1"),
    ("ty", "Tokyo", "JP", "ty11", "86.109.64.0/18", "2604:1380:4a00"),
]

METROS = {}
for _code, _name, _country, _fac, _pool, _v6 in _METROS:
    METROS[_code] = {
        "code": _code,
        "name": _name,
        "country": _country,
        "id": stable_id("metro", _code),
        "facility": _fac,
        "facility_id": stable_id("facility", _fac),
        "public_pool": ipaddress.ip_network(_pool),
        "v6_prefix": _v6,
    }

FACILITY_TO_METRO = {m["facility"]: code for code, m in METROS.items()}


def metro_json(code):
    m = METROS[code]
    return {"id": m["id"], "code": m["code"], "name": m["name"], "country": m["country"]}


def facility_json(code):
    m = METROS[code]
    return {
        "id": m["facility_id"],
        "code": m["facility"],
        "name": f"{m['name']} {m['facility'][2:].upper()}",
        "features": ["baremetal", "backend_transfer", "layer_2", "global_ipv4"],
        "ip_ranges": [str(m["public_pool"]), m["v6_prefix"] + "::/48"],
        "metro": metro_json(code),
        "address": {
            "address": f"{len(m['name']) * 7} Datacenter Way",
            "city": m["name"],
            "country": m["country"],
            "zip_code": str(10000 + int(m["id"][:4], 16) % 90000),
        },
    }


def find_metro(value):
    """Metro code for a metro code (any case) or metro UUID; None if unknown."""
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v in METROS:
        return v
    for code, m in METROS.items():
        if m["id"] == v:
            return code
    return None


# slug, name, class line, cpus, memory, drives, nics, price/hour, categories
_PLANS = [
    ("c3.small.x86", "c3.small.x86", [(1, "Intel Xeon E-2278G @ 3.40GHz (8 cores)")], "32GB",
     [(2, "SSD", "480GB", "boot")], [(2, "10Gbps")], 0.75, ["compute", "current_gen"]),
    ("c3.medium.x86", "c3.medium.x86", [(1, "AMD EPYC 7402P @ 2.80GHz (24 cores)")], "64GB",
     [(2, "SSD", "240GB", "boot"), (2, "SSD", "480GB", "storage")], [(2, "25Gbps")], 1.5,
     ["compute", "current_gen"]),
    ("m3.small.x86", "m3.small.x86", [(1, "Intel Xeon E-2378G @ 2.80GHz (8 cores)")], "64GB",
     [(2, "SSD", "480GB", "boot")], [(2, "25Gbps")], 1.05, ["compute", "current_gen"]),
    ("m3.large.x86", "m3.large.x86", [(1, "AMD EPYC 7502P @ 2.5GHz (32 cores)")], "256GB",
     [(2, "SSD", "240GB", "boot"), (2, "NVME", "3.8TB", "storage")], [(2, "25Gbps")], 3.1,
     ["compute", "current_gen"]),
    ("n3.xlarge.x86", "n3.xlarge.x86", [(2, "Intel Xeon Gold 6314U @ 2.30GHz (32 cores)")], "512GB",
     [(2, "SSD", "240GB", "boot"), (4, "NVME", "3.8TB", "storage")], [(4, "25Gbps")], 4.5,
     ["compute", "current_gen"]),
    ("s3.xlarge.x86", "s3.xlarge.x86", [(2, "Intel Xeon Silver 4214 @ 2.20GHz (24 cores)")], "192GB",
     [(2, "SSD", "960GB", "boot"), (12, "HDD", "8TB", "storage")], [(2, "25Gbps")], 1.85,
     ["storage", "current_gen"]),
    ("t1.small.x86", "t1.small.x86", [(1, "Intel Atom C2550 @ 2.4GHz (4 cores)")], "8GB",
     [(1, "SSD", "80GB", "boot")], [(2, "1Gbps")], 0.07, ["compute", "legacy_gen"]),
]

PLANS = {}
for _slug, _name, _cpus, _mem, _drives, _nics, _price, _cats in _PLANS:
    PLANS[_slug] = {
        "id": stable_id("plan", _slug),
        "slug": _slug,
        "name": _name,
        "class": _slug,
        "line": "baremetal",
        "type": "standard",
        "description": f"{_name} bare metal server",
        "legacy": False,
        "categories": list(_cats),
        "deployment_types": ["on_demand", "spot_market"],
        "pricing": {"hour": _price},
        "specs": {
            "cpus": [{"count": c, "type": t} for c, t in _cpus],
            "memory": {"total": _mem},
            "drives": [{"count": c, "type": t, "size": s, "category": cat} for c, t, s, cat in _drives],
            "nics": [{"count": c, "type": t} for c, t in _nics],
            "features": {"raid": True, "txt": True, "uefi": True},
        },
        "available_in_metros": [
            {"href": f"/metal/v1/locations/metros/{METROS[m]['id']}", "price": {"hour": _price}}
            for m in METROS
        ],
    }


def plan_json(slug):
    return {k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in PLANS[slug].items()}


# slug, name, distro, version, default user, release date
_OSES = [
    ("flatcar_stable", "Flatcar Container Linux - Stable", "flatcar", "stable", "core", "2024-05-01"),
    ("flatcar_beta", "Flatcar Container Linux - Beta", "flatcar", "beta", "core", "2024-05-01"),
    ("flatcar_alpha", "Flatcar Container Linux - Alpha", "flatcar", "alpha", "core", "2024-05-01"),
    ("ubuntu_20_04", "Ubuntu 20.04 LTS", "ubuntu", "20.04", "root", "2020-04-23"),
    ("ubuntu_22_04", "Ubuntu 22.04 LTS", "ubuntu", "22.04", "root", "2022-04-21"),
    ("ubuntu_24_04", "Ubuntu 24.04 LTS", "ubuntu", "24.04", "root", "2024-04-25"),
    ("debian_12", "Debian 12", "debian", "12", "root", "2023-06-10"),
    ("rocky_9", "Rocky Linux 9", "rocky", "9", "root", "2022-07-14"),
    ("custom_ipxe", "Custom iPXE", "custom_ipxe", "1", "root", "2016-01-01"),
]

OPERATING_SYSTEMS = {}
for _slug, _name, _distro, _ver, _user, _date in _OSES:
    OPERATING_SYSTEMS[_slug] = {
        "id": stable_id("os", _slug),
        "slug": _slug,
        "name": _name,
        "distro": _distro,
        "distro_label": _distro.capitalize(),
        "version": _ver,
        "preinstallable": _distro == "ubuntu",
        "licensed": False,
        "pricing": {},
        "provisionable_on": sorted(PLANS),
        "default_operating_system": _slug in ("flatcar_stable", "ubuntu_24_04", "debian_12", "rocky_9",
                                              "custom_ipxe"),
        "lifecycle_state": "active",
        "release_date": _date,
        "build_date": _date,
    }
OS_USER = {s: u for s, _n, _d, _v, u, _r in _OSES}


def os_json(slug):
    return {k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in OPERATING_SYSTEMS[slug].items()}
