"""`python -m benchmarks.imports [TRIALS]`: where wrapper's cold start goes, as wall time of fresh interpreters.

Each line is one `python -c CODE` run to completion (spawn → exit), TRIALS times, lines interleaved so load
drift hits all alike; the median is printed. Differences between lines are what each import step costs.
For the per-module view: `python -X importtime -c 'import wrapper.runtime.function'`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runtimes import REPO

RUN_IMPORTS = (
    "import wrapper.cli.main, wrapper.runtime.client, wrapper.runtime.loop, wrapper.logs, "
    "wrapper.runtime.function; "
)
LOAD = "wrapper.runtime.function.FunctionHandler.load({!r}, base_env={{'PATH': '/usr/bin:/bin'}})"


def steps(yaml_config: Path, compiled_config: Path) -> list[tuple[str, list[str]]]:
    return [
        ("interpreter, no site (-S)", ["-S", "-c", "pass"]),
        ("interpreter (site)", ["-c", "pass"]),
        ("http.client (what the stdlib floor imports)", ["-c", "import http.client"]),
        (
            "awslambdaric's bootstrap and client",
            ["-c", "import awslambdaric.bootstrap, awslambdaric.lambda_runtime_client"],
        ),
        (
            "wrapper: cli, client, runtime, logs",
            ["-c", "import wrapper.cli.main, wrapper.runtime.client, wrapper.runtime.loop, wrapper.logs"],
        ),
        ("wrapper: everything `run` imports", ["-c", RUN_IMPORTS]),
        ("wrapper: + load echo.yaml, compiled form", ["-c", RUN_IMPORTS + LOAD.format(str(compiled_config))]),
        ("wrapper: + load echo.yaml, YAML + pydantic", ["-c", RUN_IMPORTS + LOAD.format(str(yaml_config))]),
        ("yaml alone", ["-c", "import yaml"]),
        ("pydantic alone", ["-c", "import pydantic"]),
        ("wrapper.config.schema (pydantic, yaml, the schema classes)", ["-c", "import wrapper.config.schema"]),
    ]


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as scratch:
        yaml_config = Path(shutil.copy(REPO / "configs" / "echo.yaml", Path(scratch) / "plain.yaml"))
        (Path(scratch) / "compiled").mkdir()
        compiled_config = Path(shutil.copy(yaml_config, Path(scratch) / "compiled" / "echo.yaml"))
        compile_argv = [sys.executable, "-m", "wrapper", "check", "--compile", str(compiled_config)]
        subprocess.run(compile_argv, env=env, capture_output=True, check=False)
        return measure(steps(yaml_config, compiled_config), trials, env)


def measure(steps: list[tuple[str, list[str]]], trials: int, env: dict[str, str]) -> int:
    times: dict[str, list[float]] = {name: [] for name, _ in steps}
    failed: set[str] = set()
    for _ in range(trials):
        for name, args in steps:
            start = time.perf_counter()
            result = subprocess.run([sys.executable, *args], env=env, cwd="/", capture_output=True, check=False)
            times[name].append(time.perf_counter() - start)
            if result.returncode != 0:
                failed.add(name)
    print(f"| step (fresh `python -c`, spawn → exit; {trials} trials) | median ms | min ms |")
    print("|---|---|---|")
    for name, samples in times.items():
        if name in failed:
            print(f"| {name} | failed (not installed?) | |")
        else:
            print(f"| {name} | {statistics.median(samples) * 1000:.1f} | {min(samples) * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
