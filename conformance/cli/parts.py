"""The guest's runner: the suite's N parts (``kconform run --shard K/N``) from one interpreter.

Under TCG the start-up of a run is seconds of CPU (the interpreter, pytest, kconform and the families'
modules: ~9 s under TCG against ~0.4 s on a host) and N separate runs paid it N times, at once, on the
guest's vCPUs.  This runner pays it once: it imports what every part imports before its first case --
pytest and the built-in plugins the run keeps, kconform's command line, plugin and report writers, and
the families' test modules through pytest's own ``import_path``, under the names the run's collection
gives them (pytest takes a module already in ``sys.modules``) -- and then forks the parts, before any
thread exists.  Each part is then exactly ``kconform run ARGS --json OUT/run-K.json --shard K/N`` (no
``--shard`` when N is 1), with its output in ``OUT/guest-stdout-K.txt``, standard input from /dev/null
and OUT as working directory, as the guest's shell script ran it before; what the part does from its
command line on (validation, provisional reports, pytest's configuration, collection, the cases,
the reports, its exit) is the same code in the same order.  The runner's status is the worst (highest)
of the parts', a part killed by a signal counting as 128 + the signal, as sh reports it.

Modules are imported ahead only where that changes nothing: with pytest's assertion rewriting on (an
``--assert`` option in the run's pytest arguments) kconform's plugin and the families are left to the
run, which would rewrite them.  If a thread exists anyway when the parts are due (nothing here starts
one), each part is started as its own ``kconform`` process instead.  A run of
one part forks nothing: the runner becomes that part once it has imported (unless it spools).

``--spool DIR`` (the guest's /run): each part writes its output to a file of its own in a fresh
directory under DIR, and the runner appends what it wrote to ``OUT/guest-stdout-K.txt`` every
``SPOOL_EVERY_S`` and when the part ends.  OUT is shared with the host over 9p without a cache: every
write there is a round trip to the host, ~1.7 ms under TCG, once per case for the progress line
(~0.7 s of a part of 330 cases); a guest killed at its timeout still leaves all but the last
``SPOOL_EVERY_S`` of each part's output.  A run of one part is then forked too.

    python -P -m conformance.cli.parts --parts N --out OUT --kconform PATH [--spool DIR] -- RUN-ARGS...
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn


def part_argv(run_args: Sequence[str], out: Path, k: int, n: int) -> list[str]:
    """``kconform`` arguments of part k of n: RUN-ARGS is ``run [options] [-- pytest args]``."""
    args = list(run_args)
    own = ["--json", str(out / f"run-{k}.json"), *(["--shard", f"{k}/{n}"] if n > 1 else [])]
    at = args.index("--") if "--" in args else len(args)
    return [*args[:at], *own, *args[at:]]


def preimport(run_args: Sequence[str]) -> None:
    """What every part imports before its first case (a failure here is left to the part to meet)."""
    from conformance.cli import main as cli
    from conformance.host.usage import UsageError

    argv = list(run_args)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser, _ = cli.build_parser("run")
    try:
        ns = parser.parse_args(argv)
    except (SystemExit, UsageError):  # the part reports it
        return
    args = cli.pytest_args(ns, extra)
    blocked = {a[3:] for a in args if a.startswith("no:")}
    import pytest  # noqa: F401
    from _pytest import config as pytest_config

    for name in pytest_config.default_plugins:
        if name not in blocked:
            importlib.import_module(f"_pytest.{name}")
    # met while pytest configures; not readline, which pytest imports once the part's output is in place
    # (it attaches to the standard streams of its process as they are then)
    for name in ("faulthandler", "_pytest._argcomplete"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from conformance.host import kernel, privilege  # noqa: F401  (write_provisional)
    from conformance.runner import outputs, stdio  # noqa: F401

    if "--assert=plain" not in args or any(a.startswith("--assert") for a in extra):
        return  # pytest rewrites the plugin's and the test modules' asserts as it imports them
    from _pytest.pathlib import ImportMode, import_path

    import conformance.runner.plugin  # noqa: F401

    root = cli.cases_dir()
    for path in sorted(root.glob("*/test_*.py")):
        import_path(path, mode=ImportMode.importlib, root=root, consider_namespace_packages=False)


def _child(argv: list[str], kconform: str, output: Path) -> NoReturn:
    """Become the part: its output file, /dev/null as stdin, kconform's own entry point (never returns)."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    sys.argv = [kconform, *argv]
    gc.enable()
    from conformance.cli.main import entry

    entry()  # sys.exit: the interpreter ends the way a kconform process ends
    raise AssertionError("kconform's entry point returned")


def status(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


SPOOL_EVERY_S = 1.0


class Spool:
    """The parts' outputs in local files (a fresh directory under ``root``), appended to their places
    in OUT as they grow (``copy``); ``close`` copies the rest and removes the directory (kept where a
    copy failed: the output is there)."""

    def __init__(self, root: Path, targets: Sequence[Path]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kconform-parts-", dir=root))
        self.targets = list(targets)
        self.local = [self.dir / t.name for t in self.targets]
        self.copied = [0] * len(self.targets)
        for target in self.targets:
            target.write_bytes(b"")  # there from the start, as a part's own output file is

    def copy(self) -> None:
        """What each part wrote since the last copy, appended to its place in OUT.  A target that fails
        (EIO, ENOSPC on the share) is said once and given up: the parts run on regardless."""
        for k, (local, target) in enumerate(zip(self.local, self.targets, strict=True)):
            if self.copied[k] < 0:
                continue
            try:
                with contextlib.suppress(FileNotFoundError), local.open("rb") as src:
                    src.seek(self.copied[k])
                    data = src.read()
                    if data:
                        with target.open("ab") as dst:
                            dst.write(data)
                        self.copied[k] += len(data)
            except OSError as e:
                print(f"kconform parts: cannot copy {local} to {target} ({e}); its output stays in {self.dir}",
                      file=sys.stderr)
                self.copied[k] = -1

    def close(self) -> None:
        """The last copy; the directory removed unless a copy failed (the output is kept there)."""
        self.copy()
        if all(c >= 0 for c in self.copied):
            shutil.rmtree(self.dir, ignore_errors=True)


def _wait_all(pids: Sequence[int], spool: Spool | None) -> list[int]:
    """The parts' wait statuses; with a spool, its outputs copied every SPOOL_EVERY_S meanwhile (each
    part's end is seen at once through its pidfd, or at the next copy where pidfds are not to be had)."""
    if spool is None:
        return [os.waitpid(pid, 0)[1] for pid in pids]
    pidfds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError, AttributeError):
            pidfds[pid] = os.pidfd_open(pid)
    statuses: dict[int, int] = {}
    try:
        while len(statuses) < len(pids):
            fds = [fd for pid, fd in pidfds.items() if pid not in statuses]
            if fds:
                select.select(fds, [], [], SPOOL_EVERY_S)
            else:
                time.sleep(SPOOL_EVERY_S)
            for pid in pids:
                if pid not in statuses:
                    done, wait_status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = wait_status
            spool.copy()
    finally:
        for fd in pidfds.values():
            os.close(fd)
        for pid in pids:  # leaving early (a bug): the parts end with the runner, never orphaned
            if pid not in statuses:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
        spool.close()
    return [statuses[pid] for pid in pids]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.cli.parts", description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--kconform", required=True, help="the kconform command (argv[0] of the parts)")
    ap.add_argument("--spool", type=Path, help="write the parts' outputs in a directory made here and copy them "
                                               "into OUT as they grow (a local filesystem)")
    ap.add_argument("run_args", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    run_args = ns.run_args[1:] if ns.run_args[:1] == ["--"] else ns.run_args
    n = max(1, ns.parts)
    os.chdir(ns.out)
    # As the gc module advises for a process that forks workers: no collection while importing (~5% of
    # the import's CPU here), the imported objects frozen before the fork (the parts' collections do not
    # walk them, nor copy their pages by touching them), collection back on in each part.
    gc.disable()
    try:
        preimport(run_args)
    except Exception as e:  # the parts meet it again, and report it the way kconform does
        print(f"kconform parts: importing ahead failed ({type(e).__name__}: {e})", file=sys.stderr)
    outputs = [ns.out / f"guest-stdout-{k}.txt" for k in range(1, n + 1)]
    argvs = [part_argv(run_args, ns.out, k, n) for k in range(1, n + 1)]
    spool = None
    if ns.spool is not None:
        try:
            spool = Spool(ns.spool, outputs)
        except OSError as e:  # the outputs go to OUT directly
            print(f"kconform parts: no spool in {ns.spool} ({e}), writing into {ns.out}", file=sys.stderr)
    if n == 1 and spool is None:  # nothing to share: this process becomes the run (a fork would only copy its pages)
        sys.stdout.flush()
        sys.stderr.flush()
        _child(argvs[0], ns.kconform, outputs[0])
    gc.freeze()
    if threading.active_count() > 1:
        if spool is not None:
            spool.close()
            spool = None
        gc.enable()
        print("kconform parts: a thread exists, starting each part as its own process", file=sys.stderr)
        procs = []
        for argv_k, output in zip(argvs, outputs, strict=True):
            with output.open("wb") as f:
                procs.append(subprocess.Popen([ns.kconform, *argv_k], stdin=subprocess.DEVNULL, stdout=f,
                                              stderr=subprocess.STDOUT))
        codes = [p.wait() for p in procs]
        return max(128 - c if c < 0 else c for c in codes)
    pids = []
    for argv_k, output in zip(argvs, spool.local if spool is not None else outputs, strict=True):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _child(argv_k, ns.kconform, output)
            except SystemExit:
                raise  # the part's own end, as the interpreter ends a kconform process
            except BaseException:  # the part could not even start: never back into this loop
                traceback.print_exc()
            os._exit(70)
        pids.append(pid)
    return max(status(wait_status) for wait_status in _wait_all(pids, spool))


if __name__ == "__main__":
    sys.exit(main())
