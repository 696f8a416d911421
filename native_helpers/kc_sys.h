/* SPDX-License-Identifier: MIT */
/* kconform native helpers: small raw system calls used by the harness. */
#ifndef KC_SYS_H
#define KC_SYS_H

#include <stdint.h>

/* umount2(path, MNT_DETACH): 0 or -errno. */
int kc_umount_detach(const char *path);

#endif
