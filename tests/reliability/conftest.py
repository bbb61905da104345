"""The reliability suite's fixture: `sandbox`, a test's own directories in the Lambda sandbox and its process tag."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from reliability_helpers import LAMBDA, Sandbox, new_sandbox, tagged_processes


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Fresh dirs in the Lambda sandbox for one test; tagged processes die after it, and its box is removed."""
    sandbox, box = new_sandbox(request.node.name)
    yield sandbox
    # after the test has asserted: leave no tagged process behind for the next test, whatever happened
    for pid in tagged_processes(sandbox.tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    LAMBDA.remove_box(box)
