/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run on a pooled connection, and its reply line is rendered on the worker. */
#ifndef HBPOOL_API_H
#define HBPOOL_API_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "pool.h"

typedef struct api api;

/* Receives the reply line of one request (malloc'd, the callee frees it), or NULL for a
 * notification. Called exactly once per api_call, on the loop thread, possibly before api_call
 * returns. */
typedef void (*api_reply_fn)(void *owner, char *line);
/* Adds the daemon's own figures (clients, ...) to the stats result. */
typedef void (*api_stats_fn)(void *arg, json_t *stats);

api *api_new(pool *gateway_pool, const config *cfg, api_stats_fn stats, void *stats_arg);
void api_free(api *a);
/* Runs one request object (steals msg) for the client connection session. */
void api_call(api *a, json_t *msg, uint64_t session, api_reply_fn reply, void *owner);
/* The client connection has gone: close its scanners. */
void api_session_closed(api *a, uint64_t session);
/* Closes scanners idle longer than scanner_idle_timeout_ms; the janitor calls it. */
void api_expire(api *a);
/* Requests being run now. */
int api_in_flight(const api *a);

#endif
