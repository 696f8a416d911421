// SPDX-License-Identifier: MIT
/*
 * kconform native helpers: the process server's two ends (see kc_serve.h).
 *
 * Wire format (a stream socket): the caller sends a header, with the fds it
 * carries as SCM_RIGHTS, then req_len bytes of request; the server answers
 * with a header and res_len bytes of result.  One request at a time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kc_clone.h"
#include "kc_fchroot.h"
#include "kc_pidfd.h"
#include "kc_serve.h"
#include "kc_uring.h"
#include "kc_workers.h"
#include "proc_internal.h"
#include "serve_internal.h"

#define KC_SERVE_MAGIC 0x6b637376u /* "kcsv" */
#define KC_SERVE_MAX (16u << 20)
#define KC_SERVE_FUNC 48
#define KC_SERVE_HIGH_FD 512       /* the server's own fds live here, or below RLIMIT_NOFILE when lower */

struct kc_serve_hdr {
	uint32_t magic;
	uint32_t req_len;
	uint32_t res_len;
	int32_t nfds;
	int32_t fds[KC_SERVE_FDS];  /* the numbers the fds have in the caller */
	char func[KC_SERVE_FUNC];
};

struct kc_serve_ans {
	uint32_t magic;
	int32_t rc;
	uint32_t res_len;
	int32_t err;                /* non-zero: the request was refused (no function ran) */
};

/* ------------------------------------------------------------------ the served functions */

#define SERVED(fn, rq, rs)                                                  \
	static int serve_##fn(const void *q, void *r)                       \
	{                                                                   \
		return fn((const struct rq *)q, (struct rs *)r);            \
	}
SERVED(kc_clone_scenario, kc_clone_req, kc_clone_res)
SERVED(kc_pfd_scenario, kc_pfd_req, kc_pfd_res)
SERVED(kc_uring_open_scenario, kc_open_req, kc_open_res)
SERVED(kc_uring_worker_scenario, kc_worker_req, kc_worker_res)
SERVED(kc_workers_run, kc_wk_req, kc_wk_res)
SERVED(kc_fc_scenario, kc_fc_req, kc_fc_res)

static const struct served {
	const char *name;
	int (*fn)(const void *, void *);
	size_t req_len, res_len;
} SERVED_TABLE[] = {
#define ROW(fn, rq, rs) { #fn, serve_##fn, sizeof(struct rq), sizeof(struct rs) }
	ROW(kc_clone_scenario, kc_clone_req, kc_clone_res),
	ROW(kc_pfd_scenario, kc_pfd_req, kc_pfd_res),
	ROW(kc_uring_open_scenario, kc_open_req, kc_open_res),
	ROW(kc_uring_worker_scenario, kc_worker_req, kc_worker_res),
	ROW(kc_workers_run, kc_wk_req, kc_wk_res),
	ROW(kc_fc_scenario, kc_fc_req, kc_fc_res),
#undef ROW
};

static const struct served *served(const char *name, uint32_t req_len, uint32_t res_len)
{
	for (size_t i = 0; i < sizeof(SERVED_TABLE) / sizeof(SERVED_TABLE[0]); i++)
		if (!strcmp(SERVED_TABLE[i].name, name))
			return SERVED_TABLE[i].req_len == req_len && SERVED_TABLE[i].res_len == res_len ?
				       &SERVED_TABLE[i] : NULL;
	return NULL;
}

int kc_serve_known(const char *func, uint32_t req_len, uint32_t res_len)
{
	return served(func, req_len, res_len) != NULL;
}

/* ------------------------------------------------------------------ both ends */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	ssize_t n = kc_read_bounded(fd, buf, len, timeout_ms);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EPIPE;
}

/* ------------------------------------------------------------------ the caller's end */

int kc_serve_send(int32_t sock, const char *func, const void *req, uint32_t req_len, uint32_t res_len,
		  const int32_t *fds, int32_t nfds)
{
	struct kc_serve_hdr h;
	char ctl[CMSG_SPACE(sizeof(int) * KC_SERVE_FDS)];
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int err;

	if (nfds < 0 || nfds > KC_SERVE_FDS || strlen(func) >= KC_SERVE_FUNC || req_len > KC_SERVE_MAX ||
	    res_len > KC_SERVE_MAX)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.magic = KC_SERVE_MAGIC;
	h.req_len = req_len;
	h.res_len = res_len;
	h.nfds = nfds;
	strcpy(h.func, func);
	if (nfds) {
		struct cmsghdr *c;

		for (int i = 0; i < nfds; i++) {
			if (fds[i] < 3)
				return -EBADF;
			h.fds[i] = fds[i];
		}
		memset(ctl, 0, sizeof(ctl));
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		for (int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + sizeof(int) * (size_t)i, &fds[i], sizeof(int));
	}
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(h) && (err = send_all(sock, (char *)&h + n, sizeof(h) - (size_t)n)) < 0)
		return err;
	return send_all(sock, req, req_len);
}

int kc_serve_answer(int32_t sock, void *res, uint32_t res_len, int32_t wait_ms, int32_t *rc)
{
	struct kc_serve_ans a;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int r, err;

	r = poll(&pfd, 1, wait_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	if (r <= 0)
		return -EINPROGRESS;  /* nothing yet (or a signal): the caller looks at its signals, then again */
	if ((err = recv_exact(sock, &a, sizeof(a), 5000)) < 0)
		return err;
	if (a.magic != KC_SERVE_MAGIC || a.res_len != res_len)
		return -EPROTO;
	if ((err = recv_exact(sock, res, res_len, 5000)) < 0)
		return err;
	if (a.err)
		return -a.err;
	*rc = a.rc;
	return 0;
}

/* ------------------------------------------------------------------ the server's end */

/* Where the server keeps its own fds: KC_SERVE_HIGH_FD, or lower when RLIMIT_NOFILE is lower (the
 * runner was spawned with the same limit, so its fds are below it too; a collision is moved aside). */
static int high_base(void)
{
	struct rlimit rl;
	rlim_t room = 2 * KC_SERVE_FDS + 4;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= (rlim_t)KC_SERVE_HIGH_FD + room)
		return KC_SERVE_HIGH_FD;
	return rl.rlim_cur > room + 3 ? (int)(rl.rlim_cur - room) : 3;
}

static int is_target(int fd, const int32_t *targets, int n)
{
	for (int i = 0; i < n; i++)
		if (targets[i] == fd)
			return 1;
	return 0;
}

/* A copy of fd (close-on-exec) at a number >= base (else >= 3) that is none of targets[n]; fd is closed. */
static int move_aside(int fd, const int32_t *targets, int n, int base)
{
	for (int from = base, round = 0; round < 2; from = 3, round++)
		for (;;) {
			int c = fcntl(fd, F_DUPFD_CLOEXEC, from);

			if (c < 0)
				break;
			if (!is_target(c, targets, n)) {
				close(fd);
				return c;
			}
			close(c);
			from = c + 1;
		}
	return -EMFILE;
}

/* The header and the fds it carries, moved to the caller's numbers (the server's socket *sock moved
 * out of their way first): 1, 0 at EOF, or -errno. */
static int recv_request(int *sock, struct kc_serve_hdr *h, int *installed)
{
	char ctl[CMSG_SPACE(sizeof(int) * KC_SERVE_FDS)];
	struct iovec iov = { .iov_base = h, .iov_len = sizeof(*h) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	int got[KC_SERVE_FDS], ngot = 0, err = 0;
	ssize_t n;

	do
		n = recvmsg(*sock, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + sizeof(int) * i, sizeof(int));
				if (ngot < KC_SERVE_FDS)
					got[ngot++] = fd;
				else
					close(fd);
			}
	if ((size_t)n < sizeof(*h) && (err = recv_exact(*sock, (char *)h + n, sizeof(*h) - (size_t)n, 5000)) < 0)
		goto drop;
	if (h->magic != KC_SERVE_MAGIC || h->nfds != ngot || h->req_len > KC_SERVE_MAX || h->res_len > KC_SERVE_MAX) {
		err = -EPROTO;
		goto drop;
	}
	h->func[KC_SERVE_FUNC - 1] = 0;
	for (int i = 0; i < ngot; i++)
		if (h->fds[i] < 3) {
			err = -EBADF;
			goto drop;
		}
	/* First out of the way of every target number (the socket too), then onto the caller's numbers. */
	if (is_target(*sock, h->fds, ngot)) {
		int moved = move_aside(*sock, h->fds, ngot, high_base());

		if (moved < 0) {
			err = moved;
			goto drop;
		}
		*sock = moved;
	}
	for (int i = 0; i < ngot; i++) {
		int high = move_aside(got[i], h->fds, ngot, high_base());

		if (high < 0) {
			err = high;
			goto drop;
		}
		got[i] = high;
	}
	for (int i = 0; i < ngot; i++) {
		if (dup3(got[i], h->fds[i], O_CLOEXEC) < 0) {
			err = -errno;
			goto drop;
		}
		installed[i] = h->fds[i];
	}
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	return 1;
drop:
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	return err;
}

int kc_server_loop(int sock)
{
	void *req = NULL, *res = NULL;
	int s = fcntl(sock, F_DUPFD_CLOEXEC, high_base());

	if (s < 0)
		return 1;
	close(sock);
	for (;;) {
		struct kc_serve_hdr h;
		struct kc_serve_ans a = { .magic = KC_SERVE_MAGIC };
		const struct served *fn;
		int installed[KC_SERVE_FDS], r;

		/* Reap what an earlier request left (the runner's guards have seen and named it). */
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		for (int i = 0; i < KC_SERVE_FDS; i++)
			installed[i] = -1;
		r = recv_request(&s, &h, installed);
		if (r <= 0)
			return r == 0 ? 0 : 1;
		free(req);
		free(res);
		req = malloc(h.req_len ? h.req_len : 1);
		res = calloc(1, h.res_len ? h.res_len : 1);
		if (!req || !res || recv_exact(s, req, h.req_len, 5000) < 0)
			return 1;
		fn = served(h.func, h.req_len, h.res_len);
		a.res_len = h.res_len;
		if (fn)
			a.rc = fn->fn(req, res);
		else
			a.err = ENOSYS;
		for (int i = 0; i < KC_SERVE_FDS; i++)
			if (installed[i] >= 0)
				close(installed[i]);
		if (send_all(s, &a, sizeof(a)) < 0 || send_all(s, res, h.res_len) < 0)
			return 1;
	}
}
