"""Report the conditions this program runs under, as JSON. argv: PATH... (directories to try writing into)

{"uid", "gid", "groups", "nofile": [soft, hard], "nproc": [soft, hard], "env": sorted names, "writable": {PATH:
true or the error}} (a file it could create is removed again).
"""

import json
import os
import resource
import sys
import uuid

writable = {}
for directory in sys.argv[1:]:
    path = os.path.join(directory, f"probe-{uuid.uuid4().hex}")
    try:
        with open(path, "x"):
            pass
        os.unlink(path)
        writable[directory] = True
    except OSError as exc:
        writable[directory] = exc.strerror
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
    "env": sorted(os.environ), "writable": writable,
}))
