"""The vCPUs each guest of a kconform vm run gets as it starts (conformance/vm/schedule.py)."""

from __future__ import annotations

from pathlib import Path

from conformance.vm.schedule import Ended, Guest, next_cpus


def test_first_guests_share_the_host_evenly() -> None:
    assert next_cpus(2, 2, [], [], to_start=3, now=0) == 1
    assert next_cpus(2, 2, [Guest(1, 0)], [], to_start=2, now=0) == 1
    assert next_cpus(16, 4, [], [], to_start=8, now=0) == 4


def test_one_kernel_takes_the_host_whatever_j_says() -> None:
    assert next_cpus(2, 2, [], [], to_start=1, now=0) == 2
    assert next_cpus(64, 8, [], [], to_start=1, now=0) == 8  # capped: host/J, or 4 parts
    assert next_cpus(64, 1, [], [], to_start=1, now=0) == 64


def test_the_last_kernel_takes_the_cores_of_a_guest_about_to_end() -> None:
    """Three kernels, -j 2, two cores: the third starts as the first ends and the second has run as long."""
    ended = [Ended(1, 44.0)]
    assert next_cpus(2, 2, [Guest(1, 0.0)], ended, to_start=1, now=44.0) == 2
    # the second guest started late: it holds its core
    assert next_cpus(2, 2, [Guest(1, 30.0)], ended, to_start=1, now=44.0) == 1


def test_more_kernels_to_start_share_the_freed_cores() -> None:
    """Four kernels, -j 2: the third gets one vCPU (the fourth takes the other core soon), so does the fourth."""
    ended = [Ended(1, 44.0)]
    assert next_cpus(2, 2, [Guest(1, 0.0)], ended, to_start=2, now=44.0) == 1
    assert next_cpus(2, 2, [Guest(1, 44.0)], [*ended, Ended(1, 47.0)], to_start=1, now=47.0) == 1


def test_never_below_one_vcpu() -> None:
    assert next_cpus(1, 4, [Guest(1, 0), Guest(1, 0)], [], to_start=3, now=1) == 1
    assert next_cpus(0, 0, [], [], to_start=1, now=0) == 1


SCRIPT = """
import argparse, os, signal, sys, threading, time
from pathlib import Path
from conformance.isolation import interrupt
from conformance.vm import backends, cli, runner

def slow(kernel, cfg, outdir, progress):
    time.sleep(5)
    return None

runner.run_kernel = slow
interrupt.install()
ns = argparse.Namespace(jobs=2, cpus=0, shards=0)
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
started = []
t0 = time.monotonic()
try:
    cli._run_all([argparse.Namespace(label=x) for x in "abc"], backends.VmConfig(), ns, Path("."), print, started)
except interrupt.Interrupted:
    print(f"interrupted {time.monotonic() - t0:.2f} {len(started)}", flush=True)
    os._exit(0)  # the guests' threads are the caller's to stop (stop_vm_run)
"""


def test_an_interruption_reaches_the_caller_at_once(tmp_path: Path) -> None:
    """Ctrl-C while guests run: the caller (which kills the guests) gets it at once, not once they end;
    the kernels not yet started are never started."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    words = done.stdout.split()
    assert words[:1] == ["interrupted"], (done.stdout, done.stderr)
    assert float(words[1]) < 2.0 and words[2] == "2"
