"""Exits at once with status 3 after an error on stderr (a server with a bad config)."""

import sys

sys.stderr.write("server_exit_at_start: error loading config: no such module\n")
sys.exit(3)
