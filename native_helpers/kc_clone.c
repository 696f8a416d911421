// SPDX-License-Identifier: MIT
/*
 * kconform: clone3()/clone() scenarios run in a throw-away harness process.
 *
 * Rules kept here:
 *  - no process or thread is ever created from Python; the harness and every
 *    child are created by kc_raw_clone*(), whose child branch calls a C
 *    function on its own stack and then exits with a raw syscall, so no child
 *    ever returns through libc or into the interpreter;
 *  - the harness and its children call only raw syscalls and async-signal-safe
 *    libc wrappers (the parent is a multithreaded Python process);
 *  - every wait is bounded; a hung harness is killed with its process group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kc_clone.h"
#include "harness_internal.h"
#include "proc_internal.h"

#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __WCLONE
#define __WCLONE 0x80000000
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

#define KC_CLONE_ARGS_BYTES 88
#define KC_ARGS_BUF 8192

struct kc_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

static uint64_t kc_ino(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_ino;
}

static const char *const kc_ns_names[KC_NS_COUNT] = {
	"/proc/self/ns/pid", "/proc/self/ns/pid_for_children", "/proc/self/ns/time",
	"/proc/self/ns/user", "/proc/self/ns/mnt", "/proc/self/ns/net",
	"/proc/self/ns/cgroup", "/proc/self/ns/ipc",
};

static void kc_ns_inodes(uint64_t *out)
{
	for (int i = 0; i < KC_NS_COUNT; i++)
		out[i] = kc_ino(kc_ns_names[i]);
}

/* Copy the "0::" line of /proc/self/cgroup into out. */
static void kc_read_cgroup2(char *out, size_t outlen)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (line[0] == '0' && line[1] == ':' && line[2] == ':') {
			size_t l = strlen(line + 3);

			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, line + 3, l);
			out[l] = '\0';
			return;
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* ------------------------------------------------------------------------ */
/* the child                                                                  */

struct kc_child_ctx {
	int action;
	int action_arg;
	int report_fd;   /* write end */
	int release_fd;  /* read end */
	volatile int32_t *shared_word;
};

static void kc_child_report_fill(struct kc_child_report *r)
{
	volatile char probe;

	memset(r, 0, sizeof(*r));
	r->valid = 1;
	r->pid = (int32_t)syscall(SYS_getpid);
	r->ppid = (int32_t)syscall(SYS_getppid);
	r->tid = (int32_t)syscall(SYS_gettid);
	r->uid = (int32_t)syscall(SYS_getuid);
	kc_ns_inodes(r->ns_ino);
	for (int sig = 1; sig < KC_NSIG; sig++) {
		struct sigaction sa;

		if (syscall(SYS_rt_sigaction, sig, NULL, &sa, 8) < 0) {
			r->disp[sig] = 255;
			continue;
		}
		if (sa.sa_handler == SIG_DFL)
			r->disp[sig] = 0;
		else if (sa.sa_handler == SIG_IGN)
			r->disp[sig] = 1;
		else
			r->disp[sig] = 2;
	}
	r->stack_probe = (uint64_t)(uintptr_t)&probe;
	kc_read_cgroup2(r->cgroup, sizeof(r->cgroup));
}

static int kc_child_main(void *p)
{
	struct kc_child_ctx *c = p;
	struct kc_child_report rep;
	char b;

	/* Never outlive the harness. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (c->shared_word)
		*c->shared_word = 0x4b43; /* "KC" */
	switch (c->action) {
	case KC_ACT_EXIT:
		return c->action_arg;
	case KC_ACT_HANG:
		for (;;)
			pause();
	case KC_ACT_REPORT:
	case KC_ACT_REPORT_WAIT:
		kc_child_report_fill(&rep);
		if (kc_write_all(c->report_fd, &rep, sizeof(rep)) < 0)
			return 120;
		if (c->action == KC_ACT_REPORT_WAIT) {
			while (read(c->release_fd, &b, 1) < 0 && errno == EINTR)
				;
		}
		return c->action_arg;
	}
	return 121;
}

/* ------------------------------------------------------------------------ */
/* the harness                                                                */

struct kc_harness_ctx {
	const struct kc_clone_req *req;
	int result_fd;
};

/* Whether CAP_SYS_ADMIN (21) or CAP_CHECKPOINT_RESTORE (40) is effective. */
static int kc_has_admin_caps(void)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 }; /* _LINUX_CAPABILITY_VERSION_3 */
	struct { uint32_t effective, permitted, inheritable; } data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 1;
	return (data[0].effective >> 21 & 1) || (data[1].effective >> (40 - 32) & 1);
}

static void kc_handler(int sig)
{
	(void)sig;
}

static int kc_setup(const struct kc_clone_req *req, struct kc_clone_res *res)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (req->setup & KC_SETUP_HANDLE_USR1) {
		sa.sa_handler = kc_handler;
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			goto fail;
	}
	if (req->setup & KC_SETUP_IGNORE_USR2) {
		sa.sa_handler = SIG_IGN;
		if (sigaction(SIGUSR2, &sa, NULL) < 0)
			goto fail;
	}
	if (req->setup & KC_SETUP_HANDLE_RTMIN1) {
		sa.sa_handler = kc_handler;
		if (sigaction(SIGRTMIN + 1, &sa, NULL) < 0)
			goto fail;
	}
	if (req->setup & KC_SETUP_UNSHARE_PIDNS) {
		if (unshare(CLONE_NEWPID) < 0)
			goto fail;
	}
	if ((req->setup & KC_SETUP_SETUID_NOBODY) && geteuid() == 0) {
		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
		    syscall(SYS_setresuid, 65534, 65534, 65534) < 0) {
			/* uid 0 without CAP_SETUID/SETGID (e.g. a capability-less
			 * container root) is unprivileged already, unless it still has
			 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE. */
			if (errno != EPERM || kc_has_admin_caps())
				goto fail;
		}
	}
	return 0;
fail:
	res->harness.error = KC_HE_SETUP;
	res->harness.err_no = errno;
	return -1;
}

/* waitid(P_PID, pid, WEXITED|WNOHANG|WNOWAIT|extra): pid, 0 or -errno. */
static int32_t kc_waitid_peek(int pid, int extra)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | extra) < 0)
		return -errno;
	return si.si_pid;
}

/* Wait (bounded) until a CLONE_CHILD_CLEARTID word is cleared. */
static int kc_wait_cleared(volatile int32_t *word, int timeout_ms)
{
	int64_t deadline = kc_now_ms() + timeout_ms;

	while (*word != 0) {
		if (kc_now_ms() >= deadline)
			return 0;
		kc_sleep_ms(1);
	}
	return 1;
}

static int kc_harness_main(void *p)
{
	struct kc_harness_ctx *h = p;
	const struct kc_clone_req *req = h->req;
	struct kc_clone_res res;
	struct kc_child_ctx child;
	int report_pipe[2] = { -1, -1 }, release_pipe[2] = { -1, -1 };
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : 5000;
	long page = sysconf(_SC_PAGESIZE);
	char *argbuf, *args_mem = NULL, *stack = NULL;
	struct kc_clone_args *ca;
	void *args_ptr;
	int32_t pidfd_word = -1, ptid_word = 0;
	volatile int32_t *shared;
	volatile int32_t *ctid_word;
	int32_t *set_tid_buf;
	int is_thread = (req->flags & CLONE_THREAD) != 0;
	sigset_t all;
	long ret;

	memset(&res, 0, sizeof(res));
	res.pidfd = -1;
	res.parent_pid = (int32_t)getpid();
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	/* Shared scratch page (MAP_SHARED so the child's writes are visible only
	 * when it shares our mm... MAP_PRIVATE: a fork child gets its own copy). */
	argbuf = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (argbuf == MAP_FAILED) {
		res.harness.error = KC_HE_SETUP;
		res.harness.err_no = errno;
		goto send;
	}
	shared = (volatile int32_t *)(argbuf + page);
	ctid_word = (volatile int32_t *)(argbuf + page + 64);
	set_tid_buf = (int32_t *)(argbuf + page + 128);

	if (kc_setup(req, &res) < 0)
		goto send;

	/* Block every signal: exit signals are collected with sigtimedwait. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);

	if (pipe2(report_pipe, O_CLOEXEC) < 0 || pipe2(release_pipe, O_CLOEXEC) < 0) {
		res.harness.error = KC_HE_SETUP;
		res.harness.err_no = errno;
		goto send;
	}

	/* Place clone_args. */
	if (req->args_at == KC_ARGS_TAIL_UNMAPPED) {
		/* 2 pages: first RW, second PROT_NONE; the struct ends KC_CLONE_ARGS_BYTES
		 * into... the first 88 bytes are the last bytes of the RW page. */
		args_mem = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (args_mem == MAP_FAILED || mprotect(args_mem + page, (size_t)page, PROT_NONE) < 0) {
			res.harness.error = KC_HE_SETUP;
			res.harness.err_no = errno;
			goto send;
		}
		ca = (struct kc_clone_args *)(args_mem + page - KC_CLONE_ARGS_BYTES);
	} else {
		args_mem = mmap(NULL, KC_ARGS_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (args_mem == MAP_FAILED) {
			res.harness.error = KC_HE_SETUP;
			res.harness.err_no = errno;
			goto send;
		}
		ca = (struct kc_clone_args *)args_mem;
		if (req->tail_nonzero && req->size > KC_CLONE_ARGS_BYTES && req->size <= KC_ARGS_BUF)
			args_mem[KC_CLONE_ARGS_BYTES] = (char)0xff;
	}

	/* Threads always get CLONE_CHILD_CLEARTID so that their exit can be
	 * awaited; the bit takes part in no validation rule. */
	ca->flags = req->flags | (is_thread ? CLONE_CHILD_CLEARTID : 0);
	ca->exit_signal = req->exit_signal;
	ca->cgroup = req->cgroup;
	ca->tls = req->tls;
	if (req->pidfd == KC_PTR_VALID)
		ca->pidfd = (uint64_t)(uintptr_t)&pidfd_word;
	else if (req->pidfd == KC_PTR_BAD)
		ca->pidfd = 8;
	else if (req->pidfd == KC_PTR_SAME_AS_PARENT_TID)
		ca->pidfd = (uint64_t)(uintptr_t)&ptid_word;
	if (req->parent_tid == KC_PTR_VALID || req->pidfd == KC_PTR_SAME_AS_PARENT_TID)
		ca->parent_tid = (uint64_t)(uintptr_t)&ptid_word;
	if (req->child_tid == KC_PTR_VALID || is_thread) {
		*ctid_word = -1;
		ca->child_tid = (uint64_t)(uintptr_t)ctid_word;
	}
	if (req->set_tid_ptr == KC_PTR_VALID) {
		size_t n = req->set_tid_size < KC_SET_TID_MAX ? req->set_tid_size : KC_SET_TID_MAX;

		memcpy(set_tid_buf, req->set_tid, n * sizeof(int32_t));
		ca->set_tid = (uint64_t)(uintptr_t)set_tid_buf;
	} else if (req->set_tid_ptr == KC_PTR_BAD) {
		ca->set_tid = 8;
	}
	ca->set_tid_size = req->set_tid_size;

	switch (req->stack) {
	case KC_STACK_MAPPED:
	case KC_STACK_NO_SIZE:
		stack = mmap(NULL, req->stack_size ? req->stack_size : 65536, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stack == MAP_FAILED) {
			res.harness.error = KC_HE_SETUP;
			res.harness.err_no = errno;
			goto send;
		}
		ca->stack = (uint64_t)(uintptr_t)stack;
		ca->stack_size = req->stack == KC_STACK_MAPPED ? req->stack_size : 0;
		res.stack_lo = ca->stack;
		res.stack_hi = ca->stack + (req->stack_size ? req->stack_size : 65536);
		break;
	case KC_STACK_NO_ADDR:
		ca->stack = 0;
		ca->stack_size = req->stack_size;
		break;
	case KC_STACK_KERNEL:
		ca->stack = 0xffff800000000000ULL;
		ca->stack_size = req->stack_size;
		break;
	default:
		break;
	}

	switch (req->args_at) {
	case KC_ARGS_NULL:
		args_ptr = NULL;
		break;
	case KC_ARGS_BADPTR:
		args_ptr = (void *)(uintptr_t)8;
		break;
	default:
		args_ptr = ca;
	}

	child.action = req->action;
	child.action_arg = req->action_arg;
	child.report_fd = report_pipe[1];
	child.release_fd = release_pipe[0];
	child.shared_word = shared;
	kc_ns_inodes(res.parent_ns_ino);

	if (req->syscall == KC_SYS_CLONE3) {
		ret = kc_raw_clone3(args_ptr, req->size, kc_child_main, &child,
				    is_thread ? SYS_exit : SYS_exit_group);
	} else {
		/* Legacy clone: exit signal in the low byte of flags. */
		void *newsp = NULL;

		if (req->stack == KC_STACK_MAPPED && stack)
			newsp = stack + req->stack_size;
		ret = kc_raw_clone((unsigned long)(ca->flags | (req->exit_signal & 0xff)), newsp,
				   req->pidfd == KC_PTR_VALID ? &pidfd_word : &ptid_word,
				   (int *)ctid_word, (unsigned long)req->tls, kc_child_main, &child,
				   is_thread ? SYS_exit : SYS_exit_group);
	}
	if (ret < 0) {
		res.ret = ret;
		res.err = (int32_t)-ret;
		goto send;
	}
	res.ret = ret;
	res.created = 1;
	if (!(req->flags & CLONE_FILES)) {
		/* Keep only our ends (a CLONE_FILES child shares this table). */
		close(report_pipe[1]);
		report_pipe[1] = -1;
		close(release_pipe[0]);
		release_pipe[0] = -1;
	}
	if (req->pidfd == KC_PTR_VALID || (req->syscall == KC_SYS_CLONE && (req->flags & CLONE_PIDFD)))
		res.pidfd = pidfd_word;
	res.parent_tid = ptid_word;

	if (res.pidfd >= 0) {
		char link[64], target[64];
		int n;
		struct pollfd pfd = { .fd = res.pidfd, .events = POLLIN };

		memcpy(link, "/proc/self/fd/", 14);
		kc_utoa(link + 14, (uint64_t)res.pidfd);
		n = (int)readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			res.pidfd_is_pidfd = strstr(target, "pidfd") != NULL;
		}
		res.pidfd_flags = fcntl(res.pidfd, F_GETFL);
		if (req->action == KC_ACT_REPORT_WAIT || req->action == KC_ACT_HANG)
			res.pidfd_poll_early = poll(&pfd, 1, 0) > 0 ? pfd.revents : 0;
	}

	/* Report from the child. */
	if (req->action == KC_ACT_REPORT || req->action == KC_ACT_REPORT_WAIT) {
		ssize_t n = kc_read_bounded(report_pipe[0], &res.report, sizeof(res.report), timeout);

		if (n == -ETIMEDOUT)
			res.harness.error = KC_HE_TIMEOUT;
		else if (n != (ssize_t)sizeof(res.report))
			res.harness.error = KC_HE_NO_REPORT;
	}
	/* Release it: a byte, so that copies of the write end held by the child
	 * itself (a child without CLONE_FILES) do not keep it blocked. */
	if (req->action == KC_ACT_REPORT_WAIT)
		kc_write_all(release_pipe[1], "r", 1);
	close(release_pipe[1]);
	release_pipe[1] = -1;

	if (is_thread) {
		/* A thread in this harness: exit observed through CLONE_CHILD_CLEARTID. */
		res.child_exited = kc_wait_cleared(ctid_word, timeout);
		if (res.pidfd >= 0) {
			struct pollfd pfd = { .fd = res.pidfd, .events = POLLIN };

			res.pidfd_poll_exit = poll(&pfd, 1, timeout) > 0 ? pfd.revents : 0;
		}
		if (!res.child_exited)
			res.harness.error = KC_HE_TIMEOUT;
		goto send;
	}

	if (res.pidfd >= 0) {
		struct pollfd pfd = { .fd = res.pidfd, .events = POLLIN };

		res.pidfd_poll_exit = poll(&pfd, 1, timeout) > 0 ? pfd.revents : 0;
	}
	res.child_exited = kc_wait_exited((int)ret, timeout);
	if (!res.child_exited) {
		kill((pid_t)ret, SIGKILL);
		res.harness.error = KC_HE_TIMEOUT;
		kc_wait_exited((int)ret, 2000);
	}
	res.shared_word = *shared;

	/* Exit signal: taken from the pending set (it was blocked). */
	if (req->exit_signal > 0 && req->exit_signal < KC_NSIG) {
		sigset_t one;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
		int s;

		sigemptyset(&one);
		sigaddset(&one, (int)req->exit_signal);
		s = sigtimedwait(&one, NULL, &ts);
		res.signal_received = s > 0 ? s : 0;
	}
	{
		sigset_t pend;

		sigemptyset(&pend);
		sigpending(&pend);
		for (int sig = 1; sig < KC_NSIG; sig++)
			if (sigismember(&pend, sig) == 1)
				res.pending_lo |= 1ULL << (sig - 1);
	}

	/* Visibility to the wait flavours, before the final reap (WNOWAIT). */
	res.wait_plain = kc_waitid_peek((int)ret, 0);
	res.wait_clone = kc_waitid_peek((int)ret, __WCLONE);
	{
		int st = 0;
		pid_t w = waitpid((pid_t)ret, &st, __WALL | WNOHANG);

		res.wait_all = w < 0 ? -errno : (int32_t)w;
		res.status = st;
	}

send:
	if (res.pidfd >= 0)
		close(res.pidfd);
	kc_write_all(h->result_fd, &res, sizeof(res));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* the Python-facing entry points                                             */

static void kc_clone_reset(void *out)
{
	struct kc_clone_res *res = out;

	memset(res, 0, sizeof(*res));
	res->pidfd = -1;
}

int kc_clone_scenario(const struct kc_clone_req *req, struct kc_clone_res *res)
{
	struct kc_harness_ctx h = { .req = req, .result_fd = -1 };
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : 5000;

	/* The harness: a plain fork-like child created with legacy clone
	 * (works on every kernel, no clone3 needed). */
	return kc_harness_run(kc_harness_main, &h, &h.result_fd, res, sizeof(*res), timeout + 2000, kc_clone_reset);
}

int64_t kc_sys_clone3_nochild(uint64_t size, int32_t args_mode)
{
	/* Only calls that can never create a child are allowed here: size < 64
	 * or an unusable pointer. */
	char buf[KC_CLONE_ARGS_BYTES];
	void *p = buf;
	long r;

	if (size >= 64 && args_mode == KC_ARGS_NORMAL)
		return -EPERM;
	memset(buf, 0, sizeof(buf));
	if (args_mode == KC_ARGS_NULL)
		p = NULL;
	else if (args_mode == KC_ARGS_BADPTR)
		p = (void *)(uintptr_t)8;
	r = syscall(__NR_clone3, p, (size_t)size);
	return r < 0 ? -errno : r;
}

int kc_pidfd_open(int32_t pid, uint32_t flags)
{
	long r = syscall(__NR_pidfd_open, pid, flags);

	return r < 0 ? -errno : (int)r;
}

int kc_pidfd_poll(int32_t pidfd, int32_t timeout_ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);

	if (r < 0)
		return -errno;
	return r ? pfd.revents : 0;
}

int kc_page_size(void)
{
	return (int)sysconf(_SC_PAGESIZE);
}

