/* reads: row, rows and cells: gets of whole rows or columns, at a timestamp, and the versions
 * of one cell. */
#include <stdio.h>
#include <stdlib.h>

#include "call.h"

#define READS_MAX_VERSIONS 2147483647

static int prepare_row(call *k, proto_error *e) {
  if (call_prepare_read(k, e) < 0)
    return -1;
  return proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e);
}

static json_t *run_row(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_rows(c, call_table(k), &k->row, 1, k->columns, k->ncolumns, k->timestamp, &res,
                   herr) < 0)
    return NULL;
  json_t *out = res.nrows > 0 ? call_row_json(k, &res.rows[0]) : json_object();
  hbc_result_free(&res);
  return out;
}

static int prepare_rows(call *k, proto_error *e) {
  if (call_prepare_read(k, e) < 0)
    return -1;
  return proto_param_bytes_list(&k->req, "rows", true, &k->mem, &k->rows, &k->nrows, e);
}

static json_t *run_rows(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT, res = HBC_RESULT_INIT;
  hbc_bytes *given = k->columns;
  size_t ngiven = k->ncolumns;
  /* The gateway ignores the timestamp of getRowsWithColumnsTs without columns (as HappyBase
   * found): name every family instead. */
  if (k->timestamp != HBC_LATEST && ngiven == 0 && call_all_families(c, k, &fams, herr) < 0)
    return NULL;
  int rc = hbc_get_rows(c, call_table(k), k->rows, k->nrows, k->columns, k->ncolumns,
                        k->timestamp, &res, herr);
  if (k->columns != given) {
    free(k->columns);
    k->columns = given;
    k->ncolumns = ngiven;
  }
  hbc_result_free(&fams);
  if (rc < 0)
    return NULL;
  json_t *out = call_rows_json(k, res.rows, res.nrows);
  hbc_result_free(&res);
  return out;
}

static int prepare_cells(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bytes(&k->req, "row", true, &k->mem, &k->row, e) < 0 ||
      proto_param_bytes(&k->req, "column", true, &k->mem, &k->column, e) < 0)
    return -1;
  k->number = READS_MAX_VERSIONS;
  return proto_param_int(&k->req, "versions", false, 1, READS_MAX_VERSIONS, &k->number, e);
}

static json_t *run_cells(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_get_versions(c, call_table(k), k->row, k->column, k->timestamp, (int32_t)k->number,
                       &res, herr) < 0)
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

static const char *const ROW_PARAMS[] = {"table", "use_prefix", "row", "columns", "timestamp",
                                         "include_timestamp", NULL};
static const char *const ROWS_PARAMS[] = {"table", "use_prefix", "rows", "columns", "timestamp",
                                          "include_timestamp", NULL};
static const char *const CELLS_PARAMS[] = {"table", "use_prefix", "row", "column", "versions",
                                           "timestamp", "include_timestamp", NULL};

const method read_methods[] = {
  {"row", prepare_row, run_row, POOL_RETRY_ON_STALE, ROW_PARAMS, NULL},
  {"rows", prepare_rows, run_rows, POOL_RETRY_ON_STALE, ROWS_PARAMS, NULL},
  {"cells", prepare_cells, run_cells, POOL_RETRY_ON_STALE, CELLS_PARAMS, NULL},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL},
};
