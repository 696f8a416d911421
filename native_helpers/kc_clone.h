/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: clone3()/clone() scenarios.
 *
 * Every process creation happens in C.  The Python caller asks for one
 * scenario; a fresh "harness" process is forked (in C) to run it, so that
 * signal dispositions, blocked masks, exit signals and threads created by the
 * scenario never touch the (multithreaded) Python process.  The harness runs
 * the call under test, drives the child it may create (which runs a small C
 * action and _exits), and sends one struct kc_clone_res back over a pipe.
 * Every wait is bounded.  A thread child (CLONE_THREAD) always gets
 * CLONE_CHILD_CLEARTID added so that its exit can be awaited.
 *
 * native_helpers/build.py turns this header into the cffi cdef: keep it to
 * plain declarations and integer #defines.
 */
#ifndef KC_CLONE_H
#define KC_CLONE_H

#include <stdint.h>

#include "kc_harness.h"

#define KC_SET_TID_MAX 64
#define KC_NS_COUNT 8
#define KC_NSIG 65

/* struct kc_clone_req.syscall_kind */
#define KC_SYS_CLONE3 0
#define KC_SYS_CLONE 1

/* struct kc_clone_req.args_mode: where the clone_args buffer lives */
#define KC_ARGS_NORMAL 0
#define KC_ARGS_NULL 1        /* pass NULL */
#define KC_ARGS_BADPTR 2      /* pass an unmapped address */
#define KC_ARGS_TAIL_UNMAPPED 3 /* first 88 bytes mapped, the rest on a PROT_NONE page */

/* pointer modes (pidfd, parent_tid, set_tid) */
#define KC_PTR_NONE 0
#define KC_PTR_VALID 1
#define KC_PTR_BAD 2
#define KC_PTR_SAME_AS_PARENT_TID 3

/* stack modes */
#define KC_STACK_NONE 0       /* stack 0, stack_size 0 */
#define KC_STACK_MAPPED 1     /* a real mapping of stack_size bytes */
#define KC_STACK_NO_SIZE 2    /* a real mapping, stack_size passed as 0 */
#define KC_STACK_NO_ADDR 3    /* stack 0, stack_size as given */
#define KC_STACK_KERNEL 4     /* a kernel-half address with stack_size */

/* child actions */
#define KC_ACT_EXIT 0         /* _exit(action_arg) */
#define KC_ACT_REPORT 1       /* write a struct kc_child_report, then _exit(action_arg) */
#define KC_ACT_REPORT_WAIT 2  /* report, block until released, then _exit(action_arg) */
#define KC_ACT_HANG 3         /* block forever (timeout test) */

/* harness setup bits */
#define KC_SETUP_HANDLE_USR1 0x1  /* install a handler for SIGUSR1 before the call */
#define KC_SETUP_IGNORE_USR2 0x2  /* set SIGUSR2 to SIG_IGN before the call */
#define KC_SETUP_HANDLE_RTMIN1 0x4 /* install a handler for SIGRTMIN+1 */
#define KC_SETUP_SETUID_NOBODY 0x8 /* when euid 0: drop to uid/gid 65534 (and all caps) before the call */
#define KC_SETUP_UNSHARE_PIDNS 0x10 /* unshare(CLONE_NEWPID) before the call */


struct kc_clone_req {
	int32_t syscall;          /* KC_SYS_* */
	int32_t args_at;          /* KC_ARGS_* */
	uint64_t size;            /* size argument passed to clone3 */
	int32_t tail_nonzero;     /* write 0xff at offset 88 when size > 88 */
	int32_t pad0;
	uint64_t flags;
	uint64_t exit_signal;
	int32_t pidfd;            /* KC_PTR_*: where clone_args.pidfd points */
	int32_t parent_tid;       /* KC_PTR_* */
	int32_t child_tid;        /* KC_PTR_VALID: child_tid points at a word */
	int32_t stack;            /* KC_STACK_* */
	uint64_t stack_size;
	int32_t set_tid_ptr;      /* KC_PTR_*: where clone_args.set_tid points */
	int32_t pad1;
	uint64_t set_tid_size;
	int32_t set_tid[KC_SET_TID_MAX];
	uint64_t cgroup;          /* raw value of clone_args.cgroup */
	uint64_t tls;
	int32_t setup;            /* KC_SETUP_* bits */
	int32_t action;
	int32_t action_arg;
	int32_t timeout_ms;       /* bound for the whole scenario */
};

struct kc_child_report {
	int32_t valid;
	int32_t pid;
	int32_t ppid;
	int32_t tid;
	int32_t uid;
	int32_t pad0;
	uint64_t ns_ino[KC_NS_COUNT];  /* pid, pid_for_children, time, user, mnt, net, cgroup, ipc */
	uint8_t disp[KC_NSIG];         /* 0 SIG_DFL, 1 SIG_IGN, 2 handler, 255 unknown */
	uint8_t pad1[7];
	uint64_t stack_probe;          /* address of a local variable in the child */
	char cgroup[256];              /* the "0::" line of /proc/self/cgroup */
};

struct kc_clone_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int64_t ret;              /* return of the call under test */
	int32_t err;              /* errno when ret < 0 */
	int32_t created;          /* a child (process or thread) was created */
	int32_t pidfd;            /* value written by the kernel (-1 when none) */
	int32_t pidfd_is_pidfd;   /* 1: readlink says anon_inode:[pidfd] / pidfs */
	int32_t pidfd_flags;      /* fcntl(F_GETFL) of the pidfd */
	int32_t pidfd_poll_early; /* poll revents while the child is still alive */
	int32_t pidfd_poll_exit;  /* poll revents after the child was released */
	int32_t parent_tid;       /* value the kernel stored at parent_tid (0 when none) */
	int32_t child_exited;     /* the child was seen to exit within the bound */
	int32_t wait_plain;       /* wait4(pid, WNOHANG) without __WCLONE (pid, 0 or -errno) */
	int32_t wait_clone;       /* waitid(P_PID, WEXITED|WNOHANG|WNOWAIT|__WCLONE): pid or -errno */
	int32_t wait_all;         /* final reap with __WALL: pid or -errno */
	int32_t status;           /* wait status of the final reap */
	int32_t signal_received;  /* the exit signal taken with sigtimedwait, 0 when none */
	int32_t pad0;
	uint64_t pending_lo;      /* signals pending after the child was reaped: bits 1..64 */
	uint64_t parent_ns_ino[KC_NS_COUNT];
	int32_t parent_pid;       /* harness pid (the child's expected ppid) */
	int32_t shared_word;      /* a word the child writes; visible here only with CLONE_VM */
	uint64_t stack_lo;        /* stack mapping given to the child (0 when none) */
	uint64_t stack_hi;
	struct kc_child_report report; /* valid == 1 when the child sent one */
};

/* Run one scenario in a fresh harness process.  Returns 0, or -errno when the
 * harness itself could not be started; everything else is in *res. */
int kc_clone_scenario(const struct kc_clone_req *req, struct kc_clone_res *res);

/* Raw primitives, for probes that need no child: */
int64_t kc_sys_clone3_nochild(uint64_t size, int32_t args_mode);   /* size-only probe */
int kc_pidfd_open(int32_t pid, uint32_t flags);                     /* fd or -errno */
int kc_pidfd_poll(int32_t pidfd, int32_t timeout_ms);               /* revents or -errno */
int kc_page_size(void);

#endif
