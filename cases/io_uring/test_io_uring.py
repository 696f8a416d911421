"""io_uring: the io-wq/SQPOLL worker, signal and sysctl cases, one item per row (the io_uring runs of the
resolve_cached rows are that family's variant axis)."""

from __future__ import annotations

import pytest

from conformance.plugin import Conformance

from .model import IoUringCase
from .table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_io_uring(case: IoUringCase, kc: Conformance) -> None:
    kc.check(case)
