"""pytest plugin: the ``kc`` fixture, guards, timeouts, verdict collection, reports.

Loaded through the ``pytest11`` entry point, so ``pytest cases/`` and
``kconform run`` behave the same.  Under xdist, workers run cases and the
controller collects the verdicts and writes every report once.  The verdict
is data from the case to the collector: the case's identity and its
Judgement travel as JSON in ``user_properties`` (set by ``kc.check`` or by the
timeout); pytest's own outcome (pass, skip, fail) is kept consistent with it
for plain pytest users, but is never parsed back into a verdict.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import pytest

from conformance import native
from conformance.host import kernel, paths, privilege, version
from conformance.host.usage import UsageError, positive_seconds
from conformance.isolation import globallock, globalstate, guardian, interrupt, machine
from conformance.isolation.guards import Findings, KernelLog, compare_and_clean
from conformance.isolation.snapshot import WATCHED_SYSCTLS, RunnerState, forget
from conformance.runner import outputs, stdio
from conformance.suite import costs, limits, probes, registry, waits
from conformance.suite.case import Case, judge_case
from conformance.suite.expectations import ExpectationError, Expectations
from conformance.suite.results import CASE_PROP, GUARD_PROP, JUDGEMENT_PROP, CaseRecord, RunRecord
from conformance.suite.shard import Shard, Unit, parse_shard, plan
from conformance.suite.verdict import Judgement, Verdict

DEFAULT_TIMEOUT = 60.0


class CaseTimeout(Exception):
    pass


def _props(item: pytest.Item | pytest.TestReport) -> dict[str, object]:
    return dict(item.user_properties)


def record_judgement(item: pytest.Item, j: Judgement) -> None:
    """The case's verdict, as data for the collector (the last one recorded wins)."""
    item.user_properties[:] = [(k, v) for k, v in item.user_properties if k != JUDGEMENT_PROP]
    item.user_properties.append((JUDGEMENT_PROP, json.dumps(j.to_json())))


class Conformance:
    """The ``kc`` fixture: judges one case and records its verdict."""

    def __init__(self, item: pytest.Item, expectations: Expectations | None, lock: globallock.Holder) -> None:
        self.item = item
        self.expectations = expectations
        self.lock = lock
        self.restored: list[str] = []  # declared global changes the case left behind (now undone)
        self.background_leaks: list[str] = []  # what the row's guards found, when it ran in the background

    def check(self, case: Case[Any]) -> None:
        # Identity first: a case that times out still reports under its id.
        self.item.user_properties.append((CASE_PROP, json.dumps({"classname": case.behaviour, "name": case.id})))
        bg = _WAITS.take(self.item.nodeid) if _WAITS is not None else None
        if bg is not None:  # its scenario ran (or runs) in the background: its outcome, and its guards'
            waits.QUIET.release()  # held by the kc fixture; the row needs it to finish
            try:
                outcome = bg.result()
            except BaseException:  # the case's timeout or an interruption: the row stops too
                bg.cancel.set()
                raise
            finally:
                waits.QUIET.acquire()
            j, overlapped = outcome.judgement, outcome.overlapped
            self.restored.extend(outcome.restored)
            self.background_leaks = outcome.findings.leaks
        else:
            j, overlapped = judge(case, self.lock, self.restored)
        if not overlapped and self.expectations is not None:
            j = self.expectations.apply(case.behaviour, case.id, kernel.facts().release, j)
        record_judgement(self.item, j)
        if j.verdict is Verdict.PASS:
            return
        if j.verdict in (Verdict.SKIP, Verdict.OLD_MODEL, Verdict.OVERRIDDEN):
            pytest.skip(j.with_prefix())
        prefix = "error: " if j.verdict is Verdict.ERROR else ""
        pytest.fail(prefix + j.message, pytrace=False)


def judge(case: Case[Any], lock: globallock.Holder, restored: list[str], held: machine.Hold | None = None
          ) -> tuple[Judgement, bool]:
    """The case's verdict under the locks its declarations ask for (before expectations), and whether it
    is an error because what the case reads changed meanwhile (no expectation applies to that).  The
    declared global changes it left behind (now undone) go into ``restored``.  ``held``: the
    machine-wide read hold taken already (a row waiting in the background holds one on files of its own,
    beside the foreground case's, before it takes QUIET)."""
    # the machine-wide lock: other users' runs that change what the case reads (``held``: taken already)
    hold = held if held is not None else machine.Hold()
    reads = (*case.reads, *case.changes)  # a case depends on what it changes too (its requirements)
    try:
        if reads and held is None:
            hold.acquire(exclusive=False)
        before = machine.snapshot(reads) if reads else None
        if before is not None and machine.moved(before):
            probes.probe.cache_clear()  # what they answered depended on the old value
        j = _judge(case, hold, lock, restored)
        why = machine.overlap(before, machine.snapshot(reads), hold) if before is not None else None
    finally:
        hold.release()
    if why is not None:  # requirements, probes or observation met a change of what the case reads
        probes.probe.cache_clear()  # a probe answered meanwhile may have seen the change: ask again
        return Judgement(Verdict.ERROR, why), True
    return j, False


def _judge(case: Case[Any], hold: machine.Hold, lock: globallock.Holder, restored: list[str]) -> Judgement:
    reason = case.unmet()
    if reason is not None:
        return Judgement(Verdict.SKIP, reason)
    if case.lock is globallock.Lock.EXCLUSIVE or case.changes:
        hold.release()  # the per-user lock first, then the machine-wide one (one order for all)
        lock.acquire(globallock.Lock.EXCLUSIVE)
    if case.changes:  # state other users' cases declare they read
        hold.acquire(exclusive=True)  # bounded: past it the change is announced all the same
    done: list[str] = []
    try:
        with globalstate.changing(case.changes, f"{case.behaviour}/{case.id}") as done:
            try:
                j = judge_case(case)
            except OSError as e:  # e.g. no fd or process left for the harness: its error, not a fail
                j = Judgement(Verdict.ERROR, f"harness: {e}")
    finally:
        restored.extend(done)  # filled as the change is undone, however the case ended
    return limits.explain(j)  # red under a tight ulimit: an error naming the limit


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kconform")
    from conformance.report import writers

    writers.add_plugin_options(g)  # --kc-junit, --kc-ktap, --kc-json, --kc-kcidb (the writer table)
    g.addoption("--kc-timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT, help="per-case timeout")
    g.addoption("--kc-expectations", metavar="PATH", help="TOML file of known deviations")
    g.addoption("--kc-no-guards", action="store_true", help="disable leak and health guards")
    g.addoption("--kc-full-protocol", action="store_true",
                help="run each row through pytest's whole per-item protocol (its phase hooks, per-phase output "
                     "capture) rather than the plugin's own")
    g.addoption("--kc-suite-name", metavar="NAME", default="", help="testsuite name prefix in reports")
    g.addoption("--kc-family", action="append", default=[], metavar="NAME",
                help="only cases of this behaviour family (the prefix of their behaviour id); repeatable")
    g.addoption("--kc-shard", metavar="K/N", default="",
                help="only the K-th of N disjoint parts of the cases (every N-th row of each table); "
                     "N runs with 1/N .. N/N run each case once")
    g.addoption("--kc-allow-change", action="append", default=[], metavar="SYSCTL",
                help="let the rows that change this machine-wide sysctl run here (they always run in a kconform "
                     "VM guest); e.g. kernel.core_pattern; repeatable")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


_BASETEMP = pytest.StashKey[Path]()
_GUARDED = pytest.StashKey[stdio.Guarded]()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Before pytest makes its temporary directories: the controller's go into kconform's private directory
    (xdist gives each worker one inside), not into $TMPDIR/pytest-of-<user>, which another user can
    create first (a directory or a symlink: pytest's internal error); removed at the end."""
    if _is_worker(config):
        return
    if sys.stdout is not None and not isinstance(sys.stdout, stdio.Guarded):
        # plain pytest: its terminal reporter (made next) writes through the guard, so a closed pipe or a
        # full device ends the run as kconform run's does (kconform run guards stdout itself)
        sys.stdout = stdio.Guarded(sys.stdout, "stdout")
        config.stash[_GUARDED] = sys.stdout
    if getattr(config.option, "basetemp", None):
        return
    with contextlib.suppress(OSError, paths.UnsafePath):
        config.option.basetemp = str(paths.pytest_basetemp())
        config.stash[_BASETEMP] = Path(config.option.basetemp)


EXIT_WRITE_FAILED = 3  # a report could not be written (one line on stderr)


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_SHARD] = parse_shard(str(config.getoption("--kc-shard") or ""))
    except ValueError as e:
        raise pytest.UsageError(str(e).replace("--shard", "--kc-shard")) from None
    timeout = float(config.getoption("--kc-timeout"))
    try:
        positive_seconds(timeout, "--kc-timeout")  # kconform run's own range (what the clocks can hold)
    except UsageError as e:
        raise pytest.UsageError(str(e)) from None
    globallock.TIMEOUT_S = timeout  # every wait on the global lock is bounded by the case timeout
    try:
        globalstate.allow_changes(list(config.getoption("--kc-allow-change")))
    except ValueError as e:
        raise pytest.UsageError(str(e).replace("--allow-change", "--kc-allow-change")) from None
    path = config.getoption("--kc-expectations")
    try:
        config.stash[_EXPECTATIONS] = Expectations.load(Path(path)) if path else None
    except ExpectationError as e:
        raise pytest.UsageError(str(e)) from None
    config.stash[_KLOG] = KernelLog()
    global _WAITS
    _WAITS = waits.Waits(judge)
    interrupt.install()
    global _CONFIG
    _CONFIG = config
    if not _is_worker(config):
        from conformance.report import writers

        tmpdir_problem = paths.check_tmpdir()
        if tmpdir_problem is not None:
            raise pytest.UsageError(tmpdir_problem)
        writers.check_plugin_options(config.getoption)
        # Before anything else: repair what a killed run left, note what others changed.
        config.stash[_RUNSTATE] = globalstate.RunState(WATCHED_SYSCTLS)
        config.stash[_LIMITS] = limits.run_notes()  # checked once, before the cases
        os.environ[NOTES_ENV] = f"notes-{os.getpid()}"  # before the xdist workers start: they inherit it
        collector = RecordCollector(config)
        collector.write_provisional()
        config.pluginmanager.register(collector, "kconform-records")
        config.pluginmanager.register(InterruptForwarder(collector), "kconform-interrupt")


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_waits()
    guardian.stop()  # its queued scratch removals are done when it returns
    basetemp = config.stash.get(_BASETEMP, None)
    if basetemp is not None:
        shutil.rmtree(basetemp, ignore_errors=True)
    guarded = config.stash.get(_GUARDED, None)
    if guarded is not None:
        guarded.flush()
        if sys.stdout is guarded:
            sys.stdout = guarded.real
    if not _is_worker(config):
        _workers_notes(take=True)
    klog = config.stash.get(_KLOG, None)
    if klog is not None:
        klog.close()


_EXPECTATIONS = pytest.StashKey[Expectations | None]()
_KLOG = pytest.StashKey[KernelLog]()
_RUNSTATE = pytest.StashKey[globalstate.RunState]()
_LIMITS = pytest.StashKey[list[str]]()
_SHARD = pytest.StashKey[Shard]()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_RUNSTATE, None)
    if state is not None:
        state.finish()


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    _share_family_modules(session.config.args)


def _share_family_modules(args: list[str]) -> None:
    """In a checkout, pytest imports cases/<family>/ from its path as ``cases.<family>``, a second copy of
    every model and table beside the installed ``kconform_cases.<family>`` the registry loads (seconds
    under TCG).  When the run collects there, give pytest the loaded modules under those names instead:
    the same files, imported once."""
    try:
        root = registry.cases_dir()
    except registry.RegistryError:
        return
    pkg, alias = registry.CASES_PACKAGE, root.name
    if alias == pkg or not alias.isidentifier() or (root.parent / "__init__.py").exists():
        return  # an installed package (pytest uses its own name), or a layout pytest names otherwise
    if alias in sys.modules and sys.modules[alias] is not sys.modules.get(pkg):
        return  # something else already owns that name
    paths = [Path(a.split("::", 1)[0]).resolve() for a in args]
    if not any(p == root or root in p.parents or p in root.parents for p in paths):
        return  # nothing collected from the families
    registry.families()
    for name, mod in list(sys.modules.items()):
        if name == pkg or name.startswith(pkg + "."):
            sys.modules.setdefault(alias + name[len(pkg):], mod)


def _case_of(item: pytest.Item) -> Case[Any] | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``case`` in a module with a ``CASES`` table runs once per row, under the row's id;
    with --kc-family only the rows of those families become items (collection is per item: seconds
    under TCG for the rows a run leaves out).  A test that parametrizes ``case`` itself is left alone."""
    cases = getattr(metafunc.module, "CASES", None)
    if "case" not in metafunc.fixturenames or cases is None:
        return
    if any("case" in _argnames(m.args[0] if m.args else m.kwargs.get("argnames", ()))
           for m in metafunc.definition.iter_markers("parametrize")):
        return
    wanted = set(metafunc.config.getoption("--kc-family"))
    rows = [c for c in cases if not wanted or (isinstance(c, Case) and c.family in wanted)]
    metafunc.parametrize("case", rows, ids=[c.id for c in rows])


def _argnames(names: object) -> tuple[str, ...]:
    if isinstance(names, str):
        return tuple(n.strip() for n in names.split(","))
    return tuple(str(n) for n in names) if isinstance(names, list | tuple) else ()


@pytest.hookimpl(trylast=True)  # after -k and -m: the parts share out what the run selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--kc-family: keep the cases whose behaviour belongs to one of the families (wherever they are declared).
    --kc-shard K/N: of those, the K-th part of the split by cost (shard.plan)."""
    wanted = set(config.getoption("--kc-family"))
    keep = [it for it in items if not wanted or ((case := _case_of(it)) is not None and case.family in wanted)]
    shard = config.stash[_SHARD]
    if shard.n > 1:
        parts = shard_plan(keep, shard.n)
        keep = [it for it in keep if parts[it.nodeid] == shard.k]
    if len(keep) < len(items):
        kept = {id(it) for it in keep}
        config.hook.pytest_deselected(items=[it for it in items if id(it) not in kept])
        items[:] = keep
    _order_waiting(config, items)


def shard_plan(items: list[pytest.Item], n: int) -> dict[str, int]:
    """Each item's part (1..n) by its estimated cost (costs.json).  The rows that wait on the clock and the
    cases that take the global lock exclusively share one part: a waiting row holds the lock shared for
    its whole wait, so in another part it would stall an exclusive case, and with it (the lock prefers
    writers) every case of every part, for up to its wait; in one part, the exclusive cases come first
    and the waits start after them (_order_waiting)."""
    estimates = costs.load()
    units = []
    for it in items:
        case = _case_of(it)
        ms = estimates.estimate(*((case.behaviour, case.id) if case is not None else ("", "")))  # "": unknown
        units.append(Unit(it.nodeid, ms, case is not None and (_exclusive(case) or waits.eligible(case))))
    return plan(units, n)


# --------------------------------------------------------------------------- rows waiting on the clock

_WAITS: waits.Waits | None = None  # this process's rows waiting in the background (waits.py)


def _exclusive(case: Case[Any] | None) -> bool:
    return case is not None and (bool(case.changes) or case.lock is globallock.Lock.EXCLUSIVE)


def _order_waiting(config: pytest.Config, items: list[pytest.Item]) -> None:
    """When some rows wait on the clock (those that may wait in the background), the order hides their
    wait: the cases that take the global lock exclusively first (a waiting row must not overlap them,
    and they are few and short), then in a serial run the others and the waiting rows last (started
    after the exclusive ones, judged after everything else); under xdist the waiting rows right after the
    exclusive ones (every worker orders alike; the first items are the first sent, so the worker that
    runs them starts them at once while the others work on).  Longest wait first; ids unchanged."""
    cases = [_case_of(it) for it in items]
    waiting = [it for it, c in zip(items, cases, strict=True) if c is not None and waits.eligible(c)]
    if not waiting:
        return
    waiting.sort(key=lambda it: -_wait_s(it))
    exclusive = [it for it, c in zip(items, cases, strict=True) if _exclusive(c)]
    chosen = {id(it) for it in (*waiting, *exclusive)}
    rest = [it for it in items if id(it) not in chosen]
    items[:] = [*exclusive, *waiting, *rest] if _is_worker(config) else [*exclusive, *rest, *waiting]


def _wait_s(item: pytest.Item) -> float:
    case = _case_of(item)
    return case.waits.seconds if case is not None and case.waits is not None else 0.0


def _queued(session: pytest.Session) -> list[int] | None:
    """Under xdist, the indices of the items the controller has sent this worker so far (None: not
    known)."""
    for plugin in session.config.pluginmanager.get_plugins():
        torun = getattr(plugin, "torun", None)
        if torun is not None and hasattr(torun, "lock"):
            with torun.lock() as queue:
                return [i for i in queue if isinstance(i, int)]
    return None


def _waiting_ahead(session: pytest.Session, here: int | None) -> list[int]:
    """The waiting rows this process is known to run after the item at ``here``, none while a case that
    takes the global lock exclusively is known to come after it: in a serial run the rest of the order,
    under xdist what the controller has sent this worker so far.  In a serial run a comparison and a
    bisection per item (the order is known: the last exclusive index and the waiting ones, found once),
    not a walk over the rest of the order; under xdist linear in the worker's queue (a few items)."""
    if not _is_worker(session.config):
        if here is None or session.stash[_LAST_EXCLUSIVE] > here:
            return []
        order = session.stash[_WAITING_ORDER]
        return order[bisect.bisect_right(order, here):]
    queue = _queued(session) or []
    if not session.stash[_EXCLUSIVE].isdisjoint(queue):
        return []
    waiting = session.stash[_WAITING]
    return [i for i in queue if i in waiting]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Before the item's own setup: start the waiting rows this process is known to run, once no case that
    takes the global lock exclusively is known to come (a waiting row must not overlap one; and before
    such a case, the rows running are let finish).  Then a row runs through ``_run_row`` (pytest's own
    protocol for anything else)."""
    _start_waits(item)
    if isinstance(item, pytest.Function) and _own_protocol(item):
        _run_row(item)
        return True
    return None


def _own_protocol(item: pytest.Function) -> bool:
    """A row the plugin runs itself: a case (``case`` from its table, ``kc`` this plugin's, no other fixture,
    no mark but those in _ROW_MARKS), in a run that asks for nothing the shortened protocol leaves out (a
    debugger, --setup-show, --setup-only, --setup-plan, --kc-full-protocol)."""
    config = item.config
    if _FULL_PROTOCOL not in config.stash:
        config.stash[_FULL_PROTOCOL] = any(
            config.getoption(name, False) for name in ("--kc-full-protocol", "usepdb", "trace", "setupshow",
                                                       "setuponly", "setupplan"))
    if config.stash[_FULL_PROTOCOL] or _case_of(item) is None or set(item.fixturenames) != _ROW_FIXTURES:
        return False
    defs = item._fixtureinfo.name2fixturedefs.get("kc")
    func = defs[-1].func if defs else None  # the function pytest calls for kc: this module's (not overridden)?
    if getattr(func, "__module__", None) != __name__ or getattr(func, "__qualname__", None) != "kc":
        return False
    return all(mark.name in _ROW_MARKS for mark in item.iter_markers())


_FULL_PROTOCOL = pytest.StashKey[bool]()
_ROW_FIXTURES = {"case", "kc", "request"}
# marks that mean the same in either protocol: parametrize is spent at collection, filterwarnings is applied
# by the warnings plugin's wrapper around the whole protocol
_ROW_MARKS = {"parametrize", "filterwarnings"}


def _run_row(item: pytest.Function) -> None:
    """pytest's per-item protocol for a row, shortened: the same hooks around it (logstart, one report per
    phase through pytest_runtest_logreport, logfinish; the protocol's own hook wrappers), the same
    reports (``TestReport.from_item_and_call`` of each phase's ``CallInfo``), the same order (no call
    after a setup that did not pass; the teardown always), the same per-case timeout; without the fixture
    machinery (``kc``'s body, ``_guarded``, driven as pytest drives a yield fixture), the per-phase hooks
    (pytest_runtest_setup/call/teardown, makereport) and the per-phase output capture.  Under TCG that
    machinery was ~8 ms of every item, ~5 s of a suite.  An interruption still runs the teardown (the
    guards' clean-up) before it goes on."""
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    case = item.callspec.params["case"]
    body = _guarded(item, item.config)
    conf: list[Conformance] = []
    done = False

    def phase(when: Literal["setup", "call", "teardown"], fn: Callable[[], None]) -> pytest.TestReport:
        call = pytest.CallInfo.from_call(fn, when=when, reraise=(pytest.exit.Exception, KeyboardInterrupt))
        report = pytest.TestReport.from_item_and_call(item, call)
        ihook.pytest_runtest_logreport(report=report)
        return report

    def call() -> None:
        with _case_timeout(item):
            item.obj(case=case, kc=conf[0])

    def teardown() -> None:
        nonlocal done
        done = True
        try:
            next(body)
        except StopIteration:
            return
        raise RuntimeError("the kc body yielded twice")

    try:
        if phase("setup", lambda: conf.append(next(body))).passed:
            phase("call", call)
        phase("teardown", teardown)
    except BaseException:
        if not done:
            with contextlib.suppress(BaseException):
                teardown()
        raise
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def _start_waits(item: pytest.Item) -> None:
    if _WAITS is None:
        return
    session = item.session
    if _INDEX not in session.stash:  # once: where the rows that wait, and the exclusive ones, are
        session.stash[_INDEX] = {it.nodeid: i for i, it in enumerate(session.items)}
        order = [i for i, it in enumerate(session.items) if (c := _case_of(it)) is not None and waits.eligible(c)]
        exclusive = {i for i, it in enumerate(session.items) if _exclusive(_case_of(it))}
        session.stash[_WAITING] = set(order)
        session.stash[_WAITING_ORDER] = order
        session.stash[_EXCLUSIVE] = exclusive
        session.stash[_LAST_EXCLUSIVE] = max(exclusive, default=-1)
    case = _case_of(item)
    if _exclusive(case):
        _WAITS.drain()
        return
    waiting = session.stash[_WAITING]
    if not waiting:
        return
    here = session.stash[_INDEX].get(item.nodeid)
    for i in ([here] if here in waiting else []) + _waiting_ahead(session, here):
        if not _WAITS.room():
            break  # the rest are asked again before the next item
        it = session.items[i]
        c = _case_of(it)
        if c is not None:
            _WAITS.start(it.nodeid, c)


_INDEX = pytest.StashKey[dict[str, int]]()
_WAITING = pytest.StashKey[set[int]]()
_WAITING_ORDER = pytest.StashKey[list[int]]()  # the same, in the run's order
_EXCLUSIVE = pytest.StashKey[set[int]]()
_LAST_EXCLUSIVE = pytest.StashKey[int]()  # -1: none


def _stop_waits() -> None:
    """The run stops: every row still waiting in the background is stopped, and the interruption's report
    says which."""
    if _WAITS is None:
        return
    stopped = _WAITS.stop()
    if stopped and interrupt.received() is not None:
        interrupt.note(f"background clock wait(s) stopped: {', '.join(stopped)}")


# --------------------------------------------------------------------------- fixtures and guards


@pytest.fixture
def kc(request: pytest.FixtureRequest) -> Generator[Conformance, None, None]:
    yield from _guarded(request.node, request.config)


def _guarded(node: pytest.Item, config: pytest.Config) -> Generator[Conformance, None, None]:
    """The ``kc`` fixture: the case's hold, its guards' first snapshot, the Conformance (yielded), then
    the guards' comparison and clean-up (a leak fails the teardown)."""
    guarded = not config.getoption("--kc-no-guards")
    klog = config.stash[_KLOG]
    case = _case_of(node)
    if case is not None:  # identity first: a case interrupted or failing in setup still reports under its id
        node.user_properties.append((CASE_PROP, json.dumps({"classname": case.behaviour, "name": case.id})))
    lock = globallock.Holder()
    lock.acquire(globallock.Lock.SHARED)  # before QUIET: a row in the background may hold it shared too
    waits.QUIET.acquire()  # no row waiting in the background changes the runner during this case
    try:
        background = _WAITS is not None and _WAITS.has(node.nodeid)
        if _WAITS is not None and _WAITS.active():
            forget()  # a row in the background changed the runner since the last case: read it afresh
        # a row that ran in the background has its own guards (waits.py); its item does nothing here
        before = RunnerState.before_case() if guarded and not background else None
        klog.mark()
        conf = Conformance(node, config.stash[_EXPECTATIONS], lock)
        yield conf
        with interrupt.deferred():  # the guards' clean-up is not cut short by a signal
            findings = compare_and_clean(before, klog) if before is not None else Findings()
        findings.leaks += conf.background_leaks if guarded else []
        findings.leaks += conf.restored
    finally:
        lock.release()
        waits.QUIET.release()
    if findings and interrupt.received() is not None:
        # torn down because the run was interrupted: what was put back goes into the interruption case
        _note_restored(config, f"{node.nodeid}: {findings.message()} (cleaned up)")
        return
    if findings:
        node.user_properties.append((GUARD_PROP, findings.message()))
        pytest.fail(findings.message(), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> Generator[None, None, None]:
    """pytest's terminal reporter fails (TypeError) to render a traceback whose last entry has no line
    number (a signal that lands where Python 3.11 has none, e.g. in generated code), and then fails again
    at the session's end (it asserts the rendering it keeps): it is given the same exception with a
    traceback of one ordinary frame instead, so the interruption is reported as any other."""
    globallock.release_all()  # the interrupted case's hold: its teardown only comes at the session's end
    _stop_waits()
    try:
        return (yield)
    except TypeError:
        terminal = _CONFIG.pluginmanager.get_plugin("terminalreporter") if _CONFIG is not None else None
        if terminal is not None:
            terminal.pytest_keyboard_interrupt(excinfo=renderable(excinfo.value))
        return None


def renderable(exc: BaseException) -> pytest.ExceptionInfo[BaseException]:
    """``exc`` as an ExceptionInfo whose traceback is this one frame (its line number known)."""
    try:
        raise exc.with_traceback(None)
    except BaseException:
        return pytest.ExceptionInfo.from_current()


_CONFIG: pytest.Config | None = None  # this process's configuration (hooks that are not given it)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _case_timeout(item):
        yield


@contextlib.contextmanager
def _case_timeout(item: pytest.Item) -> Iterator[None]:
    """The per-case timeout (SIGALRM; in the main thread, for items that use ``kc``)."""
    timeout = float(item.config.getoption("--kc-timeout"))
    use_alarm = "kc" in getattr(item, "fixturenames", ()) and timeout > 0 and (
        threading.current_thread() is threading.main_thread()
    )
    if not use_alarm:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        message = f"case timed out after {timeout:g} s and was abandoned"
        record_judgement(item, Judgement(Verdict.ERROR, message))
        raise CaseTimeout(message)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- what an interruption restored

NOTES_ENV = "KCONFORM_RUN_NOTES"  # the controller's notes file (in the private directory) for its workers


def _note_restored(config: pytest.Config, text: str) -> None:
    """What a teardown put back because the run was interrupted: noted here, and from an xdist worker also
    appended to the controller's notes file (the worker's own reports are not sent once it is stopped)."""
    interrupt.note(text)
    name = os.environ.get(NOTES_ENV, "")
    if not _is_worker(config) or not name:
        return
    with contextlib.suppress(OSError, paths.UnsafePath):
        fd = paths.open_private(name, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (" ".join(text.split()) + "\n").encode())
        finally:
            os.close(fd)


def _workers_notes(take: bool = False) -> list[str]:
    """The lines the workers appended (and, with ``take``, remove the file)."""
    name = os.environ.get(NOTES_ENV, "")
    if not name:
        return []
    try:
        fd = os.open(paths.private_dir() / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        with os.fdopen(fd, "rb") as f:
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    if take:
        with contextlib.suppress(OSError):
            os.unlink(paths.private_dir() / name)
    return lines


def _restored_notes() -> list[str]:
    return list(dict.fromkeys([*interrupt.notes(), *_workers_notes()]))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Output errors stop the run where they happen while it is in its loop (conformance.runner.stdio).
    pytest returns to its starting directory at the end, before the reports: when that directory was
    removed under the run, start from / instead (and the controller stops the run: an output error)."""
    stdio.live(True)
    try:
        if interrupt.received() == interrupt.OUTPUT_ERROR:  # stdout already failed (e.g. the header)
            raise interrupt.Interrupted(interrupt.OUTPUT_ERROR)
        return (yield)
    finally:
        stdio.live(False)
        if stdio.cwd_removed():
            with contextlib.suppress(OSError):
                os.chdir("/")
            session.config.invocation_params = dataclasses.replace(session.config.invocation_params, dir=Path("/"))
            if not _is_worker(session.config):
                stdio.check_cwd()


# --------------------------------------------------------------------------- collection (controller)


def _short(report: pytest.TestReport) -> str:
    """pytest's own one-line account of a phase (for outcomes no case judged: plain tests, fixture errors)."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash: Any = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "")) if crash is not None else ""
    if message:
        return message.removeprefix("Failed: ")
    text = report.longreprtext or str(report.longrepr or "")
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _judgement(report: pytest.TestReport) -> Judgement | None:
    raw = _props(report).get(JUDGEMENT_PROP)
    return Judgement.from_json(json.loads(str(raw))) if raw is not None else None


def record_from_reports(nodeid: str, record: CaseRecord | None, report: pytest.TestReport) -> CaseRecord:
    """Fold one phase report into the case record (pure: used by tests too).

    A case's verdict comes from its recorded Judgement; pytest's outcome decides
    only for what no case judged (a plain test, or an exception before a verdict)."""
    props = _props(report)
    if record is None:
        module, _, name = nodeid.partition("::")
        record = CaseRecord(nodeid, module.replace("/", ".").removesuffix(".py"), name)
    identity = props.get(CASE_PROP)
    if identity is not None:
        ident = json.loads(str(identity))
        record.classname, record.name = str(ident["classname"]), str(ident["name"])
    record.duration += report.duration
    if report.when == "call":
        j = _judgement(report)
        if j is not None:
            record.verdict, record.message = j.verdict, j.with_prefix()
        elif report.failed:
            # an exception inside a case is the harness's problem; in a plain test it is its failure
            record.verdict = Verdict.ERROR if identity is not None else Verdict.FAIL
            record.message = _short(report)
            record.details = report.longreprtext
        elif report.skipped:
            record.verdict = Verdict.SKIP
            record.message = _short(report)
    elif report.failed:  # setup or teardown: harness/guard problems are errors
        record.verdict = Verdict.ERROR
        msg = str(props.get(GUARD_PROP, "")) or _short(report)
        record.message = f"{report.when}: {msg}" + (f" (case verdict was {record.message})" if record.message
                                                    and report.when == "teardown" else "")
        record.details = report.longreprtext
    elif report.skipped and report.when == "setup":
        record.verdict = Verdict.SKIP
        record.message = _short(report)
    return record


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str | tuple[str, dict[str, bool]]] | None:
    if report.when != "call":
        return None
    j = _judgement(report)
    verdict = j.verdict if j is not None else None
    if verdict is Verdict.OLD_MODEL:
        return "old-model", "o", ("OLD-MODEL", {"yellow": True})
    if verdict is Verdict.OVERRIDDEN:
        return "overridden", "v", ("OVERRIDDEN", {"yellow": True})
    if verdict is Verdict.ERROR:
        return "error", "E", ("ERROR", {"red": True})
    return None


def _identity_from_nodeid(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a case known only by its node id: its family and its case id."""
    module, _, test = nodeid.partition("::")
    parts = module.removesuffix(".py").split("/")
    family = parts[-2] if len(parts) >= 2 else parts[-1]
    case_id = test.partition("[")[2].removesuffix("]") or test
    return family, case_id


class InterruptForwarder:
    """Interrupted: pass the signal on to the xdist workers before xdist tears them down, so that
    each stops its case and restores what it changed."""

    def __init__(self, collector: RecordCollector) -> None:
        self.collector = collector

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if interrupt.received() is None:
            return
        for pid in self.collector.worker_pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


# How often the working directory is looked at between cases: a stat of it is a round trip to the host
# where it is shared over 9p without a cache (~1 ms under TCG), per case that was ~1% of a guest's run.
CWD_CHECK_S = 0.25


class RecordCollector:
    """On the controller (or a plain run): one CaseRecord per case, then the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, CaseRecord] = {}
        self.started = time.time()
        self.saw_cases = False  # any conformance case (not only plain tests, e.g. self-tests)
        self.running: dict[str, str] = {}  # node ids of cases started and not finished
        self.collected = 0
        self.worker_pids: list[int] = []
        self.outputs = outputs.from_plugin_options(config.getoption)
        self.origin = str(config.getoption("--kc-kcidb-origin"))
        self.not_run_keys: dict[str, outputs.CaseKey] = {}  # node id -> case, for the not-run list
        self.next_cwd_check = 0.0

    def write_provisional(self) -> None:
        """Before anything runs: reports that say "incomplete", replaced by the final ones."""
        if not self.outputs:
            return
        errors = outputs.write_all(self.outputs, outputs.RunReport(
            outputs.provisional(self.run_record().properties), kcidb_origin=self.origin))
        if errors:
            raise pytest.UsageError("; ".join(errors))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running[nodeid] = ""
        now = time.monotonic()
        if now >= self.next_cwd_check:  # a removed working directory stops the run (an output error)
            self.next_cwd_check = now + CWD_CHECK_S
            stdio.check_cwd()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.running.pop(nodeid, None)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = max(self.collected, len(session.items))
        for item in session.items:
            case = _case_of(item)
            if case is not None:
                self.not_run_keys[item.nodeid] = outputs.CaseKey(case.behaviour, case.id)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = max(self.collected, len(ids))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_newgateway(self, gateway: Any) -> None:
        """A worker process: its pid, for passing an interruption on (xdist's worker info has no pid; a
        local worker is the gateway's Popen)."""
        popen = getattr(getattr(gateway, "_io", None), "popen", None)
        pid = getattr(popen, "pid", None)
        if isinstance(pid, int) and pid not in self.worker_pids:
            self.worker_pids.append(pid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodeready(self, node: Any) -> None:
        pid = getattr(node, "workerinfo", {}).get("pid")
        if isinstance(pid, int) and pid not in self.worker_pids:
            self.worker_pids.append(pid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.records[report.nodeid] = record_from_reports(report.nodeid, self.records.get(report.nodeid), report)
        self.saw_cases = self.saw_cases or any(k == CASE_PROP for k, _ in report.user_properties)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module that cannot be collected is an error case, so dashboards see it."""
        if not report.failed:
            return
        nodeid = report.nodeid or "session"
        text = str(report.longrepr or "")
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        self.records[f"collect:{nodeid}"] = CaseRecord(
            f"collect:{nodeid}", "kconform.collection", nodeid.replace("/", "."), Verdict.ERROR,
            f"collection failed: {lines[-1].strip() if lines else 'unknown error'}", 0.0, text)

    def run_record(self) -> RunRecord:
        props = kernel.facts().as_properties()
        props.update(privilege.current().properties())
        props["run.started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started))
        props["run.duration_s"] = f"{time.time() - self.started:.3f}"
        props["run.workers"] = str(getattr(self.config.option, "numprocesses", None) or 0)
        props["run.scenarios"] = native.server_mode()
        props.update(version.properties())  # kconform.version, kconform.commit (read from files, no git run)
        shard = self.config.stash.get(_SHARD, Shard())
        if shard.n > 1:
            props["run.shard"] = str(shard)
        state = self.config.stash.get(_RUNSTATE, None)
        if state is not None:
            props.update(state.properties())
        tight = self.config.stash.get(_LIMITS, [])
        if tight:
            props["run.limits"] = "; ".join(tight)
        name = self.config.getoption("--kc-suite-name")
        if name:
            props["run.label"] = str(name)
            if os.environ.get("KCONFORM_LABEL_NAMES_KERNEL") == "1":  # set by kconform vm in the guest
                props["run.label_names_kernel"] = "yes"
        cases = sorted(self.records.values(), key=lambda c: (c.classname, c.name))
        return RunRecord(props, cases)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """After the teardowns (which restore what the running case changed): the final reports."""
        signum = interrupt.received()
        run = self.run_record()
        if signum is not None:
            self._mark_interrupted(run, signum)
            session.exitstatus = interrupt.exit_status(signum)
        report = outputs.RunReport(run, tuple(self._not_run(run)) if signum is not None else (), self.origin)
        errors = outputs.write_all(self.outputs, report) if self.outputs else []
        interrupt.mark_reported()
        if errors:  # one line, however many reports failed
            print(f"kconform: error: {'; '.join(errors)}", file=sys.stderr)
            session.exitstatus = EXIT_WRITE_FAILED

    def _not_run(self, run: RunRecord) -> list[outputs.CaseKey]:
        seen = {c.nodeid for c in run.cases}
        return [key for nodeid, key in self.not_run_keys.items() if nodeid not in seen]

    def _mark_interrupted(self, run: RunRecord, signum: int) -> None:
        """The running cases become errors (never a pass) and one error case says what happened."""
        name = interrupt.signal_name(signum)
        by_id = {c.nodeid: c for c in run.cases}
        running = []
        for nodeid in self.running:
            rec = by_id.get(nodeid)
            stage = "its verdict"
            if rec is None:  # under xdist: started on a worker, no phase reported yet
                rec = CaseRecord(nodeid, *_identity_from_nodeid(nodeid))
                run.cases.append(rec)
                stage = "its setup finished"
            was = f" (its call had given {rec.verdict.value})" if rec.message else ""
            rec.verdict, rec.message = Verdict.ERROR, f"interrupted by {name} before {stage}{was}"
            running.append(f"{rec.classname}/{rec.name}")
        finished = len(run.cases) - len(running)
        not_run = max(0, self.collected - len(run.cases))
        where = f"while running {', '.join(running)}" if running else "between cases"
        message = (f"run interrupted by {name} {where}; {finished} case(s) finished, "
                   f"{not_run} not run of {self.collected or '?'} collected")
        restored = _restored_notes()
        if restored:
            message += f"; the teardowns restored: {'; '.join(restored)}"
        run.cases.append(outputs.interrupted_case(message, "\n".join(restored)))
        run.properties.update({"run.complete": "no", "run.status": f"interrupted by {name}",
                               "run.not_run": str(not_run), "run.collected": str(self.collected)})
        if restored:
            run.properties["run.restored"] = "; ".join(restored)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        signum = interrupt.received()
        if not self.saw_cases and signum is None:
            return
        run = self.run_record()
        line = ", ".join(f"{n} {v.value}" for v, n in run.counts().items() if n)
        state = self.config.stash.get(_RUNSTATE, None)
        for note in [*(state.lines() if state is not None else ()), *self.config.stash.get(_LIMITS, [])]:
            terminalreporter.write_line(note)
        if signum is not None:
            self._mark_interrupted(run, signum)
            line = f"INTERRUPTED by {interrupt.signal_name(signum)}: {run.cases[-1].message}"
        terminalreporter.write_line(f"kconform on {run.properties['kernel.release']}: {line}")
