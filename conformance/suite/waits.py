"""Rows that wait on a kernel timer, run beside the others.

A row whose scenario waits on the kernel's clock (io-wq's 5 s idle timeout, a bound that proves a
negative) declares it: ``waits=ClockWait(seconds=..., why=...)``.  The plugin starts such a row's
scenario as soon as it knows this process will run the item and no case that takes the global lock
exclusively is known to come before it (the plugin orders those first; under xdist: once the item is
queued to this worker), in a thread of its own with a process server of its own
(``native.own_server``: cffi lets the GIL go in the C calls), and judges it when the item comes: the
verdict is the one the row gives in the foreground, under the same id.  At most ``RUNNING_MAX`` rows run
at once; a server a row leaves clean is kept for the next row (spawned by the session's thread, as a
server dies with the thread that spawned it), and a row whose item comes before it could start runs in
the foreground.

What keeps the cases apart:

* ``QUIET`` is held by a foreground case from its guard's first snapshot to its last, and by a background
  row everywhere except inside its server calls.  So nothing the background row opens, creates or closes
  in the runner (a cgroup, an fd, its server) appears or goes in the middle of a foreground case; the
  background server and thread are left out of every other case's count (``snapshot``), and their
  children are counted only against the row that owns the server.
* The background row has guards of its own, taken in its thread around its scenario (its server's fds
  and children; the runner's fds, cgroups and mounts too when no other row started or ended meanwhile,
  whose could not be told from its own): a leak is reported on its item, as a foreground leak would be,
  and the item itself takes no snapshot.  The kernel log and the taint stay with the foreground case
  running meanwhile.  A waiting row's item that times out, or an interruption, cancels the row.
* The row takes its shared hold and its machine-wide read hold (on files of its own) before ``QUIET``, so
  waiting for another run's change never stalls the foreground; ``QUIET`` is handed over in order
  (``FairLock``), so a row asking between two cases gets it before the next case.
* Global state: only a row that holds the global lock shared and changes nothing (``eligible``) runs in
  the background; it holds its own shared hold (this user's exclusive cases wait for it, as for any
  case) and its own machine-wide read hold, and its overlap check is the foreground one.  Before a
  foreground case that takes the lock exclusively, the background rows of this process are finished
  first (``drain``), so the two never wait on each other.
* A requirement that is not met, or an item not selected, never starts the scenario.  An interruption
  sets every row's cancel event: its server call stops within one slice (0.1 s), the server and the
  scenario's processes are killed, and the interruption's report names the stopped rows.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from conformance import native
from conformance.host.records import record
from conformance.isolation import globallock, machine, snapshot
from conformance.isolation.guards import Findings, KernelLog, compare_and_clean
from conformance.suite.case import Case, ClockWait
from conformance.suite.verdict import Judgement, Verdict

__all__ = ["QUIET", "Background", "ClockWait", "Outcome", "Waits", "eligible"]

class FairLock:
    """A lock handed over in the order it was asked for: a background row asking between two cases gets it
    before the next case (a plain Lock may go back to the thread that let it go, again and again)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[object] = collections.deque()
        self._held = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = object()
        with self._cond:
            self._queue.append(me)
            ok = self._cond.wait_for(lambda: not self._held and self._queue[0] is me,
                                     None if timeout < 0 else timeout) if blocking else (
                not self._held and self._queue[0] is me)
            if not ok:
                self._queue.remove(me)
                self._cond.notify_all()
                return False
            self._queue.popleft()
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            self._held = False
            self._cond.notify_all()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# Held by a foreground case from its first guard snapshot to its last, and by a background row outside
# its server calls (see the module's doc).
QUIET = FairLock()

# (case, its shared hold, the list of what it left changed, its machine-wide read hold) -> (its verdict,
# whether it met a change of what it reads): plugin.judge
Judge = Callable[[Case[Any], globallock.Holder, list[str], machine.Hold], tuple[Judgement, bool]]


def eligible(case: Case[Any]) -> bool:
    """A row that may wait in the background: it declares a clock wait, changes no global state and
    holds the global lock shared only."""
    return isinstance(case.waits, ClockWait) and not case.changes and case.lock is globallock.Lock.SHARED


@record
class Outcome:
    judgement: Judgement
    overlapped: bool
    restored: list[str]
    findings: Findings


class Background:
    """One row's scenario, run in a thread of its own."""

    def __init__(self, key: str, case: Case[Any], judge: Judge, server: native.Server) -> None:
        self.key = key
        self.case = case
        self.judge = judge
        self.server = server  # native.background_server(), taken by the thread that starts the row
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.started = time.monotonic()
        self.outcome: Outcome | None = None
        self.thread = threading.Thread(target=self._run, name=f"kconform-wait {case.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()
        while self.thread.native_id is None:  # pragma: no cover - set before start() returns
            time.sleep(0.001)
        snapshot.BACKGROUND_TIDS.add(self.thread.native_id)
        snapshot.forget()  # the next case's "before" is read afresh

    def _run(self) -> None:
        lock = globallock.Holder()
        hold = machine.Hold(own=True)  # files of its own: flock belongs to the open file
        server: native.Server | None = None
        quiet = False
        try:
            # before QUIET: a wait for either never stalls the foreground
            lock.acquire(globallock.Lock.SHARED)
            if self.case.reads:
                hold.acquire(exclusive=False)
            QUIET.acquire()
            quiet = True
            generation = _GENERATION.bump()
            with native.own_server(self.cancel, QUIET, self.server) as server:
                before = snapshot.RunnerState.take()
                restored: list[str] = []
                j, overlapped = self.judge(self.case, lock, restored, hold)
                if _GENERATION.bump() != generation + 1:
                    # another row waited meanwhile: what it opened or created in the runner is not this
                    # row's, so only what is this row's alone is compared (its server's fds and processes)
                    before = dataclasses.replace(snapshot.RunnerState.take(), children=before.children,
                                                 server_fds=before.server_fds)
                findings = compare_and_clean(before, KernelLog.closed(), keep=False)
                findings.health = []  # the kernel log and taint are the foreground case's
                server.reusable = not findings.leaks  # the next row's, when nothing of this one's is left
            self.outcome = Outcome(j, overlapped, restored, findings)
        except native.Cancelled:
            self.outcome = Outcome(Judgement(Verdict.ERROR, "interrupted: the background wait was stopped"),
                                   False, [], Findings())
        except BaseException as e:
            self.outcome = Outcome(Judgement(Verdict.ERROR, f"harness: background wait: {e}"), False, [],
                                   Findings())
        finally:
            if server is None:  # left before its server was taken: no later row gets it
                native.retire(self.server)
            hold.release()
            lock.release()
            snapshot.forget()
            if quiet and (server is None or not server.quiet_lost):
                _GENERATION.bump()
                QUIET.release()
            self.done.set()

    def result(self) -> Outcome:
        """Wait for the outcome in slices (a signal's handler runs between them); the caller must not
        hold ``QUIET``."""
        _wait(self)
        self.thread.join(5.0)
        if not self.thread.is_alive() and self.thread.native_id is not None:
            snapshot.BACKGROUND_TIDS.discard(self.thread.native_id)  # gone: its number may be reused
        assert self.outcome is not None
        return self.outcome


class _Generation:
    """Counts the starts and ends of background rows' windows (a row whose window saw another's start or
    end compares only what is its own alone)."""

    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def bump(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


_GENERATION = _Generation()


# Rows waiting at once, in one process.  Each has a process server of its own, kept for the next row when
# it ends clean: spawning one costs ~0.2 s of a TCG guest's single vCPU (2.5 ms on a host), about what a
# short row's wait saves, so the rows share a few servers rather than each starting its own.  A row whose
# item comes before it could start runs in the foreground, with the same verdict.
RUNNING_MAX = 4


class Waits:
    """This process's background rows, by item key (the node id)."""

    def __init__(self, judge: Judge, running_max: int = RUNNING_MAX) -> None:
        self.judge = judge
        self.running_max = running_max
        self.rows: dict[str, Background] = {}  # started, not yet judged
        self.started: list[Background] = []
        self.taken: set[str] = set()
        self.declined: set[str] = set()

    def start(self, key: str, case: Case[Any]) -> bool:
        """Start the row's scenario unless it runs already, ran, or its requirements are not met; not yet
        while ``running_max`` rows run (asked again before a later item)."""
        if key in self.rows or key in self.taken or key in self.declined or not eligible(case):
            return False
        if not self.room():
            return False
        if native.server_mode() != "server" or case.unmet() is not None:
            self.declined.add(key)  # in-process scenarios stay in the foreground; a skip starts nothing
            return False
        server = native.background_server()
        if server is None:  # none could be spawned now (a process limit): the row runs in the foreground
            self.declined.add(key)
            return False
        bg = Background(key, case, self.judge, server)
        try:
            bg.start()
        except RuntimeError:  # no thread to be had: the same
            native.retire(server)
            self.declined.add(key)
            return False
        self.rows[key] = bg
        self.started.append(bg)
        return True

    def active(self) -> bool:
        """Some row is running in the background."""
        return any(not bg.done.is_set() for bg in self.started)

    def room(self) -> bool:
        """Fewer than ``running_max`` rows are running: another may start."""
        return sum(not bg.done.is_set() for bg in self.started) < self.running_max

    def has(self, key: str) -> bool:
        return key in self.rows

    def take(self, key: str) -> Background | None:
        """The row's background run, when one was started (once)."""
        self.taken.add(key)
        return self.rows.pop(key, None)

    def drain(self) -> None:
        """Let every running row finish (before a case that takes the global lock exclusively), each within
        the case timeout from its start; one still running then is stopped (its item reports that)."""
        for bg in list(self.rows.values()):
            deadline = bg.started + globallock.TIMEOUT_S
            while not bg.done.wait(0.1):
                if time.monotonic() > deadline:
                    bg.cancel.set()
                    bg.done.wait(5.0)
                    break
        native.stop_idle_servers()

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Cancel every row still running and wait (bounded) for each; the ids of those that were stopped."""
        stopped = []
        for bg in self.started:
            if not bg.done.is_set():
                bg.cancel.set()
                stopped.append(f"{bg.case.behaviour}/{bg.case.id}")
        deadline = time.monotonic() + timeout_s
        for bg in self.started:
            bg.done.wait(max(0.0, deadline - time.monotonic()))
        native.stop_idle_servers()
        return stopped


def _wait(bg: Background) -> None:
    while not bg.done.wait(0.1):
        pass
