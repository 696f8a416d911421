"""user_workers: the observation, its checks, the case type and the typed row constructors.

One behaviour is declared once and run against each worker kind where it applies (the variant axis):
``iowq`` (an io-wq worker, iou-wrk-<tid>), ``sqpoll`` (iou-sqp-<tid>), ``vhost`` (vhost-<tid> in the kernel's
default mode: a thread of the owner since 6.4, a kernel thread before) and ``vhost-kthread`` (the kernel-thread
mode selected with VHOST_SET_FORK_FROM_OWNER(0), 6.17 and backports).  Every scenario runs in a throw-away C
harness (harness.run, native_helpers/kc_workers.c); the cgroups and core directories it needs are made
here and removed afterwards.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from conformance import guardian, kernel, privilege
from conformance.case import AllOf, Case, Check, ClockWait, HarnessProblem, OldModel
from conformance.globallock import Lock
from conformance.globalstate import USES_IO_URING
from conformance.native import describe_status, errno_name
from conformance.records import record
from conformance.requirements import Requirement

from . import harness
from .harness import SetupStep, WorkerAction, WorkerKind, WorkersRequest, WorkersResult

FAMILY = "user_workers"
NET = "/dev/vhost-net"
SCSI = "/dev/vhost-scsi"
TIMEOUT_MS = 4000
IDLE_BOUND_MS = 9000  # WORKER_IDLE_TIMEOUT is 5 * HZ (io_uring/io-wq.c); a worker re-arms it once


class Kind(enum.Enum):
    IOWQ = "iowq"
    SQPOLL = "sqpoll"
    VHOST = "vhost"
    VHOST_KTHREAD = "vhost-kthread"

    @property
    def native(self) -> WorkerKind:
        return {Kind.IOWQ: WorkerKind.IOWQ, Kind.SQPOLL: WorkerKind.SQPOLL}.get(self, WorkerKind.VHOST)

    @property
    def is_vhost(self) -> bool:
        return self in (Kind.VHOST, Kind.VHOST_KTHREAD)


# --------------------------------------------------------------------------- observation


@record(frozen=True)
class Obs:
    """What one scenario showed; raw results plus a few derived values."""

    kind: Kind
    r: WorkersResult

    @property
    def workers(self) -> int:
        """Workers of the kind: threads of the owner, or the vhost kernel thread."""
        return self.r.nworkers + (1 if self.r.kthread_tid else 0)

    @property
    def kthread(self) -> int:
        return 1 if self.r.kthread_tid else 0

    @property
    def term_signal(self) -> int:
        st = self.r.owner_status
        return os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0

    @property
    def exit_code(self) -> int:
        st = self.r.owner_status
        return os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1

    @property
    def usr1_pending(self) -> int:
        return 1 if self.r.target_pending >> (signal.SIGUSR1 - 1) & 1 else 0

    @property
    def nop_results(self) -> tuple[int, ...]:
        return self.r.nop_res[: self.r.nnop_done]

    @property
    def completed(self) -> tuple[int, ...]:
        return self.r.complete_res[: self.r.ncomplete]

    @property
    def mntns_differs(self) -> int:
        return 1 if self.r.mntns_owner and self.r.mntns_worker and self.r.mntns_owner != self.r.mntns_worker else 0

    @property
    def target_stopped(self) -> int:
        return 1 if chr(self.r.target_state or 32) in "Tt" else 0

    @property
    def owner_stopped(self) -> int:
        return 1 if chr(self.r.owner_state or 32) in "Tt" else 0

    @property
    def all_stopped(self) -> int:
        return 1 if self.r.nworkers > 0 and self.r.stopped_workers == self.r.nworkers else 0

    @property
    def maxw_old_bound(self) -> int:
        return self.r.maxw_old[0]

    @property
    def maxw_old_unbound(self) -> int:
        return self.r.maxw_old[1]

    @property
    def maxw_now_bound(self) -> int:
        return self.r.maxw_now[0]

    @property
    def maxw_now_unbound(self) -> int:
        return self.r.maxw_now[1]

    def value(self, name: str) -> int:
        v = getattr(self, name) if hasattr(type(self), name) else getattr(self.r, name)
        if not isinstance(v, int):
            raise TypeError(f"{name} is not an integer observation")
        return v


def _show(v: int, name: str = "") -> str:
    """An errno-carrying field (``*_ret``, counts read from /proc) as -ENAME, anything else as a number."""
    errnoish = not name or name.endswith("_ret") or name in ("fd_count", "owner_fd_count", "core_size")
    return f"-{errno_name(-v)}" if errnoish and -4095 <= v < 0 else str(v)


# --------------------------------------------------------------------------- checks


@record(frozen=True)
class Is:
    """Observation field ``name`` equals ``value`` (``what`` says it in words)."""

    name: str
    value: int
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        v = obs.value(self.name)
        if v == self.value:
            return None
        return f"{self.what}: {self.name} is {_show(v, self.name)}, expected {_show(self.value, self.name)}"


@record(frozen=True)
class OneOf:
    name: str
    values: tuple[int, ...]
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        v = obs.value(self.name)
        if v in self.values:
            return None
        want = " or ".join(_show(x, self.name) for x in self.values)
        return f"{self.what}: {self.name} is {_show(v, self.name)}, expected {want}"


@record(frozen=True)
class AtLeast:
    name: str
    value: int
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        v = obs.value(self.name)
        if v >= self.value:
            return None
        return f"{self.what}: {self.name} is {_show(v, self.name)}, expected >= {self.value}"


@record(frozen=True)
class Between:
    name: str
    low: int
    high: int
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        v = obs.value(self.name)
        ok = self.low <= v <= self.high
        return None if ok else f"{self.what}: {self.name} is {_show(v, self.name)}, expected {self.low}..{self.high}"


@record(frozen=True)
class SameAs:
    name: str
    other: str
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        a, b = obs.value(self.name), obs.value(self.other)
        if a == b:
            return None
        return f"{self.what}: {self.name} {_show(a, self.name)} != {self.other} {_show(b, self.other)}"


@record(frozen=True)
class AllResults:
    """Every result in the tuple ``name`` (nop_results, completed) is one of ``values``; count at least ``count``."""

    name: str
    values: tuple[int, ...]
    count: int
    what: str

    def mismatch(self, obs: Obs) -> str | None:
        got = getattr(obs, self.name)
        assert isinstance(got, tuple)
        shown = ", ".join(_show(v) for v in got) or "none"
        if len(got) < self.count or any(v not in self.values for v in got):
            want = "/".join(_show(v) for v in self.values)
            return f"{self.what}: results {shown}, expected {self.count} x {want}"
        return None


def expect(*checks: Check[Obs]) -> AllOf[Obs]:
    return AllOf(tuple(checks))


# --------------------------------------------------------------------------- requirements


PRIVATE_UID_BASE = 0x6B000000  # kc_workers.c: the owner's private uid/gid is this + (pid & 0xfffff)


@record(frozen=True)
class CanSetuid:
    """The owner must take a private uid (RLIMIT_NPROC counts per uid, and nothing else may use it)."""

    def unmet(self) -> str | None:
        priv = privilege.current()
        why = "the owner runs as a private uid so that no other process counts"
        if not (priv.has_cap(privilege.CAP_SETUID) and priv.has_cap(privilege.CAP_SETGID)):
            return f"needs CAP_SETUID and CAP_SETGID ({why}; {priv.lacks(privilege.CAP_SETUID, privilege.Scope.OWN)})"
        lo, hi = PRIVATE_UID_BASE, PRIVATE_UID_BASE + 0xFFFFF
        if not all(privilege.mapped(m, i) for m in (priv.uid_map, priv.gid_map) for i in (lo, hi)):
            return f"needs ids {lo:#x}-{hi:#x} mapped ({why}; this is {priv.describe()})"
        if not priv.setgroups_allowed:
            return f"needs setgroups ({why}; it is denied in this user namespace)"
        return None


@record(frozen=True)
class PidsController:
    """A child cgroup of ours can get the pids controller."""

    def unmet(self) -> str | None:
        return pids_setup_problem()


@record(frozen=True)
class CoreToCwd:
    """core_pattern writes a plain file into the crashing process's cwd (the suite never changes it)."""

    def unmet(self) -> str | None:
        pattern = kernel.read_text("/proc/sys/kernel/core_pattern").strip()
        if not pattern or pattern.startswith("|") or "/" in pattern:
            return f"kernel.core_pattern is {pattern!r}: dumps do not go to the cwd (the suite does not change it)"
        if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
            return "the hard RLIMIT_CORE is 0"
        return None


@record(frozen=True)
class UringForAnyUser:
    """io_uring_setup is open to an owner without CAP_SYS_ADMIN (kernel.io_uring_disabled 0)."""

    def unmet(self) -> str | None:
        try:
            value = int(kernel.read_text("/proc/sys/kernel/io_uring_disabled").strip() or 0)
        except ValueError:
            return None
        if value:
            return f"kernel.io_uring_disabled is {value}: an owner without CAP_SYS_ADMIN gets no ring"
        return None


def sleep_binary() -> str:
    return shutil.which("sleep") or ""


@record(frozen=True)
class SleepBinary:
    def unmet(self) -> str | None:
        return None if sleep_binary() else "needs a sleep(1) binary to exec"


# --------------------------------------------------------------------------- cgroups (created per case, removed after)


def _controllers(d: Path, name: str) -> set[str]:
    try:
        return set((d / name).read_text().split())
    except OSError:
        return set()


def pids_setup_problem() -> str | None:
    own, mount = kernel.cgroup2_self(), kernel.cgroup2_mount()
    if own is None or mount is None:
        return "needs a mounted cgroup v2 hierarchy"
    if not os.access(own, os.W_OK):
        return f"needs write access to the cgroup v2 directory {own}"
    if "pids" in _controllers(own, "cgroup.subtree_control"):
        return None
    if "pids" not in _controllers(own, "cgroup.controllers"):
        return f"the pids controller is not available in {own} (bound to cgroup v1 or not delegated)"
    if own != mount:
        return f"the pids controller is not enabled below {own} (cgroup.subtree_control; not changed by the suite)"
    return None


@contextlib.contextmanager
def _pids_enabled(own: Path) -> Iterator[None]:
    """At the hierarchy root only (a test VM), enable +pids for the children and put it back."""
    if "pids" in _controllers(own, "cgroup.subtree_control"):
        yield
        return
    (own / "cgroup.subtree_control").write_text("+pids")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            (own / "cgroup.subtree_control").write_text("-pids")


@contextlib.contextmanager
def cgroups(n: int, pids_max: int | None) -> Iterator[tuple[str, ...]]:
    """n fresh cgroup v2 groups (kernel.temp_cgroup), optionally with pids.max."""
    with contextlib.ExitStack() as stack:
        if pids_max is not None:
            own = kernel.cgroup2_self()
            if own is None:
                raise HarnessProblem("no cgroup v2 hierarchy")
            stack.enter_context(_pids_enabled(own))
        paths = []
        for _ in range(n):
            path, _name = stack.enter_context(kernel.temp_cgroup())
            paths.append(str(path))
        if pids_max is not None:
            (Path(paths[0]) / "pids.max").write_text(str(pids_max))
        yield tuple(paths)


@contextlib.contextmanager
def core_dir() -> Iterator[str]:
    """A private directory for one core dump: journaled, so a killed run's dump is removed too."""
    d = tempfile.mkdtemp(prefix="kconform-core-")
    os.chmod(d, 0o700)
    with guardian.scratch_tree(Path(d)):
        yield d


# --------------------------------------------------------------------------- the scenario and the case


@record(frozen=True)
class Scenario:
    """What the owner does and what the harness does to it, for every kind."""

    action: WorkerAction = WorkerAction.NONE
    arg: int = 0
    nblock: int = 0  # io_uring kinds: splices left blocked (io-wq work)
    block_bound: bool = False
    nnop: int = 1  # io_uring kinds: NOPs (IOSQE_ASYNC on iowq) completed before the action
    maxw: tuple[int, int] | None = None
    maxw_query: bool = False
    private_uid: bool = False
    nproc: int = -1
    vhost_new_workers: int = 0
    vhost_attach: bool = False
    scsi: bool = False  # vhost-scsi rather than vhost-net
    cgroups: int = 0  # fresh cgroups: the owner joins the first; KC_WA_MOVE moves it to the second
    pids_max: int | None = None
    core: bool = False
    exec_sleep: bool = False
    want: int | None = None  # workers to wait for; None: the kind's default


@record(frozen=True, kw_only=True)
class WorkerCase(Case[Obs]):
    kind: Kind
    scenario: Scenario

    def request(self, cgroup: str = "", dst: str = "", core: str = "") -> WorkersRequest:
        sc, k = self.scenario, self.kind
        want = sc.want
        if want is None:
            if k is Kind.IOWQ:
                want = max(sc.nblock, 1 if sc.nnop else 0)
            elif k.is_vhost:
                want = 1 + sc.vhost_new_workers
            else:
                want = 1
        return WorkersRequest(
            kind=k.native, action=sc.action, arg=sc.arg, nblock=sc.nblock if not k.is_vhost else 0,
            block_bound=sc.block_bound, nnop=sc.nnop if not k.is_vhost else 0, want_workers=want,
            maxw_set=sc.maxw is not None, maxw=sc.maxw or (0, 0), maxw_query=sc.maxw_query,
            private_uid=sc.private_uid, nproc=sc.nproc,
            vhost_fork_owner=0 if k is Kind.VHOST_KTHREAD else -1,
            vhost_new_workers=sc.vhost_new_workers, vhost_attach=sc.vhost_attach, timeout_ms=TIMEOUT_MS,
            device=(SCSI if sc.scsi else NET) if k.is_vhost else "", cgroup=cgroup, dst_cgroup=dst, core_dir=core,
            exec_path=sleep_binary() if sc.exec_sleep else "",
        )

    def observe(self) -> Obs:
        sc = self.scenario
        with contextlib.ExitStack() as stack:
            groups: tuple[str, ...] = ()
            if sc.cgroups:
                try:
                    groups = stack.enter_context(cgroups(sc.cgroups, sc.pids_max))
                except OSError as e:
                    raise HarnessProblem(f"cgroup setup: {e}") from e
            core = stack.enter_context(core_dir()) if sc.core else ""
            req = self.request(groups[0] if groups else "", groups[1] if len(groups) > 1 else "", core)
            try:
                r = harness.run(req)
            except OSError as e:
                raise HarnessProblem(str(e)) from e
        if r.harness_error:
            raise HarnessProblem(f"harness error {r.harness_error} ({errno_name(r.harness_errno)})")
        if r.setup_ret < 0 and r.setup_step in (SetupStep.CGROUP, SetupStep.IDENTITY, SetupStep.RLIMIT,
                                                SetupStep.OPEN, SetupStep.SUBMIT):
            raise HarnessProblem(f"owner setup step {SetupStep(r.setup_step).name}: {errno_name(-r.setup_ret)}")
        if r.setup_step == SetupStep.RING and r.setup_ret == -errno.EPERM and UringForAnyUser().unmet():
            raise HarnessProblem("kernel.io_uring_disabled was raised while the case ran")
        if self.kind is Kind.VHOST_KTHREAD and r.fork_owner_ret != 0:
            raise HarnessProblem(f"VHOST_SET_FORK_FROM_OWNER(0) gave {_show(r.fork_owner_ret)}")
        return Obs(self.kind, r)

    def describe(self, obs: Obs) -> str:
        r = obs.r
        parts = [f"{self.kind.value}: setup {_show(r.setup_ret)}", f"workers {r.nworkers}"]
        if r.kthread_tid:
            parts.append(f"kthread vhost-{r.owner_pid}")
        a = self.scenario.action
        if a is not WorkerAction.NONE:
            took = f"{r.action_ms} ms" if r.action_ms >= 0 else "not within the bound"
            parts.append(f"{a.name.lower()} {_show(r.action_ret)}, {took}")
        for name, v in (("nops", obs.nop_results), ("completed", obs.completed)):
            if v:
                parts.append(f"{name} {','.join(_show(x) for x in v)}")
        extra = DESCRIBE.get(a, ())
        parts += [f"{n}={_show(obs.value(n), n)}" for n in extra]
        if r.owner_status or a in (WorkerAction.EXIT, WorkerAction.KILL, WorkerAction.CORE):
            parts.append(f"owner {describe_status(r.owner_status)}")
        return "; ".join(parts)


DESCRIBE: Mapping[WorkerAction, tuple[str, ...]] = {
    WorkerAction.TGKILL: ("owner_stopped", "target_stopped", "all_stopped", "usr1_pending", "handler_hits",
                          "post_ret", "owner_ended"),
    WorkerAction.PTRACE: ("target_stopped", "owner_stopped", "post_ret"),
    WorkerAction.PROCFS: ("fd_count", "owner_fd_count", "mem_ret", "mem_match"),
    WorkerAction.STOP: ("owner_stopped", "all_stopped", "target_stopped", "post_ret"),
    WorkerAction.FREEZE: ("frozen", "thawed", "post_ret"),
    WorkerAction.MOVE: ("in_cgroup", "in_dst", "after_in_cgroup"),
    WorkerAction.EXEC: ("after_nthreads", "after_nworkers", "after_kthread"),
    WorkerAction.EXIT: ("owner_ended", "leaked"),
    WorkerAction.CORE: ("core_dumped", "core_size", "core_prstatus", "nthreads"),
    WorkerAction.UNSHARE: ("mntns_differs", "post_ret"),
    WorkerAction.CLOSE: ("after_nworkers", "after_kthread"),
    WorkerAction.KILL: ("after_nworkers", "after_kthread", "leaked"),
    WorkerAction.IDLE: ("after_nworkers",),
    WorkerAction.NEW_WORKER: ("after_nworkers",),
    WorkerAction.NONE: ("in_cgroup", "pids_current", "pids_max_events", "new_worker_ret", "attach_ret",
                        "get_vring_ret", "get_vring_id", "free_ret", "maxw_ret", "maxw_query_ret"),
}


# --------------------------------------------------------------------------- typed row constructors


@record(frozen=True)
class Variant:
    """One kind of a behaviour: its current model, its old one, and what it needs beyond the behaviour's."""

    expect: AllOf[Obs]
    old: OldModel[Obs] | None = None
    needs: tuple[Requirement, ...] = ()
    scenario: Callable[[Scenario], Scenario] | None = None
    doc: str = ""
    waits: ClockWait | None = None  # this kind waits on the clock (else the behaviour's ``waits``)


@record(frozen=True)
class Behaviour:
    """A behaviour of the family run against several worker kinds (declared once)."""

    name: str
    scenario: Scenario
    variants: Mapping[Kind, Variant]
    needs: tuple[Requirement, ...] = ()
    doc: str = ""
    kind_needs: Mapping[Kind, tuple[Requirement, ...]] = field(default_factory=dict)
    lock: Lock = Lock.SHARED  # EXCLUSIVE: the rows may change global state (a root cgroup's subtree_control)
    waits: ClockWait | None = None  # the scenario waits on a kernel timer (run beside the other cases)


def rows(b: Behaviour) -> tuple[WorkerCase, ...]:
    out = []
    for kind, v in b.variants.items():
        sc = v.scenario(b.scenario) if v.scenario else b.scenario
        out.append(WorkerCase(
            id=f"{b.name.replace('_', '-')}.{kind.value}", behaviour=f"{FAMILY}.{b.name}", expect=v.expect, old=v.old,
            needs=b.kind_needs.get(kind, ()) + b.needs + v.needs, doc=" ".join(x for x in (b.doc, v.doc) if x),
            kind=kind, scenario=sc, lock=b.lock, reads=() if kind.is_vhost else USES_IO_URING,
            waits=v.waits or b.waits,
        ))
    return tuple(out)


def with_(**changes: Any) -> Callable[[Scenario], Scenario]:
    """A variant's change to the behaviour's scenario."""

    def f(sc: Scenario) -> Scenario:
        return replace(sc, **changes)

    return f

