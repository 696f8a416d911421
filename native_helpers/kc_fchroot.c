// SPDX-License-Identifier: MIT
/*
 * kconform native helpers: fchroot(2) and the failfs root across process
 * creation (see kc_fchroot.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kc_fchroot.h"
#include "harness_internal.h"
#include "proc_internal.h"
#include "uring_internal.h"

#ifndef __NR_fchroot
#define __NR_fchroot 472 /* every architecture (the generic table and x86_64 alike) */
#endif
#ifndef CLONE_NNP
#define CLONE_NNP (1ULL << 35)
#endif
#ifndef CLONE_FS
#define CLONE_FS 0x00000200
#endif
#ifndef CLONE_THREAD
#define CLONE_THREAD 0x00010000
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

struct fc_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

#define FC_CHILD_MS 3000 /* bound for every child the subject makes */

struct fc_ctx {
	const struct kc_fc_req *req;
	struct kc_fc_res *page;   /* MAP_SHARED: the subject and its children write here */
	int park_rfd;             /* the parked CLONE_FS sibling blocks reading this */
	int park_wfd;             /* its write end: the sibling's own copy is closed, so EOF ends it */
	int exec_fd;              /* exec_path opened before fchroot (O_PATH|O_CLOEXEC) */
};

static int fc_errno(long r)
{
	return r < 0 ? -errno : 0;
}

static int fc_fchroot(int fd, unsigned int flags)
{
	return fc_errno(syscall(__NR_fchroot, fd, flags));
}

static int fc_open_probe(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static long fc_clone3(uint64_t flags, kc_fn fn, void *arg)
{
	struct fc_clone_args a;

	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	return kc_raw_clone3(&a, sizeof(a), fn, arg, SYS_exit_group);
}

/* Run fn in a child made by clone3(flags) (or fork when flags is ~0), bounded: the child writes its
 * findings into the page itself; returns the wait status, or -errno when it could not be made. */
static int fc_child(uint64_t flags, kc_fn fn, void *arg)
{
	long pid = flags == ~0ULL ? kc_spawn_fn(fn, arg) : fc_clone3(flags, fn, arg);
	int status = 0;

	if (pid < 0)
		return (int)pid;
	kc_reap_bounded((int)pid, FC_CHILD_MS, &status);
	return status;
}

/* ------------------------------------------------------------------ children of the subject */

static int fc_fork_child(void *p)
{
	struct fc_ctx *c = p;

	c->page->fork_probe = fc_open_probe(c->req->probe_path, O_PATH);
	return 0;
}

static int fc_clone3_child(void *p)
{
	struct fc_ctx *c = p;

	c->page->clone3_probe = fc_open_probe(c->req->probe_path, O_PATH);
	return 0;
}

static int fc_clone3_fs_child(void *p)
{
	struct fc_ctx *c = p;

	c->page->clone3_fs_probe = fc_open_probe(c->req->probe_path, O_PATH);
	/* the subject still shares this fs_struct: users == 2 */
	c->page->clone3_fs_fchroot = fc_fchroot(KC_FD_FAILFS_ROOT, 0);
	/* moves the cwd of the shared fs_struct: the subject's too */
	c->page->clone3_fs_fchdir = fc_errno(syscall(SYS_fchdir, KC_FD_FAILFS_ROOT));
	return 0;
}

static int fc_exec_path_child(void *p)
{
	struct fc_ctx *c = p;
	char *argv[] = { (char *)"true", NULL };
	char *envp[] = { NULL };

	execve(c->req->exec_path, argv, envp);
	c->page->exec_path_res = -errno;
	return 0;
}

static int fc_exec_fd_child(void *p)
{
	struct fc_ctx *c = p;
	char *argv[] = { (char *)"true", NULL };
	char *envp[] = { NULL };

	syscall(SYS_execveat, c->exec_fd, "", argv, envp, AT_EMPTY_PATH);
	c->page->exec_fd_res = -errno;
	return 0;
}

static int fc_thread(void *p)
{
	struct fc_ctx *c = p;
	char b;

	/* a thread of the subject: plain read() (blocking; the group's exit ends it), no errno use on success */
	(void)read(c->park_rfd, &b, 1);
	return 0;
}

static int fc_count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int fc_park(void *p)
{
	struct fc_ctx *c = p;
	char b;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* its own fd table (no CLONE_FILES): its copy of the write end would keep the pipe open, and the
	 * subject's close() would not end it (the reap would wait its whole bound) */
	close(c->park_wfd);
	(void)kc_read_bounded(c->park_rfd, &b, 1, 30000);
	return 0;
}

/* ------------------------------------------------------------------ the subject */

static int fc_drop(void)
{
	if (geteuid() != 0)
		return 0;
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
	    syscall(SYS_setresuid, 65534, 65534, 65534) < 0)
		return -errno;
	return 0;
}

static void fc_follow_up(struct fc_ctx *c)
{
	struct kc_fc_res *r = c->page;

	r->probe_after = fc_open_probe(c->req->probe_path, O_PATH);
	r->root_after = fc_open_probe("/", O_PATH);
	r->cwd_after = fc_open_probe(".", O_PATH | O_DIRECTORY);
	/* exec first: the CLONE_FS child below moves the shared cwd */
	r->exec_path_status = fc_child(~0ULL, fc_exec_path_child, c);
	if (c->exec_fd >= 0)
		r->exec_fd_status = fc_child(~0ULL, fc_exec_fd_child, c);
	fc_child(~0ULL, fc_fork_child, c);
	fc_child(0, fc_clone3_child, c);
	fc_child(CLONE_FS, fc_clone3_fs_child, c);
	r->cwd_after_sibling_fchdir = fc_open_probe(".", O_PATH | O_DIRECTORY);
}

static int fc_subject(void *p)
{
	struct fc_ctx *c = p;
	const struct kc_fc_req *req = c->req;
	struct kc_fc_res *r = c->page;
	int parked = -1, park_w = -1, have_ring = 0;
	struct kcu_ring ring;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	c->exec_fd = req->exec_path[0] ? open(req->exec_path, O_PATH | O_CLOEXEC) : -1;
	if (req->before == KC_FCB_CHROOT) {
		r->before_res = fc_errno(chroot(req->chroot_dir));
		if (r->before_res == 0)
			r->before_res = fc_errno(chdir("/"));
	}
	if (req->before == KC_FCB_THREAD) {
		const size_t sz = 64 * 1024;
		int pfd[2];
		char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

		if (stack == MAP_FAILED || pipe2(pfd, O_CLOEXEC) < 0) {
			r->before_res = -errno;
		} else {
			long t;

			c->park_rfd = pfd[0];
			park_w = pfd[1];
			t = kc_raw_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
					 stack + sz, NULL, NULL, 0, fc_thread, c, SYS_exit);
			r->before_res = t < 0 ? (int)t : 0;
		}
	}
	/* the ring is made before the drop: io_uring_disabled may allow it to root only */
	if (req->before == KC_FCB_IOWQ || req->before == KC_FCB_SQPOLL) {
		uint32_t feat = 0;

		r->before_res = kcu_ring_open(&ring, req->before == KC_FCB_SQPOLL ? IORING_SETUP_SQPOLL : 0, &feat);
		if (r->before_res == 0) {
			have_ring = 1;
			r->before_res = kcu_ring_nop(&ring, req->before == KC_FCB_IOWQ ? IOSQE_ASYNC : 0, 2000);
		}
	}
	if (req->drop_privileges) {
		int d = fc_drop();

		if (d < 0) {
			r->harness.error = KC_HE_SETUP;
			r->harness.err_no = -d;
			r->harness_step = 1;
			r->filled = 1;
			return 0;
		}
	}
	if (req->subject == KC_FCS_PRCTL_NNP && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r->harness.error = KC_HE_SETUP;
		r->harness.err_no = errno;
		r->harness_step = 2;
		r->filled = 1;
		return 0;
	}
	if (req->before == KC_FCB_CLONE_FS_SIBLING) {
		int pfd[2];

		if (pipe2(pfd, O_CLOEXEC) < 0) {
			r->before_res = -errno;
		} else {
			long pid;

			c->park_rfd = pfd[0];
			c->park_wfd = park_w = pfd[1];
			pid = fc_clone3(CLONE_FS, fc_park, c);
			r->before_res = pid < 0 ? (int)pid : 0;
			parked = pid < 0 ? -1 : (int)pid;
			close(pfd[0]);
		}
	}
	r->nthreads = fc_count_tasks();
	r->euid = (int32_t)geteuid();
	r->nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	r->probe_before = fc_open_probe(req->probe_path, O_PATH);
	if (req->before == KC_FCB_FAILFS_TWICE)
		r->ret2 = fc_fchroot(KC_FD_FAILFS_ROOT, 0);
	r->ret = fc_fchroot(req->fd, req->flags);
	if (park_w >= 0)
		close(park_w); /* the parked sibling or thread ends */
	if (parked > 0)
		kc_reap_bounded(parked, FC_CHILD_MS, NULL);
	if (have_ring)
		kcu_ring_close(&ring);
	if (r->ret == 0 && req->follow_up)
		fc_follow_up(c);
	r->filled = 1;
	return 0;
}

/* ------------------------------------------------------------------ the harness */

static void fc_init(void *out)
{
	struct kc_fc_res *r = out;

	memset(r, 0, sizeof(*r));
	r->ret = r->ret2 = r->probe_after = r->root_after = r->cwd_after = KC_FC_NOT_RUN;
	r->fork_probe = r->clone3_probe = r->clone3_fs_probe = r->clone3_fs_fchroot = KC_FC_NOT_RUN;
	r->clone3_fs_fchdir = r->cwd_after_sibling_fchdir = KC_FC_NOT_RUN;
	r->exec_path_res = r->exec_fd_res = KC_FC_NOT_RUN;
	r->exec_path_status = r->exec_fd_status = -1;
	r->before_res = 0;
	r->probe_before = r->nthreads = KC_FC_NOT_RUN;
}

struct fc_harness {
	const struct kc_fc_req *req;
	int wfd;
};

static int fc_harness(void *p)
{
	struct fc_harness *h = p;
	const struct kc_fc_req *req = h->req;
	struct kc_fc_res *page;
	struct kc_fc_res out;
	struct fc_ctx c;
	long pid;
	int status = 0, rr;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fc_init(&out);
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		out.harness.error = KC_HE_SETUP;
		out.harness.err_no = errno;
		out.harness_step = 3;
		kc_write_all(h->wfd, &out, sizeof(out));
		return 0;
	}
	fc_init(page);
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.page = page;
	c.park_rfd = c.park_wfd = c.exec_fd = -1;
	pid = fc_clone3(req->subject == KC_FCS_CLONE_NNP ? CLONE_NNP : 0, fc_subject, &c);
	if (pid < 0) {
		out.harness.error = KC_HE_SETUP;
		out.harness.err_no = (int32_t)-pid;
		out.harness_step = 4;
		kc_write_all(h->wfd, &out, sizeof(out));
		return 0;
	}
	rr = kc_reap_bounded((int)pid, req->timeout_ms > 0 ? req->timeout_ms - 1000 : 9000, &status);
	memcpy(&out, page, sizeof(out));
	out.status = status;
	out.harness_nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (rr == -ETIMEDOUT) {
		out.harness.error = KC_HE_TIMEOUT;
	} else if (!out.filled && out.harness.error == KC_HE_NONE) {
		out.harness.error = KC_HE_NO_REPORT;
	}
	kc_write_all(h->wfd, &out, sizeof(out));
	return 0;
}

int kc_fc_scenario(const struct kc_fc_req *req, struct kc_fc_res *res)
{
	struct fc_harness h = { .req = req, .wfd = -1 };

	return kc_harness_run(fc_harness, &h, &h.wfd, res, sizeof(*res),
			      req->timeout_ms > 0 ? req->timeout_ms : 10000, fc_init);
}

int kc_fc_probe(void)
{
	return fc_fchroot(KC_FD_FAILFS_ROOT, 1);
}
