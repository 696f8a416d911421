"""Declared requirements of a case (the LTP ``struct tst_test`` idea).

A case lists what it needs; the plugin asks each requirement whether it is met
before anything runs and turns the first unmet one into a skip whose reason
names the feature, privilege or path.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Protocol

from conformance import kernel, probes


class Requirement(Protocol):
    def unmet(self) -> str | None:
        """None when met, else the skip reason."""


@dataclass(frozen=True)
class Cap:
    cap: int

    def unmet(self) -> str | None:
        if kernel.facts().creds.has_cap(self.cap):
            return None
        name = kernel.CAP_NAMES.get(self.cap, f"capability {self.cap}")
        return f"needs {name} (run as root)"


@dataclass(frozen=True)
class Feature:
    probe: str

    def unmet(self) -> str | None:
        p = probes.probe(self.probe)
        return None if p.present else p.reason()


@dataclass(frozen=True)
class PathExists:
    path: str
    what: str

    def unmet(self) -> str | None:
        return None if os.path.exists(self.path) else f"needs {self.what} ({self.path} missing)"


@dataclass(frozen=True)
class Cgroup2Writable:
    """A cgroup v2 hierarchy in which this process may create a child group."""

    def unmet(self) -> str | None:
        own = kernel.cgroup2_self()
        if own is None:
            return "needs a mounted cgroup v2 hierarchy"
        if not os.access(own, os.W_OK):
            return f"needs write access to the cgroup v2 directory {own}"
        return None


@dataclass(frozen=True)
class Cgroup1Hierarchy:
    def unmet(self) -> str | None:
        return None if kernel.cgroup1_dir() else "needs a mounted cgroup v1 hierarchy"


@dataclass(frozen=True)
class ProgramOnPath:
    """An external client the case drives (e.g. procps ps)."""

    program: str

    def unmet(self) -> str | None:
        return None if shutil.which(self.program) else f"needs the program {self.program} on PATH"


PRIVILEGED = Cap(kernel.CAP_SYS_ADMIN)
