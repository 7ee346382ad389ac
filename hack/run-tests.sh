#!/usr/bin/env bash
# run-tests.sh VARIANT : run every test of one build variant (release|asan) through prove.
# C unit tests are build/VARIANT/test/unit/*; integration tests are test/integration/*.t
# (executables printing TAP). Each test runs under a timeout (EQXM_TEST_TIMEOUT, default 300 s).
set -uo pipefail
variant=${1:-release}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export EQXM_ROOT=$root
export EQXM_VARIANT=$variant
export EQXM_BUILD=$root/build/$variant
if [ "$variant" = release ]; then
  export EQXM_BIN=$root/bin/gardener-extension-provider-equinix-metal
else
  export EQXM_BIN=$root/build/$variant/bin/gardener-extension-provider-equinix-metal
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=24}
export PYTHONDONTWRITEBYTECODE=1

tests=()
for t in "$EQXM_BUILD"/test/unit/*; do
  [ -x "$t" ] && [ -f "$t" ] && [[ "$t" != *.d ]] && tests+=("$t")
done
for t in test/integration/*.t; do
  [ -e "$t" ] && tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
  echo "run-tests: no tests found" >&2
  exit 1
fi
echo "== $variant: ${#tests[@]} test files"
jobs=${EQXM_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
prove -j"$jobs" --timer --exec "$root/hack/test-wrap.sh" "${tests[@]}"
