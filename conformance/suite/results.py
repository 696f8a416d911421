"""Case records: what reports are made of.

The plugin turns each case's Judgement into one ``CaseRecord`` (on the xdist
controller too: identity and Judgement travel as JSON in ``user_properties``
under CASE_PROP and JUDGEMENT_PROP).  Every report writer reads these records
and never re-derives a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, field
from pathlib import Path

from conformance.host.records import record
from conformance.suite.verdict import Verdict

PROP_PREFIX = "kconform."
CASE_PROP = PROP_PREFIX + "case"  # {"classname": behaviour id, "name": case id}
JUDGEMENT_PROP = PROP_PREFIX + "judgement"  # Judgement.to_json()
GUARD_PROP = PROP_PREFIX + "guard"  # what the guards found after the case (a message)


@record
class CaseRecord:
    nodeid: str
    classname: str  # behaviour id, e.g. clone3.struct_size
    name: str  # case id, e.g. size-56
    verdict: Verdict = Verdict.PASS
    message: str = ""
    duration: float = 0.0
    details: str = ""  # longer text: observed values, log excerpts

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> CaseRecord:
        return cls(
            nodeid=str(d["nodeid"]),
            classname=str(d["classname"]),
            name=str(d["name"]),
            verdict=Verdict(str(d["verdict"])),
            message=str(d.get("message", "")),
            duration=float(str(d.get("duration", 0.0))),
            details=str(d.get("details", "")),
        )


@record
class RunRecord:
    """All records of one run on one kernel, with the run's metadata."""

    properties: dict[str, str] = field(default_factory=dict)
    cases: list[CaseRecord] = field(default_factory=list)

    def counts(self) -> dict[Verdict, int]:
        out = dict.fromkeys(Verdict, 0)
        for c in self.cases:
            out[c.verdict] += 1
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"properties": self.properties, "cases": [c.to_json() for c in self.cases]},
                                   indent=1))

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        d = json.loads(path.read_text())
        return cls(dict(d["properties"]), [CaseRecord.from_json(c) for c in d["cases"]])


# What a merged run says of its parts' properties that differ: the earliest start, the longest duration,
# the sums of the counts (run.complete: below, "no" when any part says so, present or not in the others).
_MERGE_PROPS: dict[str, Callable[[list[str]], str]] = {
    "run.started": min,
    "run.duration_s": lambda vs: max(vs, key=float),
    "run.not_run": lambda vs: str(sum(int(v) for v in vs)),
    "run.collected": lambda vs: str(sum(int(v) for v in vs)),
}


def merge(parts: Sequence[RunRecord]) -> RunRecord:
    """The parts of one run (``--shard 1/N`` .. ``N/N``, run.shard) as the one run they make up.

    A property the parts disagree on gets the rule above, else every distinct value ("; "-joined); one
    a part lacks counts as "" there, so that a part that never finished still shows.  A case two parts
    report (the harness's own "interrupted" case, one per interrupted part) is one record with the
    worst of their verdicts and every part's message."""
    if not parts:
        raise ValueError("no run to merge")
    keys = list(dict.fromkeys(k for p in parts for k in p.properties if k != "run.shard"))
    props: dict[str, str] = {}
    for key in keys:
        values = [p.properties.get(key, "") for p in parts]
        if len(set(values)) == 1:
            props[key] = values[0]
        elif key in _MERGE_PROPS and all(values):
            props[key] = _MERGE_PROPS[key](values)
        else:
            props[key] = "; ".join(dict.fromkeys(values))
    if any(p.properties.get("run.complete") == "no" for p in parts):
        props["run.complete"] = "no"
    if len(parts) > 1:
        props["run.shards"] = str(len(parts))
    seen: dict[str, list[tuple[str, CaseRecord]]] = {}
    for part in parts:
        for c in part.cases:
            seen.setdefault(c.nodeid, []).append((part.properties.get("run.shard", ""), c))
    cases = [reports[0][1] if len(reports) == 1 else _one_of(reports) for reports in seen.values()]
    return RunRecord(props, sorted(cases, key=lambda c: (c.classname, c.name)))


def _one_of(reports: list[tuple[str, CaseRecord]]) -> CaseRecord:
    first = reports[0][1]
    worst = max((c.verdict for _, c in reports), key=_SEVERITY.index)
    message = "; ".join(f"{label}: {c.message}" if label else c.message for label, c in reports)
    details = "\n".join(c.details for _, c in reports if c.details)
    return CaseRecord(first.nodeid, first.classname, first.name, worst, message,
                      max(c.duration for _, c in reports), details)

_SEVERITY = (Verdict.SKIP, Verdict.PASS, Verdict.OVERRIDDEN, Verdict.OLD_MODEL, Verdict.FAIL, Verdict.ERROR)
