#!/usr/bin/env python3
"""TestState conformance bar: start sfnd, run ../shared/tools/score_test_state.py
(the AWS-recorded TestState calls of ../shared/conformance/test_state_cases.jsonl)
against it, and fail below the bar (95% of the public cases pass).

Usage: test_state_conformance.py [SHARED_DIR]
Skips (exit 0 with a message) when the shared directory is not beside the clone.
The scorer leaves out what it leaves out by default (cases AWS never validated,
and those needing a real function named by the recording).
"""
import os
import re
import subprocess
import sys

from sfnd_harness import Sfnd

BAR = 95.0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared")
    cases = os.path.join(shared, "conformance", "test_state_cases.jsonl")
    scorer = os.path.join(shared, "tools", "score_test_state.py")
    if not (os.path.exists(cases) and os.path.exists(scorer)):
        print(f"SKIP: {cases} not found (the conformance cases live in ../shared beside the clone, as in CI)")
        return 0
    with Sfnd() as s:
        p = subprocess.run([sys.executable, scorer, cases, "--endpoint", s.url], capture_output=True, text=True,
                           timeout=900)
    print(p.stdout)
    if p.returncode != 0:
        print("scorer failed:", p.returncode, p.stderr[-2000:])
        return 1
    m = re.search(r"^public: (\d+)/(\d+)", p.stdout, re.M)
    if not m or int(m.group(2)) == 0:
        print("no public cases scored")
        return 1
    ok, tot = int(m.group(1)), int(m.group(2))
    pct = 100.0 * ok / tot
    print(f"TestState public cases: {ok}/{tot} ({pct:.1f}%), bar {BAR}%")
    return 0 if pct >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
