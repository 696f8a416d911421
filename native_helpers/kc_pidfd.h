/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: pidfd scenarios (pidfd_open, poll, waitid P_PIDFD,
 * pidfd_send_signal, pidfd_getfd, pidfs, PIDFD_GET_INFO, thread pidfds,
 * pidfds of user workers, and the clone3 7.1 flags AUTOREAP / NNP /
 * PIDFD_AUTOKILL / EMPTY_MNTNS).
 *
 * One call runs one scenario in a fresh harness process (a raw clone, its
 * own process group).  The harness creates every target process in C, does
 * the pidfd work, kills and reaps what it made (bounded) and sends one
 * struct kc_pfd_res back.  A result is a set of typed slots (KC_PV_*): each
 * scenario fills the slots it observed and marks them present.
 *
 * native_helpers/build.py turns this header into the cffi cdef: keep it to
 * plain declarations, fixed-width struct fields and integer #defines.
 */
#ifndef KC_PIDFD_H
#define KC_PIDFD_H

#include <stdint.h>

#include "kc_harness.h"

#define KC_PFD_NV 112
#define KC_PFD_TEXT 768

/* scenarios (struct kc_pfd_req.scenario) and their variants */
#define KC_PS_OPEN 1          /* pidfd_open(target, flags): variant = KC_PT_* */
#define KC_PS_POLL 2          /* variant = KC_PP_* */
#define KC_PS_WAITID 3        /* variant = KC_PW_* */
#define KC_PS_SIGNAL 4        /* variant = KC_PSIG_* */
#define KC_PS_SCOPE 5         /* variant 0: tgid pidfd, 1: thread pidfd of the non-leader; flags = send flags */
#define KC_PS_GETFD 6         /* variant = KC_PG_* */
#define KC_PS_PIDFS 7         /* variant = KC_PF_* */
#define KC_PS_NSIOCTL 8       /* variant = 1..10: the PIDFD_GET_*_NAMESPACE ioctl number */
#define KC_PS_SETNS 9         /* variant = KC_PN_* */
#define KC_PS_FHANDLE 10      /* variant = KC_PH_* */
#define KC_PS_INFO 11         /* variant = KC_PI_*; arg = struct size or exit code */
#define KC_PS_THREAD 12       /* variant = KC_PTH_* */
#define KC_PS_WORKER 13       /* variant = KC_WK_* (which worker); arg = KC_WO_* (what) */
#define KC_PS_CLONE71 14      /* variant = KC_C71_* */
#define KC_PS_COREDUMP 15     /* the coredump socket: variant = KC_PC_*; arg = KC_PCI_* or KC_PCA_* */
#define KC_PS_REAP_RACE 16    /* arg rounds, flags budget ms: GET_INFO(EXIT) in a thread against the reap */

/* KC_PS_OPEN targets */
#define KC_PT_CHILD 0
#define KC_PT_MINUS1 1
#define KC_PT_ZERO 2
#define KC_PT_UNUSED 3        /* arg: a pid not in use */
#define KC_PT_NONLEADER 4     /* the second thread of a child */
#define KC_PT_REAPED 5
#define KC_PT_ZOMBIE 6
#define KC_PT_SELF 7

/* KC_PS_POLL */
#define KC_PP_EXIT 0          /* running, exited (zombie), reaped */
#define KC_PP_THREAD_EXEC 1   /* a non-leader thread execs /bin/sh */
#define KC_PP_LEADER_FIRST 2  /* the leader thread exits before the other thread */
#define KC_PP_KILL_ROUNDS 3   /* arg rounds: fork, pidfd_open, SIGKILL by pidfd, POLLIN within 3 s */

/* KC_PS_WAITID */
#define KC_PW_EXITED 0        /* child exits arg */
#define KC_PW_KILLED 1
#define KC_PW_STOPPED 2
#define KC_PW_CONTINUED 3
#define KC_PW_PARENT_TID 4    /* clone3 CLONE_PIDFD|CLONE_PARENT_SETTID child */
#define KC_PW_NONBLOCK 5      /* PIDFD_NONBLOCK pidfd, running child, no WNOHANG */
#define KC_PW_NONBLOCK_WNOHANG 6
#define KC_PW_NOT_CHILD 7     /* pidfd of a process that is not a child */
#define KC_PW_PROC_DIRFD 8    /* a /proc/<pid> directory fd */
#define KC_PW_DEVNULL 9
#define KC_PW_NEGATIVE 10
#define KC_PW_CLOSED 11
#define KC_PW_TWICE 12        /* a second waitid after the reap */
#define KC_PW_NONBLOCK_NOT_CHILD 13
#define KC_PW_NONBLOCK_CLEARED 14 /* EAGAIN, then F_SETFL clears O_NONBLOCK and waitid blocks until the exit */

/* KC_PS_SIGNAL */
#define KC_PSIG_DELIVER 0     /* SIGUSR1 to a child with a handler */
#define KC_PSIG_REAPED 1
#define KC_PSIG_ZOMBIE 2
#define KC_PSIG_PROC_DIRFD 3  /* a /proc/self dirfd, to the caller itself */
#define KC_PSIG_INFO_SELF 4   /* siginfo with si_code SI_USER to the caller itself */
#define KC_PSIG_INFO_OTHER_USER 5
#define KC_PSIG_INFO_OTHER_QUEUE 6
#define KC_PSIG_INFO_MISMATCH 7
#define KC_PSIG_BAD_FLAGS 8
#define KC_PSIG_TWO_SCOPES 9
#define KC_PSIG_ZERO 10
#define KC_PSIG_SELF_THREAD 11
#define KC_PSIG_SELF_PROCESS 12
#define KC_PSIG_OTHER_UID 13  /* unprivileged sender, target of another uid */
#define KC_PSIG_THREAD_GONE 14 /* thread pidfd of a thread that exited */
#define KC_PSIG_NOT_PIDFD 15  /* /dev/null fd */
#define KC_PSIG_RECYCLED 16   /* root: a new process gets the reaped one's pid (clone3 set_tid) */
#define KC_PSIG_BAD_SIG 17    /* arg: the signal number */

/* KC_PS_GETFD */
#define KC_PG_SAME 0
#define KC_PG_BADFD 1
#define KC_PG_FLAGS 2
#define KC_PG_NONDUMPABLE 3   /* unprivileged caller, same uid, non-dumpable target */
#define KC_PG_OTHER_UID 4
#define KC_PG_REAPED 5
#define KC_PG_NONDUMPABLE_ROOT 6
#define KC_PG_NOT_PIDFD 7     /* pidfd_getfd on a /dev/null fd */
#define KC_PG_KILLED 8        /* SIGKILLed, polled readable, not reaped */

/* KC_PS_PIDFS */
#define KC_PF_INO 0           /* two pidfds of one process and one of another */
#define KC_PF_STATFS 1
#define KC_PF_READLINK 2
#define KC_PF_FDINFO 3        /* live child */
#define KC_PF_FDINFO_REAPED 4
#define KC_PF_FDINFO_NESTED 5 /* child in a new pid namespace */
#define KC_PF_FDINFO_SIBLING 6 /* read from a sibling pid namespace */
#define KC_PF_FCHOWN 7
#define KC_PF_FCHMOD 8
#define KC_PF_EXECVEAT 9
#define KC_PF_INO_REUSE 10    /* inode of a pidfd of a new process after the first is reaped */
#define KC_PF_XATTR 11        /* trusted.* set/get/list on the pidfs inode, close, pidfd_open again, get, remove */
#define KC_PF_BIND_MOUNT 12   /* in a private mount namespace: open_tree(pidfd) + move_mount onto a file */

/* KC_PS_SETNS */
#define KC_PN_UTS 0
#define KC_PN_USER_UTS 1
#define KC_PN_NO_FLAGS 2
#define KC_PN_BAD_FLAGS 3
#define KC_PN_EXITED 4        /* setns(pidfd of a reaped child, CLONE_NEWUTS) */
#define KC_PN_NOT_NSFD 5      /* setns(memfd, 0) */
#define KC_PN_NO_FOUL_PLAY 6  /* kids 1, 2 in new namespaces (own user ns each): join kid 1's, then try kid 2's */
#define KC_PN_INCREMENTAL 7   /* setns(pidfd, one CLONE_NEW* at a time) into such a kid, user first */
#define KC_PN_MIXED 8         /* join a user+uts kid's user ns, setns(pidfd, req.flags), then CLONE_NEWUTS alone */

/* KC_PS_FHANDLE */
#define KC_PH_LIVE 0
#define KC_PH_ZOMBIE 1
#define KC_PH_REAPED 2
#define KC_PH_THREAD_FLAG 3
#define KC_PH_BAD_FLAG 4
#define KC_PH_CHILD_PIDNS 5   /* the target lives in a child pid namespace of the decoder */
#define KC_PH_FOREIGN_PIDNS 6 /* target in one new pid namespace, decoded from a sibling one */
#define KC_PH_LOOKUP 7        /* openat(decoded pidfd, "x") */
#define KC_PH_FID 8           /* name_to_handle_at(..., AT_HANDLE_FID) */
#define KC_PH_CONNECTABLE 9   /* name_to_handle_at(..., AT_HANDLE_CONNECTABLE) */

/* KC_PS_INFO */
#define KC_PI_BASIC 0
#define KC_PI_CREDS 1         /* root: the child switches to distinct r/e/s ids */
#define KC_PI_SIZE 2          /* arg: ioctl size */
#define KC_PI_NULL 3
#define KC_PI_REAPED 4        /* no PIDFD_INFO_EXIT */
#define KC_PI_EXIT 5          /* arg: exit code */
#define KC_PI_KILLED 6
#define KC_PI_ZOMBIE 7
#define KC_PI_REMOTE 8        /* from inside a new pid namespace about its parent */
#define KC_PI_CORE_CRASH 9    /* non-dumpable child crashes with SIGSEGV */
#define KC_PI_CORE_LIVE 10    /* dumpable live child */
#define KC_PI_SUPPORTED 11
#define KC_PI_NOT_PIDFD 12
#define KC_PI_THREAD 13       /* thread pidfd of the non-leader */
#define KC_PI_UNKNOWN_MASK 14
#define KC_PI_EXIT_PIDNS 15   /* arg exit code: a reaper inside a new pid namespace asks for its child */
#define KC_PI_EXEC_THREAD 16  /* a non-leader execs /bin/sh: its own thread pidfd; arg 1: the leader exits first */
#define KC_PI_EXEC_LEADER 17  /* the same: the process pidfd and the leader's thread pidfd, then SIGKILL, reap */
#define KC_PI_CORE_DUMPED 18  /* a dumpable kid crashes with a core written (see sc_info) */

/* KC_PS_THREAD */
#define KC_PTH_THREAD_EXIT 0  /* the non-leader exits: its pidfd polls, the tgid pidfd does not */
#define KC_PTH_LEADER_EXIT 1  /* the leader exits first: its thread pidfd polls, the tgid pidfd does not */
#define KC_PTH_CLONE3 2       /* clone3(CLONE_THREAD|CLONE_PIDFD): the pidfd is a thread pidfd */

/* KC_PS_WORKER: which worker */
#define KC_WK_IOWQ 0
#define KC_WK_SQPOLL 1
#define KC_WK_VHOST 2
#define KC_WK_VHOST_KTHREAD 3 /* VHOST_SET_FORK_FROM_OWNER(0) first where it exists (6.17+); 6.1-6.3: always */
/* KC_PS_WORKER: what (req.arg) */
#define KC_WO_OPEN 0          /* pidfd_open(worker, 0) and (worker, PIDFD_THREAD) */
#define KC_WO_INFO 1
#define KC_WO_SIGNAL 2        /* SIGUSR1 through the thread pidfd; the owner handles SIGUSR1 */
#define KC_WO_CLOSE 3         /* closing a worker's pidfds kills nothing */
#define KC_WO_AUTOKILL_FLAG 4 /* pidfd_open(worker, PIDFD_THREAD|O_TRUNC) */
#define KC_WO_AUTOKILL_OWNER 5 /* an AUTOKILL child owning the worker; close its pidfd */

/* KC_PS_CLONE71 */
#define KC_C71_AUTOREAP 0     /* exit arg: no zombie, no SIGCHLD, pidfd polls, INFO_EXIT */
#define KC_C71_AUTOREAP_GRANDCHILD 1 /* the autoreaped child's own child is a normal zombie */
#define KC_C71_PARENT_FROM_AUTOREAP 2 /* clone3(CLONE_PARENT) from an autoreaped child */
#define KC_C71_PARENT_CONTROL 3 /* the same from a normal child (succeeds) */
#define KC_C71_NNP 4
#define KC_C71_AUTOKILL_CLOSE 5
#define KC_C71_AUTOKILL_PIDFD_OPEN 6 /* closing a pidfd_open() pidfd of the child */
#define KC_C71_AUTOKILL_DUP 7 /* closing one of two dups */
#define KC_C71_EMPTY_MNTNS 8
#define KC_C71_AUTOREAP_THREADS 9 /* autoreaped child whose leader exits before its thread */
#define KC_C71_AUTOREAP_SUBREAPER 10 /* exit arg: an autoreaped grandchild reparented to the harness (subreaper) */

/* KC_PS_COREDUMP: the harness writes kernel.core_pattern (the row declares it; the harness also puts the
 * saved value back itself), listens on an AF_UNIX socket in a private scratch directory and serves
 * the dump of a dumpable kid that crashes (every wait bounded) */
#define KC_PC_SOCKET_SEGV 0   /* "@<sock>": the kid faults on an unmapped address (SEGV_MAPERR) */
#define KC_PC_SOCKET_ABORT 1  /* "@<sock>": the kid sends itself SIGABRT (tgkill: SI_TKILL) */
#define KC_PC_CLIENT 2        /* "@<sock>": the harness connects as an ordinary client */
#define KC_PC_NO_LISTENER 3   /* "@<sock>": the socket is bound but nobody listens; the kid faults */
#define KC_PC_INVALID 4       /* write an invalid pattern (arg = KC_PCI_*): the answer, then the value */
#define KC_PC_REQUEST 5       /* "@@<sock>": the request/ack protocol; arg = KC_PCA_* (the answer sent) */
#define KC_PCI_SPACE 0        /* "@ /kc" */
#define KC_PCI_RELATIVE 1     /* "@../kc" */
#define KC_PCI_DOTDOT 2       /* "@/kc/.." */
#define KC_PCI_ATATAT 3       /* "@@@" */
#define KC_PCA_KERNEL 0       /* ack {16, 0, COREDUMP_KERNEL} */
#define KC_PCA_USERSPACE 1    /* ack {16, 0, COREDUMP_USERSPACE} */
#define KC_PCA_REJECT 2       /* ack {16, 0, COREDUMP_REJECT} */
#define KC_PCA_SIZE_SMALL 3   /* ack size 8 */
#define KC_PCA_SIZE_BIG 4     /* ack size 32 (32 bytes sent) */
#define KC_PCA_FLAG_UNKNOWN 5 /* mask COREDUMP_KERNEL | 1 << 5 */
#define KC_PCA_CONFLICTING 6  /* mask COREDUMP_KERNEL | COREDUMP_USERSPACE */
#define KC_PCA_SPARE 7        /* spare 1 */

/* result slots */
#define KC_PV_RET 0
#define KC_PV_RET2 1
#define KC_PV_RET3 2
#define KC_PV_FD_FLAGS 3
#define KC_PV_FL_FLAGS 4
#define KC_PV_REVENTS_EARLY 5
#define KC_PV_REVENTS 6
#define KC_PV_REVENTS_REAPED 7
#define KC_PV_STATUS 8
#define KC_PV_CHILD_PID 9
#define KC_PV_CHILD_TID 10
#define KC_PV_SELF_PID 11
#define KC_PV_SI_PID 12
#define KC_PV_SI_CODE 13
#define KC_PV_SI_STATUS 14
#define KC_PV_SI_SIGNO 15
#define KC_PV_SI_VALUE 16
#define KC_PV_SI_UID 17
#define KC_PV_PARENT_TID 18
#define KC_PV_HITS 19
#define KC_PV_HANDLER_TID 20
#define KC_PV_PEND_LEADER 21
#define KC_PV_PEND_THREAD 22
#define KC_PV_PEND_SHARED 23
#define KC_PV_PEND_PEER 24
#define KC_PV_INO1 25
#define KC_PV_INO2 26
#define KC_PV_INO3 27
#define KC_PV_FSTYPE 28
#define KC_PV_KCMP 29
#define KC_PV_INFO_MASK 30
#define KC_PV_INFO_PID 31
#define KC_PV_INFO_TGID 32
#define KC_PV_INFO_PPID 33
#define KC_PV_INFO_RUID 34
#define KC_PV_INFO_EUID 35
#define KC_PV_INFO_SUID 36
#define KC_PV_INFO_FSUID 37
#define KC_PV_INFO_RGID 38
#define KC_PV_INFO_EGID 39
#define KC_PV_INFO_SGID 40
#define KC_PV_INFO_FSGID 41
#define KC_PV_INFO_CGROUPID 42
#define KC_PV_INFO_EXIT 43
#define KC_PV_INFO_CORE_MASK 44
#define KC_PV_INFO_CORE_SIGNAL 45
#define KC_PV_INFO_SUPPORTED 46
#define KC_PV_CH_RUID 47
#define KC_PV_CH_EUID 48
#define KC_PV_CH_SUID 49
#define KC_PV_CH_FSUID 50
#define KC_PV_CH_RGID 51
#define KC_PV_CH_EGID 52
#define KC_PV_CH_SGID 53
#define KC_PV_CH_FSGID 54
#define KC_PV_CH_PPID 55
#define KC_PV_CGROUP_ID 56
#define KC_PV_NS_IOCTL 57
#define KC_PV_NS_PROC 58
#define KC_PV_NNP_CHILD 59
#define KC_PV_NNP_PARENT 60
#define KC_PV_MOUNTS 61
#define KC_PV_ALIVE 62        /* 1: the target was still alive after the action */
#define KC_PV_WAIT 63         /* waitid/waitpid on the target: pid, 0 or -errno */
#define KC_PV_SIGCHLD 64      /* SIGCHLD pending in the caller (1/0) */
#define KC_PV_ROUNDS 65
#define KC_PV_WORKER_TID 66
#define KC_PV_OWNER_PID 67
#define KC_PV_OWNER_ALIVE 68
#define KC_PV_WORKER_ALIVE 69
#define KC_PV_ROOT_ENTRIES 70
#define KC_PV_PROC_GONE 71    /* /proc/<pid> absent after the exit (1/0) */
#define KC_PV_REVENTS2 72
#define KC_PV_INFO_TRUNC 73   /* 1: bytes beyond the struct size were left untouched */
#define KC_PV_OWNER_UID 74
#define KC_PV_CORE_MASK_AFTER 75 /* coredump_mask after the reap */
#define KC_PV_WORKER_KTHREAD 76 /* 1: the worker is a kernel thread (not in the owner's task list) */
#define KC_PV_XATTR_GET 77    /* fgetxattr: length or -errno */
#define KC_PV_XATTR_MATCH 78  /* 1: the value read back is the one set */
#define KC_PV_XATTR_LIST 79   /* flistxattr: 1 when the name is listed, 0 not, or -errno */
#define KC_PV_XATTR_REOPEN 80 /* fgetxattr through a new pidfd of the same process: length or -errno */
#define KC_PV_XATTR_REMOVED 81 /* fgetxattr after fremovexattr: -errno */
#define KC_PV_REOPEN 82       /* open() of the bind-mounted pidfd path: fd or -errno */
#define KC_PV_PEER_PIDFD 83   /* getsockopt(SO_PEERPIDFD) on the accepted connection: 0 or -errno */
#define KC_PV_INFO_CORE_CODE 84 /* coredump_code through the peer's pidfd */
#define KC_PV_DUMP_BYTES 85   /* bytes the server read after the protocol until EOF */
#define KC_PV_DUMP_ELF 86     /* 1: those bytes start with the ELF magic */
#define KC_PV_REQ_SIZE 87     /* struct coredump_req as read: size, size_ack, mask */
#define KC_PV_REQ_SIZE_ACK 88
#define KC_PV_REQ_MASK 89
#define KC_PV_MARK 90         /* the u32 mark the kernel sent after the ack, or -errno (-ENODATA: EOF) */
#define KC_PV_PATTERN_WRITE 91 /* the write of the pattern: 0 or -errno */
#define KC_PV_PATTERN_SAME 92 /* 1: core_pattern reads back as before the (refused) write */
#define KC_PV_CORE_SIGNAL_AFTER 93 /* coredump_signal and _code after the reap (through the kid's pidfd) */
#define KC_PV_CORE_CODE_AFTER 94
#define KC_PV_ACCEPTED 95     /* 1: the kernel connected for the kid (its peer pid is the kid) */
#define KC_PV_RACE_ESRCH 96   /* KC_PS_REAP_RACE: rounds whose PIDFD_GET_INFO(EXIT) ended in ESRCH */
#define KC_PV_RACE_EMPTY 97   /* rounds ended by a 0 return with neither PIDFD_INFO_PID nor PIDFD_INFO_EXIT */
#define KC_PV_RACE_OTHER 98   /* rounds ended by another error (the last one in KC_PV_RET) */
#define KC_PV_RACE_EXIT 99    /* rounds ended by the exit information */
#define KC_PV_RACE_BADCODE 100 /* of them with an exit code other than the child's */
#define KC_PV_RACE_CALLS 101   /* PIDFD_GET_INFO calls in all */
#define KC_PV_RACE_ANOMALY 102 /* ESRCH + EMPTY */
#define KC_PV_RACE_STUCK 103   /* rounds the getter gave up on (no exit information within the bound) */
#define KC_PV_RACE_MS 104      /* how long the rounds took */


struct kc_pfd_req {
	int32_t scenario;
	int32_t variant;
	uint32_t flags;
	int32_t arg;
	int32_t drop_privileges;  /* when root: the harness becomes uid/gid 65534 without capabilities */
	int32_t timeout_ms;       /* bound for the whole scenario */
	uint64_t clone_flags;     /* KC_PS_CLONE71: extra clone3 flags */
};

struct kc_pfd_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	uint8_t present[KC_PFD_NV];
	int64_t v[KC_PFD_NV];
	char text[KC_PFD_TEXT];
};

/* Run one scenario.  0, or -errno when the harness could not be started;
 * everything else is in *res. */
int kc_pfd_scenario(const struct kc_pfd_req *req, struct kc_pfd_res *res);

/* Probes without a child: pidfd_open(getpid(), flags) then ioctl/stat
 * properties of the fd (what: one of KC_PQ_*).  Returns the value or -errno. */
#define KC_PQ_OPEN 0           /* the open itself */
#define KC_PQ_FSTATFS 1        /* fstatfs(fd): f_type */
#define KC_PQ_INFO 2           /* PIDFD_GET_INFO (VER0) */
#define KC_PQ_PIDNS 3          /* PIDFD_GET_PID_NAMESPACE */
#define KC_PQ_SIGNAL_GROUP 4   /* pidfd_send_signal(fd, 0, NULL, PIDFD_SIGNAL_THREAD_GROUP) */
#define KC_PQ_SIGNAL_SELF 5    /* pidfd_send_signal(PIDFD_SELF_PROCESS, 0) */
#define KC_PQ_FHANDLE 6        /* name_to_handle_at(fd, "", AT_EMPTY_PATH) */
#define KC_PQ_SUPPORTED_MASK 7 /* PIDFD_GET_INFO with PIDFD_INFO_SUPPORTED_MASK: the supported mask */
#define KC_PQ_GETFD 8          /* pidfd_getfd(fd, 0, 0) */
#define KC_PQ_WAITID 9         /* waitid(P_PIDFD, fd, WEXITED|WNOHANG): ECHILD expected */
#define KC_PQ_LISTMOUNT 10     /* listmount */
#define KC_PQ_XATTR 11         /* fsetxattr(fd, "trusted.kc_probe") then fremovexattr (pidfs xattrs) */
int64_t kc_pfd_probe(int32_t what, uint32_t flags);

/* Is a clone3 flag known?  clone3(flags|CLONE_PIDFD, pidfd = an unmapped
 * address, exit_signal 0): an unknown flag fails with EINVAL in
 * clone3_args_valid(); a known one gets past it and fails later (EFAULT when
 * the pidfd is written, or EPERM), so no child ever runs.  -errno. */
int64_t kc_pfd_clone3_probe(uint64_t flags);

#endif
