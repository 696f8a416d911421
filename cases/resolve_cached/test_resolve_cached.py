"""openat2(RESOLVE_CACHED): one pytest item per row of table.CASES (each row in each variant)."""

from __future__ import annotations

from conformance.runner.plugin import Conformance

from .model import CachedCase
from .table import CASES  # noqa: F401  (the kconform plugin runs the test once per row)


def test_resolve_cached(case: CachedCase, kc: Conformance) -> None:
    kc.check(case)
