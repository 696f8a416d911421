"""The shared check vocabulary: typed getters and the checks every family's rows use.

A row names an observed value by a ``Field[O]`` (its name, for messages, a typed getter and how its values
are shown), never by a string: a misspelt field is a type error.  A getter returns None for a value the
scenario did not fill, and every check then says "<name> not observed", never passes silently.

The checks (``Is``, ``OneOf``, ``AtLeast``, ``Between``, ``SameAs``, ``Bits``, ``ExitedWith``, ``AllResults``)
fit ``conformance.suite.case.Check``: ``mismatch(obs)`` is None when the property holds, else one line
``"<what>: <name> is <value>, expected <want>"`` (without ``<what>: `` when ``what`` is "").  Values are shown
by the field's ``show`` (``errno_or_int``: -4095..-1 as -ENAME).  Families keep only their domain checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from conformance.host.records import record
from conformance.native import describe_status, errno_name

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
    get: Callable[[O_contra], int | None]
    show: Show = plain


@record(frozen=True)
class Results(Generic[O_contra]):
    """A tuple of results of an observation: its name and a typed getter."""

    name: str
    get: Callable[[O_contra], tuple[int, ...]]
    show: Show = errno_or_int


def shown(f: Field[O], obs: O) -> str:
    """The value of ``f`` in ``obs`` as ``f`` shows it ("not observed" when the scenario did not fill it)."""
    v = f.get(obs)
    return "not observed" if v is None else f.show(v)


def _said(what: str, text: str) -> str:
    return f"{what}: {text}" if what else text


def _absent(f: Field[Any]) -> str:
    return f"{f.name} not observed"


@record(frozen=True)
class Is(Generic[O]):
    """``field`` equals ``value`` (``what`` says it in words)."""

    field: Field[O]
    value: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v is None:
            return _absent(f)
        return None if v == self.value else _said(self.what, f"{f.name} is {f.show(v)}, expected {f.show(self.value)}")


@record(frozen=True)
class OneOf(Generic[O]):
    field: Field[O]
    values: tuple[int, ...]
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v is None:
            return _absent(f)
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
        if v is None:
            return _absent(f)
        return None if v >= self.value else _said(self.what, f"{f.name} is {f.show(v)}, expected >= {self.value}")


@record(frozen=True)
class Between(Generic[O]):
    field: Field[O]
    low: int
    high: int
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v is None:
            return _absent(f)
        if self.low <= v <= self.high:
            return None
        return _said(self.what, f"{f.name} is {f.show(v)}, expected {self.low}..{self.high}")


@record(frozen=True)
class SameAs(Generic[O]):
    """``field`` equals ``other`` (or differs from it, with equal=False)."""

    field: Field[O]
    other: Field[O]
    what: str = ""
    equal: bool = True

    def mismatch(self, obs: O) -> str | None:
        x, y = self.field, self.other
        a, b = x.get(obs), y.get(obs)
        if a is None or b is None:
            return _absent(x if a is None else y)
        if (a == b) == self.equal:
            return None
        return _said(self.what, f"{x.name} {x.show(a)} {'!=' if self.equal else '=='} {y.name} {y.show(b)}")


@record(frozen=True)
class Bits(Generic[O]):
    """The bits of ``set`` are set in ``field`` and those of ``clear`` are clear (a negative value never is)."""

    field: Field[O]
    set: int = 0
    clear: int = 0
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        v, f = self.field.get(obs), self.field
        if v is None:
            return _absent(f)
        if v >= 0 and v & self.set == self.set and v & self.clear == 0:
            return None
        got = f"{v:#x}" if v >= 0 else f.show(v)
        return _said(self.what, f"{f.name} is {got}, expected bits {self.set:#x} set and {self.clear:#x} clear")


@record(frozen=True)
class ExitedWith(Generic[O]):
    """The wait status in ``field``: exited with ``code``, or killed by ``signal`` when it is not 0."""

    field: Field[O]
    code: int = 0
    signal: int = 0
    what: str = ""

    def mismatch(self, obs: O) -> str | None:
        st, f = self.field.get(obs), self.field
        if st is None:
            return _absent(f)
        ok = (st & 0x7F == self.signal) if self.signal else (st & 0x7F == 0 and (st >> 8) & 0xFF == self.code)
        want = f"killed by signal {self.signal}" if self.signal else f"exit {self.code}"
        return None if ok else _said(self.what, f"{f.name}: {describe_status(st)}, expected {want}")


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


def fields_of(check: object) -> tuple[Field[Any], ...]:
    """The fields a check of this vocabulary reads (a description shows them), () for any other check."""
    if isinstance(check, SameAs):
        return (check.field, check.other)
    if isinstance(check, Is | OneOf | AtLeast | Between | Bits | ExitedWith):
        return (check.field,)
    return ()
