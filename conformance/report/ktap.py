"""KTAP v1 (Documentation/dev-tools/ktap.rst): one subtest per family.

Case names are ``<behaviour>.<case id>`` (whitespace and ``#`` replaced by
``_``, which the format forbids in names); skip, old-model and overridden
verdicts are ``ok ... # SKIP <reason>``; fail and error are ``not ok`` with
the message as a diagnostic line before the result.  A family whose cases
were all skipped is itself ``ok ... # SKIP``, as KUnit prints a skipped suite.
Checked with the kernel's own tools/testing/kunit/kunit_parser.py.
"""

from __future__ import annotations

import re
from collections import defaultdict

from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict, tagged

_SKIPPED = (Verdict.SKIP, Verdict.OLD_MODEL, Verdict.OVERRIDDEN)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _name(text: str) -> str:
    return re.sub(r"[\s#]+", "_", text.strip()) or "_"


def _result(n: int, rec: CaseRecord, indent: str) -> list[str]:
    name = _name(f"{rec.classname}.{rec.name}")
    if rec.verdict is Verdict.PASS:
        return [f"{indent}ok {n} {name}"]
    if rec.verdict in _SKIPPED:
        return [f"{indent}ok {n} {name} # SKIP {_one_line(tagged(rec.verdict, rec.message))}".rstrip()]
    tag = "ERROR" if rec.verdict is Verdict.ERROR else "FAIL"
    return [f"{indent}# {tag}: {_one_line(rec.message)}".rstrip(), f"{indent}not ok {n} {name}"]


def _family_result(i: int, family: str, recs: list[CaseRecord]) -> str:
    if any(r.verdict.red for r in recs):
        return f"not ok {i} {family}"
    if recs and all(r.verdict in _SKIPPED for r in recs):
        return f"ok {i} {family} # SKIP all {len(recs)} cases skipped"
    return f"ok {i} {family}"


def render(run: RunRecord) -> str:
    families: dict[str, list[CaseRecord]] = defaultdict(list)
    for rec in run.cases:
        families[rec.classname.split(".", 1)[0]].append(rec)
    p = run.properties
    out = ["KTAP version 1", f"# kconform on {p.get('kernel.release', '?')} {p.get('kernel.arch', '?')}",
           f"1..{len(families)}"]
    for i, (family, recs) in enumerate(sorted(families.items()), 1):
        out += ["    KTAP version 1", f"    # Subtest: {_name(family)}", f"    1..{len(recs)}"]
        for n, rec in enumerate(recs, 1):
            out += _result(n, rec, "    ")
        out.append(_family_result(i, _name(family), recs))
    return "\n".join(out) + "\n"
