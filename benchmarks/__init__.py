"""Benchmarks for wrapper (issue 6): `python -m benchmarks --help`."""
