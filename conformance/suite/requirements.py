"""Declared requirements of a case (the LTP ``struct tst_test`` idea).

A case lists what it needs; the plugin asks each requirement whether it is met
before anything runs and turns the first unmet one into a skip whose reason
names the feature, privilege or path.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import stat
from pathlib import Path
from typing import Protocol

from conformance.host import kernel, privilege
from conformance.host.privilege import Scope
from conformance.host.records import record
from conformance.suite import probes


class Requirement(Protocol):
    def unmet(self) -> str | None:
        """None when met, else the skip reason."""


@record(frozen=True)
class Cap:
    """A capability, held over the namespace that matters (privilege.Scope): a namespaced root has
    CAP_SYS_ADMIN over its own namespaces only, not over sysctls or the initial pid namespace."""

    cap: int
    scope: Scope = Scope.OWN

    def unmet(self) -> str | None:
        priv = privilege.current()
        if priv.has_cap(self.cap, self.scope):
            return None
        name = kernel.CAP_NAMES.get(self.cap, f"capability {self.cap}")
        where = {Scope.OWN: "", Scope.INITIAL: " in the initial user namespace",
                 Scope.PID_NS: " over this pid namespace"}[self.scope]
        return f"needs {name}{where} ({priv.lacks(self.cap, self.scope)})"


@record(frozen=True)
class CanDropPrivileges:
    """The DROP_PRIVILEGES setup: as root, switch to uid/gid 65534; unprivileged already is fine."""

    def unmet(self) -> str | None:
        priv = privilege.current()
        if priv.euid != 0 and not priv.cap_effective:
            return None  # already unprivileged: the setup does nothing
        if priv.can_switch_to_unprivileged:
            return None
        return (f"needs to switch to uid/gid {privilege.UNPRIVILEGED_UID} (this is {priv.describe()}: "
                f"{_why_no_switch(priv, groups=True)})")


@record(frozen=True)
class CanSetFsid:
    """The FSID setup: setfsuid/setfsgid(65534) must take effect when we hold CAP_SETUID; without it the
    harness keeps our own (unprivileged) fsuid."""

    def unmet(self) -> str | None:
        priv = privilege.current()
        if not priv.has_cap(privilege.CAP_SETUID) and not priv.has_cap(privilege.CAP_DAC_OVERRIDE):
            return None  # own fsuid, and no capability overrides the permission checks
        if priv.can_set_fsid:
            return None
        return (f"needs fsuid/fsgid {privilege.UNPRIVILEGED_UID} (this is {priv.describe()}: "
                f"{_why_no_switch(priv, groups=False)})")


@record(frozen=True)
class IdsMapped:
    """A setup that switches to these uids/gids (setresuid/setresgid): CAP_SETUID/CAP_SETGID and a
    user namespace that maps them (``why``, when given, says what the ids are for in a skip reason)."""

    uids: tuple[int, ...]
    gids: tuple[int, ...] = ()
    why: str = ""

    def unmet(self) -> str | None:
        priv = privilege.current()
        why = f"{self.why}; " if self.why else ""
        if not (priv.has_cap(privilege.CAP_SETUID) and priv.has_cap(privilege.CAP_SETGID)):
            return f"needs CAP_SETUID and CAP_SETGID ({why}{priv.lacks(privilege.CAP_SETUID, Scope.OWN)})"
        missing = [f"uid {u}" for u in self.uids if not privilege.mapped(priv.uid_map, u)]
        missing += [f"gid {g}" for g in self.gids if not privilege.mapped(priv.gid_map, g)]
        if missing:
            return f"needs {', '.join(missing)} mapped ({why}this is {priv.describe()})"
        return None


@record(frozen=True)
class SetgroupsAllowed:
    """setgroups(2) is allowed in this user namespace (its /proc/<pid>/setgroups is not "deny"), as a
    setup that switches to other ids and drops the supplementary groups needs."""

    why: str = ""

    def unmet(self) -> str | None:
        if privilege.current().setgroups_allowed:
            return None
        return f"needs setgroups ({self.why + '; ' if self.why else ''}it is denied in this user namespace)"


@record(frozen=True)
class OwnIdsMapped:
    """Our own uid and gid are mapped in our user namespace (chown to them means something)."""

    def unmet(self) -> str | None:
        priv = privilege.current()
        if privilege.mapped(priv.uid_map, os.geteuid()) and privilege.mapped(priv.gid_map, os.getegid()):
            return None
        return f"needs our own uid/gid mapped in this user namespace (this is {priv.describe()}, unmapped)"


@record(frozen=True)
class Pid1NotOurs:
    """Unprivileged, a case signals pid 1 as "another user's" process: its uid must differ from ours
    (in a user namespace that does not map pid 1's owner, it reads as the overflow uid, maybe ours)."""

    def unmet(self) -> str | None:
        priv = privilege.current()
        if priv.euid == 0 and priv.can_switch_to_unprivileged:
            return None  # root: the case drops to 65534 and targets root's own child
        try:
            text = Path("/proc/1/status").read_text()
        except OSError as e:
            return f"needs /proc/1/status: {e.strerror}"
        uids = next((ln.split()[1:] for ln in text.splitlines() if ln.startswith("Uid:")), [])
        if str(os.geteuid()) in uids:
            return f"needs pid 1 to belong to another uid; it shows uid {os.geteuid()} here (this is {priv.describe()})"
        return None


def _why_no_switch(priv: privilege.Privilege, groups: bool) -> str:
    if not (priv.has_cap(privilege.CAP_SETUID) and priv.has_cap(privilege.CAP_SETGID)):
        return "without CAP_SETUID and CAP_SETGID"
    if not privilege.mapped(priv.uid_map, privilege.UNPRIVILEGED_UID):
        return f"uid {privilege.UNPRIVILEGED_UID} is not mapped in its user namespace"
    if not privilege.mapped(priv.gid_map, privilege.UNPRIVILEGED_UID):
        return f"gid {privilege.UNPRIVILEGED_UID} is not mapped in its user namespace"
    if groups and not priv.setgroups_allowed:
        return "setgroups is denied in its user namespace"
    return "the switch is not possible"


@record(frozen=True)
class Feature:
    probe: str

    def unmet(self) -> str | None:
        p = probes.probe(self.probe)
        return None if p.present else p.reason()


@record(frozen=True)
class PathExists:
    path: str
    what: str

    def unmet(self) -> str | None:
        return None if os.path.exists(self.path) else f"needs {self.what} ({self.path} missing)"


@record(frozen=True)
class Cgroup2Writable:
    """A cgroup v2 hierarchy in which this process may create a child group."""

    def unmet(self) -> str | None:
        own = kernel.cgroup2_self()
        if own is None:
            return "needs a mounted cgroup v2 hierarchy"
        why = why_not_writable(own)
        if why is not None:
            return f"needs write access to the cgroup v2 directory {own}: {why}"
        return None


def _overflow_id(name: str) -> int:
    try:
        return int(Path(f"/proc/sys/kernel/{name}").read_text())
    except (OSError, ValueError):
        return 65534


def why_not_writable(directory: Path) -> str | None:
    """None when this process may create entries in ``directory``, else the cause, for a skip reason:
    a read-only mount, an owner or group this user namespace does not map (capabilities held in a
    user namespace override permissions only on inodes whose owner and group it maps), or a mode
    that denies us without CAP_DAC_OVERRIDE (a group not delegated to this user)."""
    if os.access(directory, os.W_OK | os.X_OK):
        return None
    try:
        st = os.stat(directory)
        vfs = os.statvfs(directory)
    except OSError as e:
        return f"{e.strerror} ({errno.errorcode.get(e.errno or 0, e.errno)})"
    if vfs.f_flag & os.ST_RDONLY:
        return "it is on a read-only mount (EROFS)"
    priv = privilege.current()
    owner = f"it is owned by uid {st.st_uid} gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o}"
    overflow_uid, overflow_gid = _overflow_id("overflowuid"), _overflow_id("overflowgid")
    if priv.has_cap(privilege.CAP_DAC_OVERRIDE):
        if not priv.userns_initial and (st.st_uid == overflow_uid or st.st_gid == overflow_gid):
            maps = "; ".join(f"{a} {b} {c}" for a, b, c in priv.uid_map) or "empty"
            return (f"{owner}: the overflow ids, so its owner outside is not mapped in this user namespace "
                    f"(uid_map {maps}) and CAP_DAC_OVERRIDE held here does not reach it (EACCES); "
                    "it was not delegated to this namespace (chowned to a uid it maps)")
        return f"{owner}, and even CAP_DAC_OVERRIDE is refused (EACCES: a security module or an immutable flag)"
    if st.st_uid == os.geteuid():
        return f"{owner}: its mode denies its owner, us, writing (EACCES)"
    return (f"{owner}; this is {priv.describe()}, without CAP_DAC_OVERRIDE (EACCES): "
            "it was not delegated to this user (chowned to it)")


@record(frozen=True)
class FdNumber:
    """The case puts an fd at this number: the soft RLIMIT_NOFILE must be above it."""

    fd: int

    def unmet(self) -> str | None:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft > self.fd:
            return None
        return f"needs fd {self.fd}, at or above the soft RLIMIT_NOFILE {soft} (ulimit -n)"


@record(frozen=True)
class Cgroup1Hierarchy:
    def unmet(self) -> str | None:
        return None if kernel.cgroup1_dir() else "needs a mounted cgroup v1 hierarchy"


@record(frozen=True)
class ProgramOnPath:
    """An external client the case drives (e.g. procps ps)."""

    program: str

    def unmet(self) -> str | None:
        return None if shutil.which(self.program) else f"needs the program {self.program} on PATH"


PRIVILEGED = Cap(kernel.CAP_SYS_ADMIN)
# machine-wide state (sysctls, drop_caches, io_uring_disabled's exemption): root of the initial user namespace
INIT_PRIVILEGED = Cap(kernel.CAP_SYS_ADMIN, Scope.INITIAL)
# set_tid in the current pid namespace: CAP_SYS_ADMIN over the user namespace that owns it
PIDNS_PRIVILEGED = Cap(kernel.CAP_SYS_ADMIN, Scope.PID_NS)
DROPS_PRIVILEGES = CanDropPrivileges()
SETS_FSID = CanSetFsid()


@record(frozen=True)
class MayChange:
    """The run may change this machine-wide sysctl (a kconform VM guest, or --allow-change NAME)."""

    sysctl: str

    def unmet(self) -> str | None:
        from conformance.isolation import globalstate

        return globalstate.change_refused(self.sysctl)


@record(frozen=True)
class InitialMountNs:
    """In the initial mount namespace (where a setting such as a coredump socket's path is resolved)."""

    why: str

    def unmet(self) -> str | None:
        try:
            if os.stat("/proc/self/ns/mnt").st_ino == os.stat("/proc/1/ns/mnt").st_ino:
                return None
        except OSError:
            return None  # pid 1's namespace is not ours to read (no ptrace access): the case finds out
        return f"needs the initial mount namespace ({self.why})"


@record(frozen=True)
class CoreDumpsToCwd:
    """A crash writes a core file into the crashing process's working directory: kernel.core_pattern is a plain
    file name (no pipe to a crash handler, no coredump socket, no '/') and the RLIMIT_CORE hard limit lets the
    crashing process raise its soft limit to ``min_limit`` bytes.  The suite never changes either: a row that
    needs a core file on disk runs only where the machine already writes one there."""

    min_limit: int = 1  # the least hard RLIMIT_CORE (bytes) the row's core needs

    def unmet(self) -> str | None:
        try:
            pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        except OSError as e:
            return f"core_pattern unreadable ({e.strerror})"
        if pattern.startswith("|"):
            return f"core_pattern is a pipe to a crash handler ({pattern.split()[0][1:]})"
        if pattern.startswith("@"):
            return f"core_pattern is a coredump socket ({pattern})"
        if not pattern:
            return "core_pattern is empty: no core file is written"
        if "/" in pattern:
            return f"core_pattern is a path ({pattern}): the core would land outside the row's scratch directory"
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        if hard != resource.RLIM_INFINITY and hard < self.min_limit:
            return f"the RLIMIT_CORE hard limit is {hard} bytes: too small to raise the soft limit for a core file"
        return None
