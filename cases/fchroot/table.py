"""fchroot(2) rows, one scenario each (kc_fchroot.c).  Ids are stable: never rename one.

Model (fs/open.c SYSCALL_DEFINE2(fchroot) and fs/failfs.c, 7.3): flags != 0 is EINVAL first;
for FD_FAILFS_ROOT a caller without CAP_SYS_CHROOT in its user namespace needs no_new_privs
(EPERM), fs->users == 1 (EINVAL: a CLONE_FS sibling could exec a setuid program past the
no_new_privs check) and !current_chrooted() (EPERM: moving to failfs would lift the old root's
'..' barrier); then set_fs_root().  failfs's ->permission() and ->d_weak_revalidate() return
EOPNOTSUPP, so every walk through the root fails; the cwd is not touched.  Unprivileged rows run
the subject as uid/gid 65534 without capabilities (DROPS_PRIVILEGES when run as root).
"""

from __future__ import annotations

from conformance.host import kernel
from conformance.suite.checks import Is
from conformance.suite.requirements import DROPS_PRIVILEGES, Cap, Feature, Requirement

from .model import (
    EINVAL,
    EOPNOTSUPP,
    EPERM,
    ExecFailed,
    FchrootCase,
    R,
    fails,
    ok,
    row,
)
from .wire import Before, FcRequest, Subject

FCHROOT: tuple[Requirement, ...] = (Feature("fchroot"),)
NNP: tuple[Requirement, ...] = (*FCHROOT, Feature("clone3"), Feature("clone3.nnp"), DROPS_PRIVILEGES)
UNPRIV: tuple[Requirement, ...] = (*FCHROOT, Feature("clone3"), DROPS_PRIVILEGES)
ROOT: tuple[Requirement, ...] = (*FCHROOT, Feature("clone3"), Cap(kernel.CAP_SYS_CHROOT))
ESCAPED = ("the subject's root is failfs: ")
SUBJECT_OK = (ok(), Is(R.nnp, 1), Is(R.probe_before, 0))
FOLLOW = FcRequest(follow_up=True)

CASES: tuple[FchrootCase, ...] = (
    # ---- flags ------------------------------------------------------------------------------------------
    row("flags-one", "flags", FcRequest(flags=1), fails(EINVAL), needs=NNP,
        doc="an unprivileged CLONE_NNP child, which could otherwise enter failfs"),
    row("flags-high-bit", "flags", FcRequest(flags=0x80000000), fails(EINVAL), needs=NNP),
    row("flags-before-privilege", "flags", FcRequest(subject=Subject.PLAIN, flags=1), fails(EINVAL), Is(R.nnp, 0),
        needs=UNPRIV, doc="without no_new_privs the call would be EPERM: the flags are checked first"),
    # ---- unprivileged rules ---------------------------------------------------------------------------
    row("unprivileged-without-nnp", "failfs_unprivileged", FcRequest(subject=Subject.PLAIN), fails(EPERM),
        Is(R.nnp, 0), needs=UNPRIV),
    row("clone-nnp-child", "failfs_unprivileged", FcRequest(), *SUBJECT_OK, Is(R.harness_nnp, 0), needs=NNP,
        doc="a clone3(CLONE_NNP) child has no_new_privs from birth (its parent does not) and may enter failfs"),
    row("prctl-nnp", "failfs_unprivileged", FcRequest(subject=Subject.PRCTL_NNP), *SUBJECT_OK, needs=UNPRIV,
        doc="PR_SET_NO_NEW_PRIVS set by the subject itself does the same"),
    row("clone-fs-sibling", "failfs_unprivileged", FcRequest(before=Before.CLONE_FS_SIBLING), fails(EINVAL),
        Is(R.before_res, 0), Is(R.nnp, 1), needs=NNP,
        doc="a parked clone3(CLONE_FS) child shares the subject's fs_struct (users 2): EINVAL, even with "
            "no_new_privs, since the sibling might exec a setuid program with the new root"),
    row("thread-shares-fs", "failfs_unprivileged", FcRequest(before=Before.THREAD), fails(EINVAL),
        Is(R.before_res, 0), Is(R.nthreads, 2), needs=NNP,
        doc="a second thread shares the fs_struct (CLONE_FS is part of every pthread): a multithreaded process "
            "cannot enter failfs unprivileged"),
    row("iowq-worker-shares-fs", "failfs_unprivileged", FcRequest(before=Before.IOWQ), fails(EINVAL),
        Is(R.before_res, 0), Is(R.nthreads, 2), needs=(*NNP, Feature("io_uring")),
        doc="an io-wq worker (iou-wrk-*, made by an IOSQE_ASYNC NOP and kept while the ring is open) is a "
            "create_io_thread() thread: CLONE_FS, so fs->users is 2 and the call is EINVAL"),
    row("sqpoll-thread-shares-fs", "failfs_unprivileged", FcRequest(before=Before.SQPOLL), fails(EINVAL),
        Is(R.before_res, 0), Is(R.nthreads, 2), needs=(*NNP, Feature("io_uring"), Feature("io_uring.sqpoll")),
        doc="the SQPOLL thread (iou-sqp-*) shares the fs_struct the same way"),
    row("already-failfs", "failfs_unprivileged", FcRequest(before=Before.FAILFS_TWICE), Is(R.ret2, 0),
        fails(EPERM), needs=NNP,
        doc="the first fchroot(FD_FAILFS_ROOT) works; the second is EPERM: failfs is not the mount namespace's "
            "root, so current_chrooted() is true"),
    row("already-chrooted", "failfs_unprivileged", FcRequest(before=Before.CHROOT), Is(R.before_res, 0),
        Is(R.euid, 65534), fails(EPERM), needs=(*NNP, Cap(kernel.CAP_SYS_CHROOT)),
        doc="the subject chroot()s into /proc while still root, drops to 65534, then asks for failfs: EPERM"),
    row("privileged-without-nnp", "failfs_unprivileged", FcRequest(subject=Subject.PLAIN, drop_privileges=False),
        ok(), Is(R.nnp, 0), needs=ROOT, doc="CAP_SYS_CHROOT skips the three unprivileged rules"),
    row("privileged-clone-fs-sibling", "failfs_unprivileged",
        FcRequest(subject=Subject.PLAIN, before=Before.CLONE_FS_SIBLING, drop_privileges=False), ok(),
        Is(R.before_res, 0), needs=ROOT, doc="with CAP_SYS_CHROOT a shared fs_struct does not matter"),
    # ---- the failfs root --------------------------------------------------------------------------------
    row("lookups-fail", "failfs_root", FOLLOW, *SUBJECT_OK, fails(EOPNOTSUPP, R.probe_after),
        fails(EOPNOTSUPP, R.root_after), ok(R.cwd_after), needs=NNP,
        doc=ESCAPED + "an absolute path (/proc, looked up fine just before) and '/' itself (O_PATH) are "
            "EOPNOTSUPP; the cwd (not moved by fchroot) still opens"),
    row("exec-by-path", "failfs_root", FOLLOW, *SUBJECT_OK, ExecFailed(R.exec_path_res, R.exec_path_status,
        EOPNOTSUPP), needs=NNP, doc=ESCAPED + "a fork() child's execve() of an absolute path fails"),
    row("exec-by-fd-interpreter", "failfs_root", FOLLOW, *SUBJECT_OK, ExecFailed(R.exec_fd_res, R.exec_fd_status,
        EOPNOTSUPP), needs=NNP,
        doc=ESCAPED + "execveat(fd, \"\", AT_EMPTY_PATH) of the same dynamic ELF, opened before fchroot: the "
            "binary needs no lookup, its PT_INTERP interpreter does, so the exec fails before the point of no "
            "return"),
    # ---- inherited and shared ---------------------------------------------------------------------------
    row("inherited-fork", "failfs_inherited", FOLLOW, *SUBJECT_OK, fails(EOPNOTSUPP, R.fork_probe), needs=NNP,
        doc="a fork() child of the subject gets a copy of its fs_struct: failfs root"),
    row("inherited-clone3", "failfs_inherited", FOLLOW, *SUBJECT_OK, fails(EOPNOTSUPP, R.clone3_probe), needs=NNP),
    row("shared-clone-fs", "failfs_inherited", FOLLOW, *SUBJECT_OK, fails(EOPNOTSUPP, R.clone3_fs_probe),
        fails(EINVAL, R.clone3_fs_fchroot), ok(R.clone3_fs_fchdir), fails(EOPNOTSUPP, R.cwd_after_sibling_fchdir),
        needs=NNP,
        doc="a clone3(CLONE_FS) child shares the fs_struct: failfs root; its own fchroot(FD_FAILFS_ROOT) is "
            "EINVAL (users 2); its fchdir(FD_FAILFS_ROOT) moves the shared cwd, so the subject's '.' then fails "
            "too"),
)
