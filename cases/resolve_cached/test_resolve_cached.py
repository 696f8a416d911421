"""openat2(RESOLVE_CACHED): one pytest item per row of table.CASES."""

from __future__ import annotations

import pytest

from conformance.case import LegacyCase as Case
from conformance.plugin import Conformance
from kconform_cases.resolve_cached.table import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_resolve_cached(case: Case, kc: Conformance) -> None:
    kc.check(case)
