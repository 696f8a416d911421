"""The one case template every family's rows share.

A family subclasses ``Case[O]`` with its own typed request fields and supplies
two methods: ``observe()`` (run the scenario once, return a typed observation
``O``; raise ``HarnessProblem`` when the harness, not the kernel, broke) and
``describe(obs)`` (what the kernel did, one line).  Each row declares what the
kernel must show now (``expect``) and, where a documented earlier behaviour
exists, ``old = OldModel(changed_in, commit, summary, expect=...)``.
``judge_case`` turns that into the verdict; nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from conformance.host import kernel
from conformance.host.kernel import KernelVersion
from conformance.host.records import record
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import Change
from conformance.native import HarnessProblem as HarnessProblem  # raised by observe(): the verdict is error
from conformance.suite.requirements import Requirement
from conformance.suite.verdict import Judgement, Verdict

O = TypeVar("O")  # noqa: E741 - a family's observation type
O_contra = TypeVar("O_contra", contravariant=True)


class Check(Protocol[O_contra]):
    """One expected property of an observation."""

    def mismatch(self, obs: O_contra) -> str | None:
        """None when the observation has the property, else what differs."""


class Expectation(Protocol[O_contra]):
    """The whole model (current or old) of one case."""

    def mismatches(self, obs: O_contra) -> list[str]:
        """Everything that differs from the model; [] when the kernel follows it."""


def mismatches(checks: Iterable[Check[O_contra]], obs: O_contra) -> list[str]:
    return [m for c in checks if (m := c.mismatch(obs)) is not None]


@record(frozen=True)
class AllOf(Generic[O]):
    """The usual expectation: every check holds."""

    checks: tuple[Check[O], ...]

    def mismatches(self, obs: O) -> list[str]:
        return mismatches(self.checks, obs)


@record(frozen=True)
class OldModel(Generic[O]):
    """The documented behaviour before a change, and what the kernel shows under it."""

    changed_in: str  # first release with the current behaviour, e.g. "6.3"
    commit: str  # the upstream commit that changed it (12 hex digits)
    summary: str  # what the old model did, in a few words
    expect: Expectation[O]

    def label(self) -> str:
        commit = f"commit {self.commit}" if self.commit else "upstream commit not known: read in Debian's source"
        return f"{self.summary} (changed in {self.changed_in}, {commit})"


@record(frozen=True)
class ClockWait:
    """A row whose scenario waits on a kernel timer (at most ``seconds``, for the reason ``why``): the
    runner starts it early, beside the other cases, and judges it when its item comes (waits.py)."""

    seconds: float
    why: str


@record(frozen=True, kw_only=True)
class Case(Generic[O]):
    """One row of a family's table."""

    id: str  # stable case id, [a-z0-9._-]
    behaviour: str  # "<family>.<name>", declared by the family
    expect: Expectation[O]
    old: OldModel[O] | None = None
    needs: tuple[Requirement, ...] = ()
    # Every case runs holding the global lock shared; EXCLUSIVE: it changes global state (see globallock.py)
    lock: Lock = Lock.SHARED
    # Global state the case changes (e.g. Sysctl("kernel.io_uring_disabled")): saved, journaled and
    # restored around it (globalstate.py); implies the exclusive lock.
    changes: tuple[Change, ...] = ()
    # Global state the case depends on (e.g. Sysctl("kernel.io_uring_disabled") for every io_uring row):
    # read under the machine-wide lock (shared), and a case whose observation overlapped a change of it,
    # by any run of any user, is an error naming the change (machine.py)
    reads: tuple[Change, ...] = ()
    # The scenario waits on the kernel's clock: run beside the other cases (only a row that changes no
    # global state and holds the lock shared; see waits.py)
    waits: ClockWait | None = None
    doc: str = ""

    @property
    def family(self) -> str:
        return self.behaviour.split(".", 1)[0]

    def unmet(self) -> str | None:
        """The first unmet requirement, as a skip reason."""
        for req in self.needs:
            reason = req.unmet()
            if reason is not None:
                return reason
        return None

    def observe(self) -> O:
        """Run the scenario once (one native call) and return what the kernel did."""
        raise NotImplementedError

    def describe(self, obs: O) -> str:
        """What the kernel did, one line (the message of pass and the tail of fail)."""
        raise NotImplementedError


def verdict_of(
    current: list[str], observed: str, version: KernelVersion, old: OldModel[O] | None, old_current: list[str] | None
) -> Judgement:
    """The rule: current model -> pass; old model on an older kernel -> old-model; else fail."""
    if not current:
        return Judgement(Verdict.PASS, observed, observed)
    if old is not None and old_current is not None and not old_current:
        if version < KernelVersion.parse(old.changed_in):
            return Judgement(Verdict.OLD_MODEL, f"old-model: {old.label()}; kernel {observed}", observed)
        return Judgement(
            Verdict.FAIL,
            f"regression to the model before {old.changed_in} ({old.commit}) on a {version} kernel: {observed}",
            observed,
        )
    return Judgement(Verdict.FAIL, f"{'; '.join(current)} (kernel {observed})", observed)


def judge_case(case: Case[O]) -> Judgement:
    """The case template: observe once, then error / pass / old-model / fail."""
    try:
        obs = case.observe()
    except HarnessProblem as e:
        return Judgement(Verdict.ERROR, f"harness: {e}", str(e))
    old_m = case.old.expect.mismatches(obs) if case.old is not None else None
    return verdict_of(case.expect.mismatches(obs), case.describe(obs), kernel.facts().version, case.old, old_m)


def check_table(cases: Sequence[Case[Any]], known_behaviours: Iterable[str]) -> list[str]:
    """Integrity problems of a case table: duplicate ids, unknown behaviours, malformed old models."""
    problems: list[str] = []
    known = set(known_behaviours)
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            problems.append(f"duplicate case id {c.id}")
        seen.add(c.id)
        if c.behaviour not in known:
            problems.append(f"{c.id}: unknown behaviour {c.behaviour}")
        if not c.id.replace("-", "").replace("_", "").replace(".", "").isalnum() or c.id != c.id.lower():
            problems.append(f"{c.id}: ids use [a-z0-9._-] only")
        if c.old is not None:
            # "" only for a change read in a distribution's kernel source whose upstream commit is not known
            if (c.old.commit and len(c.old.commit) != 12) or not all(ch in "0123456789abcdef" for ch in c.old.commit):
                problems.append(f"{c.id}: old model commit {c.old.commit!r} is not 12 hex digits")
            try:
                KernelVersion.parse(c.old.changed_in)
            except ValueError:
                problems.append(f"{c.id}: old model release {c.old.changed_in!r} is not a version")
            if c.old.expect == c.expect:
                problems.append(f"{c.id}: the old model expects what the current one does")
    return problems
