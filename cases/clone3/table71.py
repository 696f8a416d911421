"""clone3 rows for the flags Linux 7.1 added: CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL, CLONE_EMPTY_MNTNS.

Validation rows run through the clone harness (kc_clone.c) and follow the order of
copy_process() in 7.1 (cases/kernel-facts.md §1.2): AUTOREAP with THREAD / PARENT /
exit_signal, CLONE_PARENT from an autoreaped process, NNP with THREAD, then AUTOKILL without
PIDFD / without AUTOREAP / with THREAD (EINVAL) and without NNP and CAP_SYS_ADMIN (EPERM).
The semantic rows of the same behaviours (no zombie, pidfd exit info, no_new_privs, kill on
close, the empty mount namespace) run on the pidfd family's scenario engine (kc_pidfd.c) and
live in cases/pidfd/clone71.py.  Every row needs the probe of its flag: an unknown flag is
EINVAL before 7.1, so older kernels skip them.
"""

from __future__ import annotations

import errno

from conformance.host.uapi import (
    CLONE_AUTOREAP,
    CLONE_EMPTY_MNTNS,
    CLONE_FS,
    CLONE_NNP,
    CLONE_PARENT,
    CLONE_PIDFD,
    CLONE_PIDFD_AUTOKILL,
)
from conformance.suite.requirements import Feature, Requirement

from .model import CLONE3, THREAD_FLAGS, CloneCase, c3, fails, thread
from .wire import CloneRequest as Req
from .wire import Ptr, Setup

EINVAL, EPERM, ECHILD = errno.EINVAL, errno.EPERM, errno.ECHILD
UNPRIV = Setup.DROP_PRIVILEGES
AUTOREAP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.autoreap"))
NNP: tuple[Requirement, ...] = (CLONE3, Feature("clone3.nnp"))
AUTOKILL: tuple[Requirement, ...] = (*AUTOREAP, Feature("clone3.pidfd_autokill"))
EMPTY: tuple[Requirement, ...] = (CLONE3, Feature("clone3.empty_mntns"))
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
