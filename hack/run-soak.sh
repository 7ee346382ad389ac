#!/usr/bin/env bash
# run-soak.sh : long-running soak tests (test/soak/*.t), each under a generous timeout.
set -uo pipefail
cd "$(dirname "$0")/.."
export EQXM_ROOT=$PWD EQXM_VARIANT=release EQXM_BUILD=$PWD/build/release
export EQXM_BIN=$PWD/bin/gardener-extension-provider-equinix-metal
export EQXM_TEST_TIMEOUT=${EQXM_TEST_TIMEOUT:-3600}
shopt -s nullglob
soaks=(test/soak/*.t)
[ ${#soaks[@]} -gt 0 ] || { echo "run-soak: no soak tests found" >&2; exit 1; }
prove --timer --exec "$PWD/hack/test-wrap.sh" "${soaks[@]}"
