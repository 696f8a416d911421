"""A run split into N disjoint parts ("K/N"), so that N runs -- at once in one guest, or as N CI jobs --
run every case once, and end at about the same time: the run lasts as long as its slowest part.

The split is a plan over the selected items (after --family, -k and -m): each item has a cost estimate
(``costs.estimate``: data checked into the repository, never a timing taken by the run), and the items go,
the dearest first, each to the part with the least cost so far (longest processing time first).  The
items of a group that must share a part (``Unit.together``) go first, as one.  The plan depends only on
the set of (key, cost, together) and N, never on the order the items were collected in: every process
that computes it for the same selection gets the same parts, which are disjoint and make up the
selection."""

from __future__ import annotations

import re
from collections.abc import Iterable

from conformance.host.records import record


@record(frozen=True)
class Shard:
    """The K-th of N parts of a run."""

    k: int = 1
    n: int = 1

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


@record(frozen=True)
class Unit:
    """What the split places: an item's key (unique in the run: its node id), its estimated cost in
    milliseconds, and whether it belongs to the group that runs in one part."""

    key: str
    cost_ms: int
    together: bool = False


def plan(units: Iterable[Unit], n: int) -> dict[str, int]:
    """Each unit's part, 1..n: the ``together`` units as one first, then the others by (cost descending,
    key), each to the part with the least cost so far (the lowest-numbered on a tie).  Integer costs, a
    total order: the same plan whatever order the units come in."""
    if n < 1:
        raise ValueError(f"a plan of {n} parts")
    units = sorted(set(units), key=lambda u: (not u.together, -u.cost_ms, u.key))
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise ValueError("two units share a key")
    loads = [0] * n
    out: dict[str, int] = {}
    group = [u for u in units if u.together]
    if group:
        loads[0] = sum(u.cost_ms for u in group)
        out.update((u.key, 1) for u in group)
    for u in units[len(group):]:
        part = min(range(n), key=lambda p: (loads[p], p))
        loads[part] += u.cost_ms
        out[u.key] = part + 1
    return out


def parse_shard(text: str) -> Shard:
    """"K/N" (1 <= K <= N) as a Shard; "" is the whole run.  ValueError says what is wrong."""
    if not text:
        return Shard()  # the plugin's default; kconform run refuses an empty --shard itself
    k, sep, n = text.partition("/")
    digits = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses
    if not (sep and digits.fullmatch(k) and digits.fullmatch(n) and 1 <= int(k) <= int(n)):
        raise ValueError(f"--shard must be K/N with 1 <= K <= N (e.g. 1/2), not {text!r}")
    return Shard(int(k), int(n))
