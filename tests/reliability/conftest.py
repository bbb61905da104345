"""The reliability suite's fixture: `sandbox`, a test's own directory, scratch dir, log and process tag."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability_helpers import Sandbox, new_tag, tagged_processes


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A directory, scratch dir, runtime log and RELIABILITY_TAG for one test; tagged processes die after it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    box = Sandbox(dir=tmp_path, scratch=scratch, log=tmp_path / "runtime.log", tag=new_tag())
    yield box
    # after the test has asserted: leave no tagged process behind for the next test, whatever happened
    for pid in tagged_processes(box.tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

