"""Handlers for AWS's Python runtime interface client (`python -m awslambdaric ric_handler.NAME`).

`run_cat` is what a Python developer writes to put a program behind Lambda: serialize the event, run the
program with it on stdin, return its stdout (awslambdaric posts bytes as-is). `echo` runs no program: the
client's own floor.
"""

import json
import subprocess


def run_cat(event, context):
    """Run `cat` with the event on stdin and return its output."""
    return subprocess.run(["cat"], input=json.dumps(event).encode(), capture_output=True, check=True).stdout


def echo(event, context):
    """Return the event."""
    return event
