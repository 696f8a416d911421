"""Boot a kernel in a guest, run the installed suite in it, bring results back.

The guest sees the host's root read-only over virtio-9p (with a throw-away
tmpfs overlay), so it runs the very kconform installation that started it; the
result directory is shared read-write.  How the guest is started is the
backend's business (``backends.py``); this module kills it at ``timeout_s``,
follows the console markers written by guest_init.sh for the boot and suite
times, and turns a panic, oops, hang or any failure to prepare the kernel into
an error result for that kernel: the other kernels still run.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path

from conformance.host.arch import Arch, foreign
from conformance.host.kernel import read_text
from conformance.host.records import record
from conformance.host.usage import one_line
from conformance.isolation import interrupt
from conformance.isolation.guards import KLOG_BAD
from conformance.report import junit, writers
from conformance.suite.results import CaseRecord, RunRecord, merge
from conformance.suite.verdict import Verdict
from conformance.vm import images, rootfs
from conformance.vm.backends import Accel, Launch, VmConfig, backend, guest_accel
from conformance.vm.errors import KernelSpecError
from conformance.vm.kernels import Kernel, cache_dir

__all__ = ["Accel", "Outcome", "VmConfig", "VmResult", "run_kernel"]

MARKER = re.compile(r"KC\[([0-9.]+)\] (.*)")
PANIC = "Kernel panic"  # every oops ends in one too: the guest boots with oops=panic


class Outcome(enum.StrEnum):
    PASSED = "passed"  # suite ran, no fail/error verdicts
    FAILED = "failed"  # suite ran, some case failed or errored
    PANIC = "panic"  # the guest kernel panicked or oopsed
    TIMEOUT = "timeout"  # killed at the timeout
    CRASH = "crash"  # the guest ended without a result
    NOT_RUN = "not-run"  # the guest could not be started (or the kernel prepared)

    @property
    def kernel_error(self) -> bool:
        return self in (Outcome.PANIC, Outcome.TIMEOUT, Outcome.CRASH, Outcome.NOT_RUN)


@record
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
    bad_cases: list[str] = field(default_factory=list)  # "<behaviour>/<case> <verdict>: <message>"
    boot_retry: str = ""  # a first boot's oops under TCG before the suite started (booted again)


def kernel_config(kernel: Kernel) -> Path | None:
    """The kernel's configuration on the host: its package's or tree's, else the one built into it."""
    return kernel.config or images.extract(kernel.image, cache_dir() / "vmlinux").config


GUEST_SPOOL = "/run/kc"  # the guest's own tmpfs (guest_init.sh, vng_script): the parts' outputs grow there


def guest_script(outdir: Path, label: str, run_args: Sequence[str], config: Path | None = None,
                 shards: int = 1, arch: Arch | None = None, python: str = "") -> str:
    """What the guest runs: the installed kconform of this very interpreter (on a root of its own, the
    root's), with run_args passed to ``kconform run`` (its own options, then ``-- pytest args``), as
    ``shards`` runs at once (``--shard K/N``), each writing its JSON record (run-K.json) and output
    (guest-stdout-K.txt); the host merges the records into run.json and junit.xml (``merge_shards``).
    One interpreter (``python``, else this one: interpreter.choose) imports what every part needs once
    and forks the parts (``parts.py``), their outputs spooled in the guest's /run; the script's status
    is the worst (highest) of the parts'."""
    kconform: Path | str = Path(sys.prefix) / "bin" / "kconform"
    python = guest_python(python, arch)
    path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    if arch is not None and foreign(arch):  # the guest's own root: its kconform, its python, its PATH
        kconform, path = rootfs.KCONFORM, rootfs.GUEST_PATH
    lines = [
        "#!/bin/sh",
        f"export PATH={shlex.quote(path)} HOME=/root LANG=C.UTF-8 TERM=dumb",
        f"export KCONFORM_KERNEL_CONFIG={shlex.quote(str(config))}" if config else "",
        "export KCONFORM_LABEL_NAMES_KERNEL=1",
        # Scenarios in the runner itself rather than the process server (comparisons, debugging).
        "export KCONFORM_IN_PROCESS=1" if os.environ.get("KCONFORM_IN_PROCESS") == "1" else "",
        f"cd {shlex.quote(str(outdir))}",
    ]
    args = [python, "-P", "-m", "conformance.cli.parts", "--parts", str(shards), "--out", str(outdir),
            "--kconform", str(kconform), "--spool", GUEST_SPOOL, "--", "run", "--label", label, *run_args]
    lines.append(" ".join(shlex.quote(str(a)) for a in args) + " < /dev/null")
    return "\n".join([*lines, ""])


def guest_python(python: str, arch: Arch | None) -> str:
    """The interpreter the guest's runner is started with: on a root of its own the root's, else python
    (interpreter.choose), else this one."""
    return rootfs.PYTHON if arch is not None and foreign(arch) else python or sys.executable


def shard_records(outdir: Path, shards: int) -> list[Path]:
    return [outdir / f"run-{k}.json" for k in range(1, shards + 1)]


def load_shards(outdir: Path, shards: int) -> list[RunRecord] | str:
    """The parts' records, or what keeps them from being merged (a missing or unreadable one)."""
    parts = []
    for p in shard_records(outdir, shards):
        try:
            parts.append(RunRecord.load(p))
        except FileNotFoundError:
            return f"no {p.name}"
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"{p.name} unreadable: {e}"
    return parts


def _guest_outputs(outdir: Path) -> str:
    return "\n".join(read_text(p)[-3000:] for p in sorted(outdir.glob("guest-stdout-*.txt")))


def merge_shards(outdir: Path, parts: list[RunRecord]) -> RunRecord:
    """The guest's records as one run: run.json and junit.xml, written here (the host renders them: under
    TCG that is seconds the guest does not spend), the parts' own records removed."""
    paths = shard_records(outdir, len(parts))
    run = merge(parts)
    report = writers.RunReport(run, tuple(k for p in paths for k in writers.not_run_of(p)))
    writers.write_run("json", outdir / "run.json", report)
    writers.write_run("junit", outdir / "junit.xml", report)
    for p in paths:
        p.unlink()
    return run


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


FIRST_BOOT_CONSOLE = "console-first-boot.log"


def boot_flake(res: VmResult, cfg: VmConfig) -> bool:
    """An oops under TCG while the guest booted, before the suite's command started: no case ran.  Seen
    with 7.3.4 in a 2-vCPU guest, once in many boots: "Oops: int3" in code the kernel had just patched
    (its text_poke_bp sequence), i.e. a vCPU running a stale translation of the breakpoint, which QEMU
    does not always invalidate across vCPUs; the same kernel booted again."""
    return (res.outcome is Outcome.PANIC and res.accel == Accel.TCG.value and res.boot_s is None
            and not cfg.inject_panic)


def run_kernel(kernel: Kernel, cfg: VmConfig, outdir: Path, progress: Progress) -> VmResult:
    """Boot one kernel and run the suite; whatever goes wrong is this kernel's error result.  A guest that
    oopses under TCG before the suite starts is booted once more (``boot_flake``); the first boot's
    console is kept as console-first-boot.log and the result says so (``boot_retry``)."""
    (outdir / FIRST_BOOT_CONSOLE).unlink(missing_ok=True)  # an earlier run's
    res = _run_once(kernel, cfg, outdir, progress)
    if not boot_flake(res, cfg):
        return res
    first = headline(res.detail)
    progress(f"[{kernel.label}] oops while booting under TCG, before the suite started ({first}): booting again")
    with contextlib.suppress(OSError):
        shutil.copyfile(outdir / "console.log", outdir / FIRST_BOOT_CONSOLE)
    return _run_once(kernel, cfg, outdir, progress, boot_retry=first)


def _run_once(kernel: Kernel, cfg: VmConfig, outdir: Path, progress: Progress, boot_retry: str = "") -> VmResult:
    res = VmResult(kernel, outdir, accel=guest_accel(kernel.arch, cfg.accel).value, boot_retry=boot_retry)
    launch: Launch | None = None
    tracked: list[int] = []
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        for stale in ("junit.xml", "run.json", "kcidb.json", "exitcode", "console.log", "run-*.json",
                      "guest-stdout-*.txt", "vm-timings.json"):
            for path in outdir.glob(stale):
                path.unlink(missing_ok=True)
        # The guest reads the config from the result folder, named as kernel.read_config expects.
        config = kernel_config(kernel)
        guest_config = None
        if config is not None:
            guest_config = outdir / f"config-{kernel.release}"
            shutil.copyfile(config, guest_config)
        (outdir / "run.sh").write_text(guest_script(outdir, kernel.label, cfg.run_args, guest_config, cfg.shards,
                                                    kernel.arch, cfg.python))
        launch = backend(cfg.backend, kernel.arch).launch(kernel, cfg, outdir)
        tracked = [interrupt.track_path(p) for p in launch.cleanup]  # removed on SIGINT/SIGTERM/SIGHUP too
        return _boot(kernel, cfg, outdir, res, launch, progress)
    except (KernelSpecError, OSError, subprocess.SubprocessError, ValueError) as e:
        res.outcome, res.detail = Outcome.NOT_RUN, f"cannot boot {kernel.label}: {e}"
    except Exception:  # a harness bug must not cost the other kernels their results
        res.outcome, res.detail = Outcome.NOT_RUN, f"cannot boot {kernel.label}:\n{traceback.format_exc()}"
    finally:
        for path in launch.cleanup if launch else []:
            path.unlink(missing_ok=True)
        for token in tracked:
            interrupt.untrack(token)
    with contextlib.suppress(OSError):
        _write_error_junit(res)
    progress(f"[{kernel.label}] {res.outcome.value}: {headline(res.detail)}")
    return res


# --------------------------------------------------------------------------- booting


def _boot(kernel: Kernel, cfg: VmConfig, outdir: Path, res: VmResult, launch: Launch,
          progress: Progress) -> VmResult:
    cmd, console_on_stdout = launch.cmd, launch.console_on_stdout
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
        if interrupt.received() is not None:
            raise OSError("interrupted before the guest started")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, stdout=stderr_file or subprocess.PIPE,
                                stderr=subprocess.PIPE if stderr_file else subprocess.STDOUT, start_new_session=True)
        guest = interrupt.track_process_group(proc.pid)  # killed on SIGINT/SIGTERM/SIGHUP
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

    progress(f"[{kernel.label}] booting ({cfg.backend}, {res.accel})")
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
    interrupt.untrack(guest)
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
    elif PANIC in console:
        res.outcome, res.detail = Outcome.PANIC, excerpt(console)
    elif res.exit_code is None or isinstance(parts := load_shards(outdir, cfg.shards), str):
        res.outcome = Outcome.CRASH
        why = f"; {parts}" if res.exit_code is not None else ""
        res.detail = f"no result from the guest ({Path(cmd[0]).name} exit {proc.returncode}{why})\n" \
                     f"{qemu_out[-2000:]}\n{excerpt(console)}\n{_guest_outputs(outdir)}"
    elif not (run := merge_shards(outdir, parts)).cases:
        res.outcome = Outcome.CRASH
        res.detail = f"no case of the selection ran in any of the {cfg.shards} part(s)\n{_guest_outputs(outdir)}"
    else:
        res.counts = run.counts()
        res.bad_cases = [f"{c.classname}/{c.name} {c.verdict.value}: {one_line(c.message)}"
                         for c in run.cases if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
        bad = res.counts.get(Verdict.FAIL, 0) + res.counts.get(Verdict.ERROR, 0)
        res.outcome = Outcome.FAILED if bad or res.exit_code not in (0, 5) else Outcome.PASSED
        if KLOG_BAD.search(console):
            res.detail = excerpt(console)
    if res.outcome.kernel_error:
        _write_error_junit(res)
    (outdir / "vm-timings.json").write_text(json.dumps({
        "kernel": kernel.label, "release": kernel.release, "accel": res.accel, "cpus": cfg.cpus,
        "outcome": res.outcome.value, "boot_s": res.boot_s, "suite_s": res.suite_s, "total_s": res.total_s,
        "boot_retry": res.boot_retry, "guest_python": guest_python(cfg.python, kernel.arch)}))
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
    props = {"kernel.release": res.kernel.release, "kernel.arch": res.kernel.arch.name, "run.label": res.kernel.label,
             "run.label_names_kernel": "yes", "vm.outcome": res.outcome.value, "vm.accel": res.accel}
    rec = CaseRecord(f"vm:{res.kernel.label}", "kconform.vm", "boot-and-run", Verdict.ERROR,
                     f"{res.outcome.value}: {headline(res.detail)}".strip(), res.total_s, res.detail)
    run = RunRecord(props, [rec])
    junit.write(res.outdir / "junit.xml", [run])
    writers.write_run("json", res.outdir / "run.json", writers.RunReport(run))
