"""The kernel x behaviour matrix: one column per run, one row per behaviour.

A cell holds the cases of one behaviour on one run; its verdict is the worst
of theirs (error > fail > overridden > old-model > pass > skip).  A row
*differs* when some case has a different verdict on two runs, or is missing
from one of them; it *differs between architectures* when it does so between
two runs of the same kernel release built for different architectures
(``7.3.4+deb13-amd64`` and ``7.3.4+deb13-arm64``: the release without its
architecture's flavour).  Rendered three ways: a terminal table, one self-contained
HTML page (inline CSS, no scripts, no external URLs) and a markdown table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from conformance.host.kernel import KernelVersion
from conformance.host.records import record
from conformance.suite.behaviours import BEHAVIOURS, Behaviour, by_id
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict

SEVERITY: tuple[Verdict, ...] = (Verdict.ERROR, Verdict.FAIL, Verdict.OVERRIDDEN, Verdict.OLD_MODEL,
                                 Verdict.PASS, Verdict.SKIP)
LETTER = {Verdict.ERROR: "e", Verdict.FAIL: "f", Verdict.OVERRIDDEN: "v", Verdict.OLD_MODEL: "o",
          Verdict.PASS: "p", Verdict.SKIP: "s"}
MEANING = {
    Verdict.ERROR: "the harness or the kernel's health broke (timeout, leak, taint)",
    Verdict.FAIL: "follows neither the current nor a documented earlier model",
    Verdict.OVERRIDDEN: "a fail that an expectation file marks as known",
    Verdict.OLD_MODEL: "follows the documented model from before a change, on a kernel older than it",
    Verdict.PASS: "follows the current model",
    Verdict.SKIP: "does not apply here (missing feature or privilege)",
}
ABSENT = "-"  # the behaviour was not run on that kernel


def worst(verdicts: Sequence[Verdict]) -> Verdict | None:
    present = set(verdicts)
    return next((v for v in SEVERITY if v in present), None)


def _version_key(release: str) -> tuple[int, int, int]:
    try:
        v = KernelVersion.parse(release)
    except ValueError:
        return (0, 0, 0)
    return (v.major, v.minor, v.patch)


# --------------------------------------------------------------------------- model


@record(frozen=True)
class Column:
    """One run: a kernel (and a label when several runs share a kernel)."""

    release: str
    label: str
    arch: str
    config_digest: str
    privileged: str
    source: str  # the file it was read from
    counts: tuple[tuple[Verdict, int], ...]  # non-zero, worst first
    label_names_kernel: bool = False  # the label is the kernel's own short name (kconform vm)

    @classmethod
    def from_run(cls, run: RunRecord, source: str = "") -> Column:
        p = run.properties
        n = run.counts()
        return cls(p.get("kernel.release", "?"), p.get("run.label", ""), p.get("kernel.arch", "?"),
                   p.get("kernel.config_digest", "?"), p.get("run.privileged", "?"), source,
                   tuple((v, n[v]) for v in SEVERITY if n[v]), p.get("run.label_names_kernel") == "yes")

    @property
    def title(self) -> str:
        """The kernel's short label where a VM run gave one (debian-7.3.4); else the release, with the
        run's label (e.g. unprivileged) beside it."""
        if self.label and self.label_names_kernel:
            return self.label
        return f"{self.release} ({self.label})" if self.label else self.release

    def sort_key(self) -> tuple[tuple[int, int, int], str, str]:
        return (_version_key(self.release), self.release, self.label)

    @property
    def kernel(self) -> str:
        """The release without its architecture's flavour: the same kernel built for another architecture
        has the same one."""
        from conformance.host.arch import ARCHES

        flavour = next((a.flavour for a in ARCHES.values() if a.name == self.arch), "")
        return self.release.removesuffix(f"-{flavour}") if flavour else self.release


@record(frozen=True)
class Cell:
    cases: tuple[CaseRecord, ...]

    @property
    def verdict(self) -> Verdict | None:
        return worst([c.verdict for c in self.cases])

    @property
    def counts(self) -> tuple[tuple[Verdict, int], ...]:
        return tuple((v, n) for v in SEVERITY if (n := sum(c.verdict is v for c in self.cases)))

    def text(self) -> str:
        """``pass 7``, or ``fail 1f 6p`` when the cases disagree, or ``-``."""
        if self.verdict is None:
            return ABSENT
        if len(self.counts) == 1:
            return f"{self.verdict.value} {self.counts[0][1]}"
        return f"{self.verdict.value} " + " ".join(f"{n}{LETTER[v]}" for v, n in self.counts)

    def by_case(self) -> dict[str, Verdict]:
        return {c.name: c.verdict for c in self.cases}


@record(frozen=True)
class Row:
    behaviour_id: str
    behaviour: Behaviour | None
    cells: tuple[Cell, ...]

    @property
    def family(self) -> str:
        return self.behaviour_id.split(".", 1)[0]

    def differing_cases(self) -> list[str]:
        """Case ids whose verdict is not the same on every run (missing counts as different)."""
        maps = [c.by_case() for c in self.cells]
        names = sorted(set().union(*maps)) if maps else []
        return [n for n in names if len({m.get(n) for m in maps}) > 1]

    @property
    def differs(self) -> bool:
        return bool(self.differing_cases())

    def arch_differing_cases(self, groups: Sequence[Sequence[int]]) -> list[str]:
        """Case ids whose verdict differs between the runs of one group (the same kernel, several
        architectures; column indexes)."""
        out: set[str] = set()
        for g in groups:
            maps = [self.cells[i].by_case() for i in g]
            names = set().union(*maps)
            out |= {n for n in names if len({m.get(n) for m in maps}) > 1}
        return sorted(out)


@record(frozen=True)
class Matrix:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    @classmethod
    def build(cls, runs: Sequence[RunRecord], sources: Sequence[str] | None = None) -> Matrix:
        """Columns sorted by kernel version then label; rows in registry order, grouped by family."""
        srcs = list(sources) if sources is not None else [""] * len(runs)
        named = sorted(((Column.from_run(r, s), r) for r, s in zip(runs, srcs, strict=True)),
                       key=lambda cr: cr[0].sort_key())
        known = by_id()
        order = {b.id: i for i, b in enumerate(BEHAVIOURS)}
        ids = sorted({c.classname for _, r in named for c in r.cases},
                     key=lambda i: (order.get(i, len(order)), i))
        family_rank: dict[str, int] = {}
        for i in ids:
            family_rank.setdefault(i.split(".", 1)[0], len(family_rank))
        ids.sort(key=lambda i: family_rank[i.split(".", 1)[0]])
        rows = tuple(
            Row(i, known.get(i), tuple(Cell(tuple(c for c in r.cases if c.classname == i)) for _, r in named))
            for i in ids
        )
        return cls(tuple(c for c, _ in named), rows)

    def families(self) -> list[tuple[str, list[Row]]]:
        out: dict[str, list[Row]] = {}
        for row in self.rows:
            out.setdefault(row.family, []).append(row)
        return list(out.items())

    @property
    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.differs]

    def arch_groups(self) -> list[list[int]]:
        """Columns of one kernel run on more than one architecture (indexes into columns)."""
        by_kernel: dict[str, list[int]] = {}
        for i, c in enumerate(self.columns):
            by_kernel.setdefault(c.kernel, []).append(i)
        return [g for g in by_kernel.values() if len({self.columns[i].arch for i in g}) > 1]

    @property
    def arch_differing(self) -> list[Row]:
        groups = self.arch_groups()
        return [r for r in self.rows if groups and r.arch_differing_cases(groups)]

    def terminal(self, colour: bool) -> str:
        return render_terminal(self, colour)

    def html(self) -> str:
        return render_html(self)

    def markdown(self) -> str:
        return render_markdown(self)

    def headline(self) -> str:
        d = len(self.differing)
        text = (f"{len(self.columns)} run(s), {len(self.rows)} behaviour(s); "
                + (f"{d} behaviour(s) differ between runs" if d else "no differences between runs"))
        if self.arch_groups():
            a = len(self.arch_differing)
            text += (f"; {a} differ between architectures of the same kernel" if a
                     else "; none differs between architectures of the same kernel")
        return text


def _counts_text(counts: tuple[tuple[Verdict, int], ...]) -> str:
    return ", ".join(f"{n} {v.value}" for v, n in counts) or "no cases"


# --------------------------------------------------------------------------- terminal

_ANSI = {Verdict.ERROR: "1;35", Verdict.FAIL: "1;31", Verdict.OVERRIDDEN: "33", Verdict.OLD_MODEL: "36",
         Verdict.PASS: "32", Verdict.SKIP: "2"}


def render_terminal(m: Matrix, colour: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour and code else text

    out = [f"kconform matrix: {m.headline()}"]
    for i, col in enumerate(m.columns, 1):
        out.append(f"  [{i}] {col.title}  {col.arch}  config {col.config_digest}  privileged {col.privileged}"
                   f"  ({_counts_text(col.counts)})")
    head = ["behaviour", *(f"[{i}] {c.title}" for i, c in enumerate(m.columns, 1))]
    across = {r.behaviour_id for r in m.arch_differing}
    body = [[f"{'^' if r.behaviour_id in across else '*' if r.differs else ' '} {r.behaviour_id}",
             *(c.text() for c in r.cells)] for r in m.rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    out += ["", "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    family = ""
    for row, cells in zip(m.rows, body, strict=True):
        if row.family != family:
            family = row.family
            out.append(paint(family, "1"))
        parts = [paint(cells[0].ljust(widths[0]), "1" if row.differs else "")]
        for cell, text, w in zip(row.cells, cells[1:], widths[1:], strict=True):
            parts.append(paint(text.ljust(w), _ANSI[cell.verdict] if cell.verdict else ""))
        out.append("  ".join(parts).rstrip())
    if m.differing:
        out += ["", "differences (* above):"]
        for row in m.differing:
            for name in row.differing_cases():
                verdicts = [c.by_case().get(name) for c in row.cells]
                out.append(f"  {row.behaviour_id} {name}: "
                           + "  ".join(f"[{i}] {v.value if v else ABSENT}" for i, v in enumerate(verdicts, 1)))
    if m.arch_differing:
        groups = m.arch_groups()
        out += ["", "differences between architectures of the same kernel (^ above):"]
        for row in m.arch_differing:
            for name in row.arch_differing_cases(groups):
                for g in groups:
                    per_arch = [(i, row.cells[i].by_case().get(name)) for i in g]
                    if len({v for _, v in per_arch}) > 1:
                        out.append(f"  {row.behaviour_id} {name}: " + "  ".join(
                            f"[{i + 1}] {m.columns[i].arch} {v.value if v else ABSENT}" for i, v in per_arch))
    out += ["", "legend: " + ", ".join(f"{LETTER[v]}={v.value}" for v in SEVERITY)
            + f", {ABSENT}=not run; a cell shows the worst verdict of its cases, then counts; "
            "* the runs differ, ^ they differ between architectures of the same kernel"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(m: Matrix) -> str:
    out = ["# kconform: kernel x behaviour matrix", "", m.headline() + ".", "",
           "| # | run | arch | config digest | privileged | results |", "|---|---|---|---|---|---|"]
    for i, c in enumerate(m.columns, 1):
        out.append(f"| {i} | {_md(c.title)} | {_md(c.arch)} | `{_md(c.config_digest)}` | {_md(c.privileged)} "
                   f"| {_md(_counts_text(c.counts))} |")
    across = {r.behaviour_id for r in m.arch_differing}
    out += ["", "| behaviour | since | commit | " + " | ".join(f"[{i}] {_md(c.title)}" for i, c in
                                                             enumerate(m.columns, 1)) + " | differs |",
            "|---|---|---|" + "---|" * len(m.columns) + "---|"]
    for row in m.rows:
        b = row.behaviour
        name = f"**{row.behaviour_id}**" if row.differs else row.behaviour_id
        cells = " | ".join(f"**{_md(c.text())}**" if c.verdict and c.verdict.red else _md(c.text())
                           for c in row.cells)
        since, commit = (b.since, f"`{b.commit}`" if b.commit else "") if b else ("", "")
        mark = "differs" + (" (between architectures)" if row.behaviour_id in across else "") if row.differs else ""
        out.append(f"| {name} | {since} | {commit} | {cells} | {mark} |")
    if m.differing:
        out += ["", "## Differences", ""]
        for row in m.differing:
            for name in row.differing_cases():
                parts = []
                for i, cell in enumerate(row.cells, 1):
                    case = next((c for c in cell.cases if c.name == name), None)
                    parts.append(f"[{i}] {case.verdict.value}: {_md(case.message)}" if case else f"[{i}] not run")
                out.append(f"- `{row.behaviour_id}` `{name}`: " + "; ".join(parts))
    out += ["", "Legend: " + "; ".join(f"{LETTER[v]} = {v.value} ({MEANING[v]})" for v in SEVERITY)
            + f"; {ABSENT} = not run."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- HTML

_COLOURS = {  # foreground, background
    Verdict.ERROR: ("#6a1b9a", "#f3e5f5"), Verdict.FAIL: ("#b71c1c", "#ffcdd2"),
    Verdict.OVERRIDDEN: ("#8a4b00", "#ffe0b2"), Verdict.OLD_MODEL: ("#0d47a1", "#bbdefb"),
    Verdict.PASS: ("#1b5e20", "#c8e6c9"), Verdict.SKIP: ("#424242", "#eeeeee"),
}

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
thead th{background:#fafafa;position:sticky;top:0;z-index:1}
td.cell{min-width:8em}td.absent{color:#9e9e9e;text-align:center}
.chip{display:inline-block;padding:0 .45em;border-radius:3px;font-weight:600;white-space:nowrap}
.n{font-size:.85em;opacity:.85;font-weight:400}
tr.family th{background:#eceff1;text-align:left;font-size:1.05em}
tr.differs th.bid{border-left:4px solid #d84315}
.mark{color:#d84315;font-weight:700;white-space:nowrap}
details summary{cursor:pointer;list-style:none}details summary::-webkit-details-marker{display:none}
details ul{margin:.3em 0 0;padding-left:1.1em;font-size:.85em;max-width:40em}
code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.9em}
.meta{font-weight:400;font-size:.8em;color:#555}.stmt{font-weight:400;font-size:.8em;color:#555;max-width:28em}
#only-diff:checked~table#matrix tbody tr.same{display:none}
"""


_MARK = '<span class="mark">&ne; differs</span>'
_ARCH_MARK = ' <span class="mark">between architectures</span>'


def _chip(v: Verdict | None, text: str = "") -> str:
    if v is None:
        return f'<span class="chip">{html.escape(text or ABSENT)}</span>'
    fg, bg = _COLOURS[v]
    return f'<span class="chip v-{v.value}" style="color:{fg};background:{bg}">{html.escape(text or v.value)}</span>'


def _cell_html(row: Row, cell: Cell, col: Column) -> str:
    if cell.verdict is None:
        absent = html.escape(f"{row.behaviour_id}: not run on {col.title}")
        return f'<td class="cell absent" title="{absent}">{ABSENT}</td>'
    b = row.behaviour
    title = [f"{row.behaviour_id} on {col.title}: {cell.verdict.value} ({_counts_text(cell.counts)})"]
    if b:
        title.append(f"{b.statement} (since {b.since}" + (f", commit {b.commit})" if b.commit else ")"))
    title += [f"{c.name}: {c.verdict.value}" + (f" - {c.message}" if c.message else "") for c in cell.cases
              if c.verdict is not Verdict.PASS][:12]
    _, bg = _COLOURS[cell.verdict]
    items = "".join(f"<li>{html.escape(c.name)}: {_chip(c.verdict)} {html.escape(c.message)}</li>"
                    for c in sorted(cell.cases, key=lambda c: (SEVERITY.index(c.verdict), c.name)))
    counts = " ".join(f"{n}{LETTER[v]}" for v, n in cell.counts)
    return (f'<td class="cell" style="background:{bg}" title="{html.escape(chr(10).join(title))}">'
            f"<details><summary>{_chip(cell.verdict)} <span class=\"n\">{html.escape(counts)}</span></summary>"
            f"<ul>{items}</ul></details></td>")


def render_html(m: Matrix) -> str:
    e = html.escape
    cols = m.columns
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>kconform matrix</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>kconform: kernel &times; behaviour matrix</h1>", f"<p><strong>{e(m.headline())}</strong></p>"]
    # summary: the runs, then where they differ
    out.append('<h2>Runs</h2><table id="runs"><thead><tr><th>#</th><th>kernel</th><th>arch</th>'
               "<th>config digest</th><th>privileged</th><th>results</th><th>source</th></tr></thead><tbody>")
    for i, c in enumerate(cols, 1):
        chips = " ".join(_chip(v, f"{n} {v.value}") for v, n in c.counts)
        out.append(f"<tr><td>{i}</td><td><strong>{e(c.title)}</strong></td><td>{e(c.arch)}</td>"
                   f'<td class="mono">{e(c.config_digest)}</td><td>{e(c.privileged)}</td><td>{chips}</td>'
                   f'<td class="mono">{e(c.source)}</td></tr>')
    out.append("</tbody></table>")
    if m.differing:
        out.append('<h2>Where the runs differ</h2><table id="differences"><thead><tr><th>behaviour</th>'
                   + "".join(f"<th>[{i}] {e(c.title)}</th>" for i, c in enumerate(cols, 1))
                   + "<th>cases that differ</th></tr></thead><tbody>")
        for row in m.differing:
            cases = row.differing_cases()
            out.append(f'<tr><th><a href="#b-{e(row.behaviour_id)}">{e(row.behaviour_id)}</a></th>'
                       + "".join(f"<td>{_chip(c.verdict, c.text())}</td>" for c in row.cells)
                       + f'<td class="mono">{e(", ".join(cases[:8]) + (" ..." if len(cases) > 8 else ""))}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>All runs agree on every case.</p>")
    out.append("<h2>Legend</h2><p>" + " ".join(f"{_chip(v)} {e(MEANING[v])}<br>" for v in SEVERITY)
               + f"{_chip(None)} not run on that kernel. A cell shows the worst verdict of its cases "
               "(error &gt; fail &gt; overridden &gt; old-model &gt; pass &gt; skip), then counts "
               f"({e(', '.join(f'{LETTER[v]}={v.value}' for v in SEVERITY))}); "
               f"open a cell for every case and its message. {_MARK} marks rows "
               "where the runs disagree.</p>")
    # the matrix
    out.append('<h2>Matrix</h2><input type="checkbox" id="only-diff"> <label for="only-diff">only rows that '
               'differ</label><table id="matrix"><thead><tr><th>behaviour</th><th>since</th><th>commit</th>'
               "<th>differs</th>")
    for i, c in enumerate(cols, 1):
        out.append(f'<th title="{e(c.source)}">[{i}] {e(c.title)}<div class="meta">{e(c.arch)} &middot; config '
                   f"{e(c.config_digest)} &middot; privileged {e(c.privileged)}</div></th>")
    out.append("</tr></thead><tbody>")
    across = {r.behaviour_id for r in m.arch_differing}
    for family, rows in m.families():
        out.append(f'<tr class="family same"><th colspan="{4 + len(cols)}">{e(family)}</th></tr>')
        for row in rows:
            b = row.behaviour
            cls = "differs" if row.differs else "same"
            stmt = f'<div class="stmt">{e(b.statement)}</div>' if b else ""
            out.append(f'<tr id="b-{e(row.behaviour_id)}" class="{cls}"><th class="bid">'
                       f'<code>{e(row.behaviour_id)}</code>{stmt}</th><td>{e(b.since) if b else ""}</td>'
                       f'<td class="mono">{e(b.commit) if b else ""}</td>'
                       f"<td>{_MARK if row.differs else ''}{_ARCH_MARK if row.behaviour_id in across else ''}</td>"
                       + "".join(_cell_html(row, cell, col) for cell, col in zip(row.cells, cols, strict=True))
                       + "</tr>")
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"
