// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: setns through pidfds and pidfd file handles (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

/* --- setns through pidfds, namespace by namespace ------------------------ */

#define KP_NS_N 11   /* kp_ns_names[1..10] */
#define KP_ALL_NEW (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | \
		    CLONE_NEWNET)

/* The CLONE_NEW* flags in the order setns validates them after the user namespace. */
static const struct { const char *name; int flag; } kp_ns_flags[] = {
	{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static uint64_t kp_ns_tgt[KP_NS_N];  /* the target kid's namespace inodes (copied into the helper by the clone) */
static int kp_pidfd2 = -1;           /* the second kid's pidfd (no_foul_play) */

static void kp_ns_snap(int pid, uint64_t *ino)
{
	char path[96];

	for (int i = 1; i < KP_NS_N; i++) {
		if (pid > 0)
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, kp_ns_names[i]);
		else
			snprintf(path, sizeof(path), "/proc/self/ns/%s", kp_ns_names[i]);
		ino[i] = kp_ino(path);
	}
}

/* Append to buf the names whose inode differs between a and b ("none" when none does); a name that moved to
 * something other than the target's namespace is marked "(other)". */
static void kp_ns_diff(char *buf, size_t cap, const uint64_t *a, const uint64_t *b)
{
	size_t n = strlen(buf), start = n;

	for (int i = 1; i < KP_NS_N; i++) {
		if (a[i] == b[i])
			continue;
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s%s", n > start ? " " : "", kp_ns_names[i],
				      b[i] == kp_ns_tgt[i] ? "" : "(other)");
	}
	if (n == start)
		snprintf(buf + n, n < cap ? cap - n : 0, "none");
}

/* Snapshot our namespaces into now, and append "<label><what moved since from>" to the helper's text. */
static void kp_note_moved(struct kp_fn_ctx *c, const char *label, const uint64_t *from, uint64_t *now)
{
	char line[256];

	kp_ns_snap(0, now);
	snprintf(line, sizeof(line), "%s", label);
	kp_ns_diff(line, sizeof(line), from, now);
	strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
}

static int kp_flag_known(int i)
{
	return kp_ns_flags[i].flag != CLONE_NEWTIME || kp_exists("/proc/self/ns/time%.0d%.0d", 0, 0);
}

static const char *kp_errname(long r)
{
	switch (-r) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ESRCH: return "ESRCH";
	case EUSERS: return "EUSERS";
	case EBADF: return "EBADF";
	default: return "other";
	}
}

/* Helper: setns(pidfd, one flag at a time); one text line per flag naming what moved. */
static int kp_setns_incr_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t before[KP_NS_N], after[KP_NS_N];
	char line[160];

	memset(c->text, 0, sizeof(c->text));
	kp_ns_snap(0, before);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++) {
		long r;

		if (!kp_flag_known((int)i))
			continue;
		r = sc(setns(c->pidfd, kp_ns_flags[i].flag));
		c->v[0]++;
		if (r == 0)
			c->v[1]++;
		kp_ns_snap(0, after);
		snprintf(line, sizeof(line), "%s: ", kp_ns_flags[i].name);
		kp_ns_diff(line, sizeof(line), before, after);
		if (r < 0)
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " (%s)", kp_errname(r));
		strncat(line, "\n", sizeof(line) - strlen(line) - 1);
		strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
		memcpy(before, after, sizeof(before));
	}
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Helper: join kid 1's namespaces at once, then try kid 2's one by one and all at once. */
static int kp_setns_foul_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t start[KP_NS_N], joined[KP_NS_N], after[KP_NS_N];
	char line[256] = "";
	int all = 0;

	memset(c->text, 0, sizeof(c->text));
	kp_ns_snap(0, start);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++)
		if (kp_flag_known((int)i))
			all |= kp_ns_flags[i].flag;
	c->v[0] = sc(setns(c->pidfd, all));
	kp_note_moved(c, "joined: ", start, joined);
	strncat(c->text, "\nrefused:", sizeof(c->text) - strlen(c->text) - 1);
	for (size_t i = 0; i < sizeof(kp_ns_flags) / sizeof(kp_ns_flags[0]); i++) {
		long r;

		if (!kp_flag_known((int)i))
			continue;
		r = sc(setns(kp_pidfd2, kp_ns_flags[i].flag));
		c->v[1]++;
		if (r == -EPERM)
			c->v[2]++;
		snprintf(line, sizeof(line), " %s=%s", kp_ns_flags[i].name, kp_errname(r));
		strncat(c->text, line, sizeof(c->text) - strlen(c->text) - 1);
	}
	c->v[3] = sc(setns(kp_pidfd2, all));
	/* what moved since the join (kp_ns_tgt is kid 1's: anything that moved is "(other)") */
	kp_note_moved(c, "\nchanged: ", joined, after);
	strncat(c->text, "\n", sizeof(c->text) - strlen(c->text) - 1);
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Helper: join the kid's user namespace, then setns(pidfd, c->arg) (refused), then CLONE_NEWUTS alone. */
static int kp_setns_mixed_main(void *p)
{
	struct kp_fn_ctx *c = p;
	uint64_t joined[KP_NS_N], after[KP_NS_N];

	memset(c->text, 0, sizeof(c->text));
	c->v[0] = sc(setns(c->pidfd, CLONE_NEWUSER));
	kp_ns_snap(0, joined);
	c->v[1] = sc(setns(c->pidfd, c->arg));
	kp_note_moved(c, "changed: ", joined, after);
	c->v[2] = sc(setns(c->pidfd, CLONE_NEWUTS));
	kp_note_moved(c, "\nalone: ", joined, after);
	strncat(c->text, "\n", sizeof(c->text) - strlen(c->text) - 1);
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* A kid in a new namespace of every kind (its own user namespace; time too where it exists). */
static int kp_start_ns_kid(struct kp_kid *k)
{
	kp_kid_init(k, kp_exists("/proc/self/ns/time%.0d%.0d", 0, 0) ? KID_NEWTIME : 0, 0);
	return kp_start_clone(k, KP_ALL_NEW);
}

static void sc_setns_more(const struct kc_pfd_req *q)
{
	struct kp_kid k, k2;
	struct kp_fn_ctx c;
	int fd = -1, fd2 = -1;
	kc_fn fn = q->variant == KC_PN_INCREMENTAL ? kp_setns_incr_main :
		   q->variant == KC_PN_NO_FOUL_PLAY ? kp_setns_foul_main : kp_setns_mixed_main;

	kp_kid_init(&k, KID_NEWUSER_UTS, 0);
	kp_kid_init(&k2, 0, 0);
	memset(&c, 0, sizeof(c));
	if ((q->variant == KC_PN_MIXED ? kp_start(&k) : kp_start_ns_kid(&k)) < 0)
		goto out;
	if (q->variant == KC_PN_NO_FOUL_PLAY && kp_start_ns_kid(&k2) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (q->variant == KC_PN_NO_FOUL_PLAY) {
		fd2 = kp_opened(p_open(k2.pid, 0));
		if (fd2 < 0)
			goto out;
	}
	kp_ns_snap(k.pid, kp_ns_tgt);
	kp_pidfd2 = fd2;
	c.pidfd = fd;
	c.arg = (int)q->flags;
	if (kp_run_fn(0, fn, &c) < 0)
		goto out;
	put(KC_PV_RET, c.v[0]);
	if (q->variant == KC_PN_INCREMENTAL) {
		put(KC_PV_ROUNDS, c.v[0]);
		put(KC_PV_RET2, c.v[1]);
	} else if (q->variant == KC_PN_NO_FOUL_PLAY) {
		put(KC_PV_ROUNDS, c.v[1]);
		put(KC_PV_RET2, c.v[2]);
		put(KC_PV_RET3, c.v[3]);
	} else {
		put(KC_PV_RET2, c.v[1]);
		put(KC_PV_RET3, c.v[2]);
	}
	text_add(c.text);
out:
	kp_close(&fd);
	kp_close(&fd2);
	kp_pidfd2 = -1;
	kp_finish(&k);
	kp_finish(&k2);
}

static int kp_setns_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct utsname u;

	memset(c->text, 0, sizeof(c->text));
	c->v[0] = sc(setns(c->pidfd, c->arg));
	if (c->v[0] == 0 && uname(&u) == 0)
		snprintf(c->text, sizeof(c->text), "%s", u.nodename);
	c->v[1] = (int64_t)kp_ino("/proc/self/ns/uts");
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

void sc_setns(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kp_fn_ctx c;
	int fd = -1, cfg = 0, flags = 0;
	char path[96];

	if (q->variant >= KC_PN_NO_FOUL_PLAY) {
		sc_setns_more(q);
		return;
	}
	if (q->variant == KC_PN_UTS)
		cfg = KID_NEWUTS, flags = CLONE_NEWUTS;
	else if (q->variant == KC_PN_USER_UTS)
		cfg = KID_NEWUSER_UTS, flags = CLONE_NEWUSER | CLONE_NEWUTS;
	else if (q->variant == KC_PN_BAD_FLAGS)
		flags = CLONE_VM;
	kp_kid_init(&k, cfg, 0);
	memset(&c, 0, sizeof(c));
	if (q->variant == KC_PN_NOT_NSFD) {
		fd = (int)sc(syscall(SYS_memfd_create, "kc-pidfd", MFD_CLOEXEC));
		c.pidfd = fd;
		c.arg = 0;
		if (kp_run_fn(0, kp_setns_main, &c) < 0)
			goto out;
		put(KC_PV_RET, c.v[0]);
		goto out;
	}
	if (kp_start(&k) < 0)
		goto out;
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (q->variant == KC_PN_EXITED) {
		kp_exit_reap(&k);
		flags = CLONE_NEWUTS;
	}
	c.pidfd = fd;
	c.arg = flags;
	if (kp_run_fn(0, kp_setns_main, &c) < 0)
		goto out;
	put(KC_PV_RET, c.v[0]);
	put(KC_PV_INO1, c.v[1]);
	snprintf(path, sizeof(path), "/proc/%d/ns/uts", k.pid);
	put(KC_PV_INO2, (int64_t)kp_ino(path));
	put(KC_PV_INO3, (int64_t)kp_ino("/proc/self/ns/uts"));
	text_add(c.text);
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

struct kp_fh {
	unsigned int handle_bytes;
	int handle_type;
	unsigned char f_handle[128];
};

static struct kp_fh kp_fh_copy;    /* the handle a helper child decodes (copied into it by the clone) */

/* In a new pid namespace: decode the handle of a process that is not in it. */
static int kp_fh_foreign_main(void *p)
{
	struct kp_fn_ctx *c = p;

	c->v[0] = sc(syscall(SYS_open_by_handle_at, c->pidfd, &kp_fh_copy, O_RDONLY));
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

void sc_fhandle(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	int fd = -1, v = q->variant;
	struct kp_fh h;
	int mnt_id = 0, nflags = AT_EMPTY_PATH;
	long r, nfd;
	int oflags = O_RDONLY;

	kp_kid_init(&k, 0, 0);
	if (v == KC_PH_CHILD_PIDNS || v == KC_PH_FOREIGN_PIDNS) {
		if (kp_start_clone(&k, CLONE_NEWPID) < 0)
			goto out;
	} else if (kp_start(&k) < 0) {
		goto out;
	}
	fd = kp_opened(p_open(k.pid, 0));
	if (fd < 0)
		goto out;
	if (v == KC_PH_FID)
		nflags |= KP_AT_HANDLE_FID;
	if (v == KC_PH_CONNECTABLE)
		nflags |= KP_AT_HANDLE_CONNECTABLE;
	memset(&h, 0, sizeof(h));
	h.handle_bytes = sizeof(h.f_handle);
	r = sc(syscall(SYS_name_to_handle_at, fd, "", &h, &mnt_id, nflags));
	put(KC_PV_RET, r);
	if (r < 0)
		goto out;
	if (v == KC_PH_ZOMBIE) {
		kp_cmd(&k, 'x');
		kc_wait_exited(k.pid, KP_T);
	} else if (v == KC_PH_REAPED) {
		kp_exit_reap(&k);
	}
	if (v == KC_PH_THREAD_FLAG)
		oflags |= O_EXCL;
	if (v == KC_PH_BAD_FLAG)
		oflags |= O_APPEND;
	if (v == KC_PH_FOREIGN_PIDNS) {
		struct kp_fn_ctx c;

		memset(&c, 0, sizeof(c));
		c.pidfd = fd;
		kp_fh_copy = h;
		if (kp_run_fn(CLONE_NEWPID, kp_fh_foreign_main, &c) < 0)
			goto out;
		put(KC_PV_RET2, c.v[0]);
		goto out;
	}
	nfd = sc(syscall(SYS_open_by_handle_at, fd, &h, oflags));
	put(KC_PV_RET2, nfd);
	if (nfd >= 0) {
		put(KC_PV_INO1, (int64_t)kp_fd_ino(fd));
		put(KC_PV_INO2, (int64_t)kp_fd_ino((int)nfd));
		put(KC_PV_FL_FLAGS, fcntl((int)nfd, F_GETFL));
		if (v == KC_PH_LOOKUP) {
			long x = sc(openat((int)nfd, "x", O_RDONLY | O_CLOEXEC));

			put(KC_PV_RET3, x);
			if (x >= 0)
				close((int)x);
		}
		close((int)nfd);
	}
out:
	if (fd >= 0)
		close(fd);
	kp_finish(&k);
}

int kp_remote_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct kp_info info;

	c->v[0] = p_info(c->pidfd, 88, &info, 0);
	c->v[1] = info.pid;
	c->v[2] = getpid();
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* Inside a new pid namespace (as its init): fork a child that exits c->arg, open a pidfd,
 * reap it, ask PIDFD_GET_INFO with PIDFD_INFO_EXIT. */
int kp_pidns_exit_main(void *p)
{
	struct kp_fn_ctx *c = p;
	struct kp_info info;
	long pid = kc_spawn_fn(kp_exit_fn, (void *)(intptr_t)c->arg);
	long fd;

	c->v[0] = -EPROTO;
	if (pid > 0) {
		fd = p_open((int)pid, 0);
		kc_reap_bounded((int)pid, KP_T, NULL);
		if (fd >= 0) {
			c->v[0] = p_info((int)fd, 88, &info, KP_INFO_EXIT);
			c->v[1] = (int64_t)info.mask;
			c->v[2] = info.exit_code;
			close((int)fd);
		} else {
			c->v[0] = fd;
		}
	}
	c->v[3] = getpid();
	kc_write_all(c->out, c, offsetof(struct kp_fn_ctx, text) + sizeof(c->text));
	return 0;
}

/* The kid's second thread execs /bin/sh (after the leader thread exited, with arg 1); wait until the exec is
 * done (the process's comm is "sh").  1 when it is. */
static int kp_thread_exec(struct kp_kid *k, int leader_first)
{
	int64_t deadline = kc_now_ms() + KP_T;
	char path[64], buf[64] = "";

	if (leader_first) {
		kp_cmd(k, 'l');
		if (!kp_thread_gone(k->pid, k->pid, KP_T))
			return 0;
	}
	kp_tcmd(k, 'e');
	snprintf(path, sizeof(path), "/proc/%d/comm", k->pid);
	while (kc_now_ms() < deadline) {
		if (kc_read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf, "sh\n", 3))
			break;
		kc_sleep_ms(2);
	}
	return strncmp(buf, "sh\n", 3) == 0;
}

/* A non-leader thread execs: what the pidfds of the exec'ing thread, of the process and of the leader
 * thread report. */
void kp_info_exec(const struct kc_pfd_req *q, struct kp_kid *k, int gfd)
{
	struct kp_info info;
	int tfd = -1, lfd = -1, st = 0;
	long r;

	tfd = (int)p_open(k->tid2, KP_PIDFD_THREAD);
	lfd = (int)p_open(k->pid, KP_PIDFD_THREAD);
	if (tfd < 0 || lfd < 0) {
		setup_fail("pidfd_open(PIDFD_THREAD)", tfd < 0 ? -tfd : -lfd);
		goto out;
	}
	put(KC_PV_RET2, kp_thread_exec(k, q->arg & 1));
	kc_sleep_ms(50);
	if (q->variant == KC_PI_EXEC_THREAD) {
		/* the thread's struct pid now belongs to the replaced leader, which was released */
		put(KC_PV_REVENTS, kp_poll(tfd, KP_T));
		r = p_info(tfd, 88, &info, KP_INFO_EXIT);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		goto out;
	}
	put(KC_PV_REVENTS_EARLY, kp_poll(lfd, 0));
	r = p_info(gfd, 88, &info, KP_INFO_EXIT);
	put(KC_PV_RET, r);
	if (r == 0)
		kp_put_info(&info);
	p_send(gfd, SIGKILL, NULL, 0);
	put(KC_PV_REVENTS, kp_poll(lfd, KP_T));
	if (kc_reap_bounded(k->pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k->pid = -1;
	r = p_info(gfd, 88, &info, KP_INFO_EXIT);
	put(KC_PV_RET3, r < 0 ? r : (int64_t)info.mask);
	if (r == 0)
		put(KC_PV_INFO_EXIT, info.exit_code);
out:
	kp_close(&tfd);
	kp_close(&lfd);
}

static int kp_unlink_entry(int dfd, const char *name)
{
	return unlinkat(dfd, name, 0) < 0 ? errno : 0;
}

/* Remove the core scratch directory and what the crash left in it: the number of entries, or -errno. */
int kp_core_dir_remove(void)
{
	int dfd, err = 0;
	long n;

	if (!kp_core_dir[0])
		return 0;
	dfd = open(kp_core_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	n = kp_entries(dfd, kp_unlink_entry, &err);
	close(dfd);
	if (n < 0 && !err)
		err = (int)-n;
	if (rmdir(kp_core_dir) < 0 && !err)
		err = errno;
	kp_core_dir[0] = 0;
	return err ? -err : (int)n;
}

/* PIDFD_INFO_COREDUMP of the live kid (how it would dump), then it crashes on its 's' command: its wait
 * status once reaped (within exit_ms, then KP_T), and PIDFD_INFO_EXIT | PIDFD_INFO_COREDUMP through fd. */
void kp_crash_and_report(struct kp_kid *k, int fd, int exit_ms)
{
	struct kp_info info;
	int st = 0;
	long r = p_info(fd, 88, &info, KP_INFO_COREDUMP);

	put(KC_PV_RET, r);
	if (r == 0)
		kp_put_info(&info);
	kp_cmd(k, 's');
	kc_wait_exited(k->pid, exit_ms);
	if (kc_reap_bounded(k->pid, KP_T, &st) == 0)
		put(KC_PV_STATUS, st);
	k->pid = -1;
	r = p_info(fd, 88, &info, KP_INFO_EXIT | KP_INFO_COREDUMP);
	put(KC_PV_RET2, r);
	if (r == 0) {
		put(KC_PV_RET3, (int64_t)info.mask);
		put(KC_PV_INFO_EXIT, info.exit_code);
		put(KC_PV_CORE_MASK_AFTER, info.coredump_mask);
	}
}
