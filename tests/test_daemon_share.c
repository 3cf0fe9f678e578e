/* End-to-end tests of how the pool is shared between client connections: waiting requests are
 * served round robin across clients, one client holds at most max_pool_share connections, and
 * a client that does not read its replies gets no more reads started (client_reply_window_bytes)
 * while its writes go on. Each test starts its own daemon in front of the real gateway. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define SCAN_ROWS 1000 /* rows of 1 KiB: one scan's reply is about 1 MB */
#define GETS 300

static hbc_options g_gateway;
static char g_prefix[32];
static const char *g_table = "t";

/* A daemon with these [daemon] and [gateway] keys besides the table prefix; false with a message
 * if it did not start. */
static bool start_daemon(dh_daemon *d, const char *daemon_keys, const char *gateway_keys) {
  char keys[512];
  snprintf(keys, sizeof keys, "table_prefix = %s\n%s", g_prefix, daemon_keys);
  return dh_start(d, "test_daemon_share", &g_gateway, keys, gateway_keys);
}

static void start(dh_daemon *d, const char *daemon_keys, const char *gateway_keys) {
  ck_assert_msg(start_daemon(d, daemon_keys, gateway_keys), "the daemon did not start");
}

static json_t *stats(dh_conn *c) {
  return dh_result(dh_call(c, "stats", NULL), "stats");
}

static json_int_t figure(dh_conn *c, const char *group, const char *key) {
  json_t *st = stats(c);
  json_t *v = group != NULL ? json_object_get(json_object_get(st, group), key)
                            : json_object_get(st, key);
  ck_assert_msg(json_is_integer(v), "stats has no %s.%s", group != NULL ? group : "", key);
  json_int_t n = json_integer_value(v);
  json_decref(st);
  return n;
}

/* Pipelines n requests of method on c (ids 1..n), reading nothing. */
static void pipeline(dh_conn *c, int n, const char *method, json_t *params) {
  for (int k = 0; k < n; k++) {
    char *line = dh_request(json_integer(k + 1), method, json_deep_copy(params));
    ck_assert_int_eq(dh_write(c, line, strlen(line)), 0);
    free(line);
  }
  json_decref(params);
}

static json_t *scan_params(void) {
  return json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "s", "limit", SCAN_ROWS);
}

static json_t *get_params(const char *row) {
  return json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", row, "columns", "cf:v");
}

/* Reads n replies of method from c, each a result. */
static void expect_results(dh_conn *c, int n, const char *method) {
  for (int k = 0; k < n; k++)
    json_decref(dh_result(dh_json(c), method));
}

/* One client queues 300 gets on a pool of 2 it may wholly use (max_pool_share 2, no
 * coalescing); another's get, sent after them, is served at the next turn: when it is answered,
 * most of the 300 are still waiting. First come, first served, it would wait for all 300. The
 * longest client queue shows in stats. */
START_TEST(test_waiting_requests_served_round_robin) {
  dh_daemon d;
  start(&d, "max_requests_per_client = 1024\n",
        "pool_size = 2\nmax_pool_share = 2\ncoalesce = false\n");
  dh_conn *watcher = dh_connect(&d), *busy = dh_connect(&d), *other = dh_connect(&d);
  pipeline(busy, GETS, "row", get_params("s001"));
  json_int_t longest = 0;
  for (int i = 0; i < 200 && longest < GETS / 2; i++) {
    json_t *st = stats(watcher);
    longest = json_integer_value(
      json_object_get(json_object_get(st, "pool"), "longest_client_queue"));
    json_decref(st);
  }
  json_decref(dh_result(dh_call(other, "row", get_params("s002")), "row"));
  json_int_t left = figure(watcher, NULL, "in_flight");
  printf("test_daemon_share: longest client queue %lld; a get sent behind %d of another "
         "client's was answered with %lld of them in flight\n",
         (long long)longest, GETS, (long long)left);
  ck_assert_msg(longest >= GETS / 2, "longest_client_queue only reached %lld", (long long)longest);
  ck_assert_msg(left >= GETS / 3, "only %lld of the %d were still in flight", (long long)left,
                GETS);
  expect_results(busy, GETS, "row");
  ck_assert_int_eq(figure(watcher, "pool", "longest_client_queue"), 0);
  dh_close(other);
  dh_close(busy);
  dh_close(watcher);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

/* The most connections busy at once, sampled from when the requests just sent are in flight
 * until none is. */
static json_int_t busiest(dh_conn *watcher) {
  for (int i = 0; i < 2000 && figure(watcher, NULL, "in_flight") == 0; i++)
    sleep_ms(1);
  json_int_t most = 0;
  for (int i = 0; i < 100000 && figure(watcher, NULL, "in_flight") > 0; i++) {
    json_int_t busy = figure(watcher, "pool", "busy");
    most = busy > most ? busy : most;
  }
  return most;
}

/* Replaces from with to in the daemon's config and reloads it (SIGHUP); returns once stats count
 * the reload. */
static void reload_replacing(dh_daemon *d, dh_conn *watcher, const char *from, const char *to) {
  json_int_t before = figure(watcher, "daemon", "reloads");
  FILE *f = fopen(d->conf, "r");
  ck_assert_ptr_nonnull(f);
  char text[4096], out[4096];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char *at = strstr(text, from);
  ck_assert_ptr_nonnull(at);
  snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
  f = fopen(d->conf, "w");
  ck_assert_ptr_nonnull(f);
  fputs(out, f);
  fclose(f);
  ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
  for (int i = 0; i < 200 && figure(watcher, "daemon", "reloads") == before; i++)
    sleep_ms(10);
  ck_assert_int_gt(figure(watcher, "daemon", "reloads"), before);
}

/* With max_pool_share 1 on a pool of 4 (scans may take all 4), one client's 8 pipelined scans
 * run one at a time; two clients' run two at a time. Reloaded with 2, one client's run two at a
 * time. */
START_TEST(test_one_client_holds_its_share) {
  dh_daemon d;
  start(&d, "client_reply_window_bytes = 0\n",
        "pool_size = 4\nmax_pool_share = 1\nmax_scan_connections = 4\n");
  dh_conn *watcher = dh_connect(&d), *a = dh_connect(&d), *b = dh_connect(&d);
  pipeline(a, 8, "scan", scan_params());
  json_int_t alone = busiest(watcher);
  expect_results(a, 8, "scan");
  pipeline(a, 8, "scan", scan_params());
  pipeline(b, 8, "scan", scan_params());
  json_int_t two = busiest(watcher);
  expect_results(a, 8, "scan");
  expect_results(b, 8, "scan");
  reload_replacing(&d, watcher, "max_pool_share = 1", "max_pool_share = 2");
  pipeline(a, 8, "scan", scan_params());
  json_int_t reloaded = busiest(watcher);
  expect_results(a, 8, "scan");
  printf("test_daemon_share: max_pool_share 1: one client's scans held %lld connections at "
         "most, two clients' %lld; reloaded with 2, one client's %lld\n",
         (long long)alone, (long long)two, (long long)reloaded);
  ck_assert_int_eq(alone, 1);
  ck_assert_int_eq(two, 2);
  ck_assert_int_eq(reloaded, 2);
  dh_close(b);
  dh_close(a);
  dh_close(watcher);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

/* A client pipelines 6 scans of about 1 MB and a put, and reads nothing for 3 s, three times
 * queue_timeout_ms: its reads are held once its first reply passes the 256 KiB window (at most
 * two ran: the share of a pool of 4), the put is applied meanwhile, and the held scans have not
 * expired. Once it reads, every scan is answered with its rows. */
START_TEST(test_unread_replies_hold_reads_not_writes) {
  dh_daemon d;
  start(&d, "", "pool_size = 4\nqueue_timeout_ms = 1000\n");
  dh_conn *watcher = dh_connect(&d), *deaf = dh_connect(&d);
  json_int_t holds = figure(watcher, "clients", "reads_holds");
  pipeline(deaf, 6, "scan", scan_params());
  char *put = dh_request(json_integer(7), "put",
                         json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "held-put", "data",
                                   "cf:v", "applied"));
  ck_assert_int_eq(dh_write(deaf, put, strlen(put)), 0);
  free(put);
  sleep_ms(3000);
  json_t *st = stats(watcher);
  json_int_t held = json_integer_value(
    json_object_get(json_object_get(st, "clients"), "reads_held"));
  json_int_t scans = json_integer_value(
    json_object_get(json_object_get(json_object_get(st, "methods"), "scan"), "calls"));
  json_decref(st);
  json_t *row = dh_result(dh_call(watcher, "row", get_params("held-put")), "row");
  char *text = dh_text(row);
  printf("test_daemon_share: a client not reading: %lld held, %lld of its 6 scans answered "
         "after 3 s; its put read back as %s\n",
         (long long)held, (long long)scans, text);
  ck_assert_int_eq(held, 1);
  ck_assert_int_eq(figure(watcher, "clients", "reads_holds"), holds + 1);
  ck_assert_msg(scans >= 1 && scans <= 2, "%lld scans ran", (long long)scans);
  ck_assert_msg(strstr(text, "applied") != NULL, "the put was not applied: %s", text);
  free(text);
  json_decref(row);
  int results = 0;
  for (int k = 0; k < 7; k++) {
    json_t *reply = dh_json(deaf);
    json_t *result = json_object_get(reply, "result");
    json_t *rows = json_object_get(result, "rows");
    ck_assert_msg(result != NULL, "reply %d failed", k);
    results += rows == NULL || json_array_size(rows) == SCAN_ROWS;
    json_decref(reply);
  }
  ck_assert_int_eq(results, 7);
  ck_assert_int_eq(figure(watcher, "clients", "reads_held"), 0);
  dh_close(deaf);
  dh_close(watcher);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

static Suite *share_suite(void) {
  Suite *s = suite_create("hbpoold max_pool_share and client_reply_window_bytes");
  TCase *tc = tcase_create("share");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_waiting_requests_served_round_robin);
  tcase_add_test(tc, test_one_client_holds_its_share);
  tcase_add_test(tc, test_unread_replies_hold_reads_not_writes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_share"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_prefix, sizeof g_prefix, "share%d", (int)getpid());
  /* The table of SCAN_ROWS rows of 1 KiB is made and dropped by a daemon of its own. */
  dh_daemon d;
  if (!start_daemon(&d, "", ""))
    return 1;
  int failed = 1;
  if (dh_make_kib_rows(&d, "test_daemon_share", g_table, SCAN_ROWS)) {
    SRunner *sr = srunner_create(share_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  json_decref(
    dh_try_call(&d, "delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
  int rc = dh_stop(&d);
  return failed == 0 && rc == 0 ? 0 : 1;
}
