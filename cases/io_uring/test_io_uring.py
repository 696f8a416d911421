"""io_uring: the io-wq/SQPOLL worker, signal and sysctl cases, one item per row (the io_uring runs of the
resolve_cached rows are that family's variant axis)."""

from __future__ import annotations

from conformance.runner.plugin import Conformance

from .model import IoUringCase
from .table import CASES  # noqa: F401  (the kconform plugin runs the test once per row)


def test_io_uring(case: IoUringCase, kc: Conformance) -> None:
    kc.check(case)
