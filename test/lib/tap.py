"""Tiny TAP producer for Python integration tests (run by prove).

    from tap import Tap
    t = Tap()
    t.ok(cond, "name", diag="why it failed")
    t.eq(expected, actual, "name")
    sys.exit(t.done())

A test that raises is reported as one failed test with the traceback as diagnostics.
"""
import sys
import traceback


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            if diag:
                for line in str(diag).splitlines():
                    print(f"# {line}", flush=True)
        return bool(cond)

    def eq(self, expected, actual, name):
        return self.ok(expected == actual, name, diag=f"expected: {expected!r}\n     got: {actual!r}")

    def diag(self, msg):
        for line in str(msg).splitlines():
            print(f"# {line}", flush=True)

    def run(self, name, fn, *args, **kwargs):
        """Run fn; an exception counts as one failure named `name`."""
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - report everything as TAP
            self.ok(False, name, diag=traceback.format_exc())
            return None

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed or self.n == 0 else 0
