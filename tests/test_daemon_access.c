/* End-to-end tests of [access]: clients run as other users (real uids and groups, set in child
 * processes of this root-run test) and over TCP, against a daemon whose rules allow, confine,
 * make read-only and deny them; attempts to leave a confinement are refused; a reload revokes
 * access on a connected client's next request; denials are counted and logged once per client. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define FORBIDDEN -32012
#define READER_UID 54001   /* uid rule: read-only */
#define CONFINED_UID 54002 /* uid rule: allow, tables under <prefix>_app_ */
#define STRANGER_UID 54003 /* no rule matches */
#define MEMBER_UID 54004   /* in group MEMBER_GID (supplementary): read-only */
#define MEMBER_GID 54010
#define NOBODY_UID 65534 /* user:nobody = deny */

static hbc_options g_gateway;
static dh_daemon g_d;
static char g_prefix[32];  /* table_prefix */
static char g_log[128];    /* the daemon's stderr */
static int g_tcp_port;     /* listen_tcp: "tcp = read-only" */
static char g_rules[1024]; /* [access] as started */

/* The [access] rules, with the confined user's grant. */
static void make_rules(char *out, size_t size, const char *confined) {
  snprintf(out, size,
           "uid:0 = allow\n"
           "user:nobody = deny\n"
           "uid:%d = read-only\n"
           "uid:%d = %s\n"
           "gid:%d = read-only\n"
           "tcp = read-only\n",
           READER_UID, CONFINED_UID, confined, MEMBER_GID);
}

/* ---------------------------------------------------------------------------------------------
 * A client in a child process running as another user: it sends the lines the test writes to
 * it and writes back each reply line. */

typedef struct remote {
  pid_t pid;
  int to;     /* request lines */
  FILE *from; /* reply lines */
} remote;

static void remote_main(int in, int out, uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
                        bool tcp) {
  for (int fd = 3; fd < 1024; fd++) /* other remotes' pipes: their EOF must not wait on us */
    if (fd != in && fd != out)
      close(fd);
  if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
    _exit(3);
  dh_conn *c = tcp ? dh_try_connect_tcp(g_tcp_port) : dh_try_connect(&g_d);
  FILE *f = fdopen(in, "r");
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    char *reply = c != NULL && dh_write(c, line, strlen(line)) == 0 ? dh_line(c, 30000) : NULL;
    dprintf(out, "%s\n", reply != NULL ? reply : "{\"no_reply\":true}");
    free(reply);
  }
  _exit(0);
}

static remote *remote_start_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, bool tcp) {
  int req[2], rep[2];
  ck_assert_int_eq(pipe(req), 0);
  ck_assert_int_eq(pipe(rep), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(req[1]);
    close(rep[0]);
    remote_main(req[0], rep[1], uid, gid, groups, ngroups, tcp);
  }
  close(req[0]);
  close(rep[1]);
  remote *r = calloc(1, sizeof *r);
  r->pid = pid;
  r->to = req[1];
  r->from = fdopen(rep[0], "r");
  return r;
}

static remote *remote_start(uid_t uid) {
  return remote_start_as(uid, uid, NULL, 0, false);
}

/* One request on the remote client's connection: its reply object. */
static json_t *remote_call(remote *r, const char *method, json_t *params) {
  static json_int_t id;
  char *line = dh_request(json_integer(++id), method, params);
  ck_assert_int_eq(write(r->to, line, strlen(line)), (ssize_t)strlen(line));
  free(line);
  char *reply = NULL;
  size_t cap = 0;
  ck_assert_msg(getline(&reply, &cap, r->from) > 0, "the remote client (pid %d) ended",
                (int)r->pid);
  json_error_t je;
  json_t *v = json_loads(reply, 0, &je);
  ck_assert_msg(v != NULL && json_object_get(v, "no_reply") == NULL,
                "%s: no reply for the remote client: %s", method, reply);
  free(reply);
  return v;
}

static void remote_stop(remote *r) {
  close(r->to);
  fclose(r->from);
  int status;
  waitpid(r->pid, &status, 0);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the remote client exited with %d (3: it could not become its user)", status);
  free(r);
}

/* The call succeeds: its result (a new reference). */
static json_t *ok(remote *r, const char *method, json_t *params) {
  json_t *reply = remote_call(r, method, params);
  json_t *res = dh_result(reply, method);
  return res;
}

/* The call is refused with forbidden, whose message contains needle. */
static void forbidden(remote *r, const char *method, json_t *params, const char *needle) {
  json_t *e = dh_error(remote_call(r, method, params), method, FORBIDDEN);
  const char *msg = json_string_value(json_object_get(e, "message"));
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "error")),
                   "forbidden");
  ck_assert_msg(msg != NULL && strstr(msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"",
                method, msg, needle);
  json_decref(e);
}

static json_t *put_params(const char *table, const char *row) {
  return json_pack("{s:s,s:s,s:{s:s}}", "table", table, "row", row, "data", "cf:a", row);
}

static json_t *table_params(const char *table) {
  return json_pack("{s:s}", "table", table);
}

/* The row as root reads it: its cf:a, or NULL (a string it owns). */
static char *stored(const char *table, const char *row) {
  json_t *res = dh_ok(&g_d, "row", json_pack("{s:s,s:s}", "table", table, "row", row));
  const char *v = json_string_value(json_object_get(res, "cf:a"));
  char *out = v != NULL ? strdup(v) : NULL;
  json_decref(res);
  return out;
}

static long denied_count(void) {
  json_t *res = dh_ok(&g_d, "stats", NULL);
  long n = (long)json_integer_value(
    json_object_get(json_object_get(res, "clients"), "access_denied"));
  json_decref(res);
  return n;
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

/* A confined client uses its tables (data and admin) and sees only them. */
START_TEST(test_confined_client_uses_its_tables) {
  remote *r = remote_start(CONFINED_UID);
  json_decref(ok(r, "put", put_params("app_t", "c1")));
  json_t *row = ok(r, "row", json_pack("{s:s,s:s}", "table", "app_t", "row", "c1"));
  ck_assert_str_eq(json_string_value(json_object_get(row, "cf:a")), "c1");
  json_decref(row);
  json_decref(
    ok(r, "create_table", json_pack("{s:s,s:{s:{}}}", "table", "app_new", "families", "cf")));
  json_t *tables = ok(r, "tables", NULL);
  ck_assert_uint_eq(json_array_size(tables), 2); /* app_new, app_t: not "other" */
  ck_assert_str_eq(json_string_value(json_array_get(tables, 0)), "app_new");
  ck_assert_str_eq(json_string_value(json_array_get(tables, 1)), "app_t");
  json_decref(tables);
  tables = ok(r, "tables", json_pack("{s:b}", "use_prefix", 0));
  ck_assert_uint_eq(json_array_size(tables), 2); /* full names, still only its own */
  json_decref(tables);
  json_decref(ok(r, "delete_table", json_pack("{s:s,s:b}", "table", "app_new", "disable", 1)));
  char full[64];
  snprintf(full, sizeof full, "%s_app_t", g_prefix);
  json_decref(ok(r, "put",
                 json_pack("{s:s,s:b,s:s,s:{s:s}}", "table", full, "use_prefix", 0, "row", "c2",
                           "data", "cf:a", "c2")));
  remote_stop(r);
  char *v = stored("app_t", "c2");
  ck_assert_str_eq(v, "c2");
  free(v);
}
END_TEST

/* Every way out of the confinement that a table parameter offers is refused, and nothing is
 * written to the table outside it. */
START_TEST(test_confinement_escapes_refused) {
  remote *r = remote_start(CONFINED_UID);
  char full_other[64], other_then_app[64];
  snprintf(full_other, sizeof full_other, "%s_other", g_prefix);
  snprintf(other_then_app, sizeof other_then_app, "%s_other_app_t", g_prefix);
  forbidden(r, "put", put_params("other", "e1"), "outside the tables [access] allows");
  forbidden(r, "put", put_params("other", "e1"), "uid:54002 = allow tables=");
  /* use_prefix false: the full name decides, whatever the client writes */
  forbidden(r, "put",
            json_pack("{s:s,s:b,s:s,s:{s:s}}", "table", full_other, "use_prefix", 0, "row", "e2",
                      "data", "cf:a", "x"),
            full_other);
  forbidden(r, "row", json_pack("{s:s,s:b,s:s}", "table", "app_t", "use_prefix", 0, "row", "e3"),
            "\"app_t\"");
  /* the separator: names that contain the allowed start later on */
  forbidden(r, "put", put_params("other_app_t", "e4"), other_then_app);
  forbidden(r, "put", put_params("_app_t", "e5"), "outside");
  forbidden(r, "put", put_params("../other", "e6"), "outside");
  /* base64 encodes rows, columns and values, never table names: a name in base64 is a name */
  forbidden(r, "put",
            json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", "b3RoZXI=", "encoding", "base64", "row",
                      "ZTc=", "data", "Y2Y6YQ==", "eA=="),
            "b3RoZXI=");
  json_decref(ok(r, "put",
                 json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", "app_t", "encoding", "base64", "row",
                           "ZTc=", "data", "Y2Y6YQ==", "ZTc=")));
  /* every method that names a table */
  forbidden(r, "row", json_pack("{s:s,s:s}", "table", "other", "row", "seed"), "outside");
  forbidden(r, "rows", json_pack("{s:s,s:[s]}", "table", "other", "rows", "seed"), "outside");
  forbidden(r, "cells",
            json_pack("{s:s,s:s,s:s}", "table", "other", "row", "seed", "column", "cf:a"),
            "outside");
  forbidden(r, "scan", table_params("other"), "outside");
  forbidden(r, "scanner_open", table_params("other"), "outside");
  forbidden(r, "counter_inc",
            json_pack("{s:s,s:s,s:s}", "table", "other", "row", "n", "column", "cf:n"), "outside");
  forbidden(r, "batch",
            json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}]}", "table", "other", "operations", "op", "put",
                      "row", "e8", "data", "cf:a", "x"),
            "outside");
  forbidden(r, "delete_table", json_pack("{s:s,s:b}", "table", "other", "disable", 1), "outside");
  forbidden(r, "create_table", json_pack("{s:s,s:{s:{}}}", "table", "evil", "families", "cf"),
            "outside");
  forbidden(r, "families", table_params("other"), "outside");
  remote_stop(r);
  const char *rows[] = {"e1", "e2", "e4", "e5", "e6", "e7", "e8"};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char *v = stored("other", rows[i]);
    ck_assert_msg(v == NULL, "row %s is in the table outside the confinement", rows[i]);
  }
  char *v = stored("other", "seed");
  ck_assert_str_eq(v, "seed"); /* the table is there, and was only read by root */
  free(v);
}
END_TEST

/* Read-only, by uid and by a supplementary group: reads run, every write and admin call is
 * refused. */
START_TEST(test_read_only_clients) {
  gid_t groups[] = {MEMBER_GID};
  remote *rs[] = {remote_start(READER_UID),
                  remote_start_as(MEMBER_UID, MEMBER_UID, groups, 1, false)};
  for (int i = 0; i < 2; i++) {
    remote *r = rs[i];
    json_t *row = ok(r, "row", json_pack("{s:s,s:s}", "table", "other", "row", "seed"));
    ck_assert_str_eq(json_string_value(json_object_get(row, "cf:a")), "seed");
    json_decref(row);
    json_decref(ok(r, "scan", table_params("other")));
    json_decref(ok(r, "tables", NULL));
    json_t *sc = ok(r, "scanner_open", table_params("other"));
    json_t *id = json_object_get(sc, "scanner");
    json_decref(ok(r, "scanner_next", json_pack("{s:O}", "scanner", id)));
    json_decref(ok(r, "scanner_close", json_pack("{s:O}", "scanner", id)));
    json_decref(sc);
    forbidden(r, "put", put_params("other", "ro"), "read only, and put is not a read");
    forbidden(r, "delete", json_pack("{s:s,s:s}", "table", "other", "row", "seed"), "delete");
    forbidden(r, "counter_inc",
              json_pack("{s:s,s:s,s:s}", "table", "other", "row", "n", "column", "cf:n"),
              "counter_inc");
    /* counter_get creates a missing counter: a write */
    forbidden(r, "counter_get",
              json_pack("{s:s,s:s,s:s}", "table", "other", "row", "n", "column", "cf:n"),
              "counter_get");
    forbidden(r, "batch",
              json_pack("{s:s,s:[{s:s,s:s}]}", "table", "other", "operations", "op", "delete",
                        "row", "seed"),
              "batch");
    forbidden(r, "create_table", json_pack("{s:s,s:{s:{}}}", "table", "ro", "families", "cf"),
              "create_table");
    forbidden(r, "disable_table", table_params("other"), "disable_table");
    forbidden(r, "delete_table", json_pack("{s:s,s:b}", "table", "other", "disable", 1),
              i == 0 ? "uid:54001 = read-only" : "gid:54010 = read-only");
    remote_stop(r);
  }
  char *v = stored("other", "seed");
  ck_assert_str_eq(v, "seed");
  free(v);
  ck_assert_ptr_null(stored("other", "ro"));
}
END_TEST

/* Denied by a user rule, and by no rule at all: every method, ping included. */
START_TEST(test_denied_clients) {
  remote *nobody = remote_start(NOBODY_UID), *stranger = remote_start(STRANGER_UID);
  forbidden(nobody, "ping", NULL, "[access] denies this client (user:nobody = deny)");
  forbidden(nobody, "put", put_params("other", "d1"), "denies");
  forbidden(stranger, "ping", NULL, "(no rule matches: denied)");
  forbidden(stranger, "tables", NULL, "no rule matches");
  remote_stop(nobody);
  remote_stop(stranger);
  ck_assert_ptr_null(stored("other", "d1"));
}
END_TEST

/* A client over TCP has no credentials: the "tcp" rule applies. */
START_TEST(test_tcp_client) {
  remote *r = remote_start_as(0, 0, NULL, 0, true); /* root, but over TCP */
  json_decref(ok(r, "row", json_pack("{s:s,s:s}", "table", "other", "row", "seed")));
  forbidden(r, "put", put_params("other", "t1"), "tcp = read-only");
  remote_stop(r);
}
END_TEST

/* Refusals are counted one by one, and logged once per client with its pid and uid. */
START_TEST(test_denials_counted_and_logged_once) {
  long before = denied_count();
  remote *r = remote_start(STRANGER_UID);
  for (int i = 0; i < 5; i++)
    forbidden(r, "ping", NULL, "no rule matches");
  int pid = (int)r->pid;
  remote_stop(r);
  ck_assert_int_eq(denied_count() - before, 5);
  FILE *f = fopen(g_log, "r");
  ck_assert_ptr_nonnull(f);
  char line[1024], needle[64];
  snprintf(needle, sizeof needle, "(pid %d uid %d): a request was forbidden", pid, STRANGER_UID);
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL)
    n += strstr(line, needle) != NULL;
  fclose(f);
  ck_assert_int_eq(n, 1);
}
END_TEST

/* Writes the [access] rules into the daemon's config and reloads it; returns once a call shows
 * the new rules in force (root keeps access in every version). */
static void reload_rules(const char *rules) {
  FILE *f = fopen(g_d.conf, "r+");
  ck_assert_ptr_nonnull(f);
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  char *access = strstr(text, "[access]");
  ck_assert_ptr_nonnull(access);
  snprintf(access, sizeof text - (size_t)(access - text), "[access]\n%s", rules);
  ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
  fputs(text, f);
  ck_assert_int_eq(ftruncate(fileno(f), ftell(f)), 0);
  fclose(f);
  ck_assert_int_eq(kill(g_d.pid, SIGHUP), 0);
}

/* A reload that revokes access applies to a connected client's next request. */
START_TEST(test_reload_revokes_access) {
  remote *r = remote_start(CONFINED_UID);
  json_decref(ok(r, "put", put_params("app_t", "r1")));
  char rules[1200];
  make_rules(rules, sizeof rules, "deny");
  reload_rules(rules);
  bool revoked = false;
  for (int i = 0; i < 100 && !revoked; i++) {
    json_t *reply = remote_call(r, "ping", NULL);
    json_t *err = json_object_get(reply, "error");
    revoked = json_integer_value(json_object_get(err, "code")) == FORBIDDEN;
    json_decref(reply);
    if (!revoked)
      sleep_ms(50);
  }
  ck_assert_msg(revoked, "the connected client kept its access after the reload");
  forbidden(r, "put", put_params("app_t", "r2"), "uid:54002 = deny");
  reload_rules(g_rules);
  bool restored = false;
  for (int i = 0; i < 100 && !restored; i++) {
    json_t *reply = remote_call(r, "ping", NULL);
    restored = json_object_get(reply, "result") != NULL;
    json_decref(reply);
    if (!restored)
      sleep_ms(50);
  }
  ck_assert_msg(restored, "the reload that gave access back did not apply");
  remote_stop(r);
  ck_assert_ptr_null(stored("app_t", "r2"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemon, started outside any test: rules for root (this process) and for the test users. */

static bool start_daemon(void) {
  g_tcp_port = dh_free_tcp_port();
  snprintf(g_prefix, sizeof g_prefix, "acc%d", (int)getpid());
  char confined[64];
  snprintf(confined, sizeof confined, "allow tables=%s_app_", g_prefix);
  make_rules(g_rules, sizeof g_rules, confined);
  char keys[256], gateway_keys[1400];
  snprintf(keys, sizeof keys,
           "table_prefix = %s\nlisten_socket_mode = 0666\nlisten_tcp = 127.0.0.1:%d\n", g_prefix,
           g_tcp_port);
  /* [access] after the gateway's keys: dh_start writes them last */
  snprintf(gateway_keys, sizeof gateway_keys, "pool_size = 2\n[access]\n%s", g_rules);
  snprintf(g_log, sizeof g_log, "/tmp/hbpool-access-%d.log", (int)getpid());
  int log_fd = open(g_log, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  int saved = dup(2);
  dup2(log_fd, 2); /* the daemon's stderr, for the denial log lines */
  bool started = dh_start(&g_d, "test_daemon_access", &g_gateway, keys, gateway_keys);
  dup2(saved, 2);
  close(saved);
  close(log_fd);
  /* The other users reach the socket through its directory. */
  return started && chmod(g_d.dir, 0755) == 0;
}

static bool make_tables(void) {
  const char *names[] = {"app_t", "other"};
  for (int i = 0; i < 2; i++)
    if (!dh_try_ok(&g_d, "test_daemon_access", "create_table",
                   json_pack("{s:s,s:{s:{}}}", "table", names[i], "families", "cf")))
      return false;
  return dh_try_ok(&g_d, "test_daemon_access", "put", put_params("other", "seed"));
}

static void drop_tables(void) {
  const char *names[] = {"app_t", "other", "app_new"};
  for (int i = 0; i < 3; i++)
    json_decref(
      dh_try_call(&g_d, "delete_table", json_pack("{s:s,s:b}", "table", names[i], "disable", 1)));
}

static Suite *access_suite(void) {
  Suite *s = suite_create("hbpoold access");
  TCase *tc = tcase_create("access");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_confined_client_uses_its_tables);
  tcase_add_test(tc, test_confinement_escapes_refused);
  tcase_add_test(tc, test_read_only_clients);
  tcase_add_test(tc, test_denied_clients);
  tcase_add_test(tc, test_tcp_client);
  tcase_add_test(tc, test_denials_counted_and_logged_once);
  tcase_add_test(tc, test_reload_revokes_access);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_daemon_access: needs root, to run its clients as other users\n");
    return 1;
  }
  if (!gateway_env_load(&g_gateway, "test_daemon_access"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  int failed = 1;
  if (start_daemon() && make_tables()) {
    SRunner *sr = srunner_create(access_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  } else {
    fprintf(stderr, "test_daemon_access: no daemon with its tables; its log: %s\n", g_log);
  }
  if (g_d.pid > 0)
    drop_tables();
  int rc = g_d.pid > 0 ? dh_stop(&g_d) : 0;
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  unlink(g_log);
  return failed == 0 && rc == 0 ? 0 : 1;
}
