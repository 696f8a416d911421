"""The guest root of another architecture: a minimal Debian root holding this very kconform.

A guest of the host's architecture runs the host's own root; one of another architecture cannot,
so kconform prepares, once, a root of that architecture's Debian packages:

* the packages (python3, pytest, pytest-xdist, the cffi backend, junit-xml, a shell, coreutils,
  a static busybox for the initramfs) and their dependencies are downloaded with a private apt
  state (``<cache>/apt/<arch>-<release>/``, one Debian release, nothing of the host's apt read or
  written) and unpacked with ``dpkg-deb -x``: no maintainer script runs, no emulation, no root
  privilege; the few things scripts would have made (``/bin/sh``, ``/etc/passwd``) are written here;
* kconform's C extension and ``kconform-server`` are cross-compiled from native_helpers/ with
  Debian's cross compiler, against the Python headers of the root's own release (unpacked aside);
* kconform's Python sources are copied in, with the entry points pytest and the shell need;
* the root's Python modules are byte-compiled on the host when the host's Python is the root's
  version (otherwise the guest compiles what it imports, into its throw-away overlay).

The root is cached under ``<cache>/roots/<arch>-<release>-<digest>``, the digest taken over
kconform's sources (Python, C, the guest's init) and this recipe, so a changed source builds a new
root; the guest mounts it read-only over 9p with the same throw-away overlay as the host's root.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from conformance.records import record
from conformance.vm import debian
from conformance.vm.arch import Arch
from conformance.vm.errors import KernelSpecError
from conformance.vm.kernels import cache_dir

FORMAT = "kconform-root-1"  # bump when the recipe below changes what a root holds
PACKAGES = ("python3", "python3-pytest", "python3-pytest-xdist", "python3-cffi-backend", "python3-junit.xml", "dash",
            "coreutils", "procps", "busybox-static")
BUILD_PACKAGES = ("libpython3-dev",)  # the headers of the root's Python: unpacked aside, never into the root
DONE = ".kconform-root.json"
SITE = "usr/lib/python3/dist-packages"
KCONFORM = "/usr/bin/kconform"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KEEP_S = 3600  # older roots of the same architecture and release are removed after this long unused

Progress = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@record(frozen=True)
class GuestRoot:
    path: Path
    busybox: Path  # the root's static busybox (the guest's initramfs runs it)
    kconform: str = KCONFORM  # the command in the guest
    path_env: str = GUEST_PATH


# --------------------------------------------------------------------------- what is needed


def release(arch: Arch) -> str:
    """The Debian release of the root: $KCONFORM_GUEST_RELEASE, else Debian stable's codename (read from
    its Release file by the kernel indexes' update; kconform needs pytest 8 and pluggy 1.2: bookworm's
    are older)."""
    env = os.environ.get("KCONFORM_GUEST_RELEASE")
    if env:
        return env
    known = cache_dir() / "apt" / arch.debian / "codenames.json"
    with contextlib.suppress(OSError, ValueError):
        codename = json.loads(known.read_text()).get("stable")
        if isinstance(codename, str) and codename:
            return codename
    return "stable"


def cross_gcc(arch: Arch) -> str:
    return f"{arch.multiarch}-gcc"


def tools_missing(arch: Arch) -> list[str]:
    """What the host lacks to build the root, each as 'tool (apt-get install package)'."""
    need = [(cross_gcc(arch), arch.cross_package),
            # the cross C library's start files and link scripts (only recommended by the compiler's package)
            (f"/usr/{arch.multiarch}/lib/crt1.o", f"libc6-dev-{arch.debian}-cross"),
            ("dpkg-deb", "dpkg"), ("apt-get", "apt")]
    if not debian.KEYRING.exists():
        need.append((str(debian.KEYRING), "debian-archive-keyring"))
    return [f"{tool} (apt-get install {pkg})" for tool, pkg in need
            if not (Path(tool).exists() if tool.startswith("/") else shutil.which(tool))]


def check(arch: Arch) -> None:
    """KernelSpecError naming, in one line, every tool the host lacks to build the root."""
    missing = tools_missing(arch)
    if missing:
        raise KernelSpecError(f"a {arch.debian} guest root needs: {', '.join(missing)}")
    if native_dir() is None:
        raise KernelSpecError(f"a {arch.debian} guest needs kconform's C sources (native_helpers/ of a "
                              "source checkout) to build its helpers for that architecture")


# --------------------------------------------------------------------------- kconform's sources


def package_dir() -> Path:
    import conformance

    return Path(conformance.__file__).resolve().parent


def cases_dir() -> Path:
    from conformance import registry

    return registry.cases_dir()


def native_dir() -> Path | None:
    d = package_dir().parent / "native_helpers"
    return d if (d / "build.py").exists() else None


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".py", ".sh", ".c", ".h", ".typed")):
                yield Path(dirpath) / name


@functools.cache
def source_digest() -> str:
    """Of kconform's sources and this recipe: a changed source makes a new root (read once: one process
    boots every guest with one root)."""
    h = hashlib.sha256(f"{FORMAT} {PACKAGES} {BUILD_PACKAGES}".encode())
    roots = [package_dir(), cases_dir(), *([d] if (d := native_dir()) else [])]
    for r in roots:
        for p in _files(r):
            h.update(f"{r.name}/{p.relative_to(r)}\0".encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


# --------------------------------------------------------------------------- the apt state of one release


class ReleaseApt(debian.AptState):
    """The private apt state of one Debian release (main and its security suite), for the root."""

    def __init__(self, root: Path, arch: Arch, codename: str) -> None:
        super().__init__(root, arch)
        self.codename = codename

    def sources(self, codenames: dict[str, str]) -> str:
        main, security = debian.mirrors()
        key = f"[signed-by={debian.KEYRING}]"
        return f"deb {key} {main} {self.codename} main\ndeb {key} {security} {self.codename}-security main\n"

    def update(self, refresh: bool = False, say: Progress = _say) -> None:
        self.setup()
        if self.fresh() and not refresh:
            return
        say(f"updating Debian {self.codename} {self.arch.debian} package indexes (private apt state in {self.root})")
        self.prepare({})
        try:
            self.run("apt-get", "update", "-q")
        except KernelSpecError as e:
            if not list(self.lists.glob("*_Packages*")):
                raise
            say(f"warning: {e}")
        self.stamp.touch()

    def download_closure(self, packages: tuple[str, ...], dest: Path, say: Progress) -> list[Path]:
        """The .deb files of packages and everything they depend on (the dpkg status is empty: nothing
        counts as installed), in dest."""
        (dest / "partial").mkdir(parents=True, exist_ok=True)

        def progress() -> None:
            n = len(list(dest.glob("*.deb")))
            say(f"  {n} packages downloaded")

        self.run("apt-get", "-o", f"Dir::Cache::Archives={dest}", "-o", "Debug::NoLocking=1", "install", "-d",
                 "-y", "-q", "--no-install-recommends", *packages, watch=progress)
        return newest_debs(dest)


def newest_debs(dest: Path) -> list[Path]:
    """The newest .deb of each package in dest (an older one, left by an earlier build, is removed)."""
    best: dict[str, tuple[str, Path]] = {}
    for deb in sorted(dest.glob("*.deb")):
        name, version = ([*deb.stem.split("_"), ""])[:2]
        version = version.replace("%3a", ":")
        if name in best and debian.version_cmp(best[name][0], version) >= 0:
            deb.unlink(missing_ok=True)
            continue
        if name in best:
            best[name][1].unlink(missing_ok=True)
        best[name] = (version, deb)
    return sorted(p for _, p in best.values())


# --------------------------------------------------------------------------- building


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-5:]
        raise KernelSpecError(f"{what} failed: {' | '.join(tail)}")


def _unpack(debs: list[Path], into: Path, say: Progress, what: str) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for i, deb in enumerate(debs, 1):
        _run(["dpkg-deb", "-x", str(deb), str(into)], f"dpkg-deb -x {deb.name}")
        if i % 20 == 0 or i == len(debs):
            say(f"  {what}: {i} of {len(debs)} packages unpacked")


def _python_version(root: Path) -> str:
    """The root's python3 (``3.11``), from the /usr/bin/python3 link its package ships."""
    target = os.readlink(root / "usr/bin/python3") if (root / "usr/bin/python3").is_symlink() else ""
    v = target.rsplit("python", 1)[-1]
    if not v or not (root / "usr/bin" / f"python{v}").exists():
        raise KernelSpecError(f"the guest root has no python3 ({root / 'usr/bin/python3'} -> {target!r})")
    return v


def _settle(root: Path) -> None:
    """What maintainer scripts (and the bootstrap) would have made and the guest needs: the merged /usr
    (/bin, /sbin, /lib links: a program's interpreter is /lib/ld-linux-*), /bin/sh, the mount points."""
    for d in ("bin", "sbin", "lib"):
        top, usr = root / d, root / "usr" / d
        usr.mkdir(parents=True, exist_ok=True)
        if top.is_dir() and not top.is_symlink():  # a package that still ships into /bin
            for item in top.iterdir():
                if not (usr / item.name).exists():
                    item.rename(usr / item.name)
            shutil.rmtree(top)
        if not top.is_symlink():
            top.symlink_to(f"usr/{d}")
    for d in ("proc", "sys", "dev", "run", "tmp", "root", "var/tmp", "etc", "usr/local/bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("tmp", "var/tmp"):
        (root / d).chmod(0o1777)
    sh = root / "bin/sh"
    if not sh.exists() and not sh.is_symlink():
        sh.symlink_to("dash")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:"
                                     "/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "etc/hostname").write_text("kconform\n")


def _copy_kconform(site: Path) -> Path:
    """kconform's Python packages (the installed ones, whatever the install) and its entry points."""
    from importlib import metadata

    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "kconform-server", ".*")
    pkg = site / "conformance"
    shutil.copytree(package_dir(), pkg, ignore=ignore, symlinks=False)
    shutil.copytree(cases_dir(), site / "kconform_cases", ignore=ignore, symlinks=False)
    dist = metadata.distribution("kconform")
    info = site / f"kconform-{dist.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: kconform\nVersion: {dist.version}\n")
    (info / "entry_points.txt").write_text(dist.read_text("entry_points.txt") or "")
    (info / "RECORD").write_text("")
    return pkg


def _cross_compile(arch: Arch, dev: Path, pkg: Path, work: Path) -> None:
    """conformance/_native.abi3.so and conformance/kconform-server for arch."""
    import importlib.util

    src = native_dir()
    assert src is not None
    incs = sorted(dev.glob("usr/include/python3.*"))
    if not incs:
        raise KernelSpecError("the root's Python headers were not found (libpython3-dev unpacked)")
    spec = importlib.util.spec_from_file_location("kc_build_cross", src / "build.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    cwd = Path.cwd()
    os.chdir(src.parent)  # build.py names its sources relative to the working directory
    try:
        spec.loader.exec_module(builder)
        c_file = work / "_native.c"
        with contextlib.redirect_stdout(io.StringIO()):  # cffi says "generating <file>"
            builder.ffibuilder.emit_c_code(str(c_file))
    finally:
        os.chdir(cwd)
    gcc = cross_gcc(arch)
    cflags = list(builder.CFLAGS)
    sources = [str(p) for p in builder.SOURCES]
    _run([gcc, *cflags, "-fPIC", "-shared", f"-I{src}", f"-I{incs[-1]}", f"-I{dev / 'usr/include'}",
          f"-I{dev / 'usr/include' / arch.multiarch}", str(c_file), *sources, "-o", str(pkg / "_native.abi3.so")],
         f"{gcc} (conformance._native)")
    _run([gcc, *cflags, f"-I{src}", *sources, str(src / "server_main.c"), "-o", str(pkg / builder.SERVER)],
         f"{gcc} ({builder.SERVER})")


def qemu_user(arch: Arch) -> str | None:
    """QEMU's user-mode emulator for arch (qemu-user-static), run directly: no binfmt handler needed."""
    return shutil.which(f"qemu-{arch.name}-static") or shutil.which(f"qemu-{arch.name}")


# Never imported by the suite; skipped by the byte-compilation.
COMPILE_SKIP = "/test/|/tests/|/idlelib/|/tkinter/|/lib2to3/|/ensurepip/|/turtledemo/|/pydoc_data/"


def _byte_compile(arch: Arch, root: Path, version: str, dirs: list[Path], say: Progress) -> str:
    """dirs compiled once here, so no guest compiles them at every boot under TCG: by a host Python of
    the root's version when there is one, else by the root's own Python under QEMU's user mode (one
    process: its multiprocessing would start the guest's binary without QEMU)."""
    args = ["-m", "compileall", "-q", "-x", COMPILE_SKIP, *[str(d) for d in dirs if d.is_dir()]]
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    same = sys.executable if host == version else _working(shutil.which(f"python{version}"))
    if same:
        _run([same, *args, "-j", "0"], "compileall")
        return f"byte-compiled by the host's Python {version}"
    emu = qemu_user(arch)
    if emu is None:
        return (f"not byte-compiled (no Python {version} on the host, no qemu-{arch.name}-static: "
                "the guest compiles what it imports)")
    _run([emu, "-L", str(root), str(root / "usr/bin" / f"python{version}"), *args, "-j", "1"],
         "compileall (qemu-user)")
    return f"byte-compiled by the root's Python under {Path(emu).name}"


def _working(python: str | None) -> str | None:
    """python when it runs (a version manager's shim may exist and refuse to run)."""
    if python is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if subprocess.run([python, "-c", "pass"], capture_output=True, timeout=60).returncode == 0:
            return python
    return None


def _meta(path: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        found = json.loads(path.read_text())
        if isinstance(found, dict):
            return found
    return {}


def _build_base(arch: Arch, codename: str, target: Path, say: Progress) -> dict[str, object]:
    """The Debian part (packages unpacked, settled, byte-compiled; the headers beside), shared by every
    kconform digest: <target>/root, <target>/headers."""
    t0 = time.monotonic()
    apt = ReleaseApt(cache_dir() / "apt" / f"{arch.debian}-{codename}", arch, codename)
    apt.update(say=say)
    say(f"  resolving {', '.join(PACKAGES)} and their dependencies")
    debs = apt.download_closure(PACKAGES, apt.root / "debs-root", say)
    dev_debs = [d for d in apt.download_closure(BUILD_PACKAGES, apt.root / "debs-build", say)
                if d.name not in {x.name for x in debs}]
    t_dl = time.monotonic()
    part = target.with_name(f"{target.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    try:
        root = part / "root"
        _unpack(debs, root, say, "root")
        _unpack(dev_debs, part / "headers", say, "headers")
        _settle(root)
        version = _python_version(root)
        if not (root / "bin/busybox").exists():
            raise KernelSpecError("the guest root has no bin/busybox (busybox-static)")
        say(f"  byte-compiling the root's Python {version} modules")
        compiled = _byte_compile(arch, root, version, [root / "usr/lib" / f"python{version}", root / SITE], say)
        meta: dict[str, object] = {
            "format": FORMAT, "arch": arch.debian, "release": codename, "python": version, "packages": len(debs),
            "bytes": sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink()),
            "download_s": round(t_dl - t0, 1), "build_s": round(time.monotonic() - t0, 1), "pyc": compiled}
        (part / DONE).write_text(json.dumps(meta))
        part.rename(target)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return meta


def _build(arch: Arch, base: Path, target: Path, say: Progress) -> dict[str, object]:
    """The base's root (hard links: nothing copied) with this kconform in it, its helpers cross-compiled."""
    t0 = time.monotonic()
    meta = _meta(base / DONE)
    part = target.with_name(f"{target.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    try:
        _run(["cp", "-al", str(base / "root"), str(part)], "cp -al (the base root)")
        say(f"  copying kconform and cross-compiling its helpers with {cross_gcc(arch)}")
        pkg = _copy_kconform(part / SITE)
        with tempfile.TemporaryDirectory(prefix="kconform-cross-") as work:
            _cross_compile(arch, base / "headers", pkg, Path(work))
        (part / KCONFORM.lstrip("/")).write_text(
            "#!/usr/bin/python3\nimport sys\nfrom conformance.cli.main import entry\nsys.exit(entry())\n")
        (part / KCONFORM.lstrip("/")).chmod(0o755)
        say("  byte-compiling kconform")
        _byte_compile(arch, part, str(meta.get("python", "")), [pkg, part / SITE / "kconform_cases"], say)
        meta = {**meta, "kconform_s": round(time.monotonic() - t0, 1)}
        (part / DONE).write_text(json.dumps(meta))
        part.rename(target)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return meta


def _prune(base: Path, prefix: str, keep: Path) -> None:
    """Other roots of the same architecture and release, unused for KEEP_S (an older kconform's)."""
    now = time.time()
    for old in base.glob(f"{prefix}-*"):
        if old == keep or old.suffix == ".lock" or ".part-" in old.name:
            continue
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > KEEP_S:
                shutil.rmtree(old, ignore_errors=True)


def ensure(arch: Arch, say: Progress = _say) -> GuestRoot:
    """The root for arch: the cached one, or built now (under a lock: one build at a time); its Debian
    part is built once per architecture, release and package list, kconform's part per source digest."""
    check(arch)
    codename = release(arch)
    roots = cache_dir() / "roots"
    prefix = f"{arch.debian}-{codename}"
    target = roots / f"{prefix}-{source_digest()}"
    if not (target / DONE).exists():
        roots.mkdir(parents=True, exist_ok=True)
        with (roots / f"{prefix}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            t0 = time.monotonic()
            recipe = hashlib.sha256(f"{FORMAT} {PACKAGES} {BUILD_PACKAGES}".encode()).hexdigest()[:12]
            base = roots / "base" / f"{prefix}-{recipe}"
            if not (base / DONE).exists():
                base.parent.mkdir(parents=True, exist_ok=True)
                say(f"building the {arch.debian} guest root's Debian {codename} part in {base}")
                m = _build_base(arch, codename, base, say)
                say(f"  {m['packages']} packages, {int(str(m['bytes'])) >> 20} MB, {m['build_s']} s "
                    f"({m['download_s']} s of it downloading); {m['pyc']}")
                _prune(base.parent, prefix, base)  # an older recipe's (roots hold hard links, not references)
            if not (target / DONE).exists():
                say(f"adding kconform {target.name[-12:]} to the {arch.debian} guest root: {target}")
                _build(arch, base, target, say)
                say(f"guest root ready in {time.monotonic() - t0:.1f} s")
                _prune(roots, prefix, target)
    os.utime(target)  # in use: not pruned
    return GuestRoot(target, target / "bin/busybox")
