// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: the coredump socket (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

/* ------------------------------------------------------------------------ */
/* the coredump socket (core_pattern "@<path>" 6.16, "@@<path>" 6.17)        */

#define KP_CORE_PATTERN "/proc/sys/kernel/core_pattern"
#define KP_SO_PEERPIDFD 77
#define KP_CD_KERNEL 1ULL
#define KP_CD_USERSPACE 2ULL
#define KP_CD_REJECT 4ULL
#define KP_CD_DUMP_MAX (64 << 20)   /* the server stops counting here (coredump_filter 0 keeps it far below) */

struct kp_cd_req {
	uint32_t size, size_ack;
	uint64_t mask;
};

struct kp_cd_ack {
	uint32_t size, spare;
	uint64_t mask;
	uint8_t extra[16];           /* KC_PCA_SIZE_BIG sends 32 bytes */
};

static char kp_cd_saved[256];      /* core_pattern before the scenario ("" until read) */
static char kp_cd_sock[160];       /* the socket's path inside kp_core_dir */

/* Put core_pattern back as it was read: 0 or -errno (the row's declared change restores it too). */
static int kp_cd_restore(void)
{
	char now[256];

	if (!kp_cd_saved[0])
		return 0;
	if (kc_read_file(KP_CORE_PATTERN, now, sizeof(now)) >= 0) {
		now[strcspn(now, "\n")] = 0;
		if (strcmp(now, kp_cd_saved) == 0)
			return 0;
	}
	return kc_write_file(KP_CORE_PATTERN, kp_cd_saved);
}

/* poll one fd for events within ms: 1 ready, 0 timeout, -errno. */
static int kp_cd_wait(int fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t deadline = kc_now_ms() + ms;

	for (;;) {
		int left = (int)(deadline - kc_now_ms()), r;

		if (left < 0)
			return 0;
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Exactly len bytes from a connection within ms: len, fewer on EOF, or -errno (-ETIMEDOUT). */
static long kp_cd_recv(int fd, void *buf, size_t len, int ms)
{
	size_t got = 0;
	int64_t deadline = kc_now_ms() + ms;

	while (got < len) {
		int r = kp_cd_wait(fd, POLLIN, (int)(deadline - kc_now_ms()));
		ssize_t n;

		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return (long)got;
}

/* Read the rest of a connection until EOF (bounded): the byte count; DUMP_ELF from its first bytes. */
static void kp_cd_drain(int fd, int ms)
{
	static char buf[65536];
	int64_t total = 0, deadline = kc_now_ms() + ms;
	int elf = 0;

	for (;;) {
		int r = kp_cd_wait(fd, POLLIN, (int)(deadline - kc_now_ms()));
		ssize_t n;

		if (r <= 0) {
			setup_fail(r == 0 ? "reading the dump: no EOF in time" : "poll on the dump", r == 0 ? ETIMEDOUT : -r);
			break;
		}
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != ECONNRESET)
				setup_fail("reading the dump", errno);
			break;
		}
		if (total == 0 && n >= 4 && memcmp(buf, "\177ELF", 4) == 0)
			elf = 1;
		total += n;
		if (total > KP_CD_DUMP_MAX)
			break;
	}
	put(KC_PV_DUMP_BYTES, total);
	put(KC_PV_DUMP_ELF, elf);
}

/* SO_PEERPIDFD of a connection and PIDFD_GET_INFO(COREDUMP) through it: the peer's pid, or -1. */
static int kp_cd_peer(int conn, int record)
{
	struct kp_info info;
	int pfd = -1;
	socklen_t len = sizeof(pfd);
	long r;
	int pid = -1;

	r = getsockopt(conn, SOL_SOCKET, KP_SO_PEERPIDFD, &pfd, &len) < 0 ? -errno : 0;
	if (record)
		put(KC_PV_PEER_PIDFD, r);
	if (r < 0)
		return -1;
	r = p_info(pfd, 88, &info, KP_INFO_COREDUMP);
	if (r == 0)
		pid = (int)info.pid;
	if (record) {
		put(KC_PV_RET, r);
		if (r == 0) {
			kp_put_info(&info);
			put(KC_PV_INFO_CORE_CODE, (int32_t)info.coredump_code);
		}
	}
	close(pfd);
	return pid;
}

/* Accept the kernel's connection for the kid (within ms); others (another task's crash) are closed. */
static int kp_cd_accept(int lfd, int kid, int ms)
{
	int64_t deadline = kc_now_ms() + ms;

	for (;;) {
		int r = kp_cd_wait(lfd, POLLIN, (int)(deadline - kc_now_ms())), conn;

		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		{
			int fd = -1;
			socklen_t len = sizeof(fd);
			struct kp_info info;
			int pid = -1;

			if (getsockopt(conn, SOL_SOCKET, KP_SO_PEERPIDFD, &fd, &len) == 0) {
				if (p_info(fd, 88, &info, 0) == 0)
					pid = (int)info.pid;
				close(fd);
			}
			if (pid == kid)
				return conn;
		}
		close(conn);
	}
}

/* The @@ protocol as the server: read the request, answer per arg, read the mark. */
static void kp_cd_protocol(int conn, int how)
{
	struct kp_cd_req req;
	struct kp_cd_ack ack;
	size_t send_len = 16;
	uint32_t mark = 0;
	long n;

	n = kp_cd_recv(conn, &req, sizeof(req), 20000);
	if (n != (long)sizeof(req)) {
		setup_fail("reading struct coredump_req", n < 0 ? (int)-n : EPROTO);
		return;
	}
	put(KC_PV_REQ_SIZE, req.size);
	put(KC_PV_REQ_SIZE_ACK, req.size_ack);
	put(KC_PV_REQ_MASK, (int64_t)req.mask);
	if (req.size > sizeof(req)) {   /* a larger request than this server knows: discard the rest */
		char skip[256];
		size_t left = req.size - sizeof(req);

		if (left > sizeof(skip) || kp_cd_recv(conn, skip, left, 5000) != (long)left) {
			setup_fail("discarding the rest of coredump_req", EPROTO);
			return;
		}
	}
	memset(&ack, 0, sizeof(ack));
	ack.size = 16;
	ack.mask = KP_CD_KERNEL;
	switch (how) {
	case KC_PCA_USERSPACE:
		ack.mask = KP_CD_USERSPACE;
		break;
	case KC_PCA_REJECT:
		ack.mask = KP_CD_REJECT;
		break;
	case KC_PCA_SIZE_SMALL:
		ack.size = 8;
		break;
	case KC_PCA_SIZE_BIG:
		ack.size = 32;
		send_len = 32;
		break;
	case KC_PCA_FLAG_UNKNOWN:
		ack.mask |= 1ULL << 5;
		break;
	case KC_PCA_CONFLICTING:
		ack.mask |= KP_CD_USERSPACE;
		break;
	case KC_PCA_SPARE:
		ack.spare = 1;
		break;
	}
	if (send(conn, &ack, send_len, MSG_NOSIGNAL) != (ssize_t)send_len) {
		setup_fail("sending struct coredump_ack", errno);
		return;
	}
	n = kp_cd_recv(conn, &mark, sizeof(mark), 20000);
	put(KC_PV_MARK, n == (long)sizeof(mark) ? (int64_t)mark : n < 0 ? n : -ENODATA);
}

static const char *const kp_cd_invalid[] = { "@ /kc", "@../kc", "@/kc/..", "@@@" };

void sc_coredump(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_info info;
	struct sockaddr_un addr;
	char pattern[200], now[256];
	const char *tmp = getenv("TMPDIR");
	int v = q->variant, lfd = -1, conn = -1, fd = -1, st = 0, n;
	long r;

	kp_kid_init(&k, KID_COREDUMP, 0);
	kp_cd_saved[0] = 0;
	if ((n = kc_read_file(KP_CORE_PATTERN, kp_cd_saved, sizeof(kp_cd_saved))) < 0) {
		kp_cd_saved[0] = 0;
		setup_fail("reading core_pattern", -n);
		return;
	}
	kp_cd_saved[strcspn(kp_cd_saved, "\n")] = 0;
	if (v == KC_PC_INVALID) {
		if (q->arg < 0 || q->arg > KC_PCI_ATATAT) {
			setup_fail("invalid pattern index", EINVAL);
			return;
		}
		text_add(kp_cd_invalid[q->arg]);
		put(KC_PV_PATTERN_WRITE, kc_write_file(KP_CORE_PATTERN, kp_cd_invalid[q->arg]));
		n = kc_read_file(KP_CORE_PATTERN, now, sizeof(now));
		if (n >= 0) {
			now[strcspn(now, "\n")] = 0;
			put(KC_PV_PATTERN_SAME, strcmp(now, kp_cd_saved) == 0);
		}
		if ((n = kp_cd_restore()) < 0)
			setup_fail("restoring core_pattern", -n);
		return;
	}
	snprintf(kp_core_dir, sizeof(kp_core_dir), "%s/kc-pidfd-cdsock-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(kp_core_dir)) {
		kp_core_dir[0] = 0;
		setup_fail("mkdtemp for the coredump socket", errno);
		goto out;
	}
	{
		/* The kernel looks the socket up without following symlinks: name it by its real path. */
		char real[PATH_MAX];

		if (!realpath(kp_core_dir, real)) {
			setup_fail("realpath of the coredump socket's directory", errno);
			goto out;
		}
		n = snprintf(kp_cd_sock, sizeof(kp_cd_sock), "%s/s", real);
	}
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		setup_fail("socket path too long (TMPDIR)", ENAMETOOLONG);
		goto out;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, kp_cd_sock, (size_t)n + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		setup_fail("socket/bind of the coredump socket", errno);
		goto out;
	}
	if (v != KC_PC_NO_LISTENER && listen(lfd, 8) < 0) {
		setup_fail("listen on the coredump socket", errno);
		goto out;
	}
	snprintf(pattern, sizeof(pattern), "%s%s", v == KC_PC_REQUEST ? "@@" : "@", kp_cd_sock);
	r = kc_write_file(KP_CORE_PATTERN, pattern);
	put(KC_PV_PATTERN_WRITE, r);
	if (r < 0)
		goto out;
	if (v == KC_PC_CLIENT) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			setup_fail("connecting as a client", errno);
			if (c >= 0)
				close(c);
			goto out;
		}
		conn = kp_cd_accept(lfd, getpid(), 5000);
		if (conn < 0) {
			setup_fail("accepting the client", -conn);
			close(c);
			goto out;
		}
		kp_cd_peer(conn, 1);
		close(c);
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	kp_cmd(&k, v == KC_PC_SOCKET_ABORT ? 'a' : 'f');
	if (v != KC_PC_NO_LISTENER) {
		conn = kp_cd_accept(lfd, k.pid, 30000);
		put(KC_PV_ACCEPTED, conn >= 0);
		if (conn >= 0) {
			kp_cd_peer(conn, 1);
			if (v == KC_PC_REQUEST)
				kp_cd_protocol(conn, q->arg);
			kp_cd_drain(conn, 30000);
			close(conn);
			conn = -1;
		}
	}
	kc_wait_exited(k.pid, 30000);
	if (kc_reap_bounded(k.pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k.pid = -1;
	r = p_info(fd, 88, &info, KP_INFO_EXIT | KP_INFO_COREDUMP);
	put(KC_PV_RET2, r);
	if (r == 0) {
		put(KC_PV_RET3, (int64_t)info.mask);
		put(KC_PV_INFO_EXIT, info.exit_code);
		put(KC_PV_CORE_MASK_AFTER, info.coredump_mask);
		put(KC_PV_CORE_SIGNAL_AFTER, info.coredump_signal);
		put(KC_PV_CORE_CODE_AFTER, (int32_t)info.coredump_code);
	}
out:
	if ((n = kp_cd_restore()) < 0)
		setup_fail("restoring core_pattern", -n);
	if (conn >= 0)
		close(conn);
	if (lfd >= 0)
		close(lfd);
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
	if (kp_core_dir[0]) {
		n = kp_core_dir_remove();
		if (n < 0)
			setup_fail("removing the coredump socket's directory", -n);
	}
}
