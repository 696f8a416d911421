"""openat2(RESOLVE_CACHED): exactly when EAGAIN comes back and when the open succeeds."""

from __future__ import annotations

import errno
import os

from conformance import uring
from conformance.native import errno_name
from conformance.registry import Behaviour, Family, Probe, State, classify_errno
from conformance.uring import AT_FDCWD, RESOLVE_CACHED


def probe_openat2() -> tuple[State, str]:
    fd = uring.openat2(AT_FDCWD, "/", os.O_PATH)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "openat2(\"/\", O_PATH) succeeded"
    return classify_errno(-fd, (), (errno.ENOSYS,)), f"openat2 gave {errno_name(-fd)}"


def probe_resolve_cached() -> tuple[State, str]:
    # "/" is always in the dcache: an fd (or EAGAIN) where the bit is known,
    # EINVAL (unknown RESOLVE_ bit) where it is not, ENOSYS without openat2.
    fd = uring.openat2(AT_FDCWD, "/", os.O_PATH, resolve=RESOLVE_CACHED)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "openat2(\"/\", O_PATH, RESOLVE_CACHED) succeeded"
    state = classify_errno(-fd, (errno.EAGAIN,), (errno.EINVAL, errno.ENOSYS))
    return state, f"openat2(\"/\", O_PATH, RESOLVE_CACHED) gave {errno_name(-fd)}"


def _b(id: str, statement: str, since: str, commit: str = "", probe: str = "") -> Behaviour:
    return Behaviour(id, statement, since, commit, probe)


FAMILY = Family(
    "resolve_cached",
    behaviours=(
        _b("resolve_cached.create_trunc_tmpfile", "openat2 with RESOLVE_CACHED and O_CREAT, O_TRUNC or O_TMPFILE is "
           "EAGAIN before any lookup, even for a cached name", "5.12", "99668f618062", "openat2.resolve_cached"),
        _b("resolve_cached.o_directory", "O_DIRECTORY with RESOLVE_CACHED opens a cached directory (the check used "
           "to test O_TMPFILE, which includes O_DIRECTORY, and gave EAGAIN)", "6.5", "a0fc452a5d7f",
           "openat2.resolve_cached"),
        _b("resolve_cached.warm", "a path whose every component is in the dentry cache opens under RESOLVE_CACHED",
           "5.12", "99668f618062", "openat2.resolve_cached"),
        _b("resolve_cached.atime_update", "following a cached symlink whose atime is due for an update (relatime: "
           "not newer than its mtime or ctime) is EAGAIN: pick_link() leaves RCU-walk for touch_atime(); a link "
           "made and first followed within one timestamp tick stays due", "5.12", "99668f618062",
           "openat2.resolve_cached"),
        _b("resolve_cached.cold", "a name that is not in the dentry cache (never looked up, or evicted by "
           "drop_caches) is EAGAIN: the lookup would need ref-walk", "5.12", "99668f618062", "openat2.resolve_cached"),
        _b("resolve_cached.negative_dentry", "a cached negative dentry gives ENOENT; tmpfs keeps no negative dentries "
           "(simple_lookup + always_delete_dentry), so a missing name there stays EAGAIN", "5.12", "99668f618062",
           "openat2.resolve_cached"),
        _b("resolve_cached.procfs", "procfs magic links (/proc/self/fd/N, cwd, exe) are EAGAIN; /proc/self/status is "
           "EAGAIN on first contact in a new process and opens once looked up (from a /proc dfd; an absolute path "
           "also needs a root filesystem that revalidates in RCU-walk); before 5.16 every /proc/<pid> lookup was "
           "EAGAIN", "5.16", "da4d6b9cf80a", "openat2.resolve_cached"),
        _b("resolve_cached.scoped", "RESOLVE_BENEATH/IN_ROOT/NO_XDEV/NO_SYMLINKS/NO_MAGICLINKS still hold under "
           "RESOLVE_CACHED: a violation gives the restriction's errno or EAGAIN (where RCU-walk must be left to "
           "decide), never an open", "5.12", "99668f618062", "openat2.resolve_cached"),
        _b("resolve_cached.final_errors", "errors of the last component and of the final open (EACCES, EISDIR, "
           "ENOENT, ENXIO, ELOOP) come through RESOLVE_CACHED unchanged", "5.12", "99668f618062",
           "openat2.resolve_cached"),
        _b("resolve_cached.midwalk_errors", "errors detected mid-walk in RCU mode (ENOTDIR on a non-directory "
           "component since 5.12; EACCES on a directory that may not be searched since 6.8, cdb67fdeed72) become "
           "EAGAIN under RESOLVE_CACHED: confirming them needs try_to_unlazy(), which LOOKUP_CACHED forbids", "6.8",
           "cdb67fdeed72", "openat2.resolve_cached"),
    ),
    probes=(
        Probe("openat2", "openat2()", "5.6", "fddb5d430ad9", probe_openat2),
        Probe("openat2.resolve_cached", "RESOLVE_CACHED", "5.12", "99668f618062",
              probe_resolve_cached),
    ),
)
