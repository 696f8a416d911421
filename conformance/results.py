"""Case records: what reports are made of.

The plugin turns each case's Judgement into one ``CaseRecord`` (on the xdist
controller too: identity and Judgement travel as JSON in ``user_properties``
under CASE_PROP and JUDGEMENT_PROP).  Every report writer reads these records
and never re-derives a verdict.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from conformance.verdict import Verdict

PROP_PREFIX = "kconform."
CASE_PROP = PROP_PREFIX + "case"  # {"classname": behaviour id, "name": case id}
JUDGEMENT_PROP = PROP_PREFIX + "judgement"  # Judgement.to_json()
GUARD_PROP = PROP_PREFIX + "guard"  # what the guards found after the case (a message)


@dataclass
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


@dataclass
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
