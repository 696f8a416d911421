"""The VM runner's pure parts, pinned to console logs captured from real guests."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.vm import initramfs, kernels, runner
from conformance.vm.kernels import Kernel, KernelSpecError

DATA = Path(__file__).parent / "data"
XSD = Path(os.environ.get("KCONFORM_JUNIT_XSD", Path(__file__).parents[2] / "shared/data/junit-10.xsd"))


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
    k = Kernel("debian-test", Path("/nonexistent"), None, "6.12.0-test")
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


def test_cpio_newc_roundtrip() -> None:
    c = initramfs.Cpio()
    c.dir("bin")
    c.file("bin/x", b"hello", 0o755)
    c.symlink("bin/y", "x")
    blob = c.finish()
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


def test_debian_package_choice() -> None:
    avail = ["linux-image-6.1.0-50-amd64-unsigned", "linux-image-6.1.0-56-amd64-unsigned",
             "linux-image-6.12.115+deb12-amd64-unsigned", "linux-image-6.12.117+deb12-amd64-unsigned",
             "linux-image-6.12.117+deb12-rt-amd64-unsigned"]
    assert kernels.debian_package("6.1", avail) == "linux-image-6.1.0-56-amd64-unsigned"
    assert kernels.debian_package("6.12", avail) == "linux-image-6.12.117+deb12-amd64-unsigned"
    with pytest.raises(KernelSpecError):
        kernels.debian_package("5.99", avail)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("bogus-spec", "unknown kernel spec"), ("/etc/hostname", "not a kernel image"),
     ("/nonexistent/vmlinuz:/nonexistent/modules", "does not exist")],
)
def test_bad_kernel_specs_exit_2(spec: str, needle: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "require_tools", lambda: None)
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
