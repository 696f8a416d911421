/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: fchroot(2) and the failfs root (7.3) across
 * process creation.
 *
 * One call runs one scenario in a fresh harness process (forked by the
 * process server, never by Python).  The harness creates the subject: a
 * clone3(CLONE_NNP) child, a plain clone3 child that sets
 * PR_SET_NO_NEW_PRIVS itself, or one without no_new_privs; the subject does
 * its "before" step, optionally drops to uid/gid 65534 without capabilities
 * (drop_privileges, when root).  The subject calls fchroot(fd, flags) and, when that
 * worked, looks paths up, creates children (fork, clone3, clone3(CLONE_FS)),
 * execs by path and by fd; everything it sees goes into a shared page the
 * harness sends back as one struct kc_fc_res.  Every wait is bounded and
 * every child is killed and reaped before the harness answers.
 *
 * native_helpers/build.py turns this header into the cffi cdef: keep it to
 * plain declarations, fixed-width struct fields and integer #defines.
 */
#ifndef KC_FCHROOT_H
#define KC_FCHROOT_H

#include <stdint.h>

#include "kc_harness.h"

#define KC_FC_PATH 256

/* struct kc_fc_req.subject: how the process that calls fchroot() is made */
#define KC_FCS_CLONE_NNP 0    /* clone3(CLONE_NNP): no_new_privs from birth (7.1) */
#define KC_FCS_PRCTL_NNP 1    /* clone3(0), then prctl(PR_SET_NO_NEW_PRIVS) */
#define KC_FCS_PLAIN 2        /* clone3(0), no no_new_privs */

/* struct kc_fc_req.before: what the subject does before fchroot() */
#define KC_FCB_NONE 0
#define KC_FCB_CLONE_FS_SIBLING 1 /* park a clone3(CLONE_FS) child (fs->users becomes 2) */
#define KC_FCB_CHROOT 2       /* chroot(chroot_dir) while still privileged (needs root), before the drop */
#define KC_FCB_FAILFS_TWICE 3 /* fchroot(FD_FAILFS_ROOT, 0) once first: ret2 is that first call */
#define KC_FCB_THREAD 4       /* start a second thread (CLONE_THREAD|CLONE_FS|CLONE_VM...), parked */
#define KC_FCB_IOWQ 5         /* an io_uring ring with an io-wq worker (an IOSQE_ASYNC NOP), kept open */
#define KC_FCB_SQPOLL 6       /* an IORING_SETUP_SQPOLL ring (its iou-sqp thread), kept open */

/* struct kc_fc_req.fd */
#define KC_FD_FAILFS_ROOT -10004 /* include/uapi/linux/fcntl.h FD_FAILFS_ROOT (7.3) */


#define KC_FC_NOT_RUN -61     /* -ENODATA: the step did not run */

struct kc_fc_req {
	int32_t subject;          /* KC_FCS_* */
	int32_t before;           /* KC_FCB_* */
	int32_t fd;               /* fchroot's fd (KC_FD_FAILFS_ROOT) */
	uint32_t flags;           /* fchroot's flags */
	int32_t drop_privileges;  /* when root: the subject becomes uid/gid 65534 without capabilities */
	int32_t follow_up;        /* 1: after a successful fchroot, look paths up and create children */
	int32_t timeout_ms;       /* bound for the whole scenario */
	int32_t pad0;
	char probe_path[KC_FC_PATH]; /* an absolute path that exists: looked up before and after */
	char exec_path[KC_FC_PATH];  /* an absolute path of an executable (a dynamic ELF) */
	char chroot_dir[KC_FC_PATH]; /* KC_FCB_CHROOT: an existing directory */
};

struct kc_fc_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) */
	int32_t harness_step;     /* which setup step failed (1-based), 0 when none */
	int32_t status;           /* wait status of the subject */
	int32_t filled;           /* 1: the subject filled the page */
	int32_t euid;             /* the subject's euid when it called fchroot() */
	int32_t nnp;              /* prctl(PR_GET_NO_NEW_PRIVS) in the subject before fchroot() */
	int32_t harness_nnp;      /* the same in the harness (CLONE_NNP must not reach the parent) */
	int32_t before_res;       /* 0, or -errno of the KC_FCB_* step */
	int32_t probe_before;     /* open(probe_path, O_PATH): 0 or -errno */
	int32_t ret2;             /* KC_FCB_FAILFS_TWICE: the first fchroot; else KC_FC_NOT_RUN */
	int32_t ret;              /* fchroot(fd, flags): 0 or -errno */
	int32_t probe_after;      /* open(probe_path, O_PATH) after: 0 or -errno */
	int32_t root_after;       /* open("/", O_PATH): 0 or -errno */
	int32_t cwd_after;        /* open(".", O_PATH|O_DIRECTORY): the cwd is left alone */
	int32_t fork_probe;       /* a fork() child: open(probe_path, O_PATH) */
	int32_t clone3_probe;     /* a clone3(0) child: the same */
	int32_t clone3_fs_probe;  /* a clone3(CLONE_FS) child: the same */
	int32_t clone3_fs_fchroot; /* that child's own fchroot(FD_FAILFS_ROOT, 0) */
	int32_t clone3_fs_fchdir; /* that child's fchdir(FD_FAILFS_ROOT): 0 or -errno */
	int32_t cwd_after_sibling_fchdir; /* open(".") in the subject after it: shared cwd */
	int32_t exec_path_res;    /* a fork() child's execve(exec_path): -errno; KC_FC_NOT_RUN when the exec happened */
	int32_t exec_fd_res;      /* execveat(fd of exec_path opened before, "", AT_EMPTY_PATH): the same */
	int32_t exec_path_status; /* wait status of that child */
	int32_t exec_fd_status;
	int32_t nthreads;         /* entries of /proc/self/task just before fchroot(), or -errno */
};

/* Run one scenario.  0, or -errno when the harness could not be started;
 * everything else is in *res. */
int kc_fc_scenario(const struct kc_fc_req *req, struct kc_fc_res *res);

/* fchroot(FD_FAILFS_ROOT, 1) in the caller: the flags are checked first, so
 * this changes nothing: -EINVAL where fchroot exists, -ENOSYS where not. */
int kc_fc_probe(void);

#endif
