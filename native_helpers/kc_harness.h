/* SPDX-License-Identifier: MIT */
/*
 * kconform native helpers: the harness contract every family shares.
 *
 * A scenario runs in a fresh harness process: kc_harness_run() (harness_internal.h,
 * kc_harness.c) spawns it, reads its one report with a bound, waits for it to end with
 * a bound, kills what is left of its process group and reaps it.  Every result struct
 * starts with a struct kc_harness: what went wrong outside the behaviour under test
 * (one set of KC_HE_* for all families) and how the harness process ended.
 *
 * native_helpers/build.py turns this header into the cffi cdef: keep it to
 * plain declarations, fixed-width struct fields and integer #defines.
 */
#ifndef KC_HARNESS_H
#define KC_HARNESS_H

#include <stdint.h>

#define KC_HE_NONE 0
#define KC_HE_TIMEOUT 1      /* no complete report in time, or the harness did not end: killed */
#define KC_HE_SETUP 2        /* a setup step outside the behaviour failed (errno in err_no) */
#define KC_HE_NO_REPORT 3    /* the harness (or the process it waited for) ended without a complete report */
#define KC_HE_PROTOCOL 4     /* the report could not be read, or a helper process did not answer */
#define KC_HE_UNSUPPORTED 5  /* no raw clone on this architecture */
#define KC_HE_NO_WORKER 6    /* the user worker the scenario needs did not show up */

struct kc_harness {
	int32_t error;       /* KC_HE_* */
	int32_t err_no;      /* errno of the failed step, 0 when none */
	int32_t pid;         /* the harness process (vhost: the owner) */
	int32_t status;      /* its wait status once reaped */
};

#endif
