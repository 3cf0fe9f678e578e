/* pool: one gateway's connections: a worker per connection, a task on the loop thread (task.h),
 * runs queued jobs on it; the jobs' calls wait for the gateway without holding the loop. */
#ifndef HBPOOL_POOL_H
#define HBPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "error.h"
#include "hbase_client.h"

struct event_base;

typedef struct pool_options {
  const char *name;     /* the gateway's name, for logs and stats */
  hbc_options gateway;  /* where and how to connect; call_timeout_ms bounds each call */
  int size;             /* connections (and workers) */
  bool lazy_connect;    /* false: connect all at start */
  int queue_timeout_ms; /* a job waiting longer for a connection fails */
  int max_queue;        /* jobs waiting at most; more are refused */
  int idle_refresh_ms;  /* reconnect a connection idle this long before using it */
  int reconnect_min_ms; /* backoff between connection attempts while the gateway is down */
  int reconnect_max_ms;
  bool coalesce;         /* queued jobs of one group may share a gateway call */
  int coalesce_max_rows; /* the most rows (weight) one shared call carries */
  int max_scans;         /* connections that serve scan jobs at once (1..size) */
  int max_share;         /* connections one client's jobs may hold at once (1..size) */
} pool_options;

typedef struct pool pool;
typedef struct pool_job pool_job;

/* Runs in a worker's task with a usable connection; returns 0, or -1 with job->err set. Its
 * gateway calls yield to the loop while they wait; nothing else in it may block. */
typedef int (*pool_work_fn)(hbc_conn *conn, pool_job *job);
/* Runs on the loop thread once the job has succeeded or failed (job->err says which). */
typedef void (*pool_done_fn)(pool_job *job);

/* Jobs that may go to the gateway as one call. A worker that takes a job of a group also takes
 * the queued jobs of the same group that join it, oldest first, while their weights sum to at
 * most coalesce_max_rows; nothing waits for company. joins, weight and work run in a worker's
 * task (joins and weight for every queued job looked at: keep them short). */
typedef struct pool_group {
  /* Whether later may share the call of the members taken so far. */
  bool (*joins)(pool_job *const *members, size_t n, const pool_job *later);
  /* The rows the job adds to a shared call. */
  size_t (*weight)(const pool_job *job);
  /* Makes the one call for n > 1 members: 0, or -1 with members[0]'s err set, which the pool
   * gives every member (a member may also fail alone, its own way, without a -1). */
  int (*work)(hbc_conn *conn, pool_job **members, size_t n);
} pool_group;

typedef enum pool_retry {
  POOL_RETRY_NEVER,    /* writes: a call that reached the gateway is never sent twice */
  POOL_RETRY_ON_STALE, /* reads: once more on a fresh connection if a pooled one was dead */
} pool_retry;

struct pool_job {
  pool_work_fn work;
  pool_done_fn done;
  void *ctx; /* the submitter's */
  pool_retry retry;
  const pool_group *group; /* NULL: always a call of its own */
  /* Nonzero: jobs with the same key (writes of one row) start in the order they were queued,
   * never at once and never in one shared call: a later one waits for the earlier's call. */
  uint64_t order_key;
  /* Reads a scan page: at most max_scans of them are at the gateway at once, so that a flood of
   * scans leaves the other connections to single-row work. */
  bool scans;
  /* The client connection that sent it (0: the daemon's own). Waiting jobs start round robin
   * across clients, oldest first within each, and one client's jobs hold at most max_share
   * connections at once (the daemon's own are not limited). */
  uint64_t owner;
  hb_error err; /* HB_OK, or why the job failed */
  int retries;  /* how often it was retried (0 or 1) */
  /* The cluster's (cluster.h), which routes jobs between pools; a pool leaves it alone. */
  struct {
    uint32_t prefer;   /* the submitter's: a gateway id to run on while it is up (0: any) */
    uint32_t ran_on;   /* the gateway id it was last given to */
    uint64_t tried;    /* the gateways it was given to, a bit per id */
    bool resent;       /* sent again after it may have reached a gateway (reads only) */
    pool_done_fn done; /* the submitter's */
    struct cluster *cluster;
  } route;
  /* private to the pool */
  int64_t deadline_ms;
  struct pool_owner *queued_by; /* its client's queue, while it waits */
  struct pool_key *keyed;       /* the jobs of its order key, while it waits or runs */
  TAILQ_ENTRY(pool_job) link, key_link;
};

/* Calls by the jobs they carried: 1, 2, 3-4, 5-8, ... 129-256, more. */
#define POOL_CALL_SIZES 10

typedef struct pool_stats {
  int size, busy, idle, broken; /* broken: workers without a connection */
  int waiting;                  /* jobs queued for a connection */
  int longest_client_queue;     /* the most jobs one client has queued */
  bool gateway_up;
  uint64_t jobs, failed, reconnects, retries, refreshes;
  uint64_t calls_by_size[POOL_CALL_SIZES]; /* gateway calls made for jobs, by jobs carried */
  uint64_t coalesced_jobs;                 /* the jobs that shared calls carried */
} pool_stats;

/* The most jobs calls_by_size[i] counts per call. */
int pool_call_size_bound(int i);
/* Gateway calls made for jobs (a shared one counts once), and those that carried several. */
uint64_t pool_stats_calls(const pool_stats *s);
uint64_t pool_stats_coalesced_calls(const pool_stats *s);

/* An order key for a job from the bytes that name what it orders on (never 0). */
uint64_t pool_order_key(const void *a, size_t alen, const void *b, size_t blen);

/* The workers start in a later pass of base's loop. */
pool *pool_new(struct event_base *base, const pool_options *opts, hb_error *err);
/* Stops the workers: a call under way fails at once (as cut off: it may have reached the
 * gateway); queued jobs fail as not sent. Every done runs before it returns. Loop stack only. */
void pool_free(pool *p);

/* Queues a job (loop thread). Returns -1 with err set, without calling done, when the gateway is
 * known to be down or the queue is full: nothing was sent. */
int pool_submit(pool *p, pool_job *job, hb_error *err);
/* A reload: new settings for the jobs that follow. The pool grows or shrinks to opts->size
 * (a retiring worker finishes its job first); changed gateway settings (host, port, transport,
 * protocol, timeouts) apply as each connection is replaced before its next call. opts->name is
 * ignored: a pool keeps its gateway's name. True when the host or port changed: another gateway. */
bool pool_reconfigure(pool *p, const pool_options *opts);
/* Fails queued jobs whose wait passed queue_timeout_ms, and frees retired workers; the daemon's
 * janitor calls it. */
void pool_expire(pool *p);
/* owner's connection is gone: its queued reads fail as cancelled (HB_ERR_CANCELLED; they were
 * never sent, and no one is left to read their replies) and its hold is released. Its writes
 * still go: a client may send writes and leave without waiting for them. */
void pool_client_gone(pool *p, uint64_t owner);
/* While hold is true, none of owner's reads (POOL_RETRY_ON_STALE) start, queued or to come, nor
 * do they expire: its replies go unread, so what they would fetch would only wait in memory.
 * Its writes go on. Released, the held reads get a fresh queue_timeout_ms. */
void pool_hold_reads(pool *p, uint64_t owner, bool hold);
void pool_get_stats(pool *p, pool_stats *out);
/* The gateway is not known to be down, and the pool takes jobs. */
bool pool_is_up(const pool *p);
/* Jobs at the gateway or queued for it, and the connections (pool size) they share. */
int pool_outstanding(const pool *p);
int pool_size(const pool *p);
/* "host:port" of the gateway, into out. */
void pool_address(const pool *p, char *out, size_t size);
/* The gateway was removed (reload): the pool takes no more jobs, fails those queued as not sent
 * (HB_ERR_UNAVAILABLE), and its workers leave once their calls under way are over. */
void pool_retire(pool *p);
/* Retired, and nothing left running or to report: pool_free may go now. */
bool pool_is_idle(pool *p);

#endif
