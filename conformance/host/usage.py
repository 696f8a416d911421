"""The bad-input contract shared by every subcommand: one line on stderr, exit status 2, nothing written.

Checks here run before anything else does: an output path must be creatable
by rename in its directory (reports are written atomically) and must not be
another output or an input; an input must be a readable regular file.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1  # the kernel failed a case, or a case errored
EXIT_USAGE = 2  # bad input: one line on stderr, nothing run, nothing written
EXIT_HARNESS = 3  # kconform itself failed (internal error, a report could not be written)
# 128 + N: interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP); see conformance.isolation.interrupt


class UsageError(Exception):
    """A user mistake: reported as one line, exit status 2."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def output_path(path: str | None, what: str) -> Path | None:
    """Check that a report can be written at ``path`` (by rename in its directory); return the real path."""
    if path is None:
        return None
    if not path.strip():
        raise UsageError(f"{what} path is empty")
    if "\0" in path:
        raise UsageError(f"{what} path contains a NUL byte")
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError(f"{what} path {path}: {e.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} path {path} is {_kind(st.st_mode)}, not a regular file")
    parent = real.parent
    if not parent.is_dir():
        raise UsageError(f"{what} path {path}: directory {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".probe", dir=parent)
    except OSError as e:
        raise UsageError(f"{what} path {path} is not writable: cannot create files in {parent}: "
                         f"{e.strerror or e}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    if st is not None and not os.access(real, os.W_OK):
        raise UsageError(f"{what} path {path} is not writable")
    return real


def check_writable(path: str | None, what: str) -> None:
    """Fail early, before a long run, when a file cannot be written there."""
    output_path(path, what)


def input_file(path: str | None, what: str) -> Path | None:
    """A readable regular file (not a directory, device or fifo): its real path."""
    if path is None:
        return None
    if not path.strip():
        raise UsageError(f"{what} path is empty")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"{what} {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{what} {path} is not readable")
    return Path(os.path.realpath(path))


def input_file_or_dir(path: str, what: str) -> None:
    """A readable regular file or a searchable directory (report inputs)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except OSError as e:
        raise UsageError(f"{what} {path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"{what} {path} is a directory that cannot be read")
        return
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path} is {_kind(st.st_mode)}, not a file or directory of run records")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{what} {path} is not readable")
    if st.st_size == 0:
        raise UsageError(f"{what} {path} is empty")


def distinct(paths: Iterable[tuple[str, Path | None]]) -> None:
    """No two of these (option, real path) pairs name the same file."""
    seen: dict[Path, str] = {}
    for option, p in paths:
        if p is None:
            continue
        for other_path, other in seen.items():
            same = other_path == p
            if not same and p.exists() and other_path.exists():
                with contextlib.suppress(OSError):
                    same = os.path.samefile(p, other_path)
            if same:
                raise UsageError(f"{option} and {other} name the same file {p}")
        seen[p] = option


# A timeout bounds waits whose clocks are narrower than a float: poll() and friends take a C int of
# milliseconds (24.8 days), threading a C long of microseconds; below a millisecond nothing can run.
MAX_SECONDS = 2_147_483.0
MIN_SECONDS = 0.001


def positive_seconds(value: float | None, option: str) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise UsageError(f"{option} must be a finite number of seconds above 0, not {value:g}")
    if value is not None and not MIN_SECONDS <= value <= MAX_SECONDS:
        raise UsageError(f"{option} must be between {MIN_SECONDS:g} and {MAX_SECONDS:.0f} seconds (24 days), "
                         f"not {value:g}")


def one_line(text: str) -> str:
    """Printable, single-line form of a message."""
    return " ".join(str(text).split())
