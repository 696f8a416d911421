"""What every case of every family has in common.

A family declares a frozen dataclass deriving from ``Case``; its table is a
tuple of instances (one row per case).  The plugin only needs ``id``,
``behaviour``, ``needs``, and ``execute()``, which returns a Judgement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from conformance.globallock import Lock
from conformance.requirements import Requirement
from conformance.verdict import Judgement, OldModel

O_contra = TypeVar("O_contra", contravariant=True)


class Check(Protocol[O_contra]):
    """One expected property of an observation."""

    def mismatch(self, obs: O_contra) -> str | None:
        """None when the observation has the property, else what differs."""


def mismatches(checks: Iterable[Check[O_contra]], obs: O_contra) -> list[str]:
    return [m for c in checks if (m := c.mismatch(obs)) is not None]


@dataclass(frozen=True)
class Case:
    id: str
    behaviour: str
    needs: tuple[Requirement, ...] = field(default=(), kw_only=True)
    old: OldModel | None = field(default=None, kw_only=True)
    doc: str = field(default="", kw_only=True)
    # Every case runs holding the global lock shared; EXCLUSIVE: it changes global state (see globallock.py)
    lock: Lock = field(default=Lock.NONE, kw_only=True)

    def unmet(self) -> str | None:
        """The first unmet requirement, as a skip reason."""
        for req in self.needs:
            reason = req.unmet()
            if reason is not None:
                return reason
        return None

    def execute(self) -> Judgement:
        raise NotImplementedError


def check_table(cases: Sequence[Case], known_behaviours: Iterable[str]) -> list[str]:
    """Integrity problems of a case table: duplicate ids, unknown behaviours."""
    problems: list[str] = []
    known = set(known_behaviours)
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            problems.append(f"duplicate case id {c.id}")
        seen.add(c.id)
        if c.behaviour not in known:
            problems.append(f"{c.id}: unknown behaviour {c.behaviour}")
        if not c.id.replace("-", "").replace("_", "").replace(".", "").isalnum():
            problems.append(f"{c.id}: ids use [a-z0-9._-] only")
    return problems
