/* End-to-end tests of HBase's fixed limits, checked by hbpoold before any gateway call: the
 * longest row key HBase serves in the table (32,767 bytes less the table name and 16: HBase's
 * region lookup key must fit in 32,767) and a family of 127 bytes work against the real gateway,
 * in every method and batch operation that takes them, in utf8 and in base64; one byte more, an
 * empty key, a family with a control character and table names HBase refuses get invalid_params
 * naming the parameter, and the pool runs no job for them (stats pool.jobs). The largest cell a
 * region server takes by default is written in every method that writes values; one byte more is
 * refused the same way (max_cell_bytes). */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "daemon_harness.h"
#include "gateway_env.h"

#define MAX_ROW 32767
#define MAX_FAMILY 127
/* hbase.server.keyvalue.maxsize, by default, and max_cell_bytes's default: the most a cell may
 * count, as a region server counts it: row, family, qualifier, value and 24 bytes. */
#define MAX_CELL 10485760
#define CELL_OVERHEAD 24

static hbc_options g_gateway;
static dh_daemon g_daemon;
static const char *g_table = "t";
static char g_family[MAX_FAMILY + 1]; /* the table's second family: 127 'f's */

/* A request of method on the table, with "@ROW@", "@COL@" and "@VAL@" (values, and object keys)
 * standing for the row key, the column and the value under test, and what the error must name
 * when they are past the limits. */
typedef struct limit_case {
  const char *method;
  const char *params;
  const char *names;
} limit_case;

/* Every method and batch operation that takes a row key. */
static const limit_case ROW_CASES[] = {
  {"row", "{\"row\":\"@ROW@\"}", "\"row\""},
  {"rows", "{\"rows\":[\"ok\",\"@ROW@\"]}", "\"rows\"[1]"},
  {"cells", "{\"row\":\"@ROW@\",\"column\":\"cf:q\"}", "\"row\""},
  {"put", "{\"row\":\"@ROW@\",\"data\":{\"cf:q\":\"v\"}}", "\"row\""},
  {"delete", "{\"row\":\"@ROW@\"}", "\"row\""},
  {"counter_set", "{\"row\":\"@ROW@\",\"column\":\"cf:n\",\"value\":5}", "\"row\""},
  {"counter_get", "{\"row\":\"@ROW@\",\"column\":\"cf:n\"}", "\"row\""},
  {"counter_inc", "{\"row\":\"@ROW@\",\"column\":\"cf:n\"}", "\"row\""},
  {"counter_dec", "{\"row\":\"@ROW@\",\"column\":\"cf:n\"}", "\"row\""},
  {"append", "{\"row\":\"@ROW@\",\"data\":{\"cf:a\":\"x\"}}", "\"row\""},
  {"check_and_put",
   "{\"row\":\"@ROW@\",\"column\":\"cf:c\",\"value\":null,\"data\":{\"cf:c\":\"1\"}}", "\"row\""},
  {"batch",
   "{\"operations\":[{\"op\":\"put\",\"row\":\"ok\",\"data\":{\"cf:q\":\"v\"}},"
   "{\"op\":\"put\",\"row\":\"@ROW@\",\"data\":{\"cf:q\":\"v\"}}]}",
   "\"operations\"[1].row"},
  {"batch", "{\"operations\":[{\"op\":\"delete\",\"row\":\"@ROW@\"}]}", "\"operations\"[0].row"},
  {"batch", "{\"operations\":[{\"op\":\"counter_inc\",\"row\":\"@ROW@\",\"column\":\"cf:n\"}]}",
   "\"operations\"[0].row"},
  {"scan", "{\"row_start\":\"@ROW@\",\"limit\":1}", "\"row_start\""},
  {"scan", "{\"row_stop\":\"@ROW@\",\"limit\":1}", "\"row_stop\""},
  {"scan", "{\"row_prefix\":\"@ROW@\",\"limit\":1}", "\"row_prefix\""},
  {"scanner_open", "{\"row_start\":\"@ROW@\"}", "\"row_start\""},
};

/* Every method and batch operation that takes a column; the scans first, before the counters put
 * 8-byte values (not UTF-8) in the column. */
static const limit_case COLUMN_CASES[] = {
  {"scan", "{\"columns\":[\"@COL@\"],\"limit\":1}", "\"columns\"[0]"},
  {"scanner_open", "{\"columns\":[\"@COL@\"]}", "\"columns\"[0]"},
  {"row", "{\"row\":\"r1\",\"columns\":[\"@COL@\"]}", "\"columns\"[0]"},
  {"rows", "{\"rows\":[\"r1\"],\"columns\":[\"cf:q\",\"@COL@\"]}", "\"columns\"[1]"},
  {"cells", "{\"row\":\"r1\",\"column\":\"@COL@\"}", "\"column\""},
  {"put", "{\"row\":\"r1\",\"data\":{\"@COL@\":\"v\"}}", "\"data\"["},
  {"delete", "{\"row\":\"r1\",\"columns\":[\"@COL@\"]}", "\"columns\"[0]"},
  {"counter_set", "{\"row\":\"r1\",\"column\":\"@COL@\",\"value\":5}", "\"column\""},
  {"counter_get", "{\"row\":\"r1\",\"column\":\"@COL@\"}", "\"column\""},
  {"counter_inc", "{\"row\":\"r1\",\"column\":\"@COL@\"}", "\"column\""},
  {"counter_dec", "{\"row\":\"r1\",\"column\":\"@COL@\"}", "\"column\""},
  {"append", "{\"row\":\"r1\",\"data\":{\"@COL@\":\"x\"}}", "\"data\"["},
  {"check_and_put",
   "{\"row\":\"r2\",\"column\":\"@COL@\",\"value\":null,\"data\":{\"cf:c\":\"1\"}}", "\"column\""},
  {"batch", "{\"operations\":[{\"op\":\"put\",\"row\":\"r1\",\"data\":{\"@COL@\":\"v\"}}]}",
   "\"operations\"[0].data["},
  {"batch", "{\"operations\":[{\"op\":\"delete\",\"row\":\"r1\",\"columns\":[\"@COL@\"]}]}",
   "\"operations\"[0].columns[0]"},
  {"batch",
   "{\"operations\":[{\"op\":\"put\",\"row\":\"r1\",\"data\":{\"cf:q\":\"v\"}},"
   "{\"op\":\"counter_dec\",\"row\":\"r1\",\"column\":\"@COL@\"}]}",
   "\"operations\"[1].column"},
};

/* Every method and batch operation that writes a value, on row "r1" and column "cf:q". */
static const limit_case VALUE_CASES[] = {
  {"put", "{\"row\":\"r1\",\"data\":{\"cf:q\":\"@VAL@\"}}", "\"data\"["},
  {"append", "{\"row\":\"r1\",\"data\":{\"cf:q\":\"@VAL@\"}}", "\"data\"["},
  {"check_and_put",
   "{\"row\":\"r1\",\"column\":\"cf:q\",\"value\":null,\"data\":{\"cf:q\":\"@VAL@\"}}",
   "\"data\"["},
  {"batch",
   "{\"operations\":[{\"op\":\"delete\",\"row\":\"r2\"},"
   "{\"op\":\"put\",\"row\":\"r1\",\"data\":{\"cf:q\":\"@VAL@\"}}]}",
   "\"operations\"[1].data["},
};

/* The value under test ("@VAL@"); NULL while the test is not about values. */
static const char *g_value;

/* s in the request's encoding. */
static json_t *encoded(const char *s, size_t len, bool base64) {
  if (!base64)
    return json_stringn(s, len);
  char *b = malloc(len / 3 * 4 + 8);
  size_t n = codec_base64_encode((const uint8_t *)s, len, b);
  json_t *v = json_stringn(b, n);
  free(b);
  return v;
}

/* A bytes string of a template: "@ROW@" and "@COL@" stand for row and col; encoded. */
static json_t *fill_bytes(const char *s, const char *row, const char *col, bool base64) {
  const char *b = strcmp(s, "@ROW@") == 0 ? row
    : strcmp(s, "@COL@") == 0             ? col
    : strcmp(s, "@VAL@") == 0             ? g_value
                                          : s;
  return encoded(b, strlen(b), base64);
}

/* A template's value with its bytes filled in: every string is bytes but an operation's "op",
 * and the keys of a "data" object are bytes (columns) too. */
static json_t *fill(json_t *v, const char *row, const char *col, bool base64, bool data) {
  if (json_is_string(v))
    return fill_bytes(json_string_value(v), row, col, base64);
  if (json_is_array(v)) {
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(v); i++)
      json_array_append_new(out, fill(json_array_get(v, i), row, col, base64, false));
    return out;
  }
  if (!json_is_object(v))
    return json_incref(v);
  json_t *out = json_object();
  const char *key;
  json_t *member;
  json_object_foreach(v, key, member) {
    json_t *value = !data && strcmp(key, "op") == 0
      ? json_incref(member)
      : fill(member, row, col, base64, !data && strcmp(key, "data") == 0);
    if (!data) {
      json_object_set_new(out, key, value);
      continue;
    }
    json_t *column = fill_bytes(key, row, col, base64);
    json_object_set_new(out, json_string_value(column), value);
    json_decref(column);
  }
  return out;
}

/* The case's params on the test table, filled in. */
static json_t *params_of(const limit_case *c, const char *row, const char *col, bool base64) {
  json_error_t jerr;
  json_t *template = json_loads(c->params, 0, &jerr);
  ck_assert_msg(template != NULL, "%s: %s", c->params, jerr.text);
  json_t *params = fill(template, row, col, base64, false);
  json_decref(template);
  json_object_set_new(params, "table", json_string(g_table));
  if (base64)
    json_object_set_new(params, "encoding", json_string("base64"));
  return params;
}

static json_int_t pool_jobs(dh_conn *c) {
  json_t *st = dh_result(dh_call(c, "stats", NULL), "stats");
  json_int_t n = json_integer_value(json_object_get(json_object_get(st, "pool"), "jobs"));
  json_decref(st);
  return n;
}

/* The call succeeds against the gateway. */
static void expect_ok(dh_conn *c, const limit_case *k, const char *row, const char *col,
                      bool base64) {
  json_t *reply = dh_call(c, k->method, params_of(k, row, col, base64));
  if (dh_error_code(reply) != 0) {
    char *text = dh_text(reply);
    ck_abort_msg("%s %s (%s, row of %zu bytes, column of %zu) failed: %.300s", k->method, k->params,
                 base64 ? "base64" : "utf8", strlen(row), strlen(col), text);
  }
  json_t *result = json_object_get(reply, "result");
  json_t *id = json_object_get(result, "scanner");
  if (strcmp(k->method, "scanner_open") == 0)
    json_decref(
      dh_result(dh_call(c, "scanner_close", json_pack("{s:O}", "scanner", id)), "scanner_close"));
  json_decref(reply);
}

/* The call is refused as invalid_params naming the parameter and the limit, with no job run. */
static void expect_refused(dh_conn *c, const limit_case *k, const char *row, const char *col,
                           bool base64, const char *names, const char *limit) {
  json_int_t before = pool_jobs(c);
  json_t *err = dh_error(dh_call(c, k->method, params_of(k, row, col, base64)), k->method, -32602);
  const char *message = json_string_value(json_object_get(err, "message"));
  ck_assert_msg(message != NULL && strstr(message, names) != NULL && strstr(message, limit) != NULL,
                "%s %s (%s): the error does not name %s and %s: %s", k->method, k->params,
                base64 ? "base64" : "utf8", names, limit, message);
  json_decref(err);
  ck_assert_msg(pool_jobs(c) == before, "%s %s: a gateway call was made", k->method, k->params);
}

static char *repeat(char ch, size_t n) {
  char *s = malloc(n + 1);
  memset(s, ch, n);
  s[n] = '\0';
  return s;
}

/* The longest row key works everywhere one is taken, on a table whose regions the gateway has not
 * looked up yet (the lookup is where a longer key fails); a byte more, and an empty key where a
 * row is required, are refused. */
START_TEST(test_row_key_limit) {
  bool base64 = _i == 1;
  dh_conn *c = dh_connect(&g_daemon);
  size_t max = MAX_ROW - 16 - strlen(g_table);
  char *longest = repeat('r', max), *over = repeat('r', max + 1), past[64];
  snprintf(past, sizeof past, "%zu bytes long; HBase takes", max + 1);
  for (size_t i = 0; i < sizeof ROW_CASES / sizeof ROW_CASES[0]; i++) {
    const limit_case *k = &ROW_CASES[i];
    expect_ok(c, k, longest, "cf:q", base64);
    expect_refused(c, k, over, "cf:q", base64, k->names, past);
    bool bound = strcmp(k->method, "scan") == 0 || strcmp(k->method, "scanner_open") == 0;
    if (!bound)
      expect_refused(c, k, "", "cf:q", base64, k->names, "is empty; HBase takes 1 to");
  }
  free(longest);
  free(over);
  dh_close(c);
}
END_TEST

/* A family of 127 bytes works everywhere a column is taken; 128 bytes, an empty family, and one
 * holding a control character are refused. */
START_TEST(test_family_limit) {
  bool base64 = _i == 1;
  dh_conn *c = dh_connect(&g_daemon);
  char longest[MAX_FAMILY + 8], over[MAX_FAMILY + 8];
  snprintf(longest, sizeof longest, "%s:q", g_family);
  snprintf(over, sizeof over, "f%s:q", g_family);
  for (size_t i = 0; i < sizeof COLUMN_CASES / sizeof COLUMN_CASES[0]; i++) {
    const limit_case *k = &COLUMN_CASES[i];
    expect_ok(c, k, "r1", longest, base64);
    expect_refused(c, k, "r1", over, base64, k->names, "family is 128 bytes long; HBase takes");
    expect_refused(c, k, "r1", ":q", base64, k->names, "family is empty");
    expect_refused(c, k, "r1",
                   "c\x01"
                   "f:q",
                   base64, k->names, "byte 0x01");
  }
  dh_close(c);
}
END_TEST

/* The largest cell HBase takes is written by every method that writes values; a byte more is
 * refused, by its size and the limit. */
START_TEST(test_cell_limit) {
  bool base64 = _i == 1;
  dh_conn *c = dh_connect(&g_daemon);
  size_t names = strlen("r1") + strlen("cfq"), largest = MAX_CELL - CELL_OVERHEAD - names;
  char *value = repeat('v', largest + 1), past[64];
  snprintf(past, sizeof past, "the cell is %d bytes", MAX_CELL + 1);
  for (size_t i = 0; i < sizeof VALUE_CASES / sizeof VALUE_CASES[0]; i++) {
    const limit_case *k = &VALUE_CASES[i];
    g_value = value;
    expect_refused(c, k, "r1", "cf:q", base64, k->names, past);
    value[largest] = '\0';
    /* A fresh row: an append to the cell the method before wrote would store twice as much. */
    json_decref(
      dh_result(dh_call(c, "delete", json_pack("{s:s,s:s}", "table", g_table, "row", "r1")),
                "delete"));
    expect_ok(c, k, "r1", "cf:q", base64);
    value[largest] = 'v';
  }
  g_value = NULL;
  free(value);
  dh_close(c);
}
END_TEST

/* Table names HBase refuses are refused, naming the rule; one in the default namespace, written
 * out, works. */
START_TEST(test_table_names) {
  static const char *const bad[] = {"a b", ".t",  "-t",        "x:y:z", "n-s:t",
                                    ":t",  "ns:", "zookeeper", "t/u"};
  dh_conn *c = dh_connect(&g_daemon);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_int_t before = pool_jobs(c);
    json_t *err = dh_error(dh_call(c, "row",
                                   json_pack("{s:s,s:s,s:b}", "table", bad[i], "row", "r1",
                                             "use_prefix", 0)),
                           "row", -32602);
    const char *message = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(message != NULL && strstr(message, "\"table\"") != NULL &&
                    strstr(message, "HBase table names are") != NULL,
                  "table \"%s\": %s", bad[i], message);
    json_decref(err);
    ck_assert_int_eq(pool_jobs(c), before);
  }
  char full[128];
  snprintf(full, sizeof full, "default:%s", g_table);
  json_decref(dh_result(dh_call(c, "is_table_enabled",
                                json_pack("{s:s,s:b}", "table", full, "use_prefix", 0)),
                        "is_table_enabled"));
  dh_close(c);
}
END_TEST

static Suite *limits_suite(void) {
  Suite *s = suite_create("hbpoold and HBase's limits");
  TCase *tc = tcase_create("limits");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_row_key_limit, 0, 2); /* utf8, base64 */
  tcase_add_loop_test(tc, test_family_limit, 0, 2);
  tcase_add_loop_test(tc, test_cell_limit, 0, 2);
  tcase_add_test(tc, test_table_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_hbase_limits"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  memset(g_family, 'f', MAX_FAMILY);
  char table[64];
  snprintf(table, sizeof table, "hblim%d_t", (int)getpid());
  g_table = table;
  if (!dh_start(&g_daemon, "test_daemon_hbase_limits", &g_gateway, "", ""))
    return 1;
  json_t *families = json_pack("{s:{},s:{}}", "cf", g_family);
  int failed = 1;
  if (dh_try_ok(&g_daemon, "test_daemon_hbase_limits", "create_table",
                json_pack("{s:s,s:o}", "table", g_table, "families", families))) {
    SRunner *sr = srunner_create(limits_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  json_decref(
    dh_try_call(&g_daemon, "delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
  int rc = dh_stop(&g_daemon);
  return failed == 0 && rc == 0 ? 0 : 1;
}
