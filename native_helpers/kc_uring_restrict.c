// SPDX-License-Identifier: MIT
/* kconform: io_uring task restrictions across process creation (kc_uring_restrict_scenario; see kc_uring.c). */
#define _GNU_SOURCE
#include "uring_split_internal.h"

/* ------------------------------------------------------------------------ */
/* io_uring task restrictions across process creation                        */

#define KCU_RESTRICT_SIZE 16 /* struct io_uring_task_restriction before restrictions[] (7.0) */

struct kcu_task_restriction {
	uint16_t flags;
	uint16_t nr_res;
	uint32_t resv[3];
	struct io_uring_restriction res[2];
};

struct kcu_ur_ctx {
	const struct kc_ur_req *req;
	int wfd;
	struct kc_ur_res *res;  /* the harness's report (a vfork child and a thread write into it) */
	int report_w;           /* the using task's report pipe */
};

/* IORING_REGISTER_RESTRICTIONS for the calling task: NOP allowed, IOSQE_ASYNC allowed as a flag. */
static int kcu_register_task(int bad_flags)
{
	struct kcu_task_restriction tr;

	memset(&tr, 0, sizeof(tr));
	tr.flags = bad_flags ? 1 : 0;
	tr.nr_res = 2;
	tr.res[0].opcode = IORING_RESTRICTION_SQE_OP;
	tr.res[0].sqe_op = IORING_OP_NOP;
	tr.res[1].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	tr.res[1].sqe_flags = IOSQE_ASYNC;
	return syscall(__NR_io_uring_register, -1, IORING_REGISTER_RESTRICTIONS, &tr, 1) < 0 ? -errno : 0;
}

struct kcu_ur_rep {
	int32_t setup_ret, nop_res, read_res, child_register_ret, nnp_child, nthreads;
};

/* What the task that uses the ring does: set one up, a NOP, a READ of /dev/zero, its own registration. */
static void kcu_ur_use(const struct kc_ur_req *req, struct kcu_ur_rep *rep)
{
	struct kcu_ring ring;
	struct kc_thread_info ti[KC_U_THREADS];
	uint32_t feat = 0, sqe_flags = req->ring == KC_UR_RING_IOWQ ? IOSQE_ASYNC : 0;
	static uint64_t buf;
	int zfd;

	memset(&ring, 0, sizeof(ring));
	ring.fd = -1;
	rep->nop_res = rep->read_res = KC_UR_NOT_CALLED;
	rep->nnp_child = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	rep->setup_ret = kcu_ring_open(&ring, req->ring == KC_UR_RING_SQPOLL ? IORING_SETUP_SQPOLL : 0, &feat);
	if (rep->setup_ret == 0) {
		rep->nop_res = kcu_ring_nop(&ring, sqe_flags, 3000);
		zfd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
		if (zfd < 0) {
			rep->read_res = -errno;
		} else {
			struct io_uring_sqe *sqe = kcu_get_sqe(&ring);
			int32_t v = 0;
			int ret;

			if (!sqe) {
				rep->read_res = -EBUSY;
			} else {
				sqe->opcode = IORING_OP_READ;
				sqe->fd = zfd;
				sqe->addr = (uint64_t)(uintptr_t)&buf;
				sqe->len = sizeof(buf);
				ret = kcu_run(&ring, sqe, sqe_flags, 3000, &v);
				rep->read_res = ret < 0 ? ret : v;
			}
			close(zfd);
		}
	}
	rep->nthreads = kc_list_threads(0, ti, KC_U_THREADS);
	rep->child_register_ret = kcu_register_task(0);
	kcu_ring_close(&ring);
}

static int kcu_ur_child(void *p)
{
	struct kcu_ur_ctx *c = p;
	struct kcu_ur_rep rep;

	memset(&rep, 0, sizeof(rep));
	kcu_ur_use(c->req, &rep);
	kc_write_all(c->report_w, &rep, sizeof(rep));
	return 0;
}

/* KC_UR_GRANDCHILD: the child forks again and the grandchild uses the ring. */
static int kcu_ur_middle(void *p)
{
	long pid = kc_spawn_fn(kcu_ur_child, p);
	int32_t st = 0;

	if (pid < 0)
		return 1;
	kcu_reap(pid, 10000, &st);
	return 0;
}

static int kcu_ur_harness(void *p)
{
	struct kcu_ur_ctx *c = p;
	const struct kc_ur_req *req = c->req;
	struct kc_ur_res res;
	struct kcu_ur_rep rep;
	int fds[2] = { -1, -1 };
	long pid = 0;
	char *stack = NULL;
	const size_t sz = 256 * 1024;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&res, 0, sizeof(res));
	memset(&rep, 0, sizeof(rep));
	res.register_ret = res.register2_ret = res.child_register_ret = KC_UR_NOT_CALLED;
	res.nop_res = res.read_res = KC_UR_NOT_CALLED;
	if (req->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto setup_fail;
	if (req->drop && geteuid() == 0 &&
	    (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 65534, 65534, 65534) < 0 ||
	     syscall(SYS_setresuid, 65534, 65534, 65534) < 0))
		goto setup_fail;
	if (req->do_register) {
		res.register_ret = kcu_register_task(req->bad_flags);
		res.register2_ret = kcu_register_task(0);
	}
	if (req->how == KC_UR_SELF) {
		kcu_ur_use(req, &rep);
		res.reported = 1;
		goto copy;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		goto setup_fail;
	c->report_w = fds[1];
	stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		goto setup_fail;
	switch (req->how) {
	case KC_UR_FORK:
		pid = fork();
		if (pid == 0) {
			kcu_ur_child(c);
			_exit(0);
		}
		if (pid < 0)
			pid = -errno;
		break;
	case KC_UR_VFORK:
		pid = kc_raw_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, stack + sz, NULL, NULL, 0, kcu_ur_child, c,
				   SYS_exit_group);
		break;
	case KC_UR_CLONE:
		pid = kc_raw_clone(SIGCHLD, NULL, NULL, NULL, 0, kcu_ur_child, c, SYS_exit_group);
		break;
	case KC_UR_CLONE3: {
		uint64_t args[11];

		memset(args, 0, sizeof(args));
		args[4] = SIGCHLD; /* exit_signal */
		pid = kc_raw_clone3(args, sizeof(args), kcu_ur_child, c, SYS_exit_group);
		break;
	}
	case KC_UR_THREAD:
		pid = kc_raw_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
				   stack + sz, NULL, NULL, 0, kcu_ur_child, c, SYS_exit);
		break;
	case KC_UR_GRANDCHILD:
		pid = kc_raw_clone(SIGCHLD, NULL, NULL, NULL, 0, kcu_ur_middle, c, SYS_exit_group);
		break;
	default:
		pid = -EINVAL;
	}
	res.create_ret = (int32_t)pid;
	if (req->how != KC_UR_THREAD) {
		/* a thread shares this fd table: its write end stays open until it has reported */
		close(fds[1]);
		fds[1] = -1;
	}
	if (pid > 0) {
		ssize_t n = kc_read_bounded(fds[0], &rep, sizeof(rep), req->timeout_ms > 0 ? req->timeout_ms : 8000);

		res.reported = n == (ssize_t)sizeof(rep);
		if (req->how != KC_UR_THREAD)
			kcu_reap(pid, 5000, &res.child_status);
	}
copy:
	if (res.reported) {
		res.setup_ret = rep.setup_ret;
		res.nop_res = rep.nop_res;
		res.read_res = rep.read_res;
		res.child_register_ret = rep.child_register_ret;
		res.nnp_child = rep.nnp_child;
		res.nthreads = rep.nthreads;
	}
	kc_write_all(c->wfd, &res, sizeof(res));
	return 0;
setup_fail:
	res.harness.error = KC_HE_SETUP;
	res.harness.err_no = errno;
	kc_write_all(c->wfd, &res, sizeof(res));
	return 0;
}

int kc_uring_restrict_scenario(const struct kc_ur_req *req, struct kc_ur_res *res)
{
	struct kcu_ur_ctx ctx = { .req = req, .wfd = -1, .res = res, .report_w = -1 };
	int timeout = (req->timeout_ms > 0 ? req->timeout_ms : 8000) + 4000;

	return kc_harness_run(kcu_ur_harness, &ctx, &ctx.wfd, res, sizeof(*res), timeout, NULL);
}
