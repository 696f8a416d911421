"""Boot a kernel under QEMU, run the installed suite in it, bring results back.

The guest sees the host's root read-only over virtio-9p (with a throw-away
tmpfs overlay), so it runs the very kconform installation that started it; the
result directory is shared read-write.  QEMU has no timeout of its own: this
module kills it at ``timeout_s``.  Console markers written by guest_init.sh give
the boot and suite times; a panic, oops or hang becomes an error result for
that kernel with an excerpt of the console, and the other kernels still run.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.guards import KLOG_BAD
from conformance.kernel import read_text
from conformance.report import junit, writers
from conformance.results import CaseRecord, RunRecord
from conformance.verdict import Verdict
from conformance.vm import initramfs
from conformance.vm.kernels import Kernel, KernelSpecError, cache_dir

QEMU = "qemu-system-x86_64"
MARKER = re.compile(r"KC\[([0-9.]+)\] (.*)")
CMDLINE = "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 mitigations=off no_timer_check tsc=reliable"


class Accel(enum.StrEnum):
    AUTO = "auto"
    KVM = "kvm"
    TCG = "tcg"


class Backend(enum.StrEnum):
    QEMU = "qemu"  # kconform's own boot: PVH vmlinux, busybox initramfs, host root over 9p
    VNG = "vng"  # virtme-ng (vng --run)


class Outcome(enum.StrEnum):
    PASSED = "passed"  # suite ran, no fail/error verdicts
    FAILED = "failed"  # suite ran, some case failed or errored
    PANIC = "panic"  # the guest kernel panicked or oopsed
    TIMEOUT = "timeout"  # killed at the timeout
    CRASH = "crash"  # QEMU exited without a result
    NOT_RUN = "not-run"  # QEMU could not be started

    @property
    def kernel_error(self) -> bool:
        return self in (Outcome.PANIC, Outcome.TIMEOUT, Outcome.CRASH, Outcome.NOT_RUN)


@dataclass(frozen=True)
class VmConfig:
    backend: Backend = Backend.QEMU
    accel: Accel = Accel.AUTO
    cpus: int = 2
    memory: str = "1G"
    timeout_s: float = 1800.0
    inject_panic: bool = False
    run_args: tuple[str, ...] = ()  # passed to kconform run in the guest


@dataclass
class VmResult:
    kernel: Kernel
    outdir: Path
    outcome: Outcome = Outcome.NOT_RUN
    exit_code: int | None = None
    accel: str = ""
    boot_s: float | None = None  # QEMU start -> suite command start
    suite_s: float | None = None  # suite command start -> end
    total_s: float = 0.0
    detail: str = ""
    counts: dict[Verdict, int] = field(default_factory=dict)


def require_tools() -> None:
    if shutil.which(QEMU) is None:
        raise KernelSpecError(f"{QEMU} not found (apt-get install qemu-system-x86)")
    initramfs.busybox_path()


# --------------------------------------------------------------------------- images


def boot_image(kernel: Kernel) -> Path:
    """An uncompressed vmlinux (PVH entry: skips the decompressor, much faster under TCG)
    extracted from the bzImage and cached; the bzImage itself when that is not possible."""
    data = kernel.vmlinuz.read_bytes()
    if data.startswith(b"\x7fELF"):
        return kernel.vmlinuz
    target = cache_dir() / "vmlinux" / f"{kernel.label}-{kernel.release}.elf"
    if target.exists():
        return target
    elf = _decompress_payload(data)
    if elf is None or not _has_pvh_note(elf):
        return kernel.vmlinuz
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.rename(target)
    return target


def _decompress_payload(data: bytes) -> bytes | None:
    for magic, how in ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip")):
        start = 0
        while (i := data.find(magic, start)) >= 0:
            start = i + 1
            try:
                if how == "xz":
                    out = lzma.LZMADecompressor().decompress(data[i:])
                elif how == "gzip":
                    out = gzip.GzipFile(fileobj=__import__("io").BytesIO(data[i:])).read()
                elif shutil.which("zstd"):
                    out = subprocess.run(["zstd", "-qdc"], input=data[i:], capture_output=True).stdout
                else:
                    continue
            except (lzma.LZMAError, OSError, EOFError):
                continue
            if out.startswith(b"\x7fELF"):
                return out
    return None


def _has_pvh_note(elf: bytes) -> bool:
    # XEN_ELFNOTE_PHYS32_ENTRY (18) in a "Xen" note: QEMU boots such an ELF directly.
    return b"Xen\x00" in elf[:4 << 20] or b"Xen\x00" in elf


# --------------------------------------------------------------------------- accel


KVM_PROBE_S = 8.0  # a KVM floor boot takes well under a second where KVM works


def choose_accel(kernel: Kernel) -> tuple[Accel, str]:
    """KVM when /dev/kvm is usable *and* a floor boot with it finishes; else TCG.

    /dev/kvm can exist and still not work (nested virtualisation: QEMU may
    abort or spin), so the only reliable probe is a short test boot."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel.TCG, "no usable /dev/kvm"
    t = boot_floor(kernel, Accel.KVM, timeout_s=KVM_PROBE_S)
    if t is None:
        return Accel.TCG, f"a KVM test boot did not finish within {KVM_PROBE_S:g} s"
    return Accel.KVM, f"a KVM test boot took {t:.1f} s"


def floor_initramfs() -> Path:
    target = cache_dir() / "floor.cpio"
    if not target.exists():
        c = initramfs.Cpio()
        for d in ("bin", "dev", "proc"):
            c.dir(d)
        c.file("bin/busybox", initramfs.busybox_path().read_bytes(), 0o755)
        c.file("init", b"#!/bin/busybox sh\n/bin/busybox echo KC-FLOOR-UP\n/bin/busybox poweroff -f\n", 0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(c.finish())
    return target


def qemu_base(accel: Accel, cpus: int, memory: str) -> list[str]:
    return [QEMU, "-accel", accel.value, "-M", "pc", "-m", memory, "-smp", str(cpus),
            "-nodefaults", "-no-reboot", "-display", "none", "-no-user-config"]


def boot_floor(kernel: Kernel, accel: Accel, timeout_s: float = 120, cpus: int = 2,
               memory: str = "1G") -> float | None:
    """Seconds for the bare boot floor (init only powers off), or None if it failed."""
    cmd = [*qemu_base(accel, cpus, memory), "-serial", "stdio", "-kernel", str(boot_image(kernel)),
           "-initrd", str(floor_initramfs()), "-append", CMDLINE]
    t = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    if b"KC-FLOOR-UP" not in proc.stdout:
        return None
    return time.monotonic() - t


# --------------------------------------------------------------------------- one kernel


def guest_script(outdir: Path, label: str, run_args: Sequence[str], config: Path | None = None) -> str:
    """What the guest runs: the installed kconform of this very interpreter, with
    run_args passed to ``kconform run`` (its own options, then ``-- pytest args``)."""
    kconform = Path(sys.prefix) / "bin" / "kconform"
    args = [str(kconform), "run", "--label", f"vm:{label}", "--junit", str(outdir / "junit.xml"),
            "--json", str(outdir / "run.json"), *run_args]
    path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    return "\n".join([
        "#!/bin/sh",
        f"export PATH={shlex.quote(path)} HOME=/root LANG=C.UTF-8 TERM=dumb",
        f"export KCONFORM_KERNEL_CONFIG={shlex.quote(str(config))}" if config else "",
        f"cd {shlex.quote(str(outdir))}",
        " ".join(shlex.quote(a) for a in args) + " > guest-stdout.txt 2>&1",
        "",
    ])


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


def qemu_command(kernel: Kernel, accel: Accel, cfg: VmConfig, outdir: Path, initrd: Path,
                 disk: Path | None = None) -> list[str]:
    append = f"{CMDLINE} kc.out={outdir} kc.msize=512000 kc.cache=loose"
    if cfg.inject_panic:
        append += " kc.panic=1"
    drive: list[str] = []
    if disk is not None:
        append += " kc.disk=1"
        drive = ["-drive", f"file={disk},if=none,id=scratch,format=raw,cache=unsafe",
                 "-device", "virtio-blk-pci,drive=scratch"]
    return [
        *qemu_base(accel, cfg.cpus, cfg.memory),
        "-chardev", f"file,id=con,path={outdir / 'console.log'}", "-serial", "chardev:con",
        "-fsdev", "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot",
        "-fsdev", f"local,id=fsout,path={outdir},security_model=none",
        "-device", "virtio-9p-pci,fsdev=fsout,mount_tag=kcout",
        *drive, "-kernel", str(boot_image(kernel)), "-initrd", str(initrd), "-append", append,
    ]


def _markers(console: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in MARKER.finditer(console):
        out.setdefault(m.group(2).split(" ", 1)[0], float(m.group(1)))
    return out


def excerpt(console: str, lines: int = 40) -> str:
    """The part of the console a person needs: from the first bad line, or the tail."""
    all_lines = console.splitlines()
    for i, line in enumerate(all_lines):
        if KLOG_BAD.search(line):
            return "\n".join(all_lines[max(0, i - 5): i + lines])
    return "\n".join(all_lines[-lines:])


Progress = Callable[[str], None]


def run_kernel(kernel: Kernel, cfg: VmConfig, outdir: Path, progress: Progress) -> VmResult:
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in ("junit.xml", "run.json", "kcidb.json", "exitcode", "console.log", "guest-stdout.txt"):
        (outdir / stale).unlink(missing_ok=True)
    res = VmResult(kernel, outdir)
    accel = cfg.accel
    if accel is Accel.AUTO:
        accel, _ = choose_accel(kernel)
    res.accel = accel.value
    config = kernel.vmlinuz.parent / f"config-{kernel.release}"
    (outdir / "run.sh").write_text(guest_script(outdir, kernel.label, cfg.run_args,
                                                config if config.exists() else None))
    if cfg.backend is Backend.VNG:
        (outdir / "run-vng.sh").write_text(vng_script(kernel, outdir, cfg.inject_panic))
        cmd = vng_command(kernel, accel, cfg, outdir)
        return _boot(kernel, cfg, outdir, res, cmd, progress, console_on_stdout=True)
    initrd = initramfs.build(kernel, cache_dir() / "initramfs" / f"{kernel.label}.cpio")
    disk = scratch_disk(cache_dir() / "scratch" / f"{kernel.label}-{os.getpid()}.img")
    try:
        cmd = qemu_command(kernel, accel, cfg, outdir, initrd, disk)
        return _boot(kernel, cfg, outdir, res, cmd, progress, console_on_stdout=False)
    finally:
        if disk is not None:
            disk.unlink(missing_ok=True)


# --------------------------------------------------------------------------- virtme-ng backend


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
    lines += ["t cmd-start", f"sh {shlex.quote(str(outdir / 'run.sh'))}", "rc=$?", 't "cmd-end rc=$rc"',
              f"echo $rc > {shlex.quote(str(outdir / 'exitcode'))}", ""]
    return "\n".join(lines)


def vng_command(kernel: Kernel, accel: Accel, cfg: VmConfig, outdir: Path) -> list[str]:
    """vng with the console on stdout (-v): without udev in the guest its exit code and the
    script's own output are lost, so results travel through --rwdir instead."""
    cmd = [vng_path(), "--run", str(kernel.vmlinuz), "--force-9p", "--cpus", str(cfg.cpus),
           "--memory", cfg.memory, "--rwdir", str(outdir), "--cwd", "/tmp", "-v"]
    if accel is not Accel.KVM:
        cmd.append("--disable-kvm")
    return [*cmd, "--", "sh", str(outdir / "run-vng.sh")]


# --------------------------------------------------------------------------- booting


def _boot(kernel: Kernel, cfg: VmConfig, outdir: Path, res: VmResult, cmd: list[str], progress: Progress,
          console_on_stdout: bool) -> VmResult:
    (outdir / "qemu-command.txt").write_text(shlex.join(cmd) + "\n")
    t0 = time.monotonic()
    # vng -v: the console arrives on stderr, read through a pipe (QEMU's file chardevs reopen
    # and truncate a regular file given as stdout); QEMU backend: QEMU writes console.log itself.
    console_file = (outdir / "console.log").open("ab") if console_on_stdout else None
    stderr_file = (outdir / "backend-stdout.txt").open("wb") if console_on_stdout else None
    env = dict(os.environ)
    # vng runs virtme-run from PATH: make the one next to it findable
    env["PATH"] = f"{Path(cmd[0]).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, stdout=stderr_file or subprocess.PIPE,
                                stderr=subprocess.PIPE if stderr_file else subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        res.detail = f"cannot start {cmd[0]}: {e}"
        _write_error_junit(res)
        return res
    finally:
        if stderr_file is not None:
            stderr_file.close()
    if console_file is not None and proc.stderr is not None:
        os.set_blocking(proc.stderr.fileno(), False)

    def pump() -> None:
        if console_file is None or proc.stderr is None:
            return
        with contextlib.suppress(BlockingIOError, TypeError):
            while chunk := proc.stderr.read(65536):
                console_file.write(chunk)
            console_file.flush()

    progress(f"[{kernel.label}] booting ({cfg.backend.value}, {res.accel})")
    booted = False
    next_note = t0 + 30
    timed_out = False
    while proc.poll() is None:
        time.sleep(0.05)
        pump()
        now = time.monotonic()
        # Until the suite starts, follow the console for its marker; not after.
        if not booted and "cmd-start" in _markers(read_text(outdir / "console.log")):
            booted = True
            res.boot_s = now - t0
            progress(f"[{kernel.label}] booted in {res.boot_s:.1f} s, suite running")
        if now >= next_note:
            progress(f"[{kernel.label}] {'suite running' if booted else 'still booting'} ({now - t0:.0f} s)")
            next_note = now + 30
        if now - t0 > cfg.timeout_s:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # vng's QEMU too
            timed_out = True
    proc.wait()
    res.total_s = time.monotonic() - t0
    if console_file is not None:
        pump()
        console_file.close()
        qemu_out = read_text(outdir / "backend-stdout.txt")
    else:
        qemu_out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    console = read_text(outdir / "console.log")
    marks = _markers(console)
    if "cmd-start" in marks and "cmd-end" in marks:
        res.suite_s = marks["cmd-end"] - marks["cmd-start"]
        if res.boot_s is None:
            res.boot_s = res.total_s - res.suite_s
    code = read_text(outdir / "exitcode").strip()
    res.exit_code = int(code) if code.isdigit() else None
    if timed_out:
        res.outcome, res.detail = Outcome.TIMEOUT, f"killed after {cfg.timeout_s:g} s\n{excerpt(console)}"
    elif re.search(r"Kernel panic|Oops|BUG:|general protection fault", console):
        res.outcome, res.detail = Outcome.PANIC, excerpt(console)
    elif res.exit_code is None or not (outdir / "junit.xml").exists():
        res.outcome = Outcome.CRASH
        res.detail = f"no result from the guest ({Path(cmd[0]).name} exit {proc.returncode})\n{qemu_out[-2000:]}\n" \
                     f"{excerpt(console)}\n{read_text(outdir / 'guest-stdout.txt')[-3000:]}"
    else:
        run = RunRecord.load(outdir / "run.json")
        res.counts = run.counts()
        bad = res.counts.get(Verdict.FAIL, 0) + res.counts.get(Verdict.ERROR, 0)
        res.outcome = Outcome.FAILED if bad or res.exit_code not in (0, 5) else Outcome.PASSED
        if KLOG_BAD.search(console):
            res.detail = excerpt(console)
    if res.outcome.kernel_error:
        _write_error_junit(res)
    (outdir / "vm-timings.json").write_text(json.dumps({
        "kernel": kernel.label, "release": kernel.release, "accel": res.accel, "cpus": cfg.cpus,
        "outcome": res.outcome.value, "boot_s": res.boot_s, "suite_s": res.suite_s, "total_s": res.total_s}))
    progress(f"[{kernel.label}] {res.outcome.value} in {res.total_s:.1f} s")
    return res


def headline(detail: str) -> str:
    """The line that says what went wrong: the first panic/oops line, else the first line."""
    lines = detail.splitlines()
    for line in lines:
        if KLOG_BAD.search(line) or line.startswith("killed after") or line.startswith("no result"):
            return line.strip()
    return lines[0].strip() if lines else ""


def _write_error_junit(res: VmResult) -> None:
    """A kernel that did not give results still gets a JUnit file: one error case."""
    props = {"kernel.release": res.kernel.release, "kernel.arch": "x86_64", "run.label": f"vm:{res.kernel.label}",
             "vm.outcome": res.outcome.value, "vm.accel": res.accel}
    rec = CaseRecord(f"vm:{res.kernel.label}", "kconform.vm", "boot-and-run", Verdict.ERROR,
                     f"{res.outcome.value}: {headline(res.detail)}".strip(), res.total_s, res.detail)
    run = RunRecord(props, [rec])
    junit.write(res.outdir / "junit.xml", [run])
    writers.write_run("json", res.outdir / "run.json", writers.RunReport(run))
