"""The guest architectures: every architecture-specific fact in one record.

Backends, the kernel fetcher, the image reader, the initramfs and the guest root
builder take an ``Arch``; nothing else in kconform names an architecture.  A
guest of the host's own architecture runs the host's root (and this very
installation); a guest of another one runs a Debian root of its architecture
built by ``rootfs.py``.
"""

from __future__ import annotations

import platform

from conformance.host.records import record


@record(frozen=True)
class Arch:
    name: str  # uname -m in the guest
    debian: str  # Debian architecture (package indexes, --arch)
    kbuild: str  # the kernel's own name for it (ARCH=, arch/<kbuild>/; KCIDB's build architecture)
    qemu: str  # the QEMU system emulator
    qemu_package: str  # the Debian package that ships it
    machine: str  # -M
    # -cpu under TCG ("" for QEMU's default).  x86: "max", every feature TCG emulates, rather than the default
    # qemu64 (a CPU of 2003): closer to the hardware a kernel is tested on, and a cold interpreter starts
    # in the guest in 0.3 s against 1.5 s with qemu64 (its first Python process: ~1.2 s of each guest run).
    cpu_tcg: str
    cpu_kvm: str  # -cpu under KVM
    console: str  # the kernel's serial console device
    console_config: str  # the config option that gives that console
    cmdline_extra: str  # kernel parameters only this architecture knows
    flavour: str  # Debian kernel flavour booted by default
    image_in_tree: str  # the bootable image inside a kernel build tree
    image_magic: tuple[int, bytes]  # (offset, bytes) that mark this architecture's image format
    image_format: str  # what the image is: "bzImage" (a PVH vmlinux is extracted from it), "Image" (booted as is)
    elf_machine: int  # e_machine of its ELF files (a vmlinux given as the image)
    root_modules: tuple[str, ...]  # modules the initramfs loads to mount the root (dependencies follow)
    multiarch: str  # the GNU triplet: cross compiler prefix, Debian's multiarch directories
    cross_package: str  # the Debian package of the cross compiler (on a host of another architecture)
    label_suffix: str  # appended to a kernel's label ("" keeps the labels results have always had)


X86_64 = Arch(
    name="x86_64", debian="amd64", kbuild="x86_64", qemu="qemu-system-x86_64", qemu_package="qemu-system-x86",
    machine="pc", cpu_tcg="max", cpu_kvm="host", console="ttyS0", console_config="CONFIG_SERIAL_8250_CONSOLE",
    cmdline_extra="no_timer_check tsc=reliable", flavour="amd64", image_in_tree="arch/x86/boot/bzImage",
    image_magic=(0x202, b"HdrS"), image_format="bzImage", elf_machine=62,
    root_modules=("virtio_pci", "9pnet_virtio", "9p", "overlay"),
    multiarch="x86_64-linux-gnu", cross_package="gcc-x86-64-linux-gnu", label_suffix="")

# Debian's arm64 vmlinuz is a plain Image with the EFI stub: QEMU's -kernel boots it as it is.
# -cpu max emulates pointer authentication with QARMA (about twice as slow under TCG);
# pauth-impdef=on keeps the feature with QEMU's cheap implementation-defined algorithm.
# 9p needs netfs (6.12+) or fscache (6.1) first: modules.dep brings them in order.
ARM64 = Arch(
    name="aarch64", debian="arm64", kbuild="arm64", qemu="qemu-system-aarch64", qemu_package="qemu-system-arm",
    machine="virt", cpu_tcg="max,pauth-impdef=on", cpu_kvm="host", console="ttyAMA0",
    console_config="CONFIG_SERIAL_AMBA_PL011_CONSOLE", cmdline_extra="", flavour="arm64",
    image_in_tree="arch/arm64/boot/Image", image_magic=(0x38, b"ARM\x64"), image_format="Image", elf_machine=183,
    root_modules=("virtio_pci", "virtio_mmio", "9pnet_virtio", "9p", "overlay"),
    multiarch="aarch64-linux-gnu", cross_package="gcc-aarch64-linux-gnu", label_suffix="-arm64")

ARCHES = {a.name: a for a in (X86_64, ARM64)}
BY_DEBIAN = {a.debian: a for a in ARCHES.values()}


def host_arch() -> Arch:
    """The architecture guests are booted as by default: the host's, when kconform knows it."""
    return ARCHES.get(platform.machine(), X86_64)


def by_debian_name(name: str) -> Arch:
    """The Arch for --arch NAME (Debian's spelling); ValueError naming the known ones."""
    try:
        return BY_DEBIAN[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(sorted(BY_DEBIAN))})") from None


def kbuild_name(uname_machine: str) -> str:
    """The kernel's name for the architecture uname -m reports (KCIDB's), or uname -m itself."""
    a = ARCHES.get(uname_machine)
    return a.kbuild if a else uname_machine


def foreign(arch: Arch) -> bool:
    """A guest that cannot run the host's own binaries (it gets a root of its own)."""
    return arch.name != host_arch().name
