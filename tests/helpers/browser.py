"""Headless Chromium for the self-tests: the text a person sees on a page, and a screenshot.

Debian's ``chromium`` package (CI installs it; tests/check.sh).  Every call uses
a fresh profile directory, removed afterwards, and a bounded run; the browser
exits by itself once the page is dumped or shot (``--headless`` with
``--dump-dom``/``--screenshot``), so nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars")
TIMEOUT_S = 120.0


def chromium() -> str | None:
    for name in (os.environ.get("KCONFORM_CHROMIUM", ""), "chromium", "chromium-browser", "/usr/bin/chromium"):
        if name and (found := shutil.which(name)):
            return found
    return None


def _run(url: str, extra: list[str], budget_ms: int) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="kc-chromium-")
    try:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *extra, url]
        # its own session: a timeout kills the browser and every helper process it started
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str, budget_ms: int = 5000) -> str:
    """The DOM after the page's scripts ran (serialised HTML)."""
    proc = _run(url, ["--dump-dom"], budget_ms)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom {url} exited {proc.returncode}: {proc.stderr[-500:]}")
    return proc.stdout


def screenshot(url: str, target: Path, size: str = "1400,1800", budget_ms: int = 5000) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(url, [f"--screenshot={target}", f"--window-size={size}"], budget_ms)
    if proc.returncode != 0 or not target.is_file():
        raise RuntimeError(f"chromium --screenshot {url} exited {proc.returncode}: {proc.stderr[-500:]}")


class _Visible(HTMLParser):
    """Text outside script, style, template and hidden elements; links with their text."""

    HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                      "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: hidden
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._link_text: list[str] = []

    def _hidden(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        hidden = tag in self.HIDDEN or "hidden" in a or "display:none" in (a.get("style") or "").replace(" ", "")
        if tag == "a" and not self._hidden() and not hidden:
            self._href, self._link_text = a.get("href") or "", []
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((" ".join("".join(self._link_text).split()), self._href))
            self._href = None
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.text.append(data)
            if self._href is not None:
                self._link_text.append(data)


def visible(dom: str) -> tuple[str, list[tuple[str, str]]]:
    """(the visible text, whitespace collapsed; the links as (text, href))."""
    p = _Visible()
    p.feed(dom)
    p.close()
    return " ".join(" ".join(p.text).split()), p.links
