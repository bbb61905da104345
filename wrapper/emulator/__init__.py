"""A local Lambda for development and tests: Runtime API, invoke API and Function URL front on one port.

    from wrapper.emulator import Emulator
    with Emulator(runtime_argv=["./bootstrap"]) as emulator:
        result = emulator.invoke(b'{"hello": "world"}')
"""

from wrapper.emulator.core import Emulator
from wrapper.emulator.faults import Endpoint
from wrapper.emulator.results import InvokeResult
from wrapper.emulator.state import EmulatorStats

__all__ = ["Emulator", "EmulatorStats", "Endpoint", "InvokeResult"]
