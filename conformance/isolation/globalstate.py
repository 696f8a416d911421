"""Global state a case changes: declared, journaled, restored, repaired after a crash.

A case declares what global state it changes (the LTP ``.save_restore`` idea)::

    DisabledCase(id=..., changes=(Sysctl("kernel.io_uring_disabled"),), ...)

Before such a case runs, ``changing()`` reads each value and writes a journal
entry (one small file in a 0700 directory of this user); after the case it puts
every value back that is not as saved, names it as a leak, and drops the entry.
Temporary objects in shared places get the same kind of entry: cgroups through
``journal().holding(...)``, scratch trees through ``guardian.scratch_tree()``.
A helper that outlives the runner (guardian.py) undoes its entries if it dies,
and the journal survives even a SIGKILL of both: ``replay()``, called by the
next run before anything else, undoes the entries whose owner process is gone
and says what it repaired.  Entries of
live processes (a concurrent run) are never touched.

This is the one restore mechanism for global state; the per-case guards do not
read or write sysctls.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from conformance.host import kernel, paths, procfs
from conformance.host.records import record
from conformance.isolation import globallock, interrupt, machine


class Change(Protocol):
    """One piece of global state a case may change."""

    @property
    def what(self) -> str:
        """How reports name it, e.g. "sysctl kernel.io_uring_disabled"."""

    @property
    def path(self) -> str:
        """The file that holds the value."""


@record(frozen=True)
class Sysctl:
    """A sysctl by its dotted name; restored to the value it had before the case."""

    name: str

    @property
    def what(self) -> str:
        return f"sysctl {self.name}"

    @property
    def path(self) -> str:
        return "/proc/sys/" + self.name.replace(".", "/")


def _read_value(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _write_value(path: str, value: str) -> str | None:
    """None on success, else the error."""
    try:
        Path(path).write_text(value)
    except OSError as e:
        return e.strerror or str(e)
    return None


# --------------------------------------------------------------------------- the journal


def _start_time(pid: int) -> int:
    st = procfs.stat_of(pid)
    return st.start_time if st is not None else -1


def _alive(pid: int, start: int) -> bool:
    st = procfs.stat_of(pid)
    return st is not None and st.start_time == start and st.state not in ("Z", "X")


@record(frozen=True)
class Entry:
    kind: str  # "value": write `saved` back to `target`; "dir": remove the directory `target`
    target: str
    what: str
    saved: str = ""


class Journal:
    """Entries of changes in progress, one file each: <pid>.<start>.<seq>.json in ``directory``."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.start = _start_time(self.pid)
        self._seq = 0

    def add(self, entry: Entry) -> Path | None:
        if self.directory is None:
            return None
        self._seq += 1
        path = self.directory / f"{self.pid}.{self.start}.{self._seq}.json"
        data = json.dumps({"kind": entry.kind, "target": entry.target, "what": entry.what, "saved": entry.saved})
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)
        except OSError:
            return None  # no journal (full disk, ...): the change is still restored, just not after a crash
        return path

    @staticmethod
    def drop(path: Path | None) -> None:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @contextlib.contextmanager
    def holding(self, entry: Entry) -> Iterator[None]:
        """Journal ``entry`` for the duration (before the change; dropped after the undo)."""
        path = self.add(entry)
        _guard()
        try:
            yield
        finally:
            self.drop(path)

    def claim(self, path: Path) -> tuple[Entry | None, Path] | None:
        """Take an entry over (rename: of two claimants one gets ENOENT); (entry or None if unreadable, new path)."""
        mine = path.with_name(f"{path.name.split('.replay-')[0]}.replay-{self.pid}.{self.start}")
        try:
            os.rename(path, mine)
        except OSError:
            return None
        try:
            data = json.loads(mine.read_text())
            return Entry(str(data["kind"]), str(data["target"]), str(data["what"]), str(data.get("saved", ""))), mine
        except (OSError, ValueError, KeyError, TypeError):
            return None, mine

    def undo_own(self) -> list[str]:
        """Undo what this process itself still holds (its guardian did not get to it)."""
        if self.directory is None:
            return []
        out = []
        for name in sorted(os.listdir(self.directory)):
            if name.startswith(f"{self.pid}.{self.start}.") and ".replay-" not in name:
                claimed = self.claim(self.directory / name)
                if claimed is not None:
                    entry, mine = claimed
                    if entry is not None and (said := undo(entry)) is not None:
                        out.append(said)
                    self.drop(mine)
        return out

    def replay(self) -> list[str]:
        """Undo the entries of processes that are gone; one "repaired: ..." line each."""
        if self.directory is None:
            return []
        out = []
        for name in sorted(os.listdir(self.directory)):
            owner = _owner(name)
            if owner is None or _alive(*owner):
                continue
            claimed = self.claim(self.directory / name)
            if claimed is None:
                continue
            entry, mine = claimed
            if entry is None:
                out.append(f"repaired: dropped an unreadable journal entry {name}")
            elif entry.kind == "note":  # what the guardian of a killed run already restored
                out.append(f"repaired: {entry.what}")
            elif (said := undo(entry)) is not None:
                out.append(f"repaired: {said} (left by kconform process {owner[0]}, which ended without restoring)")
            self.drop(mine)
        return out


_WATCHER: Callable[[], object] | None = None


def watch_with(start: Callable[[], object]) -> None:
    """What makes sure a process outliving this one undoes its entries should it die (guardian.py
    registers itself here, so this module does not import it)."""
    global _WATCHER
    _WATCHER = start


def _guard() -> None:
    if _WATCHER is not None:
        _WATCHER()


def _owner(name: str) -> tuple[int, int] | None:
    """(pid, start time) of the process that holds an entry: the replayer's while one is at it."""
    base, sep, claim = name.partition(".replay-")
    parts = (claim if sep else base).split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].lstrip("-").isdigit():
        return None
    return int(parts[0]), int(parts[1])


def undo(entry: Entry) -> str | None:
    """Put one entry's state back; what was done (None when nothing was needed)."""
    if entry.kind == "value":
        now = _read_value(entry.target)
        if now is None or now == entry.saved:
            return None
        err = _write_value(entry.target, entry.saved)
        return f"{entry.what} was {now!r}, " + (f"restoring {entry.saved!r} failed: {err}" if err else
                                                f"restored to {entry.saved!r}")
    if entry.kind == "dir":
        if not os.path.basename(entry.target).startswith("kconform-") or not os.path.isdir(entry.target):
            return None  # only kconform's own temporary directories are ever removed
        err = _remove_dir(entry.target)
        return f"{entry.what} removed" + (f" (failed: {err})" if err else "")
    return None


def _remove_dir(path: str) -> str | None:
    if os.path.exists(os.path.join(path, "cgroup.procs")):
        with contextlib.suppress(OSError):  # cgroup.kill: 5.14+
            Path(path, "cgroup.kill").write_text("1")
        for _ in range(100):
            try:
                os.rmdir(path)
                return None
            except OSError as e:
                err = e.strerror
            time.sleep(0.01)
        return err
    try:
        shutil.rmtree(path)
    except OSError as e:
        return e.strerror
    return None


_JOURNAL: Journal | None = None


def journal() -> Journal:
    global _JOURNAL
    if _JOURNAL is None or _JOURNAL.pid != os.getpid():
        jdir = paths.private_dir() / "journal"
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(jdir, 0o700)
            paths.check_private(jdir)
        except (OSError, paths.UnsafePath):
            _JOURNAL = Journal(None)  # no journal: changes are still restored, only not after a crash
        else:
            _JOURNAL = Journal(jdir)
    return _JOURNAL


def replay() -> list[str]:
    """Repair what killed runs of this user left (call before anything else in a run).

    Holds the global lock exclusively while at it, so no case of a concurrent run
    saves a value that is about to be repaired."""
    j = journal()
    if j.directory is None or not os.listdir(j.directory):
        return []
    with globallock.held(globallock.Lock.EXCLUSIVE):
        return j.replay()


# --------------------------------------------------------------------------- around a case


@contextlib.contextmanager
def changing(changes: Sequence[Change], case: str = "") -> Iterator[list[str]]:
    """Save, journal, announce (machine.py: other users' runs see it), run the case, restore.  Yields
    the list that receives the leaks found."""
    leaks: list[str] = []
    j = journal()
    held: list[tuple[Entry, Path | None]] = []
    try:
        for c in changes:
            saved = _read_value(c.path)
            if saved is None:
                continue  # absent here: the case's requirements will skip it
            e = Entry("value", c.path, c.what, saved)
            held.append((e, j.add(e)))
            _guard()
        if held:
            machine.announce_start(case, [(e.what, e.saved) for e, _ in held])
        yield leaks
    finally:
        for e, path in held:
            said = undo(e)
            if said is not None:
                leaks.append(said)
            j.drop(path)
        if held:
            machine.announce_end([(e.what, _read_value(e.target) or "?") for e, _ in held])


# --------------------------------------------------------------------------- changes that need permission

# Sysctls some rows change that matter to the whole machine beyond the run (kernel.core_pattern decides
# where every crashing process's dump goes).  Those rows run only in a kconform VM guest (a throw-away
# machine) or when the run names the sysctl (kconform run --allow-change NAME, pytest --kc-allow-change).
PERMISSION_NEEDED = ("kernel.core_pattern",)
GUEST_MARKER = "/run/kc/guest"  # written by the VM guest's init: the guest's boot id
_ALLOWED: set[str] = set()


@contextlib.contextmanager
def temp_cgroup() -> Iterator[tuple[Path, str]]:
    """A fresh cgroup v2 group under this process's own, removed on exit.

    Yields its directory and its path as /proc/<pid>/cgroup shows it.  Named
    kconform-<pid>-<n>, which the leak guard recognises as this process's.
    """
    own = kernel.cgroup2_self()
    mount = kernel.cgroup2_mount()
    if own is None or mount is None:
        raise RuntimeError("no cgroup v2 hierarchy")
    path = own / f"kconform-{os.getpid()}-{random.randrange(1 << 30)}"
    with journal().holding(Entry("dir", str(path), f"cgroup {path}")):
        made = False
        try:
            with interrupt.deferred():
                path.mkdir()
                made = True
            yield path, "/" + str(path.relative_to(mount))
        finally:
            if made:
                with interrupt.deferred():  # a signal never leaves the group behind
                    _rmdir_cgroup(path)


def _rmdir_cgroup(path: Path) -> None:
    # Members are reaped before this runs, but the kernel may take a moment
    # to drop an exited task's css_set: retry (backing off), then let it raise.
    deadline = time.monotonic() + 2.0
    pause = 0.0002
    while True:
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def unknown_change(names: Sequence[str]) -> str | None:
    """What is wrong with a list of --allow-change names (None: nothing)."""
    unknown = [n for n in names if n not in PERMISSION_NEEDED]
    if unknown:
        return (f"--allow-change {unknown[0]}: not a setting any row needs permission to change "
                f"(those are: {', '.join(PERMISSION_NEEDED)})")
    return None


def allow_changes(names: Sequence[str]) -> None:
    """The sysctls this run may change (ValueError for a name no row needs permission for)."""
    problem = unknown_change(names)
    if problem:
        raise ValueError(problem)
    _ALLOWED.update(names)


def in_vm_guest() -> bool:
    """Running in a kconform VM guest: the marker its init wrote holds this boot's id."""
    marker = _read_value(GUEST_MARKER)
    return bool(marker) and marker == _read_value("/proc/sys/kernel/random/boot_id")


def change_refused(name: str) -> str | None:
    """Why a row may not change sysctl ``name`` here (None: it may)."""
    if name in _ALLOWED or in_vm_guest():
        return None
    return (f"changes the machine-wide sysctl {name}: runs only in a kconform VM guest or when allowed "
            f"(kconform run --allow-change {name}; pytest --kc-allow-change {name})")


# --------------------------------------------------------------------------- around a run


IO_URING_DISABLED = Sysctl("kernel.io_uring_disabled")
# What every case that sets up an io_uring depends on (its rows declare ``reads=USES_IO_URING``):
# io_uring_disabled 2 refuses io_uring_setup to everyone, 1 to those outside io_uring_group.
USES_IO_URING: tuple[Sysctl, ...] = (IO_URING_DISABLED, Sysctl("kernel.io_uring_group"))


class RunState:
    """What one run (the controller) says about global state: what it repaired, what others changed."""

    def __init__(self, watched: Sequence[str]) -> None:
        self.watched = tuple(watched)
        self.repaired = replay()
        self.before = self._values()
        self.notes: list[str] = []

    def _values(self) -> dict[str, str | None]:
        return {name: _read_value("/proc/sys/" + name.replace(".", "/")) for name in self.watched}

    def finish(self) -> None:
        """After the cases: repair what dead workers left; note sysctls someone else changed meanwhile."""
        deferred = []
        try:
            self.repaired += replay()
        except globallock.LockTimeout as e:  # a busy concurrent run: the next run repairs
            deferred.append(f"repairs left to the next run: {e}")
        after = self._values()
        self.notes = [f"sysctl {k} changed {v!r} -> {after[k]!r} during the run, not by this run (left as is)"
                      for k, v in self.before.items() if after.get(k) != v] + deferred

    def properties(self) -> dict[str, str]:
        props: dict[str, str] = {}
        disabled = self.before.get(IO_URING_DISABLED.name)
        if disabled is not None:
            props["system.io_uring_disabled"] = disabled if disabled == "0" else (
                f"{disabled} (set outside this run: io_uring cases skip)")
        if self.repaired:
            props["run.repaired"] = "; ".join(r.removeprefix("repaired: ") for r in self.repaired)
        if self.notes:
            props["run.outside_changes"] = "; ".join(self.notes)
        return props

    def lines(self) -> list[str]:
        out = list(self.repaired)
        disabled = self.before.get(IO_URING_DISABLED.name)
        if disabled not in (None, "0"):
            out.append(f"kernel.io_uring_disabled is {disabled}, set outside this run: io_uring cases skip")
        return out + self.notes
