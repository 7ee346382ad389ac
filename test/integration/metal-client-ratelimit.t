#!/usr/bin/env python3
"""The Equinix Metal client respects rate limits: its own token bucket caps its request rate, and a
429 pauses the whole client for at least Retry-After before it sends anything again. Checked with the
server's request log (arrival times on CLOCK_MONOTONIC); only lower bounds on gaps are asserted."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from metalapi import MetalAPI  # noqa: E402
from metaltool import MetalTool  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
EPS = 0.005  # clock granularity between the two processes


def gaps_after_429(log):
    """(gap to the next request, retry_after) for every 429 answer followed by another request."""
    out = []
    for i, q in enumerate(log[:-1]):
        if q["status"] == 429:
            out.append(log[i + 1]["t"] - q["t"])
    return out


def max_in_window(times, window):
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


def main():
    with MetalAPI(time_scale=100) as m:
        tool = MetalTool(m)
        did = m.seed(1, tags=["kubernetes.io/cluster/shoot--rl--a"])[0]

        # 1. The client's own cap: 4/s with a burst of 2, 12 concurrent reads. The server sees arrival
        #    times, which lag the send times by a latency that varies (new TLS connections), so the
        #    bounds leave half a second of slack; a client without the cap (or with twice the rate)
        #    still fails them.
        m.clear_requests()
        r = tool.run("gets", did, "--count", "12", "--rate", "4", "--burst", "2")
        t.ok(r["ok"], "12 reads succeed under the client's own cap", diag=r)
        log = [q for q in m.requests() if q["path"].startswith("/devices/")]
        t.eq(12, len(log), "12 requests reached the server")
        times = sorted(q["t"] for q in log)
        t.ok(times[-1] - times[0] >= (12 - 2) / 4.0 - 0.5, "12 requests at 4/s (burst 2) are spread "
             "over at least 2 s", diag=times[-1] - times[0])
        worst = max_in_window(times, 1.0)
        t.ok(worst <= 2 + 4 + 2, "no second holds more than burst + rate (+2 for latency jitter)",
             diag=worst)

        # 2. Server-side limit (2/s, burst 2) with one request at a time: every 429 is followed by a
        #    pause of at least its Retry-After (the server's is at least 1 s).
        m.clear_requests()
        m.rate_limit(2, burst=2)
        r = tool.run("gets", did, "--count", "8", "--rate", "50", "--burst", "10", "--inflight", "1",
                     "--ratelimit-retries", "20")
        m.rate_limit(None)
        t.ok(r["ok"], "8 reads succeed against a server limit of 2/s", diag=r)
        log = m.requests()
        limited = [q for q in log if q["status"] == 429]
        t.ok(len(limited) >= 1, "the server answered 429 at least once", diag=len(limited))
        t.ok(all(q.get("fault") == "rate_limit" for q in limited), "those were the server's limiter")
        gaps = gaps_after_429(log)
        t.ok(gaps and min(gaps) >= 1.0 - EPS, "after every 429 the client waited at least Retry-After "
             "(1 s)", diag=gaps)
        ok = [q for q in log if q["status"] == 200]
        t.eq(8, len(ok), "each read succeeded exactly once")

        # 3. Injected 429s with Retry-After: 2 while other requests are queued: the whole client
        #    pauses (no request of any kind in between), then all complete.
        m.clear_requests()
        m.fault(path=r"^/devices/", method="GET", action="status", status=429, retry_after=2, times=1)
        r = tool.run("gets", did, "--count", "6", "--rate", "50", "--burst", "10", "--inflight", "1")
        t.ok(r["ok"], "reads succeed after an injected 429", diag=r)
        log = m.requests()
        gaps = gaps_after_429(log)
        t.eq(1, len(gaps), "one 429 was answered")
        t.ok(gaps and gaps[0] >= 2.0 - EPS, "the next request came at least 2 s later", diag=gaps)

        # 4. Without retries left the error is classified and carries the wait.
        m.fault(path=r"^/devices/", method="GET", action="status", status=429, retry_after=3, times=1)
        r = tool.run("get", did, "--ratelimit-retries", "-1")
        t.ok(not r["ok"] and r["code"] == "ENG_RATELIMIT", "a 429 without retries left is ENG_RATELIMIT",
             diag=r)
        t.eq("ERR_INFRA_RATE_LIMITS_EXCEEDED", r.get("gardener_code"), "Gardener code for a 429")
        t.eq(3000, r.get("retry_after_ms"), "the error carries Retry-After")
        t.ok(r.get("retryable") is True, "a 429 is retryable")
        t.ok(all(m.token not in o for o in tool.outputs), "the API token never appears in the output")


t.run("ratelimit", main)
sys.exit(t.done())
