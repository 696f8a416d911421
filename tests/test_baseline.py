"""``kconform report --baseline OLD NEW``, pinned to two real VM runs.

tests/data/vm-debian-6.1.json and vm-debian-6.12.json are ``kconform vm`` runs
of Debian 6.1.0-56 and 6.12.117 (the same shape and the same verdicts as the
later baseline runs of 6.1.0-57 and 6.12.117).
"""

from __future__ import annotations

import copy
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.report.baseline import Change, Comparison, Pair, Run, classify
from conformance.suite.results import RunRecord
from conformance.suite.verdict import Verdict

DATA = Path(__file__).parent / "data"
OLD, NEW = DATA / "vm-debian-6.1.json", DATA / "vm-debian-6.12.json"


def load(path: Path) -> RunRecord:
    return RunRecord.load(path)


def with_one_failure(src: Path, dst: Path, behaviour: str, case: str) -> None:
    run = load(src)
    (rec,) = [c for c in run.cases if (c.classname, c.name) == (behaviour, case)]
    rec.verdict, rec.message = Verdict.FAIL, "expected EINVAL, got 0 (made to fail for this test)"
    run.save(dst)


@pytest.mark.parametrize(("old", "new", "change"), [
    (Verdict.PASS, Verdict.FAIL, Change.NEW_FAILURE),
    (Verdict.SKIP, Verdict.ERROR, Change.NEW_FAILURE),
    (Verdict.OLD_MODEL, Verdict.FAIL, Change.NEW_FAILURE),
    (Verdict.OVERRIDDEN, Verdict.FAIL, Change.NEW_FAILURE),
    (None, Verdict.ERROR, Change.NEW_FAILURE),
    (Verdict.FAIL, Verdict.ERROR, Change.STILL_FAILING),
    (Verdict.FAIL, Verdict.PASS, Change.FIXED),
    (Verdict.ERROR, Verdict.OLD_MODEL, Change.FIXED),
    (Verdict.OVERRIDDEN, Verdict.PASS, Change.FIXED),
    (Verdict.PASS, Verdict.SKIP, Change.NEWLY_SKIPPED),
    (Verdict.FAIL, Verdict.SKIP, Change.NEWLY_SKIPPED),
    (Verdict.SKIP, Verdict.PASS, Change.NO_LONGER_SKIPPED),
    (Verdict.OLD_MODEL, Verdict.PASS, Change.CHANGED_MODEL),
    (Verdict.PASS, Verdict.OLD_MODEL, Change.CHANGED_MODEL),
    (Verdict.PASS, Verdict.OVERRIDDEN, Change.KNOWN),
    (Verdict.FAIL, Verdict.OVERRIDDEN, Change.KNOWN),
    (None, Verdict.PASS, Change.ADDED),
    (Verdict.PASS, None, Change.GONE),
    (Verdict.SKIP, Verdict.SKIP, Change.SAME),
])
def test_classify(old: Verdict | None, new: Verdict, change: Change) -> None:
    assert classify(old, new) is change
    assert change.regression == (change is Change.NEW_FAILURE)


def test_6_1_to_6_12_is_a_model_change_not_a_regression() -> None:
    (pair,) = Comparison.build([Run(load(OLD), str(OLD), "")], [Run(load(NEW), str(NEW), "")]).pairs
    changed = {(e.behaviour, e.case) for e in pair.of(Change.CHANGED_MODEL)}
    assert ("vhost.worker_model", "default-model") in changed
    assert len(changed) == 8 and not pair.regressions
    assert len(pair.of(Change.NO_LONGER_SKIPPED)) == 18 and len(pair.of(Change.SAME)) == 231


def test_cli_6_1_to_6_12_exits_0_and_names_the_change(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html, md = tmp_path / "b.html", tmp_path / "b.md"
    rc = main(["report", "--baseline", str(OLD), str(NEW), "--html", str(html), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert rc == 0
    section = out.split("changed model (8):", 1)[1].split("\n\n", 1)[0]
    assert "vhost.worker_model default-model: old-model -> pass" in section
    assert "not a regression" in out and "no new failures or errors in NEW: exit status 0" in out
    assert "vhost.worker_model" in html.read_text() and "<script" not in html.read_text()
    assert "| `vhost.worker_model` | `default-model` | old-model | pass |" in md.read_text()


def test_cli_lists_exactly_the_case_made_to_fail_and_exits_1(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    broken = tmp_path / "6.12-broken.json"
    with_one_failure(NEW, broken, "clone3.struct_size", "size-56")
    rc = main(["report", "--baseline", str(NEW), str(broken)])
    out = capsys.readouterr().out
    assert rc == 1
    section = out.split("new failure (1):", 1)[1].split("\n\n", 1)[0]
    listed = [ln for ln in section.splitlines() if ln.startswith("  ") and not ln.startswith("      ")]
    assert listed == ["  clone3.struct_size size-56: pass -> fail"]
    assert "1 new failure(s) or error(s) in NEW: exit status 1" in out
    # 6.1 -> the broken 6.12: the same single regression among the model changes
    rc = main(["report", "--baseline", str(OLD), str(broken)])
    out = capsys.readouterr().out
    assert rc == 1 and "new failure (1):" in out and "changed model (8):" in out


def test_old_failures_do_not_fail_the_job(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    with_one_failure(NEW, broken, "clone3.struct_size", "size-56")
    assert main(["report", "--baseline", str(broken), str(broken)]) == 0  # still failing, not new
    assert main(["report", "--baseline", str(broken), str(NEW)]) == 0  # fixed
    assert "fixed (1):" in capsys.readouterr().out


def test_directories_pair_runs_by_slot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The CI layout: results/<slot>/<kernel>/run.json on both sides, kernels updated in NEW."""
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    for d, src in ((old_dir / "debian-6.1" / "debian-6.1.0-56", OLD), (old_dir / "debian-6.12" / "k", NEW),
                   (new_dir / "debian-6.1" / "debian-6.1.0-57", OLD), (new_dir / "debian-6.12" / "k", NEW)):
        d.mkdir(parents=True)
        shutil.copy(src, d / "run.json")
    # the label of a VM run names the exact kernel, which changes with an update: pairing falls back to the slot
    run = load(OLD)
    run.properties["run.label"] = "vm:debian-6.1.0-57"
    run.save(new_dir / "debian-6.1" / "debian-6.1.0-57" / "run.json")
    with_one_failure(NEW, new_dir / "debian-6.12" / "k" / "run.json", "vhost.teardown", "teardown-close")
    rc = main(["report", "--baseline", str(old_dir), str(new_dir)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.count("kconform baseline:") == 2 and "(no baseline)" not in out
    assert "vhost.teardown teardown-close: pass -> fail" in out and out.count("new failure (1):") == 1


def test_unpaired_new_run_has_every_failure_new() -> None:
    broken = copy.deepcopy(load(NEW))
    broken.cases[0].verdict = Verdict.ERROR
    pair = Pair.compare(None, broken)
    assert [e.change for e in pair.regressions] == [Change.NEW_FAILURE]
    assert len(pair.of(Change.ADDED)) == len(broken.cases) - 1


def test_bad_baseline_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["report", "--baseline", str(tmp_path / "missing"), str(NEW)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "does not exist" in err[0]


class _Balanced(HTMLParser):
    VOID = frozenset({"meta", "br", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("href", "src") and v]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_html_is_balanced_and_self_contained(tmp_path: Path) -> None:
    broken = tmp_path / "b.json"
    with_one_failure(NEW, broken, "clone3.struct_size", "size-56")
    page = Comparison.build([Run(load(OLD), str(OLD), "")], [Run(load(broken), str(broken), "")]).html()
    p = _Balanced()
    p.feed(page)
    assert p.stack == [] and p.urls == []
    assert "<script" not in page and "http" not in page
    assert 'class="bad"' in page and "size-56" in page
