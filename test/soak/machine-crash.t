#!/usr/bin/env python3
"""SIGKILL of the machine controller at 50 random moments of a 20-machine rollout (and during the
deletion): no duplicate device, no orphan after delete, journal verify, replay --check (make soak)."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("EQXM_ROOT", "."), "test/lib"))
from machine_crash import run  # noqa: E402

run(int(os.environ.get("EQXM_CRASH_KILLS", "50")))
