"""``kconform report [--baseline OLD] FILES|DIR [--html PATH] [--markdown PATH]``: compare runs
as a matrix, or NEW against a baseline (conformance.report.baseline).

Inputs are run records written by ``kconform run --json`` (or ``--kc-json``)
and JUnit XML written by kconform, read back with the stdlib: suite
properties are the run's metadata; the verdict is the ``type`` kconform writes
on ``failure``/``error``/``skipped`` (``kconform.old-model`` ...), and for JUnit
from elsewhere the element's kind (``skipped`` without it is skip): a message
is never parsed for a verdict.  A directory means every ``*.json`` and ``*.xml`` under it;
there, the files kconform writes beside its records (``vm-timings.json``, KCIDB JSON, the JUnit
file of a run whose JSON record is read) are skipped silently, and other files that parse but are
not kconform records are ignored with one line each.  The same run found twice (same
``kernel.release`` and ``run.label``) is counted once, preferring JSON, which keeps the case details.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from conformance.host.records import record
from conformance.report import baseline, junit, matrix
from conformance.report.atomic import write_atomic
from conformance.report.writers import VIEW_WRITERS, View
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict

Handler = Callable[[argparse.Namespace, Sequence[str]], int]


class Format(enum.Enum):
    JSON = "json"
    JUNIT = "junit"


class NotARun(Exception):
    """Well-formed, but not a kconform record (ignored when scanning a directory; silently when kconform
    itself writes such files beside its records: ``known``)."""

    def __init__(self, message: str, short: str = "not a kconform record", known: bool = False) -> None:
        super().__init__(message)
        self.short = short
        self.known = known


# Written by kconform beside the run records in a results directory (kconform vm): not records, never listed.
COMPANIONS = frozenset({"vm-timings.json"})


def _usage(message: str) -> Exception:
    from conformance.host.usage import UsageError

    return UsageError(message)


# --------------------------------------------------------------------------- reading


def _format(path: Path) -> Format:
    if path.suffix == ".json":
        return Format.JSON
    if path.suffix == ".xml":
        return Format.JUNIT
    try:
        head = path.read_text(errors="replace").lstrip()[:1]
    except OSError as e:
        raise _usage(f"{path}: cannot read: {e.strerror or e}") from None
    return Format.JUNIT if head == "<" else Format.JSON


def load_json(path: Path) -> list[RunRecord]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _usage(f"{path}: cannot read JSON: {e}") from None
    if isinstance(data, dict) and {"version", "tests"} <= data.keys():
        raise NotARun(f"{path}: KCIDB JSON, not a run record", "KCIDB, written from a run record (that is read)",
                      known=True)
    if not isinstance(data, dict) or not {"properties", "cases"} <= data.keys():
        raise NotARun(f"{path}: JSON without 'properties' and 'cases'")
    try:
        return [RunRecord.load(path)]
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise _usage(f"{path}: not a valid kconform run record: {e!r}") from None


def _text(el: ET.Element) -> str:
    return (el.get("message") or el.text or "").strip()


def _verdict(el: ET.Element, default: Verdict) -> Verdict:
    """The verdict kconform wrote as data (type="kconform.<verdict>"); else the element's kind."""
    kind = el.get("type", "")
    if kind.startswith(junit.TYPE_PREFIX):
        try:
            return Verdict(kind.removeprefix(junit.TYPE_PREFIX))
        except ValueError:
            pass
    return default


def case_from_junit(tc: ET.Element) -> CaseRecord:
    classname, name = tc.get("classname", ""), tc.get("name", "")
    verdict, message = Verdict.PASS, ""
    for tag, kind in (("error", Verdict.ERROR), ("failure", Verdict.FAIL), ("skipped", Verdict.SKIP)):
        if (el := tc.find(tag)) is not None:
            verdict, message = _verdict(el, kind), _text(el)
            break
    out = tc.find("system-out")
    return CaseRecord(nodeid=f"{classname}::{name}", classname=classname, name=name, verdict=verdict,
                      message=message, duration=float(tc.get("time") or 0.0),
                      details=(out.text or "") if out is not None else "")


def runs_from_junit(root: ET.Element) -> list[RunRecord]:
    """One RunRecord per kconform testsuite (one that has a kernel.release property)."""
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    runs = []
    for suite in suites:
        props = {p.get("name", ""): p.get("value", "") for p in suite.findall("properties/property")}
        if "kernel.release" in props:
            runs.append(RunRecord(props, [case_from_junit(tc) for tc in suite.findall("testcase")]))
    return runs


def load_junit(path: Path) -> list[RunRecord]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise _usage(f"{path}: cannot read JUnit XML: {e}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise NotARun(f"{path}: XML root is <{root.tag}>, not <testsuites>")
    runs = runs_from_junit(root)
    if not runs:
        raise NotARun(f"{path}: no kconform testsuite (no kernel.release property)")
    return runs


# --------------------------------------------------------------------------- collecting


@record(frozen=True)
class LoadedRun:
    record: RunRecord
    source: str

    @property
    def key(self) -> tuple[str, str]:
        p = self.record.properties
        return (p.get("kernel.release", ""), p.get("run.label", ""))


@record
class Inputs:
    runs: list[LoadedRun] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # one line per file or run left out, with the reason


def _expand(args: Sequence[str]) -> list[tuple[Path, bool]]:
    """(file, strict): files named on the command line are strict, files found in a directory are not."""
    out: list[tuple[Path, bool]] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            out += [(f, False) for f in sorted(p.rglob("*"))
                    if f.suffix in (".json", ".xml") and f.name not in COMPANIONS and f.is_file()]
        elif p.is_file():
            out.append((p, True))
        else:
            raise _usage(f"{arg} does not exist")
    return out


def _twins(path: Path, kept: Path) -> bool:
    """path is the JUnit file kconform wrote beside the JSON record kept (the same run, one directory)."""
    return _format(path) is Format.JUNIT and _format(kept) is Format.JSON and path.parent == kept.parent


def collect(args: Sequence[str]) -> Inputs:
    files = _expand(args)
    # JSON first, so that its records win over the JUnit files of the same runs
    files.sort(key=lambda fs: _format(fs[0]) is not Format.JSON)
    inputs = Inputs()
    seen: dict[tuple[str, str], str] = {}
    for path, strict in files:
        try:
            records = load_json(path) if _format(path) is Format.JSON else load_junit(path)
        except NotARun as e:
            if strict:
                raise _usage(str(e)) from None
            if not e.known:
                inputs.ignored.append(f"{path}: {e.short}")
            continue
        for rec in records:
            run = LoadedRun(rec, str(path))
            if run.key in seen:
                if strict or not _twins(path, Path(seen[run.key])):  # twins: kconform writes both, no news
                    inputs.ignored.append(f"{path}: same run as {seen[run.key]}")
                continue
            seen[run.key] = run.source
            inputs.runs.append(run)
    if not inputs.runs:
        raise _usage(f"no kconform runs found in {' '.join(args)}")
    return inputs


# --------------------------------------------------------------------------- command


def _runs_with_slots(args: Sequence[str]) -> list[baseline.Run]:
    out = []
    for arg in args:
        for r in collect([arg]).runs:
            out.append(baseline.Run(r.record, r.source, baseline.slot_of(Path(arg), Path(r.source))
                                    if Path(arg).is_dir() else ""))
    return out


def cmd_report(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    from conformance.host.usage import check_writable

    if extra:
        raise _usage("report takes no arguments after --")
    files = {name: path for name in VIEW_WRITERS if (path := getattr(ns, name))}
    for name, path in files.items():
        check_writable(path, f"{name} report")
    if ns.squad is not None:
        return cmd_squad(ns)
    if given := [f"--{o.replace('_', '-')}" for o in SQUAD_OPTIONS if getattr(ns, o) is not None]:
        raise _usage(f"{' '.join(given)} without --squad URL")
    view: View
    status = 0
    if ns.baseline:
        cmp = baseline.Comparison.build(_runs_with_slots([ns.baseline]), _runs_with_slots(ns.inputs))
        view, status = cmp, cmp.exit_status
    else:
        inputs = collect(ns.inputs)
        view = matrix.Matrix.build([r.record for r in inputs.runs], [r.source for r in inputs.runs])
        for line in inputs.ignored:
            print(f"ignored {line}")
    sys.stdout.write(view.terminal(colour=sys.stdout.isatty()))
    for name, path in files.items():
        try:
            write_atomic(path, VIEW_WRITERS[name].render(view))
        except OSError as e:
            raise _usage(f"cannot write {name} report {path}: {e.strerror or e}") from None
        print(f"wrote {path}")
    return status


SQUAD_OPTIONS = ("squad_group", "squad_project", "squad_build", "squad_environment")


def cmd_squad(ns: argparse.Namespace) -> int:
    """Submit every run to SQUAD, one test run each; stop at the first refusal (exit 3), saying which
    runs SQUAD holds and which it does not."""
    import os

    from conformance.host.usage import EXIT_HARNESS
    from conformance.report import squad

    if ns.baseline or ns.html or ns.markdown:
        raise _usage("--squad submits runs; it takes no --baseline, --html or --markdown")
    try:
        base = squad.check_url(ns.squad)
        if not ns.squad_group or not ns.squad_project:
            raise ValueError("--squad needs --squad-group and --squad-project")
        squad.check_slug(ns.squad_group, "--squad-group", squad.GROUP_SLUG)
        squad.check_slug(ns.squad_project, "--squad-project")
        for opt in ("squad_build", "squad_environment"):
            if getattr(ns, opt) is not None:
                squad.check_slug(getattr(ns, opt), "--" + opt.replace("_", "-"))
    except ValueError as e:
        raise _usage(str(e)) from None
    token = os.environ.get(squad.TOKEN_ENV, "").strip()
    if not token:
        raise _usage(f"--squad needs the project's submit token in ${squad.TOKEN_ENV} (never on the command line)")
    inputs = collect(ns.inputs)
    for line in inputs.ignored:
        print(f"ignored {line}")
    subs = [squad.submission(r.record, Path(r.source), ns.squad_build, ns.squad_environment) for r in inputs.runs]
    client = squad.Client(base, ns.squad_group, ns.squad_project, token)
    done: list[str] = []
    for sub in subs:
        try:
            out = client.submit(sub)
        except squad.SquadError as e:
            left = [s.source for s in subs[len(done):]]
            held = f"{len(done)} of {len(subs)} runs are in SQUAD (listed above)" if done else "no run was submitted"
            print(f"kconform: error: {e}; {held}; not submitted: {', '.join(left)}", file=sys.stderr)
            return EXIT_HARNESS
        counts = ", ".join(f"{k} {v}" for k, v in sub.counts().items())
        what = f"test run {out.testrun}" if out.testrun else "already there (same job_id), not sent again"
        print(f"squad: {sub.source} -> {sub.build}/{sub.environment}: {what} ({len(sub.tests)} tests: {counts}); "
              f"{out.url}")
        done.append(sub.source)
    return 0


def register(sub: argparse._SubParsersAction[Any], handlers: dict[str, Handler]) -> None:
    p = sub.add_parser("report", help="compare runs as a kernel x behaviour matrix, or against a baseline",
                       description="Read run records (kconform run --json) and kconform JUnit XML files, or every "
                       "*.json and *.xml under a directory, and print a kernel x behaviour matrix.  With "
                       "--baseline OLD, list per case what changed from OLD to these runs (NEW) and exit 1 "
                       "when NEW has failures or errors that OLD did not.")
    p.add_argument("inputs", nargs="+", metavar="FILES|DIR", help="run records, JUnit files or directories (NEW)")
    p.add_argument("--baseline", metavar="OLD", help="compare against this run record, JUnit file or directory")
    for w in VIEW_WRITERS.values():
        p.add_argument(f"--{w.name}", metavar="PATH", help=f"also write {w.what} here")
    g = p.add_argument_group("SQUAD", "submit each run as one SQUAD test run (conformance/report/squad.py); the "
                             "token is read from $KCONFORM_SQUAD_TOKEN; exit 3 when the server refuses or fails")
    g.add_argument("--squad", metavar="URL", help="the SQUAD server's base URL, e.g. https://qa-reports.example.org")
    g.add_argument("--squad-group", metavar="SLUG", help="SQUAD group")
    g.add_argument("--squad-project", metavar="SLUG", help="SQUAD project")
    g.add_argument("--squad-build", metavar="NAME", help="build (default: each run's kernel release)")
    g.add_argument("--squad-environment", metavar="NAME",
                   help="environment (default: each run's label and architecture, e.g. debian-7.3.4-x86_64)")
    handlers["report"] = cmd_report
