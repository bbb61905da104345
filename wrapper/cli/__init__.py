"""The `wrapper` command line (entry point: `wrapper.cli.main.main`).

The only package that reads the environment and the only one that decides exit statuses: EXIT_OK for success,
EXIT_FAILURE for a runtime or function failure, EXIT_USAGE for a config or usage error.
"""

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
