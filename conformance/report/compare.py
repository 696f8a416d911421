"""Compare the verdicts of two runs case by case: ``python -m conformance.report.compare A.json B.json``.

Exit status 1 when any case differs (or exists in one run only); used to check
that ``-n 2`` gives the same verdict per case as a serial run.  With
``--executed FAMILY N RUN.json`` it checks instead that at least N cases of the
family ran and passed (used to prove that the vhost cases execute in the VM);
with ``--every-family RUN.json...`` that every family found in the runs has at
least one case that ran and passed on at least one of them (kernels in VMs); with
``--clean RUN.json...`` that each run is complete with no failed or errored case
(the container stages of tests/check.sh).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict


def differences(a: RunRecord, b: RunRecord) -> list[str]:
    va = {(c.classname, c.name): c.verdict for c in a.cases}
    vb = {(c.classname, c.name): c.verdict for c in b.cases}
    out = []
    for key in sorted(va.keys() | vb.keys()):
        if va.get(key) != vb.get(key):
            out.append(f"{key[0]}/{key[1]}: {va.get(key)} vs {vb.get(key)}")
    return out


def executed(run: RunRecord, family: str) -> int:
    """Cases of a family that ran (not skipped) and passed or showed the old model."""
    done = (Verdict.PASS, Verdict.OLD_MODEL)
    return sum(1 for c in run.cases if c.classname.split(".")[0] == family and c.verdict in done)


def every_family(runs: dict[str, RunRecord]) -> dict[str, tuple[int, str]]:
    """family -> (most cases executed on one run, that run's name)."""
    best: dict[str, tuple[int, str]] = {}
    for name, run in runs.items():
        for family in {c.classname.split(".")[0] for c in run.cases}:
            n = executed(run, family)
            if n > best.get(family, (-1, ""))[0]:
                best[family] = (n, name)
    return best


def clean(run: RunRecord) -> list[str]:
    """What keeps a run from being clean: its failed and errored cases, and an incomplete run."""
    out = [f"{c.classname}/{c.name}: {c.verdict.value}: {c.message}" for c in run.cases
           if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
    if run.properties.get("run.complete") == "no":
        out.append(f"the run is incomplete ({run.properties.get('run.status', 'no status')})")
    if not run.cases:
        out.append("the run holds no case")
    return out


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--clean":
        bad = 0
        for p in argv[1:]:
            run = RunRecord.load(Path(p))
            counts: dict[str, int] = {}
            for c in run.cases:
                counts[c.verdict.value] = counts.get(c.verdict.value, 0) + 1
            problems = clean(run)
            print(f"{p}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
            for line in problems:
                print(f"  {line}")
            bad += bool(problems)
        return 1 if bad else 0
    if len(argv) >= 2 and argv[0] == "--every-family":
        best = every_family({p: RunRecord.load(Path(p)) for p in argv[1:]})
        for family, (n, where) in sorted(best.items()):
            print(f"{family}: {n} case(s) executed and passed on {where}")
        missing = sorted(f for f, (n, _) in best.items() if n == 0)
        if missing:
            print(f"executed on none of the runs: {', '.join(missing)}")
        return 1 if missing or not best else 0
    if len(argv) == 4 and argv[0] == "--executed":
        family, minimum, path = argv[1], int(argv[2]), Path(argv[3])
        n = executed(RunRecord.load(path), family)
        print(f"{path}: {n} {family} case(s) executed and passed (minimum {minimum})")
        return 0 if n >= minimum else 1
    if len(argv) != 2:
        print("usage: python -m conformance.report.compare A.json B.json", file=sys.stderr)
        return 2
    a, b = (RunRecord.load(Path(p)) for p in argv)
    diff = differences(a, b)
    for line in diff:
        print(line)
    print(f"{len(a.cases)} vs {len(b.cases)} cases, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
