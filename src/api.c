/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run in a pooled connection's task, which yields to the loop while it waits, and a
 * large reply is rendered on the helper thread. The methods live in one module per concern
 * (admin, reads, writes, scan, scanner, batch); this file finds them, answers the daemon's own
 * (ping, version, stats), lends every call its call_env and counts every call. */
#include "api.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "cluster.h"
#include "scanner.h"
#include "xmalloc.h"

struct api {
  call_env env; /* lent to every call */
  char *prefix; /* env.prefix's memory */
  api_stats_fn stats;
  void *stats_arg;
  const method **methods;     /* every module's, in one list */
  const char **names;         /* theirs, for api_get_counters */
  api_method_stats *counters; /* one per entry of methods */
  size_t nmethods;
  uint64_t refused[API_NCODES]; /* requests answered before any method ran, by code */
  int scanner_idle_timeout_ms;
};

/* ping, version and stats need no gateway: no run. Indexed, so that answer_locally tells them
 * apart by entry, whatever the order. */
enum { DAEMON_PING, DAEMON_VERSION, DAEMON_STATS, DAEMON_END };
static const char *const NO_PARAMS[] = {NULL};
static const method daemon_methods[] = {
  [DAEMON_PING] = {"ping", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL, NULL, METHOD_READS,
                   false},
  [DAEMON_VERSION] = {"version", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL, NULL, METHOD_READS,
                      false},
  [DAEMON_STATS] = {"stats", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL, NULL, METHOD_READS,
                    false},
  [DAEMON_END] = {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};

static const method *const MODULES[] = {daemon_methods, admin_methods, read_methods,
                                        write_methods,  scan_methods,  scanner_methods,
                                        batch_methods};
#define NMODULES (sizeof MODULES / sizeof MODULES[0])

/* 1-2.5-5 steps, as Prometheus' default buckets; HBase calls take from a fraction of a millisecond
 * (a cached row) to seconds (a region moving). */
const int64_t api_latency_bounds_ns[API_LATENCY_BOUNDS] = {
  100000,        250000,       500000,       /* 0.1 ms */
  1000000,       2500000,      5000000,      /* 1 ms */
  10000000,      25000000,     50000000,     /* 10 ms */
  100000000,     250000000,    500000000,    /* 100 ms */
  1000000000,    2500000000LL, 5000000000LL, /* 1 s */
  10000000000LL,
};

/* The JSON-RPC codes hbpool uses; its own follow from index NJSONRPC_CODES on. */
static const proto_code JSONRPC_CODES[] = {PROTO_PARSE_ERROR, PROTO_INVALID_REQUEST,
                                           PROTO_METHOD_NOT_FOUND, PROTO_INVALID_PARAMS,
                                           PROTO_INTERNAL_ERROR};
#define NJSONRPC_CODES (int)(sizeof JSONRPC_CODES / sizeof JSONRPC_CODES[0])
#define FIRST_SERVER_CODE (-32001)

/* A code outside both ranges cannot be named: it is counted as the internal error it is. */
int api_code_index(proto_code code) {
  for (int i = 0; i < NJSONRPC_CODES; i++)
    if (JSONRPC_CODES[i] == code)
      return i;
  int server = FIRST_SERVER_CODE - (int)code;
  if (server >= 0 && server < API_NCODES - NJSONRPC_CODES)
    return NJSONRPC_CODES + server;
  return api_code_index(PROTO_INTERNAL_ERROR);
}

proto_code api_code_at(int index) {
  if (index < NJSONRPC_CODES)
    return JSONRPC_CODES[index];
  return (proto_code)(FIRST_SERVER_CODE - (index - NJSONRPC_CODES));
}

/* Every method in one list, in the modules' order (stats lists them so). */
static void collect_methods(api *a) {
  for (size_t i = 0; i < NMODULES; i++)
    for (const method *m = MODULES[i]; m->name != NULL; m++)
      a->nmethods++;
  a->methods = xcalloc(a->nmethods, sizeof *a->methods);
  a->names = xcalloc(a->nmethods, sizeof *a->names);
  a->counters = xcalloc(a->nmethods, sizeof *a->counters);
  size_t n = 0;
  for (size_t i = 0; i < NMODULES; i++)
    for (const method *m = MODULES[i]; m->name != NULL; m++) {
      a->names[n] = m->name;
      a->methods[n++] = m;
    }
}

/* The index of a method in a->methods, or -1. */
static int find_method(const api *a, const char *name) {
  for (size_t i = 0; i < a->nmethods; i++)
    if (strcmp(a->methods[i]->name, name) == 0)
      return (int)i;
  return -1;
}

/* {code name: count} of the codes counted at least once. */
static json_t *codes_json(const uint64_t *counts) {
  json_t *out = json_object();
  for (int i = 0; i < API_NCODES; i++)
    if (counts[i] > 0)
      json_object_set_new(out, proto_code_name(api_code_at(i)),
                          json_integer((json_int_t)counts[i]));
  return out;
}

/* Gateway calls by the requests they carried: {"1": n, "2": n, "4": n, ..., "more": n}, each
 * key the most of its bucket. */
static json_t *calls_by_size_json(const pool_stats *ps) {
  json_t *out = json_object();
  for (int i = 0; i < POOL_CALL_SIZES; i++) {
    char key[16];
    int bound = pool_call_size_bound(i);
    if (bound > 0)
      snprintf(key, sizeof key, "%d", bound);
    else
      snprintf(key, sizeof key, "more");
    json_object_set_new(out, key, json_integer((json_int_t)ps->calls_by_size[i]));
  }
  return out;
}

/* A pool's figures: the connections, the queue, the gateway's state and the calls made. */
static json_t *pool_json(const pool_stats *ps) {
  json_t *out = json_pack("{s:i,s:i,s:i,s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "size",
                          ps->size, "busy", ps->busy, "idle", ps->idle, "broken", ps->broken,
                          "waiting", ps->waiting, "gateway_up", ps->gateway_up, "jobs",
                          (json_int_t)ps->jobs, "failed", (json_int_t)ps->failed, "reconnects",
                          (json_int_t)ps->reconnects, "retries", (json_int_t)ps->retries,
                          "refreshes", (json_int_t)ps->refreshes, "calls",
                          (json_int_t)pool_stats_calls(ps), "coalesced_calls",
                          (json_int_t)pool_stats_coalesced_calls(ps), "coalesced_requests",
                          (json_int_t)ps->coalesced_jobs, "requests_per_call",
                          calls_by_size_json(ps));
  assert(out != NULL);
  json_object_set_new(out, "longest_client_queue", json_integer(ps->longest_client_queue));
  return out;
}

/* "pool": every gateway's pool summed (gateway_up: at least one is up), and "moved": calls sent
 * to another gateway than the first; "gateways": each gateway's pool, by name. */
static void add_gateways(api *a, json_t *out) {
  const cluster *cl = a->env.cluster;
  pool_stats ps;
  cluster_get_total(cl, &ps);
  json_t *total = pool_json(&ps);
  json_object_set_new(total, "moved", json_integer((json_int_t)cluster_moves(cl)));
  json_object_set_new(out, "pool", total);
  json_t *gateways = json_object();
  for (size_t i = 0; i < cluster_size(cl); i++) {
    cluster_get_stats(cl, i, &ps);
    json_object_set_new(gateways, cluster_name(cl, i), pool_json(&ps));
  }
  json_object_set_new(out, "gateways", gateways);
}

static json_t *stats_json(api *a) {
  json_t *methods = json_object();
  for (size_t i = 0; i < a->nmethods; i++) {
    const api_method_stats *s = &a->counters[i];
    if (s->calls == 0)
      continue;
    json_object_set_new(methods, a->methods[i]->name,
                        json_pack("{s:I,s:I,s:o}", "calls", (json_int_t)s->calls, "errors",
                                  (json_int_t)s->errors, "error_codes",
                                  codes_json(s->errors_by_code)));
  }
  json_t *out = json_object();
  add_gateways(a, out);
  json_object_set_new(out, "in_flight", json_integer(a->env.in_flight));
  json_object_set_new(out, "methods", methods);
  json_object_set_new(out, "scanners", json_integer(scanner_count(a->env.scanners, false)));
  json_object_set_new(out, "scanners_kept", json_integer(scanner_count(a->env.scanners, true)));
  json_object_set_new(out, "scan_resumes",
                      json_integer((json_int_t)scanner_resumes(a->env.scanners)));
  json_object_set_new(out, "scanner_reopens",
                      json_integer((json_int_t)scanner_reopens(a->env.scanners)));
  json_object_set_new(out, "scanner_read_aheads",
                      json_integer((json_int_t)scanner_read_aheads(a->env.scanners)));
  json_object_set_new(out, "refused", codes_json(a->refused));
  if (a->stats != NULL)
    a->stats(a->stats_arg, out);
  return out;
}

/* A call of a known method: its outcome, by error code, and its time since api_call. */
static void count(call *k) {
  api_method_stats *s = k->counter;
  if (s == NULL)
    return;
  s->calls++;
  if (call_failed(k)) {
    s->errors++;
    /* Every failure sets k->err by now; internal_error is what a reply without one would say. */
    s->errors_by_code[api_code_index(k->err.code != 0 ? k->err.code : PROTO_INTERNAL_ERROR)]++;
  }
  int64_t took = call_now_ns() - k->started_ns;
  int b = 0;
  while (b < API_LATENCY_BOUNDS && took > api_latency_bounds_ns[b])
    b++;
  s->latency[b]++;
  s->latency_sum_ns += took > 0 ? (uint64_t)took : 0;
}

static void answer_locally(api *a, call *k) {
  json_t *result;
  if (k->m == &daemon_methods[DAEMON_PING])
    result = json_string("pong");
  else if (k->m == &daemon_methods[DAEMON_VERSION])
    result = json_pack("{s:s,s:s}", "version", PACKAGE_VERSION, "api", "hbase-thrift1");
  else
    result = stats_json(a);
  if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
  call_finish(k);
}

/* The caller's [access] rule lets it run the method at all (its tables are checked as prepare
 * reads them). Returns 0, or -1 with e set. */
static int check_access(const call *k, proto_error *e) {
  const config_access_rule *r = k->rule;
  if (r == NULL || r->verdict == CONFIG_ACCESS_ALLOW)
    return 0;
  if (r->verdict == CONFIG_ACCESS_DENY)
    return proto_fail(e, PROTO_FORBIDDEN, "forbidden: [access] denies this client (%s)", r->text);
  if (k->m->access != METHOD_READS)
    return proto_fail(e, PROTO_FORBIDDEN,
                      "forbidden: [access] lets this client read only, and %s is not a read (%s)",
                      k->m->name, r->text);
  return 0;
}

/* Checks the request and runs its method. Returns false if the caller's rule forbade it. */
static bool run_request(api *a, call *k) {
  int i = find_method(a, k->req.method);
  if (i < 0) {
    proto_fail(&k->err, PROTO_METHOD_NOT_FOUND, "method not found: \"%.60s\"", k->req.method);
    api_count_refused(a, k->err.code);
    call_finish(k);
    return true;
  }
  k->m = a->methods[i];
  k->counter = &a->counters[i];
  if (check_access(k, &k->err) < 0 || proto_check_params(&k->req, k->m->params, &k->err) < 0 ||
      (k->m->prepare != NULL && k->m->prepare(k, &k->err) < 0)) {
    bool forbidden = k->err.code == PROTO_FORBIDDEN;
    call_finish(k);
    return !forbidden;
  }
  k->rule = NULL; /* a reload may free it from here on */
  if (k->m->run == NULL)
    answer_locally(a, k);
  else
    call_start(k);
  return true;
}

bool api_call(api *a, json_t *msg, const api_caller *who, api_reply_fn reply, void *owner) {
  assert(a != NULL && msg != NULL && who != NULL && reply != NULL);
  call *k = xcalloc(1, sizeof *k);
  k->started_ns = call_now_ns();
  k->env = &a->env;
  k->client_id = who->client_id;
  k->rule = who->rule;
  if (who->rule != NULL && who->rule->tables != NULL)
    k->confine = xstrdup(who->rule->tables); /* run (tables) may outlive the rule: a reload */
  k->reply = reply;
  k->owner = owner;
  int rc = proto_request_init(&k->req, msg, &k->err);
  json_decref(msg);
  if (rc < 0) {
    /* JSON-RPC 2.0: an invalid request gets an error (with a null id if it has none usable);
     * a notification with bad params (its encoding) gets nothing, like any notification. */
    k->invalid = k->err.code == PROTO_INVALID_REQUEST;
    api_count_refused(a, k->err.code);
    call_finish(k);
    return true;
  }
  return run_request(a, k);
}

void api_client_closed(api *a, uint64_t client_id) {
  cluster_client_gone(a->env.cluster, client_id);
  scanner_client_closed(a->env.scanners, client_id);
}

void api_client_hold_reads(api *a, uint64_t client_id, bool hold) {
  cluster_hold_reads(a->env.cluster, client_id, hold);
}

void api_expire(api *a) {
  scanner_expire(a->env.scanners, a->scanner_idle_timeout_ms, a->env.scan_keep_open_ms);
}

void api_close_scanners(api *a) {
  scanner_close_all(a->env.scanners);
}

static char *make_prefix(const config *cfg) {
  const char *prefix = cfg->table_prefix != NULL ? cfg->table_prefix : "";
  if (*prefix == '\0')
    return xstrdup("");
  return xasprintf("%s%s", prefix, cfg->table_prefix_separator);
}

void api_reconfigure(api *a, const config *cfg) {
  char *prefix = make_prefix(cfg);
  if (prefix != NULL) {
    free(a->prefix);
    a->prefix = prefix;
    a->env.prefix = prefix;
  }
  a->env.scan_max_rows = cfg->scan_max_rows;
  a->env.max_cell_bytes = cfg->max_cell_bytes;
  a->env.scanner_read_ahead = cfg->scanner_read_ahead;
  a->env.scan_keep_open_ms = cfg->scan_keep_open_ms;
  a->scanner_idle_timeout_ms = cfg->scanner_idle_timeout_ms;
}

api *api_new(cluster *gateways, const config *cfg, api_stats_fn stats, void *stats_arg) {
  api *a = xcalloc(1, sizeof *a);
  a->env.cluster = gateways;
  a->env.prefix = "";
  a->env.scanners = scanner_set_new(&a->env);
  a->env.finished = count;
  api_reconfigure(a, cfg);
  a->stats = stats;
  a->stats_arg = stats_arg;
  collect_methods(a);
  return a;
}

void api_free(api *a) {
  if (a == NULL)
    return;
  scanner_set_free(a->env.scanners);
  free(a->prefix);
  free(a->methods);
  free(a->names);
  free(a->counters);
  free(a);
}

int api_in_flight(const api *a) {
  return a->env.in_flight;
}

void api_get_counters(const api *a, api_counters *out) {
  *out = (api_counters){
    .nmethods = a->nmethods,
    .names = a->names,
    .methods = a->counters,
    .refused = a->refused,
    .in_flight = a->env.in_flight,
    .scanners_open = scanner_count(a->env.scanners, false),
    .scanners_kept = scanner_count(a->env.scanners, true),
    .scan_resumes = scanner_resumes(a->env.scanners),
    .scanners_reopened = scanner_reopens(a->env.scanners),
    .scanner_read_aheads = scanner_read_aheads(a->env.scanners),
  };
}

void api_count_refused(api *a, proto_code code) {
  a->refused[api_code_index(code)]++;
}
