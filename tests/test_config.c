/* Unit tests of config: defaults, the example conf/hbpoold.conf, every key, every kind of
 * validation error and its message, several gateways, and failed loads leaving *out untouched. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "config.h"

/* Every field of two configs, one assertion each, so that a failure names the field. */
static void assert_gateway_eq(const config_gateway *a, const config_gateway *b) {
  ck_assert_str_eq(a->name, b->name);
  ck_assert_str_eq(a->host, b->host);
  ck_assert_int_eq(a->port, b->port);
  ck_assert_int_eq(a->transport, b->transport);
  ck_assert_str_eq(a->path, b->path);
  ck_assert_int_eq(a->compact, b->compact);
  ck_assert_int_eq(a->pool_size, b->pool_size);
  ck_assert_int_eq(a->lazy_connect, b->lazy_connect);
  ck_assert_int_eq(a->connect_timeout_ms, b->connect_timeout_ms);
  ck_assert_int_eq(a->request_timeout_ms, b->request_timeout_ms);
  ck_assert_int_eq(a->queue_timeout_ms, b->queue_timeout_ms);
  ck_assert_int_eq(a->max_queue, b->max_queue);
  ck_assert_int_eq(a->idle_refresh_ms, b->idle_refresh_ms);
  ck_assert_int_eq(a->reconnect_min_ms, b->reconnect_min_ms);
  ck_assert_int_eq(a->reconnect_max_ms, b->reconnect_max_ms);
  ck_assert_uint_eq(a->max_message_bytes, b->max_message_bytes);
  ck_assert_int_eq(a->coalesce, b->coalesce);
  ck_assert_int_eq(a->coalesce_max_rows, b->coalesce_max_rows);
}

static void assert_config_eq(const config *a, const config *b) {
  ck_assert_str_eq(a->listen_socket, b->listen_socket);
  ck_assert_int_eq(a->listen_socket_mode, b->listen_socket_mode);
  ck_assert_pstr_eq(a->listen_tcp, b->listen_tcp);
  ck_assert_int_eq(a->max_clients, b->max_clients);
  ck_assert_uint_eq(a->max_line_bytes, b->max_line_bytes);
  ck_assert_int_eq(a->max_requests_per_client, b->max_requests_per_client);
  ck_assert_uint_eq(a->max_output_bytes_per_client, b->max_output_bytes_per_client);
  ck_assert_uint_eq(a->max_buffered_bytes, b->max_buffered_bytes);
  ck_assert_int_eq(a->client_idle_timeout_ms, b->client_idle_timeout_ms);
  ck_assert_int_eq(a->client_output_timeout_ms, b->client_output_timeout_ms);
  ck_assert_str_eq(a->log_level, b->log_level);
  ck_assert_int_eq(a->log_syslog, b->log_syslog);
  ck_assert_str_eq(a->table_prefix, b->table_prefix);
  ck_assert_str_eq(a->table_prefix_separator, b->table_prefix_separator);
  ck_assert_int_eq(a->scan_max_rows, b->scan_max_rows);
  ck_assert_uint_eq(a->max_cell_bytes, b->max_cell_bytes);
  ck_assert_int_eq(a->scanner_read_ahead, b->scanner_read_ahead);
  ck_assert_int_eq(a->scanner_idle_timeout_ms, b->scanner_idle_timeout_ms);
  ck_assert_int_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
  ck_assert_uint_eq(a->ngateways, b->ngateways);
  for (size_t i = 0; i < a->ngateways; i++)
    assert_gateway_eq(&a->gateways[i], &b->gateways[i]);
}

static void load_ok(const char *text, config *c) {
  hb_error err = HB_ERROR_INIT;
  int rc = config_load_string(text, c, &err);
  ck_assert_msg(rc == 0, "load failed: %s", err.message);
  ck_assert_int_eq(err.code, HB_OK);
}

/* Loads text, which must fail with a message containing every string of needles, and must leave
 * the output (filled with a byte pattern beforehand) exactly as it was. */
static void expect_error_(const char *text, const char *const *needles) {
  config c;
  memset(&c, 0x5a, sizeof c);
  config before = c;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(config_load_string(text, &c, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_INVALID);
  ck_assert_ptr_nonnull(err.message);
  ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "a failed load changed *out");
  for (size_t i = 0; needles[i] != NULL; i++)
    ck_assert_msg(strstr(err.message, needles[i]) != NULL, "message \"%s\" lacks \"%s\"",
                  err.message, needles[i]);
  hb_error_clear(&err);
}

#define expect_error(text, ...) expect_error_((text), (const char *const[]){__VA_ARGS__, NULL})

static char *write_temp(const char *text) {
  char *path = strdup("/tmp/hbpool-test-config-XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  size_t len = strlen(text);
  ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

START_TEST(test_defaults) {
  config c;
  config_defaults(&c);
  ck_assert_str_eq(c.listen_socket, "/run/hbpool/hbpoold.sock");
  ck_assert_int_eq(c.listen_socket_mode, 0660);
  ck_assert_ptr_null(c.listen_tcp);
  ck_assert_int_eq(c.max_clients, 1024);
  ck_assert_uint_eq(c.max_line_bytes, 16777216);
  ck_assert_int_eq(c.max_requests_per_client, 256);
  ck_assert_uint_eq(c.max_output_bytes_per_client, 67108864);
  ck_assert_uint_eq(c.max_buffered_bytes, 268435456);
  ck_assert_int_eq(c.client_idle_timeout_ms, 0);
  ck_assert_int_eq(c.client_output_timeout_ms, 60000);
  ck_assert_str_eq(c.log_level, "info");
  ck_assert(!c.log_syslog);
  ck_assert_str_eq(c.table_prefix, "");
  ck_assert_str_eq(c.table_prefix_separator, "_");
  ck_assert_int_eq(c.scan_max_rows, 1000);
  ck_assert_uint_eq(c.max_cell_bytes, 10485760);
  ck_assert(c.scanner_read_ahead);
  ck_assert_int_eq(c.scanner_idle_timeout_ms, 300000);
  ck_assert_int_eq(c.scan_keep_open_ms, 10000);
  ck_assert(!c.balance_ordered);
  ck_assert_int_eq(c.shutdown_timeout_ms, 10000);
  ck_assert_uint_eq(c.ngateways, 1);
  const config_gateway *g = &c.gateways[0];
  ck_assert_str_eq(g->name, "main");
  ck_assert_str_eq(g->host, "localhost");
  ck_assert_int_eq(g->port, 9090);
  ck_assert_int_eq(g->transport, CONFIG_BUFFERED);
  ck_assert_str_eq(g->path, "/");
  ck_assert(!g->compact);
  ck_assert_int_eq(g->pool_size, 8);
  ck_assert(!g->lazy_connect);
  ck_assert_int_eq(g->connect_timeout_ms, 5000);
  ck_assert_int_eq(g->request_timeout_ms, 30000);
  ck_assert_int_eq(g->queue_timeout_ms, 5000);
  ck_assert_int_eq(g->max_queue, 4096);
  ck_assert_int_eq(g->idle_refresh_ms, 50000);
  ck_assert_int_eq(g->reconnect_min_ms, 100);
  ck_assert_int_eq(g->reconnect_max_ms, 10000);
  ck_assert_uint_eq(g->max_message_bytes, 268435456);
  ck_assert(g->coalesce);
  ck_assert_int_eq(g->coalesce_max_rows, 100);
  ck_assert_int_eq(g->max_scan_connections, 1);
  config_free(&c);
  ck_assert_ptr_null(c.gateways);
  config_free(&c); /* twice is harmless */
}
END_TEST

START_TEST(test_empty_file_and_bare_sections_give_defaults) {
  config def, c;
  config_defaults(&def);
  const char *texts[] = {"", "# only a comment\n", "[daemon]\n", "[daemon]\n[gateway]\n",
                         "\n  [gateway]  \n\n# x\n"};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    load_ok(texts[i], &c);
    assert_config_eq(&c, &def);
    config_free(&c);
  }
  config_free(&def);
}
END_TEST

static void example_path(char *path, size_t size) {
  const char *top = getenv("top_srcdir");
  snprintf(path, size, "%s/conf/hbpoold.conf", top != NULL ? top : "..");
}

START_TEST(test_example_conf_loads_as_defaults) {
  char path[4096];
  example_path(path, sizeof path);
  config c, def;
  hb_error err = HB_ERROR_INIT;
  int rc = config_load(path, &c, &err);
  ck_assert_msg(rc == 0, "%s: %s", path, err.message);
  config_defaults(&def);
  assert_config_eq(&c, &def);
  config_free(&c);
  config_free(&def);
}
END_TEST

/* The example's commented-out settings ("#key = value", "#[gateway backup]") with the # removed:
 * every default it shows must be valid and be the real default. */
static char *uncommented_example(void) {
  char path[4096];
  example_path(path, sizeof path);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "%s", path);
  char *text = calloc(1, 1 << 20);
  size_t len = 0;
  char line[1024];
  while (fgets(line, sizeof line, f) != NULL) {
    bool setting = line[0] == '#' && ((line[1] >= 'a' && line[1] <= 'z') || line[1] == '[');
    const char *keep = setting ? line + 1 : line;
    ck_assert_uint_lt(len + strlen(keep), 1 << 20);
    memcpy(text + len, keep, strlen(keep));
    len += strlen(keep);
  }
  fclose(f);
  return text;
}

START_TEST(test_example_conf_uncommented_shows_the_defaults) {
  char *text = uncommented_example();
  ck_assert_ptr_nonnull(strstr(text, "\nlisten_socket = /run/hbpool/hbpoold.sock\n"));
  config c, def;
  load_ok(text, &c);
  config_defaults(&def);
  ck_assert_uint_eq(c.ngateways, 2);
  /* The second gateway is the example's [gateway backup]: compare the rest with the defaults. */
  ck_assert_str_eq(c.gateways[1].name, "backup");
  ck_assert_str_eq(c.gateways[1].host, "hbase-thrift-2.example.com");
  c.ngateways = 1;
  assert_config_eq(&c, &def);
  c.ngateways = 2;
  config_free(&c);
  config_free(&def);
  free(text);
}
END_TEST

static const char ALL_KEYS[] = "# every key, none at its default\n"
                               "[daemon]\n"
                               "listen_socket = /tmp/hbpool/test.sock\n"
                               "listen_socket_mode = 0600\n"
                               "listen_tcp = 127.0.0.1:9191\n"
                               "max_clients = 10\n"
                               "max_line_bytes = 4096\n"
                               "max_requests_per_client = 16\n"
                               "max_output_bytes_per_client = 8192\n"
                               "max_buffered_bytes = 65536\n"
                               "client_idle_timeout_ms = 60000\n"
                               "client_output_timeout_ms = 3000\n"
                               "log_level = debug\n"
                               "log_syslog = true\n"
                               "table_prefix = app\n"
                               "table_prefix_separator = :\n"
                               "scan_max_rows = 50\n"
                               "max_cell_bytes = 0\n"
                               "scanner_read_ahead = false\n"
                               "scanner_idle_timeout_ms = 2000\n"
                               "scan_keep_open_ms = 0\n"
                               "balance = ordered\n"
                               "shutdown_timeout_ms = 0\n"
                               "\n"
                               "[gateway]\n"
                               "host = hbase-thrift.example.com\n"
                               "port = 9095\n"
                               "transport = framed\n"
                               "protocol = compact\n"
                               "pool_size = 3\n"
                               "lazy_connect = true\n"
                               "connect_timeout_ms = 1500\n"
                               "request_timeout_ms = 2500\n"
                               "queue_timeout_ms = 700\n"
                               "max_queue = 9\n"
                               "idle_refresh_ms = 20000\n"
                               "reconnect_min_ms = 50\n"
                               "reconnect_max_ms = 400\n"
                               "max_message_bytes = 1048576\n"
                               "coalesce = false\n"
                               "coalesce_max_rows = 7\n"
                               "max_scan_connections = 2\n";

START_TEST(test_every_key_is_parsed) {
  config c;
  load_ok(ALL_KEYS, &c);
  ck_assert_str_eq(c.listen_socket, "/tmp/hbpool/test.sock");
  ck_assert_int_eq(c.listen_socket_mode, 0600);
  ck_assert_str_eq(c.listen_tcp, "127.0.0.1:9191");
  ck_assert_int_eq(c.max_clients, 10);
  ck_assert_uint_eq(c.max_line_bytes, 4096);
  ck_assert_int_eq(c.max_requests_per_client, 16);
  ck_assert_uint_eq(c.max_output_bytes_per_client, 8192);
  ck_assert_uint_eq(c.max_buffered_bytes, 65536);
  ck_assert_int_eq(c.client_idle_timeout_ms, 60000);
  ck_assert_int_eq(c.client_output_timeout_ms, 3000);
  ck_assert_str_eq(c.log_level, "debug");
  ck_assert(c.log_syslog);
  ck_assert_str_eq(c.table_prefix, "app");
  ck_assert_str_eq(c.table_prefix_separator, ":");
  ck_assert_int_eq(c.scan_max_rows, 50);
  ck_assert_uint_eq(c.max_cell_bytes, 0);
  ck_assert(!c.scanner_read_ahead);
  ck_assert_int_eq(c.scanner_idle_timeout_ms, 2000);
  ck_assert_int_eq(c.scan_keep_open_ms, 0);
  ck_assert(c.balance_ordered);
  ck_assert_int_eq(c.shutdown_timeout_ms, 0);
  ck_assert_uint_eq(c.ngateways, 1);
  const config_gateway *g = &c.gateways[0];
  ck_assert_str_eq(g->name, "main");
  ck_assert_str_eq(g->host, "hbase-thrift.example.com");
  ck_assert_int_eq(g->port, 9095);
  ck_assert_int_eq(g->transport, CONFIG_FRAMED);
  ck_assert(g->compact);
  ck_assert_int_eq(g->pool_size, 3);
  ck_assert(g->lazy_connect);
  ck_assert_int_eq(g->connect_timeout_ms, 1500);
  ck_assert_int_eq(g->request_timeout_ms, 2500);
  ck_assert_int_eq(g->queue_timeout_ms, 700);
  ck_assert_int_eq(g->max_queue, 9);
  ck_assert_int_eq(g->idle_refresh_ms, 20000);
  ck_assert_int_eq(g->reconnect_min_ms, 50);
  ck_assert_int_eq(g->reconnect_max_ms, 400);
  ck_assert_uint_eq(g->max_message_bytes, 1048576);
  ck_assert(!g->coalesce);
  ck_assert_int_eq(g->coalesce_max_rows, 7);
  ck_assert_int_eq(g->max_scan_connections, 2);
  config_free(&c);
}
END_TEST

START_TEST(test_values_at_the_edges) {
  config c;
  load_ok("[daemon]\nlisten_socket_mode = 777\nclient_idle_timeout_ms = 2147483647\n"
          "max_line_bytes = 2147483647\nmax_buffered_bytes = 1099511627776\nlisten_tcp = [::1]:1\n"
          "[gateway]\nport = 65535\npool_size = 1024\nreconnect_min_ms = 7\n"
          "reconnect_max_ms = 7\nlazy_connect = false\ntransport = buffered\nprotocol = binary\n",
          &c);
  ck_assert_int_eq(c.listen_socket_mode, 0777);
  ck_assert_int_eq(c.client_idle_timeout_ms, 2147483647);
  ck_assert_uint_eq(c.max_line_bytes, 2147483647u);
  ck_assert_uint_eq(c.max_buffered_bytes, 1099511627776u);
  ck_assert_str_eq(c.listen_tcp, "[::1]:1");
  ck_assert_int_eq(c.gateways[0].port, 65535);
  ck_assert_int_eq(c.gateways[0].pool_size, 1024);
  ck_assert_int_eq(c.gateways[0].reconnect_min_ms, 7);
  ck_assert(c.gateways[0].transport == CONFIG_BUFFERED && !c.gateways[0].compact &&
            !c.gateways[0].lazy_connect);
  config_free(&c);
}
END_TEST

START_TEST(test_whitespace_around_values_and_empty_listen_tcp) {
  config c;
  load_ok("[daemon]\n  log_level   =   warning  \t\nlisten_tcp =\ntable_prefix =   \n"
          "[gateway]\nhost=  10.0.0.7\t\n",
          &c);
  ck_assert_str_eq(c.log_level, "warning");
  ck_assert_ptr_null(c.listen_tcp);
  ck_assert_str_eq(c.table_prefix, "");
  ck_assert_str_eq(c.gateways[0].host, "10.0.0.7");
  config_free(&c);
}
END_TEST

START_TEST(test_several_gateways) {
  config c;
  load_ok("[gateway backup]\nhost = b.example.com\nport = 9091\ntransport = framed\n"
          "[daemon]\nscan_max_rows = 5\n"
          "[gateway]\npool_size = 2\n"
          "[gateway  third-one.x]\nprotocol = compact\n",
          &c);
  ck_assert_int_eq(c.scan_max_rows, 5);
  ck_assert_uint_eq(c.ngateways, 3);
  /* The file's order: the daemon uses the first. */
  ck_assert_str_eq(c.gateways[0].name, "backup");
  ck_assert_str_eq(c.gateways[0].host, "b.example.com");
  ck_assert_int_eq(c.gateways[0].port, 9091);
  ck_assert_int_eq(c.gateways[0].transport, CONFIG_FRAMED);
  ck_assert_int_eq(c.gateways[0].pool_size, 8);
  ck_assert_str_eq(c.gateways[1].name, "main");
  ck_assert_str_eq(c.gateways[1].host, "localhost");
  ck_assert_int_eq(c.gateways[1].pool_size, 2);
  ck_assert_str_eq(c.gateways[2].name, "third-one.x");
  ck_assert(c.gateways[2].compact);
  ck_assert_int_eq(c.gateways[2].transport, CONFIG_BUFFERED);
  config_free(&c);
}
END_TEST

START_TEST(test_failed_load_leaves_previous_config) {
  config c, copy;
  load_ok(ALL_KEYS, &c);
  load_ok(ALL_KEYS, &copy);
  char *socket_ptr = c.listen_socket;
  config_gateway *gateways_ptr = c.gateways;
  hb_error err = HB_ERROR_INIT;
  /* Fails late, after the daemon section and a gateway were already parsed into the temporary. */
  ck_assert_int_eq(config_load_string("[daemon]\nmax_clients = 5\n[gateway]\nport = 1\n"
                                      "[gateway b]\nport = 0\n",
                                      &c, &err),
                   -1);
  ck_assert_ptr_eq(c.listen_socket, socket_ptr);
  ck_assert_ptr_eq(c.gateways, gateways_ptr);
  assert_config_eq(&c, &copy);
  ck_assert_int_eq(config_load("/nonexistent/hbpoold.conf", &c, &err), -1);
  assert_config_eq(&c, &copy);
  hb_error_clear(&err);
  config_free(&c);
  config_free(&copy);
}
END_TEST

START_TEST(test_error_names_the_file) {
  char *path = write_temp("[daemon]\nmax_clients = 0\n");
  config c;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(config_load(path, &c, &err), -1);
  char expect[256];
  snprintf(expect, sizeof expect,
           "%s: [daemon] max_clients: \"0\" is out of range; allowed "
           "1..1048576",
           path);
  ck_assert_str_eq(err.message, expect);
  hb_error_clear(&err);
  unlink(path);
  free(path);
  /* And the same from memory names the source "(string)". */
  expect_error("[daemon]\nmax_clients = 0\n", "(string): [daemon] max_clients: ");
}
END_TEST

START_TEST(test_missing_file) {
  config c;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(config_load("/nonexistent/hbpoold.conf", &c, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_INVALID);
  ck_assert_str_eq(err.message,
                   "/nonexistent/hbpoold.conf: cannot open: No such file or directory");
  hb_error_clear(&err);
}
END_TEST

START_TEST(test_nul_byte) {
  char *path = write_temp("[daemon]\nlog_level = info\n");
  FILE *f = fopen(path, "ab");
  fputc('\0', f);
  fclose(f);
  config c;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(config_load(path, &c, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.message, "contains a NUL byte"));
  hb_error_clear(&err);
  unlink(path);
  free(path);
}
END_TEST

START_TEST(test_syntax_error) {
  expect_error("port = 9090\n[gateway]\n", "(string): ", "does not start with a group");
  expect_error("[daemon]\nthis is not a key\n", "(string): ", "this is not a key");
  expect_error("[daemon]\n; semicolons are not comments\n", "(string): ", "; semicolons");
}
END_TEST

START_TEST(test_unknown_section) {
  expect_error("[deamon]\n",
               "[deamon]: unknown section; allowed: [daemon], [gateway], "
               "[gateway NAME]");
  expect_error("[Gateway]\n", "[Gateway]: unknown section");
  expect_error("[gateways]\n", "[gateways]: unknown section");
}
END_TEST

START_TEST(test_unknown_key) {
  expect_error("[daemon]\nlisten_port = 5\n", "(string): [daemon] listen_port: unknown key");
  expect_error("[gateway x]\nhost[de] = a\n", "[gateway x] host[de]: unknown key");
}
END_TEST

START_TEST(test_key_in_wrong_section) {
  expect_error("[daemon]\nport = 9090\n", "[daemon] port: ", "belongs in a [gateway] section");
  expect_error("[gateway]\nlog_level = info\n", "[gateway] log_level: ", "belongs in [daemon]");
}
END_TEST

START_TEST(test_not_a_number) {
  expect_error("[gateway]\nport = abc\n",
               "[gateway] port: \"abc\" is not a whole number; allowed 1..65535");
  expect_error("[gateway]\npool_size = 1e3\n", "\"1e3\" is not a whole number");
  expect_error("[gateway]\npool_size = 0x10\n", "\"0x10\" is not a whole number");
  expect_error("[gateway]\npool_size = +4\n", "\"+4\" is not a whole number");
  expect_error("[gateway]\npool_size = 4 4\n", "\"4 4\" is not a whole number");
  expect_error("[gateway]\npool_size =\n", "\"\" is not a whole number; allowed 1..1024");
  expect_error("[daemon]\nmax_line_bytes = 64M\n",
               "[daemon] max_line_bytes: \"64M\" is not a "
               "whole number");
}
END_TEST

/* A throttled client waits in the middle of its line for the total to fall: the budget must
 * hold more than one line. */
START_TEST(test_budget_below_two_lines) {
  expect_error("[daemon]\nmax_buffered_bytes = 33554431\n",
               "[daemon] max_buffered_bytes: 33554431 is less than twice max_line_bytes "
               "(16777216); allowed at least 33554432");
  config c;
  load_ok("[daemon]\nmax_buffered_bytes = 33554432\n", &c);
  ck_assert_uint_eq(c.max_buffered_bytes, 33554432);
  config_free(&c);
  expect_error("[daemon]\nmax_buffered_bytes = 1099511627777\n", "out of range");
}
END_TEST

START_TEST(test_inline_comment_is_explained) {
  expect_error("[gateway]\nport = 9090 # the default\n",
               "\"9090 # the default\" is not a whole number",
               "(a # comment must be on a line of its own)");
}
END_TEST

START_TEST(test_not_a_boolean) {
  expect_error("[gateway]\nlazy_connect = yes\n",
               "[gateway] lazy_connect: \"yes\" is not a boolean; allowed: true, false");
}
END_TEST

START_TEST(test_out_of_range) {
  expect_error("[gateway]\nport = 65536\n",
               "[gateway] port: \"65536\" is out of range; "
               "allowed 1..65535");
  expect_error("[gateway]\npool_size = 0\n", "pool_size: \"0\" is out of range; allowed 1..1024");
  expect_error("[gateway]\npool_size = 1025\n", "allowed 1..1024");
  expect_error("[daemon]\nscanner_idle_timeout_ms = 999\n", "allowed 1000..86400000");
  expect_error("[gateway]\ncoalesce_max_rows = 0\n",
               "coalesce_max_rows: \"0\" is out of range; allowed 1..10000");
  expect_error("[gateway]\nmax_message_bytes = 2147483648\n",
               "max_message_bytes: \"2147483648\" is out of range; allowed 1024..2147483647");
}
END_TEST

START_TEST(test_negative) {
  expect_error("[daemon]\nclient_idle_timeout_ms = -1\n",
               "client_idle_timeout_ms: \"-1\" is out of range; allowed 0..2147483647");
  expect_error("[daemon]\nmax_line_bytes = -4096\n", "\"-4096\" is out of range");
}
END_TEST

START_TEST(test_overflow) {
  expect_error("[gateway]\nrequest_timeout_ms = 99999999999999999999999999\n",
               "\"99999999999999999999999999\" is out of range; allowed 1..3600000");
  expect_error("[gateway]\nrequest_timeout_ms = -99999999999999999999999999\n", "is out of range");
  /* Would wrap to a small positive int if cast without a range check. */
  expect_error("[gateway]\nport = 4294967297\n", "\"4294967297\" is out of range");
}
END_TEST

START_TEST(test_socket_mode) {
  expect_error("[daemon]\nlisten_socket_mode = 0999\n",
               "[daemon] listen_socket_mode: \"0999\" "
               "is not an octal number; allowed 0000..0777 (octal)");
  expect_error("[daemon]\nlisten_socket_mode = 01777\n",
               "\"01777\" is out of range; allowed "
               "0000..0777 (octal)");
}
END_TEST

START_TEST(test_bad_choice) {
  expect_error("[daemon]\nlog_level = verbose\n",
               "[daemon] log_level: \"verbose\" is not a "
               "valid value; allowed: error, warning, info, debug");
  expect_error("[daemon]\nlog_level = INFO\n", "\"INFO\" is not a valid value");
  expect_error("[gateway]\ntransport = websocket\n",
               "[gateway] transport: \"websocket\" is not a valid value; allowed: buffered, "
               "framed, http");
  expect_error("[gateway]\nprotocol = json\n",
               "[gateway] protocol: \"json\" is not a valid value; allowed: binary, compact");
  expect_error("[daemon]\nbalance = round_robin\n",
               "[daemon] balance: \"round_robin\" is not a valid value; allowed: least_busy, "
               "ordered");
}
END_TEST

START_TEST(test_listen_tcp_not_loopback) {
  expect_error("[daemon]\nlisten_tcp = 0.0.0.0:9191\n",
               "[daemon] listen_tcp: \"0.0.0.0\" is "
               "not a loopback address",
               "only 127.0.0.0/8 and [::1] are allowed");
  expect_error("[daemon]\nlisten_tcp = 10.1.2.3:9191\n", "\"10.1.2.3\" is not a loopback");
  expect_error("[daemon]\nlisten_tcp = [::]:9191\n", "\"::\" is not a loopback");
  expect_error("[daemon]\nlisten_tcp = localhost:9191\n", "\"localhost\" is not a loopback");
}
END_TEST

START_TEST(test_listen_tcp_malformed) {
  expect_error("[daemon]\nlisten_tcp = 9191\n",
               "[daemon] listen_tcp: \"9191\" is not "
               "ADDRESS:PORT; allowed 127.0.0.1:PORT");
  expect_error("[daemon]\nlisten_tcp = ::1:9191\n", "\"::1\" is not a loopback address");
  expect_error("[daemon]\nlisten_tcp = [::1]9191\n", "is not ADDRESS:PORT");
  expect_error("[daemon]\nlisten_tcp = 127.0.0.1:0\n", "port \"0\" is not valid; allowed 1..65535");
  expect_error("[daemon]\nlisten_tcp = 127.0.0.1:\n", "port \"\" is not valid");
  expect_error("[daemon]\nlisten_tcp = 127.0.0.1:65536\n", "port \"65536\" is not valid");
}
END_TEST

START_TEST(test_listen_tcp_split) {
  char host[64];
  int port = 0;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(config_listen_tcp_split("127.0.0.1:9191", host, sizeof host, &port, &err), 0);
  ck_assert_str_eq(host, "127.0.0.1");
  ck_assert_int_eq(port, 9191);
  ck_assert_int_eq(config_listen_tcp_split("[::1]:80", host, sizeof host, &port, &err), 0);
  ck_assert_str_eq(host, "::1");
  ck_assert_int_eq(port, 80);
  ck_assert_int_eq(config_listen_tcp_split("127.8.9.10:1", host, sizeof host, &port, &err), 0);
  ck_assert_str_eq(host, "127.8.9.10");
  ck_assert_int_eq(config_listen_tcp_split("127.0.0.1:9191", host, 4, &port, &err), -1);
  ck_assert_int_eq(config_listen_tcp_split("192.168.0.1:1", host, sizeof host, &port, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_INVALID);
  hb_error_clear(&err);
}
END_TEST

START_TEST(test_listen_socket_not_absolute) {
  expect_error("[daemon]\nlisten_socket = hbpoold.sock\n",
               "[daemon] listen_socket: "
               "\"hbpoold.sock\" is not an absolute path; allowed a path starting with /");
  expect_error("[daemon]\nlisten_socket =\n", "\"\" is not an absolute path");
  expect_error("[daemon]\nlisten_socket = /run/a\\nb\n",
               "[daemon] listen_socket: contains a "
               "control character");
}
END_TEST

START_TEST(test_listen_socket_too_long) {
  char text[512];
  snprintf(text, sizeof text, "[daemon]\nlisten_socket = /%0120d\n", 0);
  expect_error(text,
               "[daemon] listen_socket: is 121 bytes long; a Unix socket path allows at "
               "most 107");
}
END_TEST

START_TEST(test_http_transport_and_path) {
  config c;
  load_ok("[gateway]\ntransport = http\npath = /hbase/thrift\n", &c);
  ck_assert_int_eq(c.gateways[0].transport, CONFIG_HTTP);
  ck_assert_str_eq(c.gateways[0].path, "/hbase/thrift");
  ck_assert_str_eq(config_transport_name(c.gateways[0].transport), "http");
  config_free(&c);
  expect_error("[gateway]\npath = hbase\n", "[gateway] path: \"hbase\" does not start with /");
  expect_error("[gateway]\npath = /a b\n", "contains a space");
}
END_TEST

START_TEST(test_bad_host) {
  expect_error("[gateway]\nhost =\n", "[gateway] host: is empty; allowed a host name or an IP");
  expect_error("[gateway]\nhost = hbase:9090\n",
               "\"hbase:9090\" looks like HOST:PORT; put the "
               "port in the port key");
  expect_error("[gateway]\nhost = a b\n", "\"a b\" contains a space");
  expect_error("[gateway]\nhost = [::1]\n", "write an IPv6 address without brackets");
}
END_TEST

START_TEST(test_ipv6_host_accepted) {
  config c;
  load_ok("[gateway]\nhost = ::1\n", &c);
  ck_assert_str_eq(c.gateways[0].host, "::1");
  config_free(&c);
}
END_TEST

START_TEST(test_bad_table_prefix) {
  expect_error("[daemon]\ntable_prefix = my app\n",
               "[daemon] table_prefix: \"my app\" has a "
               "character HBase does not allow in a table name; allowed: letters, digits");
  expect_error("[daemon]\ntable_prefix_separator = /\n",
               "[daemon] table_prefix_separator: "
               "\"/\" has a character HBase does not allow");
}
END_TEST

START_TEST(test_duplicate_gateway_names) {
  expect_error("[gateway]\n[gateway main]\n",
               "(string): [gateway main]: gateway name \"main\" "
               "is used by two sections ([gateway] is named \"main\"); give each gateway a name");
  expect_error("[gateway a]\n[gateway  a]\n",
               "[gateway  a]: gateway name \"a\" is used by two "
               "sections; give");
}
END_TEST

START_TEST(test_duplicate_section) {
  expect_error("[daemon]\nmax_clients = 5\n[gateway]\n[daemon]\nscan_max_rows = 5\n",
               "(string): [daemon]: section appears twice; write it once");
  expect_error("[gateway b]\n  [gateway b]\n", "[gateway b]: section appears twice");
}
END_TEST

START_TEST(test_duplicate_key) {
  expect_error("[gateway]\nport = 1\nport = 2\n",
               "(string): [gateway] port: set twice in this section; set it once");
}
END_TEST

START_TEST(test_reconnect_min_above_max) {
  expect_error("[gateway x]\nreconnect_min_ms = 20000\n",
               "[gateway x] reconnect_min_ms: 20000 "
               "is greater than reconnect_max_ms (10000); allowed at most reconnect_max_ms");
  expect_error("[gateway]\nreconnect_min_ms = 500\nreconnect_max_ms = 499\n",
               "500 is greater than reconnect_max_ms (499)");
}
END_TEST

START_TEST(test_bad_gateway_name) {
  expect_error("[gateway a/b]\n",
               "[gateway a/b]: \"a/b\" is not a valid gateway name; allowed: "
               "1 to 64 letters, digits, _ - and .");
  expect_error("[gateway ]\n", "\"\" is not a valid gateway name");
}
END_TEST

START_TEST(test_bad_string_encoding) {
  expect_error("[daemon]\ntable_prefix = a\\qb\n",
               "(string): [daemon] table_prefix: the "
               "value has an invalid backslash escape; allowed escapes: \\\\ \\s");
  expect_error("[daemon]\ntable_prefix = \xff\n",
               "(string): [daemon] table_prefix: the value is not valid UTF-8");
}
END_TEST

/* [access]: rules in the file's order, names resolved to ids, and the first match applies. */
START_TEST(test_access_rules) {
  config c;
  load_ok("[access]\n"
          "uid:0 = allow\n"
          "user:nobody = deny\n"
          "gid:54010 = read-only tables=app_\n"
          "group:daemon = allow   tables=d_\n"
          "tcp = read-only\n"
          "uid:54002 = allow tables=app_\n",
          &c);
  ck_assert(c.access_rules);
  ck_assert_uint_eq(c.naccess, 6);
  ck_assert_int_eq(c.access[1].who, CONFIG_ACCESS_UID);
  ck_assert_uint_eq(c.access[1].id, 65534); /* Debian's nobody */
  ck_assert_int_eq(c.access[1].verdict, CONFIG_ACCESS_DENY);
  ck_assert_ptr_null(c.access[1].tables);
  ck_assert_int_eq(c.access[3].who, CONFIG_ACCESS_GID);
  ck_assert_uint_eq(c.access[3].id, 1);
  ck_assert_str_eq(c.access[3].tables, "d_");
  ck_assert_str_eq(c.access[3].text, "group:daemon = allow   tables=d_");
  access_peer root = {.uid = 0, .gid = 0}, nobody = {.uid = 65534, .gid = 65534};
  gid_t member_of[] = {7, 54010};
  access_peer grouped = {.uid = 54004, .gid = 100, .groups = member_of, .ngroups = 2};
  access_peer stranger = {.uid = 54003, .gid = 54003}, tcp = {.tcp = true, .uid = (uid_t)-1};
  access_peer confined = {.uid = 54002, .gid = 1}; /* gid 1: the group rule comes first */
  ck_assert_ptr_eq(access_rule_for(&c, &root), &c.access[0]);
  ck_assert_ptr_eq(access_rule_for(&c, &nobody), &c.access[1]);
  ck_assert_ptr_eq(access_rule_for(&c, &grouped), &c.access[2]);
  ck_assert_ptr_eq(access_rule_for(&c, &stranger), &access_no_rule);
  ck_assert_int_eq(access_no_rule.verdict, CONFIG_ACCESS_DENY);
  ck_assert_ptr_eq(access_rule_for(&c, &tcp), &c.access[4]);
  ck_assert_ptr_eq(access_rule_for(&c, &confined), &c.access[3]);
  ck_assert(access_table_allowed(&c.access[2], "app_t"));
  ck_assert(!access_table_allowed(&c.access[2], "ap"));
  ck_assert(!access_table_allowed(&c.access[2], "other_app_t"));
  ck_assert(access_table_allowed(&c.access[0], "anything"));
  config_free(&c);
  /* Without the section anything goes; an empty section denies everyone. */
  load_ok("[daemon]\n", &c);
  ck_assert_ptr_null(access_rule_for(&c, &stranger));
  config_free(&c);
  load_ok("[access]\n", &c);
  ck_assert_ptr_eq(access_rule_for(&c, &root), &access_no_rule);
  config_free(&c);
}
END_TEST

START_TEST(test_access_errors) {
  expect_error("[access]\nuser:no-such-user-here = allow\n",
               "(string): [access] user:no-such-user-here: no user named "
               "\"no-such-user-here\" on this host");
  expect_error("[access]\ngroup:no-such-group = allow\n", "no group named \"no-such-group\"");
  expect_error("[access]\nuid:abc = allow\n", "[access] uid:abc: \"abc\" is not a numeric id");
  expect_error("[access]\nuid:-1 = allow\n", "\"-1\" is not a numeric id");
  expect_error("[access]\nhost:x = allow\n",
               "[access] host:x: unknown kind of rule; allowed: uid:N, gid:N, user:NAME, "
               "group:NAME, tcp, *");
  expect_error("[access]\nuid:5 = maybe\n",
               "[access] uid:5: \"maybe\" is not a grant; allowed: allow, read-only, deny");
  expect_error("[access]\nuid:5 =\n", "[access] uid:5: empty; allowed: allow, read-only or deny");
  expect_error("[access]\nuid:5 = deny tables=a\n",
               "unexpected \"tables=a\"; allowed after allow or read-only: tables=PREFIX");
  expect_error("[access]\nuid:5 = allow tables=\n", "unexpected \"tables=\"");
  expect_error("[access]\nuid:5 = allow tables=a tables=b\n", "unexpected \"tables=b\"");
  expect_error("[access]\nuid:5 = allow\nuid:5 = deny\n",
               "[access] uid:5: set twice in this section; set it once");
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_empty_file_and_bare_sections_give_defaults);
  tcase_add_test(tc, test_example_conf_loads_as_defaults);
  tcase_add_test(tc, test_example_conf_uncommented_shows_the_defaults);
  tcase_add_test(tc, test_every_key_is_parsed);
  tcase_add_test(tc, test_values_at_the_edges);
  tcase_add_test(tc, test_whitespace_around_values_and_empty_listen_tcp);
  tcase_add_test(tc, test_several_gateways);
  tcase_add_test(tc, test_failed_load_leaves_previous_config);
  tcase_add_test(tc, test_error_names_the_file);
  tcase_add_test(tc, test_missing_file);
  tcase_add_test(tc, test_nul_byte);
  tcase_add_test(tc, test_syntax_error);
  tcase_add_test(tc, test_unknown_section);
  tcase_add_test(tc, test_unknown_key);
  tcase_add_test(tc, test_key_in_wrong_section);
  tcase_add_test(tc, test_not_a_number);
  tcase_add_test(tc, test_budget_below_two_lines);
  tcase_add_test(tc, test_inline_comment_is_explained);
  tcase_add_test(tc, test_not_a_boolean);
  tcase_add_test(tc, test_out_of_range);
  tcase_add_test(tc, test_negative);
  tcase_add_test(tc, test_overflow);
  tcase_add_test(tc, test_socket_mode);
  tcase_add_test(tc, test_bad_choice);
  tcase_add_test(tc, test_listen_tcp_not_loopback);
  tcase_add_test(tc, test_listen_tcp_malformed);
  tcase_add_test(tc, test_listen_tcp_split);
  tcase_add_test(tc, test_listen_socket_not_absolute);
  tcase_add_test(tc, test_listen_socket_too_long);
  tcase_add_test(tc, test_http_transport_and_path);
  tcase_add_test(tc, test_bad_host);
  tcase_add_test(tc, test_ipv6_host_accepted);
  tcase_add_test(tc, test_bad_table_prefix);
  tcase_add_test(tc, test_duplicate_gateway_names);
  tcase_add_test(tc, test_duplicate_section);
  tcase_add_test(tc, test_duplicate_key);
  tcase_add_test(tc, test_reconnect_min_above_max);
  tcase_add_test(tc, test_bad_gateway_name);
  tcase_add_test(tc, test_bad_string_encoding);
  tcase_add_test(tc, test_access_rules);
  tcase_add_test(tc, test_access_errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(config_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
