"""What an HTTP caller receives from each reference config, as its comments state: `wrapper run` behind the
emulator's Function URL, real programs, real HTTP. (examples/blackbox-exporter has its own suite.)"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
import requests

from harness import local_lambda

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WAIT_S = 30


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE, data[:16]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


def qr_pixels(size: int, modules: int = 21, margin: int = 4) -> int:
    """qrencode's image side: (modules + 2 * margin) * size; "hello" fits version 1 (21 modules)."""
    return (modules + 2 * margin) * size


@pytest.fixture(scope="module")
def qrencode():
    with local_lambda(CONFIGS / "qrencode.yaml") as emulator:
        yield emulator


def test_qrencode_text_from_the_query_is_a_real_png(qrencode):
    answer = requests.get(qrencode.url + "/?text=hello&size=5", timeout=WAIT_S)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert png_size(answer.content) == (qr_pixels(5), qr_pixels(5))


def test_qrencode_text_from_a_json_body_is_a_real_png(qrencode):
    answer = requests.post(qrencode.url + "/", json={"text": "hello"}, timeout=WAIT_S)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert png_size(answer.content) == (qr_pixels(3), qr_pixels(3))  # qrencode's default module size


def test_qrencode_plain_event_is_a_json_safe_base64_string(qrencode):
    result = qrencode.invoke(b'{"text": "hello", "size": 2}', timeout_s=WAIT_S)
    assert result.function_error is None
    png = base64.b64decode(result.json())
    assert png_size(png) == (qr_pixels(2), qr_pixels(2))


def test_qrencode_without_text_is_400_json(qrencode):
    answer = requests.get(qrencode.url + "/", timeout=WAIT_S)
    assert answer.status_code == 400
    assert answer.json()["errorType"] == "Function.InvalidEvent"
    assert "inputs.text: is required" in answer.json()["errorMessage"]


def test_echo_answers_http_callers_the_event_as_octet_stream():
    with local_lambda(CONFIGS / "echo.yaml") as emulator:
        answer = requests.post(emulator.url + "/path?q=1", data=b"hi", headers={"Content-Type": "text/plain"},
                               timeout=WAIT_S)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/octet-stream"
    event = json.loads(answer.content)
    assert (event["rawPath"], event["rawQueryString"], event["body"]) == ("/path", "q=1", "hi")


def test_jq_answers_http_callers_json():
    with local_lambda(CONFIGS / "jq.yaml") as emulator:
        ok = requests.post(emulator.url + "/", json={"filter": ".items | length", "document": {"items": [1, 2, 3]}},
                           timeout=WAIT_S)
        empty = requests.post(emulator.url + "/", json={"filter": "keys", "document": {}}, timeout=WAIT_S)
        bad = requests.post(emulator.url + "/", json={"filter": ".[", "document": {}}, timeout=WAIT_S)
    assert (ok.status_code, ok.headers["Content-Type"], ok.json()) == (200, "application/json", 3)
    assert (empty.status_code, empty.json()) == (200, [])  # an empty document is still a document
    assert (bad.status_code, bad.json()["errorType"]) == (400, "Function.BadFilter")


def test_grep_answers_http_callers_a_json_array():
    with local_lambda(CONFIGS / "grep.yaml") as emulator:
        ok = requests.post(emulator.url + "/", json={"pattern": "wor.d", "text": "hello\nworld\n"}, timeout=WAIT_S)
        bad = requests.post(emulator.url + "/", json={"pattern": "(", "text": "x\n"}, timeout=WAIT_S)
    assert (ok.status_code, ok.headers["Content-Type"], ok.json()) == (200, "application/json", ["world"])
    assert (bad.status_code, bad.json()["errorType"]) == (400, "Function.BadPattern")


def test_hot_configs_answer_http_callers():
    with local_lambda(CONFIGS / "echo-hot.yaml") as emulator:
        echo = requests.post(emulator.url + "/path?q=1", data=b"hi", headers={"Content-Type": "text/plain"},
                             timeout=WAIT_S)
    assert (echo.status_code, echo.headers["Content-Type"]) == (200, "application/octet-stream")
    event = json.loads(echo.content)
    assert (event["rawPath"], event["rawQueryString"], event["body"]) == ("/path", "q=1", "hi")
    assert b"\n" not in echo.content and b'":"' in echo.content  # one compact line
    with local_lambda(CONFIGS / "jq-hot.yaml") as emulator:
        ok = requests.post(emulator.url + "/", json={"items": [{"name": "a", "price": 2}]}, timeout=WAIT_S)
        bad = requests.post(emulator.url + "/", json=[1, 2], timeout=WAIT_S)
    assert (ok.status_code, ok.headers["Content-Type"]) == (200, "application/json")
    assert ok.json() == {"count": 1, "total": 2, "names": ["a"]}
    assert (bad.status_code, bad.json()["errorType"]) == (400, "Function.InvalidEvent")


def test_stream_answers_a_function_url_in_response_stream_mode_beyond_the_6_mb_limit():
    last = 1_000_000  # 6.9 MB of lines: more than a buffered answer may carry
    with local_lambda(CONFIGS / "stream.yaml", invoke_mode="RESPONSE_STREAM") as emulator:
        answer = requests.get(emulator.url + f"/?last={last}", timeout=WAIT_S)
        bad = requests.get(emulator.url + "/?last=0", timeout=WAIT_S)
        direct = emulator.invoke(b'{"last": 3}', timeout_s=WAIT_S)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert answer.content == "".join(f"{n}\n" for n in range(1, last + 1)).encode()
    assert (bad.status_code, bad.json()["errorType"]) == (400, "Function.InvalidEvent")
    assert direct.body == b"1\n2\n3\n"
