"""The runtime loop: init (post /init/error on failure), then next → handle → report, until told to stop.

The one broad `except` of the package lives in `Runtime.handle`: whatever an invocation does, exactly one
result is posted for it and the loop goes on. Only a RuntimeAPIError (the platform failing) ends the loop.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Callable

from wrapper import TYPE_CHECKING
from wrapper.errors import InitError, InvocationError, RuntimeAPIError
from wrapper.runtime.client import RuntimeClient
from wrapper.runtime.logs import request_id_var
from wrapper.types import Invocation

if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # at run time the interface is documentation

logger = logging.getLogger(__name__)


class Function(Protocol):
    """What the loop drives (wrapper.runtime.function.FunctionHandler is the one there is): one call per
    invocation, and a way to stop whatever it started."""

    def handle(self, invocation: Invocation) -> tuple[bytes, str]:
        """Return (response body, content type), or raise InvocationError."""

    def close(self) -> None:
        """Stop every program the function started."""


class _Shutdown(BaseException):
    """Raised in the main thread by SIGTERM; BaseException so no invocation boundary swallows it."""


def run_runtime(
    load_function: Callable[[], Function], make_client: Callable[[], RuntimeClient], *, concurrency: int = 1
) -> int:
    """Init, then serve invocations until SIGTERM or a fatal Runtime API error; return an exit status."""
    client = make_client()
    try:
        function = load_function()
    except InitError as exc:
        logger.error("Init failed: %s", exc)
        client.post_init_error(exc.error_type, str(exc))
        return 1
    except Exception as exc:  # a bug at init must still reach Lambda as an init error
        logger.exception("Init failed with an internal error")
        client.post_init_error("Runtime.InternalError", f"Internal error during init: {exc!r}")
        return 1
    runtime = Runtime(function, make_client, concurrency=concurrency)
    return runtime.run(first_client=client)


class Runtime:
    """Drives `concurrency` independent next → handle → report loops over one function."""

    def __init__(self, function: Function, make_client: Callable[[], RuntimeClient], *, concurrency: int = 1) -> None:
        self.function = function
        self.make_client = make_client
        self.concurrency = max(1, concurrency)
        self._stopping = threading.Event()
        self._fatal: RuntimeAPIError | None = None

    def run(self, first_client: RuntimeClient | None = None) -> int:
        """Serve until stopped; 0 on SIGTERM, 1 when the Runtime API failed."""
        previous = _install_sigterm(self._on_sigterm)
        try:
            if self.concurrency == 1:
                self._loop(first_client or self.make_client())
            else:
                self._run_threads(first_client)
        except _Shutdown:
            logger.debug("SIGTERM received; stopped")
        except RuntimeAPIError as exc:
            self._fatal = exc
        finally:
            self._stopping.set()
            _install_sigterm(previous)
            self.function.close()
        if self._fatal is not None:
            logger.error("Runtime API failure, exiting: %s", self._fatal)
            return 1
        return 0

    def _run_threads(self, first_client: RuntimeClient | None) -> None:
        clients = [first_client or self.make_client()] + [self.make_client() for _ in range(self.concurrency - 1)]
        for number, client in enumerate(clients):
            # daemon: a loop blocked in /next must not keep the process alive after shutdown
            threading.Thread(target=self._thread_loop, args=(client,), name=f"loop-{number}", daemon=True).start()
        while not self._stopping.wait(0.5):  # wakes for signals, which only the main thread receives
            pass
        if self._fatal is not None:
            raise self._fatal

    def _thread_loop(self, client: RuntimeClient) -> None:
        try:
            self._loop(client)
        except RuntimeAPIError as exc:
            self._fatal = self._fatal or exc
            self._stopping.set()

    def _loop(self, client: RuntimeClient) -> None:
        while not self._stopping.is_set():
            invocation = client.next_invocation()
            self.handle(client, invocation)

    def handle(self, client: RuntimeClient, invocation: Invocation) -> None:
        """Run one invocation and post exactly one result for it."""
        # The trace id reaches the program through its own environment (mapping.command.context_env). Not through ours:
        # glibc's setenv never frees a replaced value (a leak per invocation), and concurrent loops share it.
        token = request_id_var.set(invocation.request_id)
        try:
            body, content_type = self.function.handle(invocation)
        except InvocationError as exc:
            logger.warning("%s: %s", exc.error_type, exc)
            client.post_error(invocation.request_id, exc.error_type, str(exc))
        except Exception as exc:  # the one broad catch: a wrapper bug must not kill the loop
            logger.exception("Internal error handling %s", invocation.request_id)
            stack = traceback.format_exception(exc)
            client.post_error(invocation.request_id, "Runtime.InternalError", f"Internal error: {exc!r}", stack)
        else:
            client.post_response(invocation.request_id, body, content_type)
        finally:
            request_id_var.reset(token)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self._stopping.set()
        raise _Shutdown()


def _install_sigterm(action: object) -> object:
    """Install a SIGTERM handler when running in the main thread; return the previous one."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, action if action is not None else signal.SIG_DFL)  # type: ignore[arg-type]
