"""Probe classification, on the real kernel and on the errno table."""

from __future__ import annotations

import errno

import pytest

from conformance.suite import probes
from conformance.suite.probes import State, all_probes, classify_errno


@pytest.mark.parametrize(
    ("err", "state"),
    [(errno.EINVAL, State.PRESENT), (errno.ENOSYS, State.ABSENT), (errno.EPERM, State.UNKNOWN)],
)
def test_classify(err: int, state: State) -> None:
    assert classify_errno(err, (errno.EINVAL,), (errno.ENOSYS,)) is state


def test_every_probe_names_feature_and_origin() -> None:
    for p in all_probes().values():
        assert p.feature and p.since, p.name
        presence = p()
        assert presence.state in State
        assert presence.observed, f"{p.name} says nothing about what the kernel did"
        if not presence.present:
            reason = presence.reason()
            assert p.feature in reason and (not p.commit or p.commit in reason)


def test_clone3_present_here() -> None:
    # Every kernel this suite targets (>= 5.3 on x86_64/arm64) has clone3.
    assert probes.probe("clone3").present


def test_absent_reason_text() -> None:
    pr = probes.Presence("CLONE_FOO", State.ABSENT, "EINVAL", "9.9", "0123456789ab")
    assert pr.reason() == "CLONE_FOO not available (added in 9.9, commit 0123456789ab): EINVAL"
