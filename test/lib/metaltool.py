"""Run test/tools/metal-tool (the Equinix Metal client's test driver) against a MetalAPI.

    from metaltool import MetalTool
    tool = MetalTool(m)                         # m: a running metalapi.MetalAPI
    r = tool.run("ensure", "--key", "k1", ...)  # last JSON line of stdout as a dict
    r["ok"], tool.last.stdout, tool.last.stderr, tool.outputs (every stdout+stderr so far)
    p = tool.start_poll("--ns", "shoot--a--b")  # a Poll: p.events(), p.wait_for(pred), p.stop()

The API token goes to the tool through the environment (METAL_TOKEN), never on the command line.
"""
import json
import os
import queue
import subprocess
import threading
import time

BUILD = os.environ.get("EQXM_BUILD") or os.path.join(
    os.environ.get("EQXM_ROOT", "."), "build", "release")
TOOL = os.path.join(BUILD, "test", "tools", "metal-tool")


def parse_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


class MetalTool:
    def __init__(self, m, token=None, project=None, ca=...):
        self.m = m
        self.env = dict(os.environ)
        self.env["METAL_URL"] = m.url
        self.env["METAL_PROJECT"] = project or m.project
        self.env["METAL_TOKEN"] = token or m.token
        ca = m.ca if ca is ... else ca
        if ca:
            self.env["METAL_CA"] = ca
        else:
            self.env.pop("METAL_CA", None)
        self.outputs = []
        self.last = None

    def run(self, *args, timeout=120):
        """Run one command; returns the last JSON line of stdout (a dict)."""
        p = subprocess.run([TOOL, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        self.last = p
        self.outputs.append(p.stdout + p.stderr)
        lines = parse_lines(p.stdout)
        if not lines:
            raise RuntimeError(f"metal-tool {args} printed no JSON (exit {p.returncode}):\n"
                               f"{p.stdout}\n{p.stderr}")
        res = lines[-1]
        res["_exit"] = p.returncode
        return res

    def start_poll(self, *args):
        return Poll(self, list(args))


class Poll:
    """metal-tool poll running in the background; stdin open until stop()."""

    def __init__(self, tool, args):
        self.tool = tool
        self.proc = subprocess.Popen([TOOL, "poll", *args], env=tool.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.q = queue.Queue()
        self.err = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._te = threading.Thread(target=self._read_err, daemon=True)
        self._te.start()
        self.returncode = None

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line)

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)

    def _drain(self, timeout=0.0):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            return False
        line = line.strip()
        if line.startswith("{"):
            self.lines.append(json.loads(line))
        return True

    def events(self):
        while self._drain():
            pass
        return [x["event"] for x in self.lines if "event" in x]

    def polls(self):
        while self._drain():
            pass
        ticks = [x["tick"]["polls"] for x in self.lines if "tick" in x]
        return ticks[-1] if ticks else 0

    def unchanged(self):
        """Devices left unparsed as unchanged so far (the last tick's count)."""
        while self._drain():
            pass
        ticks = [x["tick"].get("unchanged", 0) for x in self.lines if "tick" in x]
        return ticks[-1] if ticks else 0

    def ticks(self):
        """(polls, unchanged) of every tick so far."""
        while self._drain():
            pass
        return [(x["tick"]["polls"], x["tick"].get("unchanged", 0)) for x in self.lines if "tick" in x]

    def wait_for(self, pred, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self):
                return True
            self._drain(timeout=0.05)
        raise TimeoutError(f"poller: timed out waiting for {what}; events so far: "
                           f"{json.dumps(self.events())[:3000]}; stderr: {''.join(self.err)[-2000:]}")

    def wait_polls(self, n, timeout=30):
        start = self.polls()
        self.wait_for(lambda p: p.polls() >= start + n, timeout, f"{n} more polls")

    def kick(self):
        self.proc.stdin.write("k\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.returncode is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.returncode = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.returncode = self.proc.wait()
            self._t.join(5)
            self._te.join(5)
            self.events()
            self.tool.outputs.append("\n".join(json.dumps(x) for x in self.lines) + "".join(self.err))
        return self.returncode
