/* SPDX-License-Identifier: MIT */
/* Internal to the native helpers (not part of the cffi interface). */
#ifndef KC_PROC_INTERNAL_H
#define KC_PROC_INTERNAL_H

#include <stdint.h>

/* Fork-like child (legacy clone with SIGCHLD, no shared state) that runs
 * fn(arg) and exits with its return value through a raw exit_group: it never
 * returns through libc.  Returns the pid or -errno. */
long kc_spawn_fn(int (*fn)(void *), void *arg);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t kc_monotonic_ms(void);

/* Reap pid within timeout_ms; SIGKILL it when the time is up.  Returns the
 * wait status, or -ETIMEDOUT (killed and reaped) or -errno. */
int kc_reap_bounded(int pid, int timeout_ms);

#endif
