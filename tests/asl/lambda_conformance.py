#!/usr/bin/env python3
"""The AWS-recorded executions that call Lambda (lambda_cases.jsonl), run with
`sfn run --template`: for each case a template declares its functions (the
names the case uses, in the recording's account 111111111111) with the C
equivalent of its handler (tests/lambda_fixtures/conformance_fn.c), and the
result is compared with what AWS returned (shared/tools/compare.py).

Usage: lambda_conformance.py SFN CONFORMANCE_FN_BOOTSTRAP [SHARED_DIR]
Skips (exit 0 with a message) when ../shared/conformance is not beside the clone.
Fails below the bar; prints every failing case.
"""
import concurrent.futures, json, os, subprocess, sys, tempfile

BAR = 70.0  # of the cases. The rest compare a Python runtime's own text: its
            # stack traces inside error causes, and Content-Length headers of
            # Python's spaced JSON; a C function cannot produce them.


def template(lambdas):
    res = []
    for i, l in enumerate(lambdas):
        handler = os.path.basename(l["handler_file"])[:-3]
        res.append(f"""  Fn{i}:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: {l['name']}
      Handler: {handler}
      Runtime: provided.al2023
      CodeUri: .
      Timeout: 70
""")
    return ("AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\nResources:\n"
            + "".join(res) + ("" if res else "  Nothing:\n    Type: AWS::SNS::Topic\n"))


def run_case(sfn, fn, c):
    with tempfile.TemporaryDirectory(prefix="lambda-conf-") as d:
        for i, _ in enumerate(c.get("lambdas") or []):
            os.makedirs(os.path.join(d, "build", f"Fn{i}"))
            os.symlink(fn, os.path.join(d, "build", f"Fn{i}", "bootstrap"))
        with open(os.path.join(d, "template.yaml"), "w") as f:
            f.write(template(c.get("lambdas") or []))
        with open(os.path.join(d, "def.json"), "w") as f:
            json.dump(c["definition"], f)
        with open(os.path.join(d, "input.json"), "w") as f:
            json.dump(c.get("input", {}), f)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SFN_ACCOUNT": "111111111111",
               "SFN_DATA": os.path.join(d, "data")}
        p = subprocess.run([sfn, "run", os.path.join(d, "def.json"), "--template", os.path.join(d, "template.yaml"),
                            "--input", os.path.join(d, "input.json"), "--history"],
                           capture_output=True, text=True, env=env, timeout=int(os.environ.get("CASE_TIMEOUT", "300")))
        if p.returncode == 2:
            err = json.loads(p.stderr.strip().splitlines()[-1]) if p.stderr.strip() else {}
            return {"status": "INVALID_DEFINITION", "error": err.get("__type"), "cause": err.get("message")}
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {"status": "CRASHED", "error": p.stderr[-500:]}


def main():
    sfn, fn = sys.argv[1], os.path.abspath(sys.argv[2])
    shared = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
    path = os.path.join(shared, "conformance", "lambda_cases.jsonl")
    if not os.path.exists(path):
        print(f"SKIP: {path} not found (the conformance cases live in ../shared beside the clone, as in CI)")
        return 0
    sys.path.insert(0, os.path.join(shared, "tools"))
    from compare import compare_result
    cases = [json.loads(l) for l in open(path) if l.strip()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: run_case(sfn, fn, c), cases))
    ok = hok = htot = 0
    for c, r in zip(cases, results):
        # values the recorder replaced by their own names (like "date")
        toks = [x[-1] for x in c.get("snapshot_replacements") or []] + [
            "RequestId", "x-amzn-RequestId", "X-Amzn-Trace-Id"]
        res = compare_result(c["expected"], r, toks)
        core = res.get("error_only", res["verdict"]) if c["expected"].get("status") != "SUCCEEDED" else res["verdict"]
        passed = core in ("exact", "equivalent")
        ok += passed
        if "history_event_types" in c["expected"]:
            htot += 1
            hok += res.get("history_types") == "same-sequence"
        if not passed:
            print(f"  fail: {c['id']}: got {r.get('status')} {r.get('error')}; expected "
                  f"{c['expected'].get('status')} {c['expected'].get('error')}")
    pct = 100.0 * ok / len(cases)
    print(f"Lambda cases: {ok}/{len(cases)} pass ({pct:.1f}%), bar {BAR}%; history sequences equal: {hok}/{htot}")
    good = pct >= BAR
    print(f"{int(good)} passed, {int(not good)} failed")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
