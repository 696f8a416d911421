"""Output errors end a run the way a signal does.

``kconform run | head`` closes the pipe under the run; stdout may be ``/dev/full``;
the working directory may be removed.  pytest would let the first failed write
escape from a reporting hook (an internal error, the run's reports then look
finished) or die in its final ``chdir``.  Here stdout and stderr are wrapped:
the first write or flush that fails drops all further output to that stream and
stops the run through ``interrupt.output_failed()``: the running case stops, the
teardowns restore what it changed, and the reports say the run is incomplete and
why.  Exit status: 141 for a closed pipe (EPIPE, as a writer killed by SIGPIPE),
3 for any other output error.

A stream that is only slow is not an error: the process's own stdout and stderr are written straight
to their descriptors, and a descriptor made non-blocking by whoever shares it (O_NONBLOCK belongs to
the open file, so a CI runner's pipe may come with it) is waited on when it is full (EAGAIN) and
written fully; only a reader that takes nothing for STALL_S seconds makes it an output error (EAGAIN).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import sys
import time
from typing import Any

from conformance.isolation import interrupt

EXIT_CLOSED_PIPE = 128 + 13  # 128 + SIGPIPE


def describe(stream: str, e: OSError) -> str:
    code = errno.errorcode.get(e.errno or 0, str(e.errno))
    return f"an output error on {stream} ({code}: {e.strerror or e})"


def status_of(e: OSError) -> int:
    return EXIT_CLOSED_PIPE if e.errno == errno.EPIPE else interrupt.EXIT_OUTPUT_ERROR


_live = False  # inside the run loop: an output error is raised where it happens


def live(on: bool) -> None:
    """Between cases an output error stops the run at once; outside the loop (the header, the final
    summary) it is only recorded: the loop stops at its start, and the end must not be cut short (the
    reports, pytest's unconfigure)."""
    global _live
    _live = on


STALL_S = 120.0  # a non-blocking stream whose reader takes nothing for this long is an output error


def _wait_writable(fd: int, deadline: float) -> None:
    """Until fd takes data again (or hangs up: the next write says so), at most until deadline; EAGAIN after."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BlockingIOError(errno.EAGAIN, f"nothing could be written for {STALL_S:g} s")
    p = select.poll()
    p.register(fd, select.POLLOUT)
    p.poll(max(1, int(left * 1000)))


def write_all(fd: int, data: bytes) -> None:
    """All of data to fd, also when fd is non-blocking: a full pipe is waited on (STALL_S at most)."""
    view = memoryview(data)
    deadline = None
    while view:
        try:
            view = view[os.write(fd, view):]
            deadline = None
        except BlockingIOError:
            deadline = deadline or time.monotonic() + STALL_S
            _wait_writable(fd, deadline)


def _flush_patiently(stream: Any, fd: int) -> None:
    """stream.flush(), waiting while fd is full (a buffered stream keeps what it could not write)."""
    deadline = None
    while True:
        try:
            stream.flush()
            return
        except BlockingIOError:
            deadline = deadline or time.monotonic() + STALL_S
            _wait_writable(fd, deadline)


def _own_fd(real: Any) -> int | None:
    """The descriptor under the process's own stdout or stderr, written directly (see the module
    docstring); None for any other stream (a capture, a StringIO), which is written through."""
    if real is None or real not in (sys.__stdout__, sys.__stderr__) or not isinstance(real, io.TextIOWrapper):
        return None
    try:
        return real.fileno()
    except (OSError, ValueError):
        return None


class Guarded(io.TextIOBase):
    """A text stream whose first failed write or flush stops the run; output after that is dropped."""

    def __init__(self, real: Any, name: str) -> None:
        self.real = real
        self.name_ = name
        self.failed: OSError | None = None
        self.fd = _own_fd(real)
        if self.fd is not None:
            try:
                _flush_patiently(real, self.fd)  # what it holds goes first: from here on, writes bypass it
            except OSError as e:
                self.fd = None
                self._fail(e)
        if real is None:  # the descriptor was closed when Python started: an output error from the outset
            fd = {"stdout": 1, "stderr": 2}.get(name)
            if fd is not None:  # keep its number taken, so no file or socket of the run lands there
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            self.real = io.StringIO()
            self.failed = OSError(errno.EBADF, f"{name} is closed")
            interrupt.output_failed(describe(name, self.failed), interrupt.EXIT_OUTPUT_ERROR, raise_now=False)

    def _fail(self, e: OSError) -> None:
        self.failed = e
        with_devnull(self.real)
        interrupt.output_failed(describe(self.name_, e), status_of(e), raise_now=_live)

    def write(self, text: str) -> int:
        if self.failed is not None:
            return len(text)
        try:
            if self.fd is None:
                return int(self.real.write(text))
            write_all(self.fd, text.encode(self.real.encoding, self.real.errors or "strict"))
            return len(text)
        except OSError as e:
            self._fail(e)
            return len(text)

    def flush(self) -> None:
        if self.failed is not None:
            return
        try:
            if self.fd is None:
                self.real.flush()
            else:
                _flush_patiently(self.real, self.fd)  # nothing, unless someone wrote to the stream itself
        except OSError as e:
            self._fail(e)

    def fileno(self) -> int:
        if isinstance(self.real, io.StringIO):
            return {"stdout": 1, "stderr": 2}.get(self.name_, 1)  # /dev/null, in place of the closed one
        return int(self.real.fileno())

    def isatty(self) -> bool:
        return self.failed is None and bool(self.real.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.real, "errors", None)


def with_devnull(stream: Any) -> None:
    """Point the file descriptor under ``stream`` at /dev/null and drop its buffer: nothing more can fail
    there (Python's own flush at exit included)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:  # no fd to spare (a tight RLIMIT_NOFILE): the stream is left as it is
        return
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # the buffered rest goes to /dev/null


def cwd_removed() -> bool:
    """The working directory was removed (its link count is 0)."""
    try:
        return os.stat(".").st_nlink == 0
    except OSError:
        return True


def check_cwd() -> None:
    """Stop the run when its working directory was removed under it."""
    if cwd_removed():
        interrupt.output_failed("the removal of its working directory (an output error)", interrupt.EXIT_OUTPUT_ERROR)
