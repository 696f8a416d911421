/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: raw io_uring (no liburing), raw openat2, and the
 * "open in a fresh child" scenarios used by the resolve_cached and io_uring
 * families.
 *
 * Every io_uring ring lives in a child process created here with a raw clone:
 * io-wq workers and SQPOLL threads therefore never appear in the Python
 * process, and they end with the child.  Children call only raw syscalls and
 * async-signal-safe libc wrappers and leave with _exit; every wait is bounded
 * and a child that does not report in time is killed and reaped.
 *
 * Conventions: int results are >= 0 on success or -errno.
 * native_helpers/build.py turns this header into the cffi cdef: keep it to
 * plain declarations, fixed-width struct fields and integer #defines.
 */
#ifndef KC_URING_H
#define KC_URING_H

#include <stdint.h>

#include "kc_harness.h"

#define KC_U_PATH 256       /* bytes of every path field (with the NUL) */
#define KC_U_WARM 3         /* warm-up lookups per scenario */
#define KC_U_DATA 256       /* bytes of file content carried back per open */
#define KC_U_THREADS 16     /* thread entries carried back */

/* struct kc_open_req.via: how the measured open is issued */
#define KC_VIA_SYSCALL 0    /* openat2()/openat() in the child */
#define KC_VIA_INLINE 1     /* io_uring, plain ring, no IOSQE_ASYNC */
#define KC_VIA_ASYNC 2      /* io_uring with IOSQE_ASYNC: an io-wq worker */
#define KC_VIA_SQPOLL 3     /* io_uring, IORING_SETUP_SQPOLL ring */

/* struct kc_open_req.op */
#define KC_OP_OPENAT2 0     /* openat2 / IORING_OP_OPENAT2 with flags, mode, resolve */
#define KC_OP_OPENAT 1      /* openat / IORING_OP_OPENAT with flags, mode */

/* struct kc_open_req.setup bits, applied in the child in this order */
#define KC_US_RING_FIRST 0x1  /* create the ring (and a worker / SQ thread) before the rest */
#define KC_US_FD100 0x2       /* open setup_path read-only as fd 100 */
#define KC_US_SETSID 0x4      /* setsid(): a new session without a controlling tty */
#define KC_US_CTTY 0x8        /* setsid() and a new pty slave as controlling tty */
#define KC_US_NEWNET 0x10     /* unshare(CLONE_NEWNET) */
#define KC_US_CHROOT 0x20     /* chroot(setup_path), chdir("/") */
#define KC_US_FSID 0x40       /* setfsgid(fsgid), setfsuid(fsuid) */
#define KC_US_DROP_CACHES 0x80 /* after the warm-up: write 2 to /proc/sys/vm/drop_caches */
#define KC_US_DFD_ANY 0x100   /* dir is opened O_PATH without O_DIRECTORY (any file: the O_EMPTYPATH dfd) */


/* io_uring constants the Python side uses */
#define KC_IORING_SETUP_SQPOLL 2
#define KC_IORING_FEAT_NATIVE_WORKERS 512
#define KC_RESOLVE_CACHED 32

struct kc_open_req {
	int32_t via;              /* KC_VIA_* */
	int32_t op;               /* KC_OP_* */
	int32_t setup;            /* KC_US_* bits */
	int32_t compare;          /* 1: after the measured open, do the same open as a syscall */
	uint64_t flags;           /* O_* */
	uint64_t mode;
	uint64_t resolve;         /* RESOLVE_* (KC_OP_OPENAT2 only) */
	uint32_t fsuid;           /* KC_US_FSID */
	uint32_t fsgid;
	int32_t read_len;         /* bytes to read from each opened fd (0..KC_U_DATA) */
	int32_t list_threads;     /* 1: list the child's threads while the ring is open */
	int32_t nwarm;            /* warm-up lookups (fstatat, following links) before the open */
	int32_t timeout_ms;       /* bound for the whole scenario */
	char dir[KC_U_PATH];      /* opened O_PATH|O_DIRECTORY before any setup: the dfd ("" = AT_FDCWD) */
	char path[KC_U_PATH];     /* path of the measured open, relative to dir */
	char path_direct[KC_U_PATH]; /* path of the compared syscall open ("" = path) */
	char ref_path[KC_U_PATH]; /* stat()ed normally after the opens ("" = none) */
	char setup_path[KC_U_PATH]; /* KC_US_CHROOT directory, KC_US_FD100 file */
	char warm[KC_U_WARM][KC_U_PATH];
};

struct kc_open_one {
	int32_t res;              /* fd, or -errno of the open (-ENODATA: not attempted) */
	int32_t read_res;         /* bytes read or -errno (0: not attempted) */
	int32_t fstat_res;        /* 0 or -errno */
	uint32_t st_mode;
	uint32_t st_uid;
	uint32_t st_gid;
	uint64_t st_dev;
	uint64_t st_ino;
	uint64_t st_rdev;
	int32_t tty_dev_res;      /* TIOCGDEV: 0 or -errno (KC_US_CTTY / KC_US_SETSID only) */
	uint32_t tty_dev;         /* the device of the tty behind the fd (old_encode_dev form) */
	int32_t tty_sid;          /* TIOCGSID: session of the tty, or -errno */
	int32_t fl_flags;         /* fcntl(F_GETFL) of the fd, or -errno */
	char data[KC_U_DATA];
};

struct kc_thread_info {
	int32_t tid;
	int32_t tgid;      /* "Tgid:" of status, -1 when unreadable */
	int32_t ppid;      /* "PPid:", -1 when unreadable */
	int32_t kthread;          /* "Kthread:", -1 when the line is absent */
	uint64_t flags;      /* field 9 of stat */
	uint64_t sig_pending;     /* "SigPnd:" (thread-private pending set) */
	uint64_t sig_blocked;     /* "SigBlk:" */
	char comm[32];
};

struct kc_open_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) ; pid: the submitter (pid == tid) */
	int32_t setup_res;        /* 0 or -errno of the failed setup step */
	int32_t ring_res;         /* 0, -errno of io_uring_setup, or 1 when no ring was needed */
	uint32_t features;        /* io_uring_params.features */
	int32_t sid;              /* getsid(0) after the setup */
	uint64_t pty_rdev;        /* KC_US_CTTY: st_rdev of the pty slave */
	uint64_t netns_ino;       /* inode of /proc/self/ns/net after the setup */
	int32_t warm_res[KC_U_WARM];
	int32_t ref_res;          /* fstatat of ref_path: 0 or -errno */
	uint64_t ref_dev;
	uint64_t ref_ino;
	struct kc_open_one measured;
	struct kc_open_one direct;  /* compare == 1 only */
	int32_t nthreads;           /* threads found (may exceed KC_U_THREADS) or -errno */
	int32_t pad0;
	struct kc_thread_info threads[KC_U_THREADS];
	/* list_threads only, after the opens: the submitter as this /proc shows it, the first "NSpid:"
	 * entry of /proc/self/status (its pid in the pid namespace /proc belongs to) and the number of
	 * entries (levels from there down to its own pid namespace), or -errno (-ENODATA: not read) */
	int32_t proc_pid;
	int32_t proc_levels;
};

/* One open scenario in a fresh child.  0, or -errno when the child could not
 * be started; everything else is in *res. */
int kc_uring_open_scenario(const struct kc_open_req *req, struct kc_open_res *res);

/* worker scenarios */
#define KC_W_SIGNAL 0       /* handler for SIGUSR1, tgkill a worker / SQ thread, then the submitter */
#define KC_W_SIGKILL 1      /* a child with workers is SIGKILLed and reaped by the harness */

struct kc_worker_req {
	int32_t kind;             /* KC_W_* */
	int32_t via;              /* KC_VIA_ASYNC (io-wq worker) or KC_VIA_SQPOLL (SQ thread) */
	int32_t settle_ms;        /* how long to let a signal act */
	int32_t timeout_ms;
};

struct kc_worker_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t ring_res;
	int32_t target_tid;       /* the worker / SQ thread signalled (0: none found) */
	int32_t signal_res;       /* tgkill result */
	int32_t hits_after_target;  /* handler runs counted after signalling the target */
	int32_t handler_tid;      /* gettid() in the last handler run (0: never ran) */
	int32_t hits_after_self;  /* handler runs after signalling the submitter (control) */
	int32_t self_handler_tid;
	int32_t reap_ms;          /* KC_W_SIGKILL: ms from kill to reap (-1: not reaped in time) */
	int32_t task_dir_after;   /* KC_W_SIGKILL: stat of /proc/<pid>/task after the reap */
	int32_t nthreads;         /* threads seen before the signal */
	uint64_t target_pending;  /* SigPnd of the target after the signal */
	uint64_t target_blocked;  /* SigBlk of the target */
	struct kc_thread_info threads[KC_U_THREADS];
};

int kc_uring_worker_scenario(const struct kc_worker_req *req, struct kc_worker_res *res);

/* io_uring_setup in a fresh child: is it there, what does it report.
 * With want_openat2, an inline IORING_OP_OPENAT2 of "/" (O_PATH) follows. */
struct kc_setup_probe {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t setup_res;        /* 0 or -errno */
	uint32_t features;
	int32_t openat2_res;      /* CQE result (fd or -errno); -ENODATA when not attempted */
};

int kc_uring_setup_probe(uint32_t setup_flags, int32_t want_openat2, struct kc_setup_probe *out);

/* kernel.io_uring_disabled: write value, run io_uring_setup in a child (as
 * uid/gid 65534 without capabilities when drop_privileges and root), write
 * the original value back.  Everything happens inside this call. */
struct kc_disabled_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t original;         /* value before (-errno when unreadable) */
	int32_t write_res;        /* 0 or -errno */
	int32_t setup_res;        /* io_uring_setup in the child: 0 or -errno */
	int32_t restore_res;      /* 0 or -errno */
	int32_t after;            /* value read back after the restore */
};

int kc_uring_disabled_try(int32_t value, int32_t drop_privileges, struct kc_disabled_res *out);

/* Raw openat2 in the calling process.  The open_how sits at the start of a
 * zeroed buffer of size bytes (sizes above KC_OPENAT2_MAX_SIZE: -EMSGSIZE). */
#define KC_OPENAT2_MAX_SIZE 65536
int kc_openat2(int32_t dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve, uint64_t size);

/* statfs(path).f_type, or -errno. */
int64_t kc_fs_type(const char *path);

/* List /proc/<pid>/task (pid 0: the caller).  Fills at most max entries,
 * returns the number of threads found or -errno. */
int kc_list_threads(int32_t pid, struct kc_thread_info *out, int32_t max);

/* ------------------------------------------------------------------------ */
/* io_uring task restrictions (IORING_REGISTER_RESTRICTIONS with ring fd -1)
 * across process creation.  A harness (a raw clone of the caller) may set
 * no_new_privs and drop to uid 65534, registers restrictions for itself
 * (SQE ops NOP and, if asked, nothing else; SQE flag IOSQE_ASYNC allowed),
 * registers again, then creates a child by kc_ur_req.how; the child (or the
 * harness itself for KC_UR_SELF) sets up a ring (plain or SQPOLL), runs a NOP
 * and a READ of /dev/zero (IOSQE_ASYNC: through io-wq) and tries a
 * registration of its own. */
#define KC_UR_SELF 0        /* no child: the registering task */
#define KC_UR_FORK 1        /* fork() */
#define KC_UR_VFORK 2       /* clone(CLONE_VM | CLONE_VFORK) on its own stack */
#define KC_UR_CLONE 3       /* clone(SIGCHLD) */
#define KC_UR_CLONE3 4      /* clone3({.exit_signal = SIGCHLD}) */
#define KC_UR_THREAD 5      /* clone(CLONE_THREAD | CLONE_VM | CLONE_SIGHAND ...) */
#define KC_UR_GRANDCHILD 6  /* fork() of a fork() */

#define KC_UR_RING_PLAIN 0
#define KC_UR_RING_IOWQ 1   /* the NOP and READ carry IOSQE_ASYNC */
#define KC_UR_RING_SQPOLL 2

struct kc_ur_req {
	int32_t how;              /* KC_UR_* */
	int32_t ring;             /* KC_UR_RING_* */
	int32_t do_register;      /* 1: register task restrictions first */
	int32_t nnp;              /* 1: PR_SET_NO_NEW_PRIVS first */
	int32_t drop;             /* 1 (as root): become uid/gid 65534 without capabilities first */
	int32_t bad_flags;        /* 1: register with flags = 1 (must be EINVAL) */
	int32_t timeout_ms;
	int32_t pad0;
};

struct kc_ur_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t register_ret;     /* the registration: 0 or -errno (KC_UR_NOT_CALLED) */
	int32_t register2_ret;    /* a second registration by the same task */
	int32_t create_ret;       /* the child's id or -errno (0 for KC_UR_SELF) */
	int32_t child_status;     /* its wait status (threads: 0) */
	int32_t reported;         /* 1: the task that used the ring reported */
	int32_t setup_ret;        /* its io_uring_setup: 0 or -errno */
	int32_t nop_res;          /* CQE result of the allowed NOP (or -errno of the submission) */
	int32_t read_res;         /* CQE result of the READ of /dev/zero (8 bytes) */
	int32_t child_register_ret; /* its own task registration */
	int32_t nnp_child;        /* PR_GET_NO_NEW_PRIVS there */
	int32_t nthreads;         /* threads of that process once its ring ran */
	int32_t pad0;
};

#define KC_UR_NOT_CALLED -10000

int kc_uring_restrict_scenario(const struct kc_ur_req *req, struct kc_ur_res *res);

#endif
