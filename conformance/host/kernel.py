"""Facts of the running kernel and of the caller's privileges.

These are read once per process (they do not change during a run) and are
plain data: nothing here decides whether a feature exists; that is probes.py.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import platform
import re
import zlib
from pathlib import Path

from conformance.host import procfs
from conformance.host.procfs import read_text as read_text
from conformance.host.records import record

# Capability numbers used by requirements (include/uapi/linux/capability.h).
CAP_SETGID = 6
CAP_SETUID = 7
CAP_NET_ADMIN = 12
CAP_SYS_CHROOT = 18
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
CAP_CHECKPOINT_RESTORE = 40

CAP_NAMES = {
    CAP_SETGID: "CAP_SETGID",
    CAP_SETUID: "CAP_SETUID",
    CAP_NET_ADMIN: "CAP_NET_ADMIN",
    CAP_SYS_CHROOT: "CAP_SYS_CHROOT",
    CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
    CAP_SYS_RESOURCE: "CAP_SYS_RESOURCE",
    CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}


@record(frozen=True, order=True)
class KernelVersion:
    """The numeric part of a release string: 6.12.107+deb12-amd64 -> (6, 12, 107)."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
        if not m:
            raise ValueError(f"not a kernel version: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@record(frozen=True)
class Credentials:
    uid: int
    euid: int
    cap_effective: int
    cap_bounding: int

    def has_cap(self, cap: int) -> bool:
        return bool(self.cap_effective >> cap & 1)

    @property
    def privileged(self) -> bool:
        """Root in the sense the suite cares about: CAP_SYS_ADMIN in effect."""
        return self.has_cap(CAP_SYS_ADMIN)


@record(frozen=True)
class KernelConfig:
    source: str  # where it was read from, "" when unreadable
    text: str

    @property
    def digest(self) -> str:
        if not self.text:
            return "unknown"
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def value(self, option: str) -> str | None:
        """'y', 'm', a string value, or None when unset or unknown."""
        m = re.search(rf"^{re.escape(option)}=(.*)$", self.text, re.MULTILINE)
        return m.group(1).strip('"') if m else None


@record(frozen=True)
class RunFacts:
    release: str
    version: KernelVersion
    arch: str
    hostname: str
    config: KernelConfig
    creds: Credentials

    def as_properties(self) -> dict[str, str]:
        """Run metadata for reports, with stable keys."""
        return {
            "kernel.release": self.release,
            "kernel.arch": self.arch,
            "kernel.config_digest": self.config.digest,
            "kernel.config_source": self.config.source or "unreadable",
            "run.uid": str(self.creds.euid),
            "run.privileged": "yes" if self.creds.privileged else "no",
            "run.hostname": self.hostname,
        }


def parse_status_caps(status_text: str) -> tuple[int, int]:
    """(CapEff, CapBnd) from /proc/<pid>/status text."""
    eff = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status_text, re.MULTILINE)
    bnd = re.search(r"^CapBnd:\s*([0-9a-fA-F]+)", status_text, re.MULTILINE)
    return (int(eff.group(1), 16) if eff else 0, int(bnd.group(1), 16) if bnd else 0)


def read_config(release: str) -> KernelConfig:
    # A VM guest booted from a kernel package: the runner points at the package's config.
    given = os.environ.get("KCONFORM_KERNEL_CONFIG")
    if given and release in Path(given).name:
        try:
            return KernelConfig(given, Path(given).read_text())
        except (OSError, UnicodeDecodeError):
            pass
    # a truncated or corrupt file is as good as none (EOFError, zlib.error, bad UTF-8)
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return KernelConfig("/proc/config.gz", f.read())
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        pass
    boot = Path(f"/boot/config-{release}")
    try:
        return KernelConfig(str(boot), boot.read_text())
    except (OSError, UnicodeDecodeError):
        return KernelConfig("", "")


def read_credentials() -> Credentials:
    eff, bnd = parse_status_caps(Path("/proc/self/status").read_text())
    return Credentials(uid=os.getuid(), euid=os.geteuid(), cap_effective=eff, cap_bounding=bnd)


@functools.lru_cache(maxsize=1)
def facts() -> RunFacts:
    uts = os.uname()
    return RunFacts(
        release=uts.release,
        version=KernelVersion.parse(uts.release),
        arch=platform.machine(),
        hostname=uts.nodename,
        config=read_config(uts.release),
        creds=read_credentials(),
    )


def mount_of_type(fstype: str) -> Path | None:
    """Mount point of the first mount of this filesystem type, from mountinfo."""
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == fstype:
                return Path(left.split()[4])
    except OSError:
        return None
    return None


def cgroup2_mount() -> Path | None:
    """Mount point of the cgroup v2 hierarchy, if one is mounted."""
    return mount_of_type("cgroup2")


def cgroup2_self() -> Path | None:
    """This process's cgroup v2 directory, if the hierarchy is mounted."""
    mount = cgroup2_mount()
    if mount is None:
        return None
    own = procfs.cgroup_of("self")
    return None if own is None else mount / own.lstrip("/")


def cgroup1_dir() -> Path | None:
    """Mount point of some cgroup v1 hierarchy, if one is mounted."""
    return mount_of_type("cgroup")


def fsuid_for_tests() -> int:
    """The fsuid a case switches to for a permission check: 65534 where CAP_SETUID can switch to it
    (not: as uid 0; a namespace must map it), else our own uid."""
    from conformance.host import privilege

    return privilege.UNPRIVILEGED_UID if privilege.current().can_set_fsid else os.geteuid()


def fsgid_for_tests() -> int:
    from conformance.host import privilege

    return privilege.fixture_gid() if privilege.current().can_set_fsid else os.getegid()
