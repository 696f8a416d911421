"""Distro expectation overrides: known deviations, declared in TOML.

    [[expect]]
    behaviour = "clone3.newtime"        # a registered behaviour id
    case = "newtime-accepted"           # optional: one case id, or a glob ("*" default)
    release = '6\\.1\\..*'              # regular expression, matched against the whole uname -r
    reason = "backport pending"         # required
    reference = "https://bugs.example/123"  # required: where the deviation is tracked
    verdict = "fail"                    # optional: the verdict it covers (fail or error)

A matching verdict becomes ``overridden`` and keeps the kernel's message; it is
never shown as pass.  Any unknown key, missing key, unknown behaviour or bad
pattern is an error that names the line.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from conformance.host.records import record
from conformance.suite.behaviours import by_id
from conformance.suite.verdict import Judgement, Verdict

KEYS_REQUIRED = {"behaviour", "release", "reason", "reference"}
KEYS_OPTIONAL = {"case", "verdict"}


class ExpectationError(ValueError):
    """Bad expectation file; the message names file and line."""


@record(frozen=True)
class Override:
    behaviour: str
    case: str
    release: re.Pattern[str]
    reason: str
    reference: str
    verdict: Verdict
    line: int

    def matches(self, behaviour: str, case_id: str, release: str, verdict: Verdict) -> bool:
        return (
            behaviour == self.behaviour
            and fnmatch.fnmatchcase(case_id, self.case)
            and verdict is self.verdict
            and self.release.fullmatch(release) is not None
        )


def _block_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """Line of each [[expect]] header and of each key inside it (1-based)."""
    blocks: list[tuple[int, dict[str, int]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[[") and line.rstrip().endswith("]]"):
            blocks.append((n, {}))
        elif blocks and "=" in line and not line.startswith("#"):
            blocks[-1][1].setdefault(line.split("=", 1)[0].strip().strip('"'), n)
    return blocks


@record(frozen=True)
class Expectations:
    path: Path
    overrides: tuple[Override, ...]

    @classmethod
    def load(cls, path: Path) -> Expectations:
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ExpectationError(f"{path}: cannot read expectations: {e.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise ExpectationError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start}); "
                                   "expectations are TOML") from None
        if "\0" in text:
            line = text[: text.index("\0")].count("\n") + 1
            raise ExpectationError(f"{path}:{line}: binary data (a NUL byte); expectations are TOML")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ExpectationError(f"{path}: {' '.join(str(e).split())}") from None
        return cls(path, tuple(cls._parse(path, text, data)))

    @staticmethod
    def _parse(path: Path, text: str, data: dict[str, object]) -> list[Override]:
        top_unknown = set(data) - {"expect"}
        if top_unknown:
            key = sorted(top_unknown)[0]
            line = next((n for n, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith(key)), 1)
            raise ExpectationError(f"{path}:{line}: unknown key {key!r} (only [[expect]] tables are allowed)")
        entries = data.get("expect", [])
        if not isinstance(entries, list):
            raise ExpectationError(f"{path}:1: 'expect' must be an array of tables ([[expect]])")
        lines = _block_lines(text)
        known = by_id()
        out: list[Override] = []
        for i, entry in enumerate(entries):
            header, keylines = lines[i] if i < len(lines) else (1, {})
            if not isinstance(entry, dict):
                raise ExpectationError(f"{path}:{header}: [[expect]] entry is not a table")
            for key in entry:
                if key not in KEYS_REQUIRED | KEYS_OPTIONAL:
                    raise ExpectationError(f"{path}:{keylines.get(key, header)}: unknown key {key!r}")
            missing = KEYS_REQUIRED - set(entry)
            if missing:
                raise ExpectationError(f"{path}:{header}: missing key(s) {', '.join(sorted(missing))}")
            for key, value in entry.items():
                if not isinstance(value, str):
                    raise ExpectationError(f"{path}:{keylines.get(key, header)}: {key!r} must be a string, "
                                           f"not {type(value).__name__} {value!r}")
                if not value.strip():
                    raise ExpectationError(f"{path}:{keylines.get(key, header)}: {key!r} is empty")
            behaviour = str(entry["behaviour"])
            if behaviour not in known:
                raise ExpectationError(f"{path}:{keylines.get('behaviour', header)}: unknown behaviour {behaviour!r}")
            try:
                release = re.compile(str(entry["release"]))
            except re.error as e:
                raise ExpectationError(f"{path}:{keylines.get('release', header)}: bad release pattern: {e}") from None
            verdict_text = str(entry.get("verdict", "fail"))
            if verdict_text not in (Verdict.FAIL.value, Verdict.ERROR.value):
                raise ExpectationError(
                    f"{path}:{keylines.get('verdict', header)}: verdict must be 'fail' or 'error', not {verdict_text!r}"
                )
            out.append(Override(behaviour, str(entry.get("case", "*")), release, str(entry["reason"]),
                                str(entry["reference"]), Verdict(verdict_text), header))
        return out

    def apply(self, behaviour: str, case_id: str, release: str, j: Judgement) -> Judgement:
        for o in self.overrides:
            if o.matches(behaviour, case_id, release, j.verdict):
                return Judgement(
                    Verdict.OVERRIDDEN,
                    f"overridden: {o.reason} [{o.reference}] ({self.path.name}:{o.line}); kernel: {j.message}",
                    j.observed,
                )
        return j
