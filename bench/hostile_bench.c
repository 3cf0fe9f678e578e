/* hostile_bench: what hostile clients cost the well-behaved ones. Steady clients make paced
 * single-row gets through hbpoold, first alone (the baseline), then beside each hostile set in
 * turn: clients sending a byte a second (slowloris), clients asking for large scans and never
 * reading (deaf), idle connections, one client sending a 15 MiB line after another, and one
 * keeping 404 slow scans in flight (hog). Prints
 * each set's steady p50/p99 and its ratio to the baseline, steady failures, and the daemon's
 * peak RSS and buffered bytes. Beside the steady clients, a few direct clients make the same gets
 * on private Thrift connections to the gateway: their p99 against their own quiet run is what
 * the hostile load costs the gateway itself, which no proxy in front of it can take back. Ends
 * with "summary: {json}". */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define SCAN_ROWS 1000 /* rows of 1 KiB: a deaf client's scan reply is about 1 MB */
#define LOAD_BATCH 200
#define GET_ROWS 100
#define MAX_SAMPLES 1000000
#define IO_TIMEOUT_S 30

typedef struct bench_opts {
  const char *socket_path, *table;
  int pid;
  double seconds;
  int steady, direct, pace_ms;
  int slowloris, deaf, deaf_scans, idle;
  bool deaf_reconnect;
  const char *sets; /* comma-separated names of the hostile sets to run; NULL runs all */
  int line_mib;
} bench_opts;

static bench_opts g_opts = {.seconds = 10,
                            .steady = 16,
                            .direct = 4,
                            .pace_ms = 10,
                            .slowloris = 1000,
                            .deaf = 500,
                            .deaf_scans = 4,
                            .idle = 10000,
                            .line_mib = 15};
static hbc_options g_gateway;
static volatile int g_stop_hostile, g_stop_steady, g_stop_sampler;

static double now_ms(void) {
  return bench_now_us() / 1000;
}

/* ---------------------------------------------------------------------------------------------
 * Connections. */

/* A connected socket to the daemon, blocking with timeouts, or -1. */
static int open_conn(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {IO_TIMEOUT_S, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_opts.socket_path);
  for (int tries = 0; tries < 100; tries++) {
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
      return fd;
    if (errno != EAGAIN)
      break;
    bench_sleep_s(0.01); /* the listen backlog is full for a moment */
  }
  close(fd);
  return -1;
}

static int send_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The reply line to the one request outstanding on fd into *buf (grown as needed, newline
 * dropped): nothing follows it, so reading until a chunk ends in a newline reads just it. -1 on
 * error or EOF. */
static int read_line(int fd, char **buf, size_t *cap) {
  size_t len = 0;
  for (;;) {
    if (*cap - len < 65536) {
      *cap = *cap ? *cap * 2 : 131072;
      *buf = realloc(*buf, *cap);
      if (*buf == NULL)
        bench_fatal("out of memory");
    }
    ssize_t n = recv(fd, *buf + len, *cap - len - 1, 0);
    if (n <= 0)
      return -1;
    len += (size_t)n;
    if ((*buf)[len - 1] == '\n') {
      (*buf)[len - 1] = '\0';
      return 0;
    }
  }
}

/* One call on fd: 0 when the reply has a result, -1 otherwise (the reply or why, in why). */
static int call(int fd, const char *line, char *why, size_t why_size) {
  static __thread char *buf;
  static __thread size_t cap;
  if (send_all(fd, line, strlen(line)) < 0) {
    snprintf(why, why_size, "send: %s", strerror(errno));
    return -1;
  }
  if (read_line(fd, &buf, &cap) < 0) {
    snprintf(why, why_size, "no reply: %s", errno ? strerror(errno) : "EOF");
    return -1;
  }
  if (strstr(buf, "\"result\"") != NULL)
    return 0;
  snprintf(why, why_size, "%.200s", buf);
  return -1;
}

/* ---------------------------------------------------------------------------------------------
 * The daemon's memory and stats. */

static long daemon_status_kib(const char *field) {
  long kib = bench_status_kib(g_opts.pid, field);
  if (kib < 0)
    bench_fatal("hbpoold (pid %d) is gone", g_opts.pid);
  return kib;
}

static long g_rss_peak;
static long long g_buffered_peak;

static long long clients_stat(const char *key);

/* The daemon's RSS every 20 ms, its buffered bytes every 100 ms: the peaks of a run. */
static void *sample_daemon(void *arg) {
  (void)arg;
  for (int i = 0; !g_stop_sampler; i++) {
    long kib = daemon_status_kib("VmRSS");
    g_rss_peak = kib > g_rss_peak ? kib : g_rss_peak;
    if (i % 5 == 0) {
      long long b = clients_stat("buffered_bytes");
      g_buffered_peak = b > g_buffered_peak ? b : g_buffered_peak;
    }
    bench_sleep_s(0.02);
  }
  return NULL;
}

/* A figure of stats' "clients" object; -1 if the daemon has no such figure (a build from before
 * max_buffered_bytes, measured for comparison). */
static long long clients_stat(const char *key) {
  int fd = open_conn();
  if (fd < 0)
    bench_fatal("cannot connect for stats");
  char *buf = NULL;
  size_t cap = 0;
  const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stats\"}\n";
  if (send_all(fd, req, strlen(req)) < 0 || read_line(fd, &buf, &cap) < 0)
    bench_fatal("stats: no reply");
  close(fd);
  json_t *v = json_loads(buf, 0, NULL);
  free(buf);
  json_t *n = json_object_get(json_object_get(json_object_get(v, "result"), "clients"), key);
  long long x = json_is_integer(n) ? json_integer_value(n) : -1;
  json_decref(v);
  return x;
}

/* ---------------------------------------------------------------------------------------------
 * Steady clients: a get every pace_ms each, latencies recorded. */

typedef struct steady {
  pthread_t thread;
  bool direct; /* on a private Thrift connection, not through the daemon */
  double *lat;
  size_t n;
  double worst, worst_due; /* the slowest get, and when it was due (ms since the set began) */
  long failures;
  char first_failure[256];
} steady;

static double g_set_began; /* now_ms() when the steady clients of the set started */

/* One get of row gNNN: through the daemon on fd, or directly on hc; -1 with why on failure. */
static int steady_get(const steady *s, int fd, hbc_conn *hc, int row, char *why, size_t size) {
  if (!s->direct) {
    char line[256];
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"row\",\"params\":{\"table\":\"%s\","
             "\"row\":\"g%03d\"}}\n",
             g_opts.table, row);
    return call(fd, line, why, size);
  }
  char name[16];
  snprintf(name, sizeof name, "g%03d", row);
  hbc_bytes key = hbc_str(name);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  int rc = hbc_get_rows(hc, hbc_str(g_opts.table), &key, 1, NULL, 0, HBC_LATEST, &res, &err);
  if (rc == 0 && res.nrows != 1)
    rc = hb_error_set(&err, HB_ERR_INVALID, "%s: %zu rows", name, res.nrows);
  if (rc < 0)
    snprintf(why, size, "%s: %s", hb_errcode_name(err.code), err.message);
  hbc_result_free(&res);
  hb_error_clear(&err);
  return rc;
}

static void steady_connect(const steady *s, int *fd, hbc_conn **hc) {
  hb_error err = HB_ERROR_INIT;
  if (s->direct)
    *hc = hbc_connect(&g_gateway, &err);
  else
    *fd = open_conn();
  hb_error_clear(&err);
}

static void steady_close(int *fd, hbc_conn **hc) {
  if (*fd >= 0)
    close(*fd);
  if (*hc != NULL)
    hbc_close(*hc);
  *fd = -1;
  *hc = NULL;
}

static void *steady_main(void *arg) {
  steady *s = arg;
  int fd = -1;
  hbc_conn *hc = NULL;
  steady_connect(s, &fd, &hc);
  char why[256];
  unsigned seed = (unsigned)(uintptr_t)s;
  double next = now_ms();
  while (!g_stop_steady) {
    bool connected = fd >= 0 || hc != NULL;
    int rc = connected ? steady_get(s, fd, hc, (int)(rand_r(&seed) % GET_ROWS), why, sizeof why)
                       : -1;
    if (!connected)
      snprintf(why, sizeof why, "cannot connect");
    /* From when the get was due, not when it went: gets a stall held back count as late, so a
     * stall weighs what it cost the client (as wrk2 measures), not one slow sample. */
    double took = now_ms() - next;
    if (rc == 0 && s->n < MAX_SAMPLES / 16)
      s->lat[s->n++] = took;
    if (rc == 0 && took > s->worst) {
      s->worst = took;
      s->worst_due = next - g_set_began;
    }
    if (rc < 0 && s->failures++ == 0)
      snprintf(s->first_failure, sizeof s->first_failure, "%s", why);
    if (rc < 0) {
      steady_close(&fd, &hc);
      steady_connect(s, &fd, &hc);
    }
    next += g_opts.pace_ms; /* on schedule: after a stall, the late ones go at once */
    double wait = next - now_ms();
    if (wait > 0)
      bench_sleep_s(wait / 1000);
  }
  steady_close(&fd, &hc);
  return NULL;
}

/* The gets of a kind of steady client in a set. */
typedef struct latencies {
  size_t gets;
  long failures;
  double p50, p99, max, max_due; /* max_due: when the slowest get was due, ms into the set */
  char first_failure[256];
} latencies;

typedef struct figures {
  const char *name;
  latencies steady, direct;
  long rss_peak_kib, rss_before_kib;
  long long buffered_peak, throttles, budget_closes, output_timeouts;
} figures;

/* The latencies of the n steady clients s. */
static void gather(latencies *l, const steady *s, int n) {
  double *all = malloc(((size_t)n * (MAX_SAMPLES / 16) + 1) * sizeof *all);
  for (int i = 0; i < n; i++) {
    memcpy(all + l->gets, s[i].lat, s[i].n * sizeof *all);
    l->gets += s[i].n;
    if (s[i].failures > 0 && l->failures == 0)
      snprintf(l->first_failure, sizeof l->first_failure, "%s", s[i].first_failure);
    l->failures += s[i].failures;
    if (s[i].worst > l->max) {
      l->max = s[i].worst;
      l->max_due = s[i].worst_due;
    }
  }
  qsort(all, l->gets, sizeof *all, bench_compare_double);
  if (l->gets > 0) {
    l->p50 = bench_percentile(all, l->gets, 50);
    l->p99 = bench_percentile(all, l->gets, 99);
  }
  free(all);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile sets: each runs on a thread of its own until g_stop_hostile, and cleans up. */

/* Closes the connections of a hostile set and frees their array. */
static void close_all(int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
}

/* Clients that each send one byte a second of a ping, forever. */
static void *slowloris_main(void *arg) {
  (void)arg;
  int n = g_opts.slowloris, *fds = calloc((size_t)n, sizeof *fds);
  const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
  size_t reqlen = strlen(req);
  for (int i = 0; i < n; i++)
    fds[i] = open_conn();
  for (size_t k = 0; !g_stop_hostile; k++) {
    double start = now_ms();
    for (int i = 0; i < n; i++)
      if (fds[i] >= 0 && send(fds[i], req + k % reqlen, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
          errno != EAGAIN) {
        close(fds[i]);
        fds[i] = open_conn();
      }
    while (!g_stop_hostile && now_ms() - start < 1000)
      bench_sleep_s(0.05);
  }
  close_all(fds, n);
  return NULL;
}

/* Clients that ask for large scans and never read; with --deaf-reconnect, one the daemon closed
 * comes back and asks again (a flood that never ends), else it is gone. */
static void *deaf_main(void *arg) {
  (void)arg;
  int n = g_opts.deaf, *fds = calloc((size_t)n, sizeof *fds);
  char req[256];
  snprintf(req, sizeof req,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"scan\",\"params\":{\"table\":\"%s\","
           "\"row_prefix\":\"s\",\"limit\":%d}}\n",
           g_opts.table, SCAN_ROWS);
  for (int i = 0; i < n; i++)
    fds[i] = -1;
  while (!g_stop_hostile) {
    for (int i = 0; i < n && !g_stop_hostile; i++) {
      if (fds[i] == -2)
        continue; /* closed by the daemon, not coming back */
      if (fds[i] < 0) {
        fds[i] = open_conn();
        for (int k = 0; fds[i] >= 0 && k < g_opts.deaf_scans; k++)
          send(fds[i], req, strlen(req), MSG_NOSIGNAL | MSG_DONTWAIT);
        continue;
      }
      /* Closed by the daemon? A peek finds EOF (or a reset) without reading any reply. */
      struct pollfd pf = {.fd = fds[i], .events = POLLRDHUP};
      if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        close(fds[i]);
        fds[i] = g_opts.deaf_reconnect ? -1 : -2;
      }
    }
    bench_sleep_s(0.1);
  }
  close_all(fds, n);
  return NULL;
}

/* Connections that send nothing. */
static void *idle_main(void *arg) {
  (void)arg;
  int n = g_opts.idle, *fds = calloc((size_t)n, sizeof *fds), open = 0;
  for (int i = 0; i < n; i++)
    open += (fds[i] = open_conn()) >= 0;
  if (open < n)
    fprintf(stderr, "hostile_bench: only %d of %d idle connections opened\n", open, n);
  while (!g_stop_hostile)
    bench_sleep_s(0.05);
  close_all(fds, n);
  return NULL;
}

#define HOG_DEPTH                                                                                  \
  404 /* the hog's requests in flight: its share of the pool of 8, and 400 queued                  \
       */
static long g_hog_replies, g_hog_failures;

/* One client that keeps HOG_DEPTH slow requests in flight, sending another for each reply: scans
 * whose filter matches nothing, so that the region server reads every row (1 MB) for a reply of
 * none. Its replies are small and read at once: its requests wait at the pool, not in its socket.
 * So it holds as many connections as the daemon lets one client hold, with 400 more queued. */
/* The hog's request number id. */
static int hog_send(int fd, long id) {
  char req[512];
  snprintf(req, sizeof req,
           "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"scan\",\"params\":{\"table\":\"%s\","
           "\"row_prefix\":\"s\",\"filter\":\"ValueFilter(=,'binary:none')\",\"limit\":1}}\n",
           id, g_opts.table);
  return send_all(fd, req, strlen(req));
}

static void *hog_main(void *arg) {
  (void)arg;
  int fd = open_conn();
  long sent = 0;
  while (fd >= 0 && sent < HOG_DEPTH && hog_send(fd, sent) == 0)
    sent++;
  /* Every reply read (several may come in one recv) sends the next request. */
  char in[65536];
  ssize_t n;
  while (fd >= 0 && !g_stop_hostile && (n = recv(fd, in, sizeof in - 1, 0)) > 0) {
    in[n] = '\0';
    g_hog_failures += strstr(in, "\"error\"") != NULL;
    for (ssize_t i = 0; i < n; i++)
      if (in[i] == '\n' && (g_hog_replies++, hog_send(fd, sent++) < 0))
        break;
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

static long g_big_lines, g_big_failures;

/* One client putting a line_mib MiB value, again and again, reading each reply. */
static void *big_line_main(void *arg) {
  (void)arg;
  size_t value = (size_t)g_opts.line_mib << 20;
  char head[256];
  int hlen = snprintf(head, sizeof head,
                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"put\",\"params\":{\"table\":"
                      "\"%s\",\"row\":\"big\",\"data\":{\"cf:big\":\"",
                      g_opts.table);
  const char *tail = "\"}}}\n";
  size_t len = (size_t)hlen + value + strlen(tail);
  char *line = malloc(len + 1);
  memcpy(line, head, (size_t)hlen);
  memset(line + hlen, 'x', value);
  strcpy(line + hlen + value, tail);
  int fd = open_conn();
  char why[256];
  while (!g_stop_hostile && fd >= 0) {
    g_big_lines++;
    if (call(fd, line, why, sizeof why) < 0) {
      g_big_failures++; /* HBase refuses cells over 10 MiB: the error is the expected reply */
      if (strncmp(why, "send", 4) == 0 || strncmp(why, "no reply", 8) == 0) {
        close(fd);
        fd = open_conn();
      }
    }
  }
  if (fd >= 0)
    close(fd);
  free(line);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * A run: the steady clients for seconds, beside a hostile set (NULL: alone). */

static figures run_set(const char *name, void *(*hostile)(void *)) {
  figures f = {.name = name};
  long long throttles = clients_stat("throttles"), closes = clients_stat("budget_closes");
  long long timeouts = clients_stat("output_timeouts");
  f.rss_before_kib = daemon_status_kib("VmRSS");
  g_rss_peak = 0;
  g_buffered_peak = 0;
  g_stop_hostile = g_stop_steady = g_stop_sampler = 0;
  pthread_t sampler, host;
  pthread_create(&sampler, NULL, sample_daemon, NULL);
  if (hostile != NULL) {
    pthread_create(&host, NULL, hostile, NULL);
    bench_sleep_s(2); /* the hostile set connects and starts */
  }
  int n = g_opts.steady + g_opts.direct;
  steady *s = calloc((size_t)n, sizeof *s);
  g_set_began = now_ms();
  for (int i = 0; i < n; i++) {
    s[i].direct = i >= g_opts.steady;
    s[i].lat = malloc(MAX_SAMPLES / 16 * sizeof(double));
    pthread_create(&s[i].thread, NULL, steady_main, &s[i]);
  }
  bench_sleep_s(g_opts.seconds);
  g_stop_steady = 1;
  for (int i = 0; i < n; i++)
    pthread_join(s[i].thread, NULL);
  g_stop_hostile = 1;
  if (hostile != NULL)
    pthread_join(host, NULL);
  g_stop_sampler = 1;
  pthread_join(sampler, NULL);
  gather(&f.steady, s, g_opts.steady);
  gather(&f.direct, s + g_opts.steady, g_opts.direct);
  for (int i = 0; i < n; i++)
    free(s[i].lat);
  f.rss_peak_kib = g_rss_peak;
  f.buffered_peak = g_buffered_peak;
  f.throttles = clients_stat("throttles") - throttles;
  f.budget_closes = clients_stat("budget_closes") - closes;
  f.output_timeouts = clients_stat("output_timeouts") - timeouts;
  free(s);
  /* The daemon lets go of the hostile set's connections before the next one. */
  for (int i = 0; i < 100 && clients_stat("connected") > 1; i++)
    bench_sleep_s(0.1);
  return f;
}

static void print_set(const figures *f, const figures *quiet) {
  const latencies *l = &f->steady, *d = &f->direct;
  printf("%-10s gets %6zu  failed %ld  p50 %6.2f ms  p99 %7.2f ms (x%.2f quiet)  max %6.1f ms "
         "(at %4.1f s)  direct: p99 %6.2f ms (x%.2f) failed %ld  RSS peak %6.1f MiB (+%.1f)  "
         "buffered peak %5.1f MiB  throttles %lld  closes %lld\n",
         f->name, l->gets, l->failures, l->p50, l->p99, l->p99 / quiet->steady.p99, l->max,
         l->max_due / 1000, d->p99, d->p99 / quiet->direct.p99, d->failures,
         f->rss_peak_kib / 1024.0, (f->rss_peak_kib - f->rss_before_kib) / 1024.0,
         f->buffered_peak / 1048576.0, f->throttles, f->budget_closes);
  if (l->failures > 0)
    printf("           first failure: %s\n", l->first_failure);
  if (d->failures > 0)
    printf("           first direct failure: %s\n", d->first_failure);
  fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * The table, through the daemon. */

static void must_call(int fd, const char *line) {
  char why[256];
  if (call(fd, line, why, sizeof why) < 0)
    bench_fatal("%.80s...: %s", line, why);
}

static void load_table(void) {
  int fd = open_conn();
  if (fd < 0)
    bench_fatal("cannot connect to %s", g_opts.socket_path);
  char *line = malloc(LOAD_BATCH * 1200 + 4096);
  snprintf(line, 4096,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"create_table\",\"params\":{\"table\":"
           "\"%s\",\"families\":{\"cf\":{}}}}\n",
           g_opts.table);
  must_call(fd, line);
  char value[1025];
  memset(value, 'v', 1024);
  value[1024] = '\0';
  for (int from = 0; from < SCAN_ROWS; from += LOAD_BATCH) {
    size_t n = (size_t)sprintf(line,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"batch\","
                               "\"params\":{\"table\":\"%s\",\"operations\":[",
                               g_opts.table);
    for (int i = from; i < from + LOAD_BATCH; i++)
      n += (size_t)sprintf(line + n,
                           "%s{\"op\":\"put\",\"row\":\"s%03d\",\"data\":{\"cf:v\":\"%s\"}}",
                           i > from ? "," : "", i, value);
    strcpy(line + n, "]}}\n");
    must_call(fd, line);
  }
  for (int i = 0; i < GET_ROWS; i++) {
    snprintf(line, 4096,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"put\",\"params\":{\"table\":\"%s\","
             "\"row\":\"g%03d\",\"data\":{\"cf:a\":\"value-%d\"}}}\n",
             g_opts.table, i, i);
    must_call(fd, line);
  }
  free(line);
  close(fd);
}

static void drop_table(void) {
  int fd = open_conn();
  char line[512];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"delete_table\",\"params\":{\"table\":"
           "\"%s\",\"disable\":true}}\n",
           g_opts.table);
  if (fd >= 0)
    must_call(fd, line);
  close(fd);
}

static void raise_nofile(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t need = (rlim_t)(g_opts.idle + g_opts.slowloris + g_opts.deaf + 256);
  if (rl.rlim_cur < need) {
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Whether --sets names this set (every set runs without --sets). */
static bool set_chosen(const char *name) {
  if (g_opts.sets == NULL)
    return true;
  size_t len = strlen(name);
  for (const char *p = g_opts.sets; (p = strstr(p, name)) != NULL; p += len)
    if ((p == g_opts.sets || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
      return true;
  return false;
}

static void usage(FILE *to) {
  fprintf(
    to,
    "usage: hostile_bench --socket PATH --pid PID --table TABLE [--seconds S (10)] "
    "[--steady N (16)] [--direct N (4)] [--pace-ms MS (10)] [--slowloris N (1000)] [--deaf N (500)] "
    "[--deaf-scans N (4)] [--deaf-reconnect] [--idle N (10000)] [--line-mib N (15)] "
    "[--sets slowloris,deaf,idle,big-line,hog (all)]\n"
    "hbpoold (PID) serves PATH; TABLE is created, loaded, and deleted at the end. The "
    "direct clients' gateway is $HBPOOL_TEST_THRIFT_HOST/PORT/FRAMED/COMPACT/HTTP.\n");
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"socket", required_argument, NULL, 's'},   {"pid", required_argument, NULL, 'p'},
    {"table", required_argument, NULL, 't'},    {"seconds", required_argument, NULL, 'S'},
    {"steady", required_argument, NULL, 'n'},   {"direct", required_argument, NULL, 'D'},
    {"pace-ms", required_argument, NULL, 'm'},  {"slowloris", required_argument, NULL, 'l'},
    {"deaf", required_argument, NULL, 'd'},     {"deaf-scans", required_argument, NULL, 'k'},
    {"idle", required_argument, NULL, 'i'},     {"line-mib", required_argument, NULL, 'L'},
    {"deaf-reconnect", no_argument, NULL, 'r'}, {"sets", required_argument, NULL, 'x'},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case 's': g_opts.socket_path = optarg; break;
    case 'p': g_opts.pid = atoi(optarg); break;
    case 't': g_opts.table = optarg; break;
    case 'S': g_opts.seconds = atof(optarg); break;
    case 'n': g_opts.steady = atoi(optarg); break;
    case 'D': g_opts.direct = atoi(optarg); break;
    case 'm': g_opts.pace_ms = atoi(optarg); break;
    case 'l': g_opts.slowloris = atoi(optarg); break;
    case 'd': g_opts.deaf = atoi(optarg); break;
    case 'k': g_opts.deaf_scans = atoi(optarg); break;
    case 'i': g_opts.idle = atoi(optarg); break;
    case 'L': g_opts.line_mib = atoi(optarg); break;
    case 'r': g_opts.deaf_reconnect = true; break;
    case 'x': g_opts.sets = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc || g_opts.socket_path == NULL || g_opts.pid <= 0 || g_opts.table == NULL ||
      g_opts.seconds <= 0 || g_opts.steady < 1 || g_opts.steady > 256 || g_opts.direct < 1 ||
      g_opts.direct > 256 || g_opts.pace_ms < 1) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  bench_gateway_options(&g_gateway, IO_TIMEOUT_S * 1000);
  load_table();
  run_set("warm-up", NULL); /* the gateway's JIT and the daemon's connections settle */
  figures quiet = run_set("quiet", NULL);
  static const struct {
    const char *name;
    void *(*main)(void *);
  } hostile[] = {
    {"slowloris", slowloris_main}, {"deaf", deaf_main}, {"idle", idle_main},
    {"big-line", big_line_main},   {"hog", hog_main},
  };
  figures sets[sizeof hostile / sizeof hostile[0]];
  size_t nsets = 0;
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++)
    if (set_chosen(hostile[i].name))
      sets[nsets++] = run_set(hostile[i].name, hostile[i].main);
  figures quiet_after = run_set("quiet-end", NULL);
  print_set(&quiet, &quiet);
  for (size_t i = 0; i < nsets; i++)
    print_set(&sets[i], &quiet);
  print_set(&quiet_after, &quiet);
  if (set_chosen("hog"))
    printf("hog: %ld replies (%.0f/s while measured), errors in %ld reads\n", g_hog_replies,
           g_hog_replies / (g_opts.seconds + 2), g_hog_failures);
  if (set_chosen("big-line"))
    printf("big-line: %ld lines of %d MiB sent, %ld answered with an error\n", g_big_lines,
           g_opts.line_mib, g_big_failures);
  drop_table();
  json_t *summary = json_pack("{s:f,s:f,s:f}", "quiet_p50_ms", quiet.steady.p50, "quiet_p99_ms",
                              quiet.steady.p99, "quiet_direct_p99_ms", quiet.direct.p99);
  long steady_failures = quiet.steady.failures + quiet_after.steady.failures;
  for (size_t i = 0; i < nsets; i++) {
    char key[64];
    const figures *f = &sets[i];
    steady_failures += f->steady.failures;
    snprintf(key, sizeof key, "%s_p99_ratio", f->name);
    json_object_set_new(summary, key, json_real(f->steady.p99 / quiet.steady.p99));
    snprintf(key, sizeof key, "%s_direct_p99_ratio", f->name);
    json_object_set_new(summary, key, json_real(f->direct.p99 / quiet.direct.p99));
    snprintf(key, sizeof key, "%s_rss_peak_mib", f->name);
    json_object_set_new(summary, key, json_real(f->rss_peak_kib / 1024.0));
    snprintf(key, sizeof key, "%s_buffered_peak_mib", f->name);
    json_object_set_new(summary, key, json_real(f->buffered_peak / 1048576.0));
  }
  json_object_set_new(summary, "steady_failures", json_integer(steady_failures));
  char *text = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(4));
  printf("summary: %s\n", text);
  free(text);
  json_decref(summary);
  return 0;
}
