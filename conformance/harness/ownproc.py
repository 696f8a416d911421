"""A /proc that is not this pid namespace's (``unshare -p -f`` without ``--mount-proc``, a container that
kept the host's /proc).

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
import re
import shutil
import subprocess
from pathlib import Path

from conformance.harness import pid1

ENV = "KCONFORM_OWN_PROC"  # in the runner's environment: why kconform mounted a /proc of its own


def foreign() -> str | None:
    """Why /proc is not this pid namespace's (None when it is, or when NSpid cannot tell)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError as e:
        return f"/proc/self is not this process ({e.strerror}): /proc belongs to another pid namespace"
    m = re.search(r"^NSpid:\s*(.*)$", text, re.MULTILINE)
    ids = m.group(1).split() if m else []
    if len(ids) > 1:
        return (f"/proc belonged to a pid namespace {len(ids) - 1} level(s) above this one "
                f"(NSpid {' '.join(ids)})")
    if ids and ids[0] != str(os.getpid()):
        return f"/proc/self is pid {ids[0]}, this process is {os.getpid()}: /proc belongs to another pid namespace"
    return None


def needed() -> str | None:
    """The reason to run kconform with a /proc of its own, when it should and can."""
    if ENV in os.environ:
        return None
    why = foreign()
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
    return pid1.supervise([unshare, "-m", "--mount-proc", *pid1.runner_argv(argv)], {**os.environ, ENV: why},
                          "with a /proc of its own")


def describe() -> str:
    """run.proc: what /proc is for this run."""
    why = os.environ.get(ENV)
    if why:
        return f"own mount namespace with a /proc of this pid namespace ({why})"
    now = foreign()
    return f"foreign: {now}" if now else "this pid namespace's"
