"""The vhost family's C side (native_helpers/kc_vhost.h): the owner process and the program runner.

``OwnerRequest`` and ``OwnerSetup`` mirror struct kc_vhost_req and struct kc_vhost_res field for field
(conformance.native marshals them); ``Owner`` drives an owner started by kc_vhost_start through its
handle, and ``exec_capture`` runs a program (ps) created in C and captures its output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from conformance import native
from conformance.host.records import record
from conformance.native import const, errno_name

NOT_CALLED = const("KC_VHOST_NOT_CALLED")
NET = "/dev/vhost-net"
VSOCK = "/dev/vhost-vsock"
SCSI = "/dev/vhost-scsi"  # the device that implements VHOST_NEW_WORKER / VHOST_FREE_WORKER


def exec_capture(argv: list[str], timeout_ms: int = 20000) -> tuple[int, str]:
    """Run a program (created in C) and capture its stdout: (wait status or -errno, text)."""
    return native.string_list_call("kc_exec_capture", argv, 1 << 20, timeout_ms)


# --------------------------------------------------------------------------- the owner


@native.wire("kc_vhost_req")
@record(frozen=True)
class OwnerRequest:
    """struct kc_vhost_req: what the owner process does with the device."""

    device: str = NET
    get_before: bool = False
    fork_owner: int = -1  # -1: no VHOST_SET_FORK_FROM_OWNER before SET_OWNER
    set_owner: bool = True
    set_owner_twice: bool = False
    fork_owner_after: int = -1
    get_after: bool = False
    new_workers: int = 0
    drop_privileges: bool = False
    nproc_limit: int = 0
    cgroup_procs_fd: int = -1  # set by the scenario, never by a row
    timeout_ms: int = 5000


@native.wire("kc_vhost_res", internal=("ctl_fd", "res_fd"))
@record(frozen=True)
class OwnerSetup(native.Harnessed):
    """struct kc_vhost_res: the owner's ioctl results (NOT_CALLED where it made no call)."""

    harness: native.HarnessStatus  # pid: the owner (negative once finished); status: its wait status
    open_ret: int
    get_before_ret: int
    get_before_val: int
    fork_owner_ret: int
    set_owner_ret: int
    set_owner2_ret: int
    fork_owner_after_ret: int
    get_after_ret: int
    get_after_val: int
    new_worker_ret: tuple[int, ...]
    new_worker_id: tuple[int, ...]
    free_worker_ret: tuple[int, ...]

    @property
    def pid(self) -> int:
        return self.harness.pid

    @property
    def status(self) -> int:
        return self.harness.status


class Owner:
    """A running owner process; always finished (bounded) on exit."""

    def __init__(self, req: OwnerRequest) -> None:
        self.req = req
        self._h = native.Handle("kc_vhost_res")
        self.finished = False

    def start(self) -> OwnerSetup:
        rc = self._h.call("kc_vhost_start", self.req)
        if rc < 0:
            raise native.harness_problem("vhost owner", f"cannot start it ({errno_name(-rc)})")
        return self._h.read(OwnerSetup)

    def free_workers(self) -> tuple[int, ...]:
        rc = self._h.call("kc_vhost_free_workers", self.req.timeout_ms)
        if rc < 0:
            raise OSError(-rc, f"owner did not answer: {errno_name(-rc)}")
        return self._h.read(OwnerSetup).free_worker_ret[: self.req.new_workers]

    def close_device(self) -> None:
        rc = self._h.call("kc_vhost_close", self.req.timeout_ms)
        if rc < 0:
            raise OSError(-rc, f"owner did not close the device: {errno_name(-rc)}")

    def finish(self, kill: bool = False) -> int:
        if self.finished:
            return 0
        self.finished = True
        return self._h.call("kc_vhost_finish", kill, self.req.timeout_ms)


@contextlib.contextmanager
def owner(req: OwnerRequest) -> Iterator[tuple[Owner, OwnerSetup]]:
    o = Owner(req)
    try:
        setup = o.start()
        yield o, setup
    finally:
        o.finish(kill=True)
