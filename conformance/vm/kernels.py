"""Kernel specs, the kernel cache, and fetching Debian kernels.

A spec names a kernel to boot:

* ``debian:6.1``, ``debian:6.12``: the newest matching Debian package
  (``linux-image-6.1.0-N-amd64-unsigned``, ``linux-image-6.12.N+deb12-amd64-unsigned``);
* ``debian:6.1.0-56``, ``debian:6.12.117+deb12``: that exact ABI;
* ``/path/vmlinuz:/path/lib/modules/<release>``: a local image and its modules directory;
* ``/path/root``: a directory holding ``boot/vmlinuz-*`` and ``lib/modules/*`` (an extracted package).

Debian packages are downloaded with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into the cache; nothing is installed into /boot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class KernelSpecError(ValueError):
    """A spec that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel: image, modules and its release string."""

    label: str  # short, file-system safe name used for result directories
    vmlinuz: Path
    modules: Path | None  # lib/modules/<release>, None when the image has everything built in
    release: str


def cache_dir() -> Path:
    env = os.environ.get("KCONFORM_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/kconform")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kconform"


def kernels_dir() -> Path:
    return cache_dir() / "kernels"


DEBIAN_SERIES = {
    "6.1": re.compile(r"^linux-image-(6\.1\.0-\d+)-amd64-unsigned$"),
    "6.12": re.compile(r"^linux-image-(6\.12\.\d+\+deb12)-amd64-unsigned$"),
}
DEBIAN_EXACT = re.compile(r"^(\d+\.\d+(?:\.\d+)?(?:-\d+)?(?:\+deb\d+)?)$")


def _version_key(abi: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", abi))


def debian_package(spec_version: str, available: list[str]) -> str:
    """Package name for ``debian:<spec_version>`` among the available package names."""
    series = DEBIAN_SERIES.get(spec_version)
    if series is not None:
        abis = [m.group(1) for name in available if (m := series.match(name))]
        if not abis:
            raise KernelSpecError(f"no Debian package for kernel series {spec_version} in the apt sources")
        return f"linux-image-{max(abis, key=_version_key)}-amd64-unsigned"
    if DEBIAN_EXACT.match(spec_version):
        name = f"linux-image-{spec_version}-amd64-unsigned"
        if name not in available:
            raise KernelSpecError(f"Debian package {name} is not in the apt sources")
        return name
    known = ", ".join(f"debian:{s}" for s in DEBIAN_SERIES)
    raise KernelSpecError(f"unknown Debian kernel {spec_version!r} (known series: {known}, or an exact ABI)")


def _apt_candidates() -> list[str]:
    if not shutil.which("apt-cache"):
        raise KernelSpecError("apt-cache not found: debian: kernel specs need a Debian host")
    out = _run(["apt-cache", "search", "--names-only", r"^linux-image-6\.[0-9]+.*-amd64-unsigned$"])
    names = [line.split(" ", 1)[0] for line in out.splitlines()]
    if not names and os.geteuid() == 0:
        _run(["apt-get", "update", "-q"])
        out = _run(["apt-cache", "search", "--names-only", r"^linux-image-6\.[0-9]+.*-amd64-unsigned$"])
        names = [line.split(" ", 1)[0] for line in out.splitlines()]
    return names


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KernelSpecError(f"{cmd[0]} failed: {e}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise KernelSpecError(f"{' '.join(cmd[:3])} failed: {last}")
    return proc.stdout


def _from_root(root: Path, label: str) -> Kernel:
    images = sorted((root / "boot").glob("vmlinuz-*"))
    mods = sorted((root / "lib" / "modules").glob("*")) if (root / "lib" / "modules").is_dir() else []
    if not images:
        raise KernelSpecError(f"{root}: no boot/vmlinuz-* in it")
    release = images[-1].name.removeprefix("vmlinuz-")
    moddir = root / "lib" / "modules" / release
    if not moddir.is_dir():
        moddir = mods[-1] if mods else moddir
    return Kernel(label, images[-1], moddir if moddir.is_dir() else None, release)


def _check_image(path: Path) -> None:
    if not path.is_file():
        raise KernelSpecError(f"kernel image {path} does not exist")
    try:
        with path.open("rb") as f:
            head = f.read(0x210)
    except OSError as e:
        raise KernelSpecError(f"kernel image {path} is not readable: {e.strerror}") from None
    is_bzimage = len(head) >= 0x206 and head[0x202:0x206] == b"HdrS"
    if not is_bzimage and not head.startswith(b"\x7fELF"):
        raise KernelSpecError(f"{path} is not a kernel image (no bzImage header, not ELF)")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def cached(spec: str) -> Kernel | None:
    """The kernel for a debian: spec if it is already in the cache."""
    if not spec.startswith("debian:"):
        return None
    want = spec.removeprefix("debian:")
    found = []
    for root in sorted(kernels_dir().glob("linux-image-*")) if kernels_dir().is_dir() else []:
        abi = root.name.removeprefix("linux-image-").removesuffix("-amd64-unsigned")
        series = DEBIAN_SERIES.get(want)
        if (series and series.match(root.name)) or abi == want:
            found.append((abi, root))
    if not found:
        return None
    abi, root = max(found, key=lambda x: _version_key(x[0]))
    return _from_root(root, f"debian-{_safe(abi)}")


def fetch_debian(spec: str) -> Kernel:
    version = spec.removeprefix("debian:")
    package = debian_package(version, _apt_candidates())
    root = kernels_dir() / package
    if not (root / "boot").is_dir():
        debs = cache_dir() / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for old in debs.glob(f"{package}_*.deb"):
            old.unlink()
        _run(["apt-get", "download", "-q", package], cwd=debs)
        deb = next(iter(sorted(debs.glob(f"{package}_*.deb"))), None)
        if deb is None:
            raise KernelSpecError(f"apt-get download {package} produced no .deb")
        tmp = root.with_name(root.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        tmp.rename(root)
        deb.unlink()
    abi = package.removeprefix("linux-image-").removesuffix("-amd64-unsigned")
    return _from_root(root, f"debian-{_safe(abi)}")


def resolve(spec: str, fetch: bool = True) -> Kernel:
    """Turn a spec into a bootable Kernel (downloading Debian packages when allowed)."""
    if spec.startswith("debian:"):
        k = cached(spec)
        if k is not None:
            return k
        if not fetch:
            raise KernelSpecError(f"{spec} is not in the cache (kconform kernels fetch {spec})")
        return fetch_debian(spec)
    if ":" in spec and not Path(spec).exists():
        image_s, _, mods_s = spec.partition(":")
        image, mods = Path(image_s), Path(mods_s)
        _check_image(image)
        if not mods.is_dir():
            raise KernelSpecError(f"modules directory {mods} does not exist")
        release = mods.name
        return Kernel(_safe(release), image, mods, release)
    path = Path(spec)
    if path.is_dir():
        k = _from_root(path, _safe(path.name))
        _check_image(k.vmlinuz)
        return k
    if path.exists():
        _check_image(path)
        return Kernel(_safe(path.name), path, None, path.name.removeprefix("vmlinuz-"))
    raise KernelSpecError(
        f"unknown kernel spec {spec!r} (use debian:6.1, debian:6.12, /path/vmlinuz:/path/modules or a directory)"
    )


def list_cached() -> list[Kernel]:
    d = kernels_dir()
    if not d.is_dir():
        return []
    out = []
    for root in sorted(d.glob("linux-image-*")):
        if root.name.endswith(".part"):
            continue
        abi = root.name.removeprefix("linux-image-").removesuffix("-amd64-unsigned")
        try:
            out.append(_from_root(root, f"debian-{_safe(abi)}"))
        except KernelSpecError:
            continue
    return out
