/* SPDX-License-Identifier: MIT */
/* Internal to the native helpers: the server's loop (kc_serve.c), called by
 * server_main.c, the entry point of the kconform-server executable. */
#ifndef KC_SERVE_INTERNAL_H
#define KC_SERVE_INTERNAL_H

/* Serve requests on sock until the peer closes it: the exit status. */
int kc_server_loop(int sock);

#endif
