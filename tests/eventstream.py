"""The streaming invoke API as a test caller sees it: its path, and a decoder for its event-stream body."""

from __future__ import annotations

import struct
import zlib

STREAM_PATH = "/2021-11-15/functions/function/response-streaming-invocations"


def events(data: bytes) -> list[tuple[str, bytes]]:
    """Decode an application/vnd.amazon.eventstream body: (:event-type, payload) per message, CRCs checked."""
    found = []
    while data:
        total, headers_length = struct.unpack(">II", data[:8])
        assert struct.unpack(">I", data[8:12])[0] == zlib.crc32(data[:8])
        assert struct.unpack(">I", data[total - 4 : total])[0] == zlib.crc32(data[: total - 4])
        headers, at = {}, 12
        while at < 12 + headers_length:
            name_length = data[at]
            name = data[at + 1 : at + 1 + name_length].decode()
            at += 1 + name_length
            assert data[at] == 7  # string
            value_length = struct.unpack(">H", data[at + 1 : at + 3])[0]
            headers[name] = data[at + 3 : at + 3 + value_length].decode()
            at += 3 + value_length
        assert headers[":message-type"] == "event"
        found.append((headers[":event-type"], data[12 + headers_length : total - 4]))
        data = data[total:]
    return found
