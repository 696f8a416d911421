/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: the process server.
 *
 * The scenarios fork a harness process, which forks or clones the processes
 * under test.  Forking the Python runner copies its page tables and leaves it
 * to take copy-on-write faults afterwards: milliseconds per case, many more
 * under TCG.  So the scenarios run in a small server instead: the
 * "kconform-server" executable, built from these same sources, started once
 * per runner process with a socket on fd 3 (conformance/native.py).  A request
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

/* Run func(req, res) in the server on socket sock: 0 with *rc its return value,
 * or -errno when the server could not be reached or did not answer within
 * timeout_ms (the caller then stops it).  fds[nfds] are fds of this process
 * that the request refers to. */
int kc_serve_call(int32_t sock, const char *func, const void *req, uint32_t req_len, void *res,
		  uint32_t res_len, const int32_t *fds, int32_t nfds, int32_t timeout_ms, int32_t *rc);

/* 1 when the server serves func with these struct sizes (this build's table), else 0. */
int kc_serve_known(const char *func, uint32_t req_len, uint32_t res_len);

#endif
