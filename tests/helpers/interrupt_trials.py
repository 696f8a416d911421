"""Measure what interrupted runs leave: signals at random points of real ``kconform run`` invocations.

    python -m tests.helpers.interrupt_trials [--tries 20] [--signals INT,TERM,KILL] [-n 2] [--out DIR]

For each try: note the machine state (watched sysctls, kconform cgroups, mounts, /dev/shm and $TMPDIR
kconform entries), start a run writing JUnit, JSON and KTAP, wait for its provisional report, sleep a
random time, send the signal, and check that every report carries ``kconform.harness/interrupted`` (or
that the run had finished), that no running case was recorded as a pass, the exit status, and the state
after.  Prints one line per try and a summary.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.helpers import kc


def leftovers() -> dict[str, Any]:
    state = kc.machine_state()
    state["tmp"] = sorted(p.name for p in Path(tempfile.gettempdir()).glob("kconform-rc-*"))
    state["tmp"] += sorted(p.name for p in Path(tempfile.gettempdir()).glob("kconform-iou-*"))
    return state


def check_reports(d: Path) -> tuple[bool, bool, str]:
    """(every report shows the interruption, the run completed instead, problem)."""
    try:
        record = kc.load(d / "r.json")
        junit = ET.parse(d / "r.xml").getroot()
        ktap = (d / "r.ktap").read_text()
    except (OSError, ValueError, ET.ParseError) as e:
        return False, False, f"unreadable report: {e}"
    names = {(c["classname"], c["name"]) for c in record["cases"]}
    interrupted = ("kconform.harness", "interrupted") in names
    in_junit = any(t.get("name") == "interrupted" and t.find("error") is not None for t in junit.iter("testcase"))
    in_ktap = "interrupted" in ktap and "not ok" in ktap
    complete = not interrupted and "run.complete" not in record["properties"]
    bad_pass = [c for c in record["cases"] if "before its" in c["message"] and c["verdict"] == "pass"]
    if bad_pass:
        return False, complete, f"running case recorded as pass: {bad_pass[0]['name']}"
    if complete:
        return True, True, ""
    if not (interrupted and in_junit and in_ktap):
        return False, False, f"interruption missing (json {interrupted}, junit {in_junit}, ktap {in_ktap})"
    return True, False, ""


def one(sig: signal.Signals, workers: str | None, max_delay: float) -> dict[str, Any]:
    before = leftovers()
    d = Path(tempfile.mkdtemp(prefix="kconform-trial-"))
    args = ["run", "-q", "--junit", str(d / "r.xml"), "--json", str(d / "r.json"), "--ktap", str(d / "r.ktap")]
    if workers:
        args += ["-n", workers]
    proc = subprocess.Popen([*kc.KCONFORM, *args], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (d / "r.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    delay = random.uniform(0, max_delay)
    time.sleep(delay)
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    stop_s = time.monotonic() - t0
    ok, complete, problem = check_reports(d)
    want_rc = {0, 1} if complete else ({-signal.SIGKILL} if sig == signal.SIGKILL else {128 + sig})
    if rc not in want_rc:
        problem = problem or f"exit status {rc}, expected {sorted(want_rc)}"
        ok = False
    time.sleep(0.3)
    after = leftovers()
    diff = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    for p in d.iterdir():
        p.unlink()
    d.rmdir()
    return {"signal": sig.name, "workers": workers or "", "delay_s": round(delay, 2), "stop_s": round(stop_s, 2),
            "rc": rc, "reports_ok": ok, "completed": complete, "problem": problem, "state_diff": diff}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="interrupt_trials")
    p.add_argument("--tries", type=int, default=20)
    p.add_argument("--signals", default="INT,TERM,KILL")
    p.add_argument("-n", dest="workers")
    p.add_argument("--max-delay", type=float, default=5.0)
    p.add_argument("--out", type=Path)
    ns = p.parse_args(argv)
    results = []
    for name in ns.signals.split(","):
        sig = signal.Signals["SIG" + name]
        for _ in range(ns.tries):
            r = one(sig, ns.workers, ns.max_delay)
            results.append(r)
            print(json.dumps(r), flush=True)
    print("summary:")
    for name in ns.signals.split(","):
        rs = [r for r in results if r["signal"] == "SIG" + name]
        print(f"  SIG{name}{' -n ' + ns.workers if ns.workers else ''}: {len(rs)} tries, "
              f"{sum(r['reports_ok'] for r in rs)} with correct reports ({sum(r['completed'] for r in rs)} had "
              f"finished), {sum(bool(r['state_diff']) for r in rs)} with the machine state changed, "
              f"max stop {max(r['stop_s'] for r in rs):.1f} s")
    if ns.out:
        ns.out.write_text(json.dumps(results, indent=1))
    return 0 if all(r["reports_ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
