// SPDX-License-Identifier: MIT
/* kconform: pidfd scenarios: pidfds of user workers (see kc_pidfd.c). */
#define _GNU_SOURCE
#include "pidfd_internal.h"

/* --- user workers ------------------------------------------------------- */

static int kp_find_kthread(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[64];

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (kc_read_file(path, buf, sizeof(buf)) > 0) {
			buf[strcspn(buf, "\n")] = 0;
			if (!strcmp(buf, comm))
				found = atoi(e->d_name);
		}
	}
	closedir(d);
	return found;
}

void sc_worker(const struct kc_pfd_req *q)
{
	struct kp_kid k;
	struct kc_vhost_req vq;
	struct kc_vhost_res vr;
	int vhost = q->variant == KC_WK_VHOST || q->variant == KC_WK_VHOST_KTHREAD, vhost_started = 0;
	int kthread = 0;
	int owner = 0, worker = 0, tfd = -1, gfd = -1, afd = -1;
	int cfg = KID_HANDLER | (q->variant == KC_WK_SQPOLL ? KID_SQPOLL : KID_IOWQ);
	struct kp_info info;
	long r;

	kp_kid_init(&k, cfg, 0);
	memset(&vr, 0, sizeof(vr));
	if (vhost) {
		char comm[32];

		memset(&vq, 0, sizeof(vq));
		snprintf(vq.device, sizeof(vq.device), "/dev/vhost-net");
		vq.fork_owner = q->variant == KC_WK_VHOST_KTHREAD ? 0 : -1;
		vq.fork_owner_after = -1;
		vq.set_owner = 1;
		vq.cgroup_procs_fd = -1;
		vq.timeout_ms = KP_T;
		r = kc_vhost_start(&vq, &vr);
		if (r < 0 || vr.harness.error) {
			setup_fail("vhost owner", r < 0 ? (int)-r : vr.harness.err_no);
			return;
		}
		vhost_started = 1;
		if (vr.open_ret < 0 || vr.set_owner_ret < 0) {
			setup_fail("vhost open / VHOST_SET_OWNER", vr.open_ret < 0 ? -vr.open_ret : -vr.set_owner_ret);
			goto out;
		}
		owner = vr.harness.pid;
		snprintf(comm, sizeof(comm), "vhost-%d", owner);
		{
			struct kc_thread_info ti[KC_U_THREADS];
			int n = kc_list_threads(owner, ti, KC_U_THREADS);

			for (int i = 0; i < n && i < KC_U_THREADS; i++)
				if (!strcmp(ti[i].comm, comm))
					worker = ti[i].tid;
		}
		if (!worker) {
			worker = kp_find_kthread(comm);
			kthread = worker != 0;
		}
		put(KC_PV_WORKER_KTHREAD, kthread);
		put(KC_PV_OWNER_UID, getuid());
	} else if (q->arg == KC_WO_AUTOKILL_OWNER) {
		if (kp_start3(&k, CLONE_PIDFD | KP_CLONE_AUTOREAP | KP_CLONE_PIDFD_AUTOKILL | KP_CLONE_NNP, 0) < 0)
			goto out;
		owner = k.pid;
		worker = k.rep.worker_tid;
		afd = k.pidfd;
		k.pidfd = -1;
		kp_put_rep_creds(&k.rep);
	} else {
		if (kp_start(&k) < 0)
			goto out;
		owner = k.pid;
		worker = k.rep.worker_tid;
		kp_put_rep_creds(&k.rep);
		if (k.rep.ring_res < 0) {
			setup_fail("io_uring_setup", -k.rep.ring_res);
			goto out;
		}
	}
	put(KC_PV_OWNER_PID, owner);
	put(KC_PV_WORKER_TID, worker);
	if (!worker) {
		R->harness.error = KC_HE_NO_WORKER;
		goto out;
	}
	switch (q->arg) {
	case KC_WO_OPEN:
		r = p_open(worker, 0);
		put(KC_PV_RET, r);
		if (r >= 0)
			close((int)r);
		r = p_open(worker, KP_PIDFD_THREAD);
		put(KC_PV_RET2, r);
		if (r >= 0) {
			put(KC_PV_REVENTS, kp_poll((int)r, 0));
			put(KC_PV_FL_FLAGS, fcntl((int)r, F_GETFL));
			close((int)r);
		}
		break;
	case KC_WO_INFO:
		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		if (tfd < 0)
			break;
		r = p_info(tfd, 88, &info, 0);
		put(KC_PV_RET, r);
		if (r == 0)
			kp_put_info(&info);
		break;
	case KC_WO_SIGNAL: {
		struct kp_sigrec rec;

		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		if (tfd < 0)
			break;
		r = p_send(tfd, SIGUSR1, NULL, 0);
		put(KC_PV_RET, r);
		kc_sleep_ms(50);
		put(KC_PV_PEND_THREAD, kp_pending(owner, worker, "SigPnd:", SIGUSR1));
		put(KC_PV_PEND_SHARED, kp_pending(owner, owner, "ShdPnd:", SIGUSR1));
		if (!vhost) {
			int got = kp_read_sigrec(&k, &rec, 100);

			put(KC_PV_HITS, got);
			if (got)
				put(KC_PV_HANDLER_TID, rec.tid);
		}
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, owner) && !kc_wait_exited(owner, 0));
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", kthread ? worker : owner, worker));
		if (kthread)
			put(KC_PV_PEND_THREAD, kp_pending(worker, worker, "SigPnd:", SIGUSR1));
		break;
	}
	case KC_WO_CLOSE:
		tfd = (int)p_open(worker, kthread ? 0 : KP_PIDFD_THREAD);
		put(KC_PV_RET2, tfd);
		gfd = (int)p_open(worker, 0);
		put(KC_PV_RET, gfd);
		kp_close(&tfd);
		kp_close(&gfd);
		kc_sleep_ms(50);
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, owner) && !kc_wait_exited(owner, 0));
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", kthread ? worker : owner, worker));
		break;
	case KC_WO_AUTOKILL_FLAG:
		r = p_open(worker, KP_PIDFD_THREAD | O_TRUNC);
		put(KC_PV_RET, r);
		if (r >= 0)
			close((int)r);
		break;
	case KC_WO_AUTOKILL_OWNER:
		gfd = (int)p_open(owner, 0);
		put(KC_PV_RET2, gfd);
		if (gfd < 0)
			break;
		kp_close(&afd);
		put(KC_PV_REVENTS, kp_poll(gfd, KP_T));
		r = p_info_released(gfd, &info, KP_INFO_EXIT, KP_T);
		put(KC_PV_RET, r);
		if (r == 0)
			put(KC_PV_INFO_EXIT, info.exit_code);
		kp_wait_gone(owner, KP_T);
		put(KC_PV_WORKER_ALIVE, kp_exists("/proc/%d/task/%d/stat", owner, worker));
		put(KC_PV_OWNER_ALIVE, kp_exists("/proc/%d/stat%.0d", owner, 0));
		break;
	}
out:
	kp_close(&tfd);
	kp_close(&gfd);
	kp_close(&afd);
	if (vhost_started) {
		kc_vhost_close(&vr, KP_T);
		kc_vhost_finish(&vr, 1, KP_T);
	}
	kp_finish(&k);
}
