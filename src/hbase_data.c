/* hbase_data: the client layer's data calls: reads (replies of rows read by wire.c), writes,
 * counters and scanners (see hbase_client.h). */
#include <stdlib.h>
#include <string.h>

#include <thrift/c_glib/thrift_application_exception.h>

#include "hbase_call.h"
#include "wire.h"

/* Splits "family:qualifier" at its first ':' (a column without one is all family). */
static void split_column(hbc_bytes col, hbc_bytes *family, hbc_bytes *qualifier) {
  const uint8_t *colon = col.len > 0 ? memchr(col.data, ':', col.len) : NULL;
  size_t flen = colon != NULL ? (size_t)(colon - col.data) : col.len;
  *family = (hbc_bytes){col.data, flen};
  *qualifier = colon != NULL ? (hbc_bytes){colon + 1, col.len - flen - 1}
                             : (hbc_bytes){col.data, 0};
}

hbc_bytes hbc_column_family(hbc_bytes column) {
  hbc_bytes family, qualifier;
  split_column(column, &family, &qualifier);
  return family;
}

int hbc_compare_columns(hbc_bytes a, hbc_bytes b) {
  hbc_bytes fa, qa, fb, qb;
  split_column(a, &fa, &qa);
  split_column(b, &fb, &qb);
  int d = hbc_compare_bytes(fa, fb);
  return d != 0 ? d : hbc_compare_bytes(qa, qb);
}

/* HBase orders cells by family, then qualifier: "cf:a" < "cf2:a" although ':' > '2'. */
static int compare_cells(const void *a, const void *b) {
  return hbc_compare_columns(((const hbc_cell *)a)->column, ((const hbc_cell *)b)->column);
}

static void copy_cell(hbc_result *out, hbc_cell *dst, const GByteArray *column,
                      const HbThriftTCell *cell) {
  dst->column = hbc_arena_bytes(out, column);
  dst->value = hbc_arena_bytes(out, cell != NULL ? cell->value : NULL);
  dst->timestamp = cell != NULL ? cell->timestamp : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Replies of rows (getRow*WithColumns*, scannerGetList), read straight into the result arena.
 * The generated reader builds a GObject per row and per cell and a hash table per row, and
 * c_glib's protocol makes a GObject call per field; measured, that was most of the daemon's own
 * time in a scan. This reader walks the same reply with wire.h (binary or compact alike) and
 * keeps the generated code's checks: message type and name, declared exceptions (read with the
 * generated structs), unknown fields skipped. */

static const hbc_bytes EMPTY_BYTES = {(const uint8_t *)"", 0};

/* A string, copied once: from the socket's buffer into the arena. */
static bool read_bytes(wire_reader *r, hbc_result *out, hbc_bytes *dst) {
  uint32_t len;
  if (wire_string_begin(r, &len) < 0)
    return false;
  if (len == 0) {
    *dst = EMPTY_BYTES;
    return true;
  }
  uint8_t *mem = hbc_arena_alloc(out, len);
  *dst = (hbc_bytes){mem, len};
  return wire_raw(r, mem, len) == 0;
}

/* What a struct's fields are read into: the result's arena, and the struct being filled. */
typedef struct into {
  hbc_result *out;
  void *dst;
} into;

/* A field read (1), or failed (-1), as wire_field_fn says. */
static int field_read(bool ok) {
  return ok ? 1 : -1;
}

/* TCell {1: value, 2: timestamp} into an hbc_cell (its column set by the caller). */
static int cell_field(wire_reader *r, wire_type type, int16_t id, void *ctx) {
  into *in = ctx;
  hbc_cell *c = in->dst;
  if (id == 1 && type == WIRE_STRING)
    return field_read(read_bytes(r, in->out, &c->value));
  if (id == 2 && type == WIRE_I64)
    return field_read(wire_i64(r, &c->timestamp) == 0);
  return 0;
}

static bool read_cell(wire_reader *r, hbc_result *out, hbc_cell *dst) {
  dst->value = EMPTY_BYTES;
  dst->timestamp = 0;
  return wire_struct(r, cell_field, &(into){out, dst}) == 0;
}

/* Elements of a list or map, gathered before they go to the arena: the count a reply announces
 * is not trusted for an allocation up front (a hostile one could ask for gigabytes), so the
 * array grows with what really arrives. */
typedef struct gather {
  void *items;
  size_t n, cap, size;
} gather;

static void *gather_next(gather *g) {
  if (g->n == g->cap) {
    g->cap = g->cap > 0 ? g->cap * 2 : 16;
    g->items = g_realloc_n(g->items, g->cap, g->size);
  }
  return (char *)g->items + g->n++ * g->size;
}

/* The elements, moved to the arena; the gather is emptied. */
static void *gather_finish(gather *g, hbc_result *out) {
  void *dst = hbc_arena_alloc(out, (g->n > 0 ? g->n : 1) * g->size);
  if (g->n > 0)
    memcpy(dst, g->items, g->n * g->size);
  g_free(g->items);
  g->items = NULL;
  return dst;
}

/* Reads one struct of a list into dst (an element of a gather). */
typedef bool (*read_elem_fn)(wire_reader *r, hbc_result *out, void *dst);

/* A list<struct>, each element read by read_elem into the gather. */
static bool read_struct_list(wire_reader *r, hbc_result *out, gather *g, read_elem_fn read_elem) {
  wire_type etype;
  uint32_t size;
  if (wire_list_begin(r, &etype, &size) < 0)
    return false;
  for (uint32_t i = 0; i < size; i++) {
    bool ok = etype == WIRE_STRUCT ? read_elem(r, out, gather_next(g)) : wire_skip(r, etype) == 0;
    if (!ok)
      return false;
  }
  return true;
}

/* TColumn {1: columnName, 2: cell} into an hbc_cell. */
static int column_field(wire_reader *r, wire_type type, int16_t id, void *ctx) {
  into *in = ctx;
  hbc_cell *c = in->dst;
  if (id == 1 && type == WIRE_STRING)
    return field_read(read_bytes(r, in->out, &c->column));
  if (id == 2 && type == WIRE_STRUCT) {
    hbc_bytes column = c->column;
    bool ok = read_cell(r, in->out, c);
    c->column = column;
    return field_read(ok);
  }
  return 0;
}

static bool read_column(wire_reader *r, hbc_result *out, void *dst) {
  hbc_cell *c = dst;
  c->column = c->value = EMPTY_BYTES;
  c->timestamp = 0;
  return wire_struct(r, column_field, &(into){out, c}) == 0;
}

/* The entries of TRowResult.columns, map<Text, TCell>. */
static bool read_map_cells(wire_reader *r, hbc_result *out, gather *g) {
  wire_type ktype, vtype;
  uint32_t size;
  if (wire_map_begin(r, &ktype, &vtype, &size) < 0)
    return false;
  for (uint32_t i = 0; i < size; i++) {
    bool ok;
    if (ktype != WIRE_STRING || vtype != WIRE_STRUCT) {
      ok = wire_skip(r, ktype) == 0 && wire_skip(r, vtype) == 0;
    } else {
      hbc_cell *c = gather_next(g);
      c->column = c->value = EMPTY_BYTES; /* whole, even when the reply ends inside it */
      c->timestamp = 0;
      ok = read_bytes(r, out, &c->column) && read_cell(r, out, c);
    }
    if (!ok)
      return false;
  }
  return true;
}

/* TRowResult.columns, in HBase's column order. */
static bool read_cell_map(wire_reader *r, hbc_result *out, hbc_cell **cells, size_t *n) {
  gather g = {.size = sizeof **cells};
  bool ok = read_map_cells(r, out, &g);
  *n = g.n;
  *cells = gather_finish(&g, out);
  if (ok) /* a reply that failed is given up: nothing to order */
    qsort(*cells, *n, sizeof **cells, compare_cells);
  return ok;
}

/* TRowResult.sortedColumns, in the gateway's order. */
static bool read_column_list(wire_reader *r, hbc_result *out, hbc_cell **cells, size_t *n) {
  gather g = {.size = sizeof **cells};
  bool ok = read_struct_list(r, out, &g, read_column);
  *n = g.n;
  *cells = gather_finish(&g, out);
  return ok;
}

/* A TRowResult being read: its columns map goes to row, its sortedColumns list aside. */
typedef struct row_reading {
  hbc_result *out;
  hbc_row *row;
  hbc_cell *sorted;
  size_t nsorted;
} row_reading;

/* TRowResult {1: row, 2: columns, 3: sortedColumns}. */
static int row_field(wire_reader *r, wire_type type, int16_t id, void *ctx) {
  row_reading *rr = ctx;
  if (id == 1 && type == WIRE_STRING)
    return field_read(read_bytes(r, rr->out, &rr->row->key));
  if (id == 2 && type == WIRE_MAP)
    return field_read(read_cell_map(r, rr->out, &rr->row->cells, &rr->row->ncells));
  if (id == 3 && type == WIRE_LIST)
    return field_read(read_column_list(r, rr->out, &rr->sorted, &rr->nsorted));
  return 0;
}

/* A TRowResult into dst, an hbc_row; sortedColumns, when sent, is the order. */
static bool read_row(wire_reader *r, hbc_result *out, void *dst) {
  hbc_row *row = dst;
  *row = (hbc_row){.key = EMPTY_BYTES};
  row_reading rr = {.out = out, .row = row};
  if (wire_struct(r, row_field, &rr) < 0)
    return false;
  if (rr.nsorted > 0) {
    row->cells = rr.sorted;
    row->ncells = rr.nsorted;
  }
  if (row->cells == NULL)
    row->cells = hbc_arena_alloc(out, sizeof *row->cells);
  return true;
}

static bool read_rows(wire_reader *r, hbc_result *out) {
  gather g = {.size = sizeof *out->rows};
  bool ok = read_struct_list(r, out, &g, read_row);
  out->nrows = g.n;
  out->rows = gather_finish(&g, out);
  return ok;
}

/* The reply header, as the generated recv functions check it. A TApplicationException the
 * gateway sent is read with the generated struct, which continues on the same stream. */
static bool read_reply_begin(hbc_call *k, wire_reader *r, const char *method) {
  int type;
  bool name_matches;
  if (wire_message_begin(r, method, &type, &name_matches) < 0)
    return false;
  if (type == WIRE_EXCEPTION) {
    ThriftApplicationException *x = g_object_new(THRIFT_TYPE_APPLICATION_EXCEPTION, NULL);
    if (thrift_struct_read(THRIFT_STRUCT(x), k->conn->protocol, &k->gerror) >= 0) {
      hb_error ignored = HB_ERROR_INIT; /* the connection is replaced after an exception anyway */
      netio_read_end(r->io, &ignored);
      hb_error_clear(&ignored);
      g_set_error(&k->gerror, THRIFT_APPLICATION_EXCEPTION_ERROR, x->type, "application error: %s",
                  x->message);
    }
    g_object_unref(x);
    return false;
  }
  if (type == WIRE_REPLY && name_matches)
    return true;
  g_set_error(&k->gerror, THRIFT_APPLICATION_EXCEPTION_ERROR,
              type != WIRE_REPLY ? THRIFT_APPLICATION_EXCEPTION_ERROR_INVALID_MESSAGE_TYPE
                                 : THRIFT_APPLICATION_EXCEPTION_ERROR_WRONG_METHOD_NAME,
              "unexpected reply (type %d) to %s", type, method);
  return false;
}

/* A reply's fields: 0 the rows, 1 IOError, 2 IllegalArgument (the exceptions land in k->io and
 * k->ia, read by the generated code as it would). */
typedef struct result_reading {
  hbc_call *k;
  hbc_result *out;
} result_reading;

static int result_field(wire_reader *r, wire_type type, int16_t id, void *ctx) {
  result_reading *rr = ctx;
  hbc_call *k = rr->k;
  ThriftProtocol *p = k->conn->protocol;
  if (id == 0 && type == WIRE_LIST)
    return field_read(read_rows(r, rr->out));
  if (id == 1 && type == WIRE_STRUCT && k->io == NULL) {
    k->io = g_object_new(HB_THRIFT_TYPE_I_O_ERROR, NULL);
    return field_read(thrift_struct_read(THRIFT_STRUCT(k->io), p, &k->gerror) >= 0);
  }
  if (id == 2 && type == WIRE_STRUCT && k->ia == NULL) {
    k->ia = g_object_new(HB_THRIFT_TYPE_ILLEGAL_ARGUMENT, NULL);
    return field_read(thrift_struct_read(THRIFT_STRUCT(k->ia), p, &k->gerror) >= 0);
  }
  return 0;
}

static bool read_rows_result(hbc_call *k, wire_reader *r, hbc_result *out) {
  return wire_struct(r, result_field, &(result_reading){k, out}) == 0;
}

/* Reads the reply of method into out. A failure of the stream is left where stream_failure
 * looks for it: netio's error (or the wire's "bad reply") in the transport's last error. */
static gboolean read_rows_reply(hbc_call *k, const char *method, hbc_result *out) {
  netio *io = hb_transport_netio(k->conn->transport);
  if (io == NULL) {
    g_set_error(&k->gerror, THRIFT_TRANSPORT_ERROR, THRIFT_TRANSPORT_ERROR_RECEIVE,
                "connection is closed");
    return FALSE;
  }
  wire_reader r;
  wire_reader_init(&r, io, k->conn->compact);
  bool ok = read_reply_begin(k, &r, method) && read_rows_result(k, &r, out) &&
    netio_read_end(io, &r.err) == 0;
  if (r.err.code != HB_OK) {
    hb_error *last = hb_transport_last_error(k->conn->transport);
    hb_error_clear(last);
    *last = r.err;
    r.err = (hb_error)HB_ERROR_INIT;
    g_clear_error(&k->gerror);
    g_set_error(&k->gerror, THRIFT_TRANSPORT_ERROR, THRIFT_TRANSPORT_ERROR_RECEIVE, "%s",
                last->message);
  }
  wire_reader_clear(&r);
  return ok && k->io == NULL && k->ia == NULL;
}

/* The rows of method's reply into out, which is left empty when the call fails. */
static gboolean recv_rows(hbc_call *k, const char *method, hbc_result *out) {
  hbc_result got = HBC_RESULT_INIT;
  if (!read_rows_reply(k, method, &got)) {
    hbc_result_free(&got);
    return FALSE;
  }
  *out = got;
  return TRUE;
}

/* Sends the get of one or several rows, with or without a timestamp; returns the method name
 * its reply carries, or NULL when the send failed. */
static const char *send_get_rows(hbc_call *k, GByteArray *t, const hbc_bytes *rows, size_t nrows,
                                 GPtrArray *cols, int64_t ts) {
  if (nrows == 1) {
    GByteArray r = hbc_view(rows[0]);
    if (ts == HBC_LATEST)
      return hb_thrift_hbase_client_send_get_row_with_columns(CLIENT(k), t, &r, cols, ATTRS(k),
                                                              &k->gerror)
        ? "getRowWithColumns"
        : NULL;
    return hb_thrift_hbase_client_send_get_row_with_columns_ts(CLIENT(k), t, &r, cols, ts, ATTRS(k),
                                                               &k->gerror)
      ? "getRowWithColumnsTs"
      : NULL;
  }
  hbc_views rv;
  hbc_views_init(&rv, rows, nrows);
  const char *method;
  if (ts == HBC_LATEST)
    method = hb_thrift_hbase_client_send_get_rows_with_columns(CLIENT(k), t, rv.list, cols,
                                                               ATTRS(k), &k->gerror)
      ? "getRowsWithColumns"
      : NULL;
  else
    method = hb_thrift_hbase_client_send_get_rows_with_columns_ts(CLIENT(k), t, rv.list, cols, ts,
                                                                  ATTRS(k), &k->gerror)
      ? "getRowsWithColumnsTs"
      : NULL;
  hbc_views_clear(&rv);
  return method;
}

int hbc_get_rows(hbc_conn *c, hbc_bytes table, const hbc_bytes *rows, size_t nrows,
                 const hbc_bytes *columns, size_t ncolumns, int64_t timestamp, hbc_result *out,
                 hb_error *err) {
  if (nrows == 0)
    return 0;
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  hbc_views cv;
  hbc_views_init(&cv, columns, ncolumns);
  const char *method = send_get_rows(&k, &t, rows, nrows, cv.list, timestamp);
  gboolean ok = method != NULL && recv_rows(&k, method, out);
  hbc_views_clear(&cv);
  return hbc_call_end(&k, ok, err);
}

static void copy_cells(hbc_result *out, GPtrArray *list, const GByteArray *column) {
  out->cells = hbc_arena_alloc(out, list->len * sizeof *out->cells);
  out->ncells = list->len;
  for (guint i = 0; i < list->len; i++)
    copy_cell(out, &out->cells[i], column, g_ptr_array_index(list, i));
}

int hbc_get_versions(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                     int64_t timestamp, int32_t nversions, hbc_result *out, hb_error *err) {
  if (nversions < 1)
    return hb_error_set(err, HB_ERR_INVALID, "versions must be at least 1");
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table), r = hbc_view(row), col = hbc_view(column);
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok;
  if (timestamp == HBC_LATEST)
    ok = hb_thrift_hbase_client_get_ver(CLIENT(&k), &list, &t, &r, &col, nversions, ATTRS(&k),
                                        &k.io, &k.gerror);
  else
    ok = hb_thrift_hbase_client_get_ver_ts(CLIENT(&k), &list, &t, &r, &col, timestamp, nversions,
                                           ATTRS(&k), &k.io, &k.gerror);
  if (ok)
    copy_cells(out, list, &col);
  g_ptr_array_unref(list);
  return hbc_call_end(&k, ok, err);
}

/* ---------------------------------------------------------------------------------------------
 * Writes. */

/* A Mutation whose byte fields are views; mutation_free detaches them before the unref. */
static HbThriftMutation *mutation_new(const hbc_mutation *m, GByteArray *column,
                                      GByteArray *value) {
  HbThriftMutation *tm = g_object_new(HB_THRIFT_TYPE_MUTATION, NULL);
  *column = hbc_view(m->column);
  *value = hbc_view(m->value);
  tm->isDelete = m->is_delete;
  tm->column = column;
  tm->value = value;
  tm->writeToWAL = m->wal;
  tm->__isset_isDelete = tm->__isset_column = tm->__isset_value = tm->__isset_writeToWAL = TRUE;
  return tm;
}

static void mutation_free(gpointer p) {
  HbThriftMutation *tm = p;
  tm->column = NULL;
  tm->value = NULL;
  g_object_unref(tm);
}

typedef struct batch_args {
  GPtrArray *batches; /* BatchMutation objects */
  GByteArray *bytes;  /* views: per row 1, per mutation 2 */
} batch_args;

static void batch_args_init(batch_args *b, const hbc_row_mutations *rows, size_t nrows) {
  size_t nviews = nrows;
  for (size_t i = 0; i < nrows; i++)
    nviews += 2 * rows[i].nmutations;
  b->bytes = g_new(GByteArray, nviews > 0 ? nviews : 1);
  b->batches = g_ptr_array_new_full((guint)nrows, NULL);
  GByteArray *v = b->bytes;
  for (size_t i = 0; i < nrows; i++) {
    HbThriftBatchMutation *bm = g_object_new(HB_THRIFT_TYPE_BATCH_MUTATION, NULL);
    *v = hbc_view(rows[i].row);
    bm->row = v++;
    bm->__isset_row = TRUE;
    g_ptr_array_set_free_func(bm->mutations, mutation_free);
    for (size_t j = 0; j < rows[i].nmutations; j++, v += 2)
      g_ptr_array_add(bm->mutations, mutation_new(&rows[i].mutations[j], v, v + 1));
    bm->__isset_mutations = TRUE;
    g_ptr_array_add(b->batches, bm);
  }
}

static void batch_args_clear(batch_args *b) {
  for (guint i = 0; i < b->batches->len; i++) {
    HbThriftBatchMutation *bm = g_ptr_array_index(b->batches, i);
    bm->row = NULL;
    g_object_unref(bm);
  }
  g_ptr_array_unref(b->batches);
  g_free(b->bytes);
}

int hbc_mutate_rows(hbc_conn *c, hbc_bytes table, const hbc_row_mutations *rows, size_t nrows,
                    int64_t timestamp, hb_error *err) {
  if (nrows == 0)
    return 0;
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  batch_args b;
  batch_args_init(&b, rows, nrows);
  gboolean ok;
  if (timestamp == HBC_LATEST)
    ok = hb_thrift_hbase_client_mutate_rows(CLIENT(&k), &t, b.batches, ATTRS(&k), &k.io, &k.ia,
                                            &k.gerror);
  else
    ok = hb_thrift_hbase_client_mutate_rows_ts(CLIENT(&k), &t, b.batches, timestamp, ATTRS(&k),
                                               &k.io, &k.ia, &k.gerror);
  batch_args_clear(&b);
  return hbc_call_end(&k, ok, err);
}

int hbc_atomic_increment(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                         int64_t amount, int64_t *value, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table), r = hbc_view(row), col = hbc_view(column);
  gint64 v = 0;
  gboolean ok = hb_thrift_hbase_client_atomic_increment(CLIENT(&k), &v, &t, &r, &col, amount, &k.io,
                                                        &k.ia, &k.gerror);
  *value = v;
  return hbc_call_end(&k, ok, err);
}

int hbc_increment_rows(hbc_conn *c, const hbc_increment *incs, size_t n, hb_error *err) {
  if (n == 0)
    return 0;
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray *views3 = g_new(GByteArray, 3 * n);
  GPtrArray *list = g_ptr_array_new_full((guint)n, NULL);
  for (size_t i = 0; i < n; i++) {
    GByteArray *v = &views3[3 * i];
    HbThriftTIncrement *ti = g_object_new(HB_THRIFT_TYPE_T_INCREMENT, NULL);
    v[0] = hbc_view(incs[i].table);
    v[1] = hbc_view(incs[i].row);
    v[2] = hbc_view(incs[i].column);
    ti->table = &v[0];
    ti->row = &v[1];
    ti->column = &v[2];
    ti->ammount = incs[i].amount;
    ti->__isset_table = ti->__isset_row = ti->__isset_column = ti->__isset_ammount = TRUE;
    g_ptr_array_add(list, ti);
  }
  gboolean ok = hb_thrift_hbase_client_increment_rows(CLIENT(&k), list, &k.io, &k.gerror);
  for (guint i = 0; i < list->len; i++) {
    HbThriftTIncrement *ti = g_ptr_array_index(list, i);
    ti->table = ti->row = ti->column = NULL;
    g_object_unref(ti);
  }
  g_ptr_array_unref(list);
  g_free(views3);
  return hbc_call_end(&k, ok, err);
}

int hbc_append(hbc_conn *c, hbc_bytes table, hbc_bytes row, const hbc_bytes *columns,
               const hbc_bytes *values, size_t n, hbc_result *out, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table), r = hbc_view(row);
  hbc_views cv, vv;
  hbc_views_init(&cv, columns, n);
  hbc_views_init(&vv, values, n);
  HbThriftTAppend *ta = g_object_new(HB_THRIFT_TYPE_T_APPEND, NULL);
  ta->table = &t;
  ta->row = &r;
  GPtrArray *own_cols = hbc_swap_array(&ta->columns, cv.list);
  GPtrArray *own_vals = hbc_swap_array(&ta->values, vv.list);
  ta->__isset_table = ta->__isset_row = ta->__isset_columns = ta->__isset_values = TRUE;
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_append(CLIENT(&k), &list, ta, &k.io, &k.gerror);
  if (ok)
    copy_cells(out, list, NULL);
  g_ptr_array_unref(list);
  ta->table = ta->row = NULL;
  hbc_swap_array(&ta->columns, own_cols);
  hbc_swap_array(&ta->values, own_vals);
  g_object_unref(ta);
  hbc_views_clear(&cv);
  hbc_views_clear(&vv);
  return hbc_call_end(&k, ok, err);
}

int hbc_check_and_put(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                      const hbc_bytes *expected, const hbc_mutation *put, bool *applied,
                      hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table), r = hbc_view(row), col = hbc_view(column), mcol, mval;
  GByteArray want = expected != NULL ? hbc_view(*expected) : (GByteArray){NULL, 0};
  HbThriftMutation *tm = mutation_new(put, &mcol, &mval);
  gboolean done = FALSE;
  /* HBase treats an empty expected value as "the column is absent (or empty)". */
  gboolean ok = hb_thrift_hbase_client_check_and_put(CLIENT(&k), &done, &t, &r, &col,
                                                     expected != NULL ? &want : NULL, tm, ATTRS(&k),
                                                     &k.io, &k.ia, &k.gerror);
  mutation_free(tm);
  *applied = done;
  return hbc_call_end(&k, ok, err);
}

/* ---------------------------------------------------------------------------------------------
 * Scanners. */

void hbc_scan_init(hbc_scan *s) {
  memset(s, 0, sizeof *s);
  s->timestamp = HBC_LATEST;
}

static HbThriftTScan *tscan_new(const hbc_scan *s, GByteArray *start, GByteArray *stop,
                                GByteArray *filter, hbc_views *cols, GPtrArray **own_cols) {
  HbThriftTScan *ts = g_object_new(HB_THRIFT_TYPE_T_SCAN, NULL);
  *start = hbc_view(s->start_row);
  *stop = hbc_view(s->stop_row);
  *filter = hbc_view(s->filter);
  ts->startRow = start;
  ts->__isset_startRow = s->start_row.len > 0;
  ts->stopRow = stop;
  ts->__isset_stopRow = s->stop_row.len > 0;
  ts->timestamp = s->timestamp;
  ts->__isset_timestamp = s->timestamp != HBC_LATEST;
  *own_cols = hbc_swap_array(&ts->columns, cols->list);
  ts->__isset_columns = s->ncolumns > 0;
  ts->caching = s->caching;
  ts->__isset_caching = s->caching > 0;
  ts->filterString = filter;
  ts->__isset_filterString = s->filter.len > 0;
  ts->batchSize = s->batch_size;
  ts->__isset_batchSize = s->batch_size > 0;
  ts->sortColumns = s->sort_columns;
  ts->__isset_sortColumns = s->sort_columns;
  ts->reversed = s->reversed;
  ts->__isset_reversed = s->reversed;
  return ts;
}

static void tscan_free(HbThriftTScan *ts, GPtrArray *own_cols) {
  ts->startRow = ts->stopRow = ts->filterString = NULL;
  hbc_swap_array(&ts->columns, own_cols);
  g_object_unref(ts);
}

/* HBase 0.90 gateways know only these four scanner calls. */
static gboolean open_090(hbc_call *k, gint32 *id, GByteArray *t, const hbc_scan *s,
                         GPtrArray *cols) {
  GByteArray start = hbc_view(s->start_row), stop = hbc_view(s->stop_row);
  bool has_stop = s->stop_row.len > 0, has_ts = s->timestamp != HBC_LATEST;
  if (has_stop && has_ts)
    return hb_thrift_hbase_client_scanner_open_with_stop_ts(CLIENT(k), id, t, &start, &stop, cols,
                                                            s->timestamp, ATTRS(k), &k->io,
                                                            &k->gerror);
  if (has_stop)
    return hb_thrift_hbase_client_scanner_open_with_stop(CLIENT(k), id, t, &start, &stop, cols,
                                                         ATTRS(k), &k->io, &k->gerror);
  if (has_ts)
    return hb_thrift_hbase_client_scanner_open_ts(CLIENT(k), id, t, &start, cols, s->timestamp,
                                                  ATTRS(k), &k->io, &k->gerror);
  return hb_thrift_hbase_client_scanner_open(CLIENT(k), id, t, &start, cols, ATTRS(k), &k->io,
                                             &k->gerror);
}

int hbc_scanner_open(hbc_conn *c, hbc_bytes table, const hbc_scan *s, int32_t *scanner_id,
                     hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  hbc_views cols;
  hbc_views_init(&cols, s->columns, s->ncolumns);
  gint32 id = -1;
  gboolean ok;
  if (s->compat_090) {
    ok = open_090(&k, &id, &t, s, cols.list);
  } else {
    GByteArray start, stop, filter;
    GPtrArray *own_cols;
    HbThriftTScan *ts = tscan_new(s, &start, &stop, &filter, &cols, &own_cols);
    ok = hb_thrift_hbase_client_scanner_open_with_scan(CLIENT(&k), &id, &t, ts, ATTRS(&k), &k.io,
                                                       &k.gerror);
    tscan_free(ts, own_cols);
  }
  hbc_views_clear(&cols);
  *scanner_id = id;
  return hbc_call_end(&k, ok, err);
}

int hbc_scanner_get_list(hbc_conn *c, int32_t scanner_id, int32_t nrows, hbc_result *out,
                         hb_error *err) {
  if (nrows < 1)
    return hb_error_set(err, HB_ERR_INVALID, "a scanner must be asked for at least 1 row");
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  gboolean ok = hb_thrift_hbase_client_send_scanner_get_list(CLIENT(&k), scanner_id, nrows,
                                                             &k.gerror) &&
    recv_rows(&k, "scannerGetList", out);
  return hbc_call_end(&k, ok, err);
}

int hbc_scanner_close(hbc_conn *c, int32_t scanner_id, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  gboolean ok = hb_thrift_hbase_client_scanner_close(CLIENT(&k), scanner_id, &k.io, &k.ia,
                                                     &k.gerror);
  return hbc_call_end(&k, ok, err);
}
