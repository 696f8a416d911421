"""clone3(): one pytest item per row of table.CASES."""

from __future__ import annotations

import pytest

from conformance.plugin import Conformance

from .model import CloneCase
from .table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_clone3(case: CloneCase, kc: Conformance) -> None:
    kc.check(case)
