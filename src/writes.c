/* writes: put, delete, the counters (counter_get, counter_set, counter_inc, counter_dec),
 * append and check_and_put, each on one row. Puts and deletes of one row start in the order
 * sent; queued ones of different rows share one gateway call. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "hblimits.h"
#include "xmalloc.h"

/* The "data" parameter: {column: value, ...}. */
static int prepare_data(call *k, proto_error *e) {
  return call_parse_data(k, k->row, json_object_get(k->req.params, "data"), "\"data\"",
                         &k->mutations, &k->nmutations, e);
}

static int prepare_write(call *k, proto_error *e) {
  k->wal = true;
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "wal", false, &k->wal, e) < 0)
    return -1;
  return call_param_row(k, "row", &k->row, e);
}

static const pool_group write_group;

/* A value size well under the gateway's hbase.client.keyvalue.maxsize (10 MiB by default). */
#define WRITES_MAX_SHARED_VALUE 1048576

static json_t *run_delete(hbc_conn *c, call *k, hb_error *herr);

static bool is_delete(const call *k) {
  return k->m->run == run_delete;
}

/* A put's columns, or a delete's. */
static hbc_bytes column_at(const call *k, size_t i) {
  return is_delete(k) ? k->columns[i] : k->mutations[i].column;
}

static size_t ncolumns_of(const call *k) {
  return is_delete(k) ? k->ncolumns : k->nmutations;
}

/* A single-row put or delete is ordered behind earlier ones of its row (pool order keys). It
 * may share a mutateRows call only when nothing in it can fail the whole call for the others:
 * a value HBase refuses fails every row of the call (keys and families past HBase's limits were
 * refused before, hblimits.h). */
static uint64_t row_order_key(const call *k) {
  return pool_order_key(k->table, strlen(k->table), k->row.data, k->row.len);
}

static void write_order_and_group(call *k) {
  k->order_key = row_order_key(k);
  for (size_t i = 0; !is_delete(k) && i < k->nmutations; i++)
    if (k->mutations[i].value.len > WRITES_MAX_SHARED_VALUE)
      return;
  k->group = &write_group;
}

static int prepare_put(call *k, proto_error *e) {
  if (prepare_write(k, e) < 0 || prepare_data(k, e) < 0)
    return -1;
  write_order_and_group(k);
  return 0;
}

static json_t *run_mutations(hbc_conn *c, call *k, hb_error *herr) {
  hbc_row_mutations rm = {.row = k->row, .mutations = k->mutations, .nmutations = k->nmutations};
  return hbc_mutate_rows(c, call_table(k), &rm, 1, k->timestamp, herr) < 0 ? NULL : json_null();
}

static int prepare_delete(call *k, proto_error *e) {
  if (prepare_write(k, e) < 0 ||
      call_param_columns(k, "columns", false, &k->columns, &k->ncolumns, e) < 0)
    return -1;
  if (json_object_get(k->req.params, "columns") != NULL && k->ncolumns == 0)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"columns\" is empty; leave it out to delete the whole row");
  write_order_and_group(k);
  /* The whole row needs the table's families first (run_delete): a call of its own. */
  if (k->ncolumns == 0)
    k->group = NULL;
  return 0;
}

/* Deletes columns, or the whole row as one family delete per family (not deleteAllRow: that is
 * what HappyBase does, and it honours the timestamp). */
static json_t *run_delete(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result fams = HBC_RESULT_INIT;
  bool whole_row = k->ncolumns == 0;
  if (whole_row && call_all_families(c, k, &fams, herr) < 0)
    return NULL;
  hbc_mutation *m = xcalloc(k->ncolumns ? k->ncolumns : 1, sizeof *m);
  for (size_t i = 0; i < k->ncolumns; i++)
    m[i] = (hbc_mutation){.is_delete = true, .column = k->columns[i], .wal = k->wal};
  hbc_row_mutations rm = {.row = k->row, .mutations = m, .nmutations = k->ncolumns};
  int rc = hbc_mutate_rows(c, call_table(k), &rm, 1, k->timestamp, herr);
  free(m);
  if (whole_row) {
    free(k->columns);
    k->columns = NULL;
    k->ncolumns = 0;
  }
  hbc_result_free(&fams);
  return rc < 0 ? NULL : json_null();
}

/* ---------------------------------------------------------------------------------------------
 * Coalescing: queued puts and deletes of columns, each of another row, with the same table,
 * timestamp and families, make one mutateRows(Ts). The same families: a missing family fails
 * the whole call, and then each member would have failed alone too. */

static bool has_family(const call *k, hbc_bytes fam) {
  for (size_t i = 0; i < ncolumns_of(k); i++)
    if (hbc_bytes_equal(hbc_column_family(column_at(k, i)), fam))
      return true;
  return false;
}

static bool families_within(const call *a, const call *b) {
  for (size_t i = 0; i < ncolumns_of(a); i++)
    if (!has_family(b, hbc_column_family(column_at(a, i))))
      return false;
  return true;
}

static bool write_joins(pool_job *const *members, size_t n, const pool_job *later) {
  (void)n;
  const call *a = members[0]->ctx, *b = later->ctx;
  return strcmp(a->table, b->table) == 0 && a->timestamp == b->timestamp && families_within(a, b) &&
    families_within(b, a);
}

static size_t write_weight(const pool_job *job) {
  (void)job;
  return 1;
}

static int write_work(hbc_conn *c, pool_job **members, size_t n) {
  hbc_row_mutations *rows = xcalloc(n, sizeof *rows);
  hbc_mutation **deletes = xcalloc(n, sizeof *deletes);
  for (size_t i = 0; i < n; i++) {
    const call *k = members[i]->ctx;
    rows[i] = (hbc_row_mutations){.row = k->row,
                                  .mutations = k->mutations,
                                  .nmutations = k->nmutations};
    if (!is_delete(k))
      continue;
    deletes[i] = xcalloc(k->ncolumns, sizeof *deletes[i]);
    for (size_t j = 0; j < k->ncolumns; j++)
      deletes[i][j] = (hbc_mutation){.is_delete = true, .column = k->columns[j], .wal = k->wal};
    rows[i].mutations = deletes[i];
    rows[i].nmutations = k->ncolumns;
  }
  const call *first = members[0]->ctx;
  int rc = hbc_mutate_rows(c, call_table(first), rows, n, first->timestamp, &members[0]->err);
  for (size_t i = 0; i < n; i++)
    free(deletes[i]);
  free(deletes);
  free(rows);
  if (rc < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    call_reset_reply(members[i]->ctx);
    call_take_result(members[i]->ctx, json_null());
  }
  return 0;
}

static const pool_group write_group = {write_joins, write_weight, write_work};

static int prepare_counter(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0 || call_param_row(k, "row", &k->row, e) < 0 ||
      call_param_column(k, "column", &k->column, e) < 0)
    return -1;
  return 0;
}

static int prepare_counter_inc(call *k, proto_error *e) {
  k->arg.counter.amount = 1;
  return prepare_counter(k, e) < 0
    ? -1
    : proto_param_int(&k->req, "value", false, INT64_MIN + 1, INT64_MAX, &k->arg.counter.amount, e);
}

static int prepare_counter_dec(call *k, proto_error *e) {
  if (prepare_counter_inc(k, e) < 0)
    return -1;
  k->arg.counter.amount = -k->arg.counter.amount;
  return 0;
}

static int prepare_counter_get(call *k, proto_error *e) {
  /* atomicIncrement by 0 reads the counter (and creates it as 0), as HappyBase does. */
  k->arg.counter.amount = 0;
  return prepare_counter(k, e);
}

static json_t *run_counter_inc(hbc_conn *c, call *k, hb_error *herr) {
  int64_t v = 0;
  int rc = hbc_atomic_increment(c, call_table(k), k->row, k->column, k->arg.counter.amount, &v,
                                herr);
  return rc < 0 ? NULL : json_integer(v);
}

static int prepare_counter_set(call *k, proto_error *e) {
  k->wal = true;
  int64_t *value = &k->arg.counter_set.value;
  if (prepare_counter(k, e) < 0 ||
      hblimits_cell_column(k->column, "\"column\"", e) < 0 || /* a put, unlike an increment */
      proto_param_int(&k->req, "value", true, INT64_MIN, INT64_MAX, value, e) < 0)
    return -1;
  /* Counters are 8-byte big-endian signed integers. */
  uint8_t *packed = proto_mem_alloc(&k->mem, 8);
  for (int i = 0; i < 8; i++)
    packed[i] = (uint8_t)((uint64_t)*value >> (56 - 8 * i));
  k->mutations = proto_mem_alloc(&k->mem, sizeof *k->mutations);
  k->mutations[0] = (hbc_mutation){.column = k->column, .value = {packed, 8}, .wal = true};
  k->nmutations = 1;
  k->timestamp = HBC_LATEST; /* run_counter_set chooses */
  return 0;
}

/* A put stamped with the server's clock can land behind the counter's newest version: HBase
 * stamps an increment max(now, newest + 1), so a counter incremented many times within a
 * millisecond runs ahead of the clock, and such a put is stored but never read (HappyBase's
 * counter_set loses it so). When the newest version is ahead of this host's clock, the put goes
 * just after it instead. */
static json_t *run_counter_set(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result newest = HBC_RESULT_INIT;
  if (hbc_get_versions(c, call_table(k), k->row, k->column, HBC_LATEST, 1, &newest, herr) < 0)
    return NULL;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  int64_t ts = HBC_LATEST;
  if (newest.ncells > 0 && newest.cells[0].timestamp >= now_ms)
    ts = newest.cells[0].timestamp + 1;
  hbc_result_free(&newest);
  hbc_row_mutations rm = {.row = k->row, .mutations = k->mutations, .nmutations = k->nmutations};
  return hbc_mutate_rows(c, call_table(k), &rm, 1, ts, herr) < 0 ? NULL : json_null();
}

static int prepare_append(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      call_param_row(k, "row", &k->row, e) < 0)
    return -1;
  return prepare_data(k, e);
}

static int compare_columns(const void *a, const void *b) {
  return hbc_compare_columns(((const hbc_mutation *)a)->column, ((const hbc_mutation *)b)->column);
}

/* The gateway returns the appended cells in HBase's column order, without their names. */
static json_t *run_append(hbc_conn *c, call *k, hb_error *herr) {
  qsort(k->mutations, k->nmutations, sizeof *k->mutations, compare_columns);
  hbc_bytes *cols = xcalloc(k->nmutations, sizeof *cols);
  hbc_bytes *vals = xcalloc(k->nmutations, sizeof *vals);
  for (size_t i = 0; i < k->nmutations; i++) {
    cols[i] = k->mutations[i].column;
    vals[i] = k->mutations[i].value;
  }
  hbc_result res = HBC_RESULT_INIT;
  int rc = hbc_append(c, call_table(k), k->row, cols, vals, k->nmutations, &res, herr);
  free(cols);
  free(vals);
  if (rc < 0)
    return NULL;
  hbc_row row = {.key = k->row, .cells = res.cells, .ncells = res.ncells};
  for (size_t i = 0; i < res.ncells && i < k->nmutations; i++)
    res.cells[i].column = k->mutations[i].column;
  if (res.ncells > k->nmutations)
    row.ncells = k->nmutations;
  rc = call_text_row(k, call_text_begin(k), &row);
  hbc_result_free(&res);
  return rc == 0 ? call_text_result(k) : NULL;
}

/* check_and_put: {table, row, column, value | null, data}. The gateway's checkAndPut puts one
 * cell, so data holds exactly one; a null value means "only if the column is absent". It is
 * ordered behind earlier writes of its row, like a put, but never shares a call. */
static int prepare_check_and_put(call *k, proto_error *e) {
  /* prepare_write's timestamp stays HBC_LATEST: check_and_put does not take one. */
  if (prepare_write(k, e) < 0 || call_param_column(k, "column", &k->column, e) < 0 ||
      hblimits_cell_column(k->column, "\"column\"", e) < 0 || prepare_data(k, e) < 0)
    return -1;
  if (k->nmutations != 1)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"data\" must hold exactly one column (the gateway's "
                      "checkAndPut puts one cell), not %zu",
                      k->nmutations);
  json_t *value = json_object_get(k->req.params, "value");
  if (value == NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"value\" is required: the value the column must hold, "
                      "or null for \"only if the column is absent\"");
  k->arg.check_and_put.absent = json_is_null(value);
  if (!k->arg.check_and_put.absent &&
      proto_param_bytes(&k->req, "value", true, &k->mem, &k->arg.check_and_put.expected, e) < 0)
    return -1;
  k->order_key = row_order_key(k);
  return 0;
}

static json_t *run_check_and_put(hbc_conn *c, call *k, hb_error *herr) {
  bool applied = false;
  const hbc_bytes *expected = k->arg.check_and_put.absent ? NULL : &k->arg.check_and_put.expected;
  if (hbc_check_and_put(c, call_table(k), k->row, k->column, expected, &k->mutations[0], &applied,
                        herr) < 0)
    return NULL;
  return json_boolean(applied);
}

static const char *const PUT_PARAMS[] = {"table",     "use_prefix", "row", "data",
                                         "timestamp", "wal",        NULL};
static const char *const DELETE_PARAMS[] = {"table",     "use_prefix", "row", "columns",
                                            "timestamp", "wal",        NULL};
static const char *const COUNTER_GET_PARAMS[] = {"table", "use_prefix", "row", "column", NULL};
static const char *const COUNTER_PARAMS[] = {"table", "use_prefix", "row", "column", "value", NULL};
static const char *const CHECK_AND_PUT_PARAMS[] = {"table", "use_prefix", "row", "column",
                                                   "value", "data",       "wal", NULL};
static const char *const APPEND_PARAMS[] = {"table", "use_prefix",        "row",
                                            "data",  "include_timestamp", NULL};

/* Increments and appends change the cell on the gateway before it replies: never sent twice. */
const method write_methods[] = {
  {"put", prepare_put, run_mutations, POOL_RETRY_NEVER, PUT_PARAMS, NULL, NULL, METHOD_WRITES,
   false},
  {"delete", prepare_delete, run_delete, POOL_RETRY_NEVER, DELETE_PARAMS, NULL, NULL, METHOD_WRITES,
   false},
  {"counter_get", prepare_counter_get, run_counter_inc, POOL_RETRY_ON_STALE, COUNTER_GET_PARAMS,
   NULL, NULL, METHOD_WRITES, false},
  {"counter_set", prepare_counter_set, run_counter_set, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL,
   NULL, METHOD_WRITES, false},
  {"counter_inc", prepare_counter_inc, run_counter_inc, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL,
   NULL, METHOD_WRITES, false},
  {"counter_dec", prepare_counter_dec, run_counter_inc, POOL_RETRY_NEVER, COUNTER_PARAMS, NULL,
   NULL, METHOD_WRITES, false},
  {"append", prepare_append, run_append, POOL_RETRY_NEVER, APPEND_PARAMS, NULL, NULL, METHOD_WRITES,
   false},
  {"check_and_put", prepare_check_and_put, run_check_and_put, POOL_RETRY_NEVER,
   CHECK_AND_PUT_PARAMS, NULL, NULL, METHOD_WRITES, false},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};
