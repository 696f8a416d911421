"""The guest architecture: every architecture-specific name in one record.

Backends, the kernel fetcher and the image reader take an ``Arch``; nothing
else in the VM code names x86.  Only x86_64 is filled in today.
"""

from __future__ import annotations

import platform

from conformance.records import record


@record(frozen=True)
class Arch:
    name: str  # uname -m in the guest
    qemu: str  # the QEMU system emulator
    qemu_package: str  # the Debian package that ships it
    machine: str  # -M
    console: str  # the kernel's serial console device
    debian: str  # Debian architecture (package indexes)
    flavour: str  # Debian kernel flavour booted by default
    image_in_tree: str  # the bootable image inside a kernel build tree


X86_64 = Arch(name="x86_64", qemu="qemu-system-x86_64", qemu_package="qemu-system-x86", machine="pc",
              console="ttyS0", debian="amd64", flavour="amd64", image_in_tree="arch/x86/boot/bzImage")

ARCHES = {a.name: a for a in (X86_64,)}


def host_arch() -> Arch:
    """The architecture guests are booted as: the host's, when kconform knows it."""
    return ARCHES.get(platform.machine(), X86_64)
