#!/usr/bin/env bash
# check-purity.sh [ROOT] : the symbol check of pure code, after SQLite's checksymbols.
#
# Pure code (every .c under engine/decide/ and providers/*/controllers/) and the engine/base helpers
# reducers call (hack/pure-helpers.txt) are compiled without builtins, so every library call stays a
# call, and the symbols their objects import (nm -u) that none of them defines must be listed in
# hack/pure-symbols.txt (computation only: jansson, string and memory functions, allocation,
# SHA-256 and base64 by GnuTLS). A clock, random, environment, file or journal call, however it is
# spelt in the source ((rand)(), a macro, a function pointer taken by name), shows up here as an
# import that is not on the list. Prints every violation and exits 1 if any.
set -uo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd) || exit 2
here=$(cd "$(dirname "$0")" && pwd)
allow=${EQXM_PURE_SYMBOLS:-$here/pure-symbols.txt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 2
srcs=$( (find engine/decide providers/*/controllers -name '*.c' 2>/dev/null
  grep -v '^#' "$here/pure-helpers.txt" | sed '/^$/d') | sort -u)
cflags=(-std=c11 -D_GNU_SOURCE -DEQXM_VERSION='"0"' -DPROG_NAME='"pure"' -O0 -fno-builtin -w -I.
  $(pkg-config --cflags jansson gnutls 2>/dev/null))
bad=0
compile() {
  local o=$tmp/$(echo "$1" | tr / _).o
  cc "${cflags[@]}" -c -o "$o" "$1" 2>"$o.err" || {
    echo "check-purity: $1 does not compile:"
    sed 's/^/  /' "$o.err"
    return 1
  }
}
pids=()
for src in $srcs; do
  compile "$src" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || bad=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || bad=1; done
[ $bad = 0 ] || exit 1
nm --defined-only -j "$tmp"/*.o 2>/dev/null | grep -v ':$' | sed '/^$/d' | sort -u > "$tmp/defined"
grep -v '^#' "$allow" | sed '/^[[:space:]]*$/d' > "$tmp/allow"
for src in $srcs; do
  o=$tmp/$(echo "$src" | tr / _).o
  # allowed here: every symbol listed alone, and those listed with this file
  awk -v f="$src" 'NF == 1 { print $1 } NF > 1 { for (i = 2; i <= NF; i++) if ($i == f) print $1 }' \
    "$tmp/allow" | sort -u > "$tmp/allowed"
  nm -u -j "$o" | sed '/^$/d' | sort -u | comm -23 - "$tmp/defined" | comm -23 - "$tmp/allowed" > "$tmp/extra"
  while IFS= read -r sym; do
    echo "check-purity: $src imports $sym, which pure code may not call (hack/pure-symbols.txt)"
    bad=1
  done < "$tmp/extra"
done
exit $bad
