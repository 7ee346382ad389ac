#!/usr/bin/env bash
# check-deps.sh : the layering rules, made mechanical. Prints every violation and exits 1 if any.
#
#  1. engine/ knows nothing of Equinix Metal or of webhooks: no include of providers/ or webhook/
#     headers and no mention of "equinix" in engine code.
#  2. Reducers are pure. Pure code is selected by folder: engine/decide/ and providers/*/controllers/.
#     It includes only pure headers (the helpers of hack/pure-helpers.txt, engine/decide/,
#     engine/journal/event.h, providers/*/controllers/, and C headers without I/O or clock) and
#     calls no clock, random or I/O function: by name here, and by the symbols its objects import
#     (hack/check-purity.sh, against the allow-list hack/pure-symbols.txt).
#  3. webhook/ is the generic admission framework: it includes nothing from providers/. Provider
#     code includes webhook/ headers only where it builds on the framework, i.e. under
#     providers/*/webhook/ (and main.c, the composition root).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "${1:-$(dirname "$0")/..}"
bad=0
complain() { echo "check-deps: $*"; bad=1; }
tmpinc=$(mktemp)
trap 'rm -f "$tmpinc"' EXIT

while IFS= read -r f; do
  grep -nE '#include[[:space:]]+"(providers|webhook)/' "$f" | while IFS= read -r l; do
    echo "check-deps: $f:$l: engine/ must not include provider or webhook headers"; done
  if grep -qiE '#include[[:space:]]+"(providers|webhook)/' "$f"; then bad=1; fi
  if grep -niq 'equinix' "$f"; then
    complain "$f: engine/ must not know Equinix Metal (found: $(grep -ni 'equinix' "$f" | head -1))"
  fi
done < <(find engine -name '*.[ch]' | sort)

forbidden_inc='#include[[:space:]]*[<"]([^">]*/)?(sqlite3\.h|curl/|ev\.h|gnutls/|yaml\.h|unistd\.h|fcntl\.h|sys/|time\.h|pthread\.h|clock\.h|log\.h|http\.h|journal\.h|store\.h|executor\.h|dirent\.h|signal\.h)'
forbidden_call='(^|[^A-Za-z0-9_])(time|clock_gettime|gettimeofday|rand|random|srand|srandom|drand48|getenv|fopen|open|read|write|printf|fprintf|puts|system|clock_now_ms|clock_mono_ms|sleep|usleep)[[:space:]]*\('
while IFS= read -r f; do
  if grep -nE "$forbidden_inc" "$f" >/dev/null; then
    complain "$f: a reducer includes an I/O or clock header: $(grep -nE "$forbidden_inc" "$f" | head -1)"
  fi
  # Strip comments and string literals crudely before looking for calls.
  if sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's/"[^"]*"//g' "$f" | grep -nE "$forbidden_call" >/dev/null; then
    complain "$f: a reducer calls an I/O, clock or random function: $(sed -e 's/"[^"]*"//g' "$f" | grep -nE "$forbidden_call" | head -1)"
  fi
  grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r l; do
    h=$(echo "$l" | sed -E 's/.*include[[:space:]]*[<"]([^">]*)[">].*/\1/')
    case "$h" in
    engine/base/common.h | engine/decide/*.h | engine/journal/event.h | providers/*/controllers/*.h) ;;
    assert.h | ctype.h | errno.h | float.h | inttypes.h | limits.h | math.h | stdarg.h | stdbool.h | \
      stddef.h | stdint.h | stdio.h | stdlib.h | string.h | strings.h | jansson.h) ;;
    engine/base/*.h)
      grep -qx "${h%.h}.c" "$here/pure-helpers.txt" ||
        echo "check-deps: $f:${l%%:*}: a reducer includes $h, which is not a pure helper (hack/pure-helpers.txt)" ;;
    *) echo "check-deps: $f:${l%%:*}: a reducer includes $h, which is not pure" ;;
    esac
  done > "$tmpinc"
  if [ -s "$tmpinc" ]; then cat "$tmpinc"; bad=1; fi
done < <(find engine/decide providers/*/controllers -name '*.[ch]' 2>/dev/null | sort)
if ! "$here/check-purity.sh" .; then bad=1; fi

while IFS= read -r f; do
  [ "$f" = providers/equinix-metal/main.c ] && continue
  case "$f" in providers/*/webhook/*) continue ;; esac
  if grep -nE '#include[[:space:]]+"webhook/' "$f" >/dev/null; then complain "$f: only providers/*/webhook/ may include webhook headers"; fi
done < <(find providers -name '*.[ch]' | sort)
while IFS= read -r f; do
  if grep -nE '#include[[:space:]]+"providers/' "$f" >/dev/null; then complain "$f: webhook must not include provider headers"; fi
done < <(find webhook -name '*.[ch]' 2>/dev/null | sort)

exit $bad
