"""What this process may do, probed: capabilities, user and pid namespaces, containers, seccomp.

uid 0 is not the question.  Root in a user namespace has every capability
over its own namespaces and none over the initial one (sysctls, drop_caches,
io_uring_disabled's exemption, set_tid in the initial pid namespace); root in
a container may have a reduced bounding set; root with no capabilities is an
ordinary user that owns root's files.  Requirements ask this module, and the
run metadata describes it in those words.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import functools
import os
import re
from pathlib import Path

from conformance.host import procfs
from conformance.host.records import record

CAP_SETGID = 6
CAP_SETUID = 7
CAP_DAC_OVERRIDE = 1
CAP_SYS_ADMIN = 21
CAP_CHECKPOINT_RESTORE = 40

# include/linux/proc_ns.h: the initial namespaces have fixed inode numbers
PROC_USER_INIT_INO = 0xEFFFFFFD
PROC_PID_INIT_INO = 0xEFFFFFFC
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)

UNPRIVILEGED_UID = 65534  # the uid/gid the harness drops to or sets as fsuid


class Scope(enum.Enum):
    """Over which namespace a capability must be held."""

    OWN = "own"  # the caller's user namespace (namespaces it creates, its own files)
    INITIAL = "initial"  # the initial user namespace (machine-wide state: sysctls, drop_caches)
    PID_NS = "pid-ns"  # the user namespace that owns the caller's pid namespace (set_tid there)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _ino(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _status_field(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", text, re.MULTILINE)
    return m.group(1).strip() if m else ""


def parse_id_map(text: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return tuple(out)


def mapped(m: tuple[tuple[int, int, int], ...], ident: int) -> bool:
    return any(inner <= ident < inner + count for inner, _, count in m)


@record(frozen=True)
class Privilege:
    euid: int
    cap_effective: int
    cap_bounding: int
    userns_initial: bool
    uid_map: tuple[tuple[int, int, int], ...]
    gid_map: tuple[tuple[int, int, int], ...]
    pidns_ours: bool  # our user namespace owns our pid namespace
    pidns_initial: bool
    setgroups_allowed: bool
    container: str  # "" or the sign that gave it away
    seccomp: int  # 0 none, 1 strict, 2 filter

    def has_cap(self, cap: int, scope: Scope = Scope.OWN) -> bool:
        if not self.cap_effective >> cap & 1:
            return False
        if scope is Scope.INITIAL:
            return self.userns_initial
        if scope is Scope.PID_NS:
            return self.userns_initial or self.pidns_ours
        return True

    @property
    def can_switch_to_unprivileged(self) -> bool:
        """setresuid/setresgid(65534) and setgroups(0) would work (the DROP_PRIVILEGES setup)."""
        return (self.has_cap(CAP_SETUID) and self.has_cap(CAP_SETGID)
                and mapped(self.uid_map, UNPRIVILEGED_UID) and mapped(self.gid_map, UNPRIVILEGED_UID)
                and self.setgroups_allowed)

    @property
    def can_set_fsid(self) -> bool:
        """setfsuid(65534)/setfsgid(fixture_gid()) would take effect (the FSID setup)."""
        return (self.has_cap(CAP_SETUID) and self.has_cap(CAP_SETGID)
                and mapped(self.uid_map, UNPRIVILEGED_UID) and mapped(self.gid_map, fixture_gid()))

    @property
    def outer_uid(self) -> int | None:
        """Our euid as the parent user namespace sees it."""
        for inner, outer, count in self.uid_map:
            if inner <= self.euid < inner + count:
                return outer + self.euid - inner
        return None

    def describe(self) -> str:
        """One phrase for the run metadata (never just "privileged")."""
        if self.euid == 0:
            if not self.cap_effective:
                who = "capability-less root"
            elif self.userns_initial:
                full = self.has_cap(CAP_SYS_ADMIN)
                who = "root" if full else "root without CAP_SYS_ADMIN"
            else:
                outer = self.outer_uid
                who = "root in a user namespace" + (f" (uid 0 is uid {outer} outside)" if outer is not None
                                                     else " (uid 0 unmapped)")
        else:
            who = f"uid {self.euid}" + ("" if self.userns_initial else " in a user namespace")
            if self.cap_effective:
                who += " with capabilities"
        if self.container:
            who = f"container ({self.container}), {who}"
        return who

    def lacks(self, cap: int, scope: Scope) -> str:
        """Why ``cap`` is not held in ``scope``, for a skip reason (never "run as root" to a root)."""
        if self.euid == 0 or self.cap_effective:
            return f"this is {self.describe()}"
        return "run as root"

    def properties(self) -> dict[str, str]:
        return {
            "run.privileged": "yes" if self.has_cap(CAP_SYS_ADMIN, Scope.INITIAL) else "no",
            "run.privilege": self.describe(),
            "run.cap_effective": f"{self.cap_effective:#x}",
            "run.userns": "initial" if self.userns_initial else "uid_map " + "; ".join(
                f"{a} {b} {c}" for a, b, c in self.uid_map),
            "run.pidns": "initial" if self.pidns_initial else "own" if self.pidns_ours else "nested",
            "run.container": self.container or "no",
            "run.seccomp": {0: "none", 1: "strict", 2: "filter"}.get(self.seccomp, str(self.seccomp)),
            "run.proc": procfs.describe_proc(),
        }


_OUTSIDE = -1  # NS_GET_USERNS answered EPERM: the owner is an ancestor of our user namespace


def _pidns_owner_ino() -> int | None:
    """The inode of the user namespace that owns our pid namespace, ``_OUTSIDE`` when it lies outside our
    user namespace (NS_GET_USERNS answers EPERM: an ancestor, where our capabilities do not reach), None
    when it cannot be asked."""
    try:
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        owner = fcntl.ioctl(fd, NS_GET_USERNS)
    except OSError as e:
        return _OUTSIDE if e.errno == errno.EPERM else None
    finally:
        os.close(fd)
    try:
        return os.fstat(owner).st_ino
    finally:
        os.close(owner)


def _pidns_owned_by_own_userns() -> bool:
    ino = _pidns_owner_ino()
    return ino is not None and ino != _OUTSIDE and ino == _ino("/proc/self/ns/user")


def pidns_owner_outside() -> bool | None:
    """Whether the user namespace owning our pid namespace lies outside our user namespace (NS_GET_USERNS
    answers EPERM: an ancestor, where our capabilities do not reach); None when it cannot be asked."""
    ino = _pidns_owner_ino()
    return None if ino is None else ino == _OUTSIDE


def container_sign(userns_initial: bool, pidns_initial: bool) -> str:
    """What says this runs in a container ("" when nothing does).  Marker files count only inside
    a pid namespace of its own: in the machine's namespaces they are leftovers."""
    env = os.environ.get("container", "")  # noqa: SIM112 (systemd's name for it is lower-case)
    if env:
        return f"container={env}"
    with contextlib.suppress(OSError):
        for item in Path("/proc/1/environ").read_bytes().split(b"\0"):
            if item.startswith(b"container="):
                return item.decode(errors="replace")
    if pidns_initial:
        return ""
    for path in ("/.dockerenv", "/run/.containerenv"):
        if os.path.exists(path):
            return path
    return "" if userns_initial else "own user and pid namespaces"


def probe() -> Privilege:
    status = _read("/proc/self/status")
    eff = int(_status_field(status, "CapEff") or "0", 16)
    bnd = int(_status_field(status, "CapBnd") or "0", 16)
    uid_map = parse_id_map(_read("/proc/self/uid_map"))
    gid_map = parse_id_map(_read("/proc/self/gid_map"))
    user_ino = _ino("/proc/self/ns/user")
    if user_ino is not None:
        initial = user_ino == PROC_USER_INIT_INO
    else:
        initial = uid_map == ((0, 0, 4294967295),) or not uid_map
    pid_ino = _ino("/proc/self/ns/pid")
    pid_initial = pid_ino == PROC_PID_INIT_INO if pid_ino is not None else True
    seccomp = _status_field(status, "Seccomp")
    return Privilege(
        euid=os.geteuid(),
        cap_effective=eff,
        cap_bounding=bnd,
        userns_initial=initial,
        # an empty map in a user namespace of its own: nothing is mapped (not: everything)
        uid_map=uid_map or (() if not initial else ((0, 0, 4294967295),)),
        gid_map=gid_map or (() if not initial else ((0, 0, 4294967295),)),
        pidns_ours=(not initial) and _pidns_owned_by_own_userns(),
        pidns_initial=pid_initial,
        setgroups_allowed=_read("/proc/self/setgroups").strip() != "deny",
        container=container_sign(initial, pid_initial),
        seccomp=int(seccomp) if seccomp.isdigit() else 0,
    )


@functools.cache
def current() -> Privilege:
    return probe()


@functools.cache
def fixture_gid() -> int:
    """The fsgid of the FSID setup: a gid that no group and no account has (so no other user is a
    member of the fixtures' group), below 65534; 65534 when every candidate is taken."""
    import grp
    import pwd

    taken = {g.gr_gid for g in grp.getgrall()} | {p.pw_gid for p in pwd.getpwall()}
    return next((g for g in range(65533, 60000, -1) if g not in taken), UNPRIVILEGED_UID)


# --------------------------------------------------------------------------- seccomp


def seccomp_mode() -> int:
    """0 (none), 1 (strict) or 2 (filter), read fresh from /proc/self/status."""
    value = _status_field(_read("/proc/self/status"), "Seccomp")
    return int(value) if value.isdigit() else 0


def seccomp_note(observed_errno: int | None) -> str | None:
    """When a syscall's ENOSYS/EPERM may be a seccomp filter's answer rather than the kernel's, say so."""
    import errno as E

    if observed_errno not in (E.ENOSYS, E.EPERM):
        return None
    mode = seccomp_mode()
    if mode == 0:
        return None
    filters = _status_field(_read("/proc/self/status"), "Seccomp_filters")
    what = "a seccomp filter" + (f" ({filters} installed)" if filters and filters != "0" else "") if mode == 2 \
        else "seccomp strict mode"
    return f"filtered by {what}: {E.errorcode[observed_errno]} may be the filter's answer, not the kernel's"
