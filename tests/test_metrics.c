/* End-to-end tests of hbpoold's metrics endpoint (metrics_listen): after a known set of requests
 * the counters of /metrics, parsed by a real Prometheus parser (tests/check_prometheus.py, with
 * prometheus_client), are exactly what those requests imply; /health follows the gateway; the
 * HTTP side answers 404, 405 and HEAD as it should; bad metrics_listen values are refused. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define POOL 2
#define MAX_LINE 4096
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

static hbc_options g_gateway;
static dh_daemon g_up;   /* on the real gateway; metrics on 127.0.0.1:g_port */
static dh_daemon g_down; /* on a closed port; metrics on the Unix socket g_down_sock */
static int g_port;
static char g_down_dir[64], g_down_sock[128];
static const char *g_table = "t";
static int g_scanner_expiry_ms; /* the gateway forgets scanners unused this long */
static char g_version[64];      /* what the version method says */

/* ---------------------------------------------------------------------------------------------
 * HTTP, as a scraper speaks it. */

/* Where a daemon serves its metrics: a TCP port on 127.0.0.1, or a Unix socket. */
typedef struct endpoint {
  int port;
  const char *path;
} endpoint;

typedef struct http_reply {
  int status;
  char *head; /* the status line and the headers */
  char *body; /* NUL-terminated */
  size_t body_len;
} http_reply;

static int try_connect(const endpoint *ep) {
  int fd = socket(ep->path != NULL ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc;
  if (ep->path != NULL) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", ep->path);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)ep->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  }
  if (rc == 0)
    return fd;
  close(fd);
  return -1;
}

/* The daemon binds its metrics socket just after its clients' one, which dh_start waited for. */
static int connect_endpoint(const endpoint *ep) {
  for (int i = 0; i < 200; i++) {
    int fd = try_connect(ep);
    if (fd >= 0)
      return fd;
    sleep_ms(50);
  }
  ck_abort_msg("cannot connect to the metrics endpoint %s (port %d): %s",
               ep->path != NULL ? ep->path : "tcp", ep->port, strerror(errno));
  return -1;
}

/* Everything the server sends until it closes, within 30 s. */
static char *read_all(int fd, size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  int64_t deadline = mono_ms() + 30000;
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ck_assert_msg(mono_ms() < deadline, "the metrics endpoint did not close within 30 s");
    if (poll(&pf, 1, 1000) <= 0)
      continue;
    if (n == cap)
      buf = realloc(buf, (cap *= 2) + 1);
    ssize_t got = recv(fd, buf + n, cap - n, 0);
    ck_assert_msg(got >= 0, "recv: %s", strerror(errno));
    if (got == 0)
      break;
    n += (size_t)got;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

static http_reply *http(const endpoint *ep, const char *method, const char *target) {
  int fd = connect_endpoint(ep);
  char req[512];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: hbpoold\r\nConnection: close\r\n\r\n",
                   method, target);
  ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
  size_t len;
  char *raw = read_all(fd, &len);
  close(fd);
  char *end = strstr(raw, "\r\n\r\n");
  ck_assert_msg(end != NULL, "%s %s: no end of headers in %.300s", method, target, raw);
  http_reply *r = calloc(1, sizeof *r);
  r->head = strndup(raw, (size_t)(end - raw));
  r->body_len = len - (size_t)(end + 4 - raw);
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, end + 4, r->body_len + 1);
  free(raw);
  ck_assert_msg(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1, "%s %s: status line %.100s",
                method, target, r->head);
  return r;
}

static void http_free(http_reply *r) {
  free(r->head);
  free(r->body);
  free(r);
}

/* A header's value (malloc'd), or NULL. */
static char *header(const http_reply *r, const char *name) {
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *p = strcasestr(r->head, key);
  if (p == NULL)
    return NULL;
  p += strlen(key);
  return strndup(p, strcspn(p, "\r"));
}

static void expect_header(const http_reply *r, const char *name, const char *want) {
  char *got = header(r, name);
  ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: \"%s\", expected \"%s\"", name,
                got != NULL ? got : "(none)", want);
  free(got);
}

/* ---------------------------------------------------------------------------------------------
 * Samples, as prometheus_client reads them. */

static const char *python(void) {
  const char *p = getenv("HBPOOL_TEST_PYTHON");
  return p != NULL && *p ? p : "/usr/bin/python3";
}

/* text checked by tests/check_prometheus.py, which fails on anything the format forbids: the
 * samples it found, [{"name", "labels", "value"}, ...]. */
static json_t *check_text(const char *text, size_t len) {
  char file[] = "/tmp/hbpool-metrics-text.XXXXXX";
  int fd = mkstemp(file);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
  char command[1024];
  snprintf(command, sizeof command, "%s %s/tests/check_prometheus.py < %s", python(),
           gateway_env_need("top_srcdir"), file);
  FILE *p = popen(command, "r");
  ck_assert_ptr_nonnull(p);
  json_error_t je;
  json_t *samples = json_loadf(p, 0, &je);
  int status = pclose(p);
  unlink(file);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "check_prometheus.py refused the text (its reason is above); the text:\n%.3000s",
                text);
  ck_assert_msg(json_is_array(samples), "check_prometheus.py printed no JSON list: %s", je.text);
  return samples;
}

/* GET /metrics: 200 with Prometheus' content type and a valid text; its samples. */
static json_t *scrape(const endpoint *ep) {
  http_reply *r = http(ep, "GET", "/metrics");
  ck_assert_msg(r->status == 200, "GET /metrics: %d", r->status);
  expect_header(r, "Content-Type", METRICS_TYPE);
  json_t *samples = check_text(r->body, r->body_len);
  http_free(r);
  return samples;
}

/* The value of the series name{labels} (labels as JSON text), or -1 if there is none. */
static double value_of(json_t *samples, const char *name, const char *labels) {
  json_t *want = json_loads(labels, 0, NULL);
  ck_assert_msg(want != NULL, "bad labels in the test: %s", labels);
  double v = -1;
  size_t i;
  json_t *s;
  json_array_foreach(samples, i, s) {
    if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0 &&
        json_equal(json_object_get(s, "labels"), want)) {
      v = json_number_value(json_object_get(s, "value"));
      break;
    }
  }
  json_decref(want);
  return v;
}

/* A series that must be there. */
static double need(json_t *samples, const char *name, const char *labels) {
  double v = value_of(samples, name, labels);
  ck_assert_msg(v >= 0, "no series %s%s", name, labels);
  return v;
}

/* A counter: a series not there yet (errors, latencies) has counted nothing. */
static double counted(json_t *samples, const char *name, const char *labels) {
  double v = value_of(samples, name, labels);
  return v < 0 ? 0 : v;
}

typedef struct delta {
  const char *labels;
  double by;
} delta;

/* Between two scrapes every series of the counter name moved by what want says, and every other
 * series of it did not move. */
static void expect_deltas(json_t *before, json_t *after, const char *name, const delta *want,
                          size_t n) {
  for (size_t k = 0; k < n; k++) {
    double d = counted(after, name, want[k].labels) - counted(before, name, want[k].labels);
    ck_assert_msg(d == want[k].by, "%s%s moved by %g, expected %g", name, want[k].labels, d,
                  want[k].by);
  }
  size_t i;
  json_t *s;
  json_array_foreach(after, i, s) {
    if (strcmp(json_string_value(json_object_get(s, "name")), name) != 0)
      continue;
    bool listed = false;
    for (size_t k = 0; k < n && !listed; k++) {
      json_t *l = json_loads(want[k].labels, 0, NULL);
      listed = json_equal(l, json_object_get(s, "labels"));
      json_decref(l);
    }
    char *labels = json_dumps(json_object_get(s, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
    double d = json_number_value(json_object_get(s, "value")) - counted(before, name, labels);
    ck_assert_msg(listed || d == 0, "%s%s moved by %g, expected no change", name, labels, d);
    free(labels);
  }
}

/* Waits until the daemon has no client left (those of earlier tests may still be closing). */
static void wait_no_clients(const endpoint *ep) {
  for (int i = 0; i < 100; i++) {
    json_t *s = scrape(ep);
    double n = need(s, "hbpool_client_connections", "{}");
    json_decref(s);
    if (n == 0)
      return;
    sleep_ms(100);
  }
  ck_abort_msg("the daemon still had clients after 10 s");
}

/* ---------------------------------------------------------------------------------------------
 * Requests, with the bytes they take on the client's socket. */

typedef struct traffic {
  size_t sent, received;
} traffic;

/* Sends line (taken), returns the reply to it. */
static json_t *exchange(dh_conn *c, traffic *t, char *line) {
  dh_send(c, line);
  t->sent += strlen(line);
  free(line);
  char *reply = dh_line(c, 30000);
  ck_assert_msg(reply != NULL, "no reply within 30 s");
  t->received += strlen(reply) + 1;
  json_error_t je;
  json_t *v = json_loads(reply, 0, &je);
  ck_assert_msg(v != NULL, "not JSON: %.300s", reply);
  free(reply);
  return v;
}

static char *request(const char *method, json_t *params) {
  static json_int_t id;
  return dh_request(json_integer(++id), method, params);
}

static json_t *row_params(const char *table, const char *row) {
  return table != NULL ? json_pack("{s:s,s:s}", "table", table, "row", row)
                       : json_pack("{s:s}", "row", row);
}

static void expect_error(json_t *reply, int code, const char *name) {
  char *text = dh_text(reply);
  json_t *data = json_object_get(json_object_get(reply, "error"), "data");
  ck_assert_msg(dh_error_code(reply) == code, "expected %d: %.300s", code, text);
  ck_assert_str_eq(json_string_value(json_object_get(data, "error")), name);
  free(text);
  json_decref(reply);
}

/* ---------------------------------------------------------------------------------------------
 * Counters. */

enum { PINGS = 7, ROWS = 5, BAD_PARAMS = 3, MISSING_TABLE = 2 };

/* Pings, row gets of an existing row, and rows that fail with known codes, on one connection:
 * every counter they touch moved by exactly that much, and no other. */
START_TEST(test_counters_match_requests) {
  endpoint ep = {.port = g_port};
  wait_no_clients(&ep);
  json_t *before = scrape(&ep);
  dh_conn *c = dh_connect(&g_up);
  traffic t = {0, 0};
  int64_t t0 = mono_ms();
  for (int i = 0; i < PINGS; i++)
    dh_expect_json(dh_result(exchange(c, &t, request("ping", NULL)), "ping"), "\"pong\"");
  int64_t t1 = mono_ms();
  for (int i = 0; i < ROWS; i++)
    dh_expect_json(dh_result(exchange(c, &t, request("row", row_params(g_table, "r1"))), "row"),
                   "{\"cf:a\":\"v1\"}");
  for (int i = 0; i < BAD_PARAMS; i++)
    expect_error(exchange(c, &t, request("row", row_params(NULL, "r1"))), -32602, "invalid_params");
  for (int i = 0; i < MISSING_TABLE; i++)
    expect_error(exchange(c, &t, request("row", row_params("no_such_table", "r1"))), -32001,
                 "hbase_io_error");
  int64_t t2 = mono_ms();
  expect_error(exchange(c, &t, strdup("this is not JSON\n")), -32700, "parse_error");
  expect_error(exchange(c, &t, request("no_such_method", NULL)), -32601, "method_not_found");
  json_t *after = scrape(&ep);

  int rows = ROWS + BAD_PARAMS + MISSING_TABLE;
  const delta requests[] = {{"{\"method\":\"ping\"}", PINGS}, {"{\"method\":\"row\"}", rows}};
  expect_deltas(before, after, "hbpool_requests_total", requests, 2);
  const delta errors[] = {{"{\"method\":\"row\",\"code\":\"invalid_params\"}", BAD_PARAMS},
                          {"{\"method\":\"row\",\"code\":\"hbase_io_error\"}", MISSING_TABLE}};
  expect_deltas(before, after, "hbpool_request_errors_total", errors, 2);
  const delta refused[] = {{"{\"code\":\"parse_error\"}", 1},
                           {"{\"code\":\"method_not_found\"}", 1}};
  expect_deltas(before, after, "hbpool_refused_requests_total", refused, 2);
  expect_deltas(before, after, "hbpool_request_duration_seconds_count", requests, 2);
  const delta bytes_in[] = {{"{}", (double)t.sent}}, bytes_out[] = {{"{}", (double)t.received}};
  expect_deltas(before, after, "hbpool_client_received_bytes_total", bytes_in, 1);
  expect_deltas(before, after, "hbpool_client_sent_bytes_total", bytes_out, 1);
  const delta one[] = {{"{}", 1}};
  expect_deltas(before, after, "hbpool_client_connections_accepted_total", one, 1);

  /* Latencies: each call took at most what the client waited for it (sequential calls; +2 ms
   * for the clock's millisecond steps), and more than nothing. */
  const char *sum = "hbpool_request_duration_seconds_sum";
  double ping_s = counted(after, sum, requests[0].labels) -
    counted(before, sum, requests[0].labels);
  double row_s = counted(after, sum, requests[1].labels) - counted(before, sum, requests[1].labels);
  ck_assert_msg(ping_s > 0 && ping_s <= (double)(t1 - t0 + 2) / 1000, "pings took %g s in %lld ms",
                ping_s, (long long)(t1 - t0));
  ck_assert_msg(row_s > 0 && row_s <= (double)(t2 - t1 + 2) / 1000, "rows took %g s in %lld ms",
                row_s, (long long)(t2 - t1));

  /* Gauges, with the one client connected and nothing in flight. */
  ck_assert_int_eq(need(after, "hbpool_client_connections", "{}"), 1);
  ck_assert_int_eq(need(after, "hbpool_requests_in_flight", "{}"), 0);
  ck_assert_int_eq(need(after, "hbpool_gateway_up", "{\"gateway\":\"main\"}"), 1);
  ck_assert_int_eq(need(after, "hbpool_pool_size", "{\"gateway\":\"main\"}"), POOL);
  ck_assert_int_eq(need(after, "hbpool_pool_waiting_requests", "{\"gateway\":\"main\"}"), 0);
  const char *conns = "hbpool_pool_connections";
  double busy = need(after, conns, "{\"gateway\":\"main\",\"state\":\"busy\"}");
  double idle = need(after, conns, "{\"gateway\":\"main\",\"state\":\"idle\"}");
  double broken = need(after, conns, "{\"gateway\":\"main\",\"state\":\"broken\"}");
  ck_assert_msg(busy == 0 && idle >= 1 && busy + idle + broken == POOL, "busy %g idle %g broken %g",
                busy, idle, broken);
  char labels[128];
  snprintf(labels, sizeof labels, "{\"version\":\"%s\"}", g_version);
  ck_assert_int_eq(need(after, "hbpool_build_info", labels), 1);

  /* stats says the same, with the per-code counts it has too. Its own request line is read (and
   * counted) before it is answered; its reply is counted after. */
  char *line = request("stats", NULL);
  size_t stats_line = strlen(line);
  json_t *st = dh_result(exchange(c, &t, line), "stats");
  json_t *row = json_object_get(json_object_get(st, "methods"), "row");
  ck_assert_int_eq(json_integer_value(json_object_get(row, "calls")),
                   need(after, "hbpool_requests_total", requests[1].labels));
  char want[256];
  snprintf(want, sizeof want, "{\"hbase_io_error\":%.0f,\"invalid_params\":%.0f}",
           counted(after, "hbpool_request_errors_total", errors[1].labels),
           counted(after, "hbpool_request_errors_total", errors[0].labels));
  dh_expect_json(json_incref(json_object_get(row, "error_codes")), want);
  snprintf(want, sizeof want, "{\"method_not_found\":%.0f,\"parse_error\":%.0f}",
           counted(after, "hbpool_refused_requests_total", refused[1].labels),
           counted(after, "hbpool_refused_requests_total", refused[0].labels));
  dh_expect_json(json_incref(json_object_get(st, "refused")), want);
  json_t *clients = json_object_get(st, "clients");
  ck_assert_int_eq(json_integer_value(json_object_get(clients, "received_bytes")),
                   need(after, "hbpool_client_received_bytes_total", "{}") + (double)stats_line);
  ck_assert_int_eq(json_integer_value(json_object_get(clients, "sent_bytes")),
                   need(after, "hbpool_client_sent_bytes_total", "{}"));
  json_decref(st);
  json_decref(before);
  json_decref(after);
  dh_close(c);
}
END_TEST

/* A line one byte over max_line_bytes (sent without its newline: the daemon reads no further) is
 * refused, counted as such, its bytes as read, and the connection closed. */
START_TEST(test_long_line_counted) {
  endpoint ep = {.port = g_port};
  wait_no_clients(&ep);
  json_t *before = scrape(&ep);
  dh_conn *c = dh_connect(&g_up);
  char *line = malloc(MAX_LINE + 1);
  memset(line, 'x', MAX_LINE + 1);
  ck_assert_int_eq(dh_write(c, line, MAX_LINE + 1), 0);
  free(line);
  char *reply = dh_line(c, 30000);
  ck_assert_msg(reply != NULL && strstr(reply, "\"request_too_large\"") != NULL, "%s", reply);
  ck_assert_ptr_null(dh_line(c, 10000)); /* closed */
  json_t *after = scrape(&ep);
  const delta refused[] = {{"{\"code\":\"request_too_large\"}", 1}};
  expect_deltas(before, after, "hbpool_refused_requests_total", refused, 1);
  const delta in[] = {{"{}", MAX_LINE + 1}}, out[] = {{"{}", (double)strlen(reply) + 1}};
  expect_deltas(before, after, "hbpool_client_received_bytes_total", in, 1);
  expect_deltas(before, after, "hbpool_client_sent_bytes_total", out, 1);
  expect_deltas(before, after, "hbpool_requests_total", NULL, 0);
  free(reply);
  json_decref(before);
  json_decref(after);
  dh_close(c);
}
END_TEST

/* A connection idle for longer than idle_refresh_ms (1 s here) is reopened before its next
 * call: one refresh, one connection opened, no retry. */
START_TEST(test_refresh_counted) {
  endpoint ep = {.port = g_port};
  dh_expect_json(dh_ok(&g_up, "row", row_params(g_table, "r1")), "{\"cf:a\":\"v1\"}");
  sleep_ms(1500);
  json_t *before = scrape(&ep);
  dh_expect_json(dh_ok(&g_up, "row", row_params(g_table, "r1")), "{\"cf:a\":\"v1\"}");
  json_t *after = scrape(&ep);
  const delta one[] = {{"{\"gateway\":\"main\"}", 1}}, none[] = {{"{\"gateway\":\"main\"}", 0}};
  expect_deltas(before, after, "hbpool_pool_refreshes_total", one, 1);
  expect_deltas(before, after, "hbpool_pool_connects_total", one, 1);
  expect_deltas(before, after, "hbpool_pool_retries_total", none, 1);
  json_decref(before);
  json_decref(after);
}
END_TEST

static double scanners_open(const endpoint *ep) {
  json_t *s = scrape(ep);
  double n = need(s, "hbpool_scanners_open", "{}");
  json_decref(s);
  return n;
}

/* The scanner gauge follows open and close; a scanner the gateway expired and hbpoold reopened
 * is counted once; pages read ahead are counted. */
START_TEST(test_scanner_counts) {
  endpoint ep = {.port = g_port};
  wait_no_clients(&ep);
  ck_assert_int_eq(scanners_open(&ep), 0);
  dh_conn *c = dh_connect(&g_up);
  json_t *r = dh_result(dh_call(c, "scanner_open",
                                json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "k",
                                          "batch_size", 3)),
                        "scanner_open");
  json_int_t id = json_integer_value(json_object_get(r, "scanner"));
  json_decref(r);
  ck_assert_int_eq(scanners_open(&ep), 1);
  json_decref(
    dh_result(dh_call(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 4)),
              "scanner_next"));
  json_t *before = scrape(&ep);
  double ahead_before = counted(before, "hbpool_scanner_read_aheads_total", "{}");
  sleep_ms(g_scanner_expiry_ms + 1000); /* past the gateway's expiry, within the daemon's */
  r = dh_result(dh_call(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 10)),
                "scanner_next");
  ck_assert_int_eq(json_array_size(json_object_get(r, "rows")), 6);
  json_decref(r);
  json_t *after = scrape(&ep);
  const delta one[] = {{"{}", 1}};
  expect_deltas(before, after, "hbpool_scanners_reopened_total", one, 1);
  json_decref(before);
  json_decref(after);
  json_decref(
    dh_result(dh_call(c, "scanner_close", json_pack("{s:I}", "scanner", id)), "scanner_close"));
  ck_assert_int_eq(scanners_open(&ep), 0);
  /* The close waited for the read-ahead that followed the second scanner_next; the one after the
   * first may have ended before or after the first scrape. */
  json_t *closed = scrape(&ep);
  double ahead = need(closed, "hbpool_scanner_read_aheads_total", "{}") - ahead_before;
  ck_assert_msg(ahead >= 1 && ahead <= 2, "%g read-aheads", ahead);
  json_decref(closed);
  dh_close(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * HTTP and /health. */

static void expect_status(const endpoint *ep, const char *method, const char *target, int status) {
  http_reply *r = http(ep, method, target);
  ck_assert_msg(r->status == status, "%s %s: %d, expected %d", method, target, r->status, status);
  if (status == 405)
    expect_header(r, "Allow", "GET, HEAD");
  http_free(r);
}

START_TEST(test_http_answers) {
  endpoint ep = {.port = g_port};
  http_reply *r = http(&ep, "GET", "/health");
  ck_assert_int_eq(r->status, 200);
  expect_header(r, "Content-Type", TEXT_TYPE);
  ck_assert_str_eq(r->body, "ok\n");
  http_free(r);
  /* HEAD: the headers of GET, no body; and a 404 without a body too. */
  r = http(&ep, "HEAD", "/metrics");
  ck_assert_int_eq(r->status, 200);
  expect_header(r, "Content-Type", METRICS_TYPE);
  char *length = header(r, "Content-Length");
  ck_assert_msg(length != NULL && atol(length) > 1000, "Content-Length %s", length);
  free(length);
  ck_assert_uint_eq(r->body_len, 0);
  http_free(r);
  r = http(&ep, "HEAD", "/nothing");
  ck_assert_int_eq(r->status, 404);
  ck_assert_uint_eq(r->body_len, 0);
  http_free(r);
  /* A query string (as some scrapers add) changes nothing. */
  json_decref(scrape(&ep));
  r = http(&ep, "GET", "/metrics?collect%5B%5D=x");
  ck_assert_int_eq(r->status, 200);
  json_decref(check_text(r->body, r->body_len));
  http_free(r);
  expect_status(&ep, "GET", "/", 404);
  expect_status(&ep, "GET", "/metricsx", 404);
  expect_status(&ep, "GET", "/metrics/", 404);
  expect_status(&ep, "POST", "/metrics", 405);
  expect_status(&ep, "PUT", "/health", 405);
  expect_status(&ep, "DELETE", "/metrics", 405);
}
END_TEST

/* The daemon on a closed port: after one request fails with gateway_unavailable, /health is 503
 * with a one-line reason and the metrics say the gateway is down; served on a Unix socket with
 * the listen_socket_mode. */
START_TEST(test_health_follows_gateway) {
  endpoint ep = {.path = g_down_sock};
  json_t *e = dh_fails(&g_down, "row", row_params(g_table, "r1"), -32004);
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "error")),
                   "gateway_unavailable");
  json_decref(e);
  http_reply *r = http(&ep, "GET", "/health");
  ck_assert_msg(r->status == 503, "GET /health: %d %s", r->status, r->body);
  expect_header(r, "Content-Type", TEXT_TYPE);
  ck_assert_msg(strstr(r->body, "127.0.0.1:1") != NULL &&
                  strchr(r->body, '\n') == r->body + r->body_len - 1,
                "not one line naming the gateway: %s", r->body);
  http_free(r);
  json_t *s = scrape(&ep);
  ck_assert_int_eq(need(s, "hbpool_gateway_up", "{\"gateway\":\"main\"}"), 0);
  ck_assert_int_eq(need(s, "hbpool_requests_total", "{\"method\":\"row\"}"), 1);
  ck_assert_int_eq(need(s, "hbpool_request_errors_total",
                        "{\"method\":\"row\",\"code\":\"gateway_unavailable\"}"),
                   1);
  ck_assert_int_eq(need(s, "hbpool_pool_connections",
                        "{\"gateway\":\"main\",\"state\":\"broken\"}"),
                   POOL);
  json_decref(s);
  struct stat st;
  ck_assert_int_eq(stat(g_down_sock, &st), 0);
  ck_assert_msg(S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "mode %o",
                (unsigned)st.st_mode);
}
END_TEST

/* Two gateways, the second on a closed port: requests are served by the first, /health is 200 and
 * names the one that is down, the metrics have each gateway's series, and stats lists both. */
START_TEST(test_health_with_one_gateway_down) {
  char dir[] = "/tmp/hbpool-metrics.XXXXXX", sock[64], keys[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(sock, sizeof sock, "%s/m.sock", dir);
  snprintf(keys, sizeof keys, "metrics_listen = unix:%s\nbalance = ordered\n", sock);
  dh_daemon d;
  ck_assert(dh_start(&d, "test_metrics", &g_gateway, keys,
                     "pool_size = 1\n\n[gateway dead]\nhost = 127.0.0.1\nport = 1\n"
                     "pool_size = 1\nconnect_timeout_ms = 1000\nreconnect_min_ms = 100\n"));
  endpoint ep = {.path = sock};
  json_decref(dh_ok(&d, "tables", NULL));
  int64_t t0 = mono_ms(); /* the dead one's pool finds out as it connects at start */
  http_reply *r = NULL;
  while (mono_ms() - t0 < 5000) {
    if (r != NULL)
      http_free(r);
    r = http(&ep, "GET", "/health");
    if (strstr(r->body, "dead") != NULL)
      break;
    sleep_ms(50);
  }
  ck_assert_msg(r->status == 200, "GET /health: %d %s", r->status, r->body);
  ck_assert_str_eq(r->body,
                   "ok\ngateway dead (127.0.0.1:1) is unreachable; hbpoold is "
                   "reconnecting\n");
  http_free(r);
  json_t *s = scrape(&ep);
  ck_assert_int_eq(need(s, "hbpool_gateway_up", "{\"gateway\":\"main\"}"), 1);
  ck_assert_int_eq(need(s, "hbpool_gateway_up", "{\"gateway\":\"dead\"}"), 0);
  ck_assert_int_eq(need(s, "hbpool_pool_size", "{\"gateway\":\"dead\"}"), 1);
  json_decref(s);
  json_t *st = dh_ok(&d, "stats", NULL);
  json_t *gateways = json_object_get(st, "gateways");
  ck_assert_int_eq(json_object_size(gateways), 2);
  ck_assert(json_is_true(json_object_get(json_object_get(gateways, "main"), "gateway_up")));
  ck_assert(json_is_false(json_object_get(json_object_get(gateways, "dead"), "gateway_up")));
  ck_assert(json_is_true(json_object_get(json_object_get(st, "pool"), "gateway_up")));
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "pool"), "size")), 2);
  json_decref(st);
  ck_assert_int_eq(dh_stop(&d), 0);
  rmdir(dir);
}
END_TEST

/* A daemon of its own (pool of 1, lazy) serving metrics on dir/m.sock, dir made from its
 * mkdtemp template; returns the endpoint once a scrape has answered. */
static endpoint start_unix_metrics(dh_daemon *d, char *dir, char *sock, size_t size) {
  char keys[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(sock, size, "%s/m.sock", dir);
  snprintf(keys, sizeof keys, "metrics_listen = unix:%s\n", sock);
  ck_assert(dh_start(d, "test_metrics", &g_gateway, keys, "pool_size = 1\nlazy_connect = true\n"));
  endpoint ep = {.path = sock};
  json_decref(scrape(&ep));
  return ep;
}

static int open_descriptors(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *dir = opendir(path);
  ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL)
    n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

/* Out of file descriptors, both listeners pause and accept again later: with the daemon's limit
 * at what it has open plus two, two clients take the rest; a third client and a scrape wait,
 * accepted by the kernel only, and are served once the two leave. (The metrics listener's pause
 * once read its state from the wrong object: libevent gives the error callback evhttp's
 * argument.) */
START_TEST(test_out_of_descriptors_pauses_and_resumes) {
  char dir[] = "/tmp/hbpool-metrics.XXXXXX", sock[64];
  dh_daemon d;
  endpoint ep = start_unix_metrics(&d, dir, sock, sizeof sock);
  struct rlimit old, low;
  ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, NULL, &old), 0);
  low = (struct rlimit){(rlim_t)open_descriptors(d.pid) + 2, old.rlim_max};
  ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &low, NULL), 0);
  dh_conn *a = dh_connect(&d), *b = dh_connect(&d);
  dh_expect_json(dh_result(dh_call(a, "ping", NULL), "ping"), "\"pong\"");
  dh_expect_json(dh_result(dh_call(b, "ping", NULL), "ping"), "\"pong\"");
  dh_conn *waiting = dh_connect(&d);
  dh_send(waiting, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
  int scraper = connect_endpoint(&ep);
  const char *get = "GET /metrics HTTP/1.1\r\nHost: hbpoold\r\nConnection: close\r\n\r\n";
  ck_assert_int_eq(send(scraper, get, strlen(get), MSG_NOSIGNAL), (ssize_t)strlen(get));
  sleep_ms(300); /* both accepts fail meanwhile */
  ck_assert_msg(kill(d.pid, 0) == 0, "hbpoold died when it ran out of descriptors");
  ck_assert_ptr_null(dh_line(waiting, 0));
  dh_close(a);
  dh_close(b);
  char *line = dh_line(waiting, 5000); /* the pause lasts a second */
  ck_assert_msg(line != NULL && strstr(line, "\"pong\"") != NULL, "waiting client: %s",
                line != NULL ? line : "no reply within 5 s");
  free(line);
  size_t len;
  char *reply = read_all(scraper, &len);
  ck_assert_msg(strncmp(reply, "HTTP/1.1 200", 12) == 0, "waiting scrape: %.100s", reply);
  free(reply);
  close(scraper);
  dh_close(waiting);
  ck_assert_int_eq(prlimit(d.pid, RLIMIT_NOFILE, &old, NULL), 0);
  ck_assert_int_eq(dh_stop(&d), 0);
  rmdir(dir);
}
END_TEST

/* A stopped daemon removes its metrics socket file. */
START_TEST(test_unix_socket_removed_on_stop) {
  char dir[] = "/tmp/hbpool-metrics.XXXXXX", sock[64];
  dh_daemon d;
  start_unix_metrics(&d, dir, sock, sizeof sock); /* a scrape answered there */
  ck_assert_int_eq(dh_stop(&d), 0);
  ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT, "%s is still there", sock);
  rmdir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Configuration. */

/* Runs hbpoold (under timeout) on a config with these [daemon] lines; its exit status and
 * output. */
static int run_daemon(const char *args, const char *daemon_keys, char *out, size_t out_size) {
  char dir[] = "/tmp/hbpool-metrics.XXXXXX", conf[64], command[512];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(conf, sizeof conf, "%s/hbpoold.conf", dir);
  FILE *f = fopen(conf, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "[daemon]\nlisten_socket = %s/s.sock\n%s[gateway]\nhost = 127.0.0.1\nport = 1\n"
          "lazy_connect = true\n",
          dir, daemon_keys);
  fclose(f);
  snprintf(command, sizeof command, "timeout 20 %s/daemon/hbpoold %s -c %s 2>&1",
           gateway_env_need("top_builddir"), args, conf);
  FILE *p = popen(command, "r");
  size_t n = fread(out, 1, out_size - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  unlink(conf);
  rmdir(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

START_TEST(test_config_values) {
  static const char *const good[] = {"", "127.0.0.1:9100", "127.1.2.3:1", "[::1]:65535",
                                     "unix:/run/hbpool/metrics.sock"};
  static const char *const bad[] = {"0.0.0.0:9100",   "192.168.1.1:9100",
                                    "localhost:9100", "127.0.0.1",
                                    "127.0.0.1:0",    "127.0.0.1:65536",
                                    "[::]:9100",      "::1:9100",
                                    "unix:",          "unix:run/metrics.sock",
                                    ":9100"};
  char keys[256], out[4096];
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    snprintf(keys, sizeof keys, "metrics_listen = %s\n", good[i]);
    ck_assert_msg(run_daemon("-t", keys, out, sizeof out) == 0, "\"%s\" refused: %s", good[i], out);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(keys, sizeof keys, "metrics_listen = %s\n", bad[i]);
    int rc = run_daemon("-t", keys, out, sizeof out);
    ck_assert_msg(rc == 1 && strstr(out, "[daemon] metrics_listen: ") != NULL,
                  "\"%s\": exit %d: %s", bad[i], rc, out);
  }
}
END_TEST

/* A port already taken: hbpoold does not start, and says which key. */
START_TEST(test_port_in_use_refused) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  char keys[128], out[4096], want[128];
  snprintf(keys, sizeof keys, "metrics_listen = 127.0.0.1:%d\n", ntohs(sa.sin_port));
  snprintf(want, sizeof want, "metrics_listen 127.0.0.1:%d: cannot listen: ", ntohs(sa.sin_port));
  int rc = run_daemon("", keys, out, sizeof out);
  close(fd);
  ck_assert_msg(rc == 1 && strstr(out, want) != NULL, "exit %d: %s", rc, out);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemons and the table, made outside any test so that failures are printed. */

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_up, "test_metrics", method, params);
}

/* Table t with row r1 and rows k0..k9 for the scanner. */
static bool make_table(void) {
  if (!call_ok("create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf")) ||
      !call_ok("put",
               json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "r1", "data", "cf:a", "v1")))
    return false;
  json_t *ops = json_array();
  for (int i = 0; i < 10; i++) {
    char row[8];
    snprintf(row, sizeof row, "k%d", i);
    json_array_append_new(ops,
                          json_pack("{s:s,s:s,s:{s:s}}", "op", "put", "row", row, "data", "cf:a",
                                    row));
  }
  if (!call_ok("batch", json_pack("{s:s,s:o}", "table", g_table, "operations", ops)))
    return false;
  json_t *v = dh_try_call(&g_up, "version", NULL);
  const char *version = json_string_value(json_object_get(json_object_get(v, "result"), "version"));
  snprintf(g_version, sizeof g_version, "%s", version != NULL ? version : "?");
  json_decref(v);
  return version != NULL;
}

static bool start_daemons(const char *prefix) {
  char keys[512];
  g_port = dh_free_tcp_port();
  snprintf(keys, sizeof keys,
           "table_prefix = %s\nmetrics_listen = 127.0.0.1:%d\n"
           "max_line_bytes = %d\n",
           prefix, g_port, MAX_LINE);
  if (g_port <= 0 ||
      !dh_start(&g_up, "test_metrics", &g_gateway, keys, "pool_size = 2\nidle_refresh_ms = 1000\n"))
    return false;
  snprintf(g_down_dir, sizeof g_down_dir, "/tmp/hbpool-metrics.XXXXXX");
  if (mkdtemp(g_down_dir) == NULL)
    return false;
  snprintf(g_down_sock, sizeof g_down_sock, "%s/metrics.sock", g_down_dir);
  snprintf(keys, sizeof keys,
           "table_prefix = %s\nmetrics_listen = unix:%s\n"
           "listen_socket_mode = 0600\n",
           prefix, g_down_sock);
  hbc_options closed = g_gateway;
  closed.host = "127.0.0.1";
  closed.port = 1;
  return dh_start(&g_down, "test_metrics", &closed, keys,
                  "pool_size = 2\nlazy_connect = true\nconnect_timeout_ms = 1000\n"
                  "reconnect_min_ms = 100\nreconnect_max_ms = 1000\n");
}

/* The parser must be there: without it the tests could not tell valid text from invalid. */
static bool have_parser(void) {
  char command[256];
  snprintf(command, sizeof command, "%s -c 'import prometheus_client.parser'", python());
  if (system(command) == 0)
    return true;
  fprintf(stderr,
          "test_metrics: %s cannot import prometheus_client: install the Debian package "
          "python3-prometheus-client (tests/install-deps.sh), or set HBPOOL_TEST_PYTHON\n",
          python());
  return false;
}

static Suite *metrics_suite(void) {
  Suite *s = suite_create("hbpoold metrics");
  TCase *tc = tcase_create("metrics");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_counters_match_requests);
  tcase_add_test(tc, test_long_line_counted);
  tcase_add_test(tc, test_refresh_counted);
  tcase_add_test(tc, test_scanner_counts);
  tcase_add_test(tc, test_http_answers);
  tcase_add_test(tc, test_health_follows_gateway);
  tcase_add_test(tc, test_health_with_one_gateway_down);
  tcase_add_test(tc, test_unix_socket_removed_on_stop);
  tcase_add_test(tc, test_out_of_descriptors_pauses_and_resumes);
  tcase_add_test(tc, test_config_values);
  tcase_add_test(tc, test_port_in_use_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_metrics") || !have_parser())
    return 2;
  signal(SIGPIPE, SIG_IGN);
  const char *expiry = getenv("HBPOOL_TEST_SCANNER_EXPIRY_MS");
  g_scanner_expiry_ms = expiry != NULL && *expiry ? atoi(expiry) : 120000;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "met%d", (int)getpid());
  int failed = 1;
  if (start_daemons(prefix) && make_table()) {
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  if (g_up.pid > 0)
    call_ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  int rc_up = g_up.pid > 0 ? dh_stop(&g_up) : 0, rc_down = g_down.pid > 0 ? dh_stop(&g_down) : 0;
  bool sock_left = access(g_down_sock, F_OK) == 0;
  rmdir(g_down_dir);
  printf("hbpoold exited with status %d and %d after SIGTERM%s\n", rc_up, rc_down,
         sock_left ? "; its metrics socket was left behind" : "");
  return failed == 0 && rc_up == 0 && rc_down == 0 && !sock_left ? 0 : 1;
}
