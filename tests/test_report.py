"""Report writers and ``kconform report``, pinned to records captured from real runs.

tests/data/run-6.18.{json,xml,ktap} come from ``kconform run`` as root on
6.18.44-fc-v669; run-6.18-unprivileged.* from the same kernel with every
capability dropped (``setpriv --bounding-set=-all --inh-caps=-all``, label
"unprivileged"), which gives real skips and errors.  synthetic-6.1.json is
NOT a run: it is run-6.18.json with a few verdicts edited to exercise
fail/error/old-model/overridden (its properties say so).
run-6.18-unprivileged-all-families.{json,ktap} is a later unprivileged run of
every family (clone3, io_uring, resolve_cached, vhost; vhost all skipped).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.report import junit, ktap
from conformance.report.cli import runs_from_junit
from conformance.report.matrix import Matrix, render_html, render_markdown, render_terminal
from conformance.suite.behaviours import by_id
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[1]
REAL = ("run-6.18", "run-6.18-unprivileged")
SYNTHETIC = "synthetic-6.1"


def load(name: str) -> RunRecord:
    return RunRecord.load(DATA / f"{name}.json")


def xsd_path() -> Path:
    return Path(os.environ.get("KCONFORM_JUNIT_XSD") or Path(__file__).parent / "data" / "junit-10.xsd")


# --------------------------------------------------------------------------- JUnit


@pytest.mark.parametrize("name", [*REAL, SYNTHETIC])
def test_junit_validates_against_xsd(name: str) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xsd = xsd_path()
    if not xsd.is_file():
        pytest.skip(f"junit-10.xsd not found at {xsd} (set KCONFORM_JUNIT_XSD)")
    schema = xmlschema.XMLSchema(str(xsd))
    schema.validate(junit.render([load(name)]))


def test_captured_junit_validates_against_xsd() -> None:
    xmlschema = pytest.importorskip("xmlschema")
    if not xsd_path().is_file():
        pytest.skip(f"junit-10.xsd not found at {xsd_path()}")
    schema = xmlschema.XMLSchema(str(xsd_path()))
    for name in REAL:
        schema.validate(str(DATA / f"{name}.xml"))


def test_junit_classname_and_name_are_stable_ids() -> None:
    ids = []
    for name in REAL:
        root = ET.fromstring(junit.render([load(name)]))
        pairs = [(tc.get("classname", ""), tc.get("name", "")) for tc in root.iter("testcase")]
        assert len(pairs) == len(set(pairs)), "duplicate classname/name: GitLab keeps only the first"
        assert {c for c, _ in pairs} <= set(by_id()), "classname must be a registered behaviour id"
        assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", n) for _, n in pairs), "name must be the bare case id"
        ids.append(sorted(pairs))
    assert ids[0] == ids[1], "two real runs of the same suite must produce the same ids"


def test_junit_verdict_encoding() -> None:
    run = load(SYNTHETIC)
    root = ET.fromstring(junit.render([run]))
    cases = {(tc.get("classname"), tc.get("name")): tc for tc in root.iter("testcase")}
    for rec in run.cases:
        tc = cases[(rec.classname, rec.name)]
        children = {child.tag for child in tc} - {"system-out", "system-err"}
        if rec.verdict is Verdict.PASS:
            assert children == set()
        elif rec.verdict is Verdict.FAIL:
            assert children == {"failure"}
        elif rec.verdict is Verdict.ERROR:
            assert children == {"error"}
        else:
            assert children == {"skipped"}
            message = tc.find("skipped").get("message", "")  # type: ignore[union-attr]
            if rec.verdict in (Verdict.OLD_MODEL, Verdict.OVERRIDDEN):
                assert message.startswith(rec.verdict.value + ":"), message
    old = cases[("clone3.newtime", "newtime-accepted")].find("skipped")
    assert old is not None and old.get("message", "").startswith("old-model:")
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "4")


def test_junit_properties_carry_run_metadata() -> None:
    run = load("run-6.18")
    suite = ET.fromstring(junit.render([run])).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    for key in ("kernel.release", "kernel.arch", "kernel.config_digest", "run.privileged", "run.started"):
        assert props[key] == run.properties[key]
    assert props["kernel.release"] == "6.18.44-fc-v669"


@pytest.mark.parametrize("name", [*REAL, SYNTHETIC])
def test_junit_reads_back_into_the_same_records(name: str) -> None:
    run = load(name)
    (back,) = runs_from_junit(ET.fromstring(junit.render([run])))
    assert back.properties == run.properties

    def key(c: CaseRecord) -> tuple[str, str, Verdict, str]:  # JUnit has no place for a pass's message
        return (c.classname, c.name, c.verdict, "" if c.verdict is Verdict.PASS else c.message)

    assert [key(c) for c in back.cases] == [key(c) for c in run.cases]
    assert [round(c.duration, 6) for c in back.cases] == [round(c.duration, 6) for c in run.cases]


def test_captured_junit_file_reads_back() -> None:
    for name in REAL:
        (back,) = runs_from_junit(ET.parse(DATA / f"{name}.xml").getroot())
        run = load(name)
        assert {(c.classname, c.name): c.verdict for c in back.cases} == {
            (c.classname, c.name): c.verdict for c in run.cases
        }


# --------------------------------------------------------------------------- KTAP


@dataclass
class KtapTest:
    number: int
    name: str
    ok: bool
    skip: str | None  # the SKIP reason, None without a SKIP directive
    subtests: list[KtapTest] = field(default_factory=list)


_RESULT = re.compile(r"(ok|not ok) (\d+) ([^#\s][^#]*?)(?: # SKIP(?: (.*))?)?")


def parse_ktap(text: str) -> list[KtapTest]:
    """A strict little KTAP v1 reader: version line, plan, numbered results, nested subtests."""
    lines = text.splitlines()
    pos = 0

    def block(indent: str) -> list[KtapTest]:
        nonlocal pos
        assert lines[pos] == f"{indent}KTAP version 1", f"line {pos + 1}: {lines[pos]!r}"
        pos += 1
        plan = None
        tests: list[KtapTest] = []
        pending: list[KtapTest] = []
        while pos < len(lines):
            line = lines[pos]
            if not line.startswith(indent):
                break
            body = line[len(indent):]
            if body.startswith("    KTAP version 1"):
                pending = block(indent + "    ")
                continue
            pos += 1
            if body.startswith("#"):
                continue
            if (m := re.fullmatch(r"1\.\.(\d+)", body)) is not None:
                assert plan is None and not tests, f"line {pos}: plan must come once, before results"
                plan = int(m.group(1))
                continue
            m = _RESULT.fullmatch(body)
            assert m is not None, f"line {pos}: not a KTAP line: {line!r}"
            assert int(m.group(2)) == len(tests) + 1, f"line {pos}: result numbered out of order"
            tests.append(KtapTest(int(m.group(2)), m.group(3), m.group(1) == "ok", m.group(4), pending))
            pending = []
            if plan is not None and len(tests) == plan and indent:
                break
        assert plan == len(tests), f"plan 1..{plan} but {len(tests)} results"
        return tests

    top = block("")
    assert pos == len(lines), f"trailing lines from {pos + 1}"
    return top


def check_ktap_against(run: RunRecord, text: str) -> None:
    families = parse_ktap(text)
    by_name = {f"{c.classname}.{c.name}": c for c in run.cases}
    leaves = [t for f in families for t in f.subtests]
    assert len(leaves) == len(run.cases)
    for t in leaves:
        rec = by_name[t.name]
        assert t.ok == (not rec.verdict.red), t.name
        if rec.verdict in (Verdict.SKIP, Verdict.OLD_MODEL, Verdict.OVERRIDDEN):
            assert t.skip == " ".join(rec.message.split()), t.name
        else:
            assert t.skip is None, t.name
    for f in families:
        assert f.ok == all(t.ok for t in f.subtests)


@pytest.mark.parametrize("name", [*REAL, "run-6.18-unprivileged-all-families"])
def test_ktap_is_pinned_to_the_captured_real_output(name: str) -> None:
    captured = (DATA / f"{name}.ktap").read_text()
    assert ktap.render(load(name)) == captured
    check_ktap_against(load(name), captured)


def test_ktap_skip_directives_from_real_unprivileged_run() -> None:
    tests = parse_ktap((DATA / "run-6.18-unprivileged.ktap").read_text())
    skips = [t for f in tests for t in f.subtests if t.skip is not None]
    assert len(skips) == 19 and all(t.ok for t in skips)
    assert any(t.skip and "CAP_SYS_ADMIN" in t.skip for t in skips)
    assert [f.ok for f in tests] == [False]  # it has errors


def test_ktap_families_are_nested_subtests() -> None:
    families = parse_ktap((DATA / "run-6.18-unprivileged-all-families.ktap").read_text())
    assert [(f.number, f.name, f.ok, f.skip) for f in families] == [
        (1, "clone3", False, None), (2, "io_uring", False, None), (3, "resolve_cached", False, None),
        (4, "vhost", True, "all 21 cases skipped"),
    ]
    assert all(t.name.startswith(f.name + ".") for f in families for t in f.subtests)


def test_ktap_synthetic_verdicts_and_all_skipped_family() -> None:
    run = load(SYNTHETIC)
    text = ktap.render(run)
    check_ktap_against(run, text)
    leaves = {t.name: t for f in parse_ktap(text) for t in f.subtests}
    assert (leaves["clone3.newtime.newtime-accepted"].skip or "").startswith("old-model:")
    assert (leaves["clone3.set_tid.set-tid-in-use"].skip or "").startswith("overridden:")
    assert not leaves["clone3.stack.stack-used-by-child"].ok
    for c in run.cases:
        c.verdict, c.message = Verdict.SKIP, "no # here, really"
    (family,) = parse_ktap(ktap.render(run))
    assert family.ok and family.skip == "all 114 cases skipped"


# --------------------------------------------------------------------------- matrix and kconform report


def test_matrix_marks_rows_where_kernels_differ() -> None:
    m = Matrix.build([load("run-6.18"), load(SYNTHETIC)], ["a", "b"])
    assert [c.release for c in m.columns] == ["6.1.0-synthetic", "6.18.44-fc-v669"]  # by version
    differing = {r.behaviour_id for r in m.differing}
    assert differing == {"clone3.struct_size", "clone3.stack", "clone3.set_tid", "clone3.into_cgroup",
                         "clone3.newtime", "clone3.pidfd_thread"}
    rows = {r.behaviour_id: r for r in m.rows}
    assert [c.verdict for c in rows["clone3.set_tid"].cells] == [Verdict.OVERRIDDEN, Verdict.PASS]
    assert [c.verdict for c in rows["clone3.into_cgroup"].cells] == [Verdict.PASS, Verdict.PASS]  # skip < pass
    assert rows["clone3.into_cgroup"].differing_cases() == ["into-cgroup-lands"]
    assert rows["clone3.newtime"].cells[0].text() == "old-model 1o 1p"
    assert rows["clone3.newtime"].behaviour is not None and rows["clone3.newtime"].behaviour.commit == "a402f1e35313"
    assert not rows["clone3.basic"].differs


def test_matrix_worst_verdict_order() -> None:
    m = Matrix.build([load("run-6.18-unprivileged")])
    rows = {r.behaviour_id: r for r in m.rows}
    assert rows["clone3.namespaces"].cells[0].verdict is Verdict.ERROR  # error beats skip and pass
    assert rows["clone3.into_cgroup"].cells[0].verdict is Verdict.PASS  # pass beats skip
    assert not m.differing  # one run never differs


def test_terminal_table_without_tty_has_no_colour() -> None:
    m = Matrix.build([load("run-6.18"), load(SYNTHETIC)])
    plain = render_terminal(m, colour=False)
    assert "\033[" not in plain
    assert re.search(r"^\* clone3\.newtime +old-model 1o 1p +pass 2$", plain, re.MULTILINE)
    assert re.search(r"^  clone3\.basic +pass 7 +pass 7$", plain, re.MULTILINE)
    assert "\033[" in render_terminal(m, colour=True)


_VOID = frozenset({"meta", "br", "input"})


class _Tags(HTMLParser):

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("href", "src") and v and not v.startswith("#")]
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_report_cli_writes_self_contained_html_and_markdown(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    html_path, md_path = tmp_path / "m.html", tmp_path / "m.md"
    rc = main(["report", str(DATA / "run-6.18.json"), str(DATA / f"{SYNTHETIC}.json"),
               "--html", str(html_path), "--markdown", str(md_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "2 run(s), 17 behaviour(s); 6 behaviour(s) differ" in out
    page = html_path.read_text()
    for needle in ("http://", "https://", "<script", "<link", "@import", "url(", "//fonts"):
        assert needle not in page
    tags = _Tags()
    tags.feed(page)
    assert tags.stack == [] and tags.urls == []
    assert '<tr id="b-clone3.newtime" class="differs">' in page
    assert '<tr id="b-clone3.basic" class="same">' in page
    assert "a402f1e35313" in page and "old-model" in page and "privileged yes" in page
    md = md_path.read_text()
    assert "| **clone3.newtime** | 6.3 | `a402f1e35313` | old-model 1o 1p | pass 2 | differs |" in md
    assert "| clone3.basic | 5.3 | `7f192e3cd316` | pass 7 | pass 7 |  |" in md


def test_report_directory_prefers_json_and_does_not_double_count(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    results = tmp_path / "results"
    for kernel, name in (("6.18", "run-6.18"), ("6.18-unpriv", "run-6.18-unprivileged")):
        (results / kernel).mkdir(parents=True)
        shutil.copy(DATA / f"{name}.json", results / kernel / "run.json")
        shutil.copy(DATA / f"{name}.xml", results / kernel / "junit.xml")
    (results / "vm.json").write_text('{"boot_seconds": 3}')  # foreign files in a directory are ignored
    (results / "copy").mkdir()
    shutil.copy(DATA / "run-6.18.json", results / "copy" / "run.json")  # a run found twice: said
    rc = main(["report", str(results)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "2 run(s)" in out and "6.18.44-fc-v669 (unprivileged)" in out
    assert "vm.json: not a kconform record" in out
    # the JUnit file beside its run's JSON record is kconform's own pair: counted once, silently
    ignored = [ln for ln in out.splitlines() if ln.startswith("ignored ")]
    assert len(ignored) == 2 and sum("same run as" in ln for ln in ignored) == 1, ignored
    rc = main(["report", str(results / "6.18" / "run.json"), str(results / "6.18" / "junit.xml")])
    assert rc == 0 and "junit.xml: same run as" in capsys.readouterr().out  # named files: said


def test_report_directory_skips_what_kconform_writes_beside_its_records(capsys: pytest.CaptureFixture[str],
                                                                        tmp_path: Path) -> None:
    """A ``kconform vm --kcidb`` results directory: only the runs, no line about vm-timings.json, the KCIDB
    files, consoles or the JUnit twins; a file kconform does not write still gets its line."""
    from conformance.report import kcidb

    results = tmp_path / "vm"
    for kernel, name in (("debian-6.1", "vm-debian-6.1"), ("debian-6.12", "vm-debian-6.12")):
        d = results / kernel
        d.mkdir(parents=True)
        shutil.copy(DATA / f"{name}.json", d / "run.json")
        run = RunRecord.load(d / "run.json")
        junit.write(d / "junit.xml", [run])
        (d / "kcidb.json").write_text(json.dumps(kcidb.build(run)))
        (d / "vm-timings.json").write_text('{"kernel": "k", "outcome": "passed", "boot_s": 1.0}')
        (d / "console.log").write_text("[    0.000000] Linux version ...\n")
        (d / "config-6.1.0").write_text("CONFIG_X=y\n")
    rc = main(["report", str(results)])
    out = capsys.readouterr().out
    assert rc == 0 and "2 run(s)" in out
    assert not [ln for ln in out.splitlines() if ln.startswith("ignored")], out
    (results / "debian-6.1" / "notes.json").write_text('{"who": "me"}')
    rc = main(["report", str(results)])
    ignored = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("ignored")]
    assert rc == 0 and len(ignored) == 1 and "notes.json: not a kconform record" in ignored[0]


def test_report_reads_junit_only(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["report", str(DATA / "run-6.18.xml"), str(DATA / "run-6.18-unprivileged.xml")])
    out = capsys.readouterr().out
    assert rc == 0 and "[3]" not in out
    assert re.search(r"^\* clone3\.namespaces +pass 6 +error 2e 2p 2s$", out, re.MULTILINE)


def _bad(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    rc = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert needle in lines[0] and "Traceback" not in err


def test_report_bad_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = str(DATA / "run-6.18.json")
    broken_json, broken_xml, other = tmp_path / "b.json", tmp_path / "b.xml", tmp_path / "other.json"
    broken_json.write_text('{"properties": {')
    broken_xml.write_text("<testsuites><testsuite>")
    other.write_text("[1, 2]")
    empty = tmp_path / "empty"
    empty.mkdir()
    _bad(capsys, ["report", str(tmp_path / "missing.json")], "missing.json does not exist")
    _bad(capsys, ["report", str(broken_json)], "b.json: cannot read JSON")
    _bad(capsys, ["report", str(broken_xml)], "b.xml: cannot read JUnit XML")
    _bad(capsys, ["report", str(other)], "other.json: JSON without")
    _bad(capsys, ["report", str(empty)], "no kconform runs found")
    _bad(capsys, ["report", good, "--html", "/nonexistent-dir/m.html"], "/nonexistent-dir")
    _bad(capsys, ["report", good, "--markdown", str(tmp_path)], "is a directory")
    _bad(capsys, ["report"], "required")


def test_markdown_and_html_from_one_run() -> None:
    m = Matrix.build([load("run-6.18")])
    assert "no differences between runs" in render_markdown(m)
    assert "All runs agree on every case." in render_html(m)


@pytest.mark.parametrize("breakage", [
    ("    ok 2 clone3.basic.files-shared", "    ok 3 clone3.basic.files-shared"),  # numbering
    ("    1..114\n", ""),  # missing subtest plan
    ("KTAP version 1\n", "TAP version 14\n"),  # version line
    ("    ok 1 clone3.basic.exit-code\n", ""),  # plan/results mismatch
    ("# SKIP needs", "# SKIPPED needs"),  # malformed directive reads as a '#' in the name
])
def test_in_test_ktap_validator_rejects_broken_output(breakage: tuple[str, str]) -> None:
    text = (DATA / "run-6.18-unprivileged.ktap").read_text()
    old, new = breakage
    assert old in text
    with pytest.raises(AssertionError):
        parse_ktap(text.replace(old, new, 1))


def test_matrix_of_real_vm_runs_shows_the_vhost_model_change() -> None:
    """Pinned to two real `kconform vm` runs (Debian 6.1.0-56 and 6.12.117, TCG)."""
    runs = [load("vm-debian-6.1"), load("vm-debian-6.12")]
    m = Matrix.build(runs)
    rows = {r.behaviour_id: r for r in m.rows}
    model = rows["vhost.worker_model"]
    assert model.differs
    assert [c.verdict for c in model.cells] == [Verdict.OLD_MODEL, Verdict.PASS]
    assert not rows["clone3.struct_size"].differs
    html = render_html(m)
    assert "vhost.worker_model" in html and "f9010dbdce91" in html
    assert not any(r.verdict in (Verdict.FAIL, Verdict.ERROR) for run in runs for r in run.cases)


# --------------------------------------------------------------------------- verdict as data, atomic writes


def test_junit_reader_takes_the_verdict_from_the_type_not_the_message() -> None:
    from conformance.report.cli import case_from_junit

    def case(inner: str) -> CaseRecord:
        return case_from_junit(ET.fromstring(f'<testcase classname="b.c" name="n">{inner}</testcase>'))

    assert case('<skipped type="kconform.old-model" message="the kernel thread model"/>').verdict is Verdict.OLD_MODEL
    assert case('<skipped type="kconform.overridden" message="x"/>').verdict is Verdict.OVERRIDDEN
    # a message that merely starts with a tag is not a verdict (JUnit from elsewhere, or an older writer)
    assert case('<skipped message="old-model: looks like a tag"/>').verdict is Verdict.SKIP
    assert case('<failure type="AssertionError" message="overridden: no"/>').verdict is Verdict.FAIL
    assert case('<error message="x"/>').verdict is Verdict.ERROR


def test_junit_round_trip_keeps_every_verdict_without_message_tags() -> None:
    run = load(SYNTHETIC)
    for c in run.cases:  # messages as a producer that keeps the verdict out of the text writes them
        c.message = c.message.removeprefix(f"{c.verdict.value}:").strip()
    (back,) = runs_from_junit(ET.fromstring(junit.render([run])))
    assert [(c.name, c.verdict) for c in back.cases] == [(c.name, c.verdict) for c in run.cases]
    root = ET.fromstring(junit.render([run]))
    shown = [el.get("message", "") for el in root.iter("skipped") if el.get("type") == "kconform.old-model"]
    assert shown and all(m.startswith("old-model: ") for m in shown)  # display for Jenkins/GitLab readers


def test_matrix_shows_messages_as_recorded() -> None:
    m = Matrix.build([load(SYNTHETIC)])
    page = render_html(m)
    old = next(c for c in load(SYNTHETIC).cases if c.verdict is Verdict.OLD_MODEL)
    assert html_escape(old.message) in page  # not stripped of its tag


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_atomic_write_replaces_whole_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.report import atomic

    target = tmp_path / "junit.xml"
    atomic.write_atomic(target, "first")
    assert target.read_text() == "first" and (target.stat().st_mode & 0o777) == 0o644 & ~_umask()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("conformance.report.atomic.os.replace", broken_replace)
    with pytest.raises(OSError):
        atomic.write_atomic(target, "second")
    assert target.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml"]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_every_run_writer_is_an_option_of_kconform_run_and_of_pytest() -> None:
    import argparse

    from conformance.report import writers

    p = argparse.ArgumentParser()
    writers.add_run_options(p)
    ns = p.parse_args(["--junit", "a.xml", "--kcidb", "k.json", "--kcidb-origin", "lab"])
    assert writers.run_pytest_args(ns) == ["--kc-junit", "a.xml", "--kc-kcidb", "k.json", "--kc-kcidb-origin", "lab"]
    assert set(writers.RUN_WRITERS) == {"junit", "ktap", "json", "kcidb"}
    assert set(writers.VIEW_WRITERS) == {"html", "markdown"}


def test_matrix_column_is_the_kernel_label_of_a_vm_run() -> None:
    """A VM run names its kernel by a short label (debian-7.3.4); a host run keeps its release beside its label."""
    from conformance.report.matrix import Column

    vm = Column.from_run(RunRecord({"kernel.release": "7.3.4+deb13-amd64", "run.label": "debian-7.3.4",
                                    "run.label_names_kernel": "yes"}, []))
    host = Column.from_run(RunRecord({"kernel.release": "6.18.44", "run.label": "unprivileged"}, []))
    assert (vm.title, host.title) == ("debian-7.3.4", "6.18.44 (unprivileged)")
