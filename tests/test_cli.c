/* End-to-end tests of hbpool, the command-line client: the built binary is run against a real
 * hbpoold and gateway, and its stdout, stderr, exit status and peak memory are checked. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define POOL 2
#define BIG_ROWS 5000
#define BIG_VALUE 2048 /* bytes per row of the big table: 10 MB in all */
#define MAX_ARGS 32

/* The exit statuses hbpool(1) documents. */
#define EXIT_NOT_FOUND 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3
#define EXIT_UNREACHABLE 4
#define EXIT_RETRYABLE 5

static hbc_options g_gateway;
static dh_daemon g_daemon; /* on the real gateway */
static dh_daemon g_down;   /* its gateway is a closed port */
static const char *g_table = "t", *g_big = "big", *g_made = "made";
/* export and import */
static const char *g_src = "src", *g_dst = "dst", *g_dst2 = "dst2", *g_imp = "imp";
static char g_cli[512];         /* the binary under test */
static char g_prefix_keys[128]; /* the daemons' table_prefix line */

/* ---------------------------------------------------------------------------------------------
 * Running hbpool. */

typedef struct run {
  int status;      /* exit status, or 128 + signal */
  char *out, *err; /* NUL-terminated */
  size_t out_len;
  long maxrss_kb; /* the child's peak RSS */
} run;

static void run_free(run *r) {
  free(r->out);
  free(r->err);
}

typedef struct sink {
  char *buf;
  size_t len, cap;
} sink;

/* Reads what fd has into s; false at EOF. */
static bool sink_read(sink *s, int fd) {
  if (s->cap - s->len < 65536) {
    s->cap = s->cap * 2 + 65536;
    s->buf = realloc(s->buf, s->cap);
    ck_assert_ptr_nonnull(s->buf);
  }
  ssize_t n = read(fd, s->buf + s->len, s->cap - s->len - 1);
  if (n < 0 && errno == EINTR)
    return true;
  if (n <= 0)
    return false;
  s->len += (size_t)n;
  return true;
}

/* Under ASan freed memory sits in a quarantine (256 MB by default), which would hide whether
 * hbpool's memory stays bounded: the children run without one. */
static void child_env(const char *socket) {
  if (socket != NULL)
    setenv("HBPOOL_SOCKET", socket, 1);
  else
    unsetenv("HBPOOL_SOCKET");
  const char *asan = getenv("ASAN_OPTIONS");
  char opts[1024];
  snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan != NULL ? asan : "",
           asan != NULL && *asan ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
}

/* A file holding text, open for reading from its start, for a child's stdin. */
static int input_file(const char *text) {
  char path[] = "/tmp/hbpool-cli-in.XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

/* Runs hbpool with argv (NULL-terminated, without the program) and HBPOOL_SOCKET = socket
 * (NULL: unset), input on stdin (NULL: /dev/null); collects everything. */
static run run_input(const char *socket, const char *input, const char *const *args) {
  const char *argv[MAX_ARGS + 2] = {g_cli};
  int n = 0;
  while (args[n] != NULL) {
    ck_assert_int_lt(n, MAX_ARGS);
    argv[n + 1] = args[n];
    n++;
  }
  int in = input != NULL ? input_file(input) : open("/dev/null", O_RDONLY);
  int out[2], err[2];
  ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(in, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    child_env(socket);
    execv(g_cli, (char *const *)argv);
    _exit(127);
  }
  close(in);
  close(out[1]);
  close(err[1]);
  sink so = {0}, se = {0};
  bool open_out = true, open_err = true;
  while (open_out || open_err) {
    struct pollfd p[2] = {{.fd = open_out ? out[0] : -1, .events = POLLIN},
                          {.fd = open_err ? err[0] : -1, .events = POLLIN}};
    if (poll(p, 2, 120000) <= 0) {
      kill(pid, SIGKILL);
      ck_abort_msg("hbpool %s: no output for 120 s", args[0] != NULL ? args[0] : "");
    }
    if (p[0].revents && !sink_read(&so, out[0]))
      open_out = false;
    if (p[1].revents && !sink_read(&se, err[0]))
      open_err = false;
  }
  close(out[0]);
  close(err[0]);
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  run r = {.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
           .out = so.buf != NULL ? so.buf : strdup(""),
           .err = se.buf != NULL ? se.buf : strdup(""),
           .out_len = so.len,
           .maxrss_kb = ru.ru_maxrss};
  r.out[so.len] = '\0';
  r.err[se.len] = '\0';
  return r;
}

/* What hbpool writes on a terminal (a pty in raw mode, so that "\n" stays "\n") as its fd tty
 * (stdout or stderr), with in (closed here) on stdin; malloc'd, and its exit status in *status.
 * With stderr on the pty, stdout goes to /dev/null. */
static char *run_pty(int tty, int in, const char *const *args, int *status) {
  int master, slave;
  ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
  struct termios raw;
  ck_assert_int_eq(tcgetattr(slave, &raw), 0);
  cfmakeraw(&raw);
  ck_assert_int_eq(tcsetattr(slave, TCSANOW, &raw), 0);
  const char *argv[MAX_ARGS + 2] = {g_cli};
  for (int n = 0; args[n] != NULL && n < MAX_ARGS; n++)
    argv[n + 1] = args[n];
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(in, STDIN_FILENO);
    if (tty == STDERR_FILENO)
      dup2(open("/dev/null", O_WRONLY), STDOUT_FILENO);
    dup2(slave, tty);
    close(master);
    close(slave);
    child_env(g_daemon.socket);
    execv(g_cli, (char *const *)argv);
    _exit(127);
  }
  close(in);
  close(slave);
  sink s = {0};
  while (sink_read(&s, master)) { /* EIO once the child's side is closed */
  }
  close(master);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (s.buf == NULL)
    return strdup("");
  s.buf[s.len] = '\0';
  return s.buf;
}

/* hbpool's stdout on a terminal. */
static char *run_tty(const char *const *args, int *status) {
  return run_pty(STDOUT_FILENO, open("/dev/null", O_RDONLY), args, status);
}

static run run_argv(const char *socket, const char *const *args) {
  return run_input(socket, NULL, args);
}

#define HB(...) run_argv(g_daemon.socket, (const char *const[]){__VA_ARGS__, NULL})

/* Fails unless r exited with status and printed exactly out (NULL: anything) and nothing on
 * stderr when it succeeded; frees r. */
static void expect(run r, int status, const char *out) {
  ck_assert_msg(r.status == status, "exit %d, expected %d; stdout: %.300s; stderr: %.500s",
                r.status, status, r.out, r.err);
  if (out != NULL)
    ck_assert_msg(strcmp(r.out, out) == 0, "stdout:\n%.1000s\nexpected:\n%s", r.out, out);
  if (status == 0)
    ck_assert_msg(r.err[0] == '\0', "stderr: %.500s", r.err);
  run_free(&r);
}

/* Fails unless r exited with status, printed nothing on stdout and something holding each of
 * the NULL-terminated words on stderr; frees r. */
static void expect_err(run r, int status, ...) {
  ck_assert_msg(r.status == status, "exit %d, expected %d; stdout: %.300s; stderr: %.500s",
                r.status, status, r.out, r.err);
  ck_assert_msg(r.out_len == 0, "stdout: %.300s", r.out);
  va_list ap;
  va_start(ap, status);
  for (const char *w = va_arg(ap, const char *); w != NULL; w = va_arg(ap, const char *))
    ck_assert_msg(strstr(r.err, w) != NULL, "stderr lacks '%s': %.800s", w, r.err);
  va_end(ap);
  run_free(&r);
}

/* The row the daemon itself returns (independent of hbpool), as compact JSON text. */
static char *daemon_row(const char *row, bool base64) {
  json_t *p = json_pack("{s:s,s:s}", "table", g_table, "row", row);
  if (base64)
    json_object_set_new(p, "encoding", json_string("base64"));
  json_t *r = dh_ok(&g_daemon, "row", p);
  char *text = dh_text(r);
  json_decref(r);
  return text;
}

static bool daemon_has_table(const char *name) {
  json_t *tables = dh_ok(&g_daemon, "tables", NULL);
  size_t i;
  json_t *t;
  bool found = false;
  json_array_foreach(tables, i, t) found |= strcmp(json_string_value(t), name) == 0;
  json_decref(tables);
  return found;
}

/* ---------------------------------------------------------------------------------------------
 * Options and usage. */

START_TEST(test_version_and_help) {
  expect(HB("-V"), 0, "hbpool " PACKAGE_VERSION "\n");
  expect(HB("--version"), 0, "hbpool " PACKAGE_VERSION "\n");
  run r = HB("--help");
  ck_assert_int_eq(r.status, 0);
  static const char *const words[] = {"usage: hbpool", "tables",     "get TABLE ROW", "put",
                                      "delete",        "scan TABLE", "--prefix",      "--limit",
                                      "--reverse",     "incr",       "create",        "drop",
                                      "describe",      "stats",      "ping",          "call",
                                      "--socket",      "--timeout",  "--json",        "--table",
                                      "--base64"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    ck_assert_msg(strstr(r.out, words[i]) != NULL, "--help lacks %s", words[i]);
  run_free(&r);
}
END_TEST

/* Each of these is refused with status 2 and a hint, before anything is sent. */
START_TEST(test_usage_errors) {
  static const char *const cases[][6] = {
    {NULL},
    {"nope", NULL},
    {"get", "t", NULL},
    {"put", "t", "r", NULL},
    {"put", "t", "r", "nocolumn", NULL},
    {"put", "t", "r", "=v", NULL},
    {"tables", "extra", NULL},
    {"scan", "t", "--prefix", "a", "--start", NULL},
    {"scan", "t", "--prefix", "a", "--start", "b"},
    {"get", "t", "r", "--limit", "2", NULL},
    {"-t", "soon", "ping", NULL},
    {"scan", "t", "--limit", "0", NULL},
    {"incr", "t", "r", "cf:n", "many", NULL},
    {"incr", "t", "r", "cf:n", "-5", NULL}, /* a negative step must follow -- */
    {"call", "row", "{bad json", NULL},
    {"--bogus", "ping", NULL},
    {"-x", "ping", NULL},
    {"create", "t", NULL},
    {"create", "t", ":max_versions=1", NULL},
    {"create", "t", "cf:max_versions", NULL},
    {"get", "t", "\xff", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *args[7] = {NULL};
    for (int j = 0; j < 6 && cases[i][j] != NULL; j++)
      args[j] = cases[i][j];
    expect_err(run_argv(g_daemon.socket, args), EXIT_USAGE, "hbpool: ", "hbpool --help", NULL);
  }
  /* Nothing was written by the refused put. */
  char *row = daemon_row("r", false);
  ck_assert_str_eq(row, "{}");
  free(row);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Commands. */

START_TEST(test_ping_and_tables) {
  expect(HB("ping", "--json"), 0, "\"pong\"\n");
  expect(HB("ping"), 0, "\"pong\"\n"); /* stdout is a pipe: JSON */
  expect(HB("--table", "ping"), 0, "pong\n");
  /* The daemon's own list, one name per line: JSON strings, or plain in text. */
  json_t *tables = dh_ok(&g_daemon, "tables", NULL);
  char want_json[4096] = "", want_text[4096] = "";
  size_t i;
  json_t *t;
  json_array_foreach(tables, i, t) {
    snprintf(want_json + strlen(want_json), sizeof want_json - strlen(want_json), "\"%s\"\n",
             json_string_value(t));
    snprintf(want_text + strlen(want_text), sizeof want_text - strlen(want_text), "%s\n",
             json_string_value(t));
  }
  json_decref(tables);
  ck_assert(daemon_has_table(g_table) && daemon_has_table(g_big));
  expect(HB("tables"), 0, want_json);
  expect(HB("tables", "--table"), 0, want_text);
}
END_TEST

/* Text on a terminal unless --json; JSON into a pipe (the other tests) unless --table. */
START_TEST(test_terminal_gets_text) {
  expect(HB("put", g_table, "tty", "cf:a=1"), 0, "");
  int status;
  char *out = run_tty((const char *const[]){"ping", NULL}, &status);
  ck_assert_int_eq(status, 0);
  ck_assert_str_eq(out, "pong\n");
  free(out);
  out = run_tty((const char *const[]){"get", g_table, "tty", NULL}, &status);
  ck_assert_int_eq(status, 0);
  ck_assert_str_eq(out, "COLUMN  VALUE\ncf:a    1\n");
  free(out);
  out = run_tty((const char *const[]){"--json", "get", g_table, "tty", NULL}, &status);
  ck_assert_int_eq(status, 0);
  ck_assert_str_eq(out, "{\"row\":\"tty\",\"columns\":{\"cf:a\":\"1\"}}\n");
  free(out);
}
END_TEST

START_TEST(test_put_get_json_and_table) {
  expect(HB("put", g_table, "r1", "cf:a=hello", "cf:b=x y=z"), 0, "");
  char *row = daemon_row("r1", false);
  ck_assert_str_eq(row, "{\"cf:a\":\"hello\",\"cf:b\":\"x y=z\"}");
  free(row);
  const char *json = "{\"row\":\"r1\",\"columns\":{\"cf:a\":\"hello\",\"cf:b\":\"x y=z\"}}\n";
  expect(HB("get", g_table, "r1"), 0, json);
  expect(HB("--json", "get", g_table, "r1"), 0, json);
  expect(HB("get", g_table, "r1", "cf:b"), 0,
         "{\"row\":\"r1\",\"columns\":{\"cf:b\":\"x y=z\"}}\n");
  expect(HB("get", g_table, "r1", "cf"), 0, json);
  expect(HB("get", "--table", g_table, "r1"), 0,
         "COLUMN  VALUE\n"
         "cf:a    hello\n"
         "cf:b    x y=z\n");
  /* Control bytes are shown escaped on a terminal, kept in JSON. */
  expect(HB("put", g_table, "r2", "cf:tab=a\tb", "cf:longer_name=v"), 0, "");
  expect(HB("--table", "get", g_table, "r2"), 0,
         "COLUMN          VALUE\n"
         "cf:longer_name  v\n"
         "cf:tab          a\\x09b\n");
  expect(HB("get", g_table, "r2", "cf:tab"), 0,
         "{\"row\":\"r2\",\"columns\":{\"cf:tab\":\"a\\tb\"}}\n");
}
END_TEST

START_TEST(test_get_not_found) {
  expect_err(HB("get", g_table, "nobody"), EXIT_NOT_FOUND, "not found", "nobody", NULL);
  expect(HB("put", g_table, "r3", "cf:a=1"), 0, "");
  expect_err(HB("get", g_table, "r3", "cf:zzz"), EXIT_NOT_FOUND, "not found", NULL);
  expect_err(HB("--table", "get", g_table, "nobody"), EXIT_NOT_FOUND, "not found", NULL);
}
END_TEST

START_TEST(test_delete) {
  expect(HB("put", g_table, "d1", "cf:a=1", "cf:b=2", "cf:c=3"), 0, "");
  expect(HB("delete", g_table, "d1", "cf:a", "cf:c"), 0, "");
  expect(HB("get", g_table, "d1"), 0, "{\"row\":\"d1\",\"columns\":{\"cf:b\":\"2\"}}\n");
  expect(HB("delete", g_table, "d1"), 0, "");
  expect_err(HB("get", g_table, "d1"), EXIT_NOT_FOUND, "not found", NULL);
  char *row = daemon_row("d1", false);
  ck_assert_str_eq(row, "{}");
  free(row);
  expect(HB("delete", g_table, "never-there"), 0, "");
}
END_TEST

START_TEST(test_incr) {
  expect(HB("incr", g_table, "c1", "cf:n"), 0, "1\n");
  expect(HB("incr", g_table, "c1", "cf:n", "5"), 0, "6\n");
  expect(HB("incr", g_table, "c1", "cf:n", "--", "-10"), 0, "-4\n");
  expect(HB("--table", "incr", g_table, "c1", "cf:n", "0"), 0, "-4\n");
  json_t *v = dh_ok(&g_daemon, "counter_get",
                    json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "c1", "column", "cf:n"));
  ck_assert_int_eq(json_integer_value(v), -4);
  json_decref(v);
  /* A counter is 8 raw bytes: in utf8 mode they are NULs, kept as \u0000 in JSON. */
  expect(HB("incr", g_table, "c2", "cf:n", "65"), 0, "65\n");
  expect(HB("get", g_table, "c2"), 0,
         "{\"row\":\"c2\",\"columns\":{\"cf:n\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000"
         "\\u0000A\"}}\n");
  expect(HB("--base64", "get", g_table, "YzI="), 0,
         "{\"row\":\"YzI=\",\"columns\":{\"Y2Y6bg==\":\"AAAAAAAAAEE=\"}}\n");
}
END_TEST

/* The JSON line of a scan row "sN" with cf:a "vN" (and cf:b "bN" for even N, unless only). */
static void scan_line(char *out, size_t n, int i, bool with_b, bool only_b) {
  if (only_b)
    snprintf(out, n, "{\"row\":\"s%d\",\"columns\":{\"cf:b\":\"b%d\"}}\n", i, i);
  else if (with_b && i % 2 == 0)
    snprintf(out, n, "{\"row\":\"s%d\",\"columns\":{\"cf:a\":\"v%d\",\"cf:b\":\"b%d\"}}\n", i, i,
             i);
  else
    snprintf(out, n, "{\"row\":\"s%d\",\"columns\":{\"cf:a\":\"v%d\"}}\n", i, i);
}

/* The lines of rows from..to (inclusive, by step) of the s table. */
static char *scan_lines(int from, int to, int step, bool only_b) {
  static char buf[8192];
  buf[0] = '\0';
  for (int i = from; step > 0 ? i <= to : i >= to; i += step) {
    if (only_b && i % 2 != 0)
      continue;
    scan_line(buf + strlen(buf), sizeof buf - strlen(buf), i, true, only_b);
  }
  return buf;
}

START_TEST(test_scan) {
  json_t *ops = json_array();
  char row[16], a[16], b[16];
  for (int i = 0; i < 10; i++) {
    snprintf(row, sizeof row, "s%d", i);
    snprintf(a, sizeof a, "v%d", i);
    snprintf(b, sizeof b, "b%d", i);
    json_t *data = json_pack("{s:s}", "cf:a", a);
    if (i % 2 == 0)
      json_object_set_new(data, "cf:b", json_string(b));
    json_array_append_new(ops, json_pack("{s:s,s:s,s:o}", "op", "put", "row", row, "data", data));
  }
  json_decref(
    dh_ok(&g_daemon, "batch", json_pack("{s:s,s:o}", "table", g_table, "operations", ops)));
  expect(HB("scan", g_table, "--prefix", "s"), 0, scan_lines(0, 9, 1, false));
  expect(HB("scan", g_table, "--prefix", "s", "--limit", "3"), 0, scan_lines(0, 2, 1, false));
  expect(HB("scan", g_table, "--start", "s3", "--stop", "s6"), 0, scan_lines(3, 5, 1, false));
  expect(HB("scan", g_table, "--prefix", "s", "--reverse", "--limit", "2"), 0,
         scan_lines(9, 8, -1, false));
  expect(HB("scan", g_table, "--prefix", "s", "--columns", "cf:b"), 0, scan_lines(0, 9, 1, true));
  expect(HB("scan", g_table, "--prefix", "s", "--columns", "cf:a,cf:b", "--limit", "1"), 0,
         scan_lines(0, 0, 1, false));
  expect(HB("scan", g_table, "--prefix", "zz"), 0, "");
  expect(HB("--table", "scan", g_table, "--start", "s8", "--stop", "s9"), 0,
         "ROW  COLUMN  VALUE\n"
         "s8   cf:a    v8\n"
         "s8   cf:b    b8\n");
}
END_TEST

/* 5,000 rows of 2 KiB (10 MB) stream through in order while hbpool's peak RSS stays that of a
 * scan of one chunk (500 rows): holding the other 4,500 rows (9 MB as strings alone) would cost
 * more than twice the margin. ru_maxrss is an upper bound of hbpool's own peak: Linux folds in
 * the forked test's RSS before the exec. */
START_TEST(test_scan_streams_bounded_memory) {
  run small = HB("scan", g_big, "--limit", "500");
  ck_assert_int_eq(small.status, 0);
  long small_kb = small.maxrss_kb;
  run_free(&small); /* before the next fork, whose RSS before its exec counts */
  run r = HB("scan", g_big);
  ck_assert_msg(r.status == 0, "exit %d: %.500s", r.status, r.err);
  ck_assert_msg(r.err[0] == '\0', "stderr: %.500s", r.err);
  char *save = NULL, want_row[16];
  int n = 0;
  for (char *line = strtok_r(r.out, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save), n++) {
    json_error_t jerr;
    json_t *v = json_loads(line, 0, &jerr);
    ck_assert_msg(v != NULL, "line %d is not JSON: %s", n, jerr.text);
    snprintf(want_row, sizeof want_row, "b%05d", n);
    ck_assert_str_eq(json_string_value(json_object_get(v, "row")), want_row);
    const char *value = json_string_value(json_object_get(json_object_get(v, "columns"), "cf:v"));
    ck_assert_msg(value != NULL && strlen(value) == BIG_VALUE && value[0] == 'a' + n % 26,
                  "row %d: bad value", n);
    json_decref(v);
  }
  ck_assert_int_eq(n, BIG_ROWS);
  printf("hbpool scan of %d rows (%zu bytes out): peak RSS %ld kB (%ld kB for 500 rows)\n",
         BIG_ROWS, r.out_len, r.maxrss_kb, small_kb);
  ck_assert_msg(r.maxrss_kb - small_kb < 4 * 1024, "peak RSS %ld kB for %d rows, %ld kB for 500",
                r.maxrss_kb, BIG_ROWS, small_kb);
  const char *sanitizers = getenv("HBPOOL_SANITIZERS");
  if (sanitizers == NULL || strcmp(sanitizers, "yes") != 0) /* ASan's shadow memory counts */
    ck_assert_msg(r.maxrss_kb < 20 * 1024, "peak RSS %ld kB", r.maxrss_kb);
  run_free(&r);
}
END_TEST

/* A row 00 ff, column cf:\x01, value ff fe 00, written and read in base64; the same bytes read
 * as text fail with a hint. */
START_TEST(test_base64_round_trip) {
  expect(HB("--base64", "put", g_table, "AP8=", "Y2Y6AQ===//4A", "Y2Y6cmF3=/w=="), 0, "");
  char *row = daemon_row("AP8=", true);
  ck_assert_str_eq(row, "{\"Y2Y6AQ==\":\"//4A\",\"Y2Y6cmF3\":\"/w==\"}");
  free(row);
  expect(HB("-b", "get", g_table, "AP8="), 0,
         "{\"row\":\"AP8=\",\"columns\":{\"Y2Y6AQ==\":\"//4A\",\"Y2Y6cmF3\":\"/w==\"}}\n");
  expect(HB("--base64", "--table", "get", g_table, "AP8=", "Y2Y6cmF3"), 0,
         "COLUMN    VALUE\n"
         "Y2Y6cmF3  /w==\n");
  expect(HB("--base64", "scan", g_table, "--prefix", "AP8=", "--columns", "Y2Y6AQ=="), 0,
         "{\"row\":\"AP8=\",\"columns\":{\"Y2Y6AQ==\":\"//4A\"}}\n");
  /* Text mode: the key "bin" is text, its value is not. */
  expect(HB("--base64", "put", g_table, "Ymlu", "Y2Y6cmF3=//4A"), 0, "");
  expect_err(HB("get", g_table, "bin"), EXIT_FAILED, "encoding_error", "--base64", NULL);
  expect_err(HB("scan", g_table, "--prefix", "bin"), EXIT_FAILED, "encoding_error", "--base64",
             NULL);
  expect_err(HB("--base64", "get", g_table, "not base64!"), EXIT_FAILED, "encoding_error", NULL);
}
END_TEST

START_TEST(test_create_describe_drop) {
  expect(HB("create", g_made, "cf:max_versions=5,in_memory=true", "meta"), 0, "");
  ck_assert(daemon_has_table(g_made));
  run r = HB("describe", g_made);
  ck_assert_msg(r.status == 0, "%s", r.err);
  json_error_t jerr;
  json_t *fam = json_loads(r.out, 0, &jerr);
  ck_assert_msg(fam != NULL, "describe: %s", r.out);
  ck_assert_int_eq(json_object_size(fam), 2);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(fam, "cf"), "max_versions")),
                   5);
  ck_assert(json_is_true(json_object_get(json_object_get(fam, "cf"), "in_memory")));
  ck_assert_int_eq(json_integer_value(
                     json_object_get(json_object_get(fam, "meta"), "max_versions")),
                   3);
  json_decref(fam);
  run_free(&r);
  r = HB("--table", "describe", g_made);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strncmp(r.out, "cf max_versions=5 ", 18) == 0, "%s", r.out);
  ck_assert_msg(strstr(r.out, "\nmeta max_versions=3 ") != NULL, "%s", r.out);
  run_free(&r);
  expect_err(HB("create", g_made, "cf"), EXIT_FAILED, "hbase_already_exists", NULL);
  expect(HB("drop", g_made), 0, "");
  ck_assert(!daemon_has_table(g_made));
  expect_err(HB("describe", g_made), EXIT_FAILED, "hbase_io_error", NULL);
  expect_err(HB("drop", g_made), EXIT_FAILED, "hbase_io_error", NULL);
}
END_TEST

START_TEST(test_stats) {
  run r = HB("stats");
  ck_assert_int_eq(r.status, 0);
  json_error_t jerr;
  json_t *st = json_loads(r.out, 0, &jerr);
  ck_assert_msg(st != NULL, "stats: %.300s", r.out);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "pool"), "size")), POOL);
  ck_assert(json_is_true(json_object_get(json_object_get(st, "pool"), "gateway_up")));
  json_decref(st);
  run_free(&r);
  r = HB("stats", "--table");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strncmp(r.out, "pool.size\t2\n", 12) == 0, "%.300s", r.out);
  ck_assert_msg(strstr(r.out, "\npool.gateway_up\ttrue\n") != NULL, "%.300s", r.out);
  ck_assert_msg(strstr(r.out, "\ndaemon.config.pool_size\t2\n") != NULL, "%.2000s", r.out);
  run_free(&r);
}
END_TEST

START_TEST(test_call) {
  expect(HB("call", "ping"), 0, "\"pong\"\n");
  expect(HB("--table", "call", "ping"), 0, "\"pong\"\n"); /* raw JSON whatever the mode */
  expect(HB("put", g_table, "k1", "cf:a=A", "cf:b=B"), 0, "");
  expect(HB("call", "row", "{\"table\":\"t\",\"row\":\"k1\",\"columns\":[\"cf:a\"]}"), 0,
         "{\"cf:a\":\"A\"}\n");
  expect(HB("call", "rows", "{\"table\":\"t\",\"rows\":[\"k1\",\"nobody\"]}"), 0,
         "[[\"k1\",{\"cf:a\":\"A\",\"cf:b\":\"B\"}]]\n");
  /* Params from stdin: larger than one argument may be (128 KiB). */
  static char big[300000];
  memset(big, 'x', sizeof big - 1);
  char *put = NULL;
  ck_assert_int_gt(asprintf(&put, "{\"table\":\"t\",\"row\":\"k2\",\"data\":{\"cf:a\":\"%s\"}}",
                            big),
                   0);
  expect(run_input(g_daemon.socket, put, (const char *const[]){"call", "put", "-", NULL}), 0,
         "null\n");
  free(put);
  json_t *row = dh_ok(&g_daemon, "row", json_pack("{s:s,s:s}", "table", g_table, "row", "k2"));
  ck_assert_uint_eq(json_string_length(json_object_get(row, "cf:a")), sizeof big - 1);
  json_decref(row);
  expect_err(run_input(g_daemon.socket, "{nope", (const char *const[]){"call", "put", "-", NULL}),
             EXIT_USAGE, "not JSON", NULL);
  /* Errors: the error object on stderr, as JSON. */
  const struct {
    const char *method, *params;
    int code;
  } errors[] = {
    {"nope", NULL, -32601},
    {"row", "{\"table\":\"t\"}", -32602},
    {"row", "[1]", -32600},
    {"row", "{\"table\":\"nope\",\"row\":\"x\"}", -32001},
  };
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
    run r = errors[i].params != NULL ? HB("call", errors[i].method, errors[i].params)
                                     : HB("call", errors[i].method);
    ck_assert_msg(r.status == EXIT_FAILED, "%s: exit %d", errors[i].method, r.status);
    ck_assert_int_eq(r.out_len, 0);
    json_error_t jerr;
    json_t *e = json_loads(r.err, 0, &jerr);
    ck_assert_msg(e != NULL, "stderr is not JSON: %.300s", r.err);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "code")), errors[i].code);
    json_decref(e);
    run_free(&r);
  }
}
END_TEST

/* A missing table is an HBase error, for every command that names one. */
START_TEST(test_hbase_error_missing_table) {
  expect_err(HB("get", "nope", "r"), EXIT_FAILED, "TableNotFoundException", "hbase_io_error", NULL);
  expect_err(HB("put", "nope", "r", "cf:a=1"), EXIT_FAILED, "hbase_io_error", NULL);
  expect_err(HB("scan", "nope"), EXIT_FAILED, "hbase_io_error", NULL);
  expect_err(HB("incr", "nope", "r", "cf:n"), EXIT_FAILED, "hbase_io_error", NULL);
  expect_err(HB("put", g_table, "r", "nofamily:a=1"), EXIT_FAILED, "hbase_io_error", NULL);
}
END_TEST

/* A socket bound by nobody's listen, and one whose listener never answers. */
START_TEST(test_daemon_unreachable) {
  char dir[] = "/tmp/hbpool-cli.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[100]; /* fits sun_path */
  snprintf(path, sizeof path, "%s/none.sock", dir);
  expect_err(run_argv(NULL, (const char *const[]){"-s", path, "ping", NULL}), EXIT_UNREACHABLE,
             "cannot connect", path, NULL);
  expect_err(run_argv(path, (const char *const[]){"tables", NULL}), EXIT_UNREACHABLE,
             "cannot connect", path, NULL); /* HBPOOL_SOCKET */
  /* -s wins over HBPOOL_SOCKET. */
  expect(run_argv(path, (const char *const[]){"-s", g_daemon.socket, "ping", NULL}), 0,
         "\"pong\"\n");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  expect_err(run_argv(path, (const char *const[]){"get", "t", "r", NULL}), EXIT_UNREACHABLE,
             "cannot connect", NULL); /* bound, not listening: refused */
  ck_assert_int_eq(listen(fd, 4), 0);
  int64_t start = mono_ms();
  expect_err(run_argv(path, (const char *const[]){"-t", "300", "ping", NULL}), EXIT_UNREACHABLE,
             "no reply", "300 ms", NULL);
  ck_assert_int_lt(mono_ms() - start, 10000);
  close(fd);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* A daemon whose gateway is down answers at once with a retryable error. */
START_TEST(test_retryable_error) {
  expect_err(run_argv(g_down.socket, (const char *const[]){"get", "t", "r", NULL}), EXIT_RETRYABLE,
             "gateway_unavailable", NULL);
  expect(run_argv(g_down.socket, (const char *const[]){"ping", NULL}), 0, "\"pong\"\n");
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * export and import. */

/* Every row of table as the daemon itself scans it (base64, page after page), as compact JSON
 * text. */
static char *daemon_scan(const char *table) {
  json_t *rows = json_array();
  json_t *params = json_pack("{s:s,s:s}", "table", table, "encoding", "base64");
  while (!json_is_null(params)) {
    json_t *r = dh_ok(&g_daemon, "scan", params);
    json_array_extend(rows, json_object_get(r, "rows"));
    params = json_incref(json_object_get(r, "next"));
    json_decref(r);
  }
  json_decref(params);
  char *text = dh_text(rows);
  json_decref(rows);
  return text;
}

/* path holds text. */
static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
}

/* n bytes in base64 into out (NUL-terminated; room for 4 * ceil(n / 3) + 1). */
static void b64(char *out, const unsigned char *in, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
      (i + 2 < n ? in[i + 2] : 0);
    *out++ = abc[v >> 18 & 63];
    *out++ = abc[v >> 12 & 63];
    *out++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
    *out++ = i + 2 < n ? abc[v & 63] : '=';
  }
  *out = '\0';
}

/* A temporary file path, under a directory made for it. */
static void temp_path(char *path, size_t n, const char *name) {
  char dir[] = "/tmp/hbpool-cli-io.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, n, "%s/%s", dir, name);
}

/* 2,500 rows with binary keys, columns and values (base64), some of several cells, exported in
 * base64 and imported into another table, in batches of 1,000 and of 7: the tables are the same.
 * Without --base64 the binary rows cannot be exported, and say so. */
START_TEST(test_export_import_round_trip) {
  json_t *ops = json_array();
  for (int i = 0; i < 2500; i++) {
    unsigned char key[6] = {0x00, 0xff, (unsigned char)(i >> 8), (unsigned char)i, '\n', 0x80};
    char k64[16], v64[16], c64[16];
    b64(k64, key, sizeof key);
    unsigned char value[4] = {(unsigned char)i, 0x00, 0xfe, '"'};
    b64(v64, value, sizeof value);
    unsigned char column[5] = {'c', 'f', ':', 0x01, (unsigned char)(i % 3)};
    b64(c64, column, sizeof column);
    json_t *data = json_pack("{s:s}", c64, v64);
    if (i % 2 == 0)
      json_object_set_new(data, "Y2Y6dGV4dA==", json_string("dGV4dA==")); /* cf:text = text */
    json_array_append_new(ops, json_pack("{s:s,s:s,s:o}", "op", "put", "row", k64, "data", data));
  }
  json_decref(
    dh_ok(&g_daemon, "batch",
          json_pack("{s:s,s:s,s:o}", "table", g_src, "encoding", "base64", "operations", ops)));
  char path[128];
  temp_path(path, sizeof path, "rows.jsonl");
  run r = HB("-b", "export", g_src);
  ck_assert_msg(r.status == 0 && r.err[0] == '\0', "exit %d: %.500s", r.status, r.err);
  int lines = 0;
  for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  ck_assert_int_eq(lines, 2500);
  write_file(path, r.out);
  run_free(&r);
  expect(HB("-b", "import", g_dst, path), 0, "");
  char *src = daemon_scan(g_src), *dst = daemon_scan(g_dst);
  ck_assert_str_eq(dst, src);
  free(dst);
  /* Again into a third table, from stdin, in batches of 7 (four in flight). */
  r = HB("-b", "export", g_src);
  expect(run_input(g_daemon.socket, r.out,
                   (const char *const[]){"-b", "import", g_dst2, "--batch-size", "7", NULL}),
         0, "");
  run_free(&r);
  dst = daemon_scan(g_dst2);
  ck_assert_str_eq(dst, src);
  free(dst);
  free(src);
  /* Scan options choose the rows; text mode refuses binary data, with the hint. */
  expect(HB("export", g_table, "--prefix", "exp-none"), 0, "");
  expect_err(HB("export", g_src, "--limit", "1"), EXIT_FAILED, "encoding_error", "--base64", NULL);
  unlink(path);
}
END_TEST

/* The value of one cell as the daemon reads it (NULL: absent), malloc'd. */
static char *daemon_cell(const char *table, const char *row, const char *column) {
  json_t *r = dh_ok(&g_daemon, "row", json_pack("{s:s,s:s}", "table", table, "row", row));
  const char *v = json_string_value(json_object_get(r, column));
  char *copy = v != NULL ? strdup(v) : NULL;
  json_decref(r);
  return copy;
}

static void expect_cell(const char *table, const char *row, const char *column, const char *want) {
  char *got = daemon_cell(table, row, column);
  ck_assert_msg(want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0,
                "%s %s %s: '%s', expected '%s'", table, row, column, got ? got : "(absent)",
                want ? want : "(absent)");
  free(got);
}

/* Batches are in flight four at a time, and a daemon whose max_pool_share lets a client hold
 * several connections runs them at once: a row's later line must still land last. A batch of
 * 1,000 rows of 8 KiB ending with row ordX, then ordX again alone (which would overtake the
 * large call if it did not wait for it); and, eight times, three rows written 100 times each,
 * interleaved, in batches of 1 or 2. */
START_TEST(test_import_keeps_each_rows_order) {
  dh_daemon wide;
  ck_assert(dh_start(&wide, "test_cli", &g_gateway, g_prefix_keys, "pool_size = 8\n"));
  size_t cap = 1001 * 8300;
  char *text = malloc(cap), value[8193];
  ck_assert_ptr_nonnull(text);
  memset(value, 'o', 8192);
  value[8192] = '\0';
  size_t len = 0;
  for (int i = 0; i < 999; i++)
    len += (size_t)snprintf(text + len, cap - len,
                            "{\"row\":\"ordbig%03d\",\"columns\":{\"cf:v\":\"%s\"}}\n", i, value);
  len += (size_t)snprintf(text + len, cap - len,
                          "{\"row\":\"ordX\",\"columns\":{\"cf:n\":\"1\"}}\n"
                          "{\"row\":\"ordX\",\"columns\":{\"cf:n\":\"2\"}}\n");
  expect(run_input(wide.socket, text, (const char *const[]){"import", g_imp, NULL}), 0, "");
  expect_cell(g_imp, "ordX", "cf:n", "2");
  const char *sizes[] = {"1", "2"};
  for (size_t k = 0; k < 8; k++) { /* without the wait for the row, 2 runs of 4 failed here */
    text[0] = '\0';
    for (int i = 0; i < 300; i++)
      snprintf(text + strlen(text), cap - strlen(text),
               "{\"row\":\"ord%zu-%d\",\"columns\":{\"cf:n\":\"v%zu-%d\"}}\n", k, i % 3, k, i / 3);
    expect(run_input(wide.socket, text,
                     (const char *const[]){"import", g_imp, "--batch-size", sizes[k % 2], NULL}),
           0, "");
    for (int r = 0; r < 3; r++) {
      char row[32], want[32];
      snprintf(row, sizeof row, "ord%zu-%d", k, r);
      snprintf(want, sizeof want, "v%zu-99", k);
      expect_cell(g_imp, row, "cf:n", want);
    }
  }
  free(text);
  ck_assert_int_eq(dh_stop(&wide), 0);
}
END_TEST

/* A malformed line stops the import there: the lines before it are written, none after it,
 * exit 3. With --skip-bad each is reported and skipped, and the rest is written. */
START_TEST(test_import_bad_lines) {
  const char *text = "{\"row\":\"bad1\",\"columns\":{\"cf:a\":\"1\"}}\n"
                     "\n"
                     "{\"row\":\"bad3\",\"columns\":{\"cf:a\":\"3\"}}\n"
                     "{\"row\":\"bad4\",\"columns\":{\"cf:a\":4}}\n"
                     "{\"row\":\"bad5\",\"columns\":{\"cf:a\":\"5\"}}\n"
                     "{\"row\":\"bad6\",\"columns\":{\"cf:a\":\"6\"},\"ts\":1}\n"
                     "[1, 2\n"
                     "{\"row\":\"bad8\",\"columns\":{\"cf:a\":\"8\"}}";
  run r = run_input(g_daemon.socket, text, (const char *const[]){"import", g_imp, NULL});
  ck_assert_msg(r.status == EXIT_FAILED, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.err, "line 4: the value of \"cf:a\" must be a string\n") != NULL, "%s",
                r.err);
  ck_assert_msg(strstr(r.err, "stopped at line 4: rows written before it: 2;") != NULL, "%s",
                r.err);
  ck_assert_msg(strstr(r.err, "line 6") == NULL, "%s", r.err);
  run_free(&r);
  expect_cell(g_imp, "bad1", "cf:a", "1");
  expect_cell(g_imp, "bad3", "cf:a", "3");
  expect_cell(g_imp, "bad5", "cf:a", NULL);
  expect_cell(g_imp, "bad8", "cf:a", NULL);

  r = run_input(g_daemon.socket, text, (const char *const[]){"import", "--skip-bad", g_imp, NULL});
  ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
  ck_assert_msg(strstr(r.err, "line 4: the value of \"cf:a\" must be a string (skipped)") != NULL &&
                  strstr(r.err, "line 6: unknown member \"ts\" (skipped)") != NULL &&
                  strstr(r.err, "line 7: not JSON") != NULL &&
                  strstr(r.err, "rows written: 4; malformed lines skipped: 3") != NULL,
                "%s", r.err);
  run_free(&r);
  expect_cell(g_imp, "bad5", "cf:a", "5");
  expect_cell(g_imp, "bad8", "cf:a", "8"); /* the last line needs no newline */

  /* In base64 every string must be base64; the other mistakes of a line. */
  const struct {
    const char *line, *why;
    bool base64;
  } bad[] = {
    {"{\"row\":\"YQ==\",\"columns\":{\"Y2Y6YQ==\":\"not base64!\"}}", "the value of", true},
    {"{\"row\":\"a\",\"columns\":{\"Y2Y6YQ==\":\"YQ==\"}}", "\"row\" must be", true},
    {"{\"row\":\"YQ==\",\"columns\":{\"cf:a\":\"YQ==\"}}", "is not base64", true},
    {"{\"row\":\"\",\"columns\":{\"cf:a\":\"1\"}}", "\"row\" must be a non-empty string", false},
    {"{\"row\":\"r\",\"columns\":{}}", "\"columns\" must be a non-empty object", false},
    {"{\"row\":\"r\"}", "\"columns\" must be", false},
    {"[\"r\"]", "not an object", false},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *args[] = {bad[i].base64 ? "-b" : "import", bad[i].base64 ? "import" : g_imp,
                          bad[i].base64 ? g_imp : NULL, NULL};
    r = run_input(g_daemon.socket, bad[i].line, args);
    ck_assert_msg(r.status == EXIT_FAILED && strstr(r.err, "line 1: ") != NULL &&
                    strstr(r.err, bad[i].why) != NULL,
                  "%s: exit %d: %s", bad[i].line, r.status, r.err);
    run_free(&r);
  }
}
END_TEST

/* A batch the daemon fails names its lines, with the exit status of its error; nothing was
 * written. A missing file is a usage error. */
START_TEST(test_import_failures) {
  const char *text = "{\"row\":\"f1\",\"columns\":{\"cf:a\":\"1\"}}\n"
                     "{\"row\":\"f2\",\"columns\":{\"cf:a\":\"2\"}}\n";
  expect_err(run_input(g_daemon.socket, text, (const char *const[]){"import", "nope", NULL}),
             EXIT_FAILED, "lines 1-2 were not all written", "hbase_io_error",
             "rows written (acknowledged): 0", NULL);
  expect_err(run_input(g_down.socket, text, (const char *const[]){"import", g_imp, "-", NULL}),
             EXIT_RETRYABLE, "lines 1-2 were not all written", "gateway_unavailable", NULL);
  expect_cell(g_imp, "f1", "cf:a", NULL);
  expect_err(HB("import", g_imp, "/nonexistent/rows.jsonl"), EXIT_USAGE, "cannot open",
             "/nonexistent/rows.jsonl", NULL);
  expect_err(HB("import", g_imp, "--limit", "3"), EXIT_USAGE, "options of scan and export", NULL);
  expect_err(HB("scan", g_imp, "--skip-bad"), EXIT_USAGE, "options of import", NULL);
  expect_err(HB("import", g_imp, "--batch-size", "0"), EXIT_USAGE, "--batch-size", NULL);
}
END_TEST

/* On a terminal, export and import end with a line of their figures; import from a file says
 * how much of it was read. Elsewhere they are silent (expect() checks stderr in the tests
 * above). */
START_TEST(test_progress_on_a_terminal) {
  static char text[65536];
  text[0] = '\0';
  for (int i = 0; i < 300; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text),
             "{\"row\":\"prog%03d\",\"columns\":{\"cf:a\":\"%d\"}}\n", i, i);
  char path[128];
  temp_path(path, sizeof path, "progress.jsonl");
  write_file(path, text);
  int status, none = open("/dev/null", O_RDONLY);
  char *err = run_pty(STDERR_FILENO, none, (const char *const[]){"import", g_imp, path, NULL},
                      &status);
  ck_assert_msg(status == 0, "exit %d: %s", status, err);
  const char *last = strrchr(err, '\r');
  ck_assert_msg(last != NULL && strncmp(last, "\rimport: 300 rows, ", 19) == 0 &&
                  strstr(last, " rows/s, ") != NULL && strstr(last, ", 100%\033[K\n") != NULL,
                "stderr: %s", err);
  free(err);
  int pipe_in[2]; /* the lines fit in a pipe's buffer */
  ck_assert_int_eq(pipe(pipe_in), 0);
  ck_assert_int_eq(write(pipe_in[1], text, strlen(text)), (ssize_t)strlen(text));
  close(pipe_in[1]);
  err = run_pty(STDERR_FILENO, pipe_in[0], (const char *const[]){"import", g_imp, NULL}, &status);
  ck_assert_msg(status == 0 && strstr(err, "\rimport: 300 rows, ") != NULL &&
                  strstr(err, "%") == NULL, /* a pipe's size is unknown */
                "exit %d: %s", status, err);
  free(err);
  err = run_pty(STDERR_FILENO, open("/dev/null", O_RDONLY),
                (const char *const[]){"export", g_imp, "--prefix", "prog", NULL}, &status);
  last = strrchr(err, '\r');
  ck_assert_msg(status == 0 && last != NULL && strncmp(last, "\rexport: 300 rows, ", 19) == 0,
                "exit %d: %s", status, err);
  free(err);
  unlink(path);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemons and tables, made outside any test so that failures are printed. */

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_daemon, "test_cli", method, params);
}

static bool make_tables(void) {
  json_t *fam = json_pack("{s:{}}", "cf");
  const char *tables[] = {g_table, g_big, g_src, g_dst, g_dst2, g_imp};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    if (!call_ok("create_table", json_pack("{s:s,s:O}", "table", tables[i], "families", fam))) {
      json_decref(fam);
      return false;
    }
  }
  json_decref(fam);
  char value[BIG_VALUE + 1], row[16];
  value[BIG_VALUE] = '\0';
  for (int chunk = 0; chunk < BIG_ROWS; chunk += 500) {
    json_t *ops = json_array();
    for (int i = chunk; i < chunk + 500; i++) {
      snprintf(row, sizeof row, "b%05d", i);
      memset(value, 'a' + i % 26, BIG_VALUE);
      json_array_append_new(ops,
                            json_pack("{s:s,s:s,s:{s:s}}", "op", "put", "row", row, "data", "cf:v",
                                      value));
    }
    if (!call_ok("batch", json_pack("{s:s,s:o}", "table", g_big, "operations", ops)))
      return false;
  }
  return true;
}

static void drop_tables(void) {
  const char *tables[] = {g_table, g_big, g_made, g_src, g_dst, g_dst2, g_imp};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    json_decref(dh_try_call(&g_daemon, "delete_table",
                            json_pack("{s:s,s:b}", "table", tables[i], "disable", 1)));
}

static bool start_daemons(const char *prefix) {
  char keys[128], pool[64];
  snprintf(keys, sizeof keys, "table_prefix = %s\n", prefix);
  snprintf(g_prefix_keys, sizeof g_prefix_keys, "%s", keys);
  snprintf(pool, sizeof pool, "pool_size = %d\n", POOL);
  if (!dh_start(&g_daemon, "test_cli", &g_gateway, keys, pool))
    return false;
  hbc_options closed = g_gateway;
  closed.host = "127.0.0.1";
  closed.port = 1;
  return dh_start(&g_down, "test_cli", &closed, keys,
                  "pool_size = 1\nlazy_connect = true\nconnect_timeout_ms = 1000\n");
}

static Suite *cli_suite(void) {
  Suite *s = suite_create("hbpool command line");
  TCase *tc = tcase_create("cli");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_version_and_help);
  tcase_add_test(tc, test_usage_errors);
  tcase_add_test(tc, test_ping_and_tables);
  tcase_add_test(tc, test_terminal_gets_text);
  tcase_add_test(tc, test_put_get_json_and_table);
  tcase_add_test(tc, test_get_not_found);
  tcase_add_test(tc, test_delete);
  tcase_add_test(tc, test_incr);
  tcase_add_test(tc, test_scan);
  tcase_add_test(tc, test_scan_streams_bounded_memory);
  tcase_add_test(tc, test_base64_round_trip);
  tcase_add_test(tc, test_create_describe_drop);
  tcase_add_test(tc, test_stats);
  tcase_add_test(tc, test_call);
  tcase_add_test(tc, test_hbase_error_missing_table);
  tcase_add_test(tc, test_daemon_unreachable);
  tcase_add_test(tc, test_retryable_error);
  tcase_add_test(tc, test_export_import_round_trip);
  tcase_add_test(tc, test_import_keeps_each_rows_order);
  tcase_add_test(tc, test_import_bad_lines);
  tcase_add_test(tc, test_import_failures);
  tcase_add_test(tc, test_progress_on_a_terminal);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_cli"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  const char *builddir = getenv("top_builddir");
  snprintf(g_cli, sizeof g_cli, "%s/clients/cli/hbpool", builddir != NULL ? builddir : "..");
  if (access(g_cli, X_OK) != 0) {
    fprintf(stderr, "test_cli: %s is not built\n", g_cli);
    return 2;
  }
  char prefix[32];
  snprintf(prefix, sizeof prefix, "cli%d", (int)getpid());
  int failed = 1;
  if (start_daemons(prefix) && make_tables()) {
    SRunner *sr = srunner_create(cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  if (g_daemon.pid > 0)
    drop_tables();
  int rc_up = dh_stop(&g_daemon), rc_down = g_down.pid > 0 ? dh_stop(&g_down) : 0;
  printf("hbpoold exited with status %d and %d after SIGTERM\n", rc_up, rc_down);
  return failed == 0 && rc_up == 0 && rc_down == 0 ? 0 : 1;
}
