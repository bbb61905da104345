#!/bin/bash
# A custom-runtime bootstrap in the common bash + curl style (the shape of AWS's "Building a custom runtime"
# tutorial and of most blog posts and layers): headers to a mktemp file, the request id scraped with grep,
# the handler's output captured in a variable and posted with curl -d. Kept as people write it, on purpose:
# it is the baseline, not a recommendation (the event travels in argv, so a large one fails with E2BIG).
set -euo pipefail

# The handler: hand the event to a program (cat) and return what it prints.
handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" | cat
}

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the function
  RESPONSE=$(handler "$EVENT_DATA")

  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$RESPONSE" > /dev/null
done
