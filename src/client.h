/* client: hbpoold's client connections: newline-delimited JSON-RPC in, replies out in whatever
 * order they complete, with per-client limits and backpressure. */
#ifndef HBPOOL_CLIENT_H
#define HBPOOL_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "decoder.h"

struct event_base;

typedef struct client_hub client_hub;

/* Large request lines are parsed by dec, off the loop thread. */
client_hub *client_hub_new(struct event_base *base, api *a, decoder *dec, const config *cfg);
/* Closes every client (their in-flight requests complete into the void). */
void client_hub_free(client_hub *hub);
/* Takes an accepted, connected socket. */
void client_accept(client_hub *hub, int fd, const char *listener);
/* Closes clients idle longer than client_idle_timeout_ms; the janitor calls it. */
void client_hub_expire(client_hub *hub);
/* Adds {"clients": {...}} to a stats object. */
void client_hub_stats(client_hub *hub, json_t *stats);

#endif
