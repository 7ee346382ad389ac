#!/usr/bin/env bash
# The layering rules of docs/architecture.md hold (hack/check-deps.sh), and the checker itself
# catches planted violations (in a scratch copy of the tree).
set -u
cd "${EQXM_ROOT:-.}"
echo "1..3"
if out=$(hack/check-deps.sh 2>&1); then echo "ok 1 - layering rules hold"; else
  echo "not ok 1 - layering rules hold"; echo "$out" | sed 's/^/# /'; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r engine providers "$tmp"/ && mkdir -p "$tmp/webhook"
printf '#include <time.h>\nint reduce_zz(void) { return (int)time(0); }\n' > "$tmp/engine/decide/zz.c"
if hack/check-deps.sh "$tmp" >/dev/null 2>&1; then echo "not ok 2 - a clock call in a reducer is caught"; else
  echo "ok 2 - a clock call in a reducer is caught"; fi
rm -f "$tmp/engine/decide/zz.c"
printf '#include "webhook/server.h"\n' > "$tmp/engine/zz.c"
if hack/check-deps.sh "$tmp" >/dev/null 2>&1; then echo "not ok 3 - engine including webhook is caught"; else
  echo "ok 3 - engine including webhook is caught"; fi
