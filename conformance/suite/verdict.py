"""The verdict model shared by every family, and the rule that produces it.

A case compares what the kernel did with two documented models: the current
one (``expect``) and, optionally, the one before a known change (``old``).

* pass       the kernel follows the current model;
* fail       it follows neither (or follows the old model although it is at
             least the version that changed it: a regression, not history);
* skip       the case does not apply here (missing feature or privilege);
* old-model  it follows the documented earlier model, and it is older than the
             version that changed it; the message names version and commit;
* error      the harness or the kernel's health broke (timeout, leak, taint);
* overridden a fail that a distro expectation file marks as known.

The kernel version is used for exactly one thing: refusing the old-model
verdict to kernels that are new enough to have the change.  It never turns a
case into a skip.  The rule itself is conformance.suite.case.verdict_of, applied by
the one case template (judge_case).
"""

from __future__ import annotations

import enum

from conformance.host.records import record


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    OLD_MODEL = "old-model"
    ERROR = "error"
    OVERRIDDEN = "overridden"

    @property
    def red(self) -> bool:
        """Whether dashboards should show it as a problem."""
        return self in (Verdict.FAIL, Verdict.ERROR)


@record(frozen=True)
class Judgement:
    verdict: Verdict
    message: str
    observed: str = ""

    def to_json(self) -> dict[str, str]:
        return {"verdict": self.verdict.value, "message": self.message, "observed": self.observed}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Judgement:
        return cls(Verdict(str(d["verdict"])), str(d.get("message", "")), str(d.get("observed", "")))

    def with_prefix(self) -> str:
        """Message as written into reports: old-model/overridden carry their tag."""
        return tagged(self.verdict, self.message)


def tagged(verdict: Verdict, message: str) -> str:
    """The one tag rule: an old-model or overridden message reads as such (``old-model: ...``) wherever
    only text is seen (records, JUnit skips, KTAP directives); applying it twice changes nothing.
    Display only: readers take the verdict from data."""
    if verdict in (Verdict.OLD_MODEL, Verdict.OVERRIDDEN) and not message.startswith(verdict.value + ":"):
        return f"{verdict.value}: {message}".rstrip()
    return message
