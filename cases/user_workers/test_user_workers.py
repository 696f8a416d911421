"""user_workers: one pytest item per row of table.CASES."""

from __future__ import annotations

import pytest

from conformance.plugin import Conformance

from .model import WorkerCase
from .table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_user_workers(case: WorkerCase, kc: Conformance) -> None:
    kc.check(case)
