"""The resolve_cached family's model: openat2(RESOLVE_CACHED) case type, checks, the variant axis.

A row is a ``CachedCase``: a ``Scenario`` (what exists in a fresh directory,
what is looked up normally first, which open is measured) and what the kernel
must do (``opens(*checks)`` or ``refused(*errnos)``).  Every scenario runs in
a fresh C child (the open scenario, conformance.native.uring.run_open), so per-process state such as
the child's /proc/<pid> dentries starts cold.

Every row also runs through IORING_OP_OPENAT2: ``VARIANTS`` is the axis
(the kselftest FIXTURE_VARIANT idea), declared once.  Through io_uring the
result must satisfy the same expectation *and* equal the syscall result done
right after it in the same child (errno, or the same st_dev/st_ino); those
cases are ``<id>.io_uring`` under the behaviour ``io_uring.openat2_cached``.

Kernel model (cases/kernel-facts.md §2, fs/namei.c): LOOKUP_CACHED lives
only in RCU-walk.  Every mid-walk try_to_unlazy() fails when it is set, the
walk ends with -ECHILD, and the ref-walk retry turns that into EAGAIN.
complete_walk() clears LOOKUP_CACHED before the final unlazy, so errors of the
last component and of the final open come through unchanged.

Every component is revalidated, including those of the filesystem that holds
a mount point: an absolute /proc/... path first looks up "proc" on the root
filesystem.  Where that filesystem's ->d_revalidate refuses LOOKUP_RCU
(9p, NFS, CIFS, FUSE, ceph, or an overlayfs with such a layer, as the root of
the kconform VM guests is: overlayfs over virtio-9p) every absolute path is
EAGAIN at its first component, whatever procfs does.  The procfs rows
therefore walk from a /proc dfd; the absolute variants declare
``RcuWalkRoot`` with the prefix they walk through.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from conformance.host import kernel, paths
from conformance.host.records import record
from conformance.host.uapi import (
    BTRFS_SUPER_MAGIC,
    CEPH_SUPER_MAGIC,
    CIFS_SUPER_MAGIC,
    EXT4_SUPER_MAGIC,
    F2FS_SUPER_MAGIC,
    FUSE_SUPER_MAGIC,
    NFS_SUPER_MAGIC,
    O_REGULAR_INTERNAL,
    OVERLAYFS_SUPER_MAGIC,
    PROC_SUPER_MAGIC,
    RAMFS_MAGIC,
    RESOLVE_CACHED,
    SMB2_SUPER_MAGIC,
    TMPFS_MAGIC,
    V9FS_MAGIC,
    XFS_SUPER_MAGIC,
)
from conformance.isolation import guardian, interrupt
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import USES_IO_URING, Change
from conformance.native import errno_name
from conformance.native.uring import VIA_LABEL, OpenRequest, OpenResult, Setup, Via, run_open
from conformance.suite.case import Case, Check, Expectation, HarnessProblem, OldModel, mismatches
from conformance.suite.requirements import SETS_FSID, FdNumber, Feature, Requirement

from .wire import fs_type

# statfs f_type of filesystems that keep (negative) dentries the usual way and
# whose inodes live on a device: the "disk" cases need one of these.
DISK_FS = {
    EXT4_SUPER_MAGIC: "ext2/3/4",
    XFS_SUPER_MAGIC: "xfs",
    BTRFS_SUPER_MAGIC: "btrfs",
    F2FS_SUPER_MAGIC: "f2fs",
}
FS_NAMES = {**DISK_FS, TMPFS_MAGIC: "tmpfs", OVERLAYFS_SUPER_MAGIC: "overlayfs", NFS_SUPER_MAGIC: "nfs",
            FUSE_SUPER_MAGIC: "fuse", RAMFS_MAGIC: "ramfs", PROC_SUPER_MAGIC: "proc", V9FS_MAGIC: "9p",
            CIFS_SUPER_MAGIC: "cifs", SMB2_SUPER_MAGIC: "smb2", CEPH_SUPER_MAGIC: "ceph"}

SHM = "/dev/shm"


def fs_name(magic: int) -> str:
    return FS_NAMES.get(magic, f"f_type {magic:#x}")


class Fs(enum.Enum):
    """Where the case's fresh directory is made."""

    DISK = "disk"  # tempfile.gettempdir(), which must be a disk filesystem
    TMPFS = "tmpfs"  # /dev/shm, which must be tmpfs
    ANY = "any"  # tempfile.gettempdir(), whatever it is (procfs cases)

    def base(self) -> str:
        return SHM if self is Fs.TMPFS else tempfile.gettempdir()


# --------------------------------------------------------------------------- requirements


@record(frozen=True)
class DiskTmp:
    """The temporary directory is on a disk filesystem (ext4, xfs, btrfs, f2fs)."""

    def unmet(self) -> str | None:
        base = tempfile.gettempdir()
        magic = fs_type(base)
        if magic < 0:
            return f"cannot statfs {base}: {errno_name(-magic)}"
        if magic in DISK_FS:
            return None
        return (f"needs a disk filesystem (ext4/xfs/btrfs/f2fs) at {base} for dentry-cache cases; "
                f"it is {fs_name(magic)} (set TMPDIR)")


@record(frozen=True)
class AtimeUpdates:
    """The fixture's filesystem updates atimes (not mounted noatime)."""

    fs: Fs = Fs.DISK

    def unmet(self) -> str | None:
        base = self.fs.base()
        try:
            flags = os.statvfs(base).f_flag
        except OSError as e:
            return f"cannot statvfs {base}: {e.strerror}"
        return f"needs atime updates at {base}; it is mounted noatime" if flags & os.ST_NOATIME else None


@record(frozen=True)
class TmpfsShm:
    """/dev/shm is a tmpfs mount of its own (its '..' crosses a mount)."""

    def unmet(self) -> str | None:
        magic = fs_type(SHM)
        if magic < 0:
            return f"needs tmpfs at {SHM}: {errno_name(-magic)}"
        if magic != TMPFS_MAGIC:
            return f"needs tmpfs at {SHM}; it is {fs_name(magic)}"
        if not os.access(SHM, os.W_OK):
            return f"needs a writable {SHM}"
        if os.stat(SHM).st_dev == os.stat(os.path.dirname(SHM)).st_dev:
            return f"needs {SHM} to be a mount point"
        return None


# Filesystems whose ->d_revalidate may return -ECHILD under LOOKUP_RCU (fs/9p/vfs_dentry.c,
# fs/nfs/dir.c, fs/fuse/dir.c, fs/smb/client/dir.c, fs/ceph/dir.c), and overlayfs, which passes
# LOOKUP_RCU down to its layers (fs/overlayfs/super.c ovl_revalidate_real).
RCU_REFUSING_FS = frozenset({V9FS_MAGIC, NFS_SUPER_MAGIC, FUSE_SUPER_MAGIC, CIFS_SUPER_MAGIC, SMB2_SUPER_MAGIC,
                             CEPH_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC})


@record(frozen=True)
class RcuWalkRoot:
    """The filesystems an absolute path crosses revalidate their cached
    dentries in RCU-walk, so the path is not EAGAIN at an early component.

    ``path`` is the directory the row's absolute path starts with ("" is the
    fresh directory's base, tempfile.gettempdir()).  The probe is that very
    prefix, not some other directory of /: on an overlayfs root a directory
    that exists only in the upper layer (a mount point's parent made at boot)
    revalidates in RCU-walk while one from a 9p lower layer does not."""

    path: str = ""

    def unmet(self) -> str | None:
        return _prefix_refuses_rcu_walk(self.path or tempfile.gettempdir())


def _refusing_filesystems(path: str) -> list[str]:
    """The filesystems on the way from / to ``path`` (each prefix) whose dentries may refuse RCU-walk."""
    found: list[str] = []
    seen: set[int] = set()
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) + 1):
        prefix = "/" + "/".join(parts[:i])
        magic = fs_type(prefix)
        try:
            dev = os.stat(prefix).st_dev
        except OSError:
            continue
        if magic in RCU_REFUSING_FS and dev not in seen:
            found.append(f"{fs_name(magic)} at {prefix}")
        seen.add(dev)
    return found


@functools.cache
def _prefix_refuses_rcu_walk(path: str) -> str | None:
    """Probe once per prefix: ``path`` looked up normally, then opened with RESOLVE_CACHED in the same child.

    This measures the environment, not the kernel: only a filesystem known to
    refuse LOOKUP_RCU in ->d_revalidate (RCU_REFUSING_FS) on the way excuses an
    EAGAIN.  On ext4, xfs, btrfs or tmpfs the prefix must open from the cache,
    so the requirement is met and a kernel that still says EAGAIN fails the row."""
    result = run_open(OpenRequest(path=path, flags=os.O_PATH | os.O_DIRECTORY, resolve=RESOLVE_CACHED,
                                        warm=(path,)))
    problem = result.problem()
    if problem is not None:
        return f"cannot probe RCU-walk on {path}: {problem}"
    if result.measured.ok:
        return None
    refusing = _refusing_filesystems(path)
    if not refusing:
        return None  # nothing on the way excuses it: the row runs and judges the kernel
    return (f"the path {path} crosses {', '.join(refusing)}, which cannot revalidate cached dentries in RCU-walk: "
            f"openat2({path}, RESOLVE_CACHED) after a normal lookup gave {result.measured.describe()}, so every "
            "path through it is EAGAIN at that component (->d_revalidate refuses LOOKUP_RCU, e.g. overlayfs "
            "over 9p)")


# --------------------------------------------------------------------------- the fresh directory


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"


@record(frozen=True)
class Node:
    name: str
    kind: Kind
    mode: int = 0o644
    target: str = ""
    atime_due: bool = False  # a symlink whose atime is due for an update (else it is ahead: never due)


# One layout for every case (created fresh, in order; modes applied last).
LAYOUT: tuple[Node, ...] = (
    Node("warm", Kind.FILE),
    Node("sub", Kind.DIR, 0o755),
    Node("sub/inner", Kind.FILE),
    Node("sub/warm", Kind.FILE),  # what RESOLVE_IN_ROOT from sub/ must reach
    Node("link", Kind.SYMLINK, target="warm"),  # a fast symlink
    Node("stale-link", Kind.SYMLINK, target="warm", atime_due=True),  # following it must update its atime
    Node("fifo", Kind.FIFO, 0o666),  # writable by anyone: only the missing reader refuses
    Node("noperm", Kind.FILE, 0o000),
    Node("locked", Kind.DIR, 0o700),
    Node("locked/f", Kind.FILE),
    Node("open", Kind.DIR, 0o777),  # writable by anyone (files created by other fsuids)
)
LOCKED_MODE = 0o600  # "locked" ends up searchable by nobody (not even its owner)


ATIME_AHEAD_NS = 3600 * 10**9


def _set_atime(d: int, name: str, due: bool) -> None:
    """Give a symlink an atime an hour ahead of its mtime and ctime, so that following it never needs an
    atime update under relatime (pick_link() unlazies for touch_atime, and RESOLVE_CACHED then gives
    EAGAIN), or (due) an hour behind them, so that it always does.  Left alone, that depends on the clock:
    a link made and first followed within one timestamp tick keeps atime == ctime, and the next follow in
    a later tick must update it again."""
    now = time.time_ns()
    atime, mtime = (now - ATIME_AHEAD_NS, now - ATIME_AHEAD_NS) if due else (now + ATIME_AHEAD_NS, now)
    os.utime(name, ns=(atime, mtime), dir_fd=d, follow_symlinks=False)


def _make(root: Path) -> None:
    d = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for n in LAYOUT:
            if n.kind is Kind.FILE:
                f = os.open(n.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=d)
                try:
                    os.write(f, b"kconform\n")
                finally:
                    os.close(f)
            elif n.kind is Kind.DIR:
                os.mkdir(n.name, 0o700, dir_fd=d)
            elif n.kind is Kind.SYMLINK:
                os.symlink(n.target, n.name, dir_fd=d)
                _set_atime(d, n.name, n.atime_due)
            else:
                os.mkfifo(n.name, 0o644, dir_fd=d)
        for n in LAYOUT:
            if n.kind is not Kind.SYMLINK:
                os.chmod(n.name, n.mode, dir_fd=d)
        os.chmod("locked", LOCKED_MODE, dir_fd=d)
    finally:
        os.close(d)


@contextlib.contextmanager
def fresh_dir(fs: Fs, prefix: str = "kconform-rc-") -> Iterator[Path]:
    """A new directory with LAYOUT in it, removed afterwards."""
    # Private (paths.fixture_dir): no other user can reach the fifo or the 0777 directory inside.
    with contextlib.ExitStack() as stack:
        with interrupt.deferred():  # a signal never leaves half a tree behind
            root = paths.fixture_dir(prefix, kernel.fsgid_for_tests(), fs.base())
            stack.enter_context(guardian.scratch_tree(root, chmod=("locked",)))  # journaled; removed in the background
            _make(root)
        yield root


# --------------------------------------------------------------------------- scenario


@record(frozen=True)
class Scenario:
    """An open measured in a fresh child.  Paths are relative to ``start``
    (a directory of LAYOUT, or an absolute directory such as /proc, opened
    O_PATH as the dfd) unless absolute; ``{dir}`` stands for the fresh
    directory."""

    path: str
    flags: int = os.O_RDONLY
    mode: int = 0
    resolve: int = RESOLVE_CACHED
    start: str = "."
    warm: tuple[str, ...] = ()  # normal lookups first (stat, following links)
    setup: Setup = Setup.NONE
    fs: Fs = Fs.DISK
    same_as: str = ""  # an opened fd must be this file (like path: relative to start or absolute)
    creates: str = ""  # the one name an open may add to the fresh directory (O_CREAT); "" = none

    @property
    def dfd_any(self) -> bool:
        return bool(self.setup & Setup.DFD_ANY)

    def request(self, root: Path, via: Via) -> OpenRequest:
        def sub(p: str) -> str:
            return p.replace("{dir}", str(root))

        return OpenRequest(
            path=sub(self.path),
            via=via,
            flags=self.flags,
            mode=self.mode,
            resolve=self.resolve,
            setup=self.setup,
            compare=via is not Via.SYSCALL,
            dir=str(root / self.start),
            ref_path=sub(self.same_as),
            setup_path=str(root / "warm") if self.setup & Setup.FD100 else "",
            warm=tuple(sub(w) for w in self.warm),
            fsuid=kernel.fsuid_for_tests(),
            fsgid=kernel.fsgid_for_tests(),
        )


# --------------------------------------------------------------------------- observation and checks


@record(frozen=True)
class Observation:
    result: OpenResult
    via: Via
    created: tuple[str, ...] = ()  # names the scenario added to the fresh directory
    umask: int = 0o022  # of the process that made the child (inherited by it)
    transient: tuple[str, ...] = ()  # earlier attempts that gave EAGAIN where an fd was expected (see observe)

    @property
    def what(self) -> str:
        return VIA_LABEL[self.via]


@record(frozen=True)
class SameFile:
    """The fd refers to Scenario.same_as (st_dev/st_ino of a normal stat afterwards)."""

    def mismatch(self, obs: Observation) -> str | None:
        r = obs.result
        if r.ref_res < 0:
            return f"the reference file could not be stat()ed ({errno_name(-r.ref_res)})"
        m = r.measured
        if (m.dev, m.ino) != (r.ref_dev, r.ref_ino):
            return (f"{obs.what} opened {m.dev:#x}:{m.ino}, not the expected file "
                    f"{r.ref_dev:#x}:{r.ref_ino}")
        return None


@record(frozen=True)
class IsDirectory:
    def mismatch(self, obs: Observation) -> str | None:
        mode = obs.result.measured.mode
        return None if stat.S_ISDIR(mode) else f"{obs.what} opened a non-directory (mode {mode:#o})"


@record(frozen=True)
class OpenFlags:
    """fcntl(F_GETFL) of the fd: the access mode asked for, and none of the bits in ``clear``."""

    acc: int
    clear: int = O_REGULAR_INTERNAL

    def mismatch(self, obs: Observation) -> str | None:
        fl = obs.result.measured.fl_flags
        if fl < 0:
            return f"F_GETFL of the fd {obs.what} opened failed ({errno_name(-fl)})"
        if fl & os.O_ACCMODE != self.acc:
            return f"{obs.what} opened with access mode {fl & os.O_ACCMODE}, not {self.acc} (F_GETFL {fl:#o})"
        if fl & self.clear:
            return f"F_GETFL of the fd {obs.what} opened shows {fl & self.clear:#x} (F_GETFL {fl:#o})"
        return None


@record(frozen=True)
class CreatedRegular:
    """O_CREAT made a regular file with the mode asked for, less the umask."""

    mode: int

    def mismatch(self, obs: Observation) -> str | None:
        st_mode = obs.result.measured.mode
        want = self.mode & ~obs.umask & 0o7777
        if not stat.S_ISREG(st_mode):
            return f"{obs.what} created a non-regular file (mode {st_mode:#o})"
        if stat.S_IMODE(st_mode) != want:
            return f"{obs.what} created mode {stat.S_IMODE(st_mode):#o}, not {want:#o} ({self.mode:#o} less umask)"
        return None


@record(frozen=True)
class AgreesWithSyscall:
    """The io_uring result equals openat2() done right after it in the same child."""

    def mismatch(self, obs: Observation) -> str | None:
        m, d = obs.result.measured, obs.result.direct
        if m.ok and d.ok:
            if (m.dev, m.ino) != (d.dev, d.ino):
                return f"{obs.what} opened {m.dev:#x}:{m.ino} but openat2() opened {d.dev:#x}:{d.ino}"
            return None
        if m.ok != d.ok or m.res != d.res:
            return f"{obs.what} gave {m.describe()} but openat2() gave {d.describe()}"
        return None


@record(frozen=True)
class Expect:
    errnos: tuple[int, ...] = ()  # the open fails with one of these; () = it succeeds
    checks: tuple[Check[Observation], ...] = ()
    restriction: bool = False  # success would be an escape through a RESOLVE_* restriction

    creates: str = ""  # the name a successful open adds (O_CREAT); a refusal never adds one

    def mismatches(self, obs: Observation) -> list[str]:
        m = obs.result.measured
        if self.errnos:
            want = " or ".join(errno_name(e) for e in self.errnos)
            if m.ok:
                escape = ": the restriction was bypassed" if self.restriction else ""
                return [f"expected {want}, but {obs.what} opened the file{escape}"]
            if m.err not in self.errnos:
                return [f"expected {want}, {obs.what} gave {errno_name(m.err)}"]
            return [f"{obs.what} refused but created {', '.join(obs.created)}"] if obs.created else []
        if not m.ok:
            return [f"expected an fd, {obs.what} gave {m.describe()}"]
        out = mismatches(self.checks, obs)
        made: tuple[str, ...] = (self.creates,) if self.creates else ()
        if obs.created != made:
            out.append(f"{obs.what} left {list(obs.created)} in the directory, expected {list(made)}")
        return out


def opens(*checks: Check[Observation], creates: str = "") -> Expect:
    return Expect(checks=checks, creates=creates)


def refused(*errnos: int, restriction: bool = False) -> Expect:
    return Expect(errnos=tuple(errnos), restriction=restriction)


@record(frozen=True)
class AndAgrees:
    """An expectation through io_uring: the row's, and the same answer as openat2() right after it."""

    row: Expectation[Observation]

    def mismatches(self, obs: Observation) -> list[str]:
        out = self.row.mismatches(obs)
        m = AgreesWithSyscall().mismatch(obs)
        return out if m is None else [*out, m]


@record(frozen=True)
class Diverges:
    """An expectation through io_uring where IORING_OP_OPENAT2 does not do what openat2() does (the row
    says why): the CQE must satisfy ``uring``, and openat2() done next in the same child the row's own."""

    uring: Expectation[Observation]
    syscall: Expectation[Observation]

    def mismatches(self, obs: Observation) -> list[str]:
        direct = Observation(replace(obs.result, measured=obs.result.direct), Via.SYSCALL, (), obs.umask)
        return [*self.uring.mismatches(obs), *(f"and {m}" for m in self.syscall.mismatches(direct))]


def process_umask() -> int:
    """This process's umask (the server and its children inherit it), read without changing it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return 0o022


TOP_LEVEL = frozenset(n.name for n in LAYOUT if "/" not in n.name)


# --------------------------------------------------------------------------- the case


OPENAT2 = Feature("openat2")
CACHED = Feature("openat2.resolve_cached")


@record(frozen=True, kw_only=True)
class CachedCase(Case[Observation]):
    scenario: Scenario
    via: Via = Via.SYSCALL
    uring: Expect | None = None  # what IORING_OP_OPENAT2 gives where it knowingly differs (see Diverges)

    def observe(self) -> Observation:
        transient: list[str] = []
        retries = TRANSIENT_RETRIES if _expects_fd(self.expect) else 0
        for attempt in range(1 + retries):
            with fresh_dir(self.scenario.fs) as root:
                result = run_open(self.scenario.request(root, self.via))
                created = tuple(sorted(set(os.listdir(root)) - TOP_LEVEL))
            problem = result.problem()
            if problem is not None:
                raise HarnessProblem(problem)
            eagain = [what for what, o in (("measured", result.measured), ("direct", result.direct))
                      if not o.ok and o.err == errno.EAGAIN]
            if not eagain or attempt == retries:
                break
            transient.append("/".join(eagain))  # a seqcount retry (mount_lock, rename_lock) or a reclaimed dentry
        return Observation(result, self.via, created, process_umask(), tuple(transient))

    def describe(self, obs: Observation) -> str:
        observed = f"{obs.what} gave {obs.result.measured.describe()}"
        if self.via is not Via.SYSCALL:
            observed += f"; openat2() gave {obs.result.direct.describe()}"
        if obs.transient:
            observed += f" (after {len(obs.transient)} transient EAGAIN(s) in fresh children)"
        return observed


# An open the row expects to succeed is tried again, in a fresh child and directory, after an EAGAIN: an
# RCU-walk also fails (and RESOLVE_CACHED gives EAGAIN) when a seqcount it sampled moved meanwhile
# (mount_lock, from any mount or umount on the machine; rename_lock; the dentry's d_seq) or when memory
# pressure reclaimed a warmed dentry.  A kernel that refuses the open every time still fails the row.
TRANSIENT_RETRIES = 2


def _expects_fd(expect: Expectation[Observation]) -> bool:
    """The row (or either side of a diverging io_uring row) expects an open to succeed."""
    if isinstance(expect, Expect):
        return not expect.errnos
    if isinstance(expect, AndAgrees):
        return _expects_fd(expect.row)
    if isinstance(expect, Diverges):
        return _expects_fd(expect.uring) or _expects_fd(expect.syscall)
    return False


def cached_case(id: str, behaviour: str, scenario: Scenario, expect: Expect, *,
                needs: tuple[Requirement, ...] = (), old: OldModel[Observation] | None = None, doc: str = "",
                lock: Lock = Lock.SHARED, uring: Expect | None = None) -> CachedCase:
    """A row: the dentry cache is global state every row reads (Lock.SHARED)."""
    base: list[Requirement] = [OPENAT2, CACHED]
    if scenario.fs is Fs.DISK:
        base.append(DiskTmp())
    elif scenario.fs is Fs.TMPFS:
        base.append(TmpfsShm())
    if scenario.setup & Setup.FSID:
        base.append(SETS_FSID)  # fsuid 65534 must be mapped where we hold CAP_SETUID
    if scenario.setup & Setup.FD100:
        base.append(FdNumber(100))
    return CachedCase(id=id, behaviour=f"resolve_cached.{behaviour}", scenario=scenario, expect=expect,
                      needs=(*base, *needs), old=old, doc=doc, lock=lock, uring=uring)


# --------------------------------------------------------------------------- the variant axis


@record(frozen=True)
class Variant:
    """One way of issuing every row's open."""

    via: Via
    suffix: str  # appended to the case id
    behaviour: str  # "" = the row's own; else the behaviour every case of this variant checks
    needs: tuple[Requirement, ...] = ()
    doc: str = ""
    reads: tuple[Change, ...] = ()  # global state the variant depends on (see Case.reads)


VARIANTS: tuple[Variant, ...] = (
    Variant(Via.SYSCALL, "", ""),
    Variant(Via.INLINE, ".io_uring", "io_uring.openat2_cached", (Feature("io_uring"), Feature("io_uring.openat2")),
            "IORING_OP_OPENAT2 with the application's RESOLVE_CACHED, submitted inline; EAGAIN must come back in "
            "the CQE (never retried in io-wq) and equal openat2() done next in the same child.",
            reads=USES_IO_URING),
)


def in_variant(row: CachedCase, v: Variant) -> CachedCase:
    if v.via is Via.SYSCALL:
        return replace(row, id=row.id + v.suffix, behaviour=v.behaviour or row.behaviour)
    old = replace(row.old, expect=AndAgrees(row.old.expect)) if row.old is not None else None
    doc = f"{v.doc.removesuffix('.')} (variant of resolve_cached/{row.id}). {row.doc}".strip()
    expect: Expectation[Observation] = AndAgrees(row.expect) if row.uring is None else Diverges(row.uring, row.expect)
    return replace(row, id=row.id + v.suffix, behaviour=v.behaviour or row.behaviour, via=v.via,
                   needs=(*row.needs, *v.needs), expect=expect, old=old, doc=doc,
                   reads=(*row.reads, *v.reads))


def with_variants(rows: tuple[CachedCase, ...]) -> tuple[CachedCase, ...]:
    """Every row in every variant."""
    return tuple(in_variant(r, v) for v in VARIANTS for r in rows)
