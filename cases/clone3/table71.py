"""clone3 rows for the flags Linux 7.1 added: CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL, CLONE_EMPTY_MNTNS.

Validation rows run through the clone harness (kc_clone.c) and follow the order of
copy_process() in 7.1 (kernel-history.md section 9.1): AUTOREAP with THREAD / PARENT /
exit_signal, CLONE_PARENT from an autoreaped process, NNP with THREAD, then AUTOKILL without
PIDFD / without AUTOREAP / with THREAD (EINVAL) and without NNP and CAP_SYS_ADMIN (EPERM).
Semantic rows (no zombie, pidfd exit info, no_new_privs, kill on close, the empty mount
namespace) are kc_pidfd.c scenarios, a second case type of this table.  Every row needs the
probe of its flag: an unknown flag is EINVAL before 7.1, so older kernels skip them.
"""

from __future__ import annotations

import errno

from conformance.native import CloneRequest as Req
from conformance.native import Ptr, Setup
from conformance.requirements import PRIVILEGED, Feature, Requirement
from conformance.uapi import (
    CLONE_AUTOREAP,
    CLONE_EMPTY_MNTNS,
    CLONE_FS,
    CLONE_NEWUSER,
    CLONE_NNP,
    CLONE_PARENT,
    CLONE_PIDFD,
    CLONE_PIDFD_AUTOKILL,
)

from ..pidfd.model import (
    INFO_EXIT,
    POLLHUP,
    POLLIN,
    SIGKILL,
    Bits,
    Eq,
    Exited,
    K,
    PidfdCase,
    Positive,
    S,
    V,
    row,
)
from ..pidfd.model import (
    fails as pfails,
)
from .model import CLONE3, THREAD_FLAGS, CloneCase, c3, fails, thread

EINVAL, EPERM, ECHILD = errno.EINVAL, errno.EPERM, errno.ECHILD
UNPRIV = Setup.DROP_PRIVILEGES
AUTOREAP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.autoreap"))
NNP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.nnp"))
AUTOKILL: tuple[Requirement, ...] = (*AUTOREAP, Feature("clone3.pidfd_autokill"))
EMPTY: tuple[Requirement, ...] = (CLONE3, Feature("clone3.empty_mntns"))
C71 = {n: K(f"C71_{n}") for n in ("AUTOREAP", "AUTOREAP_GRANDCHILD", "PARENT_FROM_AUTOREAP", "PARENT_CONTROL",
                                  "NNP", "AUTOKILL_CLOSE", "AUTOKILL_PIDFD_OPEN", "AUTOKILL_DUP", "EMPTY_MNTNS",
                                  "AUTOREAP_THREADS")}
AK = CLONE_PIDFD | CLONE_AUTOREAP | CLONE_PIDFD_AUTOKILL

VALIDATION: tuple[CloneCase, ...] = (
    c3("autoreap-thread", "autoreap", fails(EINVAL), thread(flags=THREAD_FLAGS | CLONE_AUTOREAP), needs=AUTOREAP),
    c3("autoreap-parent", "autoreap", fails(EINVAL), Req(flags=CLONE_AUTOREAP | CLONE_PARENT, exit_signal=0),
       needs=AUTOREAP),
    c3("autoreap-exit-signal", "autoreap", fails(EINVAL), Req(flags=CLONE_AUTOREAP, exit_signal=17),
       needs=AUTOREAP),
    c3("nnp-thread", "nnp", fails(EINVAL), thread(flags=THREAD_FLAGS | CLONE_NNP), needs=NNP),
    c3("autokill-without-pidfd", "pidfd_autokill", fails(EINVAL),
       Req(flags=CLONE_AUTOREAP | CLONE_PIDFD_AUTOKILL | CLONE_NNP, exit_signal=0), needs=AUTOKILL),
    c3("autokill-without-autoreap", "pidfd_autokill", fails(EINVAL),
       Req(flags=CLONE_PIDFD | CLONE_PIDFD_AUTOKILL | CLONE_NNP, pidfd=Ptr.VALID), needs=AUTOKILL),
    c3("autokill-thread", "pidfd_autokill", fails(EINVAL),
       thread(flags=THREAD_FLAGS | AK | CLONE_NNP, pidfd=Ptr.VALID), needs=AUTOKILL,
       doc="AUTOKILL needs AUTOREAP, and AUTOREAP with THREAD is checked first: the THREAD rule of AUTOKILL "
       "cannot be reached alone"),
    c3("autokill-without-nnp-unprivileged", "pidfd_autokill", fails(EPERM),
       Req(flags=AK, exit_signal=0, pidfd=Ptr.VALID, setup=UNPRIV), needs=AUTOKILL),
    c3("autokill-without-pidfd-unprivileged", "pidfd_autokill", fails(EINVAL),
       Req(flags=CLONE_AUTOREAP | CLONE_PIDFD_AUTOKILL, exit_signal=0, setup=UNPRIV), needs=AUTOKILL,
       doc="order: the EINVAL rules come before the EPERM one"),
    c3("autokill-without-autoreap-unprivileged", "pidfd_autokill", fails(EINVAL),
       Req(flags=CLONE_PIDFD | CLONE_PIDFD_AUTOKILL, pidfd=Ptr.VALID, setup=UNPRIV), needs=AUTOKILL,
       doc="order: the EINVAL rules come before the EPERM one"),
    c3("empty-mntns-fs", "empty_mntns", fails(EINVAL), Req(flags=CLONE_EMPTY_MNTNS | CLONE_FS), needs=EMPTY,
       doc="EMPTY_MNTNS implies CLONE_NEWNS before copy_process(), so NEWNS|FS applies"),
    c3("empty-mntns-fs-unprivileged", "empty_mntns", fails(EINVAL),
       Req(flags=CLONE_EMPTY_MNTNS | CLONE_FS, setup=UNPRIV), needs=EMPTY,
       doc="order: the flag check comes before the capability check of copy_namespaces()"),
    c3("empty-mntns-unprivileged", "empty_mntns", fails(EPERM), Req(flags=CLONE_EMPTY_MNTNS, setup=UNPRIV),
       needs=EMPTY),
)

KILLED = (Bits(V.REVENTS, POLLIN), Eq(V.RET2, 0), Bits(V.INFO_MASK, INFO_EXIT), Exited(V.INFO_EXIT, signal=SIGKILL),
          Eq(V.PROC_GONE, 1))

SEMANTICS: tuple[PidfdCase, ...] = (
    row("autoreap-no-zombie", "clone3.autoreap", S.CLONE71, Positive(V.RET), Eq(V.REVENTS_EARLY, 0),
        Bits(V.REVENTS, POLLIN), Eq(V.PROC_GONE, 1), pfails(ECHILD, V.WAIT), pfails(ECHILD, V.RET3),
        Eq(V.SIGCHLD, 0), Eq(V.RET2, 0), Bits(V.INFO_MASK, INFO_EXIT), Exited(V.INFO_EXIT, 5),
        Bits(V.REVENTS_REAPED, POLLIN | POLLHUP), variant=C71["AUTOREAP"], arg=5, needs=AUTOREAP,
        doc="no zombie (waitid ECHILD, /proc/<pid> gone), no SIGCHLD; the pidfd polls and PIDFD_INFO_EXIT gives "
        "the exit code"),
    row("autoreap-leader-first", "clone3.autoreap", S.CLONE71, Eq(V.REVENTS_EARLY, 0),
        Eq(V.ALIVE, 1), Bits(V.REVENTS, POLLIN), Eq(V.PROC_GONE, 1), variant=C71["AUTOREAP_THREADS"],
        needs=AUTOREAP, doc="reaping waits until the last thread has exited (7.3: the exited leader of an "
        "autoreaped group does not show as a zombie thread in /proc, so the row waits 3 s for it, then polls)"),
    row("autoreap-not-inherited", "clone3.autoreap", S.CLONE71, Eq(V.RET, 1), Exited(V.STATUS, 9),
        variant=C71["AUTOREAP_GRANDCHILD"], needs=AUTOREAP,
        doc="a fork of the autoreaped child is an ordinary child: a zombie until reaped"),
    row("autoreap-clone-parent", "clone3.autoreap", S.CLONE71, pfails(EINVAL), variant=C71["PARENT_FROM_AUTOREAP"],
        needs=AUTOREAP, doc="CLONE_PARENT from a process that is itself autoreaped"),
    row("clone-parent-control", "clone3.threads", S.CLONE71, Positive(V.RET), Exited(V.STATUS, 0),
        variant=C71["PARENT_CONTROL"], needs=(CLONE3,),
        doc="control for autoreap-clone-parent: from an ordinary child CLONE_PARENT (exit_signal 0) works"),
    row("nnp-child-only", "clone3.nnp", S.CLONE71, Positive(V.RET), Eq(V.NNP_CHILD, 1), Eq(V.NNP_PARENT, 0),
        variant=C71["NNP"], needs=NNP),
    row("autokill-nnp-close-kills", "clone3.pidfd_autokill", S.CLONE71, Positive(V.RET), *KILLED,
        variant=C71["AUTOKILL_CLOSE"], clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="closing the clone3 pidfd SIGKILLs the child (seen through a pidfd_open() pidfd)"),
    row("autokill-nnp-unprivileged", "clone3.pidfd_autokill", S.CLONE71, Positive(V.RET), *KILLED,
        variant=C71["AUTOKILL_CLOSE"], clone_flags=CLONE_NNP, drop=True, needs=AUTOKILL),
    row("autokill-privileged-without-nnp", "clone3.pidfd_autokill", S.CLONE71, Positive(V.RET), *KILLED,
        variant=C71["AUTOKILL_CLOSE"], needs=(*AUTOKILL, PRIVILEGED)),
    row("autokill-pidfd-open-close-keeps", "clone3.pidfd_autokill", S.CLONE71, Eq(V.ALIVE, 1), *KILLED,
        variant=C71["AUTOKILL_PIDFD_OPEN"], clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="a pidfd_open() pidfd of the same child does not arm the kill"),
    row("autokill-dup-close-keeps", "clone3.pidfd_autokill", S.CLONE71, Eq(V.ALIVE, 1), *KILLED,
        variant=C71["AUTOKILL_DUP"], clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="the kill comes when the file is finally released, not at the close of one dup"),
    row("empty-mntns-one-mount", "clone3.empty_mntns", S.CLONE71, Positive(V.RET), Eq(V.MOUNTS, 1),
        Eq(V.ROOT_ENTRIES, 0), variant=C71["EMPTY_MNTNS"], needs=(*EMPTY, PRIVILEGED),
        doc="listmount(LSMT_ROOT) in the child sees one mount; its root directory is empty"),
    row("empty-mntns-userns", "clone3.empty_mntns", S.CLONE71, Positive(V.RET), Eq(V.MOUNTS, 1),
        Eq(V.ROOT_ENTRIES, 0), variant=C71["EMPTY_MNTNS"], clone_flags=CLONE_NEWUSER,
        needs=(*EMPTY, Feature("userns"))),
)
