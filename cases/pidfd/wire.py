"""The pidfd family's wire records: the Python twins of kc_pidfd.h's structs and the scenario entry.

``PidfdRequest`` goes into ``struct kc_pfd_req``; ``struct kc_pfd_res`` comes back as ``_PidfdRaw`` and is
handed to the rows as ``PidfdResult``, its typed view: the slots (``PidfdValue``) the scenario filled.  The
enums mirror the header's ``#define``s and are generated from it (``conformance._kc_pidfd_h``, written by
native_helpers/build.py); the marshalling and the harness contract are the core's (``conformance.native``).
"""

from __future__ import annotations

from conformance._kc_harness_h import HarnessError
from conformance._kc_pidfd_h import PidfdProbe
from conformance._kc_pidfd_h import PidfdScenario as PidfdScenario
from conformance._kc_pidfd_h import PidfdValue as PidfdValue
from conformance.host.records import record
from conformance.native import HarnessStatus, call, run_harness, wire


@wire("kc_pfd_req")
@record(frozen=True)
class PidfdRequest:
    """One pidfd scenario: which, which variant, and its parameters."""

    scenario: PidfdScenario
    variant: int = 0
    flags: int = 0
    arg: int = 0
    drop_privileges: bool = False
    clone_flags: int = 0
    timeout_ms: int = 15000


@record(frozen=True)
class PidfdResult:
    harness_error: HarnessError
    harness_errno: int
    values: dict[PidfdValue, int]
    text: str

    def get(self, slot: PidfdValue) -> int | None:
        return self.values.get(slot)


@wire("kc_pfd_res")
@record(frozen=True)
class _PidfdRaw:
    """struct kc_pfd_res as it comes back; PidfdResult is its typed view."""

    harness: HarnessStatus
    present: tuple[int, ...]
    v: tuple[int, ...]
    text: str


def pidfd_scenario(req: PidfdRequest) -> PidfdResult:
    """Run one pidfd scenario in a fresh harness process (see kc_pidfd.h)."""
    raw = run_harness("kc_pfd_scenario", _PidfdRaw, req, what="pidfd")
    return PidfdResult(
        harness_error=raw.harness.error,
        harness_errno=raw.harness.err_no,
        values={slot: raw.v[slot] for slot in PidfdValue if raw.present[slot]},
        text=raw.text,
    )


def pidfd_probe(what: PidfdProbe, flags: int = 0) -> int:
    """kc_pfd_probe(): value or -errno (KC_PQ_* of kc_pidfd.h)."""
    return call("kc_pfd_probe", what, flags)
