#!/usr/bin/python3
"""check-json-formats.py [ROOT] [FILE...] : every jansson json_pack/json_unpack format string in the C
sources under engine/, providers/, webhook/ and test/ is counted against the arguments the call
passes (s 1, s# s% 2, each + 1 more string (+# +% 2), n 0, b i I f F o O 1; ? * ! and brackets 0).
Prints one line per call checked ("ok" or a mismatch) with -v, every mismatch otherwise; exits 1 on
any mismatch or on a format that is not a string literal."""
import os
import re
import sys

CALLS = {"json_pack": 0, "json_unpack": 1, "json_pack_ex": 2, "json_unpack_ex": 3}
# index of the format among the arguments
NAME = re.compile(r"(?<![A-Za-z0-9_])(json_pack_ex|json_unpack_ex|json_pack|json_unpack)\s*\(")
# string and character literals are matched (and kept) so that "//" or "/*" inside them is no comment
TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)


def split_args(src, i):
    """src[i] is just after '('; returns (list of argument texts, index after ')')."""
    args, depth, cur, j = [], 0, [], i
    while j < len(src):
        c = src[j]
        if c in "\"'":
            k = j + 1
            while k < len(src) and src[k] != c:
                k += 2 if src[k] == "\\" else 1
            cur.append(src[j:k + 1])
            j = k + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return args, j + 1
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            j += 1
            continue
        cur.append(c)
        j += 1
    raise ValueError("unterminated call")


def literal(text):
    """The value of a (possibly concatenated) string literal, or None."""
    parts = re.findall(r'"((?:\\.|[^"\\])*)"', text)
    rest = re.sub(r'"((?:\\.|[^"\\])*)"', "", text).strip()
    if not parts or rest:
        return None
    return "".join(parts).encode().decode("unicode_escape")


def count(fmt, unpack):
    n, i = 0, 0
    while i < len(fmt):
        c = fmt[i]
        i += 1
        if c in "{}[]:, \t\n!*?":
            continue
        if c == "s":
            n += 1
            if i < len(fmt) and fmt[i] in "#%":
                n += 1
                i += 1
            if not unpack:
                if i < len(fmt) and fmt[i] in "?*":
                    i += 1
                while i < len(fmt) and fmt[i] == "+":
                    n += 1
                    i += 1
                    if i < len(fmt) and fmt[i] in "#%":
                        n += 1
                        i += 1
            continue
        if c in "oO":
            n += 1
            if i < len(fmt) and fmt[i] in "?*":
                i += 1
            continue
        if c in "biIfF":
            n += 1
            continue
        if c == "n":
            continue
        raise ValueError(f"unknown format character {c!r} in {fmt!r}")
    return n


def check(path, verbose, out):
    src = open(path, encoding="utf-8", errors="replace").read()
    src = TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'" else re.sub(r"[^\n]", " ", m.group(0)), src)
    bad = 0
    for m in NAME.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        # skip declarations and the names in prose/macros: a call has a format argument
        try:
            args, _ = split_args(src, m.end())
        except ValueError:
            continue
        fi = CALLS[m.group(1)]
        if len(args) <= fi:
            continue
        fmt = literal(args[fi])
        where = f"{path}:{line}: {m.group(1)}"
        if fmt is None:
            if re.match(r"^(const\s+)?char\s*\*", args[fi]):  # a prototype
                continue
            out.append(f"{where}: the format is not a string literal ({args[fi][:40]}), cannot be checked")
            bad = 1
            continue
        try:
            want = count(fmt, "unpack" in m.group(1))
        except ValueError as e:
            out.append(f"{where}: {e}")
            bad = 1
            continue
        got = len(args) - fi - 1
        if want != got:
            out.append(f"{where}: format \"{fmt}\" takes {want} arguments, the call passes {got}")
            bad = 1
        elif verbose:
            out.append(f"{where}: ok \"{fmt}\" ({want} arguments)")
    return bad


def main(argv):
    verbose = "-v" in argv
    argv = [a for a in argv if a != "-v"]
    root = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    files = argv[1:]
    if not files:
        for top in ("engine", "providers", "webhook", "test"):
            for d, _, fs in os.walk(os.path.join(root, top)):
                files += [os.path.join(d, f) for f in fs if f.endswith(".c")]
    bad, out = 0, []
    for f in sorted(files):
        bad |= check(f, verbose, out)
    for line in out:
        print(line)
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
