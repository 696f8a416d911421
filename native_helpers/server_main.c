// SPDX-License-Identifier: MIT
/*
 * kconform-server: runs the scenarios for one runner process (see kc_serve.h).
 *
 *   kconform-server <runner pid>      socket on fd 3
 *
 * It dies with the runner (PR_SET_PDEATHSIG, checked against the pid it was
 * given, so a runner that died before the prctl is noticed too) and leaves
 * when the runner closes its end of the socket.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "serve_internal.h"

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)atol(argv[1]))
		return 1;
	return kc_server_loop(3);
}
