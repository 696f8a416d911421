"""What a case costs to run, estimated from data checked into the repository (costs.json), never from a
timing the run takes: the split of a run into parts (shard.py) must come out the same in every process.

costs.json holds, per case ("<behaviour> <id>", as run.json's classname and name), the milliseconds its
item took under TCG, the mean over the run.json files it was made from; bench/case_costs.py makes it
again from new ones.  Every item also costs the harness's own time around it, which its duration
leaves out (``item_ms``: a part's wall time less its items' durations, per item; ~25 ms under TCG).
A case the table does not name costs what the cases of its behaviour cost on average, else those of
its family, else the median of the table.  A row that waits on the clock
(``waits=ClockWait``) waits beside the other cases (waits.py): its item's own time is what it costs here."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from conformance.host.records import record

TABLE = "costs.json"
DEFAULT_MS = 50  # an empty table: every case alike


def key(behaviour: str, case_id: str) -> str:
    return f"{behaviour} {case_id}"


@record(frozen=True)
class Costs:
    by_case: Mapping[str, int]
    by_behaviour: Mapping[str, int]
    by_family: Mapping[str, int]
    default: int
    item_ms: int = 0

    def estimate(self, behaviour: str, case_id: str) -> int:
        """The case's cost in milliseconds (at least 1), its item's share of the harness's time included."""
        for table, name in ((self.by_case, key(behaviour, case_id)), (self.by_behaviour, behaviour),
                            (self.by_family, behaviour.split(".", 1)[0])):
            if name in table:
                return table[name] + self.item_ms
        return self.default + self.item_ms


def from_table(by_case: Mapping[str, int], item_ms: int = 0) -> Costs:
    """The estimates a table of per-case costs gives (the means of its behaviours and families too)."""
    import statistics  # here: importing it is ~30 ms of a TCG guest's start-up, for runs that shard

    groups: dict[str, dict[str, list[int]]] = {"behaviour": {}, "family": {}}
    for name, ms in by_case.items():
        behaviour = name.split(" ", 1)[0]
        groups["behaviour"].setdefault(behaviour, []).append(ms)
        groups["family"].setdefault(behaviour.split(".", 1)[0], []).append(ms)

    def means(g: dict[str, list[int]]) -> dict[str, int]:
        return {k: max(1, round(statistics.fmean(v))) for k, v in g.items()}

    default = max(1, round(statistics.median(by_case.values()))) if by_case else DEFAULT_MS
    return Costs(dict(by_case), means(groups["behaviour"]), means(groups["family"]), default, item_ms)


def _ms(v: object, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def parse(doc: Any) -> Costs:
    """The estimates of a costs.json document; ValueError when it is not one."""
    table = doc.get("cases_ms") if isinstance(doc, dict) else None
    if not isinstance(table, dict) or not all(isinstance(k, str) and _ms(v, 1) for k, v in table.items()):
        raise ValueError(f"{TABLE}: 'cases_ms' must map '<behaviour> <id>' to milliseconds (integers >= 1)")
    item_ms = doc.get("item_ms", 0)
    if not _ms(item_ms, 0):
        raise ValueError(f"{TABLE}: 'item_ms' must be milliseconds (an integer >= 0)")
    return from_table(table, item_ms)


@functools.cache
def load() -> Costs:
    """The checked-in table's estimates."""
    text = resources.files("conformance.suite").joinpath(TABLE).read_text()
    return parse(json.loads(text))
