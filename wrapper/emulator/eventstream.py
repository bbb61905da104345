"""The `application/vnd.amazon.eventstream` framing InvokeWithResponseStream answers in, encoder only.

One message (all integers big-endian):

    total length (u32) | headers length (u32) | prelude CRC32 (u32, of the 8 bytes before it)
    headers            | payload              | message CRC32 (u32, of everything before it)

Each header: name length (u8), name (UTF-8), value type (u8; 7 = string), value length (u16), value. Lambda's
stream carries `:message-type` event and `:event-type` PayloadChunk (payload: the function's bytes,
`:content-type` application/octet-stream) or, last, InvokeComplete (payload: JSON {ErrorCode, ErrorDetails,
LogResult}, `:content-type` application/json). Sources: the event stream encoding in AWS's Transcribe and Lex
developer guides; InvokeWithResponseStreamResponseEvent in the Lambda API reference.
"""

from __future__ import annotations

import json
import struct
import zlib

STRING_TYPE = 7
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024  # one message's payload; longer chunks go out as several messages


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    encoded = b"".join(_header(name, value) for name, value in headers)
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded
    return head + payload + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head)))


def payload_chunks(data: bytes) -> list[bytes]:
    """PayloadChunk events carrying `data` (none for empty data)."""
    headers = [(":event-type", "PayloadChunk"), (":content-type", "application/octet-stream"),
               (":message-type", "event")]
    view = memoryview(data)
    return [encode_message(headers, bytes(view[start : start + MAX_PAYLOAD_BYTES]))
            for start in range(0, len(data), MAX_PAYLOAD_BYTES)]


def invoke_complete(error_code: str | None = None, error_details: str | None = None) -> bytes:
    """The InvokeComplete event that ends every stream; error fields only when the invocation failed."""
    document = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": None}
    body = json.dumps({k: v for k, v in document.items() if v is not None}).encode()
    headers = [(":event-type", "InvokeComplete"), (":content-type", "application/json"), (":message-type", "event")]
    return encode_message(headers, body)


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING_TYPE, len(raw_value)) + raw_value
