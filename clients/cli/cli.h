/* cli: what hbpool's commands share: the options given, the connection to the daemon, the calls
 * on it and the exit statuses. */
#ifndef HBPOOL_CLI_CLI_H
#define HBPOOL_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "progress.h"
#include "rpc.h"

/* Exit statuses: documented in hbpool(1) and kept stable for scripts. */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_NOT_FOUND = 1, /* get: the row (or the columns asked for) does not exist */
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_FAILED = 3,      /* the daemon or HBase refused or failed the request; bad input */
  CLI_EXIT_UNREACHABLE = 4, /* no connection, no reply in time, or not a JSON-RPC reply */
  CLI_EXIT_RETRYABLE = 5,   /* failed, but safe to resend later (data.retryable) */
};

typedef struct cli {
  const char *socket;
  int timeout_ms;
  bool json;   /* JSON lines, else aligned text */
  bool base64; /* row keys, columns and values are base64, in and out */
  /* scan and export */
  const char *prefix, *start, *stop, *columns;
  long long limit; /* -1: all rows */
  bool reverse;
  bool scan_options; /* one of the above was given */
  /* import */
  long long batch_size; /* rows per batch call */
  bool skip_bad;        /* report malformed lines and go on */
  bool import_options;  /* one of these was given */
  progress *progress;   /* export and import: counts rows and bytes (NULL: none) */
  const char *command;  /* named in error messages */
  rpc_conn conn;
  bool connected;
} cli;

/* Prints "hbpool: MESSAGE" and a hint on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Params {"table": TABLE, "encoding": ...}: every method with bytes takes the encoding. */
json_t *cli_params(const cli *c, const char *table);
/* The exit status an error reply's error member stands for. */
int cli_error_status(const json_t *error);
/* Connects to the daemon unless connected: 0, or -1 with the reason on stderr. */
int cli_ensure_connected(cli *c);

/* import TABLE [FILE|-]: import.c. */
int cli_import(cli *c, int argc, char **argv);

#endif
