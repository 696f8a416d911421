// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: PIDFD_GET_INFO, and its exit information against a concurrent reap (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

void sc_info(const struct kc_pfd_req *q)
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
/* KC_PS_REAP_RACE: PIDFD_GET_INFO(PIDFD_INFO_EXIT) against a concurrent reap */

/* ioctl without errno: the getter thread shares the harness's TLS (no CLONE_SETTLS), so errno is not its own. */
static long kp_raw_ioctl(int fd, unsigned long cmd, void *arg)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_ioctl), "D"((long)fd), "S"(cmd), "d"(arg)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_ioctl;
	register long x0 __asm__("x0") = fd;
	register long x1 __asm__("x1") = (long)cmd;
	register long x2 __asm__("x2") = (long)arg;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
#else
	(void)fd;
	(void)cmd;
	(void)arg;
	return -ENOSYS;
#endif
}

struct kp_race {
	int round;            /* the round to work on (written by the harness) */
	int done;             /* the last round finished (written by the getter) */
	int started;          /* calls made in the current round that saw the task (PID, no EXIT) */
	int stop;
	int fd;
	int code;
	int64_t calls, esrch, empty, other, exit_seen, bad_code, stuck;
	long last_other;
};

static int kp_race_getter(void *p)
{
	struct kp_race *r = p;
	int seen = 0;

	for (;;) {
		int want;
		int64_t deadline;

		while ((want = __atomic_load_n(&r->round, __ATOMIC_ACQUIRE)) == seen)
			if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
				return 0;
		seen = want;
		deadline = kc_now_ms() + 2000;
		for (;;) {
			struct kp_info info;
			long ret;

			memset(&info, 0, sizeof(info));
			info.mask = KP_INFO_EXIT;
			ret = kp_raw_ioctl(__atomic_load_n(&r->fd, __ATOMIC_ACQUIRE), KP_INFO_CMD(88), &info);
			r->calls++;
			if (ret == -ESRCH) {
				r->esrch++;
				break;
			}
			if (ret < 0) {
				r->other++;
				r->last_other = ret;
				break;
			}
			if (info.mask & KP_INFO_EXIT) {
				r->exit_seen++;
				if (info.exit_code != (r->code << 8))
					r->bad_code++;
				break;
			}
			if (!(info.mask & KP_INFO_PID)) {
				r->empty++;
				break;
			}
			__atomic_add_fetch(&r->started, 1, __ATOMIC_RELEASE);
			if (kc_now_ms() > deadline) {
				r->stuck++;
				break;
			}
		}
		__atomic_store_n(&r->done, seen, __ATOMIC_RELEASE);
	}
}

static int kp_race_wait(int *where, int want, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	while (__atomic_load_n(where, __ATOMIC_ACQUIRE) < want)
		if (kc_now_ms() > deadline)
			return -1;
	return 0;
}

void sc_reap_race(const struct kc_pfd_req *q)
{
	static struct kp_race r;
	const size_t sz = 64 * 1024;
	char *stack;
	int rounds = q->arg > 0 ? q->arg : 1, budget = q->flags ? (int)q->flags : 20000, i;
	int64_t t0 = kc_now_ms();
	long t;

	memset(&r, 0, sizeof(r));
	r.fd = -1;
	r.code = 7;
	stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		setup_fail("mmap of the getter's stack", errno);
		return;
	}
	t = kc_raw_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
			 stack + sz, NULL, NULL, 0, kp_race_getter, &r, SYS_exit);
	if (t < 0) {
		setup_fail("clone of the getter thread", (int)-t);
		return;
	}
	for (i = 1; i <= rounds && kc_now_ms() - t0 < budget; i++) {
		int pidfd = -1;
		long pid;
		siginfo_t si;

		pid = kc_raw_clone(CLONE_PIDFD | SIGCHLD, NULL, &pidfd, NULL, 0, kp_exit_fn,
				   (void *)(intptr_t)r.code, SYS_exit_group);
		if (pid < 0) {
			setup_fail("clone of a child", (int)-pid);
			break;
		}
		__atomic_store_n(&r.fd, pidfd, __ATOMIC_RELEASE);
		__atomic_store_n(&r.started, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&r.round, i, __ATOMIC_RELEASE);
		/* reap once the getter is spinning on the zombie (or has already finished the round) */
		while (__atomic_load_n(&r.started, __ATOMIC_ACQUIRE) < 2 && __atomic_load_n(&r.done, __ATOMIC_ACQUIRE) < i &&
		       kc_now_ms() - t0 < budget + 2000)
			;
		kc_wait_exited((int)pid, KP_T);
		p_waitid(P_PID, (int)pid, &si, WEXITED);
		if (kp_race_wait(&r.done, i, 4000) < 0) {
			setup_fail("the getter thread did not finish a round", ETIMEDOUT);
			close(pidfd);
			break;
		}
		close(pidfd);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	put(KC_PV_ROUNDS, i - 1);
	put(KC_PV_RACE_MS, kc_now_ms() - t0);
	put(KC_PV_RACE_ESRCH, r.esrch);
	put(KC_PV_RACE_EMPTY, r.empty);
	put(KC_PV_RACE_OTHER, r.other);
	put(KC_PV_RACE_EXIT, r.exit_seen);
	put(KC_PV_RACE_BADCODE, r.bad_code);
	put(KC_PV_RACE_CALLS, r.calls);
	put(KC_PV_RACE_STUCK, r.stuck);
	put(KC_PV_RACE_ANOMALY, r.esrch + r.empty);
	put(KC_PV_RET, r.other ? r.last_other : 0);
}
