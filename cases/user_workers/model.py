"""user_workers: the observation, its checks, the case type and the typed row constructors.

One behaviour is declared once and run against each worker kind where it applies (the variant axis):
``iowq`` (an io-wq worker, iou-wrk-<tid>), ``sqpoll`` (iou-sqp-<tid>), ``vhost`` (vhost-<tid> in the kernel's
default mode: a thread of the owner since 6.4, a kernel thread before) and ``vhost-kthread`` (the kernel-thread
mode selected with VHOST_SET_FORK_FROM_OWNER(0), 6.17 and backports).  Every scenario runs in a throw-away C
harness (wire.run, native_helpers/kc_workers.c); the cgroups and core directories it needs are made
here and removed afterwards.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from pathlib import Path

from conformance import native
from conformance.host import kernel
from conformance.host.records import record
from conformance.isolation import globalstate, guardian
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import USES_IO_URING
from conformance.native import describe_status, errno_name
from conformance.suite.case import AllOf, Case, Check, ClockWait, HarnessProblem, OldModel
from conformance.suite.checks import Field, Results, errno_or_int, plain, shown
from conformance.suite.requirements import IdsMapped, ProgramOnPath, Requirement, SetgroupsAllowed, why_not_writable

from . import wire
from .wire import SetupStep, WorkerAction, WorkerKind, WorkersRequest, WorkersResult

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
    def sigmask_changed(self) -> int:
        """1 when PTRACE_GETSIGMASK read back another mask after PTRACE_SETSIGMASK."""
        return 1 if self.r.getsigmask_ret == 0 and self.r.sigmask_after != self.r.sigmask_before else 0

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


def _errnoish(name: str) -> bool:
    """An errno-carrying field: ``*_ret``, and counts read from /proc."""
    return name.endswith("_ret") or name in ("fd_count", "owner_fd_count", "core_size")


def _show(v: int, name: str = "") -> str:
    """An errno-carrying field (or a value with no name) as -ENAME, anything else as a number."""
    return errno_or_int(v) if not name or _errnoish(name) else str(v)


def _field(name: str, get: Callable[[Obs], int]) -> Field[Obs]:
    """A getter whose values are shown as ``_show`` does for its name."""
    return Field(name, get, errno_or_int if _errnoish(name) else plain)


class F:
    """Every observed integer a row or a description names, as a typed getter (a misspelt field is a type
    error, not a string; tests/test_fields.py checks that each name is the attribute its getter reads)."""

    nop_results: Results[Obs] = Results("nop_results", lambda o: o.nop_results)
    completed: Results[Obs] = Results("completed", lambda o: o.completed)
    action_ms = _field("action_ms", lambda o: o.r.action_ms)
    action_ret = _field("action_ret", lambda o: o.r.action_ret)
    after_in_cgroup = _field("after_in_cgroup", lambda o: o.r.after_in_cgroup)
    after_kthread = _field("after_kthread", lambda o: o.r.after_kthread)
    after_nthreads = _field("after_nthreads", lambda o: o.r.after_nthreads)
    after_nworkers = _field("after_nworkers", lambda o: o.r.after_nworkers)
    all_stopped = _field("all_stopped", lambda o: o.all_stopped)
    attach_ret = _field("attach_ret", lambda o: o.r.attach_ret)
    core_dumped = _field("core_dumped", lambda o: o.r.core_dumped)
    core_prstatus = _field("core_prstatus", lambda o: o.r.core_prstatus)
    core_size = _field("core_size", lambda o: o.r.core_size)
    exec_sqes = _field("exec_sqes", lambda o: o.r.exec_sqes)
    exit_code = _field("exit_code", lambda o: o.exit_code)
    fd_count = _field("fd_count", lambda o: o.r.fd_count)
    free_ret = _field("free_ret", lambda o: o.r.free_ret)
    frozen = _field("frozen", lambda o: o.r.frozen)
    get_vring_id = _field("get_vring_id", lambda o: o.r.get_vring_id)
    get_vring_ret = _field("get_vring_ret", lambda o: o.r.get_vring_ret)
    getsigmask_ret = _field("getsigmask_ret", lambda o: o.r.getsigmask_ret)
    handler_hits = _field("handler_hits", lambda o: o.r.handler_hits)
    in_cgroup = _field("in_cgroup", lambda o: o.r.in_cgroup)
    in_dst = _field("in_dst", lambda o: o.r.in_dst)
    kthread = _field("kthread", lambda o: o.kthread)
    leaked = _field("leaked", lambda o: o.r.leaked)
    maxw_now_bound = _field("maxw_now_bound", lambda o: o.maxw_now_bound)
    maxw_now_unbound = _field("maxw_now_unbound", lambda o: o.maxw_now_unbound)
    maxw_old_bound = _field("maxw_old_bound", lambda o: o.maxw_old_bound)
    maxw_old_unbound = _field("maxw_old_unbound", lambda o: o.maxw_old_unbound)
    maxw_query_ret = _field("maxw_query_ret", lambda o: o.r.maxw_query_ret)
    maxw_ret = _field("maxw_ret", lambda o: o.r.maxw_ret)
    mem_match = _field("mem_match", lambda o: o.r.mem_match)
    mem_ret = _field("mem_ret", lambda o: o.r.mem_ret)
    mntns_differs = _field("mntns_differs", lambda o: o.mntns_differs)
    ncomplete = _field("ncomplete", lambda o: o.r.ncomplete)
    new_worker_id = _field("new_worker_id", lambda o: o.r.new_worker_id)
    new_worker_ret = _field("new_worker_ret", lambda o: o.r.new_worker_ret)
    nthreads = _field("nthreads", lambda o: o.r.nthreads)
    nworkers = _field("nworkers", lambda o: o.r.nworkers)
    owner_ended = _field("owner_ended", lambda o: o.r.owner_ended)
    owner_fd_count = _field("owner_fd_count", lambda o: o.r.owner_fd_count)
    owner_stopped = _field("owner_stopped", lambda o: o.owner_stopped)
    pids_current = _field("pids_current", lambda o: o.r.pids_current)
    pids_max_events = _field("pids_max_events", lambda o: o.r.pids_max_events)
    post_ret = _field("post_ret", lambda o: o.r.post_ret)
    ring_copy_ret = _field("ring_copy_ret", lambda o: o.r.ring_copy_ret)
    setsigmask_ret = _field("setsigmask_ret", lambda o: o.r.setsigmask_ret)
    setup_ret = _field("setup_ret", lambda o: o.r.setup_ret)
    setup_step = _field("setup_step", lambda o: o.r.setup_step)
    sigmask_changed = _field("sigmask_changed", lambda o: o.sigmask_changed)
    target_stopped = _field("target_stopped", lambda o: o.target_stopped)
    term_signal = _field("term_signal", lambda o: o.term_signal)
    thawed = _field("thawed", lambda o: o.r.thawed)
    usr1_pending = _field("usr1_pending", lambda o: o.usr1_pending)
    workers = _field("workers", lambda o: o.workers)


# --------------------------------------------------------------------------- checks


def expect(*checks: Check[Obs]) -> AllOf[Obs]:
    return AllOf(tuple(checks))


# --------------------------------------------------------------------------- requirements


PRIVATE_UID_BASE = 0x6B000000  # kc_workers.c: the owner's private uid/gid is this + (pid & 0xfffff)
_PRIVATE = (PRIVATE_UID_BASE, PRIVATE_UID_BASE + 0xFFFFF)
_WHY_PRIVATE = "the owner runs as a private uid so that no other process counts"
# The owner must take a private uid (RLIMIT_NPROC counts per uid, and nothing else may use it).
PRIVATE_IDS: tuple[Requirement, ...] = (IdsMapped(_PRIVATE, _PRIVATE, _WHY_PRIVATE), SetgroupsAllowed(_WHY_PRIVATE))


@record(frozen=True)
class PidsController:
    """A child cgroup of ours can get the pids controller."""

    def unmet(self) -> str | None:
        return pids_setup_problem()


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


SLEEP_ON_PATH = ProgramOnPath("sleep")  # what an exec row runs


# --------------------------------------------------------------------------- cgroups (created per case, removed after)


def _controllers(d: Path, name: str) -> set[str]:
    try:
        return set((d / name).read_text().split())
    except OSError:
        return set()


def _pids_elsewhere(own: Path) -> str:
    """Why the pids controller is missing from a cgroup v2 group: /proc/cgroups says whether it is bound
    to a cgroup v1 hierarchy (a non-zero hierarchy id) or disabled; else the parent did not delegate it."""
    try:
        rows = [ln.split() for ln in Path("/proc/cgroups").read_text().splitlines() if ln.startswith("pids")]
    except OSError:
        rows = []
    if rows and len(rows[0]) >= 4:
        _, hierarchy, _, enabled = rows[0][:4]
        if enabled == "0":
            return "the pids controller is disabled (/proc/cgroups; cgroup_disable=pids)"
        if hierarchy != "0":
            return f"it is bound to cgroup v1 hierarchy {hierarchy} (/proc/cgroups), so cgroup v2 cannot use it"
    elif not rows:
        return "the kernel has no pids controller (CONFIG_CGROUP_PIDS)"
    return f"the parent of {own} did not enable it in cgroup.subtree_control (not delegated)"


def pids_setup_problem() -> str | None:
    own, mount = kernel.cgroup2_self(), kernel.cgroup2_mount()
    if own is None or mount is None:
        return "needs a mounted cgroup v2 hierarchy"
    why = why_not_writable(own)
    if why is not None:
        return f"needs write access to the cgroup v2 directory {own}: {why}"
    if "pids" in _controllers(own, "cgroup.subtree_control"):
        return None
    if "pids" not in _controllers(own, "cgroup.controllers"):
        return f"the pids controller is not available in {own} ({_pids_elsewhere(own)})"
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
    """n fresh cgroup v2 groups (globalstate.temp_cgroup), optionally with pids.max."""
    with contextlib.ExitStack() as stack:
        if pids_max is not None:
            own = kernel.cgroup2_self()
            if own is None:
                raise HarnessProblem("no cgroup v2 hierarchy")
            stack.enter_context(_pids_enabled(own))
        paths = []
        for _ in range(n):
            path, _name = stack.enter_context(globalstate.temp_cgroup())
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
    exec_cqes: bool = False  # KC_WA_EXEC: read the blocked requests' CQEs through a copy of the ring after exec
    sigmask: bool = False  # KC_WA_PTRACE: PTRACE_GETSIGMASK / SETSIGMASK on the stopped worker
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
            exec_path=sleep_binary() if sc.exec_sleep else "", sigmask=sc.sigmask,
            exec_cqes=sc.exec_cqes,
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
                r = wire.run(req)
            except OSError as e:
                raise HarnessProblem(str(e)) from e
        if r.harness_error:
            raise native.harness_problem("user-worker", r.harness.describe())
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
        parts += [f"{f.name}={shown(f, obs)}" for f in extra]
        if r.owner_status or a in (WorkerAction.EXIT, WorkerAction.KILL, WorkerAction.CORE):
            parts.append(f"owner {describe_status(r.owner_status)}")
        return "; ".join(parts)


DESCRIBE: Mapping[WorkerAction, tuple[Field[Obs], ...]] = {
    WorkerAction.TGKILL: (F.owner_stopped, F.target_stopped, F.all_stopped, F.usr1_pending, F.handler_hits,
                          F.post_ret, F.owner_ended),
    WorkerAction.PTRACE: (F.target_stopped, F.owner_stopped, F.post_ret, F.getsigmask_ret, F.setsigmask_ret,
                          F.sigmask_changed),
    WorkerAction.PROCFS: (F.fd_count, F.owner_fd_count, F.mem_ret, F.mem_match),
    WorkerAction.STOP: (F.owner_stopped, F.all_stopped, F.target_stopped, F.post_ret),
    WorkerAction.FREEZE: (F.frozen, F.thawed, F.post_ret),
    WorkerAction.MOVE: (F.in_cgroup, F.in_dst, F.after_in_cgroup),
    WorkerAction.EXEC: (F.after_nthreads, F.after_nworkers, F.after_kthread, F.ring_copy_ret, F.exec_sqes),
    WorkerAction.EXIT: (F.owner_ended, F.leaked),
    WorkerAction.CORE: (F.core_dumped, F.core_size, F.core_prstatus, F.nthreads),
    WorkerAction.UNSHARE: (F.mntns_differs, F.post_ret),
    WorkerAction.CLOSE: (F.after_nworkers, F.after_kthread),
    WorkerAction.KILL: (F.after_nworkers, F.after_kthread, F.leaked),
    WorkerAction.IDLE: (F.after_nworkers,),
    WorkerAction.NEW_WORKER: (F.after_nworkers,),
    WorkerAction.NONE: (F.in_cgroup, F.pids_current, F.pids_max_events, F.new_worker_ret, F.attach_ret,
                        F.get_vring_ret, F.get_vring_id, F.free_ret, F.maxw_ret, F.maxw_query_ret),
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



