/* End-to-end tests of hbpoold with large requests: lines parsed on the decoder thread (in order,
 * with clients that vanish meanwhile) and batches split by bytes below a framed gateway's frame
 * limit. Run against a framed gateway, so that the frame limit is real. */
#include <check.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

/* Above the decoder's threshold (64 KiB) and under the daemon's max_line_bytes. */
#define BIG_VALUE (1536 << 10)
/* A framed gateway refuses frames over 2 MB: batches of this much must be split. */
#define BATCH_ROWS 40
#define BATCH_VALUE (100 << 10)

static hbc_options g_gateway;
static dh_daemon g_d;
static const char *g_table = "t";

static json_t *ok(const char *method, json_t *params) {
  return dh_ok(&g_d, method, params);
}

/* A string of n copies of c (malloc'd). */
static char *filled(size_t n, char c) {
  char *s = malloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* The length of row's cf:a value, or -1 if it has none. */
static long value_len(const char *row) {
  json_t *r = ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", row));
  json_t *v = json_object_get(r, "cf:a");
  long n = json_is_string(v) ? (long)json_string_length(v) : -1;
  json_decref(r);
  return n;
}

/* A large line and the small ones sent after it in the same write are all answered; the large
 * one really was written. */
START_TEST(test_large_line_and_the_lines_after_it) {
  char *value = filled(BIG_VALUE, 'x');
  char *put = dh_request(json_integer(1), "put",
                         json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "big", "data",
                                   "cf:a", value));
  char *ping2 = dh_request(json_integer(2), "ping", NULL);
  char *ping3 = dh_request(json_integer(3), "ping", NULL);
  size_t n = strlen(put) + strlen(ping2) + strlen(ping3);
  char *all = malloc(n + 1);
  snprintf(all, n + 1, "%s%s%s", put, ping2, ping3);
  dh_conn *c = dh_connect(&g_d);
  ck_assert_int_eq(dh_write(c, all, n), 0);
  bool seen[4] = {false};
  for (int i = 0; i < 3; i++) {
    json_t *reply = dh_json(c);
    json_int_t id = json_integer_value(json_object_get(reply, "id"));
    char *text = dh_text(reply);
    ck_assert_msg(id >= 1 && id <= 3 && !seen[id], "unexpected reply %.200s", text);
    ck_assert_msg(dh_error_code(reply) == 0, "request %d failed: %.300s", (int)id, text);
    seen[id] = true;
    free(text);
    json_decref(reply);
  }
  dh_close(c);
  ck_assert_int_eq(value_len("big"), BIG_VALUE);
  free(all);
  free(ping3);
  free(ping2);
  free(put);
  free(value);
}
END_TEST

/* The number of clients connected, from stats on a connection of its own (which counts). */
static json_int_t clients_connected(void) {
  json_t *st = ok("stats", NULL);
  json_int_t n = json_integer_value(json_object_get(json_object_get(st, "clients"), "connected"));
  json_decref(st);
  return n;
}

/* Clients that send a large line and go away while it is parsed: each has an unread reply
 * when it closes, so the daemon's next read fails (ECONNRESET) and it closes the client while
 * the decoder still holds its line. The daemon must forget them once the decoder is done, and
 * serve everyone else meanwhile. */
START_TEST(test_clients_gone_while_their_line_is_parsed) {
  char *value = filled(4 * BIG_VALUE, 'y');
  char *put = dh_request(json_integer(1), "put",
                         json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "gone", "data",
                                   "cf:a", value));
  for (int i = 0; i < 4; i++) {
    dh_conn *c = dh_connect(&g_d);
    dh_send(c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}\n");
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1); /* the reply is there: leave it unread */
    ck_assert_int_eq(dh_write(c, put, strlen(put)), 0);
    dh_close(c);
  }
  dh_expect_json(ok("ping", NULL), "\"pong\"");
  json_int_t connected = -1;
  for (int i = 0; i < 100 && connected != 1; i++) {
    connected = clients_connected();
    if (connected != 1)
      sleep_ms(100);
  }
  ck_assert_int_eq(connected, 1);
  free(put);
  free(value);
}
END_TEST

/* A batch several times the gateway's frame limit is sent in chunks, and every row lands; the
 * same bytes in one put are more than the gateway takes, which is why. */
START_TEST(test_batch_larger_than_a_frame) {
  char *value = filled(BATCH_VALUE, 'z');
  json_t *ops = json_array();
  for (int i = 0; i < BATCH_ROWS; i++) {
    char row[16];
    snprintf(row, sizeof row, "b%02d", i);
    json_array_append_new(ops,
                          json_pack("{s:s,s:s,s:{s:s}}", "op", "put", "row", row, "data", "cf:a",
                                    value));
  }
  dh_expect_json(ok("batch", json_pack("{s:s,s:o}", "table", g_table, "operations", ops)), "null");
  for (int i = 0; i < BATCH_ROWS; i++) {
    char row[16];
    snprintf(row, sizeof row, "b%02d", i);
    ck_assert_int_eq(value_len(row), BATCH_VALUE);
  }
  char *huge = filled((size_t)BATCH_ROWS * BATCH_VALUE, 'z');
  json_t *e = dh_fails(&g_d, "put",
                       json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "huge", "data",
                                 "cf:a", huge),
                       -32010);
  ck_assert(json_is_false(json_object_get(json_object_get(e, "data"), "retryable")));
  json_decref(e);
  dh_expect_json(ok("ping", NULL), "\"pong\"");
  ck_assert_int_eq(value_len("b00"), BATCH_VALUE); /* the pool replaced that connection */
  free(huge);
  free(value);
}
END_TEST

static Suite *bytes_suite(void) {
  Suite *s = suite_create("hbpoold large requests");
  TCase *tc = tcase_create("bytes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_large_line_and_the_lines_after_it);
  tcase_add_test(tc, test_clients_gone_while_their_line_is_parsed);
  tcase_add_test(tc, test_batch_larger_than_a_frame);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_bytes"))
    return 2;
  if (!g_gateway.framed) {
    fprintf(stderr, "test_daemon_bytes: needs a framed gateway (HBPOOL_TEST_THRIFT_FRAMED=1)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char keys[128];
  snprintf(keys, sizeof keys, "max_line_bytes = %d\ntable_prefix = bytes%d\n", 32 << 20,
           (int)getpid());
  int failed = 1;
  if (dh_start(&g_d, "test_daemon_bytes", &g_gateway, keys, "pool_size = 2\n") &&
      dh_try_ok(&g_d, "test_daemon_bytes", "create_table",
                json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"))) {
    SRunner *sr = srunner_create(bytes_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    dh_try_ok(&g_d, "test_daemon_bytes", "delete_table",
              json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  }
  int rc = g_d.pid > 0 ? dh_stop(&g_d) : 1;
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  return failed == 0 && rc == 0 ? 0 : 1;
}
