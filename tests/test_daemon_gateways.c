/* End-to-end tests of hbpoold with several gateways: requests spread over them (least_busy) or
 * kept on the first (ordered); a gateway stopped, killed or paused, and its requests, scanners
 * and queued work moved to the other; gateways added and removed by a reload. Gateway "main" is
 * one of the test's own, which it stops, kills and pauses; gateway "b" is the exported one. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define POOL_SIZE 2
#define REQUEST_MS 3000
#define RECOVERY_BOUND_MS 15000 /* from a gateway's restart to its pool being up again */

static hbc_options g_own;      /* "main": the gateway these tests stop, kill and pause */
static hbc_options g_exported; /* "b" */
static char g_own_name[32];
static char g_prefix[32]; /* the daemon's table_prefix: the same in every test's process */
static dh_daemon g_d;
static const char *g_table = "t";

/* ---------------------------------------------------------------------------------------------
 * Config and stats. */

/* Writes the daemon's config with the gateways named in which ("main", "b", "dead": a port where
 * nothing listens, any order, comma-separated) and balance. */
static void write_config(const char *which, const char *balance) {
  FILE *f = fopen(g_d.conf, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "[daemon]\nlisten_socket = %s\nlog_level = warning\ntable_prefix = %s\n"
          "balance = %s\nmax_requests_per_client = 4096\n",
          g_d.socket, g_prefix, balance);
  char list[64];
  snprintf(list, sizeof list, "%s", which);
  for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
       name = strtok_r(NULL, ",", &save)) {
    const hbc_options *gw = strcmp(name, "main") == 0 ? &g_own : &g_exported;
    int port = strcmp(name, "dead") == 0 ? dh_free_tcp_port() : gw->port;
    fprintf(f,
            "\n[gateway %s]\nhost = %s\nport = %d\ntransport = %s\nprotocol = %s\n"
            "pool_size = %d\nrequest_timeout_ms = %d\nconnect_timeout_ms = 1000\n"
            "queue_timeout_ms = 5000\nreconnect_min_ms = 100\nreconnect_max_ms = 1000\n",
            name, gw->host, port, dh_transport(gw),
            gw->protocol == HBC_PROTOCOL_COMPACT ? "compact" : "binary", POOL_SIZE, REQUEST_MS);
  }
  ck_assert_int_eq(fclose(f), 0);
}

static json_t *stats(void) {
  json_t *st = dh_ok(&g_d, "stats", NULL);
  ck_assert_ptr_nonnull(st);
  return st;
}

/* A reload with the gateways in which, waited for until stats shows it. */
static void reload(const char *which, const char *balance) {
  json_t *st = stats();
  json_int_t before = json_integer_value(json_object_get(json_object_get(st, "daemon"), "reloads"));
  json_decref(st);
  write_config(which, balance);
  ck_assert_int_eq(kill(g_d.pid, SIGHUP), 0);
  for (int i = 0; i < 100; i++) {
    st = stats();
    json_t *daemon = json_object_get(st, "daemon");
    bool done = json_integer_value(json_object_get(daemon, "reloads")) > before;
    if (done)
      ck_assert_str_eq(json_string_value(json_object_get(daemon, "last_reload")), "ok");
    json_decref(st);
    if (done)
      return;
    sleep_ms(50);
  }
  ck_abort_msg("the reload to gateways %s did not happen", which);
}

/* A figure of one gateway's pool in stats (-1: no such gateway). */
static json_int_t gateway_figure(const char *gateway, const char *name) {
  json_t *st = stats();
  json_t *g = json_object_get(json_object_get(st, "gateways"), gateway);
  json_int_t n = g == NULL ? -1 : json_integer_value(json_object_get(g, name));
  json_decref(st);
  return n;
}

static bool gateway_up(const char *gateway) {
  json_t *st = stats();
  json_t *g = json_object_get(json_object_get(st, "gateways"), gateway);
  bool up = json_is_true(json_object_get(g, "gateway_up"));
  json_decref(st);
  return up;
}

static json_int_t moved(void) {
  json_t *st = stats();
  json_int_t n = json_integer_value(json_object_get(json_object_get(st, "pool"), "moved"));
  json_decref(st);
  return n;
}

static void wait_until_up(const char *gateway) {
  int64_t t0 = mono_ms();
  while (!gateway_up(gateway) && mono_ms() - t0 < RECOVERY_BOUND_MS)
    sleep_ms(100);
  ck_assert_msg(gateway_up(gateway), "gateway %s was not up again within %d ms", gateway,
                RECOVERY_BOUND_MS);
}

static int own(const char *command) {
  return gateway_env_script(command, g_own_name);
}

static int own_pid(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/gw-%s/pid", getenv("HBPOOL_HBASE_RUN_DIR"), g_own_name);
  FILE *f = fopen(path, "r");
  int pid = 0;
  if (f != NULL) {
    if (fscanf(f, "%d", &pid) != 1)
      pid = 0;
    fclose(f);
  }
  return pid;
}

static int pipelined(const char *method, const char *tag, int n) {
  return dh_pipelined(&g_d, g_table, method, tag, n);
}

/* ---------------------------------------------------------------------------------------------
 * Tests. Each starts with both gateways up and balance = least_busy. */

START_TEST(test_least_busy_uses_every_gateway) {
  json_int_t main_before = gateway_figure("main", "jobs"), b_before = gateway_figure("b", "jobs");
  ck_assert_int_eq(pipelined("put", "spread", 64), 64);
  ck_assert_int_eq(pipelined("row", "spread", 64), 64);
  ck_assert_int_gt(gateway_figure("main", "jobs"), main_before);
  ck_assert_int_gt(gateway_figure("b", "jobs"), b_before);
}
END_TEST

START_TEST(test_ordered_keeps_to_the_first) {
  reload("main,b", "ordered");
  json_int_t main_before = gateway_figure("main", "jobs"), b_before = gateway_figure("b", "jobs");
  ck_assert_int_eq(pipelined("put", "ordered", 64), 64);
  ck_assert_int_eq(pipelined("row", "ordered", 64), 64);
  ck_assert_int_ge(gateway_figure("main", "jobs"), main_before + 128);
  ck_assert_int_eq(gateway_figure("b", "jobs"), b_before);
  reload("main,b", "least_busy");
}
END_TEST

/* The first gateway stops: what went to it goes to the other, writes included (nothing had
 * reached it), and it is used again once it is back. */
START_TEST(test_stopped_gateway_moves_its_requests) {
  reload("main,b", "ordered");
  ck_assert_int_eq(pipelined("put", "stop", 32), 32);
  json_int_t moved_before = moved();
  int stop_rc = own("gateway-stop");
  int puts = pipelined("put", "stopped", 32);
  int rows = pipelined("row", "stop", 32);
  bool main_up = gateway_up("main");
  json_t *st = stats();
  bool any_up = json_is_true(json_object_get(json_object_get(st, "pool"), "gateway_up"));
  json_decref(st);
  int start_rc = own("gateway-start"); /* before any assertion: it must come back */
  ck_assert_int_eq(stop_rc, 0);
  ck_assert_int_eq(start_rc, 0);
  ck_assert_int_eq(puts, 32);
  ck_assert_int_eq(rows, 32);
  ck_assert(!main_up);
  ck_assert(any_up);
  ck_assert_int_gt(moved(), moved_before);
  wait_until_up("main");
  json_int_t main_before = gateway_figure("main", "jobs");
  ck_assert_int_eq(pipelined("row", "stopped", 32), 32);
  ck_assert_int_ge(gateway_figure("main", "jobs"), main_before + 32);
  reload("main,b", "least_busy");
}
END_TEST

/* kill -9 of a gateway under way: the next requests all succeed on the other. */
START_TEST(test_killed_gateway) {
  ck_assert_int_eq(pipelined("put", "kill", 32), 32);
  int pid = own_pid();
  ck_assert_int_gt(pid, 0);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  sleep_ms(500);
  int puts = pipelined("put", "killed", 32);
  int rows = pipelined("row", "kill", 32);
  own("gateway-stop"); /* forgets the dead process */
  int start_rc = own("gateway-start");
  ck_assert_int_eq(start_rc, 0);
  ck_assert_int_eq(puts, 32);
  ck_assert_int_eq(rows, 32);
  wait_until_up("main");
}
END_TEST

/* A paused gateway (SIGSTOP) accepts bytes and never answers: reads sent to it time out after
 * request_timeout_ms and are answered by the other; new requests go to the other, whose
 * connections are free. */
START_TEST(test_paused_gateway) {
  reload("main,b", "ordered");
  int pid = own_pid();
  ck_assert_int_gt(pid, 0);
  ck_assert_int_eq(pipelined("put", "pause", 16), 16);
  ck_assert_int_eq(kill(pid, SIGSTOP), 0);
  int64_t t0 = mono_ms();
  int rows = pipelined("row", "pause", 16);
  int64_t took = mono_ms() - t0;
  json_int_t timeouts = gateway_figure("main", "failed");
  kill(pid, SIGCONT);
  ck_assert_int_eq(rows, 16);
  ck_assert_int_gt(timeouts, 0);
  ck_assert_msg(took < 3 * REQUEST_MS, "the reads took %lld ms", (long long)took);
  reload("main,b", "least_busy");
}
END_TEST

/* A scanner stays on its gateway; when that one stops, the scanner goes on on the other from
 * the last row it fetched, and no row is lost or repeated. */
START_TEST(test_scanner_moves_when_its_gateway_stops) {
  reload("main,b", "ordered");
  for (int i = 0; i < 10; i++) {
    char key[16];
    snprintf(key, sizeof key, "sc%d", i);
    json_decref(
      dh_ok(&g_d, "put",
            json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", key, "data", "cf:a", key)));
  }
  dh_conn *c = dh_connect(&g_d);
  json_t *r = dh_result(dh_call(c, "scanner_open",
                                json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "sc")),
                        "scanner_open");
  json_int_t id = json_integer_value(json_object_get(r, "scanner"));
  json_decref(r);
  r = dh_result(dh_call(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 3)),
                "scanner_next");
  char *first = dh_text(json_object_get(r, "rows"));
  json_decref(r);
  int stop_rc = own("gateway-stop");
  r = dh_result(dh_call(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 10)),
                "scanner_next");
  json_t *rows = json_object_get(r, "rows");
  char keys[128] = "";
  for (size_t i = 0; i < json_array_size(rows); i++) {
    strcat(keys, json_string_value(json_array_get(json_array_get(rows, i), 0)));
    strcat(keys, ",");
  }
  json_decref(r);
  int start_rc = own("gateway-start");
  dh_close(c);
  ck_assert_int_eq(stop_rc, 0);
  ck_assert_int_eq(start_rc, 0);
  ck_assert_msg(strstr(first, "\"sc0\"") != NULL && strstr(first, "\"sc2\"") != NULL, "%s", first);
  free(first);
  ck_assert_str_eq(keys, "sc3,sc4,sc5,sc6,sc7,sc8,sc9,");
  wait_until_up("main");
  reload("main,b", "least_busy");
}
END_TEST

/* A reload removes a gateway (it leaves stats; requests go on) and adds one back. */
START_TEST(test_reload_removes_and_adds_gateways) {
  reload("b", "least_busy");
  ck_assert_int_eq(gateway_figure("main", "jobs"), -1);
  json_int_t b_before = gateway_figure("b", "jobs");
  ck_assert_int_eq(pipelined("put", "reload", 32), 32);
  ck_assert_int_ge(gateway_figure("b", "jobs"), b_before + 32);
  reload("main,b", "ordered");
  json_int_t main_before = gateway_figure("main", "jobs");
  ck_assert_int_ge(main_before, 0);
  ck_assert_int_eq(pipelined("row", "reload", 32), 32);
  ck_assert_int_ge(gateway_figure("main", "jobs"), main_before + 32);
  reload("main,b", "least_busy");
}
END_TEST

/* A reload removes the gateway that 2,000 pipelined puts went to, while they are at it or queued
 * for it: those under way finish there, the queued ones move, and every put succeeds. */
#define REMOVED_PUTS 2000

START_TEST(test_removed_gateway_finishes_its_calls) {
  reload("main,b", "ordered");
  json_t *st = stats();
  json_int_t reloads = json_integer_value(
    json_object_get(json_object_get(st, "daemon"), "reloads"));
  json_decref(st);
  dh_conn *c = dh_connect(&g_d);
  json_int_t moved_before = moved();
  for (int i = 0; i < REMOVED_PUTS; i++) {
    char row[32];
    snprintf(row, sizeof row, "removed%d", i);
    char *line = dh_request(json_integer(i), "put",
                            json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", row, "data",
                                      "cf:a", row));
    dh_send(c, line);
    free(line);
  }
  write_config("b", "ordered");
  ck_assert_int_eq(kill(g_d.pid, SIGHUP), 0);
  int ok = 0;
  for (int i = 0; i < REMOVED_PUTS; i++) {
    json_t *r = dh_json(c);
    ok += json_object_get(r, "error") == NULL;
    json_decref(r);
  }
  dh_close(c);
  printf("test_daemon_gateways: %lld of %d puts moved when their gateway was removed\n",
         (long long)(moved() - moved_before), REMOVED_PUTS);
  ck_assert_int_eq(ok, REMOVED_PUTS);
  for (int i = 0; i < 100 && gateway_figure("main", "jobs") != -1; i++)
    sleep_ms(50);
  st = stats();
  ck_assert_int_gt(json_integer_value(json_object_get(json_object_get(st, "daemon"), "reloads")),
                   reloads);
  json_decref(st);
  ck_assert_int_eq(gateway_figure("main", "jobs"), -1);
  reload("main,b", "least_busy");
}
END_TEST

/* Only dead gateways: requests fail at once with the documented gateway_unavailable; a live one
 * listed after a dead one serves everything (ordered falls through to it). */
START_TEST(test_dead_gateways) {
  reload("dead", "ordered");
  json_t *e = dh_fails(&g_d, "row", json_pack("{s:s,s:s}", "table", g_table, "row", "x"), -32004);
  json_decref(e);
  reload("dead,b", "ordered");
  ck_assert_int_eq(pipelined("row", "spread", 16), 16);
  ck_assert(!gateway_up("dead"));
  reload("main,b", "least_busy");
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The gateway and the daemon, made and removed outside any test. */

static bool load_own_gateway(void) {
  static char host[256];
  return gateway_env_read_own(g_own_name, &g_own, host, sizeof host);
}

static void setup(void) {
  snprintf(g_own_name, sizeof g_own_name, "dgw%d", (int)getpid());
  snprintf(g_prefix, sizeof g_prefix, "gws%d", (int)getpid());
  ck_assert_msg(own("gateway-start") == 0, "gateway '%s' did not start", g_own_name);
  char keys[64];
  snprintf(keys, sizeof keys, "table_prefix = %s\n", g_prefix);
  bool ready = load_own_gateway() && dh_start(&g_d, "test_daemon_gateways", &g_own, keys, "");
  if (ready)
    reload("main,b", "least_busy");
  ready = ready &&
    dh_try_ok(&g_d, "test_daemon_gateways", "create_table",
              json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"));
  if (!ready) {
    dh_stop(&g_d);
    own("gateway-stop");
  }
  ck_assert_msg(ready, "no daemon on gateways '%s' and the exported one", g_own_name);
}

static void teardown(void) {
  dh_try_ok(&g_d, "test_daemon_gateways", "delete_table",
            json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  int rc = dh_stop(&g_d);
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  ck_assert_int_eq(own("gateway-stop"), 0);
  gateway_env_forget_own(g_own_name);
  ck_assert_int_eq(rc, 0);
}

static Suite *gateways_suite(void) {
  Suite *s = suite_create("hbpoold gateways");
  TCase *tc = tcase_create("gateways");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_least_busy_uses_every_gateway);
  tcase_add_test(tc, test_ordered_keeps_to_the_first);
  tcase_add_test(tc, test_stopped_gateway_moves_its_requests);
  tcase_add_test(tc, test_killed_gateway);
  tcase_add_test(tc, test_paused_gateway);
  tcase_add_test(tc, test_scanner_moves_when_its_gateway_stops);
  tcase_add_test(tc, test_reload_removes_and_adds_gateways);
  tcase_add_test(tc, test_removed_gateway_finishes_its_calls);
  tcase_add_test(tc, test_dead_gateways);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_can_start("test_daemon_gateways"))
    return 2;
  if (!gateway_env_load(&g_exported, "test_daemon_gateways"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = srunner_create(gateways_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
