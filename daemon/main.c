/* hbpoold: the hbpool daemon: a pool of HBase Thrift connections behind a JSON API on a Unix
 * socket. Wires config, pool, api, clients, listeners and the metrics endpoint to one event loop,
 * and runs the daemon's life: readiness and status for systemd, reload on SIGHUP, a graceful
 * stop on SIGTERM. */
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "client.h"
#include "clock.h"
#include "config.h"
#include "decoder.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "cluster.h"
#include "service.h"
#include "xmalloc.h"

#define JANITOR_INTERVAL_MS 100
#define STATUS_INTERVAL_MS 2000

typedef struct daemon_state {
  struct event_base *base;
  config cfg;
  cluster *gateways;
  api *api;
  decoder *decoder;
  client_hub *hub;
  listener *listener;
  metrics *metrics; /* NULL: metrics_listen is off */
  struct event *janitor, *sigterm, *sigint, *sighup;
  const char *config_path; /* NULL: built-in defaults */
  bool verbose;            /* -v: debug logging whatever the config says */
  bool stopping;
  int64_t stop_deadline_ms;
  int64_t next_status_ms, next_watchdog_ms;
  uint64_t reloads, reload_failures;
  char last_reload[256];    /* "ok", or why the last reload kept the old config */
  char restart_needed[128]; /* keys changed in the file that only a restart applies, by ", " */
} daemon_state;

static void usage(FILE *to) {
  fprintf(to,
          "usage: hbpoold [-c FILE] [-t] [-f] [-v] [-V]\n"
          "  -c, --config FILE  configuration file (default: none, built-in defaults)\n"
          "  -t, --test-config  check the configuration and exit\n"
          "  -f, --foreground   run in the foreground (hbpoold always does; for scripts)\n"
          "  -v, --verbose      log more (debug)\n"
          "  -V, --version      print the version and exit\n");
}

/* The one-line summary systemd shows (systemctl status) and the journal keeps. */
static void status_line(daemon_state *d, char *out, size_t n) {
  pool_stats ps;
  cluster_get_total(d->gateways, &ps);
  size_t ngateways = cluster_size(d->gateways);
  int len = snprintf(out, n, "%s%d clients, pool %d busy %d idle %d broken, %d waiting, %s",
                     d->stopping ? "stopping: " : "", client_hub_count(d->hub), ps.busy, ps.idle,
                     ps.broken, ps.waiting, ngateways == 1 ? "gateway" : "gateways");
  for (size_t i = 0; i < ngateways && len > 0 && (size_t)len < n; i++) {
    cluster_get_stats(d->gateways, i, &ps);
    len += snprintf(out + len, n - (size_t)len, "%s %s %s", i > 0 ? "," : "",
                    cluster_name(d->gateways, i), ps.gateway_up ? "up" : "down");
  }
}

/* The watchdog is fed from the loop itself: a wedged loop stops feeding it and gets restarted. */
static void tell_service_manager(daemon_state *d, int64_t now) {
  int64_t every = service_watchdog_interval_ms();
  if (every > 0 && now >= d->next_watchdog_ms) {
    service_watchdog();
    d->next_watchdog_ms = now + every;
  }
  if (now >= d->next_status_ms) {
    char status[256];
    status_line(d, status, sizeof status);
    service_status(status);
    d->next_status_ms = now + STATUS_INTERVAL_MS;
  }
}

/* A stop is done once nothing is in flight and every reply has been written out. */
static bool drained(daemon_state *d) {
  return api_in_flight(d->api) == 0 && client_hub_unsent_bytes(d->hub) == 0;
}

/* Timeouts and lifetimes, every JANITOR_INTERVAL_MS; during a stop, waits for in-flight
 * requests. */
static void janitor(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  daemon_state *d = arg;
  int64_t now = clock_now_ms();
  cluster_expire(d->gateways);
  client_hub_expire(d->hub);
  api_expire(d->api);
  tell_service_manager(d, now);
  if (d->stopping && (drained(d) || now >= d->stop_deadline_ms)) {
    if (!drained(d))
      log_warning("stopping with %d requests still in flight and %zu bytes of replies unsent "
                  "(shutdown_timeout_ms)",
                  api_in_flight(d->api), client_hub_unsent_bytes(d->hub));
    event_base_loopbreak(d->base);
  }
}

/* First signal: stop accepting, refuse new requests, close scanners on the gateway and let
 * in-flight requests finish; second: stop at once. */
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
  service_stopping();
  d->stopping = true;
  d->stop_deadline_ms = clock_now_ms() + d->cfg.shutdown_timeout_ms;
  listener_free(d->listener);
  d->listener = NULL;
  client_hub_drain(d->hub);
  api_close_scanners(d->api);
}

static void add_stats(void *arg, json_t *stats) {
  daemon_state *d = arg;
  client_hub_stats(d->hub, stats);
  const config_gateway *g = &d->cfg.gateways[0];
  json_object_set_new(stats, "daemon",
                      json_pack("{s:I,s:I,s:s,s:s,s:{s:i,s:i,s:i,s:i,s:i,s:s}}", "reloads",
                                (json_int_t)d->reloads, "reload_failures",
                                (json_int_t)d->reload_failures, "last_reload", d->last_reload,
                                "restart_needed", d->restart_needed, "config", "pool_size",
                                g->pool_size, "request_timeout_ms", g->request_timeout_ms,
                                "queue_timeout_ms", g->queue_timeout_ms, "max_clients",
                                d->cfg.max_clients, "max_requests_per_client",
                                d->cfg.max_requests_per_client, "log_level",
                                d->verbose ? "debug" : d->cfg.log_level));
}

/* ---------------------------------------------------------------------------------------------
 * Reload (SIGHUP): a new config takes effect without dropping anyone; a broken one is refused
 * whole and the old one kept. */

static void apply_log_level(const daemon_state *d) {
  log_level level = LOG_LVL_INFO;
  log_level_parse(d->cfg.log_level, &level);
  log_set_level(d->verbose ? LOG_LVL_DEBUG : level);
  log_init(d->cfg.log_syslog);
}

static bool str_differs(const char *a, const char *b) {
  return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* *next takes a copy of the running value (NULL stays NULL). */
static void keep_str(char **next, const char *running) {
  free(*next);
  *next = running != NULL ? xstrdup(running) : NULL;
}

static void needs_restart(daemon_state *d, bool changed, const char *key) {
  if (!changed)
    return;
  log_warning("reload: %s changed: restart hbpoold to apply it", key);
  size_t n = strlen(d->restart_needed);
  snprintf(d->restart_needed + n, sizeof d->restart_needed - n, "%s%s", n > 0 ? ", " : "", key);
}

/* Settings that only a restart applies (the sockets are bound once) keep their running values;
 * each one changed is reported, in the log and in stats. */
static void keep_restart_settings(daemon_state *d, config *next) {
  const config *running = &d->cfg;
  d->restart_needed[0] = '\0';
  needs_restart(d, str_differs(running->listen_socket, next->listen_socket), "listen_socket");
  needs_restart(d, running->listen_socket_mode != next->listen_socket_mode, "listen_socket_mode");
  needs_restart(d, str_differs(running->listen_tcp, next->listen_tcp), "listen_tcp");
  needs_restart(d, str_differs(running->metrics_listen, next->metrics_listen), "metrics_listen");
  keep_str(&next->listen_socket, running->listen_socket);
  keep_str(&next->listen_tcp, running->listen_tcp);
  keep_str(&next->metrics_listen, running->metrics_listen);
  next->listen_socket_mode = running->listen_socket_mode;
}

static int reload(daemon_state *d, hb_error *err) {
  config next = {0};
  if (d->config_path == NULL)
    return hb_error_set(err, HB_ERR_INVALID, "hbpoold runs on built-in defaults (no -c FILE)");
  if (config_load(d->config_path, &next, err) < 0)
    return -1;
  keep_restart_settings(d, &next);
  config old = d->cfg;
  d->cfg = next; /* every module reads its settings through &d->cfg */
  config_free(&old);
  apply_log_level(d);
  cluster_reconfigure(d->gateways, &d->cfg);
  api_reconfigure(d->api, &d->cfg);
  client_hub_reconfigure(d->hub);
  return 0;
}

static void on_reload_signal(evutil_socket_t sig, short what, void *arg) {
  (void)sig;
  (void)what;
  daemon_state *d = arg;
  if (d->stopping)
    return;
  service_reloading();
  hb_error err = HB_ERROR_INIT;
  d->reloads++;
  if (reload(d, &err) < 0) {
    d->reload_failures++;
    snprintf(d->last_reload, sizeof d->last_reload, "failed, the old config is kept: %s",
             err.message);
    log_error("reload: %s; keeping the running configuration", err.message);
    hb_error_clear(&err);
  } else {
    snprintf(d->last_reload, sizeof d->last_reload, "ok");
    log_info("reload: %s applied (%zu gateways)", d->config_path, cluster_size(d->gateways));
  }
  char status[256];
  status_line(d, status, sizeof status);
  service_ready(status);
  d->next_status_ms = clock_now_ms() + STATUS_INTERVAL_MS;
}

static int start(daemon_state *d, hb_error *err) {
  d->gateways = cluster_new(d->base, &d->cfg, err);
  if (d->gateways == NULL)
    return -1;
  d->api = api_new(d->gateways, &d->cfg, add_stats, d);
  d->decoder = decoder_new(d->base, err);
  if (d->decoder == NULL)
    return -1;
  d->hub = client_hub_new(d->base, d->api, d->decoder, &d->cfg);
  d->listener = listener_new(d->base, &d->cfg, d->hub, service_listen_fds(), err);
  if (d->listener == NULL)
    return -1;
  if (d->cfg.metrics_listen != NULL &&
      (d->metrics = metrics_new(d->base, &d->cfg, d->gateways, d->api, d->hub, err)) == NULL)
    return -1;
  d->janitor = event_new(d->base, -1, EV_PERSIST, janitor, d);
  struct timeval every = {0, JANITOR_INTERVAL_MS * 1000};
  event_add(d->janitor, &every);
  d->sigterm = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
  d->sigint = evsignal_new(d->base, SIGINT, on_stop_signal, d);
  d->sighup = evsignal_new(d->base, SIGHUP, on_reload_signal, d);
  event_add(d->sigterm, NULL);
  event_add(d->sigint, NULL);
  event_add(d->sighup, NULL);
  for (size_t i = 0; i < d->cfg.ngateways; i++) {
    const config_gateway *g = &d->cfg.gateways[i];
    log_info("hbpoold %s: gateway %s at %s:%d (%s, %s), pool of %d", PACKAGE_VERSION, g->name,
             g->host, g->port, config_transport_name(g->transport),
             g->compact ? "compact" : "binary", g->pool_size);
  }
  return 0;
}

static void stop(daemon_state *d) {
  metrics_free(d->metrics); /* first: it reads the pool, the api and the clients */
  listener_free(d->listener);
  cluster_free(d->gateways); /* replies to what is still queued, then the clients can go */
  decoder_free(d->decoder);  /* before the clients: lines it still holds refer to them */
  client_hub_free(d->hub);
  api_free(d->api);
  if (d->janitor != NULL)
    event_free(d->janitor);
  if (d->sigterm != NULL)
    event_free(d->sigterm);
  if (d->sigint != NULL)
    event_free(d->sigint);
  if (d->sighup != NULL)
    event_free(d->sighup);
  event_base_free(d->base);
  config_free(&d->cfg);
}

/* A pooled connection's task drops its socket's event when it parks and adds it again for the
 * next call, often in the same loop pass: with epoll's changelist the pair costs no syscall.
 * (The changelist's one caveat, dup()ed descriptors, does not apply: hbpoold dups none.) */
static struct event_base *new_base(void) {
  struct event_config *cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  struct event_base *base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return base != NULL ? base : event_base_new();
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"test-config", no_argument, NULL, 't'},
    {"foreground", no_argument, NULL, 'f'},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  xmalloc_init();
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
  daemon_state d = {.config_path = path, .verbose = verbose, .last_reload = "none"};
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
  apply_log_level(&d);
  service_init();
  signal(SIGPIPE, SIG_IGN);
  evthread_use_pthreads();
  d.base = new_base();
  int rc = 0;
  if (start(&d, &err) < 0) {
    log_error("cannot start: %s", err.message);
    hb_error_clear(&err);
    rc = 1;
  } else {
    char status[256];
    status_line(&d, status, sizeof status);
    service_ready(status);
    event_base_dispatch(d.base);
    log_info("stopped");
  }
  stop(&d);
  return rc;
}
