/* hbpoold: the hbpool daemon: a pool of HBase Thrift connections behind a JSON API on a Unix
 * socket. Wires config, pool, api, clients and listeners to one event loop. */
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "client.h"
#include "clock.h"
#include "config.h"
#include "decoder.h"
#include "listener.h"
#include "log.h"
#include "pool.h"

#define JANITOR_INTERVAL_MS 100

typedef struct daemon_state {
  struct event_base *base;
  config cfg;
  pool *pool;
  api *api;
  decoder *decoder;
  client_hub *hub;
  listener *listener;
  struct event *janitor, *sigterm, *sigint;
  bool stopping;
  int64_t stop_deadline_ms;
} daemon_state;


static void usage(FILE *to) {
  fprintf(to, "usage: hbpoold [-c FILE] [-t] [-f] [-v] [-V]\n"
              "  -c, --config FILE  configuration file (default: none, built-in defaults)\n"
              "  -t, --test-config  check the configuration and exit\n"
              "  -f, --foreground   run in the foreground (hbpoold always does; for scripts)\n"
              "  -v, --verbose      log more (debug)\n"
              "  -V, --version      print the version and exit\n");
}

/* Timeouts and lifetimes, every JANITOR_INTERVAL_MS; during a stop, waits for in-flight requests. */
static void janitor(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  daemon_state *d = arg;
  pool_expire(d->pool);
  client_hub_expire(d->hub);
  api_expire(d->api);
  if (d->stopping && (api_in_flight(d->api) == 0 || clock_now_ms() >= d->stop_deadline_ms)) {
    if (api_in_flight(d->api) > 0)
      log_warning("stopping with %d requests still in flight (shutdown_timeout_ms)",
                  api_in_flight(d->api));
    event_base_loopbreak(d->base);
  }
}

/* First signal: stop accepting and let in-flight requests finish; second: stop at once. */
static void on_stop_signal(evutil_socket_t sig, short what, void *arg) {
  (void)what;
  daemon_state *d = arg;
  if (d->stopping) {
    log_warning("second signal: stopping now");
    event_base_loopbreak(d->base);
    return;
  }
  log_info("signal %d: stopping (waiting up to %d ms for %d requests)", (int)sig,
           d->cfg.shutdown_timeout_ms, api_in_flight(d->api));
  sd_notify(0, "STOPPING=1");
  d->stopping = true;
  d->stop_deadline_ms = clock_now_ms() + d->cfg.shutdown_timeout_ms;
  listener_free(d->listener);
  d->listener = NULL;
}

static void add_stats(void *arg, json_t *stats) {
  daemon_state *d = arg;
  client_hub_stats(d->hub, stats);
}

static pool_options pool_options_from(const config_gateway *g) {
  pool_options o = {
    .name = g->name, .size = g->pool_size, .lazy_connect = g->lazy_connect,
    .queue_timeout_ms = g->queue_timeout_ms, .max_queue = g->max_queue,
    .idle_refresh_ms = g->idle_refresh_ms, .reconnect_min_ms = g->reconnect_min_ms,
    .reconnect_max_ms = g->reconnect_max_ms,
  };
  hbc_options_init(&o.gateway);
  o.gateway.host = g->host;
  o.gateway.port = g->port;
  o.gateway.framed = g->framed;
  o.gateway.protocol = g->compact ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
  o.gateway.connect_timeout_ms = g->connect_timeout_ms;
  o.gateway.call_timeout_ms = g->request_timeout_ms;
  o.gateway.max_message_size = g->max_message_bytes;
  return o;
}

static int start(daemon_state *d, hb_error *err) {
  const config_gateway *g = &d->cfg.gateways[0];
  pool_options po = pool_options_from(g);
  d->pool = pool_new(d->base, &po, err);
  if (d->pool == NULL)
    return -1;
  d->api = api_new(d->pool, &d->cfg, add_stats, d);
  d->decoder = decoder_new(d->base, err);
  if (d->decoder == NULL)
    return -1;
  d->hub = client_hub_new(d->base, d->api, d->decoder, &d->cfg);
  d->listener = listener_new(d->base, &d->cfg, d->hub, err);
  if (d->listener == NULL)
    return -1;
  d->janitor = event_new(d->base, -1, EV_PERSIST, janitor, d);
  struct timeval every = {0, JANITOR_INTERVAL_MS * 1000};
  event_add(d->janitor, &every);
  d->sigterm = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
  d->sigint = evsignal_new(d->base, SIGINT, on_stop_signal, d);
  event_add(d->sigterm, NULL);
  event_add(d->sigint, NULL);
  log_info("hbpoold %s: gateway %s at %s:%d (%s, %s), pool of %d", PACKAGE_VERSION, g->name,
           g->host, g->port, g->framed ? "framed" : "buffered", g->compact ? "compact" : "binary",
           g->pool_size);
  return 0;
}

static void stop(daemon_state *d) {
  listener_free(d->listener);
  pool_free(d->pool); /* replies to what is still queued, then the clients can go */
  decoder_free(d->decoder); /* before the clients: lines it still holds refer to them */
  client_hub_free(d->hub);
  api_free(d->api);
  if (d->janitor != NULL)
    event_free(d->janitor);
  if (d->sigterm != NULL)
    event_free(d->sigterm);
  if (d->sigint != NULL)
    event_free(d->sigint);
  event_base_free(d->base);
  config_free(&d->cfg);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'}, {"test-config", no_argument, NULL, 't'},
    {"foreground", no_argument, NULL, 'f'},   {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  const char *path = NULL;
  bool test_only = false, verbose = false;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:tfvVh", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 't': test_only = true; break;
    case 'f': break;
    case 'v': verbose = true; break;
    case 'V': printf("hbpoold %s\n", PACKAGE_VERSION); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  daemon_state d = {0};
  hb_error err = HB_ERROR_INIT;
  if (path != NULL ? config_load(path, &d.cfg, &err) < 0 : (config_defaults(&d.cfg), 0)) {
    fprintf(stderr, "hbpoold: %s\n", err.message);
    hb_error_clear(&err);
    return 1;
  }
  if (test_only) {
    printf("hbpoold: configuration %s is valid\n", path != NULL ? path : "(defaults)");
    config_free(&d.cfg);
    return 0;
  }
  log_level level = LOG_LVL_INFO;
  log_level_parse(d.cfg.log_level, &level);
  log_set_level(verbose ? LOG_LVL_DEBUG : level);
  signal(SIGPIPE, SIG_IGN);
  evthread_use_pthreads();
  d.base = event_base_new();
  int rc = 0;
  if (start(&d, &err) < 0) {
    log_error("cannot start: %s", err.message);
    hb_error_clear(&err);
    rc = 1;
  } else {
    sd_notify(0, "READY=1");
    event_base_dispatch(d.base);
    log_info("stopped");
  }
  stop(&d);
  return rc;
}
