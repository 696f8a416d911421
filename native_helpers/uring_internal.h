/* SPDX-License-Identifier: MIT */
/* Internal to the native helpers (not part of the cffi interface): the raw
 * io_uring ring of kc_uring.c, for helpers that need a ring with an io-wq
 * worker or an SQPOLL thread in a child they created. */
#ifndef KC_URING_INTERNAL_H
#define KC_URING_INTERNAL_H

#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stddef.h>
#include <stdint.h>

struct kcu_ring {
	int fd;
	uint32_t setup_flags;
	uint32_t features;
	uint32_t sq_entries;
	uint64_t next_ud;
	size_t sq_len, cq_len, sqe_len;
	void *sq_map, *cq_map, *sqes;
	uint32_t *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array;
	uint32_t *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	struct open_how how;      /* stable storage: SQPOLL may read it late */
};

/* io_uring_setup(8 entries, flags) and the mappings: 0 or -errno. */
int kcu_ring_open(struct kcu_ring *r, uint32_t flags, uint32_t *features);
void kcu_ring_close(struct kcu_ring *r);
/* One IORING_OP_NOP with sqe_flags (IOSQE_ASYNC: run by an io-wq worker): CQE result or -errno. */
int kcu_ring_nop(struct kcu_ring *r, uint32_t sqe_flags, int timeout_ms);
/* For helpers that build their own SQEs: io_uring_enter(2) (ret or -errno), a zeroed SQE (NULL when the
 * SQ is full), and its submission (SQPOLL: a wakeup when the thread sleeps). */
long kcu_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void *arg, size_t argsz);
struct io_uring_sqe *kcu_get_sqe(struct kcu_ring *r);
int kcu_submit(struct kcu_ring *r);

#endif
