"""`python -m wrapper`: the same entry point as the `wrapper` command."""

from wrapper.cli.main import main

raise SystemExit(main())
