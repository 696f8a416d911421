"""clone3(): one pytest item per row of table.CASES."""

from __future__ import annotations

from conformance.runner.plugin import Conformance

from .model import CloneCase
from .table import CASES  # noqa: F401  (the kconform plugin runs the test once per row)


def test_clone3(case: CloneCase, kc: Conformance) -> None:
    kc.check(case)
