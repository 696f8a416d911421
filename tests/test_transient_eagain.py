"""resolve_cached: a row that expects an open tries again after an EAGAIN (a seqcount that moved, a reclaimed
dentry), in a fresh child, a bounded number of times; a kernel that always refuses still fails the row; rows
that expect a refusal are never retried."""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Any, cast

import pytest

from cases.resolve_cached import model, table
from conformance.native.uring import OpenResult


def _result(res: int) -> OpenResult:
    one = SimpleNamespace(res=res, ok=res >= 0, err=-res if res < 0 else 0, describe=lambda: f"res {res}",
                          dev=1, ino=2)
    return cast(OpenResult, SimpleNamespace(problem=lambda: None, measured=one, direct=one, ref_res=0,
                                            ref_dev=1, ref_ino=2))


def _row(id: str) -> model.CachedCase:
    return next(c for c in table.ROWS if c.id == id)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The fake kernel's answers, in order; the last one repeats."""
    queue: list[int] = []

    def fake(req: Any) -> OpenResult:
        return _result(queue.pop(0) if len(queue) > 1 else queue[0])

    monkeypatch.setattr(model, "run_open", fake)
    monkeypatch.setattr(model, "process_umask", lambda: 0o022)
    return queue


def test_a_transient_eagain_is_tried_again(answers: list[int]) -> None:
    answers.extend([-errno.EAGAIN, 5])
    row = _row("warm-file")
    obs = row.observe()
    assert obs.result.measured.ok and len(obs.transient) == 1
    assert "after 1 transient EAGAIN" in row.describe(obs)


def test_a_kernel_that_always_refuses_still_fails(answers: list[int]) -> None:
    answers.append(-errno.EAGAIN)
    row = _row("warm-file")
    obs = row.observe()
    assert not obs.result.measured.ok and len(obs.transient) == model.TRANSIENT_RETRIES
    assert row.expect.mismatches(obs), "an EAGAIN where an fd is expected must be a mismatch"


def test_an_expected_refusal_is_not_retried(answers: list[int]) -> None:
    answers.extend([-errno.EAGAIN, 5])
    obs = _row("never-looked-up").observe()
    assert obs.transient == () and not obs.result.measured.ok
