#!/usr/bin/env bash
# check-src.sh [ROOT] : source rules that a compiler does not enforce. Prints every violation and
# exits 1 if any.
#
#  Banned functions in the C sources under engine/, providers/, webhook/ and test/: strcpy, strcat,
#  sprintf, vsprintf (no bound: use snprintf, memcpy with a known length, or struct buf), gets
#  (no bound at all), atoi, atol, atoll (no error report and undefined behaviour on overflow:
#  use strtol/strtoll with a check, or cli.h's parsers), strtok (hidden global state: use strtok_r
#  or strchr). Comments and string literals are ignored.
set -uo pipefail
cd "${1:-$(dirname "$0")/..}" || exit 2
find engine providers webhook test -name '*.[ch]' 2>/dev/null | sort | python3 -c '
import re, sys
BANNED = "strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok"
pat = re.compile(r"(?<![A-Za-z0-9_])(" + BANNED + r")\s*\(")
# comments, then string and character literals; each is blanked keeping its newlines
tok = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|\x27(?:\\.|[^\x27\\\n])*\x27", re.S)
bad = 0
for path in sys.stdin.read().split():
    src = open(path, encoding="utf-8", errors="replace").read()
    code = tok.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), src)
    lines = src.split("\n")
    for no, line in enumerate(code.split("\n"), 1):
        m = pat.search(line)
        if m:
            print(f"check-src: {path}:{no}: {m.group(1)}() is banned: {lines[no - 1].strip()}")
            bad = 1
sys.exit(bad)
'
