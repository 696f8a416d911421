/* SPDX-License-Identifier: MIT */
/* Internal to the native helpers (not part of the cffi interface: build.py
 * only turns kc_*.h headers into the cdef).  Implemented in kc_proc.c. */
#ifndef KC_PROC_INTERNAL_H
#define KC_PROC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define KC_HAVE_RAW_CLONE 1
#else
#define KC_HAVE_RAW_CLONE 0
#endif

typedef int (*kc_fn)(void *);

/* clone3(args, size) / clone(flags, newsp, ptid, ctid, tls); the child runs
 * fn(arg) and ends with the raw syscall exit_nr (SYS_exit for a thread,
 * SYS_exit_group for a process).  Parent: child id or -errno. */
long kc_raw_clone3(void *args, size_t size, kc_fn fn, void *arg, long exit_nr);
long kc_raw_clone(unsigned long flags, void *newsp, int *ptid, int *ctid, unsigned long tls, kc_fn fn,
		  void *arg, long exit_nr);

/* Fork-like child (legacy clone with SIGCHLD) running fn(arg); pid or -errno. */
long kc_spawn_fn(kc_fn fn, void *arg);

/* Milliseconds of CLOCK_MONOTONIC; a sleep that survives EINTR. */
int64_t kc_now_ms(void);
void kc_sleep_ms(int ms);

/* write() all of buf: 0 or -1. */
int kc_write_all(int fd, const void *buf, size_t len);

/* Read exactly len bytes within timeout_ms (< 0: no bound): the bytes read
 * (fewer on EOF), -ETIMEDOUT or -errno. */
ssize_t kc_read_bounded(int fd, void *buf, size_t len, int timeout_ms);

/* Block up to ms until pid (a child) has exited, without reaping it: poll()
 * on a pidfd (5.3+), else a plain sleep of min(ms, 1).  Callers loop around a
 * WNOHANG wait, so either way they stay bounded. */
void kc_pid_wait(int pid, int ms);

/* Reap pid within timeout_ms; SIGKILL it when the time is up.  Returns 0,
 * -ETIMEDOUT (it was killed and reaped) or -errno; *status (may be NULL)
 * gets the wait status whenever the child was reaped. */
int kc_reap_bounded(int pid, int timeout_ms, int *status);

/* Decimal digits of v into dst (at least 21 bytes), NUL-terminated. */
void kc_utoa(char *dst, uint64_t v);

/* Read a small file (/proc, /sys, cgroupfs) into buf, NUL-terminated: bytes read or -errno. */
int kc_read_file(const char *path, char *buf, size_t cap);

/* Write text to an existing file: 0 or -errno. */
int kc_write_file(const char *path, const char *text);

/* Leading decimal integer of s (blanks and a sign allowed). */
int64_t kc_parse_int(const char *s);

/* Wait (bounded) until pid can be waited for with __WALL, without reaping it: 1 when it can. */
int kc_wait_exited(int pid, int timeout_ms);

/* Die of SIGSEGV now (default action restored, unblocked, sent to this thread): a core dump where
 * the limits allow one.  Returns only if the signal could not be delivered. */
void kc_crash_segv(void);

#endif
