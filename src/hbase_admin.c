/* hbase_admin: the client layer's table administration: names, create, delete, enable,
 * disable, compact, families and regions (see hbase_client.h). */
#include <stdlib.h>
#include <string.h>

#include "hbase_call.h"

int hbc_table_names(hbc_conn *c, hbc_result *out, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GPtrArray *names = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  gboolean ok = hb_thrift_hbase_client_get_table_names(CLIENT(&k), &names, &k.io, &k.gerror);
  if (ok) {
    out->names = hbc_arena_alloc(out, names->len * sizeof *out->names);
    out->nnames = names->len;
    for (guint i = 0; i < names->len; i++)
      out->names[i] = hbc_arena_bytes(out, g_ptr_array_index(names, i));
  }
  g_ptr_array_unref(names);
  return hbc_call_end(&k, ok, err);
}

void hbc_family_init(hbc_family *f, hbc_bytes name) {
  f->name = name;
  f->max_versions = 3;
  f->compression = "NONE";
  f->in_memory = false;
  f->bloom_filter_type = "NONE";
  f->bloom_filter_vector_size = 0;
  f->bloom_filter_nb_hashes = 0;
  f->block_cache_enabled = false;
  f->time_to_live = -1;
}

static HbThriftColumnDescriptor *descriptor_new(const hbc_family *f, GByteArray *name) {
  HbThriftColumnDescriptor *d = g_object_new(HB_THRIFT_TYPE_COLUMN_DESCRIPTOR, NULL);
  d->name = name;
  d->__isset_name = TRUE;
  d->maxVersions = f->max_versions;
  g_free(d->compression);
  d->compression = g_strdup(f->compression != NULL ? f->compression : "NONE");
  d->inMemory = f->in_memory;
  g_free(d->bloomFilterType);
  d->bloomFilterType = g_strdup(f->bloom_filter_type != NULL ? f->bloom_filter_type : "NONE");
  d->bloomFilterVectorSize = f->bloom_filter_vector_size;
  d->bloomFilterNbHashes = f->bloom_filter_nb_hashes;
  d->blockCacheEnabled = f->block_cache_enabled;
  d->timeToLive = f->time_to_live;
  d->__isset_maxVersions = d->__isset_compression = d->__isset_inMemory = TRUE;
  d->__isset_bloomFilterType = d->__isset_bloomFilterVectorSize = TRUE;
  d->__isset_bloomFilterNbHashes = d->__isset_blockCacheEnabled = d->__isset_timeToLive = TRUE;
  return d;
}

int hbc_create_table(hbc_conn *c, hbc_bytes table, const hbc_family *families, size_t n,
                     hb_error *err) {
  if (n == 0)
    return hb_error_set(err, HB_ERR_INVALID, "a table needs at least one column family");
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  /* Family names get the ':' the gateway expects; these copies are owned by the descriptors. */
  GPtrArray *descs = g_ptr_array_new_with_free_func(g_object_unref);
  for (size_t i = 0; i < n; i++) {
    GByteArray *name = g_byte_array_new();
    g_byte_array_append(name, families[i].name.data, (guint)families[i].name.len);
    if (name->len == 0 || name->data[name->len - 1] != ':')
      g_byte_array_append(name, (const guint8 *)":", 1);
    g_ptr_array_add(descs, descriptor_new(&families[i], name));
  }
  GByteArray t = hbc_view(table);
  gboolean ok = hb_thrift_hbase_client_create_table(CLIENT(&k), &t, descs, &k.io, &k.ia, &k.exists,
                                                    &k.gerror);
  g_ptr_array_unref(descs);
  return hbc_call_end(&k, ok, err);
}

typedef gboolean (*table_call_fn)(HbThriftHbaseIf *, const HbThriftText, HbThriftIOError **,
                                  GError **);

static int table_call(hbc_conn *c, hbc_bytes table, table_call_fn fn, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  gboolean ok = fn(CLIENT(&k), &t, &k.io, &k.gerror);
  return hbc_call_end(&k, ok, err);
}

int hbc_delete_table(hbc_conn *c, hbc_bytes table, hb_error *err) {
  return table_call(c, table, hb_thrift_hbase_client_delete_table, err);
}

int hbc_enable_table(hbc_conn *c, hbc_bytes table, hb_error *err) {
  return table_call(c, table, hb_thrift_hbase_client_enable_table, err);
}

int hbc_disable_table(hbc_conn *c, hbc_bytes table, hb_error *err) {
  return table_call(c, table, hb_thrift_hbase_client_disable_table, err);
}

int hbc_compact(hbc_conn *c, hbc_bytes table_or_region, bool major, hb_error *err) {
  return table_call(c, table_or_region,
                    major ? hb_thrift_hbase_client_major_compact : hb_thrift_hbase_client_compact,
                    err);
}

int hbc_is_table_enabled(hbc_conn *c, hbc_bytes table, bool *enabled, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  gboolean on = FALSE;
  gboolean ok = hb_thrift_hbase_client_is_table_enabled(CLIENT(&k), &on, &t, &k.io, &k.gerror);
  *enabled = on;
  return hbc_call_end(&k, ok, err);
}

static int compare_families(const void *a, const void *b) {
  return hbc_compare_bytes(((const hbc_family *)a)->name, ((const hbc_family *)b)->name);
}

int hbc_column_descriptors(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  GHashTable *map = hbc_bytes_table_new(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_get_column_descriptors(CLIENT(&k), &map, &t, &k.io,
                                                              &k.gerror);
  if (ok) {
    out->families = hbc_arena_alloc(out, g_hash_table_size(map) * sizeof *out->families);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, map);
    while (g_hash_table_iter_next(&it, &key, &value)) {
      HbThriftColumnDescriptor *d = value;
      hbc_family *f = &out->families[out->nfamilies++];
      f->name = hbc_arena_bytes(out, d->name != NULL ? d->name : key);
      f->max_versions = d->maxVersions;
      f->compression = hbc_arena_str(out, d->compression);
      f->in_memory = d->inMemory;
      f->bloom_filter_type = hbc_arena_str(out, d->bloomFilterType);
      f->bloom_filter_vector_size = d->bloomFilterVectorSize;
      f->bloom_filter_nb_hashes = d->bloomFilterNbHashes;
      f->block_cache_enabled = d->blockCacheEnabled;
      f->time_to_live = d->timeToLive;
    }
    qsort(out->families, out->nfamilies, sizeof *out->families, compare_families);
  }
  g_hash_table_unref(map);
  return hbc_call_end(&k, ok, err);
}

int hbc_table_regions(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err) {
  hbc_call k;
  if (hbc_call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = hbc_view(table);
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_get_table_regions(CLIENT(&k), &list, &t, &k.io, &k.gerror);
  if (ok) {
    out->regions = hbc_arena_alloc(out, list->len * sizeof *out->regions);
    out->nregions = list->len;
    for (guint i = 0; i < list->len; i++) {
      HbThriftTRegionInfo *ri = g_ptr_array_index(list, i);
      hbc_region *r = &out->regions[i];
      r->start_key = hbc_arena_bytes(out, ri->startKey);
      r->end_key = hbc_arena_bytes(out, ri->endKey);
      r->name = hbc_arena_bytes(out, ri->name);
      r->server_name = hbc_arena_bytes(out, ri->serverName);
      r->id = ri->id;
      r->version = ri->version;
      r->port = ri->port;
    }
  }
  g_ptr_array_unref(list);
  return hbc_call_end(&k, ok, err);
}
