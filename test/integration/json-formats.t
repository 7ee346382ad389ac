#!/usr/bin/env bash
# Every json_pack/json_unpack format in the tree matches the arguments of its call
# (hack/check-json-formats.py), and the checker catches planted mismatches.
set -u
cd "${EQXM_ROOT:-.}"
echo "1..5"
if out=$(python3 hack/check-json-formats.py . 2>&1); then
  echo "ok 1 - every json_pack/json_unpack format matches its arguments ($(python3 hack/check-json-formats.py . -v | grep -c ': ok') calls)"
else echo "not ok 1 - every json_pack/json_unpack format matches its arguments"; echo "$out" | sed 's/^/# /'; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plant() { # NAME SHOULD-FAIL(1/0) C-TEXT
  printf '%s\n' "$3" > "$tmp/zz.c"
  if python3 hack/check-json-formats.py . "$tmp/zz.c" > "$tmp/out" 2>&1; then r=0; else r=1; fi
  if [ "$r" = "$2" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; sed 's/^/# /' "$tmp/out"; fi
  n=$((n + 1))
}
n=2
plant 'six pairs packed with a five-pair format are caught (the old respond_status)' 1 \
  'json_t *f(int c) { return json_pack("{s:s,s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
  "status", "Failure", "message", "m", "reason", "BadRequest", "code", c); }'
plant 'an unpack with one pointer too few is caught' 1 \
  'int f(json_t *o, const char **a, int *b) { return json_unpack(o, "{s:s, s?i, s:b}", "a", a, "b", b, "c"); }'
plant 'a format that is not a literal is reported' 1 \
  'json_t *f(const char *fmt) { return json_pack(fmt, 1); }'
plant 's#, s+, o?, n, ! and nested objects are counted right' 0 \
  'json_t *f(const char *s, int n, json_t *o, json_t *r, const char **x, size_t *l) {
  json_unpack(r, "{s:s%, s?{s:o}, !}", "a", x, l, "b", "c", &o);
  return json_pack_ex(0, 0, "{s:s#, s:s++, s:o?, s:n, s:[i,I,f,b]}", "a", s, n, "b", s, s, s,
                      "c", o, "d", "e", 1, (json_int_t)2, 3.0, 1); }'
