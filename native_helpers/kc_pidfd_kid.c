// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios, the result slots and the remote-controlled kid (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

/* ------------------------------------------------------------------------ */
/* result slots                                                              */

struct kc_pfd_res *R;

void put(int slot, int64_t v)
{
	if (slot >= 0 && slot < KC_PFD_NV) {
		R->v[slot] = v;
		R->present[slot] = 1;
	}
}

void text_add(const char *s)
{
	size_t n = strlen(R->text), m = strlen(s);

	if (n + m >= sizeof(R->text))
		m = sizeof(R->text) - 1 - n;
	memcpy(R->text + n, s, m);
	R->text[n + m] = 0;
}

int setup_fail(const char *what, int err)
{
	if (R->harness.error == KC_HE_NONE) {
		R->harness.error = KC_HE_SETUP;
		R->harness.err_no = err;
		R->text[0] = 0;
		text_add(what);
	}
	return -1;
}

/* p_open's result as an fd, or -1 after recording the setup failure (-errno in r). */
int kp_opened(long r)
{
	if (r < 0) {
		setup_fail("pidfd_open", (int)-r);
		return -1;
	}
	return (int)r;
}

long sc(long r)
{
	return r < 0 ? -errno : r;
}

long p_open(int pid, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_open, pid, flags));
}

long p_send(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_send_signal, fd, sig, info, flags));
}

long p_getfd(int fd, int tfd, unsigned flags)
{
	return sc(syscall(KP_NR_pidfd_getfd, fd, tfd, flags));
}

long p_waitid(int type, int id, siginfo_t *si, int opts)
{
	memset(si, 0, sizeof(*si));
	return sc(syscall(SYS_waitid, type, id, si, opts, NULL));
}

long p_info(int fd, unsigned size, struct kp_info *info, uint64_t mask)
{
	memset(info, 0, sizeof(*info));
	info->mask = mask;
	return sc(ioctl(fd, KP_INFO_CMD(size), info));
}

/* PIDFD_GET_INFO with PIDFD_INFO_EXIT for an autoreaped task that has exited: its pidfd polls at
 * exit, the exit information comes when the task is released a moment later, so ask again (bounded)
 * until the kernel reports it. */
long p_info_released(int fd, struct kp_info *info, uint64_t mask, int ms)
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

int kp_poll(int fd, int ms)
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

void kp_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int64_t kp_field(const char *buf, const char *key, int base)
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
int kp_pending(int pid, int tid, const char *key, int sig)
{
	char path[96], buf[4096];
	int64_t v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	if (kc_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	v = kp_field(buf, key, 16);
	return v < 0 ? -1 : (int)((uint64_t)v >> (sig - 1) & 1);
}

uint64_t kp_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

uint64_t kp_fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

int kp_exists(const char *fmt, int a, int b)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), fmt, a, b);
	return stat(path, &st) == 0;
}

/* Wait (bounded) until /proc/<pid> is gone (an autoreaped process). */
int kp_wait_gone(int pid, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	while (kp_exists("/proc/%d/stat%.0d", pid, 0)) {
		if (kc_now_ms() >= deadline)
			return 0;
		kc_sleep_ms(1);
	}
	return 1;
}

int kp_thread_gone(int pid, int tid, int ms)
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
uint64_t kp_cgroup_id(int pid)
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

int kp_drop_privileges(void)
{
	if (geteuid() != 0)
		return 0;
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
	    syscall(SYS_setresuid, 65534, 65534, 65534) < 0)
		return -errno;
	return 0;
}

int kp_is_root(void)
{
	return geteuid() == 0;
}

/* ------------------------------------------------------------------------ */
/* the kid                                                                   */

char kp_core_dir[256];    /* the crashing kid's scratch directory (copied into it by the clone) */

static int kp_sig_fd = -1;
volatile int kp_hits;
volatile int kp_hit_tid;
volatile int kp_hit_code;

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

int kp_handle_usr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kp_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	return sigaction(SIGUSR1, &sa, NULL);
}

int kp_exit_fn(void *p)
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

int64_t kp_count_mounts(void)
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
long kp_entries(int dfd, int (*fn)(int dfd, const char *name), int *fn_err)
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

void kp_kid_init(struct kp_kid *k, int cfg, int code)
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

int kp_start3(struct kp_kid *k, uint64_t flags, uint64_t exit_signal)
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

int kp_start(struct kp_kid *k)
{
	return kp_start3(k, 0, 0);
}

/* Start a kid with legacy clone flags (e.g. CLONE_NEWPID) and SIGCHLD. */
int kp_start_clone(struct kp_kid *k, unsigned long flags)
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
int kp_start_settid(struct kp_kid *k, int32_t tid)
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

void kp_cmd(struct kp_kid *k, char c)
{
	if (k->go_w >= 0)
		kc_write_all(k->go_w, &c, 1);
}

void kp_tcmd(struct kp_kid *k, char c)
{
	if (k->tgo_w >= 0)
		kc_write_all(k->tgo_w, &c, 1);
}

/* Exit the kid (command 'x') and reap it: the wait status, or -errno. */
int kp_exit_reap(struct kp_kid *k)
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
void kp_finish(struct kp_kid *k)
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

void kp_put_info(const struct kp_info *i)
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

void kp_put_rep_creds(const struct kp_rep *r)
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

void kp_put_si(const siginfo_t *si)
{
	put(KC_PV_SI_PID, si->si_pid);
	put(KC_PV_SI_CODE, si->si_code);
	put(KC_PV_SI_STATUS, si->si_status);
	put(KC_PV_SI_SIGNO, si->si_signo);
}

void kp_put_fd_props(int fd)
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

int kp_run_fn(unsigned long flags, kc_fn fn, struct kp_fn_ctx *c)
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
