"""The emulator's requests: Runtime API, Lambda's invoke API and the Function URL front, served on one port.

Routing by path: /2018-06-01/... is the Runtime API, /2015-03-31/... the invoke API, /2021-11-15/... the
streaming invoke API (InvokeWithResponseStream), anything else is a request to the function's URL. Every answer
carries Content-Length, so runtimes and callers can keep connections alive, except streamed ones (chunked).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import socket
import uuid
from http.server import BaseHTTPRequestHandler

from wrapper import TYPE_CHECKING, protocol
from wrapper.emulator import function_url, streaming
from wrapper.emulator.bodies import BadRequest, read_body
from wrapper.emulator.faults import Endpoint, Fault, fault_body
from wrapper.emulator.results import invoke_result, payload_problem, posted_error, rejected_post, response_too_large
from wrapper.emulator.state import Outcome

if TYPE_CHECKING:
    from wrapper.emulator.listener import EmulatorHTTPServer

logger = logging.getLogger("wrapper.emulator")

POST_PATH = re.compile(rf"^/{protocol.API_VERSION}/runtime/invocation/([^/]+)/(response|error)$")
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
STREAM_INVOKE_PATH = re.compile(r"^/2021-11-15/functions/([^/]+)/response-streaming-invocations$")
JSON = "application/json"
ACCEPTED = b'{"status":"OK"}'


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """One connection to the emulator; each request is routed by path."""

    protocol_version = "HTTP/1.1"
    server_version = "wrapper-emulator"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers go out at once
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.client_address[0], format % args)

    def dispatch(self) -> None:
        path = self.path.partition("?")[0]
        self.server.track(self.connection, busy=True)
        prefix = self.server.shared.api_prefix
        try:
            if path.startswith(f"{prefix}/{protocol.API_VERSION}/"):
                self._runtime_api(path.removeprefix(prefix))
            elif path.startswith(f"/{protocol.API_VERSION}/"):  # served under a prefix, and asked without it
                self._read_body(0)
                message = f"No route {self.command} {path}: the Runtime API is served under {prefix}"
                self._send_json(404, json.dumps({"errorMessage": message, "errorType": "NotFound"}).encode())
            elif path.startswith("/2015-03-31/"):
                self._invoke_api(path)
            elif path.startswith("/2021-11-15/"):
                self._invoke_stream_api(path)
            else:
                self._function_url()
        except BadRequest as exc:
            self.close_connection = True
            self._send_runtime_error(400, "BadRequest", str(exc))
        except OSError as exc:  # the peer went away mid-request
            logger.debug("%s %s: connection lost: %r", self.command, path, exc)
            self.close_connection = True
        finally:
            self.server.track(self.connection, busy=False)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch

    # Runtime API

    def _runtime_api(self, path: str) -> None:
        match = POST_PATH.match(path)
        if self.command == "GET" and path == protocol.PATH_NEXT:
            self._next()
        elif self.command == "POST" and match:
            self._post(match.group(1), "response" if match.group(2) == "response" else "error")
        elif self.command == "POST" and path == protocol.PATH_INIT_ERROR:
            self._init_error()
        else:
            self._read_body(0)
            self._send_runtime_error(404, "NotFound", f"No route {self.command} {path}")

    def _next(self) -> None:
        shared = self.server.shared
        fault = shared.faults.take("next")
        if fault is not None and not fault.lose_answer:
            return self._answer_fault(fault)
        self.server.hook.on_ready()
        record = shared.invocations.take(self.server.hook.holder(), still_wanted=self._peer_alive)
        if record is None:  # the emulator stopped or the runtime hung up
            self.close_connection = True
            return
        if fault is not None:  # handed out, as far as the emulator knows; the runtime never hears of it
            return self._answer_fault(fault)
        headers = [(protocol.HEADER_REQUEST_ID, record.request_id),
                   (protocol.HEADER_DEADLINE_MS, str(record.deadline_ms)),
                   (protocol.HEADER_FUNCTION_ARN, shared.function_arn),
                   (protocol.HEADER_TRACE_ID, record.trace_id),
                   ("Content-Type", JSON)]
        if record.client_context is not None:
            headers.append((protocol.HEADER_CLIENT_CONTEXT, record.client_context))
        if record.cognito_identity is not None:
            headers.append((protocol.HEADER_COGNITO_IDENTITY, record.cognito_identity))
        try:
            self._send(200, record.payload, headers)
        except OSError:
            shared.invocations.requeue(record)  # the runtime never saw it: someone else may take it
            raise

    def _post(self, request_id: str, kind: Endpoint) -> None:
        shared = self.server.shared
        shared.stats.post(request_id)
        if kind == "response" and streaming.is_streamed_post(self.headers):
            return streaming.receive(self, request_id)  # injected faults apply to buffered posts only
        body, too_large = self._read_body(protocol.MAX_PAYLOAD_BYTES)
        fault = shared.faults.take(kind)
        if fault is not None and fault.lose_answer:
            if shared.invocations.finish(request_id, self._outcome(kind, body, too_large)) == "ok":
                shared.stats.count("responses" if kind == "response" else "errors")
            return self._answer_fault(fault)  # recorded, and the runtime never hears so
        if fault is not None:
            # 413 and 403 tell the runtime the invocation is over, so it must be over for the caller too
            if fault.status == 413:
                shared.invocations.finish(request_id, response_too_large())
            elif fault.status == 403:
                shared.invocations.finish(request_id, rejected_post(request_id))
            self._answer_fault(fault)
            return
        verdict = shared.invocations.finish(request_id, self._outcome(kind, body, too_large))
        if verdict == "unknown":
            self._send_runtime_error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
        elif verdict == "done":
            message = f"State transition from invocation done to {kind} failed for runtime: {request_id}"
            self._send_runtime_error(403, "InvalidStateTransition", message)
        elif kind == "response" and too_large:
            message = f"Exceeded maximum allowed payload size ({protocol.MAX_PAYLOAD_BYTES} bytes)."
            self._send_runtime_error(413, "RequestEntityTooLarge", message)
        else:
            shared.stats.count("responses" if kind == "response" else "errors")
            self._send_json(202, ACCEPTED)

    def _outcome(self, kind: Endpoint, body: bytes, too_large: bool) -> Outcome:
        if kind == "response":
            return response_too_large() if too_large else Outcome(
                "response", body, content_type=self.headers.get("Content-Type"))
        return posted_error(b"" if too_large else body, self.headers.get(protocol.HEADER_ERROR_TYPE))

    def _init_error(self) -> None:
        shared = self.server.shared
        body, _ = self._read_body(protocol.MAX_PAYLOAD_BYTES)
        fault = shared.faults.take("init_error")
        if fault is not None and not fault.lose_answer:
            return self._answer_fault(fault)
        shared.stats.count("init_errors")
        shared.invocations.set_init_error(posted_error(body, self.headers.get(protocol.HEADER_ERROR_TYPE)))
        self.server.hook.on_init_error()
        if fault is not None:
            return self._answer_fault(fault)
        self._send_json(202, ACCEPTED)

    # Lambda's invoke API

    def _invoke_api(self, path: str) -> None:
        request = self._invoke_request(path, INVOKE_PATH, ("RequestResponse", "Event"))
        if request is None:
            return
        body, client_context, invocation_type = request
        record = self.server.shared.invocations.submit(body, client_context=client_context)
        if invocation_type == "Event":
            return self._send(202, b"", [("X-Amzn-RequestId", record.request_id)])
        record.finished.wait()
        result = invoke_result(record)
        self._send(result.status, result.body, list(result.headers.items()))

    def _invoke_stream_api(self, path: str) -> None:
        """InvokeWithResponseStream: the answer as an event stream, each chunk as the runtime sends it."""
        request = self._invoke_request(path, STREAM_INVOKE_PATH, ("RequestResponse",))
        if request is None:
            return
        body, client_context, _ = request
        record = self.server.shared.invocations.submit(body, client_context=client_context, stream=True)
        streaming.answer_invoke_stream(self, record)

    def _invoke_request(self, path: str, route: re.Pattern[str],
                        invocation_types: tuple[str, ...]) -> tuple[bytes, str | None, str] | None:
        """(payload, client context, invocation type) of a valid invoke request; None when already answered."""
        body, too_large = self._read_body(protocol.MAX_PAYLOAD_BYTES)
        if not route.match(path) or self.command != "POST":
            self._send_api_error(404, "ResourceNotFoundException", f"No route {self.command} {path}")
            return None
        if too_large:
            limit = protocol.MAX_PAYLOAD_BYTES
            message = f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            self._send_api_error(413, "RequestEntityTooLargeException", message)
            return None
        client_context = None
        if self.headers.get("X-Amz-Client-Context"):
            try:
                client_context = base64.b64decode(self.headers["X-Amz-Client-Context"], validate=True).decode()
            except (binascii.Error, ValueError):
                self._send_api_error(400, "InvalidRequestContentException",
                                     "Client context must be a valid Base64-encoded JSON object.")
                return None
        problem = payload_problem(body)
        if problem is not None:
            self._send_api_error(400, "InvalidRequestContentException", problem)
            return None
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._send(204, b"", [])
            return None
        if invocation_type not in invocation_types:
            self._send_api_error(400, "InvalidParameterValueException",
                                 f"Unsupported invocation type {invocation_type!r}")
            return None
        return body, client_context, invocation_type

    # Function URL front

    def _function_url(self) -> None:
        shared = self.server.shared
        body, too_large = self._read_body(protocol.MAX_PAYLOAD_BYTES)
        if too_large:
            return self._send_json(413, json.dumps({"Message": "Request Entity Too Large"}).encode())
        request_id = str(uuid.uuid4())
        event = function_url.build_event(
            method=self.command, target=self.path, headers=list(self.headers.items()), body=body,
            source_ip=self.client_address[0], protocol=self.request_version,
            function_name=shared.function_name, request_id=request_id)
        streams = shared.invoke_mode == "RESPONSE_STREAM"
        record = shared.invocations.submit(json.dumps(event).encode(), request_id=request_id, stream=streams)
        if streams:
            return streaming.answer_function_url(self, record)
        record.finished.wait()
        status, headers, answer = function_url.build_http_response(invoke_result(record))
        self._send(status, answer, headers + [("x-amzn-RequestId", request_id)])

    # plumbing

    def _answer_fault(self, fault: Fault) -> None:
        logger.info("injected fault on %s %s: %s", self.command, self.path, fault)
        if fault.drop or fault.lose_answer:
            self.close_connection = True  # nothing written: the caller sees the connection close
        else:
            self._send_json(fault.status or 500, fault_body(fault.status or 500))

    def _peer_alive(self) -> bool:
        """False once the peer has closed its end (a long-poll must not hand work to a dead runtime)."""
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return True  # nothing to read: still there, still waiting
        except (OSError, ValueError):
            return False

    def _read_body(self, limit: int) -> tuple[bytes, bool]:
        return read_body(self.rfile, self.headers, limit)

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, body: bytes) -> None:
        self._send(status, body, [("Content-Type", JSON)])

    def _send_runtime_error(self, status: int, error_type: str, message: str) -> None:
        """An error answer of the Runtime API: {"errorMessage", "errorType"}."""
        self._send_json(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode())

    def _send_api_error(self, status: int, error_type: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode()
        self._send(status, body, [("Content-Type", JSON), ("x-amzn-ErrorType", error_type)])
