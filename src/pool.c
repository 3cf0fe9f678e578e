/* pool: one gateway's connections: a worker per connection takes queued jobs and runs them on
 * it, and hands completions to the loop.
 *
 * Everything runs on the loop thread. A worker is a task (task.h): its Thrift calls are plain
 * calls, and where one would block on the gateway's socket the task yields to the loop until
 * the socket is ready. So a request crosses no thread, and the pool needs no lock. Idle workers
 * park on the idle list; a submit wakes one. */
#include "pool.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "idmap.h"
#include "log.h"
#include "task.h"
#include "xmalloc.h"

TAILQ_HEAD(job_list, pool_job);

/* A client's waiting jobs. It exists while it has jobs waiting or at the gateway, or while its
 * reads are held. */
typedef struct pool_owner {
  uint64_t id;
  struct job_list jobs; /* waiting, oldest first */
  int waiting, reads;   /* jobs waiting, and how many of them are reads */
  int calls;            /* calls at the gateway carrying its jobs: the connections it holds */
  bool reads_held;      /* pool_hold_reads */
  bool in_ring;         /* it has jobs waiting that may start, and takes turns with the others */
  uint64_t stamp;       /* the take or release that last counted it */
  TAILQ_ENTRY(pool_owner) ring_link, all_link;
} pool_owner;
TAILQ_HEAD(owner_list, pool_owner);

/* The jobs of one order key: only the oldest may start, once none of them is at the gateway. */
typedef struct pool_key {
  uint64_t key;
  struct job_list jobs; /* waiting, in the order queued */
  int running;          /* at the gateway (0 or 1) */
} pool_key;

typedef struct worker worker;
TAILQ_HEAD(worker_list, worker);

struct worker {
  pool *pool;
  task *task;
  hbc_conn *conn; /* NULL: broken or not yet connected; the worker's own */
  int64_t last_used_ms;
  bool busy;
  bool parked;   /* on the pool's idle list, waiting for a job or a state change */
  bool retiring; /* the pool shrank: finish the current job, then exit */
  TAILQ_ENTRY(worker) idle_link;
  /* The settings of the job at hand: a reload may change the pool's mid-call. */
  hbc_options gateway;
  char *host, *http_path;
  int idle_refresh_ms;
  unsigned generation; /* of the gateway settings conn was made with */
  unsigned want_generation;
  unsigned settings_seen; /* the pool's settings_version these copies are of */
  pool_job **members;     /* the jobs of the call at hand (while busy) */
  size_t nmembers, cap;
};

struct pool {
  pool_options opts;
  char *name;
  char *host, *http_path; /* copies: a reload frees the config's */
  struct event_base *base;
  struct event *completion_ev;

  /* Waiting for a connection: a queue per client, the clients taking turns (the ring), so that
   * one client's hundreds of requests do not push everyone else's back by as many. */
  idmap *owners;          /* owner id -> pool_owner */
  struct owner_list ring; /* owners with jobs that may start, the next to be served first */
  struct owner_list all;  /* every pool_owner */
  idmap *keys;            /* order key -> pool_key, while a job of it waits or runs */
  uint64_t stamp;
  int waiting;
  struct job_list done; /* finished, for the loop thread */
  bool stopping;
  bool retired;            /* removed by a reload: no new jobs */
  int nbusy;               /* workers running a call */
  struct worker_list idle; /* parked workers, the longest parked first */

  bool gateway_up;
  int broken_fresh; /* calls in a row that broke a connection made for them (no answer between) */
  bool probing;     /* a worker is trying to connect while the gateway is down */
  int64_t next_attempt_ms; /* while down: no connection attempt before this */
  int backoff_ms;
  char *down_reason;

  /* A job was held back for an earlier one of its key, for max_scans or for max_share: the end
   * of a call wakes the workers. */
  bool holding;
  int nscans;          /* scan jobs at the gateway */
  pool_stats counters; /* jobs, failed, reconnects, retries, refreshes */
  worker **workers;    /* the retiring ones too, until reap frees them */
  int nworkers;
  unsigned generation;       /* bumped when the gateway settings change: reconnect to apply */
  unsigned settings_version; /* bumped by every reconfigure: workers copy the settings again */
};

/* ---------------------------------------------------------------------------------------------
 * Completions: finished jobs are queued, and their callbacks run from a loop callback, never on
 * a worker's stack nor inside the pool function that finished them (which may be iterating the
 * queue a callback submits to). */

static void finish(pool *p, pool_job *job) {
  p->counters.jobs++;
  if (job->err.code != HB_OK)
    p->counters.failed++;
  TAILQ_INSERT_TAIL(&p->done, job, link);
  /* event_active coalesces: the callback drains the whole list, in this same loop pass. */
  event_active(p->completion_ev, EV_READ, 0);
}

/* Idle workers: parked on p->idle until a job or a state change wakes them. */
static void wake_one(pool *p) {
  worker *w = TAILQ_FIRST(&p->idle);
  if (w == NULL)
    return;
  TAILQ_REMOVE(&p->idle, w, idle_link);
  w->parked = false;
  task_wake(w->task);
}

static void wake_all(pool *p) {
  while (!TAILQ_EMPTY(&p->idle))
    wake_one(p);
}

/* Parks the worker (in its task) until woken or until_ms. */
static void park(worker *w, int64_t until_ms) {
  pool *p = w->pool;
  TAILQ_INSERT_TAIL(&p->idle, w, idle_link);
  w->parked = true;
  task_wait(-1, 0, until_ms);
  if (w->parked) {
    TAILQ_REMOVE(&p->idle, w, idle_link);
    w->parked = false;
  }
}

static void run_completions(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  pool *p = arg;
  struct job_list ready = TAILQ_HEAD_INITIALIZER(ready);
  TAILQ_CONCAT(&ready, &p->done, link);
  pool_job *job;
  while ((job = TAILQ_FIRST(&ready)) != NULL) {
    TAILQ_REMOVE(&ready, job, link);
    job->done(job);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Gateway state: up, or down with a backoff before the next connection attempt. */

/* ---------------------------------------------------------------------------------------------
 * The queues: a client's, an order key's. */

static pool_owner *owner_of(pool *p, uint64_t id) {
  pool_owner *o = idmap_get(p->owners, id);
  if (o != NULL)
    return o;
  o = xcalloc(1, sizeof *o);
  o->id = id;
  TAILQ_INIT(&o->jobs);
  TAILQ_INSERT_TAIL(&p->all, o, all_link);
  idmap_put(p->owners, id, o);
  return o;
}

static void owner_release(pool *p, pool_owner *o) {
  if (o->waiting > 0 || o->calls > 0 || o->reads_held)
    return;
  idmap_remove(p->owners, o->id);
  TAILQ_REMOVE(&p->all, o, all_link);
  free(o);
}

/* In the ring while it has jobs waiting that are not held: a client whose reads are held and who
 * has nothing else waiting is not looked at until they are released. */
static void owner_place(pool *p, pool_owner *o) {
  bool want = o->waiting > (o->reads_held ? o->reads : 0);
  if (want == o->in_ring)
    return;
  if (want)
    TAILQ_INSERT_TAIL(&p->ring, o, ring_link);
  else
    TAILQ_REMOVE(&p->ring, o, ring_link);
  o->in_ring = want;
}

static bool is_read(const pool_job *job) {
  return job->retry == POOL_RETRY_ON_STALE;
}

static void key_release(pool *p, pool_job *job) {
  pool_key *k = job->keyed;
  job->keyed = NULL;
  if (k == NULL || k->running > 0 || !TAILQ_EMPTY(&k->jobs))
    return;
  idmap_remove(p->keys, k->key);
  free(k);
}

static void enqueue(pool *p, pool_job *job) {
  pool_owner *o = owner_of(p, job->owner);
  TAILQ_INSERT_TAIL(&o->jobs, job, link);
  job->queued_by = o;
  o->waiting++;
  o->reads += is_read(job);
  owner_place(p, o);
  p->waiting++;
  if (job->order_key == 0)
    return;
  pool_key *k = idmap_get(p->keys, job->order_key);
  if (k == NULL) {
    k = xcalloc(1, sizeof *k);
    k->key = job->order_key;
    TAILQ_INIT(&k->jobs);
    idmap_put(p->keys, k->key, k);
  }
  TAILQ_INSERT_TAIL(&k->jobs, job, key_link);
  job->keyed = k;
}

/* Out of its client's queue and its key's (whose hold it keeps: started, or failed after). */
static void unqueue(pool *p, pool_job *job) {
  pool_owner *o = job->queued_by;
  TAILQ_REMOVE(&o->jobs, job, link);
  job->queued_by = NULL;
  o->waiting--;
  o->reads -= is_read(job);
  owner_place(p, o);
  if (job->keyed != NULL)
    TAILQ_REMOVE(&job->keyed->jobs, job, key_link);
  p->waiting--;
  owner_release(p, o);
}

static void fail_one(pool *p, pool_job *job, hb_errcode code, const char *why) {
  unqueue(p, job);
  key_release(p, job);
  hb_error_set(&job->err, code, "%s", why);
  finish(p, job);
}

/* Picks queued jobs: true for those to fail. */
typedef bool (*pool_match_fn)(const pool_job *job, void *arg);

/* Fails the queued jobs pick chooses (every one when pick is NULL). */
static void fail_queued(pool *p, pool_match_fn pick, void *arg, hb_errcode code, const char *why) {
  pool_owner *o, *next_owner;
  for (o = TAILQ_FIRST(&p->all); o != NULL; o = next_owner) {
    next_owner = TAILQ_NEXT(o, all_link);
    pool_job *job, *next;
    /* unqueue may free o with its last job: then next is NULL, and o is not looked at again. */
    for (job = TAILQ_FIRST(&o->jobs); job != NULL; job = next) {
      next = TAILQ_NEXT(job, link);
      if (pick == NULL || pick(job, arg))
        fail_one(p, job, code, why);
    }
  }
}

static void fail_queue(pool *p, hb_errcode code, const char *why) {
  fail_queued(p, NULL, NULL, code, why);
}

static void mark_down(pool *p, const char *reason) {
  int64_t now = clock_now_ms();
  if (p->gateway_up) {
    log_warning("gateway %s (%s:%d) is down: %s", p->name, p->host, p->opts.gateway.port, reason);
    p->backoff_ms = p->opts.reconnect_min_ms;
  } else {
    p->backoff_ms = p->backoff_ms * 2 > p->opts.reconnect_max_ms ? p->opts.reconnect_max_ms
                                                                 : p->backoff_ms * 2;
  }
  p->gateway_up = false;
  p->next_attempt_ms = now + p->backoff_ms;
  free(p->down_reason);
  p->down_reason = xstrdup(reason);
  char why[512];
  snprintf(why, sizeof why, "gateway %s (%s:%d) is unavailable: %s", p->name, p->host,
           p->opts.gateway.port, reason);
  fail_queue(p, HB_ERR_UNAVAILABLE, why);
  wake_all(p); /* idle workers recompute when to try again */
}

static void mark_up(pool *p) {
  if (!p->gateway_up)
    log_info("gateway %s (%s:%d) is up", p->name, p->host, p->opts.gateway.port);
  p->gateway_up = true;
  p->backoff_ms = p->opts.reconnect_min_ms;
  wake_all(p);
}

/* Opens the worker's connection. Returns 0, or -1 with err set. */
static int connect_worker(worker *w, hb_error *err) {
  pool *p = w->pool;
  w->conn = hbc_connect(&w->gateway, err);
  w->generation = w->want_generation;
  if (task_is_cancelled(w->task)) /* stopping: the gateway's state is not in question */
    return w->conn != NULL ? 0 : -1;
  if (w->conn == NULL) {
    mark_down(p, err->message != NULL ? err->message : "connect failed");
  } else {
    p->counters.reconnects++;
    mark_up(p);
  }
  w->last_used_ms = clock_now_ms();
  return w->conn != NULL ? 0 : -1;
}

/* A gateway that accepts connections and then fails every call on them (reset, closed, garbage:
 * a proxy in front of a dead gateway, or the wrong transport) is taken out as one that refuses
 * them is, after this many calls in a row broke the connection made for them. Until then a
 * broken call may be the call's own doing, or a gateway restarting. */
#define POOL_BROKEN_FRESH_LIMIT 8

static void count_broken_fresh(pool *p, const char *last) {
  if (++p->broken_fresh < POOL_BROKEN_FRESH_LIMIT)
    return;
  char why[512];
  snprintf(why, sizeof why, "%d calls in a row failed on new connections, the last with: %s",
           p->broken_fresh, last != NULL ? last : "an error");
  mark_down(p, why);
}

/* Routine replacements (idle, reload) are info; one a call failed on is a warning: a transport
 * or protocol that does not match the gateway's shows up here first. */
static void drop_connection(worker *w, log_level level, const char *why) {
  log_msg(level, "gateway %s: closing a connection: %s", w->pool->name, why);
  hbc_close(w->conn);
  w->conn = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Workers. */

/* One gateway call for the jobs: their own work, or their group's. */
static int work(worker *w, pool_job **jobs, size_t n) {
  if (n == 1)
    return jobs[0]->work(w->conn, jobs[0]);
  return jobs[0]->group->work(w->conn, jobs, n);
}

/* Every member fails as the first did: they made one call. */
static void share_error(pool_job **jobs, size_t n) {
  for (size_t i = 1; i < n; i++) {
    hb_error_clear(&jobs[i]->err);
    hb_error_set(&jobs[i]->err, jobs[0]->err.code, "%s",
                 jobs[0]->err.message != NULL ? jobs[0]->err.message : "");
  }
}

/* Runs one call for the jobs (one, or a group's members) on this worker's connection,
 * reconnecting and retrying as the first job allows (a group's members share its rule). */
static void run_job(worker *w, pool_job **jobs, size_t n) {
  pool *p = w->pool;
  pool_job *job = jobs[0];
  if (w->conn != NULL && w->generation != w->want_generation) {
    drop_connection(w, LOG_LVL_INFO, "the gateway settings changed (reload)");
  } else if (w->conn != NULL && clock_now_ms() - w->last_used_ms >= w->idle_refresh_ms) {
    /* The gateway drops sockets idle for 60 s without telling us: do not find out mid-call. */
    drop_connection(w, LOG_LVL_INFO, "idle refresh");
    p->counters.refreshes++;
  } else if (w->conn != NULL && hbc_peer_closed(w->conn)) {
    /* Closed before we sent anything (a gateway restart, or an idle timeout shorter than
     * idle_refresh_ms): reconnect now rather than lose a write to it. */
    drop_connection(w, LOG_LVL_INFO, "the gateway had closed it");
  }
  for (;;) {
    bool fresh = w->conn == NULL;
    if (fresh && connect_worker(w, &job->err) < 0) {
      char *msg = job->err.message;
      job->err.message = NULL;
      hb_error_set(&job->err, HB_ERR_UNAVAILABLE, "gateway %s (%s:%d) is unavailable: %s", p->name,
                   w->host, w->gateway.port, msg != NULL ? msg : "");
      free(msg);
      share_error(jobs, n);
      return;
    }
    int rc = work(w, jobs, n);
    w->last_used_ms = clock_now_ms();
    if (rc < 0)
      share_error(jobs, n);
    if (rc == 0 || job->err.code != HB_ERR_TRANSPORT)
      p->broken_fresh = 0; /* the gateway answered */
    if (rc == 0 || !hb_error_breaks_connection(job->err.code))
      return;
    if (job->err.code == HB_ERR_TIMEOUT) /* a gateway that stopped answering: take it out */
      mark_down(p, job->err.message != NULL ? job->err.message : "a call timed out");
    else if (fresh && job->err.code == HB_ERR_TRANSPORT)
      count_broken_fresh(p, job->err.message);
    bool stale = !fresh && job->err.code == HB_ERR_TRANSPORT;
    drop_connection(w, LOG_LVL_WARNING, job->err.message != NULL ? job->err.message : "error");
    if (!stale || job->retry != POOL_RETRY_ON_STALE || job->retries > 0)
      return;
    /* A pooled connection was dead before the call reached HBase: safe for reads only. */
    for (size_t i = 0; i < n; i++) {
      jobs[i]->retries++;
      hb_error_clear(&jobs[i]->err);
    }
    p->counters.retries++;
  }
}

/* At most this many queued jobs are looked at for a call, and this many of one client's for its
 * turn, so that long queues do not hold the loop long. */
#define GATHER_SCAN_LIMIT 512
#define TAKE_LOOK_LIMIT 4096
#define OWNER_LOOK_LIMIT 32

/* ---------------------------------------------------------------------------------------------
 * Order keys. */

uint64_t pool_order_key(const void *a, size_t alen, const void *b, size_t blen) {
  /* FNV-1a over a, a separator and b: a collision only holds a job back a little. */
  uint64_t h = 1469598103934665603ULL;
  const unsigned char *parts[] = {a, (const unsigned char *)"", b};
  size_t lens[] = {alen, 1, blen};
  for (int i = 0; i < 3; i++)
    for (size_t j = 0; j < lens[i]; j++) {
      h ^= parts[i][j];
      h *= 1099511628211ULL;
    }
  return h != 0 ? h : 1;
}

/* ---------------------------------------------------------------------------------------------
 * Taking jobs for a call. */

/* Whether a waiting job may start now. A job may not start while an earlier job of its order key
 * is at the gateway or still queued; a scan may not while max_scans are at the gateway; a held
 * read may not until it is released. */
static bool may_start(pool *p, const pool_job *j) {
  if (j->queued_by->reads_held && is_read(j))
    return false; /* the release wakes the workers */
  bool may = (!j->scans || p->nscans < p->opts.max_scans) &&
    (j->keyed == NULL || (j->keyed->running == 0 && TAILQ_FIRST(&j->keyed->jobs) == j));
  p->holding |= !may;
  return may;
}

/* Adds j to the worker's call; its client holds one more connection, once per call. */
static void start(pool *p, worker *w, pool_job *j) {
  pool_owner *o = j->queued_by;
  if (o->stamp != p->stamp) {
    o->stamp = p->stamp;
    o->calls++;
  }
  if (j->keyed != NULL)
    j->keyed->running++;
  unqueue(p, j);
  j->queued_by = o; /* kept while it runs: release below uncounts it */
  w->members[w->nmembers++] = j;
}

/* The later jobs of g, from any client, that join the call of w's members, oldest first within
 * each client, while their weights sum to at most most. Clients are looked at from the back of
 * the ring, the client just served first: those at the front are the ones that waited longest,
 * often for what cannot start yet (scans over max_scan_connections). Looking there first spent
 * the look limit on them, and gets queued behind 500 such clients stopped sharing calls. */
static void gather(worker *w, const pool_group *g, size_t most) {
  pool *p = w->pool;
  size_t rows = g->weight(w->members[0]);
  int looked = 0;
  pool_owner *o, *next_owner;
  for (o = TAILQ_LAST(&p->ring, owner_list); o != NULL && rows < most; o = next_owner) {
    next_owner = TAILQ_PREV(o, owner_list, ring_link);
    pool_job *j, *next;
    for (j = TAILQ_FIRST(&o->jobs); j != NULL && rows < most; j = next) {
      next = TAILQ_NEXT(j, link);
      if (++looked > GATHER_SCAN_LIMIT)
        return;
      if (j->group != g || !may_start(p, j))
        continue;
      size_t weight = g->weight(j);
      if (rows + weight > most || !g->joins(w->members, w->nmembers, j))
        continue;
      rows += weight;
      start(p, w, j);
    }
  }
}

/* Takes the next job that may start now, from the first client in the ring whose turn it can
 * take (fewer than max_share connections held; the daemon's own jobs have no share), and the
 * jobs of its group that may share its call; that client goes to the back of the ring. Scans
 * always go alone. Returns how many are in w->members: 0 when every job looked at must wait. */
static size_t take(worker *w) {
  pool *p = w->pool;
  size_t most = (size_t)(p->opts.coalesce ? p->opts.coalesce_max_rows : 1);
  if (w->cap < most + 1) {
    w->members = xrealloc(w->members, (most + 1) * sizeof *w->members);
    w->cap = most + 1;
  }
  w->nmembers = 0;
  p->stamp++;
  int looked = 0;
  for (pool_owner *o = TAILQ_FIRST(&p->ring); o != NULL; o = TAILQ_NEXT(o, ring_link)) {
    if (o->id != 0 && o->calls >= p->opts.max_share) {
      p->holding = true;
      continue;
    }
    pool_job *j;
    int mine = 0;
    TAILQ_FOREACH(j, &o->jobs, link) {
      if (++looked > TAKE_LOOK_LIMIT)
        return 0;
      if (may_start(p, j) || ++mine == OWNER_LOOK_LIMIT)
        break;
    }
    if (j == NULL || mine == OWNER_LOOK_LIMIT)
      continue;
    start(p, w, j);
    if (o->in_ring) {
      TAILQ_REMOVE(&p->ring, o, ring_link);
      TAILQ_INSERT_TAIL(&p->ring, o, ring_link);
    }
    if (p->opts.coalesce && j->group != NULL)
      gather(w, j->group, most);
    return w->nmembers;
  }
  return 0;
}

/* After the call: each client it carried jobs of holds one connection less, and the jobs' keys
 * let the next of theirs start. */
static void release(pool *p, pool_job **jobs, size_t n) {
  p->stamp++;
  for (size_t i = 0; i < n; i++) {
    pool_owner *o = jobs[i]->queued_by;
    if (o->stamp == p->stamp) {
      jobs[i]->queued_by = NULL; /* counted for an earlier member */
      continue;
    }
    o->stamp = p->stamp;
    o->calls--;
  }
  for (size_t i = 0; i < n; i++) {
    pool_owner *o = jobs[i]->queued_by;
    jobs[i]->queued_by = NULL;
    if (jobs[i]->keyed != NULL)
      jobs[i]->keyed->running--;
    key_release(p, jobs[i]);
    if (o != NULL)
      owner_release(p, o);
  }
}

/* Counts one gateway call of n jobs. */
static void count_call(pool *p, size_t n) {
  if (n > 1)
    p->counters.coalesced_jobs += n;
  int i = 0;
  while (i < POOL_CALL_SIZES - 1 && (size_t)pool_call_size_bound(i) < n)
    i++;
  p->counters.calls_by_size[i]++;
}

int pool_call_size_bound(int i) {
  return i < POOL_CALL_SIZES - 1 ? 1 << i : -1;
}

uint64_t pool_stats_calls(const pool_stats *s) {
  uint64_t n = 0;
  for (int i = 0; i < POOL_CALL_SIZES; i++)
    n += s->calls_by_size[i];
  return n;
}

uint64_t pool_stats_coalesced_calls(const pool_stats *s) {
  return pool_stats_calls(s) - s->calls_by_size[0];
}

/* Copies what a job needs of the pool's settings, once per change of them: a reload may
 * change the pool's while a call is under way. */
static void snapshot(worker *w) {
  pool *p = w->pool;
  if (w->host != NULL && w->settings_seen == p->settings_version)
    return;
  w->settings_seen = p->settings_version;
  free(w->host);
  free(w->http_path);
  w->host = xstrdup(p->host);
  w->http_path = xstrdup(p->http_path);
  w->gateway = p->opts.gateway;
  w->gateway.host = w->host;
  w->gateway.http_path = w->http_path;
  w->idle_refresh_ms = p->opts.idle_refresh_ms;
  w->want_generation = p->generation;
}

/* While the gateway is down, one worker at a time checks it when the backoff allows: it is up
 * once it answers a call that only the gateway serves (closing scanner -1, which it does not
 * have), within connect_timeout_ms. A connection alone proves little: a paused gateway's kernel
 * still accepts them. */
static void probe(worker *w) {
  pool *p = w->pool;
  snapshot(w);
  p->probing = true;
  if (w->conn != NULL) /* made before the gateway went down: no proof it is back */
    drop_connection(w, LOG_LVL_INFO, "gateway was down");
  hbc_options o = w->gateway;
  o.call_timeout_ms = o.connect_timeout_ms;
  hb_error err = HB_ERROR_INIT;
  hbc_conn *conn = hbc_connect(&o, &err);
  if (conn != NULL && hbc_scanner_close(conn, -1, &err) < 0 &&
      hb_error_breaks_connection(err.code)) {
    hbc_close(conn);
    conn = NULL;
  }
  if (!task_is_cancelled(w->task)) {
    if (conn == NULL) {
      mark_down(p, err.message != NULL ? err.message : "no answer");
    } else {
      p->broken_fresh = 0; /* it answered a call */
      mark_up(p);
    }
  }
  hbc_close(conn);
  hb_error_clear(&err);
  p->probing = false;
}

/* Runs one call for the jobs taken, then queues their completions. */
static void serve(worker *w, size_t n) {
  pool *p = w->pool;
  w->busy = true;
  p->nbusy++;
  int scans = 0; /* scans never share a call, but count each as one anyway */
  for (size_t i = 0; i < n; i++)
    scans += w->members[i]->scans;
  p->nscans += scans;
  snapshot(w);
  run_job(w, w->members, n);
  w->busy = false;
  p->nbusy--;
  p->nscans -= scans;
  release(p, w->members, n);
  count_call(p, n);
  for (size_t i = 0; i < n; i++)
    finish(p, w->members[i]);
  w->nmembers = 0;
  if (p->holding) { /* a job held back behind this call may start now */
    p->holding = false;
    wake_all(p);
  }
}

static void worker_main(void *arg) {
  worker *w = arg;
  pool *p = w->pool;
  hb_error err = HB_ERROR_INIT;
  snapshot(w);
  if (!p->opts.lazy_connect)
    connect_worker(w, &err);
  hb_error_clear(&err);
  while (!p->stopping && !w->retiring) {
    if (!p->gateway_up && !p->probing && clock_now_ms() >= p->next_attempt_ms) {
      probe(w);
      continue;
    }
    if (!p->gateway_up || p->waiting == 0) {
      /* Woken by a submit, or when the gateway's state changes (a probe ends). */
      park(w, p->gateway_up || p->probing ? TASK_NO_DEADLINE : p->next_attempt_ms);
      continue;
    }
    size_t n = take(w);
    if (n == 0) { /* all held back: the end of a call, a submit or a release wakes us */
      park(w, TASK_NO_DEADLINE);
      continue;
    }
    serve(w, n);
    /* Its replies reach their clients before the next take: one past its client's
     * client_reply_window_bytes holds that client's next reads now, not after another call. */
    task_yield();
  }
  if (w->retiring && !p->stopping && w->conn != NULL)
    drop_connection(w, LOG_LVL_INFO,
                    p->retired ? "the gateway was removed (reload)" : "the pool shrank (reload)");
}

static int add_worker(pool *p, hb_error *err) {
  worker *w = xcalloc(1, sizeof *w);
  w->pool = p;
  w->task = task_new(p->base, worker_main, w, err);
  if (w->task == NULL) {
    free(w);
    return -1;
  }
  p->workers = xrealloc(p->workers, (size_t)(p->nworkers + 1) * sizeof *p->workers);
  p->workers[p->nworkers++] = w;
  return 0;
}

/* Only once its task has finished. */
static void worker_free(worker *w) {
  task_free(w->task);
  hbc_close(w->conn);
  free(w->host);
  free(w->http_path);
  free(w->members);
  free(w);
}

/* ---------------------------------------------------------------------------------------------
 * The loop thread's side. */

pool *pool_new(struct event_base *base, const pool_options *opts, hb_error *err) {
  if (opts->size < 1)
    return hb_error_set(err, HB_ERR_INVALID, "pool size must be at least 1"), NULL;
  pool *p = xcalloc(1, sizeof *p);
  p->opts = *opts;
  p->name = xstrdup(opts->name != NULL ? opts->name : "main");
  p->host = xstrdup(opts->gateway.host);
  p->http_path = xstrdup(opts->gateway.http_path != NULL ? opts->gateway.http_path : "/");
  p->opts.name = p->name;
  p->opts.gateway.host = p->host;
  p->opts.gateway.http_path = p->http_path;
  p->base = base;
  p->completion_ev = event_new(base, -1, 0, run_completions, p);
  p->owners = idmap_new();
  p->keys = idmap_new();
  TAILQ_INIT(&p->ring);
  TAILQ_INIT(&p->all);
  TAILQ_INIT(&p->done);
  TAILQ_INIT(&p->idle);
  /* Optimistic until a connection attempt says otherwise, so the first requests are tried. */
  p->gateway_up = true;
  p->backoff_ms = opts->reconnect_min_ms;
  hbc_init();
  for (int i = 0; i < opts->size; i++) {
    if (add_worker(p, err) < 0) {
      pool_free(p);
      return NULL;
    }
  }
  return p;
}

void pool_free(pool *p) {
  if (p == NULL)
    return;
  p->stopping = true;
  /* A worker mid-call fails its call at once (its waits end cancelled); the others leave. */
  for (int i = 0; i < p->nworkers; i++)
    task_cancel(p->workers[i]->task);
  for (int i = 0; i < p->nworkers; i++)
    worker_free(p->workers[i]);
  fail_queue(p, HB_ERR_UNAVAILABLE, "the daemon is shutting down");
  run_completions(-1, 0, p);
  pool_owner *o;
  while ((o = TAILQ_FIRST(&p->all)) != NULL) { /* held ones, with nothing queued */
    TAILQ_REMOVE(&p->all, o, all_link);
    free(o);
  }
  idmap_free(p->owners);
  idmap_free(p->keys);
  event_free(p->completion_ev);
  free(p->down_reason);
  free(p->workers);
  free(p->name);
  free(p->host);
  free(p->http_path);
  free(p);
}

int pool_submit(pool *p, pool_job *job, hb_error *err) {
  assert(p != NULL && job != NULL && job->work != NULL && job->done != NULL);
  hb_error_clear(&job->err);
  job->retries = 0;
  job->deadline_ms = clock_now_ms() + p->opts.queue_timeout_ms;
  if (p->stopping)
    return hb_error_set(err, HB_ERR_UNAVAILABLE, "the daemon is shutting down");
  if (p->retired)
    return hb_error_set(err, HB_ERR_UNAVAILABLE, "gateway %s was removed by a reload", p->name);
  if (!p->gateway_up)
    return hb_error_set(err, HB_ERR_UNAVAILABLE, "gateway %s (%s:%d) is unavailable: %s", p->name,
                        p->host, p->opts.gateway.port, p->down_reason ? p->down_reason : "down");
  if (p->waiting >= p->opts.max_queue)
    return hb_error_set(err, HB_ERR_OVERLOADED,
                        "the queue of requests waiting for a connection to gateway %s is full "
                        "(max_queue %d)",
                        p->name, p->opts.max_queue);
  enqueue(p, job);
  wake_one(p);
  return 0;
}

/* Frees the workers that retired and have finished. */
static void reap(pool *p) {
  int kept = 0;
  for (int i = 0; i < p->nworkers; i++) {
    worker *w = p->workers[i];
    if (w->retiring && task_finished(w->task))
      worker_free(w);
    else
      p->workers[kept++] = w;
  }
  p->nworkers = kept;
}

/* A held read does not expire: its client is not reading, and a reply no one reads may wait. */
static bool is_overdue(const pool_job *job, void *now) {
  return job->deadline_ms <= *(const int64_t *)now && !(job->queued_by->reads_held && is_read(job));
}

void pool_expire(pool *p) {
  int64_t now = clock_now_ms();
  reap(p);
  char why[160];
  snprintf(why, sizeof why, "no connection to gateway %s became free within %d ms", p->name,
           p->opts.queue_timeout_ms);
  fail_queued(p, is_overdue, &now, HB_ERR_QUEUE_TIMEOUT, why);
}

void pool_client_gone(pool *p, uint64_t owner) {
  pool_owner *o = idmap_get(p->owners, owner);
  pool_job *job, *next;
  /* Only its own queue: a client leaving does not walk everyone's. unqueue may free o with its
   * last job (when not held): next is NULL then, and o is not looked at again. */
  for (job = o != NULL ? TAILQ_FIRST(&o->jobs) : NULL; job != NULL; job = next) {
    next = TAILQ_NEXT(job, link);
    if (is_read(job))
      fail_one(p, job, HB_ERR_CANCELLED, "its client left before it was sent");
  }
  pool_hold_reads(p, owner, false);
}

void pool_hold_reads(pool *p, uint64_t owner, bool hold) {
  pool_owner *o = hold ? owner_of(p, owner) : idmap_get(p->owners, owner);
  if (o == NULL || o->reads_held == hold)
    return;
  o->reads_held = hold;
  owner_place(p, o);
  if (!hold) {
    int64_t deadline = clock_now_ms() + p->opts.queue_timeout_ms;
    pool_job *job;
    TAILQ_FOREACH(job, &o->jobs, link)
    if (is_read(job) && job->deadline_ms < deadline)
      job->deadline_ms = deadline;
    if (o->reads > 0)
      wake_all(p);
  }
  owner_release(p, o);
}

void pool_get_stats(pool *p, pool_stats *out) {
  *out = p->counters;
  out->size = p->opts.size;
  out->waiting = p->waiting;
  out->longest_client_queue = 0;
  const pool_owner *o;
  TAILQ_FOREACH(o, &p->all, all_link)
  if (o->waiting > out->longest_client_queue)
    out->longest_client_queue = o->waiting;
  out->gateway_up = p->gateway_up;
  out->busy = out->idle = out->broken = 0;
  for (int i = 0; i < p->nworkers; i++) {
    worker *w = p->workers[i];
    if (w->retiring)
      continue;
    if (w->busy)
      out->busy++;
    else if (w->conn == NULL)
      out->broken++;
    else
      out->idle++;
  }
}

bool pool_is_up(const pool *p) {
  return p->gateway_up && !p->retired && !p->stopping;
}

int pool_outstanding(const pool *p) {
  return p->nbusy + p->waiting;
}

int pool_size(const pool *p) {
  return p->opts.size;
}

void pool_address(const pool *p, char *out, size_t size) {
  snprintf(out, size, "%s:%d", p->host, p->opts.gateway.port);
}

void pool_retire(pool *p) {
  p->retired = true;
  fail_queue(p, HB_ERR_UNAVAILABLE, "the gateway was removed by a reload");
  for (int i = 0; i < p->nworkers; i++)
    p->workers[i]->retiring = true;
  wake_all(p);
}

bool pool_is_idle(pool *p) {
  reap(p);
  return p->retired && p->nworkers == 0 && p->waiting == 0 && TAILQ_EMPTY(&p->done);
}

static bool gateway_differs(const pool *p, const pool_options *o) {
  const hbc_options *a = &p->opts.gateway, *b = &o->gateway;
  const char *path = b->http_path != NULL ? b->http_path : "/";
  return strcmp(p->host, b->host) != 0 || a->port != b->port || a->framed != b->framed ||
    a->http != b->http || strcmp(p->http_path, path) != 0 || a->protocol != b->protocol ||
    a->connect_timeout_ms != b->connect_timeout_ms || a->call_timeout_ms != b->call_timeout_ms ||
    a->max_message_size != b->max_message_size;
}

bool pool_reconfigure(pool *p, const pool_options *opts) {
  p->settings_version++;
  bool moved = strcmp(p->host, opts->gateway.host) != 0 ||
    p->opts.gateway.port != opts->gateway.port;
  if (gateway_differs(p, opts)) {
    /* Every connection is replaced before its next call; a new gateway is tried at once. */
    p->generation++;
    free(p->host);
    p->host = xstrdup(opts->gateway.host);
    free(p->http_path);
    p->http_path = xstrdup(opts->gateway.http_path != NULL ? opts->gateway.http_path : "/");
    p->gateway_up = true;
    p->next_attempt_ms = 0;
  }
  const char *name = p->opts.name;
  p->opts = *opts;
  p->opts.name = name;
  p->opts.gateway.host = p->host;
  p->opts.gateway.http_path = p->http_path;
  int active = 0;
  for (int i = 0; i < p->nworkers; i++)
    active += !p->workers[i]->retiring;
  for (int i = p->nworkers - 1; i >= 0 && active > opts->size; i--) {
    if (!p->workers[i]->retiring) {
      p->workers[i]->retiring = true;
      active--;
    }
  }
  hb_error err = HB_ERROR_INIT;
  for (; active < opts->size; active++) {
    if (add_worker(p, &err) < 0) {
      log_error("gateway %s: cannot grow the pool: %s", p->name, err.message);
      hb_error_clear(&err);
      break;
    }
  }
  wake_all(p); /* retiring workers leave; the others take the new settings */
  return moved;
}
