/* admin: table administration methods: tables, create_table, delete_table, enable_table,
 * disable_table, is_table_enabled, compact_table, families, regions. */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "call.h"
#include "hblimits.h"
#include "xmalloc.h"

static json_t *run_tables(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_table_names(c, &res, herr) < 0)
    return NULL;
  json_t *list = json_array();
  size_t plen = strlen(k->table);
  for (size_t i = 0; i < res.nnames; i++) {
    hbc_bytes name = res.names[i];
    if (plen > 0 && (name.len < plen || memcmp(name.data, k->table, plen) != 0))
      continue;
    if (!access_name_allowed(k->confine, name.data, name.len))
      continue; /* [access] confines the client to other tables */
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

/* The prefix is copied here, on the loop thread: a reload may free the api's meanwhile. */
static int prepare_tables(call *k, proto_error *e) {
  bool use_prefix = true;
  if (proto_param_bool(&k->req, "use_prefix", false, &use_prefix, e) < 0)
    return -1;
  k->table = xstrdup(use_prefix ? k->env->prefix : "");
  return 0;
}

/* create_table's family options, in HappyBase's names. */
static int prepare_family(hbc_family *f, const char *name, json_t *opts, proto_error *e) {
  char what[96];
  snprintf(what, sizeof what, "\"families\".\"%.40s\"", name);
  if (hblimits_column(hbc_str(name), what, e) < 0) /* the gateway takes "cf:" as "cf" */
    return -1;
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
                        "the wrong type (see docs/protocol.md, create_table)",
                        key, name);
  }
  return 0;
}

static int prepare_create_table(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0)
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
  if (hbc_create_table(c, call_table(k), k->families, k->nfamilies, herr) < 0)
    return NULL;
  return json_null();
}

static int prepare_delete_table(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0)
    return -1;
  return proto_param_bool(&k->req, "disable", false, &k->arg.delete_table.disable, e);
}

static json_t *run_delete_table(hbc_conn *c, call *k, hb_error *herr) {
  bool enabled = false;
  if (k->arg.delete_table.disable && hbc_is_table_enabled(c, call_table(k), &enabled, herr) < 0)
    return NULL;
  if (enabled && hbc_disable_table(c, call_table(k), herr) < 0)
    return NULL;
  if (hbc_delete_table(c, call_table(k), herr) < 0)
    return NULL;
  return json_null();
}

static json_t *run_enable_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_enable_table(c, call_table(k), herr) < 0 ? NULL : json_null();
}

static json_t *run_disable_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_disable_table(c, call_table(k), herr) < 0 ? NULL : json_null();
}

static json_t *run_is_table_enabled(hbc_conn *c, call *k, hb_error *herr) {
  bool on = false;
  return hbc_is_table_enabled(c, call_table(k), &on, herr) < 0 ? NULL : json_boolean(on);
}

static int prepare_compact_table(call *k, proto_error *e) {
  if (call_prepare_table(k, e) < 0)
    return -1;
  return proto_param_bool(&k->req, "major", false, &k->arg.compact.major, e);
}

static json_t *run_compact_table(hbc_conn *c, call *k, hb_error *herr) {
  return hbc_compact(c, call_table(k), k->arg.compact.major, herr) < 0 ? NULL : json_null();
}

static json_t *run_families(hbc_conn *c, call *k, hb_error *herr) {
  hbc_result res = HBC_RESULT_INIT;
  if (hbc_column_descriptors(c, call_table(k), &res, herr) < 0)
    return NULL;
  json_t *out = json_object();
  for (size_t i = 0; i < res.nfamilies; i++) {
    const hbc_family *f = &res.families[i];
    size_t flen = hbc_family_only(f->name).len;
    json_t *desc = json_pack("{s:s%,s:i,s:s,s:b,s:s,s:i,s:i,s:b,s:i}", "name",
                             (const char *)f->name.data, f->name.len, "max_versions",
                             f->max_versions, "compression", f->compression, "in_memory",
                             f->in_memory, "bloom_filter_type", f->bloom_filter_type,
                             "bloom_filter_vector_size", f->bloom_filter_vector_size,
                             "bloom_filter_nb_hashes", f->bloom_filter_nb_hashes,
                             "block_cache_enabled", f->block_cache_enabled, "time_to_live",
                             f->time_to_live);
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
  if (hbc_table_regions(c, call_table(k), &res, herr) < 0)
    return NULL;
  json_t *out = json_array();
  for (size_t i = 0; i < res.nregions && out != NULL; i++) {
    const hbc_region *r = &res.regions[i];
    json_t *start = proto_bytes_to_json(r->start_key, k->req.encoding, "a region start key",
                                        &k->err);
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
    json_array_append_new(out,
                          json_pack("{s:o,s:o,s:I,s:o,s:i,s:o,s:i}", "start_key", start, "end_key",
                                    end, "id", (json_int_t)r->id, "name", name, "version",
                                    r->version, "server_name", server, "port", r->port));
  }
  hbc_result_free(&res);
  return out;
}

static const char *const TABLES_PARAMS[] = {"use_prefix", NULL};
static const char *const TABLE_PARAMS[] = {"table", "use_prefix", NULL};
static const char *const CREATE_PARAMS[] = {"table", "use_prefix", "families", NULL};
static const char *const DELETE_TABLE_PARAMS[] = {"table", "use_prefix", "disable", NULL};
static const char *const COMPACT_PARAMS[] = {"table", "use_prefix", "major", NULL};

const method admin_methods[] = {
  {"tables", prepare_tables, run_tables, POOL_RETRY_ON_STALE, TABLES_PARAMS, NULL, NULL,
   METHOD_READS, false},
  {"create_table", prepare_create_table, run_create_table, POOL_RETRY_NEVER, CREATE_PARAMS, NULL,
   NULL, METHOD_WRITES, false},
  {"delete_table", prepare_delete_table, run_delete_table, POOL_RETRY_NEVER, DELETE_TABLE_PARAMS,
   NULL, NULL, METHOD_WRITES, false},
  {"enable_table", call_prepare_table, run_enable_table, POOL_RETRY_NEVER, TABLE_PARAMS, NULL, NULL,
   METHOD_WRITES, false},
  {"disable_table", call_prepare_table, run_disable_table, POOL_RETRY_NEVER, TABLE_PARAMS, NULL,
   NULL, METHOD_WRITES, false},
  {"is_table_enabled", call_prepare_table, run_is_table_enabled, POOL_RETRY_ON_STALE, TABLE_PARAMS,
   NULL, NULL, METHOD_READS, false},
  {"compact_table", prepare_compact_table, run_compact_table, POOL_RETRY_NEVER, COMPACT_PARAMS,
   NULL, NULL, METHOD_WRITES, false},
  {"families", call_prepare_table, run_families, POOL_RETRY_ON_STALE, TABLE_PARAMS, NULL, NULL,
   METHOD_READS, false},
  {"regions", call_prepare_table, run_regions, POOL_RETRY_ON_STALE, TABLE_PARAMS, NULL, NULL,
   METHOD_READS, false},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};
