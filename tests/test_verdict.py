"""The verdict rule: current model, old model, and the version guard."""

from __future__ import annotations

import json

import pytest

from conformance.host.kernel import KernelVersion
from conformance.host.records import record
from conformance.runner.plugin import record_from_reports
from conformance.suite.case import AllOf, Case, HarnessProblem, OldModel, judge_case, verdict_of
from conformance.suite.results import CASE_PROP, JUDGEMENT_PROP
from conformance.suite.verdict import Judgement, Verdict

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


@record(frozen=True)
class Is:
    want: int

    def mismatch(self, obs: int) -> str | None:
        return None if obs == self.want else f"expected {self.want}"


@record(frozen=True, kw_only=True)
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


# --------------------------------------------------------------------------- the verdict travels as data

IDENTITY = (CASE_PROP, json.dumps({"classname": "clone3.newtime", "name": "newtime-accepted"}))


def _report(outcome: str, longrepr: str, props: list[tuple[str, object]]) -> pytest.TestReport:
    return pytest.TestReport("cases/x.py::t[a]", ("cases/x.py", 1, "t[a]"), {}, outcome,  # type: ignore[arg-type]
                             longrepr, "call", user_properties=props)


def test_record_takes_the_judgement_not_the_text() -> None:
    j = Judgement(Verdict.OLD_MODEL, "old-model: gave EINVAL (changed in 6.3, commit a402f1e35313)", "x")
    rec = record_from_reports("n", None, _report("skipped", "Skipped: whatever pytest says",
                                                 [IDENTITY, (JUDGEMENT_PROP, json.dumps(j.to_json()))]))
    assert (rec.classname, rec.name, rec.verdict) == ("clone3.newtime", "newtime-accepted", Verdict.OLD_MODEL)
    assert rec.message == j.message


def test_text_that_looks_like_a_verdict_is_not_one() -> None:
    rec = record_from_reports("n", None, _report("failed", "old-model: CaseTimeout in a message", [IDENTITY]))
    assert rec.verdict is Verdict.ERROR  # an exception inside a case, whatever its text says
    plain = record_from_reports("n", None, _report("failed", "conformance.runner.plugin.CaseTimeout: no", []))
    assert plain.verdict is Verdict.FAIL  # a plain test's failure


def test_judgement_json_round_trip() -> None:
    j = Judgement(Verdict.ERROR, "case timed out after 1 s and was abandoned", "")
    assert Judgement.from_json(json.loads(json.dumps(j.to_json()))) == j
