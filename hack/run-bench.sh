#!/usr/bin/env bash
# run-bench.sh : run every benchmark in build/release/bench/. Each prints its own rates and the
# ratio against a baseline measured in the same run (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export EQXM_ROOT=$PWD EQXM_BIN=$PWD/bin/gardener-extension-provider-equinix-metal
found=0
for b in build/release/bench/*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  found=1
  echo "== bench $(basename "$b")"
  "$b"
done
for b in test/bench/*.sh test/bench/*.py; do
  [ -x "$b" ] || continue
  found=1
  echo "== bench $(basename "$b")"
  "$b"
done
[ $found = 1 ] || { echo "run-bench: no benchmarks found" >&2; exit 1; }
