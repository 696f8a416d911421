"""The clone3 family's model: the case type, run-time references, the observation and the checks.

A row is a ``CloneCase``: a ``CloneRequest`` (possibly holding ``Ref``
placeholders for things only known at run time, such as a free pid or a
cgroup fd), what the kernel must do (``fails(errno)`` or
``succeeds(*checks)``), and optionally the documented old model.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import select
import signal
from collections.abc import Iterator
from dataclasses import field, replace
from pathlib import Path

from conformance import native
from conformance.host import kernel, privilege
from conformance.host.records import record
from conformance.host.uapi import CLONE_SIGHAND, CLONE_THREAD, CLONE_VM
from conformance.isolation import globalstate
from conformance.native import HarnessError
from conformance.suite.case import Case, Check, Expectation, HarnessProblem, OldModel, mismatches
from conformance.suite.checks import ExitedWith, Field
from conformance.suite.requirements import DROPS_PRIVILEGES, Feature, Requirement

from .wire import (
    Action,
    CloneRequest,
    CloneResult,
    Disposition,
    Ns,
    Ptr,
    Ref,
    Setup,
    Stack,
    clone_scenario,
    page_size,
)

THREAD_FLAGS = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM
O_EXCL = os.O_EXCL  # PIDFD_THREAD in a pidfd's file flags
POLLIN = select.POLLIN
STACK = 256 * 1024


@record
class Resolved:
    """What the Refs of one case turned into."""

    values: dict[Ref, int] = field(default_factory=dict)
    cgroup_path: str = ""  # cgroup v2 path of the fresh group, as /proc/<pid>/cgroup shows it


def free_pid() -> int:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    rng = random.Random()
    for _ in range(1000):
        pid = rng.randrange(max(300, pid_max // 2), pid_max - 1)
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise RuntimeError("no free pid found")


@contextlib.contextmanager
def resolve(req: CloneRequest) -> Iterator[tuple[CloneRequest, Resolved]]:
    """Replace Refs in req with real values; undo every side effect on exit."""
    res = Resolved()
    with contextlib.ExitStack() as stack:

        def value(v: int | Ref) -> int:
            if not isinstance(v, Ref):
                return v
            if v not in res.values:
                res.values[v] = _resolve_one(v, stack, res)
            return res.values[v]

        yield replace(req, set_tid=tuple(value(t) for t in req.set_tid), cgroup=value(req.cgroup),
                      size=value(req.size)), res


def resolved(res: Resolved, v: int | Ref) -> int:
    """What a literal or a Ref of the row stood for in this run."""
    return res.values[v] if isinstance(v, Ref) else v


def _open(stack: contextlib.ExitStack, path: str | Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CLOEXEC)
    stack.callback(os.close, fd)
    return fd


def _fresh_cgroup(stack: contextlib.ExitStack, res: Resolved) -> Path:
    path, res.cgroup_path = stack.enter_context(globalstate.temp_cgroup())
    return path


def _resolve_one(ref: Ref, stack: contextlib.ExitStack, res: Resolved) -> int:
    if ref is Ref.FREE_PID:
        return free_pid()
    if ref is Ref.PID_MAX:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    if ref is Ref.PAGE_SIZE:
        return page_size()
    if ref is Ref.PAGE_SIZE_PLUS_8:
        return page_size() + 8
    if ref is Ref.CLOSED_FD:
        return 1_000_000
    if ref is Ref.REGULAR_FILE_FD:
        return _open(stack, "/proc/self/exe", os.O_RDONLY)
    if ref is Ref.CGROUP1_DIR_FD:
        v1 = kernel.cgroup1_dir()
        if v1 is None:
            raise RuntimeError("no cgroup v1 hierarchy")
        return _open(stack, v1, os.O_RDONLY | os.O_DIRECTORY)
    path = _fresh_cgroup(stack, res)
    if ref is Ref.CGROUP_DIR_FD:
        return _open(stack, path, os.O_RDONLY | os.O_DIRECTORY)
    if ref is Ref.CGROUP_PATH_FD:
        return _open(stack, path, os.O_PATH | os.O_DIRECTORY)
    return _open(stack, path / "cgroup.procs", os.O_RDONLY)


# ---------------------------------------------------------------------------
# Observation = the native result plus what the Refs resolved to.


@record(frozen=True)
class Observation:
    result: CloneResult
    resolved: Resolved


CHILD_STATUS: Field[Observation] = Field("child status", lambda o: o.result.status)


def _sig(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}" if n < 34 else f"SIGRTMIN+{n - 34}"


# ---------------------------------------------------------------------------
# Checks on a successful call (each says what the kernel did instead).


@record(frozen=True)
class Exited:
    """The child was reaped (__WALL) and exited with ``code`` (the shared ExitedWith on its wait status)."""

    code: int

    def mismatch(self, obs: Observation) -> str | None:
        if obs.result.wait_all <= 0:
            return f"child could not be reaped with __WALL ({obs.result.wait_all})"
        return ExitedWith(CHILD_STATUS, self.code).mismatch(obs)


@record(frozen=True)
class ChildPid:
    """The child's getpid(), or Ref.FREE_PID for "the pid asked for"."""

    pid: int | Ref

    def mismatch(self, obs: Observation) -> str | None:
        want = resolved(obs.resolved, self.pid)
        child = obs.result.child
        if child is None:
            return "child sent no report"
        return None if child.pid == want else f"child getpid() = {child.pid}, expected {want}"


@record(frozen=True)
class ReturnedPid:
    pid: int | Ref

    def mismatch(self, obs: Observation) -> str | None:
        want = resolved(obs.resolved, self.pid)
        return None if obs.result.ret == want else f"clone3 returned {obs.result.ret}, expected {want}"


@record(frozen=True)
class ParentIsCaller:
    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        if child is None:
            return "child sent no report"
        if child.ppid != obs.result.parent_pid:
            return f"child getppid() = {child.ppid}, caller is {obs.result.parent_pid}"
        return None


@record(frozen=True)
class IsThread:
    """The child shares the caller's thread group."""

    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        if child is None:
            return "thread sent no report"
        if child.pid != obs.result.parent_pid or child.tid == child.pid:
            return f"child tgid {child.pid} tid {child.tid}, caller tgid {obs.result.parent_pid}"
        if not obs.result.child_exited:
            return "thread did not exit within the bound"
        return None


@record(frozen=True)
class SignalReceived:
    """The caller got exactly this exit signal (0: none at all)."""

    sig: int

    def mismatch(self, obs: Observation) -> str | None:
        got = obs.result.signal_received
        stray = sorted(obs.result.pending - {signal.SIGPIPE})
        if self.sig == 0:
            if got or stray:
                return f"expected no signal, got {', '.join(_sig(s) for s in ([got] if got else []) + stray)}"
            return None
        if got != self.sig:
            return f"expected {_sig(self.sig)}, got {_sig(got) if got else 'no signal'}"
        if stray:
            return f"{_sig(self.sig)} arrived, but also {', '.join(_sig(s) for s in stray)}"
        return None


@record(frozen=True)
class WaitSees:
    """Which wait flavours see the exited child (before it is reaped)."""

    plain: bool
    wclone: bool

    def mismatch(self, obs: Observation) -> str | None:
        r = obs.result
        out = []
        for name, want, got in (("wait without __WCLONE", self.plain, r.wait_plain),
                                ("wait with __WCLONE", self.wclone, r.wait_clone)):
            if (got == r.ret) != want:
                seen = "saw" if got == r.ret else f"did not see ({native.errno_name(-got) if got < 0 else got})"
                out.append(f"{name} {seen} the child")
        if r.wait_all != r.ret:
            out.append(f"wait with __WALL did not reap the child ({r.wait_all})")
        return "; ".join(out) or None


@record(frozen=True)
class DispositionIs:
    sig: int
    want: Disposition

    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        if child is None:
            return "child sent no report"
        got = child.disposition[self.sig]
        if got != self.want:
            return f"{_sig(self.sig)} disposition in child is {got.name}, expected {self.want.name}"
        return None


@record(frozen=True)
class Namespace:
    ns: Ns
    new: bool

    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        if child is None:
            return "child sent no report"
        same = child.ns[self.ns] == obs.result.parent_ns[self.ns]
        if same == self.new:
            return f"{self.ns.label} namespace of the child is {'the same' if same else 'different'}"
        return None


@record(frozen=True)
class PidfdPolls:
    """A real pidfd that is not readable while the child lives and is on exit."""

    thread: bool = False

    def mismatch(self, obs: Observation) -> str | None:
        r = obs.result
        if r.pidfd < 0:
            return "no pidfd returned"
        if not r.pidfd_is_pidfd:
            return f"fd {r.pidfd} is not a pidfd"
        if r.pidfd_poll_early & POLLIN:
            return "pidfd readable while the child was alive"
        if not r.pidfd_poll_exit & POLLIN:
            return f"pidfd not readable after exit (revents {r.pidfd_poll_exit:#x})"
        if self.thread and not r.pidfd_flags & O_EXCL:
            return f"pidfd lacks PIDFD_THREAD (flags {r.pidfd_flags:#o})"
        return None


@record(frozen=True)
class ParentTidIsChild:
    def mismatch(self, obs: Observation) -> str | None:
        r = obs.result
        return None if r.parent_tid == r.ret else f"parent_tid holds {r.parent_tid}, child is {r.ret}"


@record(frozen=True)
class InCgroup:
    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        if child is None:
            return "child sent no report"
        want = obs.resolved.cgroup_path
        return None if child.cgroup == want else f"child is in cgroup {child.cgroup!r}, expected {want!r}"


@record(frozen=True)
class RanOnStack:
    def mismatch(self, obs: Observation) -> str | None:
        child = obs.result.child
        lo, hi = obs.result.stack_range
        if child is None:
            return "child sent no report"
        return None if lo <= child.stack_probe < hi else f"child stack at {child.stack_probe:#x}, not in given stack"


@record(frozen=True)
class SharesMemory:
    shared: bool

    def mismatch(self, obs: Observation) -> str | None:
        seen = obs.result.shared_word == 0x4B43
        if seen != self.shared:
            return "the child's write was " + ("visible" if seen else "not visible") + " to the caller"
        return None


# ---------------------------------------------------------------------------
# Expectations and the case.


@record(frozen=True)
class Fails:
    """The call fails with this errno."""

    errno: int

    def mismatches(self, obs: Observation) -> list[str]:
        r = obs.result
        if r.ret >= 0 or r.err != self.errno:
            return [f"expected {native.errno_name(self.errno)}"]
        return []


@record(frozen=True)
class Succeeds:
    """The call succeeds and every check holds."""

    checks: tuple[Check[Observation], ...] = ()

    def mismatches(self, obs: Observation) -> list[str]:
        if obs.result.ret < 0:
            return ["expected success"]
        return mismatches(self.checks, obs)


def set_tid_two_levels() -> tuple[int | None, str]:
    """What clone3 with set_tid = (a free pid, 1) and set_tid_size 2 must answer here, and why; None when
    it cannot be known from inside this pid namespace.

    alloc_pid() refuses more entries than the levels of the caller's pid namespace (EINVAL). One level
    deeper the size is valid: the first entry is checked against our own pid namespace (EPERM without
    CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over its owner), the second names pid 1 of the parent pid
    namespace, refused with EPERM without the capability over the parent's owner, else EEXIST (in use).
    The depth is probed by the fixed inode of the initial pid namespace (PROC_PID_INIT_INO)."""
    priv = privilege.current()
    if priv.pidns_initial:
        return errno.EINVAL, "the initial pid namespace has one level"
    nested = "this pid namespace is nested (not the initial one), so 2 entries fit its depth"
    caps = (1 << privilege.CAP_SYS_ADMIN) | (1 << privilege.CAP_CHECKPOINT_RESTORE)
    if not priv.cap_effective & caps:
        return errno.EPERM, f"{nested}; without CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE the first entry is refused"
    if priv.userns_initial:
        return errno.EEXIST, f"{nested}; with the capability in the initial user namespace, pid 1 of the parent " \
                             "pid namespace is found in use"
    if privilege.pidns_owner_outside():
        return errno.EPERM, f"{nested}; it is owned by a user namespace above ours, where our capabilities do " \
                            "not reach"
    return None, (f"{nested}, and this user namespace owns it: whether it also owns the parent pid namespace "
                  f"(EEXIST) or an ancestor does (EPERM) cannot be seen from inside ({priv.describe()})")


@record(frozen=True)
class FailsAtPidnsDepth:
    """set_tid of 2 entries: the errno the observed pid namespace depth and capabilities call for."""

    def mismatches(self, obs: Observation) -> list[str]:
        want, why = set_tid_two_levels()
        r = obs.result
        if want is None:
            return [why]
        if r.ret >= 0 or r.err != want:
            return [f"expected {native.errno_name(want)} ({why})"]
        return []


@record(frozen=True)
class PidnsDepthKnown:
    """set_tid_two_levels() can tell the answer here."""

    def unmet(self) -> str | None:
        want, why = set_tid_two_levels()
        return None if want is not None else f"needs a known answer for 2 set_tid entries: {why}"


@record(frozen=True)
class InitialPidns:
    """The caller is in the initial pid namespace: rows whose entries are counted against one level."""

    why: str

    def unmet(self) -> str | None:
        if privilege.current().pidns_initial:
            return None
        return f"needs the initial pid namespace ({self.why}); this one is nested, one level deeper or more"


def fails(err: int) -> Fails:
    return Fails(err)


def succeeds(*checks: Check[Observation]) -> Succeeds:
    return Succeeds(checks)


@record(frozen=True, kw_only=True)
class CloneCase(Case[Observation]):
    request: CloneRequest = field(default_factory=CloneRequest)

    def observe(self) -> Observation:
        with resolve(self.request) as (req, refs):
            result = clone_scenario(req)
        if result.harness_error is not HarnessError.NONE:
            raise HarnessProblem(result.describe())
        return Observation(result, refs)

    def describe(self, obs: Observation) -> str:
        return obs.result.describe()


Expect = Expectation[Observation]
CLONE3 = Feature("clone3")
PLAIN = CloneRequest()


def c3(id: str, behaviour: str, expect: Expect, request: CloneRequest = PLAIN, *,
       needs: tuple[Requirement, ...] = (CLONE3,), old: OldModel[Observation] | None = None,
       doc: str = "") -> CloneCase:
    """A row: behaviour is the name within the family (clone3.<behaviour>)."""
    if request.setup & Setup.DROP_PRIVILEGES:
        needs = (*needs, DROPS_PRIVILEGES)  # a namespaced root may be unable to become 65534
    return CloneCase(id=id, behaviour=f"clone3.{behaviour}", expect=expect, request=request, needs=needs, old=old,
                     doc=doc)


def thread(*, flags: int, exit_signal: int = 0, pidfd: Ptr = Ptr.NONE, action: Action = Action.REPORT,
           setup: Setup = Setup.NONE) -> CloneRequest:
    """A thread child: its own stack, no exit signal unless given."""
    return CloneRequest(flags=flags, exit_signal=exit_signal, pidfd=pidfd, action=action, setup=setup,
                        stack=Stack.MAPPED, stack_size=STACK)
