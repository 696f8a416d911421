"""The pidfd family: case type, observation checks and typed row constructors.

A row is a ``PidfdCase``: one ``PidfdRequest`` (a scenario of kc_pidfd.c, its
variant and parameters) and what the kernel must show, as checks of the shared
vocabulary (conformance.suite.checks: ``Is(F[V.RET], 0)``, ``SameAs``, ``Bits``, ...) on
the typed getters ``F`` of the result slots (``PidfdValue``) the scenario filled.
A slot the scenario did not fill is a mismatch of its own ("not observed"), never
a silent pass.  The family's own checks read the scenario's text (``Text``,
``FdinfoSelfPid``).
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
import select
import signal
from collections.abc import Callable, Mapping
from dataclasses import field

from conformance import native
from conformance.host.records import record
from conformance.isolation.globalstate import USES_IO_URING
from conformance.native import HarnessError
from conformance.suite import checks
from conformance.suite.case import AllOf, Case, Check, ClockWait, HarnessProblem, OldModel
from conformance.suite.checks import Field
from conformance.suite.probes import probe
from conformance.suite.requirements import Feature, Requirement

from .wire import PidfdRequest, PidfdResult, PidfdScenario, PidfdValue, pidfd_scenario

V = PidfdValue
S = PidfdScenario

POLLIN = select.POLLIN
POLLHUP = select.POLLHUP
FD_CLOEXEC = fcntl.FD_CLOEXEC
O_NONBLOCK = os.O_NONBLOCK  # PIDFD_NONBLOCK
O_EXCL = os.O_EXCL  # PIDFD_THREAD (pidfd_open, open_by_handle_at of a pidfs handle)
O_TRUNC = os.O_TRUNC  # PIDFD_AUTOKILL (kernel-internal: pidfd_open never takes it)
SIGUSR1 = int(signal.SIGUSR1)
SIGKILL = int(signal.SIGKILL)
SIGSEGV = int(signal.SIGSEGV)
SIGABRT = int(signal.SIGABRT)
SIGCHLD = int(signal.SIGCHLD)
SIGSTOP = int(signal.SIGSTOP)
SIGCONT = int(signal.SIGCONT)
CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_CONTINUED = os.CLD_EXITED, os.CLD_KILLED, os.CLD_STOPPED, os.CLD_CONTINUED


def _slot(v: V) -> str:
    return v.name.lower()


def _val(v: int) -> str:
    if -4096 < v < 0:
        return native.errno_name(-v)
    return str(v)


RAW_SLOTS = frozenset((V.INFO_CORE_CODE, V.CORE_CODE_AFTER))  # si_code values (SI_TKILL is -6), never an errno


def _getter(v: V) -> Callable[[PidfdResult], int | None]:
    return lambda obs: obs.get(v)


# One typed getter per result slot (a row checks ``F[V.RET]`` with the shared vocabulary of conformance.suite.checks);
# a slot the scenario did not fill reads as None ("not observed").
F: Mapping[V, Field[PidfdResult]] = {
    v: Field(_slot(v), _getter(v), str if v in RAW_SLOTS else _val) for v in V
}


def fails(err: int, slot: V = V.RET) -> checks.Is[PidfdResult]:
    """The call in this slot failed with ``err`` (the slot holds -err)."""
    return checks.Is(F[slot], -err)


# ---------------------------------------------------------------------------
# The family's own checks: the scenario's text (readlink, fdinfo, the setns report).


@record(frozen=True)
class Text:
    """The scenario's text equals ``exact`` or holds the line ``<key>:\\t<value>``."""

    exact: str | None = None
    key: str = ""
    value: str = ""

    def mismatch(self, obs: PidfdResult) -> str | None:
        if self.exact is not None:
            return None if obs.text == self.exact else f"text {obs.text!r}, expected {self.exact!r}"
        for line in obs.text.splitlines():
            k, sep, v = line.partition(":")
            if sep and k == self.key:
                v = v.strip().replace("\t", " ")
                return None if v == self.value else f"{self.key}: {v!r}, expected {self.value!r}"
        return f"no {self.key}: line in {obs.text!r}"


@record(frozen=True)
class FdinfoSelfPid:
    """fdinfo ``<key>:`` holds the child's pid (first field)."""

    key: str

    def mismatch(self, obs: PidfdResult) -> str | None:
        child = obs.get(V.CHILD_PID)
        for line in obs.text.splitlines():
            k, sep, v = line.partition(":")
            if sep and k == self.key:
                first = v.split()[0] if v.split() else ""
                return None if first == str(child) else f"{self.key}: {v.strip()!r}, expected {child}"
        return f"no {self.key}: line in {obs.text!r}"


# ---------------------------------------------------------------------------
# The case type.


@record(frozen=True, kw_only=True)
class PidfdCase(Case[PidfdResult]):
    request: PidfdRequest
    expect: AllOf[PidfdResult] = field(default_factory=lambda: AllOf(()))

    def observe(self) -> PidfdResult:
        res = pidfd_scenario(self.request)
        if res.harness_error is HarnessError.NO_WORKER:
            raise HarnessProblem(f"the worker thread did not show up (owner {res.get(V.OWNER_PID)})")
        if res.harness_error is not HarnessError.NONE:
            extra = f" ({native.errno_name(res.harness_errno)})" if res.harness_errno else ""
            what = f" at {res.text}" if res.text else ""
            raise HarnessProblem(f"{res.harness_error.name.lower()}{what}{extra}")
        return res

    def describe(self, obs: PidfdResult) -> str:
        fields: list[Field[PidfdResult]] = [F[V.RET]]
        for c in self.expect.checks:
            fields += [f for f in checks.fields_of(c) if f not in fields]
        shown = [f"{f.name}={f.show(v)}" for f in fields if (v := f.get(obs)) is not None]
        if obs.text and any(isinstance(c, Text | FdinfoSelfPid) for c in self.expect.checks):
            shown.append(f"text={obs.text.strip()!r}"[:160])
        return ", ".join(shown) or "nothing observed"


@record(frozen=True, kw_only=True)
class StressCase(PidfdCase):
    """A bounded stress row: fewer rounds than ``min_rounds`` within its budget tell nothing (harness error)."""

    min_rounds: int

    def observe(self) -> PidfdResult:
        res = super().observe()
        rounds = res.get(V.ROUNDS)
        if rounds is None or rounds < self.min_rounds:
            raise HarnessProblem(f"only {rounds} rounds within the budget, {self.min_rounds} needed to tell the "
                                 "models apart (the machine is too slow or too loaded)")
        return res


@record(frozen=True)
class VhostKthreadMode:
    """vhost workers can be kernel threads: before 6.4, or with VHOST_SET_FORK_FROM_OWNER (6.17+)."""

    def unmet(self) -> str | None:
        if probe("vhost.fork_owner_control").present or not probe("vhost.task_mode").present:
            return None
        return ("no kthread mode for vhost workers: they are threads of the owner (6.4, f9010dbdce91) and "
                "VHOST_SET_FORK_FROM_OWNER (6.17, 7d9896e9f6d0) is missing")


def row(
    id: str,
    behaviour: str,
    scenario: S,
    *checks: Check[PidfdResult],
    variant: int = 0,
    flags: int = 0,
    arg: int = 0,
    drop: bool = False,
    clone_flags: int = 0,
    needs: tuple[Requirement, ...] = (),
    old: OldModel[PidfdResult] | None = None,
    doc: str = "",
    waits: ClockWait | None = None,
) -> PidfdCase:
    return PidfdCase(
        id=id,
        behaviour=behaviour,
        request=PidfdRequest(scenario, variant, flags, arg, drop, clone_flags),
        expect=AllOf(checks),
        old=old,
        needs=needs,
        # a row that sets up an io_uring (an io-wq or SQPOLL worker) depends on io_uring_disabled
        reads=USES_IO_URING if any(isinstance(n, Feature) and n.probe.startswith("io_uring") for n in needs) else (),
        doc=doc,
        waits=waits,
    )


def old(changed_in: str, commit: str, summary: str, *checks: Check[PidfdResult]) -> OldModel[PidfdResult]:
    return OldModel(changed_in, commit, summary, AllOf(checks))


EINVAL, ESRCH, ENOENT, EBADF, EPERM, EAGAIN, ECHILD, EACCES = (
    _errno.EINVAL, _errno.ESRCH, _errno.ENOENT, _errno.EBADF, _errno.EPERM, _errno.EAGAIN, _errno.ECHILD,
    _errno.EACCES,
)
ENOTTY, EOPNOTSUPP, EREMOTE, ESTALE = _errno.ENOTTY, _errno.EOPNOTSUPP, _errno.EREMOTE, _errno.ESTALE
ENOTDIR, ENODATA = _errno.ENOTDIR, _errno.ENODATA
