"""What one invocation would run, without running it: `wrapper check --event` and FunctionHandler.describe."""

from __future__ import annotations

import os

from wrapper import TYPE_CHECKING
from wrapper.events import request_view
from wrapper.mapping.command import build_command, build_server_request, context_env
from wrapper.mapping.inputs import extract_inputs

if TYPE_CHECKING:
    from typing import Any

    from wrapper.runtime.function import FunctionHandler
    from wrapper.types import HttpRequest, Invocation


def describe_invocation(handler: FunctionHandler, invocation: Invocation) -> dict[str, Any]:
    """What the invocation would run (argv, stdin, env, files, cwd, or the server request), without running it."""
    event, request = handler.decode(invocation)
    values = extract_inputs(request_view(request, event) if request else event, handler.config.inputs)
    described = _describe_run(handler, invocation, values, request)
    if handler.config.metrics is not None:
        from wrapper.metrics.describe import describe_metrics

        secret = handler.expected_token
        described["metrics"] = describe_metrics(handler.config.metrics, values, http=request is not None, secret=secret)
    return described


def _describe_run(
    handler: FunctionHandler, invocation: Invocation, values: dict[str, Any], request: HttpRequest | None
) -> dict[str, Any]:
    if handler.config.mode == "hot":
        from wrapper.runtime.hot_mode import describe_hot

        config, executable = handler.config, handler.executable
        return describe_hot(config, values, invocation, executable, handler.base_env, handler.config_dir)
    if handler.config.server is not None:  # server mode
        method, target, headers, body = build_server_request(
            handler.config, values, event_body=invocation.body, http_request=request
        )
        port = handler.config.server.port
        return {"request": {"method": method, "url": f"http://127.0.0.1:{port}{target}", "headers": headers,
                            "body": _printable(body)}}
    scratch = os.path.join(handler.config.scratch.dir, "wrapper-XXXXXXXX")
    command = build_command(
        handler.config, values, event_body=invocation.body, scratch_dir=scratch,
        context_env=context_env(invocation), base_env=handler.base_env,
    )
    return {
        "argv": [handler.executable, *command.argv[1:]],
        "stdin": _printable(command.stdin),
        "env": command.env,
        "files": {path: _printable(content) for path, content in command.files.items()},
        "cwd": scratch,
    }


def _printable(data: bytes | None) -> str | dict[str, str] | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(data).decode()}
