/* metrics: the Prometheus endpoint, served by libevent's evhttp on the daemon's loop. A scrape
 * reads only counters kept in memory (and a few figures of the process from /proc), so it never
 * waits on the gateway nor holds up a client. The metric names are an interface: docs/operations.md
 * lists them; rename none. */
#include "metrics.h"

#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sockets.h"
#include "xmalloc.h"

#define METRICS_TIMEOUT_S 10 /* a scraper this slow to send or read is dropped */
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 4096 /* GET has none; room to read a small one and refuse it */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"

struct metrics {
  struct evhttp *http;
  struct evconnlistener *evl; /* owned by http */
  sockets_guard *guard;       /* pauses accepting after running out of descriptors */
  const config *cfg;
  cluster *gateways;
  api *api;
  client_hub *hub;
  char *socket_path; /* a Unix socket's file, removed on free */
  double start_time; /* Unix time */
};

/* ---------------------------------------------------------------------------------------------
 * The exposition format. Label values are identifiers (gateway names are letters, digits, _ - .;
 * methods and error codes are hbpool's own; the version is configure's): none needs escaping. */

static void family(struct evbuffer *b, const char *name, const char *type, const char *help) {
  evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample; labels is "" or {name="value",...}. */
static void single(struct evbuffer *b, const char *name, const char *type, const char *help,
                   const char *labels, uint64_t value) {
  family(b, name, type, help);
  evbuffer_add_printf(b, "%s%s %" PRIu64 "\n", name, labels, value);
}

static void render_build(metrics *m, struct evbuffer *b) {
  family(b, "hbpool_build_info", "gauge", "Always 1; the version label is hbpoold's version.");
  evbuffer_add_printf(b, "hbpool_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
  family(b, "process_start_time_seconds", "gauge",
         "When hbpoold started, in seconds since the Unix epoch.");
  evbuffer_add_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
}

/* Open descriptors, from /proc/self/fd (without the one reading it); -1 if unreadable. */
static long open_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL)
    return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(dir);
  return n - 1;
}

/* The resident set in bytes, from /proc/self/statm; -1 if unreadable. */
static long long resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, pages = -1;
  if (f == NULL)
    return -1;
  if (fscanf(f, "%lld %lld", &size, &pages) != 2)
    pages = -1;
  fclose(f);
  return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* The standard process_* metrics of Prometheus' client libraries, those that are cheap. */
static void render_process(struct evbuffer *b) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    family(b, "process_cpu_seconds_total", "counter", "User and system CPU time, in seconds.");
    evbuffer_add_printf(b, "process_cpu_seconds_total %.6f\n", cpu);
  }
  long long rss = resident_bytes();
  if (rss >= 0)
    single(b, "process_resident_memory_bytes", "gauge", "Resident memory, in bytes.", "",
           (uint64_t)rss);
  long fds = open_fds();
  if (fds >= 0)
    single(b, "process_open_fds", "gauge", "Open file descriptors.", "", (uint64_t)fds);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    single(b, "process_max_fds", "gauge", "The limit of open file descriptors (LimitNOFILE).", "",
           (uint64_t)rl.rlim_cur);
}

/* Every gateway's pool figures, for the families that have a sample per gateway. */
typedef struct gateway_figures {
  size_t n;
  const char **names;
  pool_stats *ps;
} gateway_figures;

static uint64_t fig_up(const pool_stats *s) {
  return s->gateway_up ? 1 : 0;
}
static uint64_t fig_size(const pool_stats *s) {
  return (uint64_t)s->size;
}
static uint64_t fig_waiting(const pool_stats *s) {
  return (uint64_t)s->waiting;
}
static uint64_t fig_longest(const pool_stats *s) {
  return (uint64_t)s->longest_client_queue;
}
static uint64_t fig_connects(const pool_stats *s) {
  return s->reconnects;
}
static uint64_t fig_retries(const pool_stats *s) {
  return s->retries;
}
static uint64_t fig_refreshes(const pool_stats *s) {
  return s->refreshes;
}
static uint64_t fig_coalesced(const pool_stats *s) {
  return pool_stats_coalesced_calls(s);
}

/* A family with a sample per gateway. */
static void per_gateway(struct evbuffer *b, const gateway_figures *f, const char *name,
                        const char *type, const char *help, uint64_t (*value)(const pool_stats *)) {
  family(b, name, type, help);
  for (size_t i = 0; i < f->n; i++)
    evbuffer_add_printf(b, "%s{gateway=\"%s\"} %" PRIu64 "\n", name, f->names[i], value(&f->ps[i]));
}

/* A histogram of the requests each gateway call carried, per gateway. */
static void render_call_sizes(struct evbuffer *b, const gateway_figures *f) {
  static const char name[] = "hbpool_pool_requests_per_call";
  family(b, name, "histogram",
         "Requests carried by each gateway call: 1, or more when queued requests were "
         "coalesced.");
  for (size_t g = 0; g < f->n; g++) {
    const pool_stats *ps = &f->ps[g];
    const char *gw = f->names[g];
    uint64_t n = 0;
    for (int i = 0; i < POOL_CALL_SIZES; i++) {
      n += ps->calls_by_size[i];
      int bound = pool_call_size_bound(i);
      if (bound > 0)
        evbuffer_add_printf(b, "%s_bucket{gateway=\"%s\",le=\"%d\"} %" PRIu64 "\n", name, gw, bound,
                            n);
    }
    evbuffer_add_printf(b, "%s_bucket{gateway=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, gw, n);
    /* Every call that was not shared carried one request. */
    uint64_t sum = ps->coalesced_jobs + ps->calls_by_size[0];
    evbuffer_add_printf(b, "%s_sum{gateway=\"%s\"} %" PRIu64 "\n", name, gw, sum);
    evbuffer_add_printf(b, "%s_count{gateway=\"%s\"} %" PRIu64 "\n", name, gw, n);
  }
}

static void render_connections(struct evbuffer *b, const gateway_figures *f) {
  family(b, "hbpool_pool_connections", "gauge",
         "The pool's connections by state: busy (running a call), idle, or broken (not open: "
         "lost, or not yet opened).");
  const char *states[] = {"busy", "idle", "broken"};
  for (size_t g = 0; g < f->n; g++) {
    int counts[] = {f->ps[g].busy, f->ps[g].idle, f->ps[g].broken};
    for (int i = 0; i < 3; i++)
      evbuffer_add_printf(b, "hbpool_pool_connections{gateway=\"%s\",state=\"%s\"} %d\n",
                          f->names[g], states[i], counts[i]);
  }
}

static void render_pool(metrics *m, struct evbuffer *b) {
  gateway_figures f = {.n = cluster_size(m->gateways)};
  f.names = xcalloc(f.n ? f.n : 1, sizeof *f.names);
  f.ps = xcalloc(f.n ? f.n : 1, sizeof *f.ps);
  for (size_t i = 0; i < f.n; i++) {
    f.names[i] = cluster_name(m->gateways, i);
    cluster_get_stats(m->gateways, i, &f.ps[i]);
  }
  per_gateway(b, &f, "hbpool_gateway_up", "gauge",
              "1 while the gateway is reachable; 0 while it is down and its requests go to the "
              "others, or fail at once if none is up.",
              fig_up);
  per_gateway(b, &f, "hbpool_pool_size", "gauge",
              "Connections the pool keeps to the gateway (pool_size).", fig_size);
  render_connections(b, &f);
  per_gateway(b, &f, "hbpool_pool_waiting_requests", "gauge",
              "Requests queued for a free connection (at most max_queue).", fig_waiting);
  per_gateway(b, &f, "hbpool_pool_longest_client_queue", "gauge",
              "The most requests one client connection has queued for a free connection.",
              fig_longest);
  per_gateway(b, &f, "hbpool_pool_connects_total", "counter",
              "Connections opened to the gateway: at start, after a failure and on refresh.",
              fig_connects);
  per_gateway(b, &f, "hbpool_pool_retries_total", "counter",
              "Reads sent again on a fresh connection because a pooled one had died.", fig_retries);
  per_gateway(b, &f, "hbpool_pool_refreshes_total", "counter",
              "Connections reopened before use because they had been idle for idle_refresh_ms.",
              fig_refreshes);
  per_gateway(b, &f, "hbpool_pool_coalesced_calls_total", "counter",
              "Gateway calls that carried several queued requests at once (coalesce).",
              fig_coalesced);
  render_call_sizes(b, &f);
  single(b, "hbpool_calls_moved_total", "counter",
         "Calls sent to another gateway than their first: not sent where the gateway was down "
         "or removed, or reads whose connection failed.",
         "", cluster_moves(m->gateways));
  free(f.names);
  free(f.ps);
}

static void render_histogram(struct evbuffer *b, const char *method, const api_method_stats *s) {
  static const char name[] = "hbpool_request_duration_seconds";
  uint64_t n = 0;
  for (int i = 0; i < API_LATENCY_BOUNDS; i++) {
    n += s->latency[i];
    evbuffer_add_printf(b, "%s_bucket{method=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, method,
                        (double)api_latency_bounds_ns[i] / 1e9, n);
  }
  n += s->latency[API_LATENCY_BOUNDS];
  evbuffer_add_printf(b, "%s_bucket{method=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, method, n);
  evbuffer_add_printf(b, "%s_sum{method=\"%s\"} %.9f\n", name, method,
                      (double)s->latency_sum_ns / 1e9);
  evbuffer_add_printf(b, "%s_count{method=\"%s\"} %" PRIu64 "\n", name, method, n);
}

/* Every method has a request counter from the start; errors and latencies appear once there
 * are some, which keeps a scrape to a few hundred lines. */
static void render_requests(metrics *m, struct evbuffer *b) {
  api_counters c;
  api_get_counters(m->api, &c);
  single(b, "hbpool_requests_in_flight", "gauge",
         "Requests sent to the gateway (or waiting for their scanner) and not yet answered.", "",
         (uint64_t)c.in_flight);
  family(b, "hbpool_requests_total", "counter",
         "Requests of each method answered, errors included.");
  for (size_t i = 0; i < c.nmethods; i++)
    evbuffer_add_printf(b, "hbpool_requests_total{method=\"%s\"} %" PRIu64 "\n", c.names[i],
                        c.methods[i].calls);
  family(b, "hbpool_request_errors_total", "counter",
         "Requests answered with an error, by method and error code (docs/protocol.md).");
  for (size_t i = 0; i < c.nmethods; i++)
    for (int k = 0; k < API_NCODES; k++)
      if (c.methods[i].errors_by_code[k] > 0)
        evbuffer_add_printf(b,
                            "hbpool_request_errors_total{method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                            c.names[i], proto_code_name(api_code_at(k)),
                            c.methods[i].errors_by_code[k]);
  family(b, "hbpool_request_duration_seconds", "histogram",
         "Time from reading a request to queueing its reply, by method, in seconds.");
  for (size_t i = 0; i < c.nmethods; i++)
    if (c.methods[i].calls > 0)
      render_histogram(b, c.names[i], &c.methods[i]);
  family(b, "hbpool_refused_requests_total", "counter",
         "Requests answered with an error before any method ran (not JSON, not JSON-RPC, an "
         "unknown method, a line too long, over a limit), by error code.");
  for (int k = 0; k < API_NCODES; k++)
    if (c.refused[k] > 0)
      evbuffer_add_printf(b, "hbpool_refused_requests_total{code=\"%s\"} %" PRIu64 "\n",
                          proto_code_name(api_code_at(k)), c.refused[k]);
  single(b, "hbpool_scanners_open", "gauge", "Scanners open for clients.", "",
         (uint64_t)c.scanners_open);
  single(b, "hbpool_scanners_reopened_total", "counter",
         "Scanners reopened where they stood because the gateway had expired them.", "",
         c.scanners_reopened);
  single(b, "hbpool_scanner_read_aheads_total", "counter",
         "Pages fetched for a scanner's next scanner_next while the client read the last one.", "",
         c.scanner_read_aheads);
  single(b, "hbpool_scanners_kept", "gauge",
         "Scanners kept open by scan pages for the scan call that continues them.", "",
         (uint64_t)c.scanners_kept);
  single(b, "hbpool_scan_resumes_total", "counter",
         "Scan pages read on from the scanner the page before kept open.", "", c.scan_resumes);
}

static void render_clients(metrics *m, struct evbuffer *b) {
  client_hub_counts n;
  client_hub_get_counts(m->hub, &n);
  single(b, "hbpool_client_connections", "gauge", "Client connections open.", "",
         (uint64_t)n.connected);
  single(b, "hbpool_client_connections_accepted_total", "counter", "Client connections accepted.",
         "", n.accepted);
  single(b, "hbpool_client_connections_refused_total", "counter",
         "Client connections refused because max_clients were open.", "", n.refused);
  single(b, "hbpool_access_denied_total", "counter",
         "Requests refused by the [access] rules (error forbidden).", "", n.denied);
  single(b, "hbpool_client_output_timeouts_total", "counter",
         "Clients closed because their replies went unread for client_output_timeout_ms.", "",
         n.output_timeouts);
  single(b, "hbpool_client_buffered_bytes", "gauge",
         "Bytes clients make the daemon hold: requests not yet parsed and replies not yet sent.",
         "", (uint64_t)n.buffered_bytes);
  single(b, "hbpool_client_buffered_bytes_peak", "gauge",
         "The most bytes clients made the daemon hold at once since it started.", "",
         (uint64_t)n.buffered_bytes_peak);
  single(b, "hbpool_clients_throttled", "gauge",
         "Clients not read because the buffered bytes passed max_buffered_bytes.", "",
         (uint64_t)n.throttled);
  single(b, "hbpool_client_throttles_total", "counter",
         "Times a client stopped being read because the buffered bytes passed max_buffered_bytes.",
         "", n.throttles);
  single(b, "hbpool_client_budget_closes_total", "counter",
         "Clients closed over max_buffered_bytes because they left their replies unread.", "",
         n.budget_closes);
  single(b, "hbpool_clients_reads_held", "gauge",
         "Clients whose reads wait because their unsent replies passed client_reply_window_bytes.",
         "", (uint64_t)n.reads_held);
  single(b, "hbpool_client_reads_holds_total", "counter",
         "Times a client's reads began to wait for its unsent replies (client_reply_window_bytes).",
         "", n.reads_holds);
  single(b, "hbpool_client_received_bytes_total", "counter",
         "Bytes of request lines read from clients, newlines included.", "", n.received_bytes);
  single(b, "hbpool_client_sent_bytes_total", "counter", "Bytes of replies queued for clients.", "",
         n.sent_bytes);
}

/* ---------------------------------------------------------------------------------------------
 * HTTP. */

/* evhttp would send a body after the headers of a HEAD reply too: HEAD gets only its length. */
static void reply(struct evhttp_request *req, int code, const char *reason,
                  const char *content_type, struct evbuffer *body) {
  struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", content_type);
  if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
    evhttp_send_reply(req, code, reason, body);
    return;
  }
  char length[32];
  snprintf(length, sizeof length, "%zu", evbuffer_get_length(body));
  evhttp_add_header(headers, "Content-Length", length);
  evhttp_send_reply(req, code, reason, NULL);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text) {
  struct evbuffer *body = evbuffer_new();
  evbuffer_add(body, text, strlen(text));
  reply(req, code, reason, TEXT_CONTENT_TYPE, body);
  evbuffer_free(body);
}

static void serve_metrics(metrics *m, struct evhttp_request *req) {
  struct evbuffer *b = evbuffer_new();
  render_build(m, b);
  render_process(b);
  render_pool(m, b);
  render_requests(m, b);
  render_clients(m, b);
  reply(req, 200, "OK", METRICS_CONTENT_TYPE, b);
  evbuffer_free(b);
}

/* For load balancers and probes: hbpoold is useful while it reaches a gateway. The body names
 * the gateways that are down. */
static void serve_health(metrics *m, struct evhttp_request *req) {
  struct evbuffer *b = evbuffer_new();
  bool any_up = false;
  for (size_t i = 0; i < cluster_size(m->gateways); i++) {
    pool_stats ps;
    cluster_get_stats(m->gateways, i, &ps);
    any_up = any_up || ps.gateway_up;
    if (ps.gateway_up)
      continue;
    char address[300];
    cluster_address(m->gateways, i, address, sizeof address);
    evbuffer_add_printf(b, "gateway %s (%s) is unreachable; hbpoold is reconnecting\n",
                        cluster_name(m->gateways, i), address);
  }
  if (any_up)
    evbuffer_prepend(b, "ok\n", 3);
  reply(req, any_up ? 200 : 503, any_up ? "OK" : "Service Unavailable", "text/plain; charset=utf-8",
        b);
  evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
  metrics *m = arg;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
  bool is_metrics = path != NULL && strcmp(path, "/metrics") == 0;
  bool is_health = path != NULL && strcmp(path, "/health") == 0;
  if (!is_metrics && !is_health) {
    reply_text(req, 404, "Not Found", "not found: hbpoold serves /metrics and /health\n");
    return;
  }
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    reply_text(req, 405, "Method Not Allowed", "method not allowed: use GET\n");
    return;
  }
  if (is_metrics)
    serve_metrics(m, req);
  else
    serve_health(m, req);
}

/* ---------------------------------------------------------------------------------------------
 * Listening. */

/* The path of a unix:PATH value, or NULL for ADDRESS:PORT. */
static const char *unix_path(const char *value) {
  static const char prefix[] = CONFIG_UNIX_PREFIX;
  return strncmp(value, prefix, sizeof prefix - 1) == 0 ? value + sizeof prefix - 1 : NULL;
}

static int serve_on(metrics *m, struct event_base *base, int fd, hb_error *err) {
  m->http = evhttp_new(base);
  /* Backlog 0: fd listens already. Bound to http, the listener is freed with it. */
  struct evconnlistener *evl = evconnlistener_new(base, NULL, NULL,
                                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                                                  fd);
  if (evl == NULL)
    close(fd);
  if (m->http == NULL || evl == NULL || evhttp_bind_listener(m->http, evl) == NULL) {
    if (evl != NULL)
      evconnlistener_free(evl);
    return hb_error_set(err, HB_ERR_INVALID, "metrics_listen %s: cannot serve HTTP",
                        m->cfg->metrics_listen);
  }
  m->evl = evl;
  m->guard = sockets_guard_accept(base, evl, "metrics_listen");
  evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
  evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
  evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
  /* Every method reaches on_request, which answers 405 itself, naming the allowed ones. */
  evhttp_set_allowed_methods(m->http,
                             EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                               EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                               EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(m->http, on_request, m);
  return 0;
}

metrics *metrics_new(struct event_base *base, const config *cfg, cluster *gateways, api *a,
                     client_hub *hub, hb_error *err) {
  const char *value = cfg->metrics_listen;
  const char *path = unix_path(value);
  int fd = path != NULL ? sockets_listen_unix(path, cfg->listen_socket_mode, "metrics_listen", err)
                        : sockets_listen_tcp(value, "metrics_listen", err);
  if (fd < 0)
    return NULL;
  metrics *m = xcalloc(1, sizeof *m);
  *m = (metrics){.cfg = cfg, .gateways = gateways, .api = a, .hub = hub};
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  if (path != NULL)
    m->socket_path = xstrdup(path);
  if (serve_on(m, base, fd, err) < 0) {
    metrics_free(m);
    return NULL;
  }
  log_info("metrics on %s (/metrics, /health)", value);
  return m;
}

void metrics_free(metrics *m) {
  if (m == NULL)
    return;
  sockets_guard_free(m->guard);
  if (m->http != NULL)
    evhttp_free(m->http); /* and the listener bound to it */
  if (m->socket_path != NULL)
    unlink(m->socket_path);
  free(m->socket_path);
  free(m);
}
