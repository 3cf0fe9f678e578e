/* listener: the sockets hbpoold accepts clients on: a Unix socket, optionally TCP on loopback. */
#ifndef HBPOOL_LISTENER_H
#define HBPOOL_LISTENER_H

#include "client.h"
#include "config.h"
#include "error.h"

struct event_base;
typedef struct listener listener;

/* Binds and listens on every socket the config names; a live daemon already on the Unix socket
 * is an error, a stale socket file is replaced. With inherited > 0, the sockets are instead
 * descriptors 3 .. 3 + inherited - 1, passed by the service manager (socket activation): one
 * Unix and at most one TCP socket, already listening; the config's listen_socket and
 * listen_tcp are then not used. */
listener *listener_new(struct event_base *base, const config *cfg, client_hub *hub, int inherited,
                       hb_error *err);
/* Stops accepting and removes the socket file (never an inherited one: it is the service
 * manager's). */
void listener_free(listener *l);

#endif
