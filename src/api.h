/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run on a pooled connection, and its reply line is rendered on the worker. */
#ifndef HBPOOL_API_H
#define HBPOOL_API_H

#include <jansson.h>

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
/* Runs one request object (steals msg). */
void api_call(api *a, json_t *msg, api_reply_fn reply, void *owner);
/* Requests being run now. */
int api_in_flight(const api *a);

#endif
