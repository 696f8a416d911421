// SPDX-License-Identifier: MIT
/* kconform: the life of a user worker, the harness: it starts the owner, acts on it and its workers (a table of handlers, by KC_WA_*) and reports (see kc_workers.c). */
#define _GNU_SOURCE
#include "workers_internal.h"

/* ------------------------------------------------------------------------ */
/* the harness                                                               */

struct wk_h {
	const struct kc_wk_req *req;
	struct kc_wk_res *res;
	struct wk_owner_ctx oc;
	int pid;
	int reaped;
	int timeout;
};

static int wk_cmd(struct wk_h *h, char cmd, struct wk_ans *a, int timeout_ms)
{
	memset(a, 0, sizeof(*a));
	if (kc_write_all(h->oc.ctl_w, &cmd, 1) < 0)
		return -EPIPE;
	return kc_read_bounded(h->oc.rep_r, a, sizeof(*a), timeout_ms) == (ssize_t)sizeof(*a) ? 0 : -ETIMEDOUT;
}

/* threads of the owner; the count of workers of the kind */
static int wk_threads(struct wk_h *h, struct kc_thread_info *ti, int max, int *nthreads)
{
	int n = kc_list_threads(h->pid, ti, max), w = 0;

	*nthreads = n;
	for (int i = 0; i < n && i < max; i++)
		if (ti[i].tid != h->pid && wk_is_worker(ti[i].comm, h->req->kind))
			w++;
	return n < 0 ? n : w;
}

static int wk_reap(struct wk_h *h, int timeout_ms)
{
	int st = 0;
	int r;

	if (h->reaped)
		return 0;
	r = kc_reap_bounded(h->pid, timeout_ms, &st);
	h->res->owner_status = st;
	h->reaped = 1;
	return r;
}

/* a cgroup.threads count of the worker tids (and the kthread) */
static int wk_in_threads(struct wk_h *h, const char *cg)
{
	char path[KC_WK_PATH + 20], buf[8192];
	int n = 0;
	struct kc_wk_res *res = h->res;

	wk_join(path, sizeof(path), cg, "/cgroup.threads", NULL, NULL);
	if (kc_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (char *p = buf; *p;) {
		int tid = (int)kc_parse_int(p);

		for (int i = 0; i < res->nlisted && i < KC_WK_THREADS; i++)
			if (res->threads[i].tid == tid && tid != h->pid && wk_is_worker(res->threads[i].comm, h->req->kind))
				n++;
		if (res->kthread_tid && tid == res->kthread_tid)
			n++;
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
	return n;
}

static int wk_events_field(const char *cg, const char *file, const char *key)
{
	char path[KC_WK_PATH + 20], buf[1024];
	size_t kl = strlen(key);

	wk_join(path, sizeof(path), cg, "/", file, NULL);
	if (kc_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (char *p = buf; *p;) {
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return (int)kc_parse_int(p + kl + 1);
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
	return -1;
}

/* the target's /proc directory */
static void wk_target_dir(struct wk_h *h, char *dst, size_t cap)
{
	int t = h->res->target_tid;

	if (t && t == h->res->kthread_tid) {
		wk_path_id(dst, cap, "/proc/", t, NULL);
	} else {
		char num[24];

		kc_utoa(num, (uint64_t)t);
		wk_path_id(dst, cap, "/proc/", h->pid, "/task/");
		wk_join(dst, cap, dst, num, NULL, NULL);
	}
}

static int wk_target_state(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;

	if (res->target_tid && res->target_tid == res->kthread_tid)
		return wk_state(res->target_tid, 0);
	return wk_state(h->pid, res->target_tid);
}

static int wk_count_stopped(struct wk_h *h)
{
	struct kc_thread_info ti[KC_WK_THREADS];
	int n = kc_list_threads(h->pid, ti, KC_WK_THREADS), s = 0;

	for (int i = 0; i < n && i < KC_WK_THREADS; i++) {
		int st;

		if (ti[i].tid == h->pid || !wk_is_worker(ti[i].comm, h->req->kind))
			continue;
		st = wk_state(h->pid, ti[i].tid);
		if (st == 'T' || st == 't')
			s++;
	}
	return s;
}

/* poll until the owner has no workers of the kind and the kthread is gone */
static int wk_wait_gone(struct wk_h *h, int timeout_ms)
{
	struct kc_wk_res *res = h->res;
	struct kc_thread_info ti[KC_WK_THREADS];
	int64_t t0 = kc_now_ms();
	int n = 0;

	for (;;) {
		int w = wk_threads(h, ti, KC_WK_THREADS, &n);
		int k = res->kthread_tid ? wk_state(res->kthread_tid, 0) != 0 : 0;

		res->after_nthreads = n;
		res->after_nworkers = w < 0 ? 0 : w;
		res->after_kthread = k;
		if (res->after_nworkers == 0 && !k)
			return (int)(kc_now_ms() - t0);
		if (kc_now_ms() - t0 >= timeout_ms)
			return -1;
		kc_sleep_ms(10);
	}
}

static int wk_wait_state(struct wk_h *h, int want_stopped, int timeout_ms)
{
	int64_t t0 = kc_now_ms();

	for (;;) {
		int s = wk_state(h->pid, 0);
		int stopped = s == 'T' || s == 't';

		if (stopped == want_stopped)
			return (int)(kc_now_ms() - t0);
		if (kc_now_ms() - t0 >= timeout_ms)
			return -1;
		kc_sleep_ms(5);
	}
}

static int wk_count_cb(const char *d, void *p)
{
	(void)d;
	(void)p;
	return 0;
}

/* The owner's io_uring fd, copied into the harness with pidfd_getfd (-errno on failure). */
static int wk_copy_ring(int pid)
{
	char dir[64], link[96], target[64];
	int pfd, found = -ENOENT;
	DIR *d;
	struct dirent *e;

	wk_path_id(dir, sizeof(dir), "/proc/", pid, "/fd");
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		ssize_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		wk_join(link, sizeof(link), dir, "/", e->d_name, "");
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, "anon_inode:[io_uring]")) { /* not a file whose path says io_uring (a sysctl's) */
			found = atoi(e->d_name);
			break;
		}
	}
	closedir(d);
	if (found < 0)
		return found;
	pfd = (int)syscall(434 /* pidfd_open */, pid, 0);
	if (pfd < 0)
		return -errno;
	found = (int)syscall(438 /* pidfd_getfd */, pfd, found, 0);
	found = found < 0 ? -errno : found;
	close(pfd);
	return found;
}

/* CQEs of user_data WK_UD_BLOCK.. in the fdinfo of a ring: how many, their results in order of index. */
static int wk_fdinfo_cqes(int fd, struct kc_wk_res *res, int nblock)
{
	char path[64], buf[8192];
	const char *p;
	int n, got = 0;

	wk_path_id(path, sizeof(path), "/proc/self/fdinfo/", fd, "");
	n = kc_read_file(path, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 ? n : 0;
	p = strstr(buf, "SQEs:");
	res->exec_sqes = p ? atoi(p + 5) : -1;
	for (int i = 0; i < KC_WK_REQS; i++)
		res->complete_res[i] = 0;
	for (p = strstr(buf, "user_data:"); p; p = strstr(p + 1, "user_data:")) {
		unsigned long long ud = strtoull(p + 10, NULL, 10);
		const char *r = strstr(p, "res:");

		if (!r || ud < WK_UD_BLOCK || ud >= WK_UD_BLOCK + (unsigned long long)nblock)
			continue;
		res->complete_res[ud - WK_UD_BLOCK] = atoi(r + 4);
		got++;
	}
	res->ncomplete = got;
	return got;
}

static void wk_core(struct wk_h *h);

/* On a ptrace-stopped target: read its blocked mask, try to set it to {SIGUSR2}, read it back and put the
 * old mask back if the set went through (a user worker must not be left taking signals). */
static void wk_sigmask(int t, struct kc_wk_res *res)
{
	uint64_t before = 0, set = 1ULL << (SIGUSR2 - 1), after = 0;

	res->getsigmask_ret = ptrace(PTRACE_GETSIGMASK, t, (void *)sizeof(before), &before) < 0 ? -errno : 0;
	res->sigmask_before = before;
	res->setsigmask_ret = ptrace(PTRACE_SETSIGMASK, t, (void *)sizeof(set), &set) < 0 ? -errno : 0;
	if (ptrace(PTRACE_GETSIGMASK, t, (void *)sizeof(after), &after) == 0)
		res->sigmask_after = after;
	if (res->setsigmask_ret == 0 && res->getsigmask_ret == 0)
		ptrace(PTRACE_SETSIGMASK, t, (void *)sizeof(before), &before);
}

static void wk_act_tgkill(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;

	if (!res->target_tid)
		return;
	t0 = kc_now_ms();
	if (res->target_tid == res->kthread_tid)
		res->action_ret = kill(res->target_tid, req->arg) < 0 ? -errno : 0;
	else
		res->action_ret = syscall(SYS_tgkill, h->pid, res->target_tid, req->arg) < 0 ? -errno : 0;
	if (req->arg == SIGKILL) {
		int st = 0;
		/* a kernel thread ignores it: a short bound then */
		int r = kc_reap_bounded(h->pid, res->target_tid == res->kthread_tid ? 500 : to, &st);

		h->reaped = 1;
		res->owner_status = st;
		res->owner_ended = r == 0;
		res->action_ms = r == 0 ? (int)(kc_now_ms() - t0) : -1;
		kc_sleep_ms(20);
		res->after_kthread = res->kthread_tid ? wk_state(res->kthread_tid, 0) != 0 : 0;
		return;
	}
	if (req->arg == SIGSTOP) {
		res->action_ms = wk_wait_state(h, 1, res->kthread_tid ? 300 : to);
	} else {
		kc_sleep_ms(100);
	}
	res->owner_state = wk_state(h->pid, 0);
	res->target_state = wk_target_state(h);
	res->stopped_workers = wk_count_stopped(h);
	{
		struct kc_thread_info ti[KC_WK_THREADS];
		int n = kc_list_threads(h->pid, ti, KC_WK_THREADS);

		for (int i = 0; i < n && i < KC_WK_THREADS; i++)
			if (ti[i].tid == res->target_tid)
				res->target_pending = ti[i].sig_pending;
	}
	kill(h->pid, SIGCONT);
	wk_wait_state(h, 0, to);
	res->post_ret = wk_cmd(h, 'p', &a, to) < 0 ? -ETIMEDOUT : a.ret;
	res->handler_hits = a.hits;
	res->handler_tid = a.tid;
}

static void wk_act_ptrace(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;
	int t = res->target_tid, st = 0;

	if (!t)
		return;
	res->action_ret = ptrace((enum __ptrace_request)req->arg, t, NULL, NULL) < 0 ? -errno : 0;
	if (res->action_ret == 0) {
		if (req->arg == KC_PTRACE_SEIZE)
			ptrace((enum __ptrace_request)PTRACE_INTERRUPT, t, NULL, NULL);
		t0 = kc_now_ms();
		res->action_ms = -1;
		while (kc_now_ms() - t0 < to) {
			pid_t w = waitpid(t, &st, WNOHANG | __WALL);

			if (w == t) {
				res->action_ms = (int)(kc_now_ms() - t0);
				break;
			}
			kc_sleep_ms(2);
		}
		res->target_state = wk_target_state(h);
		res->owner_state = wk_state(h->pid, 0);
		if (req->sigmask && res->action_ms >= 0)
			wk_sigmask(t, res);
		ptrace(PTRACE_DETACH, t, NULL, NULL);
		kill(h->pid, SIGCONT);
		wk_wait_state(h, 0, to);
	}
	res->post_ret = wk_cmd(h, 'p', &a, to) < 0 ? -ETIMEDOUT : a.ret;
}

static void wk_act_procfs(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	char path[KC_WK_PATH + 32];
	int fd;
	uint64_t v = 0;
	char dir[96];

	if (!res->target_tid)
		return;
	wk_target_dir(h, dir, sizeof(dir));
	wk_join(path, sizeof(path), dir, "/fd", NULL, NULL);
	res->fd_count = wk_dir(path, wk_count_cb, NULL);
	wk_path_id(path, sizeof(path), "/proc/", h->pid, "/fd");
	res->owner_fd_count = wk_dir(path, wk_count_cb, NULL);
	wk_join(path, sizeof(path), dir, "/mem", NULL, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		res->mem_ret = -errno;
	} else {
		ssize_t n = pread(fd, &v, sizeof(v), (off_t)(uintptr_t)&wk_marker);

		res->mem_ret = n < 0 ? -errno : (int32_t)n;
		res->mem_match = n == (ssize_t)sizeof(v) && v == (0x6b63776b00000000ULL | (uint64_t)h->pid);
		close(fd);
	}
}

static void wk_act_stop(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;

	t0 = kc_now_ms();
	res->action_ret = kill(h->pid, SIGSTOP) < 0 ? -errno : 0;
	res->action_ms = wk_wait_state(h, 1, to);
	/* the workers take part in the group stop: give them the same bound */
	while (wk_count_stopped(h) < res->nworkers && kc_now_ms() - t0 < to)
		kc_sleep_ms(5);
	res->owner_state = wk_state(h->pid, 0);
	res->stopped_workers = wk_count_stopped(h);
	res->target_state = wk_target_state(h);
	kill(h->pid, SIGCONT);
	wk_wait_state(h, 0, to);
	res->post_ret = wk_cmd(h, 'p', &a, to) < 0 ? -ETIMEDOUT : a.ret;
}

static void wk_act_freeze(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;
	char path[KC_WK_PATH + 32];

	wk_join(path, sizeof(path), req->cgroup, "/cgroup.freeze", NULL, NULL);
	t0 = kc_now_ms();
	res->action_ret = kc_write_file(path, "1");
	res->action_ms = -1;
	while (res->action_ret == 0 && kc_now_ms() - t0 < to) {
		if (wk_events_field(req->cgroup, "cgroup.events", "frozen") == 1) {
			res->frozen = 1;
			res->action_ms = (int)(kc_now_ms() - t0);
			break;
		}
		kc_sleep_ms(5);
	}
	res->target_state = wk_target_state(h);
	res->owner_state = wk_state(h->pid, 0);
	kc_write_file(path, "0");
	t0 = kc_now_ms();
	while (kc_now_ms() - t0 < to) {
		if (wk_events_field(req->cgroup, "cgroup.events", "frozen") == 0) {
			res->thawed = 1;
			break;
		}
		kc_sleep_ms(5);
	}
	res->post_ret = wk_cmd(h, 'p', &a, to) < 0 ? -ETIMEDOUT : a.ret;
}

static void wk_act_move(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	char path[KC_WK_PATH + 32];
	char num[24];

	kc_utoa(num, (uint64_t)h->pid);
	wk_join(path, sizeof(path), req->dst_cgroup, "/cgroup.procs", NULL, NULL);
	res->action_ret = kc_write_file(path, num);
	res->in_dst = wk_in_threads(h, req->dst_cgroup);
	res->after_in_cgroup = wk_in_threads(h, req->cgroup);
}

/* io-wq workers (iou-wrk-*) among the owner's threads, whatever the row's kind (a SQPOLL ring's too) */
static int wk_iowq_workers(struct wk_h *h)
{
	struct kc_thread_info ti[KC_WK_THREADS];
	int n = kc_list_threads(h->pid, ti, KC_WK_THREADS), w = 0;

	for (int i = 0; i < n && i < KC_WK_THREADS; i++)
		if (ti[i].tid != h->pid && wk_is_worker(ti[i].comm, KC_WK_IOWQ))
			w++;
	return w;
}

static void wk_act_exec(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;
	char cpath[64], comm[64];
	int n, copy = -1;

	if (req->exec_cqes) {
		copy = wk_copy_ring(h->pid);
		res->ring_copy_ret = copy;
		/* a SQPOLL ring: the thread must have taken the splices before the exec */
		t0 = kc_now_ms();
		while (copy >= 0 && wk_fdinfo_cqes(copy, res, req->nblock) >= 0 && res->exec_sqes > 0 &&
		       kc_now_ms() - t0 < to)
			kc_sleep_ms(5);
		/* ... and the splices must be running in io-wq workers, blocked: one still queued is cancelled
		 * before it runs (-ECANCELED on every kernel) and would not show how a running one completes */
		while (copy >= 0 && wk_iowq_workers(h) < req->nblock && kc_now_ms() - t0 < to)
			kc_sleep_ms(5);
	}
	if (kc_write_all(h->oc.ctl_w, "x", 1) < 0) {
		res->action_ret = -EPIPE;
		return;
	}
	wk_path_id(cpath, sizeof(cpath), "/proc/", h->pid, "/comm");
	t0 = kc_now_ms();
	res->action_ret = -ETIMEDOUT;
	struct pollfd pfd = { .fd = h->oc.rep_r, .events = POLLIN };

	while (kc_now_ms() - t0 < to) {
		n = kc_read_file(cpath, comm, sizeof(comm));
		if (n > 0 && !strncmp(comm, "sleep", 5)) {
			res->action_ret = 0;
			res->action_ms = (int)(kc_now_ms() - t0);
			break;
		}
		/* an answer means execve failed; a hang-up means it closed the pipes */
		if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 1) {
			if (kc_read_bounded(h->oc.rep_r, &a, sizeof(a), 100) == sizeof(a)) {
				res->action_ret = a.ret;
				break;
			}
			pfd.fd = -1;
		}
		kc_sleep_ms(5);
	}
	if (res->action_ret == 0)
		wk_wait_gone(h, to);
	if (copy >= 0) {
		/* the cancelled requests post their CQEs into the ring the harness still holds */
		int64_t t1 = kc_now_ms();

		while (wk_fdinfo_cqes(copy, res, req->nblock) < req->nblock && kc_now_ms() - t1 < to)
			kc_sleep_ms(10);
		close(copy);
	}
	kill(h->pid, SIGKILL);
	wk_reap(h, to);
}

static void wk_act_exit(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	int to = h->timeout;
	int64_t t0;

	t0 = kc_now_ms();
	res->action_ret = kc_write_all(h->oc.ctl_w, "e", 1) < 0 ? -EPIPE : 0;
	{
		int st = 0;
		int r = kc_reap_bounded(h->pid, to, &st);

		h->reaped = 1;
		res->owner_status = st;
		res->owner_ended = r == 0;
		res->action_ms = r == 0 ? (int)(kc_now_ms() - t0) : -1;
	}
	for (int i = 0; i < 50 && (res->leaked = wk_leaks(h->pid)) > 0; i++)
		kc_sleep_ms(20);
}

static void wk_act_core(struct wk_h *h)
{
	wk_core(h);
}

static void wk_act_unshare(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	char path[KC_WK_PATH + 32];
	char dir[96];

	res->action_ret = wk_cmd(h, 'u', &a, to) < 0 ? -ETIMEDOUT : a.ret;
	res->mntns_owner = a.ino;
	if (res->target_tid) {
		wk_target_dir(h, dir, sizeof(dir));
		wk_join(path, sizeof(path), dir, "/ns/mnt", NULL, NULL);
		res->mntns_worker = wk_ino(path);
	}
	res->post_ret = wk_cmd(h, 'p', &a, to) < 0 ? -ETIMEDOUT : a.ret;
}

static void wk_act_close(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;

	res->action_ret = wk_cmd(h, 'k', &a, to) < 0 ? -ETIMEDOUT : a.ret;
	res->action_ms = wk_wait_gone(h, to);
}

static void wk_act_kill(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	int to = h->timeout;

	res->action_ret = kill(h->pid, SIGKILL) < 0 ? -errno : 0;
	{
		int st = 0;
		int r = kc_reap_bounded(h->pid, to, &st);

		h->reaped = 1;
		res->owner_status = st;
		res->owner_ended = r == 0;
	}
	res->action_ms = wk_wait_gone(h, to);
	res->leaked = wk_leaks(h->pid);
}

static void wk_act_idle(struct wk_h *h)
{
	const struct kc_wk_req *req = h->req;
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	int64_t t0;

	/* the blocked requests finish; then count the idle workers until
	 * they settle (arg: the bound in ms) */
	struct kc_thread_info ti[KC_WK_THREADS];
	int last = -1, n = 0;
	int64_t since = 0, t1;

	res->action_ret = wk_cmd(h, 'c', &a, to) < 0 ? -ETIMEDOUT : 0;
	res->ncomplete = a.n;
	memcpy(res->complete_res, a.res, sizeof(a.res));
	t0 = kc_now_ms();
	res->action_ms = -1;
	while ((t1 = kc_now_ms()) - t0 < req->arg) {
		int w = wk_threads(h, ti, KC_WK_THREADS, &n);

		if (w != last) {
			last = w;
			since = t1;
		}
		if (w <= 1 && t1 - since >= 700) {
			res->action_ms = (int)(since - t0);
			break;
		}
		kc_sleep_ms(20);
	}
	res->after_nworkers = last;
	res->after_nthreads = n;
}

static void wk_act_new_worker(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	struct wk_ans a;
	int to = h->timeout;
	struct kc_thread_info ti[KC_WK_THREADS];
	int n = 0;

	res->action_ret = wk_cmd(h, 'n', &a, to) < 0 ? -ETIMEDOUT : a.ret;
	res->after_nworkers = wk_threads(h, ti, KC_WK_THREADS, &n);
	res->after_nthreads = n;
}

/* What the harness does to the owner and its workers, by KC_WA_* (NULL: nothing). */
static void (*const wk_actions[])(struct wk_h *h) = {
	[KC_WA_NONE] = NULL,
	[KC_WA_TGKILL] = wk_act_tgkill,
	[KC_WA_PTRACE] = wk_act_ptrace,
	[KC_WA_PROCFS] = wk_act_procfs,
	[KC_WA_STOP] = wk_act_stop,
	[KC_WA_FREEZE] = wk_act_freeze,
	[KC_WA_MOVE] = wk_act_move,
	[KC_WA_EXEC] = wk_act_exec,
	[KC_WA_EXIT] = wk_act_exit,
	[KC_WA_CORE] = wk_act_core,
	[KC_WA_UNSHARE] = wk_act_unshare,
	[KC_WA_CLOSE] = wk_act_close,
	[KC_WA_KILL] = wk_act_kill,
	[KC_WA_IDLE] = wk_act_idle,
	[KC_WA_NEW_WORKER] = wk_act_new_worker,
};

static void wk_act(struct wk_h *h)
{
	int32_t action = h->req->action;

	if (action >= 0 && action < (int32_t)(sizeof(wk_actions) / sizeof(wk_actions[0])) && wk_actions[action])
		wk_actions[action](h);
}

/* ELF core: count NT_PRSTATUS notes (64-bit ELF only). */
static int wk_prstatus(int fd)
{
	unsigned char eh[64], ph[56], note[4096];
	uint64_t phoff;
	uint16_t phnum, phentsize;
	int count = 0;

	if (pread(fd, eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh, "\177ELF", 4) || eh[4] != 2)
		return -ENOEXEC;
	memcpy(&phoff, eh + 32, 8);
	memcpy(&phentsize, eh + 54, 2);
	memcpy(&phnum, eh + 56, 2);
	for (unsigned i = 0; i < phnum && phentsize >= 56; i++) {
		uint32_t type;
		uint64_t off, filesz;

		if (pread(fd, ph, sizeof(ph), (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof(ph))
			return -EIO;
		memcpy(&type, ph, 4);
		if (type != 4) /* PT_NOTE */
			continue;
		memcpy(&off, ph + 8, 8);
		memcpy(&filesz, ph + 32, 8);
		for (uint64_t pos = 0; pos + 12 <= filesz;) {
			uint32_t hdr[3];

			if (pread(fd, hdr, sizeof(hdr), (off_t)(off + pos)) != (ssize_t)sizeof(hdr))
				return -EIO;
			if (hdr[2] == 1 && hdr[0] == 5 && pread(fd, note, 5, (off_t)(off + pos + 12)) == 5 &&
			    !memcmp(note, "CORE", 5))
				count++;
			pos += 12 + ((hdr[0] + 3u) & ~3u) + ((hdr[1] + 3u) & ~3u);
		}
	}
	return count;
}

struct wk_core_find {
	char name[64];
};

static int wk_core_cb(const char *d, void *p)
{
	struct wk_core_find *f = p;

	if (!strncmp(d, "core", 4)) {
		wk_cpy(f->name, d, sizeof(f->name));
		return 1;
	}
	return 0;
}

static void wk_core(struct wk_h *h)
{
	struct kc_wk_res *res = h->res;
	struct wk_core_find f;
	char path[KC_WK_PATH + 80];
	int64_t t0 = kc_now_ms();
	int st = 0, r, fd;
	struct stat sb;

	{
		/* the thread count the dump is compared with, just before it */
		struct kc_thread_info ti[KC_WK_THREADS];
		int nt = 0;

		wk_threads(h, ti, KC_WK_THREADS, &nt);
		res->nthreads = nt;
	}
	res->action_ret = kc_write_all(h->oc.ctl_w, "s", 1) < 0 ? -EPIPE : 0;
	r = kc_reap_bounded(h->pid, h->timeout * 2, &st);
	h->reaped = 1;
	res->owner_status = st;
	res->owner_ended = r == 0;
	res->action_ms = r == 0 ? (int)(kc_now_ms() - t0) : -1;
	res->core_dumped = WIFSIGNALED(st) && WCOREDUMP(st);
	memset(&f, 0, sizeof(f));
	res->core_size = -ENOENT;
	if (wk_dir(h->req->core_dir, wk_core_cb, &f) < 0 || !f.name[0])
		return;
	wk_join(path, sizeof(path), h->req->core_dir, "/", f.name, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		res->core_size = fstat(fd, &sb) < 0 ? -errno : (int32_t)sb.st_size;
		res->core_prstatus = wk_prstatus(fd);
		close(fd);
	} else {
		res->core_size = -errno;
	}
	unlink(path);
}

struct wk_hctx {
	const struct kc_wk_req *req;
	int wfd;
};

static int wk_harness_main(void *p)
{
	struct wk_hctx *hc = p;
	const struct kc_wk_req *req = hc->req;
	struct kc_wk_res res;
	struct wk_h h;
	struct wk_rep rep;
	int ctl[2], rp[2];
	long pid;
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	memset(&h, 0, sizeof(h));
	h.req = req;
	h.res = &res;
	h.timeout = req->timeout_ms > 0 ? req->timeout_ms : 3000;
	res.kthread_tid = 0;
	res.getsigmask_ret = res.setsigmask_ret = res.ring_copy_ret = KC_WK_NOT_CALLED;
	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0) {
		res.harness.error = KC_HE_SETUP;
		res.harness.err_no = errno;
		goto out;
	}
	h.oc = (struct wk_owner_ctx){ .req = req, .ctl_r = ctl[0], .ctl_w = ctl[1], .rep_r = rp[0], .rep_w = rp[1] };
	pid = kc_spawn_fn(wk_owner_main, &h.oc);
	if (pid < 0) {
		res.harness.error = KC_HE_SETUP;
		res.harness.err_no = (int32_t)-pid;
		goto out;
	}
	h.pid = (int)pid;
	res.owner_pid = h.pid;
	close(ctl[0]);
	close(rp[1]);
	n = kc_read_bounded(rp[0], &rep, sizeof(rep), h.timeout * 2);
	if (n != (ssize_t)sizeof(rep)) {
		res.harness.error = n == -ETIMEDOUT ? KC_HE_TIMEOUT : KC_HE_NO_REPORT;
		res.harness.err_no = n < 0 ? (int32_t)-n : 0;
		goto end;
	}
	res.setup_step = rep.setup_step;
	res.setup_ret = rep.setup_ret;
	res.features = rep.features;
	res.fork_owner_ret = rep.fork_owner_ret;
	res.new_worker_ret = rep.new_worker_ret;
	res.new_worker_id = rep.new_worker_id;
	res.attach_ret = rep.attach_ret;
	res.get_vring_ret = rep.get_vring_ret;
	res.get_vring_id = rep.get_vring_id;
	res.free_ret = rep.free_ret;
	res.maxw_ret = rep.maxw_ret;
	res.maxw_old[0] = rep.maxw_old[0];
	res.maxw_old[1] = rep.maxw_old[1];
	res.maxw_query_ret = rep.maxw_query_ret;
	res.maxw_now[0] = rep.maxw_now[0];
	res.maxw_now[1] = rep.maxw_now[1];
	res.nnop_done = rep.nnop_done;
	memcpy(res.nop_res, rep.nop_res, sizeof(rep.nop_res));
	{
		/* wait (bounded) for the workers, then take the picture */
		int64_t t0 = kc_now_ms();
		int bound = h.timeout < 1500 ? h.timeout : 1500;
		int nt = 0;

		for (;;) {
			int w = wk_threads(&h, res.threads, KC_WK_THREADS, &nt);

			if (req->kind == KC_WK_VHOST && res.setup_ret == 0)
				res.kthread_tid = wk_find_task("vhost-", h.pid, NULL);
			res.nthreads = nt;
			res.nworkers = w < 0 ? 0 : w;
			if (res.nworkers + (res.kthread_tid ? 1 : 0) >= req->want_workers || res.setup_ret < 0 ||
			    kc_now_ms() - t0 >= bound)
				break;
			kc_sleep_ms(5);
		}
		res.nlisted = nt < KC_WK_THREADS ? nt : KC_WK_THREADS;
		for (int i = 0; i < res.nlisted; i++) {
			if (res.threads[i].tid != h.pid && wk_is_worker(res.threads[i].comm, req->kind)) {
				res.target_tid = res.threads[i].tid;
				break;
			}
		}
		if (!res.target_tid)
			res.target_tid = res.kthread_tid;
	}
	if (req->cgroup[0]) {
		res.in_cgroup = wk_in_threads(&h, req->cgroup);
		res.pids_current = wk_events_field(req->cgroup, "pids.current", "");
		{
			char path[KC_WK_PATH + 20], buf[64];

			wk_join(path, sizeof(path), req->cgroup, "/pids.current", NULL, NULL);
			res.pids_current = kc_read_file(path, buf, sizeof(buf)) > 0 ? (int32_t)kc_parse_int(buf) : -ENOENT;
		}
		res.pids_max_events = wk_events_field(req->cgroup, "pids.events", "max");
	}
	if (res.setup_ret == 0)
		wk_act(&h);
end:
	if (!h.reaped && h.pid > 0) {
		struct wk_ans a;

		kill(h.pid, SIGCONT);
		if (req->nblock > 0 && req->action != KC_WA_IDLE && res.setup_ret == 0 &&
		    wk_cmd(&h, 'c', &a, h.timeout) == 0) {
			res.ncomplete = a.n;
			memcpy(res.complete_res, a.res, sizeof(a.res));
		}
		if (kc_write_all(h.oc.ctl_w, "q", 1) == 0 && wk_reap(&h, h.timeout) == 0)
			res.owner_ended = 1;
		else
			wk_reap(&h, 0);
	}
	if (h.pid > 0 && req->action != KC_WA_EXIT && req->action != KC_WA_KILL)
		res.leaked = wk_leaks(h.pid);
	close(ctl[1]);
	close(rp[0]);
out:
	kc_write_all(hc->wfd, &res, sizeof(res));
	return 0;
}

int kc_workers_run(const struct kc_wk_req *req, struct kc_wk_res *res)
{
	struct wk_hctx hc = { .req = req, .wfd = -1 };
	int timeout = (req->timeout_ms > 0 ? req->timeout_ms : 3000) * 8 + (req->action == KC_WA_IDLE ? req->arg : 0);

	memset(res, 0, sizeof(*res));
	if (req->nblock < 0 || req->nblock > KC_WK_REQS || req->nnop < 0 || req->nnop > KC_WK_REQS)
		return -EINVAL;
	return kc_harness_run(wk_harness_main, &hc, &hc.wfd, res, sizeof(*res), timeout, NULL);
}
