/* SPDX-License-Identifier: MIT */
/* Internal to the user-worker helpers (kc_workers*.c): not part of the cffi interface (build.py only turns
 * kc_*.h headers into the cdef). */
#ifndef KC_WORKERS_INTERNAL_H
#define KC_WORKERS_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kc_workers.h"
#include "harness_internal.h"
#include "proc_internal.h"
#include "uring_internal.h"

#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#ifndef IORING_REGISTER_IOWQ_MAX_WORKERS
#define IORING_REGISTER_IOWQ_MAX_WORKERS 19
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif
#ifndef PTRACE_INTERRUPT
#define PTRACE_INTERRUPT 0x4207
#endif

#define WK_VHOST_GET_FEATURES 0x8008AF00UL
#define WK_VHOST_SET_OWNER 0xAF01UL
#define WK_VHOST_SET_FORK_FROM_OWNER 0x4001AF84UL
#define WK_VHOST_NEW_WORKER 0x8004AF08UL
#define WK_VHOST_FREE_WORKER 0x4004AF09UL
#define WK_VHOST_ATTACH_VRING_WORKER 0x4008AF15UL
#define WK_VHOST_GET_VRING_WORKER 0xC008AF16UL

#define WK_UD_BLOCK 100
#define WK_UD_NOP 200
#define WK_UD_POST 300

struct wk_rep {
	int32_t setup_step;
	int32_t setup_ret;
	uint32_t features;
	int32_t fork_owner_ret;
	int32_t new_worker_ret;
	int32_t new_worker_id;
	int32_t attach_ret;
	int32_t get_vring_ret;
	int32_t get_vring_id;
	int32_t free_ret;
	int32_t maxw_ret;
	uint32_t maxw_old[2];
	int32_t maxw_query_ret;
	uint32_t maxw_now[2];
	int32_t nnop_done;
	int32_t nop_res[KC_WK_REQS];
	uint64_t marker;
};

struct wk_ans {
	int32_t ret;
	int32_t n;
	int32_t res[KC_WK_REQS];
	int32_t hits;
	int32_t tid;
	uint64_t ino;
};

struct wk_owner_ctx {
	const struct kc_wk_req *req;
	int ctl_r, ctl_w, rep_r, rep_w;
};

/* Shared between the files of this family (each defined once, in the file named by its section). */
extern volatile uint64_t wk_marker;
void wk_cpy(char *dst, const char *src, size_t cap);
void wk_join(char *dst, size_t cap, const char *a, const char *b, const char *c, const char *d);
void wk_path_id(char *dst, size_t cap, const char *a, int id, const char *b);
int wk_dir(const char *dir, int (*fn)(const char *, void *), void *arg);
int wk_state(int pid, int tid);
uint64_t wk_ino(const char *path);
int wk_is_worker(const char *comm, int kind);
int wk_find_task(const char *prefix, int owner, int *count);
int wk_leaks(int owner);
int wk_owner_main(void *p);

#endif
