"""Report what this invocation's scratch dir looks like, then leave a file in it. argv: none.

Prints JSON {cwd, home, mode (octal), entries (names found at start)}, then writes cwd/left-behind.
"""

import json
import os
import stat

cwd = os.getcwd()
entries = sorted(os.listdir(cwd))
mode = oct(stat.S_IMODE(os.stat(cwd).st_mode))
with open(os.path.join(cwd, "left-behind"), "w") as f:
    f.write(os.environ.get("AWS_LAMBDA_REQUEST_ID", ""))
print(json.dumps({"cwd": cwd, "home": os.environ.get("HOME"), "mode": mode, "entries": entries}))
