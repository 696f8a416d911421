"""Semantics of the clone3 flags Linux 7.1 added, on this family's scenario engine.

The rows report under the clone3 behaviours (``clone3.autoreap``, ``clone3.nnp``,
``clone3.pidfd_autokill``, ``clone3.empty_mntns``), which the clone3 family registers
with their probes; ``--family clone3`` selects them.  They live here because they are
kc_pidfd.c scenarios observed through pidfds; the validation rows of the same flags are
plain clone harness rows in cases/clone3/table71.py.
"""

from __future__ import annotations

import errno

from conformance._kc_pidfd_h import Clone71
from conformance.host.uapi import CLONE_NEWUSER, CLONE_NNP
from conformance.host.uapi import PIDFD_INFO_EXIT as INFO_EXIT
from conformance.suite.checks import AtLeast, Bits, ExitedWith, Is, SameAs
from conformance.suite.requirements import PRIVILEGED, Feature, Requirement

from .model import POLLHUP, POLLIN, SIGKILL, F, PidfdCase, S, V, fails, row

EINVAL, ECHILD = errno.EINVAL, errno.ECHILD
CLONE3 = Feature("clone3")
AUTOREAP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.autoreap"))
NNP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.nnp"))
AUTOKILL: tuple[Requirement, ...] = (*AUTOREAP, Feature("clone3.pidfd_autokill"))
EMPTY: tuple[Requirement, ...] = (CLONE3, Feature("clone3.empty_mntns"))
C71 = Clone71

KILLED = (Bits(F[V.REVENTS], POLLIN), Is(F[V.RET2], 0), Bits(F[V.INFO_MASK], INFO_EXIT),
    ExitedWith(F[V.INFO_EXIT], signal=SIGKILL),
          Is(F[V.PROC_GONE], 1))

CLONE71: tuple[PidfdCase, ...] = (
    row("autoreap-no-zombie", "clone3.autoreap", S.CLONE71, AtLeast(F[V.RET], 1), Is(F[V.REVENTS_EARLY], 0),
        Bits(F[V.REVENTS], POLLIN), Is(F[V.PROC_GONE], 1), fails(ECHILD, V.WAIT), fails(ECHILD, V.RET3),
        Is(F[V.SIGCHLD], 0), Is(F[V.RET2], 0), Bits(F[V.INFO_MASK], INFO_EXIT), ExitedWith(F[V.INFO_EXIT], 5),
        Bits(F[V.REVENTS_REAPED], POLLIN | POLLHUP), variant=C71.AUTOREAP, arg=5, needs=AUTOREAP,
        doc="no zombie (waitid ECHILD, /proc/<pid> gone), no SIGCHLD; the pidfd polls and PIDFD_INFO_EXIT gives "
        "the exit code"),
    row("autoreap-leader-first", "clone3.autoreap", S.CLONE71, Is(F[V.REVENTS_EARLY], 0),
        Is(F[V.ALIVE], 1), Bits(F[V.REVENTS], POLLIN), Is(F[V.PROC_GONE], 1), variant=C71.AUTOREAP_THREADS,
        needs=AUTOREAP, doc="reaping waits until the last thread has exited (7.3: the exited leader of an "
        "autoreaped group does not show as a zombie thread in /proc, so the row waits 3 s for it, then polls)"),
    row("autoreap-subreaper", "clone3.autoreap", S.CLONE71, AtLeast(F[V.RET], 1), AtLeast(F[V.RET3], 0),
        SameAs(F[V.INFO_PPID], F[V.SELF_PID]), Is(F[V.REVENTS_EARLY], 0), Bits(F[V.REVENTS], POLLIN),
        Is(F[V.PROC_GONE], 1),
        fails(ECHILD, V.WAIT), Is(F[V.RET2], 0), Bits(F[V.INFO_MASK], INFO_EXIT), ExitedWith(F[V.INFO_EXIT], 4),
        variant=C71.AUTOREAP_SUBREAPER, arg=4, needs=(*AUTOREAP, Feature("pidfd.info")),
        doc="kselftest pidfd_autoreap_test (reparenting to a subreaper): an ordinary child makes an autoreaped "
        "grandchild and exits; the grandchild is reparented to the harness (PR_SET_CHILD_SUBREAPER) and, when it "
        "exits, leaves no zombie there; PIDFD_INFO_EXIT still gives its exit code"),
    row("autoreap-not-inherited", "clone3.autoreap", S.CLONE71, Is(F[V.RET], 1), ExitedWith(F[V.STATUS], 9),
        variant=C71.AUTOREAP_GRANDCHILD, needs=AUTOREAP,
        doc="a fork of the autoreaped child is an ordinary child: a zombie until reaped"),
    row("autoreap-clone-parent", "clone3.autoreap", S.CLONE71, fails(EINVAL), variant=C71.PARENT_FROM_AUTOREAP,
        needs=AUTOREAP, doc="CLONE_PARENT from a process that is itself autoreaped"),
    row("clone-parent-control", "clone3.threads", S.CLONE71, AtLeast(F[V.RET], 1), ExitedWith(F[V.STATUS], 0),
        variant=C71.PARENT_CONTROL, needs=(CLONE3,),
        doc="control for autoreap-clone-parent: from an ordinary child CLONE_PARENT (exit_signal 0) works"),
    row("nnp-child-only", "clone3.nnp", S.CLONE71, AtLeast(F[V.RET], 1), Is(F[V.NNP_CHILD], 1), Is(F[V.NNP_PARENT], 0),
        variant=C71.NNP, needs=NNP),
    row("autokill-nnp-close-kills", "clone3.pidfd_autokill", S.CLONE71, AtLeast(F[V.RET], 1), *KILLED,
        variant=C71.AUTOKILL_CLOSE, clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="closing the clone3 pidfd SIGKILLs the child (seen through a pidfd_open() pidfd)"),
    row("autokill-nnp-unprivileged", "clone3.pidfd_autokill", S.CLONE71, AtLeast(F[V.RET], 1), *KILLED,
        variant=C71.AUTOKILL_CLOSE, clone_flags=CLONE_NNP, drop=True, needs=AUTOKILL),
    row("autokill-privileged-without-nnp", "clone3.pidfd_autokill", S.CLONE71, AtLeast(F[V.RET], 1), *KILLED,
        variant=C71.AUTOKILL_CLOSE, needs=(*AUTOKILL, PRIVILEGED)),
    row("autokill-pidfd-open-close-keeps", "clone3.pidfd_autokill", S.CLONE71, Is(F[V.ALIVE], 1), *KILLED,
        variant=C71.AUTOKILL_PIDFD_OPEN, clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="a pidfd_open() pidfd of the same child does not arm the kill"),
    row("autokill-dup-close-keeps", "clone3.pidfd_autokill", S.CLONE71, Is(F[V.ALIVE], 1), *KILLED,
        variant=C71.AUTOKILL_DUP, clone_flags=CLONE_NNP, needs=AUTOKILL,
        doc="the kill comes when the file is finally released, not at the close of one dup"),
    row("empty-mntns-one-mount", "clone3.empty_mntns", S.CLONE71, AtLeast(F[V.RET], 1), Is(F[V.MOUNTS], 1),
        Is(F[V.ROOT_ENTRIES], 0), variant=C71.EMPTY_MNTNS, needs=(*EMPTY, PRIVILEGED),
        doc="listmount(LSMT_ROOT) in the child sees one mount; its root directory is empty"),
    row("empty-mntns-userns", "clone3.empty_mntns", S.CLONE71, AtLeast(F[V.RET], 1), Is(F[V.MOUNTS], 1),
        Is(F[V.ROOT_ENTRIES], 0), variant=C71.EMPTY_MNTNS, clone_flags=CLONE_NEWUSER,
        needs=(*EMPTY, Feature("userns"))),
)
