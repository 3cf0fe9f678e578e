/* daemon_harness: hbpoold started from the build for end-to-end tests, and a line client that
 * speaks its JSON-RPC over the Unix socket or TCP, as a client in any language would. */
#ifndef HBPOOL_TEST_DAEMON_HARNESS_H
#define HBPOOL_TEST_DAEMON_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hbase_client.h"

/* One hbpoold process with its own temporary directory (config file and socket). */
typedef struct dh_daemon {
  char dir[64];
  char conf[128];
  char socket[100]; /* fits sun_path */
  pid_t pid;
} dh_daemon;

/* Writes a config (listen_socket in a fresh directory, log_level = warning, then daemon_keys in
 * [daemon]; the gateway gw, then gateway_keys in [gateway]: "key = value\n" lines, "" for none)
 * and starts $top_builddir/daemon/hbpoold on it, under $HBPOOL_TEST_DAEMON_WRAPPER if set.
 * Returns once the socket exists; false with a message naming prog if the daemon did not come
 * up. Uses no Check assertion: callable from main(). */
bool dh_start(dh_daemon *d, const char *prog, const hbc_options *gw, const char *daemon_keys,
              const char *gateway_keys);
/* The gateway's transport as the config names it: "buffered", "framed" or "http". */
const char *dh_transport(const hbc_options *gw);
/* Starts the daemon again on its config after it died (kill -9): returns once a connection to
 * its socket succeeds (the dead one's socket file is still there), false after 20 s. */
bool dh_restart(dh_daemon *d);
/* SIGTERM, waits for it, removes its files; returns its exit status (128 + signal if killed). */
int dh_stop(dh_daemon *d);
/* A field of /proc/PID/status in kB ("VmRSS", "VmHWM"), or -1. */
long dh_status_kb(const dh_daemon *d, const char *field);
/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int dh_free_tcp_port(void);

/* A client connection with its unparsed input. */
typedef struct dh_conn {
  int fd;
  char *buf;
  size_t len, cap;
} dh_conn;

/* Connects to the daemon's socket, or to 127.0.0.1:port; NULL on failure (no assertion). */
dh_conn *dh_try_connect(const dh_daemon *d);
dh_conn *dh_try_connect_tcp(int port);
/* The same, failing the test if the connection is refused. */
dh_conn *dh_connect(const dh_daemon *d);
void dh_close(dh_conn *c);

/* Writes all of data: 0, or -1 (no assertion, no SIGPIPE). */
int dh_write(dh_conn *c, const char *data, size_t len);
/* dh_write of a string, failing the test on error. */
void dh_send(dh_conn *c, const char *text);
/* One recv into the input buffer: bytes read, 0 at EOF, -1 on error (errno says which). */
ssize_t dh_fill(dh_conn *c);
/* The next complete line of the input buffer (malloc'd, without '\n'), or NULL. */
char *dh_take_line(dh_conn *c);
/* The next line, reading as needed; NULL at EOF, on error or after timeout_ms. */
char *dh_line(dh_conn *c, int timeout_ms);
/* The next line as JSON, within 30 s; fails the test otherwise. */
json_t *dh_json(dh_conn *c);

/* A request line {"jsonrpc":"2.0","id":ID,"method":M,"params":P}\n (malloc'd); steals id and
 * params (NULL: an empty object). */
char *dh_request(json_t *id, const char *method, json_t *params);
/* Sends a request with a fresh integer id and returns its reply, checking id and "jsonrpc". */
json_t *dh_call(dh_conn *c, const char *method, json_t *params);
/* Takes a reply: its result (a new reference), failing the test if it is an error. */
json_t *dh_result(json_t *reply, const char *method);
/* Takes a reply: its error object (a new reference), failing the test unless it has code. */
json_t *dh_error(json_t *reply, const char *method, int code);
/* One call on a connection of its own: the result, or the error that must have code. */
json_t *dh_ok(const dh_daemon *d, const char *method, json_t *params);
json_t *dh_fails(const dh_daemon *d, const char *method, json_t *params, int code);
/* One call without any assertion (setup and cleanup in main()): the reply, or NULL if none came
 * within 60 s; on a connection of its own, or on c. */
json_t *dh_try_call(const dh_daemon *d, const char *method, json_t *params);
json_t *dh_try_call_on(dh_conn *c, const char *method, json_t *params);
/* dh_try_call that must succeed: false, with a message naming prog, if it did not. */
bool dh_try_ok(const dh_daemon *d, const char *prog, const char *method, json_t *params);
/* Creates table (family cf) with rows s000, s001... of 1 KiB each in cf:v, put in batches of
 * 200 (a line well under 1 MiB): large scan replies. Uses no Check assertion; false, with a
 * message naming prog, on failure. */
bool dh_make_kib_rows(const dh_daemon *d, const char *prog, const char *table, int rows);
/* n requests sent at once on one connection, so that they run on every pooled connection
 * together: "put" of rows TAG0.. (value: the key, in cf:a) or "row" of them, in table. Every
 * reply must carry one of their ids; failures are printed. Returns how many succeeded. */
int dh_pipelined(const dh_daemon *d, const char *table, const char *method, const char *tag, int n);

/* The reply's error code, 0 if it has none. */
int dh_error_code(const json_t *reply);
/* Fails the test unless got (stolen) equals the JSON text want. */
void dh_expect_json(json_t *got, const char *want);
/* A value's compact JSON text (malloc'd), for messages. */
char *dh_text(const json_t *v);

#endif
