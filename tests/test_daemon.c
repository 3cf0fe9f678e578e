/* End-to-end tests of hbpoold: the real daemon, started from the build, talking to a real gateway,
 * driven through its Unix socket exactly as a client in any language would. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

static hbc_options g_gateway;
static int g_idle_timeout_ms;   /* the gateway drops connections idle this long */
static int g_scanner_expiry_ms; /* the gateway forgets scanners unused this long */
static int g_refresh_ms;        /* the daemon's idle_refresh_ms: below the gateway's limit */
static int g_scanner_idle_ms;   /* the daemon's scanner_idle_timeout_ms: past the gateway's */
static dh_daemon g_d;
static char g_prefix[32];

/* The pool size of the daemon under test. */
#define POOL_SIZE 4

/* The result of a call that must succeed (a new reference). */
static json_t *ok(const char *method, json_t *params) {
  return dh_ok(&g_d, method, params);
}

/* The error of a call that must fail with code; returns the error object. */
static json_t *fails(const char *method, json_t *params, int code) {
  return dh_fails(&g_d, method, params, code);
}

static void expect_json(json_t *got, const char *want) {
  dh_expect_json(got, want);
}

static int error_code(json_t *reply) {
  return dh_error_code(reply);
}

/* Longer than the gateway keeps an unused scanner: a kept one can outlive its gateway scanner. */
static int scan_keep_open_ms(void) {
  return g_scanner_expiry_ms + 2000;
}

static bool start_daemon(void) {
  char keys[512];
  snprintf(keys, sizeof keys,
           "max_line_bytes = 65536\ntable_prefix = %s\nscan_max_rows = 7\n"
           "max_output_bytes_per_client = 65536\nscanner_idle_timeout_ms = %d\n"
           "scan_keep_open_ms = %d\n",
           g_prefix, g_scanner_idle_ms, scan_keep_open_ms());
  char gateway_keys[128];
  snprintf(gateway_keys, sizeof gateway_keys, "pool_size = %d\nidle_refresh_ms = %d\n", POOL_SIZE,
           g_refresh_ms);
  return dh_start(&g_d, "test_daemon", &g_gateway, keys, gateway_keys);
}

static const char *g_table = "t";

static json_t *params_table(void) {
  return json_pack("{s:s}", "table", g_table);
}

static void setup(void) {
  ok("create_table",
     json_pack("{s:s,s:{s:{s:i},s:{}}}", "table", g_table, "families", "cf", "max_versions", 5,
               "cg"));
}

static void teardown(void) {
  json_decref(ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

START_TEST(test_ping_version_stats) {
  expect_json(ok("ping", NULL), "\"pong\"");
  json_t *v = ok("version", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(v, "version")), PACKAGE_VERSION);
  json_decref(v);
  json_t *st = ok("stats", NULL);
  json_t *pool = json_object_get(st, "pool");
  ck_assert_int_eq(json_integer_value(json_object_get(pool, "size")), 4);
  ck_assert(json_is_true(json_object_get(pool, "gateway_up")));
  ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "clients"), "connected")),
                   1);
  json_decref(st);
}
END_TEST

START_TEST(test_admin) {
  json_t *tables = ok("tables", NULL);
  bool found = false;
  for (size_t i = 0; i < json_array_size(tables); i++)
    found |= strcmp(json_string_value(json_array_get(tables, i)), g_table) == 0;
  ck_assert_msg(found, "tables() lacks %s (with the prefix stripped)", g_table);
  json_decref(tables);
  json_t *fams = ok("families", params_table());
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(fams, "cf"), "max_versions")),
                   5);
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(fams, "cg"), "name")), "cg:");
  json_decref(fams);
  expect_json(ok("is_table_enabled", params_table()), "true");
  expect_json(ok("disable_table", params_table()), "null");
  expect_json(ok("is_table_enabled", params_table()), "false");
  expect_json(ok("enable_table", params_table()), "null");
  json_t *regions = ok("regions", params_table());
  ck_assert_int_eq(json_array_size(regions), 1);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(regions, 0), "start_key")), "");
  json_decref(regions);
  expect_json(ok("compact_table", json_pack("{s:s,s:b}", "table", g_table, "major", 1)), "null");
  json_decref(
    fails("create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"), -32003));
  json_decref(fails("families", json_pack("{s:s}", "table", "no_such_table"), -32001));
}
END_TEST

START_TEST(test_put_row_rows_cells) {
  expect_json(ok("put",
                 json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "r1", "data", "cf:a",
                           "1", "cg:b", "2")),
              "null");
  expect_json(ok("put",
                 json_pack("{s:s,s:s,s:{s:s},s:I}", "table", g_table, "row", "r2", "data", "cf:a",
                           "old", "timestamp", (json_int_t)100)),
              "null");
  expect_json(ok("put",
                 json_pack("{s:s,s:s,s:{s:s},s:I}", "table", g_table, "row", "r2", "data", "cf:a",
                           "new", "timestamp", (json_int_t)200)),
              "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "r1")),
              "{\"cf:a\":\"1\",\"cg:b\":\"2\"}");
  expect_json(ok("row",
                 json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "r1", "columns", "cg")),
              "{\"cg:b\":\"2\"}");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "missing")), "{}");
  /* A read timestamp is exclusive: cells older than it. */
  expect_json(ok("row",
                 json_pack("{s:s,s:s,s:I,s:b}", "table", g_table, "row", "r2", "timestamp",
                           (json_int_t)200, "include_timestamp", 1)),
              "{\"cf:a\":[\"old\",100]}");
  expect_json(ok("rows",
                 json_pack("{s:s,s:[s,s,s]}", "table", g_table, "rows", "r1", "missing", "r2")),
              "[[\"r1\",{\"cf:a\":\"1\",\"cg:b\":\"2\"}],[\"r2\",{\"cf:a\":\"new\"}]]");
  expect_json(ok("rows",
                 json_pack("{s:s,s:[s,s],s:I}", "table", g_table, "rows", "r1", "r2", "timestamp",
                           (json_int_t)150)),
              "[[\"r2\",{\"cf:a\":\"old\"}]]");
  expect_json(ok("cells",
                 json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "r2", "column", "cf:a")),
              "[\"new\",\"old\"]");
  expect_json(ok("cells",
                 json_pack("{s:s,s:s,s:s,s:i,s:b}", "table", g_table, "row", "r2", "column", "cf:a",
                           "versions", 1, "include_timestamp", 1)),
              "[[\"new\",200]]");
  json_decref(fails("cells",
                    json_pack("{s:s,s:s,s:s,s:i}", "table", g_table, "row", "r2", "column", "cf:a",
                              "versions", 0),
                    -32602));
}
END_TEST

START_TEST(test_delete) {
  ok("put",
     json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "table", g_table, "row", "d", "data", "cf:a", "1",
               "cf:b", "2", "cg:c", "3"));
  expect_json(ok("delete",
                 json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "d", "columns", "cf:a")),
              "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "d")),
              "{\"cf:b\":\"2\",\"cg:c\":\"3\"}");
  expect_json(ok("delete", json_pack("{s:s,s:s}", "table", g_table, "row", "d")), "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "d")), "{}");
}
END_TEST

START_TEST(test_counters_and_append) {
  json_t *p = json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "c", "column", "cf:n");
  expect_json(ok("counter_get", json_deep_copy(p)), "0");
  json_object_set_new(p, "value", json_integer(5));
  expect_json(ok("counter_inc", json_deep_copy(p)), "5");
  json_object_set_new(p, "value", json_integer(2));
  expect_json(ok("counter_dec", json_deep_copy(p)), "3");
  json_object_set_new(p, "value", json_integer(-42));
  expect_json(ok("counter_set", json_deep_copy(p)), "null");
  json_object_del(p, "value");
  expect_json(ok("counter_get", p), "-42");
  /* The counter is 8-byte big-endian: read it back as base64. */
  expect_json(ok("row",
                 json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "Yw==", "encoding", "base64")),
              "{\"Y2Y6bg==\":\"/////////9Y=\"}");
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "ap", "data", "cf:x", "ab"));
  expect_json(ok("append",
                 json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "ap", "data", "cf:x",
                           "cd", "cf:y", "new")),
              "{\"cf:x\":\"abcd\",\"cf:y\":\"new\"}");
}
END_TEST

/* check_and_put puts one cell if a column holds a value, or (value null) is absent; it says
 * whether it did. Twenty clients racing for the same absent column: exactly one wins. */
START_TEST(test_check_and_put) {
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "cap", "data", "cf:a", "1"));
  expect_json(ok("check_and_put",
                 json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "table", g_table, "row", "cap", "column",
                           "cf:a", "value", "1", "data", "cf:b", "x")),
              "true");
  expect_json(ok("check_and_put",
                 json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "table", g_table, "row", "cap", "column",
                           "cf:a", "value", "2", "data", "cf:b", "y")),
              "false");
  expect_json(ok("check_and_put",
                 json_pack("{s:s,s:s,s:s,s:n,s:{s:s}}", "table", g_table, "row", "cap", "column",
                           "cf:c", "value", "data", "cf:c", "new")),
              "true");
  expect_json(ok("check_and_put",
                 json_pack("{s:s,s:s,s:s,s:n,s:{s:s}}", "table", g_table, "row", "cap", "column",
                           "cf:c", "value", "data", "cf:c", "again")),
              "false");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "cap")),
              "{\"cf:a\":\"1\",\"cf:b\":\"x\",\"cf:c\":\"new\"}");
  json_t *e = fails("check_and_put",
                    json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "cap",
                              "column", "cf:a", "value", "1", "data", "cf:b", "1", "cf:d", "2"),
                    -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "exactly one"));
  json_decref(e);
  json_decref(fails("check_and_put",
                    json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", g_table, "row", "cap", "column",
                              "cf:a", "data", "cf:b", "1"),
                    -32602));
  enum { RACERS = 20 };
  dh_conn *c[RACERS];
  for (int i = 0; i < RACERS; i++)
    c[i] = dh_connect(&g_d);
  for (int i = 0; i < RACERS; i++) {
    char tag[16];
    snprintf(tag, sizeof tag, "client%d", i);
    char *line = dh_request(json_integer(i), "check_and_put",
                            json_pack("{s:s,s:s,s:s,s:n,s:{s:s}}", "table", g_table, "row", "race",
                                      "column", "cf:lock", "value", "data", "cf:lock", tag));
    dh_send(c[i], line);
    free(line);
  }
  int winners = 0, winner = -1;
  for (int i = 0; i < RACERS; i++) {
    json_t *r = dh_json(c[i]);
    json_t *res = json_object_get(r, "result");
    ck_assert_msg(json_is_boolean(res), "client %d: %s", i, dh_text(r));
    if (json_is_true(res)) {
      winners++;
      winner = i;
    }
    json_decref(r);
    dh_close(c[i]);
  }
  ck_assert_int_eq(winners, 1);
  char want[64];
  snprintf(want, sizeof want, "{\"cf:lock\":\"client%d\"}", winner);
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "race")), want);
}
END_TEST

/* A cell is written to "family:qualifier". A family alone makes the gateway's puts, appends and
 * checkAndPut fail with an internal error (gateway_error): hbpoold refuses it by name first, and
 * writes nothing of the request. "cf:" (the empty qualifier) is a cell; a family alone still
 * names a whole family where one is meant: in a delete. */
START_TEST(test_cells_need_a_qualifier) {
  static const struct {
    const char *method, *params, *where;
  } cases[] = {
    {"put", "{\"row\":\"fo\",\"data\":{\"cf:a\":\"1\",\"cf\":\"2\"}}", "\"data\"[\"cf\"]"},
    {"append", "{\"row\":\"fo\",\"data\":{\"cg\":\"2\"}}", "\"data\"[\"cg\"]"},
    {"check_and_put", "{\"row\":\"fo\",\"column\":\"cf\",\"value\":null,\"data\":{\"cf:a\":\"1\"}}",
     "\"column\""},
    {"check_and_put", "{\"row\":\"fo\",\"column\":\"cf:a\",\"value\":null,\"data\":{\"cf\":\"1\"}}",
     "\"data\"[\"cf\"]"},
    {"counter_set", "{\"row\":\"fo\",\"column\":\"cf\",\"value\":7}", "\"column\""},
    {"batch",
     "{\"operations\":[{\"op\":\"put\",\"row\":\"fo\",\"data\":{\"cf:b\":\"1\"}},"
     "{\"op\":\"put\",\"row\":\"fo2\",\"data\":{\"cf\":\"1\"}}]}",
     "\"operations\"[1].data[\"cf\"]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_error_t je;
    json_t *params = json_loads(cases[i].params, 0, &je);
    ck_assert_msg(params != NULL, "case %zu: %s", i, je.text);
    json_object_set_new(params, "table", json_string(g_table));
    json_t *err = fails(cases[i].method, params, -32602);
    const char *msg = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(msg != NULL && strstr(msg, cases[i].where) != NULL &&
                    strstr(msg, "not a family alone") != NULL,
                  "%s: the error should name %s: %s", cases[i].method, cases[i].where, msg);
    json_decref(err);
  }
  expect_json(ok("rows", json_pack("{s:s,s:[s,s]}", "table", g_table, "rows", "fo", "fo2")), "[]");
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "fo", "data", "cf:", "e"));
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "fo")), "{\"cf:\":\"e\"}");
  expect_json(ok("delete",
                 json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "fo", "columns", "cf")),
              "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "fo")), "{}");
}
END_TEST

START_TEST(test_binary_data_and_encoding_errors) {
  /* row \x00\xff, column cf:\x01, value \xff\xfe\x00 */
  ok("put",
     json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", g_table, "encoding", "base64", "row",
               "AP8=", "data", "Y2Y6AQ==", "//4A"));
  expect_json(ok("row",
                 json_pack("{s:s,s:s,s:s}", "table", g_table, "encoding", "base64", "row", "AP8=")),
              "{\"Y2Y6AQ==\":\"//4A\"}");
  json_t *err = fails("row",
                      json_pack("{s:s,s:s,s:s}", "table", g_table, "encoding", "base64", "row",
                                "not base64!"),
                      -32007);
  json_decref(err);
  ok("put",
     json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", g_table, "encoding", "base64", "row", "YmFk",
               "data", "Y2Y6dg==", "gA=="));
  err = fails("row", json_pack("{s:s,s:s}", "table", g_table, "row", "bad"), -32007);
  const char *msg = json_string_value(json_object_get(err, "message"));
  ck_assert_msg(strstr(msg, "bad") != NULL && strstr(msg, "cf:v") != NULL &&
                  strstr(msg, "base64") != NULL,
                "message: %s", msg);
  json_decref(err);
}
END_TEST

START_TEST(test_protocol_errors) {
  dh_conn *c = dh_connect(&g_d);
  dh_send(c, "this is not json\n");
  json_t *r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                   -32700);
  ck_assert(json_is_null(json_object_get(r, "id")));
  json_decref(r);
  dh_send(c, "{\"id\":1,\"method\":\"ping\"}\n");
  r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                   -32600);
  json_decref(r);
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"}\n");
  r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                   -32601);
  ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
  json_decref(r);
  /* The connection still serves after all that. */
  json_t *pong = dh_call(c, "ping", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(pong, "result")), "pong");
  json_decref(pong);
  dh_close(c);
  json_t *e = fails("row", json_pack("{s:i,s:s}", "table", 5, "row", "r"), -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "table"));
  json_decref(e);
  e = fails("row", json_pack("{s:s,s:s,s:i}", "table", g_table, "row", "r", "colums", 1), -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "colums"));
  json_decref(e);
}
END_TEST

/* JSON-RPC 2.0: a line that is not a valid request still gets an error, with a null id when it
 * has no usable one; a blank line gets nothing. */
START_TEST(test_invalid_requests_answered) {
  dh_conn *c = dh_connect(&g_d);
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}\n");
  json_t *r = dh_json(c);
  ck_assert_int_eq(error_code(r), -32600);
  ck_assert(json_is_null(json_object_get(r, "id")));
  json_decref(r);
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}\n");
  r = dh_json(c);
  ck_assert_int_eq(error_code(r), -32600);
  ck_assert(json_is_null(json_object_get(r, "id")));
  json_decref(r);
  dh_send(c, " \t \r\n[1,{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}]\n");
  r = dh_json(c);
  ck_assert_msg(json_is_array(r) && json_array_size(r) == 2, "batch reply");
  bool refused = false, ponged = false;
  for (size_t i = 0; i < 2; i++) {
    json_t *m = json_array_get(r, i);
    refused |= error_code(m) == -32600 && json_is_null(json_object_get(m, "id"));
    ponged |= json_integer_value(json_object_get(m, "id")) == 7 &&
      json_is_string(json_object_get(m, "result"));
  }
  ck_assert(refused && ponged);
  json_decref(r);
  dh_close(c);
}
END_TEST

/* retryable is true only where resending is safe: a failed read, never a write that may have
 * been applied, even when HBase itself says it may be retried. */
START_TEST(test_retryable_only_when_safe) {
  json_t *e = fails("batch",
                    json_pack("{s:s,s:i,s:[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]}", "table", g_table,
                              "batch_size", 1, "operations", "op", "put", "row", "r7", "data",
                              "cf:a", "1", "op", "put", "row", "r8", "data", "nofam:x", "1"),
                    -32001);
  ck_assert(json_is_false(json_object_get(json_object_get(e, "data"), "retryable")));
  json_decref(e);
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "r7")), "{\"cf:a\":\"1\"}");
  /* HBase marks this one canRetry; it is still a table operation that may have been done. */
  e = fails("delete_table", json_pack("{s:s}", "table", "no_such_table"), -32001);
  ck_assert(json_is_false(json_object_get(json_object_get(e, "data"), "retryable")));
  json_decref(e);
}
END_TEST

START_TEST(test_pipelining_and_batches) {
  dh_conn *c = dh_connect(&g_d);
  enum { N = 200 };
  char line[256];
  for (int i = 0; i < N; i++) {
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"put\",\"params\":{\"table\":\"%s\","
             "\"row\":\"p%d\",\"data\":{\"cf:a\":\"v%d\"}}}\n",
             i, g_table, i, i);
    dh_send(c, line);
  }
  bool seen[N] = {false};
  for (int i = 0; i < N; i++) {
    json_t *r = dh_json(c);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert(id >= 0 && id < N && !seen[id]);
    ck_assert_ptr_null(json_object_get(r, "error"));
    seen[id] = true;
    json_decref(r);
  }
  snprintf(line, sizeof line,
           "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"p7\"}},{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},"
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]\n",
           g_table);
  dh_send(c, line);
  json_t *b = dh_json(c);
  ck_assert(json_is_array(b));
  ck_assert_int_eq(json_array_size(b), 2);
  json_decref(b);
  dh_close(c);
}
END_TEST

START_TEST(test_long_line_closes_only_that_client) {
  dh_conn *bystander = dh_connect(&g_d);
  dh_conn *c = dh_connect(&g_d);
  char *big = malloc(200000);
  memset(big, 'x', 199999);
  big[199999] = '\0';
  peer_write_all(c->fd, big, 199999); /* may fail once the daemon closes: that is fine */
  json_t *r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                   -32008);
  json_decref(r);
  ck_assert_ptr_null(dh_line(c, 2000)); /* closed */
  json_t *pong = dh_call(bystander, "ping", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(pong, "result")), "pong");
  json_decref(pong);
  free(big);
  dh_close(c);
  dh_close(bystander);
}
END_TEST

/* Scans every page of a scan, following "next"; returns the keys joined with ','. */
static char *scan_keys(json_t *params) {
  char *keys = calloc(1, 4096);
  for (int page = 0; params != NULL && page < 20; page++) {
    json_t *res = ok("scan", params);
    json_t *rows = json_object_get(res, "rows");
    ck_assert_int_le(json_array_size(rows), 7); /* scan_max_rows */
    for (size_t i = 0; i < json_array_size(rows); i++) {
      strcat(keys, json_string_value(json_array_get(json_array_get(rows, i), 0)));
      strcat(keys, ",");
    }
    json_t *next = json_object_get(res, "next");
    params = json_is_null(next) ? NULL : json_incref(next);
    json_decref(res);
  }
  ck_assert_ptr_null(params);
  return keys;
}

START_TEST(test_scan) {
  const char *keys[] = {"r9",  "s",   "s00", "s01", "s02", "s03", "s04", "s05",
                        "s06", "s07", "s08", "s09", "s10", "s11", "t"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ok("put",
       json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", keys[i], "data", "cf:b", keys[i],
                 "cf:a", "x"));
  char *got = scan_keys(json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "s"));
  ck_assert_str_eq(got, "s,s00,s01,s02,s03,s04,s05,s06,s07,s08,s09,s10,s11,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s,s:b}", "table", g_table, "row_prefix", "s", "reverse", 1));
  ck_assert_str_eq(got, "s11,s10,s09,s08,s07,s06,s05,s04,s03,s02,s01,s00,s,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s,s:s,s:i}", "table", g_table, "row_start", "s05", "row_stop",
                            "t", "limit", 3));
  ck_assert_str_eq(got, "s05,s06,s07,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:i}", "table", g_table, "limit", 9));
  ck_assert_str_eq(got, "r9,s,s00,s01,s02,s03,s04,s05,s06,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s}", "table", g_table, "filter", "PrefixFilter('s1')"));
  ck_assert_str_eq(got, "s10,s11,");
  free(got);
  expect_json(ok("scan",
                 json_pack("{s:s,s:s,s:s,s:[s],s:b}", "table", g_table, "row_start", "s05",
                           "row_stop", "s06", "columns", "cf:b", "sorted_columns", 1)),
              "{\"rows\":[[\"s05\",[[\"cf:b\",\"s05\"]]]],\"next\":null}");
  json_t *res = ok("scan",
                   json_pack("{s:s,s:s,s:s,s:b}", "table", g_table, "row_start", "t", "row_stop",
                             "u", "include_timestamp", 1));
  json_t *cell = json_object_get(json_array_get(json_array_get(json_object_get(res, "rows"), 0), 1),
                                 "cf:a");
  ck_assert(json_is_array(cell) && json_is_integer(json_array_get(cell, 1)));
  json_decref(res);
  json_decref(fails("scan", json_pack("{s:s,s:i}", "table", g_table, "batch_size", 0), -32602));
  json_decref(
    fails("scan", json_pack("{s:s,s:s,s:s}", "table", g_table, "row_prefix", "s", "row_stop", "t"),
          -32602));
}
END_TEST

static json_int_t stat_of(const char *name) {
  json_t *st = ok("stats", NULL);
  json_int_t n = json_integer_value(json_object_get(st, name));
  json_decref(st);
  return n;
}

/* Waits up to 5 s for the daemon's kept scanners to number n (they close on the loop's time). */
static void expect_kept(json_int_t n) {
  int64_t t0 = mono_ms();
  while (stat_of("scanners_kept") != n && mono_ms() - t0 < 5000)
    sleep_ms(20);
  ck_assert_int_eq(stat_of("scanners_kept"), n);
}

static void put_numbered_rows(const char *prefix, int n) {
  for (int i = 0; i < n; i++) {
    char key[32];
    snprintf(key, sizeof key, "%s%02d", prefix, i);
    ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", key, "data", "cf:a", key));
  }
}

/* A page that stops at scan_max_rows keeps its gateway scanner for the call that continues it,
 * which reads on from there: the same rows as scanners opened per page, with the gateway's
 * expiry and a repeated or abandoned continuation taken in stride. */
START_TEST(test_scan_pages_keep_their_scanner) {
  put_numbered_rows("k", 30);
  expect_kept(0);
  json_int_t resumes = stat_of("scan_resumes");
  char *got = scan_keys(json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "k"));
  ck_assert_str_eq(got,
                   "k00,k01,k02,k03,k04,k05,k06,k07,k08,k09,k10,k11,k12,k13,k14,k15,k16,"
                   "k17,k18,k19,k20,k21,k22,k23,k24,k25,k26,k27,k28,k29,");
  free(got);
  ck_assert_int_eq(stat_of("scan_resumes"), resumes + 4); /* pages 2 to 5 of 7, 7, 7, 7, 2 */
  expect_kept(0); /* the last page ended the scan: its scanner is closed */

  /* The same continuation twice: the first reads on, the second opens its own; same rows. */
  json_t *first = ok("scan",
                     json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "k", "limit", 27));
  expect_kept(1);
  json_t *next = json_object_get(first, "next");
  resumes = stat_of("scan_resumes");
  json_t *a = ok("scan", json_incref(next));
  json_t *b = ok("scan", json_incref(next));
  ck_assert_int_eq(stat_of("scan_resumes"), resumes + 1);
  char *ta = dh_text(json_object_get(a, "rows")), *tb = dh_text(json_object_get(b, "rows"));
  ck_assert_str_eq(ta, tb);
  json_t *first_row = json_array_get(json_object_get(a, "rows"), 0);
  ck_assert_str_eq(json_string_value(json_array_get(first_row, 0)), "k07");
  free(ta);
  free(tb);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(a, "next"), "limit")), 13);
  json_decref(b);
  json_decref(first);

  /* Past the gateway's scanner expiry: the next page was read ahead before it, and the read-ahead
   * after that page reopens the kept scanner where it stood. */
  json_int_t reopens = stat_of("scanner_reopens");
  sleep_ms(g_scanner_expiry_ms + 1000);
  got = scan_keys(json_incref(json_object_get(a, "next")));
  ck_assert_str_eq(got, "k14,k15,k16,k17,k18,k19,k20,k21,k22,k23,k24,k25,k26,");
  free(got);
  ck_assert_int_gt(stat_of("scanner_reopens"), reopens);
  expect_kept(0); /* the limit ended the scan */

  /* An abandoned page's scanner closes after scan_keep_open_ms; its continuation still works. */
  json_decref(a);
  a = ok("scan", json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "k"));
  expect_kept(1);
  sleep_ms(scan_keep_open_ms() + 500);
  expect_kept(0);
  resumes = stat_of("scan_resumes");
  got = scan_keys(json_incref(json_object_get(a, "next")));
  ck_assert_str_eq(got,
                   "k07,k08,k09,k10,k11,k12,k13,k14,k15,k16,k17,k18,k19,k20,k21,k22,k23,"
                   "k24,k25,k26,k27,k28,k29,");
  free(got);
  ck_assert_int_eq(stat_of("scan_resumes"), resumes + 3);
  json_decref(a);
}
END_TEST

/* At most 64 scanners are kept: the least recently used goes first. */
START_TEST(test_kept_scanners_bounded) {
  put_numbered_rows("m", 8);
  for (int i = 0; i < 70; i++)
    json_decref(ok("scan", json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "m")));
  expect_kept(64);
  ck_assert_int_eq(stat_of("scanners"), 0); /* kept ones are not the clients' */
}
END_TEST

START_TEST(test_batch) {
  ok("put",
     json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "b1", "data", "cf:old", "x",
               "cg:keep", "y"));
  json_t *ops = json_pack(
    "[{s:s,s:s,s:{s:s}},{s:s,s:s,s:[s]},{s:s,s:s,s:{s:s}},{s:s,s:s},{s:s,s:s,s:{s:s}},"
    "{s:s,s:s,s:s,s:i},{s:s,s:s,s:s},{s:s,s:s,s:s,s:i},{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]",
    /* a delete of a family, then a put to it: both take effect, in order */
    "op", "put", "row", "b1", "data", "cf:a", "1", "op", "delete", "row", "b1", "columns", "cf",
    "op", "put", "row", "b1", "data", "cf:b", "2",
    /* a whole-row delete, then a put */
    "op", "delete", "row", "b2", "op", "put", "row", "b2", "data", "cf:c", "3", "op", "counter_inc",
    "row", "b3", "column", "cf:n", "value", 5, "op", "counter_inc", "row", "b3", "column", "cf:n",
    "op", "counter_dec", "row", "b3", "column", "cf:n", "value", 2,
    /* the same cell twice: the last wins */
    "op", "put", "row", "b4", "data", "cf:d", "first", "op", "put", "row", "b4", "data", "cf:d",
    "last");
  expect_json(ok("batch",
                 json_pack("{s:s,s:o,s:i}", "table", g_table, "operations", ops, "batch_size", 2)),
              "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b1")),
              "{\"cf:b\":\"2\",\"cg:keep\":\"y\"}");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b2")), "{\"cf:c\":\"3\"}");
  expect_json(ok("counter_get",
                 json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "b3", "column", "cf:n")),
              "4");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b4")),
              "{\"cf:d\":\"last\"}");
  /* A timestamp and wal apply to the whole batch. */
  expect_json(ok("batch",
                 json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}],s:I,s:b}", "table", g_table, "operations",
                           "op", "put", "row", "b5", "data", "cf:t", "v", "timestamp",
                           (json_int_t)1234, "wal", 0)),
              "null");
  expect_json(ok("cells",
                 json_pack("{s:s,s:s,s:s,s:b}", "table", g_table, "row", "b5", "column", "cf:t",
                           "include_timestamp", 1)),
              "[[\"v\",1234]]");
  json_t *e = fails("batch",
                    json_pack("{s:s,s:[{s:s,s:s}]}", "table", g_table, "operations", "op", "upsert",
                              "row", "x"),
                    -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "operations"));
  json_decref(e);
  /* A put or delete may set its own wal; it must be a boolean, and counters take none. */
  expect_json(ok("batch",
                 json_pack("{s:s,s:[{s:s,s:s,s:{s:s},s:b},{s:s,s:s,s:b}],s:b}", "table", g_table,
                           "operations", "op", "put", "row", "b6", "data", "cf:w", "1", "wal", 0,
                           "op", "delete", "row", "b5", "wal", 1, "wal", 1)),
              "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b6")), "{\"cf:w\":\"1\"}");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b5")), "{}");
  e = fails("batch",
            json_pack("{s:s,s:[{s:s,s:s,s:{s:s},s:s}]}", "table", g_table, "operations", "op",
                      "put", "row", "x", "data", "cf:a", "1", "wal", "no"),
            -32602);
  ck_assert_str_eq(json_string_value(json_object_get(e, "message")),
                   "invalid params: \"operations\"[0].wal must be true or false");
  json_decref(e);
  e = fails("batch",
            json_pack("{s:s,s:[{s:s,s:s,s:s,s:b}]}", "table", g_table, "operations", "op",
                      "counter_inc", "row", "x", "column", "cf:n", "wal", 0),
            -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "\"wal\""));
  json_decref(e);
}
END_TEST

/* A line of n opening brackets followed by the n closing ones (open/close: "[" "]" or "{\"a\":"
 * "}"), with its newline; malloc'd. */
static char *nested(const char *open, const char *close, int n) {
  size_t lo = strlen(open), lc = strlen(close);
  char *s = malloc((lo + lc) * (size_t)n + 3), *p = s; /* "1\n\0" */
  for (int i = 0; i < n; i++, p += lo)
    memcpy(p, open, lo);
  *p++ = '1';
  for (int i = 0; i < n; i++, p += lc)
    memcpy(p, close, lc);
  strcpy(p, "\n");
  return s;
}

/* Sends line on c and expects an error reply with code (and id, when id >= 0). */
static void expect_line_error(dh_conn *c, const char *line, size_t len, int code, int id) {
  ck_assert_int_eq(dh_write(c, line, len), 0);
  json_t *r = dh_json(c);
  char *text = dh_text(r);
  ck_assert_msg(error_code(r) == code, "expected %d: %.300s", code, text);
  if (id >= 0)
    ck_assert_msg(json_integer_value(json_object_get(r, "id")) == id, "id %d: %.300s", id, text);
  else
    ck_assert_msg(json_is_null(json_object_get(r, "id")), "null id expected: %.300s", text);
  free(text);
  json_decref(r);
}

START_TEST(test_garbage_nul_and_deep_nesting) {
  dh_conn *c = dh_connect(&g_d);
  static const char garbage[] = "\x01\x02\xff\xfe{\"a\x00\":1}\x80\n";
  expect_line_error(c, garbage, sizeof garbage - 1, -32700, -1);
  /* A raw NUL byte between tokens, and invalid UTF-8 inside a string. */
  static const char raw_nul[] = "{\"jsonrpc\":\"2.0\",\x00\"id\":1,\"method\":\"ping\"}\n";
  expect_line_error(c, raw_nul, sizeof raw_nul - 1, -32700, -1);
  static const char bad_utf8[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xc3\x28ng\"}\n";
  expect_line_error(c, bad_utf8, sizeof bad_utf8 - 1, -32700, -1);
  /* Nesting far too deep to parse: arrays and objects. */
  char *deep = nested("[", "]", 30000);
  expect_line_error(c, deep, strlen(deep), -32700, -1);
  free(deep);
  deep = nested("{\"a\":", "}", 10000);
  expect_line_error(c, deep, strlen(deep), -32700, -1);
  free(deep);
  /* Deep but parseable values where a string belongs: refused by name, not rendered whole. */
  char *value = nested("[", "]", 1000);
  value[strlen(value) - 1] = '\0';
  char *line = malloc(strlen(value) + 200);
  sprintf(line,
          "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"row\",\"params\":{\"table\":\"%s\","
          "\"row\":%s}}\n",
          g_table, value);
  expect_line_error(c, line, strlen(line), -32602, 9);
  sprintf(line, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}\n", value);
  expect_line_error(c, line, strlen(line), -32600, -1);
  free(line);
  free(value);
  /* A NUL inside a JSON string is data, not the end of it: "ping\u0000" is no method name. */
  static const char nul_method[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\\u0000\"}\n";
  expect_line_error(c, nul_method, sizeof nul_method - 1, -32600, 7);
  /* A CRLF line ending is accepted. */
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\r\n");
  json_t *r = dh_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 8);
  expect_json(dh_result(r, "ping"), "\"pong\"");
  /* The connection still serves after all that. */
  expect_json(dh_result(dh_call(c, "ping", NULL), "ping"), "\"pong\"");
  dh_close(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Every parameter of every method, given a value of the wrong type, is refused by name. */

/* A parameter's type (docs/protocol.md), which decides the wrong values tried for it. */
typedef enum ptype { P_STRING, P_BOOL, P_INT, P_BYTES, P_BYTES_LIST, P_OBJECT, P_LIST } ptype;

static const char *const WRONG_VALUES[][4] = {
  [P_STRING] = {"5", "[\"t\"]", "true", NULL},    [P_BOOL] = {"\"true\"", "1", "{}", NULL},
  [P_INT] = {"\"7\"", "1.5", "true", NULL},       [P_BYTES] = {"5", "{}", "[\"a\"]", NULL},
  [P_BYTES_LIST] = {"\"cf\"", "[5]", "{}", NULL}, [P_OBJECT] = {"[]", "\"x\"", "5", NULL},
  [P_LIST] = {"{}", "\"x\"", "5", NULL},
};

typedef struct param_spec {
  const char *name;
  ptype type;
} param_spec;

/* A method, valid params for it (table "t" is g_table; scanner 0 is replaced by a scanner open
 * on the connection), its parameters besides "encoding", and a parameter of some other method,
 * which this one must refuse as unknown. */
typedef struct method_spec {
  const char *method;
  const char *base;
  param_spec params[16];
  const char *foreign;
} method_spec;

/* Parameter lists shared by several methods (laid out by hand: clang-format mangles them). */
/* clang-format off */
#define TABLE_P {"table", P_STRING}, {"use_prefix", P_BOOL}
#define SCAN_P                                                                    \
  TABLE_P, {"row_start", P_BYTES}, {"row_stop", P_BYTES}, {"row_prefix", P_BYTES}, \
  {"columns", P_BYTES_LIST}, {"filter", P_BYTES}, {"timestamp", P_INT},           \
  {"include_timestamp", P_BOOL}, {"batch_size", P_INT}, {"scan_batching", P_INT}, \
  {"sorted_columns", P_BOOL}, {"reverse", P_BOOL}
/* clang-format on */

static const method_spec METHOD_SPECS[] = {
  {"ping", "{}", {{NULL, 0}}, "table"},
  {"version", "{}", {{NULL, 0}}, "use_prefix"},
  {"stats", "{}", {{NULL, 0}}, "row"},
  {"tables", "{}", {{"use_prefix", P_BOOL}}, "table"},
  {"create_table",
   "{\"table\":\"t\",\"families\":{\"cf\":{}}}",
   {TABLE_P, {"families", P_OBJECT}},
   "disable"},
  /* t is enabled: were the call run, HBase would refuse it. */
  {"delete_table", "{\"table\":\"t\"}", {TABLE_P, {"disable", P_BOOL}}, "major"},
  {"enable_table", "{\"table\":\"t\"}", {TABLE_P}, "families"},
  {"disable_table", "{\"table\":\"t\"}", {TABLE_P}, "disable"},
  {"is_table_enabled", "{\"table\":\"t\"}", {TABLE_P}, "row"},
  {"compact_table", "{\"table\":\"t\"}", {TABLE_P, {"major", P_BOOL}}, "disable"},
  {"families", "{\"table\":\"t\"}", {TABLE_P}, "columns"},
  {"regions", "{\"table\":\"t\"}", {TABLE_P}, "row"},
  {"row",
   "{\"table\":\"t\",\"row\":\"r1\"}",
   {TABLE_P,
    {"row", P_BYTES},
    {"columns", P_BYTES_LIST},
    {"timestamp", P_INT},
    {"include_timestamp", P_BOOL}},
   "rows"},
  {"rows",
   "{\"table\":\"t\",\"rows\":[\"r1\"]}",
   {TABLE_P,
    {"rows", P_BYTES_LIST},
    {"columns", P_BYTES_LIST},
    {"timestamp", P_INT},
    {"include_timestamp", P_BOOL}},
   "row"},
  {"cells",
   "{\"table\":\"t\",\"row\":\"r1\",\"column\":\"cf:a\"}",
   {TABLE_P,
    {"row", P_BYTES},
    {"column", P_BYTES},
    {"versions", P_INT},
    {"timestamp", P_INT},
    {"include_timestamp", P_BOOL}},
   "columns"},
  {"put",
   "{\"table\":\"t\",\"row\":\"r1\",\"data\":{\"cf:a\":\"1\"}}",
   {TABLE_P, {"row", P_BYTES}, {"data", P_OBJECT}, {"timestamp", P_INT}, {"wal", P_BOOL}},
   "columns"},
  {"delete",
   "{\"table\":\"t\",\"row\":\"r1\"}",
   {TABLE_P, {"row", P_BYTES}, {"columns", P_BYTES_LIST}, {"timestamp", P_INT}, {"wal", P_BOOL}},
   "data"},
  /* counter_get takes no value: it reads (docs/protocol.md, Writes). */
  {"counter_get",
   "{\"table\":\"t\",\"row\":\"c\",\"column\":\"cf:n\"}",
   {TABLE_P, {"row", P_BYTES}, {"column", P_BYTES}},
   "value"},
  {"counter_set",
   "{\"table\":\"t\",\"row\":\"c\",\"column\":\"cf:n\",\"value\":1}",
   {TABLE_P, {"row", P_BYTES}, {"column", P_BYTES}, {"value", P_INT}},
   "data"},
  {"counter_inc",
   "{\"table\":\"t\",\"row\":\"c\",\"column\":\"cf:n\"}",
   {TABLE_P, {"row", P_BYTES}, {"column", P_BYTES}, {"value", P_INT}},
   "timestamp"},
  {"counter_dec",
   "{\"table\":\"t\",\"row\":\"c\",\"column\":\"cf:n\"}",
   {TABLE_P, {"row", P_BYTES}, {"column", P_BYTES}, {"value", P_INT}},
   "versions"},
  {"append",
   "{\"table\":\"t\",\"row\":\"ap\",\"data\":{\"cf:x\":\"y\"}}",
   {TABLE_P, {"row", P_BYTES}, {"data", P_OBJECT}, {"include_timestamp", P_BOOL}},
   "timestamp"},
  {"check_and_put",
   "{\"table\":\"t\",\"row\":\"cp\",\"column\":\"cf:a\",\"value\":null,\"data\":{\"cf:a\":\"1\"}}",
   {TABLE_P,
    {"row", P_BYTES},
    {"column", P_BYTES},
    {"value", P_BYTES},
    {"data", P_OBJECT},
    {"wal", P_BOOL}},
   "timestamp"},
  {"scan",
   "{\"table\":\"t\"}",
   {SCAN_P, {"limit", P_INT}, {"row_start_exclusive", P_BOOL}},
   "count"},
  {"batch",
   "{\"table\":\"t\",\"operations\":[{\"op\":\"put\",\"row\":\"b\",\"data\":{\"cf:a\":\"1\"}}]}",
   {TABLE_P, {"operations", P_LIST}, {"timestamp", P_INT}, {"wal", P_BOOL}, {"batch_size", P_INT}},
   "data"},
  {"scanner_open", "{\"table\":\"t\"}", {SCAN_P}, "limit"},
  {"scanner_next", "{\"scanner\":0}", {{"scanner", P_INT}, {"count", P_INT}}, "table"},
  {"scanner_close", "{\"scanner\":0}", {{"scanner", P_INT}}, "count"},
};

/* The spec's valid params, with the scanner open on this connection. */
static json_t *base_params(const method_spec *m, json_int_t scanner) {
  json_error_t je;
  json_t *p = json_loads(m->base, 0, &je);
  ck_assert_msg(p != NULL, "%s: bad base params", m->method);
  if (json_object_get(p, "table") != NULL)
    json_object_set_new(p, "table", json_string(g_table));
  if (json_object_get(p, "scanner") != NULL)
    json_object_set_new(p, "scanner", json_integer(scanner));
  return p;
}

/* Problems found by a table-driven test, reported together at its end. */
typedef struct problems {
  char text[4096];
  int n;
} problems;

static void note(problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(problems *p, const char *fmt, ...) {
  size_t used = strlen(p->text);
  p->n++;
  if (used + 2 >= sizeof p->text)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->text + used, sizeof p->text - used - 1, fmt, ap);
  va_end(ap);
  strcat(p->text, "\n");
}

static void check_problems(const problems *p) {
  ck_assert_msg(p->n == 0, "%d problems:\n%s", p->n, p->text);
}

/* Sends method with params (stolen) on c; it must fail with invalid_params and a message that
 * starts with the parameter's quoted name ("invalid params: \"row\" must be ..."). */
static void expect_refused(dh_conn *c, const char *method, json_t *params, const char *name,
                           problems *p) {
  char *what = dh_text(params);
  json_t *reply = dh_call(c, method, params);
  const char *msg = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
  char want[96];
  snprintf(want, sizeof want, "invalid params: \"%s\"", name);
  if (error_code(reply) != -32602 || msg == NULL || strncmp(msg, want, strlen(want)) != 0) {
    char *got = dh_text(reply);
    note(p, "%s %s: expected -32602 naming \"%s\", got %.200s", method, what, name, got);
    free(got);
  }
  json_decref(reply);
  free(what);
}

static json_int_t scanner_on(dh_conn *c) {
  json_t *res = dh_result(dh_call(c, "scanner_open", json_pack("{s:s}", "table", g_table)),
                          "scanner_open");
  json_int_t id = json_integer_value(json_object_get(res, "scanner"));
  json_decref(res);
  ck_assert_int_gt(id, 0);
  return id;
}

START_TEST(test_wrong_types_every_parameter) {
  dh_conn *c = dh_connect(&g_d);
  json_int_t scanner = scanner_on(c);
  int cases = 0;
  problems found = {.n = 0};
  for (size_t i = 0; i < sizeof METHOD_SPECS / sizeof METHOD_SPECS[0]; i++) {
    const method_spec *m = &METHOD_SPECS[i];
    for (size_t j = 0; j <= sizeof m->params / sizeof m->params[0]; j++) {
      /* The last round is "encoding", which every method takes. */
      bool enc = j == sizeof m->params / sizeof m->params[0] || m->params[j].name == NULL;
      const char *name = enc ? "encoding" : m->params[j].name;
      static const char *const wrong_encodings[] = {"5", "true", "\"latin1\"", NULL};
      const char *const *values = enc ? wrong_encodings : WRONG_VALUES[m->params[j].type];
      for (size_t v = 0; values[v] != NULL; v++) {
        json_t *params = base_params(m, scanner);
        json_error_t je;
        json_object_set_new(params, name, json_loads(values[v], JSON_DECODE_ANY, &je));
        expect_refused(c, m->method, params, name, &found);
        cases++;
      }
      if (enc)
        break;
    }
  }
  printf("test_daemon: %d wrong-typed parameters tried, %d not refused by name\n", cases, found.n);
  dh_close(c);
  check_problems(&found);
}
END_TEST

/* The quoted names after "this method takes " in an unknown-parameter message, as a set. */
static json_t *names_taken(const char *msg) {
  json_t *names = json_object();
  const char *p = strstr(msg, "this method takes ");
  ck_assert_msg(p != NULL, "the message does not list the parameters: %s", msg);
  while ((p = strchr(p, '"')) != NULL) {
    const char *end = strchr(p + 1, '"');
    ck_assert_ptr_nonnull(end);
    json_object_setn_new(names, p + 1, (size_t)(end - p - 1), json_true());
    p = end + 1;
  }
  return names;
}

/* A made-up parameter and one of another method are refused by name, and the parameters the
 * daemon says the method takes are exactly those of the table above (so it misses none). */
/* Compares the parameters an unknown-parameter message says the method takes with the table. */
static void check_taken(const method_spec *m, const char *msg, problems *p) {
  json_t *taken = names_taken(msg);
  json_t *listed = json_pack("{s:b}", "encoding", 1);
  for (size_t j = 0; j < sizeof m->params / sizeof m->params[0] && m->params[j].name; j++)
    json_object_set_new(listed, m->params[j].name, json_true());
  if (!json_equal(taken, listed)) {
    char *t = json_dumps(taken, JSON_COMPACT | JSON_SORT_KEYS);
    char *l = json_dumps(listed, JSON_COMPACT | JSON_SORT_KEYS);
    note(p, "%s: the daemon takes %s; docs/protocol.md lists %s", m->method, t, l);
    free(t);
    free(l);
  }
  json_decref(taken);
  json_decref(listed);
}

START_TEST(test_unknown_parameters_refused) {
  dh_conn *c = dh_connect(&g_d);
  json_int_t scanner = scanner_on(c);
  problems found = {.n = 0};
  for (size_t i = 0; i < sizeof METHOD_SPECS / sizeof METHOD_SPECS[0]; i++) {
    const method_spec *m = &METHOD_SPECS[i];
    const char *unknown[] = {"bogus_param", m->foreign};
    for (size_t u = 0; u < 2; u++) {
      json_t *params = base_params(m, scanner);
      json_object_set_new(params, unknown[u], json_integer(1));
      json_t *reply = dh_call(c, m->method, params);
      const char *msg = json_string_value(
        json_object_get(json_object_get(reply, "error"), "message"));
      char want[96];
      snprintf(want, sizeof want, "unknown parameter \"%s\"", unknown[u]);
      if (error_code(reply) != -32602 || msg == NULL || strstr(msg, want) == NULL) {
        char *got = dh_text(reply);
        note(&found, "%s with \"%s\": expected -32602 %s, got %.200s", m->method, unknown[u], want,
             got);
        free(got);
      } else if (u == 0) {
        check_taken(m, msg, &found);
      }
      json_decref(reply);
    }
  }
  dh_close(c);
  check_problems(&found);
}
END_TEST

/* Names that are not methods get method_not_found with their id; a method that is not a
 * non-empty string without NUL is an invalid request; an unknown notification gets no reply. */
START_TEST(test_unknown_methods) {
  static const char *const names[] = {"nope",  "PING",      "Ping",        "ping ",
                                      " ping", "row_",      "scanner",     "scanners",
                                      "get",   "__proto__", "constructor", "rows.0"};
  dh_conn *c = dh_connect(&g_d);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    json_t *err = dh_error(dh_call(c, names[i], NULL), names[i], -32601);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(err, "data"), "error")),
                     "method_not_found");
    json_decref(err);
  }
  char *longname = malloc(5001);
  memset(longname, 'm', 5000);
  longname[5000] = '\0';
  json_t *err = dh_error(dh_call(c, longname, NULL), "a 5000-byte name", -32601);
  ck_assert_int_lt(strlen(json_string_value(json_object_get(err, "message"))), 500);
  json_decref(err);
  free(longname);
  static const char *const invalid[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}\n",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\\u0000\"}\n",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}\n",
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":null}\n",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":[\"ping\"]}\n",
  };
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    dh_send(c, invalid[i]);
    json_t *r = dh_json(c);
    char *text = dh_text(r);
    ck_assert_msg(error_code(r) == -32600 &&
                    json_integer_value(json_object_get(r, "id")) == (json_int_t)i + 1,
                  "%s -> %s", invalid[i], text);
    free(text);
    json_decref(r);
  }
  dh_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n");
  json_t *pong = dh_call(c, "ping", NULL); /* the next reply is the ping's: dh_call checks the id */
  expect_json(dh_result(pong, "ping"), "\"pong\"");
  dh_close(c);
}
END_TEST

/* A client that sends half a line and stalls holds up nobody, and is served once it finishes. */
START_TEST(test_half_line_stalls_nobody) {
  dh_conn *slow = dh_connect(&g_d);
  dh_send(slow, "{\"jsonrpc\":\"2.0\",\"id\":1,");
  expect_json(ok("ping", NULL), "\"pong\"");
  dh_send(slow, "\"method\":\"ping\"}\n");
  json_t *r = dh_json(slow);
  ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "pong");
  json_decref(r);
  dh_close(slow);
}
END_TEST

/* A client that does not read its replies is paused (bounded memory), others go on, and once it
 * reads it gets every reply. */
START_TEST(test_client_that_does_not_read) {
  char value[4001];
  memset(value, 'v', 4000);
  value[4000] = '\0';
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "big", "data", "cf:v", value));
  dh_conn *lazy = dh_connect(&g_d);
  enum { N = 200 }; /* 200 replies of ~4 KB: far beyond the 64 KiB output limit */
  char line[256];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"big\"}}\n",
           g_table);
  for (int i = 0; i < N; i++)
    dh_send(lazy, line);
  sleep_ms(500);
  expect_json(ok("ping", NULL), "\"pong\"");
  for (int i = 0; i < N; i++) {
    json_t *r = dh_json(lazy);
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(json_object_get(r, "result") != NULL, "reply %d: %.300s", i, text);
    free(text);
    json_decref(r);
  }
  dh_close(lazy);
}
END_TEST

static json_t *next_rows(dh_conn *c, json_int_t scanner, int count) {
  json_t *r = dh_call(c, "scanner_next",
                      json_pack("{s:I,s:i}", "scanner", scanner, "count", count));
  json_t *res = json_incref(json_object_get(r, "result"));
  char *text = json_dumps(r, JSON_COMPACT);
  ck_assert_msg(res != NULL, "scanner_next failed: %s", text);
  free(text);
  json_decref(r);
  return res;
}

static char *keys_of(json_t *res) {
  char *keys = calloc(1, 1024);
  json_t *rows = json_object_get(res, "rows");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    strcat(keys, json_string_value(json_array_get(json_array_get(rows, i), 0)));
    strcat(keys, ",");
  }
  json_decref(res);
  return keys;
}

static json_int_t open_scanner(dh_conn *c) {
  for (int i = 0; i < 10; i++) {
    char row[8];
    snprintf(row, sizeof row, "k%d", i);
    ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", row, "data", "cf:a", row));
  }
  json_t *r = dh_call(c, "scanner_open",
                      json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", "k", "batch_size",
                                3));
  json_int_t id = json_integer_value(json_object_get(json_object_get(r, "result"), "scanner"));
  ck_assert_int_gt(id, 0);
  json_decref(r);
  return id;
}

static json_int_t open_scanners(void) {
  json_t *st = ok("stats", NULL);
  json_int_t n = json_integer_value(json_object_get(st, "scanners"));
  json_decref(st);
  return n;
}

START_TEST(test_scanner_open_next_close) {
  dh_conn *c = dh_connect(&g_d);
  json_int_t id = open_scanner(c);
  char *k = keys_of(next_rows(c, id, 3));
  ck_assert_str_eq(k, "k0,k1,k2,");
  free(k);
  k = keys_of(next_rows(c, id, 4));
  ck_assert_str_eq(k, "k3,k4,k5,k6,");
  free(k);
  /* Another connection cannot use it. */
  json_decref(fails("scanner_next", json_pack("{s:I}", "scanner", id), -32602));
  /* Pipelined calls on one scanner are served one after the other, in order. */
  char line[160];
  for (int i = 1; i <= 3; i++) {
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"scanner_next\","
             "\"params\":{\"scanner\":%lld,\"count\":1}}\n",
             1000 + i, (long long)id);
    dh_send(c, line);
  }
  char got[3][8];
  for (int i = 0; i < 3; i++) {
    json_t *r = dh_json(c);
    int slot = (int)json_integer_value(json_object_get(r, "id")) - 1001;
    ck_assert(slot >= 0 && slot < 3);
    json_t *rows = json_object_get(json_object_get(r, "result"), "rows");
    ck_assert_int_eq(json_array_size(rows), 1);
    snprintf(got[slot], sizeof got[slot], "%s",
             json_string_value(json_array_get(json_array_get(rows, 0), 0)));
    json_decref(r);
  }
  ck_assert_str_eq(got[0], "k7");
  ck_assert_str_eq(got[1], "k8");
  ck_assert_str_eq(got[2], "k9");
  json_t *last = next_rows(c, id, 5);
  ck_assert(json_is_true(json_object_get(last, "done")));
  json_decref(last);
  json_t *r = dh_call(c, "scanner_close", json_pack("{s:I}", "scanner", id));
  ck_assert(json_is_null(json_object_get(r, "result")));
  json_decref(r);
  r = dh_call(c, "scanner_next", json_pack("{s:I}", "scanner", id));
  ck_assert_int_eq(error_code(r), -32602);
  json_decref(r);
  dh_close(c);
}
END_TEST

/* A scanner read one call at a time, with counts that do not match the pages read ahead, returns
 * every row once and in order, ends with an empty page saying done, and reads ahead only when
 * nothing is left over from the last read-ahead. */
START_TEST(test_scanner_read_ahead) {
  dh_conn *c = dh_connect(&g_d);
  json_int_t id = open_scanner(c);
  json_t *st = ok("stats", NULL);
  json_int_t before = json_integer_value(json_object_get(st, "scanner_read_aheads"));
  json_decref(st);
  static const struct {
    int count;
    const char *keys;
  } calls[] = {
    {2, "k0,k1,"},          /* then k2,k3 read ahead */
    {5, "k2,k3,k4,k5,k6,"}, /* two read ahead, three fetched; then k7,k8,k9 read ahead */
    {1, "k7,"},
    {1, "k8,"}, /* left over: no read-ahead */
    {4, "k9,"}, /* the last one left, and the gateway has no more */
    {3, ""},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    json_t *res = next_rows(c, id, calls[i].count);
    bool done = json_is_true(json_object_get(res, "done"));
    char *k = keys_of(res);
    ck_assert_msg(strcmp(k, calls[i].keys) == 0, "call %zu: %s, not %s", i, k, calls[i].keys);
    ck_assert_msg(done == (calls[i].keys[0] == '\0'), "call %zu: done %d", i, done);
    free(k);
  }
  st = ok("stats", NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(st, "scanner_read_aheads")), before + 2);
  json_decref(st);
  json_decref(dh_call(c, "scanner_close", json_pack("{s:I}", "scanner", id)));
  dh_close(c);
}
END_TEST

/* A reverse prefix scanner returns exactly the prefix's rows, as scan does: not the key after
 * the prefix where it starts, nor the rows before the prefix where the gateway would go on. */
START_TEST(test_scanner_reverse_prefix) {
  const char *keys[] = {"a1", "u", "u1", "u2", "u3", "v"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ok("put",
       json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", keys[i], "data", "cf:a", "x"));
  dh_conn *c = dh_connect(&g_d);
  for (int count = 1; count <= 10; count += 9) {
    json_t *r = dh_call(c, "scanner_open",
                        json_pack("{s:s,s:s,s:b}", "table", g_table, "row_prefix", "u", "reverse",
                                  1));
    json_int_t id = json_integer_value(json_object_get(json_object_get(r, "result"), "scanner"));
    json_decref(r);
    char all[64] = "";
    bool done = false;
    for (int calls = 0; !done && calls < 10; calls++) {
      json_t *res = next_rows(c, id, count);
      done = json_is_true(json_object_get(res, "done"));
      char *k = keys_of(res);
      strcat(all, k);
      free(k);
    }
    ck_assert_msg(done, "the scanner never said done (count %d)", count);
    ck_assert_str_eq(all, "u3,u2,u1,u,");
    json_decref(dh_call(c, "scanner_close", json_pack("{s:I}", "scanner", id)));
  }
  dh_close(c);
}
END_TEST

/* The gateway forgets an unused scanner; the daemon reopens it after the last row returned. */
START_TEST(test_scanner_survives_gateway_expiry) {
  dh_conn *c = dh_connect(&g_d);
  json_int_t id = open_scanner(c);
  char *k = keys_of(next_rows(c, id, 4));
  ck_assert_str_eq(k, "k0,k1,k2,k3,");
  free(k);
  json_t *st = ok("stats", NULL);
  json_int_t reopens = json_integer_value(json_object_get(st, "scanner_reopens"));
  json_decref(st);
  sleep_ms(g_scanner_expiry_ms + 1000); /* past the gateway's expiry, within the daemon's */
  json_t *r = dh_call(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 10));
  k = keys_of(json_incref(json_object_get(r, "result")));
  ck_assert_str_eq(k, "k4,k5,k6,k7,k8,k9,");
  free(k);
  st = ok("stats", NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(st, "scanner_reopens")), reopens + 1);
  json_decref(st);
  json_decref(r);
  dh_close(c);
}
END_TEST

START_TEST(test_scanners_closed_with_their_client_and_when_idle) {
  json_int_t before = open_scanners();
  dh_conn *c = dh_connect(&g_d);
  open_scanner(c);
  ck_assert_int_eq(open_scanners(), before + 1);
  dh_close(c);
  int64_t t0 = mono_ms();
  while (open_scanners() != before && mono_ms() - t0 < 5000)
    sleep_ms(50);
  ck_assert_int_eq(open_scanners(), before);
  c = dh_connect(&g_d);
  json_int_t id = open_scanner(c);
  sleep_ms(g_scanner_idle_ms + 500);
  json_t *r = dh_call(c, "scanner_next", json_pack("{s:I}", "scanner", id));
  ck_assert_int_eq(error_code(r), -32602);
  json_decref(r);
  ck_assert_int_eq(open_scanners(), before);
  dh_close(c);
}
END_TEST

/* A pool left idle past the gateway's idle limit serves the next requests without an error:
 * writes, which are never retried, on every pooled connection at once, then reads. */
START_TEST(test_idle_pool_serves_without_error) {
  /* Every connection is used, then idles. */
  ck_assert_int_eq(dh_pipelined(&g_d, g_table, "put", "before", 2 * POOL_SIZE), 2 * POOL_SIZE);
  sleep_ms(g_idle_timeout_ms + 1000);
  ck_assert_int_eq(dh_pipelined(&g_d, g_table, "put", "after", 2 * POOL_SIZE), 2 * POOL_SIZE);
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "nothing")), "{}");
  expect_json(ok("rows", json_pack("{s:s,s:[s,s]}", "table", g_table, "rows", "before0", "after7")),
              "[[\"before0\",{\"cf:a\":\"before0\"}],[\"after7\",{\"cf:a\":\"after7\"}]]");
}
END_TEST

/* echo '...' | socat: the client shuts down its side first, and still gets every reply, also to
 * a last request without its newline. */
START_TEST(test_half_closed_client_gets_its_replies) {
  dh_conn *c = dh_connect(&g_d);
  char line[256];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tables\"}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"x\"}}",
           g_table);
  dh_send(c, line);
  shutdown(c->fd, SHUT_WR);
  int seen = 0;
  for (int i = 0; i < 2; i++) {
    json_t *r = dh_json(c);
    seen |= (int)json_integer_value(json_object_get(r, "id"));
    ck_assert_ptr_nonnull(json_object_get(r, "result"));
    json_decref(r);
  }
  ck_assert_int_eq(seen, 3);
  ck_assert_ptr_null(dh_line(c, 5000)); /* then the daemon closes */
  dh_close(c);
}
END_TEST

static Suite *daemon_suite(void) {
  Suite *s = suite_create("hbpoold");
  TCase *tc = tcase_create("api");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_ping_version_stats);
  tcase_add_test(tc, test_admin);
  tcase_add_test(tc, test_put_row_rows_cells);
  tcase_add_test(tc, test_delete);
  tcase_add_test(tc, test_counters_and_append);
  tcase_add_test(tc, test_check_and_put);
  tcase_add_test(tc, test_cells_need_a_qualifier);
  tcase_add_test(tc, test_scan);
  tcase_add_test(tc, test_scan_pages_keep_their_scanner);
  tcase_add_test(tc, test_kept_scanners_bounded);
  tcase_add_test(tc, test_batch);
  tcase_add_test(tc, test_scanner_open_next_close);
  tcase_add_test(tc, test_scanner_reverse_prefix);
  tcase_add_test(tc, test_scanner_read_ahead);
  tcase_add_test(tc, test_scanner_survives_gateway_expiry);
  tcase_add_test(tc, test_scanners_closed_with_their_client_and_when_idle);
  tcase_add_test(tc, test_idle_pool_serves_without_error);
  tcase_add_test(tc, test_binary_data_and_encoding_errors);
  tcase_add_test(tc, test_protocol_errors);
  tcase_add_test(tc, test_invalid_requests_answered);
  tcase_add_test(tc, test_retryable_only_when_safe);
  tcase_add_test(tc, test_pipelining_and_batches);
  tcase_add_test(tc, test_long_line_closes_only_that_client);
  tcase_add_test(tc, test_garbage_nul_and_deep_nesting);
  tcase_add_test(tc, test_wrong_types_every_parameter);
  tcase_add_test(tc, test_unknown_parameters_refused);
  tcase_add_test(tc, test_unknown_methods);
  tcase_add_test(tc, test_half_line_stalls_nobody);
  tcase_add_test(tc, test_half_closed_client_gets_its_replies);
  tcase_add_test(tc, test_client_that_does_not_read);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon"))
    return 2;
  const char *idle = getenv("HBPOOL_TEST_IDLE_TIMEOUT_MS");
  const char *expiry = getenv("HBPOOL_TEST_SCANNER_EXPIRY_MS");
  g_idle_timeout_ms = idle != NULL && *idle ? atoi(idle) : 60000; /* gateway defaults */
  g_scanner_expiry_ms = expiry != NULL && *expiry ? atoi(expiry) : 120000;
  g_refresh_ms = g_idle_timeout_ms / 2 < 1000 ? 1000 : g_idle_timeout_ms / 2;
  g_scanner_idle_ms = 2 * g_scanner_expiry_ms;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_prefix, sizeof g_prefix, "it%d", (int)getpid());
  if (!start_daemon())
    return 1;
  SRunner *sr = srunner_create(daemon_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  int rc = dh_stop(&g_d);
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  return failed == 0 && rc == 0 ? 0 : 1;
}
