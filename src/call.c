/* call: one request's life (loop thread -> pooled connection -> loop thread) and the parameter
 * and result helpers that the method modules share. */
#include "call.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "cluster.h"
#include "hblimits.h"
#include "task.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------------------------------
 * Serving a call. */

static void call_free(call *k) {
  proto_request_clear(&k->req);
  proto_mem_free(&k->mem);
  proto_error_clear(&k->err);
  hb_error_clear(&k->job.err);
  free(k->table);
  free(k->confine);
  free(k->line);
  proto_text_free(&k->text);
  free(k);
}

bool call_failed(const call *k) {
  return k->err.code != 0 || k->job.err.code != HB_OK;
}

int64_t call_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void call_finish(call *k) {
  assert(k != NULL && k->env != NULL && k->reply != NULL);
  if (k->env->finished != NULL)
    k->env->finished(k);
  char *line = NULL;
  if (k->req.id != NULL || k->invalid) {
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

void call_reset_reply(call *k) {
  proto_error_clear(&k->err);
  free(k->line);
  k->line = NULL;
  k->text.len = 0;
}

/* What run returns when it wrote its result as text into k->text: a jansson value that is never
 * freed (the refcount jansson keeps for static values) and never rendered. */
static json_t text_written = {.type = JSON_NULL, .refcount = (size_t)-1};

proto_text *call_text_begin(call *k) {
  proto_text_result_begin(&k->text, k->req.id);
  return &k->text;
}

json_t *call_text_result(call *k) {
  (void)k;
  return &text_written;
}

/* Gateway replies of this many bytes and more are rendered on the helper thread: measured, a
 * 20 MB scan page held the loop for 150-200 ms (about 8 ms per MB end to end), while the hop to
 * the helper and back costs tens of microseconds. */
#define CALL_OFFLOAD_BYTES (256 * 1024)

typedef struct take_job {
  call *k;
  json_t *result;
  int rc;
} take_job;

static void take_off_loop(void *arg) {
  take_job *t = arg;
  t->rc = call_take_result(t->k, t->result);
}

/* Worker side: the HBase calls, then the reply rendered, on the helper thread when large. */
static int work(hbc_conn *c, pool_job *job) {
  call *k = job->ctx;
  call_reset_reply(k);
  uint64_t before = hbc_reply_bytes(c);
  json_t *result = k->m->run(c, k, &job->err);
  /* Rows written as text were rendered as they came (large ones on the helper thread); null
   * (a read-ahead's, which keeps its page for later) has nothing to render. */
  if (result == NULL || result == &text_written || json_is_null(result) ||
      hbc_reply_bytes(c) - before < CALL_OFFLOAD_BYTES)
    return call_take_result(k, result);
  take_job t = {k, result, 0};
  task_run_off_loop(take_off_loop, &t);
  return t.rc;
}

int call_take_result(call *k, json_t *result) {
  if (result == NULL) {
    if (k->job.err.code == HB_OK && k->err.code == 0)
      proto_fail(&k->err, PROTO_INTERNAL_ERROR, "%s failed without a reason", k->m->name);
    return k->job.err.code == HB_OK ? 0 : -1;
  }
  if (result == &text_written)
    k->line = k->req.id != NULL ? proto_text_result_end(&k->text) : NULL;
  else if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
  proto_text_free(&k->text);
  /* Done with the request (a success is never retried): free it here rather than on the loop,
   * where freeing a batch of a million operations would stall every client. */
  proto_request_release(&k->req);
  proto_mem_free(&k->mem);
  return 0;
}

static void job_done(pool_job *job) {
  call *k = job->ctx;
  k->env->in_flight--;
  /* Reads (the methods retried on stale connections) change nothing: always safe to resend. */
  bool applied = k->m->retry != POOL_RETRY_ON_STALE;
  if (job->err.code != HB_OK && k->err.code == 0)
    proto_fail_hb(&k->err, &job->err, applied);
  if (k->m->after != NULL)
    k->m->after(k);
  call_finish(k);
}

/* A refusal by the gateways is the call's reply: nothing was sent. */
void call_submit(call *k) {
  assert(k->m != NULL && k->m->run != NULL && k->env != NULL);
  k->job = (pool_job){.work = work,
                      .done = job_done,
                      .ctx = k,
                      .retry = k->m->retry,
                      .group = k->group,
                      .order_key = k->order_key,
                      .scans = k->m->scans,
                      .owner = k->client_id,
                      .route.prefer = k->prefer_gateway};
  hb_error err = HB_ERROR_INIT;
  if (cluster_submit(k->env->cluster, &k->job, &err) < 0) {
    proto_fail_hb(&k->err, &err, false);
    hb_error_clear(&err);
    if (k->m->after != NULL)
      k->m->after(k);
    call_finish(k);
    return;
  }
  k->env->in_flight++;
}

void call_start(call *k) {
  if (k->m->wait != NULL && k->m->wait(k))
    return;
  call_submit(k);
}

/* ---------------------------------------------------------------------------------------------
 * Parameters shared by many methods. */

int call_prepare_table(call *k, proto_error *e) {
  const char *table = NULL;
  bool use_prefix = true;
  if (proto_param_string(&k->req, "table", true, &table, e) < 0 ||
      proto_param_bool(&k->req, "use_prefix", false, &use_prefix, e) < 0)
    return -1;
  if (*table == '\0')
    return proto_fail(e, PROTO_INVALID_PARAMS, "invalid params: \"table\" must not be empty");
  const char *prefix = use_prefix ? k->env->prefix : "";
  k->table = xasprintf("%s%s", prefix, table);
  /* [access] first: an escape attempt is reported as one, whatever else is wrong with it. */
  if (!access_table_allowed(k->rule, k->table))
    return proto_fail(e, PROTO_FORBIDDEN,
                      "forbidden: table \"%.200s\" is outside the tables [access] allows "
                      "(%s)",
                      k->table, k->rule->text);
  return hblimits_table(k->table,
                        *prefix != '\0' ? "\"table\" (with the table prefix)" : "\"table\"", e);
}

/* "\"name\"", as errors name a parameter. */
#define QUOTED(name) (snprintf(quoted, sizeof quoted, "\"%s\"", name), quoted)

int call_param_row(call *k, const char *name, hbc_bytes *out, proto_error *e) {
  char quoted[64];
  if (proto_param_bytes(&k->req, name, true, &k->mem, out, e) < 0)
    return -1;
  return hblimits_row(*out, k->table, QUOTED(name), e);
}

int call_param_bound(call *k, const char *name, hbc_bytes *out, proto_error *e) {
  char quoted[64];
  if (proto_param_bytes(&k->req, name, false, &k->mem, out, e) < 0)
    return -1;
  return hblimits_bound(*out, k->table, QUOTED(name), e);
}

int call_param_column(call *k, const char *name, hbc_bytes *out, proto_error *e) {
  char quoted[64];
  if (proto_param_bytes(&k->req, name, true, &k->mem, out, e) < 0)
    return -1;
  return hblimits_column(*out, QUOTED(name), e);
}

int call_param_columns(call *k, const char *name, bool required, hbc_bytes **out, size_t *n,
                       proto_error *e) {
  char quoted[64];
  if (proto_param_bytes_list(&k->req, name, required, &k->mem, out, n, e) < 0)
    return -1;
  return hblimits_columns(*out, *n, QUOTED(name), e);
}

int call_param_rows(call *k, const char *name, hbc_bytes **out, size_t *n, proto_error *e) {
  char quoted[64], at[96];
  if (proto_param_bytes_list(&k->req, name, true, &k->mem, out, n, e) < 0)
    return -1;
  for (size_t i = 0; i < *n; i++) {
    snprintf(at, sizeof at, "%s[%zu]", QUOTED(name), i);
    if (hblimits_row((*out)[i], k->table, at, e) < 0)
      return -1;
  }
  return 0;
}

hbc_bytes call_table(const call *k) {
  return hbc_str(k->table);
}

int call_prepare_timestamp(call *k, proto_error *e) {
  k->timestamp = HBC_LATEST;
  return proto_param_int(&k->req, "timestamp", false, 0, INT64_MAX - 1, &k->timestamp, e);
}

int call_prepare_read(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0)
    return -1;
  return call_param_columns(k, "columns", false, &k->columns, &k->ncolumns, e);
}

int call_parse_data(call *k, hbc_bytes row, json_t *data, const char *what, hbc_mutation **out,
                    size_t *n, proto_error *e) {
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
    if (rc < 0 || hblimits_cell_column(m->column, vwhat, e) < 0 ||
        proto_json_to_bytes(value, k->req.encoding, vwhat, &k->mem, &m->value, e) < 0 ||
        hblimits_cell(k->env->max_cell_bytes, row, m->column, m->value.len, vwhat, e) < 0)
      return -1;
    m->is_delete = false;
    m->wal = k->wal;
  }
  return 0;
}

hbc_bytes call_keep_bytes(proto_mem **mem, hbc_bytes b) {
  uint8_t *copy = proto_mem_alloc(mem, b.len ? b.len : 1);
  if (b.len > 0)
    memcpy(copy, b.data, b.len);
  return (hbc_bytes){copy, b.len};
}

int call_all_families(hbc_conn *c, call *k, hbc_result *fams, hb_error *herr) {
  if (hbc_column_descriptors(c, call_table(k), fams, herr) < 0)
    return -1;
  k->ncolumns = fams->nfamilies;
  k->columns = xcalloc(fams->nfamilies ? fams->nfamilies : 1, sizeof *k->columns);
  for (size_t i = 0; i < fams->nfamilies; i++)
    k->columns[i] = hbc_family_only(fams->families[i].name);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Results. */

json_t *call_cell_json(call *k, const hbc_cell *cell, const char *what) {
  json_t *v = proto_bytes_to_json(cell->value, k->req.encoding, what, &k->err);
  if (v == NULL || !k->include_timestamp)
    return v;
  return json_pack("[oI]", v, (json_int_t)cell->timestamp);
}

void call_cell_what(char *out, size_t n, hbc_bytes row, hbc_bytes col) {
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

/* One part of a cell, its column name or its value, as text. A failure is reported a second time
 * with the cell named: the name is only worth building then. */
static int text_cell_part(call *k, proto_text *t, hbc_bytes key, const hbc_cell *cell, bool value) {
  hbc_bytes b = value ? cell->value : cell->column;
  if (proto_text_bytes(t, b, k->req.encoding, NULL, &k->err) == 0)
    return 0;
  char what[160], whatv[176];
  call_cell_what(what, sizeof what, key, cell->column);
  snprintf(whatv, sizeof whatv, "the value of %s", what);
  proto_text_bytes(t, b, k->req.encoding, value ? whatv : what, &k->err);
  return -1;
}

int call_text_row(call *k, proto_text *t, const hbc_row *row) {
  bool sorted = k->sorted_columns;
  proto_text_add(t, sorted ? "[" : "{", 1);
  for (size_t i = 0; i < row->ncells; i++) {
    const hbc_cell *cell = &row->cells[i];
    if (i > 0)
      proto_text_add(t, ",", 1);
    if (sorted)
      proto_text_add(t, "[", 1);
    if (text_cell_part(k, t, row->key, cell, false) < 0)
      return -1;
    proto_text_add(t, sorted ? "," : ":", 1);
    if (k->include_timestamp)
      proto_text_add(t, "[", 1);
    if (text_cell_part(k, t, row->key, cell, true) < 0)
      return -1;
    if (k->include_timestamp) {
      proto_text_add(t, ",", 1);
      proto_text_int(t, cell->timestamp);
      proto_text_add(t, "]", 1);
    }
    if (sorted)
      proto_text_add(t, "]", 1);
  }
  proto_text_add(t, sorted ? "]" : "}", 1);
  return 0;
}

int call_text_keyed_row(call *k, proto_text *t, const hbc_row *row) {
  proto_text_add(t, "[", 1);
  if (proto_text_bytes(t, row->key, k->req.encoding, "a row key", &k->err) < 0)
    return -1;
  proto_text_add(t, ",", 1);
  if (call_text_row(k, t, row) < 0)
    return -1;
  proto_text_add(t, "]", 1);
  return 0;
}

typedef struct text_rows_job {
  call *k;
  proto_text *t;
  const hbc_row *rows;
  size_t n;
  bool comma;
  int rc;
} text_rows_job;

static void text_rows(void *arg) {
  text_rows_job *j = arg;
  for (size_t i = 0; i < j->n && j->rc == 0; i++) {
    if (i > 0 || j->comma)
      proto_text_add(j->t, ",", 1);
    j->rc = call_text_keyed_row(j->k, j->t, &j->rows[i]);
  }
}

static size_t rows_bytes(const hbc_row *rows, size_t n) {
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    bytes += rows[i].key.len;
    for (size_t c = 0; c < rows[i].ncells; c++)
      bytes += rows[i].cells[c].column.len + rows[i].cells[c].value.len;
  }
  return bytes;
}

int call_text_rows(call *k, proto_text *t, const hbc_row *rows, size_t n, bool comma) {
  text_rows_job j = {k, t, rows, n, comma, 0};
  if (rows_bytes(rows, n) < CALL_OFFLOAD_BYTES)
    text_rows(&j);
  else
    task_run_off_loop(text_rows, &j);
  return j.rc;
}
