"""A helper process that outlives the runner: it undoes the runner's journaled global changes when
the runner dies, and removes scratch trees in the background meanwhile.

The runner starts it on first need (``guardian()``) through ``sh ... &``, so it
is not the runner's child and sits in a session of its own (a terminal's
SIGINT/SIGHUP reaches only the runner), and talks to it through one pipe, one
command per line::

    remove <tree> <entry>     remove this scratch tree, then drop its journal entry
    quit                      finish the removals and exit

End of file without ``quit`` means the runner died (SIGKILL included): the
guardian undoes at once every journal entry the runner still holds (its changes
in progress; globalstate.undo), leaves what it did in the journal directory for
the next run to report, finishes the removals and exits.  Removing a directory
on a busy ext4 waits for its journal; doing it here keeps that wait out of the
cases.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import conformance
from conformance.host import procfs
from conformance.isolation import globalstate, snapshot

QUIT_TIMEOUT_S = 30.0  # at the end of a run, for the removals still queued


class Guardian:
    """The runner's side.  The guardian is not our child (it detaches), so nothing that waits for
    or counts our children ever meets it."""

    def __init__(self) -> None:
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            j = globalstate.journal()
            # sh starts it in the background and says its pid: the guardian is then init's child, in a
            # session of its own (no terminal signals), its stdin the read end of our pipe.
            # The interpreter may have found this package through a path of its own (an added site dir):
            # give the guardian the same, and start it from / so no checkout there shadows it.
            here = str(Path(conformance.__file__).resolve().parent.parent)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
            out = subprocess.run(["/bin/sh", "-c", 'exec 3<&0; "$@" <&3 3<&- >/dev/null 2>&1 & echo $!', "sh",
                                  sys.executable, "-m", "conformance.isolation.guardian", str(j.pid), str(j.start)],
                                 stdin=r, capture_output=True, text=True, timeout=60, start_new_session=True,
                                 cwd="/", env=env)
        except (OSError, subprocess.SubprocessError):
            os.close(w)
            raise OSError("the guardian did not start") from None
        finally:
            os.close(r)
        if not out.stdout.strip().isdigit():
            os.close(w)
            raise OSError(f"the guardian did not start: {out.stderr.strip()[-200:]}")
        self.guardian_pid = int(out.stdout)
        self.fd = w
        self.pid = os.getpid()
        snapshot.HARNESS_FDS.add(w)

    def send(self, *words: str) -> bool:
        line = ("\t".join(words) + "\n").encode()
        try:
            os.write(self.fd, line)
        except OSError:
            return False
        return True

    def quit(self) -> None:
        """Ask it to finish; wait (bounded) until it has, so the run ends with its removals done."""
        self.send("quit")
        os.close(self.fd)
        snapshot.HARNESS_FDS.discard(self.fd)
        try:
            pidfd = os.pidfd_open(self.guardian_pid)
        except OSError:  # before 5.3, or it is gone already
            pidfd = -1
        if pidfd >= 0:
            try:
                select.select([pidfd], [], [], QUIT_TIMEOUT_S)
            finally:
                os.close(pidfd)
            return
        deadline = time.monotonic() + QUIT_TIMEOUT_S
        while time.monotonic() < deadline:
            st = procfs.stat_of(self.guardian_pid)
            if st is None or st.state in ("Z", "X"):
                return
            time.sleep(0.01)


_GUARDIAN: Guardian | None = None
_FAILED_IN: int | None = None  # the pid of a process where it could not be started (not retried)


def guardian() -> Guardian | None:
    """This process's guardian, started on first use (None when it cannot be started)."""
    global _GUARDIAN, _FAILED_IN
    if _GUARDIAN is None or _GUARDIAN.pid != os.getpid():
        if os.getpid() == _FAILED_IN:
            return None
        try:
            _GUARDIAN = Guardian()
        except OSError:
            _FAILED_IN = os.getpid()
            return None
    return _GUARDIAN


def stop() -> None:
    """End of the run: the queued removals are done when this returns (by the guardian or, should it
    have died, here: whatever this process still holds in the journal is undone now)."""
    global _GUARDIAN
    if _GUARDIAN is not None and _GUARDIAN.pid == os.getpid():
        _GUARDIAN.quit()
        globalstate.journal().undo_own()
    _GUARDIAN = None


@contextlib.contextmanager
def scratch_tree(tree: Path, chmod: tuple[str, ...] = ()) -> Iterator[Path]:
    """A scratch tree of ours in a shared place: journaled while it exists, removed afterwards
    in the background when the guardian runs.  ``chmod``: parts to make searchable again first."""
    entry = globalstate.journal().add(globalstate.Entry("dir", str(tree), f"scratch {tree}"))
    g = guardian()
    try:
        yield tree
    finally:
        if g is None or not g.send("remove", str(tree), str(entry or ""), *chmod):
            _remove(str(tree), chmod)
            globalstate.Journal.drop(entry)


def _remove(tree: str, chmod: tuple[str, ...]) -> None:
    for sub in chmod:  # parts made unsearchable on purpose
        with contextlib.suppress(OSError):
            os.chmod(os.path.join(tree, sub), 0o700)
    shutil.rmtree(tree, ignore_errors=True)


# --------------------------------------------------------------------------- the guardian's side


def _undo(entry: str) -> str | None:
    """Claim the entry (a replaying run may be at it too) and undo it."""
    j = globalstate.journal()
    claimed = j.claim(Path(entry))
    if claimed is None:
        return None
    e, mine = claimed
    said = globalstate.undo(e) if e is not None else None
    j.drop(mine)
    return said


def serve(owner: int, owner_start: int) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    removing: set[str] = set()  # entries of queued trees: removed in order, not undone at once
    queue: list[tuple[str, str, tuple[str, ...]]] = []
    buf = b""
    quit_seen = False
    while True:
        ready = select.select([0], [], [], 0 if queue else None)[0]
        if not ready:
            tree, entry, chmod = queue.pop(0)
            _remove(tree, chmod)
            if entry:
                with contextlib.suppress(OSError):
                    os.unlink(entry)
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            cmd, *args = raw.decode(errors="replace").split("\t")
            if cmd == "remove" and len(args) >= 2:
                removing.add(args[1])
                queue.append((args[0], args[1], tuple(args[2:])))
            elif cmd == "quit":
                quit_seen = True
    jdir = globalstate.journal().directory
    if not quit_seen and jdir is not None:
        held = [str(jdir / n) for n in sorted(os.listdir(jdir)) if n.startswith(f"{owner}.{owner_start}.")]
        said = [s for e in held if e not in removing and (s := _undo(e)) is not None]
        if said:
            _leave_note(owner, said)
    for tree, entry, chmod in queue:
        _remove(tree, chmod)
        if entry:
            with contextlib.suppress(OSError):
                os.unlink(entry)
    return 0


def _leave_note(owner: int, said: list[str]) -> None:
    """What the guardian restored, for the next run to report (a journal entry that undoes nothing)."""
    j = globalstate.journal()
    if j.directory is None:
        return
    text = "; ".join(said)
    j.add(globalstate.Entry("note", "", f"{text} (by the guardian, when kconform process {owner} ended "
                                        f"without restoring, at {time.strftime('%H:%M:%S')})"))


def main(argv: list[str]) -> int:
    args = [int(a) for a in argv[:2] if a.lstrip("-").isdigit()]
    if len(args) != 2:
        print("usage: python -m conformance.isolation.guardian OWNER-PID OWNER-START", file=sys.stderr)
        return 2
    return serve(*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


globalstate.watch_with(guardian)
