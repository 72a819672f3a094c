#!/bin/bash
# A custom runtime in bash: one invocation at a time, the handler
# (greet.sh's function named by _HANDLER) answers each event.
set -euo pipefail
source "$LAMBDA_TASK_ROOT/greet.sh"
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  curl -sS "$API/invocation/$ID/response" -d "$("$_HANDLER" "$EVENT")" >/dev/null
done
