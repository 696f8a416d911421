/* SPDX-License-Identifier: MIT */
/* Internal to kc_uring*.c: what the io_uring scenario files share (not part of the cffi interface;
 * uring_internal.h is the ring other families use). */
#ifndef KC_URING_SPLIT_INTERNAL_H
#define KC_URING_SPLIT_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kc_uring.h"
#include "harness_internal.h"
#include "proc_internal.h"
#include "uring_internal.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef TIOCGDEV
#define TIOCGDEV _IOR('T', 0x32, unsigned int)
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

#define KCU_CANCEL_BIT (1ULL << 63)
#define KCU_FD100 100

/* Shared between the files of this family (each defined once, in the file named by its section). */
int kcu_reap(long pid, int timeout_ms, int32_t *status);
int kcu_run(struct kcu_ring *r, struct io_uring_sqe *sqe, uint32_t sqe_flags, int timeout_ms, int32_t *res);

#endif
