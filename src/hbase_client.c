/* hbase_client: the HBase Thrift1 client layer. The only module that sees Thrift or GObject:
 * it turns plain C arguments into generated structs, calls the gateway and copies replies into
 * an hbc_result arena, classifying every failure into an hb_error. */
#include "hbase_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thrift/c_glib/protocol/thrift_binary_protocol.h>
#include <thrift/c_glib/protocol/thrift_compact_protocol.h>
#include <thrift/c_glib/thrift_application_exception.h>

#include "hb_thrift_hbase.h"
#include "hbase_transport.h"
#include "wire.h"

struct hbc_conn {
  HbTransport *transport;
  ThriftProtocol *protocol;
  HbThriftHbaseIf *client;
  GHashTable *attributes;  /* always empty: hbpool sends no per-call attributes */
  int call_timeout_ms;
  bool compact;            /* the compact protocol, else binary (wire.h reads rows itself) */
  bool usable;
};

/* ---------------------------------------------------------------------------------------------
 * Results: one arena per hbc_result. */

#define HBC_CHUNK_MIN (16 * 1024)

struct hbc_chunk {
  struct hbc_chunk *next;
  size_t used, cap;
  max_align_t data[];
};

static void *arena_alloc(hbc_result *r, size_t n) {
  n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  struct hbc_chunk *c = r->mem;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > HBC_CHUNK_MIN ? n : HBC_CHUNK_MIN;
    c = g_malloc(sizeof *c + cap);  /* aborts when memory is exhausted, as GLib does */
    c->next = r->mem;
    c->used = 0;
    c->cap = cap;
    r->mem = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static hbc_bytes arena_bytes(hbc_result *r, const GByteArray *b) {
  if (b == NULL || b->len == 0)
    return (hbc_bytes){(const uint8_t *)"", 0};
  uint8_t *p = arena_alloc(r, b->len);
  memcpy(p, b->data, b->len);
  return (hbc_bytes){p, b->len};
}

static const char *arena_str(hbc_result *r, const char *s) {
  size_t n = strlen(s != NULL ? s : "") + 1;
  char *p = arena_alloc(r, n);
  memcpy(p, s != NULL ? s : "", n);
  return p;
}

void hbc_result_free(hbc_result *r) {
  struct hbc_chunk *c = r->mem;
  while (c != NULL) {
    struct hbc_chunk *next = c->next;
    g_free(c);
    c = next;
  }
  memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------------------------------------
 * Arguments: GByteArray views of caller memory, so that nothing is copied before sending.
 * The generated writers only read ->data and ->len; views are never freed by GLib. */

typedef struct views {
  GByteArray *items;  /* one view per element */
  GPtrArray *list;    /* pointers to items, no free function */
} views;

static GByteArray view(hbc_bytes b) {
  return (GByteArray){(guint8 *)b.data, (guint)b.len};
}

static void views_init(views *v, const hbc_bytes *items, size_t n) {
  v->items = g_new(GByteArray, n > 0 ? n : 1);
  v->list = g_ptr_array_sized_new((guint)n);
  for (size_t i = 0; i < n; i++) {
    v->items[i] = view(items[i]);
    g_ptr_array_add(v->list, &v->items[i]);
  }
}

static void views_clear(views *v) {
  g_ptr_array_unref(v->list);
  g_free(v->items);
}

/* Arrays owned by a generated struct are swapped for view lists and back before it is freed. */
static GPtrArray *swap_array(GPtrArray **field, GPtrArray *replacement) {
  GPtrArray *old = *field;
  *field = replacement;
  return old;
}

/* ---------------------------------------------------------------------------------------------
 * Calls: one deadline per call, one classification of every failure. */

typedef struct call {
  hbc_conn *conn;
  GError *gerror;
  HbThriftIOError *io;
  HbThriftIllegalArgument *ia;
  HbThriftAlreadyExists *exists;
} call;

static int call_begin(call *k, hbc_conn *c, hb_error *err) {
  memset(k, 0, sizeof *k);
  k->conn = c;
  if (!c->usable)
    return hb_error_set(err, HB_ERR_TRANSPORT, "connection was broken by an earlier error");
  hb_transport_clear_error(c->transport);
  netio_set_deadline(hb_transport_netio(c->transport), c->call_timeout_ms);
  return 0;
}

static void call_free(call *k) {
  if (k->gerror != NULL)
    g_error_free(k->gerror);
  if (k->io != NULL)
    g_object_unref(k->io);
  if (k->ia != NULL)
    g_object_unref(k->ia);
  if (k->exists != NULL)
    g_object_unref(k->exists);
}

static const char *PROTOCOL_HINT =
  " (check that the gateway's transport (framed or buffered) and protocol (binary or compact)"
  " match the configuration)";

/* Breaks the connection and reports what went wrong with the stream. */
static int stream_failure(call *k, hb_error *err) {
  hbc_conn *c = k->conn;
  hb_error *last = hb_transport_last_error(c->transport);
  GError *g = k->gerror;
  c->usable = false;
  /* Transport errors carry netio's own classification (a timeout, a closed socket...). */
  if ((g == NULL || g->domain == THRIFT_TRANSPORT_ERROR) && last->code != HB_OK) {
    hb_errcode code = last->code;
    char *msg = last->message;
    last->message = NULL;
    hb_error_clear(last);
    return hb_error_take(err, code, msg);
  }
  if (g == NULL)
    return hb_error_set(err, HB_ERR_TRANSPORT, "call failed");
  /* The generated code reports both a TApplicationException sent by the gateway ("application
   * error: ...") and its own checks of the reply header in this domain; the latter mean the
   * stream is not what we expect. */
  if (g->domain == THRIFT_APPLICATION_EXCEPTION_ERROR &&
      g_str_has_prefix(g->message, "application error:"))
    return hb_error_set(err, HB_ERR_APPLICATION, "gateway %s", g->message);
  if (g->domain == THRIFT_PROTOCOL_ERROR || g->domain == THRIFT_APPLICATION_EXCEPTION_ERROR)
    return hb_error_set(err, HB_ERR_TRANSPORT, "bad reply from the gateway: %s%s", g->message,
                        PROTOCOL_HINT);
  return hb_error_set(err, HB_ERR_TRANSPORT, "%s", g->message);
}

/* Ends a call: 0 if it succeeded, else -1 with err set and the connection marked as needed. */
static int call_end(call *k, gboolean ok, hb_error *err) {
  int rc = 0;
  if (k->io != NULL) {
    rc = hb_error_set(err, HB_ERR_IO, "%s", k->io->message != NULL ? k->io->message : "IOError");
    if (err != NULL)
      err->retryable = k->io->__isset_canRetry && k->io->canRetry;
  } else if (k->ia != NULL) {
    rc = hb_error_set(err, HB_ERR_ILLEGAL_ARGUMENT, "%s",
                      k->ia->message != NULL ? k->ia->message : "IllegalArgument");
  } else if (k->exists != NULL) {
    rc = hb_error_set(err, HB_ERR_ALREADY_EXISTS, "%s",
                      k->exists->message != NULL ? k->exists->message : "AlreadyExists");
  } else if (!ok) {
    rc = stream_failure(k, err);
  }
  call_free(k);
  return rc;
}

#define CLIENT(k) ((k)->conn->client)
#define ATTRS(k) ((k)->conn->attributes)

/* ---------------------------------------------------------------------------------------------
 * Connections. */

void hbc_options_init(hbc_options *o) {
  memset(o, 0, sizeof *o);
  o->host = "localhost";
  o->port = 9090;
  o->framed = false;
  o->protocol = HBC_PROTOCOL_BINARY;
  o->connect_timeout_ms = 5000;
  o->call_timeout_ms = 60000;
  o->max_message_size = 256u << 20;
}

/* c_glib's own ThriftApplicationException finalizer does not chain up either (defect 2 in the
 * library itself): every exception a gateway sends would leak its instance. Chain it here. */
static void (*app_exception_finalize)(GObject *);
static GObjectClass *app_exception_parent;

static void app_exception_finalize_chained(GObject *object) {
  app_exception_finalize(object);
  app_exception_parent->finalize(object);
}

static void fix_app_exception_class(void) {
  GObjectClass *cls = g_type_class_ref(THRIFT_TYPE_APPLICATION_EXCEPTION); /* kept for good */
  app_exception_finalize = cls->finalize;
  app_exception_parent = g_type_class_peek_parent(cls);
  cls->finalize = app_exception_finalize_chained;
}

void hbc_init(void) {
  static gsize done = 0;
  if (!g_once_init_enter(&done))
    return;
  fix_app_exception_class();
  /* Register every type up front; the fixed-up get_type functions are thread-safe, this just
   * keeps first-use cost out of the first calls. */
  g_type_ensure(HB_TYPE_TRANSPORT);
  g_type_ensure(THRIFT_TYPE_BINARY_PROTOCOL);
  g_type_ensure(THRIFT_TYPE_COMPACT_PROTOCOL);
  g_type_ensure(HB_THRIFT_TYPE_HBASE_CLIENT);
  g_type_ensure(HB_THRIFT_TYPE_T_CELL);
  g_type_ensure(HB_THRIFT_TYPE_COLUMN_DESCRIPTOR);
  g_type_ensure(HB_THRIFT_TYPE_T_REGION_INFO);
  g_type_ensure(HB_THRIFT_TYPE_MUTATION);
  g_type_ensure(HB_THRIFT_TYPE_BATCH_MUTATION);
  g_type_ensure(HB_THRIFT_TYPE_T_INCREMENT);
  g_type_ensure(HB_THRIFT_TYPE_T_COLUMN);
  g_type_ensure(HB_THRIFT_TYPE_T_ROW_RESULT);
  g_type_ensure(HB_THRIFT_TYPE_T_SCAN);
  g_type_ensure(HB_THRIFT_TYPE_T_APPEND);
  g_type_ensure(HB_THRIFT_TYPE_I_O_ERROR);
  g_type_ensure(HB_THRIFT_TYPE_ILLEGAL_ARGUMENT);
  g_type_ensure(HB_THRIFT_TYPE_ALREADY_EXISTS);
  g_once_init_leave(&done, 1);
}

static guint bytes_hash(gconstpointer key) {
  const GByteArray *b = key;
  guint h = 5381;
  for (guint i = 0; i < b->len; i++)
    h = (h * 33) ^ b->data[i];
  return h;
}

static gboolean bytes_equal(gconstpointer a, gconstpointer b) {
  const GByteArray *x = a, *y = b;
  return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

static GHashTable *bytes_table_new(GDestroyNotify value_free) {
  return g_hash_table_new_full(bytes_hash, bytes_equal, (GDestroyNotify)g_byte_array_unref,
                               value_free);
}

hbc_conn *hbc_connect(const hbc_options *o, hb_error *err) {
  hbc_init();
  netio_options nopts = {
    .connect_timeout_ms = o->connect_timeout_ms,
    .framed = o->framed,
    .max_message_size = o->max_message_size,
  };
  netio *io = netio_connect(o->host, o->port, &nopts, err);
  if (io == NULL)
    return NULL;
  hbc_conn *c = g_new0(hbc_conn, 1);
  c->transport = hb_transport_new(io);
  gint limit = o->max_message_size > G_MAXINT32 ? G_MAXINT32 : (gint)o->max_message_size;
  if (o->protocol == HBC_PROTOCOL_COMPACT)
    c->protocol = g_object_new(THRIFT_TYPE_COMPACT_PROTOCOL, "transport", c->transport,
                               "string_limit", limit, "container_limit", limit, NULL);
  else
    c->protocol = g_object_new(THRIFT_TYPE_BINARY_PROTOCOL, "transport", c->transport, NULL);
  c->client = g_object_new(HB_THRIFT_TYPE_HBASE_CLIENT, "input_protocol", c->protocol,
                           "output_protocol", c->protocol, NULL);
  c->attributes = bytes_table_new((GDestroyNotify)g_byte_array_unref);
  c->call_timeout_ms = o->call_timeout_ms;
  c->compact = o->protocol == HBC_PROTOCOL_COMPACT;
  c->usable = true;
  return c;
}

void hbc_close(hbc_conn *c) {
  if (c == NULL)
    return;
  g_object_unref(c->client);
  g_object_unref(c->protocol);
  thrift_transport_close(THRIFT_TRANSPORT(c->transport), NULL);
  g_object_unref(c->transport);
  g_hash_table_unref(c->attributes);
  g_free(c);
}

bool hbc_usable(const hbc_conn *c) {
  return c->usable;
}

bool hbc_peer_closed(const hbc_conn *c) {
  return netio_peer_closed(hb_transport_netio(c->transport));
}

uint64_t hbc_reply_bytes(const hbc_conn *c) {
  netio *io = c->transport != NULL ? hb_transport_netio(c->transport) : NULL;
  return io != NULL ? netio_reply_bytes(io) : 0;
}

hbc_bytes hbc_str(const char *s) {
  return (hbc_bytes){(const uint8_t *)s, strlen(s)};
}

bool hbc_bytes_equal(hbc_bytes a, hbc_bytes b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

hbc_bytes hbc_family_only(hbc_bytes name) {
  bool colon = name.len > 0 && name.data[name.len - 1] == ':';
  return (hbc_bytes){name.data, colon ? name.len - 1 : name.len};
}

/* ---------------------------------------------------------------------------------------------
 * Table administration. */

int hbc_table_names(hbc_conn *c, hbc_result *out, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GPtrArray *names = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  gboolean ok = hb_thrift_hbase_client_get_table_names(CLIENT(&k), &names, &k.io, &k.gerror);
  if (ok) {
    out->names = arena_alloc(out, names->len * sizeof *out->names);
    out->nnames = names->len;
    for (guint i = 0; i < names->len; i++)
      out->names[i] = arena_bytes(out, g_ptr_array_index(names, i));
  }
  g_ptr_array_unref(names);
  return call_end(&k, ok, err);
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
  call k;
  if (call_begin(&k, c, err) < 0)
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
  GByteArray t = view(table);
  gboolean ok = hb_thrift_hbase_client_create_table(CLIENT(&k), &t, descs, &k.io, &k.ia,
                                                    &k.exists, &k.gerror);
  g_ptr_array_unref(descs);
  return call_end(&k, ok, err);
}

typedef gboolean (*table_call_fn)(HbThriftHbaseIf *, const HbThriftText, HbThriftIOError **,
                                  GError **);

static int table_call(hbc_conn *c, hbc_bytes table, table_call_fn fn, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  gboolean ok = fn(CLIENT(&k), &t, &k.io, &k.gerror);
  return call_end(&k, ok, err);
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
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  gboolean on = FALSE;
  gboolean ok = hb_thrift_hbase_client_is_table_enabled(CLIENT(&k), &on, &t, &k.io, &k.gerror);
  *enabled = on;
  return call_end(&k, ok, err);
}

static int compare_bytes(hbc_bytes a, hbc_bytes b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int d = n > 0 ? memcmp(a.data, b.data, n) : 0;
  if (d != 0)
    return d;
  return a.len < b.len ? -1 : a.len > b.len;
}

static int compare_families(const void *a, const void *b) {
  return compare_bytes(((const hbc_family *)a)->name, ((const hbc_family *)b)->name);
}

int hbc_column_descriptors(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  GHashTable *map = bytes_table_new(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_get_column_descriptors(CLIENT(&k), &map, &t, &k.io,
                                                              &k.gerror);
  if (ok) {
    out->families = arena_alloc(out, g_hash_table_size(map) * sizeof *out->families);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, map);
    while (g_hash_table_iter_next(&it, &key, &value)) {
      HbThriftColumnDescriptor *d = value;
      hbc_family *f = &out->families[out->nfamilies++];
      f->name = arena_bytes(out, d->name != NULL ? d->name : key);
      f->max_versions = d->maxVersions;
      f->compression = arena_str(out, d->compression);
      f->in_memory = d->inMemory;
      f->bloom_filter_type = arena_str(out, d->bloomFilterType);
      f->bloom_filter_vector_size = d->bloomFilterVectorSize;
      f->bloom_filter_nb_hashes = d->bloomFilterNbHashes;
      f->block_cache_enabled = d->blockCacheEnabled;
      f->time_to_live = d->timeToLive;
    }
    qsort(out->families, out->nfamilies, sizeof *out->families, compare_families);
  }
  g_hash_table_unref(map);
  return call_end(&k, ok, err);
}

int hbc_table_regions(hbc_conn *c, hbc_bytes table, hbc_result *out, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_get_table_regions(CLIENT(&k), &list, &t, &k.io,
                                                         &k.gerror);
  if (ok) {
    out->regions = arena_alloc(out, list->len * sizeof *out->regions);
    out->nregions = list->len;
    for (guint i = 0; i < list->len; i++) {
      HbThriftTRegionInfo *ri = g_ptr_array_index(list, i);
      hbc_region *r = &out->regions[i];
      r->start_key = arena_bytes(out, ri->startKey);
      r->end_key = arena_bytes(out, ri->endKey);
      r->name = arena_bytes(out, ri->name);
      r->server_name = arena_bytes(out, ri->serverName);
      r->id = ri->id;
      r->version = ri->version;
      r->port = ri->port;
    }
  }
  g_ptr_array_unref(list);
  return call_end(&k, ok, err);
}

/* ---------------------------------------------------------------------------------------------
 * Reads. */

/* Splits "family:qualifier" at its first ':' (a column without one is all family). */
static void split_column(hbc_bytes col, hbc_bytes *family, hbc_bytes *qualifier) {
  const uint8_t *colon = col.len > 0 ? memchr(col.data, ':', col.len) : NULL;
  size_t flen = colon != NULL ? (size_t)(colon - col.data) : col.len;
  *family = (hbc_bytes){col.data, flen};
  *qualifier = colon != NULL ? (hbc_bytes){colon + 1, col.len - flen - 1} : (hbc_bytes){col.data, 0};
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
  int d = compare_bytes(fa, fb);
  return d != 0 ? d : compare_bytes(qa, qb);
}

/* HBase orders cells by family, then qualifier: "cf:a" < "cf2:a" although ':' > '2'. */
static int compare_cells(const void *a, const void *b) {
  return hbc_compare_columns(((const hbc_cell *)a)->column, ((const hbc_cell *)b)->column);
}

static void copy_cell(hbc_result *out, hbc_cell *dst, const GByteArray *column,
                      const HbThriftTCell *cell) {
  dst->column = arena_bytes(out, column);
  dst->value = arena_bytes(out, cell != NULL ? cell->value : NULL);
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
  uint8_t *mem = arena_alloc(out, len);
  *dst = (hbc_bytes){mem, len};
  return wire_raw(r, mem, len) == 0;
}

/* TCell {1: value, 2: timestamp} into dst (its column set by the caller). */
static bool read_cell(wire_reader *r, hbc_result *out, hbc_cell *dst) {
  dst->value = EMPTY_BYTES;
  dst->timestamp = 0;
  if (wire_struct_begin(r) < 0)
    return false;
  for (;;) {
    wire_type type;
    int16_t id;
    if (wire_field_begin(r, &type, &id) < 0)
      return false;
    if (type == WIRE_STOP)
      return wire_struct_end(r) == 0;
    bool ok;
    if (id == 1 && type == WIRE_STRING)
      ok = read_bytes(r, out, &dst->value);
    else if (id == 2 && type == WIRE_I64)
      ok = wire_i64(r, &dst->timestamp) == 0;
    else
      ok = wire_skip(r, type) == 0;
    if (!ok)
      return false;
  }
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
  void *dst = arena_alloc(out, (g->n > 0 ? g->n : 1) * g->size);
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

/* TColumn {1: columnName, 2: cell} into dst, an hbc_cell. */
static bool read_column(wire_reader *r, hbc_result *out, void *dst) {
  hbc_cell *c = dst;
  c->column = c->value = EMPTY_BYTES;
  c->timestamp = 0;
  if (wire_struct_begin(r) < 0)
    return false;
  for (;;) {
    wire_type type;
    int16_t id;
    if (wire_field_begin(r, &type, &id) < 0)
      return false;
    if (type == WIRE_STOP)
      return wire_struct_end(r) == 0;
    bool ok;
    if (id == 1 && type == WIRE_STRING) {
      ok = read_bytes(r, out, &c->column);
    } else if (id == 2 && type == WIRE_STRUCT) {
      hbc_bytes column = c->column;
      ok = read_cell(r, out, c);
      c->column = column;
    } else {
      ok = wire_skip(r, type) == 0;
    }
    if (!ok)
      return false;
  }
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

/* TRowResult {1: row, 2: columns, 3: sortedColumns} into dst, an hbc_row; sortedColumns, when
 * sent, is the order. */
static bool read_row(wire_reader *r, hbc_result *out, void *dst) {
  hbc_row *row = dst;
  row->key = EMPTY_BYTES;
  row->cells = NULL;
  row->ncells = 0;
  hbc_cell *sorted = NULL;
  size_t nsorted = 0;
  if (wire_struct_begin(r) < 0)
    return false;
  for (;;) {
    wire_type type;
    int16_t id;
    if (wire_field_begin(r, &type, &id) < 0)
      return false;
    if (type == WIRE_STOP)
      break;
    bool ok;
    if (id == 1 && type == WIRE_STRING)
      ok = read_bytes(r, out, &row->key);
    else if (id == 2 && type == WIRE_MAP)
      ok = read_cell_map(r, out, &row->cells, &row->ncells);
    else if (id == 3 && type == WIRE_LIST)
      ok = read_column_list(r, out, &sorted, &nsorted);
    else
      ok = wire_skip(r, type) == 0;
    if (!ok)
      return false;
  }
  if (nsorted > 0) {
    row->cells = sorted;
    row->ncells = nsorted;
  }
  if (row->cells == NULL)
    row->cells = arena_alloc(out, sizeof *row->cells);
  return wire_struct_end(r) == 0;
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
static bool read_reply_begin(call *k, wire_reader *r, const char *method) {
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
      g_set_error(&k->gerror, THRIFT_APPLICATION_EXCEPTION_ERROR, x->type,
                  "application error: %s", x->message);
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

/* The reply's fields: 0 the rows, 1 IOError, 2 IllegalArgument (the exceptions land in k->io
 * and k->ia, read by the generated code as it would). */
static bool read_rows_result(call *k, wire_reader *r, hbc_result *out) {
  ThriftProtocol *p = k->conn->protocol;
  if (wire_struct_begin(r) < 0)
    return false;
  for (;;) {
    wire_type type;
    int16_t id;
    if (wire_field_begin(r, &type, &id) < 0)
      return false;
    if (type == WIRE_STOP)
      return wire_struct_end(r) == 0;
    bool ok;
    if (id == 0 && type == WIRE_LIST) {
      ok = read_rows(r, out);
    } else if (id == 1 && type == WIRE_STRUCT && k->io == NULL) {
      k->io = g_object_new(HB_THRIFT_TYPE_I_O_ERROR, NULL);
      ok = thrift_struct_read(THRIFT_STRUCT(k->io), p, &k->gerror) >= 0;
    } else if (id == 2 && type == WIRE_STRUCT && k->ia == NULL) {
      k->ia = g_object_new(HB_THRIFT_TYPE_ILLEGAL_ARGUMENT, NULL);
      ok = thrift_struct_read(THRIFT_STRUCT(k->ia), p, &k->gerror) >= 0;
    } else {
      ok = wire_skip(r, type) == 0;
    }
    if (!ok)
      return false;
  }
}

/* Reads the reply of method into out. A failure of the stream is left where stream_failure
 * looks for it: netio's error (or the wire's "bad reply") in the transport's last error. */
static gboolean read_rows_reply(call *k, const char *method, hbc_result *out) {
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
static gboolean recv_rows(call *k, const char *method, hbc_result *out) {
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
static const char *send_get_rows(call *k, GByteArray *t, const hbc_bytes *rows, size_t nrows,
                                 GPtrArray *cols, int64_t ts) {
  if (nrows == 1) {
    GByteArray r = view(rows[0]);
    if (ts == HBC_LATEST)
      return hb_thrift_hbase_client_send_get_row_with_columns(CLIENT(k), t, &r, cols, ATTRS(k),
                                                              &k->gerror)
               ? "getRowWithColumns" : NULL;
    return hb_thrift_hbase_client_send_get_row_with_columns_ts(CLIENT(k), t, &r, cols, ts,
                                                               ATTRS(k), &k->gerror)
             ? "getRowWithColumnsTs" : NULL;
  }
  views rv;
  views_init(&rv, rows, nrows);
  const char *method;
  if (ts == HBC_LATEST)
    method = hb_thrift_hbase_client_send_get_rows_with_columns(CLIENT(k), t, rv.list, cols,
                                                               ATTRS(k), &k->gerror)
               ? "getRowsWithColumns" : NULL;
  else
    method = hb_thrift_hbase_client_send_get_rows_with_columns_ts(CLIENT(k), t, rv.list, cols, ts,
                                                                  ATTRS(k), &k->gerror)
               ? "getRowsWithColumnsTs" : NULL;
  views_clear(&rv);
  return method;
}

int hbc_get_rows(hbc_conn *c, hbc_bytes table, const hbc_bytes *rows, size_t nrows,
                 const hbc_bytes *columns, size_t ncolumns, int64_t timestamp, hbc_result *out,
                 hb_error *err) {
  if (nrows == 0)
    return 0;
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  views cv;
  views_init(&cv, columns, ncolumns);
  const char *method = send_get_rows(&k, &t, rows, nrows, cv.list, timestamp);
  gboolean ok = method != NULL && recv_rows(&k, method, out);
  views_clear(&cv);
  return call_end(&k, ok, err);
}

static void copy_cells(hbc_result *out, GPtrArray *list, const GByteArray *column) {
  out->cells = arena_alloc(out, list->len * sizeof *out->cells);
  out->ncells = list->len;
  for (guint i = 0; i < list->len; i++)
    copy_cell(out, &out->cells[i], column, g_ptr_array_index(list, i));
}

int hbc_get_versions(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                     int64_t timestamp, int32_t nversions, hbc_result *out, hb_error *err) {
  if (nversions < 1)
    return hb_error_set(err, HB_ERR_INVALID, "versions must be at least 1");
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table), r = view(row), col = view(column);
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok;
  if (timestamp == HBC_LATEST)
    ok = hb_thrift_hbase_client_get_ver(CLIENT(&k), &list, &t, &r, &col, nversions, ATTRS(&k),
                                        &k.io, &k.gerror);
  else
    ok = hb_thrift_hbase_client_get_ver_ts(CLIENT(&k), &list, &t, &r, &col, timestamp,
                                           nversions, ATTRS(&k), &k.io, &k.gerror);
  if (ok)
    copy_cells(out, list, &col);
  g_ptr_array_unref(list);
  return call_end(&k, ok, err);
}

/* ---------------------------------------------------------------------------------------------
 * Writes. */

/* A Mutation whose byte fields are views; mutation_free detaches them before the unref. */
static HbThriftMutation *mutation_new(const hbc_mutation *m, GByteArray *column,
                                      GByteArray *value) {
  HbThriftMutation *tm = g_object_new(HB_THRIFT_TYPE_MUTATION, NULL);
  *column = view(m->column);
  *value = view(m->value);
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
  GPtrArray *batches;   /* BatchMutation objects */
  GByteArray *bytes;    /* views: per row 1, per mutation 2 */
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
    *v = view(rows[i].row);
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
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
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
  return call_end(&k, ok, err);
}

int hbc_atomic_increment(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                         int64_t amount, int64_t *value, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table), r = view(row), col = view(column);
  gint64 v = 0;
  gboolean ok = hb_thrift_hbase_client_atomic_increment(CLIENT(&k), &v, &t, &r, &col, amount,
                                                        &k.io, &k.ia, &k.gerror);
  *value = v;
  return call_end(&k, ok, err);
}

int hbc_increment_rows(hbc_conn *c, const hbc_increment *incs, size_t n, hb_error *err) {
  if (n == 0)
    return 0;
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray *views3 = g_new(GByteArray, 3 * n);
  GPtrArray *list = g_ptr_array_new_full((guint)n, NULL);
  for (size_t i = 0; i < n; i++) {
    GByteArray *v = &views3[3 * i];
    HbThriftTIncrement *ti = g_object_new(HB_THRIFT_TYPE_T_INCREMENT, NULL);
    v[0] = view(incs[i].table);
    v[1] = view(incs[i].row);
    v[2] = view(incs[i].column);
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
  return call_end(&k, ok, err);
}

int hbc_append(hbc_conn *c, hbc_bytes table, hbc_bytes row, const hbc_bytes *columns,
               const hbc_bytes *values, size_t n, hbc_result *out, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table), r = view(row);
  views cv, vv;
  views_init(&cv, columns, n);
  views_init(&vv, values, n);
  HbThriftTAppend *ta = g_object_new(HB_THRIFT_TYPE_T_APPEND, NULL);
  ta->table = &t;
  ta->row = &r;
  GPtrArray *own_cols = swap_array(&ta->columns, cv.list);
  GPtrArray *own_vals = swap_array(&ta->values, vv.list);
  ta->__isset_table = ta->__isset_row = ta->__isset_columns = ta->__isset_values = TRUE;
  GPtrArray *list = g_ptr_array_new_with_free_func(g_object_unref);
  gboolean ok = hb_thrift_hbase_client_append(CLIENT(&k), &list, ta, &k.io, &k.gerror);
  if (ok)
    copy_cells(out, list, NULL);
  g_ptr_array_unref(list);
  ta->table = ta->row = NULL;
  swap_array(&ta->columns, own_cols);
  swap_array(&ta->values, own_vals);
  g_object_unref(ta);
  views_clear(&cv);
  views_clear(&vv);
  return call_end(&k, ok, err);
}

int hbc_check_and_put(hbc_conn *c, hbc_bytes table, hbc_bytes row, hbc_bytes column,
                      const hbc_bytes *expected, const hbc_mutation *put, bool *applied,
                      hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table), r = view(row), col = view(column), mcol, mval;
  GByteArray want = expected != NULL ? view(*expected) : (GByteArray){NULL, 0};
  HbThriftMutation *tm = mutation_new(put, &mcol, &mval);
  gboolean done = FALSE;
  /* HBase treats an empty expected value as "the column is absent (or empty)". */
  gboolean ok = hb_thrift_hbase_client_check_and_put(CLIENT(&k), &done, &t, &r, &col,
                                                     expected != NULL ? &want : NULL, tm,
                                                     ATTRS(&k), &k.io, &k.ia, &k.gerror);
  mutation_free(tm);
  *applied = done;
  return call_end(&k, ok, err);
}

/* ---------------------------------------------------------------------------------------------
 * Scanners. */

void hbc_scan_init(hbc_scan *s) {
  memset(s, 0, sizeof *s);
  s->timestamp = HBC_LATEST;
}

static HbThriftTScan *tscan_new(const hbc_scan *s, GByteArray *start, GByteArray *stop,
                                GByteArray *filter, views *cols, GPtrArray **own_cols) {
  HbThriftTScan *ts = g_object_new(HB_THRIFT_TYPE_T_SCAN, NULL);
  *start = view(s->start_row);
  *stop = view(s->stop_row);
  *filter = view(s->filter);
  ts->startRow = start;
  ts->__isset_startRow = s->start_row.len > 0;
  ts->stopRow = stop;
  ts->__isset_stopRow = s->stop_row.len > 0;
  ts->timestamp = s->timestamp;
  ts->__isset_timestamp = s->timestamp != HBC_LATEST;
  *own_cols = swap_array(&ts->columns, cols->list);
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
  swap_array(&ts->columns, own_cols);
  g_object_unref(ts);
}

/* HBase 0.90 gateways know only these four scanner calls. */
static gboolean open_090(call *k, gint32 *id, GByteArray *t, const hbc_scan *s, GPtrArray *cols) {
  GByteArray start = view(s->start_row), stop = view(s->stop_row);
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
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  GByteArray t = view(table);
  views cols;
  views_init(&cols, s->columns, s->ncolumns);
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
  views_clear(&cols);
  *scanner_id = id;
  return call_end(&k, ok, err);
}

int hbc_scanner_get_list(hbc_conn *c, int32_t scanner_id, int32_t nrows, hbc_result *out,
                         hb_error *err) {
  if (nrows < 1)
    return hb_error_set(err, HB_ERR_INVALID, "a scanner must be asked for at least 1 row");
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  gboolean ok =
    hb_thrift_hbase_client_send_scanner_get_list(CLIENT(&k), scanner_id, nrows, &k.gerror) &&
    recv_rows(&k, "scannerGetList", out);
  return call_end(&k, ok, err);
}

int hbc_scanner_close(hbc_conn *c, int32_t scanner_id, hb_error *err) {
  call k;
  if (call_begin(&k, c, err) < 0)
    return -1;
  gboolean ok = hb_thrift_hbase_client_scanner_close(CLIENT(&k), scanner_id, &k.io, &k.ia,
                                                     &k.gerror);
  return call_end(&k, ok, err);
}
