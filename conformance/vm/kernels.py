"""Kernel specs, the kernel cache, and what a kernel must have to run the guest.

A spec names a kernel to boot:

* ``debian:<series>`` (``debian:6.1``, ``debian:7.3``): the newest Debian kernel of that series;
  ``debian:<abi>`` (``debian:7.3.4+deb13``, ``debian:6.1.0-57``): that ABI;
  ``debian:<suite>`` (``stable``, ``testing``, ``unstable``, ``backports``, ``oldstable``, or a codename):
  the newest kernel of that suite (see ``debian.py``);
* a kernel build tree (the architecture's ``Arch.image_in_tree`` and ``.config``; modules installed
  from the tree into the cache when the config builds the guest's needs as modules);
* a modules directory holding ``vmlinuz`` (``usr/lib/modules/<release>`` of the split packaging);
* an extracted package root (``boot/vmlinuz-*`` or ``usr/lib/modules/*/vmlinuz``);
* a kernel image or ELF vmlinux (everything the guest needs built in), or ``IMAGE:MODULES_DIR``.

Every spec is resolved for one architecture (``kconform vm --arch``, the host's by default).
Each kernel gets a short label (``debian-7.3.4``, the tree's directory name, the image's name, with
the architecture's ``label_suffix``) used for its result folder and as ``run.label``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import field, replace
from pathlib import Path

from conformance.host.arch import ARCHES, Arch, host_arch
from conformance.host.records import record
from conformance.vm import debian, images
from conformance.vm.errors import KernelSpecError

__all__ = ["Kernel", "KernelSpecError", "cache_dir", "resolve"]


@record(frozen=True)
class Kernel:
    """A bootable kernel."""

    label: str  # short, file-system safe, stable across runs
    image: Path
    modules: Path | None  # lib/modules/<release>, None when the guest's needs are built in
    release: str  # uname -r in the guest
    config: Path | None = None  # its .config, when one is known on the host
    digest: str = ""  # of the image's bytes: the key of everything cached for it
    spec: str = ""
    arch: Arch = field(default_factory=host_arch)
    long_label: str = ""  # a longer, unique form, used when two kernels share a label

    @property
    def vmlinuz(self) -> Path:
        return self.image


def cache_dir() -> Path:
    env = os.environ.get("KCONFORM_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/kconform")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kconform"


def kernels_dir() -> Path:
    return cache_dir() / "kernels"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


GENERIC_NAMES = ("bzImage", "vmlinuz", "vmlinux", "Image", "zImage", "boot")


def make_kernel(image: Path, modules: Path | None, config: Path | None, spec: str, name: str = "",
                arch: Arch | None = None) -> Kernel:
    """A Kernel for an image, labelled from what the image says about itself."""
    arch = arch or host_arch()
    info = images.inspect(image, arch)
    release = info.release or (modules.name if modules else image.name.removeprefix("vmlinuz-"))
    deb = info.debian_version
    if deb is not None:
        upstream = deb.split(":")[-1].rsplit("-", 1)[0]
        label = f"debian-{upstream}"
        long_label = f"debian-{release.removesuffix('-' + arch.flavour)}"
    else:
        if not name or name in GENERIC_NAMES or name.startswith(("vmlinuz-", "vmlinux-")):
            name = release or image.name
        label = name
        long_label = f"{name}-{info.digest[:8]}"
    return Kernel(_safe(label + arch.label_suffix), image, modules, release, config, info.digest, spec, arch,
                  _safe(long_label + arch.label_suffix))


def unique_labels(ks: Sequence[Kernel]) -> list[Kernel]:
    """Kernels whose label another one shares get their long label; the same image twice is an error."""
    digests = [k.digest for k in ks]
    if len(set(digests)) != len(digests):
        dup = next(k for k in ks if digests.count(k.digest) > 1)
        raise KernelSpecError(f"the same kernel is given twice ({dup.label}: {dup.spec})")
    labels = [k.label for k in ks]
    return [replace(k, label=k.long_label) if labels.count(k.label) > 1 else k for k in ks]


# --------------------------------------------------------------------------- what the guest needs


@record(frozen=True)
class Need:
    what: str
    options: tuple[str, ...]  # all of these, each =y or =m with its module present
    module: dict[str, str]  # option -> module name when it is tristate


GUEST_NEEDS = (
    Need("virtio PCI", ("CONFIG_VIRTIO_PCI",), {"CONFIG_VIRTIO_PCI": "virtio_pci"}),
    Need("9p over virtio", ("CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS"),
         {"CONFIG_NET_9P": "9pnet", "CONFIG_NET_9P_VIRTIO": "9pnet_virtio", "CONFIG_9P_FS": "9p"}),
    Need("overlayfs", ("CONFIG_OVERLAY_FS",), {"CONFIG_OVERLAY_FS": "overlay"}),
    Need("tmpfs", ("CONFIG_TMPFS",), {}),
    Need("devtmpfs", ("CONFIG_DEVTMPFS",), {}),
    Need("an initramfs", ("CONFIG_BLK_DEV_INITRD",), {}),
)


def guest_needs(arch: Arch) -> tuple[Need, ...]:
    return (*GUEST_NEEDS, Need("a serial console", (arch.console_config,), {}))


def config_values(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^(CONFIG_\w+)=(.*)$", text, re.MULTILINE)}


def _has_module(modules: Path | None, name: str) -> bool:
    if modules is None:
        return False
    dep = modules / "modules.dep"
    if dep.exists():
        return re.search(rf"(^|/){re.escape(name)}\.ko(\.\w+)?:", dep.read_text(), re.MULTILINE) is not None
    return any(modules.rglob(f"{name}.ko*"))


def missing_needs(config_text: str, modules: Path | None, arch: Arch | None = None) -> list[str]:
    """The options the guest needs that this configuration lacks (as CONFIG_X, or CONFIG_X=m without the module)."""
    values = config_values(config_text)
    out = []
    for need in guest_needs(arch or host_arch()):
        for opt in need.options:
            v = values.get(opt)
            if v == "y":
                continue
            if v == "m" and opt in need.module and _has_module(modules, need.module[opt]):
                continue
            if v == "m":
                out.append(f"{opt}=m ({'no modules directory' if modules is None else 'module not found'})")
            else:
                out.append(opt)
    return out


def check_needs(k: Kernel) -> None:
    if k.config is None:
        return  # unknown: the boot will tell
    try:
        text = k.config.read_text(errors="replace")
    except OSError:
        return
    missing = missing_needs(text, k.modules, k.arch)
    if missing:
        raise KernelSpecError(f"{k.spec or k.image}: the kernel lacks what the guest needs: {', '.join(missing)}")


# --------------------------------------------------------------------------- path specs


def _tree_modules(tree: Path, image_digest: str, release: str) -> Path | None:
    """The tree's modules, installed with make modules_install into the cache (keyed by the image)."""
    if not (tree / "modules.order").exists() or not (tree / "modules.order").read_text().strip():
        return None
    base = cache_dir() / "tree-modules" / image_digest
    moddir = base / "lib" / "modules" / release
    if (moddir / "modules.dep").exists():
        return moddir
    shutil.rmtree(base, ignore_errors=True)
    proc = subprocess.run(["make", "-s", "-C", str(tree), f"INSTALL_MOD_PATH={base}", "DEPMOD=/sbin/depmod",
                           "modules_install"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not moddir.is_dir():
        last = (proc.stderr.strip().splitlines() or ["no modules directory"])[-1]
        raise KernelSpecError(f"{tree}: make modules_install failed: {last}")
    return moddir


def from_tree(tree: Path, spec: str, arch: Arch) -> Kernel:
    image = tree / arch.image_in_tree
    if not image.exists():
        raise KernelSpecError(f"{tree}: a kernel build tree without {arch.image_in_tree} (run make first)")
    config = tree / ".config"
    info = images.inspect(image, arch)
    values = config_values(config.read_text(errors="replace"))
    modules = _tree_modules(tree, info.digest, info.release) if values.get("CONFIG_MODULES") == "y" else None
    return make_kernel(image, modules, config, spec, tree.resolve().name, arch)


def from_root(root: Path, spec: str, arch: Arch) -> Kernel:
    """An extracted package (either packaging) or a modules directory with vmlinuz in it."""
    if (root / "vmlinuz").is_file():  # usr/lib/modules/<release>
        cfg = root / "config"
        return make_kernel(root / "vmlinuz", root, cfg if cfg.exists() else None, spec, root.name, arch)
    for rel in ("usr/lib/modules", "lib/modules"):
        for moddir in sorted((root / rel).glob("*/vmlinuz")) if (root / rel).is_dir() else []:
            return from_root(moddir.parent, spec, arch)
    boot = sorted((root / "boot").glob("vmlinuz-*")) if (root / "boot").is_dir() else []
    if not boot:
        raise KernelSpecError(f"{root}: not a kernel build tree, modules directory or extracted kernel package "
                              "(no .config with bzImage, vmlinuz, boot/vmlinuz-*)")
    release = boot[-1].name.removeprefix("vmlinuz-")
    image, modules, config = debian.layout(root, release)
    assert image is not None
    return make_kernel(image, modules, config, spec, release, arch)


def _config_near(image: Path) -> Path | None:
    """A bare image inside a build tree (arch/*/boot/bzImage) or next to config-<release>."""
    for parent in image.resolve().parents[:4]:
        if (parent / ".config").exists() and (parent / "Makefile").exists():
            return parent / ".config"
    cfg = image.with_name(image.name.replace("vmlinuz", "config", 1))
    return cfg if cfg != image and cfg.exists() else None


def from_path(spec: str, fetch: bool, refresh: bool, arch: Arch) -> Kernel:
    path = Path(spec)
    if path.is_dir():
        if (path / ".config").exists() and (path / "Makefile").exists():
            return from_tree(path, spec, arch)
        return from_root(path, spec, arch)
    if path.exists():
        info = images.inspect(path, arch)
        # boot/vmlinuz-<release> of an extracted package: its lib/modules/<release> beside it
        near = [d for d in (path.parent.parent / "lib/modules" / info.release,
                            path.parent.parent / "usr/lib/modules" / info.release) if info.release and d.is_dir()]
        return make_kernel(path, near[0] if near else None, _config_near(path), spec, path.name, arch)
    if ":" in spec:
        image_s, _, mods_s = spec.partition(":")
        image, mods = Path(image_s), Path(mods_s)
        images.inspect(image, arch)
        if not mods.is_dir():
            raise KernelSpecError(f"modules directory {mods} does not exist")
        cfg = mods / "config"
        return make_kernel(image, mods, cfg if cfg.exists() else _config_near(image), spec, mods.name, arch)
    raise KernelSpecError(f"unknown kernel spec {spec!r} (use debian:7.3, debian:stable, a build tree, "
                          "a bzImage, a modules directory or IMAGE:MODULES)")


# --------------------------------------------------------------------------- debian specs


def apt_state(arch: Arch | None = None) -> debian.AptState:
    arch = arch or host_arch()
    return debian.AptState(cache_dir() / "apt" / arch.debian, arch)


def debian_root() -> Path:
    return kernels_dir() / "debian"


def _from_debian_root(root: Path, k: debian.DebKernel, spec: str, arch: Arch) -> Kernel:
    image, modules, config = debian.layout(root, k.release)
    if image is None:
        raise KernelSpecError(f"{root}: the {k.packaging.value} package of {k.release} has no kernel image")
    return make_kernel(image, modules, config, spec, "", arch)


def from_debian(spec: str, fetch: bool, refresh: bool, arch: Arch) -> Kernel:
    want = spec.removeprefix("debian:")
    apt = apt_state(arch)
    have = [(k, r) for k, r in debian.cached(debian_root()) if k.flavour == arch.flavour]
    if not refresh and not apt.fresh():
        # Indexes older than a day: a kernel already in the cache is used without the network.
        hits = [k for k, _ in have if k.matches(want)]
        if hits:
            best = debian.newest_first(hits)[0]
            return _from_debian_root(dict((k, r) for k, r in have)[best], best, spec, arch)
    if not fetch:
        raise KernelSpecError(f"{spec} is not in the cache (kconform kernels fetch {spec})")
    if not debian.SERIES.match(want) and not re.match(r"^[\w.+~-]+$", want):
        raise KernelSpecError(f"unknown Debian kernel {want!r}")
    apt.update(refresh=refresh)
    chosen = debian.choose(apt.kernels(), want)
    root = debian.fetch(apt, chosen, debian_root())
    return _from_debian_root(root, chosen, spec, arch)


def list_cached() -> list[Kernel]:
    """Every Debian kernel in the cache, of every architecture kconform knows."""
    out = []
    flavours = {a.flavour: a for a in ARCHES.values()}
    for k, root in debian.newest_first_pairs(debian.cached(debian_root())):
        if k.flavour not in flavours:
            continue
        try:
            out.append(_from_debian_root(root, k, f"debian:{k.abi}", flavours[k.flavour]))
        except KernelSpecError:
            continue
    return out


# --------------------------------------------------------------------------- the table


Resolver = Callable[[str, bool, bool, Arch], Kernel]  # (spec, may fetch, refresh indexes, architecture)
SPEC_KINDS: tuple[tuple[str, Resolver], ...] = (
    ("debian:", from_debian),
    ("", from_path),
)


def resolve(spec: str, fetch: bool = True, refresh: bool = False, arch: Arch | None = None) -> Kernel:
    """Turn a spec into a bootable Kernel of arch (the host's by default), downloading Debian packages
    when allowed."""
    for prefix, how in SPEC_KINDS:
        if spec.startswith(prefix):
            k = how(spec, fetch, refresh, arch or host_arch())
            check_needs(k)
            return k
    raise AssertionError("the last spec kind matches everything")
