#!/usr/bin/env python3
"""API conformance bar: start sfnd, replay the AWS-recorded Step Functions API
call sequences of ../shared/conformance/api_cases.jsonl against it with
../shared/tools/score_api.py, and fail below the bars.

Figures, over the public checked calls (the scorer's defaults: cases AWS
validated; calls needing other services are not sent):
  response shapes  calls AWS answered: the same keys and JSON types here
  error types      calls AWS refused: the same error type here
  messages equal   of those, the same message (reported, not a bar)

Usage: api_conformance.py [SHARED_DIR]
Skips (exit 0 with a message) when the shared directory is not beside the clone.
"""
import json
import os
import subprocess
import sys
import tempfile

from sfnd_harness import Sfnd

SHAPE_BAR = float(os.environ.get("SFN_API_SHAPE_BAR", "95"))
ERROR_BAR = float(os.environ.get("SFN_API_ERROR_BAR", "95"))


def figures(cases_path, verdicts_path):
    expect = {}
    for line in open(cases_path):
        if line.strip():
            c = json.loads(line)
            for call in c["calls"]:
                expect[(c["id"], call["i"])] = call.get("expect") or {}
    shape = [0, 0]
    err = [0, 0]
    msg = [0, 0]
    for line in open(verdicts_path):
        case = json.loads(line)
        if case["split"] != "public":
            continue
        for r in case["calls"]:
            if not r.get("checked"):
                continue
            e = expect.get((case["id"], r["i"]), {})
            if "error" in e:
                err[1] += 1
                err[0] += bool(r["pass"])
                if "message_equal" in r:
                    msg[1] += 1
                    msg[0] += bool(r["message_equal"])
            else:
                shape[1] += 1
                shape[0] += bool(r["pass"])
    return shape, err, msg


def pct(x):
    return 100.0 * x[0] / x[1] if x[1] else 100.0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared")
    cases = os.path.join(shared, "conformance", "api_cases.jsonl")
    scorer = os.path.join(shared, "tools", "score_api.py")
    if not (os.path.exists(cases) and os.path.exists(scorer)):
        print(f"SKIP: {cases} not found (the conformance cases live in ../shared beside the clone, as in CI)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "verdicts.jsonl")
        with Sfnd() as s:
            p = subprocess.run([sys.executable, scorer, cases, "--endpoint", s.url, "--out", out],
                               capture_output=True, text=True, timeout=900)
        print(p.stdout)
        if p.returncode != 0 or not os.path.exists(out):
            print("scorer failed:", p.returncode, p.stderr[-2000:])
            return 1
        shape, err, msg = figures(cases, out)
    if shape[1] == 0 or err[1] == 0:
        print("no public calls scored")
        return 1
    print(f"response shapes: {shape[0]}/{shape[1]} ({pct(shape):.1f}%), bar {SHAPE_BAR}%")
    print(f"error types: {err[0]}/{err[1]} ({pct(err):.1f}%), bar {ERROR_BAR}%")
    print(f"error messages equal: {msg[0]}/{msg[1]} ({pct(msg):.1f}%)")
    return 0 if pct(shape) >= SHAPE_BAR and pct(err) >= ERROR_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
