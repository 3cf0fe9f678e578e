/* batch: the batch method: puts, deletes and counter changes sent together, grouped per row, in
 * chunks of batch_size mutations, with a delete and a later put of the same row both applied. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "call.h"
#include "hblimits.h"
#include "xmalloc.h"

/* A chunk is also sent once its bytes reach this: framed gateways refuse frames over 2 MB
 * (hbase.regionserver.thrift.framed.max_frame_size_in_mb), and huge calls hold a connection
 * long. */
#define BATCH_MAX_CHUNK_BYTES (1024 * 1024)
/* What a mutation costs on the wire besides its bytes (Thrift field headers), roughly. */
#define BATCH_MUTATION_OVERHEAD 16

typedef enum batch_kind { BATCH_PUT, BATCH_DELETE, BATCH_COUNTER } batch_kind;

struct batch_op {
  batch_kind kind;
  hbc_bytes row;
  hbc_mutation *mutations; /* put: the cells; delete: the columns (none: the whole row) */
  size_t nmutations;
  hbc_bytes column; /* counter */
  int64_t amount;   /* counter */
  bool wal;         /* put, delete: the batch's wal unless the operation says */
};

static const char *const PUT_OP_KEYS[] = {"op", "row", "data", "wal", NULL};
static const char *const DELETE_OP_KEYS[] = {"op", "row", "columns", "wal", NULL};
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
                      "(leave it out to delete the whole row)",
                      i);
  b->nmutations = json_array_size(cols);
  b->mutations = proto_mem_alloc(&k->mem, b->nmutations * sizeof *b->mutations);
  for (size_t j = 0; j < b->nmutations; j++) {
    char what[96];
    snprintf(what, sizeof what, "\"operations\"[%zu].columns[%zu]", i, j);
    b->mutations[j] = (hbc_mutation){.is_delete = true, .wal = b->wal};
    if (proto_json_to_bytes(json_array_get(cols, j), k->req.encoding, what, &k->mem,
                            &b->mutations[j].column, e) < 0 ||
        hblimits_column(b->mutations[j].column, what, e) < 0)
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
  if (proto_json_to_bytes(json_object_get(op, "row"), k->req.encoding, what, &k->mem, &b->row, e) <
        0 ||
      hblimits_row(b->row, k->table, what, e) < 0)
    return -1;
  json_t *wal = json_object_get(op, "wal");
  if (wal != NULL && !json_is_boolean(wal))
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu].wal must be true or false", i);
  b->wal = wal != NULL ? json_is_true(wal) : k->wal;
  if (strcmp(kind, "put") == 0) {
    b->kind = BATCH_PUT;
    snprintf(what, sizeof what, "\"operations\"[%zu].data", i);
    if (check_op_keys(op, PUT_OP_KEYS, i, e) < 0 ||
        call_parse_data(k, b->row, json_object_get(op, "data"), what, &b->mutations, &b->nmutations,
                        e) < 0)
      return -1;
    for (size_t j = 0; j < b->nmutations; j++)
      b->mutations[j].wal = b->wal;
    return 0;
  }
  if (strcmp(kind, "delete") == 0) {
    b->kind = BATCH_DELETE;
    if (check_op_keys(op, DELETE_OP_KEYS, i, e) < 0)
      return -1;
    return parse_columns(k, json_object_get(op, "columns"), b, i, e);
  }
  bool inc = strcmp(kind, "counter_inc") == 0, dec = strcmp(kind, "counter_dec") == 0;
  if (!inc && !dec)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"operations\"[%zu].op must be \"put\", \"delete\", "
                      "\"counter_inc\" or \"counter_dec\", not \"%.40s\"",
                      i, kind);
  b->kind = BATCH_COUNTER;
  snprintf(what, sizeof what, "\"operations\"[%zu].column", i);
  json_t *value = json_object_get(op, "value");
  if (check_op_keys(op, COUNTER_OP_KEYS, i, e) < 0 ||
      proto_json_to_bytes(json_object_get(op, "column"), k->req.encoding, what, &k->mem, &b->column,
                          e) < 0 ||
      hblimits_column(b->column, what, e) < 0)
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
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "wal", false, &k->wal, e) < 0 ||
      proto_param_int(&k->req, "batch_size", false, 1, INT32_MAX, &batch_size, e) < 0)
    return -1;
  k->arg.batch.chunk_mutations = batch_size;
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
  size_t *slots; /* a hash index of rows: 1 + index into rows, 0 for a free slot */
  size_t nslots; /* a power of two, at least twice nrows */
  size_t nmutations;
  size_t bytes;     /* of the mutations and row keys, as sent */
  bool sent_delete; /* the previous call carried deletes */
} chunk;

/* FNV-1a: batches of many rows must not search them one by one. */
static size_t row_hash(hbc_bytes row) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < row.len; i++)
    h = (h ^ row.data[i]) * 1099511628211ULL;
  return (size_t)h;
}

/* The slot holding row, or the free slot where it goes. */
static size_t *chunk_slot(chunk *ch, hbc_bytes row) {
  size_t mask = ch->nslots - 1, i = row_hash(row) & mask;
  while (ch->slots[i] != 0 && !hbc_bytes_equal(ch->rows[ch->slots[i] - 1].row, row))
    i = (i + 1) & mask;
  return &ch->slots[i];
}

static void chunk_grow(chunk *ch) {
  ch->cap = ch->cap ? ch->cap * 2 : 16;
  ch->rows = xrealloc(ch->rows, ch->cap * sizeof *ch->rows);
  free(ch->slots);
  ch->nslots = 2 * ch->cap;
  ch->slots = xcalloc(ch->nslots, sizeof *ch->slots);
  for (size_t i = 0; i < ch->nrows; i++)
    *chunk_slot(ch, ch->rows[i].row) = i + 1;
}

static chunk_row *chunk_find(chunk *ch, hbc_bytes row) {
  if (ch->nrows == ch->cap)
    chunk_grow(ch);
  size_t *slot = chunk_slot(ch, row);
  if (*slot != 0)
    return &ch->rows[*slot - 1];
  ch->rows[ch->nrows] = (chunk_row){.row = row};
  ch->bytes += row.len + BATCH_MUTATION_OVERHEAD;
  *slot = ++ch->nrows;
  return &ch->rows[ch->nrows - 1];
}

/* A put of a cell already put in this chunk replaces it: the last write wins, as in HappyBase. */
static void chunk_add(chunk *ch, chunk_row *r, const hbc_mutation *m) {
  for (size_t i = 0; !m->is_delete && i < r->n; i++) {
    hbc_mutation *old = &r->m[i];
    if (!old->is_delete && hbc_bytes_equal(old->column, m->column)) {
      *old = *m;
      return;
    }
  }
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 8;
    r->m = xrealloc(r->m, r->cap * sizeof *r->m);
  }
  r->m[r->n++] = *m;
  r->has_delete |= m->is_delete;
  r->has_put |= !m->is_delete;
  ch->nmutations++;
  ch->bytes += m->column.len + m->value.len + BATCH_MUTATION_OVERHEAD;
}

static void chunk_clear(chunk *ch) {
  for (size_t i = 0; i < ch->nrows; i++)
    free(ch->rows[i].m);
  ch->nrows = 0;
  ch->nmutations = 0;
  ch->bytes = 0;
  if (ch->slots != NULL)
    memset(ch->slots, 0, ch->nslots * sizeof *ch->slots);
}

static int chunk_send(hbc_conn *c, call *k, chunk *ch, hb_error *herr) {
  if (ch->nrows == 0)
    return 0;
  bool has_delete = false, has_put = false;
  hbc_row_mutations *rm = xcalloc(ch->nrows, sizeof *rm);
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
  int rc = hbc_mutate_rows(c, call_table(k), rm, ch->nrows, k->timestamp, herr);
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
      hbc_mutation m = {.is_delete = true,
                        .wal = op->wal,
                        .column = hbc_family_only(fams->families[i].name)};
      chunk_add(ch, r, &m);
    }
  }
  for (size_t i = 0; i < op->nmutations; i++)
    chunk_add(ch, r, &op->mutations[i]);
  if ((k->arg.batch.chunk_mutations > 0 &&
       ch->nmutations >= (size_t)k->arg.batch.chunk_mutations) ||
      ch->bytes >= BATCH_MAX_CHUNK_BYTES)
    return chunk_send(c, k, ch, herr);
  return 0;
}

/* Counter changes go out last, in one incrementRows, summed per cell. */
static int batch_counters(hbc_conn *c, call *k, hb_error *herr) {
  hbc_increment *inc = xcalloc(k->nops ? k->nops : 1, sizeof *inc);
  size_t n = 0;
  for (size_t i = 0; i < k->nops; i++) {
    const batch_op *op = &k->ops[i];
    if (op->kind != BATCH_COUNTER)
      continue;
    size_t j = 0;
    while (j < n &&
           !(hbc_bytes_equal(inc[j].row, op->row) && hbc_bytes_equal(inc[j].column, op->column)))
      j++;
    if (j == n)
      inc[n++] = (hbc_increment){.table = call_table(k), .row = op->row, .column = op->column};
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
  if (whole_rows && hbc_column_descriptors(c, call_table(k), &fams, herr) < 0)
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
  free(ch.slots);
  hbc_result_free(&fams);
  return rc < 0 ? NULL : json_null();
}

static const char *const BATCH_PARAMS[] = {"table", "use_prefix", "operations", "timestamp",
                                           "wal",   "batch_size", NULL};

const method batch_methods[] = {
  {"batch", prepare_batch, run_batch, POOL_RETRY_NEVER, BATCH_PARAMS, NULL, NULL, METHOD_WRITES,
   false},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};
