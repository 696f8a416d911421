"""Writing reports so that no file ever looks green when the run was not.

Every report goes through the writer table (conformance.report.writers), which
writes atomically (a temporary file in the same directory, fsync, rename), so a
full disk or a kill leaves the previous content, never a truncated file.  When
a run starts, each report path first receives a *provisional* report: one
error case ``kconform.harness/interrupted`` saying that the run did not
finish.  The final report replaces it; a run killed with SIGKILL leaves the
provisional one, which no dashboard reads as a pass.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.isolation import interrupt
from conformance.report import writers
from conformance.report.atomic import write_atomic
from conformance.report.writers import CaseKey, RunReport
from conformance.suite.results import CaseRecord, RunRecord
from conformance.suite.verdict import Verdict

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["CaseKey", "Outputs", "RunReport", "from_namespace", "from_plugin_options", "interrupted_case",
           "provisional", "stop_vm_run", "write_all"]

HARNESS_CLASS = "kconform.harness"
INTERRUPTED = "interrupted"


Outputs = dict[str, Path]  # writer name (junit, ktap, json, kcidb) -> path


def from_plugin_options(getoption: Callable[[str], Any]) -> Outputs:
    """The reports the pytest options ask for (the writer table's --kc-<name>)."""
    return {name: Path(str(p)) for name in writers.RUN_WRITERS if (p := getoption(f"--kc-{name}"))}


def from_namespace(ns: Any) -> Outputs:
    """The reports ``kconform run``'s options ask for."""
    return {name: Path(p) for name, p in writers.requested(ns).items()}


PROVISIONAL_STATUS = "running or killed"
# Room the provisional report keeps at its end (trailing whitespace, which every format allows): when the
# final report cannot be written (a full disk, a quota), a short report naming that cause is written over
# the provisional one in place, in blocks the file already has.
RESERVE = 1024


def write_all(outputs: Outputs, report: RunReport) -> list[str]:
    """Write every requested report atomically; one line per failure (empty when all were written).

    A final report that cannot be written leaves the provisional one, rewritten in place (within its
    reserve) to say why the final report is missing."""
    provisional_report = report.run.properties.get("run.status") == PROVISIONAL_STATUS
    errors = []
    for name, path in outputs.items():
        try:
            if provisional_report:
                text = writers.RUN_WRITERS[name].render(report)
                write_atomic(path, text + " " * (RESERVE - 1) + "\n")
            else:
                writers.write_run(name, path, report)
        except OSError as e:
            errors.append(f"cannot write {writers.RUN_WRITERS[name].what} report {path}: {e.strerror or e}")
            if not provisional_report:
                _name_the_cause(name, path, report, e)
    return errors


def _name_the_cause(name: str, path: Path, report: RunReport, e: OSError) -> None:
    """Over the provisional report at ``path``, in place: why the final one is missing (best effort)."""
    code = errno.errorcode.get(e.errno or 0, str(e.errno))
    counts = ", ".join(f"{n} {v.value}" for v, n in report.run.counts().items() if n) or "no case"
    props = dict(report.run.properties)
    props.update({"run.complete": "no", "run.status": f"final report not written: {code}"})
    run = RunRecord(props, [interrupted_case(
        f"run incomplete: its final report could not be written ({code}: {e.strerror or e}); the run "
        f"had {counts}")])
    payload = writers.RUN_WRITERS[name].render(RunReport(run, kcidb_origin=report.kcidb_origin)).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        size = os.fstat(fd).st_size
        if len(payload) + 1 <= size:
            os.pwrite(fd, payload + b" " * (size - len(payload) - 1) + b"\n", 0)
            os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def interrupted_case(message: str, details: str = "") -> CaseRecord:
    return CaseRecord(f"{HARNESS_CLASS}::{INTERRUPTED}", HARNESS_CLASS, INTERRUPTED, Verdict.ERROR, message, 0.0,
                      details)


def provisional(properties: dict[str, str]) -> RunRecord:
    props = dict(properties)
    props["run.complete"] = "no"
    props["run.status"] = PROVISIONAL_STATUS
    started = props.get("run.started", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    return RunRecord(props, [interrupted_case(
        f"run incomplete: started {started} (pid {os.getpid()}) and never wrote its final report "
        "(killed, e.g. SIGKILL, or still running)")])


def stop_vm_run(signum: int, futures: Sequence[Future[Any]], kernels: Sequence[tuple[str, str, Path, str]],
                settle_s: float = 30.0) -> int:
    """``kconform vm`` was interrupted: kill every guest, remove the scratch images, wait for the runner
    threads, then give each kernel's results the interruption (junit.xml and run.json).

    ``kernels``: (label, release, results directory, guest's uname -m) of each kernel of the run."""
    deadline = time.monotonic() + settle_s
    while True:
        interrupt.cleanup()  # again and again: a thread may have started a guest after the first round
        if all(f.done() for f in futures) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    name = interrupt.signal_name(signum)
    for label, release, outdir, machine in kernels:
        props = {"kernel.release": release, "kernel.arch": machine, "run.label": label,
                 "run.label_names_kernel": "yes", "vm.outcome": "interrupted", "run.complete": "no",
                 "run.status": f"interrupted by {name}"}
        message = f"kconform vm interrupted by {name}: the guest was killed and its scratch disk removed"
        run = RunRecord(props, [interrupted_case(message, "\n".join(interrupt.notes()))])
        with contextlib.suppress(OSError):
            outdir.mkdir(parents=True, exist_ok=True)
            write_all({"junit": outdir / "junit.xml", "json": outdir / "run.json"}, RunReport(run))
    return interrupt.exit_status(signum)
