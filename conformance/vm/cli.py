"""``kconform kernels`` and ``kconform vm``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.isolation import interrupt
from conformance.report import writers
from conformance.report.text import aligned
from conformance.runner import outputs
from conformance.suite.verdict import Verdict
from conformance.vm import backends, debian, rootfs, schedule
from conformance.vm.errors import MirrorError

if TYPE_CHECKING:
    from conformance.vm import runner
    from conformance.vm.kernels import Kernel

Handler = Callable[[argparse.Namespace, Sequence[str]], int]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INFRA = 0, 1, 2, 3


def register(sub: argparse._SubParsersAction[Any], handlers: dict[str, Handler]) -> None:
    k = sub.add_parser("kernels", help="list or fetch kernels for VM runs")
    ksub = k.add_subparsers(dest="kernels_command", required=True)
    ls = ksub.add_parser("list", help="kernels in the cache (--available: what Debian offers)")
    ls.add_argument("--available", action="store_true", help="kernels in Debian's indexes, newest first")
    ls.add_argument("--refresh", action="store_true", help="refresh the package indexes first")
    fetch = ksub.add_parser("fetch", help="download Debian kernels (or check local specs)")
    fetch.add_argument("specs", nargs="+", metavar="SPEC")
    fetch.add_argument("--refresh", action="store_true",
                       help="refresh the package indexes (otherwise at most once a day)")
    for p in (ls, fetch):
        p.add_argument("--mirror", metavar="URL",
                       help=f"Debian archive (default $KCONFORM_DEBIAN_MIRROR or {debian.DEFAULT_MIRROR})")
        _arch_option(p)
    handlers["kernels"] = cmd_kernels

    vm = sub.add_parser("vm", help="run the suite on other kernels in VMs")
    vm.add_argument("--kernel", action="append", required=True, metavar="SPEC",
                    help="debian:7.3, debian:7.3.4+deb13, debian:stable, a build tree, a kernel image or vmlinux, "
                         "a modules directory, IMAGE:MODULES; repeatable")
    _arch_option(vm)
    vm.add_argument("--out", default="results", metavar="DIR", help="results directory (default results/)")
    vm.add_argument("-j", type=int, default=1, metavar="N", dest="jobs", help="kernels booted in parallel")
    vm.add_argument("--timeout", type=float, default=1800.0, metavar="S", help="per-kernel timeout in seconds")
    vm.add_argument("--backend", choices=list(backends.BACKENDS), default="qemu",
                    help="qemu: kconform's own fast boot (default); vng: virtme-ng")
    vm.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                    help="auto: KVM when a test boot works, else TCG")
    vm.add_argument("--cpus", type=int, default=0,
                    help="vCPUs per guest (default: chosen as each guest starts: host CPUs / -j, and the cores "
                         "the other guests leave to the last ones)")
    vm.add_argument("--shards", type=int, default=0, metavar="N",
                    help=f"kconform runs at once in each guest, each with its part of the cases (default: its "
                         f"vCPUs, at most {schedule.MAX_DEFAULT_PARTS})")
    vm.add_argument("--memory", default="1G")
    vm.add_argument("--guest-python", default="auto", metavar="PYTHON",  # interpreter.AUTO (not imported here)
                    help="the interpreter the guests run kconform with: auto (default: this installation's, or "
                         "one of the same version and ABI that runs faster under TCG, over the same packages), "
                         "same (this installation's), or a path")
    vm.add_argument("--kcidb", action="store_true", help="also write <out>/<kernel>/kcidb.json (KCIDB JSON)")
    vm.add_argument("--kcidb-origin", metavar="NAME", help="KCIDB origin (default kconform); implies --kcidb")
    vm.add_argument("--inject-panic", action="store_true",
                    help="test-only: panic the guest before the suite starts (checks crash reporting)")
    handlers["vm"] = cmd_vm


def _arch_option(p: argparse.ArgumentParser) -> None:
    from conformance.host.arch import BY_DEBIAN, host_arch

    p.add_argument("--arch", action="append", metavar="ARCH", choices=sorted(BY_DEBIAN),
                   help=f"the kernels' architecture, Debian's name ({', '.join(sorted(BY_DEBIAN))}; default the "
                        f"host's, {host_arch().debian}); repeatable: every kernel is booted for each")


def _arches(ns: argparse.Namespace) -> list[Any]:
    from conformance.host.arch import by_debian_name, host_arch

    return [by_debian_name(a) for a in dict.fromkeys(ns.arch)] if ns.arch else [host_arch()]


def _usage(msg: str) -> Exception:
    from conformance.host.usage import UsageError

    return UsageError(msg)


def _list(ns: argparse.Namespace) -> None:
    from conformance.vm import kernels

    if ns.available:
        rows: list[tuple[str, ...]] = [("spec", "arch", "version", "suite", "codename", "release", "packaging")]
        for arch in _arches(ns):
            apt = kernels.apt_state(arch)
            apt.update(refresh=ns.refresh)
            rows += [(f"debian:{k.abi}", arch.debian, k.version, k.suite, k.codename, k.release, k.packaging.value)
                     for k in debian.newest_first(apt.kernels())]
        print("\n".join(aligned(rows)))
        return
    wanted = {a.name for a in _arches(ns)} if ns.arch else None
    found = [k for k in kernels.list_cached() if wanted is None or k.arch.name in wanted]
    if not found:
        print(f"no kernels in {kernels.kernels_dir()} (kconform kernels fetch debian:7.3)")
    print("\n".join(aligned([(k.label, k.release, str(k.image)) for k in found])))


def _fetch(ns: argparse.Namespace) -> None:
    from conformance.vm import kernels

    for arch in _arches(ns):
        for spec in ns.specs:
            k = kernels.resolve(spec, refresh=ns.refresh, arch=arch)
            print(f"{spec}: {k.label} {k.release} {k.image}", flush=True)


KERNEL_COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {"list": _list, "fetch": _fetch}


def _mirror_failed(e: Exception) -> int:
    """A refresh that failed (the mirror named, the indexes as they were): one line, exit status 3."""
    from conformance.host.usage import one_line

    print(f"kconform: error: {one_line(str(e))}", file=sys.stderr)
    return EXIT_INFRA


def cmd_kernels(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance.vm.errors import KernelSpecError, MirrorError

    if getattr(ns, "mirror", None):
        os.environ["KCONFORM_DEBIAN_MIRROR"] = ns.mirror
    try:
        KERNEL_COMMANDS[ns.kernels_command](ns)
    except KernelSpecError as e:
        raise _usage(str(e)) from None
    except MirrorError as e:
        return _mirror_failed(e)
    return EXIT_OK


BAD_CASES_SHOWN = 20  # failed or errored cases printed per kernel after the table


def _table(results: Sequence[Any]) -> str:
    head = ("kernel", "release", "outcome", "accel", "pass", "fail", "skip", "old", "error", "boot s", "suite s",
            "total s")
    rows = [head]
    for r in results:
        c = r.counts

        def n(v: Verdict, c: dict[Verdict, int] = c) -> str:
            return str(c.get(v, 0)) if c else "-"

        rows.append((r.kernel.label, r.kernel.release, r.outcome.value, r.accel, n(Verdict.PASS), n(Verdict.FAIL),
                     n(Verdict.SKIP), n(Verdict.OLD_MODEL), n(Verdict.ERROR),
                     f"{r.boot_s:.1f}" if r.boot_s is not None else "-",
                     f"{r.suite_s:.1f}" if r.suite_s is not None else "-", f"{r.total_s:.1f}"))
    return "\n".join(aligned(rows))


def write_kcidb(outdir: Path, origin: str) -> None:
    """<kernel>/kcidb.json from the kernel's run.json (the guest's record, or its error record)."""
    if (outdir / "run.json").exists():
        writers.convert(outdir / "run.json", "kcidb", outdir / "kcidb.json", origin)


def _run_all(kernels: Sequence[Kernel], cfg: backends.VmConfig, ns: argparse.Namespace, outdir: Path,
             progress: runner.Progress, started: list[Future[runner.VmResult]]) -> list[runner.VmResult]:
    """Each kernel in its guest, up to -j at once, in the given order; each guest's vCPUs (and parts)
    chosen as it starts (schedule.py) unless --cpus/--shards fix them.  ``started``: the futures so far."""
    from conformance.vm import runner

    host_cpus = os.cpu_count() or 1
    running: dict[Future[runner.VmResult], schedule.Guest] = {}
    ended: list[schedule.Ended] = []
    pending = list(kernels)
    # Not a with-block: an interruption must reach the caller (which kills the guests) at once, not
    # after the pool's exit has waited for every running guest to end.
    pool = ThreadPoolExecutor(max_workers=ns.jobs)
    try:
        while pending or running:
            while pending and len(running) < ns.jobs:
                kernel = pending.pop(0)
                cpus = ns.cpus or schedule.next_cpus(host_cpus, ns.jobs, list(running.values()), ended,
                                                     len(pending) + 1, time.monotonic())
                kcfg = dataclasses.replace(cfg, cpus=cpus, shards=ns.shards or min(cpus, schedule.MAX_DEFAULT_PARTS))
                with interrupt.deferred():  # a started guest is always among the futures the caller waits for
                    future = pool.submit(runner.run_kernel, kernel, kcfg, outdir / kernel.label, progress)
                    started.append(future)
                running[future] = schedule.Guest(cpus, time.monotonic())
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                guest = running.pop(future)
                # a guest that gave no result (not booted, crashed) says nothing of how long a run takes
                if future.exception() is None and not future.result().outcome.kernel_error:
                    ended.append(schedule.Ended(guest.cpus, time.monotonic() - guest.started))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [f.result() for f in started]


def cmd_vm(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance.host.arch import foreign
    from conformance.host.usage import check_writable
    from conformance.vm import kernels, runner

    if ns.jobs < 1:
        raise _usage("-j must be at least 1")
    if ns.timeout <= 0:
        raise _usage("--timeout must be positive")
    if ns.cpus < 0:
        raise _usage("--cpus must be positive")
    out = Path(ns.out)
    if out.exists() and not out.is_dir():
        raise _usage(f"--out {out} is not a directory")
    arches = _arches(ns)
    from conformance.vm import interpreter

    if ns.backend == "vng" and ns.guest_python not in (interpreter.AUTO, interpreter.SAME):
        raise _usage("--guest-python with --backend vng: virtme-ng mounts its own tmpfs over /var/cache, where "
                     "kconform lends its environment to another interpreter; the vng guests run this one")
    try:
        for arch in arches:  # what the host lacks, before anything is created
            backends.backend(ns.backend, arch).check()
    except kernels.KernelSpecError as e:
        raise _usage(str(e)) from None
    choice = None
    if ns.backend != "vng" and not all(foreign(arch) for arch in arches):  # others: this one, or their root's
        choice = interpreter.choose(ns.guest_python, kernels.cache_dir())  # a path that cannot serve: UsageError
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _usage(f"--out {out}: {e.strerror}") from None
    check_writable(str(out / "junit.xml"), "results")
    be = backends.backend(ns.backend, arches[0])
    try:
        resolved = kernels.unique_labels([kernels.resolve(spec, arch=arch) for arch in arches for spec in ns.kernel])
        for arch in arches:
            if foreign(arch) and ns.backend == "qemu":
                rootfs.ensure(arch)  # built once here, with its progress, before any guest starts
    except kernels.KernelSpecError as e:
        raise _usage(str(e)) from None
    except MirrorError as e:
        return _mirror_failed(e)
    origin = ns.kcidb_origin or ("kconform" if ns.kcidb else None)
    try:
        writers.check_origin(origin)
    except ValueError as e:
        raise _usage(str(e)) from None
    native = [k for k in resolved if not foreign(k.arch)]  # KVM is tried on a guest of the host's architecture
    accel, why = backends.choose_accel(backends.Accel(ns.accel), (native or resolved)[0])
    if native and len(native) < len(resolved):
        why += "; guests of another architecture: tcg"
    print(f"accelerator: {accel.value} ({why})", file=sys.stderr)
    if choice is not None:
        print(choice.line(), file=sys.stderr)
    cfg = backends.VmConfig(backend=be.name, accel=accel, memory=ns.memory, timeout_s=ns.timeout,
                            inject_panic=ns.inject_panic, run_args=tuple(extra),
                            python=choice.python if choice is not None else "")
    lock = threading.Lock()

    def progress(msg: str) -> None:
        with lock:
            print(msg, file=sys.stderr, flush=True)

    outdir = out.resolve()
    started: list[Future[runner.VmResult]] = []
    try:
        results = _run_all(resolved, cfg, ns, outdir, progress, started)
    except interrupt.Interrupted as e:  # guests killed, scratch disks removed, results say so
        rc = outputs.stop_vm_run(e.signum, started,
                                 [(k.label, k.release, outdir / k.label, k.arch.name) for k in resolved])
        print(f"kconform vm interrupted by {interrupt.signal_name(e.signum)}; guests killed", file=sys.stderr)
        return rc
    if origin is not None:
        for r in results:
            write_kcidb(r.outdir, origin)
    print(_table(results))
    for r in results:
        if r.boot_retry:
            print(f"[{r.kernel.label}] its first boot oopsed under TCG before the suite started, and it was booted "
                  f"again: {r.boot_retry} ({r.outdir / runner.FIRST_BOOT_CONSOLE})", file=sys.stderr)
        if r.outcome.kernel_error:
            print(f"\n[{r.kernel.label}] {r.outcome.value}:\n{r.detail}", file=sys.stderr)
        for line in r.bad_cases[:BAD_CASES_SHOWN]:  # a CI log names what failed, not only how many
            print(f"[{r.kernel.label}] {line}", file=sys.stderr)
        if len(r.bad_cases) > BAD_CASES_SHOWN:
            print(f"[{r.kernel.label}] ... and {len(r.bad_cases) - BAD_CASES_SHOWN} more in "
                  f"{r.outdir / 'run.json'}", file=sys.stderr)
    print(f"\nresults: {outdir}/<kernel>/junit.xml, run.json, console.log")
    if any(r.outcome is runner.Outcome.NOT_RUN for r in results):
        return EXIT_INFRA
    return EXIT_FAILED if any(r.outcome is not runner.Outcome.PASSED for r in results) else EXIT_OK
