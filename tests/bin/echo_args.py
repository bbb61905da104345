"""Print JSON {argv (after the script), env, stdin (UTF-8, invalid bytes replaced), stdin_len, cwd}. argv: any."""

import json
import os
import sys

data = sys.stdin.buffer.read() if sys.stdin is not None else b""
print(
    json.dumps(
        {
            "argv": sys.argv[1:],
            "env": dict(os.environ),
            "stdin": data.decode("utf-8", "replace"),
            "stdin_len": len(data),
            "cwd": os.getcwd(),
        }
    )
)
