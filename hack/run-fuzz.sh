#!/usr/bin/env bash
# run-fuzz.sh SECONDS : build every test/fuzz/*_fuzz.c with libFuzzer and run each for SECONDS.
# Seeds come from test/fuzz/corpus/<target>/ when present; new inputs go to build/fuzz/corpus/<target>/.
# A crash leaves its input as build/fuzz/crash-<target>-* and fails the run.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
make --no-print-directory fuzz-build
status=0
for bin in build/fuzz/fuzz/*_fuzz; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  seeds=()
  [ -d "test/fuzz/corpus/$name" ] && seeds+=("test/fuzz/corpus/$name")
  echo "== fuzz $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$name-" \
       "$corpus" "${seeds[@]}" 2>&1 | tail -n 12; then
    status=1
  fi
done
exit $status
