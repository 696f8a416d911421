// SPDX-License-Identifier: MIT
/*
 * kconform: the life of a user worker.  See kc_workers.h.
 *
 * Python -> harness (raw clone, reports one struct kc_wk_res) -> owner (the
 * process with the workers, driven over two pipes).  Both children use raw
 * syscalls and async-signal-safe libc calls only (the parent is a
 * multi-threaded Python), die with their parent, and every wait is bounded.
 * This file holds the owner; the harness and its actions (a table of handlers,
 * by KC_WA_*) are in kc_workers_harness.c, what they share in workers_internal.h.
 */
#define _GNU_SOURCE
#include "workers_internal.h"

/* The owner's marker, read back through /proc/<worker>/mem. */
volatile uint64_t wk_marker = 0x6b63776b00000000ULL;
static volatile int wk_hits;
static volatile int wk_hit_tid;

/* ------------------------------------------------------------------------ */
/* small utilities                                                           */

void wk_cpy(char *dst, const char *src, size_t cap)
{
	size_t i = 0;

	for (; src[i] && i + 1 < cap; i++)
		dst[i] = src[i];
	dst[i] = 0;
}

/* dst = a b c d (NULL parts skipped), truncated to cap */
void wk_join(char *dst, size_t cap, const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[4] = { a, b, c, d };
	size_t n = 0;

	for (int i = 0; i < 4; i++)
		for (const char *p = parts[i]; p && *p && n + 1 < cap; p++)
			dst[n++] = *p;
	dst[n] = 0;
}

void wk_path_id(char *dst, size_t cap, const char *a, int id, const char *b)
{
	char num[24];

	kc_utoa(num, (uint64_t)id);
	wk_join(dst, cap, a, num, b, NULL);
}

struct wk_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Call fn(name, arg) for each entry of dir except . and ..; returns the
 * number of entries or -errno.  fn returning nonzero stops the walk. */
int wk_dir(const char *dir, int (*fn)(const char *, void *), void *arg)
{
	char buf[4096];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int count = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct wk_dirent64 *d = (struct wk_dirent64 *)(buf + off);

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			count++;
			if (fn && fn(d->d_name, arg)) {
				close(fd);
				return count;
			}
		}
	}
	close(fd);
	return count;
}

/* State letter of /proc/<pid>/task/<tid> (tid 0: /proc/<pid>); 0 when gone. */
int wk_state(int pid, int tid)
{
	char path[96], buf[512], *rp = NULL;

	if (tid) {
		char num[24];

		kc_utoa(num, (uint64_t)tid);
		wk_path_id(path, sizeof(path), "/proc/", pid, "/task/");
		wk_join(path, sizeof(path), path, num, "/stat", NULL);
	} else {
		wk_path_id(path, sizeof(path), "/proc/", pid, "/stat");
	}
	if (kc_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	for (char *p = buf; *p; p++)
		if (*p == ')')
			rp = p;
	return rp && rp[1] == ' ' ? rp[2] : 0;
}

uint64_t wk_ino(const char *path)
{
	struct stat sb;

	return stat(path, &sb) < 0 ? 0 : (uint64_t)sb.st_ino;
}

int wk_is_worker(const char *comm, int kind)
{
	const char *prefix = kind == KC_WK_SQPOLL ? "iou-sqp-" : kind == KC_WK_VHOST ? "vhost-" : "iou-wrk-";

	return !strncmp(comm, prefix, strlen(prefix));
}

/* A task outside the owner whose comm is name (the vhost kthread model). */
struct wk_find {
	const char *name;
	int owner;
	int found;
	int count;
};

static int wk_find_cb(const char *d, void *p)
{
	struct wk_find *f = p;
	char path[64], buf[64];
	int pid, n;

	if (d[0] < '0' || d[0] > '9')
		return 0;
	pid = (int)kc_parse_int(d);
	if (pid == f->owner)
		return 0;
	wk_join(path, sizeof(path), "/proc/", d, "/comm", NULL);
	n = kc_read_file(path, buf, sizeof(buf));
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	if (n > 0 && !strcmp(buf, f->name)) {
		f->found = pid;
		f->count++;
	}
	return 0;
}

int wk_find_task(const char *prefix, int owner, int *count)
{
	char name[40];
	struct wk_find f = { .name = name, .owner = owner };

	wk_path_id(name, sizeof(name), prefix, owner, NULL);
	wk_dir("/proc", wk_find_cb, &f);
	if (count)
		*count = f.count;
	return f.found;
}

/* tasks outside the owner named after it, once it is gone */
int wk_leaks(int owner)
{
	static const char *const prefixes[] = { "iou-wrk-", "iou-sqp-", "vhost-" };
	int total = 0;

	for (int i = 0; i < 3; i++) {
		int c = 0;

		wk_find_task(prefixes[i], owner, &c);
		total += c;
	}
	return total;
}

/* ------------------------------------------------------------------------ */
/* the owner                                                                 */

struct wk_owner {
	const struct kc_wk_req *req;
	struct kcu_ring ring;
	int have_ring;
	int vfd;
	int nblock;
	int pipe_w[KC_WK_REQS];
	int pipe_r[KC_WK_REQS];
	int out_fd[KC_WK_REQS];
	int32_t block_res[KC_WK_REQS]; /* CQE results of the splices, -ETIME until they arrive */
};

static void wk_usr1(int sig)
{
	(void)sig;
	wk_hits = wk_hits + 1;
	wk_hit_tid = (int)syscall(SYS_gettid);
}

static int32_t wk_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/* Collect the CQEs tagged ud[0..n) within timeout_ms; res[i] = result or
 * -ETIME.  Returns how many arrived. */
static int wk_collect(struct wk_owner *o, const uint64_t *ud, int n, int32_t *res, int timeout_ms)
{
	struct kcu_ring *r = &o->ring;
	int64_t deadline = kc_now_ms() + timeout_ms;
	int got = 0;

	for (int i = 0; i < n; i++)
		res[i] = -ETIME;
	while (got < n) {
		uint32_t head = *r->cq_head;
		uint32_t tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		unsigned eflags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000000L };
		struct io_uring_getevents_arg arg;

		while (head != tail) {
			struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];

			if (cqe->user_data >= WK_UD_BLOCK && cqe->user_data < WK_UD_BLOCK + KC_WK_REQS)
				o->block_res[cqe->user_data - WK_UD_BLOCK] = cqe->res;
			for (int i = 0; i < n; i++) {
				if (cqe->user_data == ud[i] && res[i] == -ETIME) {
					res[i] = cqe->res;
					got++;
				}
			}
			head++;
			__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
		}
		if (got >= n || kc_now_ms() >= deadline)
			break;
		if ((r->setup_flags & IORING_SETUP_SQPOLL) &&
		    (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
			eflags |= IORING_ENTER_SQ_WAKEUP;
		if (!(r->features & IORING_FEAT_EXT_ARG)) {
			kc_sleep_ms(20);
			continue;
		}
		memset(&arg, 0, sizeof(arg));
		arg.ts = (uint64_t)(uintptr_t)&ts;
		kcu_enter(r->fd, 0, 1, eflags, &arg, sizeof(arg));
	}
	return got;
}

static int wk_submit_nop(struct wk_owner *o, uint64_t ud)
{
	struct io_uring_sqe *sqe = kcu_get_sqe(&o->ring);

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_NOP;
	sqe->user_data = ud;
	if (o->req->kind == KC_WK_IOWQ)
		sqe->flags = IOSQE_ASYNC;
	return kcu_submit(&o->ring);
}

static int wk_make_block(struct wk_owner *o, int i)
{
	int p[2];
	struct io_uring_sqe *sqe;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	o->pipe_r[i] = p[0];
	o->pipe_w[i] = p[1];
	o->out_fd[i] = o->req->block_bound ? (int)syscall(SYS_memfd_create, "kc-workers", MFD_CLOEXEC)
					   : open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (o->out_fd[i] < 0)
		return -errno;
	sqe = kcu_get_sqe(&o->ring);
	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_SPLICE;
	sqe->fd = o->out_fd[i];
	sqe->off = (uint64_t)-1;
	sqe->splice_fd_in = p[0];
	sqe->splice_off_in = (uint64_t)-1;
	sqe->len = 1;
	sqe->flags = IOSQE_ASYNC;
	sqe->user_data = WK_UD_BLOCK + (uint64_t)i;
	return kcu_submit(&o->ring);
}

static void wk_close_all(struct wk_owner *o)
{
	if (o->have_ring)
		kcu_ring_close(&o->ring);
	o->have_ring = 0;
	if (o->vfd >= 0)
		close(o->vfd);
	o->vfd = -1;
}

static int wk_owner_setup(struct wk_owner *o, struct wk_rep *rep)
{
	const struct kc_wk_req *req = o->req;
	int r;

#define WK_FAIL(step, val)              \
	do {                            \
		rep->setup_step = (step); \
		rep->setup_ret = (val);  \
		return -1;              \
	} while (0)

	if (req->cgroup[0]) {
		char path[KC_WK_PATH + 16];

		wk_join(path, sizeof(path), req->cgroup, "/cgroup.procs", NULL, NULL);
		if ((r = kc_write_file(path, "0")) < 0)
			WK_FAIL(KC_WS_CGROUP, r);
	}
	if (req->action == KC_WA_CORE) {
		struct rlimit rl;

		if (chdir(req->core_dir) < 0)
			WK_FAIL(KC_WS_RLIMIT, -errno);
		getrlimit(RLIMIT_CORE, &rl);
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (64u << 20) ? (64u << 20) : rl.rlim_max;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			WK_FAIL(KC_WS_RLIMIT, -errno);
		kc_write_file("/proc/self/coredump_filter", "0");
	}
	if (req->kind == KC_WK_VHOST) {
		/* not close-on-exec: the device outlives an exec, as a VMM's would */
		o->vfd = open(req->device, O_RDWR);
		if (o->vfd < 0)
			WK_FAIL(KC_WS_OPEN, -errno);
	}
	if (req->private_uid) {
		unsigned id = 0x6b000000u + ((unsigned)getpid() & 0xfffffu);

		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, id, id, id) < 0 ||
		    syscall(SYS_setresuid, id, id, id) < 0)
			WK_FAIL(KC_WS_IDENTITY, -errno);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_DUMPABLE, 1);
	}
	if (req->action == KC_WA_CORE)
		prctl(PR_SET_DUMPABLE, 1);
	if (req->nproc >= 0) {
		struct rlimit rl = { .rlim_cur = (rlim_t)req->nproc, .rlim_max = (rlim_t)req->nproc };

		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			WK_FAIL(KC_WS_RLIMIT, -errno);
	}
	if (req->kind == KC_WK_VHOST) {
		if (req->vhost_fork_owner >= 0) {
			uint8_t v = (uint8_t)req->vhost_fork_owner;

			rep->fork_owner_ret = wk_ioctl(o->vfd, WK_VHOST_SET_FORK_FROM_OWNER, &v);
		}
		if ((r = wk_ioctl(o->vfd, WK_VHOST_SET_OWNER, NULL)) < 0)
			WK_FAIL(KC_WS_SET_OWNER, r);
		for (int i = 0; i < req->vhost_new_workers && i < 2; i++) {
			uint32_t state = 0;
			int32_t ret = wk_ioctl(o->vfd, WK_VHOST_NEW_WORKER, &state);

			if (i == 0) {
				rep->new_worker_ret = ret;
				rep->new_worker_id = (int32_t)state;
			}
		}
		if (req->vhost_attach && rep->new_worker_ret == 0) {
			uint32_t vw[2] = { 0, (uint32_t)rep->new_worker_id };
			uint32_t st = (uint32_t)rep->new_worker_id;

			rep->attach_ret = wk_ioctl(o->vfd, WK_VHOST_ATTACH_VRING_WORKER, vw);
			vw[0] = 0;
			vw[1] = 0xffffffffu;
			rep->get_vring_ret = wk_ioctl(o->vfd, WK_VHOST_GET_VRING_WORKER, vw);
			rep->get_vring_id = (int32_t)vw[1];
			rep->free_ret = wk_ioctl(o->vfd, WK_VHOST_FREE_WORKER, &st);
		}
		return 0;
	}
	r = kcu_ring_open(&o->ring, req->kind == KC_WK_SQPOLL ? IORING_SETUP_SQPOLL : 0, &rep->features);
	if (r < 0)
		WK_FAIL(KC_WS_RING, r);
	o->have_ring = 1;
	if (req->maxw_set) {
		uint32_t v[2] = { req->maxw[0], req->maxw[1] };

		rep->maxw_ret = syscall(__NR_io_uring_register, o->ring.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, v, 2) < 0
					? -errno
					: 0;
		rep->maxw_old[0] = v[0];
		rep->maxw_old[1] = v[1];
	}
	for (int i = 0; i < req->nblock && i < KC_WK_REQS; i++) {
		if ((r = wk_make_block(o, i)) < 0)
			WK_FAIL(KC_WS_SUBMIT, r);
		o->nblock = i + 1;
	}
	if (req->nnop > 0) {
		uint64_t ud[KC_WK_REQS];
		int n = req->nnop > KC_WK_REQS ? KC_WK_REQS : req->nnop;

		for (int i = 0; i < n; i++) {
			ud[i] = WK_UD_NOP + (uint64_t)i;
			if ((r = wk_submit_nop(o, ud[i])) < 0)
				WK_FAIL(KC_WS_SUBMIT, r);
		}
		rep->nnop_done = wk_collect(o, ud, n, rep->nop_res, req->timeout_ms);
	}
	if (req->maxw_query) {
		uint32_t v[2] = { 0, 0 };

		rep->maxw_query_ret = syscall(__NR_io_uring_register, o->ring.fd, IORING_REGISTER_IOWQ_MAX_WORKERS, v, 2) < 0
					      ? -errno
					      : 0;
		rep->maxw_now[0] = v[0];
		rep->maxw_now[1] = v[1];
	}
	return 0;
#undef WK_FAIL
}

static void wk_owner_cmd(struct wk_owner *o, int cmd, int rep_w)
{
	const struct kc_wk_req *req = o->req;
	struct wk_ans a;

	memset(&a, 0, sizeof(a));
	switch (cmd) {
	case 'c': { /* unblock the splices, collect them */
		uint64_t ud[KC_WK_REQS];

		for (int i = 0; i < o->nblock; i++) {
			ud[i] = WK_UD_BLOCK + (uint64_t)i;
			if (write(o->pipe_w[i], "x", 1) < 0)
				a.ret = -errno;
		}
		if (o->have_ring) {
			int32_t tmp[KC_WK_REQS];

			wk_collect(o, ud, 0, tmp, 0);
			for (int i = 0; i < o->nblock; i++)
				if (o->block_res[i] == -ETIME)
					wk_collect(o, &ud[i], 1, tmp, req->timeout_ms);
			for (int i = 0; i < o->nblock; i++) {
				a.res[i] = o->block_res[i];
				a.n += o->block_res[i] != -ETIME;
			}
		}
		break;
	}
	case 'p': /* one more request */
		if (o->have_ring) {
			uint64_t ud = WK_UD_POST;

			a.ret = wk_submit_nop(o, ud);
			if (a.ret == 0 && wk_collect(o, &ud, 1, &a.ret, req->timeout_ms) != 1)
				a.ret = -ETIME;
		} else if (o->vfd >= 0) {
			uint64_t features = 0;

			a.ret = wk_ioctl(o->vfd, WK_VHOST_GET_FEATURES, &features);
		} else {
			a.ret = -EBADF;
		}
		a.hits = wk_hits;
		a.tid = wk_hit_tid;
		break;
	case 'x': { /* exec */
		char *const argv[] = { (char *)"sleep", (char *)"30", NULL };
		char *const envp[] = { NULL };

		syscall(SYS_execve, req->exec_path, argv, envp);
		a.ret = -errno;
		break;
	}
	case 'e':
		syscall(SYS_exit_group, 0);
		break;
	case 's': { /* a core dump */
		kc_crash_segv();
		a.ret = -EINTR;
		break;
	}
	case 'u':
		a.ret = syscall(SYS_unshare, (unsigned long)(uint32_t)req->arg) < 0 ? -errno : 0;
		a.ino = wk_ino("/proc/thread-self/ns/mnt");
		break;
	case 'k':
		wk_close_all(o);
		break;
	case 'n': {
		struct rlimit rl = { .rlim_cur = (rlim_t)req->arg, .rlim_max = (rlim_t)req->arg };
		uint32_t state = 0;

		a.ret = setrlimit(RLIMIT_NPROC, &rl) < 0 ? -errno : 0;
		if (a.ret == 0)
			a.ret = o->vfd >= 0 ? wk_ioctl(o->vfd, WK_VHOST_NEW_WORKER, &state) : -EBADF;
		a.n = (int32_t)state;
		break;
	}
	default:
		a.ret = -EINVAL;
	}
	kc_write_all(rep_w, &a, sizeof(a));
}

int wk_owner_main(void *p)
{
	struct wk_owner_ctx *c = p;
	struct wk_owner o;
	struct wk_rep rep;
	struct sigaction sa;
	sigset_t none;
	char cmd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(c->ctl_w);
	close(c->rep_r);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wk_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	memset(&o, 0, sizeof(o));
	o.req = c->req;
	o.vfd = -1;
	o.ring.fd = -1;
	for (int i = 0; i < KC_WK_REQS; i++)
		o.block_res[i] = -ETIME;
	memset(&rep, 0, sizeof(rep));
	rep.fork_owner_ret = rep.new_worker_ret = rep.attach_ret = rep.get_vring_ret = KC_WK_NOT_CALLED;
	rep.free_ret = rep.maxw_ret = rep.maxw_query_ret = KC_WK_NOT_CALLED;
	wk_marker = 0x6b63776b00000000ULL | (uint64_t)getpid();
	rep.marker = wk_marker;
	wk_owner_setup(&o, &rep);
	if (kc_write_all(c->rep_w, &rep, sizeof(rep)) < 0)
		return 3;
	while (kc_read_bounded(c->ctl_r, &cmd, 1, -1) == 1) {
		if (cmd == 'q')
			break;
		wk_owner_cmd(&o, cmd, c->rep_w);
	}
	return 0;
}
