/* listener: the sockets hbpoold accepts clients on: a Unix socket, optionally TCP on loopback. */
#ifndef HBPOOL_LISTENER_H
#define HBPOOL_LISTENER_H

#include "client.h"
#include "config.h"
#include "error.h"

struct event_base;
typedef struct listener listener;

/* Binds and listens on every socket the config names; a live daemon already on the Unix socket
 * is an error, a stale socket file is replaced. */
listener *listener_new(struct event_base *base, const config *cfg, client_hub *hub, hb_error *err);
/* Stops accepting and removes the socket file. */
void listener_free(listener *l);

#endif
