/* hbase_client: the HBase Thrift1 client layer: plain C calls, plain C results, classified
 * errors. */
#ifndef HBPOOL_HBASE_CLIENT_H
#define HBPOOL_HBASE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A byte string that the caller owns (arguments) or that an hbc_result owns (results). */
typedef struct hbc_bytes {
  const uint8_t *data;
  size_t len;
} hbc_bytes;

/* "No timestamp": read the latest versions, write with the server's clock. */
#define HBC_LATEST INT64_MAX

typedef enum hbc_protocol { HBC_PROTOCOL_BINARY, HBC_PROTOCOL_COMPACT } hbc_protocol;

typedef struct hbc_options {
  const char *host; /* gateway host name or address */
  int port;
  bool framed;           /* TFramedTransport (gateway started with -f, or -hsha etc.) */
  bool http;             /* THttpClient: HTTP POSTs (a gateway in HTTP mode); framed is ignored */
  const char *http_path; /* the path the gateway serves with http ("/" when NULL) */
  hbc_protocol protocol; /* TBinaryProtocol, or TCompactProtocol (gateway -c) */
  int connect_timeout_ms;
  int call_timeout_ms;     /* deadline for one whole call: request sent and reply read */
  size_t max_message_size; /* largest reply accepted */
} hbc_options;

/* Defaults: localhost:9090, buffered, binary, 5 s connect, 60 s per call, 256 MiB replies. */
void hbc_options_init(hbc_options *opts);

/* Prepares the Thrift types; call once before starting threads (later calls are no-ops). */
void hbc_init(void);

/* A connection to one gateway. Use it from one thread at a time. */
typedef struct hbc_conn hbc_conn;

hbc_conn *hbc_connect(const hbc_options *opts, hb_error *err);
/* A connection over fd, a connected non-blocking socket it now owns (tests, fuzzing); host and
 * port only name the gateway in HTTP requests. */
hbc_conn *hbc_connect_fd(int fd, const hbc_options *opts);
void hbc_close(hbc_conn *conn);
/* False once a transport, protocol or application error or a timeout broke the connection. */
bool hbc_usable(const hbc_conn *conn);
/* Between calls: the gateway has closed the connection (an idle timeout, a restart). Costs one
 * poll(2) and never blocks: check before sending anything that must not be lost. */
bool hbc_peer_closed(const hbc_conn *conn);
/* Bytes of every reply this connection has read: what a call received is the difference. */
uint64_t hbc_reply_bytes(const hbc_conn *conn);

typedef struct hbc_cell {
  hbc_bytes column; /* family:qualifier; empty where the call does not return it (append) */
  hbc_bytes value;
  int64_t timestamp;
} hbc_cell;

typedef struct hbc_row {
  hbc_bytes key;
  hbc_cell *cells; /* in column order (or the gateway's order with sort_columns) */
  size_t ncells;
} hbc_row;

typedef struct hbc_family {
  hbc_bytes name; /* "cf" or "cf:" on input; the gateway returns "cf:" */
  int32_t max_versions;
  const char *compression;
  bool in_memory;
  const char *bloom_filter_type;
  int32_t bloom_filter_vector_size;
  int32_t bloom_filter_nb_hashes;
  bool block_cache_enabled;
  int32_t time_to_live;
} hbc_family;

/* Sets every option to the Thrift IDL's default. */
void hbc_family_init(hbc_family *family, hbc_bytes name);

typedef struct hbc_region {
  hbc_bytes start_key, end_key, name, server_name;
  int64_t id;
  int8_t version;
  int32_t port;
} hbc_region;

/* What a call returned. All memory belongs to the result; hbc_result_free releases it. */
typedef struct hbc_result {
  hbc_row *rows; /* get_rows, scanner_get_list */
  size_t nrows;
  hbc_cell *cells; /* get_versions (newest first), append */
  size_t ncells;
  hbc_bytes *names; /* table_names */
  size_t nnames;
  hbc_family *families; /* column_descriptors */
  size_t nfamilies;
  hbc_region *regions; /* table_regions */
  size_t nregions;
  struct hbc_chunk *mem;
} hbc_result;

#define HBC_RESULT_INIT                                                                            \
  { 0 }
void hbc_result_free(hbc_result *result);

typedef struct hbc_mutation {
  bool is_delete; /* delete: column "cf" deletes the family, "cf:q" the column */
  hbc_bytes column;
  hbc_bytes value;
  bool wal; /* write to the WAL (the last mutation of a row decides) */
} hbc_mutation;

typedef struct hbc_row_mutations {
  hbc_bytes row;
  const hbc_mutation *mutations;
  size_t nmutations;
} hbc_row_mutations;

typedef struct hbc_increment {
  hbc_bytes table, row, column;
  int64_t amount;
} hbc_increment;

typedef struct hbc_scan {
  hbc_bytes start_row; /* empty: from the first row */
  hbc_bytes stop_row;  /* empty: to the last row */
  int64_t timestamp;   /* HBC_LATEST, or cells older than this */
  const hbc_bytes *columns;
  size_t ncolumns;
  int32_t caching;    /* rows per region-server round trip; 0: gateway default */
  hbc_bytes filter;   /* filter string; empty: none */
  int32_t batch_size; /* cells per result (splits wide rows); 0: whole rows */
  bool sort_columns;
  bool reversed;
  bool compat_090; /* use the HBase 0.90 scannerOpen* calls (ignores the options above
                                that 0.90 lacks) */
} hbc_scan;

void hbc_scan_init(hbc_scan *scan);

int hbc_table_names(hbc_conn *c, hbc_result *out, hb_error *err);
int hbc_create_table(hbc_conn *c, hbc_bytes table, const hbc_family *families, size_t n,
                     hb_error *err);
int hbc_delete_table(hbc_conn *c, hbc_bytes table, hb_error *err);
int hbc_enable_table(hbc_conn *c, hbc_bytes table, hb_error *err);
int hbc_disable_table(hbc_conn *c, hbc_bytes table, hb_error *err);
int hbc_is_table_enabled(hbc_conn *c, hbc_bytes table, bool *enabled, hb_error *err);
int hbc_compact(hbc_conn *c, hbc_bytes table_or_region, bool major, hb_error *err);
int hbc_column_descriptors(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err);
int hbc_table_regions(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err);

/* Rows that do not exist are left out. ncolumns == 0: all columns. */
int hbc_get_rows(hbc_conn *c, hbc_bytes table, const hbc_bytes *rows, size_t nrows,
                 const hbc_bytes *columns, size_t ncolumns, int64_t timestamp, hbc_result *out,
                 hb_error *err);
/* Up to nversions cells of one column, newest first, older than timestamp unless HBC_LATEST. */
int hbc_get_versions(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                     int64_t timestamp, int32_t nversions, hbc_result *out, hb_error *err);

/* Within one call the gateway applies all puts of a row before its deletes. */
int hbc_mutate_rows(hbc_conn *c, hbc_bytes table, const hbc_row_mutations *rows, size_t nrows,
                    int64_t timestamp, hb_error *err);
int hbc_atomic_increment(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                         int64_t amount, int64_t *value, hb_error *err);
int hbc_increment_rows(hbc_conn *c, const hbc_increment *increments, size_t n, hb_error *err);
/* The result's cells are the appended cells' new values (without column names). */
int hbc_append(hbc_conn *c, hbc_bytes table, hbc_bytes row, const hbc_bytes *columns,
               const hbc_bytes *values, size_t n, hbc_result *out, hb_error *err);
/* Applies put if column currently holds expected; expected NULL or empty: if the column is
 * absent or empty (HBase's rule). */
int hbc_check_and_put(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                      const hbc_bytes *expected, const hbc_mutation *put, bool *applied,
                      hb_error *err);

int hbc_scanner_open(hbc_conn *c, hbc_bytes table, const hbc_scan *scan, int32_t *scanner_id,
                     hb_error *err);
/* An empty result means the scanner is exhausted; a short one does not. */
int hbc_scanner_get_list(hbc_conn *c, int32_t scanner_id, int32_t nrows, hbc_result *out,
                         hb_error *err);
int hbc_scanner_close(hbc_conn *c, int32_t scanner_id, hb_error *err);

/* HBase's order of columns: by family, then qualifier ("cf:a" < "cf2:a", unlike their bytes). */
int hbc_compare_columns(hbc_bytes a, hbc_bytes b);

/* hbc_bytes from a C string (no copy). */
hbc_bytes hbc_str(const char *s);
/* Equal bytes; an empty string may have a NULL pointer (which memcmp must never see). */
bool hbc_bytes_equal(hbc_bytes a, hbc_bytes b);
/* A family as the gateway names it ("cf:") without its ':', as deletes and reads of a whole
 * family take it. */
hbc_bytes hbc_family_only(hbc_bytes name);
/* The family of a column "family:qualifier": the bytes before its first ':' (all of a column
 * without one). */
hbc_bytes hbc_column_family(hbc_bytes column);

#endif
