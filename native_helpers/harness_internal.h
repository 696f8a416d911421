/* SPDX-License-Identifier: MIT */
/* Internal to the native helpers (not part of the cffi interface: build.py
 * only turns kc_*.h headers into the cdef).  Implemented in kc_harness.c. */
#ifndef KC_HARNESS_INTERNAL_H
#define KC_HARNESS_INTERNAL_H

#include <stddef.h>

#include "kc_harness.h"
#include "proc_internal.h"

/* The one way a family runs a scenario in a harness process.
 *
 * Spawns fn(ctx) (a fork-like raw clone, SIGCHLD) with *wfd_slot set to the write end of
 * the report pipe, reads len bytes of report into out (a result struct, which starts with a
 * struct kc_harness) within timeout_ms, waits up to KC_HARNESS_REAP_MS for the harness to
 * end (not at all when the report is missing), kills what is left of its process group
 * while its zombie still holds the group's id, and reaps it (bounded).
 *
 * Without a complete report, out is reset (reset(out), or zeroed when reset is NULL) before
 * the struct kc_harness is filled in.  Returns 0, or -errno when the harness could not be
 * started (out then holds nothing).  KC_HE_UNSUPPORTED without a raw clone. */
#define KC_HARNESS_REAP_MS 5000
int kc_harness_run(kc_fn fn, void *ctx, int *wfd_slot, void *out, size_t len, int timeout_ms,
		   void (*reset)(void *out));

#endif
