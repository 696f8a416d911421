"""The VM runner's pure parts, pinned to console logs captured from real guests."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import itertools
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.host.arch import X86_64, host_arch
from conformance.suite.verdict import Verdict
from conformance.vm import backends, debian, images, initramfs, kernels, runner
from conformance.vm.kernels import Kernel, KernelSpecError

DATA = Path(__file__).parent / "data"
XSD = Path(os.environ.get("KCONFORM_JUNIT_XSD", DATA / "junit-10.xsd"))


def test_markers_from_a_real_boot() -> None:
    marks = runner._markers((DATA / "console-6.1-ok.log").read_text())
    assert list(marks)[:3] == ["init-start", "modules-loaded", "cmd-start"]
    assert marks["cmd-end"] > marks["cmd-start"] > marks["init-start"]


def test_panic_headline_and_excerpt() -> None:
    console = (DATA / "console-6.12-panic.log").read_text()
    ex = runner.excerpt(console)
    assert "Kernel panic - not syncing: sysrq triggered crash" in ex
    assert runner.headline(ex).startswith("[") and "Kernel panic" in runner.headline(ex)


def test_error_junit_is_schema_valid(tmp_path: Path) -> None:
    k = Kernel("debian-test", Path("/nonexistent"), None, "6.12.0-test", None, "0" * 16)
    res = runner.VmResult(k, tmp_path, runner.Outcome.PANIC, detail=runner.excerpt(
        (DATA / "console-6.12-panic.log").read_text()))
    runner._write_error_junit(res)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    err = root.find("testsuite/testcase/error")
    assert err is not None and err.get("message", "").startswith("panic: ")
    if not XSD.exists():
        pytest.skip(f"no schema at {XSD}")
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(tmp_path / "junit.xml"))


def newc_names(blob: bytes) -> list[str]:
    """The member names of a newc ("070701") archive, read here (no cpio tool needed)."""
    names = []
    off = 0
    while off < len(blob):
        assert blob[off:off + 6] == b"070701"
        fields = [int(blob[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name = blob[off + 110: off + 110 + namesize - 1].decode()
        names.append(name)
        off += 110 + namesize
        off += -off % 4
        off += filesize + (-filesize % 4)
        if name == "TRAILER!!!":
            break
    return names


def test_cpio_newc_roundtrip() -> None:
    c = initramfs.Cpio()
    c.dir("bin")
    c.file("bin/x", b"hello", 0o755)
    c.symlink("bin/y", "x")
    names = newc_names(c.finish())
    assert names == ["bin", "bin/x", "bin/y", "TRAILER!!!"]


def test_modules_dep_order() -> None:
    dep = ("kernel/drivers/vhost/vhost_net.ko.xz: kernel/drivers/vhost/vhost.ko.xz kernel/drivers/net/tap.ko.xz\n"
           "kernel/drivers/vhost/vhost.ko.xz: kernel/drivers/vhost/vhost_iotlb.ko.xz\n"
           "kernel/drivers/vhost/vhost_iotlb.ko.xz:\nkernel/drivers/net/tap.ko.xz:\n")
    parsed = initramfs.parse_modules_dep(dep)
    assert parsed["vhost_net"][1] == ["kernel/drivers/vhost/vhost.ko.xz", "kernel/drivers/net/tap.ko.xz"]


def test_resolve_modules_dependencies_first(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n")
    ms = initramfs.resolve_modules(tmp_path, ("a", "missing_builtin"))
    assert ms.order == ("c.ko", "b.ko", "a.ko")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("bogus-spec", "unknown kernel spec"), ("/etc/hostname", "not a kernel image"),
     ("/nonexistent/vmlinuz:/nonexistent/modules", "does not exist")],
)
def test_bad_kernel_specs_exit_2(spec: str, needle: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends.QemuDirect, "check", lambda self: None)
    rc = main(["vm", "--kernel", spec, "--out", "/tmp/kconform-test-out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0]


def test_unreadable_image(tmp_path: Path) -> None:
    img = tmp_path / "vmlinuz"
    img.write_bytes(b"")
    with pytest.raises(KernelSpecError, match="not a kernel image"):
        kernels.resolve(str(img))


def test_module_groups_never_share_a_module() -> None:
    for k in kernels.list_cached():
        groups = initramfs.grouped(k.modules)
        background = [set(ms.order) for _, ms in groups[1:]]
        for i, a in enumerate(background):
            for b in background[i + 1:]:
                assert not a & b, k.label
        assert any("vhost_net" in m for m in groups[-1][1].order) or not background[-1]


# --------------------------------------------------------------------------- Debian indexes


def _index(name: str, suite: str, codename: str) -> list[debian.DebKernel]:
    return debian.parse_packages((DATA / name).read_text(), suite, codename, X86_64)


def test_both_packagings_from_captured_indexes() -> None:
    split = _index("debian-trixie-backports-Packages.txt", "stable-backports", "trixie-backports")
    assert [(k.abi, k.packaging) for k in split] == [("7.3.4+deb13", debian.Packaging.SPLIT)]
    k = split[0]
    assert k.packages == tuple(f"linux-{p}-7.3.4+deb13-amd64=7.3.4-1~bpo13+1" for p in ("binary", "modules", "base"))
    assert k.label == "debian-7.3.4" and k.release == "7.3.4+deb13-amd64" and k.size > 100_000_000
    old = _index("debian-bookworm-security-Packages.txt", "oldstable-security", "bookworm-security")
    # cloud and rt flavours, -dbg and the signed image are not what the guest boots
    assert sorted(k.abi for k in old) == ["6.1.0-57", "6.12.117+deb12"]
    assert all(k.packaging is debian.Packaging.OLD and k.packages[0].endswith(f"-amd64-unsigned={k.version}")
               for k in old)


def _all() -> list[debian.DebKernel]:
    return (_index("debian-trixie-backports-Packages.txt", "stable-backports", "trixie-backports")
            + _index("debian-bookworm-security-Packages.txt", "oldstable-security", "bookworm-security"))


@pytest.mark.parametrize(("want", "abi"), [
    ("7.3", "7.3.4+deb13"), ("7", "7.3.4+deb13"), ("6", "6.12.117+deb12"),
    ("7.3.4+deb13", "7.3.4+deb13"), ("7.3.4+deb13-amd64", "7.3.4+deb13"),
    ("6.1", "6.1.0-57"), ("6.1.0-57", "6.1.0-57"), ("6.12", "6.12.117+deb12"),
    ("backports", "7.3.4+deb13"), ("trixie-backports", "7.3.4+deb13"), ("oldstable", "6.12.117+deb12"),
    ("bookworm", "6.12.117+deb12"),
])
def test_spec_choice(want: str, abi: str) -> None:
    assert debian.choose(_all(), want).abi == abi


@pytest.mark.parametrize(("want", "needle"), [
    ("8.0", "no Debian kernel of series 8.0"), ("bogus", "unknown Debian kernel 'bogus'"),
    ("6.1.0-99", "no Debian kernel with ABI 6.1.0-99"), ("stable", "unknown Debian kernel 'stable'"),
])
def test_bad_debian_specs(want: str, needle: str) -> None:
    with pytest.raises(KernelSpecError, match=needle) as e:
        debian.choose(_all(), want)
    assert "\n" not in str(e.value)


def test_debian_version_order() -> None:
    order = ["6.12.117-1~deb12u1", "6.12.117-1", "6.12.117-2", "6.12.118-1", "7.2.13-1", "7.3.4-1~bpo13+1",
             "7.3.4-1", "1:5.0-1"]
    for a, b in itertools.pairwise(order):
        assert debian.version_cmp(a, b) < 0 < debian.version_cmp(b, a), (a, b)
    assert debian.version_cmp("7.3.4-1", "7.3.4-1") == 0


def test_private_apt_state_options(tmp_path: Path) -> None:
    apt = debian.AptState(tmp_path, X86_64)
    opts = " ".join(apt.options())
    assert f"Dir::Etc::SourceList={tmp_path}/sources.list" in opts and "/etc/apt" not in opts
    assert f"Dir::State::status={tmp_path}/status" in opts
    if debian.KEYRING.exists():
        text = apt.sources({"stable": "trixie", "stable-security": "trixie-security"})
        assert text.splitlines()[0].endswith("debian trixie main")
        assert "debian-security trixie-security main" in text


def test_mirror_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCONFORM_DEBIAN_MIRROR", "http://mirror.example/debian/")
    assert debian.mirrors()[0] == "http://mirror.example/debian"
    monkeypatch.delenv("KCONFORM_DEBIAN_MIRROR")
    assert debian.mirrors()[0] == debian.DEFAULT_MIRROR


def test_cached_debian_kernel_needs_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel in the cache resolves with stale indexes and no apt at all."""
    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path))
    k = _index("debian-trixie-backports-Packages.txt", "stable-backports", "trixie-backports")[0]
    moddir = tmp_path / "kernels/debian" / k.release / "usr/lib/modules" / k.release
    moddir.mkdir(parents=True)
    (moddir / "vmlinuz").write_bytes(_bzimage(_elf(pvh=True), "gzip", version=k.release + " Debian 7.3.4-1~bpo13+1"))
    (moddir / "config").write_text(_GOOD_CONFIG)
    (moddir.parents[3] / debian.META).write_text(json.dumps(dataclasses.asdict(k)))
    monkeypatch.setattr(debian.AptState, "run", lambda *a, **kw: pytest.fail("apt was called"))
    got = kernels.resolve("debian:7.3")
    assert (got.label, got.release, got.config) == ("debian-7.3.4", k.release, moddir / "config")


# --------------------------------------------------------------------------- images


def _elf(pvh: bool, extra: bytes = b"") -> bytes:
    """A minimal ELF64 with one PT_NOTE (a Xen PHYS32_ENTRY note when pvh)."""
    note = struct.pack("<III", 4, 4, 18 if pvh else 1) + b"Xen\0" + struct.pack("<I", 0x1000000)
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1,
                                                              0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, 120, 0, 0, len(note), len(note), 4)
    return ehdr + phdr + note + b"Linux version 6.12.117-test (x@y) #1" + extra


def _compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data)
    if how == "xz":
        return lzma.compress(data, check=lzma.CHECK_CRC32)
    if how == "bzip2":
        return bz2.compress(data)
    if how == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    tool = {"zstd": ["zstd", "-qc"], "lz4": ["lz4", "-qc", "-l"], "lzo": ["lzop", "-qc"]}[how]
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} not installed")
    return subprocess.run(tool, input=data, capture_output=True, check=True).stdout


def _bzimage(elf: bytes, how: str, version: str = "6.12.117-test (x@y) #1", false_magics: bool = True) -> bytes:
    """A bzImage-shaped file: setup header, version string, and setup code full of false magics."""
    setup_sects = 4
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x20F)
    vpos = 0x400
    struct.pack_into("<H", setup, 0x20E, vpos - 0x200)
    setup[vpos:vpos + len(version) + 1] = version.encode() + b"\0"
    if false_magics:  # every magic followed by garbage, as setup code can contain
        for i, (_, magic, _h) in enumerate(images.COMPRESSIONS):
            pos = 0x600 + 32 * i
            setup[pos:pos + len(magic) + 8] = magic + b"\xff" * 8
    payload = _compress(elf, how) + struct.pack("<I", len(elf))
    pm = bytearray(b"\x00" * 0x200)  # decompressor code before the payload
    pm[0x10:0x13] = b"\x1f\x8b\x08"  # and one more false gzip magic there
    struct.pack_into("<II", setup, 0x248, len(pm), len(payload))
    return bytes(setup) + bytes(pm) + payload + b"\0" * 64


@pytest.mark.parametrize("how", ["gzip", "xz", "zstd", "lz4", "lzo", "bzip2", "lzma"])
def test_payload_every_compression(how: str) -> None:
    elf = _elf(pvh=True, extra=os.urandom(4096))
    assert images.payload(_bzimage(elf, how)) == elf


def test_false_magics_without_header_fields() -> None:
    """An image without payload fields is scanned; false magics are skipped, never raised."""
    elf = _elf(pvh=True)
    data = bytearray(_bzimage(elf, "gzip"))
    struct.pack_into("<H", data, 0x206, 0x207)  # boot protocol 2.07: no payload fields
    assert images.payload(bytes(data)) == elf
    assert images.payload(b"\x1f\x8b\x08" + b"\xff" * 100 + b"\xfd7zXZ\x00" + b"\0" * 50) is None


def test_pvh_note_and_release(tmp_path: Path) -> None:
    assert images.has_pvh_note(_elf(pvh=True)) and not images.has_pvh_note(_elf(pvh=False))
    img = tmp_path / "bzImage"
    img.write_bytes(_bzimage(_elf(pvh=True), "gzip", version="7.3.4+deb13-amd64 (d@l) #1 SMP Debian 7.3.4-1~bpo13+1"))
    info = images.inspect(img)
    assert (info.kind, info.release, info.debian_version) == (images.Kind.BZIMAGE, "7.3.4+deb13-amd64",
                                                              "7.3.4-1~bpo13+1")


def test_extract_cache_is_keyed_by_content(tmp_path: Path) -> None:
    """A kernel rebuilt at the same path boots the new build, never a stale ELF."""
    img, cache = tmp_path / "bzImage", tmp_path / "cache"
    first, second = _elf(pvh=True, extra=b"first"), _elf(pvh=True, extra=b"second build")
    img.write_bytes(_bzimage(first, "gzip"))
    a = images.extract(img, cache).elf
    img.write_bytes(_bzimage(second, "gzip"))
    os.utime(img, ns=(1, 1))
    b = images.extract(img, cache).elf
    assert a is not None and b is not None and a != b
    assert a.read_bytes() == first and b.read_bytes() == second


def test_no_pvh_boots_the_bzimage(tmp_path: Path) -> None:
    img = tmp_path / "bzImage"
    img.write_bytes(_bzimage(_elf(pvh=False), "gzip"))
    assert images.extract(img, tmp_path / "c").elf is None
    img.write_bytes(_bzimage(b"not an elf" * 10, "gzip"))
    os.utime(img, ns=(2, 2))
    assert images.extract(img, tmp_path / "c").elf is None


def test_ikconfig_is_found(tmp_path: Path) -> None:
    elf = _elf(pvh=True, extra=b"IKCFG_ST" + gzip.compress(b"CONFIG_9P_FS=y\n") + b"IKCFG_ED")
    img = tmp_path / "bzImage"
    img.write_bytes(_bzimage(elf, "xz"))
    cfg = images.extract(img, tmp_path / "c").config
    assert cfg is not None and cfg.read_text() == "CONFIG_9P_FS=y\n"


# --------------------------------------------------------------------------- trees and needs


_GOOD_CONFIG = "".join(f"{o}=y\n" for n in kernels.guest_needs(host_arch()) for o in n.options)


def test_guest_needs() -> None:
    assert kernels.missing_needs(_GOOD_CONFIG, None) == []
    no9p = _GOOD_CONFIG.replace("CONFIG_9P_FS=y\n", "# CONFIG_9P_FS is not set\n")
    assert kernels.missing_needs(no9p, None) == ["CONFIG_9P_FS"]
    as_module = _GOOD_CONFIG.replace("CONFIG_OVERLAY_FS=y", "CONFIG_OVERLAY_FS=m")
    assert kernels.missing_needs(as_module, None) == ["CONFIG_OVERLAY_FS=m (no modules directory)"]


def _tree(tmp_path: Path, config: str, image: bool = True) -> Path:
    tree = tmp_path / "linux"
    (tree / "arch/x86/boot").mkdir(parents=True)
    (tree / "Makefile").write_text("# kernel\n")
    (tree / ".config").write_text(config)
    if image:
        (tree / "arch/x86/boot/bzImage").write_bytes(_bzimage(_elf(pvh=True), "gzip"))
    return tree


def test_build_tree(tmp_path: Path) -> None:
    k = kernels.resolve(str(_tree(tmp_path, _GOOD_CONFIG)))
    assert (k.label, k.release, k.modules) == ("linux", "6.12.117-test", None)
    assert k.config == tmp_path / "linux/.config"


@pytest.mark.parametrize(("config", "image", "needle"), [
    (_GOOD_CONFIG.replace("CONFIG_9P_FS=y", "CONFIG_9P_FS=n"), True, "lacks what the guest needs: CONFIG_9P_FS"),
    (_GOOD_CONFIG, False, "without arch/x86/boot/bzImage"),
])
def test_bad_trees_exit_2(tmp_path: Path, config: str, image: bool, needle: str,
                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends.QemuDirect, "check", lambda self: None)
    tree = _tree(tmp_path, config, image)
    rc = main(["vm", "--kernel", str(tree), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err


def test_labels_unique(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d, extra in ((a, b"a"), (b, b"b")):
        d.mkdir()
        (d / "bzImage").write_bytes(_bzimage(_elf(pvh=True, extra=extra), "gzip"))
    ks = kernels.unique_labels([kernels.resolve(str(a / "bzImage")), kernels.resolve(str(b / "bzImage"))])
    assert len({k.label for k in ks}) == 2 and all(k.label.startswith("6.12.117-test-") for k in ks)
    with pytest.raises(KernelSpecError, match="given twice"):
        kernels.unique_labels([kernels.resolve(str(a / "bzImage"))] * 2)


def test_backends_from_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path / "cache"))
    for name, make in backends.BACKENDS.items():
        be = make(X86_64)
        assert be.name == name and be.arch is X86_64
    img = tmp_path / "k.elf"
    img.write_bytes(_elf(pvh=True))
    cmd = backends.QemuDirect(X86_64).command(
        Kernel("k", img, None, "r", None, "0" * 16), backends.VmConfig(), Path("/out"), Path("/i.cpio"), None)
    assert cmd[0] == X86_64.qemu and f"console={X86_64.console}" in cmd[-1]


def test_every_family_executes_somewhere() -> None:
    from conformance.report import compare
    from conformance.suite.results import RunRecord

    runs = {p.name: RunRecord.load(p) for p in (DATA / "vm-debian-6.1.json", DATA / "vm-debian-6.12.json")}
    best = compare.every_family(runs)
    assert best["vhost"][1] == "vm-debian-6.12.json" and best["vhost"][0] > 0
    assert all(n > 0 for n, _ in best.values())
    one = runs["vm-debian-6.1.json"]
    skipped = RunRecord(one.properties, [dataclasses.replace(c, verdict=Verdict.SKIP)
                                         if c.classname.startswith("vhost.") else c for c in one.cases])
    assert compare.every_family({"a": skipped})["vhost"][0] == 0


def test_a_broken_kernel_is_its_own_error_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong preparing one kernel becomes that kernel's error result, not an exception."""
    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path / "cache"))
    img = tmp_path / "bzImage"
    img.write_bytes(_bzimage(_elf(pvh=True), "gzip"))
    k = kernels.resolve(str(img))

    def broken(self: backends.QemuDirect, kernel: Kernel, cfg: backends.VmConfig, outdir: Path) -> backends.Launch:
        raise RuntimeError("a harness bug")

    monkeypatch.setattr(backends.QemuDirect, "launch", broken)
    res = runner.run_kernel(k, backends.VmConfig(), tmp_path / "out", lambda msg: None)
    assert res.outcome is runner.Outcome.NOT_RUN and "a harness bug" in res.detail
    run = json.loads((tmp_path / "out/run.json").read_text())
    assert run["properties"]["run.label"] == k.label and run["cases"][0]["verdict"] == "error"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_build_tree_modules_installed_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree that builds some of the guest's needs as modules: make modules_install into the cache."""
    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path / "cache"))
    config = _GOOD_CONFIG.replace("CONFIG_9P_FS=y", "CONFIG_9P_FS=m") + "CONFIG_MODULES=y\n"
    tree = _tree(tmp_path, config)
    (tree / "modules.order").write_text("fs/9p/9p.ko\n")
    mods = "$(INSTALL_MOD_PATH)/lib/modules/6.12.117-test"
    (tree / "Makefile").write_text(f"modules_install:\n\tmkdir -p {mods}/kernel/fs/9p\n"
                                   f"\ttouch {mods}/kernel/fs/9p/9p.ko\n"
                                   f"\techo 'kernel/fs/9p/9p.ko:' > {mods}/modules.dep\n")
    k = kernels.resolve(str(tree))
    assert k.modules is not None and (k.modules / "modules.dep").exists()
    assert k.modules.is_relative_to(tmp_path / "cache" / "tree-modules" / k.digest)


def test_guest_bytecode_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host compiles kconform's modules (plain and assert-rewritten) and the pytest plugins'
    (rewritten) into one archive for the guest's overlay; unchanged sources reuse it."""
    from conformance.vm import pycache

    first = pycache.archive(tmp_path)
    assert first is not None and first.parent == tmp_path
    assert pycache.archive(tmp_path) == first
    listing = [n for n in newc_names(first.read_bytes()) if n != "TRAILER!!!"]
    from conformance.runner import plugin

    here = Path(plugin.__file__).parent
    base = f"{str(here).lstrip('/')}/__pycache__/plugin.{sys.implementation.cache_tag}"
    assert f"{base}.pyc" in listing and any(n.startswith(f"{base}-pytest-") for n in listing)
    assert all("/__pycache__/" in n or n.endswith("/__pycache__") for n in listing)
    monkeypatch.setenv("KCONFORM_CACHE", str(tmp_path / "cache"))
    img = tmp_path / "k.elf"
    img.write_bytes(_elf(pvh=True))
    cmd = backends.QemuDirect(X86_64).command(
        Kernel("k", img, None, "r", None, "0" * 16), backends.VmConfig(), Path("/out"), Path("/i.cpio"), None, first)
    assert f"kc.pyc={first}" in cmd[-1]


def test_run_does_not_import_the_other_commands() -> None:
    code = ("import sys; from conformance.cli import main; main.build_parser('run');"
            "print(sorted(m for m in ('conformance.vm.cli', 'conformance.report.cli') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_initramfs_pruning_spares_archives_in_use(tmp_path: Path) -> None:
    """Another run's archive of the same kernel, used within the hour, is never removed under it."""
    recent, stale = tmp_path / "k-aaaa.cpio", tmp_path / "k-bbbb.cpio"
    recent.write_bytes(b"r")
    stale.write_bytes(b"s")
    old = os.stat(recent).st_mtime - initramfs.PRUNE_AFTER_S - 60
    os.utime(stale, (old, old))
    initramfs._prune(tmp_path.glob("k-*.cpio"))
    assert recent.exists() and not stale.exists()


def test_bytecode_archives_of_installations_that_are_gone_are_pruned(tmp_path: Path) -> None:
    """An archive whose recorded installation prefix is gone goes; one whose installation is there stays;
    one that was never recorded goes once a day old."""
    import time

    from conformance.vm import pycache

    live = tmp_path / "venv"
    live.mkdir()
    for install, prefix in (("aaaaaaaaaaaa", tmp_path / "removed-venv"), ("bbbbbbbbbbbb", live)):
        (tmp_path / f"{install}-0123456789abcdef.cpio").write_bytes(b"x")
        (tmp_path / f"{install}{pycache.PREFIX_RECORD}").write_text(str(prefix))
    fresh, old = tmp_path / "cccccccccccc-0123456789abcdef.cpio", tmp_path / "dddddddddddd-0123456789abcdef.cpio"
    fresh.write_bytes(b"x")
    old.write_bytes(b"x")
    day_ago = time.time() - pycache.UNRECORDED_MAX_AGE_S - 60
    os.utime(old, (day_ago, day_ago))
    gone = pycache.prune(tmp_path)
    assert sorted(p.name for p in gone) == ["aaaaaaaaaaaa-0123456789abcdef.cpio", old.name]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "bbbbbbbbbbbb-0123456789abcdef.cpio", f"bbbbbbbbbbbb{pycache.PREFIX_RECORD}", fresh.name]
