"""A run split into N disjoint parts ("K/N"), so that N runs -- at once in one guest, or as N CI jobs --
run every case once.  A part is every N-th row of each table, so each gets its share of every kind of case."""

from __future__ import annotations

import re

from conformance.host.records import record


@record(frozen=True)
class Shard:
    """The K-th of N parts of a run: the items whose index (within their table, or their module) is K-1 mod N."""

    k: int = 1
    n: int = 1

    def keeps(self, index: int) -> bool:
        return index % self.n == self.k - 1

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def parse_shard(text: str) -> Shard:
    """"K/N" (1 <= K <= N) as a Shard; "" is the whole run.  ValueError says what is wrong."""
    if not text:
        return Shard()  # the plugin's default; kconform run refuses an empty --shard itself
    k, sep, n = text.partition("/")
    digits = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses
    if not (sep and digits.fullmatch(k) and digits.fullmatch(n) and 1 <= int(k) <= int(n)):
        raise ValueError(f"--shard must be K/N with 1 <= K <= N (e.g. 1/2), not {text!r}")
    return Shard(int(k), int(n))
