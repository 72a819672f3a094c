#!/usr/bin/env python3
"""code_shape.py - the size rules of docs/architecture.md, checked.

No C source file under src/ or functions/ above 1,500 lines, and no
function above 120 lines, except the ones named in EXCEPTIONS (a
parser's dispatch table and the like; each is named in
docs/architecture.md). A function is what runs from a line opening at
column 0 with '{' (after a signature) to the next line that is '}'.

  scripts/code_shape.py [--list N]   exit 1 when a rule is broken;
                                     --list N prints functions over N lines
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("src", "functions")
MAX_FILE = 1500
MAX_FUNC = 120
# "file:function" allowed above MAX_FUNC lines, each explained in
# docs/architecture.md.
EXCEPTIONS = set()

SIG = re.compile(r"^[A-Za-z_][\w \*]*?\b(\w+)\s*\(")


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    out = []
    name, start = None, None
    for i, line in enumerate(lines):
        if start is None:
            if line.startswith("{"):
                # walk back to the signature
                j = i - 1
                while j >= 0 and lines[j] and not SIG.match(lines[j]):
                    j -= 1
                m = SIG.match(lines[j]) if j >= 0 else None
                if m and "=" not in lines[j]:
                    name, start = m.group(1), i
        elif line.startswith("}"):
            out.append((name, start + 1, i - start + 1))
            name, start = None, None
    return len(lines), out


def main():
    listn = None
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        listn = int(sys.argv[2])
    bad = 0
    for d in DIRS:
        for dp, _, fs in os.walk(os.path.join(ROOT, d)):
            for fn in sorted(fs):
                if not fn.endswith(".c"):
                    continue
                p = os.path.join(dp, fn)
                rel = os.path.relpath(p, ROOT)
                n, funcs = functions(p)
                if n > MAX_FILE:
                    print(f"{rel}: {n} lines (max {MAX_FILE})")
                    bad += 1
                for name, line, ln in funcs:
                    key = f"{fn}:{name}"
                    if listn is not None and ln > listn:
                        print(f"{rel}:{line}: {name} {ln} lines")
                    elif ln > MAX_FUNC and key not in EXCEPTIONS:
                        print(f"{rel}:{line}: function {name} is {ln} lines (max {MAX_FUNC})")
                        bad += 1
    if listn is None:
        print(f"code_shape: {'ok' if bad == 0 else str(bad) + ' rule(s) broken'}")
    return 1 if bad and listn is None else 0


if __name__ == "__main__":
    sys.exit(main())
