"""Leak and kernel-health guards around each case.

``Snapshot.take()`` records what a case could leave behind (children, threads,
fds, cgroups, mounts, watched sysctls) and the kernel's health (taint, new
kernel-log lines).  ``Snapshot.compare(after)`` names every difference and
``cleanup()`` puts things back, so the run goes on from a clean state even
when a case leaked.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance import kernel, native
from conformance.procfs import children_of

CGROUP_PREFIX = "kconform-"  # temporary groups are named kconform-<pid>-<n>

WATCHED_SYSCTLS = (
    "kernel/io_uring_disabled",
    "kernel/io_uring_group",
    "kernel/pid_max",
    "kernel/threads-max",
    "user/max_user_namespaces",
    "vm/drop_caches",  # reads 0 normally; only a write-side change would show
)

# Kernel-log lines that mean the kernel's health broke: used for /dev/kmsg around each case
# and for the console of a VM guest (vm/runner.py).
KLOG_BAD = re.compile(
    r"WARNING:|BUG:|Oops|general protection|Kernel panic|cut here|KASAN|UBSAN|kernel BUG|RIP:|Call Trace:"
)


def _ls(path: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(path))
    except OSError:
        return frozenset()


class KernelLog:
    """New /dev/kmsg records since the last mark (when readable)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        with contextlib.suppress(OSError):
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self.fd, 0, os.SEEK_END)

    @property
    def readable(self) -> bool:
        return self.fd is not None

    def mark(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.lseek(self.fd, 0, os.SEEK_END)

    def new_lines(self) -> list[str]:
        out: list[str] = []
        if self.fd is None:
            return out
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == 32:  # EPIPE: overwritten records, go on
                    continue
                break
            if not rec:
                break
            text = rec.decode(errors="replace")
            out.append(text.split(";", 1)[-1].split("\n", 1)[0])
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass(frozen=True)
class Snapshot:
    pid: int
    children: frozenset[int]
    threads: frozenset[str]
    fds: frozenset[str]
    cgroups: frozenset[str]
    mounts: frozenset[str]
    sysctls: tuple[tuple[str, str], ...]
    tainted: int
    cgroup_dir: str = ""

    @classmethod
    def take(cls) -> Snapshot:
        pid = os.getpid()
        cg = kernel.cgroup2_self()
        # Only groups this process made (other xdist workers share the parent).
        mine = f"{CGROUP_PREFIX}{pid}-"
        cgroups = frozenset(p.name for p in cg.iterdir() if p.name.startswith(mine)) if cg else frozenset()
        return cls(
            pid=pid,
            children=children_of(pid),
            threads=_ls("/proc/self/task"),
            fds=_open_fds(),
            cgroups=cgroups,
            mounts=frozenset(_mount_points()),
            sysctls=tuple((s, kernel.read_text(f"/proc/sys/{s}").strip()) for s in WATCHED_SYSCTLS),
            tainted=int(kernel.read_text("/proc/sys/kernel/tainted").strip() or 0),
            cgroup_dir=str(cg) if cg else "",
        )


def _open_fds() -> frozenset[str]:
    """Open fds, without the one listdir() used for the listing itself."""
    out = set()
    for fd in _ls("/proc/self/fd"):
        with contextlib.suppress(OSError):
            os.lstat(f"/proc/self/fd/{fd}")
            out.add(fd)
    return frozenset(out)


def _mount_points() -> list[str]:
    return [line.split()[4] for line in kernel.read_text("/proc/self/mountinfo").splitlines() if line]


@dataclass
class Findings:
    leaks: list[str] = field(default_factory=list)
    health: list[str] = field(default_factory=list)

    def message(self) -> str:
        parts = []
        if self.leaks:
            parts.append("leaked: " + "; ".join(self.leaks))
        if self.health:
            parts.append("kernel health: " + "; ".join(self.health))
        return " | ".join(parts)

    def __bool__(self) -> bool:
        return bool(self.leaks or self.health)


def compare_and_clean(before: Snapshot, klog: KernelLog, settle_s: float = 1.0) -> Findings:
    """Compare the state now with ``before``; undo what leaked; report it all."""
    f = Findings()
    deadline = time.monotonic() + settle_s
    # Threads and children may take a moment to go (io-wq workers exit
    # asynchronously after their ring is closed).
    while True:
        after = Snapshot.take()
        extra_threads = after.threads - before.threads
        extra_children = after.children - before.children
        if (not extra_threads and not extra_children) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)

    if extra_children:
        names = [f"{c} ({kernel.read_text(f'/proc/{c}/comm').strip() or '?'})" for c in sorted(extra_children)]
        f.leaks.append(f"{len(extra_children)} child process(es): {', '.join(names)}")
        for c in extra_children:
            with contextlib.suppress(OSError):
                os.kill(c, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(c, 0)
    if extra_threads:
        names = [f"{t} ({kernel.read_text(f'/proc/self/task/{t}/comm').strip() or '?'})" for t in sorted(extra_threads)]
        f.leaks.append(f"{len(extra_threads)} thread(s): {', '.join(names)}")
    extra_fds = after.fds - before.fds
    if extra_fds:
        described = []
        for fd in sorted(extra_fds, key=int):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            described.append(f"{fd} -> {target}")
            with contextlib.suppress(OSError):
                os.close(int(fd))
        if described:
            f.leaks.append(f"{len(described)} open fd(s): {', '.join(described)}")
    extra_cgroups = after.cgroups - before.cgroups
    if extra_cgroups:
        f.leaks.append(f"cgroup(s) {', '.join(sorted(extra_cgroups))} under {after.cgroup_dir}")
        for name in extra_cgroups:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(after.cgroup_dir, name))
    extra_mounts = after.mounts - before.mounts
    if extra_mounts:
        f.leaks.append(f"mount(s) {', '.join(sorted(extra_mounts))}")
        for m in sorted(extra_mounts, key=len, reverse=True):
            _umount(m)
    for (name, old), (_, new) in zip(before.sysctls, after.sysctls, strict=True):
        if old != new:
            f.leaks.append(f"sysctl {name.replace('/', '.')} changed {old!r} -> {new!r}")
            with contextlib.suppress(OSError):
                Path(f"/proc/sys/{name}").write_text(old)
    if after.tainted != before.tainted:
        f.health.append(f"taint changed {before.tainted:#x} -> {after.tainted:#x}")
    bad = [line for line in klog.new_lines() if KLOG_BAD.search(line)]
    if bad:
        f.health.append("kernel log: " + " / ".join(bad[:5]))
    return f


def _umount(path: str) -> None:
    native.umount_detach(path)
