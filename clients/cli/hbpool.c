/* hbpool: the command-line client of hbpoold: HBase reads, writes, scans and table admin from a
 * shell or a script, as JSON lines or aligned text, over the daemon's Unix socket. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "print.h"

#define CLI_DEFAULT_SOCKET "/run/hbpool/hbpoold.sock"
/* Longer than the daemon's default request_timeout_ms plus queue_timeout_ms (30 s + 5 s), so
 * that a slow gateway is reported by the daemon, with its reason, before hbpool gives up. */
#define CLI_DEFAULT_TIMEOUT_MS 60000
/* Rows per scanner_next: memory stays bounded by one chunk, whatever the scan's length. */
#define CLI_SCAN_CHUNK 500

typedef struct cli_command {
  const char *name;
  int min_args, max_args; /* after the command name; -1: no maximum */
  int (*run)(cli *c, int argc, char **argv);
} cli_command;

static const char cli_usage_text[] =
  "usage: hbpool [OPTIONS] COMMAND [ARGS...]\n"
  "commands:\n"
  "  tables                          list the tables\n"
  "  get TABLE ROW [COLUMN...]       print a row (COLUMN: family or family:qualifier)\n"
  "  put TABLE ROW COL=VALUE...      write cells\n"
  "  delete TABLE ROW [COLUMN...]    delete a row, or some of its columns\n"
  "  scan TABLE [--prefix P | --start S --stop E] [--columns C,...] [--limit N] [--reverse]\n"
  "                                  print rows, one per line, as they arrive\n"
  "  export TABLE [scan options]     write rows as JSON lines (scan --json), with progress\n"
  "                                  on a terminal\n"
  "  import TABLE [FILE | -] [--batch-size N] [--skip-bad]\n"
  "                                  write the rows of export's lines (from stdin without\n"
  "                                  FILE) in batches of N (1000), with progress on a terminal\n"
  "  incr TABLE ROW COLUMN [N]       add N (1) to a counter and print its new value\n"
  "  create TABLE FAMILY[:OPT=VAL,...]...  create a table (OPT: max_versions, compression,\n"
  "                                  in_memory, bloom_filter_type, time_to_live, ...)\n"
  "  drop TABLE                      disable and delete a table\n"
  "  describe TABLE                  print the table's column families\n"
  "  stats                           print the daemon's statistics\n"
  "  ping                            check that the daemon answers\n"
  "  call METHOD [JSON-PARAMS | -]   send any request (params from stdin with -); print its\n"
  "                                  result as JSON\n"
  "options:\n"
  "  -s, --socket PATH   the daemon's socket (default: $HBPOOL_SOCKET, else " CLI_DEFAULT_SOCKET
  ")\n"
  "  -t, --timeout MS    wait at most MS ms for each reply (default 60000; 0: no limit)\n"
  "      --json          print JSON lines (the default unless stdout is a terminal)\n"
  "      --table         print aligned text (the default on a terminal)\n"
  "  -b, --base64        row keys, columns and values are base64, in and out\n"
  "  -h, --help          print this help and exit\n"
  "  -V, --version       print the version and exit\n"
  "exit status: 0 ok, 1 not found, 2 usage error, 3 request failed, 4 daemon unreachable,\n"
  "5 request failed but may be sent again later; see hbpool(1)\n";

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("hbpool: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'hbpool --help'.\n", stderr);
  return CLI_EXIT_USAGE;
}

/* ---------------------------------------------------------------------------------------------
 * Arguments. */

/* A byte string from the command line as JSON; NULL (usage error printed) if it is not UTF-8,
 * which a JSON string cannot carry. */
static json_t *cli_bytes(const cli *c, const char *arg) {
  json_t *s = json_string(arg);
  if (s == NULL)
    cli_usage_error("'%s' is not valid UTF-8%s", arg,
                    c->base64 ? "" : ": give binary data in base64, with --base64");
  return s;
}

/* Sets obj[key] to the byte string arg: 0, or -1 (usage error printed). */
static int cli_set_bytes(const cli *c, json_t *obj, const char *key, const char *arg) {
  json_t *s = cli_bytes(c, arg);
  return s != NULL ? json_object_set_new(obj, key, s) : -1;
}

/* args as a JSON array of byte strings, NULL (usage error printed) if one is not UTF-8. */
static json_t *cli_byte_list(const cli *c, int argc, char **argv) {
  json_t *list = json_array();
  for (int i = 0; i < argc; i++) {
    json_t *s = cli_bytes(c, argv[i]);
    if (s == NULL) {
      json_decref(list);
      return NULL;
    }
    json_array_append_new(list, s);
  }
  return list;
}

static int cli_parse_int(const char *s, long long min, long long max, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

json_t *cli_params(const cli *c, const char *table) {
  json_t *p = json_pack("{s:s}", "table", table);
  if (c->base64)
    json_object_set_new(p, "encoding", json_string("base64"));
  return p;
}

/* ---------------------------------------------------------------------------------------------
 * Calls. */

int cli_error_status(const json_t *error) {
  const json_t *retryable = json_object_get(json_object_get(error, "data"), "retryable");
  return json_is_true(retryable) ? CLI_EXIT_RETRYABLE : CLI_EXIT_FAILED;
}

/* Reports an error reply on stderr; returns the exit status it stands for. */
static int cli_report_error(const cli *c, const json_t *error) {
  const char *message = json_string_value(json_object_get(error, "message"));
  const json_t *data = json_object_get(error, "data");
  const char *name = json_string_value(json_object_get(data, "error"));
  fprintf(stderr, "hbpool: %s: %s (%s)\n", c->command, message != NULL ? message : "(no message)",
          name != NULL ? name : "no error name");
  /* In utf8 mode the request's bytes were checked before sending: the result was binary. */
  if (name != NULL && strcmp(name, "encoding_error") == 0 && !c->base64)
    fputs("hbpool: the data is not UTF-8 text: read it with --base64\n", stderr);
  return cli_error_status(error);
}

int cli_ensure_connected(cli *c) {
  if (c->connected)
    return 0;
  char err[512];
  if (rpc_connect(&c->conn, c->socket, c->timeout_ms, err, sizeof err) < 0) {
    fprintf(stderr, "hbpool: %s (is hbpoold running? -s or HBPOOL_SOCKET choose the socket)\n",
            err);
    return -1;
  }
  c->connected = true;
  return 0;
}

/* Sends method with params (stolen); on success *reply holds the whole reply (the caller's) and
 * 0 is returned; otherwise an exit status. With raw, an error reply is put on stderr as JSON. */
static int cli_call_reply(cli *c, const char *method, json_t *params, bool raw, json_t **reply) {
  *reply = NULL;
  if (cli_ensure_connected(c) < 0) {
    json_decref(params);
    return CLI_EXIT_UNREACHABLE;
  }
  char err[512];
  json_t *r = rpc_call(&c->conn, method, params, err, sizeof err);
  if (r == NULL) {
    fprintf(stderr, "hbpool: %s: %s\n", c->command, err);
    return CLI_EXIT_UNREACHABLE;
  }
  json_t *error = json_object_get(r, "error");
  if (error == NULL) {
    *reply = r;
    return CLI_EXIT_OK;
  }
  int rc;
  if (raw) {
    json_dumpf(error, stderr, JSON_COMPACT);
    fputc('\n', stderr);
    rc = cli_error_status(error);
  } else {
    rc = cli_report_error(c, error);
  }
  json_decref(r);
  return rc;
}

/* cli_call_reply that hands back just the result (borrowed from *reply). */
static int cli_call(cli *c, const char *method, json_t *params, json_t **reply, json_t **result) {
  int rc = cli_call_reply(c, method, params, false, reply);
  *result = rc == CLI_EXIT_OK ? json_object_get(*reply, "result") : NULL;
  return rc;
}

/* A call whose result is not printed. */
static int cli_call_quiet(cli *c, const char *method, json_t *params) {
  json_t *reply, *result;
  int rc = cli_call(c, method, params, &reply, &result);
  json_decref(reply);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Rows. */

/* {"row": KEY, "columns": ROW} on one line: the same shape for get, each row of a scan, and the
 * lines export writes and import reads. Returns the bytes written. */
static size_t cli_print_row_json(const json_t *key, const json_t *row) {
  json_t *line = json_pack("{s:O,s:O}", "row", key, "columns", row);
  size_t n = print_json_line(line);
  json_decref(line);
  return n;
}

/* A chunk of [key, row] pairs from a scanner: JSON lines, or a cell table (widths fitted to the
 * chunk first). Flushed at once: rows are shown as they arrive. */
static void cli_print_rows(const cli *c, print_cells *t, const json_t *rows) {
  size_t i, bytes = 0;
  const json_t *pair;
  if (!c->json) {
    json_array_foreach(rows, i, pair) {
      const json_t *key = json_array_get(pair, 0);
      print_cells_fit(t, json_string_value(key), json_string_length(key), json_array_get(pair, 1));
    }
  }
  json_array_foreach(rows, i, pair) {
    const json_t *key = json_array_get(pair, 0), *row = json_array_get(pair, 1);
    if (c->json)
      bytes += cli_print_row_json(key, row);
    else
      print_cells_row(t, json_string_value(key), json_string_length(key), row);
  }
  fflush(stdout);
  if (c->progress != NULL)
    progress_add(c->progress, json_array_size(rows), bytes);
}

/* ---------------------------------------------------------------------------------------------
 * Commands. */

static int cmd_tables(cli *c, int argc, char **argv) {
  (void)argc;
  (void)argv;
  json_t *reply, *result;
  int rc = cli_call(c, "tables", NULL, &reply, &result);
  size_t i;
  const json_t *name;
  json_array_foreach(result, i, name) {
    if (c->json)
      print_json_line(name);
    else
      printf("%s\n", json_string_value(name));
  }
  json_decref(reply);
  return rc;
}

/* TABLE ROW [COLUMN...] as params; NULL (usage error printed) if a byte string is bad. */
static json_t *cli_row_params(cli *c, int argc, char **argv) {
  json_t *p = cli_params(c, argv[0]);
  if (cli_set_bytes(c, p, "row", argv[1]) < 0) {
    json_decref(p);
    return NULL;
  }
  if (argc > 2) {
    json_t *columns = cli_byte_list(c, argc - 2, argv + 2);
    if (columns == NULL) {
      json_decref(p);
      return NULL;
    }
    json_object_set_new(p, "columns", columns);
  }
  return p;
}

static int cmd_get(cli *c, int argc, char **argv) {
  json_t *p = cli_row_params(c, argc, argv);
  if (p == NULL)
    return CLI_EXIT_USAGE;
  json_t *reply, *result;
  int rc = cli_call(c, "row", p, &reply, &result);
  if (rc == CLI_EXIT_OK && json_object_size(result) == 0) {
    fprintf(stderr, "hbpool: row '%s' not found in table '%s'%s\n", argv[1], argv[0],
            argc > 2 ? " (with the columns asked for)" : "");
    rc = CLI_EXIT_NOT_FOUND;
  } else if (rc == CLI_EXIT_OK && c->json) {
    json_t *key = json_string(argv[1]);
    cli_print_row_json(key, result);
    json_decref(key);
  } else if (rc == CLI_EXIT_OK) {
    print_cells t = {.with_row = false};
    print_cells_fit(&t, NULL, 0, result);
    print_cells_row(&t, NULL, 0, result);
  }
  json_decref(reply);
  return rc;
}

/* COL=VALUE: in base64 the column may end with '=' padding, and a value never starts with '=',
 * so the separator is the last '=' of the first run of them. */
static const char *cli_find_separator(const cli *c, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq != NULL && c->base64) {
    while (eq[1] == '=')
      eq++;
  }
  return eq;
}

static int cmd_put(cli *c, int argc, char **argv) {
  json_t *data = json_object();
  for (int i = 2; i < argc; i++) {
    const char *eq = cli_find_separator(c, argv[i]);
    if (eq == NULL || eq == argv[i]) {
      json_decref(data);
      return cli_usage_error("put: '%s' is not COLUMN=VALUE", argv[i]);
    }
    json_t *value = cli_bytes(c, eq + 1);
    if (value == NULL) {
      json_decref(data);
      return CLI_EXIT_USAGE;
    }
    char *column = strndup(argv[i], (size_t)(eq - argv[i]));
    int rc = json_object_set_new(data, column, value); /* -1 if column is not UTF-8 */
    free(column);
    if (rc < 0) {
      json_decref(data);
      return cli_usage_error("'%s' is not valid UTF-8%s", argv[i],
                             c->base64 ? "" : ": give binary data in base64, with --base64");
    }
  }
  json_t *p = cli_params(c, argv[0]);
  json_object_set_new(p, "data", data);
  if (cli_set_bytes(c, p, "row", argv[1]) < 0) {
    json_decref(p);
    return CLI_EXIT_USAGE;
  }
  return cli_call_quiet(c, "put", p);
}

static int cmd_delete(cli *c, int argc, char **argv) {
  json_t *p = cli_row_params(c, argc, argv);
  return p == NULL ? CLI_EXIT_USAGE : cli_call_quiet(c, "delete", p);
}

/* --columns C,... as a list; NULL (usage error printed) if one is not UTF-8. */
static json_t *cli_column_list(const cli *c, const char *spec) {
  char *copy = strdup(spec), *save = NULL;
  json_t *list = json_array();
  for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    json_t *s = cli_bytes(c, tok);
    if (s == NULL) {
      json_decref(list);
      list = NULL;
      break;
    }
    json_array_append_new(list, s);
  }
  free(copy);
  return list;
}

/* The scanner_open params from the scan options; NULL (usage error printed) if one is bad. */
static json_t *cli_scan_params(const cli *c, const char *table) {
  json_t *p = cli_params(c, table);
  long long batch = c->limit >= 0 && c->limit < CLI_SCAN_CHUNK ? c->limit : CLI_SCAN_CHUNK;
  json_object_set_new(p, "batch_size", json_integer(batch));
  if (c->reverse)
    json_object_set_new(p, "reverse", json_true());
  bool ok = (c->prefix == NULL || cli_set_bytes(c, p, "row_prefix", c->prefix) == 0) &&
    (c->start == NULL || cli_set_bytes(c, p, "row_start", c->start) == 0) &&
    (c->stop == NULL || cli_set_bytes(c, p, "row_stop", c->stop) == 0);
  if (ok && c->columns != NULL) {
    json_t *columns = cli_column_list(c, c->columns);
    ok = columns != NULL;
    if (ok)
      json_object_set_new(p, "columns", columns);
  }
  if (!ok) {
    json_decref(p);
    return NULL;
  }
  return p;
}

/* Reads the scanner to its end (or the limit), printing each chunk as it comes. */
static int cli_scan_rows(cli *c, json_int_t scanner) {
  print_cells t = {.with_row = true};
  long long left = c->limit;
  while (left != 0) {
    long long count = left >= 0 && left < CLI_SCAN_CHUNK ? left : CLI_SCAN_CHUNK;
    /* The encoding is a parameter of each call, scanner_next too: the scanner does not keep it. */
    json_t *p = json_pack("{s:I,s:I}", "scanner", scanner, "count", (json_int_t)count);
    if (c->base64)
      json_object_set_new(p, "encoding", json_string("base64"));
    json_t *reply, *result;
    int rc = cli_call(c, "scanner_next", p, &reply, &result);
    if (rc != CLI_EXIT_OK)
      return rc;
    const json_t *rows = json_object_get(result, "rows");
    cli_print_rows(c, &t, rows);
    if (left > 0)
      left -= (long long)json_array_size(rows);
    bool done = json_is_true(json_object_get(result, "done"));
    json_decref(reply);
    if (done)
      break;
  }
  return CLI_EXIT_OK;
}

static int cmd_scan(cli *c, int argc, char **argv) {
  (void)argc;
  if (c->prefix != NULL && (c->start != NULL || c->stop != NULL))
    return cli_usage_error("scan: --prefix cannot be combined with --start or --stop");
  json_t *p = cli_scan_params(c, argv[0]);
  if (p == NULL)
    return CLI_EXIT_USAGE;
  json_t *reply, *result;
  int rc = cli_call(c, "scanner_open", p, &reply, &result);
  if (rc != CLI_EXIT_OK)
    return rc;
  json_int_t scanner = json_integer_value(json_object_get(result, "scanner"));
  json_decref(reply);
  rc = cli_scan_rows(c, scanner);
  /* Closed after a failed scanner_next too, unless the daemon is gone (it closes a client's
   * scanners with its connection anyway). */
  if (rc == CLI_EXIT_UNREACHABLE)
    return rc;
  int close_rc = cli_call_quiet(c, "scanner_close", json_pack("{s:I}", "scanner", scanner));
  return rc != CLI_EXIT_OK ? rc : close_rc;
}

/* A scan written as JSON lines whatever stdout is, with progress on a terminal: import reads
 * them back. */
static int cmd_export(cli *c, int argc, char **argv) {
  progress p;
  progress_start(&p, "export", -1);
  c->json = true;
  c->progress = &p;
  int rc = cmd_scan(c, argc, argv);
  progress_end(&p);
  return rc;
}

static int cmd_incr(cli *c, int argc, char **argv) {
  long long n = 1;
  if (argc > 3 && cli_parse_int(argv[3], LLONG_MIN, LLONG_MAX, &n) < 0)
    return cli_usage_error("incr: '%s' is not an integer", argv[3]);
  json_t *p = cli_params(c, argv[0]);
  json_object_set_new(p, "value", json_integer(n));
  if (cli_set_bytes(c, p, "row", argv[1]) < 0 || cli_set_bytes(c, p, "column", argv[2]) < 0) {
    json_decref(p);
    return CLI_EXIT_USAGE;
  }
  json_t *reply, *result;
  int rc = cli_call(c, "counter_inc", p, &reply, &result);
  if (rc == CLI_EXIT_OK)
    print_json_line(result);
  json_decref(reply);
  return rc;
}

/* An option value as JSON: integers and true/false as such, anything else a string. */
static json_t *cli_option_value(const char *text) {
  long long n;
  if (cli_parse_int(text, LLONG_MIN, LLONG_MAX, &n) == 0)
    return json_integer(n);
  if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
    return json_boolean(text[0] == 't');
  return json_string(text);
}

/* FAMILY[:OPT=VAL,...] into families: 0, or a usage error's status. */
static int cli_add_family(json_t *families, const char *spec) {
  char *copy = strdup(spec), *save = NULL;
  char *colon = strchr(copy, ':');
  if (colon != NULL)
    *colon = '\0';
  json_t *options = json_object();
  int rc = *copy == '\0' ? cli_usage_error("create: '%s' has no family name", spec) : 0;
  char *opts = colon != NULL ? colon + 1 : NULL;
  for (char *tok = opts != NULL ? strtok_r(opts, ",", &save) : NULL; rc == 0 && tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    json_t *value = eq != NULL && eq != tok ? cli_option_value(eq + 1) : NULL;
    if (value == NULL) {
      rc = cli_usage_error("create: '%s' in '%s' is not OPTION=VALUE", tok, spec);
      break;
    }
    *eq = '\0';
    json_object_set_new(options, tok, value);
  }
  if (rc == 0 && json_object_set_new(families, copy, options) < 0)
    rc = cli_usage_error("create: '%s' is not valid UTF-8", spec);
  else if (rc != 0)
    json_decref(options);
  free(copy);
  return rc;
}

static int cmd_create(cli *c, int argc, char **argv) {
  json_t *families = json_object();
  for (int i = 1; i < argc; i++) {
    int rc = cli_add_family(families, argv[i]);
    if (rc != 0) {
      json_decref(families);
      return rc;
    }
  }
  return cli_call_quiet(c, "create_table",
                        json_pack("{s:s,s:o}", "table", argv[0], "families", families));
}

static int cmd_drop(cli *c, int argc, char **argv) {
  (void)argc;
  return cli_call_quiet(c, "delete_table", json_pack("{s:s,s:b}", "table", argv[0], "disable", 1));
}

/* Text form: one line per family with its options. */
static void cli_print_families(const json_t *families) {
  const char *name, *option;
  const json_t *options, *value;
  json_object_foreach((json_t *)families, name, options) {
    printf("%s", name);
    json_object_foreach((json_t *)options, option, value) {
      if (strcmp(option, "name") == 0)
        continue;
      printf(" %s=", option);
      print_scalar(stdout, value);
    }
    fputc('\n', stdout);
  }
}

/* Calls method and prints its result: as a JSON line, or with show on a terminal. */
static int cli_show(cli *c, const char *method, json_t *params, void (*show)(const json_t *)) {
  json_t *reply, *result;
  int rc = cli_call(c, method, params, &reply, &result);
  if (rc == CLI_EXIT_OK && c->json)
    print_json_line(result);
  else if (rc == CLI_EXIT_OK)
    show(result);
  json_decref(reply);
  return rc;
}

static void cli_print_flat(const json_t *v) {
  print_flat(v, "");
}

static int cmd_describe(cli *c, int argc, char **argv) {
  (void)argc;
  return cli_show(c, "families", json_pack("{s:s}", "table", argv[0]), cli_print_families);
}

static int cmd_stats(cli *c, int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_show(c, "stats", NULL, cli_print_flat);
}

static int cmd_ping(cli *c, int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_show(c, "ping", NULL, cli_print_flat);
}

static int cmd_call(cli *c, int argc, char **argv) {
  json_t *method = json_string(argv[0]);
  if (method == NULL)
    return cli_usage_error("call: the method name is not valid UTF-8");
  json_decref(method);
  json_t *params = NULL;
  if (argc > 1) {
    /* "-": from stdin, for params longer than the kernel lets one argument be (128 KiB). */
    json_error_t jerr;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    params = strcmp(argv[1], "-") == 0 ? json_loadf(stdin, flags, &jerr)
                                       : json_loads(argv[1], flags, &jerr);
    if (params == NULL)
      return cli_usage_error("call: the params are not JSON: %s (at offset %d)", jerr.text,
                             jerr.position);
  }
  json_t *reply;
  int rc = cli_call_reply(c, argv[0], params, true, &reply);
  if (rc == CLI_EXIT_OK)
    print_json_line(json_object_get(reply, "result"));
  json_decref(reply);
  return rc;
}

static const cli_command cli_commands[] = {
  {"tables", 0, 0, cmd_tables},  {"get", 2, -1, cmd_get},      {"put", 3, -1, cmd_put},
  {"delete", 2, -1, cmd_delete}, {"scan", 1, 1, cmd_scan},     {"incr", 3, 4, cmd_incr},
  {"create", 2, -1, cmd_create}, {"drop", 1, 1, cmd_drop},     {"describe", 1, 1, cmd_describe},
  {"stats", 0, 0, cmd_stats},    {"ping", 0, 0, cmd_ping},     {"call", 1, 2, cmd_call},
  {"export", 1, 1, cmd_export},  {"import", 1, 2, cli_import},
};

static const cli_command *cli_find_command(const char *name) {
  for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
    if (strcmp(cli_commands[i].name, name) == 0)
      return &cli_commands[i];
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Options. */

enum {
  OPT_JSON = 256,
  OPT_TABLE,
  OPT_PREFIX,
  OPT_START,
  OPT_STOP,
  OPT_COLUMNS,
  OPT_LIMIT,
  OPT_REVERSE,
  OPT_BATCH_SIZE,
  OPT_SKIP_BAD
};

/* Parses the options (anywhere on the line, up to "--"): -1 to go on, else an exit status. */
static int cli_parse_options(cli *c, int argc, char **argv) {
  static const struct option longopts[] = {
    {"socket", required_argument, NULL, 's'},
    {"timeout", required_argument, NULL, 't'},
    {"json", no_argument, NULL, OPT_JSON},
    {"table", no_argument, NULL, OPT_TABLE},
    {"base64", no_argument, NULL, 'b'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"start", required_argument, NULL, OPT_START},
    {"stop", required_argument, NULL, OPT_STOP},
    {"columns", required_argument, NULL, OPT_COLUMNS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"reverse", no_argument, NULL, OPT_REVERSE},
    {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
    {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
    {NULL, 0, NULL, 0},
  };
  int opt;
  long long n;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":s:t:bhV", longopts, NULL)) != -1) {
    c->scan_options |= opt >= OPT_PREFIX && opt <= OPT_REVERSE;
    c->import_options |= opt >= OPT_BATCH_SIZE;
    switch (opt) {
    case 's': c->socket = optarg; break;
    case 't':
      if (cli_parse_int(optarg, 0, INT_MAX, &n) < 0)
        return cli_usage_error("-t: '%s' is not a number of milliseconds", optarg);
      c->timeout_ms = (int)n;
      break;
    case OPT_JSON: c->json = true; break;
    case OPT_TABLE: c->json = false; break;
    case 'b': c->base64 = true; break;
    case 'h': fputs(cli_usage_text, stdout); return CLI_EXIT_OK;
    case 'V': printf("hbpool %s\n", PACKAGE_VERSION); return CLI_EXIT_OK;
    case OPT_PREFIX: c->prefix = optarg; break;
    case OPT_START: c->start = optarg; break;
    case OPT_STOP: c->stop = optarg; break;
    case OPT_COLUMNS: c->columns = optarg; break;
    case OPT_LIMIT:
      if (cli_parse_int(optarg, 1, LLONG_MAX, &n) < 0)
        return cli_usage_error("--limit: '%s' is not a positive integer", optarg);
      c->limit = n;
      break;
    case OPT_REVERSE: c->reverse = true; break;
    case OPT_BATCH_SIZE:
      if (cli_parse_int(optarg, 1, 1000000, &n) < 0)
        return cli_usage_error("--batch-size: '%s' is not an integer from 1 to 1000000", optarg);
      c->batch_size = n;
      break;
    case OPT_SKIP_BAD: c->skip_bad = true; break;
    case ':': return cli_usage_error("option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt >= '0' && optopt <= '9')
        return cli_usage_error("unknown option '-%c': put a negative number after '--'", optopt);
      if (optopt != 0)
        return cli_usage_error("unknown option '-%c'", optopt);
      return cli_usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  return -1;
}

static int cli_run(cli *c, int argc, char **argv) {
  if (optind >= argc)
    return cli_usage_error("no command given");
  const cli_command *cmd = cli_find_command(argv[optind]);
  if (cmd == NULL)
    return cli_usage_error("unknown command '%s'", argv[optind]);
  int nargs = argc - optind - 1;
  if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args))
    return cli_usage_error("%s: wrong number of arguments (%d)", cmd->name, nargs);
  if (c->scan_options && strcmp(cmd->name, "scan") != 0 && strcmp(cmd->name, "export") != 0)
    return cli_usage_error("%s: --prefix, --start, --stop, --columns, --limit and --reverse are "
                           "options of scan and export",
                           cmd->name);
  if (c->import_options && strcmp(cmd->name, "import") != 0)
    return cli_usage_error("%s: --batch-size and --skip-bad are options of import", cmd->name);
  c->command = cmd->name;
  return cmd->run(c, nargs, argv + optind + 1);
}

int main(int argc, char **argv) {
  const char *env_socket = getenv("HBPOOL_SOCKET");
  cli c = {
    .socket = env_socket != NULL && *env_socket ? env_socket : CLI_DEFAULT_SOCKET,
    .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
    .json = !isatty(STDOUT_FILENO),
    .limit = -1,
    .batch_size = 1000,
  };
  int rc = cli_parse_options(&c, argc, argv);
  if (rc < 0)
    rc = cli_run(&c, argc, argv);
  if (c.connected)
    rpc_close(&c.conn);
  /* Output that could not be written (a full disk) must not look like success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "hbpool: cannot write the output: %s\n", strerror(errno));
    if (rc == CLI_EXIT_OK)
      rc = CLI_EXIT_FAILED;
  }
  return rc;
}
