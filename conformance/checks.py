"""The shared check vocabulary: typed getters and the checks every family's rows use.

A row names an observed value by a ``Field[O]`` (its name, for messages, and a typed getter), never by a
string: a misspelt field is a type error.  The checks (``Is``, ``OneOf``, ``AtLeast``, ``Between``, ``SameAs``,
``Bits``, ``AllResults``) fit ``conformance.case.Check``: ``mismatch(obs)`` is None when the property holds,
else one line ``"<what>: <name> is <value>, expected <want>"``.  How a value is shown is the field's: its
``show`` formatter (``errno_or_int`` shows -4095..-1 as -ENAME); ``what`` may be "" (the message then starts
with the field's name).  Families keep only their domain checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from conformance.native import errno_name
from conformance.records import record

O = TypeVar("O")  # noqa: E741 - a family's observation type
O_contra = TypeVar("O_contra", contravariant=True)

Show = Callable[[int], str]


def plain(v: int) -> str:
    return str(v)


def errno_or_int(v: int) -> str:
    """A return value: -4095..-1 as -ENAME, anything else as a number."""
    return f"-{errno_name(-v)}" if -4095 <= v < 0 else str(v)


@record(frozen=True)
class Field(Generic[O_contra]):
    """One integer of an observation: its name (in messages), a typed getter and how its values are shown."""

    name: str
    get: Callable[[O_contra], int]
    show: Show = plain


@record(frozen=True)
class Results(Generic[O_contra]):
    """A tuple of results of an observation: its name and a typed getter."""

    name: str
    get: Callable[[O_contra], tuple[int, ...]]
    show: Show = errno_or_int


def _said(what: str, text: str) -> str:
    return f"{what}: {text}" if what else text


@record(frozen=True)
class Is(Generic[O]):
    """``field`` equals ``value`` (``what`` says it in words)."""

    field: Field[O]
    value: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        return None if v == self.value else _said(self.what, f"{f.name} is {f.show(v)}, expected {f.show(self.value)}")


@record(frozen=True)
class OneOf(Generic[O]):
    field: Field[O]
    values: tuple[int, ...]
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v in self.values:
            return None
        want = " or ".join(f.show(x) for x in self.values)
        return _said(self.what, f"{f.name} is {f.show(v)}, expected {want}")


@record(frozen=True)
class AtLeast(Generic[O]):
    field: Field[O]
    value: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        return None if v >= self.value else _said(self.what, f"{f.name} is {f.show(v)}, expected >= {self.value}")


@record(frozen=True)
class Between(Generic[O]):
    field: Field[O]
    low: int
    high: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if self.low <= v <= self.high:
            return None
        return _said(self.what, f"{f.name} is {f.show(v)}, expected {self.low}..{self.high}")


@record(frozen=True)
class SameAs(Generic[O]):
    field: Field[O]
    other: Field[O]
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        a, b = self.field.get(obs), self.other.get(obs)
        if a == b:
            return None
        x, y = self.field, self.other
        return _said(self.what, f"{x.name} {x.show(a)} != {y.name} {y.show(b)}")


@record(frozen=True)
class Bits(Generic[O]):
    """The bits of ``set`` are set in ``field`` and those of ``clear`` are clear."""

    field: Field[O]
    set: int = 0
    clear: int = 0
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v & self.set == self.set and v & self.clear == 0:
            return None
        return _said(self.what, f"{f.name} is {v:#x}, expected bits {self.set:#x} set and {self.clear:#x} clear")


@record(frozen=True)
class AllResults(Generic[O]):
    """Every result in the tuple ``results`` is one of ``values``; at least ``count`` of them."""

    results: Results[O]
    values: tuple[int, ...]
    count: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        got, show = self.results.get(obs), self.results.show
        shown = ", ".join(show(v) for v in got) or "none"
        if len(got) < self.count or any(v not in self.values for v in got):
            want = "/".join(show(v) for v in self.values)
            return _said(self.what, f"results {shown}, expected {self.count} x {want}")
        return None
