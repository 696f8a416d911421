"""``kconform report --baseline OLD NEW``: what changed, per case, from one kernel's run to another's.

Each case gets one change class from its OLD and NEW verdicts (first rule that applies):

=====================  =====================================================================
change                 when
=====================  =====================================================================
not in NEW             the case ran in OLD only
still failing          fail or error on both sides
new failure            fail or error in NEW, not in OLD (also a new case that fails): a regression
new case               ran in NEW only (and did not fail)
newly skipped          skip in NEW, anything else in OLD
no longer skipped      skip in OLD, ran in NEW
fixed                  fail/error/overridden in OLD, pass or old-model in NEW
known deviation        overridden in NEW (an expectation file names it), or fail/error -> overridden
changed model          pass <-> old-model: the kernel moved across a documented change
unchanged              the same verdict
=====================  =====================================================================

Only *new failure* is a regression: the exit status is 1 when there is one, else 0.

Pairing: when OLD and NEW hold one run each, they are compared.  Otherwise a NEW run
is paired with the OLD run of the same ``run.label``, else of the same *slot* (the first
directory under the OLD/NEW argument, e.g. ``results/<slot>/.../run.json``, as the CI
templates lay out the per-kernel artifacts).  A NEW run without a partner is compared
with nothing (all its failures are new); an OLD run without one is listed.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Sequence
from pathlib import Path

from conformance.host.records import record
from conformance.report.matrix import Column
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict

RED = (Verdict.FAIL, Verdict.ERROR)


class Change(enum.Enum):
    NEW_FAILURE = "new failure"
    FIXED = "fixed"
    NEWLY_SKIPPED = "newly skipped"
    NO_LONGER_SKIPPED = "no longer skipped"
    CHANGED_MODEL = "changed model"
    KNOWN = "known deviation"
    STILL_FAILING = "still failing"
    ADDED = "new case"
    GONE = "not in NEW"
    SAME = "unchanged"

    @property
    def regression(self) -> bool:
        return self is Change.NEW_FAILURE


NOTE = {
    Change.NEW_FAILURE: "a regression: fails or errors in NEW only",
    Change.FIXED: "failed in OLD, passes (or follows its documented model) in NEW",
    Change.NEWLY_SKIPPED: "does not apply in NEW (missing feature or privilege)",
    Change.NO_LONGER_SKIPPED: "applies in NEW and ran",
    Change.CHANGED_MODEL: "the kernel crossed a documented change (old model <-> current): not a regression",
    Change.KNOWN: "a deviation an expectation file marks as known",
    Change.STILL_FAILING: "fails or errors on both sides",
    Change.ADDED: "ran in NEW only",
    Change.GONE: "ran in OLD only",
    Change.SAME: "same verdict",
}
SHOWN = tuple(c for c in Change if c is not Change.SAME)


def classify(old: Verdict | None, new: Verdict | None) -> Change:
    if new is None:
        return Change.GONE
    if new in RED:
        return Change.STILL_FAILING if old in RED else Change.NEW_FAILURE
    if old is None:
        return Change.ADDED
    if old is new:
        return Change.SAME
    if new is Verdict.SKIP:
        return Change.NEWLY_SKIPPED
    if old is Verdict.SKIP:
        return Change.NO_LONGER_SKIPPED
    if new is Verdict.OVERRIDDEN:
        return Change.KNOWN
    if old in RED or old is Verdict.OVERRIDDEN:
        return Change.FIXED
    return Change.CHANGED_MODEL  # pass <-> old-model


@record(frozen=True)
class Entry:
    behaviour: str
    case: str
    old: CaseRecord | None
    new: CaseRecord | None
    change: Change

    def verdicts(self) -> str:
        def v(r: CaseRecord | None) -> str:
            return r.verdict.value if r else "-"
        return f"{v(self.old)} -> {v(self.new)}"


@record(frozen=True)
class Pair:
    old: Column | None
    new: Column
    entries: tuple[Entry, ...]

    @classmethod
    def compare(cls, old: RunRecord | None, new: RunRecord, old_src: str = "", new_src: str = "") -> Pair:
        olds = {(c.classname, c.name): c for c in old.cases} if old else {}
        news = {(c.classname, c.name): c for c in new.cases}
        entries = []
        for key in sorted(set(olds) | set(news)):
            o, n = olds.get(key), news.get(key)
            entries.append(Entry(*key, o, n, classify(o.verdict if o else None, n.verdict if n else None)))
        return cls(Column.from_run(old, old_src) if old else None, Column.from_run(new, new_src), tuple(entries))

    def of(self, change: Change) -> list[Entry]:
        return [e for e in self.entries if e.change is change]

    def counts(self) -> dict[Change, int]:
        return {c: len(self.of(c)) for c in Change}

    @property
    def regressions(self) -> list[Entry]:
        return self.of(Change.NEW_FAILURE)

    def title(self) -> str:
        return f"{self.old.title if self.old else '(no baseline)'} -> {self.new.title}"


@record(frozen=True)
class Run:
    record: RunRecord
    source: str
    slot: str  # first directory under the argument it was found in, or ""


@record(frozen=True)
class Comparison:
    pairs: tuple[Pair, ...]
    old_only: tuple[Column, ...] = ()

    @classmethod
    def build(cls, old: Sequence[Run], new: Sequence[Run]) -> Comparison:
        if len(old) == 1 and len(new) == 1:
            return cls((Pair.compare(old[0].record, new[0].record, old[0].source, new[0].source),))
        left = list(old)
        pairs = []
        for n in new:
            partner = _partner(left, n)
            if partner is not None:
                left.remove(partner)
            pairs.append(Pair.compare(partner.record if partner else None, n.record,
                                      partner.source if partner else "", n.source))
        return cls(tuple(pairs), tuple(Column.from_run(o.record, o.source) for o in left))

    @property
    def regressions(self) -> int:
        return sum(len(p.regressions) for p in self.pairs)

    @property
    def exit_status(self) -> int:
        return 1 if self.regressions else 0

    def verdict_line(self) -> str:
        n = self.regressions
        return (f"{n} new failure(s) or error(s) in NEW: exit status 1" if n
                else "no new failures or errors in NEW: exit status 0")

    # views (conformance.report.writers.View)
    def terminal(self, colour: bool = False) -> str:
        return render_terminal(self, colour)

    def html(self) -> str:
        return render_html(self)

    def markdown(self) -> str:
        return render_markdown(self)


def _partner(old: list[Run], new: Run) -> Run | None:
    label = new.record.properties.get("run.label", "")
    same_label = [o for o in old if label and o.record.properties.get("run.label", "") == label]
    if len(same_label) == 1:
        return same_label[0]
    same_slot = [o for o in old if new.slot and o.slot == new.slot]
    return same_slot[0] if len(same_slot) == 1 else None


def slot_of(root: Path, source: Path) -> str:
    """``results/<slot>/x/run.json`` -> ``<slot>``; a file given directly has none."""
    try:
        rel = source.resolve().relative_to(root.resolve())
    except ValueError:
        return ""
    return rel.parts[0] if len(rel.parts) > 1 else ""


def _summary(p: Pair) -> str:
    n = p.counts()
    return ", ".join(f"{n[c]} {c.value}" for c in (*SHOWN, Change.SAME) if n[c] or c.regression)


def _oneline(r: CaseRecord | None) -> str:
    return " ".join(r.message.split()) if r and r.message else ""


def _telling(e: Entry) -> str:
    """The message that explains the change: the side that did not simply pass, NEW first."""
    for r in (e.new, e.old):
        if r is not None and r.verdict is not Verdict.PASS and r.message:
            return f"{'NEW' if r is e.new else 'OLD'}: {_oneline(r)}"
    return _oneline(e.new or e.old)


# --------------------------------------------------------------------------- terminal

TERMINAL_LIMIT = {Change.ADDED: 10, Change.GONE: 10}  # long when the suite grew; the files list all
_ANSI = {Change.NEW_FAILURE: "1;31", Change.FIXED: "32", Change.CHANGED_MODEL: "36", Change.STILL_FAILING: "31",
         Change.KNOWN: "33"}


def render_terminal(cmp: Comparison, colour: bool = False) -> str:
    def paint(text: str, change: Change) -> str:
        code = _ANSI.get(change, "")
        return f"\033[{code}m{text}\033[0m" if colour and code else text

    out: list[str] = []
    for p in cmp.pairs:
        out.append(f"kconform baseline: {p.title()}")
        if p.old:
            out.append(f"  OLD {p.old.title}  {p.old.arch}  config {p.old.config_digest}  ({p.old.source})")
        out.append(f"  NEW {p.new.title}  {p.new.arch}  config {p.new.config_digest}  ({p.new.source})")
        out.append("  " + _summary(p))
        for change in SHOWN:
            entries = p.of(change)
            if not entries and not change.regression:
                continue
            out.append(paint(f"{change.value} ({len(entries)}): {NOTE[change]}", change))
            if not entries:
                out.append("  none")
            limit = TERMINAL_LIMIT.get(change, len(entries))
            for e in entries[:limit]:
                out.append(f"  {e.behaviour} {e.case}: {e.verdicts()}")
                for side, rec in (("OLD", e.old), ("NEW", e.new)):
                    if rec is not None and rec.verdict is not Verdict.PASS and rec.message:
                        out.append(f"      {side}: {_oneline(rec)[:200]}")
            if len(entries) > limit:
                out.append(f"  ... and {len(entries) - limit} more (all of them in --html/--markdown)")
        out.append("")
    for c in cmp.old_only:
        out.append(f"not in NEW: the OLD run {c.title} ({c.source}) has no NEW partner")
    out.append(paint(cmp.verdict_line(), Change.NEW_FAILURE if cmp.regressions else Change.FIXED))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(cmp: Comparison) -> str:
    out = ["# kconform: changes against the baseline", "", f"**{cmp.verdict_line()}**", ""]
    for p in cmp.pairs:
        out += [f"## {_md(p.title())}", "", _md(_summary(p)) + ".", ""]
        for change in SHOWN:
            entries = p.of(change)
            if not entries and not change.regression:
                continue
            out += [f"### {change.value} ({len(entries)})", "", f"_{_md(NOTE[change])}_", ""]
            if not entries:
                out += ["None.", ""]
                continue
            out += ["| behaviour | case | OLD | NEW | message |", "|---|---|---|---|---|"]
            for e in entries:
                out.append(f"| `{e.behaviour}` | `{e.case}` | {e.old.verdict.value if e.old else '-'} "
                           f"| {e.new.verdict.value if e.new else '-'} | {_md(_telling(e))[:300]} |")
            out.append("")
    for c in cmp.old_only:
        out += [f"- OLD run {_md(c.title)} has no NEW partner", ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#fafafa}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
.regression{color:#b71c1c}.fixed{color:#1b5e20}.model{color:#0d47a1}.note{color:#555;font-size:.9em}
.msg{max-width:50em;font-size:.85em}.bad{background:#ffcdd2;padding:.3em .6em;display:inline-block}
.good{background:#c8e6c9;padding:.3em .6em;display:inline-block}
"""
_CLASS = {Change.NEW_FAILURE: "regression", Change.STILL_FAILING: "regression", Change.FIXED: "fixed",
          Change.CHANGED_MODEL: "model"}


def render_html(cmp: Comparison) -> str:
    e = html.escape
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           "<title>kconform baseline</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>kconform: changes against the baseline</h1>",
           f'<p class="{"bad" if cmp.regressions else "good"}"><strong>{e(cmp.verdict_line())}</strong></p>']
    for p in cmp.pairs:
        out.append(f"<h2>{e(p.title())}</h2><p>{e(_summary(p))}</p>")
        for side, col in (("OLD", p.old), ("NEW", p.new)):
            if col is not None:
                out.append(f'<p class="note">{side}: {e(col.title)} {e(col.arch)} config {e(col.config_digest)}'
                           f" &middot; {e(col.source)}</p>")
        for change in SHOWN:
            entries = p.of(change)
            if not entries and not change.regression:
                continue
            out.append(f'<h3 class="{_CLASS.get(change, "")}">{e(change.value)} ({len(entries)})</h3>'
                       f'<p class="note">{e(NOTE[change])}</p>')
            if not entries:
                out.append("<p>None.</p>")
                continue
            out.append("<table><thead><tr><th>behaviour</th><th>case</th><th>OLD</th><th>NEW</th>"
                       "<th>messages</th></tr></thead><tbody>")
            for x in entries:
                msgs = "<br>".join(f"{side}: {e(_oneline(r))}" for side, r in (("OLD", x.old), ("NEW", x.new))
                                   if r is not None and r.message)
                out.append(f"<tr><td><code>{e(x.behaviour)}</code></td><td><code>{e(x.case)}</code></td>"
                           f"<td>{e(x.old.verdict.value) if x.old else '-'}</td>"
                           f"<td>{e(x.new.verdict.value) if x.new else '-'}</td>"
                           f'<td class="msg">{msgs}</td></tr>')
            out.append("</tbody></table>")
    for c in cmp.old_only:
        out.append(f"<p>OLD run {e(c.title)} ({e(c.source)}) has no NEW partner.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
