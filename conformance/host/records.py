"""``record``: ``dataclasses.dataclass`` with methods that are not compiled per class.

The standard decorator writes every generated method (``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, the frozen ``__setattr__``/``__delattr__``) as source text and compiles it, about
0.6 ms a class.  The core and the families declare some 200 of them, so every run paid ~0.13 s
for it on the host and ~3 s under TCG, before the first case.

``record`` takes the same arguments and leaves the same things behind: the class is processed by
``dataclasses.dataclass`` itself (fields, defaults, inheritance, ``__match_args__``), so
``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` see an ordinary dataclass;
only the methods are shared functions closed over the class's field names instead of compiled
text.  The type checker sees ``dataclasses.dataclass`` itself (``record`` is that name while type
checking), so rows and replace() calls are checked exactly as before.  ``tests/test_records.py``
holds the two side by side.

Two differences, both checked: ``__dataclass_params__`` describes what ``dataclasses`` generated
(nothing but the fields), so a frozen record's subclass must be a record too (the stdlib decorator
would refuse it as "non-frozen"); and the parameters the suite has no use for (``slots``,
``weakref_slot``, ``InitVar`` fields) are refused.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["record"]

_MISSING: Any = dataclasses.MISSING
Fields = tuple[dataclasses.Field[Any], ...]


def _values(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """obj -> the tuple of those attributes (the stdlib's generated methods compare and hash that)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        (name,) = names
        return lambda obj: (getattr(obj, name),)
    return operator.attrgetter(*names)


def _init(cls: type, fields: Fields, frozen: bool) -> Callable[..., None]:
    taken = [f for f in fields if f.init]
    # __init__'s parameters: the positional fields in their order, then the keyword-only ones
    params: tuple[tuple[str, Any, Any, str], ...] = tuple(
        (f.name, f.default, f.default_factory, "keyword-only" if f.kw_only else "positional")
        for f in sorted(taken, key=lambda f: bool(f.kw_only)))
    positional = sum(not f.kw_only for f in taken)
    names = frozenset(p[0] for p in params)
    later: tuple[tuple[str, Any], ...] = tuple(
        (f.name, f.default_factory) for f in fields if not f.init and f.default_factory is not _MISSING)
    setter = object.__setattr__ if frozen else setattr
    post_init = getattr(cls, "__post_init__", None) is not None
    qualname = cls.__qualname__

    def __init__(self: object, *args: Any, **kwargs: Any) -> None:
        if len(args) > positional:
            unknown = [k for k in kwargs if k not in names]  # reported first, as CPython does
            if unknown:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument '{unknown[0]}'")
            raise TypeError(f"{qualname}.__init__() takes {positional + 1} positional arguments "
                            f"but {len(args) + 1} were given")
        for (name, _, _, _), value in zip(params, args, strict=False):
            setter(self, name, value)
        for name, default, factory, kind in params[len(args):]:
            if name in kwargs:
                setter(self, name, kwargs.pop(name))
            elif default is not _MISSING:
                setter(self, name, default)
            elif factory is not _MISSING:
                setter(self, name, factory())
            else:
                raise TypeError(f"{qualname}.__init__() missing 1 required {kind} argument: '{name}'")
        if kwargs:
            name = next(iter(kwargs))
            why = "got multiple values for argument" if name in names else "got an unexpected keyword argument"
            raise TypeError(f"{qualname}.__init__() {why} '{name}'")
        for name, factory in later:
            setter(self, name, factory())
        if post_init:
            self.__post_init__()  # type: ignore[attr-defined]

    return __init__


def _repr(fields: Fields) -> Callable[[object], str]:
    names = tuple(f.name for f in fields if f.repr)

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({inner})"

    return __repr__


def _comparisons(fields: Fields, eq: bool, order: bool) -> dict[str, Callable[[object, object], Any]]:
    key = _values(tuple(f.name for f in fields if f.compare))
    out: dict[str, Callable[[object, object], Any]] = {}

    def compare(name: str, op: Callable[[Any, Any], bool]) -> None:
        def method(self: object, other: object) -> Any:
            if other.__class__ is self.__class__:
                return op(key(self), key(other))
            return NotImplemented

        out[name] = method

    if eq:
        compare("__eq__", operator.eq)
    if order:
        for name, op in (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
                         ("__ge__", operator.ge)):
            compare(name, op)
    return out


def _hash(fields: Fields) -> Callable[[object], int]:
    key = _values(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))

    def __hash__(self: object) -> int:
        return hash(key(self))

    return __hash__


def _frozen_methods(cls: type, fields: Fields) -> dict[str, Callable[..., None]]:
    names = frozenset(f.name for f in fields)
    owner: type = cls

    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)  # type: ignore[arg-type]

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}


def _process(cls: type, init: bool, repr: bool, eq: bool, order: bool, unsafe_hash: bool, frozen: bool,
             match_args: bool, kw_only: bool) -> type:
    own = dict(cls.__dict__)
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    if not own.get("__doc__"):
        cls.__doc__ = cls.__qualname__  # the stdlib would render the signature: inspect.signature, slow
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, order=False, unsafe_hash=False, frozen=False,
                          match_args=match_args, kw_only=kw_only)
    fields = dataclasses.fields(cls)
    real = {f.name for f in fields}
    pseudo = [f for name, f in cls.__dataclass_fields__.items() if name not in real]  # type: ignore[attr-defined]
    if any("InitVar" in str(f.type) for f in pseudo):  # (ClassVar pseudo-fields are fine)
        raise TypeError(f"{cls.__qualname__}: record does not take InitVar fields")
    methods: dict[str, Any] = {}
    if init and "__init__" not in own:
        methods["__init__"] = _init(cls, fields, frozen)
    if repr and "__repr__" not in own:
        methods["__repr__"] = _repr(fields)
    comparisons = _comparisons(fields, eq, order)
    for name in ("__lt__", "__le__", "__gt__", "__ge__"):
        if name in comparisons and name in own:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. "
                            "Consider using functools.total_ordering")
    methods.update((k, v) for k, v in comparisons.items() if k not in own)
    if frozen:
        for name, method in _frozen_methods(cls, fields).items():
            if name in own:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            methods[name] = method
    # __hash__ as the stdlib decides it (dataclasses' _hash_action table)
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    if unsafe_hash:
        if explicit_hash:
            raise TypeError(f"Cannot overwrite attribute __hash__ in class {cls.__name__}")
        methods["__hash__"] = _hash(fields)
    elif eq and not explicit_hash:
        methods["__hash__"] = _hash(fields) if frozen else None
    for name, value in methods.items():
        if callable(value):  # named as the stdlib's generated methods are (tracebacks, repr)
            value.__name__, value.__qualname__ = name, f"{cls.__qualname__}.{name}"
        setattr(cls, name, value)
    return cls


def _record(cls: type | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True,
            order: bool = False, unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True,
            kw_only: bool = False) -> Any:
    def wrap(c: type) -> type:
        return _process(c, init, repr, eq, order, unsafe_hash, frozen, match_args, kw_only)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass as record
else:
    record = _record
