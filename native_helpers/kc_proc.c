// SPDX-License-Identifier: MIT
/*
 * kconform native helpers: process primitives shared by every helper.
 *
 * kc_raw_clone3()/kc_raw_clone() make the system call in inline assembly so
 * that the child branch calls a C function on its own stack and then exits
 * with a raw exit/exit_group: a child never returns through libc or into the
 * (multithreaded) Python interpreter.  The I/O helpers are async-signal-safe
 * and bounded, for use in children and in their parents alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc_internal.h"

#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

/* ------------------------------------------------------------------------ */
/* raw clone with a child entry point                                        */

#if defined(__x86_64__)
long kc_raw_clone3(void *args, size_t size, kc_fn fn, void *arg, long exit_nr)
{
	long ret;
	register kc_fn r12 __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;
	register long r14 __asm__("r14") = exit_nr;

	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"
		"and $-16, %%rsp\n\t"
		"mov %%r13, %%rdi\n\t"
		"call *%%r12\n\t"
		"mov %%eax, %%edi\n\t"
		"mov %%r14, %%rax\n\t"
		"syscall\n\t"
		"hlt\n\t"
		"1:\n\t"
		: "=a"(ret)
		: "0"((long)__NR_clone3), "D"(args), "S"(size), "r"(r12), "r"(r13), "r"(r14)
		: "rcx", "r11", "memory", "cc");
	return ret;
}

long kc_raw_clone(unsigned long flags, void *newsp, int *ptid, int *ctid,
			 unsigned long tls, kc_fn fn, void *arg, long exit_nr)
{
	long ret;
	register int *r10 __asm__("r10") = ctid;
	register unsigned long r8 __asm__("r8") = tls;
	register kc_fn r12 __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;
	register long r14 __asm__("r14") = exit_nr;

	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"
		"and $-16, %%rsp\n\t"
		"mov %%r13, %%rdi\n\t"
		"call *%%r12\n\t"
		"mov %%eax, %%edi\n\t"
		"mov %%r14, %%rax\n\t"
		"syscall\n\t"
		"hlt\n\t"
		"1:\n\t"
		: "=a"(ret)
		: "0"((long)__NR_clone), "D"(flags), "S"(newsp), "d"(ptid), "r"(r10), "r"(r8),
		  "r"(r12), "r"(r13), "r"(r14)
		: "rcx", "r11", "memory", "cc");
	return ret;
}
#elif defined(__aarch64__)
long kc_raw_clone3(void *args, size_t size, kc_fn fn, void *arg, long exit_nr)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = (long)size;
	register kc_fn x19 __asm__("x19") = fn;
	register void *x20 __asm__("x20") = arg;
	register long x21 __asm__("x21") = exit_nr;

	__asm__ volatile(
		"svc #0\n\t"
		"cbnz x0, 1f\n\t"
		"mov x29, xzr\n\t"
		"mov x0, x20\n\t"
		"blr x19\n\t"
		"mov x8, x21\n\t"
		"svc #0\n\t"
		"brk #0\n\t"
		"1:\n\t"
		: "+r"(x0)
		: "r"(x8), "r"(x1), "r"(x19), "r"(x20), "r"(x21)
		: "memory", "cc", "x30");
	return x0;
}

long kc_raw_clone(unsigned long flags, void *newsp, int *ptid, int *ctid,
			 unsigned long tls, kc_fn fn, void *arg, long exit_nr)
{
	register long x8 __asm__("x8") = __NR_clone;
	register long x0 __asm__("x0") = (long)flags;
	register long x1 __asm__("x1") = (long)newsp;
	register long x2 __asm__("x2") = (long)ptid;
	register long x3 __asm__("x3") = (long)tls;
	register long x4 __asm__("x4") = (long)ctid;
	register kc_fn x19 __asm__("x19") = fn;
	register void *x20 __asm__("x20") = arg;
	register long x21 __asm__("x21") = exit_nr;

	__asm__ volatile(
		"svc #0\n\t"
		"cbnz x0, 1f\n\t"
		"mov x29, xzr\n\t"
		"mov x0, x20\n\t"
		"blr x19\n\t"
		"mov x8, x21\n\t"
		"svc #0\n\t"
		"brk #0\n\t"
		"1:\n\t"
		: "+r"(x0)
		: "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x19), "r"(x20), "r"(x21)
		: "memory", "cc", "x30");
	return x0;
}
#else
long kc_raw_clone3(void *args, size_t size, kc_fn fn, void *arg, long exit_nr)
{
	(void)args, (void)size, (void)fn, (void)arg, (void)exit_nr;
	return -ENOSYS;
}

long kc_raw_clone(unsigned long flags, void *newsp, int *ptid, int *ctid, unsigned long tls, kc_fn fn,
		  void *arg, long exit_nr)
{
	(void)flags, (void)newsp, (void)ptid, (void)ctid, (void)tls, (void)fn, (void)arg, (void)exit_nr;
	return -ENOSYS;
}
#endif

/* ------------------------------------------------------------------------ */
/* small async-signal-safe utilities                                          */

int64_t kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kc_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int kc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes within timeout_ms; returns bytes read or -errno. */
ssize_t kc_read_bounded(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	size_t got = 0;
	int64_t deadline = kc_now_ms() + timeout_ms;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - kc_now_ms();
		int r;
		ssize_t n;

		if (timeout_ms >= 0 && left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, timeout_ms >= 0 ? (int)left : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}


long kc_spawn_fn(kc_fn fn, void *arg)
{
	return kc_raw_clone(SIGCHLD, NULL, NULL, NULL, 0, fn, arg, SYS_exit_group);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

void kc_pid_wait(int pid, int ms)
{
	int fd;

	if (ms <= 0)
		return;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		kc_sleep_ms(1);
		return;
	}
	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		while (poll(&pfd, 1, ms) < 0 && errno == EINTR)
			;
	}
	close(fd);
}

int kc_reap_bounded(int pid, int timeout_ms, int *status)
{
	int64_t deadline = kc_now_ms() + timeout_ms;
	int st = 0;

	for (;;) {
		pid_t w = waitpid((pid_t)pid, &st, WNOHANG | __WALL);

		if (w == (pid_t)pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (kc_now_ms() >= deadline) {
			kill((pid_t)pid, SIGKILL);
			while (waitpid((pid_t)pid, &st, __WALL) < 0 && errno == EINTR)
				;
			if (status)
				*status = st;
			return -ETIMEDOUT;
		}
		kc_pid_wait(pid, (int)(deadline - kc_now_ms()));
	}
	if (status)
		*status = st;
	return 0;
}

void kc_utoa(char *dst, uint64_t v)
{
	char tmp[24];
	int n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(tmp));
	while (n)
		dst[i++] = tmp[--n];
	dst[i] = '\0';
}

int kc_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < cap) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = 0;
	return (int)n;
}


int kc_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		r = -errno;
	close(fd);
	return r;
}


int64_t kc_parse_int(const char *s)
{
	int neg = 0;
	int64_t v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return neg ? -v : v;
}


/* Wait (bounded) until pid can be waited for with __WALL, without reaping. */
int kc_wait_exited(int pid, int timeout_ms)
{
	int64_t deadline = kc_now_ms() + timeout_ms;

	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid == pid)
			return 1;
		if (kc_now_ms() >= deadline)
			return 0;
		kc_pid_wait(pid, (int)(deadline - kc_now_ms()));
	}
}

void kc_crash_segv(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSEGV);
}
