"""``kconform report --html`` as a person sees it: the page rendered by headless Chromium.

What is asserted is the page's rendered text (``innerText``: what CSS hides and
what a closed ``<details>`` holds are not in it), its links (each followed by a
click: the target must exist and come into view), and the title: the run
columns, a behaviour where the runs differ with its verdicts, a link from it to
the behaviour's row, and a case inside a cell once that cell is opened.  The
same checks fail on deliberately broken pages (the negative tests below), so a
page that stops rendering fails CI.  Skipped, saying so, where chromium is not
installed; tests/check.sh installs it.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.cli.main import main
from tests.helpers import browser

DATA = Path(__file__).resolve().parent / "data"
OLD, NEW = DATA / "vm-debian-6.1.json", DATA / "vm-debian-6.12.json"

pytestmark = pytest.mark.skipif(browser.chromium() is None,
                                reason="chromium is not installed (apt-get install chromium; tests/check.sh does)")

# Run in the page once it has rendered: what a person sees, then the same after clicking the first link of the
# "differ" table and opening the first cell of that behaviour's row.  The result lands in a <pre> of the DOM.
PROBE = """<script>
addEventListener('load', () => {
  const out = {title: document.title, seen: document.body.innerText, links: [], opened: '', jumped: null};
  for (const a of document.querySelectorAll('a[href]')) {
    const href = a.getAttribute('href');
    const target = href.startsWith('#') ? document.getElementById(decodeURIComponent(href.slice(1))) : null;
    out.links.push({text: a.innerText, href: href, visible: a.getClientRects().length > 0, target: !!target});
  }
  const first = document.querySelector('#differences a[href^="#"]');
  if (first) {
    first.click();
    const row = document.getElementById(decodeURIComponent(first.getAttribute('href').slice(1)));
    if (row) {
      const r = row.getBoundingClientRect();
      out.jumped = {top: r.top, height: innerHeight, id: row.id};
      const cell = row.querySelector('details');
      if (cell) { cell.open = true; out.opened = cell.innerText; }
    }
  }
  const pre = document.createElement('pre');
  pre.id = 'kc-probe';
  pre.textContent = JSON.stringify(out);
  document.documentElement.appendChild(pre);
});
</script>"""


@dataclass(frozen=True)
class Seen:
    title: str
    text: str
    links: list[dict[str, object]]
    opened: str  # the text of the first cell of the linked row, once opened
    jumped: dict[str, object] | None  # where the linked row is after the click


def look_at(page: str, tmp: Path) -> Seen:
    """Render ``page`` (the HTML text) in Chromium and report what a person would see."""
    copy = tmp / "page.html"
    copy.write_text(page + PROBE)
    dom = browser.dump_dom(copy.as_uri(), budget_ms=3000)
    m = re.search(r'<pre id="kc-probe">(.*?)</pre>', dom, re.DOTALL)
    assert m is not None, "the page never finished loading (no probe output in the DOM)"
    d = json.loads(html.unescape(m.group(1)))
    return Seen(d["title"], " ".join(d["seen"].split()), d["links"], " ".join(d["opened"].split()), d["jumped"])


def check_matrix(seen: Seen) -> None:
    """What a person must see on the 6.1 / 6.12 matrix."""
    assert seen.title == "kconform matrix"
    for column in ("[1] 6.1.0-56-amd64 (vm:debian-6.1.0-56)", "[2] 6.12.117+deb12-amd64 (vm:debian-6.12.117+deb12)"):
        assert column in seen.text, f"run column {column!r} not shown"
    assert "11 behaviour(s) differ between runs" in seen.text
    # a behaviour the kernels differ on, with both verdicts, in the "where the runs differ" table
    differ = seen.text.partition("Where the runs differ")[2]
    assert "resolve_cached.midwalk_errors old-model 1o 3p pass 4 midwalk-search-denied" in differ, \
        "no differing behaviour with its verdicts and the case that differs"
    inner = [ln for ln in seen.links if str(ln["href"]).startswith("#b-")]
    assert inner, "no link to a behaviour's row"
    assert all(ln["target"] and ln["visible"] for ln in inner), [ln for ln in inner if not ln["target"]]
    assert seen.jumped is not None and 0 <= float(str(seen.jumped["top"])) < float(str(seen.jumped["height"])), \
        f"following the link did not bring the row into view: {seen.jumped}"
    assert re.search(r"\S+: old-model", seen.opened), f"the opened cell lists no case: {seen.opened[:200]!r}"
    # closed cells hide their cases: a person sees chips and counts, not every message
    assert seen.text.count("old-model:") <= 2


@pytest.fixture(scope="module")
def matrix_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("matrix") / "matrix.html"
    assert main(["report", str(OLD), str(NEW), "--html", str(out)]) == 0
    return out.read_text()


def test_html_matrix_as_a_person_sees_it(matrix_page: str, tmp_path: Path) -> None:
    check_matrix(look_at(matrix_page, tmp_path))


@pytest.mark.parametrize("breakage", ["truncated", "hidden", "no-anchors"])
def test_a_broken_page_fails(matrix_page: str, tmp_path: Path, breakage: str) -> None:
    if breakage == "truncated":  # a writer that stopped half way
        page = matrix_page[: matrix_page.index('<table id="differences">') + 200]
    elif breakage == "hidden":  # a style that hides the tables
        page = matrix_page.replace("</style>", "table{display:none}</style>", 1)
    else:  # rows lost their ids: the links lead nowhere
        page = re.sub(r'<tr id="b-[^"]+"', "<tr", matrix_page)
    assert page != matrix_page
    with pytest.raises(AssertionError):
        check_matrix(look_at(page, tmp_path))
