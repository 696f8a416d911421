"""Serialising cases that touch global kernel state, across xdist workers.

A case declares ``lock=Lock.EXCLUSIVE`` when it changes global state (sysctls,
drop_caches) or ``Lock.SHARED`` when it only depends on it.  The plugin holds
the lock shared around every case (including its leak guard, which compares
sysctls), and exclusive around cases that change global state, so such a case
runs alone and nobody else's guard sees its temporary change.

Implementation: a readers-writer lock with writer preference made of two
flock(2) files (so it also holds between separate kconform processes): a
writer takes the *gate* exclusively, which stops new readers, then the *main*
lock exclusively, which waits for the readers inside to finish.

The files live in ``paths.private_dir()`` (0700, checked), are opened with
O_NOFOLLOW and are named per user and per user namespace, so no other user
can plant, hold or open them.  Every wait is bounded (``TIMEOUT_S``, which the
plugin sets from ``--timeout``): a lock not obtained in time raises
``LockTimeout`` naming the holder when /proc/locks shows it.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from conformance.host import paths

TIMEOUT_S = 60.0  # default bound of every wait; the plugin sets it to the case timeout


class Lock(enum.Enum):
    NONE = "none"
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


class LockTimeout(Exception):
    """The global lock was not obtained in time; the message names the holder when it is known."""


def lock_name(name: str) -> str:
    return f"{name}-u{os.geteuid()}-ns{paths.userns_id() or 'x'}.lock"


def lock_path(name: str) -> Path:
    return paths.private_dir() / lock_name(name)


# Lock files opened once per process and kept, so a case's hold costs two flock calls: a hold takes
# a (gate, main) pair of its own (flock belongs to the open file, so two holds never share one) and
# gives it back unlocked.  Keyed by the names, which follow the credentials and user namespace.
_POOL: dict[tuple[str, str], list[tuple[int, int]]] = {}
_POOL_PID = os.getpid()
_POOL_FDS: set[int] = set()
# Held while a harness fd is opened and registered (or unregistered and closed), and while a guard lists
# the fds that are a case's: a row waiting in another thread never opens one the guard then calls a leak.
FD_REGISTRY = threading.RLock()


_NAMES: tuple[int, int, tuple[str, str]] | None = None  # (pid, euid, the names)


def _names() -> tuple[str, str]:
    """The two lock files' names, worked out once per process and uid (they name the user namespace)."""
    global _NAMES
    pid, euid = os.getpid(), os.geteuid()
    if _NAMES is None or _NAMES[0] != pid or _NAMES[1] != euid:
        _NAMES = (pid, euid, (lock_name("gate"), lock_name("main")))
    return _NAMES[2]


_POOL_LOCK = threading.Lock()  # a row waiting in the background takes its hold from another thread


def _take_pair() -> tuple[tuple[str, str], int, int]:
    """(the names, the gate fd, the main fd) of a free pair, opened when none is free."""
    with _POOL_LOCK:
        return _take_pair_locked()


def _take_pair_locked() -> tuple[tuple[str, str], int, int]:
    global _POOL_PID
    if os.getpid() != _POOL_PID:  # a forked copy: the parent's open files are the parent's locks
        _POOL.clear()
        _POOL_FDS.clear()
        _POOL_PID = os.getpid()
    key = _names()
    free = _POOL.setdefault(key, [])
    if free:
        return (key, *free.pop())
    with FD_REGISTRY:
        gate = paths.open_private(key[0])
        try:
            main = paths.open_private(key[1])
        except BaseException:
            os.close(gate)
            raise
        _POOL_FDS.update((gate, main))
    return key, gate, main


def _give_back(key: tuple[str, str], gate: int, main: int) -> None:
    for fd in (main, gate):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with _POOL_LOCK:
        if os.getpid() == _POOL_PID and gate in _POOL_FDS:
            _POOL.setdefault(key, []).append((gate, main))
            return
    os.close(main)
    os.close(gate)


def harness_fds() -> frozenset[int]:
    """The lock files this process keeps open between holds (not a case's fds)."""
    return frozenset(_POOL_FDS) if os.getpid() == _POOL_PID else frozenset()


def holders(fd: int) -> list[str]:
    """Who holds a flock on the file behind ``fd``, from /proc/locks ("pid N (comm), uid U")."""
    st = os.fstat(fd)
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    out: list[str] = []
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        f = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" ("->" marks a blocked waiter)
        if "->" in f or len(f) < 6 or f[1] != "FLOCK" or f[5] != want:
            continue
        pid = f[4]
        comm = _read(f"/proc/{pid}/comm") or "?"
        uid = next((ln.split()[1] for ln in _read(f"/proc/{pid}/status").splitlines()
                    if ln.startswith("Uid:")), "?")
        out.append(f"pid {pid} ({comm}, uid {uid}, {f[3].lower()})")
    return out


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _flock(fd: int, op: int, name: str, deadline: float) -> None:
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            who = holders(fd)
            held = f"held by {', '.join(who)}" if who else "holder unknown"
            raise LockTimeout(f"global lock {paths.private_dir() / name} not obtained in {TIMEOUT_S:g} s ({held})")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Holder:
    """One process's hold on the global lock; re-acquirable in another mode."""

    def __init__(self) -> None:
        self.mode = Lock.NONE
        self._main: int | None = None
        self._gate: int | None = None
        self._key = ("", "")

    def acquire(self, mode: Lock, timeout_s: float | None = None) -> None:
        if mode is self.mode:
            return
        self.release()
        if mode is Lock.NONE:
            return
        deadline = time.monotonic() + (TIMEOUT_S if timeout_s is None else timeout_s)
        self._key, self._gate, self._main = _take_pair()
        gate, main = self._key
        try:
            if mode is Lock.SHARED:
                _flock(self._gate, fcntl.LOCK_SH, gate, deadline)
                _flock(self._main, fcntl.LOCK_SH, main, deadline)
                fcntl.flock(self._gate, fcntl.LOCK_UN)
            else:
                _flock(self._gate, fcntl.LOCK_EX, gate, deadline)
                _flock(self._main, fcntl.LOCK_EX, main, deadline)
        except BaseException:
            self.release()
            raise
        self.mode = mode
        _ACTIVE[id(self)] = self

    def release(self) -> None:
        if self._gate is not None and self._main is not None:
            _give_back(self._key, self._gate, self._main)
        self._main = self._gate = None
        self.mode = Lock.NONE
        _ACTIVE.pop(id(self), None)


_ACTIVE: dict[int, Holder] = {}  # this process's holds


def release_all() -> None:
    """Drop every hold of this process (an interrupted run: the interrupted case's teardown comes late,
    and the run's own exclusive clean-up must not wait for it)."""
    for h in list(_ACTIVE.values()):
        h.release()


@contextlib.contextmanager
def held(mode: Lock) -> Iterator[None]:
    h = Holder()
    h.acquire(mode)
    try:
        yield
    finally:
        h.release()
