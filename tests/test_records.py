"""conformance.host.records.record against dataclasses.dataclass: the same class, declared both ways."""

from __future__ import annotations

import dataclasses
import functools
import pickle
import re
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from conformance.host import records
from conformance.host.records import record

Decorator = Callable[..., Any]
BOTH = pytest.mark.parametrize("deco", [dataclasses.dataclass, records._record], ids=["dataclass", "record"])


def declare(deco: Decorator, **params: Any) -> Any:
    @deco(**params)
    class Row:
        a: int
        b: str = "x"
        c: list[int] = field(default_factory=list)
        d: int = field(default=4, repr=False, compare=False)
        e: int = field(default=5, kw_only=True)
        f: list[int] = field(default_factory=lambda: [1], init=False)

    return Row


def outcome(fn: Callable[[], Any]) -> tuple[str, str]:
    """What a call gives: its value, or its exception's class and the argument the message names."""
    try:
        return "ok", repr(fn())
    except TypeError as e:  # the wording of argument-count errors is CPython's own
        return "TypeError", "".join(re.findall(r"'\w+'", str(e)))
    except Exception as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize("params", [{}, {"frozen": True}, {"frozen": True, "kw_only": True}, {"order": True},
                                    {"eq": False}, {"unsafe_hash": True}, {"frozen": True, "order": True}])
def test_same_behaviour_as_dataclass(params: dict[str, Any]) -> None:
    std, rec = declare(dataclasses.dataclass, **params), declare(records._record, **params)
    calls: list[Callable[[Any], Any]] = [
        lambda C: C(1), lambda C: C(1, "y", [2], 3, e=6), lambda C: C(a=1, b="z"), lambda C: C(),
        lambda C: C(a=1, b="y", e=2), lambda C: C(b="y"), lambda C: C(a=1, e=2, zz=3),
        lambda C: C(1, 2, 3, 4, 5), lambda C: C(1, a=2), lambda C: C(1, zz=2), lambda C: C(1, f=[2]),
        lambda C: C(1) == C(1), lambda C: C(1) == C(2), lambda C: C(1, d=1) == C(1, d=2), lambda C: C(1) == 1,
        lambda C: C(1) < C(2), lambda C: hash(C(1)) == hash(C(1, d=9)), lambda C: type(C.__hash__).__name__,
        lambda C: setattr(C(1), "a", 2), lambda C: delattr(C(1), "b"), lambda C: C(1).f,
        lambda C: dataclasses.replace(C(1), b="q"), lambda C: dataclasses.asdict(C(1)),
        lambda C: [f.name for f in dataclasses.fields(C)], lambda C: C.__match_args__,
        lambda C: dataclasses.is_dataclass(C), lambda C: pickle.loads(pickle.dumps(C(1))) == C(1),
    ]
    for i, call in enumerate(calls):
        assert outcome(functools.partial(call, rec)) == outcome(functools.partial(call, std)), (i, params)


@BOTH
def test_inheritance(deco: Decorator) -> None:
    @deco(frozen=True)
    class Base:
        a: int
        b: int = 2

    @deco(frozen=True, kw_only=True)
    class Child(Base):
        c: int

    base: Any = Base
    child: Any = Child
    assert child(1, c=3) == child(1, 2, c=3)
    assert repr(child(1, c=3)) == "test_inheritance.<locals>.Child(a=1, b=2, c=3)"
    with pytest.raises(TypeError):
        child(1, 2, 3)
    assert base(1) != child(1, c=3)


@BOTH
def test_own_methods_are_kept(deco: Decorator) -> None:
    @deco(frozen=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

    own: Any = Own
    assert repr(own(1)) == "own" and own(1) == own(2)
    assert hash(own(1)) == hash(own(1))  # an own __eq__ still gets the frozen record's __hash__


def test_refuses_what_it_does_not_do() -> None:
    with pytest.raises(TypeError, match="InitVar"):
        @records._record
        class WithInitVar:
            a: dataclasses.InitVar[int]

    with pytest.raises(ValueError):
        records._record(order=True, eq=False)(type("X", (), {}))


def test_the_type_checker_sees_dataclass() -> None:
    # record is dataclasses.dataclass while type checking; at run time it is the fast one
    assert record is records._record
    assert "dataclass as record" in Path(records.__file__).read_text()
