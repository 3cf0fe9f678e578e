/* End-to-end tests of max_buffered_bytes, the budget of every client's buffered bytes together:
 * clients that ask for large scans and never read are closed and the daemon's memory stays near
 * the budget; clients holding half-sent lines stop being read and are read again once the total
 * falls; a well-behaved client is served throughout. Against the real daemon and gateway. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define MIB (1024 * 1024)
#define BUDGET (16 * MIB)
#define MAX_LINE MIB
#define SCAN_ROWS 1000 /* rows of 1 KiB: one scan's reply is about 1 MB */
#define DEAF_CLIENTS 60
#define DEAF_SCANS 3 /* each: 180 MB of replies in all, unread, without the budget */
/* What the gateway may return in the 250 ms before a deaf client is closed, and more: 1,000-row
 * scans come back at 100-300 MB/s here. Without the budget, 160 MB or more would be held. */
#define SLACK (80 * MIB)
#define LINE_CLIENTS 48
#define PARTIAL (MAX_LINE - 1024) /* spaces before each ping: a line under max_line_bytes */

static hbc_options g_gateway;
static dh_daemon g_daemon;
static const char *g_table = "t";

/* ---------------------------------------------------------------------------------------------
 * Helpers. */

static json_int_t clients_figure(dh_conn *c, const char *key) {
  json_t *st = dh_result(dh_call(c, "stats", NULL), "stats");
  json_t *v = json_object_get(json_object_get(st, "clients"), key);
  ck_assert_msg(json_is_integer(v), "stats has no clients.%s", key);
  json_int_t n = json_integer_value(v);
  json_decref(st);
  return n;
}

/* Scans dropped unsent because their client had left (stats: methods.scan.error_codes). */
static json_int_t scans_cancelled(dh_conn *c) {
  json_t *st = dh_result(dh_call(c, "stats", NULL), "stats");
  json_t *codes = json_object_get(json_object_get(json_object_get(st, "methods"), "scan"),
                                  "error_codes");
  json_int_t n = json_integer_value(json_object_get(codes, "cancelled"));
  json_decref(st);
  return n;
}

/* Pipelines n scans of the SCAN_ROWS rows on c (ids 1..n), reading nothing. */
static void send_scans(dh_conn *c, int n) {
  for (int k = 0; k < n; k++) {
    char *line = dh_request(json_integer(k + 1), "scan",
                            json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "s", "limit",
                                      SCAN_ROWS));
    ck_assert_int_eq(dh_write(c, line, strlen(line)), 0);
    free(line);
  }
}

/* A client that does what clients should: one get after another, on a thread, counting what
 * failed and the slowest; no Check assertion off the main thread. */
typedef struct steady {
  pthread_t thread;
  volatile int stop;
  int calls, failures;
  int64_t slowest_ms;
  char first_failure[256];
} steady;

static void *steady_main(void *arg) {
  steady *s = arg;
  dh_conn *c = dh_try_connect(&g_daemon);
  while (c != NULL && !s->stop) {
    int64_t start = mono_ms();
    json_t *reply = dh_try_call_on(c, "row",
                                   json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "s000",
                                             "columns", "cf:v"));
    int64_t took = mono_ms() - start;
    s->slowest_ms = took > s->slowest_ms ? took : s->slowest_ms;
    s->calls++;
    if (reply == NULL || json_object_get(reply, "result") == NULL) {
      if (s->failures++ == 0) {
        char *text = reply != NULL ? dh_text(reply) : NULL;
        snprintf(s->first_failure, sizeof s->first_failure, "%s",
                 text != NULL ? text : "no reply within 60 s");
        free(text);
      }
    }
    json_decref(reply);
    sleep_ms(20);
  }
  if (c == NULL)
    snprintf(s->first_failure, sizeof s->first_failure, "could not connect");
  dh_close(c);
  return NULL;
}

static void steady_start(steady *s) {
  memset(s, 0, sizeof *s);
  ck_assert_int_eq(pthread_create(&s->thread, NULL, steady_main, s), 0);
}

static void steady_stop(steady *s, const char *during) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  printf("test_daemon_budget: %s: the steady client made %d gets, the slowest %lld ms\n", during,
         s->calls, (long long)s->slowest_ms);
  ck_assert_msg(s->calls > 0 && s->failures == 0, "%s: %d of %d steady gets failed, first: %s",
                during, s->failures, s->calls, s->first_failure);
}

/* ---------------------------------------------------------------------------------------------
 * Clients that ask for large scans and never read. */

/* Every deaf client sends its scans at once and reads nothing: the replies (180 MB) would all be
 * held without the budget. With it, those whose replies sit unread are closed once the total
 * passes it, and the daemon's count of buffered bytes and its RSS stay within the budget plus
 * what the gateway returns in the moment before a close. */
START_TEST(test_deaf_scanners_closed_memory_bounded) {
  dh_conn *watcher = dh_connect(&g_daemon);
  json_int_t closes_before = clients_figure(watcher, "budget_closes");
  long rss_before = dh_status_kb(&g_daemon, "VmRSS");
  steady s;
  steady_start(&s);
  dh_conn *deaf[DEAF_CLIENTS];
  for (int i = 0; i < DEAF_CLIENTS; i++) {
    deaf[i] = dh_connect(&g_daemon);
    send_scans(deaf[i], DEAF_SCANS);
  }
  /* Until no scan runs (every one has run, or its client is gone, or its reads are held: a
   * client leaving its replies unread gets no more fetched, client_reply_window_bytes) and the
   * daemon is back under its budget, twice in a row. */
  int64_t start = mono_ms();
  json_int_t buffered = -1;
  for (int settled = 0; settled < 2 && mono_ms() - start < 60000;) {
    sleep_ms(200);
    buffered = clients_figure(watcher, "buffered_bytes");
    json_t *st = dh_result(dh_call(watcher, "stats", NULL), "stats");
    json_int_t busy = json_integer_value(json_object_get(json_object_get(st, "pool"), "busy"));
    json_decref(st);
    settled = busy <= 1 && buffered <= BUDGET ? settled + 1 : 0; /* 1: the steady client's get */
  }
  steady_stop(&s, "deaf scanners");
  json_int_t peak = clients_figure(watcher, "buffered_bytes_peak");
  json_int_t closes = clients_figure(watcher, "budget_closes") - closes_before;
  long hwm = dh_status_kb(&g_daemon, "VmHWM");
  printf("test_daemon_budget: deaf scanners: %lld closed, buffered bytes peaked at %.1f MiB "
         "(budget %d MiB), now %.1f MiB; RSS %ld KiB before, peak %ld KiB\n",
         (long long)closes, peak / (double)MIB, BUDGET / MIB, buffered / (double)MIB, rss_before,
         hwm);
  ck_assert_msg(closes >= 1, "no deaf client was closed");
  ck_assert_msg(buffered <= BUDGET, "still %lld bytes buffered", (long long)buffered);
  ck_assert_msg(peak <= BUDGET + SLACK, "buffered bytes peaked at %lld", (long long)peak);
  /* Under AddressSanitizer its shadow memory counts in RSS: only the daemon's own count holds. */
  const char *sanitizers = getenv("HBPOOL_SANITIZERS");
  if (sanitizers == NULL || strcmp(sanitizers, "yes") != 0)
    ck_assert_msg((hwm - rss_before) * 1024 <= 128 * MIB, "RSS grew by %ld KiB", hwm - rss_before);
  for (int i = 0; i < DEAF_CLIENTS; i++)
    dh_close(deaf[i]);
  dh_close(watcher);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * A client that leaves with reads queued. */

static json_int_t in_flight(dh_conn *c) {
  json_t *st = dh_result(dh_call(c, "stats", NULL), "stats");
  json_int_t n = json_integer_value(json_object_get(st, "in_flight"));
  json_decref(st);
  return n;
}

/* A client pipelines 40 scans (a second or more of the pool's time) and resets its connection:
 * the scans still waiting for a connection are dropped unsent, counted as cancelled, and the
 * daemon is idle again long before those 40 scans could have run. */
START_TEST(test_queued_reads_of_a_gone_client_dropped) {
  dh_conn *watcher = dh_connect(&g_daemon);
  json_int_t before = scans_cancelled(watcher);
  dh_conn *c = dh_connect(&g_daemon);
  send_scans(c, 40);
  for (int i = 0; i < 100 && in_flight(watcher) < 40; i++)
    sleep_ms(5);
  struct linger reset = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  int64_t start = mono_ms();
  dh_close(c);
  json_int_t left = -1;
  while (mono_ms() - start < 10000 && (left = in_flight(watcher)) > 0)
    sleep_ms(10);
  int64_t took = mono_ms() - start;
  json_int_t cancelled = scans_cancelled(watcher) - before;
  printf("test_daemon_budget: a client left with 40 scans sent: %lld dropped unsent, the daemon "
         "idle %lld ms later\n",
         (long long)cancelled, (long long)took);
  ck_assert_msg(left == 0, "%lld requests still in flight after 10 s", (long long)left);
  /* The pool (4) had at most a few of them under way. */
  ck_assert_msg(cancelled >= 30, "only %lld scans dropped", (long long)cancelled);
  dh_close(watcher);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Scans leave connections to single-row work. */

/* One client pipelines 12 scans of 1,000 rows; another's get, sent just after, is answered while
 * most of them still wait: max_scan_connections (2 of the pool of 4 here) keeps two
 * connections from scans. First come, first served, the get would wait for the scans ahead. */
START_TEST(test_scans_leave_connections_for_gets) {
  dh_conn *watcher = dh_connect(&g_daemon);
  dh_conn *scanner = dh_connect(&g_daemon), *getter = dh_connect(&g_daemon);
  send_scans(scanner, 12);
  for (int i = 0; i < 100 && in_flight(watcher) < 12; i++)
    sleep_ms(2);
  json_t *row = dh_result(dh_call(getter, "row",
                                  json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "s001",
                                            "columns", "cf:v")),
                          "row");
  json_int_t left = in_flight(watcher);
  printf("test_daemon_budget: a get sent behind 12 scans was answered with %lld of them still "
         "in flight\n",
         (long long)left);
  ck_assert_msg(left >= 6, "only %lld scans were still in flight", (long long)left);
  json_decref(row);
  for (int k = 0; k < 12; k++)
    json_decref(dh_result(dh_json(scanner), "scan"));
  dh_close(getter);
  dh_close(scanner);
  dh_close(watcher);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Clients holding half-sent lines. */

/* Sends what the socket takes now of PARTIAL spaces (JSON allows them before a request), up to
 * what is left; returns the bytes sent so far. */
static size_t send_spaces(dh_conn *c, size_t sent) {
  static char spaces[PARTIAL];
  memset(spaces, ' ', sizeof spaces);
  while (sent < PARTIAL) {
    ssize_t n = send(c->fd, spaces, PARTIAL - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      break;
    ck_assert_msg(n > 0, "send: %s", strerror(errno));
    sent += (size_t)n;
  }
  return sent;
}

/* 48 clients each try to send 1 MiB of a line (48 MiB in all) against the 16 MiB budget: once it
 * is passed, reading stops from those holding the most (throttled), while a steady client is
 * served. When 40 of them leave, the total falls under three quarters of the budget: the others
 * are read again, and their lines, completed, are answered. */
START_TEST(test_half_sent_lines_throttled_then_read_again) {
  dh_conn *watcher = dh_connect(&g_daemon);
  json_int_t throttles_before = clients_figure(watcher, "throttles");
  steady s;
  steady_start(&s);
  dh_conn *slow[LINE_CLIENTS];
  size_t sent[LINE_CLIENTS] = {0};
  for (int i = 0; i < LINE_CLIENTS; i++)
    slow[i] = dh_connect(&g_daemon);
  /* Round after round, as much as each socket takes, until the daemon takes no more. */
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < LINE_CLIENTS; i++)
      sent[i] = send_spaces(slow[i], sent[i]);
    sleep_ms(50);
  }
  json_int_t throttled = clients_figure(watcher, "throttled");
  json_int_t buffered = clients_figure(watcher, "buffered_bytes");
  printf("test_daemon_budget: half-sent lines: %lld clients throttled, %.1f MiB buffered\n",
         (long long)throttled, buffered / (double)MIB);
  ck_assert_msg(throttled > 0, "no client was throttled");
  ck_assert_msg(clients_figure(watcher, "throttles") > throttles_before, "throttles not counted");
  /* Over the budget, a client is throttled once it holds 1/64 of it, a read (16 KiB) at most
   * after: far less than the 48 MiB the clients were sending. */
  ck_assert_msg(buffered <= BUDGET + LINE_CLIENTS * (BUDGET / 64 + 16384), "%lld bytes buffered",
                (long long)buffered);
  for (int i = 0; i < LINE_CLIENTS - 8; i++)
    dh_close(slow[i]);
  for (int i = 0; i < 100 && throttled > 0; i++) {
    sleep_ms(100);
    throttled = clients_figure(watcher, "throttled");
  }
  ck_assert_msg(throttled == 0, "%lld clients still throttled", (long long)throttled);
  for (int i = LINE_CLIENTS - 8; i < LINE_CLIENTS; i++) {
    while ((sent[i] = send_spaces(slow[i], sent[i])) < PARTIAL)
      sleep_ms(10);
    dh_send(slow[i], "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n");
    json_t *reply = dh_json(slow[i]);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "result")), "pong");
    json_decref(reply);
    dh_close(slow[i]);
  }
  steady_stop(&s, "half-sent lines");
  dh_close(watcher);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemon and the table, made outside any test so that failures are printed. */

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_daemon, "test_daemon_budget", method, params);
}

static Suite *budget_suite(void) {
  Suite *s = suite_create("hbpoold max_buffered_bytes");
  TCase *tc = tcase_create("budget");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_deaf_scanners_closed_memory_bounded);
  tcase_add_test(tc, test_half_sent_lines_throttled_then_read_again);
  tcase_add_test(tc, test_queued_reads_of_a_gone_client_dropped);
  tcase_add_test(tc, test_scans_leave_connections_for_gets);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_budget"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  /* Under AddressSanitizer, freed replies would stay in its quarantine: the daemon's memory is
   * what this measures. Without ASan the variable is ignored. */
  const char *asan = getenv("ASAN_OPTIONS");
  char opts[1024];
  snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan != NULL ? asan : "",
           asan != NULL && *asan ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  char keys[256];
  snprintf(keys, sizeof keys,
           "table_prefix = bud%d\nmax_buffered_bytes = %d\nmax_line_bytes = %d\n"
           "max_clients = 256\n",
           (int)getpid(), BUDGET, MAX_LINE);
  int failed = 1;
  /* Two scans at once, so that the deaf clients' replies pass the budget within a few pages. */
  if (dh_start(&g_daemon, "test_daemon_budget", &g_gateway, keys,
               "pool_size = 4\nmax_scan_connections = 2\n") &&
      dh_make_kib_rows(&g_daemon, "test_daemon_budget", g_table, SCAN_ROWS)) {
    SRunner *sr = srunner_create(budget_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  if (g_daemon.pid > 0)
    call_ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  int rc = g_daemon.pid > 0 ? dh_stop(&g_daemon) : 0;
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  return failed == 0 && rc == 0 ? 0 : 1;
}
