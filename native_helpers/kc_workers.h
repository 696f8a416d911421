/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: the life of a user worker (io-wq, SQPOLL, vhost).
 *
 * kc_workers_run() starts a throw-away harness process (a raw clone of the
 * caller), which starts the owner: a child that may join a cgroup, take a
 * private uid, lower RLIMIT_NPROC, and then creates workers of one kind (an
 * io_uring ring with io-wq work, a SQPOLL ring, or a vhost device owner).
 * The harness then acts on the owner or on one worker (signal, ptrace, /proc,
 * cgroup move or freeze, exec, exit, core dump, close, idle wait), records
 * what the kernel did, ends the owner and reports.  Both processes die with
 * their parent (PR_SET_PDEATHSIG); every wait is bounded.
 *
 * Conventions: int results are >= 0 on success or -errno.  This header is
 * turned into the cffi cdef by build.py: plain declarations, fixed-width
 * fields and integer #defines only.
 */
#ifndef KC_WORKERS_H
#define KC_WORKERS_H

#include <stdint.h>

#include "kc_harness.h"
#include "kc_uring.h"

#define KC_WK_PATH 192       /* bytes of every path field (with the NUL) */
#define KC_WK_REQS 8         /* requests carried back */
#define KC_WK_THREADS 24     /* thread entries carried back */
#define KC_WK_NOT_CALLED -10000

/* kc_wk_req.kind */
#define KC_WK_IOWQ 0         /* a plain ring; IOSQE_ASYNC work runs in iou-wrk-<tid> */
#define KC_WK_SQPOLL 1       /* an IORING_SETUP_SQPOLL ring: iou-sqp-<tid> */
#define KC_WK_VHOST 2        /* VHOST_SET_OWNER on kc_wk_req.device: vhost-<tid> */

/* kc_wk_req.action: what the harness does once the workers exist */
#define KC_WA_NONE 0         /* observe only */
#define KC_WA_TGKILL 1       /* tgkill(owner, target, arg) */
#define KC_WA_PTRACE 2       /* ptrace(arg = PTRACE_ATTACH or PTRACE_SEIZE, target) */
#define KC_WA_PROCFS 3       /* /proc/<target>/fd and /proc/<target>/mem */
#define KC_WA_STOP 4         /* SIGSTOP to the owner, thread states, SIGCONT */
#define KC_WA_FREEZE 5       /* cgroup.freeze of the owner's cgroup, thaw */
#define KC_WA_MOVE 6         /* the owner's pid into dst_cgroup/cgroup.procs */
#define KC_WA_EXEC 7         /* the owner execs sleep */
#define KC_WA_EXIT 8         /* the owner calls exit_group with its requests in flight */
#define KC_WA_CORE 9         /* the owner dumps core into core_dir */
#define KC_WA_UNSHARE 10     /* the owner calls unshare(arg) */
#define KC_WA_CLOSE 11       /* the owner closes its ring or device */
#define KC_WA_KILL 12        /* SIGKILL to the owner */
#define KC_WA_IDLE 13        /* the blocked requests finish, the ring stays open: idle workers */
#define KC_WA_NEW_WORKER 14  /* vhost: RLIMIT_NPROC = arg, then VHOST_NEW_WORKER */

/* kc_wk_res.setup_step: the step setup_ret belongs to */
#define KC_WS_OK 0
#define KC_WS_CGROUP 1
#define KC_WS_IDENTITY 2
#define KC_WS_RLIMIT 3
#define KC_WS_RING 4
#define KC_WS_OPEN 5
#define KC_WS_SET_OWNER 6
#define KC_WS_SUBMIT 7

/* ptrace requests and signals the tables use */
#define KC_PTRACE_ATTACH 16
#define KC_PTRACE_SEIZE 16902
#define KC_CLONE_NEWNS 131072
#define KC_CLONE_NEWUSER 268435456

struct kc_wk_req {
	int32_t kind;             /* KC_WK_* */
	int32_t action;           /* KC_WA_* */
	int32_t arg;              /* signal, ptrace request, unshare flags or RLIMIT_NPROC */
	int32_t nblock;           /* splices left blocked on empty pipes (<= KC_WK_REQS), IOSQE_ASYNC */
	int32_t block_bound;      /* 1: they write to memfds (bounded io-wq work), 0: to /dev/null (unbounded) */
	int32_t nnop;             /* IOSQE_ASYNC NOPs (SQPOLL: plain NOPs) submitted and awaited */
	int32_t want_workers;     /* the harness waits (bounded) until this many workers exist */
	int32_t maxw_set;         /* 1: IORING_REGISTER_IOWQ_MAX_WORKERS with maxw before submitting */
	uint32_t maxw[2];         /* [bounded, unbounded] */
	int32_t maxw_query;       /* 1: again with {0, 0} after submitting: the values now in force */
	int32_t private_uid;      /* 1: the owner takes a private uid/gid (no capabilities) */
	int32_t nproc;            /* >= 0: RLIMIT_NPROC of the owner before it creates workers */
	int32_t vhost_fork_owner; /* -1: no call, else VHOST_SET_FORK_FROM_OWNER(value) first */
	int32_t vhost_new_workers; /* VHOST_NEW_WORKER calls after VHOST_SET_OWNER (0..2) */
	int32_t vhost_attach;     /* 1: vring 0 to the first new worker, read back, try to free it */
	int32_t timeout_ms;       /* bound of every wait (the whole run: a few times this) */
	char device[64];          /* KC_WK_VHOST */
	char cgroup[KC_WK_PATH];  /* "" or a cgroup v2 directory the owner joins first */
	char dst_cgroup[KC_WK_PATH]; /* KC_WA_MOVE */
	char core_dir[KC_WK_PATH]; /* KC_WA_CORE: the owner's cwd */
	char exec_path[KC_WK_PATH]; /* KC_WA_EXEC: a sleep(1) binary */
	int32_t sigmask;          /* KC_WA_PTRACE: 1: PTRACE_GETSIGMASK/SETSIGMASK on the stopped target */
	int32_t exec_cqes;        /* KC_WA_EXEC: 1: the harness keeps a pidfd_getfd copy of the ring and reads the
	                           * CQEs of the blocked requests from its fdinfo after the exec (complete_res) */
};

struct kc_wk_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t owner_pid;
	int32_t owner_status;     /* wait status */
	int32_t owner_ended;      /* 1: the owner ended by itself (or by the action), 0: killed at the end */
	int32_t setup_step;       /* KC_WS_*: where setup_ret comes from */
	int32_t setup_ret;        /* 0 or -errno */
	uint32_t features;        /* io_uring_params.features */
	int32_t fork_owner_ret;
	int32_t new_worker_ret;   /* first VHOST_NEW_WORKER */
	int32_t new_worker_id;
	int32_t attach_ret;       /* VHOST_ATTACH_VRING_WORKER(vring 0, new worker) */
	int32_t get_vring_ret;    /* VHOST_GET_VRING_WORKER(vring 0) */
	int32_t get_vring_id;
	int32_t free_ret;         /* VHOST_FREE_WORKER of the attached worker */
	int32_t maxw_ret;
	uint32_t maxw_old[2];     /* what the set reported back */
	int32_t maxw_query_ret;
	uint32_t maxw_now[2];
	int32_t nnop_done;        /* NOP CQEs that arrived */
	int32_t nop_res[KC_WK_REQS];
	int32_t nthreads;         /* threads of the owner once the workers exist */
	int32_t nworkers;         /* of them workers of the kind */
	int32_t kthread_tid;      /* a vhost-<pid> kernel thread outside the owner (0: none) */
	int32_t target_tid;       /* the worker acted on (first of the kind, else the kthread) */
	int32_t pids_current;     /* pids.current of the owner's cgroup (-errno: none) */
	int32_t pids_max_events;  /* "max" of its pids.events */
	int32_t in_cgroup;        /* workers listed in the owner's cgroup.threads */
	int32_t action_ret;       /* the action's syscall: 0 or -errno */
	int32_t action_ms;        /* how long the action's effect took (-1: not within the bound) */
	int32_t owner_state;      /* /proc state letter of the owner after the action (0: gone) */
	int32_t target_state;     /* of the target */
	int32_t stopped_workers;  /* workers seen in state T or t */
	int32_t after_nthreads;   /* threads of the owner after the action (-errno: gone) */
	int32_t after_nworkers;
	int32_t after_kthread;    /* the kthread still there after the action */
	int32_t after_in_cgroup;  /* workers still in the owner's first cgroup */
	int32_t in_dst;           /* KC_WA_MOVE: workers in dst_cgroup/cgroup.threads */
	int32_t frozen;           /* KC_WA_FREEZE: 1 frozen reached, 0 not */
	int32_t thawed;
	int32_t fd_count;         /* entries of /proc/<target>/fd or -errno */
	int32_t owner_fd_count;
	int32_t mem_ret;          /* bytes of the marker read through /proc/<target>/mem or -errno */
	int32_t mem_match;        /* 1: they are the owner's marker */
	int32_t post_ret;         /* a request after the action: CQE result, ioctl result or -errno */
	int32_t handler_hits;     /* SIGUSR1 handler runs in the owner */
	int32_t handler_tid;
	uint64_t target_pending;  /* SigPnd of the target after the action */
	int32_t ncomplete;        /* blocked requests that completed after they were unblocked */
	int32_t complete_res[KC_WK_REQS];
	int32_t core_dumped;      /* WCOREDUMP of the owner's status */
	int32_t core_size;        /* bytes of the core file or -errno */
	int32_t core_prstatus;    /* NT_PRSTATUS notes in it (one per dumped thread) */
	int32_t leaked;           /* tasks named after the owner left once it was reaped */
	uint64_t mntns_owner;     /* KC_WA_UNSHARE: /proc/<owner>/ns/mnt inode after */
	uint64_t mntns_worker;    /* /proc/<target>/ns/mnt inode after */
	uint64_t sigmask_before;  /* KC_WA_PTRACE with sigmask: PTRACE_GETSIGMASK before the set */
	uint64_t sigmask_after;   /* the same after PTRACE_SETSIGMASK (and before it is put back) */
	int32_t ring_copy_ret;    /* KC_WA_EXEC with exec_cqes: pidfd_getfd of the owner's ring: fd or -errno */
	int32_t exec_sqes;        /* SQEs the fdinfo still shows after the exec */
	int32_t getsigmask_ret;   /* PTRACE_GETSIGMASK: 0 or -errno (KC_WK_NOT_CALLED) */
	int32_t setsigmask_ret;   /* PTRACE_SETSIGMASK({SIGUSR2}): 0 or -errno (KC_WK_NOT_CALLED) */
	int32_t pad0;
	int32_t nlisted;
	struct kc_thread_info threads[KC_WK_THREADS];
};

/* One scenario: 0, or -errno when the harness could not be started. */
int kc_workers_run(const struct kc_wk_req *req, struct kc_wk_res *res);

#endif
