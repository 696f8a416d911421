"""Serialising cases that touch global kernel state, across xdist workers.

A case declares ``lock=Lock.SHARED`` when its result depends on global state
that another case may change (the dentry cache, io_uring_disabled), and
``lock=Lock.EXCLUSIVE`` when it changes that state (drop_caches, sysctls).
The lock is an flock(2) on one file per user, so it also holds between
separate kconform processes of the same user.
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


def lock_path() -> str:
    return os.path.join(tempfile.gettempdir(), f"kconform-global-{os.geteuid()}.lock")


@contextlib.contextmanager
def held(kind: Lock) -> Iterator[None]:
    if kind is Lock.NONE:
        yield
        return
    fd = os.open(lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if kind is Lock.EXCLUSIVE else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
