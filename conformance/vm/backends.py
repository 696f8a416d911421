"""Ways of booting a guest, behind one small interface, chosen from ``BACKENDS``.

A backend turns (kernel, settings, result directory) into a ``Launch``: the
command to start, where the guest's console goes, and what to clean up after.
The runner starts, watches and judges every backend's guest the same way.
The guest architecture is a backend parameter.
"""

from __future__ import annotations

import enum
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Protocol

from conformance.host.arch import Arch, foreign, host_arch
from conformance.host.records import record
from conformance.vm import images, initramfs, pycache, rootfs
from conformance.vm.errors import KernelSpecError
from conformance.vm.kernels import Kernel, cache_dir


class Accel(enum.StrEnum):
    AUTO = "auto"
    KVM = "kvm"
    TCG = "tcg"


@record(frozen=True)
class VmConfig:
    backend: str = "qemu"
    accel: Accel = Accel.TCG  # chosen once, before any kernel boots (choose_accel)
    cpus: int = 2
    memory: str = "1G"
    timeout_s: float = 1800.0
    inject_panic: bool = False
    run_args: tuple[str, ...] = ()  # passed to kconform run in the guest
    shards: int = 1  # kconform runs at once in the guest, each with its part of the cases (--shard K/N)
    python: str = ""  # the interpreter the guest runs kconform with (interpreter.choose; "": this one)


@record
class Launch:
    cmd: list[str]
    console_on_stdout: bool  # False: QEMU writes console.log itself
    cleanup: list[Path] = field(default_factory=list)  # files removed after the guest is gone


# cryptomgr.notests: the kernel's crypto self-tests (CONFIG_CRYPTO_SELFTESTS, before 6.15 the absence of
# CONFIG_CRYPTO_MANAGER_DISABLE_TESTS; Debian's kernels run them) test every algorithm as it is first
# instantiated: at boot, and again during the run as modules load and their signatures are checked.  Under
# TCG that is 0.2-2 s of a one-vCPU guest's boot (7.3.4: /init reached at 2.3-3.0 s instead of 3.0-4.6 s,
# side by side).  No row depends on them, they taint nothing, and fips=1 runs them regardless.
def cmdline(arch: Arch) -> str:
    return (f"console={arch.console} panic=-1 oops=panic quiet loglevel=4 mitigations=off cryptomgr.notests "
            f"{arch.cmdline_extra}").strip()


def boot_image(kernel: Kernel) -> Path:
    """An uncompressed vmlinux with a PVH entry (skips the decompressor: much faster under TCG),
    extracted from the bzImage and cached by the image's digest; the image itself otherwise."""
    if kernel.arch.image_format != images.Kind.BZIMAGE.value:
        return kernel.image  # booted as it is
    return images.extract(kernel.image, cache_dir() / "vmlinux").elf or kernel.image


def guest_accel(arch: Arch, accel: Accel) -> Accel:
    """The run's accelerator for a guest of arch: KVM only runs guests of the host's own architecture."""
    return Accel.TCG if foreign(arch) else accel


def qemu_base(arch: Arch, accel: Accel, cpus: int, memory: str) -> list[str]:
    accel = guest_accel(arch, accel)
    cpu = arch.cpu_kvm if accel is Accel.KVM else arch.cpu_tcg
    return [arch.qemu, "-accel", accel.value, "-M", arch.machine, *(["-cpu", cpu] if cpu else []), "-m", memory,
            "-smp", str(cpus), "-nodefaults", "-no-reboot", "-display", "none", "-no-user-config"]


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def arch(self) -> Arch: ...

    def check(self) -> None:
        """KernelSpecError (one line) when a tool is missing."""

    def launch(self, kernel: Kernel, cfg: VmConfig, outdir: Path) -> Launch: ...


# --------------------------------------------------------------------------- QEMU direct

SCRATCH_BYTES = 512 << 20


def scratch_disk(path: Path) -> Path | None:
    """A sparse ext4 image for the guest's TMPDIR (None when mkfs.ext4 is missing)."""
    mkfs = shutil.which("mkfs.ext4") or shutil.which("mkfs.ext4", path="/usr/sbin:/sbin")
    if mkfs is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(SCRATCH_BYTES)
    proc = subprocess.run([mkfs, "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(path)],
                          capture_output=True)
    if proc.returncode != 0:
        path.unlink(missing_ok=True)
        return None
    return path


@record(frozen=True)
class QemuDirect:
    """kconform's own boot: PVH vmlinux (or the architecture's image), busybox initramfs, the host's
    root over 9p -- or, for a guest of another architecture, a Debian root of its own (rootfs.py)."""

    arch: Arch
    name: str = "qemu"

    def check(self) -> None:
        if shutil.which(self.arch.qemu) is None:
            raise KernelSpecError(f"{self.arch.qemu} not found (apt-get install {self.arch.qemu_package})")
        if foreign(self.arch):
            rootfs.check(self.arch)
        else:
            initramfs.busybox_path()

    def command(self, kernel: Kernel, cfg: VmConfig, outdir: Path, initrd: Path, disk: Path | None,
                pyc: Path | None = None, root: Path = Path("/")) -> list[str]:
        append = f"{cmdline(self.arch)} kc.out={outdir} kc.msize=512000 kc.cache=loose"
        if cfg.inject_panic:
            append += " kc.panic=1"
        if pyc is not None and pyc.is_absolute() and not any(c.isspace() for c in str(pyc)):
            append += f" kc.pyc={pyc}"  # unpacked by the guest's init into its overlay
        drive: list[str] = []
        if disk is not None:
            append += " kc.disk=1"
            drive = ["-drive", f"file={disk},if=none,id=scratch,format=raw,cache=unsafe",
                     "-device", "virtio-blk-pci,drive=scratch"]
        return [
            *qemu_base(self.arch, cfg.accel, cfg.cpus, cfg.memory),
            "-chardev", f"file,id=con,path={outdir / 'console.log'}", "-serial", "chardev:con",
            "-fsdev", f"local,id=fsroot,path={root},security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot",
            "-fsdev", f"local,id=fsout,path={outdir},security_model=none",
            "-device", "virtio-9p-pci,fsdev=fsout,mount_tag=kcout",
            *drive, "-kernel", str(boot_image(kernel)), "-initrd", str(initrd), "-append", append,
        ]

    def launch(self, kernel: Kernel, cfg: VmConfig, outdir: Path) -> Launch:
        groot = rootfs.ensure(self.arch) if foreign(self.arch) else None
        busybox = groot.busybox if groot else initramfs.busybox_path()
        initrd = initramfs.build(kernel, cache_dir() / "initramfs" / f"{kernel.label}.cpio", busybox)
        disk = scratch_disk(cache_dir() / "scratch" / f"{kernel.label}-{os.getpid()}.img")
        # A root of its own was byte-compiled when it was built; the host's pycs fit the host's root only.
        pyc = None if groot else pycache.archive()
        cmd = self.command(kernel, cfg, outdir, initrd, disk, pyc, groot.path if groot else Path("/"))
        return Launch(cmd, False, [disk] if disk else [])


# --------------------------------------------------------------------------- virtme-ng


def vng_path() -> str:
    found = shutil.which("vng") or str(Path(sys.prefix) / "bin" / "vng")
    if not Path(found).exists():
        raise KernelSpecError("virtme-ng is not installed (pip install 'kconform[vng]' or apt-get install virtme-ng)")
    return found


VNG_MODULES = dict(initramfs.MODULE_GROUPS)["vhost"]


def vng_script(kernel: Kernel, outdir: Path, inject_panic: bool) -> str:
    """virtme-ng boots the host's root itself: load the modules (insmod of the kernel's own
    files in dependency order: vng's modprobe does not find an extracted package's modules),
    mark the console, run."""
    mods = initramfs.resolve_modules(kernel.modules, VNG_MODULES) if kernel.modules else None
    lines = [
        "#!/bin/sh",
        "export PATH=/usr/sbin:/sbin:$PATH",
        't() { read up _ < /proc/uptime; echo "KC[$up] $*"; }',
    ]
    if mods is not None:
        # Decompressed on the host: the guest's insmod may not read .ko.xz.
        moddir = outdir / "vng-modules"
        moddir.mkdir(exist_ok=True)
        for name in mods.order:
            target = moddir / initramfs.loaded_name(name)
            target.write_bytes(initramfs.decompressed(mods.files[name]))
            lines.append(f"insmod {shlex.quote(str(target))} || t 'insmod {target.name} failed'")
    if inject_panic:
        lines += ['t "panic requested"', "echo 1 > /proc/sys/kernel/sysrq", "echo c > /proc/sysrq-trigger"]
    # The guest marker (as guest_init.sh writes it): this boot's id, never the host's even if /run were shared.
    lines += ["mkdir -p /run/kc && cat /proc/sys/kernel/random/boot_id > /run/kc/guest"]
    # A named cgroup v1 hierarchy, as guest_init.sh mounts it (clone3's into-cgroup-v1-dir case).
    lines += ["mkdir -p /run/kc/cgroup-v1 && mount -t cgroup -o none,name=kconform cgroup /run/kc/cgroup-v1 "
              "|| t 'cgroup v1 not mounted'"]
    lines += ["t cmd-start", f"sh {shlex.quote(str(outdir / 'run.sh'))}", "rc=$?", 't "cmd-end rc=$rc"',
              f"echo $rc > {shlex.quote(str(outdir / 'exitcode'))}", ""]
    return "\n".join(lines)


@record(frozen=True)
class Vng:
    """virtme-ng (vng --run) with the console on stdout (-v): without udev in the guest its
    exit code and the script's own output are lost, so results travel through --rwdir."""

    arch: Arch
    name: str = "vng"

    def check(self) -> None:
        if foreign(self.arch):
            raise KernelSpecError(f"the vng backend runs the host's root: no {self.arch.debian} guests on "
                                  f"{host_arch().debian} (use --backend qemu)")
        vng_path()

    def launch(self, kernel: Kernel, cfg: VmConfig, outdir: Path) -> Launch:
        (outdir / "run-vng.sh").write_text(vng_script(kernel, outdir, cfg.inject_panic))
        cmd = [vng_path(), "--run", str(kernel.image), "--force-9p", "--cpus", str(cfg.cpus),
               "--memory", cfg.memory, "--rwdir", str(outdir), "--cwd", "/tmp", "-v"]
        if cfg.accel is not Accel.KVM:
            cmd.append("--disable-kvm")
        return Launch([*cmd, "--", "sh", str(outdir / "run-vng.sh")], True)


BACKENDS: dict[str, Callable[[Arch], Backend]] = {
    "qemu": QemuDirect,  # kconform's own fast boot (default)
    "vng": Vng,  # virtme-ng
}


def backend(name: str, arch: Arch | None = None) -> Backend:
    return BACKENDS[name](arch or host_arch())


# --------------------------------------------------------------------------- floor and accelerator


def floor_initramfs(arch: Arch | None = None) -> Path:
    arch = arch or host_arch()
    target = cache_dir() / ("floor.cpio" if not foreign(arch) else f"floor-{arch.debian}.cpio")
    if not target.exists():
        busybox = rootfs.ensure(arch).busybox if foreign(arch) else initramfs.busybox_path()
        c = initramfs.Cpio()
        for d in ("bin", "dev", "proc"):
            c.dir(d)
        c.file("bin/busybox", busybox.read_bytes(), 0o755)
        c.file("init", b"#!/bin/busybox sh\n/bin/busybox echo KC-FLOOR-UP\n/bin/busybox poweroff -f\n", 0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(c.finish())
    return target


def boot_floor(kernel: Kernel, accel: Accel, timeout_s: float = 120, cpus: int = 2,
               memory: str = "1G") -> float | None:
    """Seconds for the bare boot floor (init only powers off), or None if it failed."""
    arch = kernel.arch
    cmd = [*qemu_base(arch, accel, cpus, memory), "-serial", "stdio", "-kernel", str(boot_image(kernel)),
           "-initrd", str(floor_initramfs(arch)), "-append", cmdline(arch)]
    t = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    if b"KC-FLOOR-UP" not in proc.stdout:
        return None
    return time.monotonic() - t


KVM_PROBE_S = 8.0  # a KVM floor boot takes well under a second where KVM works


def choose_accel(wanted: Accel, kernel: Kernel) -> tuple[Accel, str]:
    """The accelerator for the whole run, decided once.  auto: KVM when /dev/kvm is usable
    *and* a floor boot with it finishes (/dev/kvm can exist and still not work, nested), else TCG."""
    if wanted is not Accel.AUTO:
        return wanted, "as asked"
    if foreign(kernel.arch):
        return Accel.TCG, f"{kernel.arch.debian} guest on {host_arch().debian}: KVM runs the host's architecture only"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel.TCG, "no usable /dev/kvm"
    t = boot_floor(kernel, Accel.KVM, timeout_s=KVM_PROBE_S)
    if t is None:
        return Accel.TCG, f"a KVM test boot did not finish within {KVM_PROBE_S:g} s"
    return Accel.KVM, f"a KVM test boot took {t:.1f} s"
