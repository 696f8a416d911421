// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: the clone3 7.1 flags (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

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

void sc_clone71(const struct kc_pfd_req *q)
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
