"""Feature probes: call the interface and classify the answer.

A probe never looks at the version number.  Each one is declared once with the
feature it detects, the release that introduced it and the upstream commit, so
that a skip reason always names what is missing and where it came from.
Results are cached per process (probes are cheap, but they are asked often).
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Mapping

from conformance import native
from conformance.suite import registry
from conformance.suite.registry import Presence, Probe, State, classify_errno

__all__ = ["Presence", "Probe", "State", "all_probes", "classify_errno", "probe"]


def _probe_pidfd_open() -> tuple[State, str]:
    fd = native.pidfd_open(os.getpid(), 0)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "pidfd_open(self) succeeded"
    return classify_errno(-fd, (), (errno.ENOSYS,)), f"pidfd_open gave {native.errno_name(-fd)}"


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("pidfd_open", "pidfd_open()", "5.3", "32fcb426ec00", _probe_pidfd_open),
    )
}
"""Probes of the system rather than of one family; families declare theirs in FAMILY (user namespaces, tried
with a clone scenario, are the clone3 family's ``userns``)."""


def all_probes() -> Mapping[str, Probe]:
    """The core's probes and every family's, by name."""
    families = registry.family_probes()
    clash = sorted(PROBES.keys() & families.keys())
    if clash:
        raise registry.RegistryError(f"probe(s) {', '.join(clash)} declared by the core and a family")
    return {**PROBES, **families}


@functools.cache
def probe(name: str) -> Presence:
    return all_probes()[name]()
