"""Serialising cases that touch global kernel state, across xdist workers.

A case declares ``lock=Lock.EXCLUSIVE`` when it changes global state (sysctls,
drop_caches) or ``Lock.SHARED`` when it only depends on it.  The plugin holds
the lock shared around every case (including its leak guard, which compares
sysctls), and exclusive around cases that change global state, so such a case
runs alone and nobody else's guard sees its temporary change.

Implementation: a readers-writer lock with writer preference made of two
flock(2) files per user (so it also holds between separate kconform processes):
a writer takes the *gate* exclusively, which stops new readers, then the
*main* lock exclusively, which waits for the readers inside to finish.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import tempfile
from collections.abc import Iterator


class Lock(enum.Enum):
    NONE = "none"
    SHARED = "shared"
    EXCLUSIVE = "exclusive"


def _path(name: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"kconform-{name}-{os.geteuid()}.lock")


def _open(name: str) -> int:
    return os.open(_path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class Holder:
    """One process's hold on the global lock; re-acquirable in another mode."""

    def __init__(self) -> None:
        self.mode = Lock.NONE
        self._main: int | None = None
        self._gate: int | None = None

    def acquire(self, mode: Lock) -> None:
        if mode is self.mode:
            return
        self.release()
        if mode is Lock.NONE:
            return
        self._gate, self._main = _open("gate"), _open("main")
        if mode is Lock.SHARED:
            fcntl.flock(self._gate, fcntl.LOCK_SH)
            fcntl.flock(self._main, fcntl.LOCK_SH)
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        else:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            fcntl.flock(self._main, fcntl.LOCK_EX)
        self.mode = mode

    def release(self) -> None:
        for fd in (self._main, self._gate):
            if fd is not None:
                os.close(fd)
        self._main = self._gate = None
        self.mode = Lock.NONE


@contextlib.contextmanager
def held(mode: Lock) -> Iterator[None]:
    h = Holder()
    h.acquire(mode)
    try:
        yield
    finally:
        h.release()
