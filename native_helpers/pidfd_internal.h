/* SPDX-License-Identifier: MIT */
/* Internal to the pidfd scenarios (kc_pidfd*.c): not part of the cffi interface (build.py only turns
 * kc_*.h headers into the cdef). */
#ifndef KC_PIDFD_INTERNAL_H
#define KC_PIDFD_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kc_pidfd.h"
#include "kc_uring.h"
#include "kc_vhost.h"
#include "harness_internal.h"
#include "proc_internal.h"
#include "uring_internal.h"

#ifndef __WALL
#define __WALL 0x40000000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define KP_NR_pidfd_send_signal 424
#define KP_NR_pidfd_open 434
#define KP_NR_pidfd_getfd 438
#define KP_NR_kcmp SYS_kcmp /* not in the unified range: x86_64 312, the generic table (arm64) 272 */
#define KP_NR_listmount 458
#define KP_NR_open_tree 428
#define KP_NR_move_mount 429
#define KP_KCMP_FILE 0
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif

#define KP_CLONE_AUTOREAP (1ULL << 34)
#define KP_CLONE_NNP (1ULL << 35)
#define KP_CLONE_PIDFD_AUTOKILL (1ULL << 36)
#define KP_CLONE_EMPTY_MNTNS (1ULL << 37)

#define KP_PIDFD_THREAD O_EXCL
#define KP_PIDFD_NONBLOCK O_NONBLOCK
#define KP_SELF_THREAD (-10000)
#define KP_SELF_PROCESS (-10001)
#define KP_INFO_CMD(sz) ((unsigned long)(0xC0000000u | ((uint32_t)(sz) << 16) | 0xFF00u | 11u))
#define KP_INFO_PID (1ULL << 0)
#define KP_INFO_EXIT (1ULL << 3)
#define KP_INFO_COREDUMP (1ULL << 4)
#define KP_INFO_SUPPORTED_MASK (1ULL << 5)

#define KP_T 3000   /* default bound for one step (ms) */
#define KP_LEADER_T 200 /* how long a leader's thread pidfd is watched for a poll that must not come */
#define KP_AT_HANDLE_FID 0x200
#define KP_AT_HANDLE_CONNECTABLE 0x002
#define KP_XATTR "trusted.kc_pidfd"

struct kp_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask, coredump_signal, coredump_code, coredump_pad;
	uint64_t supported_mask;
	uint8_t spare[40];      /* room for sizes above VER3 */
};

struct kp_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

#define KID_THREAD 0x1       /* a second thread that obeys the thread pipe */
#define KID_HANDLER 0x2      /* SIGUSR1 handler reporting a struct kp_sigrec */
#define KID_BLOCK_USR1 0x4
#define KID_NONDUMPABLE 0x8
#define KID_SETRES 0x10      /* root: r/e/s uids 1001/1002/1003, gids 2001/2002/2003 */
#define KID_PGRP 0x20        /* setpgid(0, 0) */
#define KID_IOWQ 0x40        /* a ring and one IOSQE_ASYNC NOP: an io-wq worker */
#define KID_SQPOLL 0x80      /* an SQPOLL ring */
#define KID_NEWUTS 0x100     /* unshare(CLONE_NEWUTS) and set the hostname */
#define KID_NEWUSER_UTS 0x200 /* unshare(CLONE_NEWUSER|CLONE_NEWUTS) and set the hostname */
#define KID_MOUNTS 0x400     /* count mounts (listmount) and entries of "/" */
#define KID_DUMPABLE 0x800
#define KID_NEWTIME 0x1000   /* unshare(CLONE_NEWTIME) and enter it (setns on time_for_children) */
#define KID_COREDUMP 0x2000  /* dumpable, RLIMIT_CORE soft = hard, coredump_filter 0, cwd kp_core_dir */

struct kp_rep {
	int32_t magic, pid, tid2, ppid;
	int32_t ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	int32_t nnp, ring_res, worker_tid, setup_err;
	int64_t mounts, root_entries;
};

struct kp_sigrec {
	int32_t magic, signo, code, pid, uid, value, tid, pad;
};

struct kp_kid {
	int pid, tid2, pidfd;
	int rep_r, go_w, tgo_w;     /* harness ends */
	int rep_w, go_r, tgo_r;     /* kid ends */
	int cfg, code;
	int kid_fd;                 /* number of the kid's go_r end (open in the kid only) */
	int autoreap;               /* reaped by the kernel: never waited for */
	struct kp_rep rep;
	/* kid-side state */
	volatile int32_t tid_word;
	char *stack;
};

/* Run fn(ctx) in a child created with clone flags (| SIGCHLD); the child
 * writes up to 8 int64 values to fd ctx->out; returns the count read. */
struct kp_fn_ctx {
	int out;
	int pidfd;
	int arg;
	int64_t v[8];
	char text[KC_PFD_TEXT];
};

/* Shared between the files of this family (each defined once, in the file named by its section). */
extern struct kc_pfd_res *R;
void put(int slot, int64_t v);
void text_add(const char *s);
int setup_fail(const char *what, int err);
int kp_opened(long r);
long sc(long r);
long p_open(int pid, unsigned flags);
long p_send(int fd, int sig, siginfo_t *info, unsigned flags);
long p_getfd(int fd, int tfd, unsigned flags);
long p_waitid(int type, int id, siginfo_t *si, int opts);
long p_info(int fd, unsigned size, struct kp_info *info, uint64_t mask);
long p_info_released(int fd, struct kp_info *info, uint64_t mask, int ms);
int kp_poll(int fd, int ms);
void kp_close(int *fd);
int64_t kp_field(const char *buf, const char *key, int base);
int kp_pending(int pid, int tid, const char *key, int sig);
uint64_t kp_ino(const char *path);
uint64_t kp_fd_ino(int fd);
int kp_exists(const char *fmt, int a, int b);
int kp_wait_gone(int pid, int ms);
int kp_thread_gone(int pid, int tid, int ms);
uint64_t kp_cgroup_id(int pid);
int kp_drop_privileges(void);
int kp_is_root(void);
extern char kp_core_dir[256];
extern volatile int kp_hits;
extern volatile int kp_hit_tid;
extern volatile int kp_hit_code;
int kp_handle_usr1(void);
int kp_exit_fn(void *p);
int64_t kp_count_mounts(void);
long kp_entries(int dfd, int (*fn)(int dfd, const char *name), int *fn_err);
void kp_kid_init(struct kp_kid *k, int cfg, int code);
int kp_start3(struct kp_kid *k, uint64_t flags, uint64_t exit_signal);
int kp_start(struct kp_kid *k);
int kp_start_clone(struct kp_kid *k, unsigned long flags);
int kp_start_settid(struct kp_kid *k, int32_t tid);
void kp_cmd(struct kp_kid *k, char c);
void kp_tcmd(struct kp_kid *k, char c);
int kp_exit_reap(struct kp_kid *k);
void kp_finish(struct kp_kid *k);
void kp_put_info(const struct kp_info *i);
void kp_put_rep_creds(const struct kp_rep *r);
void kp_put_si(const siginfo_t *si);
void kp_put_fd_props(int fd);
int kp_run_fn(unsigned long flags, kc_fn fn, struct kp_fn_ctx *c);
void sc_open(const struct kc_pfd_req *q);
void sc_poll(const struct kc_pfd_req *q);
void sc_waitid(const struct kc_pfd_req *q);
int kp_read_sigrec(struct kp_kid *k, struct kp_sigrec *r, int ms);
void sc_signal(const struct kc_pfd_req *q);
void sc_scope(const struct kc_pfd_req *q);
void sc_getfd(const struct kc_pfd_req *q);
void sc_pidfs(const struct kc_pfd_req *q);
extern const char *const kp_ns_names[];
void sc_nsioctl(const struct kc_pfd_req *q);
void sc_setns(const struct kc_pfd_req *q);
void sc_fhandle(const struct kc_pfd_req *q);
int kp_remote_main(void *p);
int kp_pidns_exit_main(void *p);
void kp_info_exec(const struct kc_pfd_req *q, struct kp_kid *k, int gfd);
int kp_core_dir_remove(void);
void kp_crash_and_report(struct kp_kid *k, int fd, int exit_ms);
void sc_info(const struct kc_pfd_req *q);
void sc_coredump(const struct kc_pfd_req *q);
void sc_thread(const struct kc_pfd_req *q);
void sc_worker(const struct kc_pfd_req *q);
void sc_clone71(const struct kc_pfd_req *q);
void sc_reap_race(const struct kc_pfd_req *q);

#endif
