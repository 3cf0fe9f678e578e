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
/* Closes clients idle longer than client_idle_timeout_ms, and those whose replies have waited
 * unread longer than client_output_timeout_ms; over max_buffered_bytes, throttles the clients
 * holding the most and closes those that read nothing; the janitor calls it. */
void client_hub_expire(client_hub *hub);
int client_hub_count(const client_hub *hub);
/* Bytes of replies queued and not yet written to their clients. */
size_t client_hub_unsent_bytes(client_hub *hub);
/* The daemon is stopping: requests read from now on get a shutting_down error. */
void client_hub_drain(client_hub *hub);
/* The config changed (a reload): applies max_line_bytes to the connected clients too; the other
 * limits are read from the config as they are needed. */
void client_hub_reconfigure(client_hub *hub);
/* Adds {"clients": {...}} to a stats object. */
void client_hub_stats(client_hub *hub, json_t *stats);

typedef struct client_hub_counts {
  int connected, closing;     /* open connections; closed ones awaiting replies in flight */
  uint64_t accepted, refused; /* refused: over max_clients */
  uint64_t denied;            /* requests refused by [access] */
  uint64_t output_timeouts;   /* clients closed by client_output_timeout_ms */
  uint64_t received_bytes;    /* request lines read, newlines included */
  uint64_t sent_bytes;        /* replies queued for sending */
  /* max_buffered_bytes: what clients hold now (input, lines at the decoder, unsent replies), the
   * most they held at once, clients not read now for it, times one was stopped, and clients
   * closed for replies left unread while over it */
  size_t buffered_bytes, buffered_bytes_peak;
  int throttled;
  uint64_t throttles, budget_closes;
  /* client_reply_window_bytes: clients whose reads wait now, and times one began to */
  int reads_held;
  uint64_t reads_holds;
} client_hub_counts;

void client_hub_get_counts(client_hub *hub, client_hub_counts *out);

#endif
