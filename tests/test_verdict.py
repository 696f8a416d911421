"""The verdict rule: current model, old model, and the version guard."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.case import AllOf, Case, HarnessProblem, OldModel, judge_case, verdict_of
from conformance.kernel import KernelVersion
from conformance.verdict import Verdict

OLD: OldModel[int] = OldModel("6.3", "a402f1e35313", "clone3 rejected CLONE_NEWTIME with EINVAL", expect=AllOf(()))


def test_pass_when_current_model_matches() -> None:
    assert verdict_of([], "ok", KernelVersion(6, 18), None, None).verdict is Verdict.PASS


def test_fail_names_what_kernel_did() -> None:
    j = verdict_of(["expected EINVAL"], "failed with E2BIG", KernelVersion(6, 18), None, None)
    assert j.verdict is Verdict.FAIL
    assert "expected EINVAL" in j.message and "E2BIG" in j.message


def test_old_model_on_older_kernel() -> None:
    j = verdict_of(["expected success"], "failed with EINVAL", KernelVersion(6, 1, 50), OLD, [])
    assert j.verdict is Verdict.OLD_MODEL
    assert j.message.startswith("old-model:")
    assert "6.3" in j.message and "a402f1e35313" in j.message


def test_old_model_refused_on_new_kernel_is_regression() -> None:
    j = verdict_of(["expected success"], "failed with EINVAL", KernelVersion(6, 12), OLD, [])
    assert j.verdict is Verdict.FAIL
    assert "regression" in j.message


def test_neither_model_is_fail() -> None:
    j = verdict_of(["expected success"], "failed with EPERM", KernelVersion(6, 1), OLD, ["expected EINVAL"])
    assert j.verdict is Verdict.FAIL


def test_kernel_version_parse() -> None:
    assert KernelVersion.parse("6.12.107+deb12-amd64") == KernelVersion(6, 12, 107)
    assert KernelVersion.parse("6.1.0-50-amd64") < KernelVersion.parse("6.3")


# --------------------------------------------------------------------------- the case template


@dataclass(frozen=True)
class Is:
    want: int

    def mismatch(self, obs: int) -> str | None:
        return None if obs == self.want else f"expected {self.want}"


@dataclass(frozen=True, kw_only=True)
class Fixed(Case[int]):
    value: int = 0
    broken: bool = False

    def observe(self) -> int:
        if self.broken:
            raise HarnessProblem("no child")
        return self.value

    def describe(self, obs: int) -> str:
        return f"gave {obs}"


def test_template_pass_fail_error() -> None:
    assert judge_case(Fixed(id="a", behaviour="x.y", expect=AllOf((Is(1),)), value=1)).verdict is Verdict.PASS
    j = judge_case(Fixed(id="a", behaviour="x.y", expect=AllOf((Is(1),)), value=2))
    assert j.verdict is Verdict.FAIL and j.message == "expected 1 (kernel gave 2)"
    j = judge_case(Fixed(id="a", behaviour="x.y", expect=AllOf((Is(1),)), broken=True))
    assert j.verdict is Verdict.ERROR and j.message == "harness: no child"


def test_template_old_model_by_version() -> None:
    future = OldModel("99.0", "0123456789ab", "gave 2", expect=AllOf((Is(2),)))
    j = judge_case(Fixed(id="a", behaviour="x.y", expect=AllOf((Is(1),)), old=future, value=2))
    assert j.verdict is Verdict.OLD_MODEL and "changed in 99.0" in j.message
    past = OldModel("3.0", "0123456789ab", "gave 2", expect=AllOf((Is(2),)))
    j = judge_case(Fixed(id="a", behaviour="x.y", expect=AllOf((Is(1),)), old=past, value=2))
    assert j.verdict is Verdict.FAIL and "regression" in j.message
