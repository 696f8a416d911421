"""The verdict rule: current model, old model, and the version guard."""

from __future__ import annotations

from conformance.kernel import KernelVersion
from conformance.verdict import OldModel, Verdict, judge

OLD = OldModel("6.3", "a402f1e35313", "clone3 rejected CLONE_NEWTIME with EINVAL")


def test_pass_when_current_model_matches() -> None:
    assert judge([], "ok", KernelVersion(6, 18)).verdict is Verdict.PASS


def test_fail_names_what_kernel_did() -> None:
    j = judge(["expected EINVAL"], "failed with E2BIG", KernelVersion(6, 18))
    assert j.verdict is Verdict.FAIL
    assert "expected EINVAL" in j.message and "E2BIG" in j.message


def test_old_model_on_older_kernel() -> None:
    j = judge(["expected success"], "failed with EINVAL", KernelVersion(6, 1, 50), OLD, [])
    assert j.verdict is Verdict.OLD_MODEL
    assert j.message.startswith("old-model:")
    assert "6.3" in j.message and "a402f1e35313" in j.message


def test_old_model_refused_on_new_kernel_is_regression() -> None:
    j = judge(["expected success"], "failed with EINVAL", KernelVersion(6, 12), OLD, [])
    assert j.verdict is Verdict.FAIL
    assert "regression" in j.message


def test_neither_model_is_fail() -> None:
    j = judge(["expected success"], "failed with EPERM", KernelVersion(6, 1), OLD, ["expected EINVAL"])
    assert j.verdict is Verdict.FAIL


def test_kernel_version_parse() -> None:
    assert KernelVersion.parse("6.12.107+deb12-amd64") == KernelVersion(6, 12, 107)
    assert KernelVersion.parse("6.1.0-50-amd64") < KernelVersion.parse("6.3")
