/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run in a pooled connection's task on the loop, and a large reply is rendered on
 * the helper thread. */
#ifndef HBPOOL_API_H
#define HBPOOL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "config.h"
#include "protocol.h"

typedef struct api api;

/* Receives the reply line of one request (malloc'd, the callee frees it), or NULL for a
 * notification. Called exactly once per api_call, on the loop thread, possibly before api_call
 * returns. */
typedef void (*api_reply_fn)(void *owner, char *line);
/* Adds the daemon's own figures (clients, ...) to the stats result. */
typedef void (*api_stats_fn)(void *arg, json_t *stats);

api *api_new(cluster *gateways, const config *cfg, api_stats_fn stats, void *stats_arg);
void api_free(api *a);
/* Who sent a request: its client connection, and the [access] rule that applies to the client
 * (NULL: no [access] section, anything goes). */
typedef struct api_caller {
  uint64_t client_id;
  const config_access_rule *rule;
} api_caller;

/* Runs one request object (steals msg). Returns false if the caller's rule forbade it (the
 * reply says so), for the client's log; true otherwise, however the request ended. */
bool api_call(api *a, json_t *msg, const api_caller *who, api_reply_fn reply, void *owner);
/* The client connection has gone: its reads still queued are dropped unsent (their replies
 * would be read by no one), and its scanners closed. */
void api_client_closed(api *a, uint64_t client_id);
/* The client's unsent replies passed client_reply_window_bytes (hold) or fell back under half of
 * it: its reads wait meanwhile (pool_hold_reads). */
void api_client_hold_reads(api *a, uint64_t client_id, bool hold);
/* Closes scanners idle longer than scanner_idle_timeout_ms; the janitor calls it. */
void api_expire(api *a);
/* The daemon is stopping: closes every scanner on the gateway (as calls in flight). */
void api_close_scanners(api *a);
/* A reload: table_prefix, table_prefix_separator, scan_max_rows and scanner_idle_timeout_ms
 * apply to the requests that follow. */
void api_reconfigure(api *a, const config *cfg);
/* Requests being run now. */
int api_in_flight(const api *a);

/* ---- Counters (loop thread), for stats and the metrics endpoint ---- */

/* A call's time, from api_call to its reply, is counted in the first bucket whose bound it does
 * not exceed, or in the last one, past every bound: 0.1 ms to 10 s. */
#define API_LATENCY_BOUNDS 16
extern const int64_t api_latency_bounds_ns[API_LATENCY_BOUNDS];

/* Error codes as counter indexes: the five JSON-RPC ones, then hbpool's -32001, -32002, ...
 * (room for codes added later); api_code_at is the inverse of api_code_index. */
#define API_NCODES 32
int api_code_index(proto_code code);
proto_code api_code_at(int index);

typedef struct api_method_stats {
  uint64_t calls, errors;
  uint64_t errors_by_code[API_NCODES];
  uint64_t latency[API_LATENCY_BOUNDS + 1]; /* calls per bucket, not cumulative */
  uint64_t latency_sum_ns;
} api_method_stats;

/* A view of the counters, valid while the loop thread does nothing else. */
typedef struct api_counters {
  size_t nmethods;
  const char *const *names; /* of the methods, in stats' order */
  const api_method_stats *methods;
  const uint64_t *refused; /* [API_NCODES]: requests answered before any method ran */
  int in_flight, scanners_open;
  int scanners_kept;     /* by scan pages, for the call that continues them */
  uint64_t scan_resumes; /* scan pages read from a kept scanner */
  uint64_t scanners_reopened;
  uint64_t scanner_read_aheads;
} api_counters;

void api_get_counters(const api *a, api_counters *out);
/* A request the client module answered itself, before api_call (a line that is not JSON or too
 * long, a request over the client's in-flight limit): counted with api_call's own refusals. */
void api_count_refused(api *a, proto_code code);

#endif
