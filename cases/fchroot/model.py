"""The fchroot family's model: typed getters of the result's fields, the checks, the case type.

A row is a ``FchrootCase``: one ``FcRequest`` (.wire: how the subject is made, what it does before
fchroot(), the fd and flags) and checks on the fields of the ``FcResult`` the C scenario
(native_helpers/kc_fchroot.c) filled.  A field whose step did not run holds NOT_RUN, which
never satisfies a check that expects a result.
"""

from __future__ import annotations

import errno as _errno
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from conformance.host.records import record
from conformance.isolation.globalstate import USES_IO_URING
from conformance.native import describe_status, errno_name
from conformance.suite.case import AllOf, Case, Check, HarnessProblem, OldModel
from conformance.suite.checks import Field, Is
from conformance.suite.requirements import Feature, Requirement

from . import wire
from .wire import NOT_RUN, PROBE_PATH, FcRequest, FcResult


def said(v: int) -> str:
    if v == NOT_RUN:
        return "not run"
    return errno_name(-v) if v < 0 else str(v)


# --------------------------------------------------------------------------- checks


def _field(name: str, get: Callable[[FcResult], int]) -> Field[FcResult]:
    return Field(name, get, said)


class R:
    """The fields of ``FcResult`` a row checks, as typed getters (shown as ``said`` does)."""

    ret = _field("ret", lambda o: o.ret)
    ret2 = _field("ret2", lambda o: o.ret2)
    euid = _field("euid", lambda o: o.euid)
    nnp = _field("nnp", lambda o: o.nnp)
    harness_nnp = _field("harness_nnp", lambda o: o.harness_nnp)
    before_res = _field("before_res", lambda o: o.before_res)
    probe_before = _field("probe_before", lambda o: o.probe_before)
    probe_after = _field("probe_after", lambda o: o.probe_after)
    root_after = _field("root_after", lambda o: o.root_after)
    cwd_after = _field("cwd_after", lambda o: o.cwd_after)
    fork_probe = _field("fork_probe", lambda o: o.fork_probe)
    clone3_probe = _field("clone3_probe", lambda o: o.clone3_probe)
    clone3_fs_probe = _field("clone3_fs_probe", lambda o: o.clone3_fs_probe)
    clone3_fs_fchroot = _field("clone3_fs_fchroot", lambda o: o.clone3_fs_fchroot)
    clone3_fs_fchdir = _field("clone3_fs_fchdir", lambda o: o.clone3_fs_fchdir)
    cwd_after_sibling_fchdir = _field("cwd_after_sibling_fchdir", lambda o: o.cwd_after_sibling_fchdir)
    exec_path_res = _field("exec_path_res", lambda o: o.exec_path_res)
    exec_fd_res = _field("exec_fd_res", lambda o: o.exec_fd_res)
    exec_path_status = _field("exec_path_status", lambda o: o.exec_path_status)
    exec_fd_status = _field("exec_fd_status", lambda o: o.exec_fd_status)
    nthreads = _field("nthreads", lambda o: o.nthreads)


def fails(err: int, field: Field[FcResult] = R.ret) -> Is[FcResult]:
    return Is(field, -err)


def ok(field: Field[FcResult] = R.ret) -> Is[FcResult]:
    return Is(field, 0)


@record(frozen=True)
class ExecFailed:
    """A child's exec failed with err: the child reported it and exited 0 (it never became the program)."""

    res: Field[FcResult]
    status: Field[FcResult]
    err: int

    def mismatch(self, obs: FcResult) -> str | None:
        got, status = self.res.get(obs), self.status.get(obs)
        if got is None or status is None:
            return f"{self.res.name} not observed"
        if got == NOT_RUN:
            return f"the exec was not refused: the child {describe_status(status)} without reporting an error"
        if got != -self.err:
            return f"{self.res.name} {said(got)}, expected {errno_name(self.err)}"
        return None


# --------------------------------------------------------------------------- the case


def _exec_path() -> str:
    found = shutil.which("true")
    return str(Path(found).resolve()) if found else "/bin/true"


@record(frozen=True, kw_only=True)
class FchrootCase(Case[FcResult]):
    request: FcRequest

    def observe(self) -> FcResult:
        req = self.request if self.request.exec_path else replace(self.request, exec_path=_exec_path())
        res = wire.run(req)
        problem = res.problem()
        if problem is not None:
            raise HarnessProblem(problem)
        return res

    def describe(self, obs: FcResult) -> str:
        parts = [f"fchroot gave {said(obs.ret)} (euid {obs.euid}, no_new_privs {obs.nnp})"]
        if obs.ret == 0 and obs.probe_after != NOT_RUN:
            parts.append(f"then {PROBE_PATH}: {said(obs.probe_after)}, /: {said(obs.root_after)}, "
                         f"exec: {said(obs.exec_path_res)}")
        return "; ".join(parts)


def row(id: str, behaviour: str, request: FcRequest, *checks: Check[FcResult], needs: tuple[Requirement, ...] = (),
        old: OldModel[FcResult] | None = None, doc: str = "") -> FchrootCase:
    uring = any(isinstance(n, Feature) and n.probe.startswith("io_uring") for n in needs)
    return FchrootCase(id=id, behaviour=f"fchroot.{behaviour}", request=request, expect=AllOf(checks), old=old,
                       needs=needs, doc=doc, reads=USES_IO_URING if uring else ())


EINVAL, EPERM, EOPNOTSUPP = _errno.EINVAL, _errno.EPERM, _errno.EOPNOTSUPP
