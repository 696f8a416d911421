"""The one snapshot of state a run must leave as it found it, and the diff of two.

Two scopes, one implementation:

``RunnerState`` is what one case can change from inside the runner process:
its children, threads, fds, its own ``kconform-<pid>-*`` cgroups, mounts in its
mount namespace, and the kernel taint.  It is taken before and after every
case, so it reads little: a few directory listings and one small file; the mount
table is re-read only when ``poll()`` on /proc/self/mountinfo says it changed.

``SystemState`` is machine-wide and only what kconform can change: the sysctls
kconform writes or watches, cgroups named ``kconform-*``, mounts and files in
shared places (/dev/shm, the temp directory) named ``kconform-*``, processes
tagged with the run's ``KCONFORM_TAG`` environment value, and the taint.  It is
taken once per session (and by ``tests/check.sh`` around whole runs)::

    python -m conformance.isolation.snapshot save FILE
    python -m conformance.isolation.snapshot diff BEFORE AFTER    # exit 1 when anything differs

Nothing of another user's or an administrator's doing is in either scope, so
neither blames a case for it.  Another kconform run on the machine is told apart
by the tag: ``diff`` sets aside (and names) a cgroup whose name carries the pid of
a live untagged kconform or pytest process, and any name it cannot attribute
while such a process lives; the processes are the tagged ones only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import select
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path

from conformance import native
from conformance.host import paths, procfs
from conformance.host.records import record
from conformance.isolation import globallock, machine

PREFIX = "kconform-"  # every name kconform creates in a shared place starts with it
TAG_ENV = "KCONFORM_TAG"  # set by a caller that wants the run's processes recognisable afterwards

# Sysctls kconform writes (declared by cases) or that its cases could plausibly disturb.
WATCHED_SYSCTLS = (
    "kernel.io_uring_disabled",
    "kernel.io_uring_group",
    "kernel.pid_max",
    "kernel.threads-max",
    "user.max_user_namespaces",
)


TAINTED = "/proc/sys/kernel/tainted"


def read_tainted(fd: int | None = None) -> int:
    """The taint mask, through ``fd`` (kept open on the file, read at offset 0) when given."""
    text = ""
    if fd is not None:
        with contextlib.suppress(OSError):
            text = os.pread(fd, 64, 0).decode(errors="replace")
    text = (text or procfs.read_text(TAINTED)).strip()
    return int(text) if text.isdigit() else 0


def mount_points(text: str) -> frozenset[str]:
    """Mount points (field 5) of mountinfo text."""
    return frozenset(ln.split()[4] for ln in text.splitlines() if len(ln.split()) > 4)


# --------------------------------------------------------------------------- the runner process, per case

# The harness's own fds opened while cases run (the pipe to the guardian): not the case's.
HARNESS_FDS: set[int] = set()
# Threads of rows waiting in the background (waits.py): not any case's threads.
BACKGROUND_TIDS: set[int] = set()



class _Process:
    """What the per-case snapshot keeps open or caches for one process (re-made after a fork)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cgroup_dir = _own_cgroup_dir()
        self.mounts_fd: int | None = None
        with contextlib.suppress(OSError):
            self.mounts_fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        self.poller = select.poll()
        if self.mounts_fd is not None:
            self.poller.register(self.mounts_fd, select.POLLPRI | select.POLLERR)
        self.mounts = self._read_mounts()
        self.tainted_fd: int | None = None
        with contextlib.suppress(OSError):
            self.tainted_fd = os.open(TAINTED, os.O_RDONLY | os.O_CLOEXEC)
        self.last: RunnerState | None = None

    def _read_mounts(self) -> frozenset[str]:
        if self.mounts_fd is None:
            return mount_points(procfs.read_text("/proc/self/mountinfo"))
        try:
            os.lseek(self.mounts_fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(self.mounts_fd, 65536):
                chunks.append(chunk)
        except OSError:
            return mount_points(procfs.read_text("/proc/self/mountinfo"))
        return mount_points(b"".join(chunks).decode(errors="replace"))

    def current_mounts(self) -> frozenset[str]:
        """The mount table, re-read only after the kernel signalled a change (POLLPRI on mountinfo)."""
        if self.mounts_fd is None or self.poller.poll(0):
            self.mounts = self._read_mounts()
        return self.mounts


def _own_cgroup_dir() -> str:
    rel = procfs.cgroup_of()
    mount = _cgroup2_mount()
    return os.path.join(mount, rel.lstrip("/")) if rel is not None and mount else ""


def _cgroup2_mount() -> str:
    for line in procfs.read_text("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return left.split()[4]
    return ""


_PROCESS: _Process | None = None


def _process() -> _Process:
    global _PROCESS
    if _PROCESS is None or _PROCESS.pid != os.getpid():
        _PROCESS = _Process()
    return _PROCESS


def open_fds() -> frozenset[int]:
    """This process's open fds, without the one the listing itself used."""
    probe = os.dup(0) if native.fd_open(0) else os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    os.close(probe)  # the listing's own fd takes this, the lowest free number
    listed = frozenset(int(fd) for fd in procfs.list_dir("/proc/self/fd"))
    if native.fd_open(probe):  # another thread took the number meanwhile: check each
        return frozenset(fd for fd in listed if native.fd_open(fd))
    return listed - {probe}


def _case_fds() -> frozenset[int]:
    """The open fds that are not the harness's, listed while no thread opens or closes a harness fd."""
    with globallock.FD_REGISTRY:
        return open_fds() - _harness_fds()


def _harness_fds() -> set[int]:
    server = native.server_process()
    mine = (HARNESS_FDS | globallock.harness_fds() | machine.harness_fds() | native.background_server_fds()
            | paths.held_fds())
    return mine | {server[1]} if server is not None else mine


def children_and_threads() -> tuple[frozenset[int], frozenset[int]]:
    """The runner's children and threads; the process server's children count as the runner's own.
    Rows waiting in the background (their threads, their servers) count for none of them."""
    tids = procfs.list_dir("/proc/self/task")
    threads = frozenset(int(t) for t in tids) - BACKGROUND_TIDS
    children = procfs.children_of(os.getpid(), tids) - native.background_server_pids()
    server = native.server_process()
    if server is not None:
        children = (children - {server[0]}) | procfs.children_of(server[0])
    return children, threads


def forget() -> None:
    """Drop the state the last case left: the next case reads it afresh (a background row changed it)."""
    if _PROCESS is not None:
        _PROCESS.last = None


def server_fds() -> frozenset[int]:
    """The process server's open fds (empty when none runs): a scenario run there may leak one."""
    server = native.server_process()
    return frozenset(int(fd) for fd in procfs.list_dir(f"/proc/{server[0]}/fd")) if server is not None else frozenset()


@record(frozen=True)
class RunnerState:
    pid: int
    children: frozenset[int]
    threads: frozenset[int]
    fds: frozenset[int]
    cgroups: frozenset[str]  # this process's kconform-<pid>-* groups
    server_fds: frozenset[int]  # the process server's
    mounts: frozenset[str]
    tainted: int
    cgroup_dir: str = ""

    @classmethod
    def before_case(cls) -> RunnerState:
        """The state before a case: what the previous case's guard left (read once per case), or fresh.

        The fd table is read again (one listing): the harness itself opens fds between cases (its locks)."""
        proc = _process()
        last, proc.last = proc.last, None
        if last is None or last.pid != proc.pid:
            return cls.take()
        return dataclasses.replace(last, fds=_case_fds())

    def keep(self) -> None:
        """This is the state after a case, cleaned: the next case starts from it."""
        _process().last = self

    @classmethod
    def take(cls) -> RunnerState:
        proc = _process()
        mine = f"{PREFIX}{proc.pid}-"
        children, threads = children_and_threads()
        return cls(
            pid=proc.pid,
            children=children,
            threads=threads,
            fds=_case_fds(),
            cgroups=frozenset(n for n in procfs.list_dir(proc.cgroup_dir) if n.startswith(mine)) if proc.cgroup_dir else
            frozenset(),
            server_fds=server_fds(),
            mounts=proc.current_mounts(),
            tainted=read_tainted(proc.tainted_fd),
            cgroup_dir=proc.cgroup_dir,
        )


# --------------------------------------------------------------------------- the machine, per session


def shared_places() -> tuple[str, ...]:
    return tuple(dict.fromkeys(("/dev/shm", tempfile.gettempdir(), "/tmp")))


@record(frozen=True)
class SystemState:
    sysctls: Mapping[str, str]
    cgroups: tuple[str, ...]  # kconform-* directories anywhere in the cgroup v2 tree
    mounts: tuple[str, ...]  # mount points with a kconform-* component
    files: tuple[str, ...]  # kconform-* entries in shared places (private directories of ours excluded)
    processes: tuple[str, ...]  # "<pid> <comm>" of processes tagged with KCONFORM_TAG=<tag>
    tainted: int
    tag: str = ""
    others: tuple[int, ...] = ()  # live kconform/pytest processes without the tag: another run's (with a tag)

    @classmethod
    def take(cls, sysctls: Iterable[str] = WATCHED_SYSCTLS, tag: str | None = None) -> SystemState:
        tag = os.environ.get(TAG_ENV, "") if tag is None else tag
        values = {}
        for name in sysctls:
            text = procfs.read_text("/proc/sys/" + name.replace(".", "/"))
            if text:
                values[name] = text.strip()
        files = sorted(os.path.join(d, n) for d in shared_places() for n in procfs.list_dir(d)
                       if n.startswith(PREFIX) and not _KEPT.fullmatch(n))
        mounts = sorted(m for m in mount_points(procfs.read_text("/proc/self/mountinfo"))
                        if any(part.startswith(PREFIX) for part in m.split("/")))
        tagged, others = _by_tag(tag)
        return cls(values, tuple(_kconform_cgroups()), tuple(mounts), tuple(files), tuple(tagged),
                   read_tainted(), tag, tuple(others))

    def diff(self, after: SystemState) -> list[str]:
        return self.compare(after)[0]

    def compare(self, after: SystemState) -> tuple[list[str], list[str]]:
        """(differences, set aside): a cgroup, mount or file added or gone counts unless it is another
        run's -- with a tag, a name ``kconform-<pid>-...`` of a process that was alive untagged at either
        snapshot, or any name while such a process lived (it cannot be told from this run's) -- which is
        set aside, and said."""
        out: list[str] = []
        aside: list[str] = []
        for k in sorted(set(self.sysctls) | set(after.sysctls)):
            if self.sysctls.get(k) != after.sysctls.get(k):
                out.append(f"sysctl {k}: {self.sysctls.get(k)!r} -> {after.sysctls.get(k)!r}")
        others = set(self.others) | set(after.others)
        for what, b, a in (("cgroup", self.cgroups, after.cgroups), ("mount", self.mounts, after.mounts),
                           ("file", self.files, after.files), ("process", self.processes, after.processes)):
            for change, names in (("added", sorted(set(a) - set(b))), ("gone", sorted(set(b) - set(a)))):
                for x in names:
                    whose = _whose(x, others) if what != "process" else None
                    (aside if whose else out).append(f"{what} {change}: {x}" + (f" ({whose})" if whose else ""))
        if self.tainted != after.tainted:
            out.append(f"taint {self.tainted:#x} -> {after.tainted:#x}")
        return out, aside

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SystemState:
        d = json.loads(text)
        return cls(d["sysctls"], tuple(d["cgroups"]), tuple(d["mounts"]), tuple(d["files"]),
                   tuple(d["processes"]), int(d["tainted"]), d.get("tag", ""), tuple(d.get("others", ())))


# kconform's own lasting state in shared places: lock files and per-user private directories.
_KEPT = re.compile(r"kconform-.*\.lock|kconform-\d+-(\d+|x)")


def _kconform_cgroups() -> list[str]:
    mount = _cgroup2_mount()
    if not mount:
        return []
    out = []
    for root, dirs, _files in os.walk(mount):
        for d in dirs:
            if d.startswith(PREFIX):
                out.append(os.path.relpath(os.path.join(root, d), mount))
    return sorted(out)


_PID_NAME = re.compile(rf"{PREFIX}(\d+)-\d+")  # a run's cgroups: kconform-<runner pid>-<random>
_RUNNERS = ("kconform", "pytest", "py.test")


def _whose(name: str, others: set[int]) -> str | None:
    """Why an entry is another run's, or None: it counts (this run's, or no other run was live)."""
    if not others:
        return None
    m = _PID_NAME.fullmatch(os.path.basename(name.rstrip("/")))
    if m is None:
        return f"not attributable while untagged runs lived: pid {', '.join(map(str, sorted(others)[:5]))}"
    return f"of process {m.group(1)}, an untagged run" if int(m.group(1)) in others else None


def is_runner(argv: list[bytes]) -> bool:
    """A kconform or pytest process by its command line: ``kconform ...``, ``pytest ...``, ``python [-opts]
    -m pytest|conformance...`` or ``python [-opts] .../kconform|pytest ...``."""
    words = [os.path.basename(a.decode(errors="replace")) for a in argv[:1]] + [a.decode(errors="replace")
                                                                               for a in argv[1:]]
    if not words:
        return False
    if words[0] in _RUNNERS:
        return True
    if not words[0].startswith("python"):
        return False
    rest = words[1:]
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        rest = rest[2:] if rest[0] in ("-X", "-W") else rest[1:]  # the options that take a value
    if rest[:1] == ["-m"]:
        return len(rest) > 1 and (rest[1] in ("pytest", "xdist") or rest[1].startswith("conformance"))
    return bool(rest) and rest[0] != "-c" and os.path.basename(rest[0]) in _RUNNERS


def _by_tag(tag: str) -> tuple[list[str], list[int]]:
    """One pass over /proc: the processes whose initial environment carries KCONFORM_TAG=<tag> (inherited by
    every child), as "<pid> <comm>", and the live kconform or pytest processes (``is_runner``) that do not
    carry it.  A process whose environment cannot be read is in neither."""
    if not tag:
        return [], []
    needle = f"{TAG_ENV}={tag}".encode()
    me = os.getpid()
    tagged: list[str] = []
    others: list[int] = []
    for pid in procfs.pids():
        if pid == me:
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            if needle not in env.split(b"\0"):
                if is_runner(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]):
                    others.append(pid)
                continue
        except OSError:
            continue
        st = procfs.stat_of(pid)
        if st is not None:
            tagged.append(f"{pid} {st.comm}" + (" (zombie)" if st.state == "Z" else ""))
    return tagged, others


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "save":
        Path(argv[1]).write_text(SystemState.take().to_json())
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        try:
            before, after = (SystemState.from_json(Path(p).read_text()) for p in argv[1:])
        except (OSError, ValueError, KeyError) as e:
            print(f"snapshot: cannot read {argv[1]} / {argv[2]}: {e}", file=sys.stderr)
            return 2
        problems, aside = before.compare(after)
        for line in problems:
            print(line)
        for line in aside:
            print(f"set aside, another run's: {line}")
        print(f"system state: {len(problems)} difference(s)" + (f", {len(aside)} of another run set aside"
                                                                  if aside else ""))
        return 1 if problems else 0
    print("usage: python -m conformance.isolation.snapshot save FILE | diff BEFORE AFTER", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
