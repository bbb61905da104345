"""Fixtures of the emulator tests: an emulator with no runtime of its own, and a runtime driven by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator_helpers import RawRuntime
from wrapper.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(runtime_argv=None, function_name="probe", function_timeout_s=30.0) as emulator:
        yield emulator


@pytest.fixture
def runtime(emulator: Emulator) -> Iterator[RawRuntime]:
    runtime = RawRuntime(emulator.address)
    yield runtime
    runtime.close()
