"""The coredump socket: core_pattern "@<path>" (6.16) and "@@<path>" (the request/ack protocol, 6.17).

Each row sets ``kernel.core_pattern`` to an AF_UNIX socket the scenario listens on in a private
scratch directory, lets a dumpable child crash and serves the dump (kc_pidfd.c ``sc_coredump``; every
wait bounded).  The sysctl is machine-wide: every row declares it (``changes=``), so the harness saves,
journals and restores it, and the scenario also puts the saved value back itself.  The rows run only
where changing it is allowed: in a kconform VM guest, or with ``--allow-change kernel.core_pattern``.
Peer: kselftest ``coredump/`` (coredump_socket_test.c, coredump_socket_protocol_test.c).
"""

from __future__ import annotations

import errno

from conformance._kc_pidfd_h import Coredump, CoredumpAnswer, CoredumpPattern
from conformance.host.uapi import (
    COREDUMP_KERNEL,
    COREDUMP_MARK_CONFLICTING,
    COREDUMP_MARK_MAXSIZE,
    COREDUMP_MARK_MINSIZE,
    COREDUMP_MARK_REQACK,
    COREDUMP_MARK_UNSUPPORTED,
    COREDUMP_REJECT,
    COREDUMP_USERSPACE,
    COREDUMP_WAIT,
    SEGV_MAPERR,
    SI_TKILL,
    WCOREFLAG,
)
from conformance.host.uapi import PIDFD_COREDUMP_USER as COREDUMP_USER
from conformance.host.uapi import PIDFD_COREDUMPED as COREDUMPED
from conformance.host.uapi import PIDFD_INFO_COREDUMP as INFO_COREDUMP
from conformance.host.uapi import PIDFD_INFO_COREDUMP_CODE as INFO_COREDUMP_CODE
from conformance.host.uapi import PIDFD_INFO_COREDUMP_SIGNAL as INFO_COREDUMP_SIGNAL
from conformance.host.uapi import PIDFD_INFO_EXIT as INFO_EXIT
from conformance.isolation.globallock import Lock
from conformance.isolation.globalstate import Sysctl
from conformance.suite.case import AllOf, Check, OldModel
from conformance.suite.checks import AtLeast, Bits, ExitedWith, Is, SameAs
from conformance.suite.requirements import INIT_PRIVILEGED, Feature, InitialMountNs, MayChange, Requirement

from .model import SIGABRT, SIGSEGV, F, PidfdCase, S, V, fails, old
from .wire import PidfdRequest, PidfdResult

REQ_MASK = COREDUMP_KERNEL | COREDUMP_USERSPACE | COREDUMP_REJECT | COREDUMP_WAIT  # every answer the kernel offers
MARK_REQACK, MARK_MINSIZE, MARK_MAXSIZE = COREDUMP_MARK_REQACK, COREDUMP_MARK_MINSIZE, COREDUMP_MARK_MAXSIZE
MARK_UNSUPPORTED, MARK_CONFLICTING = COREDUMP_MARK_UNSUPPORTED, COREDUMP_MARK_CONFLICTING
CORE_PATTERN = Sysctl("kernel.core_pattern")

PC = Coredump
PCI = CoredumpPattern
PCA = CoredumpAnswer

SOCKET: tuple[Requirement, ...] = (
    Feature("pidfd.coredump_socket"), Feature("pidfd_open"), Feature("pidfd.info"), Feature("pidfd.info_exit"),
    Feature("pidfd.info_coredump"), INIT_PRIVILEGED, MayChange(CORE_PATTERN.name),
    InitialMountNs("the kernel refuses a coredump socket pattern written from another mount namespace"),
)

# What every dump that reached the server shows: the kernel connected for the crashing child, whose pidfd
# (SO_PEERPIDFD) already says it is dumping; the child dies of its signal with the core flag.
SERVED = (Is(F[V.PATTERN_WRITE], 0), Is(F[V.ACCEPTED], 1), Is(F[V.PEER_PIDFD], 0), Is(F[V.RET], 0),
    SameAs(F[V.INFO_PID], F[V.CHILD_PID]),
          Bits(F[V.INFO_MASK], INFO_COREDUMP), Bits(F[V.INFO_CORE_MASK], COREDUMPED | COREDUMP_USER))
REAPED = (Is(F[V.RET2], 0), Bits(F[V.RET3], INFO_EXIT | INFO_COREDUMP),
    Bits(F[V.CORE_MASK_AFTER], COREDUMPED | COREDUMP_USER))


def _row(id: str, behaviour: str, variant: PC, *checks: Check[PidfdResult], arg: int = 0,
         old: OldModel[PidfdResult] | None = None, doc: str = "") -> PidfdCase:
    return PidfdCase(id=id, behaviour=behaviour,
                     request=PidfdRequest(S.COREDUMP, variant, arg=arg, timeout_ms=45000),
                     expect=AllOf(checks), old=old, needs=SOCKET, lock=Lock.EXCLUSIVE, changes=(CORE_PATTERN,),
                     doc=doc)


def _crashed(signal: int, core: bool) -> tuple[Check[PidfdResult], ...]:
    flag = Bits(F[V.STATUS], WCOREFLAG) if core else Bits(F[V.STATUS], 0, WCOREFLAG)
    exit_flag = Bits(F[V.INFO_EXIT], WCOREFLAG) if core else Bits(F[V.INFO_EXIT], 0, WCOREFLAG)
    return ExitedWith(F[V.STATUS], signal=signal), flag, ExitedWith(F[V.INFO_EXIT], signal=signal), exit_flag


SIGNAL_OLD = ("6.19", "036375522be8", "PIDFD_INFO_COREDUMP came without the signal (no PIDFD_INFO_COREDUMP_SIGNAL)")
CODE_OLD = ("7.1", "701f7f4fbabb", "PIDFD_INFO_COREDUMP came without the si_code (no PIDFD_INFO_COREDUMP_CODE)")


def _signal_row(id: str, variant: PC, signal: int) -> PidfdCase:
    return _row(id, "pidfd.coredump_socket_signal", variant, *SERVED, Bits(F[V.INFO_MASK], INFO_COREDUMP_SIGNAL),
                Is(F[V.INFO_CORE_SIGNAL], signal), *REAPED, Is(F[V.CORE_SIGNAL_AFTER], signal),
                old=old(*SIGNAL_OLD, *SERVED, Bits(F[V.INFO_MASK], 0, INFO_COREDUMP_SIGNAL)),
                doc="kselftest coredump_socket_test (socket_coredump_signal_*): the signal of the crash through "
                "the server's pidfd and, after the reap, through the parent's")


def _code_row(id: str, variant: PC, code: int) -> PidfdCase:
    return _row(id, "pidfd.coredump_socket_code", variant, *SERVED, Bits(F[V.INFO_MASK], INFO_COREDUMP_CODE),
                Is(F[V.INFO_CORE_CODE], code), *REAPED, Is(F[V.CORE_CODE_AFTER], code),
                old=old(*CODE_OLD, *SERVED, Bits(F[V.INFO_MASK], 0, INFO_COREDUMP_CODE)),
                doc="the si_code of the crash: SEGV_MAPERR for a fault on an unmapped address, SI_TKILL for a "
                "SIGABRT the child sent itself with tgkill")


OFFERED = ("PIDFD_COREDUMPED is recorded by pidfs_coredump() before the kernel connects: it says the dump was "
           "offered to the socket, not that a core was written")
REQUEST_OLD = ("6.17", "12b5b138d111", "the sysctl refused \"@@\" patterns (no request protocol)")


def _request(id: str, answer: PCA, *checks: Check[PidfdResult], doc: str) -> PidfdCase:
    return _row(id, "pidfd.coredump_request", PC.REQUEST, Is(F[V.PATTERN_WRITE], 0), Is(F[V.ACCEPTED], 1),
                AtLeast(F[V.REQ_SIZE], 16), AtLeast(F[V.REQ_SIZE_ACK], 16), Bits(F[V.REQ_MASK], REQ_MASK), *checks,
                arg=answer, old=old(*REQUEST_OLD, fails(errno.EINVAL, V.PATTERN_WRITE)),
                doc="kselftest coredump_socket_protocol_test: " + doc)


def _refused(id: str, answer: PCA, mark: int, doc: str) -> PidfdCase:
    return _request(id, answer, Is(F[V.MARK], mark), Is(F[V.DUMP_BYTES], 0), *_crashed(SIGSEGV, core=False), *REAPED,
                    doc=doc + "; the kernel answers with its mark and aborts the dump: nothing follows, no core flag, "
                    "yet pidfs keeps COREDUMPED (" + OFFERED + ")")


def _invalid(id: str, which: PCI, pattern: str) -> PidfdCase:
    return _row(id, "pidfd.coredump_pattern", PC.INVALID, fails(errno.EINVAL, V.PATTERN_WRITE),
                Is(F[V.PATTERN_SAME], 1), arg=which,
                doc=f"writing {pattern!r} to kernel.core_pattern is EINVAL and leaves the old value "
                "(proc_dostring_coredump puts it back)")


COREDUMP_SOCKET: tuple[PidfdCase, ...] = (
    _row("coredump-socket-dump", "pidfd.coredump_socket", PC.SOCKET_SEGV, *SERVED, AtLeast(F[V.DUMP_BYTES], 1),
         Is(F[V.DUMP_ELF], 1), *_crashed(SIGSEGV, core=True), *REAPED,
         doc="kselftest coredump_socket_test (socket): the kernel connects to the listening socket for the "
         "crashing child and streams an ELF core; the server's SO_PEERPIDFD names the child, PIDFD_GET_INFO "
         "shows COREDUMPED|USER; the parent's wait status and PIDFD_INFO_EXIT carry the core flag"),
    _row("coredump-socket-client-not-dump", "pidfd.coredump_socket", PC.CLIENT, Is(F[V.PATTERN_WRITE], 0),
         Is(F[V.PEER_PIDFD], 0), Is(F[V.RET], 0), SameAs(F[V.INFO_PID], F[V.SELF_PID]),
         Bits(F[V.INFO_MASK], INFO_COREDUMP), Bits(F[V.INFO_CORE_MASK], COREDUMP_USER, COREDUMPED),
         doc="kselftest coredump_socket_test (socket_detect_userspace_client): an ordinary process connecting "
         "to the coredump socket is not marked as dumping (no COREDUMPED through its SO_PEERPIDFD)"),
    _row("coredump-socket-no-listener", "pidfd.coredump_socket", PC.NO_LISTENER, Is(F[V.PATTERN_WRITE], 0),
         *_crashed(SIGSEGV, core=False), *REAPED,
         doc="kselftest coredump_socket_test (socket_no_listener): the socket exists but nobody listens: the "
         "connect fails, no dump, no core flag; after the reap coredump_mask still has COREDUMPED (" + OFFERED
         + "; 6.18.44, 7.3.4)"),
    _signal_row("coredump-socket-signal-segv", PC.SOCKET_SEGV, SIGSEGV),
    _signal_row("coredump-socket-signal-abort", PC.SOCKET_ABORT, SIGABRT),
    _code_row("coredump-socket-code-segv", PC.SOCKET_SEGV, SEGV_MAPERR),
    _code_row("coredump-socket-code-abort", PC.SOCKET_ABORT, SI_TKILL),
    _invalid("coredump-pattern-space", PCI.SPACE, "@ /kc"),
    _invalid("coredump-pattern-relative", PCI.RELATIVE, "@../kc"),
    _invalid("coredump-pattern-dotdot", PCI.DOTDOT, "@/kc/.."),
    _invalid("coredump-pattern-atatat", PCI.ATATAT, "@@@"),
    _request("coredump-request-kernel", PCA.KERNEL, Is(F[V.MARK], MARK_REQACK), AtLeast(F[V.DUMP_BYTES], 1),
             Is(F[V.DUMP_ELF], 1), *_crashed(SIGSEGV, core=True), *REAPED,
             doc="the server answers COREDUMP_KERNEL: mark REQACK, then the kernel writes the core"),
    _request("coredump-request-userspace", PCA.USERSPACE, Is(F[V.MARK], MARK_REQACK), Is(F[V.DUMP_BYTES], 0),
             *_crashed(SIGSEGV, core=True), *REAPED,
             doc="the server answers COREDUMP_USERSPACE: mark REQACK, the kernel writes nothing and the parent "
             "still sees the core flag (user space took the dump)"),
    _request("coredump-request-reject", PCA.REJECT, Is(F[V.MARK], MARK_REQACK), Is(F[V.DUMP_BYTES], 0),
             *_crashed(SIGSEGV, core=False), *REAPED,
             doc="the server answers COREDUMP_REJECT: mark REQACK, no dump, no core flag; COREDUMPED stays ("
             + OFFERED + ")"),
    _refused("coredump-request-ack-too-small", PCA.SIZE_SMALL, MARK_MINSIZE, "an ack of size 8 (below VER0 16)"),
    _refused("coredump-request-ack-too-big", PCA.SIZE_BIG, MARK_MAXSIZE,
             "an ack of size 32 (above the size_ack the kernel sent)"),
    _refused("coredump-request-ack-unknown-flag", PCA.FLAG_UNKNOWN, MARK_UNSUPPORTED,
             "an ack with a mask bit the request did not offer (1 << 5)"),
    _refused("coredump-request-ack-conflicting", PCA.CONFLICTING, MARK_CONFLICTING,
             "an ack asking for COREDUMP_KERNEL and COREDUMP_USERSPACE at once"),
    _refused("coredump-request-ack-spare", PCA.SPARE, MARK_UNSUPPORTED, "an ack with a non-zero spare field"),
)
