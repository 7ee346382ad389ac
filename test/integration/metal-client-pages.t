#!/usr/bin/env python3
"""Every listing of the Equinix Metal client reads every page: 250 devices are all seen with the API's
default page size (10) and with the client's own (100), the tag filter is exact, and the lookup by
idempotency key finds a device on the last page (the Go machine driver read only the first page)."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
TAG = "kubernetes.io/cluster/shoot--pg--a"


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)
        ids = set(m.seed(250, tags=[TAG], hostname_prefix="pg-"))
        other = set(m.seed(15, tags=[TAG + "x"], hostname_prefix="other-"))
        last = m.seed(1, tags=[TAG, "gardener.cloud/idempotency-key=late-1"], hostname_prefix="late-")
        ids |= set(last)

        for per_page, pages in ((10, 26), (100, 3)):
            m.clear_requests()
            r = tool.run("list", "--tag", TAG, "--per-page", str(per_page), "--rate", "1000",
                         "--burst", "1000")
            t.ok(r["ok"], f"listing with per_page {per_page} succeeds", diag=r)
            t.eq(251, r.get("count"), f"all 251 devices seen with per_page {per_page}")
            t.eq(ids, set(r.get("ids", [])), f"exactly the tagged devices with per_page {per_page}")
            t.ok(not (other & set(r.get("ids", []))), "a similar tag does not match")
            t.eq(pages, r.get("pages"), f"{pages} pages read with per_page {per_page}")
            got = sorted(int(q["query"]["page"][0]) for q in m.requests() if q["path"].endswith("/devices"))
            t.eq(list(range(1, pages + 1)), got, f"pages 1..{pages} were each asked once")
            t.ok(all(q["query"].get("per_page") == [str(per_page)] for q in m.requests()),
                 "every page asked with the same per_page")

        r = tool.run("find", "--key", "late-1", "--per-page", "10")
        t.ok(r["ok"] and r["ids"] == last, "lookup by idempotency key finds the device", diag=r)

        r = tool.run("list", "--per-page", "50")
        t.eq(266, r.get("count"), "an unfiltered listing sees every device of the project")

        # A server that fails in the middle of a listing: the page is retried, nothing is lost.
        m.fault(path=r"/devices$", method="GET", action="status", status=502, times=1)
        m.clear_requests()
        r = tool.run("list", "--tag", TAG, "--per-page", "100", "--retry-base-ms", "10")
        t.ok(r["ok"] and r["count"] == 251, "a 502 on one page is retried and the listing completes",
             diag={k: r.get(k) for k in ("ok", "count", "message")})

        # The page cap ends a listing that is longer than allowed, with an error instead of a partial list.
        r = tool.run("list", "--tag", TAG, "--per-page", "10", "--max-pages", "5")
        t.ok(not r["ok"] and r["code"] == "ENG_PROTOCOL" and "after 5 pages" in r["message"],
             "the page cap fails the listing instead of returning part of it", diag=r)
        t.eq([], m.violations(), "every answer matched the spec")


t.run("pages", main)
sys.exit(t.done())
