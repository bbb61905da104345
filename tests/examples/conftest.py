"""The example's fixtures, for every module here: a deployed copy of the example and local probe targets."""

from test_blackbox_example import deployed, targets

__all__ = ["deployed", "targets"]
