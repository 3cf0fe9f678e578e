/* metrics: hbpoold's Prometheus endpoint (metrics_listen): GET /metrics in the text exposition
 * format, GET /health for load balancers and probes. */
#ifndef HBPOOL_METRICS_H
#define HBPOOL_METRICS_H

#include "api.h"
#include "client.h"
#include "config.h"
#include "error.h"
#include "cluster.h"

struct event_base;
typedef struct metrics metrics;

/* Serves cfg->metrics_listen (which must be set) on base, from the counters of the pool, the
 * api and the clients; NULL with err set if it cannot listen there. cfg is read on every
 * request (a reload may change the gateway's address, never the endpoint's). */
metrics *metrics_new(struct event_base *base, const config *cfg, cluster *gateways, api *a,
                     client_hub *hub, hb_error *err);
/* Stops listening, drops the connections being served and removes a Unix socket file. */
void metrics_free(metrics *m);

#endif
