// SPDX-License-Identifier: MIT
/*
 * kconform: vhost device owner in a child process, and exec with capture.
 *
 * Protocol between the caller (P) and the owner (O):
 *   O -> P  struct kc_vhost_res with the setup results ("ready")
 *   P -> O  'f'  free the workers it created, O -> P the updated result
 *   P -> O  'c'  close the device,           O -> P one byte 'C'
 *   P -> O  EOF  exit 0
 * The owner only makes raw syscalls and calls async-signal-safe functions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kc_vhost.h"
#include "proc_internal.h"

struct kc_owner_ctx {
	const struct kc_vhost_req *req;
	int ctl_fd;   /* read end */
	int res_fd;   /* write end */
	int parent_ends[2]; /* the caller's ends, inherited: closed at once */
};

static int32_t kc_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static int kc_owner_main(void *p)
{
	struct kc_owner_ctx *c = p;
	const struct kc_vhost_req *req = c->req;
	struct kc_vhost_res r;
	int fd;
	char cmd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(c->parent_ends[0]);
	close(c->parent_ends[1]);
	memset(&r, 0, sizeof(r));
	r.harness.pid = (int32_t)syscall(SYS_getpid);
	r.get_before_ret = r.fork_owner_ret = r.set_owner_ret = r.set_owner2_ret = KC_VHOST_NOT_CALLED;
	r.fork_owner_after_ret = r.get_after_ret = KC_VHOST_NOT_CALLED;
	for (int i = 0; i < KC_VHOST_MAX_WORKERS; i++)
		r.new_worker_ret[i] = r.free_worker_ret[i] = KC_VHOST_NOT_CALLED;

	fd = open(req->device, O_RDWR | O_CLOEXEC);
	r.open_ret = fd < 0 ? -errno : 0;
	if (fd < 0)
		goto report;
	if (req->cgroup_procs_fd >= 0) {
		if (write(req->cgroup_procs_fd, "0", 1) < 0) {
			r.harness.error = KC_HE_SETUP;
			r.harness.err_no = errno;
			goto report;
		}
	}
	if (req->drop_privileges) {
		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
		    syscall(SYS_setresuid, 65534, 65534, 65534) < 0) {
			r.harness.error = KC_HE_SETUP;
			r.harness.err_no = errno;
			goto report;
		}
	}
	if (req->nproc_limit > 0) {
		struct rlimit rl = { .rlim_cur = (rlim_t)req->nproc_limit, .rlim_max = (rlim_t)req->nproc_limit };

		if (setrlimit(RLIMIT_NPROC, &rl) < 0) {
			r.harness.error = KC_HE_SETUP;
			r.harness.err_no = errno;
			goto report;
		}
	}
	if (req->get_before) {
		uint8_t v = 0xff;

		r.get_before_ret = kc_ioctl(fd, KC_VHOST_GET_FORK_FROM_OWNER, &v);
		r.get_before_val = v;
	}
	if (req->fork_owner >= 0) {
		uint8_t v = (uint8_t)req->fork_owner;

		r.fork_owner_ret = kc_ioctl(fd, KC_VHOST_SET_FORK_FROM_OWNER, &v);
	}
	if (req->set_owner)
		r.set_owner_ret = kc_ioctl(fd, KC_VHOST_SET_OWNER, NULL);
	if (req->set_owner_twice)
		r.set_owner2_ret = kc_ioctl(fd, KC_VHOST_SET_OWNER, NULL);
	if (req->fork_owner_after >= 0) {
		uint8_t v = (uint8_t)req->fork_owner_after;

		r.fork_owner_after_ret = kc_ioctl(fd, KC_VHOST_SET_FORK_FROM_OWNER, &v);
	}
	if (req->get_after) {
		uint8_t v = 0xff;

		r.get_after_ret = kc_ioctl(fd, KC_VHOST_GET_FORK_FROM_OWNER, &v);
		r.get_after_val = v;
	}
	for (int i = 0; i < req->new_workers && i < KC_VHOST_MAX_WORKERS; i++) {
		uint32_t state = 0;

		r.new_worker_ret[i] = kc_ioctl(fd, KC_VHOST_NEW_WORKER, &state);
		r.new_worker_id[i] = (int32_t)state;
	}
report:
	if (kc_write_all(c->res_fd, &r, sizeof(r)) < 0)
		return 3;
	/* Commands, until EOF. */
	while (kc_read_bounded(c->ctl_fd, &cmd, 1, -1) == 1) {
		if (cmd == 'f') {
			for (int i = 0; i < req->new_workers && i < KC_VHOST_MAX_WORKERS; i++) {
				uint32_t state = (uint32_t)r.new_worker_id[i];

				if (r.new_worker_ret[i] == 0)
					r.free_worker_ret[i] = kc_ioctl(fd, KC_VHOST_FREE_WORKER, &state);
			}
			kc_write_all(c->res_fd, &r, sizeof(r));
		} else if (cmd == 'c') {
			if (fd >= 0)
				close(fd);
			fd = -1;
			kc_write_all(c->res_fd, "C", 1);
		}
	}
	return 0;
}

int kc_vhost_start(const struct kc_vhost_req *req, struct kc_vhost_res *res)
{
	int ctl[2], rp[2];
	struct kc_owner_ctx c;
	long pid;
	ssize_t n;
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : 5000;

	memset(res, 0, sizeof(*res));
	res->ctl_fd = res->res_fd = -1;
	if (pipe2(ctl, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(rp, O_CLOEXEC) < 0) {
		int e = errno;

		close(ctl[0]);
		close(ctl[1]);
		return -e;
	}
	c.req = req;
	c.ctl_fd = ctl[0];
	c.res_fd = rp[1];
	c.parent_ends[0] = ctl[1];
	c.parent_ends[1] = rp[0];
	pid = kc_spawn_fn(kc_owner_main, &c);
	close(ctl[0]);
	close(rp[1]);
	if (pid < 0) {
		close(ctl[1]);
		close(rp[0]);
		return (int)pid;
	}
	res->ctl_fd = ctl[1];
	res->res_fd = rp[0];
	n = kc_read_bounded(rp[0], res, sizeof(*res), timeout);
	res->ctl_fd = ctl[1];
	res->res_fd = rp[0];
	if (n != (ssize_t)sizeof(*res)) {
		res->harness.pid = (int32_t)pid;
		res->harness.error = n == -ETIMEDOUT ? KC_HE_TIMEOUT : KC_HE_PROTOCOL;
		res->harness.err_no = n < 0 ? (int32_t)-n : 0;
	}
	res->harness.pid = (int32_t)pid;
	return 0;
}

int kc_vhost_free_workers(struct kc_vhost_res *res, int32_t timeout_ms)
{
	struct kc_vhost_res upd;
	int ctl = res->ctl_fd, rfd = res->res_fd;
	ssize_t n;

	if (ctl < 0 || kc_write_all(ctl, "f", 1) < 0)
		return -EPIPE;
	n = kc_read_bounded(rfd, &upd, sizeof(upd), timeout_ms);
	if (n != (ssize_t)sizeof(upd))
		return n < 0 ? (int)n : -EPIPE;
	memcpy(res->free_worker_ret, upd.free_worker_ret, sizeof(res->free_worker_ret));
	return 0;
}

int kc_vhost_close(struct kc_vhost_res *res, int32_t timeout_ms)
{
	char b;
	ssize_t n;

	if (res->ctl_fd < 0 || kc_write_all(res->ctl_fd, "c", 1) < 0)
		return -EPIPE;
	n = kc_read_bounded(res->res_fd, &b, 1, timeout_ms);
	return n == 1 ? 0 : (n < 0 ? (int)n : -EPIPE);
}

int kc_vhost_finish(struct kc_vhost_res *res, int32_t do_kill, int32_t timeout_ms)
{
	int st = 0, r;

	if (res->harness.pid <= 0)
		return -ESRCH;
	if (do_kill)
		kill(res->harness.pid, SIGKILL);
	if (res->ctl_fd >= 0)
		close(res->ctl_fd);
	if (res->res_fd >= 0)
		close(res->res_fd);
	res->ctl_fd = res->res_fd = -1;
	r = kc_reap_bounded(res->harness.pid, timeout_ms, &st);
	res->harness.status = st;
	res->harness.pid = -res->harness.pid; /* finished: never signal it again */
	return r;
}

/* ------------------------------------------------------------------------ */

struct kc_exec_ctx {
	const char *const *argv;
	int out_fd;
};

static int kc_exec_main(void *p)
{
	struct kc_exec_ctx *c = p;
	int null = open("/dev/null", O_RDWR);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 2);
	}
	dup2(c->out_fd, 1);
	execvp(c->argv[0], (char *const *)c->argv);
	return 127;
}

int kc_exec_capture(const char *const *argv, char *out, int32_t outlen, int32_t timeout_ms)
{
	int pfd[2];
	struct kc_exec_ctx c;
	long pid;
	int32_t got = 0;
	int64_t deadline = kc_now_ms() + timeout_ms;
	int st = 0, r;

	if (outlen < 1)
		return -EINVAL;
	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	c.argv = argv;
	c.out_fd = pfd[1];
	pid = kc_spawn_fn(kc_exec_main, &c);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return (int)pid;
	}
	for (;;) {
		struct pollfd q = { .fd = pfd[0], .events = POLLIN };
		int64_t left = deadline - kc_now_ms();
		ssize_t n;
		char sink[512];

		if (left <= 0)
			break;
		if (poll(&q, 1, (int)left) <= 0)
			continue;
		if (got < outlen - 1)
			n = read(pfd[0], out + got, (size_t)(outlen - 1 - got));
		else
			n = read(pfd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got < outlen - 1)
			got += (int32_t)n;
	}
	out[got] = '\0';
	close(pfd[0]);
	r = kc_reap_bounded((int)pid, (int)(deadline - kc_now_ms() > 0 ? deadline - kc_now_ms() : 0), &st);
	return r < 0 ? r : st;
}
