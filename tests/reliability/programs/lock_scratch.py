"""Leave the scratch dir in modes a plain `rm -r` cannot undo, as `tar` does with a caller's archive. argv: [OUTSIDE]

Writes ro/ (mode 0500, holding 5 MB of data and sub/, itself 0500), closed/ (mode 000, holding a file) and a
read-only file, then makes the scratch dir itself 0500. With OUTSIDE (a directory), also leaves ro/link-out
pointing at it, so a cleanup that follows symlinks would change it. Prints what it left as JSON.
"""

import json
import os
import sys

os.makedirs("ro/sub")
with open("ro/data", "wb") as f:
    f.write(b"x" * 5_000_000)
with open("ro/sub/file", "w") as f:
    f.write("x")
if len(sys.argv) > 1:
    os.symlink(sys.argv[1], "ro/link-out")
os.chmod("ro/sub", 0o500)
os.chmod("ro", 0o500)
os.mkdir("closed")
open("closed/file", "w").close()
os.chmod("closed", 0)
open("readonly", "w").close()
os.chmod("readonly", 0o400)
os.chmod(".", 0o500)
print(json.dumps({"cwd": os.getcwd(), "left": sorted(os.listdir("."))}))
