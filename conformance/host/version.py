"""Which kconform made a run: its version and, from a git checkout, its commit.

The commit is read from the checkout's files (``.git``, a worktree's ``gitdir``,
loose or packed refs), never by running git: the runner starts no process of
its own.  An installed copy that is not a checkout has no commit ("unknown").
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from pathlib import Path

UNKNOWN = "unknown"
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@functools.cache
def version() -> str:
    try:
        return importlib.metadata.version("kconform")
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN


def _gitdir(root: Path) -> Path | None:
    dot = root / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
        m = re.match(r"gitdir:\s*(.+)", dot.read_text().strip())
        if m:
            p = Path(m.group(1))
            return p if p.is_absolute() else (root / p).resolve()
    return None


def _ref(gitdir: Path, ref: str) -> str | None:
    dirs = [gitdir]
    common = gitdir / "commondir"
    if common.is_file():
        c = Path(common.read_text().strip())
        dirs.append(c if c.is_absolute() else (gitdir / c).resolve())
    for d in dirs:
        loose = d / ref
        if loose.is_file():
            return loose.read_text().strip()
        packed = d / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    return None


@functools.cache
def commit(root: Path | None = None) -> str:
    """The commit checked out in ``root`` (default: the tree this module lives in), or "unknown"."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        gitdir = _gitdir(root)
        if gitdir is None:
            return UNKNOWN
        head = (gitdir / "HEAD").read_text().strip()
        sha = _ref(gitdir, head.removeprefix("ref:").strip()) if head.startswith("ref:") else head
    except (OSError, UnicodeDecodeError):
        return UNKNOWN
    return sha if sha and _SHA.fullmatch(sha) else UNKNOWN


def properties() -> dict[str, str]:
    """Run properties: ``kconform.version``, ``kconform.commit``."""
    return {"kconform.version": version(), "kconform.commit": commit()}
