"""SIGINT, SIGTERM and SIGHUP: an interrupted run is a result, never a pass.

``install()`` (main thread) turns the first of these signals into an
``Interrupted`` exception (a KeyboardInterrupt, so pytest stops the session,
runs the teardowns that restore what the running case changed, and still
calls the report hooks).  Later signals are noted and ignored until the
reports are written.  Code that starts things which must not outlive the run
(QEMU guests, scratch images) registers them with ``track_process_group`` /
``track_path``; ``cleanup()`` kills and removes whatever is still registered.

Exit status of an interrupted command: 128 + the signal number (130 SIGINT,
143 SIGTERM, 129 SIGHUP), distinct from 1 (failures) and 2 (bad usage).

An output error (stdout or stderr a closed pipe, a full device, the working
directory removed: conformance.runner.stdio) ends the run the same way, through
``output_failed()``: the pseudo signal ``OUTPUT_ERROR`` stands for it, named by
what failed; its exit status is 141 for a closed pipe (128 + SIGPIPE, what a
shell shows for a writer whose reader went away) and 3 for any other output error.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import field
from pathlib import Path
from types import FrameType

from conformance.host.records import record

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OUTPUT_ERROR = -1  # pseudo signal number: the run's own output failed (output_failed())
EXIT_OUTPUT_ERROR = 3  # an output error other than a closed pipe (a closed pipe: 128 + SIGPIPE)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    if signum == OUTPUT_ERROR:
        return _state.output or "an output error"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@record
class _State:
    signum: int | None = None
    installed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    groups: dict[int, int] = field(default_factory=dict)  # token -> process group id
    paths: dict[int, Path] = field(default_factory=dict)  # token -> file to remove
    notes: list[str] = field(default_factory=list)  # what was restored or cleaned up
    reported: bool = False  # the final reports (which say so) were written
    depth: int = 0  # inside deferred() sections (cleanups a signal must not cut in half)
    pending: bool = False  # a signal arrived inside one: raise when the outermost ends
    output: str = ""  # the output error that stopped the run ("an output error on stdout (EPIPE: ...)")
    output_status: int = EXIT_OUTPUT_ERROR


_state = _State()
_tokens = itertools.count(1)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.signum is not None:
        return  # already stopping: let the reports be written
    _state.signum = signum
    if _state.depth > 0:
        _state.pending = True  # in a cleanup: raised when it is complete
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section that a signal must not cut in half (creating and removing scratch state, restoring a
    value): an interruption that arrives inside it is raised when the outermost such section ends."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0 and _state.pending and _state.signum is not None:
            _state.pending = False
            raise Interrupted(_state.signum)


def output_failed(what: str, status: int, raise_now: bool = True) -> None:
    """The run's own output failed (``what``: "an output error on stdout (EPIPE: Broken pipe)"): stop the
    run as a signal would (raised here when ``raise_now`` and in the main thread, else at the next chance)."""
    if _state.signum is not None:
        return  # already stopping
    _state.output, _state.output_status = what, status
    _state.signum = OUTPUT_ERROR
    if not raise_now or threading.current_thread() is not threading.main_thread():
        return
    if _state.depth > 0:
        _state.pending = True
        return
    raise Interrupted(OUTPUT_ERROR)


def install() -> None:
    """Handle SIGINT/SIGTERM/SIGHUP in this process (main thread only; idempotent)."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        return
    for s in SIGNALS:
        if s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN:
            continue  # nohup: the caller asked for SIGHUP to be ignored
        signal.signal(s, _handler)
    _state.installed = True


def received() -> int | None:
    """The signal that interrupted the run, if any."""
    return _state.signum


def note(text: str) -> None:
    """Something restored or cleaned up because of the interruption (reported with it)."""
    with _state.lock:
        _state.notes.append(text)


def notes() -> list[str]:
    with _state.lock:
        return list(_state.notes)


def mark_reported() -> None:
    _state.reported = True


def reported() -> bool:
    return _state.reported


def exit_status(signum: int) -> int:
    if signum == OUTPUT_ERROR:
        return _state.output_status
    return 128 + signum


def reset() -> None:
    """Forget a received signal (self-tests)."""
    _state.signum = None
    _state.reported = False
    _state.pending = False
    _state.output, _state.output_status = "", EXIT_OUTPUT_ERROR
    with _state.lock:
        _state.notes.clear()


# --------------------------------------------------------------------------- things that must not outlive the run


def track_process_group(pgid: int) -> int:
    with _state.lock:
        token = next(_tokens)
        _state.groups[token] = pgid
    return token


def track_path(path: Path) -> int:
    with _state.lock:
        token = next(_tokens)
        _state.paths[token] = path
    return token


def untrack(token: int) -> None:
    with _state.lock:
        _state.groups.pop(token, None)
        _state.paths.pop(token, None)


@contextlib.contextmanager
def tracked(pgid: int | None = None, path: Path | None = None) -> Iterator[None]:
    tokens = [t for t in (track_process_group(pgid) if pgid is not None else None,
                          track_path(path) if path is not None else None) if t is not None]
    try:
        yield
    finally:
        for t in tokens:
            untrack(t)


def cleanup(kill: Callable[[int, int], None] = os.killpg) -> list[str]:
    """Kill every tracked process group (SIGKILL) and remove every tracked path; what was done."""
    with _state.lock:
        groups, paths = dict(_state.groups), dict(_state.paths)
    done: list[str] = []
    for pgid in groups.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pgid, signal.SIGKILL)
            done.append(f"killed process group {pgid}")
    for path in paths.values():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            done.append(f"removed {path}")
    for d in done:
        note(d)
    return done
