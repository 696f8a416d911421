"""The guest's tiny initramfs: static busybox, the kernel's modules, /init.

Written directly as a newc cpio archive (no cpio program needed).  Module
dependencies come from the kernel's own ``modules.dep``; compressed modules
(.ko.xz, .ko.zst) are decompressed on the host, so busybox ``insmod`` can load
them in dependency order.  The archive for a kernel is cached next to it.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from conformance.host.arch import Arch, host_arch
from conformance.host.records import record
from conformance.vm.kernels import Kernel, KernelSpecError

# Modules the guest loads when the kernel has them as modules (built-ins are skipped), in
# three groups: "root" (virtio transport, 9p, overlayfs: needed to mount the root; the
# architecture's ``Arch.root_modules``) is loaded first; then "disk" (virtio-blk and ext4 for the
# scratch disk that becomes TMPDIR) and "vhost" (what the vhost family needs) load in parallel
# while the root is being mounted.
MODULE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("root", host_arch().root_modules),
    ("disk", ("virtio_blk", "crc32c_generic", "ext4")),
    ("vhost", ("tun", "vhost_net", "vhost_vsock", "vhost_scsi")),
)


def module_groups(arch: Arch) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (("root", arch.root_modules), *MODULE_GROUPS[1:])
BUSYBOX_APPLETS = ("sh", "mount", "umount", "insmod", "mkdir", "cat", "echo", "poweroff", "chroot", "sync",
                   "sleep", "ls", "mknod", "ln", "cp", "switch_root", "cpio")


@record(frozen=True)
class ModuleSet:
    order: tuple[str, ...]  # file names in load order
    files: dict[str, Path]  # file name -> path in the kernel's modules dir


def _norm(name: str) -> str:
    return name.replace("-", "_")


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            return _norm(base[: -len(suffix)])
    return _norm(base)


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """module name -> (relative path, dependency paths), from modules.dep."""
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, deps = line.partition(":")
        out[_module_name(path)] = (path.strip(), deps.split())
    return out


def resolve_modules(moddir: Path, wanted: tuple[str, ...]) -> ModuleSet:
    """Wanted modules and their dependencies, dependencies first; built-ins skipped."""
    dep_file = moddir / "modules.dep"
    if not dep_file.exists():
        if shutil.which("depmod") is None:
            raise KernelSpecError(f"{moddir} has no modules.dep and depmod is not installed (apt-get install kmod)")
        base = moddir.parent.parent.parent
        subprocess.run(["depmod", "-b", str(base), moddir.name], check=True, capture_output=True)
    deps = parse_modules_dep(dep_file.read_text())
    order: list[str] = []
    files: dict[str, Path] = {}

    def visit(rel: str) -> None:
        name = rel.rsplit("/", 1)[-1]
        if name in files:
            return
        entry = deps.get(_module_name(rel))
        for d in entry[1] if entry else []:
            visit(d)
        files[name] = moddir / rel
        order.append(name)

    for mod in wanted:
        entry = deps.get(_norm(mod))
        if entry is not None:
            visit(entry[0])
    return ModuleSet(tuple(order), files)


def decompressed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        if shutil.which("zstd") is None:
            raise KernelSpecError(f"{path.name} is zstd-compressed and zstd is not installed")
        return subprocess.run(["zstd", "-qdc", str(path)], check=True, capture_output=True).stdout
    if path.name.endswith(".gz"):
        import gzip

        return gzip.decompress(data)
    return data


def loaded_name(file_name: str) -> str:
    for suffix in (".xz", ".zst", ".gz"):
        file_name = file_name.removesuffix(suffix)
    return file_name


class Cpio:
    """A minimal newc ("070701") archive writer."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1) -> None:
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        self.ino += 1
        hdr = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        blob = hdr + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4)
        blob += data + b"\0" * (-len(data) % 4)
        self.parts.append(blob)

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755, nlink=2)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def busybox_path() -> Path:
    """A statically linked busybox (a dynamic one has an ELF interpreter path near the start)."""
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        p = Path(cand)
        if p.exists() and b"/ld-linux" not in p.read_bytes()[:4096]:
            return p
    raise KernelSpecError("a static busybox is needed for the guest initramfs (apt-get install busybox-static)")


def guest_init() -> bytes:
    return resources.files("conformance.vm").joinpath("guest_init.sh").read_bytes()


def grouped(moddir: Path | None, arch: Arch | None = None) -> list[tuple[str, ModuleSet]]:
    """Each group's modules not loaded by an earlier group.  A background group that
    shares a dependency with another background group is merged into it (two loaders
    must never race for one module)."""
    groups = module_groups(arch or host_arch())
    if moddir is None:
        return [(name, ModuleSet((), {})) for name, _ in groups]
    root_name, root_wanted = groups[0]
    root = resolve_modules(moddir, root_wanted)
    out: list[tuple[str, ModuleSet]] = [(root_name, root)]
    for name, wanted in groups[1:]:
        ms = resolve_modules(moddir, wanted)
        full = set(ms.order)
        order = tuple(m for m in ms.order if m not in root.files)
        files = {m: ms.files[m] for m in order}
        for i, (other_name, other) in enumerate(out[1:], 1):
            if full & set(other.order):  # shared dependency: load both in one sequence
                merged = other.order + tuple(m for m in order if m not in other.files)
                out[i] = (other_name, ModuleSet(merged, {**other.files, **files}))
                order, files = (), {}
                break
        out.append((name, ModuleSet(order, files)))
    return out


def build(kernel: Kernel, out: Path, busybox: Path | None = None) -> Path:
    """Build (or reuse) the initramfs for kernel at out, with busybox (the host's static one by
    default: a guest of another architecture gets its root's); returns its path (older ones for the
    same label are removed)."""
    groups = grouped(kernel.modules, kernel.arch)
    init = guest_init()
    busybox = busybox or busybox_path()
    listing = "\n".join(f"{g}:{','.join(ms.order)}" for g, ms in groups)
    # Keyed by the image too: a rebuilt tree's modules have the same names, not the same bytes.
    key = hashlib.sha256(init + busybox.read_bytes()[:1 << 16] + listing.encode()
                         + kernel.digest.encode()).hexdigest()[:12]
    target = out.with_name(f"{out.stem}-{key}.cpio")
    if target.exists():
        os.utime(target)  # in use: pruning (below) spares what was used within the hour
        return target
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "newroot", "lower", "upper", "kc", "mods"):
        c.dir(d)
    c.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in BUSYBOX_APPLETS:
        c.symlink(f"bin/{applet}", "busybox")
    for group, ms in groups:
        names = []
        for name in ms.order:
            loaded = loaded_name(name)
            c.file(f"mods/{loaded}", decompressed(ms.files[name]))
            names.append(loaded)
        c.file(f"mods/{group}.order", ("\n".join(names) + "\n").encode())
    c.file("init", init, 0o755)
    c.file("kver", (kernel.release + "\n").encode())
    target.parent.mkdir(parents=True, exist_ok=True)
    _prune(target.parent.glob(f"{out.stem}-*.cpio"))
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")  # concurrent builders never share one
    try:
        tmp.write_bytes(c.finish())
        tmp.rename(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


PRUNE_AFTER_S = 3600  # an archive of the same kernel not used for this long is another (older) kconform's


def _prune(archives: Iterable[Path]) -> None:
    """Remove the kernel's other archives, unless used within the hour: another run on this machine (another
    checkout, another init script) may be about to boot one it just chose."""
    now = time.time()
    for old in archives:
        try:
            if now - old.stat().st_mtime > PRUNE_AFTER_S:
                old.unlink()
        except FileNotFoundError:
            pass
