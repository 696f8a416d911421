"""What a behaviour family declares, and where the families are found.

A family is a package under ``cases/`` (installed as ``kconform_cases``) whose
``__init__`` defines ``FAMILY = Family(name, behaviours=(...), probes=(...))``.
The core never names a family: it asks ``families()``, which imports every
such package once.  Behaviour ids are ``<family>.<name>`` and never change once
published (reports key on them); probe names are unique across families.
"""

from __future__ import annotations

import enum
import errno
import functools
import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from conformance.host import privilege
from conformance.host.records import record

CASES_PACKAGE = "kconform_cases"


class RegistryError(Exception):
    """A family declaration that contradicts another one (or its folder)."""


@record(frozen=True)
class Behaviour:
    id: str
    statement: str
    since: str  # release that introduced it, or changed it last
    commit: str = ""  # upstream commit (12 hex digits) or "" when historical
    probe: str = ""  # name of the probe that detects it, "" when none

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


class State(enum.StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # the answer fits no model: reported, never a silent skip


@record(frozen=True)
class Presence:
    feature: str
    state: State
    observed: str
    since: str = ""
    commit: str = ""
    filtered: str = ""  # non-empty: the answer may be a seccomp filter's (privilege.seccomp_note)

    @property
    def present(self) -> bool:
        return self.state is State.PRESENT

    def reason(self) -> str:
        """Skip reason naming the feature, its origin and what the kernel said."""
        origin = f" (added in {self.since}, commit {self.commit})" if self.commit else ""
        if self.filtered:
            return f"{self.feature} is {self.filtered}; whether the kernel has it{origin} is unknown: {self.observed}"
        if self.state is State.UNKNOWN:
            return f"{self.feature}: probe inconclusive{origin}: {self.observed}"
        return f"{self.feature} not available{origin}: {self.observed}"


@record(frozen=True)
class Probe:
    """A feature probe: call the interface, classify the answer (never the version number)."""

    name: str
    feature: str
    since: str
    commit: str
    run: Callable[[], tuple[State, str]]

    def __call__(self) -> Presence:
        try:
            state, observed = self.run()
        except OSError as e:
            state, observed = State.UNKNOWN, f"probe failed: {e}"
        filtered = seccomp_filtered(observed) if state is not State.PRESENT else None
        return Presence(self.feature, state, observed, self.since, self.commit, filtered or "")


def seccomp_filtered(observed: str) -> str | None:
    """An ENOSYS/EPERM answer while a seccomp filter is installed: say that it may be the filter's."""
    m = re.search(r"\b(ENOSYS|EPERM)\b", observed)
    return privilege.seccomp_note(getattr(errno, m.group(1))) if m else None


def classify_errno(err: int, present: tuple[int, ...], absent: tuple[int, ...]) -> State:
    """Map a probe's errno (0 = success) to a state."""
    if err in present:
        return State.PRESENT
    if err in absent:
        return State.ABSENT
    return State.UNKNOWN


@record(frozen=True)
class Family:
    name: str
    behaviours: tuple[Behaviour, ...]
    probes: tuple[Probe, ...] = ()


def cases_dir() -> Path:
    """The folder of the cases package (cases/ in a checkout)."""
    spec = importlib.util.find_spec(CASES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(f"the package {CASES_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


@functools.cache
def families() -> Mapping[str, Family]:
    """Every family under the cases package, by name (imported once)."""
    pkg = importlib.import_module(CASES_PACKAGE)
    found: dict[str, Family] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        family = getattr(importlib.import_module(f"{CASES_PACKAGE}.{info.name}"), "FAMILY", None)
        if not isinstance(family, Family):
            continue
        if family.name != info.name:
            raise RegistryError(f"{CASES_PACKAGE}.{info.name} declares the family {family.name!r}")
        for b in family.behaviours:
            if b.family != family.name:
                raise RegistryError(f"behaviour {b.id} declared by the family {family.name}")
        found[family.name] = family
    return MappingProxyType(found)


@functools.cache
def behaviours() -> Mapping[str, Behaviour]:
    """Every behaviour of every family, by id."""
    out: dict[str, Behaviour] = {}
    for family in families().values():
        for b in family.behaviours:
            if b.id in out:
                raise RegistryError(f"behaviour {b.id} declared twice")
            out[b.id] = b
    return MappingProxyType(out)


@functools.cache
def family_probes() -> Mapping[str, Probe]:
    """Every probe declared by a family, by name."""
    out: dict[str, Probe] = {}
    for family in families().values():
        for p in family.probes:
            if p.name in out:
                raise RegistryError(f"probe {p.name} declared twice")
            out[p.name] = p
    return MappingProxyType(out)
