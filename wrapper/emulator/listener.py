"""The emulator's listening HTTP/1.1 servers (one per port) and what all their connections share.

Each server knows its open connections, so stopping it can let answers being written finish, then close every
connection, idle keep-alive ones included. Requests are served by wrapper.emulator.httpd.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from wrapper.emulator.faults import Faults
from wrapper.emulator.httpd import EmulatorRequestHandler
from wrapper.emulator.runtimes import RuntimeHook
from wrapper.emulator.state import Invocations, Stats

logger = logging.getLogger("wrapper.emulator")


@dataclass(frozen=True)
class Shared:
    """Everything every server and handler shares."""

    invocations: Invocations
    faults: Faults
    stats: Stats
    function_name: str
    function_arn: str
    api_prefix: str = ""  # the Runtime API is served under it ("/.rt"), as some local emulators do
    invoke_mode: str = "BUFFERED"  # the Function URL's: BUFFERED or RESPONSE_STREAM


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its connections, so stop() can let answers finish, then close them all."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], shared: Shared, hook: RuntimeHook) -> None:
        self.shared = shared
        self.hook = hook
        self._cond = threading.Condition()
        self._busy: dict[socket.socket, bool] = {}  # open connection → in the middle of a request
        # SO_REUSEADDR only for a fixed port: with port 0 it lets the kernel hand out a port that an outgoing
        # connection is using, which makes parallel test runs flaky
        self.allow_reuse_address = address[1] != 0
        super().__init__(address, EmulatorRequestHandler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # an AF_INET/AF_INET6 address, never bytes
        return f"{host}:{port}"

    @property
    def api_address(self) -> str:
        """The value of AWS_LAMBDA_RUNTIME_API for this listener: host:port, and the prefix if any."""
        return self.address + self.shared.api_prefix

    def track(self, connection: socket.socket, *, open_: bool = True, busy: bool = False) -> None:
        with self._cond:
            if open_:
                self._busy[connection] = busy
            else:
                self._busy.pop(connection, None)
            self._cond.notify_all()

    def close_connections(self, grace_s: float) -> None:
        """Wait (at most grace_s) for answers being written, then shut every connection, idle keep-alive included."""
        with self._cond:
            self._cond.wait_for(lambda: not any(self._busy.values()), timeout=grace_s)
            connections = list(self._busy)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_error(self, request: object, client_address: object) -> None:
        logger.debug("connection from %s failed: %r", client_address, sys.exc_info()[1])
