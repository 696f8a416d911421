"""Resource limits that keep the harness, not the kernel, from working.

A case creates processes (the scenario's harness process, its children, io-wq
workers) and fds; a small RLIMIT_NPROC or RLIMIT_NOFILE can refuse them.  Under
such a limit a refusal is the environment's doing, never the kernel's fault:

* ``run_notes()`` (once, before the cases) says which limit is tight and what
  that does to the verdicts (terminal line and the run property ``run.limits``);
* ``explain()`` turns a case's fail or error into an error that names the limit
  and its value when the limit was tight as the case ended (the scenario can
  have been refused a process it needed, or the kernel capped its workers by
  the limit), so the run is red, never green, and never blames the kernel.

Rows that test RLIMIT_NPROC on purpose run their owner as a private uid with a
limit of their own; the caller's limit does not reach them, and a tight caller
limit only ever turns their red into an error naming it.

Real uid 0 of the initial user namespace, CAP_SYS_ADMIN and CAP_SYS_RESOURCE
(there) are exempt from RLIMIT_NPROC (kernel/fork.c), so for them it is never tight.
"""

from __future__ import annotations

import os
import resource

from conformance.host import privilege
from conformance.host.records import record
from conformance.suite.verdict import Judgement, Verdict

NPROC_ROOM = 32  # tasks a case may create at most (harness, children, threads, workers), with a margin
NOFILE_MIN = 32  # fds below which a case may run out (the suite ran whole at 24 here; fd-100 rows skip)
CAP_SYS_RESOURCE = 24


def _soft(which: int) -> int | None:
    soft = resource.getrlimit(which)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _nproc_exempt() -> bool:
    priv = privilege.current()
    if os.getuid() == 0 and priv.userns_initial:
        return True
    return priv.has_cap(privilege.CAP_SYS_ADMIN, privilege.Scope.INITIAL) or (
        priv.userns_initial and priv.has_cap(CAP_SYS_RESOURCE))


def tasks_of(uid: int) -> int:
    """Tasks (threads included) whose real uid is ``uid``: what RLIMIT_NPROC counts."""
    n = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                text = f.read()
        except OSError:
            continue
        uid_line = threads = None
        for line in text.splitlines():
            if line.startswith("Uid:"):
                uid_line = line.split()[1]
            elif line.startswith("Threads:"):
                threads = line.split()[1]
        if uid_line == str(uid) and threads is not None and threads.isdigit():
            n += int(threads)
    return n


@record(frozen=True)
class Tight:
    """A limit that can keep the harness from working: its name, value and what it leaves."""

    limit: str  # "RLIMIT_NPROC"
    value: int
    said: str  # e.g. "RLIMIT_NPROC (ulimit -u) is 8 and uid 65534 has 5 tasks: room for 3"

    def __str__(self) -> str:
        return self.said


def nproc_tight() -> Tight | None:
    soft = _soft(resource.RLIMIT_NPROC)
    if soft is None or soft >= 1 << 20 or _nproc_exempt():
        return None
    uid = os.getuid()
    used = tasks_of(uid)
    if soft - used >= NPROC_ROOM:
        return None
    return Tight("RLIMIT_NPROC", soft, f"RLIMIT_NPROC (ulimit -u) is {soft} and uid {uid} has {used} tasks: room "
                 f"for {max(soft - used, 0)}, a case may need up to {NPROC_ROOM}")


def nofile_tight() -> Tight | None:
    soft = _soft(resource.RLIMIT_NOFILE)
    if soft is None or soft >= NOFILE_MIN:
        return None
    return Tight("RLIMIT_NOFILE", soft, f"RLIMIT_NOFILE (ulimit -n) is {soft}, below the {NOFILE_MIN} fds a case "
                 "may need")


def tight() -> list[Tight]:
    return [t for t in (nproc_tight(), nofile_tight()) if t is not None]


def run_notes() -> list[str]:
    """One line per tight limit, for the run's summary and its ``run.limits`` property."""
    return [f"{t}: cases refused a process or fd end as errors naming the limit, never as fails"
            for t in tight()]


def explain(j: Judgement) -> Judgement:
    """A fail or error of a case that ended under a tight limit: an error naming the limit."""
    if j.verdict not in (Verdict.FAIL, Verdict.ERROR):
        return j
    limits = tight()
    if not limits:
        return j
    why = "; ".join(str(t) for t in limits)
    was = "" if j.verdict is Verdict.ERROR else "the kernel's answer may be the limit's: "
    return Judgement(Verdict.ERROR, f"{j.message} [{was}{why}; raise the limit to judge the kernel]", j.observed)
