/* call: one JSON-RPC request while hbpoold serves it, and what the method modules (admin, reads,
 * writes, scan, scanner, batch) share: the method descriptor, common parameters, result rendering
 * and the call's life from the loop thread to a pooled connection and back. */
#ifndef HBPOOL_CALL_H
#define HBPOOL_CALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "hbase_client.h"
#include "pool.h"
#include "proto_param.h"
#include "protocol.h"

typedef struct call call;
typedef struct scanner scanner;
typedef struct scanner_set scanner_set;
typedef struct batch_op batch_op;
struct api_method_stats;

/* A JSON method. prepare checks the params on the loop thread; run makes the HBase calls in a
 * pool worker's task (waits yield to the loop) and returns the result (NULL: failed, herr or
 * k->err says why); after runs on the loop thread once run is over, failed or not. A method
 * without run is answered on the loop. */
/* What a method does, for [access] rules: read-only clients may run only reads. */
typedef enum method_access {
  METHOD_WRITES = 0, /* writes or administers (the default: a method must be marked a read) */
  METHOD_READS,      /* reads only: no cell, table or counter changes on the gateway */
} method_access;

typedef struct method {
  const char *name;
  int (*prepare)(call *k, proto_error *e);
  json_t *(*run)(hbc_conn *c, call *k, hb_error *herr);
  pool_retry retry;
  const char *const *params; /* allowed besides "encoding" */
  void (*after)(call *k);
  /* Holds a call back behind another (calls on one scanner): true when k was queued and will
   * be submitted later; false when it may go now. NULL: never held. */
  bool (*wait)(call *k);
  method_access access;
  bool scans; /* reads a scan page: counts toward max_scan_connections */
} method;

/* Each module's methods, ended by an entry without a name. */
extern const method admin_methods[], read_methods[], write_methods[], scan_methods[],
  scanner_methods[], batch_methods[];

/* What the api lends every call: one object, which a reload updates in place. The method
 * modules see the api only through it. */
typedef struct call_env {
  struct cluster *cluster; /* the gateways */
  /* "prefix" + separator, or "": read by prepare only (a reload frees the old one) */
  const char *prefix;
  int scan_max_rows;
  size_t max_cell_bytes;     /* the largest cell a write may carry (0: unchecked) */
  bool scanner_read_ahead;   /* fetch a scanner's next page while the client reads the last one */
  int scan_keep_open_ms;     /* a scan page's scanner stays open this long for the next (0: no) */
  int in_flight;             /* calls in the pool or waiting for their scanner */
  scanner_set *scanners;     /* the open scanners */
  void (*finished)(call *k); /* counts a call just before its reply goes; may be NULL */
} call_env;

/* One request while it is being served. The argument fields are filled by the method's prepare
 * and read by its run; each method uses the few it needs. */
struct call {
  pool_job job;
  call_env *env;
  const method *m;
  /* The api's; NULL for the daemon's own calls (closing an abandoned scanner). */
  struct api_method_stats *counter;
  int64_t started_ns; /* call_now_ns() in api_call: the call's latency ends in call_finish */
  proto_request req;
  proto_mem *mem;
  proto_error err; /* set when the method failed with something else than an hb_error */
  char *line;      /* the reply, rendered in the worker's task (or on the helper thread) */
  proto_text text; /* the reply being written, for results written as text */
  bool invalid;    /* not a valid request: answered (id null if unknown) even without id */
  void (*reply)(void *owner, char *line); /* as api.h's api_reply_fn */
  void *owner;
  uint64_t client_id; /* the client connection it came on (client.c's id) */
  /* The client's [access] rule while prepare runs (NULL: none); its tables, copied for run. */
  const struct config_access_rule *rule;
  char *confine;
  /* arguments */
  char *table;
  hbc_bytes row, column;
  hbc_bytes *rows, *columns;
  size_t nrows, ncolumns;
  int64_t timestamp; /* HBC_LATEST when absent */
  bool include_timestamp, wal;
  bool sorted_columns; /* rows as [[column, value], ...] in the gateway's order */
  hbc_mutation *mutations;
  size_t nmutations;
  hbc_family *families;
  size_t nfamilies;
  hbc_scan scan;        /* scan: the gateway's options */
  hbc_bytes prefix;     /* scan: row_prefix (length 0: none) */
  bool start_exclusive; /* scan: skip a first row equal to row_start (a continuation) */
  int64_t scan_cap;     /* scan: scan_max_rows when the call was prepared */
  batch_op *ops;        /* batch */
  size_t nops;
  scanner *sc;   /* scanner_open, scanner_next, scanner_close; scan: its kept scanner */
  bool reopened; /* scanner_next: the gateway had expired the scanner */
  union {        /* each method's own arguments */
    struct {
      int64_t versions;
    } cells;
    struct {
      int64_t amount;
    } counter; /* counter_inc, counter_dec, counter_get (0) */
    struct {
      int64_t value;
    } counter_set;
    struct {
      int64_t limit;      /* rows to return (capped per page by run_scan) */
      char *next_key;     /* the page's scanner is kept for the call with this key */
      int32_t read_ahead; /* rows its next page will want */
      bool kept_failed;   /* reading on from the kept scanner (k->sc) failed */
    } scan;
    struct {
      int64_t count;
    } scanner_next; /* also a read-ahead's */
    struct {
      int64_t chunk_mutations;
    } batch; /* batch_size: mutations per mutateRows, 0 no cap */
    struct {
      bool disable;
    } delete_table;
    struct {
      bool major;
    } compact;
    struct {
      hbc_bytes expected; /* the value the column must hold */
      bool absent;        /* instead: the column must be absent */
    } check_and_put;
  } arg;
  const pool_group *group; /* set by prepare: calls it may share a gateway call with */
  uint32_t prefer_gateway; /* the gateway id its scanner lives on (0: any): cluster.h */
  uint64_t order_key;      /* set by prepare: 0, or the pool_order_key of the row it writes */
  TAILQ_ENTRY(call) wait_link;
};

/* The life of a call (loop thread). call_start sends a prepared call to the pool, or queues it
 * behind its scanner; call_submit sends it now; call_finish sends its reply and frees it. */
void call_start(call *k);
void call_submit(call *k);
void call_finish(call *k);
/* Worker side, for a pool_group's work: forget an earlier attempt's reply (before a retry),
 * then take the result that run would have returned (NULL: failed, k->err or the job's error
 * says why) and render the reply. Returns 0, or -1 when the job's error is set. */
void call_reset_reply(call *k);
int call_take_result(call *k, json_t *result);
/* The method failed: k->err or the job's error is set. */
bool call_failed(const call *k);
/* Monotonic nanoseconds, for calls' latencies. */
int64_t call_now_ns(void);

/* Common parameters. Each returns 0, or -1 with e set naming the parameter. */
int call_prepare_table(call *k, proto_error *e);     /* table, use_prefix */
int call_prepare_timestamp(call *k, proto_error *e); /* timestamp */
/* table, timestamp, include_timestamp, columns */
int call_prepare_read(call *k, proto_error *e);
/* Byte parameters within HBase's limits (hblimits.h): a required row key; an optional scan bound;
 * a required column; a list of columns; a list of row keys. */
int call_param_row(call *k, const char *name, hbc_bytes *out, proto_error *e);
int call_param_bound(call *k, const char *name, hbc_bytes *out, proto_error *e);
int call_param_column(call *k, const char *name, hbc_bytes *out, proto_error *e);
int call_param_columns(call *k, const char *name, bool required, hbc_bytes **out, size_t *n,
                       proto_error *e);
int call_param_rows(call *k, const char *name, hbc_bytes **out, size_t *n, proto_error *e);
/* A {column: value, ...} object as put mutations of row (with k->wal), each cell within
 * max_cell_bytes; what names it in errors. */
int call_parse_data(call *k, hbc_bytes row, json_t *data, const char *what, hbc_mutation **out,
                    size_t *n, proto_error *e);
/* The table with its prefix, as the gateway knows it. */
hbc_bytes call_table(const call *k);
/* A copy of b in *mem. */
hbc_bytes call_keep_bytes(proto_mem **mem, hbc_bytes b);
/* Every family of the table (names without ':') as k->columns, for reads and deletes of whole
 * rows; the names live in fams, k->columns must be freed by the caller. */
int call_all_families(hbc_conn *c, call *k, hbc_result *fams, hb_error *herr);

/* Results. Rendering fails only on bytes the request's encoding cannot carry: NULL with k->err
 * set (the HBase call itself went well, so the connection stays). */
/* A value, or [value, timestamp] with include_timestamp; what names it in errors. */
json_t *call_cell_json(call *k, const hbc_cell *cell, const char *what);
/* Names a cell for an encoding error: "row 'r1' column 'cf:a'", escaped, short. */
void call_cell_what(char *out, size_t n, hbc_bytes row, hbc_bytes col);
/* Rows are written as text, without a jansson tree: run calls call_text_begin, writes its
 * result into the text it returns and returns call_text_result(k), which call_take_result
 * turns into the reply line. The writers fail as call_cell_json does (k->err set); the text
 * is then discarded. */
proto_text *call_text_begin(call *k);
json_t *call_text_result(call *k);
/* A row as {column: value}, or [[column, value], ...] with sorted_columns; values are
 * [value, timestamp] with include_timestamp. */
int call_text_row(call *k, proto_text *t, const hbc_row *row);
/* [key, row]. */
int call_text_keyed_row(call *k, proto_text *t, const hbc_row *row);
/* Rows as [key, row] separated by commas, a comma first if comma; on the helper thread when
 * they are large, so that the loop goes on meanwhile. */
int call_text_rows(call *k, proto_text *t, const hbc_row *rows, size_t n, bool comma);

#endif
