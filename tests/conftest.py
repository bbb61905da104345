"""Fixtures shared by every test: a clean environment and paths to the tiny test programs."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from harness import BIN, CLEARED_PREFIXES
from lambda_sandbox import used_sandbox

# CI gets the same examples every run (a red CI must be reproducible); locally each run explores new ones.
settings.register_profile("ci", derandomize=True, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI"):
    settings.load_profile("ci")



@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees Lambda, AWS or wrapper variables from the machine it runs on."""
    for name in list(os.environ):
        if name.startswith(CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["compiled", "yaml"])
def config_source(request: pytest.FixtureRequest) -> str:
    """Each source `wrapper run` reads a config from (harness.SOURCES): end-to-end tests run over both."""
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def nothing_written_outside_the_lambda_sandbox() -> Iterator[None]:
    """After the session: the runtimes and programs run as Lambda's user wrote nowhere but in their tmp dirs."""
    yield
    sandbox = used_sandbox()
    if sandbox is not None:
        outside = sandbox.writes_outside()
        sandbox.remove()
        assert outside == [], f"uid 65534 wrote outside the sandbox's tmp dirs: {outside[:20]}"


@pytest.fixture
def program():
    """Return the argv prefix that runs tests/bin/NAME.py with this interpreter."""

    def _program(name: str) -> list[str]:
        return [sys.executable, str(BIN / f"{name}.py")]

    return _program


@pytest.fixture
def wrapper_log() -> Iterator[io.StringIO]:
    """wrapper's log lines, DEBUG and up, as text (wrapper/logs.py's single sink, restored after)."""
    from wrapper.logs import DEBUG, setup_logging

    stream = io.StringIO()
    setup_logging("text", DEBUG, stream=stream)
    yield stream
    setup_logging()
