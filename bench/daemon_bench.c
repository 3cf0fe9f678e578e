/* daemon_bench: times hbpoold against a real gateway: closed-loop single-row gets and puts from
 * 1, 16 and 128 clients, with coalescing on and off (switched by a reload of the daemon's
 * config), the same directly over Thrift from 1 and 8 threads as the ceilings, whole scans of
 * the scan rows by scan pages and by scanner_next against scannerGetList, one client's gets
 * while another scans ~20 MB pages, the daemon's CPU and RSS (during the scans, and with many
 * idle clients); ends with "summary: {json}". */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "hbase_client.h"

#define NCOLUMNS 10
#define VALUE "value-of-twenty-byte"
#define GET_ROWS 1000    /* gets spread over these rows: shared calls read distinct ones */
#define DIRECT_THREADS 8 /* the daemon's pool_size: the same number of gateway connections */
#define WARM_GETS 3000   /* the rows read once, before the warm-up rounds */
#define WARM_PUTS 1000
#define WARM_ROUNDS_MAX 6
#define WARM_STEADY_PCT 10 /* warm once the direct gets' rate moves less than this in a round */
/* The longest reply line accepted (a scan page of 1,000 rows is ~100 KB). */
#define REPLY_MAX (64 << 20)
#define SCAN_ROWS 200000 /* rows loaded for the scans, unless --scan-rows says otherwise */
#define SCAN_COLUMNS 4
#define SCAN_BATCH 1000 /* rows per gateway call on every side of the scans */
#define LOAD_BATCH 1000 /* rows per mutateRows while loading */
#define HUGE_ROWS 200   /* rows of HUGE_VALUE bytes: one scan page of them is ~20 MB */
#define HUGE_VALUE (100 * 1000)
#define IO_TIMEOUT_S 30
#define MAX_SHOWN_ERRORS 5

typedef enum bench_op { OP_GET, OP_PUT } bench_op;
typedef enum run_state { STATE_WARMUP, STATE_MEASURE, STATE_STOP } run_state;

typedef struct bench_opts {
  const char *socket_path;
  const char *table;
  int pid;
  double seconds, warmup;
  int idle_clients;
  long scan_rows;
  const char *conf;  /* hbpoold's config: "coalesce = ..." is switched in it, then SIGHUP */
  const char *phase; /* --phase: run only this one, for profiling */
} bench_opts;

static bench_opts g_opts = {.seconds = 3,
                            .warmup = 1,
                            .idle_clients = 10000,
                            .scan_rows = SCAN_ROWS};
static hbc_options g_gateway;
/* Shared by the client threads: the phase's state, and counters (read with __atomic builtins). */
static int g_state;
static bool g_coalesce = true; /* as the daemon was last told */
static long g_errors;
static long g_next_id;

/* ---------------------------------------------------------------------------------------------
 * Small helpers. */

/* Counts a failed request; the first few are shown, so that a failing run says why. */
static void note_error(const char *what, const hb_error *err) {
  long n = __atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
  if (n <= MAX_SHOWN_ERRORS)
    fprintf(stderr, "daemon_bench: error: %s: %s: %s\n", what, hb_errcode_name(err->code),
            err->message != NULL ? err->message : "");
  if (n == MAX_SHOWN_ERRORS)
    fprintf(stderr, "daemon_bench: (further errors are counted, not shown)\n");
}

static const char *str_or(const char *s, const char *dflt) {
  return s != NULL ? s : dflt;
}

/* ---------------------------------------------------------------------------------------------
 * The daemon process, seen through /proc. */

/* utime + stime of every thread of the daemon, in microseconds. */
static double daemon_cpu_us(void) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", g_opts.pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    bench_fatal("hbpoold (pid %d) is gone: %s", g_opts.pid, strerror(errno));
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold blanks and parentheses: fields are counted after the last ')'. */
  char *p = strrchr(buf, ')');
  unsigned long long utime, stime;
  if (p == NULL ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    bench_fatal("cannot parse %s", path);
  return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static long daemon_rss_kib(void) {
  long kib = bench_status_kib(g_opts.pid, "VmRSS");
  if (kib < 0)
    bench_fatal("hbpoold (pid %d) is gone", g_opts.pid);
  return kib;
}

/* Guards against a wrong --pid: the figures would silently be some other process's. */
static void check_daemon_pid(void) {
  char path[64], comm[64] = "";
  snprintf(path, sizeof path, "/proc/%d/comm", g_opts.pid);
  FILE *f = fopen(path, "r");
  if (f == NULL || fgets(comm, sizeof comm, f) == NULL)
    bench_fatal("no process %d: %s", g_opts.pid, strerror(errno));
  fclose(f);
  comm[strcspn(comm, "\n")] = '\0';
  if (strcmp(comm, "hbpoold") != 0)
    bench_fatal("process %d is \"%s\", not hbpoold", g_opts.pid, comm);
}

/* ---------------------------------------------------------------------------------------------
 * A JSON-RPC line client of the daemon. */

typedef struct dconn {
  int fd;
  size_t len, cap;
  char *buf; /* grown as replies need, up to REPLY_MAX */
} dconn;

static int dconn_open(dconn *c, hb_error *err) {
  c->len = c->cap = 0;
  c->buf = NULL;
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "socket: %s", strerror(errno));
  /* A daemon that stops answering fails the request instead of hanging the benchmark. */
  struct timeval tv = {IO_TIMEOUT_S, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_opts.socket_path);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0)
    return 0;
  hb_error_set(err, HB_ERR_UNAVAILABLE, "connect %s: %s", g_opts.socket_path, strerror(errno));
  close(c->fd);
  c->fd = -1;
  return -1;
}

static void dconn_close(dconn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = 0;
}

/* Sends {"jsonrpc":"2.0","id":ID,BODY} and a newline; BODY is "method":...,"params":{...}. */
static int dconn_send(dconn *c, long id, const char *body, hb_error *err) {
  char line[2048];
  int n = snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%ld,%s}\n", id, body);
  if (n < 0 || (size_t)n >= sizeof line)
    return hb_error_set(err, HB_ERR_INVALID, "request too long for the bench");
  for (size_t off = 0; off < (size_t)n;) {
    ssize_t w = send(c->fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return hb_error_set(err, HB_ERR_TRANSPORT, "send: %s", strerror(errno));
    off += (size_t)w;
  }
  return 0;
}

/* Reads the next line into the buffer; *len is its length without the '\n'. */
static int dconn_line(dconn *c, size_t *len, hb_error *err) {
  for (;;) {
    char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
    if (nl != NULL) {
      *len = (size_t)(nl - c->buf);
      return 0;
    }
    if (c->len == c->cap) {
      if (c->cap >= REPLY_MAX)
        return hb_error_set(err, HB_ERR_TRANSPORT, "reply longer than %d bytes", REPLY_MAX);
      c->cap = c->cap == 0 ? 4096 : c->cap * 2;
      c->buf = realloc(c->buf, c->cap);
      if (c->buf == NULL)
        bench_fatal("out of memory");
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      return hb_error_set(err, HB_ERR_TRANSPORT, "hbpoold closed the connection");
    if (r < 0)
      return hb_error_set(err, HB_ERR_TRANSPORT, "recv: %s", strerror(errno));
    c->len += (size_t)r;
  }
}

/* A JSON-RPC error reply, as one message: code, data.error and the message. */
static int reply_error(json_t *error, hb_error *err) {
  json_t *data = json_object_get(error, "data");
  return hb_error_set(err, HB_ERR_IO, "hbpoold replied error %lld (%s): %s",
                      (long long)json_integer_value(json_object_get(error, "code")),
                      str_or(json_string_value(json_object_get(data, "error")), "?"),
                      str_or(json_string_value(json_object_get(error, "message")), "?"));
}

/* Reads the reply to request id; *result gets a new reference to its result. An error reply
 * leaves the connection usable (HB_ERR_IO); anything else breaks it (HB_ERR_TRANSPORT). */
static int dconn_reply(dconn *c, long id, json_t **result, hb_error *err) {
  size_t len = 0;
  if (dconn_line(c, &len, err) < 0)
    return -1;
  json_error_t je;
  json_t *reply = json_loadb(c->buf, len, 0, &je);
  memmove(c->buf, c->buf + len + 1, c->len - len - 1);
  c->len -= len + 1;
  if (reply == NULL)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply is not JSON: %s", je.text);
  int rc = 0;
  json_t *error = json_object_get(reply, "error"), *res = json_object_get(reply, "result");
  if (json_integer_value(json_object_get(reply, "id")) != id)
    rc = hb_error_set(err, HB_ERR_TRANSPORT, "reply to another request (expected id %ld)", id);
  else if (error != NULL)
    rc = reply_error(error, err);
  else if (res == NULL)
    rc = hb_error_set(err, HB_ERR_TRANSPORT, "reply has neither result nor error");
  else
    *result = json_incref(res);
  json_decref(reply);
  return rc;
}

/* One request and its reply. */
static int dconn_call(dconn *c, const char *body, json_t **result, hb_error *err) {
  long id = __atomic_add_fetch(&g_next_id, 1, __ATOMIC_RELAXED);
  if (dconn_send(c, id, body, err) < 0)
    return -1;
  return dconn_reply(c, id, result, err);
}

/* ---------------------------------------------------------------------------------------------
 * The two kinds of request, through the daemon and directly over Thrift. */

/* A get must return the whole loaded row; a put returns null. */
static int check_daemon_result(bench_op op, json_t *result, hb_error *err) {
  if (op == OP_PUT)
    return json_is_null(result) ? 0 : hb_error_set(err, HB_ERR_INVALID, "put did not return null");
  if (!json_is_object(result) || json_object_size(result) != NCOLUMNS)
    return hb_error_set(err, HB_ERR_INVALID, "row did not return the %d-column row", NCOLUMNS);
  const char *v = json_string_value(json_object_get(result, "cf:c0"));
  if (v == NULL || strcmp(v, VALUE) != 0)
    return hb_error_set(err, HB_ERR_INVALID, "row returned a wrong value of cf:c0");
  return 0;
}

static int daemon_request(dconn *c, bench_op op, const char *body, hb_error *err) {
  json_t *result = NULL;
  if (dconn_call(c, body, &result, err) < 0)
    return -1;
  int rc = check_daemon_result(op, result, err);
  json_decref(result);
  return rc;
}

/* The name of loaded row i. */
static void get_row_name(char *out, size_t size, long i) {
  snprintf(out, size, "get-%04ld", i % GET_ROWS);
}

/* The JSON params of a request: a get of a loaded row, or a put of a worker's own row. */
static void request_body(char *body, size_t size, bench_op op, const char *row) {
  if (op == OP_GET) {
    snprintf(body, size, "\"method\":\"row\",\"params\":{\"table\":\"%s\",\"row\":\"%s\"}",
             g_opts.table, row);
    return;
  }
  int n = snprintf(body, size,
                   "\"method\":\"put\",\"params\":{\"table\":\"%s\",\"row\":\"%s\","
                   "\"data\":{",
                   g_opts.table, row);
  for (int i = 0; i < NCOLUMNS; i++)
    n += snprintf(body + n, size - (size_t)n, "%s\"cf:c%d\":\"" VALUE "\"", i > 0 ? "," : "", i);
  snprintf(body + n, size - (size_t)n, "}}");
}

static hbc_conn *direct_connect(hb_error *err) {
  return hbc_connect(&g_gateway, err);
}

/* One row of NCOLUMNS columns, each VALUE: the shape of the row the gets read. */
static int direct_put(hbc_conn *c, const char *row, hb_error *err) {
  char cols[NCOLUMNS][16];
  hbc_mutation m[NCOLUMNS];
  for (int i = 0; i < NCOLUMNS; i++) {
    snprintf(cols[i], sizeof cols[i], "cf:c%d", i);
    m[i] = (hbc_mutation){.column = hbc_str(cols[i]), .value = hbc_str(VALUE), .wal = true};
  }
  hbc_row_mutations rm = {.row = hbc_str(row), .mutations = m, .nmutations = NCOLUMNS};
  return hbc_mutate_rows(c, hbc_str(g_opts.table), &rm, 1, HBC_LATEST, err);
}

static int direct_get(hbc_conn *c, const char *name, hb_error *err) {
  hbc_bytes row = hbc_str(name);
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_rows(c, hbc_str(g_opts.table), &row, 1, NULL, 0, HBC_LATEST, &res, err) < 0)
    return -1;
  int rc = 0;
  if (res.nrows != 1 || res.rows[0].ncells != NCOLUMNS)
    rc = hb_error_set(err, HB_ERR_INVALID, "get did not return the %d-column row", NCOLUMNS);
  hbc_result_free(&res);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * A phase: N closed-loop clients, warm-up, then a measured window. */

typedef struct worker {
  pthread_t thread;
  int index;
  bench_op op;
  bool direct;
  pthread_barrier_t *ready;
  double *lat_us; /* latency of every request completed in the measured window */
  size_t nlat, cap;
  dconn dc;
  hbc_conn *hc;
} worker;

static void record(worker *w, double us) {
  if (w->nlat == w->cap) {
    w->cap = w->cap == 0 ? 4096 : w->cap * 2;
    w->lat_us = realloc(w->lat_us, w->cap * sizeof *w->lat_us);
    if (w->lat_us == NULL)
      bench_fatal("out of memory");
  }
  w->lat_us[w->nlat++] = us;
}

static int worker_connect(worker *w, hb_error *err) {
  if (!w->direct)
    return dconn_open(&w->dc, err);
  w->hc = direct_connect(err);
  return w->hc != NULL ? 0 : -1;
}

static void worker_disconnect(worker *w) {
  if (w->direct && w->hc != NULL)
    hbc_close(w->hc);
  if (!w->direct)
    dconn_close(&w->dc);
  w->hc = NULL;
}

/* After a failed request: whether the connection can go on, else a new one (false: give up). */
static bool worker_recover(worker *w, const hb_error *failed) {
  bool broken = w->direct ? !hbc_usable(w->hc) : hb_error_breaks_connection(failed->code);
  if (!broken)
    return true;
  worker_disconnect(w);
  hb_error err = HB_ERROR_INIT;
  if (worker_connect(w, &err) == 0)
    return true;
  note_error("reconnect", &err);
  hb_error_clear(&err);
  return false;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  char body[1024], row[32];
  snprintf(row, sizeof row, "put-%d", w->index);
  request_body(body, sizeof body, w->op, row);
  /* Each client walks the loaded rows from its own place. */
  long next_get = (long)w->index * 97;
  hb_error err = HB_ERROR_INIT;
  bool up = worker_connect(w, &err) == 0;
  if (!up) {
    note_error("connect", &err);
    hb_error_clear(&err);
  }
  pthread_barrier_wait(w->ready);
  while (up && __atomic_load_n(&g_state, __ATOMIC_RELAXED) != STATE_STOP) {
    if (w->op == OP_GET) {
      get_row_name(row, sizeof row, next_get++);
      if (!w->direct)
        request_body(body, sizeof body, w->op, row);
    }
    double t0 = bench_now_us();
    int rc;
    if (w->direct)
      rc = w->op == OP_GET ? direct_get(w->hc, row, &err) : direct_put(w->hc, row, &err);
    else
      rc = daemon_request(&w->dc, w->op, body, &err);
    double t1 = bench_now_us();
    if (rc == 0) {
      if (__atomic_load_n(&g_state, __ATOMIC_RELAXED) == STATE_MEASURE)
        record(w, t1 - t0);
      continue;
    }
    note_error(w->op == OP_GET ? "get" : "put", &err);
    up = worker_recover(w, &err);
    hb_error_clear(&err);
  }
  worker_disconnect(w);
  return NULL;
}

static void print_header(void) {
  printf("%-11s %7s %9s %9s %9s %9s %18s %16s %6s\n", "phase", "clients", "requests", "rps",
         "p50 us", "p99 us", "daemon CPU us/req", "host (HBase) us", "busy");
}

typedef struct phase_result {
  double rps, p50_us;
  double cpu_us; /* per request: the daemon's, or for a direct phase the clients' own */
  /* Per request, the whole host's busy CPU, and the share of the host's CPUs that were busy: where
   * it nears 100%, rps is the host's CPU over this cost. The host's CPU is the daemon's, the
   * bench clients' own and the rest's: HBase's JVMs (and whatever else runs). */
  double host_cpu_us, busy_pct, clients_cpu_us, rest_cpu_us;
} phase_result;

/* Runs one phase, prints its line of the table and returns its figures. */
static phase_result run_phase(bench_op op, bool direct, int nclients) {
  worker *w = calloc((size_t)nclients, sizeof *w);
  pthread_barrier_t ready;
  pthread_barrier_init(&ready, NULL, (unsigned)nclients + 1);
  __atomic_store_n(&g_state, STATE_WARMUP, __ATOMIC_RELAXED);
  for (int i = 0; i < nclients; i++) {
    w[i] = (worker){.index = i, .op = op, .direct = direct, .ready = &ready, .dc.fd = -1};
    if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
      bench_fatal("pthread_create failed");
  }
  long errors0 = __atomic_load_n(&g_errors, __ATOMIC_RELAXED);
  pthread_barrier_wait(&ready); /* every client connected: the clock starts */
  bench_sleep_s(g_opts.warmup);
  /* Direct phases show the clients' own CPU instead: the Thrift work the daemon's workers do. */
  double daemon0 = direct ? 0 : daemon_cpu_us(), self0 = bench_cpu_us(RUSAGE_SELF),
         t0 = bench_now_us();
  double host0 = bench_machine_busy_us();
  __atomic_store_n(&g_state, STATE_MEASURE, __ATOMIC_RELAXED);
  bench_sleep_s(g_opts.seconds);
  __atomic_store_n(&g_state, STATE_STOP, __ATOMIC_RELAXED);
  double t1 = bench_now_us(), host = bench_machine_busy_us() - host0;
  double self = bench_cpu_us(RUSAGE_SELF) - self0, daemon = direct ? 0 : daemon_cpu_us() - daemon0;
  size_t n = 0;
  for (int i = 0; i < nclients; i++) {
    pthread_join(w[i].thread, NULL);
    n += w[i].nlat;
  }
  double *all = malloc((n > 0 ? n : 1) * sizeof *all);
  size_t k = 0;
  for (int i = 0; i < nclients; i++) {
    memcpy(all + k, w[i].lat_us, w[i].nlat * sizeof *all);
    k += w[i].nlat;
    free(w[i].lat_us);
  }
  qsort(all, n, sizeof *all, bench_compare_double);
  phase_result r = {.rps = (double)n / ((t1 - t0) / 1e6),
                    .p50_us = bench_percentile(all, n, 50),
                    .cpu_us = n > 0 ? (direct ? self : daemon) / (double)n : 0,
                    .host_cpu_us = n > 0 ? host / (double)n : 0,
                    .clients_cpu_us = n > 0 ? self / (double)n : 0,
                    .rest_cpu_us = n > 0 ? (host - self - daemon) / (double)n : 0,
                    .busy_pct = 100 * host / ((t1 - t0) * bench_machine_cpus())};
  char cpu[32] = "-";
  if (n > 0)
    snprintf(cpu, sizeof cpu, direct ? "(clients %.1f)" : "%.1f", r.cpu_us);
  long errors = __atomic_load_n(&g_errors, __ATOMIC_RELAXED) - errors0;
  const char *who = direct ? "direct" : g_coalesce ? "daemon" : "nocoal";
  char host_cpu[32];
  snprintf(host_cpu, sizeof host_cpu, "%.0f (%.0f)", r.host_cpu_us, r.rest_cpu_us);
  printf("%s %-4s %7d %9zu %9.1f %9.1f %9.1f %18s %16s %5.0f%%", who, op == OP_GET ? "get" : "put",
         nclients, n, r.rps, r.p50_us, bench_percentile(all, n, 99), cpu, host_cpu, r.busy_pct);
  if (errors > 0)
    printf("  <- %ld ERRORS", errors);
  printf("\n");
  fflush(stdout);
  if (n == 0) {
    hb_error err = HB_ERROR_INIT;
    hb_error_set(&err, HB_ERR_INVALID, "no request completed in the measured window");
    note_error("phase", &err);
    hb_error_clear(&err);
  }
  free(all);
  pthread_barrier_destroy(&ready);
  free(w);
  return r;
}

/* ---------------------------------------------------------------------------------------------
 * Memory with many idle clients. */

/* A call on a fresh connection that must succeed (a new reference to its result). */
static json_t *daemon_call(const char *body) {
  dconn c;
  hb_error err = HB_ERROR_INIT;
  json_t *result = NULL;
  if (dconn_open(&c, &err) < 0 || dconn_call(&c, body, &result, &err) < 0) {
    note_error(body, &err);
    hb_error_clear(&err);
  }
  dconn_close(&c);
  return result;
}

static long long stats_int(json_t *stats, const char *group, const char *key) {
  return json_integer_value(json_object_get(json_object_get(stats, group), key));
}

typedef struct idle_result {
  long rss_before, rss_with; /* KiB */
  int clients;               /* connected and answered */
  long long connected;       /* as the daemon counts them (with the stats connection) */
} idle_result;

/* Connects idle_clients sockets, pings each so the daemon has really accepted them, holds them. */
static idle_result run_idle_clients(void) {
  int n = g_opts.idle_clients;
  idle_result r = {.rss_before = daemon_rss_kib()};
  dconn *c = malloc((size_t)n * sizeof *c);
  hb_error err = HB_ERROR_INIT;
  int up = 0;
  for (; up < n; up++) {
    if (dconn_open(&c[up], &err) < 0)
      break;
    if (dconn_send(&c[up], -1 - up, "\"method\":\"ping\"", &err) < 0) {
      dconn_close(&c[up]);
      break;
    }
  }
  for (int i = 0; i < up && err.code == HB_OK; i++) {
    json_t *result = NULL;
    if (dconn_reply(&c[i], -1 - i, &result, &err) == 0 &&
        strcmp(str_or(json_string_value(result), ""), "pong") != 0)
      hb_error_set(&err, HB_ERR_INVALID, "ping did not return \"pong\"");
    json_decref(result);
    r.clients += err.code == HB_OK;
  }
  if (err.code != HB_OK) {
    note_error("idle clients", &err);
    hb_error_clear(&err);
  }
  bench_sleep_s(
    0.5); /* idle for a moment: what the daemon keeps per idle client, not per request */
  r.rss_with = daemon_rss_kib();
  json_t *stats = daemon_call("\"method\":\"stats\"");
  r.connected = stats_int(stats, "clients", "connected");
  json_decref(stats);
  for (int i = 0; i < up; i++)
    dconn_close(&c[i]);
  free(c);
  if (r.clients < n || r.connected < n) {
    hb_error_set(&err, HB_ERR_INVALID, "%d of %d idle clients answered, hbpoold counts %lld",
                 r.clients, n, r.connected);
    note_error("idle clients", &err);
    hb_error_clear(&err);
  }
  return r;
}

static void print_idle(const idle_result *r) {
  printf("daemon RSS: %ld KiB fresh, %ld KiB with %d idle clients (hbpoold counts %lld connected): "
         "%.1f KiB per idle client\n",
         r->rss_before, r->rss_with, r->clients, r->connected,
         (double)(r->rss_with - r->rss_before) / (r->clients > 0 ? r->clients : 1));
}

/* ---------------------------------------------------------------------------------------------
 * Whole scans of the scan rows, SCAN_BATCH rows per gateway call on each side: directly with
 * scannerGetList, through hbpoold by scan pages (each page a scanner of its own, continued with
 * its "next" params) and by scanner_next; the daemon's RSS is sampled meanwhile. */

static void scan_row_name(char *out, size_t size, long i) {
  snprintf(out, size, "scan-%07ld", i);
}

/* A scan row as the daemon returns it: [key, {cf:s0..: VALUE}]. */
static int check_scan_row(json_t *row, hb_error *err) {
  json_t *cols = json_array_get(row, 1);
  if (!json_is_string(json_array_get(row, 0)) || json_object_size(cols) != SCAN_COLUMNS)
    return hb_error_set(err, HB_ERR_INVALID, "a scan row came back without its %d columns",
                        SCAN_COLUMNS);
  const char *v = json_string_value(json_object_get(cols, "cf:s0"));
  return v != NULL && strcmp(v, VALUE) == 0
    ? 0
    : hb_error_set(err, HB_ERR_INVALID, "a scan row has a wrong value of cf:s0");
}

static int check_scan_rows(json_t *rows, long *seen, hb_error *err) {
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    if (check_scan_row(row, err) < 0)
      return -1;
  }
  *seen += (long)json_array_size(rows);
  return 0;
}

static long direct_scan(hb_error *err) {
  hbc_conn *c = direct_connect(err);
  if (c == NULL)
    return -1;
  hbc_scan scan;
  hbc_scan_init(&scan);
  scan.start_row = hbc_str("scan-");
  scan.stop_row = hbc_str("scan.");
  scan.caching = SCAN_BATCH;
  int32_t id = -1;
  long seen = 0;
  int rc = hbc_scanner_open(c, hbc_str(g_opts.table), &scan, &id, err);
  while (rc == 0) {
    hbc_result res = HBC_RESULT_INIT;
    rc = hbc_scanner_get_list(c, id, SCAN_BATCH, &res, err);
    size_t n = rc == 0 ? res.nrows : 0;
    for (size_t i = 0; i < n && rc == 0; i++)
      if (res.rows[i].ncells != SCAN_COLUMNS)
        rc = hb_error_set(err, HB_ERR_INVALID, "a scanned row has %zu cells", res.rows[i].ncells);
    hbc_result_free(&res);
    seen += (long)n;
    if (n == 0)
      break;
  }
  if (rc == 0)
    rc = hbc_scanner_close(c, id, err);
  hbc_close(c);
  return rc == 0 ? seen : -1;
}

static char *scan_body(const char *method, json_t *params) {
  char *p = json_dumps(params, JSON_COMPACT);
  char *body = NULL;
  if (asprintf(&body, "\"method\":\"%s\",\"params\":%s", method, p) < 0)
    bench_fatal("out of memory");
  free(p);
  return body;
}

static json_t *scan_params(void) {
  return json_pack("{s:s,s:s,s:s,s:i}", "table", g_opts.table, "row_start", "scan-", "row_stop",
                   "scan.", "batch_size", SCAN_BATCH);
}

/* scan, then scan again with each page's "next" params until it is null. */
static long daemon_scan_pages(hb_error *err) {
  dconn c;
  if (dconn_open(&c, err) < 0)
    return -1;
  long seen = 0;
  json_t *params = scan_params();
  int rc = 0;
  while (rc == 0 && params != NULL) {
    char *body = scan_body("scan", params);
    json_t *result = NULL;
    rc = dconn_call(&c, body, &result, err);
    free(body);
    json_decref(params);
    params = NULL;
    if (rc == 0)
      rc = check_scan_rows(json_object_get(result, "rows"), &seen, err);
    json_t *next = json_object_get(result, "next");
    if (rc == 0 && json_is_object(next))
      params = json_incref(next);
    json_decref(result);
  }
  json_decref(params);
  dconn_close(&c);
  return rc == 0 ? seen : -1;
}

static long daemon_scanner(hb_error *err) {
  dconn c;
  if (dconn_open(&c, err) < 0)
    return -1;
  long seen = 0;
  json_t *params = scan_params(), *result = NULL;
  char *body = scan_body("scanner_open", params);
  json_decref(params);
  int rc = dconn_call(&c, body, &result, err);
  free(body);
  json_int_t id = json_integer_value(json_object_get(result, "scanner"));
  json_decref(result);
  bool done = false;
  char next[256];
  snprintf(next, sizeof next,
           "\"method\":\"scanner_next\",\"params\":{\"scanner\":%lld,"
           "\"count\":%d}",
           (long long)id, SCAN_BATCH);
  while (rc == 0 && !done) {
    result = NULL;
    rc = dconn_call(&c, next, &result, err);
    if (rc == 0)
      rc = check_scan_rows(json_object_get(result, "rows"), &seen, err);
    done = json_is_true(json_object_get(result, "done"));
    json_decref(result);
  }
  if (rc == 0) {
    snprintf(next, sizeof next, "\"method\":\"scanner_close\",\"params\":{\"scanner\":%lld}",
             (long long)id);
    result = NULL;
    rc = dconn_call(&c, next, &result, err);
    json_decref(result);
  }
  dconn_close(&c);
  return rc == 0 ? seen : -1;
}

/* The daemon's RSS, sampled every 20 ms while a scan runs. */
static long g_rss_peak;
static int g_sampling;

static void *sample_rss(void *arg) {
  (void)arg;
  while (__atomic_load_n(&g_sampling, __ATOMIC_RELAXED)) {
    long kib = daemon_rss_kib();
    if (kib > __atomic_load_n(&g_rss_peak, __ATOMIC_RELAXED))
      __atomic_store_n(&g_rss_peak, kib, __ATOMIC_RELAXED);
    bench_sleep_s(0.02);
  }
  return NULL;
}

typedef enum scan_side { SCAN_DIRECT, SCAN_PAGES, SCAN_SCANNER, SCAN_SIDES } scan_side;
static const char *const SCAN_SIDE_NAMES[] = {"direct scannerGetList", "daemon scan pages",
                                              "daemon scanner_next"};

/* One whole scan; returns rows per second (0 when it failed or missed rows). */
/* One whole scan: its rows/s, and in *busy_pct (if not NULL) the share of the host's CPUs busy. */
static double scan_pass(scan_side side, double *busy_pct) {
  hb_error err = HB_ERROR_INIT;
  double t0 = bench_now_us(), host0 = bench_machine_busy_us();
  long seen = side == SCAN_DIRECT ? direct_scan(&err)
    : side == SCAN_PAGES          ? daemon_scan_pages(&err)
                                  : daemon_scanner(&err);
  double t1 = bench_now_us();
  if (busy_pct != NULL)
    *busy_pct = 100 * (bench_machine_busy_us() - host0) / ((t1 - t0) * bench_machine_cpus());
  if (seen >= 0 && seen != g_opts.scan_rows)
    hb_error_set(&err, HB_ERR_INVALID, "%s returned %ld rows of %ld", SCAN_SIDE_NAMES[side], seen,
                 g_opts.scan_rows);
  if (err.code != HB_OK) {
    note_error(SCAN_SIDE_NAMES[side], &err);
    hb_error_clear(&err);
    return 0;
  }
  return (double)seen / ((t1 - t0) / 1e6);
}

typedef struct scan_figures {
  double rows_per_s[SCAN_SIDES]; /* the better of two passes each */
  double busy_pct[SCAN_SIDES];   /* the host's CPUs busy during that pass */
  long rss_before, rss_peak;     /* KiB, the daemon's, around the daemon's passes */
} scan_figures;

static scan_figures run_scans(void) {
  scan_figures f = {.rss_before = daemon_rss_kib()};
  g_rss_peak = f.rss_before;
  __atomic_store_n(&g_sampling, 1, __ATOMIC_RELAXED);
  pthread_t sampler;
  if (pthread_create(&sampler, NULL, sample_rss, NULL) != 0)
    bench_fatal("pthread_create failed");
  printf("\nwhole scans of %ld rows (%d columns of %zu bytes), %d rows per gateway call:\n",
         g_opts.scan_rows, SCAN_COLUMNS, strlen(VALUE), SCAN_BATCH);
  /* A warm-up pass of each, then two measured rounds, the sides in turn. */
  for (int round = 0; round < 3; round++)
    for (int side = 0; side < SCAN_SIDES; side++) {
      double busy = 0, rps = scan_pass((scan_side)side, &busy);
      printf("  %-22s %s %10.0f rows/s, host busy %3.0f%%\n", SCAN_SIDE_NAMES[side],
             round == 0 ? "warm-up " : "measured", rps, busy);
      if (round > 0 && rps > f.rows_per_s[side]) {
        f.rows_per_s[side] = rps;
        f.busy_pct[side] = busy;
      }
    }
  __atomic_store_n(&g_sampling, 0, __ATOMIC_RELAXED);
  pthread_join(sampler, NULL);
  f.rss_peak = g_rss_peak;
  for (int side = SCAN_PAGES; side < SCAN_SIDES; side++)
    printf("%s: %.2fx of direct scannerGetList\n", SCAN_SIDE_NAMES[side],
           f.rows_per_s[SCAN_DIRECT] > 0 ? f.rows_per_s[side] / f.rows_per_s[SCAN_DIRECT] : 0);
  printf("daemon RSS: %ld KiB before the scans, at most %ld KiB during them\n", f.rss_before,
         f.rss_peak);
  return f;
}

/* ---------------------------------------------------------------------------------------------
 * A bystander: one client's single-row gets, alone and while another client scans pages of
 * ~20 MB (HUGE_ROWS rows of HUGE_VALUE bytes in one page). Its latencies show how long a huge
 * reply holds everyone else up. */

static void huge_row_name(char *out, size_t size, long i) {
  snprintf(out, size, "huge-%04ld", i);
}

static int g_scanning;
static long g_huge_pages;

static void *scan_huge_pages(void *arg) {
  (void)arg;
  dconn c;
  hb_error err = HB_ERROR_INIT;
  if (dconn_open(&c, &err) < 0) {
    note_error("huge scans", &err);
    hb_error_clear(&err);
    return NULL;
  }
  char body[512];
  snprintf(body, sizeof body,
           "\"method\":\"scan\",\"params\":{\"table\":\"%s\",\"row_start\":"
           "\"huge-\",\"row_stop\":\"huge.\",\"batch_size\":%d}",
           g_opts.table, HUGE_ROWS);
  while (__atomic_load_n(&g_scanning, __ATOMIC_RELAXED)) {
    json_t *result = NULL;
    if (dconn_call(&c, body, &result, &err) < 0 ||
        json_array_size(json_object_get(result, "rows")) != HUGE_ROWS) {
      if (err.code == HB_OK)
        hb_error_set(&err, HB_ERR_INVALID, "a huge scan page lacks rows");
      note_error("huge scan", &err);
      hb_error_clear(&err);
      json_decref(result);
      break;
    }
    json_decref(result);
    __atomic_add_fetch(&g_huge_pages, 1, __ATOMIC_RELAXED);
  }
  dconn_close(&c);
  return NULL;
}

typedef struct bystander {
  double p50_us, p99_us, max_us;
  size_t gets;
} bystander;

/* Closed-loop gets from one client for seconds; their latencies. */
static bystander bystander_gets(double seconds) {
  bystander b = {0};
  dconn c;
  hb_error err = HB_ERROR_INIT;
  if (dconn_open(&c, &err) < 0) {
    note_error("bystander", &err);
    hb_error_clear(&err);
    return b;
  }
  size_t cap = 1 << 16, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  char body[512], row[32];
  double end = bench_now_us() + seconds * 1e6;
  for (long i = 0; bench_now_us() < end; i++) {
    get_row_name(row, sizeof row, i);
    request_body(body, sizeof body, OP_GET, row);
    double t0 = bench_now_us();
    if (daemon_request(&c, OP_GET, body, &err) < 0) {
      note_error("bystander get", &err);
      hb_error_clear(&err);
      break;
    }
    if (n == cap)
      lat = realloc(lat, (cap *= 2) * sizeof *lat);
    lat[n++] = bench_now_us() - t0;
  }
  dconn_close(&c);
  qsort(lat, n, sizeof *lat, bench_compare_double);
  b = (bystander){.p50_us = bench_percentile(lat, n, 50),
                  .p99_us = bench_percentile(lat, n, 99),
                  .max_us = n > 0 ? lat[n - 1] : 0,
                  .gets = n};
  free(lat);
  return b;
}

typedef struct stall_figures {
  bystander alone, during;
  long pages;
} stall_figures;

static stall_figures run_stall(void) {
  stall_figures f = {0};
  printf("\none client's gets, alone and while another client scans pages of %d rows of %d "
         "bytes (~%d MB each):\n",
         HUGE_ROWS, HUGE_VALUE, HUGE_ROWS * HUGE_VALUE / 1000000);
  f.alone = bystander_gets(g_opts.seconds);
  __atomic_store_n(&g_scanning, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&g_huge_pages, 0, __ATOMIC_RELAXED);
  pthread_t scanner;
  if (pthread_create(&scanner, NULL, scan_huge_pages, NULL) != 0)
    bench_fatal("pthread_create failed");
  bench_sleep_s(0.5); /* the first page is on its way */
  f.during = bystander_gets(g_opts.seconds);
  __atomic_store_n(&g_scanning, 0, __ATOMIC_RELAXED);
  pthread_join(scanner, NULL);
  f.pages = __atomic_load_n(&g_huge_pages, __ATOMIC_RELAXED);
  const bystander *b[] = {&f.alone, &f.during};
  const char *what[] = {"alone", "during huge scans"};
  for (int i = 0; i < 2; i++)
    printf("  %-17s %7zu gets, p50 %8.1f us, p99 %8.1f us, max %9.1f us\n", what[i], b[i]->gets,
           b[i]->p50_us, b[i]->p99_us, b[i]->max_us);
  printf("  (%ld huge pages scanned meanwhile)\n", f.pages);
  if (f.pages == 0) {
    hb_error err = HB_ERROR_INIT;
    hb_error_set(&err, HB_ERR_INVALID, "no huge page was scanned during the bystander's gets");
    note_error("huge scans", &err);
    hb_error_clear(&err);
  }
  return f;
}

/* ---------------------------------------------------------------------------------------------
 * Setup and the whole run. */

/* Room for every idle client, the busiest phase and a margin, if the hard limit allows. */
static void raise_nofile(void) {
  rlim_t need = (rlim_t)g_opts.idle_clients + 128 + 64;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
    return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    bench_fatal("the open-files limit (hard %llu) is below the %llu this run needs: lower "
                "--idle-clients or raise ulimit -Hn",
                (unsigned long long)rl.rlim_max, (unsigned long long)need);
}

static void check_setup(int rc, hb_error *err, const char *what) {
  if (rc == 0)
    return;
  bench_fatal("%s: %s: %s", what, hb_errcode_name(err->code), err->message);
}

/* The rows the scans read, LOAD_BATCH rows per mutateRows. */
static void load_scan_rows(hbc_conn *c) {
  static char names[LOAD_BATCH][32];
  static hbc_row_mutations rows[LOAD_BATCH];
  hbc_mutation m[SCAN_COLUMNS];
  char cols[SCAN_COLUMNS][16];
  for (int i = 0; i < SCAN_COLUMNS; i++) {
    snprintf(cols[i], sizeof cols[i], "cf:s%d", i);
    m[i] = (hbc_mutation){.column = hbc_str(cols[i]), .value = hbc_str(VALUE), .wal = false};
  }
  hb_error err = HB_ERROR_INIT;
  for (long first = 0; first < g_opts.scan_rows; first += LOAD_BATCH) {
    size_t n = 0;
    for (long i = first; i < g_opts.scan_rows && n < LOAD_BATCH; i++, n++) {
      scan_row_name(names[n], sizeof names[n], i);
      rows[n] = (hbc_row_mutations){.row = hbc_str(names[n]),
                                    .mutations = m,
                                    .nmutations = SCAN_COLUMNS};
    }
    check_setup(hbc_mutate_rows(c, hbc_str(g_opts.table), rows, n, HBC_LATEST, &err), &err,
                "put of rows to scan");
  }
}

/* The rows of the huge scan pages. */
static void load_huge_rows(hbc_conn *c) {
  char *value = malloc(HUGE_VALUE + 1);
  memset(value, 'h', HUGE_VALUE);
  value[HUGE_VALUE] = '\0';
  hbc_mutation m = {.column = hbc_str("cf:h"), .value = hbc_str(value), .wal = false};
  hb_error err = HB_ERROR_INIT;
  for (long i = 0; i < HUGE_ROWS; i++) {
    char row[32];
    huge_row_name(row, sizeof row, i);
    hbc_row_mutations rm = {.row = hbc_str(row), .mutations = &m, .nmutations = 1};
    check_setup(hbc_mutate_rows(c, hbc_str(g_opts.table), &rm, 1, HBC_LATEST, &err), &err,
                "put of a huge row");
  }
  free(value);
}

/* A fresh table with family cf: the rows the gets read, the rows the scans read and the huge
 * rows. */
static void load_table(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = direct_connect(&err);
  check_setup(c != NULL ? 0 : -1, &err, "connect to the gateway");
  /* Leftovers of an earlier run of the same name, if any (errors ignored: none may exist). */
  hbc_disable_table(c, hbc_str(g_opts.table), &err);
  hbc_delete_table(c, hbc_str(g_opts.table), &err);
  hb_error_clear(&err);
  hbc_family f;
  hbc_family_init(&f, hbc_str("cf"));
  check_setup(hbc_create_table(c, hbc_str(g_opts.table), &f, 1, &err), &err, "create table");
  for (long i = 0; i < GET_ROWS; i++) {
    char row[32];
    get_row_name(row, sizeof row, i);
    check_setup(direct_put(c, row, &err), &err, "put of a row to get");
  }
  load_scan_rows(c);
  load_huge_rows(c);
  hbc_close(c);
}

static int drop_table(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = direct_connect(&err);
  check_setup(c != NULL ? 0 : -1, &err, "connect to the gateway");
  hbc_disable_table(c, hbc_str(g_opts.table), &err);
  hb_error_clear(&err);
  int rc = hbc_delete_table(c, hbc_str(g_opts.table), &err);
  if (rc < 0)
    fprintf(stderr, "daemon_bench: delete table %s: %s\n", g_opts.table, err.message);
  hb_error_clear(&err);
  hbc_close(c);
  return rc < 0 ? 1 : 0;
}

/* Thousands of direct calls, unmeasured, so that no phase gets a colder gateway JVM. */
static void warm_gateway(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = direct_connect(&err);
  check_setup(c != NULL ? 0 : -1, &err, "connect to the gateway");
  char row[32];
  for (int i = 0; i < WARM_GETS; i++) {
    get_row_name(row, sizeof row, i);
    check_setup(direct_get(c, row, &err), &err, "warm-up get");
  }
  for (int i = 0; i < WARM_PUTS; i++)
    check_setup(direct_put(c, "put-warm", &err), &err, "warm-up put");
  hbc_close(c);
}

static void print_ratio(const char *what, int clients, int direct, double rps, double ceiling) {
  printf("%s, %3d client%s: daemon/direct (%d thread%s) %.2fx\n", what, clients,
         clients == 1 ? " " : "s", direct, direct == 1 ? "" : "s",
         ceiling > 0 ? rps / ceiling : 0.0);
}

/* The better of two runs of a direct phase: the ceiling is measured before and after the daemon,
 * since a gateway JVM still warming up would otherwise flatter the daemon. */
static phase_result better(phase_result a, phase_result b) {
  return b.rps > a.rps ? b : a;
}

typedef struct op_figures {
  phase_result daemon[3];       /* 1, 16, 128 clients, coalescing on (the default) */
  phase_result nocoal[3];       /* 16 and 128 clients with coalescing off ([0] unused) */
  phase_result direct1, direct; /* 1 thread; DIRECT_THREADS threads */
} op_figures;

static const int g_clients[] = {1, 16, 128};

/* Switches coalesce in hbpoold's config and reloads it; returns once the daemon has. */
static void set_coalesce(bool on) {
  FILE *f = fopen(g_opts.conf, "r+");
  if (f == NULL)
    bench_fatal("cannot open %s: %s", g_opts.conf, strerror(errno));
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  char *at = strstr(text, on ? "coalesce = false" : "coalesce = true ");
  if (at == NULL)
    bench_fatal("%s has no \"coalesce = %s\" line to switch", g_opts.conf, on ? "false" : "true ");
  memcpy(at, on ? "coalesce = true " : "coalesce = false", 16);
  if (fseek(f, 0, SEEK_SET) != 0 || fwrite(text, 1, n, f) != n || fclose(f) != 0)
    bench_fatal("cannot rewrite %s", g_opts.conf);
  json_t *stats = daemon_call("\"method\":\"stats\"");
  long long reloads = stats_int(stats, "daemon", "reloads");
  json_decref(stats);
  kill(g_opts.pid, SIGHUP);
  for (int i = 0; i < 100; i++) {
    bench_sleep_s(0.1);
    stats = daemon_call("\"method\":\"stats\"");
    long long now = stats_int(stats, "daemon", "reloads");
    long long failed = stats_int(stats, "daemon", "reload_failures");
    json_decref(stats);
    if (failed > 0)
      bench_fatal("hbpoold refused the reloaded %s", g_opts.conf);
    if (now > reloads) {
      g_coalesce = on;
      return;
    }
  }
  bench_fatal("hbpoold did not reload %s within 10 s", g_opts.conf);
}

/* The floor under what a proxy adds: each request through hbpoold makes one more such round trip
 * than a direct client, and the daemon's CPU per request includes its half of it. */
typedef struct round_trip {
  double wall_us, cpu_us;
} round_trip;

static round_trip measure_round_trip(void) {
  round_trip rt;
  bench_unix_round_trip(20000, &rt.wall_us, &rt.cpu_us);
  printf("a Unix socket round trip to another process on this host: %.1f us, %.1f us of CPU on "
         "one side (20000 one-byte round trips)\n",
         rt.wall_us, rt.cpu_us);
  return rt;
}

/* A fresh gateway JVM runs several times slower until its JIT has compiled the paths each kind
 * of phase takes (getRow, getRowsWithColumns, mutateRow, mutateRows), and that takes tens of
 * seconds of load: after a few thousand calls on one connection, the first phases measured ran
 * at 40% of their later rate, and the daemon's phases, measured once, paid for it where the
 * direct ones, measured twice, did not. So each kind of phase runs unmeasured, round after round,
 * until the direct gets' rate moves less than WARM_STEADY_PCT between two rounds. */
static void warm_up(void) {
  printf("warm-up rounds (not counted), until the direct gets' rate moves less than %d%%:\n",
         WARM_STEADY_PCT);
  double last = 0;
  for (int round = 1; round <= WARM_ROUNDS_MAX; round++) {
    double rps = run_phase(OP_GET, true, DIRECT_THREADS).rps;
    run_phase(OP_PUT, true, DIRECT_THREADS);
    for (int on = 0; on < 2; on++) {
      set_coalesce(on);
      run_phase(OP_GET, false, g_clients[1]);
      run_phase(OP_PUT, false, g_clients[1]);
    }
    if (last > 0 && rps > last * (1 - WARM_STEADY_PCT / 100.0) &&
        rps < last * (1 + WARM_STEADY_PCT / 100.0)) {
      printf("warm after %d rounds\n\n", round);
      return;
    }
    last = rps;
  }
  printf("(the rate still moved after %d rounds: read the ratios with care)\n\n", WARM_ROUNDS_MAX);
}

static op_figures run_op(bench_op op) {
  op_figures f = {0};
  f.direct1 = run_phase(op, true, 1);
  f.direct = run_phase(op, true, DIRECT_THREADS);
  set_coalesce(false);
  for (int i = 1; i < 3; i++)
    f.nocoal[i] = run_phase(op, false, g_clients[i]);
  set_coalesce(true);
  for (int i = 0; i < 3; i++)
    f.daemon[i] = run_phase(op, false, g_clients[i]);
  f.direct = better(f.direct, run_phase(op, true, DIRECT_THREADS));
  f.direct1 = better(f.direct1, run_phase(op, true, 1));
  return f;
}

static void print_ratios(const char *what, const op_figures *f) {
  print_ratio(what, 1, 1, f->daemon[0].rps, f->direct1.rps);
  char off[32];
  snprintf(off, sizeof off, "%s, coalescing off", what);
  for (int i = 1; i < 3; i++) {
    print_ratio(what, g_clients[i], DIRECT_THREADS, f->daemon[i].rps, f->direct.rps);
    print_ratio(off, g_clients[i], DIRECT_THREADS, f->nocoal[i].rps, f->direct.rps);
  }
  printf("%s, one client: p50 %.1f us through hbpoold, %.1f us direct: %+.1f us\n", what,
         f->daemon[0].p50_us, f->direct1.p50_us, f->daemon[0].p50_us - f->direct1.p50_us);
  for (int i = 1; i < 3; i++)
    printf("%s, %d clients: the host's CPU per request %.1f us through hbpoold (%.1f with "
           "coalescing off), %.1f us direct with %d threads, of which HBase's %.1f / %.1f / "
           "%.1f us; busy %.0f%% / %.0f%% / %.0f%%\n",
           what, g_clients[i], f->daemon[i].host_cpu_us, f->nocoal[i].host_cpu_us,
           f->direct.host_cpu_us, DIRECT_THREADS, f->daemon[i].rest_cpu_us,
           f->nocoal[i].rest_cpu_us, f->direct.rest_cpu_us, f->daemon[i].busy_pct,
           f->nocoal[i].busy_pct, f->direct.busy_pct);
}

/* A phase's host figures in the summary, under its name ("get_16", "get_16_nocoalesce",
 * "direct_get_8"): "host_cpu_us_per_get_16" and so on. */
static void summary_host(json_t *s, const char *phase, const phase_result *r) {
  const struct {
    const char *prefix;
    double value;
  } figures[] = {{"host_cpu_us_per_", r->host_cpu_us},
                 {"host_busy_pct_", r->busy_pct},
                 {"hbase_cpu_us_per_", r->rest_cpu_us},
                 {"client_cpu_us_per_", r->clients_cpu_us}};
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) {
    char key[96];
    snprintf(key, sizeof key, "%s%s", figures[i].prefix, phase);
    json_object_set_new(s, key, json_real(figures[i].value));
  }
}

/* The figures as one JSON object, for tooling: "summary: {...}". */
static void print_summary(const op_figures *get, const op_figures *put, const idle_result *idle,
                          const scan_figures *scans, const stall_figures *stall,
                          const round_trip *rt) {
  json_t *s = json_object();
  const struct {
    const char *name;
    const op_figures *f;
  } ops[] = {{"get", get}, {"put", put}};
  char key[64];
  for (size_t o = 0; o < 2; o++) {
    const op_figures *f = ops[o].f;
    snprintf(key, sizeof key, "%s_ratio_1", ops[o].name);
    json_object_set_new(s, key, json_real(f->daemon[0].rps / f->direct1.rps));
    for (int i = 1; i < 3; i++) {
      snprintf(key, sizeof key, "%s_ratio_%d", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->daemon[i].rps / f->direct.rps));
    }
    snprintf(key, sizeof key, "added_p50_us_%s_1", ops[o].name);
    json_object_set_new(s, key, json_real(f->daemon[0].p50_us - f->direct1.p50_us));
    for (int i = 0; i < 3; i++) {
      snprintf(key, sizeof key, "cpu_us_per_%s_%d", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->daemon[i].cpu_us));
      snprintf(key, sizeof key, "%s_rps_%d", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->daemon[i].rps));
      snprintf(key, sizeof key, "%s_%d", ops[o].name, g_clients[i]);
      summary_host(s, key, &f->daemon[i]);
      if (i == 0)
        continue;
      snprintf(key, sizeof key, "%s_%d_nocoalesce", ops[o].name, g_clients[i]);
      summary_host(s, key, &f->nocoal[i]);
      snprintf(key, sizeof key, "%s_ratio_%d_nocoalesce", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->nocoal[i].rps / f->direct.rps));
      snprintf(key, sizeof key, "cpu_us_per_%s_%d_nocoalesce", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->nocoal[i].cpu_us));
      snprintf(key, sizeof key, "%s_rps_%d_nocoalesce", ops[o].name, g_clients[i]);
      json_object_set_new(s, key, json_real(f->nocoal[i].rps));
    }
    snprintf(key, sizeof key, "direct_%s_rps_1", ops[o].name);
    json_object_set_new(s, key, json_real(f->direct1.rps));
    snprintf(key, sizeof key, "direct_%s_rps_%d", ops[o].name, DIRECT_THREADS);
    json_object_set_new(s, key, json_real(f->direct.rps));
    snprintf(key, sizeof key, "direct_%s_1", ops[o].name);
    summary_host(s, key, &f->direct1);
    snprintf(key, sizeof key, "direct_%s_%d", ops[o].name, DIRECT_THREADS);
    summary_host(s, key, &f->direct);
  }
  json_object_set_new(s, "unix_round_trip_us", json_real(rt->wall_us));
  json_object_set_new(s, "unix_round_trip_cpu_us", json_real(rt->cpu_us));
  json_object_set_new(s, "rss_kib_per_idle_client",
                      json_real((double)(idle->rss_with - idle->rss_before) /
                                (idle->clients > 0 ? idle->clients : 1)));
  json_object_set_new(s, "idle_clients", json_integer(idle->clients));
  const double *sr = scans->rows_per_s;
  json_object_set_new(s, "scan_rows", json_integer(g_opts.scan_rows));
  json_object_set_new(s, "scan_rows_per_s_direct", json_real(sr[SCAN_DIRECT]));
  json_object_set_new(s, "scan_rows_per_s_pages", json_real(sr[SCAN_PAGES]));
  json_object_set_new(s, "scan_rows_per_s_scanner", json_real(sr[SCAN_SCANNER]));
  json_object_set_new(s, "scan_ratio", json_real(sr[SCAN_PAGES] / sr[SCAN_DIRECT]));
  json_object_set_new(s, "scanner_next_ratio", json_real(sr[SCAN_SCANNER] / sr[SCAN_DIRECT]));
  static const char *const sides[SCAN_SIDES] = {"direct", "pages", "scanner"};
  for (int side = 0; side < SCAN_SIDES; side++) {
    snprintf(key, sizeof key, "scan_host_busy_pct_%s", sides[side]);
    json_object_set_new(s, key, json_real(scans->busy_pct[side]));
    snprintf(key, sizeof key, "host_cpu_us_per_row_scan_%s", sides[side]);
    json_object_set_new(s, key,
                        json_real(sr[side] > 0 ? scans->busy_pct[side] / 100 *
                                      bench_machine_cpus() * 1e6 / sr[side]
                                               : 0));
  }
  json_object_set_new(s, "scan_rss_kib_before", json_integer(scans->rss_before));
  json_object_set_new(s, "scan_rss_kib_growth", json_integer(scans->rss_peak - scans->rss_before));
  json_object_set_new(s, "bystander_p99_us_alone", json_real(stall->alone.p99_us));
  json_object_set_new(s, "bystander_p99_us_during_huge_scans", json_real(stall->during.p99_us));
  json_object_set_new(s, "bystander_max_us_during_huge_scans", json_real(stall->during.max_us));
  char *text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(4));
  printf("summary: %s\n", text);
  free(text);
  json_decref(s);
}

/* --phase OP:N: one phase of N clients through the daemon as its config stands (or directly with
 * OP "direct-get"/"direct-put"), or N whole scans (OP "scan-direct", "scan-pages" or
 * "scan-scanner"), for a profiler to watch or an A/B of one setting; figures only for that. */
static int run_one_phase(const char *spec) {
  static const char *const scans[SCAN_SIDES] = {"scan-direct", "scan-pages", "scan-scanner"};
  char op_name[16];
  int n = 0;
  if (sscanf(spec, "%15[a-z-]:%d", op_name, &n) != 2 || n < 1)
    bench_fatal("--phase wants OP:N, for example get:16, not %s", spec);
  check_daemon_pid();
  for (int side = 0; side < SCAN_SIDES; side++) {
    if (strcmp(op_name, scans[side]) != 0)
      continue;
    for (int i = 0; i < n; i++)
      printf("%s: %.0f rows/s\n", SCAN_SIDE_NAMES[side], scan_pass((scan_side)side, NULL));
    return __atomic_load_n(&g_errors, __ATOMIC_RELAXED) == 0 ? 0 : 1;
  }
  bool direct = strncmp(op_name, "direct-", 7) == 0;
  const char *name = direct ? op_name + 7 : op_name;
  if (strcmp(name, "get") != 0 && strcmp(name, "put") != 0)
    bench_fatal("--phase: OP is get, put, direct-get, direct-put, scan-direct, scan-pages or "
                "scan-scanner, not %s",
                op_name);
  print_header();
  phase_result r = run_phase(strcmp(name, "get") == 0 ? OP_GET : OP_PUT, direct, n);
  return r.rps > 0 && __atomic_load_n(&g_errors, __ATOMIC_RELAXED) == 0 ? 0 : 1;
}

static int run(void) {
  check_daemon_pid();
  raise_nofile();
  json_t *pong = daemon_call("\"method\":\"ping\"");
  if (pong == NULL)
    bench_fatal("hbpoold does not answer on %s", g_opts.socket_path);
  json_decref(pong);
  /* First, on a fresh daemon: memory freed by the load phases would hide part of the cost. */
  idle_result idle = run_idle_clients();
  round_trip rt = measure_round_trip();
  warm_gateway();
  printf("%g s per phase after %g s of warm-up; %d direct Thrift connections = the daemon's "
         "pool_size\n",
         g_opts.seconds, g_opts.warmup, DIRECT_THREADS);
  print_header();
  warm_up();
  print_header();
  op_figures get = run_op(OP_GET), put = run_op(OP_PUT);
  scan_figures scans = run_scans();
  stall_figures stall = run_stall();
  printf("\n");
  print_ratios("get", &get);
  print_ratios("put", &put);
  printf("(the ceilings: 1 and %d threads, each with its own Thrift connection, closed loop, the\n"
         " faster of two runs; one client is compared with one thread, more with %d; the CPU of a\n"
         " direct phase is the clients' own, for the same Thrift calls the daemon makes)\n\n",
         DIRECT_THREADS, DIRECT_THREADS);
  print_idle(&idle);
  printf("daemon RSS after all phases: %ld KiB\n", daemon_rss_kib());
  /* The daemon's own count of failures, and that it runs the pool this comparison assumes. */
  json_t *stats = daemon_call("\"method\":\"stats\"");
  long long size = stats_int(stats, "pool", "size");
  json_t *methods = json_object_get(stats, "methods");
  long long failed = stats_int(methods, "row", "errors") + stats_int(methods, "put", "errors");
  json_decref(stats);
  long errors = __atomic_load_n(&g_errors, __ATOMIC_RELAXED);
  printf("errors: %ld (hbpoold counts %lld failed row/put calls); hbpoold pool size %lld\n", errors,
         failed, size);
  if (errors == 0 && failed == 0 && size == DIRECT_THREADS) {
    print_summary(&get, &put, &idle, &scans, &stall, &rt);
    return 0;
  }
  printf("*** THIS RUN IS NOT VALID: %ld errors, hbpoold counts %lld failed calls, pool size "
         "%lld (expected %d) ***\n",
         errors, failed, size, DIRECT_THREADS);
  return 1;
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: daemon_bench --load TABLE | --drop TABLE\n"
          "       daemon_bench --socket PATH --pid PID --conf CONF --table TABLE "
          "[--seconds S] [--warmup S] [--idle-clients N] [--scan-rows N] [--phase OP:N]\n"
          "(--phase OP:N runs only that phase, OP get, put, direct-get or direct-put with N "
          "clients, or N whole scans with OP scan-direct, scan-pages or scan-scanner, with the "
          "daemon as configured: for profiling, or an A/B of one setting)\n"
          "(--scan-rows N, 200000 by default, is given to --load as well: the rows loaded "
          "for the scans and the rows the scans expect)\n"
          "The gateway is $HBPOOL_TEST_THRIFT_HOST/PORT/FRAMED/COMPACT; hbpoold (PID) must "
          "serve PATH with pool_size 8, on the same gateway, from CONF, which has a line "
          "\"coalesce = true \" (the space too) that this switches and reloads.\n");
}

/* The table name goes into JSON unescaped: keep it to characters that need no escaping. */
static bool plain_name(const char *s) {
  return *s != '\0' &&
    strspn(s,
           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
           "-.") == strlen(s);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"load", required_argument, NULL, 'l'},
    {"drop", required_argument, NULL, 'd'},
    {"socket", required_argument, NULL, 's'},
    {"pid", required_argument, NULL, 'p'},
    {"table", required_argument, NULL, 't'},
    {"seconds", required_argument, NULL, 'S'},
    {"warmup", required_argument, NULL, 'W'},
    {"idle-clients", required_argument, NULL, 'i'},
    {"conf", required_argument, NULL, 'c'},
    {"scan-rows", required_argument, NULL, 'r'},
    {"phase", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  int opt, mode = 'r';
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'l':
    case 'd':
      mode = opt;
      g_opts.table = optarg;
      break;
    case 's': g_opts.socket_path = optarg; break;
    case 'p': g_opts.pid = atoi(optarg); break;
    case 't': g_opts.table = optarg; break;
    case 'S': g_opts.seconds = atof(optarg); break;
    case 'W': g_opts.warmup = atof(optarg); break;
    case 'i': g_opts.idle_clients = atoi(optarg); break;
    case 'c': g_opts.conf = optarg; break;
    case 'r': g_opts.scan_rows = atol(optarg); break;
    case 'P': g_opts.phase = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  bool incomplete = mode == 'r' &&
    (g_opts.socket_path == NULL || g_opts.pid <= 0 || g_opts.conf == NULL);
  incomplete = incomplete &&
    !(g_opts.phase != NULL && g_opts.socket_path != NULL && g_opts.pid > 0);
  if (optind != argc || g_opts.table == NULL || !plain_name(g_opts.table) || incomplete ||
      g_opts.seconds <= 0 || g_opts.warmup < 0 || g_opts.idle_clients < 1 || g_opts.scan_rows < 1) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  bench_gateway_options(&g_gateway, IO_TIMEOUT_S * 1000);
  hbc_init();
  if (mode == 'l') {
    load_table();
    return 0;
  }
  if (mode == 'd')
    return drop_table();
  return g_opts.phase != NULL ? run_one_phase(g_opts.phase) : run();
}
