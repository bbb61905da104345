"""The Lambda Runtime API wire contract: paths, header names, the error body.

The client and the emulator both import this module and never each other, so a bug on one side of the
wire cannot hide in the other. Endpoints (API version 2018-06-01):

    GET  /2018-06-01/runtime/invocation/next             200 (event), 403, 500
    POST /2018-06-01/runtime/invocation/{id}/response    202, 400, 403, 413, 500
    POST /2018-06-01/runtime/invocation/{id}/error       202, 400, 403, 500
    POST /2018-06-01/runtime/init/error                  202, 403, 500

Callers invoke through Lambda's invoke API, at the path AWS's own emulator (RIE) serves:

    POST /2015-03-31/functions/function/invocations      200; X-Amz-Function-Error on function errors
"""

from __future__ import annotations

import json
import re

API_VERSION = "2018-06-01"
PATH_NEXT = f"/{API_VERSION}/runtime/invocation/next"
PATH_RESPONSE = f"/{API_VERSION}/runtime/invocation/{{request_id}}/response"
PATH_ERROR = f"/{API_VERSION}/runtime/invocation/{{request_id}}/error"
PATH_INIT_ERROR = f"/{API_VERSION}/runtime/init/error"
PATH_INVOKE = "/2015-03-31/functions/{function}/invocations"

HEADER_REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
HEADER_DEADLINE_MS = "Lambda-Runtime-Deadline-Ms"
HEADER_FUNCTION_ARN = "Lambda-Runtime-Invoked-Function-Arn"
HEADER_TRACE_ID = "Lambda-Runtime-Trace-Id"
HEADER_CLIENT_CONTEXT = "Lambda-Runtime-Client-Context"
HEADER_COGNITO_IDENTITY = "Lambda-Runtime-Cognito-Identity"
HEADER_TENANT_ID = "Lambda-Runtime-Aws-Tenant-Id"
HEADER_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
HEADER_FUNCTION_ERROR = "X-Amz-Function-Error"  # invoke API: set when the function returned an error

ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous request and response limit

ERROR_TYPE_PATTERN = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def valid_error_type(error_type: str) -> str:
    """Return error_type if Lambda keeps it, else the category's Unknown, as Lambda itself does."""
    if ERROR_TYPE_PATTERN.fullmatch(error_type):
        return error_type
    return "Function.Unknown" if error_type.startswith("Function") else "Runtime.Unknown"


def error_body(error_type: str, message: str, stack_trace: list[str] | None = None) -> bytes:
    """The JSON body of /error and /init/error posts."""
    body = {"errorMessage": message, "errorType": valid_error_type(error_type), "stackTrace": stack_trace or []}
    return json.dumps(body).encode()
