"""Fault rules and the server-side rate limiter of the test Metal API.

A fault rule matches requests by method, a regular expression searched in the path after
/metal/v1 (no query string) and, when `body_match` is set, a regular expression searched in the raw
request body. Rules are tried in the order they were added; the first one that matches
and still has `times` left fires and loses one use (`times: -1` never runs out).
"""
import itertools
import math
import re
import threading
import time

ACTIONS = ("status", "reset", "hang", "delay", "lose_response", "html", "truncate")
_ids = itertools.count(1)


class FaultError(ValueError):
    """A rule that cannot be used; the message says which field is wrong."""


def _regex(field, pattern):
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as e:
        raise FaultError(f"{field} is not a valid regular expression: {e}") from None


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise FaultError("a fault rule must be a JSON object")
        self.method = spec.get("method")
        if self.method is not None:
            if not isinstance(self.method, str):
                raise FaultError("method must be a string or null")
            self.method = self.method.upper()
        path = spec.get("path", ".*")
        if path is None:
            path = ".*"
        self.path_re = _regex("path", path)
        self.path = path
        self.body_match = spec.get("body_match")
        self.body_re = _regex("body_match", self.body_match) if self.body_match is not None else None
        self.action = spec.get("action", "status")
        if self.action not in ACTIONS:
            raise FaultError(f"action must be one of {', '.join(ACTIONS)}")
        default_status = {"html": 502, "truncate": 200}.get(self.action, 500)
        self.status = spec.get("status") if spec.get("status") is not None else default_status
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise FaultError("status must be an HTTP status code")
        self.retry_after = spec.get("retry_after")
        if self.retry_after is None and self.status == 429:
            self.retry_after = 1
        if self.retry_after is not None and not isinstance(self.retry_after, (int, float)):
            raise FaultError("retry_after must be a number of seconds or null")
        self.ratelimit_reset = spec.get("ratelimit_reset")
        self.body = spec.get("body")
        self.delay_ms = spec.get("delay_ms")
        if self.delay_ms is None:
            self.delay_ms = 1000 if self.action == "delay" else None
        if self.delay_ms is not None and (not isinstance(self.delay_ms, (int, float)) or self.delay_ms < 0):
            raise FaultError("delay_ms must be a non-negative number")
        self.times = spec.get("times", 1)
        if not isinstance(self.times, int) or self.times == 0 or self.times < -1:
            raise FaultError("times must be a positive count or -1 (forever)")
        self.id = str(next(_ids))
        self.hits = 0

    def matches(self, method, path, body_text=""):
        return ((self.method is None or self.method == method) and self.path_re.search(path) is not None
                and (self.body_re is None or self.body_re.search(body_text) is not None))

    def to_json(self):
        return {"id": self.id, "method": self.method, "path": self.path, "body_match": self.body_match, "action": self.action,
                "status": self.status, "retry_after": self.retry_after,
                "ratelimit_reset": self.ratelimit_reset, "body": self.body, "delay_ms": self.delay_ms,
                "times": self.times, "hits": self.hits}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, spec):
        rule = Rule(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self):
        with self._lock:
            self._rules = []

    def list(self):
        with self._lock:
            return [r.to_json() for r in self._rules]

    def take(self, method, path, body_text=""):
        """The first matching rule with uses left (one use is consumed), or None."""
        with self._lock:
            for r in self._rules:
                if r.times != 0 and r.matches(method, path, body_text):
                    if r.times > 0:
                        r.times -= 1
                    r.hits += 1
                    return r
        return None


class RateLimiter:
    """Token buckets (one per API token) refilled at `rps` tokens per second up to `burst`."""

    def __init__(self):
        self._lock = threading.Lock()
        self.rps = None
        self.burst = None
        self._buckets = {}

    def configure(self, rps, burst):
        with self._lock:
            self.rps = rps
            self.burst = burst
            self._buckets = {}

    def active(self):
        return self.rps is not None

    def take(self, key):
        """(allowed, headers): consume one token for `key`; headers carry X-RateLimit-* (and Retry-After)."""
        with self._lock:
            if self.rps is None:
                return True, {}
            now = time.monotonic()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rps)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            full_in = (self.burst - tokens) / self.rps if self.rps > 0 else 3600.0
            headers = {
                "X-RateLimit-Limit": str(int(self.burst)),
                "X-RateLimit-Remaining": str(int(math.floor(tokens))),
                "X-RateLimit-Reset": str(int(math.ceil(time.time() + full_in))),
            }
            if not allowed:
                wait = (1.0 - tokens) / self.rps if self.rps > 0 else 3600.0
                headers["Retry-After"] = str(max(1, int(math.ceil(wait))))
            return allowed, headers
