"""The guest root of another architecture (conformance/vm/rootfs.py), without building one: the cache's
locks and leftovers, the exact package selection, the safe unpacking of .deb files and the
byte-compilation's independence from the host's /etc."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.host import arch
from conformance.vm import rootfs
from conformance.vm.errors import KernelSpecError


@pytest.fixture(autouse=True)
def _held() -> Iterator[None]:
    """Locks this test's process takes on roots are dropped after it (hold() keeps them for the process)."""
    before = dict(rootfs._HELD)
    yield
    for path, fd in list(rootfs._HELD.items()):
        if path not in before:
            os.close(fd)
            del rootfs._HELD[path]


def _root(path: Path, age_s: float = 0) -> Path:
    (path / "usr/bin").mkdir(parents=True)
    (path / rootfs.DONE).write_text("{}")
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(proc.stdout)
    assert not Path(f"/proc/{pid}").exists()
    return pid


# --------------------------------------------------------------------------- locks, leftovers, pruning


def test_prune_leaves_a_root_a_running_guest_holds(tmp_path: Path) -> None:
    old = rootfs.KEEP_S + 60
    keep = _root(tmp_path / "arm64-trixie-000000000000")
    held = _root(tmp_path / "arm64-trixie-111111111111", old)
    unused = _root(tmp_path / "arm64-trixie-222222222222", old)
    recent = _root(tmp_path / "arm64-trixie-333333333333")
    # another process boots guests on "held" (a shared lock for as long as it runs)
    guest = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                              f"fd = os.open({str(held)!r}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_SH)\n"
                              "print('held', flush=True)\ntime.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert guest.stdout is not None and guest.stdout.readline() == "held\n"
        rootfs._prune(tmp_path, "arm64-trixie", keep)
        assert (held / rootfs.DONE).exists(), "a root in use was removed"
        assert not unused.exists() and (recent / rootfs.DONE).exists() and keep.exists()
        assert not list(tmp_path.glob(f"*{rootfs.PART}*")), "the removal left its tree aside"
    finally:
        guest.kill()
        guest.wait()
    rootfs._prune(tmp_path, "arm64-trixie", keep)
    assert not held.exists(), "no longer in use and old: removed"


def test_hold_takes_a_shared_lock_on_a_finished_root_only(tmp_path: Path) -> None:
    target = tmp_path / "arm64-trixie-444444444444"
    assert not rootfs.hold(target)
    target.mkdir()
    assert not rootfs.hold(target), "a root without its marker is not finished"
    (target / rootfs.DONE).write_text("{}")
    assert rootfs.hold(target) and rootfs.hold(target)
    fd = os.open(target, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # other guests share it
    finally:
        os.close(fd)


def test_work_directories_of_killed_builds_are_removed(tmp_path: Path) -> None:
    ns, dead = rootfs._pid_ns(), _dead_pid()
    names = {"arm64-trixie-aaaaaaaaaaaa.part-{ns}-{dead}": False, "arm64-trixie-aaaaaaaaaaaa.part-{dead}": False,
             "arm64-trixie-bbbbbbbbbbbb.part-{ns}-{me}": True,  # this process: still building
             "arm64-trixie-cccccccccccc.part-1-{dead}": True,  # another pid namespace: its pids mean nothing here
             "arm64-bookworm-dddddddddddd.part-{ns}-{dead}": True}  # another release's (another lock)
    for name in names:
        (tmp_path / name.format(ns=ns, dead=dead, me=os.getpid()) / "root").mkdir(parents=True)
    rootfs.remove_leftovers(tmp_path, "arm64-trixie")
    for name, kept in names.items():
        assert (tmp_path / name.format(ns=ns, dead=dead, me=os.getpid())).exists() == kept, name
    assert rootfs.part_of(tmp_path / "x").name == f"x.part-{ns}-{os.getpid()}"


def test_a_root_left_without_its_marker_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build killed after its rename-free steps, or an older removal cut short, leaves the target (or the
    Debian part) without DONE: the next build replaces it instead of failing on it."""
    monkeypatch.setattr(rootfs, "check", lambda a: None)
    monkeypatch.setattr(rootfs, "release", lambda a: "trixie")
    monkeypatch.setattr(rootfs, "cache_dir", lambda: tmp_path)
    built: list[str] = []

    def build(kind: str, target: Path) -> dict[str, object]:
        part = rootfs.part_of(target)
        (part / "bin").mkdir(parents=True)
        (part / "bin/busybox").write_text(kind)
        (part / rootfs.DONE).write_text(json.dumps({"packages": 1, "bytes": 1, "build_s": 0, "download_s": 0,
                                                    "pyc": ""}))
        part.rename(target)  # as the real builds do: fails on a non-empty directory
        built.append(kind)
        return {"packages": 1, "bytes": 1, "build_s": 0, "download_s": 0, "pyc": ""}

    monkeypatch.setattr(rootfs, "_build_base", lambda a, c, target, say: build("base", target))
    monkeypatch.setattr(rootfs, "_build", lambda a, base, target, say: build("root", target))
    roots = tmp_path / "roots"
    target = roots / f"arm64-trixie-{rootfs.source_digest()}"
    (target / "usr/lib").mkdir(parents=True)
    (target / "usr/lib/half-written").write_text("")
    recipe = hashlib.sha256(f"{rootfs.FORMAT} {rootfs.PACKAGES} {rootfs.BUILD_PACKAGES}".encode())
    base = roots / "base" / f"arm64-trixie-{recipe.hexdigest()[:12]}"
    (base / "root").mkdir(parents=True)  # the Debian part, also without its marker
    r = rootfs.ensure(arch.ARM64, say=lambda m: None)
    assert built == ["base", "root"] and r.path == target
    assert (target / rootfs.DONE).exists() and not (target / "usr/lib/half-written").exists()
    assert (base / rootfs.DONE).exists() and not (base / "root").exists()
    assert target in rootfs._HELD
    assert not list(roots.glob(f"*{rootfs.PART}*")) and not list((roots / "base").glob(f"*{rootfs.PART}*"))
    assert rootfs.ensure(arch.ARM64, say=lambda m: None) == r and built == ["base", "root"]


# --------------------------------------------------------------------------- which packages


SIMULATION = """\
The following NEW packages will be installed:
  dash libc6 python3
Inst gcc-14-base (14.2.0-19 Debian:13.8/stable [arm64])
Conf gcc-14-base (14.2.0-19 Debian:13.8/stable [arm64])
Inst libc6 (2.41-12+deb13u5 Debian:13.8/stable [arm64]) []
Inst libattr1 (1:2.5.2-3 Debian:13.8/stable [arm64])
Inst libpcre2-8-0 (10.46-1~deb13u3 Debian:13.8/stable, Debian-Security:13/stable-security [arm64])
Inst dash [0.5.11-1] (0.5.12-12 Debian:13.8/stable [arm64])
"""


def test_only_the_packages_of_the_current_resolution_are_unpacked(tmp_path: Path) -> None:
    wanted = rootfs.parse_simulation(SIMULATION)
    assert wanted == {"gcc-14-base": "14.2.0-19", "libc6": "2.41-12+deb13u5", "libattr1": "1:2.5.2-3",
                      "libpcre2-8-0": "10.46-1~deb13u3", "dash": "0.5.12-12"}
    have = ["gcc-14-base_14.2.0-19_arm64.deb", "libc6_2.41-12+deb13u5_arm64.deb", "libattr1_1%3a2.5.2-3_arm64.deb",
            "libpcre2-8-0_10.46-1~deb13u3_arm64.deb", "dash_0.5.12-12_arm64.deb"]
    stale = ["libc6_2.41-12+deb13u9_arm64.deb",  # newer than the resolution's (a mirror rolled back, pinned)
             "libc6_2.41-12_arm64.deb", "dash_0.5.9-1_arm64.deb",  # older
             "libfoo1_1.0-1_arm64.deb"]  # no longer a dependency
    for f in (*have, *stale):
        (tmp_path / f).write_text("")
    assert [p.name for p in rootfs.select_debs(tmp_path, wanted)] == sorted(have)
    assert sorted(p.name for p in tmp_path.glob("*.deb")) == sorted(have), "stale downloads are removed"
    (tmp_path / have[0]).unlink()
    with pytest.raises(KernelSpecError, match=re.escape("did not download gcc-14-base 14.2.0-19")):
        rootfs.select_debs(tmp_path, wanted)
    with pytest.raises(KernelSpecError, match="resolved no package"):
        rootfs.parse_simulation("E: nothing\n")


# --------------------------------------------------------------------------- unpacking


def _ar_member(name: str, data: bytes) -> bytes:
    head = f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode()
    return head + data + (b"\n" if len(data) % 2 else b"")


def _deb(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A .deb whose data.tar holds exactly members (names as given, unchecked): dpkg-deb passes it on."""
    def tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as t:
            for info, data in entries:
                info.size = len(data) if info.isreg() else 0
                t.addfile(info, io.BytesIO(data) if info.isreg() else None)
        return buf.getvalue()

    ctl = tarfile.TarInfo("./control")
    control = tar([(ctl, b"Package: t\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n")])
    path.write_bytes(b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n") + _ar_member("control.tar.gz", control)
                     + _ar_member("data.tar.gz", tar(members)))
    return path


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1_700_000_000
    return info


def test_unpacking_never_writes_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    first = _deb(tmp_path / "a.deb", [
        (_entry("./usr/share/", tarfile.DIRTYPE, mode=0o755), b""),
        (_entry("./usr/share/abs", tarfile.SYMTYPE, str(outside)), b""),  # absolute: the guest's own path
        (_entry("./usr/share/up", tarfile.SYMTYPE, "../../../../../.."), b""),  # above the root
        (_entry("./usr/share/tool", tarfile.SYMTYPE, str(outside / "victim")), b""),
        (_entry("./usr/share/in", tarfile.SYMTYPE, "../lib"), b""),  # inside: followed as dpkg does
    ])
    second = _deb(tmp_path / "b.deb", [
        (_entry("./usr/share/abs/f1"), b"one"),
        (_entry("./usr/share/abs/sub/", tarfile.DIRTYPE, mode=0o755), b""),
        (_entry("./usr/share/up/f2"), b"two"),
        (_entry("./usr/share/up/../../f3"), b"three"),
        (_entry("./usr/share/tool", mode=0o4755), b"#!/bin/sh\n"),  # replaces the link, not its target
        (_entry("./usr/share/in/f4"), b"four"),
        (_entry("/absolute-name"), b"five"),
        (_entry("./usr/share/hard", tarfile.LNKTYPE, "./usr/share/abs/f1"), b""),
    ])
    rootfs._unpack([first, second], root, lambda m: None, "test")
    assert list(outside.iterdir()) == [], "a write went through a link out of the root"
    inner = root / str(outside).lstrip("/")
    assert (inner / "f1").read_bytes() == b"one" and (inner / "sub").is_dir()
    assert (root / "f2").read_bytes() == b"two" and (root / "f3").read_bytes() == b"three"
    tool = root / "usr/share/tool"
    assert not tool.is_symlink() and tool.read_bytes() == b"#!/bin/sh\n"
    assert tool.stat().st_mode & 0o7777 == 0o755, "no set-id file in the host's cache"
    assert (root / "usr/lib/f4").read_bytes() == b"four" and (root / "usr/share/in").is_symlink()
    assert (root / "absolute-name").read_bytes() == b"five"
    assert os.path.samefile(root / "usr/share/hard", inner / "f1")
    assert os.readlink(root / "usr/share/abs") == str(outside), "links stay what the package says (for the guest)"
    assert (root / "usr/share/tool").stat().st_mtime == 1_700_000_000


def test_inside_resolves_links_as_the_guest_does(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "usr/lib/loop").symlink_to("/usr/lib/loop")
    (tmp_path / "usr/lib/etc").symlink_to("/etc")
    assert rootfs.inside(tmp_path, "/lib/x") == tmp_path / "usr/lib/x"
    assert rootfs.inside(tmp_path, "lib/../../../../x") == tmp_path / "x"  # .. of usr/lib, then clamped
    assert rootfs.inside(tmp_path, "lib/etc/p", follow_last=False) == tmp_path / "etc/p"
    assert rootfs.inside(tmp_path, "lib/etc", follow_last=False) == tmp_path / "usr/lib/etc"
    with pytest.raises(KernelSpecError, match="too many levels"):
        rootfs.inside(tmp_path, "usr/lib/loop/x")


# --------------------------------------------------------------------------- byte-compiling


def test_byte_compilation_reads_the_roots_files_not_the_hosts_etc(tmp_path: Path) -> None:
    """Debian's python3.X/sitecustomize.py links to /etc/python3.X/: compiled on the host, that is the
    host's file (or none); the root's own must be compiled, whatever the host's /etc holds."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"  # the host's: compiled by the host's Python
    root = tmp_path / "root"
    lib, etc = root / "usr/lib" / f"python{version}", root / "etc" / f"python{version}"
    lib.mkdir(parents=True)
    etc.mkdir(parents=True)
    source = "# the root's own\nROOT_SITECUSTOMIZE = 'a string the host does not have' * 3\n"
    (etc / "sitecustomize.py").write_text(source)
    (lib / "sitecustomize.py").symlink_to(f"/etc/python{version}/sitecustomize.py")
    (lib / "plain.py").write_text("X = 1\n")
    said = rootfs._byte_compile(arch.ARM64, root, version, [lib], lambda m: None)
    assert "host's Python" in said
    link = lib / "sitecustomize.py"
    assert not os.readlink(link).startswith("/") and link.resolve() == (etc / "sitecustomize.py").resolve()
    tag = sys.implementation.cache_tag
    pyc = (lib / "__pycache__" / f"sitecustomize.{tag}.pyc").read_bytes()
    assert int.from_bytes(pyc[12:16], "little") == len(source.encode()), "compiled from another file"
    assert (lib / "__pycache__" / f"plain.{tag}.pyc").exists()
