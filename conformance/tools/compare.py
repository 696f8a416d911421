"""Compare the verdicts of two runs case by case: ``python -m conformance.tools.compare A.json B.json``.

Exit status 1 when any case differs (or exists in one run only); used to check
that ``-n 2`` gives the same verdict per case as a serial run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.results import RunRecord


def differences(a: RunRecord, b: RunRecord) -> list[str]:
    va = {(c.classname, c.name): c.verdict for c in a.cases}
    vb = {(c.classname, c.name): c.verdict for c in b.cases}
    out = []
    for key in sorted(va.keys() | vb.keys()):
        if va.get(key) != vb.get(key):
            out.append(f"{key[0]}/{key[1]}: {va.get(key)} vs {vb.get(key)}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m conformance.tools.compare A.json B.json", file=sys.stderr)
        return 2
    a, b = (RunRecord.load(Path(p)) for p in argv)
    diff = differences(a, b)
    for line in diff:
        print(line)
    print(f"{len(a.cases)} vs {len(b.cases)} cases, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
