"""openat2(RESOLVE_CACHED): exactly when EAGAIN comes back and when the open succeeds."""

from __future__ import annotations

import errno
import os

from conformance.host.uapi import AT_FDCWD, EFTYPE, O_EMPTYPATH, OPENAT2_REGULAR, RESOLVE_CACHED
from conformance.native import errno_name
from conformance.suite.registry import Behaviour, Family, Probe, State, classify_errno

from .wire import openat2


def probe_openat2() -> tuple[State, str]:
    fd = openat2(AT_FDCWD, "/", os.O_PATH)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "openat2(\"/\", O_PATH) succeeded"
    return classify_errno(-fd, (), (errno.ENOSYS,)), f"openat2 gave {errno_name(-fd)}"


def probe_resolve_cached() -> tuple[State, str]:
    # "/" is always in the dcache: an fd (or EAGAIN) where the bit is known,
    # EINVAL (unknown RESOLVE_ bit) where it is not, ENOSYS without openat2.
    fd = openat2(AT_FDCWD, "/", os.O_PATH, resolve=RESOLVE_CACHED)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "openat2(\"/\", O_PATH, RESOLVE_CACHED) succeeded"
    state = classify_errno(-fd, (errno.EAGAIN,), (errno.EINVAL, errno.ENOSYS))
    return state, f"openat2(\"/\", O_PATH, RESOLVE_CACHED) gave {errno_name(-fd)}"


# "openat2: new OPENAT2_REGULAR flag support" (Dorjoy Chowdhury), as pushed to vfs-7.2.openat2 on 2026-05-21
# and merged for 7.2 (Debian's 7.2.13 and 7.3.4 sources have it).
REGULAR_COMMIT = "8b82cacad92e"


def probe_openat2_regular() -> tuple[State, str]:
    # "/" is a directory: EFTYPE where the flag is known, EINVAL (unknown open_how.flags bit) where not.
    fd = openat2(AT_FDCWD, "/", os.O_RDONLY | OPENAT2_REGULAR)
    if fd >= 0:
        os.close(fd)
        return State.ABSENT, "openat2(\"/\", OPENAT2_REGULAR) opened a directory"
    state = classify_errno(-fd, (EFTYPE,), (errno.EINVAL, errno.ENOSYS))
    return state, f"openat2(\"/\", O_RDONLY|OPENAT2_REGULAR) gave {errno_name(-fd)}"


def probe_o_emptypath() -> tuple[State, str]:
    # Reopen an O_PATH fd of "/" through "": an fd where the flag is known; EINVAL (unknown flag) where not.
    dfd = openat2(AT_FDCWD, "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if dfd < 0:
        return classify_errno(-dfd, (), (errno.ENOSYS,)), f"openat2(\"/\", O_PATH) gave {errno_name(-dfd)}"
    try:
        fd = openat2(dfd, "", os.O_RDONLY | os.O_CLOEXEC | O_EMPTYPATH)
    finally:
        os.close(dfd)
    if fd >= 0:
        os.close(fd)
        return State.PRESENT, "openat2(O_PATH fd, \"\", O_EMPTYPATH) reopened it"
    state = classify_errno(-fd, (), (errno.EINVAL, errno.ENOENT))
    return state, f"openat2(O_PATH fd, \"\", O_RDONLY|O_EMPTYPATH) gave {errno_name(-fd)}"


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
        _b("resolve_cached.openat2_regular", "OPENAT2_REGULAR (1 << 32 in open_how.flags, openat2 and "
           "IORING_OP_OPENAT2 only) opens a regular file and refuses any other type (directory, FIFO, a symlink "
           "not followed) with EFTYPE (134), checked after the walk and before the final open; with O_DIRECTORY "
           "or O_PATH it is EINVAL; with O_CREAT it creates a regular file or opens an existing one (an existing "
           "directory is EISDIR first); F_GETFL never shows it (the kernel carries it as __O_REGULAR, bit 30, and "
           "strips it)", "7.2", REGULAR_COMMIT, "openat2.regular"),
        _b("resolve_cached.regular_precedence", "OPENAT2_REGULAR beside RESOLVE_CACHED: argument errors come "
           "first (O_DIRECTORY|OPENAT2_REGULAR is EINVAL even with O_TRUNC), then RESOLVE_CACHED's EAGAIN for "
           "O_CREAT/O_TRUNC before any lookup, then EAGAIN for a walk that must leave RCU mode (the type is never "
           "reached); EFTYPE only for a fully cached non-regular file; syscall and IORING_OP_OPENAT2 agree", "7.2",
           REGULAR_COMMIT, "openat2.regular"),
        _b("resolve_cached.emptypath", "O_EMPTYPATH (1 << 26) reopens the file an O_PATH descriptor refers to "
           "through an empty path, with the access mode asked for and the file's permissions checked again, and "
           "with RESOLVE_CACHED (no lookup is needed); without it an empty path is ENOENT; IORING_OP_OPENAT2 "
           "copies the name without LOOKUP_EMPTY, so there it is ENOENT (7.3.4)", "7.2", "", "open.emptypath"),
    ),
    probes=(
        Probe("openat2", "openat2()", "5.6", "fddb5d430ad9", probe_openat2),
        Probe("openat2.regular", "OPENAT2_REGULAR", "7.2", REGULAR_COMMIT, probe_openat2_regular),
        # The commit that added O_EMPTYPATH is not pinned down (it sits below the OPENAT2_REGULAR series on the
        # vfs-7.2.openat2 branch): the feature text names the release instead.
        Probe("open.emptypath", "O_EMPTYPATH (added in 7.2, vfs-7.2.openat2)", "7.2", "", probe_o_emptypath),
        Probe("openat2.resolve_cached", "RESOLVE_CACHED", "5.12", "99668f618062",
              probe_resolve_cached),
    ),
)
