#!/bin/bash
# The classic shell runtime from the AWS custom-runtime tutorial: curl /next, answer with curl. No Python.
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" -d "{\"shell\": \"bash\", \"event\": $EVENT_DATA}"
done
