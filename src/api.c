/* api: hbpoold's JSON methods: each request's parameters are checked on the loop thread, its
 * HBase calls run on a pooled connection, and its reply line is rendered on the worker, so that
 * the loop thread never waits on HBase nor spends long on a large result. */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "clock.h"

#include "protocol.h"

#define API_MAX_VERSIONS 2147483647

typedef struct call call;
typedef struct batch_op batch_op;
typedef struct scanner scanner;

typedef struct method {
  const char *name;
  int (*prepare)(call *k, proto_error *e);                  /* loop thread */
  json_t *(*run)(hbc_conn *c, call *k, hb_error *herr);     /* worker; NULL: failed */
  pool_retry retry;
  const char *const *params;                                /* allowed besides "encoding" */
  void (*after)(call *k);                                   /* loop thread, once run is over */
} method;

typedef struct method_stats {
  uint64_t calls, errors;
} method_stats;

struct api {
  pool *pool;
  char *prefix;          /* "prefix" + separator, or "" */
  int scan_max_rows;
  api_stats_fn stats;
  void *stats_arg;
  int in_flight;
  method_stats *counters; /* one per method, by index */
  TAILQ_HEAD(, scanner) scanners;
  uint64_t next_scanner_id;
  uint64_t scanner_reopens;
  int scanner_idle_timeout_ms;
};

/* A scanner a client opened with scanner_open. Scanner ids are global to the gateway, so it is
 * not tied to a pooled connection between calls; calls on it are serialised (the gateway fails
 * concurrent ones), the others wait in its queue. Only the job holding it (busy) touches its
 * gateway state. */
struct scanner {
  uint64_t id;
  uint64_t session;        /* the client that opened it: only it may use it */
  int32_t gateway_id;
  bool busy, closed;
  int64_t last_used_ms;
  char *table;
  hbc_scan scan;           /* to reopen it after the gateway expired it */
  proto_mem *mem;          /* scan's bytes */
  uint8_t *last_key;       /* the last row returned, where a reopened scanner resumes */
  size_t last_len;
  bool have_last;
  int32_t rows_per_call;   /* batch_size */
  bool include_timestamp, sorted_columns;
  TAILQ_HEAD(, call) waiting;
  TAILQ_ENTRY(scanner) link;
};

/* One request while it is being served. */
struct call {
  pool_job job;
  api *api;
  const method *m;
  proto_request req;
  proto_mem *mem;
  proto_error err;       /* set when the method failed with something else than an hb_error */
  char *line;            /* the reply, rendered on the worker */
  api_reply_fn reply;
  void *owner;
  /* arguments */
  char *table;
  hbc_bytes row, column;
  hbc_bytes *rows, *columns;
  size_t nrows, ncolumns;
  int64_t timestamp;     /* HBC_LATEST when absent */
  int64_t number;        /* versions, counter value */
  bool include_timestamp, wal, flag;
  hbc_mutation *mutations;
  size_t nmutations;
  hbc_family *families;
  size_t nfamilies;
  hbc_scan scan;         /* scan: the gateway's options */
  hbc_bytes prefix;      /* scan: row_prefix (length 0: none) */
  bool start_exclusive;  /* scan: skip a first row equal to row_start (a continuation) */
  bool sorted_columns;
  struct batch_op *ops;  /* batch */
  size_t nops;
  uint64_t session;      /* the client's connection */
  scanner *sc;           /* scanner_next, scanner_close */
  bool reopened;         /* scanner_next: the gateway had expired the scanner */
  TAILQ_ENTRY(call) wait_link;
};

/* ---------------------------------------------------------------------------------------------
 * Results. */

/* A value, or [value, timestamp] with include_timestamp. */
/* Result rendering fails only on bytes the request's encoding cannot carry: NULL with k->err set
 * (the HBase call itself went well, so the connection stays). */
static json_t *cell_json(call *k, const hbc_cell *cell, const char *what) {
  json_t *v = proto_bytes_to_json(cell->value, k->req.encoding, what, &k->err);
  if (v == NULL || !k->include_timestamp)
    return v;
  return json_pack("[oI]", v, (json_int_t)cell->timestamp);
}

/* Names the cell for an encoding error: "row 'r1' column 'cf:a'", escaped, short. */
static void cell_what(char *out, size_t n, hbc_bytes row, hbc_bytes col) {
  char r[48], c[48];
  size_t rl = row.len < 40 ? row.len : 40, cl = col.len < 40 ? col.len : 40;
  for (size_t i = 0; i < rl; i++)
    r[i] = row.data[i] >= 0x20 && row.data[i] < 0x7f ? (char)row.data[i] : '?';
  for (size_t i = 0; i < cl; i++)
    c[i] = col.data[i] >= 0x20 && col.data[i] < 0x7f ? (char)col.data[i] : '?';
  r[rl] = c[cl] = '\0';
  snprintf(out, n, "row '%s%s' column '%s%s'", r, row.len > 40 ? "..." : "", c,
           col.len > 40 ? "..." : "");
}

/* A row as {column: value}. Fails (NULL, k->err set) on bytes the encoding cannot carry. */
static json_t *row_json(call *k, const hbc_row *row) {
  json_t *obj = json_object();
  for (size_t i = 0; i < row->ncells; i++) {
    const hbc_cell *cell = &row->cells[i];
    char what[160], whatv[176];
    cell_what(what, sizeof what, row->key, cell->column);
    json_t *name = proto_bytes_to_json(cell->column, k->req.encoding, what, &k->err);
    snprintf(whatv, sizeof whatv, "the value of %s", what);
    json_t *v = name != NULL ? cell_json(k, cell, whatv) : NULL;
    if (v == NULL) {
      json_decref(name);
      json_decref(obj);
      return NULL;
    }
    json_object_setn_new_nocheck(obj, json_string_value(name), json_string_length(name), v);
    json_decref(name);
  }
  return obj;
}

/* ---------------------------------------------------------------------------------------------
 * Parameters shared by many methods. */

static int prepare_table(call *k, proto_error *e) {
  const char *table = NULL;
  bool use_prefix = true;
  if (proto_param_string(&k->req, "table", true, &table, e) < 0 ||
      proto_param_bool(&k->req, "use_prefix", false, &use_prefix, e) < 0)
    return -1;
  if (*table == '\0')
    return proto_fail(e, PROTO_INVALID_PARAMS, "invalid params: \"table\" must not be empty");
  const char *prefix = use_prefix ? k->api->prefix : "";
  if (asprintf(&k->table, "%s%s", prefix, table) < 0)
    return proto_fail(e, PROTO_INTERNAL_ERROR, "out of memory");
  return 0;
}

static hbc_bytes table_bytes(const call *k) {
  return hbc_str(k->table);
}

/* A family as the gateway names it ("cf:") without its ':': what deletes and reads of a whole
 * family take. */
static hbc_bytes family_only(hbc_bytes name) {
  bool colon = name.len > 0 && name.data[name.len - 1] == ':';
  return (hbc_bytes){name.data, colon ? name.len - 1 : name.len};
}

/* Byte strings are equal; an empty one may have a NULL pointer, which memcmp must not see. */
static bool bytes_eq(hbc_bytes a, hbc_bytes b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int prepare_timestamp(call *k, proto_error *e) {
  k->timestamp = HBC_LATEST;
  return proto_param_int(&k->req, "timestamp", false, 0, INT64_MAX - 1, &k->timestamp, e);
}

static int prepare_read(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0 || prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0)
    return -1;
  return proto_param_bytes_list(&k->req, "columns", false, &k->mem, &k->columns, &k->ncolumns, e);
}

/* A {column: value, ...} object as put mutations; what names it in errors. */
static int parse_data(call *k, json_t *data, const char *what, hbc_mutation **out, size_t *n,
                      proto_error *e) {
  if (!json_is_object(data) || json_object_size(data) == 0)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: %s must be a non-empty object {column: value}", what);
  *n = json_object_size(data);
  *out = proto_mem_alloc(&k->mem, *n * sizeof **out);
  size_t i = 0;
  const char *key;
  size_t key_len;
  json_t *value;
  json_object_keylen_foreach(data, key, key_len, value) {
    hbc_mutation *m = &(*out)[i++];
    char vwhat[96];
    snprintf(vwhat, sizeof vwhat, "%s[\"%.40s\"]", what, key);
    int rc = 0;
    if (k->req.encoding == PROTO_UTF8) {
      /* The key lives as long as the request; utf8 bytes are used in place. */
      m->column = (hbc_bytes){(const uint8_t *)key, key_len};
    } else {
      json_t *name = json_stringn_nocheck(key, key_len); /* decoded into k->mem: may go */
      rc = proto_json_to_bytes(name, k->req.encoding, "a column name", &k->mem, &m->column, e);
      json_decref(name);
    }
    if (rc < 0 || proto_json_to_bytes(value, k->req.encoding, vwhat, &k->mem, &m->value, e) < 0)
      return -1;
    m->is_delete = false;
    m->wal = k->wal;
  }
  return 0;
}

static int prepare_data(call *k, proto_error *e) {
  return parse_data(k, json_object_get(k->req.params, "data"), "\"data\"", &k->mutations,
                    &k->nmutations, e);
}

/* ---------------------------------------------------------------------------------------------
 * Daemon methods, answered on the loop thread. */

static const char *const NO_PARAMS[] = {NULL};
static const char *const TABLE_PARAMS[] = {"table", "use_prefix", NULL};

/* ---------------------------------------------------------------------------------------------
 * Table administration. */

static json_t *run_tables(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_table_names(c, &res, herr) < 0)
    return NULL;
  json_t *list = json_array();
  size_t plen = k->flag ? strlen(k->api->prefix) : 0;
  for (size_t i = 0; i < res.nnames; i++) {
    hbc_bytes name = res.names[i];
    if (plen > 0 && (name.len < plen || memcmp(name.data, k->api->prefix, plen) != 0))
      continue;
    hbc_bytes shown = {name.data + plen, name.len - plen};
    json_t *s = proto_bytes_to_json(shown, PROTO_UTF8, "a table name", &k->err);
    if (s == NULL) {
      json_decref(list);
      hbc_result_free(&res);
      return NULL;
    }
    json_array_append_new(list, s);
  }
  hbc_result_free(&res);
  return list;
}

static int prepare_tables(call *k, proto_error *e) {
  k->flag = true;
  return proto_param_bool(&k->req, "use_prefix", false, &k->flag, e);
}

/* create_table's family options, in HappyBase's names. */
static int prepare_family(hbc_family *f, const char *name, json_t *opts, proto_error *e) {
  hbc_family_init(f, hbc_str(name));
  if (json_is_null(opts))
    return 0;
  if (!json_is_object(opts))
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"families\".\"%.40s\" must be an object of options", name);
  const char *key;
  json_t *v;
  json_object_foreach(opts, key, v) {
    bool is_int = json_is_integer(v), is_bool = json_is_boolean(v), is_str = json_is_string(v);
    json_int_t n = is_int ? json_integer_value(v) : 0;
    if (strcmp(key, "max_versions") == 0 && is_int && n >= 1 && n <= INT32_MAX)
      f->max_versions = (int32_t)n;
    else if (strcmp(key, "compression") == 0 && is_str)
      f->compression = json_string_value(v);
    else if (strcmp(key, "in_memory") == 0 && is_bool)
      f->in_memory = json_is_true(v);
    else if (strcmp(key, "bloom_filter_type") == 0 && is_str)
      f->bloom_filter_type = json_string_value(v);
    else if (strcmp(key, "bloom_filter_vector_size") == 0 && is_int && n >= 0 && n <= INT32_MAX)
      f->bloom_filter_vector_size = (int32_t)n;
    else if (strcmp(key, "bloom_filter_nb_hashes") == 0 && is_int && n >= 0 && n <= INT32_MAX)
      f->bloom_filter_nb_hashes = (int32_t)n;
    else if (strcmp(key, "block_cache_enabled") == 0 && is_bool)
      f->block_cache_enabled = json_is_true(v);
    else if (strcmp(key, "time_to_live") == 0 && is_int && n >= -1 && n <= INT32_MAX)
      f->time_to_live = (int32_t)n;
    else
      return proto_fail(e, PROTO_INVALID_PARAMS,
                        "invalid params: option \"%.40s\" of family \"%.40s\" is unknown or has "
                        "the wrong type (see docs/protocol.md, create_table)", key, name);
  }
  return 0;
}

static int prepare_create_table(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0)
    return -1;
  json_t *fams = json_object_get(k->req.params, "families");
  if (!json_is_object(fams) || json_object_size(fams) == 0)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"families\" must be a non-empty object {name: options}");
  k->nfamilies = json_object_size(fams);
  k->families = proto_mem_alloc(&k->mem, k->nfamilies * sizeof *k->families);
  size_t i = 0;
  const char *name;
  json_t *opts;
  json_object_foreach(fams, name, opts) {
    if (prepare_family(&k->families[i++], name, opts, e) < 0)
      return -1;
  }
  return 0;
}

static json_t *run_create_table(hbc_conn *c, call *k, hb_error *herr) {
  if (hbc_create_table(c, table_bytes(k), k->families, k->nfamilies, herr) < 0)
    return NULL;
  return json_null();
}

static int prepare_delete_table(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0)
    return -1;
  return proto_param_bool(&k->req, "disable", false, &k->flag, e);
}

static json_t *run_delete_table(hbc_conn *c, call *k, hb_error *herr) {
  bool enabled = false;
  if (k->flag && hbc_is_table_enabled(c, table_bytes(k), &enabled, herr) < 0)
    return NULL;
  if (enabled && hbc_disable_table(c, table_bytes(k), herr) < 0)
    return NULL;
  if (hbc_delete_table(c, table_bytes(k), herr) < 0)
    return NULL;
  return json_null();
}

static json_t *run_enable_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_enable_table(c, table_bytes(k), herr) < 0 ? NULL : json_null();
}

static json_t *run_disable_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_disable_table(c, table_bytes(k), herr) < 0 ? NULL : json_null();
}

static json_t *run_is_table_enabled(hbc_conn *c, call *k, hb_error *herr) {
  bool on = false;
  return hbc_is_table_enabled(c, table_bytes(k), &on, herr) < 0 ? NULL : json_boolean(on);
}

static int prepare_compact_table(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0)
    return -1;
  return proto_param_bool(&k->req, "major", false, &k->flag, e);
}

static json_t *run_compact_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_compact(c, table_bytes(k), k->flag, herr) < 0 ? NULL : json_null();
}

static json_t *run_families(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_column_descriptors(c, table_bytes(k), &res, herr) < 0)
    return NULL;
  json_t *out = json_object();
  for (size_t i = 0; i < res.nfamilies; i++) {
    const hbc_family *f = &res.families[i];
    size_t flen = family_only(f->name).len;
    json_t *desc = json_pack(
      "{s:s%,s:i,s:s,s:b,s:s,s:i,s:i,s:b,s:i}", "name", (const char *)f->name.data, f->name.len,
      "max_versions", f->max_versions, "compression", f->compression, "in_memory", f->in_memory,
      "bloom_filter_type", f->bloom_filter_type, "bloom_filter_vector_size",
      f->bloom_filter_vector_size, "bloom_filter_nb_hashes", f->bloom_filter_nb_hashes,
      "block_cache_enabled", f->block_cache_enabled, "time_to_live", f->time_to_live);
    if (desc == NULL) {
      proto_fail(&k->err, PROTO_ENCODING_ERROR, "a family name of table '%s' is not UTF-8",
                 k->table);
      json_decref(out);
      hbc_result_free(&res);
      return NULL;
    }
    json_object_setn_new(out, (const char *)f->name.data, flen, desc);
  }
  hbc_result_free(&res);
  return out;
}

static json_t *run_regions(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_table_regions(c, table_bytes(k), &res, herr) < 0)
    return NULL;
  json_t *out = json_array();
  for (size_t i = 0; i < res.nregions && out != NULL; i++) {
    const hbc_region *r = &res.regions[i];
    json_t *start = proto_bytes_to_json(r->start_key, k->req.encoding, "a region start key", &k->err);
    json_t *end = proto_bytes_to_json(r->end_key, k->req.encoding, "a region end key", &k->err);
    json_t *name = proto_bytes_to_json(r->name, k->req.encoding, "a region name", &k->err);
    json_t *server = proto_bytes_to_json(r->server_name, PROTO_UTF8, "a server name", &k->err);
    if (start == NULL || end == NULL || name == NULL || server == NULL) {
      json_decref(start);
      json_decref(end);
      json_decref(name);
      json_decref(server);
      json_decref(out);
      out = NULL;
      break;
    }
    json_array_append_new(out, json_pack("{s:o,s:o,s:I,s:o,s:i,s:o,s:i}", "start_key", start,
                                         "end_key", end, "id", (json_int_t)r->id, "name", name,
                                         "version", r->version, "server_name", server, "port",
                                         r->port));
  }
  hbc_result_free(&res);
  return out;
}

/* ---------------------------------------------------------------------------------------------
 * Reads. */

static int prepare_row(call *k, proto_error *e) {
  if (prepare_read(k, e) < 0)
    return -1;
  return proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e);
}

static json_t *run_row(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_rows(c, table_bytes(k), &k->row, 1, k->columns, k->ncolumns, k->timestamp, &res,
                   herr) < 0)
    return NULL;
  json_t *out = res.nrows > 0 ? row_json(k, &res.rows[0]) : json_object();
  hbc_result_free(&res);
  return out;
}

static int prepare_rows(call *k, proto_error *e) {
  if (prepare_read(k, e) < 0)
    return -1;
  return proto_param_bytes_list(&k->req, "rows", true, &k->mem, &k->rows, &k->nrows, e);
}

/* Family names (without ':') as columns: the whole of every family. */
static int all_families(hbc_conn *c, call *k, hbc_result *fams, hb_error *herr) {
  if (hbc_column_descriptors(c, table_bytes(k), fams, herr) < 0)
    return -1;
  k->ncolumns = fams->nfamilies;
  k->columns = calloc(fams->nfamilies ? fams->nfamilies : 1, sizeof *k->columns);
  for (size_t i = 0; i < fams->nfamilies; i++)
    k->columns[i] = family_only(fams->families[i].name);
  return 0;
}

static json_t *run_rows(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT, res = HBC_RESULT_INIT;
  hbc_bytes *given = k->columns;
  size_t ngiven = k->ncolumns;
  /* The gateway ignores the timestamp of getRowsWithColumnsTs without columns (as HappyBase
   * found): name every family instead. */
  if (k->timestamp != HBC_LATEST && ngiven == 0 && all_families(c, k, &fams, herr) < 0)
    return NULL;
  int rc = hbc_get_rows(c, table_bytes(k), k->rows, k->nrows, k->columns, k->ncolumns,
                        k->timestamp, &res, herr);
  if (k->columns != given) {
    free(k->columns);
    k->columns = given;
    k->ncolumns = ngiven;
  }
  hbc_result_free(&fams);
  if (rc < 0)
    return NULL;
  json_t *out = json_array();
  for (size_t i = 0; i < res.nrows && out != NULL; i++) {
    json_t *key = proto_bytes_to_json(res.rows[i].key, k->req.encoding, "a row key", &k->err);
    json_t *row = key != NULL ? row_json(k, &res.rows[i]) : NULL;
    if (row == NULL) {
      json_decref(key);
      json_decref(out);
      out = NULL;
      break;
    }
    json_array_append_new(out, json_pack("[oo]", key, row));
  }
  hbc_result_free(&res);
  return out;
}

static int prepare_cells(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0 || prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e) < 0 ||
      proto_param_bytes(&k->req, "column", true, &k->mem, &k->column, e) < 0)
    return -1;
  k->number = API_MAX_VERSIONS;
  return proto_param_int(&k->req, "versions", false, 1, API_MAX_VERSIONS, &k->number, e);
}

static json_t *run_cells(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_versions(c, table_bytes(k), k->row, k->column, k->timestamp, (int32_t)k->number,
                       &res, herr) < 0)
    return NULL;
  json_t *out = json_array();
  char what[160], whatv[176];
  cell_what(what, sizeof what, k->row, k->column);
  snprintf(whatv, sizeof whatv, "a value of %s", what);
  for (size_t i = 0; i < res.ncells && out != NULL; i++) {
    json_t *v = cell_json(k, &res.cells[i], whatv);
    if (v == NULL) {
      json_decref(out);
      out = NULL;
      break;
    }
    json_array_append_new(out, v);
  }
  hbc_result_free(&res);
  return out;
}

/* ---------------------------------------------------------------------------------------------
 * Writes. */

static int prepare_write(call *k, proto_error *e) {
  k->wal = true;
  if (prepare_table(k, e) < 0 || prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "wal", false, &k->wal, e) < 0)
    return -1;
  return proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e);
}

static int prepare_put(call *k, proto_error *e) {
  if (prepare_write(k, e) < 0)
    return -1;
  return prepare_data(k, e);
}

static json_t *run_mutations(hbc_conn *c, call *k, hb_error *herr) {
  hbc_row_mutations rm = {.row = k->row, .mutations = k->mutations, .nmutations = k->nmutations};
  return hbc_mutate_rows(c, table_bytes(k), &rm, 1, k->timestamp, herr) < 0 ? NULL : json_null();
}

static int prepare_delete(call *k, proto_error *e) {
  if (prepare_write(k, e) < 0 ||
      proto_param_bytes_list(&k->req, "columns", false, &k->mem, &k->columns, &k->ncolumns, e) < 0)
    return -1;
  if (json_object_get(k->req.params, "columns") != NULL && k->ncolumns == 0)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"columns\" is empty; leave it out to delete the whole row");
  return 0;
}

/* Deletes columns, or the whole row as one family delete per family (not deleteAllRow: that is
 * what HappyBase does, and it honours the timestamp). */
static json_t *run_delete(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT;
  bool whole_row = k->ncolumns == 0;
  if (whole_row && all_families(c, k, &fams, herr) < 0)
    return NULL;
  hbc_mutation *m = calloc(k->ncolumns ? k->ncolumns : 1, sizeof *m);
  for (size_t i = 0; i < k->ncolumns; i++)
    m[i] = (hbc_mutation){.is_delete = true, .column = k->columns[i], .wal = k->wal};
  hbc_row_mutations rm = {.row = k->row, .mutations = m, .nmutations = k->ncolumns};
  int rc = hbc_mutate_rows(c, table_bytes(k), &rm, 1, k->timestamp, herr);
  free(m);
  if (whole_row) {
    free(k->columns);
    k->columns = NULL;
    k->ncolumns = 0;
  }
  hbc_result_free(&fams);
  return rc < 0 ? NULL : json_null();
}

static int prepare_counter(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0 ||
      proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e) < 0 ||
      proto_param_bytes(&k->req, "column", true, &k->mem, &k->column, e) < 0)
    return -1;
  return 0;
}

static int prepare_counter_step(call *k, proto_error *e) {
  k->number = 1;
  if (prepare_counter(k, e) < 0 ||
      proto_param_int(&k->req, "value", false, INT64_MIN + 1, INT64_MAX, &k->number, e) < 0)
    return -1;
  if (strcmp(k->m->name, "counter_dec") == 0)
    k->number = -k->number;
  return 0;
}

static int prepare_counter_get(call *k, proto_error *e) {
  k->number = 0; /* atomicIncrement by 0 reads the counter (and creates it as 0), as HappyBase */
  return prepare_counter(k, e);
}

static json_t *run_counter_inc(hbc_conn *c, call *k, hb_error *herr) {
  int64_t v = 0;
  if (hbc_atomic_increment(c, table_bytes(k), k->row, k->column, k->number, &v, herr) < 0)
    return NULL;
  return json_integer(v);
}

static int prepare_counter_set(call *k, proto_error *e) {
  k->wal = true;
  if (prepare_counter(k, e) < 0 ||
      proto_param_int(&k->req, "value", true, INT64_MIN, INT64_MAX, &k->number, e) < 0)
    return -1;
  /* Counters are 8-byte big-endian signed integers. */
  uint8_t *packed = proto_mem_alloc(&k->mem, 8);
  for (int i = 0; i < 8; i++)
    packed[i] = (uint8_t)((uint64_t)k->number >> (56 - 8 * i));
  k->mutations = proto_mem_alloc(&k->mem, sizeof *k->mutations);
  k->mutations[0] = (hbc_mutation){.column = k->column, .value = {packed, 8}, .wal = true};
  k->nmutations = 1;
  k->timestamp = HBC_LATEST;
  return 0;
}

static int prepare_append(call *k, proto_error *e) {
  if (prepare_table(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e) < 0)
    return -1;
  return prepare_data(k, e);
}

static int compare_columns(const void *a, const void *b) {
  return hbc_compare_columns(((const hbc_mutation *)a)->column, ((const hbc_mutation *)b)->column);
}

/* The gateway returns the appended cells in HBase's column order, without their names. */
static json_t *run_append(hbc_conn *c, call *k, hb_error *herr) {
  qsort(k->mutations, k->nmutations, sizeof *k->mutations, compare_columns);
  hbc_bytes *cols = calloc(k->nmutations, sizeof *cols), *vals = calloc(k->nmutations, sizeof *vals);
  for (size_t i = 0; i < k->nmutations; i++) {
    cols[i] = k->mutations[i].column;
    vals[i] = k->mutations[i].value;
  }
  hbc_result res = HBC_RESULT_INIT;
  int rc = hbc_append(c, table_bytes(k), k->row, cols, vals, k->nmutations, &res, herr);
  free(cols);
  free(vals);
  if (rc < 0)
    return NULL;
  hbc_row row = {.key = k->row, .cells = res.cells, .ncells = res.ncells};
  for (size_t i = 0; i < res.ncells && i < k->nmutations; i++)
    res.cells[i].column = k->mutations[i].column;
  if (res.ncells > k->nmutations)
    row.ncells = k->nmutations;
  json_t *out = row_json(k, &row);
  hbc_result_free(&res);
  return out;
}


/* ---------------------------------------------------------------------------------------------
 * Scans: one call returns up to limit rows, capped at scan_max_rows; "next" says how to go on. */

/* HappyBase's bytes_increment: the smallest key above every key starting with prefix, i.e. the
 * last byte below 0xFF incremented and what follows dropped; NULL length for all 0xFF (no end). */
static hbc_bytes bytes_increment(call *k, hbc_bytes prefix) {
  size_t n = prefix.len;
  while (n > 0 && prefix.data[n - 1] == 0xff)
    n--;
  if (n == 0)
    return (hbc_bytes){(const uint8_t *)"", 0};
  uint8_t *out = proto_mem_alloc(&k->mem, n);
  memcpy(out, prefix.data, n);
  out[n - 1]++;
  return (hbc_bytes){out, n};
}

static bool has_prefix(hbc_bytes key, hbc_bytes prefix) {
  return key.len >= prefix.len && bytes_eq((hbc_bytes){key.data, prefix.len}, prefix);
}

static int prepare_scan_range(call *k, proto_error *e) {
  hbc_bytes start = {0}, stop = {0};
  if (proto_param_bytes(&k->req, "row_start", false, &k->mem, &start, e) < 0 ||
      proto_param_bytes(&k->req, "row_stop", false, &k->mem, &stop, e) < 0 ||
      proto_param_bytes(&k->req, "row_prefix", false, &k->mem, &k->prefix, e) < 0 ||
      proto_param_bool(&k->req, "row_start_exclusive", false, &k->start_exclusive, e) < 0 ||
      proto_param_bool(&k->req, "reverse", false, &k->scan.reversed, e) < 0)
    return -1;
  bool given = json_object_get(k->req.params, "row_prefix") != NULL;
  bool has_start = json_object_get(k->req.params, "row_start") != NULL;
  if (given && json_object_get(k->req.params, "row_stop") != NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"row_prefix\" cannot be combined with \"row_stop\"");
  if (!given || k->prefix.len == 0) {
    k->scan.start_row = start;
    k->scan.stop_row = stop;
    return 0;
  }
  /* Forward: [prefix, increment(prefix)). Reverse: from increment(prefix) down, skipping that
   * key itself and stopping at the first row without the prefix (run_scan), so that the row
   * equal to the prefix is included and nothing outside it is. A row_start given with a prefix
   * (a continuation) says where to resume inside it. */
  hbc_bytes end = bytes_increment(k, k->prefix);
  k->scan.start_row = has_start ? start : k->scan.reversed ? end : k->prefix;
  k->scan.stop_row = k->scan.reversed ? (hbc_bytes){(const uint8_t *)"", 0} : end;
  if (k->scan.reversed && !has_start)
    k->start_exclusive = true;
  return 0;
}

static int prepare_scan(call *k, proto_error *e) {
  int64_t batch_size = 1000, scan_batching = 0, limit = INT32_MAX;
  hbc_scan_init(&k->scan);
  if (prepare_table(k, e) < 0 || prepare_timestamp(k, e) < 0 || prepare_scan_range(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bool(&k->req, "sorted_columns", false, &k->sorted_columns, e) < 0 ||
      proto_param_bytes_list(&k->req, "columns", false, &k->mem, &k->columns, &k->ncolumns, e) < 0 ||
      proto_param_bytes(&k->req, "filter", false, &k->mem, &k->scan.filter, e) < 0 ||
      proto_param_int(&k->req, "batch_size", false, 1, INT32_MAX, &batch_size, e) < 0 ||
      proto_param_int(&k->req, "scan_batching", false, 1, INT32_MAX, &scan_batching, e) < 0 ||
      proto_param_int(&k->req, "limit", false, 1, INT32_MAX, &limit, e) < 0)
    return -1;
  k->scan.timestamp = k->timestamp;
  k->scan.columns = k->columns;
  k->scan.ncolumns = k->ncolumns;
  k->scan.caching = (int32_t)batch_size;
  k->scan.batch_size = (int32_t)scan_batching;
  k->scan.sort_columns = k->sorted_columns;
  k->number = limit;
  return 0;
}

/* With sorted_columns a row is a list of [column, value] pairs, in the gateway's order. */
static json_t *scan_row_json(call *k, const hbc_row *row) {
  json_t *obj = row_json(k, row);
  if (obj == NULL || !k->sorted_columns)
    return obj;
  json_t *pairs = json_array();
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    json_array_append_new(pairs, json_pack("[sO]", key, v));
  }
  json_decref(obj);
  return pairs;
}

/* Appends rows to out; false when the scan must stop (prefix left in reverse, or an error). */
static bool append_scan_rows(call *k, const hbc_result *res, json_t *out, hbc_bytes *last,
                             bool *ended, bool *failed) {
  for (size_t i = 0; i < res->nrows; i++) {
    const hbc_row *row = &res->rows[i];
    bool first = json_array_size(out) == 0 && last->data == NULL;
    if (first && k->start_exclusive && bytes_eq(row->key, k->scan.start_row))
      continue;
    if (k->prefix.len > 0 && !has_prefix(row->key, k->prefix)) {
      *ended = true;
      return false;
    }
    json_t *key = proto_bytes_to_json(row->key, k->req.encoding, "a row key", &k->err);
    json_t *r = key != NULL ? scan_row_json(k, row) : NULL;
    if (r == NULL) {
      json_decref(key);
      *failed = true;
      return false;
    }
    json_array_append_new(out, json_pack("[oo]", key, r));
    uint8_t *copy = proto_mem_alloc(&k->mem, row->key.len ? row->key.len : 1);
    if (row->key.len > 0)
      memcpy(copy, row->key.data, row->key.len);
    *last = (hbc_bytes){copy, row->key.len};
    if ((int64_t)json_array_size(out) >= k->number)
      return false;
  }
  return true;
}

/* The params of the call that continues where this one stopped. */
static json_t *scan_next(call *k, hbc_bytes last, size_t returned) {
  json_t *next = json_deep_copy(k->req.params);
  json_t *key = proto_bytes_to_json(last, k->req.encoding, "a row key", &k->err);
  if (next == NULL || key == NULL) {
    json_decref(next);
    json_decref(key);
    return NULL;
  }
  json_object_set_new(next, "row_start", key);
  json_object_set_new(next, "row_start_exclusive", json_true());
  if (k->number != INT32_MAX)
    json_object_set_new(next, "limit", json_integer(k->number - (json_int_t)returned));
  return next;
}

static json_t *run_scan(hbc_conn *c, call *k, hb_error *herr) {
  int64_t cap = k->api->scan_max_rows;
  int64_t want = k->number;
  bool capped = k->number > cap;
  if (capped)
    k->number = cap;
  int32_t id = -1;
  if (hbc_scanner_open(c, table_bytes(k), &k->scan, &id, herr) < 0) {
    k->number = want;
    return NULL;
  }
  json_t *rows = json_array();
  hbc_bytes last = {0};
  bool ended = false, failed = false, more = true;
  while (more && !ended && !failed) {
    int64_t left = k->number - (int64_t)json_array_size(rows) + (k->start_exclusive ? 1 : 0);
    int32_t n = (int32_t)(left < k->scan.caching ? left : k->scan.caching);
    hbc_result res = HBC_RESULT_INIT;
    if (hbc_scanner_get_list(c, id, n, &res, herr) < 0) {
      failed = true;
      break;
    }
    ended = res.nrows == 0; /* only an empty list means the scanner is done */
    more = append_scan_rows(k, &res, rows, &last, &ended, &failed);
    hbc_result_free(&res);
  }
  hb_error close_err = HB_ERROR_INIT;
  if (herr->code == HB_OK || !hb_error_breaks_connection(herr->code))
    hbc_scanner_close(c, id, &close_err);
  hb_error_clear(&close_err);
  size_t returned = json_array_size(rows);
  k->number = want;
  if (failed) {
    json_decref(rows);
    return NULL;
  }
  bool stopped_at_cap = capped && !ended && (int64_t)returned == cap;
  json_t *next = stopped_at_cap ? scan_next(k, last, returned) : json_null();
  return json_pack("{s:o,s:o}", "rows", rows, "next", next != NULL ? next : json_null());
}


/* ---------------------------------------------------------------------------------------------
 * Scanners: scanner_open / scanner_next / scanner_close, for scans too long for one call. */

static void submit(call *k);
static void finish(call *k);
static void discard_reply(void *owner, char *line);

static hbc_bytes keep_bytes(proto_mem **mem, hbc_bytes b) {
  uint8_t *copy = proto_mem_alloc(mem, b.len ? b.len : 1);
  if (b.len > 0)
    memcpy(copy, b.data, b.len);
  return (hbc_bytes){copy, b.len};
}

static int prepare_scanner_open(call *k, proto_error *e) {
  if (prepare_scan(k, e) < 0)
    return -1;
  api *a = k->api;
  scanner *sc = calloc(1, sizeof *sc);
  sc->id = ++a->next_scanner_id;
  sc->session = k->session;
  sc->busy = true;
  sc->table = strdup(k->table);
  /* The request's bytes go with the request: the scanner keeps copies to reopen with. */
  sc->scan = k->scan;
  sc->scan.start_row = keep_bytes(&sc->mem, k->scan.start_row);
  sc->scan.stop_row = keep_bytes(&sc->mem, k->scan.stop_row);
  sc->scan.filter = keep_bytes(&sc->mem, k->scan.filter);
  hbc_bytes *cols = proto_mem_alloc(&sc->mem, (k->ncolumns ? k->ncolumns : 1) * sizeof *cols);
  for (size_t i = 0; i < k->ncolumns; i++)
    cols[i] = keep_bytes(&sc->mem, k->columns[i]);
  sc->scan.columns = cols;
  sc->rows_per_call = k->scan.caching;
  sc->include_timestamp = k->include_timestamp;
  sc->sorted_columns = k->sorted_columns;
  TAILQ_INIT(&sc->waiting);
  TAILQ_INSERT_TAIL(&a->scanners, sc, link);
  k->sc = sc;
  return 0;
}

static json_t *run_scanner_open(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  if (hbc_scanner_open(c, hbc_str(sc->table), &sc->scan, &sc->gateway_id, herr) < 0)
    return NULL;
  return json_pack("{s:I}", "scanner", (json_int_t)sc->id);
}

static void scanner_free(api *a, scanner *sc) {
  call *w;
  while ((w = TAILQ_FIRST(&sc->waiting)) != NULL) {
    TAILQ_REMOVE(&sc->waiting, w, wait_link);
    a->in_flight--;
    proto_fail(&w->err, PROTO_INVALID_PARAMS, "invalid params: scanner %llu was closed",
               (unsigned long long)sc->id);
    w->sc = NULL;
    finish(w);
  }
  TAILQ_REMOVE(&a->scanners, sc, link);
  proto_mem_free(&sc->mem);
  free(sc->last_key);
  free(sc->table);
  free(sc);
}

/* The scanner's call is over: the next waiting call on it may go. */
static void scanner_release(api *a, scanner *sc) {
  sc->busy = false;
  sc->last_used_ms = clock_now_ms();
  call *w = TAILQ_FIRST(&sc->waiting);
  if (w == NULL)
    return;
  TAILQ_REMOVE(&sc->waiting, w, wait_link);
  a->in_flight--;
  sc->busy = true;
  submit(w);
}

static bool call_failed(const call *k) {
  return k->err.code != 0 || k->job.err.code != HB_OK;
}

static void after_scanner_open(call *k) {
  if (call_failed(k))
    scanner_free(k->api, k->sc);
  else
    scanner_release(k->api, k->sc);
}

static int prepare_scanner_use(call *k, proto_error *e) {
  int64_t id = 0;
  if (proto_param_int(&k->req, "scanner", true, 1, INT64_MAX, &id, e) < 0)
    return -1;
  scanner *sc;
  TAILQ_FOREACH(sc, &k->api->scanners, link)
    if ((int64_t)sc->id == id && sc->session == k->session && !sc->closed)
      break;
  if (sc == NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"scanner\" %lld is not open on this connection (closed, "
                      "expired after scanner_idle_timeout_ms, or never opened)", (long long)id);
  k->sc = sc;
  return 0;
}

static int prepare_scanner_next(call *k, proto_error *e) {
  if (prepare_scanner_use(k, e) < 0)
    return -1;
  k->number = k->sc->rows_per_call;
  k->include_timestamp = k->sc->include_timestamp;
  k->sorted_columns = k->sc->sorted_columns;
  return proto_param_int(&k->req, "count", false, 1, INT32_MAX, &k->number, e);
}

/* The gateway drops scanners unused for a while ("scanner ID is invalid"): open a new one after
 * the last row returned, unless scan_batching may have split that row. */
static int reopen_scanner(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  if (herr->code != HB_ERR_ILLEGAL_ARGUMENT || sc->scan.batch_size > 0)
    return -1;
  hb_error_clear(herr);
  hbc_scan s = sc->scan;
  if (sc->have_last)
    s.start_row = (hbc_bytes){sc->last_key, sc->last_len};
  if (hbc_scanner_open(c, hbc_str(sc->table), &s, &sc->gateway_id, herr) < 0)
    return -1;
  k->reopened = true;
  return 0;
}

static void remember_last(scanner *sc, hbc_bytes key) {
  sc->last_key = realloc(sc->last_key, key.len ? key.len : 1);
  if (key.len > 0)
    memcpy(sc->last_key, key.data, key.len);
  sc->last_len = key.len;
  sc->have_last = true;
}

static json_t *run_scanner_next(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  hbc_result res = HBC_RESULT_INIT;
  int32_t n = (int32_t)k->number;
  if (hbc_scanner_get_list(c, sc->gateway_id, n, &res, herr) < 0) {
    if (reopen_scanner(c, k, herr) < 0)
      return NULL;
    /* A resumed scanner starts at the last row returned: ask for one more and skip it. */
    bool skip = sc->have_last;
    if (hbc_scanner_get_list(c, sc->gateway_id, n + (skip && n < INT32_MAX), &res, herr) < 0)
      return NULL;
    if (skip && res.nrows > 0 && bytes_eq(res.rows[0].key, (hbc_bytes){sc->last_key, sc->last_len})) {
      res.rows++;
      res.nrows--;
    }
  }
  bool done = res.nrows == 0;
  json_t *rows = json_array();
  for (size_t i = 0; i < res.nrows && rows != NULL; i++) {
    json_t *key = proto_bytes_to_json(res.rows[i].key, k->req.encoding, "a row key", &k->err);
    json_t *row = key != NULL ? scan_row_json(k, &res.rows[i]) : NULL;
    if (row == NULL) {
      json_decref(key);
      json_decref(rows);
      rows = NULL;
      break;
    }
    json_array_append_new(rows, json_pack("[oo]", key, row));
  }
  if (res.nrows > 0)
    remember_last(sc, res.rows[res.nrows - 1].key);
  hbc_result_free(&res);
  return rows != NULL ? json_pack("{s:o,s:b}", "rows", rows, "done", done) : NULL;
}

static void after_scanner_use(call *k) {
  if (k->reopened)
    k->api->scanner_reopens++;
  if (k->sc != NULL)
    scanner_release(k->api, k->sc);
}

static json_t *run_scanner_close(hbc_conn *c, call *k, hb_error *herr) {
  /* A scanner the gateway already expired is as closed as it gets. */
  if (hbc_scanner_close(c, k->sc->gateway_id, herr) < 0 && herr->code != HB_ERR_ILLEGAL_ARGUMENT)
    return NULL;
  hb_error_clear(herr);
  return json_null();
}

static void after_scanner_close(call *k) {
  if (k->sc != NULL)
    scanner_free(k->api, k->sc);
}

static int prepare_scanner_close(call *k, proto_error *e) {
  if (prepare_scanner_use(k, e) < 0)
    return -1;
  k->sc->closed = true; /* no new calls; those already waiting fail when it goes */
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Batches: puts, deletes and counter changes sent together, grouped per row, in chunks. */

typedef enum batch_kind { BATCH_PUT, BATCH_DELETE, BATCH_COUNTER } batch_kind;

struct batch_op {
  batch_kind kind;
  hbc_bytes row;
  hbc_mutation *mutations;  /* put: the cells; delete: the columns (none: the whole row) */
  size_t nmutations;
  hbc_bytes column;         /* counter */
  int64_t amount;           /* counter */
};

static const char *const PUT_OP_KEYS[] = {"op", "row", "data", NULL};
static const char *const DELETE_OP_KEYS[] = {"op", "row", "columns", NULL};
static const char *const COUNTER_OP_KEYS[] = {"op", "row", "column", "value", NULL};

static int check_op_keys(json_t *op, const char *const *allowed, size_t i, proto_error *e) {
  const char *key;
  json_t *v;
  json_object_foreach(op, key, v) {
    bool ok = false;
    for (size_t j = 0; allowed[j] != NULL && !ok; j++)
      ok = strcmp(allowed[j], key) == 0;
    if (!ok)
      return proto_fail(e, PROTO_INVALID_PARAMS,
                        "invalid params: \"operations\"[%zu] has an unknown member \"%.40s\"", i,
                        key);
  }
  return 0;
}

static int parse_columns(call *k, json_t *cols, batch_op *b, size_t i, proto_error *e) {
  if (cols == NULL)
    return 0;
  if (!json_is_array(cols) || json_array_size(cols) == 0)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu].columns must be a non-empty list "
                      "(leave it out to delete the whole row)", i);
  b->nmutations = json_array_size(cols);
  b->mutations = proto_mem_alloc(&k->mem, b->nmutations * sizeof *b->mutations);
  for (size_t j = 0; j < b->nmutations; j++) {
    char what[96];
    snprintf(what, sizeof what, "\"operations\"[%zu].columns[%zu]", i, j);
    b->mutations[j] = (hbc_mutation){.is_delete = true, .wal = k->wal};
    if (proto_json_to_bytes(json_array_get(cols, j), k->req.encoding, what, &k->mem,
                            &b->mutations[j].column, e) < 0)
      return -1;
  }
  return 0;
}

static int parse_op(call *k, json_t *op, size_t i, batch_op *b, proto_error *e) {
  const char *kind = json_string_value(json_object_get(op, "op"));
  char what[96];
  snprintf(what, sizeof what, "\"operations\"[%zu].row", i);
  if (!json_is_object(op) || kind == NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu] must be an object with \"op\"", i);
  if (proto_json_to_bytes(json_object_get(op, "row"), k->req.encoding, what, &k->mem, &b->row,
                          e) < 0)
    return -1;
  if (strcmp(kind, "put") == 0) {
    b->kind = BATCH_PUT;
    snprintf(what, sizeof what, "\"operations\"[%zu].data", i);
    return check_op_keys(op, PUT_OP_KEYS, i, e) < 0
             ? -1
             : parse_data(k, json_object_get(op, "data"), what, &b->mutations, &b->nmutations, e);
  }
  if (strcmp(kind, "delete") == 0) {
    b->kind = BATCH_DELETE;
    return check_op_keys(op, DELETE_OP_KEYS, i, e) < 0 ? -1
                                                        : parse_columns(k, json_object_get(op, "columns"), b, i, e);
  }
  bool inc = strcmp(kind, "counter_inc") == 0, dec = strcmp(kind, "counter_dec") == 0;
  if (!inc && !dec)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu].op must be \"put\", \"delete\", "
                      "\"counter_inc\" or \"counter_dec\", not \"%.40s\"", i, kind);
  b->kind = BATCH_COUNTER;
  snprintf(what, sizeof what, "\"operations\"[%zu].column", i);
  json_t *value = json_object_get(op, "value");
  if (check_op_keys(op, COUNTER_OP_KEYS, i, e) < 0 ||
      proto_json_to_bytes(json_object_get(op, "column"), k->req.encoding, what, &k->mem,
                          &b->column, e) < 0)
    return -1;
  if (value != NULL && !json_is_integer(value))
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu].value must be an integer", i);
  b->amount = value != NULL ? json_integer_value(value) : 1;
  if (dec)
    b->amount = -b->amount;
  return 0;
}

static int prepare_batch(call *k, proto_error *e) {
  int64_t batch_size = 0;
  k->wal = true;
  if (prepare_table(k, e) < 0 || prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "wal", false, &k->wal, e) < 0 ||
      proto_param_int(&k->req, "batch_size", false, 1, INT32_MAX, &batch_size, e) < 0)
    return -1;
  k->number = batch_size;
  json_t *ops = json_object_get(k->req.params, "operations");
  if (!json_is_array(ops))
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\" must be a list of operations");
  k->nops = json_array_size(ops);
  k->ops = proto_mem_alloc(&k->mem, (k->nops ? k->nops : 1) * sizeof *k->ops);
  for (size_t i = 0; i < k->nops; i++) {
    memset(&k->ops[i], 0, sizeof k->ops[i]);
    if (parse_op(k, json_array_get(ops, i), i, &k->ops[i], e) < 0)
      return -1;
  }
  return 0;
}

/* The rows of the chunk being built: each with its own growable list of mutations. */
typedef struct chunk_row {
  hbc_bytes row;
  hbc_mutation *m;
  size_t n, cap;
  bool has_delete, has_put;
} chunk_row;

typedef struct chunk {
  chunk_row *rows;
  size_t nrows, cap;
  size_t nmutations;
  bool sent_delete;  /* the previous call carried deletes */
} chunk;

static chunk_row *chunk_find(chunk *ch, hbc_bytes row) {
  for (size_t i = 0; i < ch->nrows; i++)
    if (bytes_eq(ch->rows[i].row, row))
      return &ch->rows[i];
  if (ch->nrows == ch->cap) {
    ch->cap = ch->cap ? ch->cap * 2 : 16;
    ch->rows = realloc(ch->rows, ch->cap * sizeof *ch->rows);
  }
  ch->rows[ch->nrows] = (chunk_row){.row = row};
  return &ch->rows[ch->nrows++];
}

/* A put of a cell already put in this chunk replaces it: the last write wins, as in HappyBase. */
static void chunk_add(chunk *ch, chunk_row *r, const hbc_mutation *m) {
  for (size_t i = 0; !m->is_delete && i < r->n; i++) {
    hbc_mutation *old = &r->m[i];
    if (!old->is_delete && bytes_eq(old->column, m->column)) {
      *old = *m;
      return;
    }
  }
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 8;
    r->m = realloc(r->m, r->cap * sizeof *r->m);
  }
  r->m[r->n++] = *m;
  r->has_delete |= m->is_delete;
  r->has_put |= !m->is_delete;
  ch->nmutations++;
}

static void chunk_clear(chunk *ch) {
  for (size_t i = 0; i < ch->nrows; i++)
    free(ch->rows[i].m);
  ch->nrows = 0;
  ch->nmutations = 0;
}

static int chunk_send(hbc_conn *c, call *k, chunk *ch, hb_error *herr) {
  if (ch->nrows == 0)
    return 0;
  bool has_delete = false, has_put = false;
  hbc_row_mutations *rm = calloc(ch->nrows, sizeof *rm);
  for (size_t i = 0; i < ch->nrows; i++) {
    rm[i] = (hbc_row_mutations){ch->rows[i].row, ch->rows[i].m, ch->rows[i].n};
    has_delete |= ch->rows[i].has_delete;
    has_put |= ch->rows[i].has_put;
  }
  /* The region server stamps both calls with its clock in milliseconds, and a delete masks puts
   * with its own timestamp: let the clock move on so these puts land after those deletes. */
  if (ch->sent_delete && has_put && k->timestamp == HBC_LATEST) {
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  ch->sent_delete = has_delete;
  int rc = hbc_mutate_rows(c, table_bytes(k), rm, ch->nrows, k->timestamp, herr);
  free(rm);
  chunk_clear(ch);
  return rc;
}

/* Adds one put or delete; the gateway applies a row's puts before its deletes within one call,
 * so a put that follows a delete of the same row goes out in the next call. */
static int batch_add(hbc_conn *c, call *k, chunk *ch, const batch_op *op, const hbc_result *fams,
                     hb_error *herr) {
  chunk_row *r = chunk_find(ch, op->row);
  if (op->kind == BATCH_PUT && r->has_delete) {
    if (chunk_send(c, k, ch, herr) < 0)
      return -1;
    r = chunk_find(ch, op->row);
  }
  if (op->kind == BATCH_DELETE && op->nmutations == 0) {
    for (size_t i = 0; i < fams->nfamilies; i++) {
      hbc_mutation m = {.is_delete = true, .wal = k->wal,
                        .column = family_only(fams->families[i].name)};
      chunk_add(ch, r, &m);
    }
  }
  for (size_t i = 0; i < op->nmutations; i++)
    chunk_add(ch, r, &op->mutations[i]);
  if (k->number > 0 && ch->nmutations >= (size_t)k->number)
    return chunk_send(c, k, ch, herr);
  return 0;
}

/* Counter changes go out last, in one incrementRows, summed per cell. */
static int batch_counters(hbc_conn *c, call *k, hb_error *herr) {
  hbc_increment *inc = calloc(k->nops ? k->nops : 1, sizeof *inc);
  size_t n = 0;
  for (size_t i = 0; i < k->nops; i++) {
    const batch_op *op = &k->ops[i];
    if (op->kind != BATCH_COUNTER)
      continue;
    size_t j = 0;
    while (j < n && !(bytes_eq(inc[j].row, op->row) && bytes_eq(inc[j].column, op->column)))
      j++;
    if (j == n)
      inc[n++] = (hbc_increment){.table = table_bytes(k), .row = op->row, .column = op->column};
    inc[j].amount += op->amount;
  }
  int rc = hbc_increment_rows(c, inc, n, herr);
  free(inc);
  return rc;
}

static json_t *run_batch(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT;
  bool whole_rows = false;
  for (size_t i = 0; i < k->nops; i++)
    whole_rows |= k->ops[i].kind == BATCH_DELETE && k->ops[i].nmutations == 0;
  if (whole_rows && hbc_column_descriptors(c, table_bytes(k), &fams, herr) < 0)
    return NULL;
  chunk ch = {0};
  int rc = 0;
  for (size_t i = 0; i < k->nops && rc == 0; i++)
    if (k->ops[i].kind != BATCH_COUNTER)
      rc = batch_add(c, k, &ch, &k->ops[i], &fams, herr);
  if (rc == 0)
    rc = chunk_send(c, k, &ch, herr);
  if (rc == 0)
    rc = batch_counters(c, k, herr);
  chunk_clear(&ch);
  free(ch.rows);
  hbc_result_free(&fams);
  return rc < 0 ? NULL : json_null();
}

/* ---------------------------------------------------------------------------------------------
 * The method table. */

static const char *const READ_PARAMS[] = {"table", "use_prefix", "row", "columns", "timestamp",
                                          "include_timestamp", NULL};
static const char *const ROWS_PARAMS[] = {"table", "use_prefix", "rows", "columns", "timestamp",
                                          "include_timestamp", NULL};
static const char *const CELLS_PARAMS[] = {"table", "use_prefix", "row", "column", "versions",
                                           "timestamp", "include_timestamp", NULL};
static const char *const PUT_PARAMS[] = {"table", "use_prefix", "row", "data", "timestamp", "wal",
                                         NULL};
static const char *const DELETE_PARAMS[] = {"table", "use_prefix", "row", "columns", "timestamp",
                                            "wal", NULL};
static const char *const COUNTER_PARAMS[] = {"table", "use_prefix", "row", "column", "value", NULL};
static const char *const APPEND_PARAMS[] = {"table", "use_prefix", "row", "data",
                                            "include_timestamp", NULL};
static const char *const TABLES_PARAMS[] = {"use_prefix", NULL};
static const char *const SCANNER_OPEN_PARAMS[] = {"table", "use_prefix", "row_start", "row_stop",
                                                  "row_prefix", "columns", "filter", "timestamp",
                                                  "include_timestamp", "batch_size",
                                                  "scan_batching", "sorted_columns", "reverse",
                                                  NULL};
static const char *const SCANNER_NEXT_PARAMS[] = {"scanner", "count", NULL};
static const char *const SCANNER_CLOSE_PARAMS[] = {"scanner", NULL};
static const char *const BATCH_PARAMS[] = {"table", "use_prefix", "operations", "timestamp", "wal",
                                           "batch_size", NULL};
static const char *const SCAN_PARAMS[] = {"table", "use_prefix", "row_start", "row_stop",
                                          "row_prefix", "row_start_exclusive", "columns", "filter",
                                          "timestamp", "include_timestamp", "batch_size",
                                          "scan_batching", "limit", "sorted_columns", "reverse",
                                          NULL};
static const char *const CREATE_PARAMS[] = {"table", "use_prefix", "families", NULL};
static const char *const DELETE_TABLE_PARAMS[] = {"table", "use_prefix", "disable", NULL};
static const char *const COMPACT_PARAMS[] = {"table", "use_prefix", "major", NULL};

#define LOCAL NULL, NULL, POOL_RETRY_NEVER
static const method METHODS[] = {
  {"ping", LOCAL, NO_PARAMS, NULL},
  {"version", LOCAL, NO_PARAMS, NULL},
  {"stats", LOCAL, NO_PARAMS, NULL},
  {"tables", prepare_tables, run_tables, POOL_RETRY_ON_STALE, TABLES_PARAMS, NULL},
  {"create_table", prepare_create_table, run_create_table, POOL_RETRY_NEVER, CREATE_PARAMS, NULL},
  {"delete_table", prepare_delete_table, run_delete_table, POOL_RETRY_NEVER, DELETE_TABLE_PARAMS, NULL},
  {"enable_table", prepare_table, run_enable_table, POOL_RETRY_NEVER, TABLE_PARAMS, NULL},
  {"disable_table", prepare_table, run_disable_table, POOL_RETRY_NEVER, TABLE_PARAMS, NULL},
  {"is_table_enabled", prepare_table, run_is_table_enabled, POOL_RETRY_ON_STALE, TABLE_PARAMS, NULL},
  {"compact_table", prepare_compact_table, run_compact_table, POOL_RETRY_NEVER, COMPACT_PARAMS, NULL},
  {"families", prepare_table, run_families, POOL_RETRY_ON_STALE, TABLE_PARAMS, NULL},
  {"regions", prepare_table, run_regions, POOL_RETRY_ON_STALE, TABLE_PARAMS, NULL},
  {"row", prepare_row, run_row, POOL_RETRY_ON_STALE, READ_PARAMS, NULL},
  {"rows", prepare_rows, run_rows, POOL_RETRY_ON_STALE, ROWS_PARAMS, NULL},
  {"cells", prepare_cells, run_cells, POOL_RETRY_ON_STALE, CELLS_PARAMS, NULL},
  {"put", prepare_put, run_mutations, POOL_RETRY_NEVER, PUT_PARAMS, NULL},
  {"delete", prepare_delete, run_delete, POOL_RETRY_NEVER, DELETE_PARAMS, NULL},
  {"counter_get", prepare_counter_get, run_counter_inc, POOL_RETRY_ON_STALE, COUNTER_PARAMS, NULL},
  {"counter_set", prepare_counter_set, run_mutations, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL},
  {"counter_inc", prepare_counter_step, run_counter_inc, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL},
  {"counter_dec", prepare_counter_step, run_counter_inc, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL},
  {"append", prepare_append, run_append, POOL_RETRY_NEVER, APPEND_PARAMS, NULL},
  {"scan", prepare_scan, run_scan, POOL_RETRY_ON_STALE, SCAN_PARAMS, NULL},
  {"batch", prepare_batch, run_batch, POOL_RETRY_NEVER, BATCH_PARAMS, NULL},
  /* A stale connection may have failed mid-reply, after the scanner moved on: never retried. */
  {"scanner_open", prepare_scanner_open, run_scanner_open, POOL_RETRY_NEVER, SCANNER_OPEN_PARAMS,
   after_scanner_open},
  {"scanner_next", prepare_scanner_next, run_scanner_next, POOL_RETRY_NEVER, SCANNER_NEXT_PARAMS,
   after_scanner_use},
  {"scanner_close", prepare_scanner_close, run_scanner_close, POOL_RETRY_NEVER,
   SCANNER_CLOSE_PARAMS, after_scanner_close},
};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

static const method *find_method(const char *name) {
  for (size_t i = 0; i < NMETHODS; i++)
    if (strcmp(METHODS[i].name, name) == 0)
      return &METHODS[i];
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Serving a call. */

static void call_free(call *k) {
  proto_request_clear(&k->req);
  proto_mem_free(&k->mem);
  proto_error_clear(&k->err);
  hb_error_clear(&k->job.err);
  free(k->table);
  free(k->line);
  free(k);
}

/* Sends the reply (loop thread) and forgets the call. */
static void finish(call *k) {
  api *a = k->api;
  if (k->m != NULL) {
    method_stats *ms = &a->counters[k->m - METHODS];
    ms->calls++;
    if (k->err.code != 0 || k->job.err.code != HB_OK)
      ms->errors++;
  }
  char *line = NULL;
  if (k->req.id != NULL) {
    if (k->line != NULL) {
      line = k->line;
      k->line = NULL;
    } else {
      line = proto_error_line(k->req.id, &k->err);
    }
  }
  k->reply(k->owner, line);
  call_free(k);
}

/* Worker side: the HBase calls, and the reply rendered here, off the loop. */
static int work(hbc_conn *c, pool_job *job) {
  call *k = job->ctx;
  proto_error_clear(&k->err);
  free(k->line);
  k->line = NULL;
  json_t *result = k->m->run(c, k, &job->err);
  if (result == NULL) {
    if (job->err.code == HB_OK && k->err.code == 0)
      proto_fail(&k->err, PROTO_INTERNAL_ERROR, "%s failed without a reason", k->m->name);
    return job->err.code == HB_OK ? 0 : -1;
  }
  if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
  return 0;
}

static void job_done(pool_job *job) {
  call *k = job->ctx;
  k->api->in_flight--;
  if (job->err.code != HB_OK && k->err.code == 0)
    proto_fail_hb(&k->err, &job->err, true);
  if (k->m->after != NULL)
    k->m->after(k);
  finish(k);
}

/* Hands a prepared call to the pool; a refusal is its reply. */
static void submit(call *k) {
  k->job = (pool_job){.work = work, .done = job_done, .ctx = k, .retry = k->m->retry};
  hb_error err = HB_ERROR_INIT;
  if (pool_submit(k->api->pool, &k->job, &err) < 0) {
    proto_fail_hb(&k->err, &err, false);
    hb_error_clear(&err);
    if (k->m->after != NULL)
      k->m->after(k);
    finish(k);
    return;
  }
  k->api->in_flight++;
}

/* A call on a scanner in use waits for it; the others go to the pool at once. */
static void start(call *k) {
  scanner *sc = k->sc;
  if (sc != NULL && k->m->run != run_scanner_open && sc->busy) {
    TAILQ_INSERT_TAIL(&sc->waiting, k, wait_link);
    k->api->in_flight++;
    return;
  }
  if (sc != NULL)
    sc->busy = true;
  submit(k);
}

static void discard_reply(void *owner, char *line) {
  (void)owner;
  free(line);
}

/* Closes a scanner on the gateway on the daemon's own account (no reply to anyone). */
static void close_scanner(api *a, scanner *sc) {
  if (sc->closed)
    return;
  sc->closed = true;
  call *k = calloc(1, sizeof *k);
  k->api = a;
  k->reply = discard_reply;
  k->m = find_method("scanner_close");
  k->sc = sc;
  start(k);
}

void api_session_closed(api *a, uint64_t session) {
  scanner *sc, *next;
  for (sc = TAILQ_FIRST(&a->scanners); sc != NULL; sc = next) {
    next = TAILQ_NEXT(sc, link);
    if (sc->session == session)
      close_scanner(a, sc);
  }
}

void api_expire(api *a) {
  int64_t now = clock_now_ms();
  scanner *sc, *next;
  for (sc = TAILQ_FIRST(&a->scanners); sc != NULL; sc = next) {
    next = TAILQ_NEXT(sc, link);
    if (!sc->busy && !sc->closed && now - sc->last_used_ms > a->scanner_idle_timeout_ms)
      close_scanner(a, sc);
  }
}

static json_t *stats_json(api *a) {
  pool_stats ps;
  pool_get_stats(a->pool, &ps);
  json_t *methods = json_object();
  for (size_t i = 0; i < NMETHODS; i++) {
    if (a->counters[i].calls == 0)
      continue;
    json_object_set_new(methods, METHODS[i].name,
                        json_pack("{s:I,s:I}", "calls", (json_int_t)a->counters[i].calls, "errors",
                                  (json_int_t)a->counters[i].errors));
  }
  json_t *out = json_pack(
    "{s:{s:i,s:i,s:i,s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I},s:i,s:o}", "pool", "size", ps.size, "busy",
    ps.busy, "idle", ps.idle, "broken", ps.broken, "waiting", ps.waiting, "gateway_up",
    ps.gateway_up, "jobs", (json_int_t)ps.jobs, "failed", (json_int_t)ps.failed, "reconnects",
    (json_int_t)ps.reconnects, "retries", (json_int_t)ps.retries, "refreshes",
    (json_int_t)ps.refreshes, "in_flight", a->in_flight, "methods", methods);
  int nscanners = 0;
  scanner *sc;
  TAILQ_FOREACH(sc, &a->scanners, link)
    nscanners++;
  json_object_set_new(out, "scanners", json_integer(nscanners));
  json_object_set_new(out, "scanner_reopens", json_integer((json_int_t)a->scanner_reopens));
  if (a->stats != NULL)
    a->stats(a->stats_arg, out);
  return out;
}

/* ping, version and stats need no gateway. */
static void answer_locally(call *k) {
  json_t *result;
  if (strcmp(k->m->name, "ping") == 0)
    result = json_string("pong");
  else if (strcmp(k->m->name, "version") == 0)
    result = json_pack("{s:s,s:s}", "version", PACKAGE_VERSION, "api", "hbase-thrift1");
  else
    result = stats_json(k->api);
  if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
  finish(k);
}

void api_call(api *a, json_t *msg, uint64_t session, api_reply_fn reply, void *owner) {
  call *k = calloc(1, sizeof *k);
  k->api = a;
  k->session = session;
  k->reply = reply;
  k->owner = owner;
  int rc = proto_request_init(&k->req, msg, &k->err);
  json_decref(msg);
  if (rc < 0) {
    finish(k);
    return;
  }
  k->m = find_method(k->req.method);
  if (k->m == NULL) {
    proto_fail(&k->err, PROTO_METHOD_NOT_FOUND, "method not found: \"%.60s\"", k->req.method);
    finish(k);
    return;
  }
  if (proto_check_params(&k->req, k->m->params, &k->err) < 0 ||
      (k->m->prepare != NULL && k->m->prepare(k, &k->err) < 0)) {
    finish(k);
    return;
  }
  if (k->m->run == NULL) {
    answer_locally(k);
    return;
  }
  start(k);
}

api *api_new(pool *gateway_pool, const config *cfg, api_stats_fn stats, void *stats_arg) {
  api *a = calloc(1, sizeof *a);
  a->pool = gateway_pool;
  const char *prefix = cfg->table_prefix != NULL ? cfg->table_prefix : "";
  if (*prefix == '\0')
    a->prefix = strdup("");
  else if (asprintf(&a->prefix, "%s%s", prefix, cfg->table_prefix_separator) < 0)
    a->prefix = NULL;
  a->scan_max_rows = cfg->scan_max_rows;
  a->scanner_idle_timeout_ms = cfg->scanner_idle_timeout_ms;
  TAILQ_INIT(&a->scanners);
  a->stats = stats;
  a->stats_arg = stats_arg;
  a->counters = calloc(NMETHODS, sizeof *a->counters);
  return a;
}

void api_free(api *a) {
  if (a == NULL)
    return;
  while (!TAILQ_EMPTY(&a->scanners))
    scanner_free(a, TAILQ_FIRST(&a->scanners));
  free(a->prefix);
  free(a->counters);
  free(a);
}

int api_in_flight(const api *a) {
  return a->in_flight;
}
