#!/usr/bin/env python3
"""Wall and CPU time of the host run against its floor, serial and with -n 2.

    python bench/bench_host.py [--repeat 5] [--family clone3 ...] [--no-floor] [--against OTHER/kconform]

The suite is the installed ``kconform run`` (next to this interpreter), so the
figures include interpreter start-up, collection and probes: what a user waits
for.  The floor is plain pytest (kconform's plugin off) running as many items
as the suite has cases, each spawning and reaping one process: what any
pytest-based suite of that size costs at least.  The harness row runs the same
spawning items as trivial cases through kconform's plugin (kc fixture, guards,
locks): its distance to the floor is the per-case harness overhead, the rest of
the suite's is what the cases themselves do.  All three alternate, so a busy
machine slows them alike; the ratio of the minimums is the figure (cpu: of
user+sys time, which a busy machine disturbs less than wall time).

Some rows wait on a kernel timer (``waits=ClockWait(...)``, e.g. io-wq's 5 s idle timeout): no runner can
finish before the longest of them, so the suite's goal is against floor + that wait.  ``--against`` runs
another checkout's ``kconform`` (e.g. the previous code's, in a venv of its own) alternating with this one,
and prints the ratio of the two.

Bytecode: kconform's modules are compiled first (``--cold``: not), as an installed package has them; an
editable checkout under PYTHONDONTWRITEBYTECODE (CI here) would otherwise compile every module on every
run (about 0.15 s here), while pytest's own modules are compiled at their install.
"""

from __future__ import annotations

import argparse
import compileall
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLOOR_TEST = '''
import os
import pytest


@pytest.mark.parametrize("i", range({n}))
def test_spawn(i):
    pid = os.posix_spawn("/bin/true", ["true"], {{}})
    assert os.waitpid(pid, 0)[1] == 0
'''

# The harness alone: as many trivial cases through the kc fixture (plugin, guards, locks), each
# spawning and reaping one process, so its distance to the floor is the per-case harness overhead.
HARNESS_TEST = '''
import os
from conformance.host.records import record

import pytest

from conformance.suite.case import AllOf, Case


@record(frozen=True, kw_only=True)
class Spawn(Case[int]):
    def observe(self) -> int:
        pid = os.posix_spawn("/bin/true", ["true"], {{}})
        return os.waitpid(pid, 0)[1]

    def describe(self, obs: int) -> str:
        return f"status {{obs}}"


CASES = [Spawn(id=f"spawn-{{i}}", behaviour="bench.spawn", expect=AllOf(())) for i in range({n})]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spawn(case, kc):
    kc.check(case)
'''


@dataclass(frozen=True)
class Sample:
    wall: float
    user: float
    sys: float


def timed(cmd: list[str], cwd: str | None = None) -> Sample:
    """One run with its own CPU times (RUSAGE_CHILDREN difference)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1, 5):  # 1: verdicts (a kernel finding), not a bench failure
        sys.exit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return Sample(dt, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


def case_count(kconform: str, families: list[str]) -> int:
    args = [a for f in families for a in ("--family", f)]
    proc = subprocess.run([kconform, "run", "-q", *args, "--", "--collect-only"], capture_output=True, text=True)
    m = re.search(r"(?:(\d+)/)?(\d+) tests? collected", proc.stdout)  # "282/427 tests collected (...)"
    if not m:
        sys.exit(f"bench: cannot count the cases:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return int(m.group(1) or m.group(2))


def compile_kconform() -> None:
    """Bytecode for kconform's core and families, wherever this interpreter finds them."""
    import conformance
    from conformance.suite import registry

    for root in (Path(conformance.__file__).parent, registry.cases_dir()):
        if not compileall.compile_dir(str(root), quiet=1):
            sys.exit(f"bench: cannot compile {root}")


def longest_wait(families: list[str]) -> tuple[float, str]:
    """The longest clock wait a selected row declares (seconds, row id)."""
    import importlib

    from conformance.suite import registry
    from conformance.suite.case import Case

    best = (0.0, "")
    for name in registry.families():
        if families and name not in families:
            continue
        table = importlib.import_module(f"{registry.CASES_PACKAGE}.{name}.table")
        for case in getattr(table, "CASES", ()):
            if isinstance(case, Case) and case.waits is not None and case.waits.seconds > best[0]:
                best = (case.waits.seconds, f"{case.behaviour}/{case.id}")
    return best


def summary(name: str, samples: list[Sample]) -> str:
    walls = [s.wall for s in samples]
    best = min(samples, key=lambda s: s.wall)
    return (f"{name:22} {min(walls):7.2f} {statistics.median(walls):9.2f} {best.user:7.2f} {best.sys:7.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--family", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-floor", action="store_true", help="only the suite")
    ap.add_argument("--cold", action="store_true", help="leave kconform's bytecode as it is")
    ap.add_argument("--against", metavar="KCONFORM", help="another checkout's kconform, alternated with this one")
    ns = ap.parse_args()
    if ns.repeat < 1:
        sys.exit("bench: --repeat must be at least 1")
    kconform = str(Path(sys.executable).with_name("kconform"))
    fam = [a for f in ns.family for a in ("--family", f)]
    if not ns.cold:
        compile_kconform()
    n = case_count(kconform, ns.family)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        Path(tmp, "test_floor.py").write_text(FLOOR_TEST.format(n=n))
        Path(tmp, "test_harness.py").write_text(HARNESS_TEST.format(n=n))
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        floor = [*pytest_cmd, "-p", "no:kconform", "test_floor.py"]
        harness = [*pytest_cmd, "test_harness.py"]
        print(f"{n} cases; {ns.repeat} alternating repeats; seconds (user/sys of the fastest run); "
              f"kconform's bytecode {'as found' if ns.cold else 'compiled first'}")
        print(f"{'':22} {'min':>7} {'median':>9} {'user':>7} {'sys':>7}")
        wait_s, wait_row = longest_wait(ns.family)
        if wait_row:
            print(f"longest clock wait a row needs: {wait_s:g} s ({wait_row})")
        for mode, extra in (("serial", []), ("-n 2", ["-n", "2"])):
            suite_s: list[Sample] = []
            against_s: list[Sample] = []
            floor_s: list[Sample] = []
            harness_s: list[Sample] = []
            for _ in range(ns.repeat):
                suite_s.append(timed([kconform, "run", "-q", *fam, *extra]))
                if ns.against:
                    against_s.append(timed([ns.against, "run", "-q", *fam, *extra]))
                if not ns.no_floor:
                    floor_s.append(timed([*floor, *extra], cwd=tmp))
                    harness_s.append(timed([*harness, *extra], cwd=tmp))
            print(summary(f"suite {mode}", suite_s))
            if against_s:
                print(summary(f"against {mode}", against_s))
                ratio = min(s.wall for s in suite_s) / min(s.wall for s in against_s)
                med = statistics.median(s.wall for s in suite_s) / statistics.median(s.wall for s in against_s)
                print(f"{'suite/against ' + mode:22} {ratio:7.2f} {med:9.2f}")
            if floor_s:
                print(summary(f"harness {mode}", harness_s))
                print(summary(f"floor {mode}", floor_s))
                for name, got in (("suite", suite_s), ("harness", harness_s)):
                    ratio = min(s.wall for s in got) / min(s.wall for s in floor_s)
                    med = statistics.median(s.wall for s in got) / statistics.median(s.wall for s in floor_s)
                    cpu = min(s.user + s.sys for s in got) / min(s.user + s.sys for s in floor_s)
                    print(f"{name + '/floor ' + mode:22} {ratio:7.2f} {med:9.2f}   cpu {cpu:.2f}")
                best_floor = min(s.wall for s in floor_s)
                goal = best_floor + wait_s
                ratio = min(s.wall for s in suite_s) / goal
                med = statistics.median(s.wall for s in suite_s) / (statistics.median(s.wall for s in floor_s) + wait_s)
                print(f"{'suite/(floor+wait) ' + mode:22} {ratio:7.2f} {med:9.2f}   (floor {best_floor:.2f} s + "
                      f"wait {wait_s:g} s; target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
