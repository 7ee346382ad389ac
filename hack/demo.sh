#!/usr/bin/env bash
# make demo: see test/lib/demo.py (the whole lifecycle on loopback test servers; journal in ./demo/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$root/test/lib/demo.py" "$@"
