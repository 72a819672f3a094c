#!/usr/bin/env bash
# bench/run.sh - build sfn-bench and run the trip saga in every configuration:
# engine and json modes on the success and failBookFlight inputs, plus the
# naive jansson baseline measured in the same run, and print a table whose
# ratios are against that baseline (so figures from different machines and
# loads stay comparable).
#
#   bash bench/run.sh                 # 5 s per configuration (`make bench`)
#   BENCH_SECONDS=1 bash bench/run.sh # quicker
#   BENCH_BIN=path/to/sfn-bench bash bench/run.sh   # no build
#
# Each run is pinned to one CPU when taskset exists. Raw JSON lines are kept
# in out/bench/results.jsonl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${BENCH_SECONDS:-5}"
BIN="${BENCH_BIN:-}"

if [[ -z "$BIN" ]]; then
  BUILD="${BENCH_BUILD_DIR:-$ROOT/out/build}"
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSFN_BIN_DIR="$ROOT/out/bin" >/dev/null
  fi
  cmake --build "$BUILD" -j2 --target sfn-bench >/dev/null
  BIN="$(sed -n 's/^SFN_BIN_DIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")/sfn-bench"
  [[ -x "$BIN" ]] || BIN="$ROOT/out/bin/sfn-bench"
fi

PIN=()
if command -v taskset >/dev/null 2>&1; then
  cpu="$(( $(nproc) - 1 ))"
  PIN=(taskset -c "$cpu")
fi

mkdir -p "$ROOT/out/bench"
RES="$ROOT/out/bench/results.jsonl"
: >"$RES"
echo "sfn-bench: $BIN, ${SECS}s per configuration, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for input in success fail; do
  for mode in naive engine json; do
    "${PIN[@]}" "$BIN" --input "$input" --mode "$mode" --seconds "$SECS" | tee -a "$RES" >&2
  done
done

python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {r["input"]: r for r in rows if r["mode"] == "naive"}
print()
print(f'{"input":8} {"mode":7} {"exec/s":>9} {"vs naive":>8} {"trans/s":>10} {"p50 us":>8} {"p99 us":>8} {"allocs":>7} {"vs naive":>8}')
for r in rows:
    b = base.get(r["input"])
    sp = r["exec_per_s"] / b["exec_per_s"] if b and b["exec_per_s"] else float("nan")
    al = (r["allocs_per_exec"] / b["allocs_per_exec"]
          if b and b["allocs_per_exec"] > 0 and r["allocs_per_exec"] >= 0 else float("nan"))
    print(f'{r["input"]:8} {r["mode"]:7} {r["exec_per_s"]:9.0f} {sp:7.2f}x {r["transitions_per_s"]:10.0f} '
          f'{r["p50_us"]:8.2f} {r["p99_us"]:8.2f} {r["allocs_per_exec"]:7.1f} {al:7.2f}x')
eng = [r for r in rows if r["mode"] == "engine" and r["input"] == "success"]
if eng:
    e = eng[0]["exec_per_s"]
    print(f'\nbar (issue 2): engine success >= 110000 exec/s on one core: {e:.0f} -> {"met" if e >= 110000 else "NOT met"}')
PY
