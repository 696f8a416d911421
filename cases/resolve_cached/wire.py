"""The resolve_cached family's own calls into C (native_helpers/kc_uring.h): a raw openat2 in this
process and statfs's f_type.

The measured opens run in the open scenario the family shares with io_uring's worker rows, in the core
(conformance.native.uring.run_open); this family has no record of its own.
"""

from __future__ import annotations

from conformance import native
from conformance.host.uapi import OPEN_HOW_SIZE_VER0


def openat2(dfd: int, path: str, flags: int = 0, mode: int = 0, resolve: int = 0,
            size: int = OPEN_HOW_SIZE_VER0) -> int:
    """Raw openat2 in this process: fd or -errno (the caller closes the fd)."""
    return native.call("kc_openat2", dfd, path, flags, mode, resolve, size)


def fs_type(path: str) -> int:
    """statfs(path).f_type, or -errno."""
    return native.call("kc_fs_type", path)
