/* reads: row, rows and cells: gets of whole rows or columns, at a timestamp, and the versions
 * of one cell. Queued row and rows calls that read alike share one gateway call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "xmalloc.h"

#define READS_MAX_VERSIONS 2147483647

static const pool_group read_group;

/* A row or rows call may share a gateway call unless it has a timestamp and no columns: the
 * gateway ignores the timestamp of getRowsWithColumnsTs without columns, so run_rows names the
 * families first, and a shared call cannot. */
static void read_group_unless_ts(call *k) {
  if (k->timestamp == HBC_LATEST || k->ncolumns > 0)
    k->group = &read_group;
}

/* row's result: the row, or {} when the gateway has none. */
static json_t *row_text(call *k, const hbc_row *row) {
  proto_text *t = call_text_begin(k);
  if (row == NULL)
    proto_text_add(t, "{}", 2);
  else if (call_text_row(k, t, row) < 0)
    return NULL;
  return call_text_result(k);
}

static int prepare_row(call *k, proto_error *e) {
  if (call_prepare_read(k, e) < 0 || call_param_row(k, "row", &k->row, e) < 0)
    return -1;
  read_group_unless_ts(k);
  return 0;
}

static json_t *run_row(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_rows(c, call_table(k), &k->row, 1, k->columns, k->ncolumns, k->timestamp, &res,
                   herr) < 0)
    return NULL;
  json_t *out = row_text(k, res.nrows > 0 ? &res.rows[0] : NULL);
  hbc_result_free(&res);
  return out;
}

static int prepare_rows(call *k, proto_error *e) {
  if (call_prepare_read(k, e) < 0 || call_param_rows(k, "rows", &k->rows, &k->nrows, e) < 0)
    return -1;
  read_group_unless_ts(k);
  return 0;
}

static json_t *run_rows(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT, res = HBC_RESULT_INIT;
  hbc_bytes *given = k->columns;
  size_t ngiven = k->ncolumns;
  /* The gateway ignores the timestamp of getRowsWithColumnsTs without columns (as HappyBase
   * found): name every family instead. */
  if (k->timestamp != HBC_LATEST && ngiven == 0 && call_all_families(c, k, &fams, herr) < 0)
    return NULL;
  int rc = hbc_get_rows(c, call_table(k), k->rows, k->nrows, k->columns, k->ncolumns, k->timestamp,
                        &res, herr);
  if (k->columns != given) {
    free(k->columns);
    k->columns = given;
    k->ncolumns = ngiven;
  }
  hbc_result_free(&fams);
  if (rc < 0)
    return NULL;
  proto_text *t = call_text_begin(k);
  proto_text_add(t, "[", 1);
  rc = call_text_rows(k, t, res.rows, res.nrows, false);
  proto_text_add(t, "]", 1);
  hbc_result_free(&res);
  return rc == 0 ? call_text_result(k) : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Coalescing: row and rows calls with the same table, columns and timestamp make one
 * getRowsWithColumns(Ts) of all their keys; each renders its own rows (in its own encoding,
 * with or without timestamps) from the shared result. */

static bool read_joins(pool_job *const *members, size_t n, const pool_job *later) {
  (void)n;
  const call *a = members[0]->ctx, *b = later->ctx;
  if (strcmp(a->table, b->table) != 0 || a->timestamp != b->timestamp || a->ncolumns != b->ncolumns)
    return false;
  for (size_t i = 0; i < a->ncolumns; i++)
    if (!hbc_bytes_equal(a->columns[i], b->columns[i]))
      return false;
  return true;
}

/* A call's keys: row's one, or rows' list. */
static const hbc_bytes *read_keys(const call *k, size_t *n) {
  bool one = k->m->run == run_row;
  *n = one ? 1 : k->nrows;
  return one ? &k->row : k->rows;
}

static size_t read_weight(const pool_job *job) {
  size_t n;
  read_keys(job->ctx, &n);
  return n;
}

static const hbc_row *find_row(const hbc_result *res, hbc_bytes key) {
  for (size_t i = 0; i < res->nrows; i++)
    if (hbc_bytes_equal(res->rows[i].key, key))
      return &res->rows[i];
  return NULL;
}

/* A member's result from the shared one: as run_row or run_rows would have made it. */
static json_t *read_result(call *k, const hbc_result *res) {
  size_t n;
  const hbc_bytes *keys = read_keys(k, &n);
  if (k->m->run == run_row)
    return row_text(k, find_row(res, keys[0]));
  proto_text *t = call_text_begin(k);
  proto_text_add(t, "[", 1);
  bool comma = false;
  for (size_t i = 0; i < n; i++) {
    const hbc_row *row = find_row(res, keys[i]);
    if (row == NULL)
      continue;
    if (comma)
      proto_text_add(t, ",", 1);
    if (call_text_keyed_row(k, t, row) < 0)
      return NULL;
    comma = true;
  }
  proto_text_add(t, "]", 1);
  return call_text_result(k);
}

static int read_work(hbc_conn *c, pool_job **members, size_t n) {
  size_t nkeys = 0;
  for (size_t i = 0; i < n; i++)
    nkeys += read_weight(members[i]);
  hbc_bytes *keys = xmalloc((nkeys > 0 ? nkeys : 1) * sizeof *keys);
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t m;
    const hbc_bytes *own = read_keys(members[i]->ctx, &m);
    memcpy(keys + at, own, m * sizeof *keys);
    at += m;
  }
  const call *first = members[0]->ctx;
  hbc_result res = HBC_RESULT_INIT;
  int rc = hbc_get_rows(c, call_table(first), keys, nkeys, first->columns, first->ncolumns,
                        first->timestamp, &res, &members[0]->err);
  free(keys);
  if (rc < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    call *k = members[i]->ctx;
    call_reset_reply(k);
    call_take_result(k, read_result(k, &res));
  }
  hbc_result_free(&res);
  return 0;
}

static const pool_group read_group = {read_joins, read_weight, read_work};

static int prepare_cells(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      call_param_row(k, "row", &k->row, e) < 0 || call_param_column(k, "column", &k->column, e) < 0)
    return -1;
  k->arg.cells.versions = READS_MAX_VERSIONS;
  return proto_param_int(&k->req, "versions", false, 1, READS_MAX_VERSIONS, &k->arg.cells.versions,
                         e);
}

static json_t *run_cells(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_versions(c, call_table(k), k->row, k->column, k->timestamp,
                       (int32_t)k->arg.cells.versions, &res, herr) < 0)
    return NULL;
  json_t *out = json_array();
  char what[160], whatv[176];
  call_cell_what(what, sizeof what, k->row, k->column);
  snprintf(whatv, sizeof whatv, "a value of %s", what);
  for (size_t i = 0; i < res.ncells && out != NULL; i++) {
    json_t *v = call_cell_json(k, &res.cells[i], whatv);
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

static const char *const ROW_PARAMS[] = {"table",     "use_prefix",        "row", "columns",
                                         "timestamp", "include_timestamp", NULL};
static const char *const ROWS_PARAMS[] = {"table",     "use_prefix",        "rows", "columns",
                                          "timestamp", "include_timestamp", NULL};
static const char *const CELLS_PARAMS[] =
  {"table", "use_prefix", "row", "column", "versions", "timestamp", "include_timestamp", NULL};

const method read_methods[] = {
  {"row", prepare_row, run_row, POOL_RETRY_ON_STALE, ROW_PARAMS, NULL, NULL, METHOD_READS, false},
  {"rows", prepare_rows, run_rows, POOL_RETRY_ON_STALE, ROWS_PARAMS, NULL, NULL, METHOD_READS,
   false},
  {"cells", prepare_cells, run_cells, POOL_RETRY_ON_STALE, CELLS_PARAMS, NULL, NULL, METHOD_READS,
   false},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};
