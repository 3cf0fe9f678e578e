/* sockets: what the daemon's listeners share (listener.c for clients, metrics.c for HTTP):
 * listening sockets on a Unix path (a stale socket file replaced) or on TCP, and accepting that
 * pauses instead of spinning when file descriptors run out. */
#ifndef HBPOOL_SOCKETS_H
#define HBPOOL_SOCKETS_H

#include "error.h"

struct event_base;
struct evconnlistener;

/* A listening, non-blocking, close-on-exec socket on path, with the given mode. A socket file
 * nobody accepts on (left by a daemon that died) is replaced; a live one is an error. what names
 * the setting in errors ("listen_socket", "metrics_listen"). Returns the fd, or -1 with err set. */
int sockets_listen_unix(const char *path, int mode, const char *what, hb_error *err);
/* The same on ADDRESS:PORT (a numeric address, IPv4 or [IPv6]). */
int sockets_listen_tcp(const char *address_port, const char *what, hb_error *err);

/* Out of file descriptors, accepting again at once would spin the loop: the guard disables evl
 * for a second instead, and logs each failure naming name. Freeing the guard leaves evl. */
typedef struct sockets_guard sockets_guard;
sockets_guard *sockets_guard_accept(struct event_base *base, struct evconnlistener *evl,
                                    const char *name);
void sockets_guard_free(sockets_guard *g);

#endif
