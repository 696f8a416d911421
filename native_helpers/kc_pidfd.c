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
 *
 * The scenarios live in files along their seams, sharing pidfd_internal.h:
 * kc_pidfd_kid.c (result slots, the remote-controlled kid), kc_pidfd_basic.c,
 * kc_pidfd_setns.c (setns, file handles), kc_pidfd_info.c (PIDFD_GET_INFO, the
 * reap race), kc_pidfd_coredump.c, kc_pidfd_workers.c, kc_pidfd_clone71.c.
 * This file holds the harness, the dispatch and the probes.
 */
#define _GNU_SOURCE
#include "pidfd_internal.h"

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
	case KC_PS_REAP_RACE:
		sc_reap_race(q);
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
	struct kp_harness_ctx h = { .req = req, .out = -1 };

	return kc_harness_run(kp_harness_main, &h, &h.out, res, sizeof(*res),
			      req->timeout_ms > 0 ? req->timeout_ms : 15000, NULL);
}

/* ------------------------------------------------------------------------ */
/* probes                                                                    */

int64_t kc_pfd_probe(int32_t what, uint32_t flags)
{
	long fd, r = 0;
	struct kp_info info;

	if (what == KC_PQ_SIGNAL_SELF)
		return p_send(KP_SELF_PROCESS, 0, NULL, 0);
	if (what == KC_PQ_LISTMOUNT)
		return kp_count_mounts();
	fd = p_open(getpid(), flags);
	if (fd < 0)
		return fd;
	switch (what) {
	case KC_PQ_OPEN:
		r = 0;
		break;
	case KC_PQ_FSTATFS: {
		struct statfs sf;

		r = fstatfs((int)fd, &sf) < 0 ? -errno : (int64_t)(uint64_t)sf.f_type;
		break;
	}
	case KC_PQ_INFO:
		r = p_info((int)fd, 64, &info, 0);
		break;
	case KC_PQ_PIDNS:
		r = sc(ioctl((int)fd, 0xFF05UL, 0));
		if (r >= 0) {
			close((int)r);
			r = 0;
		}
		break;
	case KC_PQ_SIGNAL_GROUP:
		r = p_send((int)fd, 0, NULL, 2);
		break;
	case KC_PQ_FHANDLE: {
		struct { unsigned int handle_bytes; int handle_type; unsigned char f_handle[128]; } h;
		int mnt_id;

		memset(&h, 0, sizeof(h));
		h.handle_bytes = sizeof(h.f_handle);
		r = sc(syscall(SYS_name_to_handle_at, (int)fd, "", &h, &mnt_id, AT_EMPTY_PATH));
		break;
	}
	case KC_PQ_SUPPORTED_MASK:
		r = p_info((int)fd, 88, &info, KP_INFO_SUPPORTED_MASK);
		if (r == 0)
			r = (info.mask & KP_INFO_SUPPORTED_MASK) ? (int64_t)info.supported_mask : -EOPNOTSUPP;
		break;
	case KC_PQ_GETFD:
		r = p_getfd((int)fd, 0, 0);
		if (r >= 0) {
			close((int)r);
			r = 0;
		}
		break;
	case KC_PQ_WAITID: {
		siginfo_t si;

		r = p_waitid(P_PIDFD, (int)fd, &si, WEXITED | WNOHANG);
		break;
	}
	case KC_PQ_XATTR:
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
