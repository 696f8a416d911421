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

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.report import writers
from conformance.report.writers import CaseKey, RunReport
from conformance.results import CaseRecord, RunRecord
from conformance.verdict import Verdict

__all__ = ["CaseKey", "Outputs", "RunReport", "from_namespace", "from_plugin_options", "interrupted_case",
           "provisional", "write_all"]

HARNESS_CLASS = "kconform.harness"
INTERRUPTED = "interrupted"


Outputs = dict[str, Path]  # writer name (junit, ktap, json, kcidb) -> path


def from_plugin_options(getoption: Callable[[str], Any]) -> Outputs:
    """The reports the pytest options ask for (the writer table's --kc-<name>)."""
    return {name: Path(str(p)) for name in writers.RUN_WRITERS if (p := getoption(f"--kc-{name}"))}


def from_namespace(ns: Any) -> Outputs:
    """The reports ``kconform run``'s options ask for."""
    return {name: Path(p) for name, p in writers.requested(ns).items()}


def write_all(outputs: Outputs, report: RunReport) -> list[str]:
    """Write every requested report atomically; one line per failure (empty when all were written)."""
    errors = []
    for name, path in outputs.items():
        try:
            writers.write_run(name, path, report)
        except OSError as e:
            errors.append(f"cannot write {writers.RUN_WRITERS[name].what} report {path}: {e.strerror or e}")
    return errors


def interrupted_case(message: str, details: str = "") -> CaseRecord:
    return CaseRecord(f"{HARNESS_CLASS}::{INTERRUPTED}", HARNESS_CLASS, INTERRUPTED, Verdict.ERROR, message, 0.0,
                      details)


def provisional(properties: dict[str, str]) -> RunRecord:
    props = dict(properties)
    props["run.complete"] = "no"
    props["run.status"] = "running or killed"
    started = props.get("run.started", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    return RunRecord(props, [interrupted_case(
        f"run incomplete: started {started} (pid {os.getpid()}) and never wrote its final report "
        "(killed, e.g. SIGKILL, or still running)")])
