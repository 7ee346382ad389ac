#!/usr/bin/env bash
# test-wrap.sh TEST : run one test file for prove, under a timeout, from the repository root.
cd "${EQXM_ROOT:-$(dirname "$0")/..}" || exit 1
exec timeout -k 10 "${EQXM_TEST_TIMEOUT:-300}" "$1"
