/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: a vhost device owner in a child process.
 *
 * kc_vhost_start() creates (in C) an owner process that opens a vhost device,
 * optionally drops privileges / lowers RLIMIT_NPROC / joins a cgroup, runs the
 * requested ioctls, reports their results and then holds the device open
 * until told to go on.  The caller inspects /proc meanwhile, then asks the
 * owner to close the device (kc_vhost_close) or kills it, and finally reaps
 * it (kc_vhost_finish).  Every wait is bounded.
 */
#ifndef KC_VHOST_H
#define KC_VHOST_H

#include <stdint.h>

#include "kc_harness.h"

#define KC_VHOST_MAX_WORKERS 4
#define KC_VHOST_NOT_CALLED -10000

#define KC_VHOST_SET_OWNER 0xAF01
#define KC_VHOST_SET_FORK_FROM_OWNER 0x4001AF84
#define KC_VHOST_GET_FORK_FROM_OWNER 0x8001AF85
#define KC_VHOST_NEW_WORKER 0x8004AF08
#define KC_VHOST_FREE_WORKER 0x4004AF09

struct kc_vhost_req {
	char device[64];             /* e.g. /dev/vhost-net */
	int32_t get_before;          /* VHOST_GET_FORK_FROM_OWNER before SET_OWNER */
	int32_t fork_owner;          /* -1: no call; else VHOST_SET_FORK_FROM_OWNER(value) before SET_OWNER */
	int32_t set_owner;           /* call VHOST_SET_OWNER */
	int32_t set_owner_twice;
	int32_t fork_owner_after;    /* -1: no call; else SET_FORK_FROM_OWNER(value) after SET_OWNER */
	int32_t get_after;           /* GET_FORK_FROM_OWNER after SET_OWNER */
	int32_t new_workers;         /* VHOST_NEW_WORKER calls after SET_OWNER (<= KC_VHOST_MAX_WORKERS) */
	int32_t drop_privileges;     /* after open: setresuid/gid 65534 (drops all capabilities) */
	int32_t nproc_limit;         /* > 0: setrlimit(RLIMIT_NPROC, n) before SET_OWNER */
	int32_t cgroup_procs_fd;     /* >= 0: write "0" to this cgroup.procs fd before SET_OWNER */
	int32_t timeout_ms;          /* bound for every step */
};

struct kc_vhost_res {
	struct kc_harness harness;  /* first in every result (kc_harness.h) ; pid: the owner (= its tid), status once finished */
	int32_t open_ret;            /* 0 or -errno */
	int32_t get_before_ret;      /* 0, -errno or KC_VHOST_NOT_CALLED */
	int32_t get_before_val;
	int32_t fork_owner_ret;
	int32_t set_owner_ret;
	int32_t set_owner2_ret;
	int32_t fork_owner_after_ret;
	int32_t get_after_ret;
	int32_t get_after_val;
	int32_t new_worker_ret[KC_VHOST_MAX_WORKERS];
	int32_t new_worker_id[KC_VHOST_MAX_WORKERS];
	int32_t free_worker_ret[KC_VHOST_MAX_WORKERS];
	int32_t ctl_fd;              /* parent end of the control pipe (internal) */
	int32_t res_fd;              /* parent end of the result pipe (internal) */
};

/* Start the owner and wait for its setup report.  0 or -errno. */
int kc_vhost_start(const struct kc_vhost_req *req, struct kc_vhost_res *res);
/* Ask the owner to free the workers it created (VHOST_FREE_WORKER each). */
int kc_vhost_free_workers(struct kc_vhost_res *res, int32_t timeout_ms);
/* Ask the owner to close the device; it then waits to be finished. */
int kc_vhost_close(struct kc_vhost_res *res, int32_t timeout_ms);
/* Let the owner exit (or SIGKILL it when kill != 0) and reap it, bounded. */
int kc_vhost_finish(struct kc_vhost_res *res, int32_t kill, int32_t timeout_ms);

/* Run argv[0] with argv (NULL-terminated, at most 15 args) in a child created in C,
 * capture up to outlen-1 bytes of stdout, bounded by timeout_ms.
 * Returns the wait status, or -errno (-ETIMEDOUT after killing it). */
int kc_exec_capture(const char *const *argv, char *out, int32_t outlen, int32_t timeout_ms);

#endif
