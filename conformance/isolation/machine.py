"""Global state shared with other users' runs: a machine-wide lock and announced changes.

The per-user lock (globallock.py) orders one user's runs and xdist workers.  Global
state such as ``kernel.io_uring_disabled`` is shared by every user, though: a root
run that changes it must not land in the middle of another user's case that
depends on it.  Cases therefore declare what they read (``reads=``) as well as
what they change (``changes=``), and two things hold across users:

* **Ordering, where it can.**  A machine-wide readers-writer lock (two flock files,
  as in globallock.py) in ``/run/kconform-shared``: a case that reads declared
  state holds it shared, a case that changes it holds it exclusively.  Only the
  owner of ``/run`` (root) can create that directory, so no other user can plant
  it or what is in it; every user opens the files read-only (flock needs no
  write access) without following symlinks and without blocking on a fifo, and
  uses them only when they are regular files of ``/run``'s owner that nobody
  else may write.  Any user can still *hold* such a lock, so every wait on it is
  bounded (``WAIT_S``, then ``WAIT_AFTER_TIMEOUT_S`` once a wait has failed in this
  process): nobody can block root, or anyone, for longer.  Past the bound the case
  runs anyway and the detection below decides.
* **Detection, always.**  A run that changes declared state announces it in
  ``/run/kconform-shared/changes`` (written by root only, atomically): a sequence
  number, the change in progress (what, the value before, pid, uid, case) and the
  last one finished (with the value after).  A reading case takes a snapshot of
  the announcement and of the values it reads before its requirements and its
  observation, and another after: a change in progress, a new sequence number or a
  different value means its observation overlapped a change of what it depends on,
  and its verdict is an error naming the change (``overlap()``), never a fail,
  pass or skip.  A change by something that announces nothing (an administrator's
  ``sysctl -w``) is caught when the value differs after the case; a change and its
  undo both within one case cannot be seen then.

The directory is left as found: a process that uses it holds a shared flock on the
directory itself from its first use to its exit (``_hold_dir``; any user can, as
with the lock files), and a process of its owner that leaves it last (an exclusive
flock taken without waiting, ``_leave``) removes the lock files, the announcement
and the directory.  A process that finds it removed between making and holding it
makes it again.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from conformance.host import paths, procfs
from conformance.host.records import record
from conformance.isolation import globallock

DIR = Path("/run/kconform-shared")
GATE, MAIN, CHANGES = "gate.lock", "main.lock", "changes"
WAIT_S = 10.0  # bound of a wait on the machine-wide lock (another user's case may hold it for seconds)
WAIT_AFTER_TIMEOUT_S = 0.1  # the bound once a wait timed out in this process (a hostile holder: do not crawl)
MAX_ANNOUNCEMENT = 1 << 16


class Read(Protocol):
    @property
    def what(self) -> str: ...

    @property
    def path(self) -> str: ...


# --------------------------------------------------------------------------- the trusted directory


def _trusted_owner() -> int | None:
    """The owner of /run when nobody else can write there (it alone can create DIR), else None."""
    try:
        st = os.lstat(DIR.parent)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022:
        return None
    return st.st_uid


def _check_dir(owner: int) -> bool:
    try:
        st = os.lstat(DIR)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == owner and not st.st_mode & 0o022


def _make_dir(owner: int) -> bool:
    """Create DIR (0755) when this process owns /run; True when DIR is usable."""
    if os.geteuid() == owner and not os.path.lexists(DIR):
        with contextlib.suppress(OSError):
            os.mkdir(DIR, 0o755)
            fd = os.open(DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fchmod(fd, 0o755)  # whatever the umask
            finally:
                os.close(fd)
    return _check_dir(owner)


HOLD_WAIT_S = 2.0  # for the shared hold on DIR while its last user removes it
_DIR_HOLD: tuple[int, int] | None = None  # (pid, its fd on DIR, held shared)


def _hold_dir(owner: int) -> bool:
    """Hold DIR shared for this process's life, made first by its owner (False: not usable)."""
    global _DIR_HOLD
    pid = os.getpid()
    with globallock.FD_REGISTRY:
        if _DIR_HOLD is not None and _DIR_HOLD[0] == pid:
            return _check_dir(owner)
        try:
            fd = paths.made_and_held(lambda: _make_dir(owner), DIR, HOLD_WAIT_S)
        except OSError:  # or held exclusively for longer than a removal takes: unusable
            return False
        if fd is None:
            return False
        if _DIR_HOLD is None:
            atexit.register(_leave)
        _DIR_HOLD = (pid, fd)
        return True


def _leave() -> None:
    """At exit: release DIR, and remove it when this process is its owner's and its last user."""
    global _DIR_HOLD
    if _DIR_HOLD is None or _DIR_HOLD[0] != os.getpid():
        return
    fd = _DIR_HOLD[1]
    _DIR_HOLD = None
    try:
        if os.geteuid() == _trusted_owner() and paths.last_user(fd, DIR):
            for name in (GATE, MAIN, CHANGES):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(DIR / name)
            os.rmdir(DIR)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open(name: str) -> int | None:
    """A file of DIR, opened read-only, never through a symlink or onto a fifo, and only when it is a
    regular file of /run's owner that nobody else may write; created (0644) by that owner."""
    owner = _trusted_owner()
    if owner is None or not _hold_dir(owner):
        return None
    path = DIR / name
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if os.geteuid() == owner:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            os.fchmod(fd, 0o644)
            os.close(fd)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != owner or st.st_mode & 0o022:
        os.close(fd)
        return None
    return fd


# --------------------------------------------------------------------------- the lock


_FDS: dict[str, int] = {}
_FDS_PID = os.getpid()
_short_waits = False  # a wait timed out in this process: later ones are short


def _fd(name: str) -> int | None:
    global _FDS_PID
    if os.getpid() != _FDS_PID:
        _FDS.clear()
        _VALUE_FDS.clear()
        _FDS_PID = os.getpid()
    fd = _FDS.get(name)
    if fd is None:
        with globallock.FD_REGISTRY:
            fd = _open(name)
            if fd is not None:
                _FDS[name] = fd
    return fd


_OWN_FDS: set[int] = set()  # the files of holds of their own (rows waiting in the background)


def harness_fds() -> frozenset[int]:
    """The files this process keeps open between cases (not a case's fds)."""
    held = (_DIR_HOLD[1],) if _DIR_HOLD is not None and _DIR_HOLD[0] == os.getpid() else ()
    return frozenset((*_FDS.values(), *_VALUE_FDS.values(), *_OWN_FDS, *held)) if os.getpid() == _FDS_PID else \
        frozenset(held)


def holders(fd: int) -> list[str]:
    from conformance.isolation.globallock import holders as _holders

    return _holders(fd)


class Hold:
    """One case's hold on the machine-wide lock.  ``acquire`` never raises: past the bound it gives up
    and says so in ``missed`` (the case then runs and the overlap detection decides)."""

    def __init__(self, own: bool = False) -> None:
        self.exclusive = False
        self.held: list[int] = []
        self.missed = ""
        # own: files opened for this hold alone (a row waiting in the background holds beside the
        # foreground case, and flock belongs to the open file), closed on release
        self.own = own
        self.opened: list[int] = []

    def acquire(self, exclusive: bool) -> None:
        global _short_waits
        if self.own:
            with globallock.FD_REGISTRY:
                self.opened = [fd for fd in (_open(GATE), _open(MAIN)) if fd is not None]
                _OWN_FDS.update(self.opened)
            gate, main = (self.opened[0], self.opened[1]) if len(self.opened) == 2 else (None, None)
        else:
            gate, main = _fd(GATE), _fd(MAIN)
        if gate is None or main is None:
            return
        bound = WAIT_AFTER_TIMEOUT_S if _short_waits else WAIT_S
        deadline = time.monotonic() + bound
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        for fd in (gate, main):
            if not _flock(fd, mode, deadline):
                who = holders(fd)
                self.missed = (f"the machine-wide lock {DIR / (GATE if fd == gate else MAIN)} was not obtained in "
                               f"{bound:g} s ({'held by ' + ', '.join(who) if who else 'holder unknown'})")
                _short_waits = True
                self.release()
                return
            self.held.append(fd)
        _short_waits = False
        if not exclusive:  # a reader lets the gate go at once: a waiting writer takes it next
            fcntl.flock(gate, fcntl.LOCK_UN)
            self.held.remove(gate)
        self.exclusive = exclusive

    def release(self) -> None:
        for fd in reversed(self.held):
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        self.held = []
        with globallock.FD_REGISTRY:
            for fd in self.opened:
                with contextlib.suppress(OSError):
                    os.close(fd)
                _OWN_FDS.discard(fd)
        self.opened = []


def _flock(fd: int, op: int, deadline: float) -> bool:
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


# --------------------------------------------------------------------------- announced changes


def _comm(pid: int) -> str:
    return procfs.read_text(f"/proc/{pid}/comm").strip() or "?"


def _start(pid: int) -> int:
    st = procfs.stat_of(pid)
    return st.start_time if st is not None else -1


def _alive(entry: dict[str, Any]) -> bool:
    pid = entry.get("pid")
    return isinstance(pid, int) and _start(pid) == entry.get("start")


_READ: tuple[tuple[int, int, int, int], dict[str, Any]] | None = None  # (lstat key, what it said)


def read_announcement() -> dict[str, Any]:
    """The announcement ({} when there is none or it is not trustworthy).  The file is only ever
    replaced (rename), never written in place, so an unchanged (dev, inode, mtime, size) is the same text."""
    global _READ
    try:
        st = os.lstat(DIR / CHANGES)
    except OSError:
        return {}
    key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    if _READ is not None and _READ[0] == key:
        return dict(_READ[1])
    try:  # opened (and checked) afresh
        fresh = _open(CHANGES)
        if fresh is None:
            return {}
        try:
            data = os.pread(fresh, MAX_ANNOUNCEMENT, 0)
        finally:
            os.close(fresh)
        value = json.loads(data or b"{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    _READ = (key, value)
    return dict(value)


def _write_announcement(data: dict[str, Any]) -> None:
    owner = _trusted_owner()
    if owner is None or os.geteuid() != owner or not _make_dir(owner):
        return
    tmp = DIR / f".{CHANGES}.{os.getpid()}"
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)
            os.write(fd, json.dumps(data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, DIR / CHANGES)


def announce_start(case: str, changes: Sequence[tuple[str, str]]) -> None:
    """A run is about to change declared global state (root only: nobody else can write the file)."""
    data = read_announcement()
    seq = data.get("seq", 0)
    pid = os.getpid()
    data.update({"seq": (seq if isinstance(seq, int) else 0) + 1,
                 "active": {"pid": pid, "start": _start(pid), "uid": os.getuid(), "comm": _comm(pid),
                            "case": case, "changes": [{"what": w, "before": b} for w, b in changes]}})
    _write_announcement(data)


def announce_end(after: Sequence[tuple[str, str]]) -> None:
    data = read_announcement()
    active = data.get("active")
    if not isinstance(active, dict) or active.get("pid") != os.getpid():
        return
    seq = data.get("seq", 0)
    values = dict(after)
    for c in active.get("changes", []):
        if isinstance(c, dict):
            c["after"] = values.get(str(c.get("what")), "?")
    _write_announcement({"seq": (seq if isinstance(seq, int) else 0) + 1, "active": None, "last": active})


# --------------------------------------------------------------------------- around a reading case


_VALUE_FDS: dict[str, int] = {}  # the files of declared reads, kept open (read again with pread)


def _value(path: str) -> str | None:
    if os.getpid() != _FDS_PID:
        _fd(GATE)  # a forked copy: forget the parent's files (both tables) first
    fd = _VALUE_FDS.get(path)
    try:
        if fd is None:
            with globallock.FD_REGISTRY:
                fd = _VALUE_FDS[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        if fd is not None:
            with globallock.FD_REGISTRY:
                os.close(_VALUE_FDS.pop(path))
        return None


@record(frozen=True)
class Snapshot:
    values: tuple[tuple[str, str | None], ...]  # (what, value) of each read
    seq: int
    active: dict[str, Any] | None
    last: dict[str, Any] | None


def snapshot(reads: Sequence[Read]) -> Snapshot:
    data = read_announcement()
    seq = data.get("seq", 0)
    active = data.get("active")
    last = data.get("last")
    return Snapshot(tuple((r.what, _value(r.path)) for r in reads), seq if isinstance(seq, int) else 0,
                    active if isinstance(active, dict) and _alive(active) else None,
                    last if isinstance(last, dict) else None)


def _said(entry: dict[str, Any], reads: set[str]) -> str:
    parts = []
    for c in entry.get("changes", []):
        if isinstance(c, dict) and c.get("what") in reads:
            after = f", {c['after']!r} after" if "after" in c else ", still in progress"
            parts.append(f"{c.get('what')} from {c.get('before')!r}{after}")
    who = (f"kconform pid {entry.get('pid')} ({entry.get('comm')}, uid {entry.get('uid')}) "
           f"in its case {entry.get('case')}")
    return f"{'; '.join(parts)} by {who}" if parts else ""


_SEEN: dict[str, str | None] = {}  # the last value each read had when a case of this process began


def moved(before: Snapshot) -> bool:
    """Whether what a case reads differs from what an earlier case of this process saw (another run
    changed it between cases): then the probes, which may depend on it, must be asked again."""
    changed = any(what in _SEEN and _SEEN[what] != value for what, value in before.values)
    _SEEN.update(before.values)
    return changed


def _key(entry: dict[str, Any]) -> tuple[object, object, object]:
    return entry.get("pid"), entry.get("start"), entry.get("case")


def overlap(before: Snapshot, after: Snapshot, hold: Hold) -> str | None:
    """Why the case's observation overlapped a change of what it reads (None when it did not).  This
    process's own announcements (a case that changes what it reads) do not count."""
    reads = {w for w, _ in before.values}
    entries: dict[tuple[object, object, object], dict[str, Any]] = {}
    for entry in (before.active, after.active, after.last if after.seq != before.seq else None):
        if entry is not None and entry.get("pid") != os.getpid():
            entries[_key(entry)] = entry  # the finished one (with its value after) last
    said = [s for e in entries.values() if (s := _said(e, reads))]
    changes = (after.seq - before.seq) // 2
    if changes > 1 and said:
        said.append(f"{changes} announced changes in all")
    for (what, v0), (_, v1) in zip(before.values, after.values, strict=True):
        if v0 != v1:
            said.append(f"{what} read {v0!r} before the case and {v1!r} after")
    if not said:
        return None
    if not entries:
        main = _FDS.get(MAIN)
        who = [h for h in (holders(main) if main is not None else []) if h.endswith(", write)")]
        said.append(f"machine-wide lock held by {', '.join(who)}" if who else
                    "by something that does not announce its changes (not a kconform run that does)")
    text = "global state this case depends on changed while it ran: " + "; ".join(said)
    if hold.missed:
        text += f" ({hold.missed})"
    return text + ": the observation cannot be judged"
