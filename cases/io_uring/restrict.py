"""io_uring task restrictions across process creation (IORING_REGISTER_RESTRICTIONS with ring fd -1).

Since 7.0 (ed82f35b926b "io_uring: allow registration of per-task restrictions") a task may register
restrictions for itself instead of for one ring: ``io_uring_register(-1, IORING_REGISTER_RESTRICTIONS,
&struct io_uring_task_restriction{flags 0, nr_res, resv[3] 0, restrictions[]}, 1)``.  Every ring the task
creates afterwards starts with a copy (io_uring_create()), and copy_process() copies them to every new task
(io_uring_fork()): children of fork, vfork, clone, clone3, new threads, and their children.  A task that
already has them gets EPERM on a second registration (it may not replace them); one without no_new_privs
and without CAP_SYS_ADMIN in its user namespace gets EACCES; flags other than 0 are EINVAL.  A denied SQE
completes with -EACCES at submission, so neither an io-wq worker (IOSQE_ASYNC) nor the SQPOLL thread ever
runs it, while allowed requests run there as usual.

Every scenario runs in a throw-away harness (native_helpers/kc_uring.c, kc_uring_restrict_scenario): the
restrictions die with it.  Allowed: IORING_OP_NOP, the SQE flag IOSQE_ASYNC; denied: IORING_OP_READ.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from conformance import native
from conformance._kc_uring_h import How as How
from conformance._kc_uring_h import Ring as Ring
from conformance.case import AllOf, Case, HarnessProblem
from conformance.checks import Field, Is, shown
from conformance.globalstate import USES_IO_URING
from conformance.native import errno_name
from conformance.records import record
from conformance.requirements import DROPS_PRIVILEGES, Feature, Requirement

FEATURE = "io_uring.task_restrictions"
BEHAVIOUR = "io_uring.task_restrictions"
NOT_CALLED = native.const("KC_UR_NOT_CALLED")
READ_LEN = 8  # the READ of /dev/zero asks for 8 bytes


@native.wire("kc_ur_req", internal=("pad0",))
@record(frozen=True)
class RestrictRequest:
    """struct kc_ur_req."""

    how: How = How.SELF
    ring: Ring = Ring.PLAIN
    do_register: bool = True
    nnp: bool = True
    drop: bool = False
    bad_flags: bool = False
    timeout_ms: int = 8000


@native.wire("kc_ur_res", internal=("pad0",))
@record(frozen=True)
class RestrictResult(native.Harnessed):
    """struct kc_ur_res."""

    harness: native.HarnessStatus
    register_ret: int
    register2_ret: int
    create_ret: int
    child_status: int
    reported: int
    setup_ret: int
    nop_res: int
    read_res: int
    child_register_ret: int
    nnp_child: int
    nthreads: int


def run(req: RestrictRequest) -> RestrictResult:
    return native.run_harness("kc_uring_restrict_scenario", RestrictResult, req, what="restriction")


def _show(v: int) -> str:
    if v == NOT_CALLED:
        return "not called"
    return f"-{errno_name(-v)}" if -4095 <= v < 0 else str(v)


def _field(name: str, get: Callable[[RestrictResult], int]) -> Field[RestrictResult]:
    return Field(name, get, _show)


class R:
    """The fields of ``RestrictResult`` a row checks or a description shows, as typed getters."""

    register_ret = _field("register_ret", lambda o: o.register_ret)
    register2_ret = _field("register2_ret", lambda o: o.register2_ret)
    create_ret = _field("create_ret", lambda o: o.create_ret)
    setup_ret = _field("setup_ret", lambda o: o.setup_ret)
    nop_res = _field("nop_res", lambda o: o.nop_res)
    read_res = _field("read_res", lambda o: o.read_res)
    child_register_ret = _field("child_register_ret", lambda o: o.child_register_ret)
    nnp_child = _field("nnp_child", lambda o: o.nnp_child)


SHOWN = (R.register_ret, R.register2_ret, R.create_ret, R.setup_ret, R.nop_res, R.read_res, R.child_register_ret,
         R.nnp_child)


@record(frozen=True, kw_only=True)
class RestrictCase(Case[RestrictResult]):
    request: RestrictRequest

    def observe(self) -> RestrictResult:
        try:
            r = run(self.request)
        except OSError as e:
            raise HarnessProblem(str(e)) from e
        if r.harness_error:
            raise native.harness_problem("restriction", r.harness.describe())
        if self.request.how is not How.SELF and r.create_ret > 0 and not r.reported:
            raise HarnessProblem(f"the {self.request.how.name.lower()} child made no report")
        return r

    def describe(self, obs: RestrictResult) -> str:
        return f"{self.request.how.name.lower()}/{self.request.ring.name.lower()}: " + ", ".join(
            f"{f.name}={shown(f, obs)}" for f in SHOWN)


EACCES, EPERM, EINVAL = -errno.EACCES, -errno.EPERM, -errno.EINVAL
NEEDS: tuple[Requirement, ...] = (Feature(FEATURE),)
REGISTERED = (Is(R.register_ret, 0, "the task registration"),
              Is(R.register2_ret, EPERM, "a second registration by the same task"))
RESTRICTED = (Is(R.setup_ret, 0, "io_uring_setup"), Is(R.nop_res, 0, "the allowed NOP completes"),
              Is(R.read_res, EACCES, "the READ the restrictions leave out completes with -EACCES"),
              Is(R.child_register_ret, EPERM, "a task with restrictions cannot register others"))


def restrict_row(id: str, req: RestrictRequest, *checks: Is[RestrictResult], needs: tuple[Requirement, ...] = (),
                 doc: str = "") -> RestrictCase:
    return RestrictCase(id=id, behaviour=BEHAVIOUR, request=req, expect=AllOf(checks), needs=(*NEEDS, *needs),
                        doc=doc, reads=USES_IO_URING)


INHERIT_DOC = ("The registering task creates the child after registering; the child's own ring starts "
               "restricted (copy_process() -> io_uring_fork() copied the task's set, io_uring_create() copies it "
               "into the ring).")

RESTRICT_ROWS: tuple[RestrictCase, ...] = (
    restrict_row("task-restrict-self", RestrictRequest(How.SELF), *REGISTERED, *RESTRICTED,
                 doc="the registering task's own new ring; liburing test/task-restrict.c checks the fork case "
                 "only"),
    *(restrict_row(f"task-restrict-{how.name.lower()}-inherits", RestrictRequest(how), *REGISTERED, *RESTRICTED,
                   Is(R.nnp_child, 1, "no_new_privs came along"), doc=INHERIT_DOC)
      for how in (How.FORK, How.VFORK, How.CLONE, How.CLONE3, How.THREAD, How.GRANDCHILD)),
    restrict_row("task-restrict-iowq", RestrictRequest(How.FORK, Ring.IOWQ), *REGISTERED, *RESTRICTED,
                 needs=(Feature("io_uring.native_workers"),),
                 doc="IOSQE_ASYNC (an allowed flag): the NOP runs in an io-wq worker and completes; the READ is "
                 "refused at submission and never reaches io-wq."),
    restrict_row("task-restrict-sqpoll", RestrictRequest(How.FORK, Ring.SQPOLL), *REGISTERED, *RESTRICTED,
                 needs=(Feature("io_uring.sqpoll"),),
                 doc="a SQPOLL ring of a restricted child: the SQPOLL thread submits the NOP and refuses the READ "
                 "with -EACCES like io_uring_enter would."),
    restrict_row("task-restrict-control", RestrictRequest(How.FORK, do_register=False),
                 Is(R.register_ret, NOT_CALLED, "nothing registered"), Is(R.setup_ret, 0, "io_uring_setup"),
                 Is(R.nop_res, 0, "the NOP completes"), Is(R.read_res, READ_LEN, "the READ of /dev/zero reads 8"),
                 Is(R.child_register_ret, 0, "the child may register its own"),
                 doc="control for the rows above: without a registration the same READ works."),
    restrict_row("task-restrict-needs-nnp", RestrictRequest(How.SELF, nnp=False, drop=True),
                 Is(R.register_ret, EACCES, "no no_new_privs and no CAP_SYS_ADMIN"),
                 Is(R.register2_ret, EACCES, "still refused"), Is(R.setup_ret, 0, "io_uring_setup"),
                 Is(R.read_res, READ_LEN, "nothing was restricted"),
                 Is(R.child_register_ret, EACCES, "refused again"), needs=(DROPS_PRIVILEGES,),
                 doc="like seccomp: uid 65534 without capabilities and without no_new_privs."),
    restrict_row("task-restrict-bad-flags", RestrictRequest(How.SELF, bad_flags=True),
                 Is(R.register_ret, EINVAL, "flags 1"), Is(R.register2_ret, 0, "nothing was kept: a valid one works"),
                 Is(R.read_res, EACCES, "the valid registration restricts"),
                 doc="struct io_uring_task_restriction.flags must be 0 in 7.3."),
)
