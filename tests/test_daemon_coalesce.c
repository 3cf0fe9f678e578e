/* Coalescing end to end, against a real gateway: clients pipeline row and rows reads through a
 * pool of 2 connections, so that many wait in the queue and share gateway calls; each reply must
 * be exactly that request's (columns, timestamps, include_timestamp, duplicate keys and missing
 * rows mixed), with coalescing on and off. Puts and deletes of the same rows from many clients
 * at once end as each client's order implies. A shared call that fails fails every member
 * alike, and no write is sent twice. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"

enum {
  CLIENTS = 16,
  REQUESTS = 60, /* per client, all pipelined */
  ROWS = 40,     /* r00..r39 exist; keys up to r44 are asked for */
  KEYS = ROWS + 5,
  OLD_TS = 1000,
  NEW_TS = 2000,
  READ_TS = 1500, /* reads "older than 1500": the old version of cf:a, no cf:b */
};

static hbc_options g_gateway;
static dh_daemon g_d;
static const char *g_table = "c";
static char g_prefix[32]; /* this run's: table_prefix */

/* ---------------------------------------------------------------------------------------------
 * The requests, and the answer each must get. */

typedef struct read_req {
  bool many;      /* rows, else row */
  int key, other; /* rows asks for key, other, key again, and a missing one */
  int columns;    /* 0: none, 1: cf:a, 2: cf, 3: cf:b */
  bool old;       /* timestamp READ_TS */
  bool include_ts;
} read_req;

static read_req request_of(int client, int n) {
  int key = (client * 7 + n * 3) % KEYS;
  return (read_req){.many = n % 3 == 2,
                    .key = key,
                    .other = (key + 1) % KEYS,
                    .columns = n % 4,
                    .old = (n / 4) % 2 == 1,
                    .include_ts = (n / 8) % 2 == 1};
}

static json_t *cell(const read_req *r, const char *value, int ts) {
  return r->include_ts ? json_pack("[s,i]", value, ts) : json_string(value);
}

/* The row as this request must see it ({} when it has nothing). */
static json_t *expected_row(const read_req *r, int key) {
  json_t *row = json_object();
  if (key >= ROWS)
    return row;
  char v[16];
  if (r->columns != 3) {
    snprintf(v, sizeof v, r->old ? "a%d" : "A%d", key);
    json_object_set_new(row, "cf:a", cell(r, v, r->old ? OLD_TS : NEW_TS));
  }
  if (r->columns != 1 && !r->old) {
    snprintf(v, sizeof v, "b%d", key);
    json_object_set_new(row, "cf:b", cell(r, v, NEW_TS));
  }
  return row;
}

static void key_name(char *out, size_t n, int key) {
  snprintf(out, n, "r%02d", key);
}

static json_t *expected(const read_req *r) {
  if (!r->many)
    return expected_row(r, r->key);
  json_t *list = json_array();
  int keys[] = {r->key, r->other, r->key, KEYS + 1};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    json_t *row = expected_row(r, keys[i]);
    char k[16];
    key_name(k, sizeof k, keys[i]);
    if (json_object_size(row) > 0)
      json_array_append_new(list, json_pack("[s,o]", k, row));
    else
      json_decref(row);
  }
  return list;
}

static json_t *params_of(const read_req *r, const char *table) {
  json_t *p = json_pack("{s:s}", "table", table);
  char k[16];
  if (r->many) {
    json_t *keys = json_array();
    int ks[] = {r->key, r->other, r->key, KEYS + 1};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
      key_name(k, sizeof k, ks[i]);
      json_array_append_new(keys, json_string(k));
    }
    json_object_set_new(p, "rows", keys);
  } else {
    key_name(k, sizeof k, r->key);
    json_object_set_new(p, "row", json_string(k));
  }
  static const char *const columns[] = {NULL, "cf:a", "cf", "cf:b"};
  if (columns[r->columns] != NULL)
    json_object_set_new(p, "columns", json_pack("[s]", columns[r->columns]));
  if (r->old)
    json_object_set_new(p, "timestamp", json_integer(READ_TS));
  if (r->include_ts)
    json_object_set_new(p, "include_timestamp", json_true());
  return p;
}

/* ---------------------------------------------------------------------------------------------
 * Clients. */

/* A client thread, reading or writing. */
typedef struct tclient {
  pthread_t thread;
  int index;
  const char *table;
  int want_code; /* 0: every reply must be its result; else this error code */
  int right, wrong;
  char first_wrong[512];
} tclient;

static void note_wrong(tclient *rd, const char *what, const char *got, const char *want) {
  if (rd->wrong++ == 0)
    snprintf(rd->first_wrong, sizeof rd->first_wrong, "%s: got %.230s, wanted %.230s", what, got,
             want);
}

static void check_reply(tclient *rd, json_t *reply) {
  json_int_t id = json_integer_value(json_object_get(reply, "id"));
  char *got = dh_text(reply);
  if (id < 0 || id >= REQUESTS) {
    note_wrong(rd, "a reply to no request", got, "nothing");
  } else if (rd->want_code != 0) {
    if (dh_error_code(reply) == rd->want_code)
      rd->right++;
    else
      note_wrong(rd, "an error", got, "hbase_io_error");
  } else {
    read_req r = request_of(rd->index, (int)id);
    json_t *want = expected(&r);
    if (json_equal(json_object_get(reply, "result"), want)) {
      rd->right++;
    } else {
      char *w = dh_text(want);
      note_wrong(rd, "a result", got, w);
      free(w);
    }
    json_decref(want);
  }
  free(got);
}

static void *read_all(void *arg) {
  tclient *rd = arg;
  dh_conn *c = dh_connect(&g_d);
  for (int n = 0; n < REQUESTS; n++) {
    read_req r = request_of(rd->index, n);
    char *line = dh_request(json_integer(n), r.many ? "rows" : "row", params_of(&r, rd->table));
    dh_send(c, line);
    free(line);
  }
  for (int n = 0; n < REQUESTS; n++) {
    json_t *reply = dh_json(c);
    check_reply(rd, reply);
    json_decref(reply);
  }
  dh_close(c);
  return NULL;
}

/* CLIENTS threads running fn at once; returns the replies that were right. */
static int run_clients(void *(*fn)(void *), const char *table, int want_code) {
  tclient rd[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    rd[i] = (tclient){.index = i, .table = table, .want_code = want_code};
    pthread_create(&rd[i].thread, NULL, fn, &rd[i]);
  }
  int right = 0;
  for (int i = 0; i < CLIENTS; i++) {
    pthread_join(rd[i].thread, NULL);
    right += rd[i].right;
    if (rd[i].wrong > 0)
      fprintf(stderr, "test_daemon_coalesce: client %d: %d wrong, first: %s\n", i, rd[i].wrong,
              rd[i].first_wrong);
  }
  return right;
}

/* ---------------------------------------------------------------------------------------------
 * Writers: each client pipelines a fixed sequence of puts and deletes of its own columns on rows
 * every client writes, so that shared calls form and the same row is written by many calls in
 * flight. Any reordering of one row's writes leaves a trace in the final row: a column deleted
 * before its put survives; a put overtaken by an earlier one leaves an old value. */

enum { WROWS = 4, WSTEPS = 7 };

/* Step s of client c on one row: its body of "data", or of "columns" for a delete. */
static json_t *write_step(int c, int s, bool *is_delete) {
  char x[16], y[16], z[16];
  snprintf(x, sizeof x, "cf:x%d", c);
  snprintf(y, sizeof y, "cf:y%d", c);
  snprintf(z, sizeof z, "cf:z%d", c);
  *is_delete = s == 2 || s == 5;
  switch (s) {
  case 0: return json_pack("{s:s,s:s}", x, "1", y, "1");
  case 1: return json_pack("{s:s}", x, "2");
  case 2: return json_pack("[s]", y);
  case 3: return json_pack("{s:s,s:s}", x, "3", z, "3");
  case 4: return json_pack("{s:s}", x, "4");
  case 5: return json_pack("[s]", z);
  default: return json_pack("{s:s}", x, "5");
  }
}

static void *write_all(void *arg) {
  tclient *wr = arg;
  dh_conn *c = dh_connect(&g_d);
  for (int s = 0; s < WSTEPS; s++)
    for (int r = 0; r < WROWS; r++) {
      bool del;
      json_t *body = write_step(wr->index, s, &del);
      char row[16];
      snprintf(row, sizeof row, "w%d", r);
      json_t *p = json_pack("{s:s,s:s,s:o}", "table", wr->table, "row", row,
                            del ? "columns" : "data", body);
      char *line = dh_request(json_integer(s * WROWS + r), del ? "delete" : "put", p);
      dh_send(c, line);
      free(line);
    }
  for (int n = 0; n < WSTEPS * WROWS; n++) {
    json_t *reply = dh_json(c);
    if (wr->want_code == 0 ? json_is_null(json_object_get(reply, "result"))
                           : dh_error_code(reply) == wr->want_code)
      wr->right++;
    else {
      char *got = dh_text(reply);
      note_wrong(wr, "a reply", got, wr->want_code == 0 ? "a null result" : "an error");
      free(got);
    }
    json_decref(reply);
  }
  dh_close(c);
  return NULL;
}

/* Each row holds what every client's last writes left: x = "5", no y, no z. */
static void expect_written_rows(void) {
  json_t *want = json_object();
  for (int c = 0; c < CLIENTS; c++) {
    char x[16];
    snprintf(x, sizeof x, "cf:x%d", c);
    json_object_set_new(want, x, json_string("5"));
  }
  for (int r = 0; r < WROWS; r++) {
    char row[16];
    snprintf(row, sizeof row, "w%d", r);
    json_t *got = dh_ok(&g_d, "row", json_pack("{s:s,s:s}", "table", g_table, "row", row));
    if (!json_equal(got, want)) {
      char *g = dh_text(got), *w = dh_text(want);
      ck_abort_msg("row %s: got %.400s, wanted %.400s", row, g, w);
    }
    json_decref(got);
  }
  json_decref(want);
}

/* ---------------------------------------------------------------------------------------------
 * The daemon and its table. */

static void start(bool coalesce) {
  /* Every request waits its turn: the failing calls are slow in HBase (a missing table). */
  char gateway_keys[128];
  snprintf(gateway_keys, sizeof gateway_keys,
           "pool_size = 2\ncoalesce = %s\nqueue_timeout_ms = 60000\n", coalesce ? "true" : "false");
  char keys[64];
  snprintf(keys, sizeof keys, "table_prefix = %s\n", g_prefix);
  ck_assert(dh_start(&g_d, "test_daemon_coalesce", &g_gateway, keys, gateway_keys));
  char table[64];
  snprintf(table, sizeof table, "%s", g_table);
  /* Left by a test that failed before its stop. */
  json_decref(
    dh_try_call(&g_d, "delete_table", json_pack("{s:s,s:b}", "table", table, "disable", 1)));
  json_decref(
    dh_ok(&g_d, "create_table",
          json_pack("{s:s,s:{s:{s:i}}}", "table", table, "families", "cf", "max_versions", 3)));
  for (int i = 0; i < ROWS; i++) {
    char k[16], a[16], b[16];
    key_name(k, sizeof k, i);
    snprintf(a, sizeof a, "a%d", i);
    json_decref(dh_ok(&g_d, "put",
                      json_pack("{s:s,s:s,s:{s:s},s:i}", "table", table, "row", k, "data", "cf:a",
                                a, "timestamp", OLD_TS)));
    snprintf(a, sizeof a, "A%d", i);
    snprintf(b, sizeof b, "b%d", i);
    json_decref(dh_ok(&g_d, "put",
                      json_pack("{s:s,s:s,s:{s:s,s:s},s:i}", "table", table, "row", k, "data",
                                "cf:a", a, "cf:b", b, "timestamp", NEW_TS)));
  }
}

static void stop(void) {
  json_decref(dh_ok(&g_d, "delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
  ck_assert_int_eq(dh_stop(&g_d), 0);
}

static json_int_t pool_stat(const char *key) {
  json_t *st = dh_ok(&g_d, "stats", NULL);
  json_int_t v = json_integer_value(json_object_get(json_object_get(st, "pool"), key));
  json_decref(st);
  return v;
}

/* The histogram counts every call once. */
static void expect_histogram_whole(void) {
  json_t *st = dh_ok(&g_d, "stats", NULL);
  json_t *pool = json_object_get(st, "pool"), *by = json_object_get(pool, "requests_per_call");
  json_int_t sum = 0;
  const char *key;
  json_t *v;
  json_object_foreach(by, key, v) sum += json_integer_value(v);
  ck_assert_int_eq(sum, json_integer_value(json_object_get(pool, "calls")));
  json_decref(st);
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

START_TEST(test_coalesced_reads_each_get_their_own_answer) {
  start(true);
  json_int_t before = pool_stat("coalesced_calls");
  int right = run_clients(read_all, g_table, 0);
  json_int_t shared = pool_stat("coalesced_calls") - before;
  json_int_t carried = pool_stat("coalesced_requests");
  fprintf(stderr,
          "test_daemon_coalesce: %d replies right; %lld shared calls carried %lld "
          "requests\n",
          right, (long long)shared, (long long)carried);
  ck_assert_int_eq(right, CLIENTS * REQUESTS);
  ck_assert_int_gt(shared, 0);
  ck_assert_int_ge(carried, 2 * shared);
  expect_histogram_whole();
  stop();
}
END_TEST

START_TEST(test_coalesce_off_sends_each_alone) {
  start(false);
  ck_assert_int_eq(run_clients(read_all, g_table, 0), CLIENTS * REQUESTS);
  ck_assert_int_eq(pool_stat("coalesced_calls"), 0);
  expect_histogram_whole();
  stop();
}
END_TEST

/* A missing table: the shared call fails in HBase, and every member gets that error. */
START_TEST(test_failed_shared_read_fails_every_member) {
  start(true);
  json_int_t before = pool_stat("coalesced_calls");
  ck_assert_int_eq(run_clients(read_all, "no_such_table_here", -32001), CLIENTS * REQUESTS);
  ck_assert_int_gt(pool_stat("coalesced_calls") - before, 0);
  /* The connections stayed: a failure in HBase does not break them. */
  json_decref(dh_ok(&g_d, "row", json_pack("{s:s,s:s}", "table", g_table, "row", "r01")));
  stop();
}
END_TEST

START_TEST(test_writes_of_a_row_keep_their_order) {
  start(true);
  json_int_t before = pool_stat("coalesced_calls");
  ck_assert_int_eq(run_clients(write_all, g_table, 0), CLIENTS * WROWS * WSTEPS);
  json_int_t shared = pool_stat("coalesced_calls") - before;
  fprintf(stderr, "test_daemon_coalesce: %d writes in order; %lld shared calls\n",
          CLIENTS * WROWS * WSTEPS, (long long)shared);
  ck_assert_int_gt(shared, 0);
  expect_written_rows();
  stop();
}
END_TEST

START_TEST(test_writes_of_a_row_keep_their_order_alone) {
  start(false);
  ck_assert_int_eq(run_clients(write_all, g_table, 0), CLIENTS * WROWS * WSTEPS);
  ck_assert_int_eq(pool_stat("coalesced_calls"), 0);
  expect_written_rows();
  stop();
}
END_TEST

/* Every member of a shared write that fails gets the error, and none is sent again. */
START_TEST(test_failed_shared_write_fails_every_member_once) {
  start(true);
  json_int_t shared = pool_stat("coalesced_calls"), calls = pool_stat("calls");
  ck_assert_int_eq(run_clients(write_all, "no_such_table_here", -32001), CLIENTS * WROWS * WSTEPS);
  shared = pool_stat("coalesced_calls") - shared;
  calls = pool_stat("calls") - calls;
  ck_assert_int_gt(shared, 0);
  ck_assert_int_eq(pool_stat("retries"), 0);
  /* Each write went in exactly one call: fewer calls than writes, none repeated. */
  ck_assert_int_lt(calls, CLIENTS * WROWS * WSTEPS);
  stop();
}
END_TEST

static Suite *coalesce_suite(void) {
  Suite *s = suite_create("coalescing");
  TCase *tc = tcase_create("reads");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_coalesced_reads_each_get_their_own_answer);
  tcase_add_test(tc, test_coalesce_off_sends_each_alone);
  tcase_add_test(tc, test_failed_shared_read_fails_every_member);
  suite_add_tcase(s, tc);
  tc = tcase_create("writes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_writes_of_a_row_keep_their_order);
  tcase_add_test(tc, test_writes_of_a_row_keep_their_order_alone);
  tcase_add_test(tc, test_failed_shared_write_fails_every_member_once);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_coalesce"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_prefix, sizeof g_prefix, "co%d", (int)getpid());
  SRunner *sr = srunner_create(coalesce_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
