"""Hot mode: the exact line written to the program for one event. Pure: no I/O.

The `stdin` mapping decides the payload, as in exec mode; hot mode then makes it exactly one line:
- JSON payloads (`stdin: event`, `{value: NAME, as: json}`) are written compact, so a pretty-printed event
  still takes one line (a line break inside a JSON string is escaped by the encoding);
- text payloads (`{value: NAME, as: text}`, `{template: ...}`) and base64-decoded bytes are written as they are,
  and one containing a line break (LF or CR: many line readers split on either) is an invalid event, never a
  second line the program would read as the next event;
- `none` writes an empty line.
With `framing: actionloop` the payload is wrapped in OpenWhisk's actionloop envelope instead:
`{"value": V, "activation_id": REQUEST_ID, "deadline": "EPOCH_MS", "function_arn": ARN}` where V is the JSON
payload, the text as a JSON string, or `{}` for `none`.
"""

from __future__ import annotations

import json

from wrapper import TYPE_CHECKING
from wrapper.errors import InvalidEventError
from wrapper.mapping.command import build_payload

if TYPE_CHECKING:
    from typing import Any

    from wrapper.config.values import Config
    from wrapper.types import Invocation


_LINE_BREAKS = (b"\n", b"\r")
# one encoder for every line: json.dumps with non-default options builds a new one per call (about 10 µs)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def build_hot_line(config: Config, values: dict[str, Any], invocation: Invocation) -> bytes:
    """The line (with its newline) that carries this event to a hot-mode program; InvalidEventError if none can."""
    kind, payload = hot_payload(config, values, invocation.body)
    if config.hot.framing == "actionloop":
        if kind == "none":
            value: Any = {}
        elif kind == "json":
            value = payload
        else:
            try:
                value = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidEventError("stdin: the payload is not UTF-8 text, as an actionloop line needs") from None
        envelope = {"value": value, "activation_id": invocation.request_id, "deadline": str(invocation.deadline_ms),
                    "function_arn": invocation.function_arn}
        return compact_json(envelope) + b"\n"
    if kind == "none":
        return b"\n"
    if kind == "json":
        return compact_json(payload) + b"\n"
    if any(brk in payload for brk in _LINE_BREAKS):
        raise InvalidEventError("stdin: the text contains a line break; hot mode sends each event as one line")
    return payload + b"\n"


def hot_payload(config: Config, values: dict[str, Any], event_body: bytes) -> tuple[str, Any]:
    """("json", a value), ("text", bytes) or ("none", None): what the `stdin` mapping gives for one event."""
    stdin = config.stdin
    if stdin == "none":
        return "none", None
    if stdin == "event":
        try:
            return "json", json.loads(event_body) if event_body else None
        except ValueError as exc:
            raise InvalidEventError(f"Event is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidEventError("Event is nested too deeply") from None
    if stdin.template is None and stdin.as_ == "json":
        return "json", values.get(stdin.value or "")
    data = build_payload(stdin, values, event_body, {}, where="stdin")
    return "text", b"" if data is None else data


def compact_json(value: Any) -> bytes:
    """JSON on one line, no spaces; UTF-8 as is (lone surrogates escaped, so it still encodes)."""
    try:
        text = _COMPACT.encode(value)
    except ValueError as exc:  # NaN or Infinity, which Python's parser lets through: not JSON
        raise InvalidEventError(f"stdin: the payload is not valid JSON: {exc}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


__all__ = ["build_hot_line", "compact_json", "hot_payload"]
