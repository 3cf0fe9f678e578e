/* End-to-end tests of hbpoold as a systemd service: socket activation (an inherited listening
 * socket), sd_notify messages (READY, STATUS, RELOADING, STOPPING, WATCHDOG) read from a
 * NOTIFY_SOCKET of the test's, SIGHUP reloads under load (also changing the table prefix while
 * tables calls run), and a graceful stop under load that loses no acknowledged write. The daemon
 * talks to a real gateway. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define WRITERS 50
#define WATCHDOG_USEC 400000

static hbc_options g_gateway;
static char g_prefix[32];
static const char *g_table = "t";

/* ---------------------------------------------------------------------------------------------
 * A daemon started as systemd would: an inherited socket and a notify socket. */

typedef struct notify_sock {
  int fd;
  char path[128];
} notify_sock;

static void notify_open(notify_sock *n, const char *dir) {
  snprintf(n->path, sizeof n->path, "%s/notify", dir);
  n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", n->path);
  ck_assert_int_eq(bind(n->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void notify_close(notify_sock *n) {
  close(n->fd);
  unlink(n->path);
}

/* The next notify message (malloc'd), or NULL after timeout_ms. */
static char *notify_next(notify_sock *n, int timeout_ms) {
  struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) != 1)
    return NULL;
  char buf[4096];
  ssize_t len = recv(n->fd, buf, sizeof buf - 1, 0);
  if (len < 0)
    return NULL;
  buf[len] = '\0';
  return strdup(buf);
}

/* Waits for a message holding field (e.g. "READY=1"), passing over the others; the message, or
 * NULL after timeout_ms. */
static char *notify_wait(notify_sock *n, const char *field, int timeout_ms) {
  int64_t until = mono_ms() + timeout_ms;
  for (;;) {
    int left = (int)(until - mono_ms());
    char *m = left > 0 ? notify_next(n, left) : NULL;
    if (m == NULL || strstr(m, field) != NULL)
      return m;
    free(m);
  }
}

static int listening_unix_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(listen(fd, 64), 0);
  return fd;
}

/* port 0: the gateway's. */
static void write_config(const char *path, const char *listen_socket, int pool_size,
                         int request_timeout_ms, const char *log_level, int port) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "[daemon]\nlisten_socket = %s\nlog_level = %s\ntable_prefix = %s\n"
          "scan_max_rows = 100000\n\n[gateway]\nhost = %s\nport = %d\ntransport = %s\n"
          "protocol = %s\npool_size = %d\nrequest_timeout_ms = %d\nconnect_timeout_ms = 1000\n"
          "reconnect_max_ms = 500\n",
          listen_socket, log_level, g_prefix, g_gateway.host, port != 0 ? port : g_gateway.port,
          g_gateway.framed ? "framed" : "buffered",
          g_gateway.protocol == HBC_PROTOCOL_COMPACT ? "compact" : "binary", pool_size,
          request_timeout_ms);
  ck_assert_int_eq(fclose(f), 0);
}

/* Starts hbpoold with fd as its socket 3 (LISTEN_FDS=1), a NOTIFY_SOCKET, a watchdog and stderr
 * as the journal's stream (JOURNAL_STREAM, here a file: log), as systemd does for a Type=notify
 * service with an hbpoold.socket. */
static pid_t spawn_activated(const char *conf, int fd, const char *notify_path, const char *log) {
  const char *builddir = getenv("top_builddir");
  char prog[512];
  snprintf(prog, sizeof prog, "%s/daemon/hbpoold", builddir != NULL ? builddir : "..");
  fflush(NULL);
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  if (fd != 3) {
    dup2(fd, 3);
    close(fd);
  }
  char v[32];
  snprintf(v, sizeof v, "%d", (int)getpid());
  setenv("LISTEN_PID", v, 1);
  setenv("WATCHDOG_PID", v, 1);
  setenv("LISTEN_FDS", "1", 1);
  snprintf(v, sizeof v, "%d", WATCHDOG_USEC);
  setenv("WATCHDOG_USEC", v, 1);
  int err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  struct stat st;
  if (err < 0 || dup2(err, STDERR_FILENO) < 0 || fstat(STDERR_FILENO, &st) < 0)
    _exit(126);
  char stream[64];
  snprintf(stream, sizeof stream, "%llu:%llu", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino);
  setenv("JOURNAL_STREAM", stream, 1);
  setenv("NOTIFY_SOCKET", notify_path, 1);
  execl(prog, prog, "-c", conf, (char *)NULL);
  _exit(127);
}

static int wait_exit(pid_t pid, int timeout_ms) {
  int64_t until = mono_ms() + timeout_ms;
  int status = 0;
  while (mono_ms() < until) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

START_TEST(test_socket_activation_and_notify) {
  char dir[] = "/tmp/hbpoold-sd.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  dh_daemon d = {0};
  snprintf(d.dir, sizeof d.dir, "%s", dir);
  snprintf(d.conf, sizeof d.conf, "%s/hbpoold.conf", dir);
  snprintf(d.socket, sizeof d.socket, "%s/activated.sock", dir);
  char unused[128];
  snprintf(unused, sizeof unused, "%s/from-config.sock", dir);
  write_config(d.conf, unused, 2, 30000, "info", 0);
  notify_sock n;
  notify_open(&n, dir);
  int fd = listening_unix_socket(d.socket);
  int64_t t0 = mono_ms();
  char log[128];
  snprintf(log, sizeof log, "%s/journal.log", dir);
  d.pid = spawn_activated(d.conf, fd, n.path, log);
  close(fd);

  char *ready = notify_wait(&n, "READY=1", 20000);
  ck_assert_msg(ready != NULL, "no READY=1 within 20 s");
  ck_assert_msg(strstr(ready, "STATUS=") != NULL, "READY without a STATUS: %s", ready);
  free(ready);
  /* Served on the inherited socket; the config's socket is not made. */
  dh_expect_json(dh_ok(&d, "ping", NULL), "\"pong\"");
  ck_assert_int_ne(access(unused, F_OK), 0);

  /* The watchdog is fed from the loop at half the interval. */
  int kicks = 0;
  int64_t w0 = mono_ms();
  while (mono_ms() - w0 < 2000 && kicks < 4) {
    char *m = notify_wait(&n, "WATCHDOG=1", 2000);
    kicks += m != NULL;
    free(m);
  }
  ck_assert_msg(kicks >= 4, "%d WATCHDOG=1 in 2 s (WATCHDOG_USEC %d)", kicks, WATCHDOG_USEC);
  char *status = notify_wait(&n, "STATUS=", 5000);
  ck_assert_msg(status != NULL && strstr(status, "gateway") != NULL, "status: %s", status);
  free(status);

  /* Reload: RELOADING=1 with the monotonic time, then READY=1 again. */
  kill(d.pid, SIGHUP);
  char *reloading = notify_wait(&n, "RELOADING=1", 5000);
  ck_assert_msg(reloading != NULL, "no RELOADING=1 after SIGHUP");
  ck_assert_msg(strstr(reloading, "MONOTONIC_USEC=") != NULL, "%s", reloading);
  free(reloading);
  ready = notify_wait(&n, "READY=1", 5000);
  ck_assert_msg(ready != NULL, "no READY=1 after the reload");
  free(ready);
  dh_expect_json(dh_ok(&d, "ping", NULL), "\"pong\"");

  kill(d.pid, SIGTERM);
  char *stopping = notify_wait(&n, "STOPPING=1", 5000);
  ck_assert_msg(stopping != NULL, "no STOPPING=1 after SIGTERM");
  free(stopping);
  ck_assert_int_eq(wait_exit(d.pid, 15000), 0);
  /* The socket is systemd's: the daemon leaves it in place for the next start. */
  ck_assert_int_eq(access(d.socket, F_OK), 0);
  /* Lines for the journal carry their priority and no timestamp. */
  FILE *f = fopen(log, "r");
  char line[512];
  int lines = 0;
  bool listening = false;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    lines++;
    ck_assert_msg(line[0] == '<' && line[2] == '>', "not a journal line: %s", line);
    listening |= strncmp(line, "<6>info: listening on ", 22) == 0;
  }
  if (f != NULL)
    fclose(f);
  ck_assert_msg(listening, "no \"<6>info: listening on\" among %d lines", lines);
  unlink(log);
  fprintf(stderr, "test_systemd: ready to stopped in %lld ms\n", (long long)(mono_ms() - t0));
  unlink(d.socket);
  unlink(d.conf);
  notify_close(&n);
  rmdir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Writers: clients putting rows continuously, recording which were acknowledged. */

typedef struct writer {
  const dh_daemon *d;
  int index;
  volatile int *stop;
  int acked, failed, refused, unanswered;
  char first_error[256];
} writer;

/* One request, one reply; the reply (owned) or NULL if the connection ended without one. */
static json_t *exchange(dh_conn *c, int index, int n) {
  char line[256];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"put\",\"params\":{\"table\":\"%s\","
           "\"row\":\"w%02d-%06d\",\"data\":{\"cf:a\":\"%d\"}}}\n",
           n, g_table, index, n, n);
  if (dh_write(c, line, strlen(line)) < 0)
    return NULL;
  char *reply = dh_line(c, 30000);
  json_t *v = reply != NULL ? json_loads(reply, 0, NULL) : NULL;
  free(reply);
  return v;
}

static void *write_rows(void *arg) {
  writer *w = arg;
  dh_conn *c = dh_try_connect(w->d);
  for (int n = 0; c != NULL && !*w->stop; n++) {
    json_t *v = exchange(c, w->index, n);
    if (v == NULL) {
      w->unanswered++; /* the daemon closed the connection: it stopped */
      break;
    }
    int code = dh_error_code(v);
    if (code == 0 && json_integer_value(json_object_get(v, "id")) == n) {
      w->acked = n + 1; /* rows 0..acked-1 are acknowledged */
    } else if (code == -32011) {
      w->refused++;
      json_decref(v);
      break;
    } else {
      if (w->failed++ == 0) {
        char *t = dh_text(v);
        snprintf(w->first_error, sizeof w->first_error, "%.250s", t);
        free(t);
      }
    }
    json_decref(v);
  }
  if (c != NULL)
    dh_close(c);
  return NULL;
}

static void start_writers(writer *w, pthread_t *t, const dh_daemon *d, volatile int *stop) {
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (writer){.d = d, .index = i, .stop = stop};
    pthread_create(&t[i], NULL, write_rows, &w[i]);
  }
}

static void join_writers(writer *w, pthread_t *t, int *acked, int *failed) {
  *acked = *failed = 0;
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(t[i], NULL);
    *acked += w[i].acked;
    *failed += w[i].failed;
    if (w[i].failed > 0)
      fprintf(stderr, "test_systemd: writer %d: %d failed, first: %s\n", i, w[i].failed,
              w[i].first_error);
  }
}

/* Every acknowledged row of every writer is in HBase: one scan per writer's prefix. */
static void expect_rows_stored(const dh_daemon *d, const writer *w) {
  for (int i = 0; i < WRITERS; i++) {
    char prefix[8];
    snprintf(prefix, sizeof prefix, "w%02d-", i);
    json_t *res = dh_ok(d, "scan",
                        json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row_prefix", prefix,
                                  "columns", "cf:a"));
    size_t stored = json_array_size(json_object_get(res, "rows"));
    json_decref(res);
    ck_assert_msg(stored >= (size_t)w[i].acked, "writer %d: %d acknowledged, %zu stored", i,
                  w[i].acked, stored);
  }
}

static json_int_t stat_of(const dh_daemon *d, const char *section, const char *key) {
  json_t *st = dh_ok(d, "stats", NULL);
  json_int_t v = json_integer_value(json_object_get(json_object_get(st, section), key));
  json_decref(st);
  return v;
}

static void setup_table(const dh_daemon *d) {
  json_decref(
    dh_ok(d, "create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf")));
}

static void drop_table(const dh_daemon *d) {
  json_decref(dh_ok(d, "delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
}

/* ---------------------------------------------------------------------------------------------
 * Reload and stop under load. */

static void start_plain(dh_daemon *d, int pool_size) {
  char keys[128];
  snprintf(keys, sizeof keys, "table_prefix = %s\nscan_max_rows = 100000\n", g_prefix);
  char gw[64];
  snprintf(gw, sizeof gw, "pool_size = %d\n", pool_size);
  ck_assert(dh_start(d, "test_systemd", &g_gateway, keys, gw));
}

/* A daemon with a pool of 4 and a table, and WRITERS clients writing to it. */
static void start_loaded(dh_daemon *d, writer *w, pthread_t *t, volatile int *stop) {
  start_plain(d, 4);
  setup_table(d);
  start_writers(w, t, d, stop);
}

START_TEST(test_reload_under_load) {
  dh_daemon d;
  volatile int stop = 0;
  writer w[WRITERS];
  pthread_t t[WRITERS];
  start_loaded(&d, w, t, &stop);
  static const int sizes[] = {8, 2, 6, 1, 5};
  static const int timeouts[] = {20000, 25000, 15000, 30000, 12000};
  int64_t t0 = mono_ms();
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    sleep_ms(600);
    write_config(d.conf, d.socket, sizes[i], timeouts[i], "warning", 0);
    kill(d.pid, SIGHUP);
  }
  sleep_ms(800);
  stop = 1;
  int acked, failed;
  join_writers(w, t, &acked, &failed);
  fprintf(stderr, "test_systemd: %d writes acknowledged during 5 reloads in %lld ms, %d failed\n",
          acked, (long long)(mono_ms() - t0), failed);
  ck_assert_int_eq(failed, 0);
  ck_assert_int_gt(acked, WRITERS);
  ck_assert_int_eq(stat_of(&d, "pool", "size"), 5);
  json_t *st = dh_ok(&d, "stats", NULL);
  json_t *daemon = json_object_get(st, "daemon");
  ck_assert_int_eq(json_integer_value(json_object_get(daemon, "reloads")), 5);
  ck_assert_int_eq(json_integer_value(
                     json_object_get(json_object_get(daemon, "config"), "request_timeout_ms")),
                   12000);
  ck_assert_str_eq(json_string_value(json_object_get(daemon, "last_reload")), "ok");
  json_decref(st);
  expect_rows_stored(&d, w);

  /* A broken file: refused whole, the running config kept, still serving. */
  FILE *f = fopen(d.conf, "w");
  fputs("[daemon]\npool_size = lots\n[gateway]\nport = 0\n", f);
  fclose(f);
  kill(d.pid, SIGHUP);
  json_int_t failures = 0;
  for (int i = 0; i < 100 && failures == 0; i++) {
    sleep_ms(50);
    failures = stat_of(&d, "daemon", "reload_failures");
  }
  ck_assert_int_eq(failures, 1);
  st = dh_ok(&d, "stats", NULL);
  const char *last = json_string_value(
    json_object_get(json_object_get(st, "daemon"), "last_reload"));
  ck_assert_msg(last != NULL && strncmp(last, "failed", 6) == 0, "last_reload: %s", last);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "pool"), "size")), 5);
  json_decref(st);
  dh_expect_json(dh_ok(&d, "ping", NULL), "\"pong\"");
  write_config(d.conf, d.socket, 5, 12000, "warning", 0);
  drop_table(&d);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

START_TEST(test_stop_under_load_loses_no_write) {
  dh_daemon d;
  volatile int stop = 0;
  writer w[WRITERS];
  pthread_t t[WRITERS];
  start_loaded(&d, w, t, &stop);
  sleep_ms(1500);
  int64_t t0 = mono_ms();
  kill(d.pid, SIGTERM);
  int status = 0;
  while (waitpid(d.pid, &status, 0) < 0 && errno == EINTR) {
  }
  int64_t stop_ms = mono_ms() - t0;
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  d.pid = 0;
  stop = 1;
  int acked, failed, refused = 0, unanswered = 0;
  join_writers(w, t, &acked, &failed);
  for (int i = 0; i < WRITERS; i++) {
    refused += w[i].refused;
    unanswered += w[i].unanswered;
  }
  fprintf(stderr,
          "test_systemd: SIGTERM under load: exit %d after %lld ms; %d writes "
          "acknowledged, %d refused (shutting_down), %d connections closed at exit, %d failed\n",
          rc, (long long)stop_ms, acked, refused, unanswered, failed);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_lt(stop_ms, 10000); /* shutdown_timeout_ms */
  ck_assert_int_eq(failed, 0);
  ck_assert_int_gt(acked, WRITERS);
  dh_stop(&d);
  /* A new daemon finds every acknowledged write. */
  dh_daemon again;
  start_plain(&again, 2);
  expect_rows_stored(&again, w);
  drop_table(&again);
  ck_assert_int_eq(dh_stop(&again), 0);
}
END_TEST

/* A put of row on c: its reply's error code (0: it worked). */
static int put_code(dh_conn *c, const char *row) {
  json_t *r = dh_call(c, "put",
                      json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", row, "data", "cf:a",
                                "1"));
  int code = dh_error_code(r);
  json_decref(r);
  return code;
}

/* ---------------------------------------------------------------------------------------------
 * Listers: clients calling tables continuously, while reloads change the table prefix. */

typedef struct lister {
  const dh_daemon *d;
  volatile int *stop;
  int with_table, empty, bad;
  char first_bad[256];
} lister;

static void *list_tables(void *arg) {
  lister *l = arg;
  dh_conn *c = dh_try_connect(l->d);
  static const char line[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tables\"}\n";
  while (c != NULL && !*l->stop && dh_write(c, line, strlen(line)) == 0) {
    char *text = dh_line(c, 30000);
    json_t *reply = text != NULL ? json_loads(text, 0, NULL) : NULL;
    json_t *res = json_object_get(reply, "result");
    /* Under the test's prefix the table is listed, alone; under the other one, nothing. */
    const char *first = json_string_value(json_array_get(res, 0));
    if (json_is_array(res) && json_array_size(res) == 0) {
      l->empty++;
    } else if (json_array_size(res) == 1 && first != NULL && strcmp(first, g_table) == 0) {
      l->with_table++;
    } else if (l->bad++ == 0) {
      snprintf(l->first_bad, sizeof l->first_bad, "%.250s", text != NULL ? text : "no reply");
    }
    json_decref(reply);
    free(text);
  }
  if (c != NULL)
    dh_close(c);
  return NULL;
}

/* tables filters names on a worker, while a reload frees and replaces the prefix on the loop:
 * each call filters by its own copy, made when it was prepared. */
START_TEST(test_reload_changes_prefix_under_tables) {
  enum { LISTERS = 4, RELOADS = 20 };
  dh_daemon d;
  start_plain(&d, 4);
  setup_table(&d);
  volatile int stop = 0;
  lister l[LISTERS];
  pthread_t t[LISTERS];
  for (int i = 0; i < LISTERS; i++) {
    l[i] = (lister){.d = &d, .stop = &stop};
    pthread_create(&t[i], NULL, list_tables, &l[i]);
  }
  char own[sizeof g_prefix];
  snprintf(own, sizeof own, "%s", g_prefix);
  for (int i = 1; i <= RELOADS; i++) {
    /* A longer prefix, then the test's own again: the last reload restores it. */
    snprintf(g_prefix, sizeof g_prefix, i % 2 == 1 ? "%sxx" : "%s", own);
    write_config(d.conf, d.socket, 4, 30000, "warning", 0);
    kill(d.pid, SIGHUP);
    for (int w = 0; w < 100 && stat_of(&d, "daemon", "reloads") < i; w++)
      sleep_ms(10);
    sleep_ms(50);
  }
  stop = 1;
  int with_table = 0, empty = 0, bad = 0;
  for (int i = 0; i < LISTERS; i++) {
    pthread_join(t[i], NULL);
    with_table += l[i].with_table;
    empty += l[i].empty;
    bad += l[i].bad;
    if (l[i].bad > 0)
      fprintf(stderr, "test_systemd: lister %d: %d bad, first: %s\n", i, l[i].bad, l[i].first_bad);
  }
  fprintf(stderr,
          "test_systemd: tables during %d prefix reloads: %d listed the table, %d under "
          "the other prefix, %d bad\n",
          RELOADS, with_table, empty, bad);
  ck_assert_int_eq(bad, 0);
  ck_assert_int_gt(with_table, 0);
  ck_assert_int_gt(empty, 0);
  ck_assert_int_eq(stat_of(&d, "daemon", "reloads"), RELOADS);
  drop_table(&d);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

/* The gateway's address changes on reload: the same client connection is served by the new one
 * (here: a closed port, then the real gateway again); a key that needs a restart is named. */
START_TEST(test_reload_moves_gateway) {
  dh_daemon d;
  start_plain(&d, 2);
  setup_table(&d);
  dh_conn *c = dh_connect(&d);
  ck_assert_int_eq(put_code(c, "before"), 0);
  write_config(d.conf, d.socket, 2, 5000, "warning", 1);
  kill(d.pid, SIGHUP);
  int code = 0;
  for (int i = 0; i < 100 && code != -32004; i++) {
    code = put_code(c, "during");
    sleep_ms(100);
  }
  ck_assert_int_eq(code, -32004);
  /* Back to the real gateway, and a TCP listener asked for, which only a restart can open. */
  write_config(d.conf, d.socket, 2, 5000, "warning", 0);
  FILE *f = fopen(d.conf, "r");
  char text[2048];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  f = fopen(d.conf, "w");
  fprintf(f, "[daemon]\nlisten_tcp = 127.0.0.1:1\n%s", text + strlen("[daemon]\n"));
  fclose(f);
  kill(d.pid, SIGHUP);
  code = -1;
  for (int i = 0; i < 100 && code != 0; i++) {
    code = put_code(c, "after");
    sleep_ms(100);
  }
  ck_assert_int_eq(code, 0);
  json_t *st = dh_ok(&d, "stats", NULL);
  json_t *daemon = json_object_get(st, "daemon");
  ck_assert_str_eq(json_string_value(json_object_get(daemon, "restart_needed")), "listen_tcp");
  ck_assert_int_eq(json_integer_value(json_object_get(daemon, "reloads")), 2);
  json_decref(st);
  dh_close(c);
  drop_table(&d);
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

static Suite *systemd_suite(void) {
  Suite *s = suite_create("hbpoold under systemd");
  TCase *tc = tcase_create("service");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, test_socket_activation_and_notify);
  tcase_add_test(tc, test_reload_under_load);
  tcase_add_test(tc, test_reload_moves_gateway);
  tcase_add_test(tc, test_reload_changes_prefix_under_tables);
  tcase_add_test(tc, test_stop_under_load_loses_no_write);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_systemd"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_prefix, sizeof g_prefix, "sd%d", (int)getpid());
  SRunner *sr = srunner_create(systemd_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
