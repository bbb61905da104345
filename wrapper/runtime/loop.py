"""The runtime loop: init (post /init/error on failure), then next → handle → report, until told to stop.

The one broad `except` of the package lives in `Runtime.handle`: whatever an invocation does, exactly one
result is posted for it and the loop goes on. Only a RuntimeAPIError (the platform failing) ends the loop.

Stopping: the loops run in threads; the main thread only waits, on a self-pipe, for SIGTERM or a loop's fatal
error, then stops every program the function started (function.close()). The SIGTERM handler only sets a flag and
wakes the main thread: an exception raised from it could land anywhere, between a program's spawn and its
registration too, and leave that program running after the runtime is gone.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from wrapper import TYPE_CHECKING
from wrapper.errors import InitError, InvocationError, RuntimeAPIError
from wrapper.logs import get_logger, request_id_var
from wrapper.runtime.client import RuntimeClient
from wrapper.types import Invocation

if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # at run time the interface is documentation

if TYPE_CHECKING:
    from wrapper.runtime.response_stream import ResponseStream

logger = get_logger(__name__)

SHUTDOWN_WAIT_S = 2.0  # after SIGTERM killed the programs: for their loops to report and remove scratch dirs


class Function(Protocol):
    """What the loop drives (wrapper.runtime.function.FunctionHandler is the one there is): one call per
    invocation, and a way to stop whatever it started."""

    def handle(self, invocation: Invocation) -> tuple[bytes, str] | Streamed:
        """Return (response body, content type) or a Streamed answer, or raise InvocationError."""

    def close(self) -> None:
        """Stop every program the function started."""


class Streamed(Protocol):
    """An answer sent while the program runs (output.streaming), through a ResponseStream the loop opens."""

    content_type: str

    def send(self, stream: ResponseStream) -> None:
        """Stream the answer; raise InvocationError only if nothing was sent (the loop then posts /error)."""


def run_runtime(
    load_function: Callable[[], Function], make_client: Callable[[], RuntimeClient], *, concurrency: int = 1
) -> int:
    """Init, then serve invocations until SIGTERM or a fatal Runtime API error; return an exit status."""
    client = make_client()  # before init: a bad address fails first, and an init error has a way out
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
    # Nothing was sent on it: the loops get clients made after init, which see what init configured (the
    # config's timeout_s as the fallback deadline).
    client.close()
    runtime = Runtime(function, make_client, concurrency=concurrency)
    return runtime.run()


class Runtime:
    """Drives `concurrency` independent next → handle → report loops over one function."""

    def __init__(self, function: Function, make_client: Callable[[], RuntimeClient], *, concurrency: int = 1) -> None:
        self.function = function
        self.make_client = make_client
        self.concurrency = max(1, concurrency)
        self._stopping = threading.Event()
        self._idle = threading.Condition()  # guards _busy, and the stop decision against a loop taking work
        self._busy = 0  # loops inside an invocation
        self._sigterm = False  # set by the signal handler, which must do nothing more than that and wake the waiter
        self._wake_fd = -1
        self._fatal: RuntimeAPIError | None = None

    def run(self) -> int:
        """Serve until stopped; 0 on SIGTERM, 1 when the Runtime API failed."""
        # Never closed: a loop still running after shutdown may write to it, and a closed fd's number could by
        # then belong to something else. One pipe per run, and the process ends soon after.
        wake_read, self._wake_fd = os.pipe()
        os.set_blocking(self._wake_fd, False)  # a full pipe already holds a wake-up: never block the writer
        previous = _install_sigterm(self._on_sigterm, self._wake_fd)
        try:
            clients = [self.make_client() for _ in range(self.concurrency)]
            for number, client in enumerate(clients):
                # daemon: a loop blocked in /next must not keep the process alive after shutdown
                threading.Thread(target=self._thread_loop, args=(client,), name=f"loop-{number}", daemon=True).start()
            while not (self._sigterm or self._stopping.is_set()):
                os.read(wake_read, 64)  # woken by the signal (set_wakeup_fd: whichever thread took it) or a loop
            if self._sigterm:
                logger.debug("SIGTERM received; stopping")
        except RuntimeAPIError as exc:
            self._fatal = self._fatal or exc
        finally:
            with self._idle:
                self._stopping.set()  # a loop finishing an invocation asks for no other, nor starts one it got
            self.function.close()  # kills the programs running, and one being started is killed once registered
            with self._idle:  # let the loops whose programs were killed report and clean up (scratch dirs)
                self._idle.wait_for(lambda: self._busy == 0, timeout=SHUTDOWN_WAIT_S)
            _install_sigterm(*previous)  # only now: a second SIGTERM must not cut the shutdown short
        if self._fatal is not None:
            logger.error("Runtime API failure, exiting: %s", self._fatal)
            return 1
        return 0

    def _thread_loop(self, client: RuntimeClient) -> None:
        try:
            self._loop(client)
        except RuntimeAPIError as exc:
            self._fatal = self._fatal or exc
        except BaseException:  # a bug outside the invocation boundary: stop the runtime rather than lose a loop
            logger.exception("Runtime loop failed")
            self._fatal = self._fatal or RuntimeAPIError("Runtime loop failed with an internal error")
        finally:
            self._stopping.set()
            _wake(self._wake_fd)

    def _loop(self, client: RuntimeClient) -> None:
        while not self._stopping.is_set():
            invocation = client.next_invocation()
            with self._idle:
                if self._stopping.is_set():
                    return  # shutting down: the environment goes, and this invocation with it
                self._busy += 1
            try:
                self.handle(client, invocation)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def handle(self, client: RuntimeClient, invocation: Invocation) -> None:
        """Run one invocation and post exactly one result for it."""
        # The trace id reaches the program through its own environment (mapping.command.context_env). Not through ours:
        # glibc's setenv never frees a replaced value (a leak per invocation), and concurrent loops share it.
        token = request_id_var.set(invocation.request_id)
        try:
            answer = self.function.handle(invocation)
            if not isinstance(answer, tuple):  # streamed: posts while the program runs; raises only before output
                stream = client.response_stream(invocation.request_id, answer.content_type,
                                                deadline_ms=invocation.deadline_ms)
                answer.send(stream)
        except InvocationError as exc:
            logger.warning("%s: %s", exc.error_type, exc)
            client.post_error(invocation.request_id, exc.error_type, str(exc))
        except RuntimeAPIError:
            raise  # the platform failing is fatal, also mid-stream
        except Exception as exc:  # the one broad catch: a wrapper bug must not kill the loop
            logger.exception("Internal error handling %s", invocation.request_id)
            import traceback  # only on this path: it imports linecache and tokenize

            stack = traceback.format_exception(exc)
            client.post_error(invocation.request_id, "Runtime.InternalError", f"Internal error: {exc!r}", stack)
        else:
            if isinstance(answer, tuple):
                body, content_type = answer
                client.post_response(invocation.request_id, body, content_type)
        finally:
            request_id_var.reset(token)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        # No lock, no Event.set() (it takes one the interrupted code may hold), no exception: a flag and a byte.
        self._sigterm = True
        _wake(self._wake_fd)


def _wake(fd: int) -> None:
    try:
        os.write(fd, b"\0")
    except (BlockingIOError, OSError):
        pass  # full (a wake-up is pending anyway) or closed (nobody waits any more)


def _install_sigterm(action: object, wakeup_fd: int) -> tuple[object, int]:
    """Install a SIGTERM handler and the signal wake-up fd in the main thread; return the previous pair."""
    if threading.current_thread() is not threading.main_thread():
        return None, -1
    previous_fd = signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
    previous = signal.signal(signal.SIGTERM, action if action is not None else signal.SIG_DFL)  # type: ignore[arg-type]
    return previous, previous_fd
