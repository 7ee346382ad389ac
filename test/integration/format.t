#!/usr/bin/env bash
# Every C file is formatted as .clang-format says (make format fixes it).
cd "${EQXM_ROOT:-.}" || exit 1
echo "1..1"
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find engine providers webhook test -name '*.[ch]')
if out=$(clang-format --dry-run --Werror $files 2>&1); then
  echo "ok 1 - all C files are clang-formatted"
else
  echo "not ok 1 - all C files are clang-formatted (run make format)"
  echo "$out" | grep -o '^[^:]*' | sort -u | sed 's/^/# /'
fi
