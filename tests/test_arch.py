"""Guests of another architecture: the Arch records, --arch, images, the guest root's recipe, the
matrix's columns per architecture and KCIDB's build architecture (no guest is booted here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main
from conformance.host import arch
from conformance.report import kcidb
from conformance.report.matrix import Matrix, render_markdown, render_terminal
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict
from conformance.vm import backends, images, kernels, rootfs, runner
from conformance.vm.errors import KernelSpecError


def test_every_arch_is_complete_and_unique() -> None:
    for a in arch.ARCHES.values():
        assert a.qemu and a.machine and a.console and a.flavour and a.root_modules
        assert a.image_in_tree.startswith(f"arch/{a.kbuild.split('_')[0]}/boot/")
    assert len({a.debian for a in arch.ARCHES.values()}) == len(arch.ARCHES)
    assert arch.X86_64.label_suffix == ""  # amd64 labels stay what results have always had
    assert arch.by_debian_name("arm64") is arch.ARM64
    with pytest.raises(ValueError, match="known: amd64, arm64"):
        arch.by_debian_name("aarch64")  # one spelling: Debian's
    assert arch.kbuild_name("aarch64") == "arm64" and arch.kbuild_name("x86_64") == "x86_64"
    assert arch.kbuild_name("riscv64") == "riscv64"


def _arm64_image(version: str) -> bytes:
    head = bytearray(0x40)
    head[0x38:0x3C] = b"ARM\x64"
    return bytes(head) + b"\0" * 64 + f"Linux version {version}\0".encode()


def test_arm64_image_is_recognised_and_labelled(tmp_path: Path) -> None:
    img = tmp_path / "vmlinuz"
    img.write_bytes(_arm64_image("7.3.4+deb13-arm64 (d@l) (gcc-14 (Debian 14.2.0-19) 14.2.0) #1 SMP "
                                 "Debian 7.3.4-1~bpo13+1 (2026-11-20)"))
    info = images.inspect(img, arch.ARM64)
    assert (info.kind, info.release, info.debian_version) == (images.Kind.IMAGE, "7.3.4+deb13-arm64",
                                                              "7.3.4-1~bpo13+1")
    with pytest.raises(KernelSpecError, match="a kernel image of arm64, not amd64"):
        images.inspect(img, arch.X86_64)
    k = kernels.make_kernel(img, None, None, str(img), arch=arch.ARM64)
    assert (k.label, k.long_label, k.arch) == ("debian-7.3.4-arm64", "debian-7.3.4+deb13-arm64", arch.ARM64)
    assert backends.boot_image(k) == img  # booted as it is


def test_serial_console_need_is_the_architectures() -> None:
    good = "".join(f"{o}=y\n" for n in kernels.guest_needs(arch.ARM64) for o in n.options)
    assert kernels.missing_needs(good, None, arch.ARM64) == []
    assert kernels.missing_needs(good, None, arch.X86_64) == ["CONFIG_SERIAL_8250_CONSOLE"]


def _kernel(tmp_path: Path, a: arch.Arch) -> kernels.Kernel:
    return kernels.Kernel("debian-7.3.4" + a.label_suffix, tmp_path / "vmlinuz", None, "7.3.4+deb13-" + a.flavour,
                          arch=a)


def test_arm64_qemu_command(tmp_path: Path) -> None:
    k = _kernel(tmp_path, arch.ARM64)
    cfg = backends.VmConfig(accel=backends.Accel.KVM)  # a foreign guest never gets KVM
    cmd = backends.QemuDirect(arch.ARM64).command(k, cfg, tmp_path, tmp_path / "i.cpio", None, None,
                                                  tmp_path / "root")
    joined = " ".join(cmd)
    assert cmd[0] == "qemu-system-aarch64" and "-accel tcg" in joined and "-M virt" in joined
    assert "-cpu max,pauth-impdef=on" in joined and "console=ttyAMA0" in joined
    assert f"path={tmp_path / 'root'},security_model=none,readonly=on" in joined
    assert "tsc=reliable" not in joined
    assert backends.guest_accel(arch.host_arch(), backends.Accel.KVM) is backends.Accel.KVM


def test_guest_script_runs_the_roots_kconform(tmp_path: Path) -> None:
    script = runner.guest_script(tmp_path, "debian-7.3.4-arm64", ["--family", "clone3"], arch=arch.ARM64)
    assert f"{rootfs.PYTHON} -P -m conformance.cli.parts" in script  # the root's interpreter runs the parts
    assert f"--kconform {rootfs.KCONFORM} " in script and "-- run --label debian-7.3.4-arm64" in script
    assert f"PATH={rootfs.GUEST_PATH}" in script
    own = runner.guest_script(tmp_path, "debian-7.3.4", [], arch=arch.host_arch())
    assert f"--kconform {rootfs.KCONFORM} " not in own


def test_root_digest_follows_the_sources(tmp_path: Path) -> None:
    assert rootfs.source_digest() == rootfs.source_digest()
    assert len(rootfs.source_digest()) == 12
    assert rootfs.native_dir() is not None  # a checkout: the C sources are there to cross-compile


def test_missing_tools_are_named_in_one_line_and_nothing_is_created(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "results"
    rc = main(["vm", "--arch", "arm64", "--kernel", "debian:7.3", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "qemu-system-aarch64 not found (apt-get install qemu-system-arm)" in err[0]
    assert not out.exists()
    missing = rootfs.tools_missing(arch.ARM64)
    assert "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)" in missing


def _run(release: str, uname: str, label: str, verdict: Verdict) -> RunRecord:
    props = {"kernel.release": release, "kernel.arch": uname, "run.label": label, "run.label_names_kernel": "yes",
             "kernel.config_digest": "abc", "run.started": "2026-12-07T10:00:00"}
    cases = [CaseRecord("clone3/test_clone3.py::test_clone3[a]", "clone3.flags", "a", Verdict.PASS, "", 0.1, ""),
             CaseRecord("clone3/test_clone3.py::test_clone3[b]", "clone3.settls", "b", verdict, "", 0.1, "")]
    return RunRecord(props, cases)


def test_matrix_marks_behaviours_that_differ_between_architectures() -> None:
    runs = [_run("7.3.4+deb13-amd64", "x86_64", "debian-7.3.4", Verdict.PASS),
            _run("7.3.4+deb13-arm64", "aarch64", "debian-7.3.4-arm64", Verdict.OLD_MODEL),
            _run("6.12.118+deb13-arm64", "aarch64", "debian-6.12.118-arm64", Verdict.OLD_MODEL)]
    m = Matrix.build(runs)
    assert [c.title for c in m.columns] == ["debian-6.12.118-arm64", "debian-7.3.4", "debian-7.3.4-arm64"]
    assert m.arch_groups() == [[1, 2]]
    assert [r.behaviour_id for r in m.arch_differing] == ["clone3.settls"]
    text = render_terminal(m)
    assert "1 differ between architectures of the same kernel" in text
    assert "^ clone3.settls" in text and "  clone3.flags" in text
    assert "clone3.settls b: [2] x86_64 pass  [3] aarch64 old-model" in text
    assert "differs (between architectures)" in render_markdown(m)


def test_kcidb_names_the_kernels_architecture() -> None:
    doc: dict[str, Any] = kcidb.build(_run("7.3.4+deb13-arm64", "aarch64", "debian-7.3.4-arm64", Verdict.PASS))
    assert doc["builds"][0]["architecture"] == "arm64"
    kcidb_io = pytest.importorskip("kcidb_io")
    kcidb_io.schema.LATEST.validate_exactly(doc)


@pytest.mark.skipif(os.environ.get("KCONFORM_TEST_ARM64_ROOT") != "1",
                    reason="builds the arm64 guest root (network, minutes): KCONFORM_TEST_ARM64_ROOT=1")
def test_arm64_root_holds_kconform_built_for_arm64() -> None:
    r = rootfs.ensure(arch.ARM64)
    pkg = r.path / rootfs.SITE / "conformance"
    for f in (pkg / "_native.abi3.so", pkg / "kconform-server", r.busybox):
        assert f.read_bytes()[18] == arch.ARM64.elf_machine  # e_machine, little-endian low byte


def test_settled_root_has_merged_usr_and_a_shell(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/dash").write_text("")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_text("static")  # a package that still ships into /bin
    rootfs._settle(root)
    for d in ("bin", "sbin", "lib"):
        assert (root / d).is_symlink() and os.readlink(root / d) == f"usr/{d}"
    assert (root / "usr/bin/busybox").read_text() == "static" and (root / "bin/busybox").exists()
    assert os.readlink(root / "usr/bin/sh") == "dash"
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:")


def test_root_apt_state_names_one_release(tmp_path: Path) -> None:
    apt = rootfs.ReleaseApt(tmp_path, arch.ARM64, "trixie")
    text = apt.sources({})
    assert [ln.split()[-2] for ln in text.splitlines()] == ["trixie", "trixie-security"]
    assert "APT::Architecture=arm64" in apt.options()
