/* End-to-end tests of hbpoold's listeners and limits: the TCP listener, a 100 MB request line,
 * the per-client in-flight limit, max_clients and clients that never read their replies,
 * against the real daemon and gateway. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define MAX_CLIENTS 4
#define MAX_IN_FLIGHT 4
#define MAX_LINE (16 << 20)
#define HUGE_LINE ((size_t)100 << 20)
#define SCAN_ROWS 100 /* rows of 1 KiB the in-flight tests scan: slow-ish requests */
#define OUTPUT_TIMEOUT_MS 1000

static hbc_options g_gateway;
static dh_daemon g_limits; /* max_clients and max_requests_per_client, one pooled connection */
static dh_daemon g_line;   /* max_line_bytes and the TCP listener */
static int g_tcp_port;
static const char *g_table = "t";

/* ---------------------------------------------------------------------------------------------
 * Helpers. */

static json_t *data_of(const json_t *reply) {
  return json_object_get(json_object_get(reply, "error"), "data");
}

/* The number of clients connected, from stats on c; -1 if c got no reply to it (refused). */
static json_int_t clients_connected(dh_conn *c) {
  json_t *reply = dh_try_call_on(c, "stats", NULL);
  json_t *clients = json_object_get(json_object_get(reply, "result"), "clients");
  json_int_t n = clients != NULL ? json_integer_value(json_object_get(clients, "connected")) : -1;
  json_decref(reply);
  return n;
}

/* A connection to d once it is d's only client: connections of earlier tests may still be
 * closing in the daemon. */
static dh_conn *sole_client(const dh_daemon *d) {
  for (int i = 0; i < 200; i++) {
    dh_conn *c = dh_connect(d);
    if (clients_connected(c) == 1)
      return c;
    dh_close(c);
    sleep_ms(50);
  }
  ck_abort_msg("%s never had a single client for 10 s", d->socket);
  return NULL;
}

/* A scan of the SCAN_ROWS rows with the given id, as a line. */
static char *scan_line(json_int_t id) {
  return dh_request(json_integer(id), "scan",
                    json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "s", "limit",
                              SCAN_ROWS));
}

/* A scan reply must hold every row. */
static void expect_all_rows(json_t *reply) {
  char *text = dh_text(reply);
  json_t *rows = json_object_get(json_object_get(reply, "result"), "rows");
  ck_assert_msg(json_array_size(rows) == SCAN_ROWS, "scan: %.300s", text);
  ck_assert_str_eq(json_string_value(json_array_get(json_array_get(rows, 0), 0)), "s000");
  free(text);
}

/* A too_many_requests refusal, safe to send again. */
static void expect_too_many(json_t *reply) {
  char *text = dh_text(reply);
  ck_assert_msg(dh_error_code(reply) == -32009, "expected -32009: %.300s", text);
  ck_assert_msg(json_is_true(json_object_get(data_of(reply), "retryable")), "%.300s", text);
  ck_assert_str_eq(json_string_value(json_object_get(data_of(reply), "error")),
                   "too_many_requests");
  free(text);
}

/* ---------------------------------------------------------------------------------------------
 * The TCP listener. */

START_TEST(test_tcp_listener_serves) {
  dh_conn *c = dh_try_connect_tcp(g_tcp_port);
  ck_assert_msg(c != NULL, "connect 127.0.0.1:%d: %s", g_tcp_port, strerror(errno));
  dh_expect_json(dh_result(dh_call(c, "ping", NULL), "ping"), "\"pong\"");
  dh_expect_json(dh_result(dh_call(c, "put",
                                   json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "tcp",
                                             "data", "cf:a", "over tcp")),
                           "put"),
                 "null");
  /* Pipelined, with string ids, and a batch: as on the Unix socket. */
  char lines[4096] = "";
  for (int i = 0; i < 10; i++) {
    char id[16];
    snprintf(id, sizeof id, "t%d", i);
    char *line = dh_request(json_string(id), "row",
                            json_pack("{s:s,s:s}", "table", g_table, "row", "tcp"));
    strcat(lines, line);
    free(line);
  }
  strcat(lines,
         "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"version\"}]\n");
  dh_send(c, lines);
  int seen = 0, batches = 0;
  for (int i = 0; i < 11; i++) {
    json_t *r = dh_json(c);
    if (json_is_array(r)) {
      ck_assert_int_eq(json_array_size(r), 2);
      batches++;
    } else {
      const char *id = json_string_value(json_object_get(r, "id"));
      ck_assert(id != NULL && id[0] == 't');
      seen |= 1 << atoi(id + 1);
      dh_expect_json(json_incref(json_object_get(r, "result")), "{\"cf:a\":\"over tcp\"}");
    }
    json_decref(r);
  }
  ck_assert_int_eq(seen, (1 << 10) - 1);
  ck_assert_int_eq(batches, 1);
  /* The Unix socket serves at the same time, and counts the TCP client. */
  json_t *st = dh_ok(&g_line, "stats", NULL);
  ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "clients"), "connected")),
                   2);
  json_decref(st);
  /* A TCP client that half-closes still gets its reply, then the daemon closes. */
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"ping\"}");
  shutdown(c->fd, SHUT_WR);
  json_t *r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 99);
  json_decref(r);
  ck_assert_ptr_null(dh_line(c, 5000));
  dh_close(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Request lines: a large one within max_line_bytes, a 100 MB one beyond it. */

/* A 4 MiB value (a line of a quarter of max_line_bytes) is stored and read back whole. */
START_TEST(test_large_line_within_limit_served) {
  size_t n = (size_t)4 << 20;
  char *value = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    value[i] = (char)('a' + i % 26);
  value[n] = '\0';
  json_t *data = json_object();
  json_object_set_new(data, "cf:big", json_string(value));
  dh_expect_json(dh_ok(&g_line, "put",
                       json_pack("{s:s,s:s,s:o}", "table", g_table, "row", "big", "data", data)),
                 "null");
  json_t *row = dh_ok(&g_line, "row", json_pack("{s:s,s:s}", "table", g_table, "row", "big"));
  const char *got = json_string_value(json_object_get(row, "cf:big"));
  ck_assert_msg(got != NULL && strcmp(got, value) == 0, "the 4 MiB value came back different");
  json_decref(row);
  free(value);
}
END_TEST

/* What the bystander saw while the huge line was streamed. */
typedef struct bystander {
  dh_conn *c;
  int64_t ping_sent_ms; /* 0: no ping outstanding */
  int64_t slowest_ms;
  int pings;
} bystander;

static void bystander_ping(bystander *b) {
  if (b->ping_sent_ms != 0)
    return;
  dh_send(b->c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
  b->ping_sent_ms = mono_ms();
}

/* Reads what the bystander's socket has: called when poll says it is readable. */
static void bystander_read(bystander *b) {
  ssize_t n = dh_fill(b->c);
  ck_assert_msg(n > 0 || (n < 0 && errno == EAGAIN), "the bystander's connection closed");
  char *line;
  while ((line = dh_take_line(b->c)) != NULL) {
    ck_assert_msg(strstr(line, "\"pong\"") != NULL, "bystander: %s", line);
    free(line);
    int64_t took = mono_ms() - b->ping_sent_ms;
    b->slowest_ms = took > b->slowest_ms ? took : b->slowest_ms;
    b->pings++;
    b->ping_sent_ms = 0;
  }
}

/* Waits up to 30 s for the bystander's outstanding ping to be answered. */
static void bystander_wait(bystander *b) {
  int64_t deadline = mono_ms() + 30000;
  while (b->ping_sent_ms != 0 && mono_ms() < deadline) {
    struct pollfd pf = {.fd = b->c->fd, .events = POLLIN};
    if (poll(&pf, 1, 1000) > 0)
      bystander_read(b);
  }
  ck_assert_msg(b->ping_sent_ms == 0, "the bystander's ping was not answered within 30 s");
}

/* Sends more of the line on c without blocking; false once the daemon stopped taking it (the
 * connection is closed). */
static bool stream_some(dh_conn *c, size_t *sent) {
  static char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  ssize_t n = send(c->fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0)
    *sent += (size_t)n;
  return n > 0 || errno == EAGAIN || errno == EINTR;
}

/* A 100 MB line, streamed: the daemon answers request_too_large and closes that connection
 * without buffering the line (its peak RSS grows by well under 100 MB), and serves another
 * client all along. */
START_TEST(test_huge_line_refused_memory_bounded) {
  bystander b = {.c = dh_connect(&g_line)};
  bystander_ping(&b);
  bystander_wait(&b);
  long rss_before = dh_status_kb(&g_line, "VmRSS");
  ck_assert_int_gt(rss_before, 0);
  dh_conn *big = dh_connect(&g_line);
  static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"put\",\"params\":"
                             "{\"table\":\"t\",\"row\":\"r\",\"data\":{\"cf:a\":\"";
  dh_send(big, head);
  size_t sent = sizeof head - 1;
  bool writable = true, closed = false;
  json_t *reply = NULL;
  int64_t deadline = mono_ms() + 300000;
  while (!closed && mono_ms() < deadline) {
    bystander_ping(&b);
    short out = writable && sent < HUGE_LINE ? POLLOUT : 0;
    struct pollfd pf[2] = {{.fd = big->fd, .events = POLLIN | out},
                           {.fd = b.c->fd, .events = POLLIN}};
    ck_assert_int_ge(poll(pf, 2, 1000), 0);
    if (pf[1].revents)
      bystander_read(&b);
    if (pf[0].revents & POLLOUT)
      writable = stream_some(big, &sent);
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = dh_fill(big);
      closed = n == 0 || (n < 0 && errno != EAGAIN);
      char *line = dh_take_line(big);
      if (line != NULL) {
        ck_assert_ptr_null(reply);
        json_error_t je;
        reply = json_loads(line, 0, &je);
        ck_assert_msg(reply != NULL, "not JSON: %.300s", line);
        free(line);
      }
    }
  }
  long peak = dh_status_kb(&g_line, "VmHWM");
  ck_assert_msg(closed, "the connection is still open after %zu bytes", sent);
  ck_assert_msg(reply != NULL, "no reply before the close, after %zu bytes", sent);
  char *text = dh_text(reply);
  ck_assert_msg(dh_error_code(reply) == -32008 && json_is_null(json_object_get(reply, "id")),
                "%.300s", text);
  ck_assert_str_eq(json_string_value(json_object_get(data_of(reply), "error")),
                   "request_too_large");
  free(text);
  json_decref(reply);
  dh_close(big);
  printf("test_daemon_limits: huge line: %zu bytes sent before the close; RSS %ld kB before, "
         "peak %ld kB; %d bystander pings, the slowest %lld ms\n",
         sent, rss_before, peak, b.pings, (long long)b.slowest_ms);
  ck_assert_msg(peak - rss_before < 64 * 1024, "RSS %ld kB before, peak %ld kB", rss_before, peak);
  ck_assert_int_ge(b.pings, 2);
  ck_assert_msg(b.slowest_ms < 10000, "a ping took %lld ms", (long long)b.slowest_ms);
  /* Served after it too, on the old connection and on a new one. */
  bystander_wait(&b);
  dh_expect_json(dh_result(dh_call(b.c, "ping", NULL), "ping"), "\"pong\"");
  dh_expect_json(dh_ok(&g_line, "ping", NULL), "\"pong\"");
  dh_close(b.c);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Per-client and daemon-wide limits. */

/* More requests than max_requests_per_client sent at once on one connection: the first ones
 * run, the excess get too_many_requests with their ids; another client is not affected. */
START_TEST(test_in_flight_limit_per_client) {
  enum { N = 12 };
  dh_conn *a = sole_client(&g_limits);
  dh_conn *other = dh_connect(&g_limits);
  char lines_a[N * 200] = "", lines_b[MAX_IN_FLIGHT * 200] = "";
  for (int i = 0; i < N; i++) {
    char *line = scan_line(100 + i);
    strcat(lines_a, line);
    free(line);
  }
  for (int i = 0; i < MAX_IN_FLIGHT; i++) {
    char *line = scan_line(200 + i);
    strcat(lines_b, line);
    free(line);
  }
  dh_send(a, lines_a); /* one write: the daemon reads the lines at once */
  dh_send(other, lines_b);
  int served = 0, refused = 0;
  bool seen[N] = {false};
  for (int i = 0; i < N; i++) {
    json_t *r = dh_json(a);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert_msg(id >= 100 && id < 100 + N && !seen[id - 100], "id %lld", (long long)id);
    seen[id - 100] = true;
    if (id < 100 + MAX_IN_FLIGHT) {
      expect_all_rows(r);
      served++;
    } else {
      expect_too_many(r);
      refused++;
    }
    json_decref(r);
  }
  ck_assert_int_eq(served, MAX_IN_FLIGHT);
  ck_assert_int_eq(refused, N - MAX_IN_FLIGHT);
  for (int i = 0; i < MAX_IN_FLIGHT; i++) {
    json_t *r = dh_json(other);
    ck_assert_int_ge(json_integer_value(json_object_get(r, "id")), 200);
    expect_all_rows(r);
    json_decref(r);
  }
  /* The limit counts what is in flight: once answered, the client is served again. */
  char *line = scan_line(300);
  dh_send(a, line);
  free(line);
  json_t *r = dh_json(a);
  expect_all_rows(r);
  json_decref(r);
  dh_close(other);
  dh_close(a);
}
END_TEST

/* The members of a batch are requests in flight too: a batch cannot run more of them at once
 * than max_requests_per_client. Each member still gets an entry, with its id. */
START_TEST(test_batch_members_count_toward_in_flight_limit) {
  enum { N = 12 };
  dh_conn *c = sole_client(&g_limits);
  char line[N * 200] = "[";
  for (int i = 0; i < N; i++) {
    char *member = scan_line(100 + i);
    member[strlen(member) - 1] = '\0';
    strcat(line, i > 0 ? "," : "");
    strcat(line, member);
    free(member);
  }
  strcat(line, "]\n");
  dh_send(c, line);
  json_t *replies = dh_json(c);
  ck_assert_msg(json_is_array(replies) && json_array_size(replies) == N,
                "a batch reply of %d "
                "entries expected",
                N);
  int served = 0;
  bool seen[N] = {false};
  for (size_t i = 0; i < N; i++) {
    json_t *r = json_array_get(replies, i);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert_msg(id >= 100 && id < 100 + N && !seen[id - 100], "id %lld", (long long)id);
    seen[id - 100] = true;
    if (json_object_get(r, "error") == NULL) {
      expect_all_rows(r);
      served++;
    } else {
      expect_too_many(r);
    }
  }
  json_decref(replies);
  ck_assert_msg(served <= MAX_IN_FLIGHT,
                "%d members of a batch of %d ran with "
                "max_requests_per_client = %d",
                served, N, MAX_IN_FLIGHT);
  dh_close(c);
}
END_TEST

/* A line long enough to be parsed off the loop (64 KiB and more) is not itself a request in
 * flight: a batch of max_requests_per_client members on such a line runs every member. */
START_TEST(test_large_line_not_counted_as_a_request) {
  enum { PAD = 80 * 1024 };
  dh_conn *c = sole_client(&g_limits);
  char *line = malloc(PAD + MAX_IN_FLIGHT * 200 + 8);
  strcpy(line, "[");
  for (int i = 0; i < MAX_IN_FLIGHT; i++) {
    char *member = scan_line(100 + i);
    member[strlen(member) - 1] = '\0';
    strcat(line, i > 0 ? "," : "");
    strcat(line, member);
    free(member);
  }
  size_t len = strlen(line);
  memset(line + len, ' ', PAD); /* whitespace is valid JSON between values */
  strcpy(line + len + PAD, "]\n");
  dh_send(c, line);
  free(line);
  json_t *replies = dh_json(c);
  ck_assert_msg(json_is_array(replies) && json_array_size(replies) == MAX_IN_FLIGHT,
                "a batch reply of %d entries expected", MAX_IN_FLIGHT);
  for (size_t i = 0; i < MAX_IN_FLIGHT; i++)
    expect_all_rows(json_array_get(replies, i));
  json_decref(replies);
  dh_close(c);
}
END_TEST

/* With max_clients connected, one more client gets a too_many_requests line and is closed; once
 * a client leaves, a new one is served. */
START_TEST(test_max_clients_refuses_one_more) {
  dh_conn *c[MAX_CLIENTS];
  c[0] = sole_client(&g_limits);
  json_t *st = dh_result(dh_call(c[0], "stats", NULL), "stats");
  json_int_t refused = json_integer_value(
    json_object_get(json_object_get(st, "clients"), "refused"));
  json_decref(st);
  for (int i = 1; i < MAX_CLIENTS; i++) {
    c[i] = dh_connect(&g_limits);
    dh_expect_json(dh_result(dh_call(c[i], "ping", NULL), "ping"), "\"pong\"");
  }
  dh_conn *extra = dh_connect(&g_limits); /* the kernel accepts; the daemon refuses */
  json_t *r = dh_json(extra);
  char *text = dh_text(r);
  expect_too_many(r);
  ck_assert_msg(json_is_null(json_object_get(r, "id")), "%s", text);
  ck_assert_msg(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                       "too many clients") != NULL,
                "%s", text);
  free(text);
  json_decref(r);
  ck_assert_ptr_null(dh_line(extra, 5000)); /* closed */
  dh_close(extra);
  st = dh_result(dh_call(c[0], "stats", NULL), "stats");
  json_t *clients = json_object_get(st, "clients");
  ck_assert_int_eq(json_integer_value(json_object_get(clients, "refused")), refused + 1);
  ck_assert_int_eq(json_integer_value(json_object_get(clients, "connected")), MAX_CLIENTS);
  json_decref(st);
  /* The connected clients are still served. */
  for (int i = 0; i < MAX_CLIENTS; i++)
    dh_expect_json(dh_result(dh_call(c[i], "ping", NULL), "ping"), "\"pong\"");
  dh_close(c[MAX_CLIENTS - 1]);
  dh_conn *next = NULL;
  for (int i = 0; i < 100 && next == NULL; i++) {
    next = dh_connect(&g_limits);
    if (clients_connected(next) != MAX_CLIENTS) { /* refused: the close was not seen yet */
      dh_close(next);
      next = NULL;
      sleep_ms(50);
    }
  }
  ck_assert_msg(next != NULL, "no new client served within 5 s of one leaving");
  dh_close(next);
  for (int i = 0; i < MAX_CLIENTS - 1; i++)
    dh_close(c[i]);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Clients that do not read their replies (g_line: client_output_timeout_ms = OUTPUT_TIMEOUT_MS). */

static json_int_t output_timeouts(dh_conn *c) {
  json_t *st = dh_result(dh_call(c, "stats", NULL), "stats");
  json_int_t n = json_integer_value(
    json_object_get(json_object_get(st, "clients"), "output_timeouts"));
  json_decref(st);
  return n;
}

/* Sends 100 scans of 100 KiB and reads nothing: once the socket's buffers are full, its replies
 * stop moving, and it is closed after client_output_timeout_ms; another client is served
 * throughout. A slow reader that keeps taking bytes is not closed. */
START_TEST(test_unread_replies_close_the_client) {
  dh_conn *watcher = dh_connect(&g_line);
  json_int_t before = output_timeouts(watcher);
  dh_conn *slow = dh_connect(&g_line), *deaf = dh_connect(&g_line);
  for (int i = 0; i < 100; i++) {
    char *line = scan_line(1000 + i);
    ck_assert_int_eq(dh_write(deaf, line, strlen(line)), 0);
    ck_assert_int_eq(dh_write(slow, line, strlen(line)), 0);
    free(line);
  }
  int64_t start = mono_ms(), closed_after = -1;
  size_t slow_read = 0;
  while (mono_ms() - start < 4 * OUTPUT_TIMEOUT_MS) {
    /* 64 KiB per 100 ms: slow, but enough for the daemon to see progress, which it does only
     * once the reader has emptied most of the socket's buffer (a Unix socket turns writable
     * again when three quarters of its send buffer are free). */
    char buf[65536];
    ssize_t n = recv(slow->fd, buf, sizeof buf, MSG_DONTWAIT);
    slow_read += n > 0 ? (size_t)n : 0;
    dh_expect_json(dh_result(dh_call(watcher, "ping", NULL), "ping"), "\"pong\"");
    if (closed_after < 0 && output_timeouts(watcher) > before)
      closed_after = mono_ms() - start;
    sleep_ms(100);
  }
  printf("test_daemon_limits: the client that read nothing was closed after %lld ms; the slow "
         "one read %zu bytes and was not\n",
         (long long)closed_after, slow_read);
  ck_assert_msg(closed_after >= OUTPUT_TIMEOUT_MS && closed_after <= 3 * OUTPUT_TIMEOUT_MS,
                "closed after %lld ms", (long long)closed_after);
  ck_assert_int_eq(output_timeouts(watcher), before + 1); /* not the slow reader */
  ck_assert_uint_gt(slow_read, 0);
  dh_close(deaf);
  dh_close(slow);
  dh_close(watcher);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemons and the table, made outside any test so that failures are printed. */

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_limits, "test_daemon_limits", method, params);
}

static bool start_daemons(const char *prefix) {
  char keys[256];
  snprintf(keys, sizeof keys,
           "table_prefix = %s\nmax_clients = %d\n"
           "max_requests_per_client = %d\n",
           prefix, MAX_CLIENTS, MAX_IN_FLIGHT);
  if (!dh_start(&g_limits, "test_daemon_limits", &g_gateway, keys, "pool_size = 1\n"))
    return false;
  g_tcp_port = dh_free_tcp_port();
  snprintf(keys, sizeof keys,
           "table_prefix = %s\nmax_line_bytes = %d\n"
           "listen_tcp = 127.0.0.1:%d\nclient_output_timeout_ms = %d\n",
           prefix, MAX_LINE, g_tcp_port, OUTPUT_TIMEOUT_MS);
  return g_tcp_port > 0 &&
    dh_start(&g_line, "test_daemon_limits", &g_gateway, keys, "pool_size = 2\n");
}

#define BURST 1100

/* 1,100 clients connect at once, non-blocking, while the daemon cannot accept (SIGSTOP: a loop
 * busy for a moment): every connect succeeds, waiting in the listen queue, and once the daemon
 * runs again it accepts and answers each. With the listen queue libevent sets when asked to
 * (128), the 130th connect failed with EAGAIN. */
START_TEST(test_connect_burst_waits_in_listen_queue) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  ck_assert_msg(rl.rlim_cur >= BURST + 64, "open-files limit %lu too low",
                (unsigned long)rl.rlim_cur);
  dh_daemon d;
  ck_assert(
    dh_start(&d, "test_daemon_limits", &g_gateway, "max_clients = 2000\n", "pool_size = 1\n"));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d.socket);
  dh_conn *conns[BURST];
  int refused = 0;
  kill(d.pid, SIGSTOP);
  for (int i = 0; i < BURST; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    conns[i] = NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      ck_assert_msg(errno == EAGAIN, "connect %d: %s", i, strerror(errno));
      refused++;
      close(fd);
      continue;
    }
    conns[i] = calloc(1, sizeof *conns[i]);
    conns[i]->fd = fd;
  }
  kill(d.pid, SIGCONT);
  printf("test_daemon_limits: %d connects at once to a stopped daemon: %d refused\n", BURST,
         refused);
  ck_assert_int_eq(refused, 0);
  for (int i = 0; i < BURST; i++)
    dh_send(conns[i], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
  for (int i = 0; i < BURST; i++) {
    dh_expect_json(dh_result(dh_json(conns[i]), "ping"), "\"pong\"");
    dh_close(conns[i]);
  }
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

static Suite *limits_suite(void) {
  Suite *s = suite_create("hbpoold limits");
  TCase *tc = tcase_create("limits");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_tcp_listener_serves);
  tcase_add_test(tc, test_large_line_within_limit_served);
  tcase_add_test(tc, test_huge_line_refused_memory_bounded);
  tcase_add_test(tc, test_in_flight_limit_per_client);
  tcase_add_test(tc, test_batch_members_count_toward_in_flight_limit);
  tcase_add_test(tc, test_large_line_not_counted_as_a_request);
  tcase_add_test(tc, test_max_clients_refuses_one_more);
  tcase_add_test(tc, test_unread_replies_close_the_client);
  tcase_add_test(tc, test_connect_burst_waits_in_listen_queue);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_limits"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  /* The connect burst needs 1,100 descriptors here and in the daemon (which inherits this). */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  char prefix[32];
  snprintf(prefix, sizeof prefix, "lim%d", (int)getpid());
  int failed = 1;
  if (start_daemons(prefix) &&
      dh_make_kib_rows(&g_limits, "test_daemon_limits", g_table, SCAN_ROWS)) {
    SRunner *sr = srunner_create(limits_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  if (g_limits.pid > 0)
    call_ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  int rc_limits = dh_stop(&g_limits), rc_line = g_line.pid > 0 ? dh_stop(&g_line) : 0;
  printf("hbpoold exited with status %d and %d after SIGTERM\n", rc_limits, rc_line);
  return failed == 0 && rc_limits == 0 && rc_line == 0 ? 0 : 1;
}
