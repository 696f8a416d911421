"""The one reader of /proc: stat, status, the task list and the cgroup line.

Everything here tolerates tasks that vanish between a listing and a read (a
missing file reads as "").  Parsers are pure functions of the text, so they are
tested on captured lines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from conformance.host.records import record
from conformance.host.uapi import PF_KTHREAD


def read_text(path: str | Path) -> str:
    """A /proc, /sys or log file's text, "" when it cannot be read (it may vanish any time).  Line ends
    are read as text files are ("\r\n" and "\r" as "\n"): a serial console's lines end in "\r\n"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return ""
    finally:
        os.close(fd)
    text = b"".join(chunks).decode(errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def list_dir(path: str | int) -> list[str]:
    """A directory's entries (a path or a directory fd), [] when it cannot be read (it may vanish any time)."""
    try:
        return os.listdir(path)
    except OSError:
        return []


# --------------------------------------------------------------------------- parsers


@record(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat the suite uses."""

    pid: int
    comm: str
    state: str  # field 3: R, S, D, Z, ...
    ppid: int  # field 4
    flags: int  # field 9: PF_*
    start_time: int = 0  # field 22: clock ticks after boot (with the pid, identifies a process)


def parse_stat(text: str) -> Stat | None:
    """/proc/<pid>[/task/<tid>]/stat; the comm may hold spaces and ')', so split at the last ')'."""
    head, sep, tail = text.rpartition(")")
    pid_s, _, comm = head.partition(" (")
    fields = tail.split()
    if not sep or len(fields) < 7 or not pid_s.strip().isdigit():
        return None
    start = int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else 0
    return Stat(int(pid_s), comm, fields[0], int(fields[1]), int(fields[6]), start)


def parse_status(text: str) -> dict[str, str]:
    """The "Key:\tvalue" lines of a status file."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def parse_cgroup(text: str) -> str | None:
    """The cgroup v2 path from /proc/<pid>/cgroup (its "0::" line), None without one."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def _int(text: str | None, default: int, base: int = 10) -> int:
    try:
        return int(text, base) if text else default
    except ValueError:
        return default


# --------------------------------------------------------------------------- tasks


@record(frozen=True)
class Task:
    """One task (thread) as /proc shows it; also what the C helpers report from inside a child."""

    tid: int
    comm: str
    tgid: int  # "Tgid:" of status, -1 when unreadable
    ppid: int  # "PPid:" of status, -1 when unreadable
    flags: int  # stat field 9 (PF_*)
    kthread: int | None  # "Kthread:" of status (6.4+), None when the line is absent
    sig_pending: int = 0  # "SigPnd:" (the thread's private pending set)
    sig_blocked: int = 0  # "SigBlk:"

    @property
    def is_kthread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)

    def describe(self) -> str:
        return f"{self.tid} ({self.comm}, flags {self.flags:#x})"


def task_from(tid: int, comm: str, stat_text: str, status_text: str) -> Task | None:
    st = parse_stat(stat_text)
    if st is None or not status_text:
        return None
    fields = parse_status(status_text)
    kt = fields.get("Kthread")
    return Task(
        tid=tid,
        comm=comm,
        tgid=_int(fields.get("Tgid"), -1),
        ppid=_int(fields.get("PPid"), -1),
        flags=st.flags,
        kthread=_int(kt, -1) if kt is not None else None,
        sig_pending=_int(fields.get("SigPnd"), 0, 16),
        sig_blocked=_int(fields.get("SigBlk"), 0, 16),
    )


def read_task(pid: int, tid: int | None = None) -> Task | None:
    """A task of a process (tid None: the process's main thread), None once gone."""
    tid = pid if tid is None else tid
    base = f"/proc/{pid}/task/{tid}"
    return task_from(tid, read_text(f"{base}/comm").strip(), read_text(f"{base}/stat"), read_text(f"{base}/status"))


def tids(pid: int | str = "self") -> list[int]:
    """The thread ids of a process, sorted."""
    return sorted(int(t) for t in list_dir(f"/proc/{pid}/task") if t.isdigit())


def tasks_of(pid: int) -> list[Task]:
    """Every thread of a process that could be read."""
    return [t for tid in tids(pid) if (t := read_task(pid, tid)) is not None]


def pids() -> list[int]:
    """Every process in this pid namespace."""
    return [int(e) for e in list_dir("/proc") if e.isdigit()]


def tasks_named(comm: str) -> list[Task]:
    """Every task (process or thread) in the system whose comm is exactly comm."""
    out = []
    for pid in pids():
        for tid in tids(pid):
            if read_text(f"/proc/{pid}/task/{tid}/comm").strip() == comm:
                t = read_task(pid, tid)
                if t is not None:
                    out.append(t)
    return out


KTHREADD = 2  # the parent of every kernel thread, in the initial pid namespace


def kthreads_named(comm: str) -> list[Task]:
    """Every kernel thread whose comm is exactly comm: kthreadd's children, when its children file
    lists them (CONFIG_PROC_CHILDREN), else a scan of every task.  Empty in a pid namespace that does
    not see kthreadd."""
    kthreadd = read_task(KTHREADD)
    if kthreadd is None or not kthreadd.is_kthread:
        return []
    if not _have_children_files():
        return [t for t in tasks_named(comm) if t.ppid == KTHREADD]
    out = []
    for pid in read_text(f"/proc/{KTHREADD}/task/{KTHREADD}/children").split():
        if read_text(f"/proc/{pid}/comm").strip() != comm:
            continue
        t = read_task(int(pid))
        if t is not None and t.ppid == KTHREADD:  # not a pid reused since the listing
            out.append(t)
    return out


def stat_of(pid: int) -> Stat | None:
    return parse_stat(read_text(f"/proc/{pid}/stat"))


def comm_of(pid: int | str, tid: int | str | None = None) -> str:
    path = f"/proc/{pid}/comm" if tid is None else f"/proc/{pid}/task/{tid}/comm"
    return read_text(path).strip()


_CHILDREN_FILES: bool | None = None


def _have_children_files() -> bool:
    """Whether the kernel has /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN); asked once."""
    global _CHILDREN_FILES
    if _CHILDREN_FILES is None:
        _CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")
    return _CHILDREN_FILES


def children_of(pid: int, tids: list[str] | None = None) -> frozenset[int]:
    """Direct children, from /proc/<pid>/task/*/children (CONFIG_PROC_CHILDREN) or a scan of /proc;
    ``tids``: its task list, when the caller has just read it."""
    found: set[int] = set()
    if _have_children_files():
        for tid in list_dir(f"/proc/{pid}/task") if tids is None else tids:
            found.update(int(x) for x in read_text(f"/proc/{pid}/task/{tid}/children").split())
        return frozenset(found)
    for other in pids():
        st = stat_of(other)
        if st is not None and st.ppid == pid:
            found.add(other)
    return frozenset(found)


def cgroup_of(pid: int | str = "self", tid: int | str | None = None) -> str | None:
    """The cgroup v2 path of a process (or one of its threads) as /proc shows it."""
    path = f"/proc/{pid}/cgroup" if tid is None else f"/proc/{pid}/task/{tid}/cgroup"
    return parse_cgroup(read_text(path))


# --------------------------------------------------------------------------- whose /proc this is

OWN_PROC_ENV = "KCONFORM_OWN_PROC"  # in the runner's environment: why kconform mounted a /proc of its own


def foreign() -> str | None:
    """Why /proc is not this pid namespace's (None when it is, or when NSpid cannot tell)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError as e:
        return f"/proc/self is not this process ({e.strerror}): /proc belongs to another pid namespace"
    m = re.search(r"^NSpid:\s*(.*)$", text, re.MULTILINE)
    ids = m.group(1).split() if m else []
    if len(ids) > 1:
        return (f"/proc belonged to a pid namespace {len(ids) - 1} level(s) above this one "
                f"(NSpid {' '.join(ids)})")
    if ids and ids[0] != str(os.getpid()):
        return f"/proc/self is pid {ids[0]}, this process is {os.getpid()}: /proc belongs to another pid namespace"
    return None


def describe_proc() -> str:
    """run.proc: what /proc is for this run."""
    why = os.environ.get(OWN_PROC_ENV)
    if why:
        return f"own mount namespace with a /proc of this pid namespace ({why})"
    now = foreign()
    return f"foreign: {now}" if now else "this pid namespace's"
