/* cluster: the gateways hbpoold talks to, a pool each: which one a call goes to (balance), and
 * calls moved to another when theirs failed them. */
#ifndef HBPOOL_CLUSTER_H
#define HBPOOL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "pool.h"

struct event_base;

typedef struct cluster cluster;

/* A pool per gateway of cfg, in the file's order; their workers start in a later loop pass. */
cluster *cluster_new(struct event_base *base, const config *cfg, hb_error *err);
/* Stops every pool (pool_free's rules); nothing is moved any more. Loop stack only. */
void cluster_free(cluster *cl);

/* Queues a job on a gateway (loop thread): the one job->route.prefer names if it is there and
 * up, else the first up one in file order (balance = ordered) or the up one with the fewest
 * outstanding calls per connection (least_busy). job->route.ran_on says which. A job that fails
 * before it was sent (the gateway went down, or was removed) goes to another gateway that it
 * has not tried, and so does a read (POOL_RETRY_ON_STALE) that failed after it was sent, once
 * (a write that may have reached a gateway is never resent). Returns -1 with err set, without
 * calling done, when no gateway took it: nothing was sent. */
int cluster_submit(cluster *cl, pool_job *job, hb_error *err);

/* A reload: gateways matched by name are reconfigured (pool_reconfigure), new ones get a pool,
 * and removed ones take no more jobs: their queued jobs move, their calls under way finish, and
 * their pool is freed by cluster_expire once it is idle. */
void cluster_reconfigure(cluster *cl, const config *cfg);
/* The janitor's: every pool's pool_expire, and removed pools freed once idle. */
void cluster_expire(cluster *cl);
/* pool_client_gone on every pool, removed ones too. */
void cluster_client_gone(cluster *cl, uint64_t owner);
/* pool_hold_reads on every gateway. */
void cluster_hold_reads(cluster *cl, uint64_t owner, bool hold);

/* The gateways in service (removed ones excluded), in the file's order. */
size_t cluster_size(const cluster *cl);
const char *cluster_name(const cluster *cl, size_t i);
/* "host:port" of gateway i, into out. */
void cluster_address(const cluster *cl, size_t i, char *out, size_t size);
void cluster_get_stats(const cluster *cl, size_t i, pool_stats *out);
/* Every gateway's counters summed; gateway_up: at least one is up. */
void cluster_get_total(const cluster *cl, pool_stats *out);
/* Jobs moved to another gateway: before they were sent, and reads after. */
uint64_t cluster_moves(const cluster *cl);

#endif
