"""LAVA test-case results: one ``<name> <result> <seconds>`` line per case, for ci/lava/.

``python -m conformance.report.lava run.json`` prints them; the LAVA test
definition turns each into ``lava-test-case <name> --result <result>``.  Names
are ``<behaviour id>.<case id>`` (as in KTAP), with anything outside
``[A-Za-z0-9._-]`` replaced by ``_``.  Results: pass and old-model (the kernel
follows the documented model of its release) are ``pass``; fail, error and
overridden (a known deviation is still a deviation) are ``fail``; skip is
``skip``; a case that never ran (interrupted run) is ``unknown``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.report.kcidb import CaseKey
from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict

RESULT = {Verdict.PASS: "pass", Verdict.OLD_MODEL: "pass", Verdict.FAIL: "fail", Verdict.ERROR: "fail",
          Verdict.OVERRIDDEN: "fail", Verdict.SKIP: "skip"}
NOT_RUN = "unknown"


def name(behaviour: str, case: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{behaviour}.{case}")


def render(run: RunRecord, not_run: Sequence[CaseKey] = ()) -> str:
    lines = [f"{name(c.classname, c.name)} {RESULT[c.verdict]} {c.duration:.6f}" for c in run.cases]
    seen = {(c.classname, c.name) for c in run.cases}
    lines += [f"{name(k.behaviour, k.case)} {NOT_RUN} 0" for k in not_run if (k.behaviour, k.case) not in seen]
    return "".join(line + "\n" for line in lines)


def main(argv: Sequence[str]) -> int:
    from conformance.report.writers import not_run_of

    if len(argv) != 1:
        print("usage: python -m conformance.report.lava RUN.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        run = RunRecord.load(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{path}: not a kconform run record: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(render(run, not_run_of(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
