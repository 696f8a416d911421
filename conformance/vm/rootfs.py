"""The guest root of another architecture: a minimal Debian root holding this very kconform.

A guest of the host's architecture runs the host's own root; one of another architecture cannot,
so kconform prepares, once, a root of that architecture's Debian packages:

* the packages (python3, pytest, pytest-xdist, the cffi backend, junit-xml, a shell, coreutils,
  a static busybox for the initramfs) and their dependencies are downloaded with a private apt
  state (``<cache>/apt/<arch>-<release>/``, one Debian release, nothing of the host's apt read or
  written); exactly the packages of that resolution (by name and version: an older download left in
  the directory is not) are unpacked from ``dpkg-deb --fsys-tarfile`` with every path resolved inside
  the root as the guest will see it (a symbolic link on the way, absolute or not, never leads out of
  it): no maintainer script runs, no emulation, no root privilege; the few things scripts would have
  made (``/bin/sh``, ``/etc/passwd``) are written here;
* kconform's C extension and ``kconform-server`` are cross-compiled from native_helpers/ with
  Debian's cross compiler, against the Python headers of the root's own release (unpacked aside);
* kconform's Python sources are copied in, with the entry points pytest and the shell need;
* the root's Python modules are byte-compiled once: by the host's Python when it is the root's
  version, else by the root's own under QEMU's user mode (an absolute symbolic link among them, such
  as Debian's ``sitecustomize.py``, is made relative first, so the root's file is compiled and never
  the host's).

The root is cached under ``<cache>/roots/<arch>-<release>-<digest>``, the digest taken over
kconform's sources (Python, C, the guest's init) and this recipe, so a changed source builds a new
root; the guest mounts it read-only over 9p with the same throw-away overlay as the host's root.
Every process that boots guests on a root holds a shared lock on it (flock of its directory) while
it lives; an older root is removed only when nobody holds it (and it was unused for KEEP_S).  Builds
run under a lock per architecture and release; what a killed build left (a ``.part-<pid ns>-<pid>``
directory of a process that is gone, a root without its DONE marker) is removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

from conformance.host.arch import Arch
from conformance.host.records import record
from conformance.vm import debian
from conformance.vm.errors import KernelSpecError
from conformance.vm.kernels import cache_dir

FORMAT = "kconform-root-2"  # bump when the recipe below changes what a root holds
PACKAGES = ("python3", "python3-pytest", "python3-pytest-xdist", "python3-cffi-backend", "python3-junit.xml", "dash",
            "coreutils", "procps", "busybox-static")
BUILD_PACKAGES = ("libpython3-dev",)  # the headers of the root's Python: unpacked aside, never into the root
DONE = ".kconform-root.json"
SITE = "usr/lib/python3/dist-packages"
KCONFORM = "/usr/bin/kconform"
PYTHON = "/usr/bin/python3"  # the root's interpreter (its python3 package)
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
    from conformance.suite import registry

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

    def resolve(self, packages: tuple[str, ...]) -> dict[str, str]:
        """Package name -> version of packages and everything they depend on, as apt resolves them now
        (simulated: the dpkg status is empty, nothing counts as installed)."""
        out = self.run("apt-get", "-o", "Debug::NoLocking=1", "-s", "install", "-q", "--no-install-recommends",
                       *packages)
        return parse_simulation(out)

    def download_closure(self, packages: tuple[str, ...], dest: Path, say: Progress) -> list[Path]:
        """The .deb files of packages and everything they depend on, in dest: exactly those of the
        current resolution (an older version or a package no longer needed, left in dest by an earlier
        build, is removed, never unpacked)."""
        (dest / "partial").mkdir(parents=True, exist_ok=True)
        wanted = self.resolve(packages)

        def progress() -> None:
            n = len(list(dest.glob("*.deb")))
            say(f"  {n} packages downloaded")

        self.run("apt-get", "-o", f"Dir::Cache::Archives={dest}", "-o", "Debug::NoLocking=1", "install", "-d",
                 "-y", "-q", "--no-install-recommends", *packages, watch=progress)
        return select_debs(dest, wanted)


INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", re.MULTILINE)


def parse_simulation(out: str) -> dict[str, str]:
    """name -> version of each ``Inst`` line of ``apt-get -s install``."""
    found = {m.group(1).split(":", 1)[0]: m.group(2) for m in INST.finditer(out)}
    if not found:
        raise KernelSpecError("apt-get -s install resolved no package")
    return found


def deb_identity(deb: Path) -> tuple[str, str]:
    """(name, version) of an archive named as apt names its downloads: name_version_arch.deb, the
    version's ``:`` written ``%3a``."""
    name, version = ([*deb.stem.split("_"), ""])[:2]
    return name, urllib.parse.unquote(version)


def select_debs(dest: Path, wanted: dict[str, str]) -> list[Path]:
    """The .deb of each wanted package at exactly its version; every other .deb in dest is removed
    (left by an earlier build: an older version, or a package the resolution no longer holds)."""
    chosen: dict[str, Path] = {}
    for deb in sorted(dest.glob("*.deb")):
        name, version = deb_identity(deb)
        if wanted.get(name) == version and name not in chosen:
            chosen[name] = deb
        else:
            deb.unlink(missing_ok=True)
    missing = sorted(f"{n} {v}" for n, v in wanted.items() if n not in chosen)
    if missing:
        raise KernelSpecError(f"apt-get did not download {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''} into {dest}")
    return sorted(chosen.values())


# --------------------------------------------------------------------------- building


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-5:]
        raise KernelSpecError(f"{what} failed: {' | '.join(tail)}")


def _unpack(debs: list[Path], into: Path, say: Progress, what: str) -> None:
    into.mkdir(parents=True, exist_ok=True)
    dirs: dict[str, Path] = {}
    for i, deb in enumerate(debs, 1):
        _extract(deb, into, dirs)
        if i % 20 == 0 or i == len(debs):
            say(f"  {what}: {i} of {len(debs)} packages unpacked")


MAX_LINKS = 40  # symbolic links followed in one path (the kernel's limit)


def inside(root: Path, path: str, follow_last: bool = True) -> Path:
    """Where path reaches in the tree at root when root is ``/``, as the guest resolves it: every
    symbolic link on the way is read and followed inside root (an absolute target starts again at
    root, ``..`` never climbs above it), so the answer is always under root.  The last component is
    followed only with follow_last."""
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        name = todo.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, name)
        if (todo or follow_last) and here.is_symlink():
            links += 1
            if links > MAX_LINKS:
                raise KernelSpecError(f"too many levels of symbolic links in {path} (in {root})")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
            continue
        done.append(name)
    return root.joinpath(*done)


def _extract(deb: Path, root: Path, dirs: dict[str, Path]) -> None:
    """``dpkg-deb -x deb root`` that never writes outside root: each member's directory is resolved
    with inside() (a directory symlink of an earlier package, absolute or relative, is followed within
    the root, as in the guest), an existing last component is replaced rather than written through,
    set-id bits are dropped (the tree stays in the host's cache).  dirs caches resolved directories."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    _extract_member(tar, member, root, dirs)
        except (tarfile.TarError, OSError) as e:
            raise KernelSpecError(f"unpacking {deb.name} failed: {e}") from None
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise KernelSpecError(f"dpkg-deb --fsys-tarfile {deb.name} failed: {' | '.join(tail)}")


def _extract_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: Path, dirs: dict[str, Path]) -> None:
    parts = [p for p in m.name.split("/") if p not in ("", ".")]
    if not parts:
        return  # the archive's "./"
    if parts[-1] == "..":
        raise KernelSpecError(f"bad member name {m.name!r}")
    rel = "/".join(parts[:-1])
    parent = dirs.get(rel)
    if parent is None:
        parent = inside(root, rel)
        parent.mkdir(parents=True, exist_ok=True)  # every existing component is a real directory
        dirs[rel] = parent
    dest = parent / parts[-1]
    mode = m.mode & 0o1777  # no set-user-id or set-group-id file in the host's cache
    if m.isdir():
        if dest.is_symlink() and inside(root, f"{rel}/{parts[-1]}").is_dir():
            return  # a directory link of an earlier package stays (dpkg keeps it too)
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            dest.unlink()
            dirs.clear()
        dest.mkdir(exist_ok=True)
        dest.chmod(mode | (0o700 if os.geteuid() else 0))  # its later members must go in
        return
    if dest.is_dir() and not dest.is_symlink():
        if m.issym():
            return  # a link where a directory already is: the directory stays (as dpkg does)
        raise KernelSpecError(f"{m.name}: a directory is in the way")
    if dest.is_symlink():
        dirs.clear()  # a directory resolved through it may now be elsewhere
    if m.issym():
        dest.unlink(missing_ok=True)
        os.symlink(m.linkname, dest)
    elif m.islnk():
        source = inside(root, m.linkname, follow_last=False)
        dest.unlink(missing_ok=True)
        os.link(source, dest, follow_symlinks=False)
    elif m.isreg():
        dest.unlink(missing_ok=True)
        src = tar.extractfile(m)
        assert src is not None
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out)
            os.fchmod(out.fileno(), mode)
    else:
        return  # devices and fifos: none in the packages a root holds (nor made by dpkg-deb unprivileged)
    os.utime(dest, (m.mtime, m.mtime), follow_symlinks=False)


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
    relative_links(root, dirs)
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


def relative_links(root: Path, dirs: list[Path]) -> None:
    """Absolute symbolic links under dirs made relative: the same file for the guest (its / is root),
    and a host process that reads them (the byte-compilation) reads the root's file, never the host's:
    Debian's sitecustomize.py links to /etc/python3.X/, which the host may lack or hold in another
    version."""
    for d in dirs:
        for dirpath, dirnames, filenames in os.walk(d):
            for name in (*dirnames, *filenames):
                link = Path(dirpath) / name
                if not link.is_symlink() or not (target := os.readlink(link)).startswith("/"):
                    continue
                here = inside(root, str(Path(dirpath).relative_to(root)))  # where the kernel starts ".."
                link.unlink()
                link.symlink_to(os.path.relpath(inside(root, target, follow_last=False), here))


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
    part = part_of(target)
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
    part = part_of(target)
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


# --------------------------------------------------------------------------- the cache: locks, leftovers, pruning


def _pid_ns() -> str:
    """This process's pid namespace: pids are only comparable within one (a container may share the cache)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "x"


PART = ".part-"


def part_of(target: Path) -> Path:
    """This process's work directory for target, beside it (the same filesystem: renamed into place)."""
    part = target.with_name(f"{target.name}{PART}{_pid_ns()}-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    return part


def _gone(owner: str) -> bool:
    """The pid namespace and pid after ".part-" (``<ns>-<pid>``; an older build wrote ``<pid>`` alone) name
    a process of this pid namespace that no longer runs."""
    ns, _, pid = owner.rpartition("-")
    return ns in (_pid_ns(), "") and pid.isdigit() and not Path(f"/proc/{pid}").exists()


def remove_leftovers(directory: Path, prefix: str) -> None:
    """The work directories of builds that were killed (their process is gone), under the build lock."""
    for part in directory.glob(f"{prefix}-*{PART}*"):
        if _gone(part.name.rpartition(PART)[2]) and not part.is_symlink():
            shutil.rmtree(part, ignore_errors=True)


def _discard(path: Path) -> None:
    """path removed, first renamed aside (to a work directory name of this process): a removal cut short
    never leaves a half tree under a name that is used, and the next build removes the rest."""
    if not path.is_symlink() and not path.exists():
        return
    aside = part_of(path)
    try:
        path.rename(aside)
    except OSError:
        aside = path
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


_HELD: dict[Path, int] = {}  # root -> a descriptor of its directory, share-locked while this process lives


def hold(target: Path) -> bool:
    """Share-lock the finished root at target for as long as this process lives (every guest it boots runs
    on it): a prune, which takes the lock exclusively, leaves it alone.  False when there is no finished
    root at target (not built yet, or removed while this waited)."""
    if target in _HELD:
        return True
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a prune that holds it finishes (then it is gone)
        st = os.stat(target, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino) and (target / DONE).exists():
            _HELD[target] = fd
            return True
    except OSError:
        pass
    os.close(fd)
    return False


def _prune(base: Path, prefix: str, keep: Path) -> None:
    """Other roots of the same architecture and release, unused for KEEP_S (an older kconform's) and held by
    no process (see hold()), under the build lock."""
    now = time.time()
    for old in base.glob(f"{prefix}-*"):
        if old == keep or old.suffix == ".lock" or PART in old.name or old.is_symlink() or not old.is_dir():
            continue
        try:
            fd = os.open(old, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if now - os.fstat(fd).st_mtime > KEEP_S:
                _discard(old)  # while locked: a guest starting on it waits, then finds it gone
        except OSError:
            continue  # in use
        finally:
            os.close(fd)


def ensure(arch: Arch, say: Progress = _say) -> GuestRoot:
    """The root for arch, held by this process (hold()): the cached one, or built now (under a lock: one
    build at a time); its Debian part is built once per architecture, release and package list,
    kconform's part per source digest."""
    check(arch)
    codename = release(arch)
    roots = cache_dir() / "roots"
    prefix = f"{arch.debian}-{codename}"
    target = roots / f"{prefix}-{source_digest()}"
    if not hold(target):
        roots.mkdir(parents=True, exist_ok=True)
        with (roots / f"{prefix}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # prunes run under it too: nothing removes target until it ends
            t0 = time.monotonic()
            recipe = hashlib.sha256(f"{FORMAT} {PACKAGES} {BUILD_PACKAGES}".encode()).hexdigest()[:12]
            base = roots / "base" / f"{prefix}-{recipe}"
            remove_leftovers(roots, prefix)
            remove_leftovers(base.parent, prefix)
            if not (base / DONE).exists():
                _discard(base)  # a tree without its marker: a build or removal cut short
                base.parent.mkdir(parents=True, exist_ok=True)
                say(f"building the {arch.debian} guest root's Debian {codename} part in {base}")
                m = _build_base(arch, codename, base, say)
                say(f"  {m['packages']} packages, {int(str(m['bytes'])) >> 20} MB, {m['build_s']} s "
                    f"({m['download_s']} s of it downloading); {m['pyc']}")
                _prune(base.parent, prefix, base)  # an older recipe's (roots hold hard links, not references)
            if not (target / DONE).exists():
                _discard(target)
                say(f"adding kconform {target.name[-12:]} to the {arch.debian} guest root: {target}")
                _build(arch, base, target, say)
                say(f"guest root ready in {time.monotonic() - t0:.1f} s")
                _prune(roots, prefix, target)
            if not hold(target):
                raise KernelSpecError(f"the {arch.debian} guest root {target} cannot be opened and locked")
    os.utime(target)  # used now: not pruned for KEEP_S
    return GuestRoot(target, target / "bin/busybox")
