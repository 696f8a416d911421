// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mount.h>

#include "kc_sys.h"

int kc_umount_detach(const char *path)
{
	return umount2(path, MNT_DETACH) < 0 ? -errno : 0;
}
