"""fchroot(2) and the failfs root (7.3) across process creation.

A small family of its own rather than rows of clone3: the call under test is fchroot(), whose
rules (no_new_privs, an unshared fs_struct, not already chrooted) are about the calling task, and
whose effect (a root on which every lookup fails) is seen in the children the task creates with
fork, clone3 and clone3(CLONE_FS) and in its execs.  The scenarios are C (native_helpers/kc_fchroot.c)
run in the process server; clone3's own harness and tables stay untouched.
"""

from __future__ import annotations

import errno

from conformance import native
from conformance.suite.registry import Behaviour, Family, Probe, State, classify_errno

# "fs: add fchroot()" and "fs: support FD_FAILFS_ROOT in fchroot()" (Christian Brauner, vfs-7.3.failfs,
# with "fs: add failfs" fa0d6d945e5c and "arch: hookup fchroot() system call" 79d27fd71854).
FCHROOT_COMMIT = "20370a5f5d9b"
FAILFS_COMMIT = "b1221afa31cc"


def probe_fchroot() -> tuple[State, str]:
    # fchroot(FD_FAILFS_ROOT, 1): the flags are checked before anything else, so nothing changes;
    # EINVAL where the call exists, ENOSYS where syscall 472 is unknown.
    ret = int(native.call("kc_fc_probe"))
    said = "succeeded" if ret >= 0 else native.errno_name(-ret)
    return classify_errno(-ret, (errno.EINVAL,), (errno.ENOSYS,)), f"fchroot(FD_FAILFS_ROOT, 1) gave {said}"


def _b(id: str, statement: str, commit: str) -> Behaviour:
    return Behaviour(id, statement, "7.3", commit, "fchroot")


FAMILY = Family(
    "fchroot",
    behaviours=(
        _b("fchroot.flags", "fchroot(fd, flags) with any flag is EINVAL, checked before the descriptor and before "
           "any privilege rule", FCHROOT_COMMIT),
        _b("fchroot.failfs_unprivileged", "without CAP_SYS_CHROOT, fchroot(FD_FAILFS_ROOT, 0) needs no_new_privs "
           "(else EPERM; a CLONE_NNP child or PR_SET_NO_NEW_PRIVS has it), an fs_struct no other task shares (a "
           "CLONE_FS sibling, a second thread, an io-wq worker or the SQPOLL thread makes it EINVAL) and a task "
           "not already chrooted (EPERM; the failfs root itself counts, so a second call is EPERM); with "
           "CAP_SYS_CHROOT none of these apply", FAILFS_COMMIT),
        _b("fchroot.failfs_root", "after fchroot(FD_FAILFS_ROOT, 0) every absolute lookup and the root itself are "
           "EOPNOTSUPP while the cwd is left alone; exec by path fails with EOPNOTSUPP and so does exec by "
           "descriptor of a dynamic ELF (its interpreter is looked up)", FAILFS_COMMIT),
        _b("fchroot.failfs_inherited", "the failfs root is inherited by fork() and clone3() children and shared "
           "with clone3(CLONE_FS) children, whose own fchroot(FD_FAILFS_ROOT) is EINVAL (the fs_struct is shared) "
           "and whose fchdir(FD_FAILFS_ROOT) moves the creator's cwd as well", FAILFS_COMMIT),
    ),
    probes=(
        Probe("fchroot", "fchroot() with FD_FAILFS_ROOT", "7.3", FCHROOT_COMMIT, probe_fchroot),
    ),
)
