"""A /proc that is not this pid namespace's (``unshare -p -f`` without ``--mount-proc``, a container that
kept the host's /proc; procfs.foreign says so).

There ``/proc/<pid>`` names pids of the namespace /proc belongs to: the harness's children read
``/proc/<their getpid()>`` and find another process or none, and every case that lists threads, reads a
status or a namespace link through /proc would blame the kernel for it.  So kconform runs itself in a
mount namespace of its own with a /proc of its pid namespace (``unshare -m --mount-proc``: private
propagation, nothing of the machine's mounts changes), says so in the run metadata (``run.proc``), and
passes signals on as pid1.supervise does.  Where that cannot be done (no unshare(1), no CAP_SYS_ADMIN over
the mount namespace) it runs as it is and ``run.proc`` says what /proc is.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from conformance.cli import pid1
from conformance.host import procfs


def needed() -> str | None:
    """The reason to run kconform with a /proc of its own, when it should and can."""
    if procfs.OWN_PROC_ENV in os.environ:
        return None
    why = procfs.foreign()
    if why is None:
        return None
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    try:
        ok = subprocess.run([unshare, "-m", "--mount-proc", "true"], capture_output=True, timeout=30,
                            stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return why if ok else None


def run(argv: list[str], why: str) -> int:
    unshare = shutil.which("unshare") or "unshare"
    return pid1.supervise([unshare, "-m", "--mount-proc", *pid1.runner_argv(argv)],
                          {**os.environ, procfs.OWN_PROC_ENV: why}, "with a /proc of its own")
