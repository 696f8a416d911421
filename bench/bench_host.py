#!/usr/bin/env python3
"""Wall time of the host run, per family, serial and with -n 2.

    python bench/bench_host.py [--family clone3 ...] [--repeat 3]

Runs the installed ``kconform`` (next to this interpreter) as a subprocess, so
the figures include interpreter start-up, collection and probes: what a user
waits for.  Prints min and median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode not in (0, 5):
        sys.exit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args()
    kconform = str(Path(sys.executable).with_name("kconform"))
    families = ns.family or ["clone3"]
    print(f"{'family':16} {'mode':8} {'min s':>7} {'median s':>9}")
    for fam in families:
        for mode, extra in (("serial", []), ("-n 2", ["-n", "2"])):
            times = [wall([kconform, "run", "-q", "--family", fam, *extra]) for _ in range(ns.repeat)]
            print(f"{fam:16} {mode:8} {min(times):7.2f} {statistics.median(times):9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
