"""user_workers: one pytest item per row of table.CASES."""

from __future__ import annotations

from conformance.runner.plugin import Conformance

from .model import WorkerCase
from .table import CASES  # noqa: F401  (the kconform plugin runs the test once per row)


def test_user_workers(case: WorkerCase, kc: Conformance) -> None:
    kc.check(case)
