#!/usr/bin/env python3
"""history_bench.py - GetExecutionHistory page time against the length of the
execution (issue 12: a page must cost what the page holds, not what the
execution holds).

Starts its own sfnd (temporary --data) on a free port and, for each size in
--events (default 1000 5000 10000 25000), runs one execution of about that
many events: an inline Map over N items whose processor is a Pass state
(4 events per item, all made in one step: the largest stored row there is)
or, with --shape loop, a Pass/Choice loop that counts to N (also one step,
with payloads that are references to the one before). Then it pages through
the whole history with maxResults=1000, forwards and in reverseOrder, with
includeExecutionData on, following the real nextTokens, and reports the
time of the first, the middle and the last page in each direction:

  shape events  fwd_first fwd_mid fwd_last  rev_first rev_mid rev_last (ms)

Near-flat columns down the sizes is the goal. Usage:
  bench/history_bench.py [--sfnd out/bin/sfnd] [--events 1000 5000 ...]
                         [--shape map|loop|both] [--keep]
"""
import argparse
import os as _os
import sys as _sys
_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import sfndproc  # noqa: E402
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEMPLATE = os.path.join(ROOT, "template.yaml")
ROLE = "arn:aws:iam::123456789012:role/bench"


free_port = sfndproc.free_port


def start_sfnd(binary, data, port):
    return sfndproc.start_sfnd(binary, TEMPLATE, data, port)


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, op, body):
        data = json.dumps(body).encode()
        self.c.request("POST", "/", body=data, headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AWSStepFunctions." + op})
        r = self.c.getresponse()
        text = r.read()
        if r.status != 200:
            raise SystemExit("%s: %d %s" % (op, r.status, text[:300]))
        return json.loads(text)


def map_machine():
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": None,
                    "ItemProcessor": {"StartAt": "Touch", "States": {
                        "Touch": {"Type": "Pass", "Parameters": {"i.$": "$.i", "k": "v"},
                                  "End": True}}},
                    "End": True}}}


def loop_machine():
    return {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Parameters": {"n": 0, "max.$": "$.max", "pad": "x" * 200},
                     "Next": "Inc"},
            "Inc": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "max.$": "$.max",
                                                   "pad.$": "$.pad"},
                    "Next": "More"},
            "More": {"Type": "Choice", "Choices": [
                {"Variable": "$.n", "NumericLessThanPath": "$.max", "Next": "Inc"}],
                "Default": "Done"},
            "Done": {"Type": "Succeed"}}}


def run_execution(cli, sm, shape, events):
    if shape == "map":
        n = max(1, (events - 6) // 4)
        inp = {"items": [{"i": i} for i in range(n)]}
    else:
        n = max(1, (events - 6) // 4)
        inp = {"max": n}
    x = cli.call("StartExecution", {"stateMachineArn": sm, "input": json.dumps(inp)})
    arn = x["executionArn"]
    for _ in range(6000):
        d = cli.call("DescribeExecution", {"executionArn": arn})
        if d["status"] != "RUNNING":
            break
        time.sleep(0.05)
    if d["status"] != "SUCCEEDED":
        raise SystemExit("execution ended %s: %s" % (d["status"], d.get("cause", "")[:300]))
    return arn


def walk(cli, arn, reverse):
    """Page through the history; returns ([ms per page], events seen)."""
    times, seen, tok = [], 0, None
    while True:
        req = {"executionArn": arn, "maxResults": 1000, "reverseOrder": reverse,
               "includeExecutionData": True}
        if tok:
            req["nextToken"] = tok
        t0 = time.perf_counter()
        r = cli.call("GetExecutionHistory", req)
        times.append((time.perf_counter() - t0) * 1e3)
        seen += len(r["events"])
        tok = r.get("nextToken")
        if not tok:
            return times, seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sfnd", default=os.path.join(ROOT, "out", "bin", "sfnd"))
    ap.add_argument("--events", type=int, nargs="+", default=[1000, 5000, 10000, 25000])
    ap.add_argument("--shape", choices=["map", "loop", "both"], default="map")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="history-bench-")
    port = free_port()
    p = start_sfnd(a.sfnd, data, port)
    rows = []
    try:
        cli = Client(port)
        shapes = ["map", "loop"] if a.shape == "both" else [a.shape]
        print("shape events pages  fwd_first fwd_mid fwd_last  rev_first rev_mid rev_last  (ms per "
              "1000-event page, includeExecutionData)")
        for shape in shapes:
            sm = cli.call("CreateStateMachine", {
                "name": "HistoryBench_" + shape, "roleArn": ROLE,
                "definition": json.dumps(map_machine() if shape == "map" else loop_machine())})[
                "stateMachineArn"]
            for ev in a.events:
                arn = run_execution(cli, sm, shape, ev)
                fwd, nf = walk(cli, arn, False)
                rev, nr = walk(cli, arn, True)
                assert nf == nr, (nf, nr)
                row = {"shape": shape, "events": nf, "pages": len(fwd),
                       "fwd": [fwd[0], fwd[len(fwd) // 2], fwd[-1]],
                       "rev": [rev[0], rev[len(rev) // 2], rev[-1]]}
                rows.append(row)
                print("%-5s %6d %5d  %9.1f %7.1f %8.1f  %9.1f %7.1f %8.1f" % (
                    shape, nf, len(fwd), *row["fwd"], *row["rev"]), flush=True)
    finally:
        p.terminate()
        p.wait()
        if not a.keep:
            shutil.rmtree(data, ignore_errors=True)
        else:
            print("data kept in", data, file=sys.stderr)
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
