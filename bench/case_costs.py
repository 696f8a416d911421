#!/usr/bin/env python3
"""Make the cost table the split of a run into parts uses (conformance/suite/costs.json) from run.json
files of real runs, best guests under TCG with the default two vCPUs (what the split is for):

    python bench/bench_vm.py --kernel debian:6.1 --kernel debian:7.3 --no-matrix --keep DIR
    python bench/case_costs.py DIR [MORE_DIRS_OR_RUN_JSON...] [--out conformance/suite/costs.json]

A directory stands for every run.json under it.  Each case ("<behaviour> <id>", run.json's classname and
name) costs the mean of its item's durations over the runs that have it, in milliseconds (at least 1);
the harness's own records (kconform.harness) are left out.  ``--item-ms``: what every item costs
besides (see costs.py).  The table is data: the parts of a run follow
it, never a timing the run takes, so every process computes the same parts.  Regenerate it when the
suite's cases or their costs change much (a case it does not name costs its behaviour's mean)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from conformance.suite import costs  # noqa: E402
from conformance.suite.results import RunRecord  # noqa: E402


def run_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("run.json")) if p.is_dir() else [p]
    return out


def table(runs: list[RunRecord]) -> dict[str, int]:
    seen: dict[str, list[float]] = {}
    for run in runs:
        for c in run.cases:
            if c.classname.startswith("kconform."):
                continue
            seen.setdefault(costs.key(c.classname, c.name), []).append(c.duration)
    return {k: max(1, round(1000 * statistics.fmean(v))) for k, v in sorted(seen.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run.json files, or directories holding them")
    ap.add_argument("--item-ms", type=int, default=25,
                    help="the harness's time around each item, which its duration leaves out (default: %(default)s, "
                         "measured under TCG: a part's wall time, pytest's 'in N s', less its items' durations)")
    ap.add_argument("--out", type=Path, default=TOP / "conformance" / "suite" / costs.TABLE)
    ns = ap.parse_args(argv)
    files = run_files(ns.runs)
    if not files:
        ap.error("no run.json found")
    runs = [RunRecord.load(f) for f in files]
    doc = {
        "about": "per-case cost estimates (ms) for the split of a run into parts; made by bench/case_costs.py",
        "made_from": sorted(f"{r.properties.get('kernel.release', '?')} ({r.properties.get('run.scenarios', '?')}, "
                            f"{r.properties.get('run.shards', '1')} part(s))" for r in runs),
        "item_ms": ns.item_ms,
        "cases_ms": table(runs),
    }
    costs.parse(doc)
    ns.out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{ns.out}: {len(doc['cases_ms'])} cases from {len(runs)} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
