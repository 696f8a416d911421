"""KTAP v1 (Documentation/dev-tools/ktap.rst): one subtest per family.

Case names are ``<behaviour>.<case id>`` (no spaces); skip, old-model and
overridden verdicts are ``ok ... # SKIP <reason>``; fail and error are
``not ok`` with the message as a diagnostic line before the result.
"""

from __future__ import annotations

from collections import defaultdict

from conformance.results import CaseRecord, RunRecord
from conformance.verdict import Verdict


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _result(n: int, rec: CaseRecord, indent: str) -> list[str]:
    name = f"{rec.classname}.{rec.name}"
    if rec.verdict is Verdict.PASS:
        return [f"{indent}ok {n} {name}"]
    if rec.verdict in (Verdict.SKIP, Verdict.OLD_MODEL, Verdict.OVERRIDDEN):
        return [f"{indent}ok {n} {name} # SKIP {_one_line(rec.message)}"]
    tag = "ERROR" if rec.verdict is Verdict.ERROR else "FAIL"
    return [f"{indent}# {tag}: {_one_line(rec.message)}", f"{indent}not ok {n} {name}"]


def render(run: RunRecord) -> str:
    families: dict[str, list[CaseRecord]] = defaultdict(list)
    for rec in run.cases:
        families[rec.classname.split(".", 1)[0]].append(rec)
    p = run.properties
    out = ["KTAP version 1", f"# kconform on {p.get('kernel.release', '?')} {p.get('kernel.arch', '?')}",
           f"1..{len(families)}"]
    for i, (family, recs) in enumerate(sorted(families.items()), 1):
        out += ["    KTAP version 1", f"    # Subtest: {family}", f"    1..{len(recs)}"]
        for n, rec in enumerate(recs, 1):
            out += _result(n, rec, "    ")
        bad = any(r.verdict.red for r in recs)
        out.append(f"{'not ok' if bad else 'ok'} {i} {family}")
    return "\n".join(out) + "\n"
