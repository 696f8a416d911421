"""openat2(RESOLVE_CACHED): one pytest item per row of table.CASES (each row in each variant)."""

from __future__ import annotations

import pytest

from conformance.plugin import Conformance

from .model import CachedCase
from .table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_resolve_cached(case: CachedCase, kc: Conformance) -> None:
    kc.check(case)
