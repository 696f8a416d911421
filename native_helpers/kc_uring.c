// SPDX-License-Identifier: MIT
/*
 * kconform: raw io_uring + openat2 helpers and the child scenarios built on
 * them.  See kc_uring.h for the rules; in short:
 *  - every ring is created in a child made by kc_spawn_fn() (a raw clone
 *    whose child runs a C function and leaves with exit_group), never in the
 *    Python process, so io-wq workers and SQPOLL threads die with the child;
 *  - children use raw syscalls and async-signal-safe libc wrappers only;
 *  - every wait is bounded; a child that does not report is killed and reaped.
 * The task-restriction scenario is in kc_uring_restrict.c (uring_split_internal.h).
 */
#define _GNU_SOURCE
#include "uring_split_internal.h"

/* Reap pid within timeout_ms (SIGKILL when it does not go): 1 when it ended
 * by itself in time, 0 when it had to be killed.  The status is stored. */
int kcu_reap(long pid, int timeout_ms, int32_t *status)
{
	int st = 0;
	int r = kc_reap_bounded((int)pid, timeout_ms, &st);

	*status = st;
	return r != -ETIMEDOUT;
}

static void kcu_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t i = 0;

	if (!cap)
		return;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = src[i];
	dst[i] = 0;
}

/* dst = a b c (any may be NULL); -1 on overflow */
static int kcu_join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; p && *p; p++) {
			if (n + 1 >= cap)
				return -1;
			dst[n++] = *p;
		}
	}
	dst[n] = 0;
	return (int)n;
}

static uint64_t kcu_parse_hex(const char *s)
{
	uint64_t v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (;; s++) {
		if (*s >= '0' && *s <= '9')
			v = v * 16 + (uint64_t)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			v = v * 16 + (uint64_t)(*s - 'a' + 10);
		else
			break;
	}
	return v;
}

/* Pointer just after "key" at the start of a line, or NULL. */
static const char *kcu_field(const char *buf, const char *key)
{
	size_t kl = strlen(key);
	const char *p = buf;

	while (*p) {
		if (!strncmp(p, key, kl))
			return p + kl;
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* threads                                                                   */

static void kcu_fill_thread(const char *base, struct kc_thread_info *ti)
{
	char path[128], buf[4096];
	const char *f;
	int n;

	ti->tgid = ti->ppid = ti->kthread = -1;
	if (kcu_join3(path, sizeof(path), base, "/comm", NULL) > 0 && (n = kc_read_file(path, buf, sizeof(buf))) > 0) {
		if (buf[n - 1] == '\n')
			buf[n - 1] = 0;
		kcu_strlcpy(ti->comm, buf, sizeof(ti->comm));
	}
	if (kcu_join3(path, sizeof(path), base, "/stat", NULL) > 0 && kc_read_file(path, buf, sizeof(buf)) > 0) {
		/* fields after the last ')' start with field 3 */
		char *rp = NULL;

		for (char *p = buf; *p; p++)
			if (*p == ')')
				rp = p;
		if (rp) {
			const char *p = rp + 1;
			int field = 3;

			while (*p && field < 9) {
				while (*p == ' ')
					p++;
				while (*p && *p != ' ')
					p++;
				field++;
			}
			ti->flags = (uint64_t)kc_parse_int(p);
		}
	}
	if (kcu_join3(path, sizeof(path), base, "/status", NULL) > 0 && kc_read_file(path, buf, sizeof(buf)) > 0) {
		if ((f = kcu_field(buf, "Tgid:")))
			ti->tgid = (int32_t)kc_parse_int(f);
		if ((f = kcu_field(buf, "PPid:")))
			ti->ppid = (int32_t)kc_parse_int(f);
		if ((f = kcu_field(buf, "Kthread:")))
			ti->kthread = (int32_t)kc_parse_int(f);
		if ((f = kcu_field(buf, "SigPnd:")))
			ti->sig_pending = kcu_parse_hex(f);
		if ((f = kcu_field(buf, "SigBlk:")))
			ti->sig_blocked = kcu_parse_hex(f);
	}
}

struct kcu_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int kc_list_threads(int32_t pid, struct kc_thread_info *out, int32_t max)
{
	char dirpath[64], num[24];
	union {
		char buf[4096];
		uint64_t align;
	} u;
	int count = 0;
	int dfd;

	kc_utoa(num, (uint64_t)(pid > 0 ? pid : getpid()));
	kcu_join3(dirpath, sizeof(dirpath), "/proc/", num, "/task");
	dfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, u.buf, sizeof(u.buf));

		if (n < 0) {
			int e = -errno;

			close(dfd);
			return e;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct kcu_dirent64 *d = (struct kcu_dirent64 *)(u.buf + off);

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			if (out && count < max) {
				char base[128];
				struct kc_thread_info *ti = &out[count];

				memset(ti, 0, sizeof(*ti));
				ti->tid = (int32_t)kc_parse_int(d->d_name);
				kcu_join3(base, sizeof(base), dirpath, "/", d->d_name);
				kcu_fill_thread(base, ti);
			}
			count++;
		}
	}
	close(dfd);
	return count;
}

/* ------------------------------------------------------------------------ */
/* the ring (private: never exposed to Python)                               */

/* struct kcu_ring: uring_internal.h */

long kcu_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void *arg,
		      size_t argsz)
{
	long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);

	return r < 0 ? -errno : r;
}

void kcu_ring_close(struct kcu_ring *r)
{
	if (r->sqes)
		munmap(r->sqes, r->sqe_len);
	if (r->cq_map && r->cq_map != r->sq_map)
		munmap(r->cq_map, r->cq_len);
	if (r->sq_map)
		munmap(r->sq_map, r->sq_len);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

int kcu_ring_open(struct kcu_ring *r, uint32_t flags, uint32_t *features)
{
	struct io_uring_params p;
	long fd;
	int err;
	char *s, *c;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (flags & IORING_SETUP_SQPOLL)
		p.sq_thread_idle = 1000;
	fd = syscall(__NR_io_uring_setup, 8, &p);
	if (fd < 0)
		return -errno;
	r->fd = (int)fd;
	r->setup_flags = p.flags;
	r->features = p.features;
	r->sq_entries = p.sq_entries;
	r->next_ud = 1;
	if (features)
		*features = p.features;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && r->cq_len > r->sq_len)
		r->sq_len = r->cq_len;
	r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (r->sq_map == MAP_FAILED) {
		r->sq_map = NULL;
		goto fail;
	}
	r->cq_map = r->sq_map;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
				 IORING_OFF_CQ_RING);
		if (r->cq_map == MAP_FAILED) {
			r->cq_map = NULL;
			goto fail;
		}
	}
	r->sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		r->sqes = NULL;
		goto fail;
	}
	s = r->sq_map;
	c = r->cq_map;
	r->sq_head = (uint32_t *)(s + p.sq_off.head);
	r->sq_tail = (uint32_t *)(s + p.sq_off.tail);
	r->sq_mask = (uint32_t *)(s + p.sq_off.ring_mask);
	r->sq_flags = (uint32_t *)(s + p.sq_off.flags);
	r->sq_array = (uint32_t *)(s + p.sq_off.array);
	r->cq_head = (uint32_t *)(c + p.cq_off.head);
	r->cq_tail = (uint32_t *)(c + p.cq_off.tail);
	r->cq_mask = (uint32_t *)(c + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(c + p.cq_off.cqes);
	return 0;
fail:
	err = -errno;
	kcu_ring_close(r);
	return err;
}

struct io_uring_sqe *kcu_get_sqe(struct kcu_ring *r)
{
	uint32_t tail = *r->sq_tail;
	uint32_t head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	struct io_uring_sqe *sqe;

	if (tail - head >= r->sq_entries)
		return NULL;
	sqe = (struct io_uring_sqe *)r->sqes + (tail & *r->sq_mask);
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

int kcu_submit(struct kcu_ring *r)
{
	uint32_t tail = *r->sq_tail;
	uint32_t idx = tail & *r->sq_mask;

	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (r->setup_flags & IORING_SETUP_SQPOLL) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(r->sq_flags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP) {
			long ret = kcu_enter(r->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);

			if (ret < 0)
				return (int)ret;
		}
		return 0;
	}
	for (;;) {
		long ret = kcu_enter(r->fd, 1, 0, 0, NULL, 0);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return (int)ret;
		return ret == 1 ? 0 : -EAGAIN;
	}
}

/* Reap CQEs until the one tagged ud arrives (others are dropped). */
static int kcu_wait_ud(struct kcu_ring *r, uint64_t ud, int timeout_ms, int32_t *res)
{
	int64_t deadline = kc_now_ms() + timeout_ms;

	for (;;) {
		uint32_t head = *r->cq_head;
		uint32_t tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		unsigned eflags = IORING_ENTER_GETEVENTS;
		int64_t left;
		long ret;

		while (head != tail) {
			struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
			uint64_t got = cqe->user_data;
			int32_t v = cqe->res;

			head++;
			__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
			if (got == ud) {
				*res = v;
				return 0;
			}
		}
		left = deadline - kc_now_ms();
		if (left <= 0)
			return -ETIME;
		if ((r->setup_flags & IORING_SETUP_SQPOLL) &&
		    (__atomic_load_n(r->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP))
			eflags |= IORING_ENTER_SQ_WAKEUP;
		if (r->features & IORING_FEAT_EXT_ARG) {
			struct __kernel_timespec ts;
			struct io_uring_getevents_arg arg;
			int64_t slice = left > 50 ? 50 : left;

			memset(&arg, 0, sizeof(arg));
			ts.tv_sec = slice / 1000;
			ts.tv_nsec = (slice % 1000) * 1000000;
			arg.ts = (uint64_t)(uintptr_t)&ts;
			ret = kcu_enter(r->fd, 0, 1, eflags | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
		} else {
			struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

			if (eflags & IORING_ENTER_SQ_WAKEUP)
				kcu_enter(r->fd, 0, 0, IORING_ENTER_SQ_WAKEUP, NULL, 0);
			ret = poll(&pfd, 1, left > 50 ? 50 : (int)left);
			ret = ret < 0 ? -errno : 0;
		}
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return (int)ret;
	}
}

int kcu_run(struct kcu_ring *r, struct io_uring_sqe *sqe, uint32_t sqe_flags, int timeout_ms, int32_t *res)
{
	uint64_t ud = r->next_ud++ & ~KCU_CANCEL_BIT;
	int ret;

	sqe->flags = (uint8_t)sqe_flags;
	sqe->user_data = ud;
	ret = kcu_submit(r);
	if (ret < 0)
		return ret;
	ret = kcu_wait_ud(r, ud, timeout_ms, res);
	if (ret == -ETIME) {
		struct io_uring_sqe *c = kcu_get_sqe(r);
		int32_t ignored;

		if (c) {
			c->opcode = IORING_OP_ASYNC_CANCEL;
			c->fd = -1;
			c->addr = ud;
			c->user_data = ud | KCU_CANCEL_BIT;
			if (kcu_submit(r) == 0) {
				kcu_wait_ud(r, ud | KCU_CANCEL_BIT, 200, &ignored);
				kcu_wait_ud(r, ud, 200, &ignored);
			}
		}
	}
	return ret;
}

/* One open through the ring: 0 and *res = CQE result, or -errno. */
static int kcu_ring_open_file(struct kcu_ring *r, int op, int dfd, const char *path, uint64_t flags, uint64_t mode,
			      uint64_t resolve, uint32_t sqe_flags, int timeout_ms, int32_t *res)
{
	struct io_uring_sqe *sqe = kcu_get_sqe(r);

	if (!sqe)
		return -EBUSY;
	sqe->fd = dfd;
	sqe->addr = (uint64_t)(uintptr_t)path;
	if (op == KC_OP_OPENAT2) {
		memset(&r->how, 0, sizeof(r->how));
		r->how.flags = flags;
		r->how.mode = mode;
		r->how.resolve = resolve;
		sqe->opcode = IORING_OP_OPENAT2;
		sqe->len = sizeof(struct open_how);
		sqe->off = (uint64_t)(uintptr_t)&r->how;
	} else {
		sqe->opcode = IORING_OP_OPENAT;
		sqe->len = (uint32_t)mode;
		sqe->open_flags = (uint32_t)flags;
	}
	return kcu_run(r, sqe, sqe_flags, timeout_ms, res);
}

int kcu_ring_nop(struct kcu_ring *r, uint32_t sqe_flags, int timeout_ms)
{
	struct io_uring_sqe *sqe = kcu_get_sqe(r);
	int32_t res = 0;
	int ret;

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_NOP;
	ret = kcu_run(r, sqe, sqe_flags, timeout_ms, &res);
	return ret < 0 ? ret : res;
}

/* ------------------------------------------------------------------------ */
/* openat2 and statfs                                                        */

int kc_openat2(int32_t dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve, uint64_t size)
{
	uint64_t small[8];
	void *buf = small;
	size_t maplen = 0;
	struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
	long ret;
	int out;

	if (size > KC_OPENAT2_MAX_SIZE)
		return -EMSGSIZE;
	if (size > sizeof(small)) {
		maplen = (size_t)size;
		buf = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			return -errno;
	} else {
		memset(small, 0, sizeof(small));
	}
	memcpy(buf, &how, size < sizeof(how) ? (size_t)size : sizeof(how));
	ret = syscall(__NR_openat2, dfd, path, buf, (size_t)size);
	out = ret < 0 ? -errno : (int)ret;
	if (maplen)
		munmap(buf, maplen);
	return out;
}

int64_t kc_fs_type(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return -errno;
	return (int64_t)(uint64_t)(unsigned long)sf.f_type;
}

/* ------------------------------------------------------------------------ */
/* the open scenario                                                          */

struct kcu_open_ctx {
	const struct kc_open_req *req;
	int wfd;
};

static int kcu_setup(const struct kc_open_req *req, struct kc_open_res *res)
{
	if (req->setup & KC_US_FD100) {
		int fd = open(req->setup_path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		if (dup3(fd, KCU_FD100, O_CLOEXEC) < 0)
			return -errno;
		close(fd);
	}
	if (req->setup & (KC_US_SETSID | KC_US_CTTY)) {
		if (setsid() < 0)
			return -errno;
	}
	if (req->setup & KC_US_CTTY) {
		int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		int unlock = 0, ptn = -1, s;
		char num[24], path[48];
		struct stat st;

		if (m < 0)
			return -errno;
		if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &ptn) < 0)
			return -errno;
		kc_utoa(num, (uint64_t)ptn);
		kcu_join3(path, sizeof(path), "/dev/pts/", num, NULL);
		s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s < 0)
			return -errno;
		if (ioctl(s, TIOCSCTTY, 0) < 0)
			return -errno;
		if (fstat(s, &st) == 0)
			res->pty_rdev = st.st_rdev;
		/* m and s stay open for the child's lifetime */
	}
	if (req->setup & KC_US_NEWNET) {
		if (unshare(CLONE_NEWNET) < 0)
			return -errno;
	}
	if (req->setup & KC_US_CHROOT) {
		if (chroot(req->setup_path) < 0 || chdir("/") < 0)
			return -errno;
	}
	if (req->setup & KC_US_FSID) {
		setfsgid(req->fsgid);
		setfsuid(req->fsuid);
		/* setfsuid returns the previous value: ask again to verify */
		if ((uint32_t)setfsuid((uid_t)-1) != req->fsuid || (uint32_t)setfsgid((gid_t)-1) != req->fsgid)
			return -EPERM;
	}
	return 0;
}

static void kcu_fill_one(const struct kc_open_req *req, int fd, struct kc_open_one *o)
{
	struct stat st;

	o->fl_flags = fcntl(fd, F_GETFL);
	if (o->fl_flags < 0)
		o->fl_flags = -errno;
	if (fstat(fd, &st) < 0) {
		o->fstat_res = -errno;
	} else {
		o->st_mode = st.st_mode;
		o->st_uid = st.st_uid;
		o->st_gid = st.st_gid;
		o->st_dev = st.st_dev;
		o->st_ino = st.st_ino;
		o->st_rdev = st.st_rdev;
	}
	if (req->setup & (KC_US_CTTY | KC_US_SETSID)) {
		unsigned int dev = 0;
		pid_t sid = 0;

		o->tty_dev_res = ioctl(fd, TIOCGDEV, &dev) < 0 ? -errno : 0;
		o->tty_dev = dev;
		o->tty_sid = ioctl(fd, TIOCGSID, &sid) < 0 ? -errno : (int32_t)sid;
	}
	if (req->read_len > 0) {
		size_t want = (size_t)req->read_len < KC_U_DATA - 1 ? (size_t)req->read_len : KC_U_DATA - 1;
		ssize_t n = pread(fd, o->data, want, 0);

		if (n < 0 && errno == ESPIPE)
			n = read(fd, o->data, want);
		o->read_res = n < 0 ? -errno : (int32_t)n;
	}
}

static void kcu_open_direct(const struct kc_open_req *req, int dfd, const char *path, struct kc_open_one *o)
{
	int fd;

	if (req->op == KC_OP_OPENAT2) {
		fd = kc_openat2(dfd, path, req->flags, req->mode, req->resolve, sizeof(struct open_how));
	} else {
		fd = openat(dfd, path, (int)req->flags, (mode_t)req->mode);
		if (fd < 0)
			fd = -errno;
	}
	o->res = fd;
	if (fd < 0)
		return;
	kcu_fill_one(req, fd, o);
	close(fd);
}

static void kcu_open_ring(const struct kc_open_req *req, struct kcu_ring *r, int dfd, struct kc_open_one *o)
{
	uint32_t sqe_flags = req->via == KC_VIA_ASYNC ? IOSQE_ASYNC : 0;
	int32_t fd = -EIO;
	int ret;

	ret = kcu_ring_open_file(r, req->op, dfd, req->path, req->flags, req->mode, req->resolve, sqe_flags,
				 req->timeout_ms > 0 ? req->timeout_ms / 2 : 2500, &fd);
	if (ret < 0) {
		/* the submission itself failed: no CQE */
		o->res = -ENODATA;
		o->read_res = ret;
		return;
	}
	o->res = fd;
	if (fd < 0)
		return;
	kcu_fill_one(req, fd, o);
	close(fd);
}

/* The caller as /proc shows it: the first NSpid entry and the number of entries (or -errno in *levels). */
static void kcu_proc_self(int32_t *pid, int32_t *levels)
{
	char buf[4096];
	const char *f;
	int n = kc_read_file("/proc/self/status", buf, sizeof(buf));

	*pid = 0;
	if (n < 0) {
		*levels = n;
		return;
	}
	f = kcu_field(buf, "NSpid:");
	if (!f) {
		*levels = -ENODATA;
		return;
	}
	*pid = (int32_t)kc_parse_int(f);
	*levels = 0;
	while (*f && *f != '\n') {
		while (*f == ' ' || *f == '\t')
			f++;
		if (*f < '0' || *f > '9')
			break;
		(*levels)++;
		while (*f >= '0' && *f <= '9')
			f++;
	}
}

static int kcu_open_child(void *p)
{
	struct kcu_open_ctx *ctx = p;
	const struct kc_open_req *req = ctx->req;
	struct kc_open_res res;
	struct kcu_ring ring;
	int have_ring = 0;
	int dfd = AT_FDCWD;
	uint32_t rflags = req->via == KC_VIA_SQPOLL ? IORING_SETUP_SQPOLL : 0;
	int uses_ring = req->via != KC_VIA_SYSCALL;
	struct stat st;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	res.harness.pid = (int32_t)getpid();
	res.proc_levels = -ENODATA;
	res.ring_res = 1;
	res.measured.res = res.direct.res = -ENODATA;
	res.ref_res = -ENODATA;

	if (req->dir[0]) {
		dfd = open(req->dir, O_PATH | (req->setup & KC_US_DFD_ANY ? 0 : O_DIRECTORY) | O_CLOEXEC);
		if (dfd < 0) {
			res.harness.error = KC_HE_SETUP;
			res.harness.err_no = errno;
			goto out;
		}
	}
	if (uses_ring && (req->setup & KC_US_RING_FIRST)) {
		res.ring_res = kcu_ring_open(&ring, rflags, &res.features);
		if (res.ring_res < 0)
			goto out;
		have_ring = 1;
		/* make sure a worker / SQ thread exists before the setup */
		kcu_ring_nop(&ring, req->via == KC_VIA_ASYNC ? IOSQE_ASYNC : 0, 2000);
	}
	res.setup_res = kcu_setup(req, &res);
	if (res.setup_res < 0)
		goto out;
	res.sid = (int32_t)getsid(0);
	if (stat("/proc/self/ns/net", &st) == 0)
		res.netns_ino = st.st_ino;
	if (uses_ring && !have_ring) {
		res.ring_res = kcu_ring_open(&ring, rflags, &res.features);
		if (res.ring_res < 0)
			goto out;
		have_ring = 1;
	}
	for (int i = 0; i < req->nwarm && i < KC_U_WARM; i++)
		res.warm_res[i] = fstatat(dfd, req->warm[i], &st, 0) < 0 ? -errno : 0;
	if (req->setup & KC_US_DROP_CACHES) {
		/* A dentry used since the last shrink pass is rotated, not freed,
		 * on the first pass: drop twice. */
		int r = kc_write_file("/proc/sys/vm/drop_caches", "2");

		if (r == 0)
			r = kc_write_file("/proc/sys/vm/drop_caches", "2");
		if (r < 0) {
			res.setup_res = r;
			goto out;
		}
	}
	if (uses_ring)
		kcu_open_ring(req, &ring, dfd, &res.measured);
	else
		kcu_open_direct(req, dfd, req->path, &res.measured);
	if (uses_ring && req->compare)
		kcu_open_direct(req, dfd, req->path_direct[0] ? req->path_direct : req->path, &res.direct);
	if (req->ref_path[0]) {
		if (fstatat(dfd, req->ref_path, &st, 0) < 0) {
			res.ref_res = -errno;
		} else {
			res.ref_res = 0;
			res.ref_dev = st.st_dev;
			res.ref_ino = st.st_ino;
		}
	}
	if (req->list_threads) {
		res.nthreads = kc_list_threads(0, res.threads, KC_U_THREADS);
		/* after the measured opens: reading /proc/self/status earlier would warm the dcache */
		kcu_proc_self(&res.proc_pid, &res.proc_levels);
	}
out:
	kc_write_all(ctx->wfd, &res, sizeof(res));
	if (have_ring)
		kcu_ring_close(&ring);
	return 0;
}

int kc_uring_open_scenario(const struct kc_open_req *req, struct kc_open_res *res)
{
	struct kcu_open_ctx ctx = { .req = req, .wfd = -1 };
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;

	memset(res, 0, sizeof(*res));
	if (req->read_len < 0 || req->read_len > KC_U_DATA || req->nwarm < 0 || req->nwarm > KC_U_WARM)
		return -EINVAL;
	return kc_harness_run(kcu_open_child, &ctx, &ctx.wfd, res, sizeof(*res), timeout, NULL);
}

/* ------------------------------------------------------------------------ */
/* worker scenarios                                                          */

static volatile int kcu_hits;
static volatile int kcu_hit_tid;

static void kcu_usr1(int sig)
{
	(void)sig;
	kcu_hits = kcu_hits + 1;
	kcu_hit_tid = (int)syscall(SYS_gettid);
}

struct kcu_worker_ctx {
	const struct kc_worker_req *req;
	int wfd;
	int ready_fd;   /* KC_W_SIGKILL: write end of the "workers exist" pipe */
};

static int kcu_is_target(const struct kc_thread_info *t, int via)
{
	const char *prefix = via == KC_VIA_SQPOLL ? "iou-sqp-" : "iou-wrk-";

	return !strncmp(t->comm, prefix, strlen(prefix));
}

static int kcu_make_workers(const struct kc_worker_req *req, struct kcu_ring *ring, struct kc_worker_res *res)
{
	uint32_t flags = req->via == KC_VIA_SQPOLL ? IORING_SETUP_SQPOLL : 0;
	uint32_t feat = 0;

	res->ring_res = kcu_ring_open(ring, flags, &feat);
	if (res->ring_res < 0)
		return -1;
	kcu_ring_nop(ring, req->via == KC_VIA_ASYNC ? IOSQE_ASYNC : 0, 2000);
	return 0;
}

static int kcu_signal_child(void *p)
{
	struct kcu_worker_ctx *ctx = p;
	const struct kc_worker_req *req = ctx->req;
	struct kc_worker_res res;
	struct kcu_ring ring;
	struct sigaction sa;
	sigset_t none;
	int settle = req->settle_ms > 0 ? req->settle_ms : 10;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	res.harness.pid = (int32_t)getpid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kcu_usr1;
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		res.harness.error = KC_HE_SETUP;
		res.harness.err_no = errno;
		goto out;
	}
	if (kcu_make_workers(req, &ring, &res) < 0)
		goto out;
	res.nthreads = kc_list_threads(0, res.threads, KC_U_THREADS);
	for (int i = 0; i < res.nthreads && i < KC_U_THREADS; i++) {
		if (kcu_is_target(&res.threads[i], req->via)) {
			res.target_tid = res.threads[i].tid;
			break;
		}
	}
	if (!res.target_tid)
		goto out;
	res.signal_res = syscall(SYS_tgkill, getpid(), res.target_tid, SIGUSR1) < 0 ? -errno : 0;
	kc_sleep_ms(settle);
	res.hits_after_target = kcu_hits;
	res.handler_tid = kcu_hit_tid;
	{
		struct kc_thread_info ti;
		char base[64], num[24];

		memset(&ti, 0, sizeof(ti));
		kc_utoa(num, (uint64_t)res.target_tid);
		kcu_join3(base, sizeof(base), "/proc/self/task/", num, NULL);
		kcu_fill_thread(base, &ti);
		res.target_pending = ti.sig_pending;
		res.target_blocked = ti.sig_blocked;
	}
	/* control: the same signal to the submitting thread runs the handler */
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	kc_sleep_ms(1);
	res.hits_after_self = kcu_hits;
	res.self_handler_tid = kcu_hit_tid;
out:
	kc_write_all(ctx->wfd, &res, sizeof(res));
	kcu_ring_close(&ring);
	return 0;
}

static int kcu_kill_child(void *p)
{
	struct kcu_worker_ctx *ctx = p;
	struct kc_worker_res res;
	struct kcu_ring ring;
	char b = 'r';

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	if (kcu_make_workers(ctx->req, &ring, &res) < 0) {
		kc_write_all(ctx->ready_fd, "e", 1);
		return 1;
	}
	kc_write_all(ctx->ready_fd, &b, 1);
	for (;;)
		pause();
	return 0;
}

static int kcu_sigkill(const struct kc_worker_req *req, struct kc_worker_res *res)
{
	struct kcu_worker_ctx ctx = { .req = req, .wfd = -1, .ready_fd = -1 };
	int fds[2];
	long pid;
	char b = 0;
	ssize_t n;
	int64_t t0;
	int32_t st = 0;
	char path[64], num[24];
	struct stat sb;

	if (!KC_HAVE_RAW_CLONE) {
		res->harness.error = KC_HE_UNSUPPORTED;
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	ctx.ready_fd = fds[1];
	pid = kc_spawn_fn(kcu_kill_child, &ctx);
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return (int)pid;
	}
	close(fds[1]);
	res->harness.pid = (int32_t)pid;
	n = kc_read_bounded(fds[0], &b, 1, req->timeout_ms > 0 ? req->timeout_ms : 5000);
	close(fds[0]);
	if (n != 1 || b != 'r') {
		res->harness.error = n == -ETIMEDOUT ? KC_HE_TIMEOUT : KC_HE_SETUP;
		kcu_reap(pid, 0, &st);
		res->harness.status = st;
		return 0;
	}
	res->nthreads = kc_list_threads((int32_t)pid, res->threads, KC_U_THREADS);
	t0 = kc_now_ms();
	kill((pid_t)pid, SIGKILL);
	if (kcu_reap(pid, 5000, &st))
		res->reap_ms = (int32_t)(kc_now_ms() - t0);
	else
		res->reap_ms = -1;
	res->harness.status = st;
	kc_utoa(num, (uint64_t)pid);
	kcu_join3(path, sizeof(path), "/proc/", num, "/task");
	res->task_dir_after = stat(path, &sb) < 0 ? -errno : 0;
	return 0;
}

int kc_uring_worker_scenario(const struct kc_worker_req *req, struct kc_worker_res *res)
{
	struct kcu_worker_ctx ctx = { .req = req, .wfd = -1, .ready_fd = -1 };

	memset(res, 0, sizeof(*res));
	if (req->kind == KC_W_SIGKILL)
		return kcu_sigkill(req, res);
	if (req->kind != KC_W_SIGNAL)
		return -EINVAL;
	return kc_harness_run(kcu_signal_child, &ctx, &ctx.wfd, res, sizeof(*res),
			      req->timeout_ms > 0 ? req->timeout_ms : 10000, NULL);
}

/* ------------------------------------------------------------------------ */
/* setup probe and io_uring_disabled                                         */

struct kcu_probe_ctx {
	uint32_t flags;
	int32_t want_openat2;
	int32_t drop_privileges;
	int wfd;
};

static int kcu_probe_child(void *p)
{
	struct kcu_probe_ctx *ctx = p;
	struct kc_setup_probe out;
	struct kcu_ring ring;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&out, 0, sizeof(out));
	out.openat2_res = -ENODATA;
	if (ctx->drop_privileges && geteuid() == 0) {
		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
		    syscall(SYS_setresuid, 65534, 65534, 65534) < 0) {
			out.harness.error = KC_HE_SETUP;
			goto send;
		}
	}
	out.setup_res = kcu_ring_open(&ring, ctx->flags, &out.features);
	if (out.setup_res == 0 && ctx->want_openat2) {
		int32_t fd = -EIO;

		if (kcu_ring_open_file(&ring, KC_OP_OPENAT2, AT_FDCWD, "/", O_PATH, 0, 0, 0, 2000, &fd) == 0) {
			out.openat2_res = fd;
			if (fd >= 0)
				close(fd);
		}
	}
	if (out.setup_res == 0)
		kcu_ring_close(&ring);
send:
	kc_write_all(ctx->wfd, &out, sizeof(out));
	return 0;
}

static int kcu_probe(uint32_t flags, int32_t want_openat2, int32_t drop, struct kc_setup_probe *out)
{
	struct kcu_probe_ctx ctx = { .flags = flags, .want_openat2 = want_openat2, .drop_privileges = drop, .wfd = -1 };

	return kc_harness_run(kcu_probe_child, &ctx, &ctx.wfd, out, sizeof(*out), 5000, NULL);
}

int kc_uring_setup_probe(uint32_t setup_flags, int32_t want_openat2, struct kc_setup_probe *out)
{
	return kcu_probe(setup_flags, want_openat2, 0, out);
}

#define KCU_DISABLED "/proc/sys/kernel/io_uring_disabled"

static int kcu_read_sysctl_int(const char *path)
{
	char buf[32];
	int n = kc_read_file(path, buf, sizeof(buf));

	return n < 0 ? n : (int)kc_parse_int(buf);
}

int kc_uring_disabled_try(int32_t value, int32_t drop_privileges, struct kc_disabled_res *out)
{
	struct kc_setup_probe probe;
	char text[24];
	int r;

	memset(out, 0, sizeof(*out));
	out->setup_res = -ENODATA;
	out->original = kcu_read_sysctl_int(KCU_DISABLED);
	if (out->original < 0)
		return out->original;
	kc_utoa(text, (uint64_t)(uint32_t)value);
	out->write_res = kc_write_file(KCU_DISABLED, text);
	if (out->write_res == 0) {
		r = kcu_probe(0, 0, drop_privileges, &probe);
		out->harness.error = r < 0 ? KC_HE_SETUP : probe.harness.error;
		if (r == 0)
			out->setup_res = probe.setup_res;
	}
	kc_utoa(text, (uint64_t)(uint32_t)out->original);
	out->restore_res = kc_write_file(KCU_DISABLED, text);
	out->after = kcu_read_sysctl_int(KCU_DISABLED);
	return 0;
}
