"""How many vCPUs the next guest of a ``kconform vm`` run gets.

``-j J`` runs up to J guests at once.  Giving each guest ``host CPUs / J`` vCPUs for the whole run
leaves cores idle at its end: three kernels with ``-j 2`` on two cores ran the third alone on one
vCPU while the other core had nothing to do (the matrix took 1.26 x the time of two kernels).  Here
each guest's vCPUs are decided when it starts, from what runs then:

* a running guest holds its vCPUs, unless it is expected to end soon: it has run for at least
  ``SOON`` of what the guests with as many vCPUs that already ended took (median);
* the cores left are shared by the guests that will start now or as soon as those ending soon are
  gone: as many as there are kernels still to start, at most the free slots (J minus the guests
  that hold their vCPUs);
* never fewer than one vCPU, and never more than ``cap``: ``host CPUs / J`` or the guest's default
  number of parts (4), whichever is larger.

So the first J kernels get ``host / J`` each as before, and the last kernels take the cores the
others leave (three kernels, -j 2, two cores: the third boots with 2 vCPUs when the first ends and
the second is about to).  A run of one kernel gets the host's CPUs whatever -j says (up to the cap:
4, or host/J when more).  Only guests that gave a result count as ended (one that failed to boot in
2 s says nothing of a run's length).  With ``--cpus`` every guest has that many, as always.  Pure:
``cmd_vm`` feeds it the clock.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from conformance.host.records import record

SOON = 0.85  # a running guest that has run this share of the usual time is expected to end soon
MAX_DEFAULT_PARTS = 4


@record(frozen=True)
class Guest:
    cpus: int
    started: float  # monotonic seconds


@record(frozen=True)
class Ended:
    cpus: int
    total_s: float


def usual_s(ended: Sequence[Ended], cpus: int) -> float | None:
    """What a guest with that many vCPUs took (median of those that ended), None before one has."""
    totals = [e.total_s for e in ended if e.cpus == cpus]
    return statistics.median(totals) if totals else None


def ending_soon(guest: Guest, ended: Sequence[Ended], now: float) -> bool:
    usual = usual_s(ended, guest.cpus)
    return usual is not None and now - guest.started >= SOON * usual


def next_cpus(host_cpus: int, jobs: int, running: Sequence[Guest], ended: Sequence[Ended], to_start: int,
              now: float) -> int:
    """vCPUs for the guest about to start; ``to_start`` counts it and the kernels after it."""
    host_cpus, jobs = max(1, host_cpus), max(1, jobs)
    holding = [g for g in running if not ending_soon(g, ended, now)]
    free = host_cpus - sum(g.cpus for g in holding)
    sharing = max(1, min(to_start, jobs - len(holding)))
    cap = max(host_cpus // jobs, min(host_cpus, MAX_DEFAULT_PARTS))
    return max(1, min(cap, free // sharing))
