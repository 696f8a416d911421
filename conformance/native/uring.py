"""The open scenario of native_helpers/kc_uring.h (kc_uring_open_scenario): one open, issued by a
syscall, inline through io_uring, by an io-wq worker or by the SQPOLL thread in a fresh child.

It is here, in the core, because two families issue their opens through it (resolve_cached, and
io_uring's worker rows) and a family never imports another.  The other records of kc_uring.h live in
the io_uring family (cases/io_uring/wire.py), resolve_cached's own calls in cases/resolve_cached/wire.py.
One dataclass per C struct (same field names), marshalled by conformance.native.  Every ring lives in a
C child created for one scenario, so io-wq workers and SQPOLL threads never appear in the Python process.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from typing import Annotated

from conformance import native
from conformance._kc_uring_h import Op as Op
from conformance._kc_uring_h import Setup as Setup
from conformance._kc_uring_h import Via as Via
from conformance.host import procfs
from conformance.host.procfs import Task
from conformance.host.records import record
from conformance.native import CountedBy, const, describe_status, errno_name

PATH_MAX = const("KC_U_PATH")  # bytes of every path field, with the NUL
DATA_MAX = const("KC_U_DATA")

VIA_LABEL: Mapping[Via, str] = {
    Via.SYSCALL: "openat2()",
    Via.INLINE: "io_uring (inline)",
    Via.ASYNC: "io_uring (IOSQE_ASYNC worker)",
    Via.SQPOLL: "io_uring (SQPOLL)",
}

NOT_ATTEMPTED = -_errno.ENODATA


def said(ret: int) -> str:
    """A result as the kernel gave it: a descriptor or an errno name."""
    if ret == NOT_ATTEMPTED:
        return "not attempted"
    return "an fd" if ret >= 0 else errno_name(-ret)


# --------------------------------------------------------------------------- open scenario


@native.wire("kc_open_req")
@record(frozen=True)
class OpenRequest:
    """One open, issued in a fresh child after the setup and warm-up."""

    path: str
    via: Via = Via.SYSCALL
    op: Op = Op.OPENAT2
    flags: int = 0
    mode: int = 0
    resolve: int = 0
    setup: Setup = Setup.NONE
    compare: bool = False  # also do the same open as a syscall, after the measured one
    dir: str = ""  # the dfd (opened O_PATH before the setup); "" = AT_FDCWD
    path_direct: str = ""  # path of the compared syscall open ("" = path)
    ref_path: str = ""  # stat()ed normally after the opens
    setup_path: str = ""  # chroot directory or the FD100 file
    warm: tuple[str, ...] = ()  # normal lookups (fstatat) before the open
    fsuid: int = 65534
    fsgid: int = 65534
    read_len: int = 0
    list_threads: bool = False
    timeout_ms: int = 10000

    @property
    def nwarm(self) -> int:
        return len(self.warm)


@native.wire("kc_open_one")
@record(frozen=True)
class OpenOne:
    """struct kc_open_one: one open and what was learnt from the fd."""

    res: int  # fd or -errno
    read_res: int
    fstat_res: int
    st_mode: int
    st_uid: int
    st_gid: int
    st_dev: int
    st_ino: int
    st_rdev: int
    tty_dev_res: int
    tty_dev: int
    tty_sid: int
    fl_flags: int  # fcntl(F_GETFL) of the fd, or -errno
    data: bytes  # the whole buffer; content is what was read

    @property
    def ok(self) -> bool:
        return self.res >= 0

    @property
    def err(self) -> int:
        return -self.res if self.res < 0 else 0

    @property
    def content(self) -> bytes:
        return self.data[: max(0, self.read_res)]

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    @property
    def mode(self) -> int:
        return self.st_mode

    @property
    def uid(self) -> int:
        return self.st_uid

    @property
    def gid(self) -> int:
        return self.st_gid

    @property
    def dev(self) -> int:
        return self.st_dev

    @property
    def ino(self) -> int:
        return self.st_ino

    def describe(self) -> str:
        if self.res < 0:
            return said(self.res)
        return f"an fd to {self.dev:#x}:{self.ino}"

    def status_field(self, key: str) -> str | None:
        """A "Key:" line of a /proc status file that was read."""
        return procfs.parse_status(self.text).get(key)


@native.wire("kc_open_res", internal=("pad0",))
@record(frozen=True)
class OpenResult(native.Harnessed):
    harness: native.HarnessStatus  # pid: the submitter (the harness process itself)
    setup_res: int
    ring_res: int
    features: int
    sid: int
    pty_rdev: int
    netns_ino: int
    warm_res: tuple[int, ...]
    ref_res: int
    ref_dev: int
    ref_ino: int
    measured: OpenOne
    direct: OpenOne
    nthreads: int  # threads found (may exceed the slots) or -errno
    threads: Annotated[tuple[Task, ...], CountedBy("nthreads")]
    proc_pid: int  # the submitter's pid in the pid namespace /proc belongs to (first NSpid entry)
    proc_levels: int  # NSpid entries: 1 when /proc is of the submitter's own pid namespace; or -errno

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.threads

    def problem(self) -> str | None:
        """What kept the scenario from running, or None."""
        if not self.harness.ok:
            return f"{self.harness.describe()}, child {describe_status(self.wait_status)}"
        if self.setup_res < 0:
            return f"setup failed with {errno_name(-self.setup_res)}"
        if self.ring_res < 0:
            return f"io_uring_setup failed with {errno_name(-self.ring_res)}"
        return None


def run_open(req: OpenRequest) -> OpenResult:
    """Run one open scenario in a fresh child (kc_uring_open_scenario)."""
    if req.read_len >= DATA_MAX:
        raise ValueError(f"read_len at most {DATA_MAX - 1}")
    return native.run_harness("kc_uring_open_scenario", OpenResult, req, what="open scenario")
