"""io_uring: the RESOLVE_CACHED twins and the io-wq/SQPOLL worker cases, one item per row."""

from __future__ import annotations

import pytest

from conformance.plugin import Conformance

from .model import IoUringCase
from .table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_io_uring(case: IoUringCase, kc: Conformance) -> None:
    kc.check(case)
