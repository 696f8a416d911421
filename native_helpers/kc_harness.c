// SPDX-License-Identifier: MIT
/* kconform native helpers: the harness contract (see harness_internal.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_internal.h"

#ifndef __WALL
#define __WALL 0x40000000
#endif

static void kc_harness_reset(void *out, size_t len, void (*reset)(void *out))
{
	if (reset)
		reset(out);
	else
		memset(out, 0, len);
}

int kc_harness_run(kc_fn fn, void *ctx, int *wfd_slot, void *out, size_t len, int timeout_ms,
		   void (*reset)(void *out))
{
	struct kc_harness *h = out;
	int fds[2], st = 0;
	long pid;
	ssize_t n;
	int64_t deadline;
	int killed = 0;

	kc_harness_reset(out, len, reset);
	if (!KC_HAVE_RAW_CLONE) {
		h->error = KC_HE_UNSUPPORTED;
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	*wfd_slot = fds[1];
	pid = kc_raw_clone(SIGCHLD, NULL, NULL, NULL, 0, fn, ctx, SYS_exit_group);
	close(fds[1]);
	*wfd_slot = -1;
	if (pid < 0) {
		close(fds[0]);
		return (int)pid;
	}
	n = kc_read_bounded(fds[0], out, len, timeout_ms);
	close(fds[0]);
	if (n != (ssize_t)len) {
		kc_harness_reset(out, len, reset);
		h->error = n == -ETIMEDOUT ? KC_HE_TIMEOUT : n < 0 ? KC_HE_PROTOCOL : KC_HE_NO_REPORT;
		h->err_no = n < 0 && n != -ETIMEDOUT ? (int32_t)-n : 0;
	}
	/* Wait for the harness to end (bounded, without reaping it), then kill whatever is left in
	 * its process group while its zombie still holds the group's id, and reap it. */
	deadline = kc_now_ms() + (h->error == KC_HE_NONE ? KC_HARNESS_REAP_MS : 0);
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && si.si_pid == pid)
			break;
		if (kc_now_ms() >= deadline) {
			kill((pid_t)pid, SIGKILL);
			killed = 1;
			break;
		}
		kc_pid_wait((int)pid, (int)(deadline - kc_now_ms()));
	}
	kill(-(pid_t)pid, SIGKILL);
	if (kc_reap_bounded((int)pid, KC_HARNESS_REAP_MS, &st) == -ETIMEDOUT)
		killed = 1;
	if (killed && h->error == KC_HE_NONE)
		h->error = KC_HE_TIMEOUT;
	h->pid = (int32_t)pid;
	h->status = st;
	return 0;
}
