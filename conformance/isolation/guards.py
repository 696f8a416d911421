"""Leak and kernel-health guards around each case.

``RunnerState.take()`` (snapshot.py) records what a case could leave behind in
the runner process (children, threads, fds, its cgroups, mounts) and the taint;
``compare_and_clean(before, klog)`` names every difference, adds new bad
kernel-log lines, and puts things back, so the run goes on from a clean state
even when a case leaked.  Global state (sysctls) is not read here: a case that
changes it declares so, and globalstate.changing() restores it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import field

from conformance import native
from conformance.host import procfs
from conformance.host.records import record
from conformance.isolation.snapshot import PREFIX, RunnerState, children_and_threads

# Kernel-log lines that mean the kernel's health broke: used for /dev/kmsg around each case
# and for the console of a VM guest (vm/runner.py).
KLOG_BAD = re.compile(
    r"WARNING:|BUG:|Oops|general protection|Kernel panic|cut here|KASAN|UBSAN|kernel BUG|RIP:|Call Trace:"
)


class KernelLog:
    """New /dev/kmsg records since the last mark (when readable)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        with contextlib.suppress(OSError):
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self.fd, 0, os.SEEK_END)

    @classmethod
    def closed(cls) -> KernelLog:
        """A log that reads nothing (a background row leaves the kernel log to the foreground case)."""
        log = cls.__new__(cls)
        log.fd = None
        return log

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


@record
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


def compare_and_clean(before: RunnerState, klog: KernelLog, settle_s: float = 1.0, keep: bool = True) -> Findings:
    """Compare the runner's state now with ``before``; undo what leaked; report it all.  ``keep``: a clean
    state is the next case's "before" (not for a background row, whose view differs)."""
    f = Findings()
    deadline = time.monotonic() + settle_s
    # Threads and children may take a moment to go (io-wq workers exit
    # asynchronously after their ring is closed): re-read only those, backing off.
    after = RunnerState.take()
    extra_threads = after.threads - before.threads
    extra_children = after.children - before.children
    if extra_threads or extra_children:
        pause = 0.0005
        while (extra_threads or extra_children) and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
            children, threads = children_and_threads()
            extra_threads &= threads
            extra_children &= children
        after = RunnerState.take()
        extra_threads &= after.threads
        extra_children &= after.children

    if extra_children:
        names = [f"{c} ({procfs.comm_of(c) or '?'})" for c in sorted(extra_children)]
        f.leaks.append(f"{len(extra_children)} child process(es): {', '.join(names)}")
        for c in extra_children:
            with contextlib.suppress(OSError):
                os.kill(c, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(c, 0)
    if extra_threads:
        names = [f"{t} ({procfs.comm_of('self', t) or '?'})" for t in sorted(extra_threads)]
        f.leaks.append(f"{len(extra_threads)} thread(s): {', '.join(names)}")
    extra_fds = after.fds - before.fds
    if extra_fds:
        described = []
        for fd in sorted(extra_fds):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            described.append(f"{fd} -> {target}")
            with contextlib.suppress(OSError):
                os.close(fd)
        if described:
            f.leaks.append(f"{len(described)} open fd(s): {', '.join(described)}")
    # The server started during this case (the first scenario) has no "before" to compare with.
    extra_server_fds = after.server_fds - before.server_fds if before.server_fds else frozenset()
    if extra_server_fds:
        f.leaks.append(f"{len(extra_server_fds)} open fd(s) in the process server (it is restarted)")
        if keep:  # a background row's own server is stopped when the row ends
            native.stop_server()
    extra_cgroups = after.cgroups - before.cgroups
    if extra_cgroups:
        f.leaks.append(f"cgroup(s) {', '.join(sorted(extra_cgroups))} under {after.cgroup_dir}")
        for name in extra_cgroups:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(after.cgroup_dir, name))
    # Only mounts under a kconform-* directory can be the case's (cases mount in namespaces of their own).
    extra_mounts = {m for m in after.mounts - before.mounts if any(p.startswith(PREFIX) for p in m.split("/"))}
    if extra_mounts:
        f.leaks.append(f"mount(s) {', '.join(sorted(extra_mounts))}")
        for m in sorted(extra_mounts, key=len, reverse=True):
            native.umount_detach(m)
    if after.tainted != before.tainted:
        f.health.append(f"taint changed {before.tainted:#x} -> {after.tainted:#x}")
    bad = [line for line in klog.new_lines() if KLOG_BAD.search(line)]
    if bad:
        f.health.append("kernel log: " + " / ".join(bad[:5]))
    if not f.leaks and keep:
        after.keep()  # clean: the next case's "before", so each case reads the state once
    return f
