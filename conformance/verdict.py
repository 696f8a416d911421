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
case into a skip.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from conformance.kernel import KernelVersion


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


@dataclass(frozen=True)
class OldModel:
    """The documented behaviour before a change."""

    changed_in: str  # first version with the current behaviour, e.g. "6.3"
    commit: str  # the upstream commit that changed it
    summary: str  # what the old model did, in a few words

    def label(self) -> str:
        return f"{self.summary} (changed in {self.changed_in}, commit {self.commit})"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str
    observed: str = ""

    def with_prefix(self) -> str:
        """Message as written into reports: old-model/overridden carry their tag."""
        if self.verdict in (Verdict.OLD_MODEL, Verdict.OVERRIDDEN) and not self.message.startswith(
            self.verdict.value + ":"
        ):
            return f"{self.verdict.value}: {self.message}"
        return self.message


def judge(
    mismatches: list[str],
    observed: str,
    version: KernelVersion,
    old: OldModel | None = None,
    old_mismatches: list[str] | None = None,
) -> Judgement:
    """Turn the comparison with the current (and old) model into a verdict."""
    if not mismatches:
        return Judgement(Verdict.PASS, observed, observed)
    if old is not None and old_mismatches is not None and not old_mismatches:
        if version < KernelVersion.parse(old.changed_in):
            return Judgement(Verdict.OLD_MODEL, f"old-model: {old.label()}; kernel {observed}", observed)
        return Judgement(
            Verdict.FAIL,
            f"regression to the model before {old.changed_in} ({old.commit}) on a {version} kernel: "
            f"{observed}",
            observed,
        )
    return Judgement(Verdict.FAIL, f"{'; '.join(mismatches)} (kernel {observed})", observed)
