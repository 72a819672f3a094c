#!/usr/bin/env python3
"""Conformance bar: run the AWS-recorded cases through `sfn run --jsonl` and fail
below the bar (97% of JSONPath cases pass; 95% of recorded history sequences equal).

Usage: conformance.py SFN_BINARY [SHARED_DIR]
Skips (exit 0 with a message) when ../shared/conformance is not beside the clone.

JSONPath and JSONata cases are counted separately; both are held to the bar.
"""
import json, os, subprocess, sys, tempfile

PASS_BAR = 97.0
HIST_BAR = 95.0


def main():
    sfn = sys.argv[1]
    shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    cases_path = os.path.join(shared, "conformance", "cases.jsonl")
    if not os.path.exists(cases_path):
        print(f"SKIP: {cases_path} not found (the conformance cases live in ../shared beside the clone, as in CI)")
        return 0
    sys.path.insert(0, os.path.join(shared, "tools"))
    from compare import compare_result

    cases = [json.loads(l) for l in open(cases_path) if l.strip()]
    # every case: JSONPath ones (the bar) and JSONata ones (reported, and held
    # to the same bar once the engine speaks JSONata)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as t:
        for c in cases:
            t.write(json.dumps({"id": c["id"], "definition": c["definition"], "input": c.get("input", {})}) + "\n")
    try:
        out = subprocess.run([sfn, "run", "--jsonl", t.name, "--history"], capture_output=True, text=True,
                             timeout=600)
    finally:
        os.unlink(t.name)
    if out.returncode != 0:
        print("sfn run --jsonl failed:", out.returncode, out.stderr[-2000:])
        return 1
    results = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        results[r["id"]] = r
    ok = tot = hok = htot = 0
    mixed_ok = mixed_tot = 0
    failures = []
    for c in cases:
        mixed = "jsonata" in c.get("features", [])
        r = results.get(c["id"])
        res = compare_result(c["expected"], r or {}, [x[-1] for x in c.get("snapshot_replacements") or []])
        core = res.get("error_only", res["verdict"]) if c["expected"].get("status") != "SUCCEEDED" else res["verdict"]
        passed = r is not None and core in ("exact", "equivalent")
        if "history_event_types" in c["expected"]:
            htot += 1
            hok += res.get("history_types") == "same-sequence"
        if not passed:
            failures.append(c["id"])
        if mixed:
            mixed_tot += 1
            mixed_ok += passed
            continue
        tot += 1
        ok += passed
    pct = 100.0 * ok / tot
    hpct = 100.0 * hok / htot
    print(f"JSONPath cases: {ok}/{tot} pass ({pct:.1f}%), bar {PASS_BAR}%")
    print(f"history sequences equal (all cases that record them): {hok}/{htot} ({hpct:.1f}%), bar {HIST_BAR}%")
    print(f"JSONata cases: {mixed_ok}/{mixed_tot} pass")
    for f in failures:
        print("  fail:", f)
    good = pct >= PASS_BAR and hpct >= HIST_BAR and 100.0 * mixed_ok / max(mixed_tot, 1) >= PASS_BAR
    print(f"{int(good)} passed, {int(not good)} failed")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
