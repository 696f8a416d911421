"""kconform started as pid 1 of a pid namespace (``docker run IMAGE kconform ...``, ``unshare -p -f
--mount-proc kconform ...``).

Pid 1 has duties no other process has: every orphan of the namespace is reparented to it and must be
reaped (the guardian, which detaches on purpose, among them); a signal sent to it from inside the
namespace is dropped unless it handles that signal; and when it exits the kernel kills every process
left in the namespace. So kconform does not do its work as pid 1: it starts itself again as its only
child (the runner, with the same interpreter, path and arguments) and stays a minimal init meanwhile:

* it reaps every process that ends, so orphans never pile up as zombies and are never the runner's
  children (the runner's leak guards see exactly what they would see on a host);
* it passes SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 on to the runner (``docker stop``
  reaches the runner, which stops the way the README's interruption contract says);
* when the runner has ended it waits, at most ``LINGER_S``, for the processes still left (the guardian
  finishing its removals, or undoing what a runner killed with SIGKILL had changed) before it exits
  and the namespace with it;
* it exits with the runner's status (128 + N when signal N ended the runner).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from types import FrameType

ENV = "KCONFORM_PID1_RUNNER"  # set in the runner's environment: it is the child of kconform's own pid 1
LINGER_S = 30.0  # the guardian's own bound for its removals (guardian.QUIT_TIMEOUT_S)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def needed() -> bool:
    """Whether this process is pid 1 of its pid namespace and not already kconform's runner under it."""
    return os.getpid() == 1 and os.environ.get(ENV) != "1"


def runner_argv(argv: list[str]) -> list[str]:
    """kconform ARGV with this interpreter and the site directories it found kconform through (added
    with site.addsitedir, an editable install's .pth finder): the runner finds the same modules."""
    sites = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]
    boot = ("import site, sys\n" + "".join(f"site.addsitedir({d!r})\n" for d in sites) +
            "sys.argv[0] = 'kconform'\nfrom conformance.cli.main import entry\nentry()\n")
    return [sys.executable, "-P", "-c", boot, *argv]  # -P: no working directory on sys.path before the sites


def run(argv: list[str]) -> int:
    """Start the runner, be init until it and its orphans have ended, and return its exit status."""
    return supervise(runner_argv(argv), {**os.environ, ENV: "1"}, "as pid 1")


def supervise(cmd: list[str], env: dict[str, str], where: str) -> int:
    """Start cmd (the runner), pass the usual signals on to it, reap every child that ends (as pid 1: every
    orphan of the namespace, waiting at most LINGER_S for them once the runner has ended), and return the
    runner's exit status (128 + N when signal N ended it)."""
    stopping: list[int] = []
    running: list[int] = []  # the runner's pid while it has not been reaped

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for pid in running:  # none yet, or reaped: its number may be another process's now
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for s in FORWARDED:  # before the spawn: a signal in between is not lost (pid 1 has no default action)
        signal.signal(s, forward)
    try:
        child = os.posix_spawnp(cmd[0], cmd, env)
    except OSError as e:
        print(f"kconform: error: {where}, could not start the runner: {e.strerror}", file=sys.stderr)
        return 3
    running.append(child)
    for signum in stopping:  # arrived before the runner existed
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)
    status: int | None = None
    deadline = 0.0
    while True:
        try:
            if status is None:
                pid, st = os.waitpid(-1, 0)
            else:
                pid, st = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    if time.monotonic() >= deadline or stopping:
                        break
                    time.sleep(0.02)
                    continue
        except ChildProcessError:
            break  # nobody left to wait for
        if pid == child:
            running.clear()
            status = st
            deadline = time.monotonic() + LINGER_S
            stopping.clear()  # only a signal after the runner's end cuts the wait short
    if status is None:
        return 3
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
