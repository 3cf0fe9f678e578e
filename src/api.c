/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run on a pooled connection, and its reply line is rendered on the worker, so that
 * the loop thread never waits on HBase nor spends long on a large result. The methods live in
 * one module per concern (admin, reads, writes, scan, scanner, batch); this file finds them,
 * answers the daemon's own (ping, version, stats) and counts every call. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "scanner.h"

/* ping, version and stats need no gateway: no run. */
static const char *const NO_PARAMS[] = {NULL};
static const method daemon_methods[] = {
  {"ping", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL},
  {"version", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL},
  {"stats", NULL, NULL, POOL_RETRY_NEVER, NO_PARAMS, NULL},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL},
};

static const method *const MODULES[] = {daemon_methods, admin_methods,   read_methods,
                                        write_methods,  scan_methods,    scanner_methods,
                                        batch_methods};
#define NMODULES (sizeof MODULES / sizeof MODULES[0])

/* Every method in one list, in the modules' order (stats lists them so). */
static void collect_methods(api *a) {
  for (size_t i = 0; i < NMODULES; i++)
    for (const method *m = MODULES[i]; m->name != NULL; m++)
      a->nmethods++;
  a->methods = calloc(a->nmethods, sizeof *a->methods);
  a->counters = calloc(a->nmethods, sizeof *a->counters);
  size_t n = 0;
  for (size_t i = 0; i < NMODULES; i++)
    for (const method *m = MODULES[i]; m->name != NULL; m++)
      a->methods[n++] = m;
}

/* The index of a method in a->methods, or -1. */
static int find_method(const api *a, const char *name) {
  for (size_t i = 0; i < a->nmethods; i++)
    if (strcmp(a->methods[i]->name, name) == 0)
      return (int)i;
  return -1;
}

static json_t *stats_json(api *a) {
  pool_stats ps;
  pool_get_stats(a->pool, &ps);
  json_t *methods = json_object();
  for (size_t i = 0; i < a->nmethods; i++) {
    if (a->counters[i].calls == 0)
      continue;
    json_object_set_new(methods, a->methods[i]->name,
                        json_pack("{s:I,s:I}", "calls", (json_int_t)a->counters[i].calls, "errors",
                                  (json_int_t)a->counters[i].errors));
  }
  json_t *out = json_pack(
    "{s:{s:i,s:i,s:i,s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I},s:i,s:o}", "pool", "size", ps.size, "busy",
    ps.busy, "idle", ps.idle, "broken", ps.broken, "waiting", ps.waiting, "gateway_up",
    ps.gateway_up, "jobs", (json_int_t)ps.jobs, "failed", (json_int_t)ps.failed, "reconnects",
    (json_int_t)ps.reconnects, "retries", (json_int_t)ps.retries, "refreshes",
    (json_int_t)ps.refreshes, "in_flight", a->in_flight, "methods", methods);
  json_object_set_new(out, "scanners", json_integer(scanner_count(a)));
  json_object_set_new(out, "scanner_reopens", json_integer((json_int_t)a->scanner_reopens));
  if (a->stats != NULL)
    a->stats(a->stats_arg, out);
  return out;
}

static void answer_locally(call *k) {
  json_t *result;
  if (strcmp(k->m->name, "ping") == 0)
    result = json_string("pong");
  else if (strcmp(k->m->name, "version") == 0)
    result = json_pack("{s:s,s:s}", "version", PACKAGE_VERSION, "api", "hbase-thrift1");
  else
    result = stats_json(k->api);
  if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
  call_finish(k);
}

void api_call(api *a, json_t *msg, uint64_t session, api_reply_fn reply, void *owner) {
  call *k = calloc(1, sizeof *k);
  k->api = a;
  k->session = session;
  k->reply = reply;
  k->owner = owner;
  int rc = proto_request_init(&k->req, msg, &k->err);
  json_decref(msg);
  if (rc < 0) {
    /* JSON-RPC 2.0: an invalid request gets an error (with a null id if it has none usable);
     * a notification with bad params (its encoding) gets nothing, like any notification. */
    k->invalid = k->err.code == PROTO_INVALID_REQUEST;
    call_finish(k);
    return;
  }
  int i = find_method(a, k->req.method);
  if (i < 0) {
    proto_fail(&k->err, PROTO_METHOD_NOT_FOUND, "method not found: \"%.60s\"", k->req.method);
    call_finish(k);
    return;
  }
  k->m = a->methods[i];
  k->counter = &a->counters[i];
  if (proto_check_params(&k->req, k->m->params, &k->err) < 0 ||
      (k->m->prepare != NULL && k->m->prepare(k, &k->err) < 0)) {
    call_finish(k);
    return;
  }
  if (k->m->run == NULL) {
    answer_locally(k);
    return;
  }
  call_start(k);
}

void api_session_closed(api *a, uint64_t session) {
  scanner_session_closed(a, session);
}

void api_expire(api *a) {
  scanner_expire(a);
}

api *api_new(pool *gateway_pool, const config *cfg, api_stats_fn stats, void *stats_arg) {
  api *a = calloc(1, sizeof *a);
  a->pool = gateway_pool;
  const char *prefix = cfg->table_prefix != NULL ? cfg->table_prefix : "";
  if (*prefix == '\0')
    a->prefix = strdup("");
  else if (asprintf(&a->prefix, "%s%s", prefix, cfg->table_prefix_separator) < 0)
    a->prefix = NULL;
  a->scan_max_rows = cfg->scan_max_rows;
  a->scanner_idle_timeout_ms = cfg->scanner_idle_timeout_ms;
  TAILQ_INIT(&a->scanners);
  a->stats = stats;
  a->stats_arg = stats_arg;
  collect_methods(a);
  return a;
}

void api_free(api *a) {
  if (a == NULL)
    return;
  scanner_free_all(a);
  free(a->prefix);
  free(a->methods);
  free(a->counters);
  free(a);
}

int api_in_flight(const api *a) {
  return a->in_flight;
}
