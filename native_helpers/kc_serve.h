/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: the process server.
 *
 * The scenarios fork a harness process, which forks or clones the processes
 * under test.  Forking the Python runner copies its page tables and leaves it
 * to take copy-on-write faults afterwards: milliseconds per case, many more
 * under TCG.  So the scenarios run in a small server instead: the
 * "kconform-server" executable, built from these same sources, started once
 * per runner process with a socket on fd 3 (conformance/native/__init__.py).  A request
 * names a served function and carries its request struct and the fds it
 * refers to (installed at the same numbers in the server); the answer is the
 * function's return value and its result struct.  Running a scenario there is
 * running it here: same credentials, namespaces, cgroup, limits and ignored
 * signals (the server is spawned with them), nothing of Python's.
 */
#ifndef KC_SERVE_H
#define KC_SERVE_H

#include <stdint.h>

#define KC_SERVE_FDS 4            /* fds a request can carry */

/* Send func's request to the server on socket sock: 0, or -errno when the server could not be
 * reached.  fds[nfds] are fds of this process (>= 3) that the request refers to; the server installs
 * them at the same numbers. */
int kc_serve_send(int32_t sock, const char *func, const void *req, uint32_t req_len, uint32_t res_len,
		  const int32_t *fds, int32_t nfds);

/* Its answer: 0 with *rc the function's return value and res filled, -EINPROGRESS when none began
 * within wait_ms or a signal arrived (the caller handles its signals and asks again: waiting in slices
 * keeps the runner interruptible), else -errno (the caller then stops the server). */
int kc_serve_answer(int32_t sock, void *res, uint32_t res_len, int32_t wait_ms, int32_t *rc);

/* 1 when the server serves func with these struct sizes (this build's table), else 0. */
int kc_serve_known(const char *func, uint32_t req_len, uint32_t res_len);

#endif
