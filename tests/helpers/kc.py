"""Running a real ``kconform`` from self-tests and reading what it left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.host.records import record

KCONFORM = [sys.executable, "-m", "conformance.cli.main"]
HELPERS = Path(__file__).resolve().parent


@record(frozen=True)
class Done:
    rc: int
    out: str
    err: str


def run(args: list[str], cwd: Path, prefix: list[str] | None = None, timeout: float = 120) -> Done:
    p = subprocess.run([*(prefix or []), *KCONFORM, *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return Done(p.returncode, p.stdout, p.stderr)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def counts(record: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in record["cases"]:
        out[c["verdict"]] = out.get(c["verdict"], 0) + 1
    return out


def red(record: dict[str, Any]) -> list[str]:
    return [f"{c['classname']}/{c['name']}: {c['verdict']}: {c['message']}" for c in record["cases"]
            if c["verdict"] in ("fail", "error")]


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (to create user namespaces with other mappings, or switch users)")


def need_program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"needs {name} on PATH")
    return found


def settled_state(before: dict[str, Any], within_s: float = 3.0) -> dict[str, Any]:
    """machine_state(), polled until it equals ``before`` or ``within_s`` passed: another run on the
    machine may hold a sysctl changed for a moment (that is not ours to report)."""
    deadline = time.monotonic() + within_s
    while True:
        now = machine_state()
        if now == before or time.monotonic() >= deadline:
            return now
        time.sleep(0.05)


def machine_state() -> dict[str, Any]:
    """What an interrupted run must leave as it found: watched sysctls, cgroups, mounts, /dev/shm."""
    def read(p: str) -> str:
        try:
            return Path(p).read_text().strip()
        except OSError:
            return ""

    cgroup = ""
    for line in read("/proc/self/cgroup").splitlines():
        if line.startswith("0::"):
            cgroup = "/sys/fs/cgroup" + line[3:]
    kconform_groups = sorted(str(p) for p in Path(cgroup).rglob("kconform-*")) if cgroup else []
    return {
        "sysctls": {s: read(f"/proc/sys/{s}") for s in ("kernel/io_uring_disabled", "kernel/io_uring_group")},
        "cgroups": kconform_groups,
        "mounts": sorted(ln.split()[4] for ln in read("/proc/self/mountinfo").splitlines() if ln),
        "shm": sorted(p.name for p in Path("/dev/shm").glob("kconform-*")),
    }
