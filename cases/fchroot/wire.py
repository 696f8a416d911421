"""The fchroot family's C side (native_helpers/kc_fchroot.h): struct kc_fc_req and struct kc_fc_res as
typed dataclasses (conformance.native marshals them), and the scenario that fills one.
"""

from __future__ import annotations

from conformance import native
from conformance._kc_fchroot_h import Before as Before
from conformance._kc_fchroot_h import Subject as Subject
from conformance.host.records import record
from conformance.native import const

FD_FAILFS_ROOT = const("KC_FD_FAILFS_ROOT")
NOT_RUN = const("KC_FC_NOT_RUN")
PROBE_PATH = "/proc"  # an absolute path that exists in every setting the suite runs in


@native.wire("kc_fc_req", internal=("pad0",))
@record(frozen=True)
class FcRequest:
    """struct kc_fc_req."""

    subject: Subject = Subject.CLONE_NNP
    before: Before = Before.NONE
    fd: int = FD_FAILFS_ROOT
    flags: int = 0
    drop_privileges: bool = True
    follow_up: bool = False
    timeout_ms: int = 15000
    probe_path: str = PROBE_PATH
    exec_path: str = ""  # filled at run time: an executable found on PATH
    chroot_dir: str = "/proc"


@native.wire("kc_fc_res")
@record(frozen=True)
class FcResult(native.Harnessed):
    """struct kc_fc_res."""

    harness: native.HarnessStatus
    harness_step: int
    status: int
    filled: int
    euid: int
    nnp: int
    harness_nnp: int
    before_res: int
    probe_before: int
    ret2: int
    ret: int
    probe_after: int
    root_after: int
    cwd_after: int
    fork_probe: int
    clone3_probe: int
    clone3_fs_probe: int
    clone3_fs_fchroot: int
    clone3_fs_fchdir: int
    cwd_after_sibling_fchdir: int
    exec_path_res: int
    exec_fd_res: int
    exec_path_status: int
    exec_fd_status: int
    nthreads: int

    def problem(self) -> str | None:
        if self.harness.ok:
            return None
        step = f" at step {self.harness_step}" if self.harness_step else ""
        return f"{self.harness.describe()}{step}"


def run(req: FcRequest) -> FcResult:
    """One fchroot scenario in a throw-away harness process (kc_fc_scenario)."""
    return native.run_harness("kc_fc_scenario", FcResult, req, what="fchroot")
