"""Every documented behaviour the suite checks, across families (a view of the registry).

Each case names exactly one behaviour; reports use ``<behaviour id>`` as the
JUnit classname and the case id as the name, so both are stable across runs.
A behaviour id is ``<family>.<name>`` and never changes once published.  The
behaviours themselves are declared by their family (``cases/<family>/__init__.py``).
"""

from __future__ import annotations

from conformance.suite import registry
from conformance.suite.registry import Behaviour

__all__ = ["Behaviour", "by_id"]  # and BEHAVIOURS, computed on first use


def by_id() -> dict[str, Behaviour]:
    return dict(registry.behaviours())


def __getattr__(name: str) -> tuple[Behaviour, ...]:
    # BEHAVIOURS is computed on first use: discovery imports the families.
    if name == "BEHAVIOURS":
        return tuple(registry.behaviours().values())
    raise AttributeError(name)
