#!/usr/bin/env python3
"""VM figures, measured in one run: per kernel the bare boot floor, the boot to
the suite, the suite and the total, then the matrix of all the kernels with -j 2
against the kernels alone; with several --arch, each kernel on each architecture
and the suite's ratio between each architecture and the first one (``--arch amd64
--arch arm64``: arm64/amd64).

    python bench/bench_vm.py [--kernel debian:6.1 --kernel debian:6.12] [--floor-runs 3]
                             [--accel tcg] [--arch amd64 --arch arm64] [--backend qemu --backend vng]
                             [--against OTHER/kconform] [--repeat R] [--jobs 2] [--no-matrix]
                             [--keep DIR] [-- kconform run options for the guest]

With several ``--backend`` each kernel is booted by each backend in turn (the
same guest command), one line per backend; virtme-ng (``vng``) needs the vng
extra, found next to this interpreter.  ``--against``: per kernel, the whole
suite also through another checkout's ``kconform`` (the previous code's, in a
venv of its own), right after this one's: the two suite times and their ratio;
the matrix too.  ``--repeat``: the whole sequence R times (alternating this
code and the other's), then the minimum and median of each figure.

The matrix (two kernels or more, one architecture): all the kernels in one
``kconform vm -j JOBS`` (each guest's vCPUs chosen as it starts: one each with 2
host CPUs, the last ones more), its wall time, each kernel's total in it, and
three ratios: to ceil(N/JOBS) x the slowest kernel alone (its whole ``kconform vm``
run with the host's CPUs); to N/JOBS x the slowest kernel that ran with one vCPU
beside another in the matrix (what a kernel of a pair takes: a ratio of 1 wastes
nothing at the matrix's end); and to N/JOBS x the slowest single kernel, each
kernel's time with one vCPU at -j JOBS measured in a reference run of the same
kernels with every guest fixed at one vCPU (``--no-reference`` skips it): the
issue's goal, whichever kernel the matrix gave more cores.  ``--keep DIR``: the result
directories stay there (run.json of each run, for conformance.report.compare).

The floor is QEMU with a minimal initramfs whose init only powers off, with the
same machine, CPU count, memory and kernel command line as the real run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.host.arch import Arch, by_debian_name, host_arch
from conformance.vm import backends, kernels, runner


def kconform_vm(specs: list[str], jobs: int, accel: str, out: Path, extra: list[str], arch: Arch,
                backend: str = "qemu", kconform: str = "", cpus: int = 0) -> float:
    bindir = Path(sys.executable).parent
    cmd = [kconform or str(bindir / "kconform"), "vm", "--out", str(out), "-j", str(jobs), "--accel", accel]
    if cpus:
        cmd += ["--cpus", str(cpus)]
    if arch != host_arch():  # only what differs from the defaults: an older kconform (--against) knows neither
        cmd += ["--arch", arch.debian]
    if backend != "qemu":
        cmd += ["--backend", backend]
    for s in specs:
        cmd += ["--kernel", s]
    if extra:
        cmd += ["--", *extra]
    t = time.monotonic()
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}  # vng runs virtme-run from there
    subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.monotonic() - t


def timings(outdir: Path) -> tuple[float | None, float | None]:
    """(boot to suite start, suite) from the console markers, as the runner reports them."""
    console = (outdir / "console.log").read_text(errors="replace") if (outdir / "console.log").exists() else ""
    marks = runner._markers(console)
    suite = marks["cmd-end"] - marks["cmd-start"] if "cmd-end" in marks and "cmd-start" in marks else None
    meta = outdir / "vm-timings.json"
    boot = json.loads(meta.read_text()).get("boot_s") if meta.exists() else None
    return boot, suite


def matrix_times(outdir: Path) -> dict[str, tuple[float, int]]:
    """Each kernel's total in a matrix run and its guest's vCPUs (its vm-timings.json), by label."""
    out: dict[str, tuple[float, int]] = {}
    for meta in sorted(outdir.glob("*/vm-timings.json")):
        data = json.loads(meta.read_text())
        out[str(data.get("kernel", meta.parent.name))] = (float(data.get("total_s") or float("nan")),
                                                          int(data.get("cpus") or 0))
    return out


def summary(values: list[float]) -> str:
    ok = [v for v in values if v == v]
    if not ok:
        return "nan"
    return f"{min(ok):.2f}" if len(ok) == 1 else f"min {min(ok):.2f} median {statistics.median(ok):.2f}"


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", action="append", default=[])
    ap.add_argument("--floor-runs", type=int, default=3)
    ap.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    ap.add_argument("--backend", action="append", default=[], choices=sorted(backends.BACKENDS))
    ap.add_argument("--arch", action="append", default=[], help="Debian's name; repeatable (default the host's)")
    ap.add_argument("--against", metavar="KCONFORM", help="another checkout's kconform, run after this one")
    ap.add_argument("--repeat", type=int, default=1, help="the whole sequence this many times")
    ap.add_argument("--jobs", type=int, default=2, help="-j of the matrix run")
    ap.add_argument("--no-matrix", action="store_true", help="the kernels alone only")
    ap.add_argument("--no-reference", action="store_true",
                    help="no one-vCPU run of the matrix's kernels (-j JOBS --cpus 1) to measure its ratio against")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep the result directories there")
    ns = ap.parse_args(argv)
    names = ns.backend or ["qemu"]
    specs = ns.kernel or ["debian:6.1", "debian:6.12"]
    arches = [by_debian_name(a) for a in ns.arch] or [host_arch()]
    accel = backends.Accel(ns.accel)
    matrix = len(specs) >= 2 and len(arches) == 1 and not ns.no_matrix
    who = ["this"] + (["against"] if ns.against else [])
    # figure name -> values over the repetitions
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float | None) -> None:
        figures.setdefault(name, []).append(float("nan") if value is None else value)

    with tempfile.TemporaryDirectory() as tmp:
        base = ns.keep or Path(tmp)
        for rep in range(1, ns.repeat + 1):
            if ns.repeat > 1:
                print(f"\n== repetition {rep} of {ns.repeat}", flush=True)
            print(f"{'kernel':26} {'backend':7} {'floor s':>8} {'boot s':>7} {'ratio':>6} {'suite s':>8} "
                  f"{'total s':>8}", flush=True)
            singles: dict[str, dict[str, float]] = {w: {} for w in who}
            suites: dict[tuple[str, str], float] = {}
            for arch in arches:
                for spec in specs:
                    k = kernels.resolve(spec, arch=arch)
                    floors = [backends.boot_floor(k, backends.guest_accel(arch, accel)) for _ in range(ns.floor_runs)]
                    ok = [f for f in floors if f is not None]
                    floor = statistics.median(ok) if ok else float("nan")
                    suite = None
                    for name in names:
                        out = base / f"r{rep}-one-{name}-{arch.debian}-{k.label}"
                        total = kconform_vm([spec], 1, ns.accel, out, extra, arch, name)
                        boot, suite_n = timings(out / k.label)
                        if name == names[0]:
                            suite = suite_n
                            singles["this"][spec] = total
                            note(f"{k.label} suite", suite)
                            note(f"{k.label} total", total)
                            if suite:
                                suites[(arch.debian, spec)] = suite
                        ratio = boot / floor if boot else float("nan")
                        print(f"{k.label:26} {name:7} {floor:8.2f} {boot or float('nan'):7.2f} {ratio:6.2f} "
                              f"{suite_n or float('nan'):8.2f} {total:8.2f}", flush=True)
                    if ns.against:
                        other = base / f"r{rep}-against-{arch.debian}-{k.label}"
                        took = kconform_vm([spec], 1, ns.accel, other, extra, arch, names[0], ns.against)
                        _, other_suite = timings(other / k.label)
                        singles["against"][spec] = took
                        note(f"{k.label} suite against", other_suite)
                        note(f"{k.label} total against", took)
                        ratio = (suite or float("nan")) / (other_suite or float("nan"))
                        note(f"{k.label} suite ratio", ratio)
                        print(f"{'  against':26} {'':7} {'':8} {'':7} {'':6} {other_suite or float('nan'):8.2f} "
                              f"{took:8.2f}   suite ratio {ratio:.2f}", flush=True)
            for arch in arches[1:]:
                for spec in specs:
                    a, b = suites.get((arch.debian, spec)), suites.get((arches[0].debian, spec))
                    if a and b:
                        print(f"{spec}: suite {arch.debian}/{arches[0].debian} = {a:.1f}/{b:.1f} s = {a / b:.2f}")
            if not matrix:
                continue
            waves = -(-len(specs) // ns.jobs)
            for w in who:
                out = base / f"r{rep}-matrix-{w}"
                took = kconform_vm(specs, ns.jobs, ns.accel, out, extra, arches[0], names[0],
                                   ns.against if w == "against" else "")
                slowest = max(singles[w].values())
                each = matrix_times(out)
                # the goal: N/J x the slowest kernel run with one vCPU beside another (what -j 2 gives
                # each kernel of a pair), i.e. the matrix wastes nothing at its end
                paired = max((t for t, cpus in each.values() if cpus == 1), default=float("nan"))
                note(f"matrix {w}", took)
                note(f"matrix ratio {w}", took / (waves * slowest))
                note(f"matrix ratio to pairs {w}", took / (len(specs) / ns.jobs * paired))
                for label, (t, _) in each.items():
                    note(f"matrix {w} {label}", t)
                single = ""
                if not ns.no_reference:
                    # the goal's "slowest single kernel": each kernel's time with one vCPU at -j JOBS (the
                    # same kernels, every guest fixed at one vCPU), the slowest of them
                    ref_out = base / f"r{rep}-reference-{w}"
                    kconform_vm(specs, ns.jobs, ns.accel, ref_out, extra, arches[0], names[0],
                                ns.against if w == "against" else "", cpus=1)
                    ref = matrix_times(ref_out)
                    one = max((t for t, _ in ref.values()), default=float("nan"))
                    for label, (t, _) in ref.items():
                        note(f"one vCPU -j {ns.jobs} {w} {label}", t)
                    ratio = took / (len(specs) / ns.jobs * one)
                    note(f"matrix ratio to one-vCPU kernels {w}", ratio)
                    single = (f"\n  each kernel with one vCPU at -j {ns.jobs}: "
                              + ", ".join(f"{label} {t:.1f} s" for label, (t, _) in ref.items())
                              + f"; ratio to {len(specs)}/{ns.jobs} x the slowest of them ({one:.2f} s): {ratio:.2f}")
                print(f"\nmatrix ({w}) of {len(specs)} kernels with -j {ns.jobs}: {took:.2f} s; each kernel in it: "
                      + ", ".join(f"{label} {t:.1f} s ({cpus} vCPU)" for label, (t, cpus) in each.items())
                      + f"; slowest kernel alone {slowest:.2f} s, ratio to {waves} x that: "
                      f"{took / (waves * slowest):.2f}; slowest kernel with one vCPU {paired:.2f} s, ratio to "
                      f"{len(specs)}/{ns.jobs} x that: {took / (len(specs) / ns.jobs * paired):.2f}{single}",
                      flush=True)
    if ns.repeat > 1:
        print("\n== over the repetitions")
        for name, values in figures.items():
            print(f"{name:40} {summary(values)}   ({', '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
