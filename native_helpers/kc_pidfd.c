// SPDX-License-Identifier: MIT
/*
 * kconform: pidfd scenarios run in a throw-away harness process.
 *
 *  - the harness is a raw clone of the caller in its own process group; every
 *    target ("kid") is created by the harness with kc_spawn_fn()/raw clone3
 *    and runs kp_kid_main(): it reports itself over a pipe and then obeys
 *    one-letter commands, so the harness decides when it exits, crashes, or
 *    when its second thread exits or execs;
 *  - children and the harness use raw syscalls and async-signal-safe libc
 *    wrappers only; nothing returns into the Python interpreter;
 *  - every wait is bounded; kids die with their parent (PDEATHSIG), the
 *    harness kills and reaps what it made, and the caller kills the harness
 *    process group before reaping the harness.
 */
#define _GNU_SOURCE
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
#define KP_NR_kcmp 312
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

/* ------------------------------------------------------------------------ */
/* result slots                                                              */

static struct kc_pfd_res *R;

static void put(int slot, int64_t v)
{
	if (slot >= 0 && slot < KC_PFD_NV) {
		R->v[slot] = v;
		R->present[slot] = 1;
	}
}

static void text_add(const char *s)
{
	size_t n = strlen(R->text), m = strlen(s);

	if (n + m >= sizeof(R->text))
		m = sizeof(R->text) - 1 - n;
	memcpy(R->text + n, s, m);
	R->text[n + m] = 0;
}

static int setup_fail(const char *what, int err)
{
	if (R->harness_error == KC_PH_NONE) {
		R->harness_error = KC_PH_SETUP;
		R->harness_errno = err;
		R->text[0] = 0;
		text_add(what);
	}
	return -1;
}

/* p_open's result as an fd, or -1 after recording the setup failure (-errno in r). */
static int kp_opened(long r)
{
	if (r < 0) {
		setup_fail("pidfd_open", (int)-r);
		return -1;
	}
	return (int)r;
}

static long sc(long r)
{
	return r < 0 ? -errno : r;
}

static long p_open(int pid, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_open, pid, flags));
}

static long p_send(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_send_signal, fd, sig, info, flags));
}

static long p_getfd(int fd, int tfd, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_getfd, fd, tfd, flags));
}

static long p_waitid(int type, int id, siginfo_t *si, int opts)
{
	memset(si, 0, sizeof(*si));
	return sc(syscall(SYS_waitid, type, id, si, opts, NULL));
}

static long p_info(int fd, unsigned size, struct kp_info *info, uint64_t mask)
{
	memset(info, 0, sizeof(*info));
	info->mask = mask;
	return sc(ioctl(fd, KP_INFO_CMD(size), info));
}

/* PIDFD_GET_INFO with PIDFD_INFO_EXIT for an autoreaped task that has exited: its pidfd polls at
 * exit, the exit information comes when the task is released a moment later, so ask again (bounded)
 * until the kernel reports it. */
static long p_info_released(int fd, struct kp_info *info, uint64_t mask, int ms)
{
	int64_t deadline = kc_now_ms() + ms;
	long r;

	for (;;) {
		r = p_info(fd, 88, info, mask);
		if (r != 0 || (info->mask & KP_INFO_EXIT) || kc_now_ms() >= deadline)
			return r;
		kc_sleep_ms(1);
	}
}

static int kp_poll(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t deadline = kc_now_ms() + ms;

	for (;;) {
		int left = (int)(deadline - kc_now_ms());
		int r = poll(&pfd, 1, left > 0 ? left : 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		return r ? pfd.revents : 0;
	}
}

static void kp_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int64_t kp_field(const char *buf, const char *key, int base)
{
	const char *p = strstr(buf, key);

	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	return strtoll(p, NULL, base);
}

/* Bit of sig in the SigPnd/ShdPnd field of /proc/<pid>/task/<tid>/status. */
static int kp_pending(int pid, int tid, const char *key, int sig)
{
	char path[96], buf[4096];
	int64_t v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (kc_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	v = kp_field(buf, key, 16);
	return v < 0 ? -1 : (int)((uint64_t)v >> (sig - 1) & 1);
}

static uint64_t kp_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

static uint64_t kp_fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

static int kp_exists(const char *fmt, int a, int b)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), fmt, a, b);
	return stat(path, &st) == 0;
}

/* Wait (bounded) until /proc/<pid> is gone (an autoreaped process). */
static int kp_wait_gone(int pid, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	while (kp_exists("/proc/%d/stat%.0d", pid, 0)) {
		if (kc_now_ms() >= deadline)
			return 0;
		kc_sleep_ms(1);
	}
	return 1;
}

static int kp_thread_gone(int pid, int tid, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	while (kp_exists("/proc/%d/task/%d/stat", pid, tid)) {
		char path[96], buf[512];

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
		if (kc_read_file(path, buf, sizeof(buf)) > 0) {
			char *rp = strrchr(buf, ')');

			if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
				return 1;
		}
		if (kc_now_ms() >= deadline)
			return 0;
		kc_sleep_ms(1);
	}
	return 1;
}

/* The cgroup v2 id of pid: the inode of its directory under the cgroup2 mount. */
static uint64_t kp_cgroup_id(int pid)
{
	char path[96], buf[8192], mnt[256] = "", full[600];
	char *p, *line;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (kc_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, "0::");
	if (!p)
		return 0;
	p += 3;
	line = strchr(p, '\n');
	if (line)
		*line = 0;
	{
		char cg[512];
		char mi[16384];

		snprintf(cg, sizeof(cg), "%s", p);
		if (kc_read_file("/proc/self/mountinfo", mi, sizeof(mi)) <= 0)
			return 0;
		for (line = strtok(mi, "\n"); line; line = strtok(NULL, "\n")) {
			char *sep = strstr(line, " - cgroup2 ");
			char *f;
			int i;

			if (!sep)
				continue;
			f = line;
			for (i = 0; i < 4 && f; i++) {
				f = strchr(f, ' ');
				if (f)
					f++;
			}
			if (!f)
				continue;
			i = 0;
			while (f[i] && f[i] != ' ' && i < (int)sizeof(mnt) - 1) {
				mnt[i] = f[i];
				i++;
			}
			mnt[i] = 0;
			break;
		}
		if (!mnt[0])
			return 0;
		snprintf(full, sizeof(full), "%s%s", mnt, cg);
	}
	return kp_ino(full);
}

static int kp_drop_privileges(void)
{
	if (geteuid() != 0)
		return 0;
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
	    syscall(SYS_setresuid, 65534, 65534, 65534) < 0)
		return -errno;
	return 0;
}

static int kp_is_root(void)
{
	return geteuid() == 0;
}

/* ------------------------------------------------------------------------ */
/* the kid                                                                   */

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

static char kp_core_dir[256];    /* the crashing kid's scratch directory (copied into it by the clone) */

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

static int kp_sig_fd = -1;
static volatile int kp_hits;
static volatile int kp_hit_tid;
static volatile int kp_hit_code;

static void kp_usr1(int sig, siginfo_t *si, void *uc)
{
	struct kp_sigrec r;

	(void)uc;
	kp_hits = kp_hits + 1;
	kp_hit_tid = (int)syscall(SYS_gettid);
	kp_hit_code = si->si_code;
	if (kp_sig_fd >= 0) {
		memset(&r, 0, sizeof(r));
		r.magic = 0x5349;
		r.signo = sig;
		r.code = si->si_code;
		r.pid = si->si_pid;
		r.uid = (int32_t)si->si_uid;
		r.value = si->si_value.sival_int;
		r.tid = kp_hit_tid;
		kc_write_all(kp_sig_fd, &r, sizeof(r));
	}
}

static int kp_handle_usr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kp_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	return sigaction(SIGUSR1, &sa, NULL);
}

static int kp_exit_fn(void *p)
{
	return (int)(intptr_t)p;
}

static int kp_thread_main(void *p)
{
	struct kp_kid *k = p;
	char c;

	for (;;) {
		ssize_t n = kc_read_bounded(k->tgo_r, &c, 1, 20000);

		if (n != 1)
			syscall(SYS_exit_group, k->code);
		if (c == 't')
			syscall(SYS_exit, 0);
		if (c == 'x')
			syscall(SYS_exit_group, k->code);
		if (c == 'e') {
			char *argv[] = { "sh", "-c", "read x; exit 3", NULL };
			char *envp[] = { "PATH=/usr/bin:/bin", NULL };

			dup2(k->tgo_r, 0);
			execve("/bin/sh", argv, envp);
			syscall(SYS_exit_group, 127);
		}
	}
	return 0;
}

static int64_t kp_count_mounts(void)
{
	struct { uint32_t size, spare; uint64_t mnt_id, param, mnt_ns_id; } req;
	uint64_t ids[64];
	long r;

	memset(&req, 0, sizeof(req));
	req.size = 24;
	req.mnt_id = ~0ULL;   /* LSMT_ROOT */
	r = syscall(KP_NR_listmount, &req, ids, 64, 0);
	return r < 0 ? -errno : r;
}

/* Every entry of the directory dfd but . and ..: their number (or -errno), with fn(dfd, name) called on
 * each when given (raw getdents64: no allocation, so a child may call it); fn's first errno in *fn_err. */
static long kp_entries(int dfd, int (*fn)(int dfd, const char *name), int *fn_err)
{
	char buf[4096];
	long n, count = 0;

	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n; off += *(unsigned short *)(buf + off + 16)) {
			const char *name = buf + off + 19;
			int e;

			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			count++;
			if (fn && (e = fn(dfd, name)) != 0 && fn_err && !*fn_err)
				*fn_err = e;
		}
	}
	return n < 0 ? -errno : count;
}

static int64_t kp_count_root(void)
{
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (fd < 0)
		return -errno;
	n = kp_entries(fd, NULL, NULL);
	close(fd);
	return n;
}

static int kp_find_worker(const char *prefix)
{
	struct kc_thread_info ti[KC_U_THREADS];
	int64_t deadline = kc_now_ms() + 2000;

	for (;;) {
		int n = kc_list_threads(0, ti, KC_U_THREADS);

		for (int i = 0; i < n && i < KC_U_THREADS; i++)
			if (!strncmp(ti[i].comm, prefix, strlen(prefix)))
				return ti[i].tid;
		if (kc_now_ms() >= deadline)
			return 0;
		kc_sleep_ms(2);
	}
}

/* The kid's 'f' (a real fault: SIGSEGV with SEGV_MAPERR) and 'a' (SIGABRT sent to itself with tgkill,
 * si_code SI_TKILL) commands, default action restored and unblocked. */
static void kp_fault_or_abort(char c)
{
	int sig = c == 'f' ? SIGSEGV : SIGABRT;
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (c == 'f')
		*(volatile int *)(uintptr_t)16 = 1;
	else
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGABRT);
}

static int kp_kid_main(void *p)
{
	struct kp_kid *k = p;
	struct kp_rep *rep = &k->rep;
	struct kcu_ring ring;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(k->rep_r);
	close(k->go_w);
	close(k->tgo_w);
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	memset(rep, 0, sizeof(*rep));
	rep->magic = 0x4b4b;
	if (k->cfg & KID_PGRP)
		setpgid(0, 0);
	if ((k->cfg & KID_SETRES) && (syscall(SYS_setresgid, 2001, 2002, 2003) < 0 ||
				     syscall(SYS_setresuid, 1001, 1002, 1003) < 0))
		rep->setup_err = errno;
	if (k->cfg & KID_NONDUMPABLE)
		prctl(PR_SET_DUMPABLE, 0);
	if (k->cfg & KID_DUMPABLE)
		prctl(PR_SET_DUMPABLE, 1);
	if (k->cfg & KID_HANDLER) {
		kp_sig_fd = k->rep_w;
		if (kp_handle_usr1() < 0)
			rep->setup_err = errno;
	}
	if (k->cfg & KID_BLOCK_USR1) {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		sigprocmask(SIG_BLOCK, &s, NULL);
	}
	if (k->cfg & KID_NEWUTS) {
		if (unshare(CLONE_NEWUTS) < 0 || sethostname("kc-pidfd-uts", 12) < 0)
			rep->setup_err = errno;
	}
	if (k->cfg & KID_NEWUSER_UTS) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWUTS) < 0 || sethostname("kc-pidfd-uts", 12) < 0)
			rep->setup_err = errno;
	}
	if (k->cfg & KID_NEWTIME) {
		int tfd = -1;

		if (unshare(CLONE_NEWTIME) < 0 ||
		    (tfd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC)) < 0 ||
		    setns(tfd, CLONE_NEWTIME) < 0)
			rep->setup_err = errno;
		if (tfd >= 0)
			close(tfd);
	}
	if (k->cfg & KID_COREDUMP) {
		struct rlimit rl;

		if (prctl(PR_SET_DUMPABLE, 1) < 0 || getrlimit(RLIMIT_CORE, &rl) < 0)
			rep->setup_err = errno;
		rl.rlim_cur = rl.rlim_max;
		if (!rep->setup_err && (setrlimit(RLIMIT_CORE, &rl) < 0 ||
					kc_write_file("/proc/self/coredump_filter", "0") < 0 || chdir(kp_core_dir) < 0))
			rep->setup_err = errno ? errno : EIO;
	}
	if (k->cfg & KID_THREAD) {
		const size_t sz = 64 * 1024;
		int32_t ptid = 0;
		long t;

		k->stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (k->stack == MAP_FAILED) {
			rep->setup_err = errno;
		} else {
			t = kc_raw_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
					 CLONE_PARENT_SETTID, k->stack + sz, &ptid, NULL, 0, kp_thread_main, k, SYS_exit);
			if (t < 0)
				rep->setup_err = (int32_t)-t;
			else
				rep->tid2 = (int32_t)t;
		}
	}
	if (k->cfg & (KID_IOWQ | KID_SQPOLL)) {
		uint32_t feat = 0;

		rep->ring_res = kcu_ring_open(&ring, (k->cfg & KID_SQPOLL) ? IORING_SETUP_SQPOLL : 0, &feat);
		if (rep->ring_res == 0) {
			if (k->cfg & KID_IOWQ) {
				kcu_ring_nop(&ring, IOSQE_ASYNC, 2000);
				rep->worker_tid = kp_find_worker("iou-wrk-");
			} else {
				kcu_ring_nop(&ring, 0, 2000);
				rep->worker_tid = kp_find_worker("iou-sqp-");
			}
		}
	}
	if (k->cfg & KID_MOUNTS) {
		rep->mounts = kp_count_mounts();
		rep->root_entries = kp_count_root();
	}
	rep->pid = (int32_t)getpid();
	rep->ppid = (int32_t)getppid();
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	rep->ruid = (int32_t)ru, rep->euid = (int32_t)eu, rep->suid = (int32_t)su;
	rep->rgid = (int32_t)rg, rep->egid = (int32_t)eg, rep->sgid = (int32_t)sg;
	rep->fsuid = (int32_t)setfsuid((uid_t)-1);
	rep->fsgid = (int32_t)setfsgid((gid_t)-1);
	rep->nnp = (int32_t)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	kc_write_all(k->rep_w, rep, sizeof(*rep));
	for (;;) {
		ssize_t n = kc_read_bounded(k->go_r, &c, 1, 20000);

		if (n != 1 || c == 'x')
			return k->code;
		if (c == 'l')
			syscall(SYS_exit, 0);
		if (c == 's') {
			kc_crash_segv();
			return 126;
		}
		if (c == 'f' || c == 'a')
			kp_fault_or_abort(c);
		if (c == 'g') {
			/* fork a grandchild that exits 9; report whether it is a zombie for us */
			int64_t out[2] = { 0, 0 };
			long g = kc_spawn_fn(kp_exit_fn, (void *)9);
			int st = 0;

			if (g > 0) {
				out[0] = kc_wait_exited((int)g, 2000);
				kc_reap_bounded((int)g, 2000, &st);
				out[1] = st;
			} else {
				out[0] = g;
			}
			kc_write_all(k->rep_w, out, sizeof(out));
		}
		if (c == 'p') {
			/* clone3(CLONE_PARENT, exit_signal 0): its child exits at once */
			struct kp_clone_args a;
			int64_t out[2] = { 0, 0 };

			memset(&a, 0, sizeof(a));
			a.flags = CLONE_PARENT;
			out[0] = kc_raw_clone3(&a, sizeof(a), kp_exit_fn, (void *)0, SYS_exit_group);
			kc_write_all(k->rep_w, out, sizeof(out));
		}
	}
	return k->code;
}

static void kp_kid_init(struct kp_kid *k, int cfg, int code)
{
	memset(k, 0, sizeof(*k));
	k->pid = k->tid2 = -1;
	k->pidfd = k->rep_r = k->go_w = k->tgo_w = k->rep_w = k->go_r = k->tgo_r = -1;
	k->cfg = cfg;
	k->code = code;
}

/* Start a kid: with clone3 flags when flags != 0 (CLONE_PIDFD: k->pidfd),
 * else fork-like.  Reads its report.  0 or -1 (harness setup error). */
/* The kid's pipes (its report, its go, its thread's go): 0 or a setup failure. */
static int kp_kid_pipes(struct kp_kid *k)
{
	int a[2], b[2], c[2];

	if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0 || pipe2(c, O_CLOEXEC) < 0)
		return setup_fail("pipe", errno);
	k->rep_r = a[0], k->rep_w = a[1];
	k->go_r = b[0], k->go_w = b[1];
	k->tgo_r = c[0], k->tgo_w = c[1];
	return 0;
}

/* After the clone: close the kid's ends of the pipes here. */
static void kp_kid_parent_ends(struct kp_kid *k)
{
	k->kid_fd = k->go_r;
	kp_close(&k->rep_w);
	kp_close(&k->go_r);
	kp_close(&k->tgo_r);
}

/* The started kid's report (bounded): 0 or a setup failure. */
static int kp_kid_report(struct kp_kid *k)
{
	ssize_t n = kc_read_bounded(k->rep_r, &k->rep, sizeof(k->rep), 5000);

	if (n != (ssize_t)sizeof(k->rep) || k->rep.magic != 0x4b4b)
		return setup_fail("kid report", n < 0 ? (int)-n : EPROTO);
	return 0;
}

static int kp_start3(struct kp_kid *k, uint64_t flags, uint64_t exit_signal)
{
	long pid;
	int r;

	if ((r = kp_kid_pipes(k)) != 0)
		return r;
	if (flags) {
		struct kp_clone_args ca;
		int32_t pfd = -1;

		memset(&ca, 0, sizeof(ca));
		ca.flags = flags;
		ca.exit_signal = exit_signal;
		ca.pidfd = (uint64_t)(uintptr_t)&pfd;
		pid = kc_raw_clone3(&ca, sizeof(ca), kp_kid_main, k, SYS_exit_group);
		if (pid > 0 && (flags & CLONE_PIDFD))
			k->pidfd = pfd;
	} else {
		pid = kc_spawn_fn(kp_kid_main, k);
	}
	kp_kid_parent_ends(k);
	if (pid < 0 && !flags)  /* a plain helper kid: not the call under test */
		return setup_fail("fork of a helper kid", (int)-pid);
	if (pid < 0) {
		put(KC_PV_RET, pid);
		return -2;
	}
	k->pid = (int)pid;
	k->autoreap = (flags & KP_CLONE_AUTOREAP) != 0;
	if ((r = kp_kid_report(k)) != 0)
		return r;
	if (k->rep.setup_err)
		return setup_fail("kid setup", k->rep.setup_err);
	k->tid2 = k->rep.tid2;
	put(KC_PV_CHILD_PID, k->pid);
	if (k->tid2 > 0)
		put(KC_PV_CHILD_TID, k->tid2);
	return 0;
}

static int kp_start(struct kp_kid *k)
{
	return kp_start3(k, 0, 0);
}

/* Start a kid with legacy clone flags (e.g. CLONE_NEWPID) and SIGCHLD. */
static int kp_start_clone(struct kp_kid *k, unsigned long flags)
{
	long pid;
	int r;

	if ((r = kp_kid_pipes(k)) != 0)
		return r;
	pid = kc_raw_clone(flags | SIGCHLD, NULL, NULL, NULL, 0, kp_kid_main, k, SYS_exit_group);
	kp_kid_parent_ends(k);
	if (pid < 0)
		return setup_fail("clone of the kid", (int)-pid);
	k->pid = (int)pid;
	if ((r = kp_kid_report(k)) != 0)
		return r;
	if (k->rep.setup_err)
		return setup_fail("kid setup", k->rep.setup_err);
	put(KC_PV_CHILD_PID, k->pid);
	return 0;
}

/* Start a kid with clone3 set_tid = [tid] (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). */
static int kp_start_settid(struct kp_kid *k, int32_t tid)
{
	struct kp_clone_args ca;
	long pid;
	int r;

	if ((r = kp_kid_pipes(k)) != 0)
		return r;
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&tid;
	ca.set_tid_size = 1;
	pid = kc_raw_clone3(&ca, sizeof(ca), kp_kid_main, k, SYS_exit_group);
	kp_kid_parent_ends(k);
	if (pid < 0)
		return setup_fail("clone3 with set_tid", (int)-pid);
	k->pid = (int)pid;
	if ((r = kp_kid_report(k)) != 0)
		return r;
	return 0;
}

static void kp_cmd(struct kp_kid *k, char c)
{
	if (k->go_w >= 0)
		kc_write_all(k->go_w, &c, 1);
}

static void kp_tcmd(struct kp_kid *k, char c)
{
	if (k->tgo_w >= 0)
		kc_write_all(k->tgo_w, &c, 1);
}

/* Exit the kid (command 'x') and reap it: the wait status, or -errno. */
static int kp_exit_reap(struct kp_kid *k)
{
	int st = 0, r;

	kp_cmd(k, 'x');
	r = kc_reap_bounded(k->pid, KP_T, &st);
	if (r == 0) {
		put(KC_PV_STATUS, st);
		k->pid = -1;
		return st;
	}
	k->pid = -1;
	return r;
}

/* Kill, reap (or wait for an autoreaped kid to vanish), close everything. */
static void kp_finish(struct kp_kid *k)
{
	if (k->pid > 0) {
		kill(k->pid, SIGKILL);
		if (k->autoreap)
			kp_wait_gone(k->pid, KP_T);
		else
			kc_reap_bounded(k->pid, KP_T, NULL);
		k->pid = -1;
	}
	kp_close(&k->pidfd);
	kp_close(&k->rep_r);
	kp_close(&k->go_w);
	kp_close(&k->tgo_w);
}

static void kp_put_info(const struct kp_info *i)
{
	put(KC_PV_INFO_MASK, (int64_t)i->mask);
	put(KC_PV_INFO_PID, i->pid);
	put(KC_PV_INFO_TGID, i->tgid);
	put(KC_PV_INFO_PPID, i->ppid);
	put(KC_PV_INFO_RUID, i->ruid);
	put(KC_PV_INFO_EUID, i->euid);
	put(KC_PV_INFO_SUID, i->suid);
	put(KC_PV_INFO_FSUID, i->fsuid);
	put(KC_PV_INFO_RGID, i->rgid);
	put(KC_PV_INFO_EGID, i->egid);
	put(KC_PV_INFO_SGID, i->sgid);
	put(KC_PV_INFO_FSGID, i->fsgid);
	put(KC_PV_INFO_CGROUPID, (int64_t)i->cgroupid);
	put(KC_PV_INFO_EXIT, i->exit_code);
	put(KC_PV_INFO_CORE_MASK, i->coredump_mask);
	put(KC_PV_INFO_CORE_SIGNAL, i->coredump_signal);
	put(KC_PV_INFO_SUPPORTED, (int64_t)i->supported_mask);
}

static void kp_put_rep_creds(const struct kp_rep *r)
{
	put(KC_PV_CH_RUID, r->ruid);
	put(KC_PV_CH_EUID, r->euid);
	put(KC_PV_CH_SUID, r->suid);
	put(KC_PV_CH_FSUID, r->fsuid);
	put(KC_PV_CH_RGID, r->rgid);
	put(KC_PV_CH_EGID, r->egid);
	put(KC_PV_CH_SGID, r->sgid);
	put(KC_PV_CH_FSGID, r->fsgid);
	put(KC_PV_CH_PPID, r->ppid);
}

static void kp_put_si(const siginfo_t *si)
{
	put(KC_PV_SI_PID, si->si_pid);
	put(KC_PV_SI_CODE, si->si_code);
	put(KC_PV_SI_STATUS, si->si_status);
	put(KC_PV_SI_SIGNO, si->si_signo);
}

static void kp_put_fd_props(int fd)
{
	char path[64], buf[256];
	ssize_t n;

	put(KC_PV_FD_FLAGS, fcntl(fd, F_GETFD));
	put(KC_PV_FL_FLAGS, fcntl(fd, F_GETFL));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n >= 0) {
		buf[n] = 0;
		text_add(buf);
	}
}

/* Run fn(ctx) in a child created with clone flags (| SIGCHLD); the child
 * writes up to 8 int64 values to fd ctx->out; returns the count read. */
struct kp_fn_ctx {
	int out;
	int pidfd;
	int arg;
	int64_t v[8];
	char text[KC_PFD_TEXT];
};

static int kp_run_fn(unsigned long flags, kc_fn fn, struct kp_fn_ctx *c)
{
	int fds[2];
	long pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return setup_fail("pipe", errno);
	c->out = fds[1];
	pid = kc_raw_clone(flags | SIGCHLD, NULL, NULL, NULL, 0, fn, c, SYS_exit_group);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return setup_fail("clone of a helper child", (int)-pid);
	}
	memset(c->v, 0, sizeof(c->v));
	n = kc_read_bounded(fds[0], c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text), KP_T);
	close(fds[0]);
	kc_reap_bounded((int)pid, KP_T, NULL);
	if (n != (ssize_t)(offsetof(struct kp_fn_ctx, text) + sizeof(c->text)))
		return setup_fail("helper child report", n < 0 ? (int)-n : EPROTO);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* scenarios                                                                 */

static void sc_open(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int target = -1;
	long fd;

	kp_kid_init(&k, q->variant == KC_PT_NONLEADER ? KID_THREAD : 0, 0);
	switch (q->variant) {
	case KC_PT_MINUS1:
		target = -1;
		break;
	case KC_PT_ZERO:
		target = 0;
		break;
	case KC_PT_UNUSED:
		target = q->arg;
		break;
	case KC_PT_SELF:
		target = getpid();
		break;
	default:
		if (kp_start(&k) < 0)
			goto out;
		target = q->variant == KC_PT_NONLEADER ? k.tid2 : k.pid;
		if (q->variant == KC_PT_ZOMBIE) {
			kp_cmd(&k, 'x');
			if (!kc_wait_exited(k.pid, KP_T)) {
				setup_fail("kid did not exit", ETIMEDOUT);
				goto out;
			}
		} else if (q->variant == KC_PT_REAPED) {
			kp_exit_reap(&k);
		}
	}
	fd = p_open(target, q->flags);
	put(KC_PV_RET, fd);
	if (fd >= 0) {
		kp_put_fd_props((int)fd);
		put(KC_PV_REVENTS, kp_poll((int)fd, 0));
		close((int)fd);
	}
out:
	kp_finish(&k);
}

static void sc_poll(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int fd = -1, st = 0;

	if (q->variant == KC_PP_KILL_ROUNDS) {
		int ok = 0;

		for (int i = 0; i < q->arg; i++) {
			long f;
			int rev;

			kp_kid_init(&k, 0, 0);
			if (kp_start(&k) < 0)
				return;
			f = p_open(k.pid, 0);
			if (f < 0) {
				put(KC_PV_RET, f);
				kp_finish(&k);
				break;
			}
			put(KC_PV_RET2, p_send((int)f, SIGKILL, NULL, 0));
			rev = kp_poll((int)f, 3000);
			put(KC_PV_REVENTS, rev);
			close((int)f);
			kp_finish(&k);
			if (!(rev & POLLIN))
				break;
			ok++;
		}
		put(KC_PV_ROUNDS, ok);
		return;
	}
	kp_kid_init(&k, q->variant == KC_PP_EXIT ? 0 : KID_THREAD, q->arg);
	if (kp_start(&k) < 0)
		goto out;
	fd = (int)p_open(k.pid, 0);
	put(KC_PV_RET, fd);
	if (fd < 0)
		goto out;
	put(KC_PV_REVENTS_EARLY, kp_poll(fd, 20));
	if (q->variant == KC_PP_EXIT) {
		kp_cmd(&k, 'x');
	} else if (q->variant == KC_PP_THREAD_EXEC) {
		kp_tcmd(&k, 'e');
		/* the exec is done when the leader's comm is "sh" */
		{
			int64_t deadline = kc_now_ms() + KP_T;
			char path[64], buf[64] = "";

			snprintf(path, sizeof(path), "/proc/%d/comm", k.pid);
			while (kc_now_ms() < deadline) {
				if (kc_read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf, "sh", 2))
					break;
				kc_sleep_ms(2);
			}
			put(KC_PV_RET2, strncmp(buf, "sh", 2) == 0);
		}
		kc_sleep_ms(50);
		put(KC_PV_REVENTS_EARLY, kp_poll(fd, 0));
		kc_write_all(k.tgo_w, "\n", 1);
	} else {
		kp_cmd(&k, 'l');
		put(KC_PV_RET2, kp_thread_gone(k.pid, k.pid, KP_T));
		kc_sleep_ms(50);
		put(KC_PV_REVENTS_EARLY, kp_poll(fd, 0));
		kp_tcmd(&k, 't');
	}
	put(KC_PV_REVENTS, kp_poll(fd, KP_T));
	if (kc_reap_bounded(k.pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k.pid = -1;
	put(KC_PV_REVENTS_REAPED, kp_poll(fd, 0));
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

static void sc_waitid(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	siginfo_t si;
	int fd = -1;
	long r;

	kp_kid_init(&k, 0, q->arg);
	switch (q->variant) {
	case KC_PW_PROC_DIRFD:
		fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		put(KC_PV_RET, p_waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG));
		goto out;
	case KC_PW_DEVNULL:
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		put(KC_PV_RET, p_waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG));
		goto out;
	case KC_PW_NEGATIVE:
		put(KC_PV_RET, p_waitid(P_PIDFD, -1, &si, WEXITED | WNOHANG));
		goto out;
	case KC_PW_CLOSED:
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		close(fd);
		put(KC_PV_RET, p_waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG));
		fd = -1;
		goto out;
	case KC_PW_NOT_CHILD:
	case KC_PW_NONBLOCK_NOT_CHILD:
		fd = (int)p_open(getppid(), q->variant == KC_PW_NONBLOCK_NOT_CHILD ? KP_PIDFD_NONBLOCK : 0);
		if (fd < 0) {
			setup_fail("pidfd_open(getppid())", -fd);
			goto out;
		}
		put(KC_PV_RET, p_waitid(P_PIDFD, fd, &si, WEXITED));
		goto out;
	case KC_PW_PARENT_TID: {
		struct kp_clone_args ca;
		int32_t pfd = -1, ptid = 0;
		long pid;

		memset(&ca, 0, sizeof(ca));
		ca.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
		ca.pidfd = (uint64_t)(uintptr_t)&pfd;
		ca.parent_tid = (uint64_t)(uintptr_t)&ptid;
		ca.exit_signal = SIGCHLD;
		pid = kc_raw_clone3(&ca, sizeof(ca), kp_exit_fn, (void *)(intptr_t)q->arg, SYS_exit_group);
		if (pid < 0) {
			setup_fail("clone3(CLONE_PIDFD|CLONE_PARENT_SETTID)", (int)-pid);
			goto out;
		}
		k.pid = (int)pid;
		fd = pfd;
		put(KC_PV_PARENT_TID, ptid);
		put(KC_PV_CHILD_PID, pid);
		kc_wait_exited(k.pid, KP_T);
		r = p_waitid(P_PIDFD, fd, &si, WEXITED);
		put(KC_PV_RET, r);
		kp_put_si(&si);
		if (r == 0)
			k.pid = -1;
		goto out;
	}
	default:
		break;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, (q->variant == KC_PW_NONBLOCK || q->variant == KC_PW_NONBLOCK_WNOHANG ||
				      q->variant == KC_PW_NONBLOCK_CLEARED) ? KP_PIDFD_NONBLOCK : 0));
	if (fd < 0)
		goto out;
	switch (q->variant) {
	case KC_PW_EXITED:
	case KC_PW_TWICE:
		kp_cmd(&k, 'x');
		kc_wait_exited(k.pid, KP_T);
		r = p_waitid(P_PIDFD, fd, &si, WEXITED);
		put(KC_PV_RET, r);
		kp_put_si(&si);
		if (r == 0) {
			put(KC_PV_WAIT, sc(waitpid(k.pid, NULL, WNOHANG | __WALL)));
			k.pid = -1;
			if (q->variant == KC_PW_TWICE)
				put(KC_PV_RET2, p_waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG));
		}
		break;
	case KC_PW_KILLED:
		put(KC_PV_RET2, p_send(fd, SIGKILL, NULL, 0));
		kc_wait_exited(k.pid, KP_T);
		r = p_waitid(P_PIDFD, fd, &si, WEXITED);
		put(KC_PV_RET, r);
		kp_put_si(&si);
		if (r == 0)
			k.pid = -1;
		break;
	case KC_PW_STOPPED:
	case KC_PW_CONTINUED: {
		int64_t deadline = kc_now_ms() + KP_T;
		int opts = WSTOPPED;

		kill(k.pid, SIGSTOP);
		for (;;) {
			r = p_waitid(P_PIDFD, fd, &si, WSTOPPED | WNOHANG);
			if (r < 0 || si.si_pid || kc_now_ms() >= deadline)
				break;
			kc_sleep_ms(1);
		}
		if (q->variant == KC_PW_CONTINUED) {
			kill(k.pid, SIGCONT);
			opts = WCONTINUED;
			deadline = kc_now_ms() + KP_T;
			for (;;) {
				r = p_waitid(P_PIDFD, fd, &si, WCONTINUED | WNOHANG);
				if (r < 0 || si.si_pid || kc_now_ms() >= deadline)
					break;
				kc_sleep_ms(1);
			}
		}
		(void)opts;
		put(KC_PV_RET, r);
		kp_put_si(&si);
		break;
	}
	case KC_PW_NONBLOCK:
		put(KC_PV_RET, p_waitid(P_PIDFD, fd, &si, WEXITED));
		break;
	case KC_PW_NONBLOCK_CLEARED:
		put(KC_PV_RET2, p_waitid(P_PIDFD, fd, &si, WEXITED));
		put(KC_PV_FL_FLAGS, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ? -errno : fcntl(fd, F_GETFL));
		kp_cmd(&k, 'x');
		r = p_waitid(P_PIDFD, fd, &si, WEXITED);
		put(KC_PV_RET, r);
		kp_put_si(&si);
		if (r == 0)
			k.pid = -1;
		break;
	case KC_PW_NONBLOCK_WNOHANG:
		r = p_waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG);
		put(KC_PV_RET, r);
		put(KC_PV_SI_PID, si.si_pid);
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	if (q->variant == KC_PW_PARENT_TID && k.pid > 0) {
		kc_reap_bounded(k.pid, KP_T, NULL);
		k.pid = -1;
	}
	kp_finish(&k);
}

static int kp_read_sigrec(struct kp_kid *k, struct kp_sigrec *r, int ms)
{
	ssize_t n = kc_read_bounded(k->rep_r, r, sizeof(*r), ms);

	return n == (ssize_t)sizeof(*r) && r->magic == 0x5349;
}

static void sc_signal(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_sigrec rec;
	siginfo_t info;
	int fd = -1;
	int v = q->variant;
	int cfg = 0;

	if (v == KC_PSIG_DELIVER || v == KC_PSIG_INFO_OTHER_USER || v == KC_PSIG_INFO_OTHER_QUEUE ||
	    v == KC_PSIG_INFO_MISMATCH || v == KC_PSIG_ZERO)
		cfg = KID_HANDLER;
	if (v == KC_PSIG_THREAD_GONE)
		cfg = KID_THREAD;
	kp_kid_init(&k, cfg, 0);
	memset(&info, 0, sizeof(info));
	switch (v) {
	case KC_PSIG_PROC_DIRFD:
	case KC_PSIG_INFO_SELF:
	case KC_PSIG_SELF_THREAD:
	case KC_PSIG_SELF_PROCESS: {
		long r;

		if (kp_handle_usr1() < 0) {
			setup_fail("sigaction", errno);
			goto out;
		}
		if (v == KC_PSIG_PROC_DIRFD) {
			fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = p_send(fd, SIGUSR1, NULL, 0);
		} else if (v == KC_PSIG_INFO_SELF) {
			fd = (int)p_open(getpid(), 0);
			info.si_signo = SIGUSR1;
			info.si_code = SI_USER;
			info.si_pid = getpid();
			info.si_uid = getuid();
			r = p_send(fd, SIGUSR1, &info, 0);
		} else {
			r = p_send(v == KC_PSIG_SELF_THREAD ? KP_SELF_THREAD : KP_SELF_PROCESS, SIGUSR1, NULL, 0);
		}
		put(KC_PV_RET, r);
		put(KC_PV_HITS, kp_hits);
		put(KC_PV_HANDLER_TID, kp_hit_tid);
		put(KC_PV_SI_CODE, kp_hit_code);
		goto out;
	}
	case KC_PSIG_BAD_FLAGS:
	case KC_PSIG_TWO_SCOPES:
		fd = (int)p_open(getpid(), 0);
		put(KC_PV_RET, p_send(fd, 0, NULL, q->flags));
		goto out;
	case KC_PSIG_NOT_PIDFD:
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		put(KC_PV_RET, p_send(fd, 0, NULL, 0));
		goto out;
	case KC_PSIG_BAD_SIG:
		fd = (int)p_open(getpid(), 0);
		put(KC_PV_RET, p_send(fd, q->arg, NULL, 0));
		goto out;
	case KC_PSIG_RECYCLED: {
		struct kp_kid b;
		int32_t tid;

		kp_kid_init(&b, KID_HANDLER, 0);
		if (kp_start(&k) < 0)
			goto out;
		fd = (int)p_open(k.pid, 0);
		tid = k.pid;
		kp_exit_reap(&k);
		if (kp_start_settid(&b, tid) < 0) {
			kp_finish(&b);
			goto out;
		}
		put(KC_PV_RET2, b.pid == tid);
		put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, 0));
		put(KC_PV_HITS, kp_read_sigrec(&b, &rec, 100));
		kp_finish(&b);
		goto out;
	}
	case KC_PSIG_OTHER_UID:
		if (kp_is_root()) {
			if (kp_start(&k) < 0)
				goto out;
			fd = (int)p_open(k.pid, 0);
			if (kp_drop_privileges() < 0) {
				setup_fail("drop privileges", errno);
				goto out;
			}
		} else {
			char buf[2048];

			fd = (int)p_open(1, 0);
			if (kc_read_file("/proc/1/status", buf, sizeof(buf)) > 0 &&
			    kp_field(buf, "Uid:", 10) == (int64_t)getuid()) {
				setup_fail("pid 1 has the caller's uid", EPERM);
				goto out;
			}
		}
		put(KC_PV_RET, p_send(fd, 0, NULL, 0));
		if (k.pid > 0)
			kp_exit_reap(&k);
		goto out;
	default:
		break;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(v == KC_PSIG_THREAD_GONE ? k.tid2 : k.pid, v == KC_PSIG_THREAD_GONE ? KP_PIDFD_THREAD : 0));
	if (fd < 0)
		goto out;
	switch (v) {
	case KC_PSIG_DELIVER:
		put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, 0));
		if (kp_read_sigrec(&k, &rec, KP_T)) {
			put(KC_PV_SI_SIGNO, rec.signo);
			put(KC_PV_SI_CODE, rec.code);
			put(KC_PV_SI_PID, rec.pid);
			put(KC_PV_SI_UID, rec.uid);
			put(KC_PV_HANDLER_TID, rec.tid);
		}
		put(KC_PV_SELF_PID, getpid());
		put(KC_PV_SI_VALUE, getuid());
		break;
	case KC_PSIG_REAPED:
		kp_exit_reap(&k);
		put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, 0));
		break;
	case KC_PSIG_ZOMBIE:
		kp_cmd(&k, 'x');
		kc_wait_exited(k.pid, KP_T);
		put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, 0));
		break;
	case KC_PSIG_INFO_OTHER_USER:
	case KC_PSIG_INFO_OTHER_QUEUE:
	case KC_PSIG_INFO_MISMATCH:
		info.si_signo = v == KC_PSIG_INFO_MISMATCH ? SIGUSR2 : SIGUSR1;
		info.si_code = v == KC_PSIG_INFO_OTHER_USER ? SI_USER : SI_QUEUE;
		info.si_pid = getpid();
		info.si_uid = getuid();
		info.si_value.sival_int = 4242;
		put(KC_PV_RET, p_send(fd, SIGUSR1, &info, 0));
		if (kp_read_sigrec(&k, &rec, v == KC_PSIG_INFO_OTHER_QUEUE ? KP_T : 100)) {
			put(KC_PV_SI_CODE, rec.code);
			put(KC_PV_SI_VALUE, rec.value);
			put(KC_PV_SI_PID, rec.pid);
		}
		put(KC_PV_HITS, 0);
		break;
	case KC_PSIG_ZERO:
		put(KC_PV_RET, p_send(fd, 0, NULL, 0));
		put(KC_PV_HITS, kp_read_sigrec(&k, &rec, 50));
		break;
	case KC_PSIG_THREAD_GONE:
		kp_tcmd(&k, 't');
		put(KC_PV_RET2, kp_thread_gone(k.pid, k.tid2, KP_T));
		kc_sleep_ms(20);
		put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, 0));
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

static void sc_scope(const struct kc_pfd_req *q)
{
	struct kp_kid k, peer;
	int fd = -1;

	kp_kid_init(&k, KID_THREAD | KID_BLOCK_USR1 | KID_PGRP, 0);
	kp_kid_init(&peer, KID_BLOCK_USR1, 0);
	if (kp_start(&k) < 0 || kp_start(&peer) < 0)
		goto out;
	if (setpgid(peer.pid, k.pid) < 0) {
		setup_fail("setpgid(peer, kid)", errno);
		goto out;
	}
	fd = kp_opened(q->variant ? p_open(k.tid2, KP_PIDFD_THREAD) : p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	put(KC_PV_RET, p_send(fd, SIGUSR1, NULL, q->flags));
	kc_sleep_ms(20);
	put(KC_PV_PEND_LEADER, kp_pending(k.pid, k.pid, "SigPnd:", SIGUSR1));
	put(KC_PV_PEND_THREAD, kp_pending(k.pid, k.tid2, "SigPnd:", SIGUSR1));
	put(KC_PV_PEND_SHARED, kp_pending(k.pid, k.pid, "ShdPnd:", SIGUSR1));
	put(KC_PV_PEND_PEER, kp_pending(peer.pid, peer.pid, "ShdPnd:", SIGUSR1));
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
	kp_finish(&peer);
}

static void sc_getfd(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int fd = -1, v = q->variant;
	int cfg = (v == KC_PG_NONDUMPABLE || v == KC_PG_NONDUMPABLE_ROOT) ? KID_NONDUMPABLE : 0;
	long r;
	int target_fd;

	kp_kid_init(&k, cfg, 0);
	if (v == KC_PG_NONDUMPABLE && q->drop_privileges == 0 && kp_drop_privileges() < 0) {
		setup_fail("drop privileges", errno);
		return;
	}
	if (v == KC_PG_OTHER_UID && !kp_is_root()) {
		char buf[2048];

		fd = (int)p_open(1, 0);
		if (kc_read_file("/proc/1/status", buf, sizeof(buf)) > 0 &&
		    kp_field(buf, "Uid:", 10) == (int64_t)getuid()) {
			setup_fail("pid 1 has the caller's uid", EPERM);
			goto out;
		}
		put(KC_PV_RET, p_getfd(fd, 0, 0));
		goto out;
	}
	if (v == KC_PG_NOT_PIDFD) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		put(KC_PV_RET, p_getfd(fd, 0, 0));
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	/* the kid's read end of its command pipe: its number is known here */
	target_fd = k.kid_fd;
	if (v == KC_PG_OTHER_UID && kp_drop_privileges() < 0) {
		setup_fail("drop privileges", errno);
		goto out;
	}
	switch (v) {
	case KC_PG_BADFD:
		r = p_getfd(fd, 999, 0);
		break;
	case KC_PG_FLAGS:
		r = p_getfd(fd, 0, 1);
		break;
	case KC_PG_REAPED:
		kp_exit_reap(&k);
		r = p_getfd(fd, target_fd, 0);
		break;
	case KC_PG_KILLED:
		p_send(fd, SIGKILL, NULL, 0);
		put(KC_PV_REVENTS, kp_poll(fd, KP_T));
		r = p_getfd(fd, target_fd, 0);
		break;
	default:
		r = p_getfd(fd, target_fd, 0);
		break;
	}
	put(KC_PV_RET, r);
	if (v == KC_PG_OTHER_UID && k.pid > 0)
		kp_exit_reap(&k);
	if (r >= 0) {
		long c = sc(syscall(KP_NR_kcmp, getpid(), k.pid, KP_KCMP_FILE, (int)r, target_fd));

		put(KC_PV_FD_FLAGS, fcntl((int)r, F_GETFD));
		put(KC_PV_KCMP, c);
		put(KC_PV_INO1, (int64_t)kp_fd_ino((int)r));
		put(KC_PV_INO2, (int64_t)kp_fd_ino(k.go_w));
		close((int)r);
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

static int kp_fdinfo(int fd, char *buf, size_t cap)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return kc_read_file(path, buf, cap);
}

/* In a new pid + mount namespace: mount a private /proc and read the fdinfo
 * of the inherited pidfd. */
static int kp_sibling_main(void *p)
{
	struct kp_fn_ctx *c = p;

	memset(c->text, 0, sizeof(c->text));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		c->v[0] = -errno;
	} else {
		c->v[0] = kp_fdinfo(c->pidfd, c->text, sizeof(c->text));
		c->v[1] = getpid();
	}
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

static int kp_execveat_main(void *p)
{
	struct kp_fn_ctx *c = p;
	char *argv[] = { "x", NULL };
	char *envp[] = { NULL };

	c->v[0] = sc(syscall(SYS_execveat, c->pidfd, "", argv, envp, AT_EMPTY_PATH));
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* In a new mount namespace (made private, a tmpfs on /tmp): bind-mount the
 * inherited pidfd onto a file, then stat and open it through the path.
 * v: 0 setup (0 or -errno), 1 open_tree, 2 move_mount, 3 pidfd ino,
 * 4 path ino, 5 open(path), 6 ino of that fd. */
static int kp_bind_main(void *p)
{
	static const char path[] = "/tmp/kc-pidfd-bind";
	struct kp_fn_ctx *c = p;
	struct stat st;
	long t, r;
	int f;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") < 0 ||
	    (f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) < 0) {
		c->v[0] = -errno;
		goto done;
	}
	close(f);
	t = sc(syscall(KP_NR_open_tree, c->pidfd, "", AT_EMPTY_PATH | 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC));
	c->v[1] = t;
	if (t < 0)
		goto done;
	r = sc(syscall(KP_NR_move_mount, (int)t, "", AT_FDCWD, path, 4 /* MOVE_MOUNT_F_EMPTY_PATH */));
	c->v[2] = r;
	close((int)t);
	if (r < 0)
		goto done;
	c->v[3] = (int64_t)kp_fd_ino(c->pidfd);
	c->v[4] = stat(path, &st) < 0 ? -errno : (int64_t)st.st_ino;
	f = open(path, O_RDONLY | O_CLOEXEC);
	c->v[5] = f < 0 ? -errno : f;
	if (f >= 0) {
		c->v[6] = (int64_t)kp_fd_ino(f);
		close(f);
	}
done:
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

static void sc_pidfs(const struct kc_pfd_req *q)
{
	struct kp_kid k, k2;
	int fd = -1, fd2 = -1, fd3 = -1, v = q->variant;
	char buf[KC_PFD_TEXT];

	kp_kid_init(&k, 0, 0);
	kp_kid_init(&k2, 0, 0);
	if (v == KC_PF_FDINFO_NESTED || v == KC_PF_FDINFO_SIBLING) {
		if (kp_start_clone(&k, CLONE_NEWPID) < 0)
			goto out;
	} else if (kp_start(&k) < 0) {
		goto out;
	}
	fd = (int)p_open(k.pid, 0);
	put(KC_PV_RET, fd);
	if (fd < 0)
		goto out;
	switch (v) {
	case KC_PF_INO:
		if (kp_start(&k2) < 0)
			goto out;
		fd2 = (int)p_open(k.pid, 0);
		fd3 = (int)p_open(k2.pid, 0);
		put(KC_PV_INO1, (int64_t)kp_fd_ino(fd));
		put(KC_PV_INO2, (int64_t)kp_fd_ino(fd2));
		put(KC_PV_INO3, (int64_t)kp_fd_ino(fd3));
		break;
	case KC_PF_STATFS: {
		struct statfs sf;

		put(KC_PV_RET2, fstatfs(fd, &sf) < 0 ? -errno : 0);
		put(KC_PV_FSTYPE, (int64_t)(uint64_t)sf.f_type);
		break;
	}
	case KC_PF_READLINK:
		kp_put_fd_props(fd);
		break;
	case KC_PF_FDINFO_REAPED:
		kp_exit_reap(&k);
		/* fall through */
	case KC_PF_FDINFO:
	case KC_PF_FDINFO_NESTED:
		if (kp_fdinfo(fd, buf, sizeof(buf)) > 0)
			text_add(buf);
		break;
	case KC_PF_FDINFO_SIBLING: {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.pidfd = fd;
		if (kp_run_fn(CLONE_NEWPID | CLONE_NEWNS, kp_sibling_main, &c) < 0)
			goto out;
		put(KC_PV_RET2, c.v[0]);
		text_add(c.text);
		break;
	}
	case KC_PF_FCHOWN:
		put(KC_PV_RET2, fchown(fd, getuid(), getgid()) < 0 ? -errno : 0);
		break;
	case KC_PF_FCHMOD:
		put(KC_PV_RET2, fchmod(fd, 0600) < 0 ? -errno : 0);
		break;
	case KC_PF_EXECVEAT: {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.pidfd = fd;
		if (kp_run_fn(0, kp_execveat_main, &c) < 0)
			goto out;
		put(KC_PV_RET2, c.v[0]);
		break;
	}
	case KC_PF_BIND_MOUNT: {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.pidfd = fd;
		if (kp_run_fn(CLONE_NEWNS, kp_bind_main, &c) < 0)
			goto out;
		if (c.v[0] < 0) {
			setup_fail("private mount namespace with a tmpfs on /tmp", (int)-c.v[0]);
			goto out;
		}
		put(KC_PV_RET2, c.v[1]);
		if (c.v[1] < 0)
			break;
		put(KC_PV_RET3, c.v[2]);
		if (c.v[2] < 0)
			break;
		put(KC_PV_INO1, c.v[3]);
		put(KC_PV_INO2, c.v[4]);
		put(KC_PV_REOPEN, c.v[5]);
		if (c.v[5] >= 0)
			put(KC_PV_INO3, c.v[6]);
		break;
	}
	case KC_PF_XATTR: {
		static const char val[] = "kc-value";
		char got[64], list[512];
		long n;

		n = fsetxattr(fd, KP_XATTR, val, sizeof(val), XATTR_CREATE) < 0 ? -errno : 0;
		put(KC_PV_RET2, n);
		if (n < 0)
			break;
		memset(got, 0, sizeof(got));
		n = fgetxattr(fd, KP_XATTR, got, sizeof(got));
		put(KC_PV_XATTR_GET, n < 0 ? -errno : n);
		put(KC_PV_XATTR_MATCH, n == (long)sizeof(val) && !memcmp(got, val, sizeof(val)));
		n = flistxattr(fd, list, sizeof(list));
		if (n < 0) {
			put(KC_PV_XATTR_LIST, -errno);
		} else {
			int found = 0;

			for (long off = 0; off < n; off += (long)strlen(list + off) + 1)
				if (!strcmp(list + off, KP_XATTR))
					found = 1;
			put(KC_PV_XATTR_LIST, found);
		}
		kp_close(&fd);
		fd = (int)p_open(k.pid, 0);
		put(KC_PV_RET3, fd);
		if (fd < 0)
			break;
		memset(got, 0, sizeof(got));
		n = fgetxattr(fd, KP_XATTR, got, sizeof(got));
		put(KC_PV_XATTR_REOPEN, n < 0 ? -errno : n);
		n = fremovexattr(fd, KP_XATTR) < 0 ? -errno : 0;
		put(KC_PV_RET, n);
		n = fgetxattr(fd, KP_XATTR, got, sizeof(got));
		put(KC_PV_XATTR_REMOVED, n < 0 ? -errno : n);
		break;
	}
	}
out:
	kp_close(&fd);
	kp_close(&fd2);
	kp_close(&fd3);
	kp_finish(&k);
	kp_finish(&k2);
}

static const char *const kp_ns_names[] = {
	"", "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts",
};

static void sc_nsioctl(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int fd = -1;
	long ns;
	char path[96];

	if (q->variant < 1 || q->variant > 10) {
		setup_fail("namespace ioctl number", EINVAL);
		return;
	}
	kp_kid_init(&k, 0, 0);
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	ns = sc(ioctl(fd, (unsigned long)(0xFF00u | (unsigned)q->variant), 0));
	put(KC_PV_RET, ns);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", k.pid, kp_ns_names[q->variant]);
	put(KC_PV_NS_PROC, (int64_t)kp_ino(path));
	if (ns >= 0) {
		put(KC_PV_NS_IOCTL, (int64_t)kp_fd_ino((int)ns));
		close((int)ns);
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

/* --- setns through pidfds, namespace by namespace ------------------------ */

#define KP_NS_N 11   /* kp_ns_names[1..10] */
#define KP_ALL_NEW (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | \
		    CLONE_NEWNET)

/* The CLONE_NEW* flags in the order setns validates them after the user namespace. */
static const struct { const char *name; int flag; } kp_ns_flags[] = {
	{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static uint64_t kp_ns_tgt[KP_NS_N];  /* the target kid's namespace inodes (copied into the helper by the clone) */
static int kp_pidfd2 = -1;           /* the second kid's pidfd (no_foul_play) */

static void kp_ns_snap(int pid, uint64_t *ino)
{
	char path[96];

	for (int i = 1; i < KP_NS_N; i++) {
		if (pid > 0)
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, kp_ns_names[i]);
		else
			snprintf(path, sizeof(path), "/proc/self/ns/%s", kp_ns_names[i]);
		ino[i] = kp_ino(path);
	}
}

/* Append to buf the names whose inode differs between a and b ("none" when none does); a name that moved to
 * something other than the target's namespace is marked "(other)". */
static void kp_ns_diff(char *buf, size_t cap, const uint64_t *a, const uint64_t *b)
{
	size_t n = strlen(buf), start = n;

	for (int i = 1; i < KP_NS_N; i++) {
		if (a[i] == b[i])
			continue;
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s%s", n > start ? " " : "", kp_ns_names[i],
				      b[i] == kp_ns_tgt[i] ? "" : "(other)");
	}
	if (n == start)
		snprintf(buf + n, n < cap ? cap - n : 0, "none");
}

/* Snapshot our namespaces into now, and append "<label><what moved since from>" to the helper's text. */
static void kp_note_moved(struct kp_fn_ctx *c, const char *label, const uint64_t *from, uint64_t *now)
{
	char line[256];

	kp_ns_snap(0, now);
	snprintf(line, sizeof(line), "%s", label);
	kp_ns_diff(line, sizeof(line), from, now);
	strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
}

static int kp_flag_known(int i)
{
	return kp_ns_flags[i].flag != CLONE_NEWTIME || kp_exists("/proc/self/ns/time%.0d%.0d", 0, 0);
}

static const char *kp_errname(long r)
{
	switch (-r) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ESRCH: return "ESRCH";
	case EUSERS: return "EUSERS";
	case EBADF: return "EBADF";
	default: return "other";
	}
}

/* Helper: setns(pidfd, one flag at a time); one text line per flag naming what moved. */
static int kp_setns_incr_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t before[KP_NS_N], after[KP_NS_N];
	char line[160];

	memset(c->text, 0, sizeof(c->text));
	kp_ns_snap(0, before);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++) {
		long r;

		if (!kp_flag_known((int)i))
			continue;
		r = sc(setns(c->pidfd, kp_ns_flags[i].flag));
		c->v[0]++;
		if (r == 0)
			c->v[1]++;
		kp_ns_snap(0, after);
		snprintf(line, sizeof(line), "%s: ", kp_ns_flags[i].name);
		kp_ns_diff(line, sizeof(line), before, after);
		if (r < 0)
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " (%s)", kp_errname(r));
		strncat(line, "\n", sizeof(line) - strlen(line) - 1);
		strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
		memcpy(before, after, sizeof(before));
	}
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Helper: join kid 1's namespaces at once, then try kid 2's one by one and all at once. */
static int kp_setns_foul_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t start[KP_NS_N], joined[KP_NS_N], after[KP_NS_N];
	char line[256] = "";
	int all = 0;

	memset(c->text, 0, sizeof(c->text));
	kp_ns_snap(0, start);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++)
		if (kp_flag_known((int)i))
			all |= kp_ns_flags[i].flag;
	c->v[0] = sc(setns(c->pidfd, all));
	kp_note_moved(c, "joined: ", start, joined);
	strncat(c->text, "\nrefused:", sizeof(c->text) - strlen(c->text) - 1);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++) {
		long r;

		if (!kp_flag_known((int)i))
			continue;
		r = sc(setns(kp_pidfd2, kp_ns_flags[i].flag));
		c->v[1]++;
		if (r == -EPERM)
			c->v[2]++;
		snprintf(line, sizeof(line), " %s=%s", kp_ns_flags[i].name, kp_errname(r));
		strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
	}
	c->v[3] = sc(setns(kp_pidfd2, all));
	/* what moved since the join (kp_ns_tgt is kid 1's: anything that moved is "(other)") */
	kp_note_moved(c, "\nchanged: ", joined, after);
	strncat(c->text, "\n", sizeof(c->text) - strlen(c->text) - 1);
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Helper: join the kid's user namespace, then setns(pidfd, c->arg) (refused), then CLONE_NEWUTS alone. */
static int kp_setns_mixed_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t joined[KP_NS_N], after[KP_NS_N];

	memset(c->text, 0, sizeof(c->text));
	c->v[0] = sc(setns(c->pidfd, CLONE_NEWUSER));
	kp_ns_snap(0, joined);
	c->v[1] = sc(setns(c->pidfd, c->arg));
	kp_note_moved(c, "changed: ", joined, after);
	c->v[2] = sc(setns(c->pidfd, CLONE_NEWUTS));
	kp_note_moved(c, "\nalone: ", joined, after);
	strncat(c->text, "\n", sizeof(c->text) - strlen(c->text) - 1);
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* A kid in a new namespace of every kind (its own user namespace; time too where it exists). */
static int kp_start_ns_kid(struct kp_kid *k)
{
	kp_kid_init(k, kp_exists("/proc/self/ns/time%.0d%.0d", 0, 0) ? KID_NEWTIME : 0, 0);
	return kp_start_clone(k, KP_ALL_NEW);
}

static void sc_setns_more(const struct kc_pfd_req *q)
{
	struct kp_kid k, k2;
	struct kp_fn_ctx c;
	int fd = -1, fd2 = -1;
	kc_fn fn = q->variant == KC_PN_INCREMENTAL ? kp_setns_incr_main :
		   q->variant == KC_PN_NO_FOUL_PLAY ? kp_setns_foul_main : kp_setns_mixed_main;

	kp_kid_init(&k, KID_NEWUSER_UTS, 0);
	kp_kid_init(&k2, 0, 0);
	memset(&c, 0, sizeof(c));
	if ((q->variant == KC_PN_MIXED ? kp_start(&k) : kp_start_ns_kid(&k)) < 0)
		goto out;
	if (q->variant == KC_PN_NO_FOUL_PLAY && kp_start_ns_kid(&k2) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (q->variant == KC_PN_NO_FOUL_PLAY) {
		fd2 = kp_opened(p_open(k2.pid, 0));
		if (fd2 < 0)
			goto out;
	}
	kp_ns_snap(k.pid, kp_ns_tgt);
	kp_pidfd2 = fd2;
	c.pidfd = fd;
	c.arg = (int)q->flags;
	if (kp_run_fn(0, fn, &c) < 0)
		goto out;
	put(KC_PV_RET, c.v[0]);
	if (q->variant == KC_PN_INCREMENTAL) {
		put(KC_PV_ROUNDS, c.v[0]);
		put(KC_PV_RET2, c.v[1]);
	} else if (q->variant == KC_PN_NO_FOUL_PLAY) {
		put(KC_PV_ROUNDS, c.v[1]);
		put(KC_PV_RET2, c.v[2]);
		put(KC_PV_RET3, c.v[3]);
	} else {
		put(KC_PV_RET2, c.v[1]);
		put(KC_PV_RET3, c.v[2]);
	}
	text_add(c.text);
out:
	kp_close(&fd);
	kp_close(&fd2);
	kp_pidfd2 = -1;
	kp_finish(&k);
	kp_finish(&k2);
}

static int kp_setns_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct utsname u;

	memset(c->text, 0, sizeof(c->text));
	c->v[0] = sc(setns(c->pidfd, c->arg));
	if (c->v[0] == 0 && uname(&u) == 0)
		snprintf(c->text, sizeof(c->text), "%s", u.nodename);
	c->v[1] = (int64_t)kp_ino("/proc/self/ns/uts");
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

static void sc_setns(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_fn_ctx c;
	int fd = -1, cfg = 0, flags = 0;
	char path[96];

	if (q->variant >= KC_PN_NO_FOUL_PLAY) {
		sc_setns_more(q);
		return;
	}
	if (q->variant == KC_PN_UTS)
		cfg = KID_NEWUTS, flags = CLONE_NEWUTS;
	else if (q->variant == KC_PN_USER_UTS)
		cfg = KID_NEWUSER_UTS, flags = CLONE_NEWUSER | CLONE_NEWUTS;
	else if (q->variant == KC_PN_BAD_FLAGS)
		flags = CLONE_VM;
	kp_kid_init(&k, cfg, 0);
	memset(&c, 0, sizeof(c));
	if (q->variant == KC_PN_NOT_NSFD) {
		fd = (int)sc(syscall(SYS_memfd_create, "kc-pidfd", MFD_CLOEXEC));
		c.pidfd = fd;
		c.arg = 0;
		if (kp_run_fn(0, kp_setns_main, &c) < 0)
			goto out;
		put(KC_PV_RET, c.v[0]);
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (q->variant == KC_PN_EXITED) {
		kp_exit_reap(&k);
		flags = CLONE_NEWUTS;
	}
	c.pidfd = fd;
	c.arg = flags;
	if (kp_run_fn(0, kp_setns_main, &c) < 0)
		goto out;
	put(KC_PV_RET, c.v[0]);
	put(KC_PV_INO1, c.v[1]);
	snprintf(path, sizeof(path), "/proc/%d/ns/uts", k.pid);
	put(KC_PV_INO2, (int64_t)kp_ino(path));
	put(KC_PV_INO3, (int64_t)kp_ino("/proc/self/ns/uts"));
	text_add(c.text);
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

struct kp_fh {
	unsigned int handle_bytes;
	int handle_type;
	unsigned char f_handle[128];
};

static struct kp_fh kp_fh_copy;    /* the handle a helper child decodes (copied into it by the clone) */

/* In a new pid namespace: decode the handle of a process that is not in it. */
static int kp_fh_foreign_main(void *p)
{
	struct kp_fn_ctx *c = p;

	c->v[0] = sc(syscall(SYS_open_by_handle_at, c->pidfd, &kp_fh_copy, O_RDONLY));
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

static void sc_fhandle(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int fd = -1, v = q->variant;
	struct kp_fh h;
	int mnt_id = 0, nflags = AT_EMPTY_PATH;
	long r, nfd;
	int oflags = O_RDONLY;

	kp_kid_init(&k, 0, 0);
	if (v == KC_PH_CHILD_PIDNS || v == KC_PH_FOREIGN_PIDNS) {
		if (kp_start_clone(&k, CLONE_NEWPID) < 0)
			goto out;
	} else if (kp_start(&k) < 0) {
		goto out;
	}
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (v == KC_PH_FID)
		nflags |= KP_AT_HANDLE_FID;
	if (v == KC_PH_CONNECTABLE)
		nflags |= KP_AT_HANDLE_CONNECTABLE;
	memset(&h, 0, sizeof(h));
	h.handle_bytes = sizeof(h.f_handle);
	r = sc(syscall(SYS_name_to_handle_at, fd, "", &h, &mnt_id, nflags));
	put(KC_PV_RET, r);
	if (r < 0)
		goto out;
	if (v == KC_PH_ZOMBIE) {
		kp_cmd(&k, 'x');
		kc_wait_exited(k.pid, KP_T);
	} else if (v == KC_PH_REAPED) {
		kp_exit_reap(&k);
	}
	if (v == KC_PH_THREAD_FLAG)
		oflags |= O_EXCL;
	if (v == KC_PH_BAD_FLAG)
		oflags |= O_APPEND;
	if (v == KC_PH_FOREIGN_PIDNS) {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.pidfd = fd;
		kp_fh_copy = h;
		if (kp_run_fn(CLONE_NEWPID, kp_fh_foreign_main, &c) < 0)
			goto out;
		put(KC_PV_RET2, c.v[0]);
		goto out;
	}
	nfd = sc(syscall(SYS_open_by_handle_at, fd, &h, oflags));
	put(KC_PV_RET2, nfd);
	if (nfd >= 0) {
		put(KC_PV_INO1, (int64_t)kp_fd_ino(fd));
		put(KC_PV_INO2, (int64_t)kp_fd_ino((int)nfd));
		put(KC_PV_FL_FLAGS, fcntl((int)nfd, F_GETFL));
		if (v == KC_PH_LOOKUP) {
			long x = sc(openat((int)nfd, "x", O_RDONLY | O_CLOEXEC));

			put(KC_PV_RET3, x);
			if (x >= 0)
				close((int)x);
		}
		close((int)nfd);
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

static int kp_remote_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct kp_info info;

	c->v[0] = p_info(c->pidfd, 88, &info, 0);
	c->v[1] = info.pid;
	c->v[2] = getpid();
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Inside a new pid namespace (as its init): fork a child that exits c->arg, open a pidfd,
 * reap it, ask PIDFD_GET_INFO with PIDFD_INFO_EXIT. */
static int kp_pidns_exit_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct kp_info info;
	long pid = kc_spawn_fn(kp_exit_fn, (void *)(intptr_t)c->arg);
	long fd;

	c->v[0] = -EPROTO;
	if (pid > 0) {
		fd = p_open((int)pid, 0);
		kc_reap_bounded((int)pid, KP_T, NULL);
		if (fd >= 0) {
			c->v[0] = p_info((int)fd, 88, &info, KP_INFO_EXIT);
			c->v[1] = (int64_t)info.mask;
			c->v[2] = info.exit_code;
			close((int)fd);
		} else {
			c->v[0] = fd;
		}
	}
	c->v[3] = getpid();
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* The kid's second thread execs /bin/sh (after the leader thread exited, with arg 1); wait until the exec is
 * done (the process's comm is "sh").  1 when it is. */
static int kp_thread_exec(struct kp_kid *k, int leader_first)
{
	int64_t deadline = kc_now_ms() + KP_T;
	char path[64], buf[64] = "";

	if (leader_first) {
		kp_cmd(k, 'l');
		if (!kp_thread_gone(k->pid, k->pid, KP_T))
			return 0;
	}
	kp_tcmd(k, 'e');
	snprintf(path, sizeof(path), "/proc/%d/comm", k->pid);
	while (kc_now_ms() < deadline) {
		if (kc_read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf, "sh\n", 3))
			break;
		kc_sleep_ms(2);
	}
	return strncmp(buf, "sh\n", 3) == 0;
}

/* A non-leader thread execs: what the pidfds of the exec'ing thread, of the process and of the leader
 * thread report. */
static void kp_info_exec(const struct kc_pfd_req *q, struct kp_kid *k, int gfd)
{
	struct kp_info info;
	int tfd = -1, lfd = -1, st = 0;
	long r;

	tfd = (int)p_open(k->tid2, KP_PIDFD_THREAD);
	lfd = (int)p_open(k->pid, KP_PIDFD_THREAD);
	if (tfd < 0 || lfd < 0) {
		setup_fail("pidfd_open(PIDFD_THREAD)", tfd < 0 ? -tfd : -lfd);
		goto out;
	}
	put(KC_PV_RET2, kp_thread_exec(k, q->arg & 1));
	kc_sleep_ms(50);
	if (q->variant == KC_PI_EXEC_THREAD) {
		/* the thread's struct pid now belongs to the replaced leader, which was released */
		put(KC_PV_REVENTS, kp_poll(tfd, KP_T));
		r = p_info(tfd, 88, &info, KP_INFO_EXIT);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		goto out;
	}
	put(KC_PV_REVENTS_EARLY, kp_poll(lfd, 0));
	r = p_info(gfd, 88, &info, KP_INFO_EXIT);
	put(KC_PV_RET, r);
	if (r == 0)
		kp_put_info(&info);
	p_send(gfd, SIGKILL, NULL, 0);
	put(KC_PV_REVENTS, kp_poll(lfd, KP_T));
	if (kc_reap_bounded(k->pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k->pid = -1;
	r = p_info(gfd, 88, &info, KP_INFO_EXIT);
	put(KC_PV_RET3, r < 0 ? r : (int64_t)info.mask);
	if (r == 0)
		put(KC_PV_INFO_EXIT, info.exit_code);
out:
	kp_close(&tfd);
	kp_close(&lfd);
}

static int kp_unlink_entry(int dfd, const char *name)
{
	return unlinkat(dfd, name, 0) < 0 ? errno : 0;
}

/* Remove the core scratch directory and what the crash left in it: the number of entries, or -errno. */
static int kp_core_dir_remove(void)
{
	int dfd, err = 0;
	long n;

	if (!kp_core_dir[0])
		return 0;
	dfd = open(kp_core_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	n = kp_entries(dfd, kp_unlink_entry, &err);
	close(dfd);
	if (n < 0 && !err)
		err = (int)-n;
	if (rmdir(kp_core_dir) < 0 && !err)
		err = errno;
	kp_core_dir[0] = 0;
	return err ? -err : (int)n;
}

/* PIDFD_INFO_COREDUMP of the live kid (how it would dump), then it crashes on its 's' command: its wait
 * status once reaped (within exit_ms, then KP_T), and PIDFD_INFO_EXIT | PIDFD_INFO_COREDUMP through fd. */
static void kp_crash_and_report(struct kp_kid *k, int fd, int exit_ms)
{
	struct kp_info info;
	int st = 0;
	long r = p_info(fd, 88, &info, KP_INFO_COREDUMP);

	put(KC_PV_RET, r);
	if (r == 0)
		kp_put_info(&info);
	kp_cmd(k, 's');
	kc_wait_exited(k->pid, exit_ms);
	if (kc_reap_bounded(k->pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k->pid = -1;
	r = p_info(fd, 88, &info, KP_INFO_EXIT | KP_INFO_COREDUMP);
	put(KC_PV_RET2, r);
	if (r == 0) {
		put(KC_PV_RET3, (int64_t)info.mask);
		put(KC_PV_INFO_EXIT, info.exit_code);
		put(KC_PV_CORE_MASK_AFTER, info.coredump_mask);
	}
}

static void sc_info(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_info info;
	int fd = -1, v = q->variant, cfg = 0;
	long r;

	if (v == KC_PI_CREDS)
		cfg = KID_SETRES;
	else if (v == KC_PI_THREAD)
		cfg = KID_THREAD;
	else if (v == KC_PI_CORE_CRASH)
		cfg = KID_NONDUMPABLE;
	else if (v == KC_PI_CORE_LIVE)
		cfg = KID_DUMPABLE;
	else if (v == KC_PI_EXEC_THREAD || v == KC_PI_EXEC_LEADER)
		cfg = KID_THREAD;
	else if (v == KC_PI_CORE_DUMPED)
		cfg = KID_COREDUMP;
	kp_kid_init(&k, cfg, v == KC_PI_EXIT ? q->arg : 0);
	if (v == KC_PI_CORE_DUMPED) {
		const char *tmp = getenv("TMPDIR");

		snprintf(kp_core_dir, sizeof(kp_core_dir), "%s/kc-pidfd-core-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(kp_core_dir)) {
			kp_core_dir[0] = 0;
			setup_fail("mkdtemp for the core dump", errno);
			goto out;
		}
	}
	if (v == KC_PI_NOT_PIDFD) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		put(KC_PV_RET, p_info(fd, 88, &info, 0));
		goto out;
	}
	if (v == KC_PI_EXIT_PIDNS) {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.arg = q->arg;
		if (kp_run_fn(CLONE_NEWPID, kp_pidns_exit_main, &c) < 0)
			goto out;
		put(KC_PV_RET, c.v[0]);
		put(KC_PV_INFO_MASK, c.v[1]);
		put(KC_PV_INFO_EXIT, c.v[2]);
		put(KC_PV_RET2, c.v[3]);
		goto out;
	}
	if (v == KC_PI_REMOTE) {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		fd = (int)p_open(getpid(), 0);
		c.pidfd = fd;
		if (kp_run_fn(CLONE_NEWPID, kp_remote_main, &c) < 0)
			goto out;
		put(KC_PV_RET, c.v[0]);
		put(KC_PV_INFO_PID, c.v[1]);
		put(KC_PV_RET2, c.v[2]);
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(v == KC_PI_THREAD ? p_open(k.tid2, KP_PIDFD_THREAD) : p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	put(KC_PV_SELF_PID, getpid());
	kp_put_rep_creds(&k.rep);
	switch (v) {
	case KC_PI_BASIC:
	case KC_PI_CREDS:
	case KC_PI_THREAD:
		r = p_info(fd, 88, &info, 0);
		put(KC_PV_RET, r);
		put(KC_PV_CGROUP_ID, (int64_t)kp_cgroup_id(k.pid));
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_UNKNOWN_MASK:
		r = p_info(fd, 88, &info, (1ULL << 40) | (1ULL << 63) | KP_INFO_PID);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_SIZE: {
		unsigned char raw[128];
		int untouched = 1;
		unsigned size = (unsigned)q->arg;

		memset(raw, 0xAA, sizeof(raw));
		memset(raw, 0, 8);
		r = sc(ioctl(fd, KP_INFO_CMD(size), raw));
		put(KC_PV_RET, r);
		if (r == 0) {
			memcpy(&info, raw, sizeof(info) < sizeof(raw) ? sizeof(info) : sizeof(raw));
			kp_put_info(&info);
			for (unsigned i = size; i < sizeof(raw); i++)
				if (raw[i] != 0xAA)
					untouched = 0;
			put(KC_PV_INFO_TRUNC, untouched);
		}
		break;
	}
	case KC_PI_NULL:
		put(KC_PV_RET, sc(ioctl(fd, KP_INFO_CMD(88), NULL)));
		break;
	case KC_PI_REAPED:
		kp_exit_reap(&k);
		put(KC_PV_RET, p_info(fd, 88, &info, 0));
		break;
	case KC_PI_EXIT:
	case KC_PI_KILLED:
		if (v == KC_PI_KILLED) {
			p_send(fd, SIGKILL, NULL, 0);
			kc_reap_bounded(k.pid, KP_T, NULL);
			k.pid = -1;
		} else {
			kp_exit_reap(&k);
		}
		r = p_info(fd, 88, &info, KP_INFO_EXIT);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_ZOMBIE:
		kp_cmd(&k, 'x');
		kc_wait_exited(k.pid, KP_T);
		r = p_info(fd, 88, &info, KP_INFO_EXIT);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_CORE_CRASH:  /* the kid is not dumpable */
		kp_crash_and_report(&k, fd, KP_T);
		break;
	case KC_PI_CORE_LIVE:
		r = p_info(fd, 88, &info, KP_INFO_COREDUMP);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_SUPPORTED:
		r = p_info(fd, 88, &info, KP_INFO_SUPPORTED_MASK);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_PI_EXEC_THREAD:
	case KC_PI_EXEC_LEADER:
		kp_info_exec(q, &k, fd);
		break;
	case KC_PI_CORE_DUMPED:
		kp_crash_and_report(&k, fd, 10000);  /* a dumpable kid, in its scratch directory */
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
	if (v == KC_PI_CORE_DUMPED) {
		int n = kp_core_dir_remove();

		if (n < 0)
			setup_fail("removing the core scratch directory", -n);
		else
			put(KC_PV_ROOT_ENTRIES, n);
	}
}

/* ------------------------------------------------------------------------ */
/* the coredump socket (core_pattern "@<path>" 6.16, "@@<path>" 6.17)        */

#define KP_CORE_PATTERN "/proc/sys/kernel/core_pattern"
#define KP_SO_PEERPIDFD 77
#define KP_CD_KERNEL 1ULL
#define KP_CD_USERSPACE 2ULL
#define KP_CD_REJECT 4ULL
#define KP_CD_DUMP_MAX (64 << 20)   /* the server stops counting here (coredump_filter 0 keeps it far below) */

struct kp_cd_req {
	uint32_t size, size_ack;
	uint64_t mask;
};

struct kp_cd_ack {
	uint32_t size, spare;
	uint64_t mask;
	uint8_t extra[16];           /* KC_PCA_SIZE_BIG sends 32 bytes */
};

static char kp_cd_saved[256];      /* core_pattern before the scenario ("" until read) */
static char kp_cd_sock[160];       /* the socket's path inside kp_core_dir */

/* Put core_pattern back as it was read: 0 or -errno (the row's declared change restores it too). */
static int kp_cd_restore(void)
{
	char now[256];

	if (!kp_cd_saved[0])
		return 0;
	if (kc_read_file(KP_CORE_PATTERN, now, sizeof(now)) >= 0) {
		now[strcspn(now, "\n")] = 0;
		if (strcmp(now, kp_cd_saved) == 0)
			return 0;
	}
	return kc_write_file(KP_CORE_PATTERN, kp_cd_saved);
}

/* poll one fd for events within ms: 1 ready, 0 timeout, -errno. */
static int kp_cd_wait(int fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t deadline = kc_now_ms() + ms;

	for (;;) {
		int left = (int)(deadline - kc_now_ms()), r;

		if (left < 0)
			return 0;
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Exactly len bytes from a connection within ms: len, fewer on EOF, or -errno (-ETIMEDOUT). */
static long kp_cd_recv(int fd, void *buf, size_t len, int ms)
{
	size_t got = 0;
	int64_t deadline = kc_now_ms() + ms;

	while (got < len) {
		int r = kp_cd_wait(fd, POLLIN, (int)(deadline - kc_now_ms()));
		ssize_t n;

		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return (long)got;
}

/* Read the rest of a connection until EOF (bounded): the byte count; DUMP_ELF from its first bytes. */
static void kp_cd_drain(int fd, int ms)
{
	static char buf[65536];
	int64_t total = 0, deadline = kc_now_ms() + ms;
	int elf = 0;

	for (;;) {
		int r = kp_cd_wait(fd, POLLIN, (int)(deadline - kc_now_ms()));
		ssize_t n;

		if (r <= 0) {
			setup_fail(r == 0 ? "reading the dump: no EOF in time" : "poll on the dump", r == 0 ? ETIMEDOUT : -r);
			break;
		}
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != ECONNRESET)
				setup_fail("reading the dump", errno);
			break;
		}
		if (total == 0 && n >= 4 && memcmp(buf, "\177ELF", 4) == 0)
			elf = 1;
		total += n;
		if (total > KP_CD_DUMP_MAX)
			break;
	}
	put(KC_PV_DUMP_BYTES, total);
	put(KC_PV_DUMP_ELF, elf);
}

/* SO_PEERPIDFD of a connection and PIDFD_GET_INFO(COREDUMP) through it: the peer's pid, or -1. */
static int kp_cd_peer(int conn, int record)
{
	struct kp_info info;
	int pfd = -1;
	socklen_t len = sizeof(pfd);
	long r;
	int pid = -1;

	r = getsockopt(conn, SOL_SOCKET, KP_SO_PEERPIDFD, &pfd, &len) < 0 ? -errno : 0;
	if (record)
		put(KC_PV_PEER_PIDFD, r);
	if (r < 0)
		return -1;
	r = p_info(pfd, 88, &info, KP_INFO_COREDUMP);
	if (r == 0)
		pid = (int)info.pid;
	if (record) {
		put(KC_PV_RET, r);
		if (r == 0) {
			kp_put_info(&info);
			put(KC_PV_INFO_CORE_CODE, (int32_t)info.coredump_code);
		}
	}
	close(pfd);
	return pid;
}

/* Accept the kernel's connection for the kid (within ms); others (another task's crash) are closed. */
static int kp_cd_accept(int lfd, int kid, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	for (;;) {
		int r = kp_cd_wait(lfd, POLLIN, (int)(deadline - kc_now_ms())), conn;

		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		{
			int fd = -1;
			socklen_t len = sizeof(fd);
			struct kp_info info;
			int pid = -1;

			if (getsockopt(conn, SOL_SOCKET, KP_SO_PEERPIDFD, &fd, &len) == 0) {
				if (p_info(fd, 88, &info, 0) == 0)
					pid = (int)info.pid;
				close(fd);
			}
			if (pid == kid)
				return conn;
		}
		close(conn);
	}
}

/* The @@ protocol as the server: read the request, answer per arg, read the mark. */
static void kp_cd_protocol(int conn, int how)
{
	struct kp_cd_req req;
	struct kp_cd_ack ack;
	size_t send_len = 16;
	uint32_t mark = 0;
	long n;

	n = kp_cd_recv(conn, &req, sizeof(req), 20000);
	if (n != (long)sizeof(req)) {
		setup_fail("reading struct coredump_req", n < 0 ? (int)-n : EPROTO);
		return;
	}
	put(KC_PV_REQ_SIZE, req.size);
	put(KC_PV_REQ_SIZE_ACK, req.size_ack);
	put(KC_PV_REQ_MASK, (int64_t)req.mask);
	if (req.size > sizeof(req)) {   /* a larger request than this server knows: discard the rest */
		char skip[256];
		size_t left = req.size - sizeof(req);

		if (left > sizeof(skip) || kp_cd_recv(conn, skip, left, 5000) != (long)left) {
			setup_fail("discarding the rest of coredump_req", EPROTO);
			return;
		}
	}
	memset(&ack, 0, sizeof(ack));
	ack.size = 16;
	ack.mask = KP_CD_KERNEL;
	switch (how) {
	case KC_PCA_USERSPACE:
		ack.mask = KP_CD_USERSPACE;
		break;
	case KC_PCA_REJECT:
		ack.mask = KP_CD_REJECT;
		break;
	case KC_PCA_SIZE_SMALL:
		ack.size = 8;
		break;
	case KC_PCA_SIZE_BIG:
		ack.size = 32;
		send_len = 32;
		break;
	case KC_PCA_FLAG_UNKNOWN:
		ack.mask |= 1ULL << 5;
		break;
	case KC_PCA_CONFLICTING:
		ack.mask |= KP_CD_USERSPACE;
		break;
	case KC_PCA_SPARE:
		ack.spare = 1;
		break;
	}
	if (send(conn, &ack, send_len, MSG_NOSIGNAL) != (ssize_t)send_len) {
		setup_fail("sending struct coredump_ack", errno);
		return;
	}
	n = kp_cd_recv(conn, &mark, sizeof(mark), 20000);
	put(KC_PV_MARK, n == (long)sizeof(mark) ? (int64_t)mark : n < 0 ? n : -ENODATA);
}

static const char *const kp_cd_invalid[] = { "@ /kc", "@../kc", "@/kc/..", "@@@" };

static void sc_coredump(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_info info;
	struct sockaddr_un addr;
	char pattern[200], now[256];
	const char *tmp = getenv("TMPDIR");
	int v = q->variant, lfd = -1, conn = -1, fd = -1, st = 0, n;
	long r;

	kp_kid_init(&k, KID_COREDUMP, 0);
	kp_cd_saved[0] = 0;
	if ((n = kc_read_file(KP_CORE_PATTERN, kp_cd_saved, sizeof(kp_cd_saved))) < 0) {
		kp_cd_saved[0] = 0;
		setup_fail("reading core_pattern", -n);
		return;
	}
	kp_cd_saved[strcspn(kp_cd_saved, "\n")] = 0;
	if (v == KC_PC_INVALID) {
		if (q->arg < 0 || q->arg > KC_PCI_ATATAT) {
			setup_fail("invalid pattern index", EINVAL);
			return;
		}
		text_add(kp_cd_invalid[q->arg]);
		put(KC_PV_PATTERN_WRITE, kc_write_file(KP_CORE_PATTERN, kp_cd_invalid[q->arg]));
		n = kc_read_file(KP_CORE_PATTERN, now, sizeof(now));
		if (n >= 0) {
			now[strcspn(now, "\n")] = 0;
			put(KC_PV_PATTERN_SAME, strcmp(now, kp_cd_saved) == 0);
		}
		if ((n = kp_cd_restore()) < 0)
			setup_fail("restoring core_pattern", -n);
		return;
	}
	snprintf(kp_core_dir, sizeof(kp_core_dir), "%s/kc-pidfd-cdsock-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(kp_core_dir)) {
		kp_core_dir[0] = 0;
		setup_fail("mkdtemp for the coredump socket", errno);
		goto out;
	}
	{
		/* The kernel looks the socket up without following symlinks: name it by its real path. */
		char real[PATH_MAX];

		if (!realpath(kp_core_dir, real)) {
			setup_fail("realpath of the coredump socket's directory", errno);
			goto out;
		}
		n = snprintf(kp_cd_sock, sizeof(kp_cd_sock), "%s/s", real);
	}
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		setup_fail("socket path too long (TMPDIR)", ENAMETOOLONG);
		goto out;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, kp_cd_sock, (size_t)n + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		setup_fail("socket/bind of the coredump socket", errno);
		goto out;
	}
	if (v != KC_PC_NO_LISTENER && listen(lfd, 8) < 0) {
		setup_fail("listen on the coredump socket", errno);
		goto out;
	}
	snprintf(pattern, sizeof(pattern), "%s%s", v == KC_PC_REQUEST ? "@@" : "@", kp_cd_sock);
	r = kc_write_file(KP_CORE_PATTERN, pattern);
	put(KC_PV_PATTERN_WRITE, r);
	if (r < 0)
		goto out;
	if (v == KC_PC_CLIENT) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			setup_fail("connecting as a client", errno);
			if (c >= 0)
				close(c);
			goto out;
		}
		conn = kp_cd_accept(lfd, getpid(), 5000);
		if (conn < 0) {
			setup_fail("accepting the client", -conn);
			close(c);
			goto out;
		}
		kp_cd_peer(conn, 1);
		close(c);
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	kp_cmd(&k, v == KC_PC_SOCKET_ABORT ? 'a' : 'f');
	if (v != KC_PC_NO_LISTENER) {
		conn = kp_cd_accept(lfd, k.pid, 30000);
		put(KC_PV_ACCEPTED, conn >= 0);
		if (conn >= 0) {
			kp_cd_peer(conn, 1);
			if (v == KC_PC_REQUEST)
				kp_cd_protocol(conn, q->arg);
			kp_cd_drain(conn, 30000);
			close(conn);
			conn = -1;
		}
	}
	kc_wait_exited(k.pid, 30000);
	if (kc_reap_bounded(k.pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k.pid = -1;
	r = p_info(fd, 88, &info, KP_INFO_EXIT | KP_INFO_COREDUMP);
	put(KC_PV_RET2, r);
	if (r == 0) {
		put(KC_PV_RET3, (int64_t)info.mask);
		put(KC_PV_INFO_EXIT, info.exit_code);
		put(KC_PV_CORE_MASK_AFTER, info.coredump_mask);
		put(KC_PV_CORE_SIGNAL_AFTER, info.coredump_signal);
		put(KC_PV_CORE_CODE_AFTER, (int32_t)info.coredump_code);
	}
out:
	if ((n = kp_cd_restore()) < 0)
		setup_fail("restoring core_pattern", -n);
	if (conn >= 0)
		close(conn);
	if (lfd >= 0)
		close(lfd);
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
	if (kp_core_dir[0]) {
		n = kp_core_dir_remove();
		if (n < 0)
			setup_fail("removing the coredump socket's directory", -n);
	}
}

static void sc_thread(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int tfd = -1, gfd = -1;

	kp_kid_init(&k, KID_THREAD, 0);
	if (kp_start(&k) < 0)
		goto out;
	gfd = (int)p_open(k.pid, 0);
	tfd = (int)(q->variant == KC_PTH_THREAD_EXIT ? p_open(k.tid2, KP_PIDFD_THREAD)
						     : p_open(k.pid, KP_PIDFD_THREAD));
	put(KC_PV_RET, tfd);
	if (tfd < 0 || gfd < 0) {
		if (gfd < 0)
			setup_fail("pidfd_open", -gfd);
		goto out;
	}
	put(KC_PV_REVENTS_EARLY, kp_poll(tfd, 0));
	if (q->variant == KC_PTH_THREAD_EXIT) {
		kp_tcmd(&k, 't');
		put(KC_PV_RET2, kp_thread_gone(k.pid, k.tid2, KP_T));
	} else {
		kp_cmd(&k, 'l');
		put(KC_PV_RET2, kp_thread_gone(k.pid, k.pid, KP_T));
	}
	/* A thread's exit is seen at once (its poll waits for it).  The leader's thread pidfd must NOT poll
	 * while the group lives: pidfd_poll() reads the task's state at every look, and the leader is
	 * already a zombie here (exit_notify() has run), so a kernel that reports it does so at the first
	 * look; nothing later changes that task until the group goes.  KP_LEADER_T only covers a wake-up
	 * racing with the look. */
	put(KC_PV_REVENTS, kp_poll(tfd, q->variant == KC_PTH_THREAD_EXIT ? KP_T : KP_LEADER_T));
	kc_sleep_ms(20);
	put(KC_PV_REVENTS2, kp_poll(gfd, 0));
	/* the rest of the group goes: now the group pidfd polls */
	if (q->variant == KC_PTH_THREAD_EXIT)
		kp_cmd(&k, 'x');
	else
		kp_tcmd(&k, 't');
	put(KC_PV_REVENTS_REAPED, kp_poll(gfd, KP_T));
out:
	kp_close(&tfd);
	kp_close(&gfd);
	kp_finish(&k);
}

/* --- user workers ------------------------------------------------------- */

static int kp_find_kthread(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[64];

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (kc_read_file(path, buf, sizeof(buf)) > 0) {
			buf[strcspn(buf, "\n")] = 0;
			if (!strcmp(buf, comm))
				found = atoi(e->d_name);
		}
	}
	closedir(d);
	return found;
}

static void sc_worker(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kc_vhost_req vq;
	struct kc_vhost_res vr;
	int vhost = q->variant == KC_WK_VHOST || q->variant == KC_WK_VHOST_KTHREAD, vhost_started = 0;
	int kthread = 0;
	int owner = 0, worker = 0, tfd = -1, gfd = -1, afd = -1;
	int cfg = KID_HANDLER | (q->variant == KC_WK_SQPOLL ? KID_SQPOLL : KID_IOWQ);
	struct kp_info info;
	long r;

	kp_kid_init(&k, cfg, 0);
	memset(&vr, 0, sizeof(vr));
	if (vhost) {
		char comm[32];

		memset(&vq, 0, sizeof(vq));
		snprintf(vq.device, sizeof(vq.device), "/dev/vhost-net");
		vq.fork_owner = q->variant == KC_WK_VHOST_KTHREAD ? 0 : -1;
		vq.fork_owner_after = -1;
		vq.set_owner = 1;
		vq.cgroup_procs_fd = -1;
		vq.timeout_ms = KP_T;
		r = kc_vhost_start(&vq, &vr);
		if (r < 0 || vr.harness_error) {
			setup_fail("vhost owner", r < 0 ? (int)-r : vr.harness_errno);
			return;
		}
		vhost_started = 1;
		if (vr.open_ret < 0 || vr.set_owner_ret < 0) {
			setup_fail("vhost open / VHOST_SET_OWNER", vr.open_ret < 0 ? -vr.open_ret : -vr.set_owner_ret);
			goto out;
		}
		owner = vr.pid;
		snprintf(comm, sizeof(comm), "vhost-%d", owner);
		{
			struct kc_thread_info ti[KC_U_THREADS];
			int n = kc_list_threads(owner, ti, KC_U_THREADS);

			for (int i = 0; i < n && i < KC_U_THREADS; i++)
				if (!strcmp(ti[i].comm, comm))
					worker = ti[i].tid;
		}
		if (!worker) {
			worker = kp_find_kthread(comm);
			kthread = worker != 0;
		}
		put(KC_PV_WORKER_KTHREAD, kthread);
		put(KC_PV_OWNER_UID, getuid());
	} else if (q->arg == KC_WO_AUTOKILL_OWNER) {
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_AUTOREAP | KP_CLONE_PIDFD_AUTOKILL | KP_CLONE_NNP, 0) < 0)
			goto out;
		owner = k.pid;
		worker = k.rep.worker_tid;
		afd = k.pidfd;
		k.pidfd = -1;
		kp_put_rep_creds(&k.rep);
	} else {
		if (kp_start(&k) < 0)
			goto out;
		owner = k.pid;
		worker = k.rep.worker_tid;
		kp_put_rep_creds(&k.rep);
		if (k.rep.ring_res < 0) {
			setup_fail("io_uring_setup", -k.rep.ring_res);
			goto out;
		}
	}
	put(KC_PV_OWNER_PID, owner);
	put(KC_PV_WORKER_TID, worker);
	if (!worker) {
		R->harness_error = KC_PH_NO_WORKER;
		goto out;
	}
	switch (q->arg) {
	case KC_WO_OPEN:
		r = p_open(worker, 0);
		put(KC_PV_RET, r);
		if (r >= 0)
			close((int)r);
		r = p_open(worker, KP_PIDFD_THREAD);
		put(KC_PV_RET2, r);
		if (r >= 0) {
			put(KC_PV_REVENTS, kp_poll((int)r, 0));
			put(KC_PV_FL_FLAGS, fcntl((int)r, F_GETFL));
			close((int)r);
		}
		break;
	case KC_WO_INFO:
		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		if (tfd < 0)
			break;
		r = p_info(tfd, 88, &info, 0);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_WO_SIGNAL: {
		struct kp_sigrec rec;

		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		if (tfd < 0)
			break;
		r = p_send(tfd, SIGUSR1, NULL, 0);
		put(KC_PV_RET, r);
		kc_sleep_ms(50);
		put(KC_PV_PEND_THREAD, kp_pending(owner, worker, "SigPnd:", SIGUSR1));
		put(KC_PV_PEND_SHARED, kp_pending(owner, owner, "ShdPnd:", SIGUSR1));
		if (!vhost) {
			int got = kp_read_sigrec(&k, &rec, 100);

			put(KC_PV_HITS, got);
			if (got)
				put(KC_PV_HANDLER_TID, rec.tid);
		}
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, owner) && !kc_wait_exited(owner, 0));
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", kthread ? worker : owner, worker));
		if (kthread)
			put(KC_PV_PEND_THREAD, kp_pending(worker, worker, "SigPnd:", SIGUSR1));
		break;
	}
	case KC_WO_CLOSE:
		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		gfd = (int)p_open(worker, 0);
		put(KC_PV_RET, gfd);
		kp_close(&tfd);
		kp_close(&gfd);
		kc_sleep_ms(50);
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, owner) && !kc_wait_exited(owner, 0));
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", kthread ? worker : owner, worker));
		break;
	case KC_WO_AUTOKILL_FLAG:
		r = p_open(worker, KP_PIDFD_THREAD | O_TRUNC);
		put(KC_PV_RET, r);
		if (r >= 0)
			close((int)r);
		break;
	case KC_WO_AUTOKILL_OWNER:
		gfd = (int)p_open(owner, 0);
		put(KC_PV_RET2, gfd);
		if (gfd < 0)
			break;
		kp_close(&afd);
		put(KC_PV_REVENTS, kp_poll(gfd, KP_T));
		r = p_info_released(gfd, &info, KP_INFO_EXIT, KP_T);
		put(KC_PV_RET, r);
		if (r == 0)
			put(KC_PV_INFO_EXIT, info.exit_code);
		kp_wait_gone(owner, KP_T);
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, worker));
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/stat%.0d", owner, 0));
		break;
	}
out:
	kp_close(&tfd);
	kp_close(&gfd);
	kp_close(&afd);
	if (vhost_started) {
		kc_vhost_close(&vr, KP_T);
		kc_vhost_finish(&vr, 1, KP_T);
	}
	kp_finish(&k);
}

/* --- clone3 7.1 semantics ------------------------------------------------ */

static int kp_ar_code;

/* The autoreaped grandchild: no PDEATHSIG (its parent exits on purpose);
 * exits kp_ar_code on 'x' or after a bound. */
static int kp_ar_gc_main(void *p)
{
	struct kp_fn_ctx *c = p;
	char ch;

	kc_read_bounded(c->arg, &ch, 1, 2 * KP_T);
	return kp_ar_code;
}

/* The middle process: clone3(CLONE_AUTOREAP, exit_signal 0), report, exit. */
static int kp_ar_middle_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct kp_clone_args a;

	memset(&a, 0, sizeof(a));
	a.flags = KP_CLONE_AUTOREAP;
	c->v[0] = kc_raw_clone3(&a, sizeof(a), kp_ar_gc_main, c, SYS_exit_group);
	c->v[1] = getpid();
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* An autoreaped grandchild whose parent exits: reparented to the harness (a
 * subreaper) and still reaped by the kernel when it exits. */
static void kp_autoreap_subreaper(int code)
{
	struct kp_fn_ctx c;
	struct kp_info info;
	siginfo_t si;
	int go[2], gc = 0, fd = -1;
	long r;

	if (pipe2(go, O_CLOEXEC) < 0) {
		setup_fail("pipe", errno);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.arg = go[0];
	kp_ar_code = code;
	if (kp_run_fn(0, kp_ar_middle_main, &c) < 0)
		goto out;
	put(KC_PV_RET, c.v[0]);
	if (c.v[0] <= 0)
		goto out;
	gc = (int)c.v[0];
	put(KC_PV_CHILD_PID, gc);
	fd = (int)p_open(gc, 0);
	put(KC_PV_RET3, fd);
	if (fd < 0)
		goto kill;
	memset(&info, 0, sizeof(info));
	if (p_info(fd, 64, &info, 0) == 0)
		put(KC_PV_INFO_PPID, info.ppid);
	put(KC_PV_REVENTS_EARLY, kp_poll(fd, 0));
	kc_write_all(go[1], "x", 1);
	put(KC_PV_REVENTS, kp_poll(fd, KP_T));
	put(KC_PV_PROC_GONE, kp_wait_gone(gc, KP_T));
	put(KC_PV_WAIT, p_waitid(P_PID, gc, &si, WEXITED | WNOHANG | __WALL));
	r = p_info_released(fd, &info, KP_INFO_EXIT, KP_T);
	put(KC_PV_RET2, r);
	if (r == 0) {
		put(KC_PV_INFO_MASK, (int64_t)info.mask);
		put(KC_PV_INFO_EXIT, info.exit_code);
	}
kill:
	if (gc > 0 && kp_exists("/proc/%d/stat%.0d", gc, 0)) {
		kill(gc, SIGKILL);
		kp_wait_gone(gc, KP_T);
	}
out:
	kp_close(&fd);
	close(go[0]);
	close(go[1]);
}

static void sc_clone71(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int v = q->variant, obs = -1, obs2 = -1, d = -1;
	uint64_t extra = q->clone_flags;
	struct kp_info info;
	siginfo_t si;
	sigset_t set;
	long r;

	put(KC_PV_NNP_PARENT, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kp_kid_init(&k, v == KC_C71_EMPTY_MNTNS ? KID_MOUNTS : (v == KC_C71_AUTOREAP_THREADS ? KID_THREAD : 0),
		    v == KC_C71_AUTOREAP ? q->arg : 0);
	switch (v) {
	case KC_C71_AUTOREAP_SUBREAPER:
		kp_autoreap_subreaper(q->arg);
		break;
	case KC_C71_AUTOREAP:
	case KC_C71_AUTOREAP_THREADS:
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_AUTOREAP | extra, 0) < 0)
			goto out;
		put(KC_PV_RET, k.pid);
		if (v == KC_C71_AUTOREAP_THREADS) {
			kp_cmd(&k, 'l');
			put(KC_PV_RET2, kp_thread_gone(k.pid, k.pid, KP_T));
			kc_sleep_ms(20);
			put(KC_PV_REVENTS_EARLY, kp_poll(k.pidfd, 0));
			put(KC_PV_ALIVE, kp_exists("/proc/%d/stat%.0d", k.pid, 0));
			kp_tcmd(&k, 't');
		} else {
			put(KC_PV_REVENTS_EARLY, kp_poll(k.pidfd, 0));
			kp_cmd(&k, 'x');
		}
		put(KC_PV_REVENTS, kp_poll(k.pidfd, KP_T));
		put(KC_PV_PROC_GONE, kp_wait_gone(k.pid, KP_T));
		put(KC_PV_WAIT, p_waitid(P_PID, k.pid, &si, WEXITED | WNOHANG | __WALL));
		put(KC_PV_RET3, p_waitid(P_PIDFD, k.pidfd, &si, WEXITED | WNOHANG));
		{
			sigset_t pend;

			sigpending(&pend);
			put(KC_PV_SIGCHLD, sigismember(&pend, SIGCHLD));
		}
		r = p_info_released(k.pidfd, &info, KP_INFO_EXIT, KP_T);
		put(KC_PV_RET2, r);
		if (r == 0) {
			put(KC_PV_INFO_MASK, (int64_t)info.mask);
			put(KC_PV_INFO_EXIT, info.exit_code);
		}
		put(KC_PV_REVENTS_REAPED, kp_poll(k.pidfd, 0));
		k.pid = -1;
		break;
	case KC_C71_AUTOREAP_GRANDCHILD: {
		int64_t out2[2] = { 0, 0 };

		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_AUTOREAP, 0) < 0)
			goto out;
		kp_cmd(&k, 'g');
		if (kc_read_bounded(k.rep_r, out2, sizeof(out2), KP_T) != sizeof(out2)) {
			setup_fail("grandchild report", EPROTO);
			goto out;
		}
		put(KC_PV_RET, out2[0]);
		put(KC_PV_STATUS, out2[1]);
		break;
	}
	case KC_C71_PARENT_FROM_AUTOREAP:
	case KC_C71_PARENT_CONTROL: {
		int64_t out2[2] = { 0, 0 };

		if (kp_start3(&k, CLONE_PIDFD | (v == KC_C71_PARENT_FROM_AUTOREAP ? KP_CLONE_AUTOREAP : 0),
			      v == KC_C71_PARENT_FROM_AUTOREAP ? 0 : SIGCHLD) < 0)
			goto out;
		kp_cmd(&k, 'p');
		if (kc_read_bounded(k.rep_r, out2, sizeof(out2), KP_T) != sizeof(out2)) {
			setup_fail("CLONE_PARENT report", EPROTO);
			goto out;
		}
		put(KC_PV_RET, out2[0]);
		if (out2[0] > 0) {
			/* the sibling is our child, exit_signal 0 */
			int st = 0;

			if (kc_reap_bounded((int)out2[0], KP_T, &st) == 0)
				put(KC_PV_STATUS, st);
		}
		break;
	}
	case KC_C71_NNP:
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_NNP | extra, SIGCHLD) < 0)
			goto out;
		put(KC_PV_RET, k.pid);
		put(KC_PV_NNP_CHILD, k.rep.nnp);
		put(KC_PV_NNP_PARENT, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
		break;
	case KC_C71_AUTOKILL_CLOSE:
	case KC_C71_AUTOKILL_PIDFD_OPEN:
	case KC_C71_AUTOKILL_DUP:
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_AUTOREAP | KP_CLONE_PIDFD_AUTOKILL | extra, 0) < 0)
			goto out;
		put(KC_PV_RET, k.pid);
		obs = (int)p_open(k.pid, 0);
		if (obs < 0) {
			setup_fail("pidfd_open of the AUTOKILL child", -obs);
			goto out;
		}
		if (v == KC_C71_AUTOKILL_PIDFD_OPEN) {
			obs2 = (int)p_open(k.pid, 0);
			kp_close(&obs2);
			kc_sleep_ms(50);
			put(KC_PV_ALIVE, kp_poll(obs, 0) == 0);
		} else if (v == KC_C71_AUTOKILL_DUP) {
			d = dup(k.pidfd);
			kp_close(&d);
			kc_sleep_ms(50);
			put(KC_PV_ALIVE, kp_poll(obs, 0) == 0);
		}
		kp_close(&k.pidfd);
		put(KC_PV_REVENTS, kp_poll(obs, KP_T));
		r = p_info_released(obs, &info, KP_INFO_EXIT, KP_T);
		put(KC_PV_RET2, r);
		if (r == 0) {
			put(KC_PV_INFO_MASK, (int64_t)info.mask);
			put(KC_PV_INFO_EXIT, info.exit_code);
		}
		put(KC_PV_PROC_GONE, kp_wait_gone(k.pid, KP_T));
		k.pid = -1;
		break;
	case KC_C71_EMPTY_MNTNS:
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_EMPTY_MNTNS | extra, SIGCHLD) < 0)
			goto out;
		put(KC_PV_RET, k.pid);
		put(KC_PV_MOUNTS, k.rep.mounts);
		put(KC_PV_ROOT_ENTRIES, k.rep.root_entries);
		break;
	}
out:
	kp_close(&obs);
	kp_close(&obs2);
	kp_finish(&k);
	/* a CLONE_PARENT sibling or a grandchild reparented here */
	while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
		;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* ------------------------------------------------------------------------ */
/* harness                                                                   */

struct kp_harness_ctx {
	const struct kc_pfd_req *req;
	int out;
};

static void kp_kill_children(void)
{
	char path[96], buf[4096];
	char *tok, *save = NULL;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	if (kc_read_file(path, buf, sizeof(buf)) <= 0)
		return;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		int pid = atoi(tok);

		if (pid > 0) {
			kill(pid, SIGKILL);
			kc_reap_bounded(pid, KP_T, NULL);
		}
	}
}

static int kp_harness_main(void *p)
{
	struct kp_harness_ctx *h = p;
	const struct kc_pfd_req *q = h->req;
	static struct kc_pfd_res res;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	memset(&res, 0, sizeof(res));
	R = &res;
	if (q->drop_privileges && kp_drop_privileges() < 0) {
		setup_fail("drop privileges", errno);
		goto done;
	}
	put(KC_PV_SELF_PID, getpid());
	switch (q->scenario) {
	case KC_PS_OPEN:
		sc_open(q);
		break;
	case KC_PS_POLL:
		sc_poll(q);
		break;
	case KC_PS_WAITID:
		sc_waitid(q);
		break;
	case KC_PS_SIGNAL:
		sc_signal(q);
		break;
	case KC_PS_SCOPE:
		sc_scope(q);
		break;
	case KC_PS_GETFD:
		sc_getfd(q);
		break;
	case KC_PS_PIDFS:
		sc_pidfs(q);
		break;
	case KC_PS_NSIOCTL:
		sc_nsioctl(q);
		break;
	case KC_PS_SETNS:
		sc_setns(q);
		break;
	case KC_PS_FHANDLE:
		sc_fhandle(q);
		break;
	case KC_PS_INFO:
		sc_info(q);
		break;
	case KC_PS_THREAD:
		sc_thread(q);
		break;
	case KC_PS_WORKER:
		sc_worker(q);
		break;
	case KC_PS_CLONE71:
		sc_clone71(q);
		break;
	case KC_PS_COREDUMP:
		sc_coredump(q);
		break;
	default:
		setup_fail("unknown scenario", EINVAL);
	}
done:
	kp_kill_children();
	kc_write_all(h->out, &res, sizeof(res));
	return 0;
}

int kc_pfd_scenario(const struct kc_pfd_req *req, struct kc_pfd_res *res)
{
	struct kp_harness_ctx h;
	int fds[2], st = 0;
	long pid;
	ssize_t n;
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : 15000;

	memset(res, 0, sizeof(*res));
	if (!KC_HAVE_RAW_CLONE) {
		res->harness_error = KC_PH_UNSUPPORTED;
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	h.req = req;
	h.out = fds[1];
	pid = kc_raw_clone(SIGCHLD, NULL, NULL, NULL, 0, kp_harness_main, &h, SYS_exit_group);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return (int)pid;
	}
	n = kc_read_bounded(fds[0], res, sizeof(*res), timeout);
	close(fds[0]);
	if (n == -ETIMEDOUT) {
		memset(res, 0, sizeof(*res));
		res->harness_error = KC_PH_TIMEOUT;
	} else if (n != (ssize_t)sizeof(*res)) {
		memset(res, 0, sizeof(*res));
		res->harness_error = KC_PH_PROTOCOL;
		res->harness_errno = n < 0 ? (int32_t)-n : 0;
	}
	/* Wait for the harness to end, bounded; then kill whatever is left in
	 * its process group while the harness (a zombie) still holds the id. */
	{
		int64_t deadline = kc_now_ms() + 3000;
		siginfo_t si;

		for (;;) {
			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid == pid)
				break;
			if (kc_now_ms() >= deadline) {
				kill((pid_t)pid, SIGKILL);
				break;
			}
			kc_sleep_ms(1);
		}
	}
	kill(-(pid_t)pid, SIGKILL);
	kc_reap_bounded((int)pid, 3000, &st);
	res->status = st;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* probes                                                                    */

int64_t kc_pfd_probe(int32_t what, uint32_t flags)
{
	long fd, r = 0;
	struct kp_info info;

	if (what == 5)
		return p_send(KP_SELF_PROCESS, 0, NULL, 0);
	if (what == 10)
		return kp_count_mounts();
	fd = p_open(getpid(), flags);
	if (fd < 0)
		return fd;
	switch (what) {
	case 0:
		r = 0;
		break;
	case 1: {
		struct statfs sf;

		r = fstatfs((int)fd, &sf) < 0 ? -errno : (int64_t)(uint64_t)sf.f_type;
		break;
	}
	case 2:
		r = p_info((int)fd, 64, &info, 0);
		break;
	case 3:
		r = sc(ioctl((int)fd, 0xFF05UL, 0));
		if (r >= 0) {
			close((int)r);
			r = 0;
		}
		break;
	case 4:
		r = p_send((int)fd, 0, NULL, 2);
		break;
	case 6: {
		struct { unsigned int handle_bytes; int handle_type; unsigned char f_handle[128]; } h;
		int mnt_id;

		memset(&h, 0, sizeof(h));
		h.handle_bytes = sizeof(h.f_handle);
		r = sc(syscall(SYS_name_to_handle_at, (int)fd, "", &h, &mnt_id, AT_EMPTY_PATH));
		break;
	}
	case 7:
		r = p_info((int)fd, 88, &info, KP_INFO_SUPPORTED_MASK);
		if (r == 0)
			r = (info.mask & KP_INFO_SUPPORTED_MASK) ? (int64_t)info.supported_mask : -EOPNOTSUPP;
		break;
	case 8:
		r = p_getfd((int)fd, 0, 0);
		if (r >= 0) {
			close((int)r);
			r = 0;
		}
		break;
	case 9: {
		siginfo_t si;

		r = p_waitid(P_PIDFD, (int)fd, &si, WEXITED | WNOHANG);
		break;
	}
	case 11:
		r = fsetxattr((int)fd, "trusted.kc_probe", "1", 1, 0) < 0 ? -errno : 0;
		if (r == 0)
			fremovexattr((int)fd, "trusted.kc_probe");
		break;
	default:
		r = -EINVAL;
	}
	close((int)fd);
	return r;
}

int64_t kc_pfd_clone3_probe(uint64_t flags)
{
	struct kp_clone_args ca;
	long r;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags | CLONE_PIDFD;
	ca.pidfd = 8;   /* unmapped: the pidfd cannot be stored, no child runs */
	r = syscall(435, &ca, sizeof(ca));
	if (r > 0) {
		/* cannot happen; never leave a child behind */
		kill((pid_t)r, SIGKILL);
		kc_reap_bounded((int)r, 3000, NULL);
		return -EPROTO;
	}
	return r < 0 ? -errno : 0;
}
