"""The zip's bootstrap: the one script Lambda starts, for the zip route and (through entry.sh) the image route."""

from __future__ import annotations

BOOTSTRAP = "bootstrap"
VENDOR_DIR = "vendor"  # wrapper's run path (and jmespath when the config has inputs): the bootstrap's PYTHONPATH
BUNDLED_PROGRAM = "bundled program"  # ShipFile.reason of programs `--bundle` copies into bin/
RUN_CODE = 'from wrapper.cli.main import main; raise SystemExit(main(["run", "--compiled-only"]))'


def render_bootstrap(config_name: str, *, bundled: bool) -> str:
    """The bootstrap script, started by Lambda through AWS_LAMBDA_EXEC_WRAPPER (zip) or entry.sh (image).

    `bundled`: the zip carries programs in bin/, which go first on PATH (Lambda's PATH has no $LAMBDA_TASK_ROOT/bin;
    its LD_LIBRARY_PATH already has $LAMBDA_TASK_ROOT/lib).
    """
    path = 'export PATH="$here/bin:$PATH"  # programs `wrapper package --bundle` brought along\n' if bundled else ""
    return f"""\
#!/bin/sh
# Built by `wrapper package` for {config_name}. Lambda's managed Python runtime starts this script through
# AWS_LAMBDA_EXEC_WRAPPER=/var/task/bootstrap, passing its own interpreter and arguments. wrapper replaces that
# runtime, so they are ignored.
set -e
# Lambda starts /var/task/bootstrap by its absolute path: no subshell on the cold-start path
case "$0" in /*) here=${{0%/*}} ;; */*) here=$(cd "${{0%/*}}" && pwd) ;; *) here=$PWD ;; esac
python=/var/lang/bin/python3
# outside Lambda (tests, a local emulator): the first python3 on PATH, found by exec itself (no subshell)
[ -x "$python" ] || python=python3
export LAMBDA_TASK_ROOT="${{LAMBDA_TASK_ROOT:-$here}}"
export _HANDLER="${{_HANDLER:-{config_name}}}"
{path}# -S: no site-packages (the runtime's own boto3 and awslambdaric, or a local install), only what the zip holds;
# -P: the working directory is not on sys.path either. -c rather than -m: runpy and importlib.util stay unloaded.
# `run --compiled-only`: the compiled config is the contract (the zip has no pydantic or YAML to read anything
# else), so a stale one is an init error, not a slow fallback.
export PYTHONPATH="$here/{VENDOR_DIR}"
exec "$python" -S -P -c '{RUN_CODE}'
"""
