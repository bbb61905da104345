#!/bin/sh
# Image entry point. On Lambda, AWS_LAMBDA_RUNTIME_API is set and wrapper is the bootstrap. Under `docker run`
# it is unset, so start wrapper behind the Runtime Interface Emulator the AWS base image ships; then
#   curl -XPOST localhost:9000/2015-03-31/functions/function/invocations -d @events/scheduled-probe.json
# works locally. "$@" is the CMD: the config file.
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
    exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python3 -m wrapper run "$@"
fi
exec /var/lang/bin/python3 -m wrapper run "$@"
