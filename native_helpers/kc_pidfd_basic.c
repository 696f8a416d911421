// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: pidfd_open, poll, waitid, pidfd_send_signal, scopes, pidfd_getfd, pidfs, namespace ioctls, thread pidfds (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

/* ------------------------------------------------------------------------ */
/* scenarios                                                                 */

void sc_open(const struct kc_pfd_req *q)
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

void sc_poll(const struct kc_pfd_req *q)
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

void sc_waitid(const struct kc_pfd_req *q)
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

int kp_read_sigrec(struct kp_kid *k, struct kp_sigrec *r, int ms)
{
	ssize_t n = kc_read_bounded(k->rep_r, r, sizeof(*r), ms);

	return n == (ssize_t)sizeof(*r) && r->magic == 0x5349;
}

void sc_signal(const struct kc_pfd_req *q)
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

void sc_scope(const struct kc_pfd_req *q)
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

void sc_getfd(const struct kc_pfd_req *q)
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

void sc_pidfs(const struct kc_pfd_req *q)
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

const char *const kp_ns_names[] = {
	"", "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts",
};

void sc_nsioctl(const struct kc_pfd_req *q)
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

void sc_thread(const struct kc_pfd_req *q)
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
