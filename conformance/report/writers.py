"""Report writers behind one small interface, chosen from a table.

A run writer turns one run (its records, the cases that never ran, the
submitter's KCIDB origin) into the text of one file.  The plugin's session
finish and the CLI both go through ``RUN_WRITERS``: a new format is one entry
here, which gives it ``--kc-<name>`` under pytest and ``--<name>`` under
``kconform run``.  Every file is written atomically (temp file + rename).

View writers render what ``kconform report`` computes (the matrix, the
baseline comparison) as HTML or markdown files; the terminal view goes to stdout.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, Protocol

from conformance.host.records import record
from conformance.report import kcidb, ktap
from conformance.report.atomic import write_atomic
from conformance.report.kcidb import CaseKey
from conformance.suite.results import RunRecord

__all__ = ["RUN_WRITERS", "VIEW_WRITERS", "CaseKey", "RunReport", "RunWriter", "View", "ViewWriter"]


@record(frozen=True)
class RunReport:
    """One run as the writers see it."""

    run: RunRecord
    not_run: tuple[CaseKey, ...] = ()  # collected, never ran (an interrupted run)
    kcidb_origin: str = kcidb.DEFAULT_ORIGIN


class RunWriter(Protocol):
    @property
    def name(self) -> str: ...  # the option: --<name> (kconform run), --kc-<name> (pytest)

    @property
    def what(self) -> str: ...  # in help texts and messages, e.g. "JUnit XML"

    def render(self, report: RunReport) -> str: ...


@record(frozen=True)
class _RunWriter:
    name: str
    what: str
    fn: Callable[[RunReport], str]

    def render(self, report: RunReport) -> str:
        return self.fn(report)


def _junit() -> Any:
    """The JUnit writer, imported when a JUnit report is written (its XML modules cost a run without one)."""
    from conformance.report import junit

    return junit


def _json(report: RunReport) -> str:
    doc: dict[str, Any] = {"properties": report.run.properties, "cases": [c.to_json() for c in report.run.cases]}
    if report.not_run:
        doc["not_run"] = [{"behaviour": k.behaviour, "case": k.case} for k in report.not_run]
    return json.dumps(doc, indent=1)


def not_run_of(path: Path) -> tuple[CaseKey, ...]:
    """The not-run cases a JSON record lists (RunRecord.load ignores them)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ()
    items = data.get("not_run", []) if isinstance(data, dict) else []
    return tuple(CaseKey(str(i["behaviour"]), str(i["case"])) for i in items
                 if isinstance(i, dict) and "behaviour" in i and "case" in i)


RUN_WRITERS: Mapping[str, RunWriter] = {w.name: w for w in (
    _RunWriter("junit", "JUnit XML", lambda r: _junit().render([r.run])),
    _RunWriter("ktap", "KTAP v1", lambda r: ktap.render(r.run)),
    _RunWriter("json", "JSON case records (kconform report reads them)", _json),
    _RunWriter("kcidb", "KCIDB JSON (KernelCI)", lambda r: kcidb.render(r.run, r.kcidb_origin, r.not_run)),
)}


def write_run(name: str, path: Path | str, report: RunReport) -> None:
    write_atomic(path, RUN_WRITERS[name].render(report))


def convert(record: Path, name: str, target: Path, kcidb_origin: str = kcidb.DEFAULT_ORIGIN) -> None:
    """Write a saved JSON run record (with its not-run cases) in another format."""
    write_run(name, target, RunReport(RunRecord.load(record), not_run_of(record), kcidb_origin))


# --------------------------------------------------------------------------- options


ORIGIN_HELP = f"KCIDB origin: the CI system submitting the results (default {kcidb.DEFAULT_ORIGIN})"


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--junit PATH``, ``--ktap PATH``, ... for ``kconform run``."""
    for w in RUN_WRITERS.values():
        p.add_argument(f"--{w.name}", metavar="PATH", help=f"write {w.what} here")
    p.add_argument("--kcidb-origin", metavar="NAME", help=ORIGIN_HELP)


def requested(ns: argparse.Namespace) -> dict[str, str]:
    """The formats asked for on the kconform command line, and where."""
    return {name: path for name in RUN_WRITERS if (path := getattr(ns, name, None))}


def run_pytest_args(ns: argparse.Namespace) -> list[str]:
    """The plugin options that carry ``kconform run``'s report options."""
    args: list[str] = []
    for name, path in requested(ns).items():
        args += [f"--kc-{name}", path]
    if getattr(ns, "kcidb_origin", None):
        args += ["--kc-kcidb-origin", ns.kcidb_origin]
    return args


def check_origin(origin: str | None) -> None:
    """Raises ValueError with a one-line message for a bad origin."""
    if origin is not None:
        kcidb.check_origin(origin)


def add_plugin_options(group: Any) -> None:
    """The same options for pytest (``--kc-junit PATH`` ...), on the kconform option group."""
    for w in RUN_WRITERS.values():
        group.addoption(f"--kc-{w.name}", metavar="PATH", help=f"write {w.what}")
    group.addoption("--kc-kcidb-origin", metavar="NAME", default=kcidb.DEFAULT_ORIGIN, help=ORIGIN_HELP)


def check_plugin_options(getoption: Callable[[str], Any]) -> None:
    """Before the run: a bad KCIDB origin is a usage error, not a lost report at the end."""
    import pytest

    try:
        kcidb.check_origin(str(getoption("--kc-kcidb-origin")))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


# --------------------------------------------------------------------------- views


class View(Protocol):
    """What kconform report shows: the matrix, a baseline comparison."""

    def terminal(self, colour: bool) -> str: ...

    def html(self) -> str: ...

    def markdown(self) -> str: ...


class ViewWriter(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def what(self) -> str: ...

    def render(self, view: View) -> str: ...


@record(frozen=True)
class _ViewWriter:
    name: str
    what: str
    fn: Callable[[View], str] = field(repr=False)

    def render(self, view: View) -> str:
        return self.fn(view)


VIEW_WRITERS: Mapping[str, ViewWriter] = {w.name: w for w in (
    _ViewWriter("html", "a self-contained HTML page", lambda v: v.html()),
    _ViewWriter("markdown", "markdown (e.g. for a merge-request comment)", lambda v: v.markdown()),
)}
