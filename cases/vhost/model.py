"""The vhost family: a device owner (a C child), what /proc shows, and checks.

A case starts an owner (``native_helpers/kc_vhost.c``, through .wire) that opens a vhost
device and runs VHOST_SET_OWNER (and the fork-owner / worker ioctls asked for),
then inspects the owner's task list, the kernel threads, ``ps`` (procps, a real
client), the worker's cgroup and the freezer, and finally tears the owner down
by close() or SIGKILL and measures that the worker goes.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import field, replace
from pathlib import Path

from conformance import native
from conformance.host import kernel, procfs
from conformance.host.procfs import Task
from conformance.host.records import record
from conformance.host.uapi import PF_USER_WORKER
from conformance.isolation import globalstate
from conformance.native import errno_name
from conformance.suite.case import AllOf, Case, Check, HarnessProblem, OldModel
from conformance.suite.registry import State
from conformance.suite.requirements import PRIVILEGED, Feature, Requirement

from .wire import NET, NOT_CALLED, SCSI, VSOCK, OwnerRequest, OwnerSetup, exec_capture, owner

BOUND_S = 5.0


def _ret(v: int) -> str:
    if v == NOT_CALLED:
        return "not called"
    return "0" if v == 0 else errno_name(-v)


def wait_until(pred: Callable[[], bool], bound_s: float = BOUND_S) -> float | None:
    """Seconds until pred() became true, or None if it did not within bound_s."""
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > bound_s:
            return None
        time.sleep(0.005)


# --------------------------------------------------------------------------- scenarios


class Teardown(enum.Enum):
    NONE = "none"
    CLOSE = "close"
    KILL = "kill"


@record(frozen=True)
class Scenario:
    owner: OwnerRequest = field(default_factory=OwnerRequest)
    ps: bool = False  # run ps -e / ps -eL while the worker lives
    in_cgroup: bool = False  # owner joins a fresh cgroup v2 group before SET_OWNER
    freeze: bool = False  # freeze and thaw that group
    free_workers: bool = False
    teardown: Teardown = Teardown.CLOSE


@record(frozen=True)
class Observation:
    setup: OwnerSetup
    new_worker_rets: tuple[int, ...]  # one per VHOST_NEW_WORKER call
    owner_task: Task | None
    new_threads: tuple[Task, ...]  # owner threads other than the owner itself
    kthreads: tuple[Task, ...]  # kernel threads named vhost-<owner pid>
    ps_e: tuple[str, ...] = ()  # ps -e lines naming vhost-<pid>
    ps_el: tuple[str, ...] = ()  # ps -eL lines naming vhost-<pid>
    ps_status: int = 0
    owner_cgroup: str = ""
    worker_cgroups: tuple[str, ...] = ()
    frozen_after: float | None = None
    thawed_after: float | None = None
    threads_after_free: tuple[Task, ...] = ()
    free_rets: tuple[int, ...] = ()
    gone_after: float | None = None  # seconds until no vhost worker of the owner is left
    teardown: Teardown = Teardown.NONE

    @property
    def worker_name(self) -> str:
        return f"vhost-{self.setup.pid}"

    def workers(self) -> tuple[Task, ...]:
        return tuple(t for t in self.new_threads if t.comm.startswith("vhost-"))

    def describe(self) -> str:
        s = self.setup
        parts = [f"SET_OWNER {_ret(s.set_owner_ret)}"]
        if s.fork_owner_ret != NOT_CALLED:
            parts.insert(0, f"SET_FORK_FROM_OWNER {_ret(s.fork_owner_ret)}")
        parts.append(f"owner threads +{len(self.new_threads)} "
                     f"({', '.join(t.comm for t in self.new_threads) or 'none'})")
        parts.append(f"kthreads {self.worker_name}: {len(self.kthreads)}")
        return "; ".join(parts)


def _events(path: Path) -> dict[str, str]:
    lines = kernel.read_text(path / "cgroup.events").splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _worker_present(pid: int, name: str) -> bool:
    return any(t.comm.startswith("vhost-") and t.tid != pid for t in procfs.tasks_of(pid)) or bool(
        procfs.kthreads_named(name))


def _ps(name: str) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Lines of ps -e and ps -eL naming `name`, and the first non-zero wait status."""
    st_e, out_e = exec_capture(["ps", "-e", "-o", "pid,ppid,comm"])
    st_l, out_l = exec_capture(["ps", "-eL", "-o", "pid,lwp,comm"])
    return (tuple(ln.strip() for ln in out_e.splitlines() if name in ln),
            tuple(ln.strip() for ln in out_l.splitlines() if name in ln), st_e or st_l)


def _freeze_and_thaw(group: Path) -> tuple[float | None, float | None]:
    (group / "cgroup.freeze").write_text("1")
    frozen = wait_until(lambda: _events(group).get("frozen") == "1")
    (group / "cgroup.freeze").write_text("0")
    return frozen, wait_until(lambda: _events(group).get("frozen") == "0")


def _worker_threads(tasks: Iterable[procfs.Task], pid: int) -> tuple[procfs.Task, ...]:
    return tuple(t for t in tasks if t.tid != pid and t.comm.startswith("vhost-"))


def _threads_after_free(pid: int, before: tuple[procfs.Task, ...],
                        free_rets: tuple[int, ...]) -> tuple[procfs.Task, ...]:
    """The owner's other threads once the freed workers' threads have gone, or as they are BOUND_S later.

    VHOST_FREE_WORKER returns once the worker's function has finished (vhost_task_stop waits for its
    completion), not once its thread has exited: the thread does that right after and may still be
    listed when the ioctl returns (seen under TCG).  A kernel that keeps the thread fails after the bound."""
    target = max(0, len(_worker_threads(before, pid)) - sum(1 for r in free_rets if r == 0))
    wait_until(lambda: len(_worker_threads(procfs.tasks_of(pid), pid)) <= target)
    return tuple(t for t in procfs.tasks_of(pid) if t.tid != pid)


def run(sc: Scenario) -> Observation:
    with contextlib.ExitStack() as stack:
        procs_fd = -1
        group: Path | None = None
        if sc.in_cgroup:
            group, _ = stack.enter_context(globalstate.temp_cgroup())
            procs_fd = os.open(group / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            stack.callback(os.close, procs_fd)
        o, setup = stack.enter_context(owner(replace(sc.owner, cgroup_procs_fd=procs_fd)))
        pid = setup.pid
        name = f"vhost-{pid}"
        tasks = procfs.tasks_of(pid)
        new = tuple(t for t in tasks if t.tid != pid)
        # Everything about the live worker is read before any teardown.
        kthreads = tuple(procfs.kthreads_named(name))
        owner_cgroup = procfs.cgroup_of(pid) or ""
        worker_cgroups = tuple(procfs.cgroup_of(pid, t.tid) or "" for t in new)
        ps_e, ps_el, ps_status = _ps(name) if sc.ps else ((), (), 0)
        frozen, thawed = _freeze_and_thaw(group) if sc.freeze and group is not None else (None, None)
        free_rets = o.free_workers() if sc.free_workers else ()
        after_free = _threads_after_free(pid, new, free_rets) if sc.free_workers else ()
        gone: float | None = None
        if sc.teardown is not Teardown.NONE:
            if sc.teardown is Teardown.CLOSE:
                o.close_device()
            else:
                o.finish(kill=True)
            gone = wait_until(lambda: not _worker_present(pid, name))
        o.finish(kill=False)
        return Observation(
            setup=setup,
            new_worker_rets=setup.new_worker_ret[: sc.owner.new_workers],
            owner_task=next((t for t in tasks if t.tid == pid), None),
            new_threads=new,
            kthreads=kthreads,
            ps_e=ps_e, ps_el=ps_el, ps_status=ps_status,
            owner_cgroup=owner_cgroup,
            worker_cgroups=worker_cgroups,
            frozen_after=frozen, thawed_after=thawed,
            threads_after_free=after_free, free_rets=free_rets,
            gone_after=gone, teardown=sc.teardown,
        )
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- checks


class Call(enum.Enum):
    """An ioctl the owner makes; the value names it in messages."""

    SET_OWNER = "VHOST_SET_OWNER"
    SET_OWNER_AGAIN = "the second VHOST_SET_OWNER"
    FORK_OWNER = "VHOST_SET_FORK_FROM_OWNER"
    FORK_OWNER_AFTER = "VHOST_SET_FORK_FROM_OWNER after SET_OWNER"
    GET_BEFORE = "VHOST_GET_FORK_FROM_OWNER"
    GET_AFTER = "VHOST_GET_FORK_FROM_OWNER after SET_FORK"

    def ret(self, s: OwnerSetup) -> int:
        match self:
            case Call.SET_OWNER:
                return s.set_owner_ret
            case Call.SET_OWNER_AGAIN:
                return s.set_owner2_ret
            case Call.FORK_OWNER:
                return s.fork_owner_ret
            case Call.FORK_OWNER_AFTER:
                return s.fork_owner_after_ret
            case Call.GET_BEFORE:
                return s.get_before_ret
            case Call.GET_AFTER:
                return s.get_after_ret

    def got(self, s: OwnerSetup) -> int:
        """What a GET call returned (meaningful when ret() is 0)."""
        return s.get_after_val if self is Call.GET_AFTER else s.get_before_val


ANY_ERROR = -1


@record(frozen=True)
class Ioctl:
    """An ioctl's result: 0, an errno, or ANY_ERROR."""

    call: Call
    err: int = 0

    def mismatch(self, obs: Observation) -> str | None:
        ret = self.call.ret(obs.setup)
        if self.err == ANY_ERROR:
            return None if ret < 0 and ret != NOT_CALLED else f"{self.call.value} gave {_ret(ret)}, expected an error"
        want = 0 if self.err == 0 else -self.err
        return None if ret == want else f"{self.call.value} gave {_ret(ret)}, expected {_ret(want)}"


@record(frozen=True)
class NewWorkers:
    """Every VHOST_NEW_WORKER call gave this errno (0: success)."""

    err: int = 0

    def mismatch(self, obs: Observation) -> str | None:
        want = -self.err if self.err else 0
        bad = [r for r in obs.new_worker_rets if r != want]
        return f"VHOST_NEW_WORKER gave {_ret(bad[0])}, expected {_ret(want)}" if bad else None


@record(frozen=True)
class GetValue:
    call: Call  # GET_BEFORE or GET_AFTER
    value: int

    def mismatch(self, obs: Observation) -> str | None:
        ret, val = self.call.ret(obs.setup), self.call.got(obs.setup)
        if ret != 0:
            return f"{self.call.value} gave {_ret(ret)}"
        return None if val == self.value else f"{self.call.value} returned {val}, expected {self.value}"


@record(frozen=True)
class TaskModeWorker:
    """Exactly `count` new threads vhost-<owner tid>, Tgid = owner, not kthreads."""

    count: int = 1

    def mismatch(self, obs: Observation) -> str | None:
        ws = obs.workers()
        if len(obs.new_threads) != self.count or len(ws) != self.count:
            return f"owner gained {len(obs.new_threads)} thread(s) ({', '.join(t.comm for t in obs.new_threads)}), " \
                   f"expected {self.count} {obs.worker_name}"
        for t in ws:
            if t.comm != obs.worker_name:
                return f"worker comm {t.comm!r}, expected {obs.worker_name!r}"
            if t.tgid != obs.setup.pid:
                return f"worker Tgid {t.tgid}, expected the owner {obs.setup.pid}"
        if obs.kthreads:
            return f"there is also a kernel thread {obs.worker_name}"
        return None


@record(frozen=True)
class WorkerFlags:
    def mismatch(self, obs: Observation) -> str | None:
        for t in obs.workers():
            if t.is_kthread:
                return f"worker {t.tid} has PF_KTHREAD (flags {t.flags:#x})"
            if not t.flags & PF_USER_WORKER:
                return f"worker {t.tid} lacks PF_USER_WORKER (flags {t.flags:#x})"
            if t.kthread != 0:
                return f"worker {t.tid} status Kthread: {t.kthread}"
        return None if obs.workers() else "no worker thread"


@record(frozen=True)
class KthreadWorker:
    """No new owner thread; one kernel thread vhost-<owner tid> with PPid 2."""

    def mismatch(self, obs: Observation) -> str | None:
        if obs.workers():
            return f"owner gained worker thread(s) {', '.join(t.comm for t in obs.workers())}"
        if len(obs.kthreads) != 1:
            return f"{len(obs.kthreads)} kernel thread(s) named {obs.worker_name} with PPid 2, expected 1"
        t = obs.kthreads[0]
        if not t.is_kthread:
            return f"{obs.worker_name} lacks PF_KTHREAD (flags {t.flags:#x})"
        if t.kthread not in (None, 1):
            return f"{obs.worker_name} status Kthread: {t.kthread}"
        return None


@record(frozen=True)
class NoWorker:
    def mismatch(self, obs: Observation) -> str | None:
        if obs.workers() or obs.kthreads:
            return f"a worker exists ({obs.describe()})"
        return None


@record(frozen=True)
class PsShows:
    """ps -e lists no separate vhost process; ps -eL lists the thread."""

    def mismatch(self, obs: Observation) -> str | None:
        if obs.ps_e:
            return f"ps -e lists a vhost process: {obs.ps_e[0]!r}"
        if not obs.ps_el:
            return f"ps -eL does not list {obs.worker_name}"
        return None


@record(frozen=True)
class SameCgroup:
    def mismatch(self, obs: Observation) -> str | None:
        bad = [c for c in obs.worker_cgroups if c != obs.owner_cgroup]
        if not obs.worker_cgroups:
            return "no worker thread"
        return f"worker in cgroup {bad[0]!r}, owner in {obs.owner_cgroup!r}" if bad else None


@record(frozen=True)
class Freezes:
    def mismatch(self, obs: Observation) -> str | None:
        if obs.frozen_after is None:
            return f"cgroup did not reach frozen 1 within {BOUND_S:g} s"
        if obs.thawed_after is None:
            return f"cgroup did not thaw within {BOUND_S:g} s"
        return None


@record(frozen=True)
class FreezeBlocked:
    """The kernel-thread model: the worker (PF_NOFREEZE) keeps its group from reporting frozen 1."""

    def mismatch(self, obs: Observation) -> str | None:
        if obs.frozen_after is not None:
            return f"cgroup reached frozen 1 after {obs.frozen_after:.2f} s"
        return None


@record(frozen=True)
class Gone:
    def mismatch(self, obs: Observation) -> str | None:
        if obs.gone_after is None:
            return f"worker still present {BOUND_S:g} s after {obs.teardown.value}"
        return None


@record(frozen=True)
class WorkersFreed:
    def mismatch(self, obs: Observation) -> str | None:
        if any(r != 0 for r in obs.free_rets):
            return f"VHOST_FREE_WORKER gave {', '.join(_ret(r) for r in obs.free_rets)}"
        left = [t for t in obs.threads_after_free if t.comm.startswith("vhost-")]
        return None if len(left) == 1 else f"{len(left)} worker thread(s) left after freeing, expected 1"


# --------------------------------------------------------------------------- the case type


@record(frozen=True, kw_only=True)
class VhostCase(Case[Observation]):
    scenario: Scenario

    def observe(self) -> Observation:
        try:
            obs = run(self.scenario)
        except OSError as e:
            raise HarnessProblem(str(e)) from e
        s = obs.setup
        if s.harness_error:
            raise native.harness_problem("vhost owner", s.harness.describe())
        if s.open_ret < 0:
            raise HarnessProblem(f"open {self.scenario.owner.device}: {_ret(s.open_ret)}")
        if obs.ps_status != 0:  # ps itself failed or timed out: nothing was learnt about the kernel
            raise HarnessProblem(f"ps failed (status {obs.ps_status})")
        return obs

    def describe(self, obs: Observation) -> str:
        return obs.describe()


DEVICE = Feature("vhost.device")
BASE: tuple[Requirement, ...] = (DEVICE, PRIVILEGED)
PLAIN = OwnerRequest()


def vh(id: str, behaviour: str, *expect: Check[Observation], owner: OwnerRequest = PLAIN,
       needs: tuple[Requirement, ...] = BASE, old: OldModel[Observation] | None = None, doc: str = "",
       ps: bool = False, in_cgroup: bool = False, freeze: bool = False, free_workers: bool = False,
       teardown: Teardown = Teardown.CLOSE) -> VhostCase:
    """A row: the owner's ioctls, what the scenario does around them, and the checks."""
    sc = Scenario(owner, ps=ps, in_cgroup=in_cgroup, freeze=freeze, free_workers=free_workers, teardown=teardown)
    return VhostCase(id=id, behaviour=f"vhost.{behaviour}", scenario=sc, expect=AllOf(expect), needs=needs,
                     old=old, doc=doc)


def old_model(changed_in: str, commit: str, summary: str, *expect: Check[Observation]) -> OldModel[Observation]:
    return OldModel(changed_in, commit, summary, expect=AllOf(expect))


# --------------------------------------------------------------------------- probes


def probe_vsock_device() -> tuple[State, str]:
    return _probe_dev(VSOCK, "vhost_vsock")


def probe_scsi_device() -> tuple[State, str]:
    return _probe_dev(SCSI, "vhost_scsi")


def probe_device() -> tuple[State, str]:
    return _probe_dev(NET, "vhost_net")


def _modules_settled(bound_s: float = 120.0) -> None:
    """A runner that loads modules in the background (kconform vm does) names a flag file
    in KCONFORM_MODULES_PENDING that exists until loading is over: wait for it, bounded."""
    pending = os.environ.get("KCONFORM_MODULES_PENDING")
    if pending:
        wait_until(lambda: not os.path.exists(pending), bound_s)


def _probe_dev(dev: str, module: str) -> tuple[State, str]:
    _modules_settled()
    if not os.path.exists(dev):
        return State.ABSENT, f"{dev} missing (modprobe {module})"
    try:
        os.close(os.open(dev, os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        usable = e.errno in (errno.EACCES, errno.EPERM, errno.ENODEV, errno.ENXIO)
        return (State.ABSENT if usable else State.UNKNOWN), f"open {dev}: {errno_name(e.errno or 0)}"
    return State.PRESENT, f"{dev} opens"


def probe_fork_owner_control() -> tuple[State, str]:
    with owner(OwnerRequest(get_before=True, set_owner=False)) as (_, s):
        ret, val = s.get_before_ret, s.get_before_val
    if s.open_ret < 0:
        return State.UNKNOWN, f"open {NET}: {_ret(s.open_ret)}"
    if ret == 0:
        return State.PRESENT, f"VHOST_GET_FORK_FROM_OWNER returned {val}"
    # ENOTTY upstream without it; EPERM (ownership check first) or ENOBUFS (vring fall-through) on 6.1
    return State.ABSENT, f"VHOST_GET_FORK_FROM_OWNER gave {_ret(ret)}"


def probe_task_mode() -> tuple[State, str]:
    with owner(OwnerRequest()) as (_, s):
        threads = [t for t in procfs.tasks_of(s.pid) if t.tid != s.pid]
    if s.set_owner_ret != 0:
        return State.UNKNOWN, f"VHOST_SET_OWNER gave {_ret(s.set_owner_ret)}"
    if any(t.comm == f"vhost-{s.pid}" for t in threads):
        return State.PRESENT, "VHOST_SET_OWNER added a vhost thread to the owner"
    return State.ABSENT, "the worker is a kernel thread, not a thread of the owner"


def probe_new_worker() -> tuple[State, str]:
    state, why = probe_scsi_device()
    if state is not State.PRESENT:
        return state, why
    with owner(OwnerRequest(device=SCSI, new_workers=1)) as (_, s):
        ret = s.new_worker_ret[0]
    if ret == 0:
        return State.PRESENT, "VHOST_NEW_WORKER succeeded"
    return State.ABSENT, f"VHOST_NEW_WORKER gave {_ret(ret)}"
