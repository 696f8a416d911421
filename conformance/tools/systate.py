"""Snapshot of system state a run must leave as it found it, and the diff of two.

    python -m conformance.tools.systate save FILE
    python -m conformance.tools.systate diff BEFORE AFTER   # exit 1 when anything differs

Covers: writable sysctls (values), cgroup v2 directories, mount points,
processes that are not kernel threads (zombies and kconform-looking leftovers
are what matter), and the kernel taint.  Sysctls that change by themselves are
left out.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conformance import kernel, procfs
from conformance.uapi import PF_KTHREAD

VOLATILE_SYSCTL = ("kernel/random/", "kernel/ns_last_pid", "fs/dentry-state", "fs/inode-", "fs/file-nr",
                   "kernel/pty/nr", "fs/aio-nr", "fs/quota/", "net/", "kernel/sched_domain/", "vm/stat_refresh",
                   "fs/fanotify/", "fs/inotify/", "kernel/perf_event_max_sample_rate",
                   "vm/compact_memory", "vm/drop_caches", "fs/binfmt_misc/register",
                   "kernel/tainted")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def sysctls() -> dict[str, str]:
    out: dict[str, str] = {}
    for root, _dirs, files in os.walk("/proc/sys"):
        for f in files:
            path = os.path.join(root, f)
            name = path.removeprefix("/proc/sys/")
            if name.startswith(VOLATILE_SYSCTL):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not st.st_mode & 0o200:
                continue
            value = _read(path)
            if value is not None:
                out[name] = value
    return out


def cgroups() -> list[str]:
    mount = kernel.cgroup2_mount()
    if mount is None:
        return []
    return sorted(str(Path(r).relative_to(mount)) for r, _d, _f in os.walk(mount))


def mounts() -> list[str]:
    text = _read("/proc/self/mountinfo") or ""
    return sorted(" ".join((ln.split()[4], ln.partition(" - ")[2].split(" ")[0])) for ln in text.splitlines() if ln)


def processes() -> list[str]:
    """User processes by name (pids change; leftovers and zombies show up by name)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = procfs.stat_of(int(entry))
        if st is None or st.flags & PF_KTHREAD:
            continue
        out.append(f"{st.comm} (zombie)" if st.state == "Z" else st.comm)
    return sorted(out)


def snapshot() -> dict[str, object]:
    return {"sysctls": sysctls(), "cgroups": cgroups(), "mounts": mounts(), "processes": processes(),
            "tainted": _read("/proc/sys/kernel/tainted")}


def diff(before: dict[str, object], after: dict[str, object], ignore_procs: set[str]) -> list[str]:
    out: list[str] = []
    b_sys, a_sys = before["sysctls"], after["sysctls"]
    assert isinstance(b_sys, dict) and isinstance(a_sys, dict)
    for k in sorted(set(b_sys) | set(a_sys)):
        if b_sys.get(k) != a_sys.get(k):
            out.append(f"sysctl {k}: {b_sys.get(k)!r} -> {a_sys.get(k)!r}")
    for key in ("cgroups", "mounts"):
        b, a = set(before[key]), set(after[key])  # type: ignore[call-overload]
        out += [f"{key[:-1]} added: {x}" for x in sorted(a - b)] + [f"{key[:-1]} gone: {x}" for x in sorted(b - a)]
    b_p, a_p = list(before["processes"]), list(after["processes"])  # type: ignore[call-overload]
    for p in sorted(set(a_p)):
        extra = a_p.count(p) - b_p.count(p)
        if extra > 0 and p.split(" ")[0] not in ignore_procs:
            out.append(f"process added: {p} (x{extra})")
    if before["tainted"] != after["tainted"]:
        out.append(f"taint {before['tainted']} -> {after['tainted']}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "save":
        Path(argv[1]).write_text(json.dumps(snapshot(), indent=1))
        return 0
    if len(argv) >= 3 and argv[0] == "diff":
        before = json.loads(Path(argv[1]).read_text())
        after = json.loads(Path(argv[2]).read_text())
        # The shell and tools of the checking script itself come and go.
        problems = diff(before, after, {"python", "python3", "bash", "sh", "sleep", "ps", "setpriv", "timeout"})
        for line in problems:
            print(line)
        print(f"system state: {len(problems)} difference(s)")
        return 1 if problems else 0
    print("usage: python -m conformance.tools.systate save FILE | diff BEFORE AFTER", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
