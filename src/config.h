/* config: hbpoold's settings, read from an INI file (conf/hbpoold.conf) and strictly validated. */
#ifndef HBPOOL_CONFIG_H
#define HBPOOL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* metrics_listen = unix:/path: a Unix socket. */
#define CONFIG_UNIX_PREFIX "unix:"

/* transport = buffered (default) | framed | http */
typedef enum config_transport { CONFIG_BUFFERED, CONFIG_FRAMED, CONFIG_HTTP } config_transport;

/* "buffered", "framed" or "http". */
const char *config_transport_name(int transport);

/* The longest path accepted. */
#define CONFIG_HTTP_PATH_MAX 256

/* A rule of [access]: who it matches, and what it lets them do. */
typedef enum config_access_who {
  CONFIG_ACCESS_ANYONE, /* "*" */
  CONFIG_ACCESS_TCP,    /* "tcp": a client of listen_tcp, which has no credentials */
  CONFIG_ACCESS_UID,    /* "uid:N", "user:NAME" (resolved when the file is read) */
  CONFIG_ACCESS_GID,    /* "gid:N", "group:NAME": the peer's group or one of its groups */
} config_access_who;

typedef enum config_access_verdict {
  CONFIG_ACCESS_DENY,
  CONFIG_ACCESS_READ_ONLY, /* reads only: no writes, no admin */
  CONFIG_ACCESS_ALLOW,
} config_access_verdict;

typedef struct config_access_rule {
  char *text;   /* "KEY = VALUE" as written, for messages and the log */
  int who;      /* a config_access_who */
  unsigned id;  /* the uid or gid */
  int verdict;  /* a config_access_verdict */
  char *tables; /* NULL: any table; else every table name (prefix included) must start so */
} config_access_rule;

/* All durations are in milliseconds, sizes in bytes. docs/configuration.md gives every range. */
typedef struct config_gateway {
  char *name; /* "main" for [gateway]; NAME for [gateway NAME] */
  char *host;
  int port;               /* defaults localhost, 9090 */
  int transport;          /* a config_transport */
  char *path;             /* transport = http: the path the gateway serves, default "/" */
  bool compact;           /* protocol = binary | compact (default binary) */
  int pool_size;          /* default 8, 1..1024 */
  bool lazy_connect;      /* default false: open all connections at start */
  int connect_timeout_ms; /* default 5000 */
  int request_timeout_ms; /* default 30000: one Thrift call */
  int queue_timeout_ms;   /* default 5000: how long a request may wait for a connection */
  int max_queue;          /* default 4096: requests waiting for a connection */
  /* default 50000: reconnect a connection idle this long before use (gateways drop idle
   * sockets at 60 s) */
  int idle_refresh_ms;
  int reconnect_min_ms, reconnect_max_ms; /* backoff while the gateway is down: 100, 10000 */
  size_t max_message_bytes;               /* default 268435456 */
  bool coalesce;         /* default true: queued row and rows reads share gateway calls */
  int coalesce_max_rows; /* default 100, 1..10000: rows in one shared call */
  /* default 0: half of pool_size, rounded up; connections serving scan pages at once */
  int max_scan_connections;
  /* default 0: half of pool_size, rounded up; connections one client's requests hold at once */
  int max_pool_share;
} config_gateway;

typedef struct config {
  char *listen_socket;    /* default /run/hbpool/hbpoold.sock */
  int listen_socket_mode; /* octal in the file, default 0660 */
  /* "127.0.0.1:PORT" or NULL (default: off); only loopback addresses accepted (also
   * "[::1]:PORT"); config_listen_tcp_split parses it */
  char *listen_tcp;
  /* The Prometheus endpoint: NULL (default: off), a loopback ADDRESS:PORT as for listen_tcp,
   * or CONFIG_UNIX_PREFIX + a path. */
  char *metrics_listen;
  int max_clients;             /* default 1024 */
  size_t max_line_bytes;       /* default 16777216: one JSON request line */
  int max_requests_per_client; /* default 256 in flight */
  /* default 67108864: stop reading a client whose unread replies exceed this */
  size_t max_output_bytes_per_client;
  /* default 262144: a client's reads wait while this many bytes of its replies are unsent,
   * until they fall under half of it (0 = never) */
  size_t client_reply_window_bytes;
  /* default 268435456: when every client's buffered bytes together pass this, reading stops
   * from the clients that hold the most (client.c) */
  size_t max_buffered_bytes;
  int client_idle_timeout_ms; /* default 0 = never */
  /* default 60000: close a client whose unsent replies have not moved this long (0 = never) */
  int client_output_timeout_ms;
  char *log_level;              /* error | warning | info | debug, default info */
  bool log_syslog;              /* default false: also log to syslog (facility daemon) */
  char *table_prefix;           /* default "" (none) */
  char *table_prefix_separator; /* default "_" */
  int scan_max_rows;            /* default 1000: cap of one `scan` call */
  size_t max_cell_bytes;        /* default 10485760: a write's largest cell (0: unchecked) */
  bool scanner_read_ahead; /* default true: fetch a scanner's next page during the client's read */
  int scanner_idle_timeout_ms; /* default 300000 */
  int scan_keep_open_ms;       /* default 10000: a scan page's scanner waits for the next page */
  int shutdown_timeout_ms;     /* default 10000 */
  bool balance_ordered;        /* balance = least_busy (default) | ordered */
  config_gateway *gateways;
  /* At least one; default: one "main" gateway with defaults. The file's order is kept. */
  size_t ngateways;
  /* [access], in the file's order; without the section (access_rules false) anyone who can
   * open the socket may do anything. With it, a client no rule matches is denied. */
  bool access_rules;
  config_access_rule *access;
  size_t naccess;
} config;

/* hbpoold with no config file: localhost:9090. Overwrites *c without freeing what it held. */
void config_defaults(config *c);

/* Defaults, then the file. On success *out is overwritten (not freed first: pass an empty struct
 * or one whose strings you have freed or still own elsewhere); on failure *out is untouched and
 * err (code HB_ERR_INVALID) names the file, section and key, what is wrong and what is allowed. */
int config_load(const char *path, config *out, hb_error *err);
/* The same from memory (tests); messages name the source "(string)". */
int config_load_string(const char *text, config *out, hb_error *err);

/* Frees what *c holds and zeroes it: calling it twice, or on a zeroed struct, is safe. */
void config_free(config *c);

/* Splits a listen_tcp value that config_load accepted into the address literal (without the
 * brackets of an IPv6 one) and the port, ready for getaddrinfo with AI_NUMERICHOST. */
int config_listen_tcp_split(const char *value, char *host, size_t host_size, int *port,
                            hb_error *err);

#endif
