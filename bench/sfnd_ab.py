#!/usr/bin/env python3
"""sfnd_ab.py - compare sfnd builds (or pool sizes) in the same run.

Runs bench/sfnd_bench.py for each configuration in turn, ROUNDS times,
alternating, so that the VM's drift from minute to minute falls on every
configuration alike, and prints each run and the medians.

  bench/sfnd_ab.py [--rounds 3] [--seconds 5] [--concurrency 16] \\
      LABEL=path/to/sfnd[,max-procs[,template.yaml]] LABEL=...

A template (default: this tree's) lets a build run with the template,
state machine and functions of its own tree, e.g. an older commit's checkout:

  bench/sfnd_ab.py before=/tmp/base/out/bin/sfnd,0,/tmp/base/template.yaml now=out/bin/sfnd

e.g. a baseline build in /tmp/base (cmake -B /tmp/base -DSFN_BIN_DIR=/tmp/base/bin
at an older commit) against this one:

  bench/sfnd_ab.py before=/tmp/base/bin/sfnd now=out/bin/sfnd
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--input", choices=["success", "fail"], default="success")
    ap.add_argument("configs", nargs="+", help="LABEL=path/to/sfnd[,max-procs[,template]]")
    a = ap.parse_args()
    cfgs = []
    for c in a.configs:
        label, _, rest = c.partition("=")
        path, _, rest = rest.partition(",")
        mp, _, tpl = rest.partition(",")
        if not label or not path:
            sys.exit("bad configuration: " + c)
        cfgs.append((label, path, mp or "0", tpl))
    runs = {label: [] for label, _, _, _ in cfgs}
    for _ in range(a.rounds):
        for label, path, mp, tpl in cfgs:
            out = subprocess.run([sys.executable, os.path.join(HERE, "sfnd_bench.py"), "--sfnd", path,
                                  "--seconds", str(a.seconds), "--concurrency", str(a.concurrency),
                                  "--invokes", "10", "--max-procs", mp, "--input", a.input]
                                 + (["--template", tpl] if tpl else []),
                                 capture_output=True, text=True)
            lines = out.stdout.strip().splitlines()
            if out.returncode != 0 or not lines:
                sys.exit("%s: the bench failed\n%s" % (label, out.stderr))
            d = json.loads(lines[-1])
            c = d["cpu_ms_per_exec"]
            runs[label].append(d)
            m = d.get("machine", {})
            print("%-10s exec/s %7.1f  p50 %6.2f ms  p99 %6.2f ms  cpu sfnd %.3f functions %.3f "
                  "client %.3f  | iowait %s%% steal %s%% disk %s ms/write" % (
                      label, d["exec_per_s"], d["p50_ms"], d["p99_ms"], c["sfnd"], c["functions"],
                      c["client"], m.get("iowait_pct"), m.get("steal_pct"),
                      m.get("disk_ms_per_write")), flush=True)
    base = None
    for label, _, _, _ in cfgs:
        xs = runs[label]
        med = lambda f: statistics.median(f(x) for x in xs)
        eps = med(lambda x: x["exec_per_s"])
        base = base or eps
        print("MEDIAN %-10s exec/s %7.1f (%.2fx)  p50 %6.2f ms  p99 %6.2f ms  cpu sfnd %.3f "
              "functions %.3f client %.3f" % (
                  label, eps, eps / base, med(lambda x: x["p50_ms"]), med(lambda x: x["p99_ms"]),
                  med(lambda x: x["cpu_ms_per_exec"]["sfnd"]),
                  med(lambda x: x["cpu_ms_per_exec"]["functions"]),
                  med(lambda x: x["cpu_ms_per_exec"]["client"])))


if __name__ == "__main__":
    main()
