"""Where kconform keeps its lock files, journals and scratch state.

``private_dir()`` is a directory that only this user (in this user namespace)
can reach: ``/run/kconform`` for root, ``$XDG_RUNTIME_DIR/kconform`` for other
users, else ``$TMPDIR/kconform-<uid>-<userns inode>``.  Each is created 0700
and checked before use: a directory (never a symlink), owned by the caller,
no access for group or others.  When none passes (someone else planted the
name, or the caller's uid is unmapped in its user namespace, so ownership
proves nothing), the run uses a fresh ``mkdtemp`` directory that its xdist
workers inherit through ``KCONFORM_PRIVATE_DIR`` and that is removed at exit.

``open_private()`` opens a file inside it without following symlinks and
checks that the file is a regular file of ours.

A directory kconform makes is left as it was found: every process that uses it
holds a shared flock on the directory itself (``_hold``) from its first use to
its exit, and the last one to leave (an exclusive flock taken without waiting)
removes its lock files, an empty journal and the directory; a journal still
holding entries (what a killed run left to repair or to report), or anything
else kconform does not know there, keeps it.  A process that finds the
directory removed between making it and holding it makes it again.  The
``$TMPDIR`` ones of other user namespaces (``kconform-<uid>-<inode>``, one per
namespace a run ever ran in) that nobody holds are removed the same way by the
next run of the same user that uses one, so those of namespaces that are gone
do not pile up.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ENV = "KCONFORM_PRIVATE_DIR"
ROOT_DIR = Path("/run/kconform")
OVERFLOW_UID = 65534  # what an unmapped uid reads as (/proc/sys/kernel/overflowuid)


class UnsafePath(Exception):
    """A path kconform would use is not private; the message says why."""


def userns_id() -> str:
    """The inode of this task's user namespace ("" when /proc/self/ns/user cannot be read)."""
    try:
        return str(os.stat("/proc/self/ns/user").st_ino)
    except OSError:
        return ""


def uid_mapped(uid: int) -> bool:
    """Whether ``uid`` is mapped in this task's user namespace (/proc/self/uid_map)."""
    try:
        text = Path("/proc/self/uid_map").read_text()
    except OSError:
        return True  # no user namespaces: every uid is real
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            inner, _, count = (int(p) for p in parts)
            if inner <= uid < inner + count:
                return True
    return False


def check_private(path: Path, uid: int | None = None) -> None:
    """Raise UnsafePath unless ``path`` is a directory (not a symlink) owned by ``uid``, mode 0700 or less."""
    uid = os.geteuid() if uid is None else uid
    try:
        st = os.lstat(path)
    except OSError as e:
        raise UnsafePath(f"{path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a directory")
    if st.st_uid != uid:
        raise UnsafePath(f"{path} is owned by uid {st.st_uid}, not {uid}")
    if st.st_mode & 0o077:
        raise UnsafePath(f"{path} has mode {stat.S_IMODE(st.st_mode):04o} (group or others have access)")


def _ensure(path: Path) -> Path:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    check_private(path)
    return path


def _candidates() -> list[Path]:
    euid = os.geteuid()
    out: list[Path] = []
    if euid == 0:
        out.append(ROOT_DIR)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if euid != 0 and runtime.startswith("/"):
        with contextlib.suppress(UnsafePath):
            check_private(Path(runtime))
            out.append(Path(runtime) / "kconform")
    out.append(Path(tempfile.gettempdir()) / f"kconform-{euid}-{userns_id() or 'x'}")
    return out


def _fresh() -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"kconform-{os.geteuid()}-run-"))
    os.environ[ENV] = str(path)
    pid = os.getpid()

    def remove() -> None:
        if os.getpid() == pid:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


HOLD_TIMEOUT_S = 10.0  # for a shared hold while the last user of the directory removes it
_HOLD: dict[int, tuple[int, Path]] = {}  # pid -> (its fd on the directory, holding it shared; the path)
_PRIVATE: tuple[int, Path] | None = None  # (pid, its private directory)
_PRIVATE_LOCK = threading.Lock()


def same_file(fd: int, path: Path) -> bool:
    """Whether path (not followed) is still the file fd is open on."""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def hold_shared(path: Path, timeout: float) -> int | None:
    """An fd on the directory path, holding it shared (flock), waited for at most timeout while its last
    user removes it; None when it was removed meanwhile (make it again).  OSError: it cannot be opened, or
    stayed locked."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # its last user is removing it: a moment
            if time.monotonic() > deadline:
                os.close(fd)
                raise OSError(f"{path} stayed locked for {timeout:g} s") from None
            time.sleep(0.01)
    if not same_file(fd, path):
        os.close(fd)
        return None
    return fd


def last_user(fd: int, path: Path) -> bool:
    """Whether this process is the last user of the directory path (fd open on it): nobody else holds
    it (an exclusive flock taken without waiting, kept) and path is still that directory."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # another process uses it
    return same_file(fd, path)


def made_and_held(make: Callable[[], object], path: Path, timeout: float, tries: int = 3) -> int | None:
    """Make the directory path (``make``; a false value: it cannot be) and hold it shared (``hold_shared``), made
    again when its last user removed it in between: the fd holding it, or None (not made, or removed every
    time).  OSError as from hold_shared."""
    for _ in range(tries):
        if not make():
            return None
        fd = hold_shared(path, timeout)
        if fd is not None:
            return fd
    return None


def _hold(fd: int, path: Path) -> None:
    """Keep fd, holding path shared, for this process's life (released, and path removed if unused, at exit)."""
    if not _HOLD:
        atexit.register(_leave)
    _HOLD[os.getpid()] = (fd, path)


def held_fds() -> frozenset[int]:
    """The fd this process holds its private directory with (not a case's)."""
    held = _HOLD.get(os.getpid())
    return frozenset({held[0]}) if held is not None else frozenset()


def _remove_if_unused(fd: int, path: Path) -> bool:
    """Remove path (kconform's lock files, an empty journal, the directory) if nobody else holds it and it
    holds nothing else; fd is open on it.  Whether it went."""
    if not last_user(fd, path):
        return False
    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            if entry.name.endswith(".lock") and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            elif entry.name == "journal" and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.rmdir(entry.path)  # only when empty
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def _leave() -> None:
    held = _HOLD.pop(os.getpid(), None)
    if held is not None:
        fd, path = held
        _remove_if_unused(fd, path)
        os.close(fd)


SIBLING = re.compile(r"kconform-(\d+)-(\d+)")


def prune_siblings(mine: Path) -> list[Path]:
    """Remove the $TMPDIR private directories of this uid in other user namespaces that nobody holds
    (their namespace is gone, or no run is in it): the ones removed."""
    euid, gone = os.geteuid(), []
    with contextlib.suppress(OSError):
        for entry in os.scandir(mine.parent):
            m = SIBLING.fullmatch(entry.name)
            if m is None or int(m.group(1)) != euid or entry.path == str(mine):
                continue
            path = Path(entry.path)
            try:
                check_private(path)
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except (UnsafePath, OSError):
                continue
            try:
                if _remove_if_unused(fd, path):
                    gone.append(path)
            finally:
                os.close(fd)
    return gone


def private_dir() -> Path:
    """This user's private kconform directory (see the module docstring); made, checked and held once per
    process (a forked child holds it again, on its own)."""
    global _PRIVATE
    pid = os.getpid()
    with _PRIVATE_LOCK:  # two threads' first calls: one hold
        if _PRIVATE is None or _PRIVATE[0] != pid:
            _PRIVATE = (pid, _private_dir())
        return _PRIVATE[1]


def forget_private_dir() -> None:
    """Choose the private directory again at the next call (tests that change the credentials)."""
    global _PRIVATE
    _PRIVATE = None


def _private_dir() -> Path:
    inherited = os.environ.get(ENV, "")
    if inherited:
        with contextlib.suppress(UnsafePath):
            check_private(Path(inherited))
            return Path(inherited)
    euid = os.geteuid()
    if euid == OVERFLOW_UID and not uid_mapped(euid):
        return _fresh()  # every unmapped file owner reads as our uid: ownership proves nothing
    tmp = Path(tempfile.gettempdir())
    for path in _candidates():
        try:
            fd = made_and_held(functools.partial(_ensure, path), path, HOLD_TIMEOUT_S)
        except (UnsafePath, OSError):
            continue
        if fd is not None:
            _hold(fd, path)
            if path.parent == tmp:
                prune_siblings(path)
            return path
    return _fresh()


def open_private(name: str, flags: int = os.O_RDWR) -> int:
    """Open (creating, 0600) a regular file of ours in private_dir(), never through a symlink."""
    if "/" in name or name in ("", ".", ".."):
        raise UnsafePath(f"bad private file name {name!r}")
    path = private_dir() / name
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file owned by uid {os.geteuid()}")
    return fd


def fixture_dir(prefix: str, gid: int, base: str | None = None) -> Path:
    """A fresh fixture directory in ``base`` (default $TMPDIR) that no other user can enter: 0700, or
    0710 with ``gid``, the fsgid that cases switch to (kernel.fsgid_for_tests(): a gid no account
    has), so that a child with that fsgid can search it and nobody else can."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    if gid != os.getegid():
        try:
            os.chown(path, -1, gid)
            os.chmod(path, 0o710)
        except OSError:
            os.rmdir(path)
            raise
    return path


# --------------------------------------------------------------------------- pytest's temporary directories

PYTEST_PREFIX = "pytest-"


def pytest_basetemp() -> Path:
    """Where a run's pytest temporary directories go: ``pytest-<pid ns>-<pid>`` in private_dir() (pytest creates it
    0700 and empties it first), instead of ``$TMPDIR/pytest-of-<user>``, a name any other user can take
    first.  Those of runs that are gone (killed) are removed here."""
    base = private_dir()
    try:  # pids are only comparable within one pid namespace (a container may share this directory)
        ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        ns = "x"
    mine = f"{PYTEST_PREFIX}{ns}-"
    for entry in base.glob(f"{mine}*"):
        pid = entry.name.removeprefix(mine)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not entry.is_symlink() and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    return base / f"{mine}{os.getpid()}"


# The fixture trees and core directories are built under $TMPDIR and passed to the C helpers in fixed
# fields (paths of at most 255 bytes, a core directory of at most 191); the longest name they add to
# $TMPDIR is 27 bytes, so $TMPDIR itself may be this long.
MAX_TMPDIR_BYTES = 160


def check_tmpdir() -> str | None:
    """Why $TMPDIR (as Python resolves it) cannot hold the fixture trees, or None."""
    tmp = tempfile.gettempdir()
    n = len(os.fsencode(tmp))
    if n > MAX_TMPDIR_BYTES:
        return (f"TMPDIR {tmp[:40]}... is {n} bytes long; the fixture trees need a TMPDIR of at most "
                f"{MAX_TMPDIR_BYTES} bytes")
    return None
