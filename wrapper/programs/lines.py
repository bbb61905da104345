"""Programs' output line by line: OutputReader drains a long-lived program's pipes on threads (server mode);
split_lines and keep_tail serve callers that read the pipes themselves (exec mode, hot mode)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

__all__ = ["MAX_LINE_BYTES", "OutputReader", "keep_tail", "split_lines"]

MAX_LINE_BYTES = 16384  # longer output lines are passed on in pieces


class OutputReader:
    """One process generation's output: drained line by line, with a bounded tail of both streams for errors."""

    def __init__(self, tail_bytes: int, on_line: Callable[[bytes], None] | None) -> None:
        self._tail = bytearray()
        self._tail_bytes = tail_bytes
        self._on_line = on_line
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def follow(self, proc: subprocess.Popen) -> None:
        """Drain proc's stdout and stderr on one daemon thread each, until EOF."""
        for pipe in (proc.stdout, proc.stderr):
            thread = threading.Thread(target=self.drain, args=(pipe,), name=f"server-output-{proc.pid}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def drain(self, pipe) -> None:
        """Read one pipe to EOF so the program never blocks on a full pipe."""
        with pipe:
            for line in iter(lambda: pipe.readline(MAX_LINE_BYTES), b""):
                with self._lock:
                    self._tail += line
                    del self._tail[: -self._tail_bytes or len(self._tail)]
                if self._on_line is not None:
                    try:
                        self._on_line(line.rstrip(b"\r\n"))
                    except Exception:  # noqa: BLE001 - a logging failure must not stop the draining
                        pass

    def tail(self, wait_s: float = 0.0) -> str:
        """The last output bytes as text; waits up to wait_s for the readers to reach EOF first."""
        deadline = time.monotonic() + wait_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace").strip()


def keep_tail(tail: bytearray, data: bytes, limit: int) -> None:
    """Append data to tail, keeping only its last limit bytes."""
    tail += data
    if len(tail) > limit:
        del tail[: len(tail) - limit]


def split_lines(partial: bytearray, data: bytes, on_line: Callable[[bytes], None], max_line_bytes: int) -> None:
    """Pass each complete line (or max_line_bytes piece of a longer one) to on_line; keep the rest in partial."""
    partial += data
    start = 0
    while True:
        newline = partial.find(b"\n", start, start + max_line_bytes + 1)
        if newline >= 0:
            on_line(bytes(partial[start:newline]))
            start = newline + 1
        elif len(partial) - start > max_line_bytes:
            on_line(bytes(partial[start : start + max_line_bytes]))
            start += max_line_bytes
        else:
            break
    del partial[:start]
