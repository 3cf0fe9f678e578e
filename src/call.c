/* call: one request's life (loop thread -> pooled connection -> loop thread) and the parameter
 * and result helpers that the method modules share. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "task.h"

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

bool call_failed(const call *k) {
  return k->err.code != 0 || k->job.err.code != HB_OK;
}

int64_t call_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void call_finish(call *k) {
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
  if (result == NULL || hbc_reply_bytes(c) - before < CALL_OFFLOAD_BYTES)
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
  if (k->req.id != NULL)
    k->line = proto_result_line(k->req.id, result);
  else
    json_decref(result);
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

/* A refusal by the pool is the call's reply: nothing was sent. */
void call_submit(call *k) {
  k->job = (pool_job){.work = work, .done = job_done, .ctx = k, .retry = k->m->retry,
                      .group = k->group, .order_key = k->order_key};
  hb_error err = HB_ERROR_INIT;
  if (pool_submit(k->env->pool, &k->job, &err) < 0) {
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
  if (asprintf(&k->table, "%s%s", prefix, table) < 0)
    return proto_fail(e, PROTO_INTERNAL_ERROR, "out of memory");
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
  return proto_param_bytes_list(&k->req, "columns", false, &k->mem, &k->columns, &k->ncolumns, e);
}

int call_parse_data(call *k, json_t *data, const char *what, hbc_mutation **out, size_t *n,
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
  k->columns = calloc(fams->nfamilies ? fams->nfamilies : 1, sizeof *k->columns);
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

/* One cell as its name (into *name) and value; NULL on bytes the encoding cannot carry. The
 * names for the error message are only written when there is an error: most cells have none. */
static json_t *named_cell_json(call *k, hbc_bytes key, const hbc_cell *cell, json_t **name) {
  *name = proto_bytes_to_json(cell->column, k->req.encoding, NULL, &k->err);
  json_t *v = *name != NULL ? call_cell_json(k, cell, NULL) : NULL;
  if (v != NULL)
    return v;
  char what[160], whatv[176];
  call_cell_what(what, sizeof what, key, cell->column);
  snprintf(whatv, sizeof whatv, "the value of %s", what);
  if (*name == NULL)
    proto_bytes_to_json(cell->column, k->req.encoding, what, &k->err);
  else
    json_decref(call_cell_json(k, cell, whatv));
  json_decref(*name);
  *name = NULL;
  return NULL;
}

json_t *call_row_json(call *k, const hbc_row *row) {
  json_t *out = k->sorted_columns ? json_array() : json_object();
  for (size_t i = 0; i < row->ncells; i++) {
    json_t *name = NULL;
    json_t *v = named_cell_json(k, row->key, &row->cells[i], &name);
    if (v == NULL) {
      json_decref(out);
      return NULL;
    }
    if (k->sorted_columns)
      json_array_append_new(out, json_pack("[oo]", name, v));
    else {
      json_object_setn_new_nocheck(out, json_string_value(name), json_string_length(name), v);
      json_decref(name);
    }
  }
  return out;
}

int call_append_row(call *k, json_t *list, const hbc_row *row) {
  json_t *key = proto_bytes_to_json(row->key, k->req.encoding, "a row key", &k->err);
  json_t *r = key != NULL ? call_row_json(k, row) : NULL;
  if (r == NULL) {
    json_decref(key);
    return -1;
  }
  json_array_append_new(list, json_pack("[oo]", key, r));
  return 0;
}

json_t *call_rows_json(call *k, const hbc_row *rows, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++) {
    if (call_append_row(k, list, &rows[i]) < 0) {
      json_decref(list);
      return NULL;
    }
  }
  return list;
}
