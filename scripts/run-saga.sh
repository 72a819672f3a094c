#!/usr/bin/env bash
# make run: the saga on the local engine (see scripts/run_saga.py).
set -eu
cd "$(dirname "$0")/.."
exec python3 scripts/run_saga.py "$@"
