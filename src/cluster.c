/* cluster: the gateways hbpoold talks to, a pool each: which one a call goes to (balance), and
 * calls moved to another when theirs failed them. */
#include "cluster.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

/* A gateway: its pool, and the id jobs and scanners know it by (never reused). */
typedef struct member {
  uint32_t id;
  char *name;
  pool *pool;
} member;

struct cluster {
  struct event_base *base;
  member **members; /* in service, in the file's order */
  size_t n;
  member **removed; /* taken out by a reload, until their calls under way are over */
  size_t nremoved;
  uint32_t next_id;
  bool ordered; /* balance = ordered */
  bool stopping;
  uint64_t moves;
};

/* A share of the pool (max_scan_connections, max_pool_share), within it; 0: half of it (rounded
 * up), so that neither scans nor one client take every connection of a pool of two or more. */
static int pool_share(const config_gateway *g, int setting) {
  int n = setting > 0 ? setting : (g->pool_size + 1) / 2;
  return n < g->pool_size ? n : g->pool_size;
}

static pool_options pool_options_from(const config_gateway *g) {
  pool_options o = {
    .name = g->name,
    .size = g->pool_size,
    .lazy_connect = g->lazy_connect,
    .queue_timeout_ms = g->queue_timeout_ms,
    .max_queue = g->max_queue,
    .idle_refresh_ms = g->idle_refresh_ms,
    .reconnect_min_ms = g->reconnect_min_ms,
    .reconnect_max_ms = g->reconnect_max_ms,
    .coalesce = g->coalesce,
    .coalesce_max_rows = g->coalesce_max_rows,
    .max_scans = pool_share(g, g->max_scan_connections),
    .max_share = pool_share(g, g->max_pool_share),
  };
  hbc_options_init(&o.gateway);
  o.gateway.host = g->host;
  o.gateway.port = g->port;
  o.gateway.framed = g->transport == CONFIG_FRAMED;
  o.gateway.http = g->transport == CONFIG_HTTP;
  o.gateway.http_path = g->path;
  o.gateway.protocol = g->compact ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
  o.gateway.connect_timeout_ms = g->connect_timeout_ms;
  o.gateway.call_timeout_ms = g->request_timeout_ms;
  o.gateway.max_message_size = g->max_message_bytes;
  return o;
}

static member *member_new(cluster *cl, const config_gateway *g, hb_error *err) {
  pool_options o = pool_options_from(g);
  pool *p = pool_new(cl->base, &o, err);
  if (p == NULL)
    return NULL;
  member *m = xcalloc(1, sizeof *m);
  m->id = ++cl->next_id;
  m->name = xstrdup(g->name);
  m->pool = p;
  return m;
}

static void member_free(member *m) {
  pool_free(m->pool);
  free(m->name);
  free(m);
}

cluster *cluster_new(struct event_base *base, const config *cfg, hb_error *err) {
  assert(cfg->ngateways > 0);
  cluster *cl = xcalloc(1, sizeof *cl);
  cl->base = base;
  cl->ordered = cfg->balance_ordered;
  cl->members = xcalloc(cfg->ngateways, sizeof *cl->members);
  for (size_t i = 0; i < cfg->ngateways; i++) {
    cl->members[i] = member_new(cl, &cfg->gateways[i], err);
    if (cl->members[i] == NULL) {
      cluster_free(cl);
      return NULL;
    }
    cl->n++;
  }
  return cl;
}

void cluster_free(cluster *cl) {
  if (cl == NULL)
    return;
  cl->stopping = true;
  for (size_t i = 0; i < cl->n; i++)
    member_free(cl->members[i]);
  for (size_t i = 0; i < cl->nremoved; i++)
    member_free(cl->removed[i]);
  free(cl->members);
  free(cl->removed);
  free(cl);
}

/* ---------------------------------------------------------------------------------------------
 * Choosing a gateway. */

/* Ids above 64 share bits: a job may then skip a gateway it has not tried (it fails rather than
 * moves), never try one twice. */
static uint64_t id_bit(uint32_t id) {
  return (uint64_t)1 << (id % 64);
}

static bool untried_and_up(const pool_job *job, const member *m) {
  return (job->route.tried & id_bit(m->id)) == 0 && pool_is_up(m->pool);
}

/* a is less busy than b: fewer outstanding calls per connection. */
static bool less_busy(const member *a, const member *b) {
  return (long long)pool_outstanding(a->pool) * pool_size(b->pool) <
    (long long)pool_outstanding(b->pool) * pool_size(a->pool);
}

/* Writes of one row (an order key) go to one gateway, whose pool keeps their order: the key picks
 * among the gateways up and untried, so that it changes only when those do. */
static member *choose_by_key(const cluster *cl, const pool_job *job) {
  size_t n = 0;
  for (size_t i = 0; i < cl->n; i++)
    n += untried_and_up(job, cl->members[i]);
  if (n == 0)
    return NULL;
  size_t pick = (size_t)(job->order_key % n);
  for (size_t i = 0; i < cl->n; i++)
    if (untried_and_up(job, cl->members[i]) && pick-- == 0)
      return cl->members[i];
  return NULL;
}

/* The gateway for the job's next try, or NULL when every one is tried or down. */
static member *choose(const cluster *cl, const pool_job *job) {
  if (!cl->ordered && job->order_key != 0 && job->route.prefer == 0)
    return choose_by_key(cl, job);
  member *best = NULL;
  for (size_t i = 0; i < cl->n; i++) {
    member *m = cl->members[i];
    if (!untried_and_up(job, m))
      continue;
    if (m->id == job->route.prefer)
      return m;
    if (best == NULL || (!cl->ordered && less_busy(m, best)))
      best = m;
  }
  return best;
}

static void route_done(pool_job *job);

/* Gives the job to m. */
static int submit_to(member *m, pool_job *job, hb_error *err) {
  job->route.tried |= id_bit(m->id);
  job->route.ran_on = m->id;
  job->done = route_done;
  return pool_submit(m->pool, job, err);
}

/* Tries the gateways in turn until one takes the job; with none up, the preferred or first one
 * answers (its error is the documented one for a gateway that is down). */
static int submit_somewhere(cluster *cl, pool_job *job, hb_error *err) {
  member *m;
  while ((m = choose(cl, job)) != NULL) {
    hb_error_clear(err);
    if (submit_to(m, job, err) == 0)
      return 0;
    if (err->code != HB_ERR_UNAVAILABLE && err->code != HB_ERR_OVERLOADED)
      return -1; /* refused for being down or full: the next one may take it */
  }
  if (err->code != HB_OK)
    return -1;
  if (cl->n == 0)
    return hb_error_set(err, HB_ERR_UNAVAILABLE, "no gateway is configured");
  for (size_t i = 0; i < cl->n; i++)
    if (cl->members[i]->id == job->route.prefer)
      return submit_to(cl->members[i], job, err);
  return submit_to(cl->members[0], job, err);
}

/* Nothing reached the gateway (down, removed, or its connect failed): any job may go elsewhere.
 * A read that failed on its connection after it was sent may go once more. */
static bool may_move(const cluster *cl, const pool_job *job) {
  if (cl->stopping || job->err.code == HB_OK)
    return false;
  if (job->err.code == HB_ERR_UNAVAILABLE)
    return true;
  return job->retry == POOL_RETRY_ON_STALE && !job->route.resent &&
    hb_error_breaks_connection(job->err.code);
}

/* Sends a failed job to m; false if m refused it too (job->err then says why). */
static bool move(cluster *cl, member *m, pool_job *job) {
  /* Debug: a gateway going down moves its whole queue, and its going down is logged already. */
  log_debug("a call failed (%s); sending it to gateway %s",
            job->err.message != NULL ? job->err.message : "no reason", m->name);
  if (job->err.code != HB_ERR_UNAVAILABLE)
    job->route.resent = true;
  hb_error_clear(&job->err);
  cl->moves++;
  hb_error err = HB_ERROR_INIT;
  if (submit_to(m, job, &err) == 0)
    return true;
  job->err = err;
  return false;
}

static void route_done(pool_job *job) {
  cluster *cl = job->route.cluster;
  member *m;
  while (may_move(cl, job) && (m = choose(cl, job)) != NULL)
    if (move(cl, m, job))
      return;
  job->done = job->route.done;
  job->done(job);
}

int cluster_submit(cluster *cl, pool_job *job, hb_error *err) {
  assert(job->done != NULL && job->done != route_done);
  if (cl->stopping) /* a done callback of a pool being freed may submit more */
    return hb_error_set(err, HB_ERR_UNAVAILABLE, "the daemon is shutting down");
  job->route.cluster = cl;
  job->route.done = job->done;
  job->route.tried = 0;
  job->route.resent = false;
  if (submit_somewhere(cl, job, err) == 0)
    return 0;
  job->done = job->route.done;
  return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Reload, expiry and counters. */

static member *find(member **list, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i]->name, name) == 0)
      return list[i];
  return NULL;
}

static void take_out(cluster *cl, member *m) {
  log_info("reload: gateway %s removed; its calls under way finish, its queued ones move", m->name);
  cl->removed = xrealloc(cl->removed, (cl->nremoved + 1) * sizeof *cl->removed);
  cl->removed[cl->nremoved++] = m;
  pool_retire(m->pool);
}

void cluster_reconfigure(cluster *cl, const config *cfg) {
  cl->ordered = cfg->balance_ordered;
  member **next = xcalloc(cfg->ngateways, sizeof *next);
  size_t n = 0;
  for (size_t i = 0; i < cfg->ngateways; i++) {
    const config_gateway *g = &cfg->gateways[i];
    member *m = find(cl->members, cl->n, g->name);
    if (m != NULL) {
      pool_options o = pool_options_from(g);
      /* Another gateway under the same name: a new id, so that scanners reopen there. */
      if (pool_reconfigure(m->pool, &o))
        m->id = ++cl->next_id;
    } else {
      hb_error err = HB_ERROR_INIT;
      m = member_new(cl, g, &err);
      if (m == NULL) {
        log_error("reload: cannot add gateway %s: %s", g->name, err.message);
        hb_error_clear(&err);
        continue;
      }
      log_info("reload: gateway %s added (%s:%d)", g->name, g->host, g->port);
    }
    next[n++] = m;
  }
  for (size_t i = 0; i < cl->n; i++)
    if (find(next, n, cl->members[i]->name) == NULL)
      take_out(cl, cl->members[i]);
  free(cl->members);
  cl->members = next;
  cl->n = n;
}

void cluster_expire(cluster *cl) {
  for (size_t i = 0; i < cl->n; i++)
    pool_expire(cl->members[i]->pool);
  size_t kept = 0;
  for (size_t i = 0; i < cl->nremoved; i++) {
    member *m = cl->removed[i];
    pool_expire(m->pool);
    if (pool_is_idle(m->pool))
      member_free(m);
    else
      cl->removed[kept++] = m;
  }
  cl->nremoved = kept;
}

void cluster_client_gone(cluster *cl, uint64_t owner) {
  for (size_t i = 0; i < cl->n; i++)
    pool_client_gone(cl->members[i]->pool, owner);
  for (size_t i = 0; i < cl->nremoved; i++)
    pool_client_gone(cl->removed[i]->pool, owner);
}

void cluster_hold_reads(cluster *cl, uint64_t owner, bool hold) {
  for (size_t i = 0; i < cl->n; i++)
    pool_hold_reads(cl->members[i]->pool, owner, hold);
  for (size_t i = 0; i < cl->nremoved; i++)
    pool_hold_reads(cl->removed[i]->pool, owner, hold);
}

size_t cluster_size(const cluster *cl) {
  return cl->n;
}

const char *cluster_name(const cluster *cl, size_t i) {
  return cl->members[i]->name;
}

void cluster_address(const cluster *cl, size_t i, char *out, size_t size) {
  pool_address(cl->members[i]->pool, out, size);
}

void cluster_get_stats(const cluster *cl, size_t i, pool_stats *out) {
  pool_get_stats(cl->members[i]->pool, out);
}

void cluster_get_total(const cluster *cl, pool_stats *out) {
  *out = (pool_stats){0};
  for (size_t i = 0; i < cl->n; i++) {
    pool_stats s;
    pool_get_stats(cl->members[i]->pool, &s);
    out->size += s.size;
    out->busy += s.busy;
    out->idle += s.idle;
    out->broken += s.broken;
    out->waiting += s.waiting;
    if (s.longest_client_queue > out->longest_client_queue) /* a client's, at one gateway */
      out->longest_client_queue = s.longest_client_queue;
    out->gateway_up = out->gateway_up || s.gateway_up;
    out->jobs += s.jobs;
    out->failed += s.failed;
    out->reconnects += s.reconnects;
    out->retries += s.retries;
    out->refreshes += s.refreshes;
    out->coalesced_jobs += s.coalesced_jobs;
    for (int k = 0; k < POOL_CALL_SIZES; k++)
      out->calls_by_size[k] += s.calls_by_size[k];
  }
}

uint64_t cluster_moves(const cluster *cl) {
  return cl->moves;
}
