/* hbase_client: the HBase Thrift1 client layer. With hbase_admin.c, hbase_data.c, wire.c and
 * hbase_transport.c, the only code that sees Thrift or GObject: it turns plain C arguments into
 * generated structs, calls the gateway and copies replies into an hbc_result arena, classifying
 * every failure into an hb_error. This file: connections, results, calls and their failures. */
#include "hbase_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thrift/c_glib/protocol/thrift_binary_protocol.h>
#include <thrift/c_glib/protocol/thrift_compact_protocol.h>
#include <thrift/c_glib/thrift_application_exception.h>

#include "hbase_call.h"
#include "wire.h"

/* ---------------------------------------------------------------------------------------------
 * Results: one arena per hbc_result. */

#define HBC_CHUNK_MIN (16 * 1024)

struct hbc_chunk {
  struct hbc_chunk *next;
  size_t used, cap;
  max_align_t data[];
};

void *hbc_arena_alloc(hbc_result *r, size_t n) {
  n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  struct hbc_chunk *c = r->mem;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > HBC_CHUNK_MIN ? n : HBC_CHUNK_MIN;
    c = g_malloc(sizeof *c + cap); /* aborts when memory is exhausted, as GLib does */
    c->next = r->mem;
    c->used = 0;
    c->cap = cap;
    r->mem = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

hbc_bytes hbc_arena_bytes(hbc_result *r, const GByteArray *b) {
  if (b == NULL || b->len == 0)
    return (hbc_bytes){(const uint8_t *)"", 0};
  uint8_t *p = hbc_arena_alloc(r, b->len);
  memcpy(p, b->data, b->len);
  return (hbc_bytes){p, b->len};
}

const char *hbc_arena_str(hbc_result *r, const char *s) {
  size_t n = strlen(s != NULL ? s : "") + 1;
  char *p = hbc_arena_alloc(r, n);
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

GByteArray hbc_view(hbc_bytes b) {
  return (GByteArray){(guint8 *)b.data, (guint)b.len};
}

void hbc_views_init(hbc_views *v, const hbc_bytes *items, size_t n) {
  v->items = g_new(GByteArray, n > 0 ? n : 1);
  v->list = g_ptr_array_sized_new((guint)n);
  for (size_t i = 0; i < n; i++) {
    v->items[i] = hbc_view(items[i]);
    g_ptr_array_add(v->list, &v->items[i]);
  }
}

void hbc_views_clear(hbc_views *v) {
  g_ptr_array_unref(v->list);
  g_free(v->items);
}

/* Arrays owned by a generated struct are swapped for view lists and back before it is freed. */
GPtrArray *hbc_swap_array(GPtrArray **field, GPtrArray *replacement) {
  GPtrArray *old = *field;
  *field = replacement;
  return old;
}

/* ---------------------------------------------------------------------------------------------
 * Calls: one deadline per call, one classification of every failure. */

int hbc_call_begin(hbc_call *k, hbc_conn *c, hb_error *err) {
  memset(k, 0, sizeof *k);
  k->conn = c;
  if (!c->usable)
    return hb_error_set(err, HB_ERR_TRANSPORT, "connection was broken by an earlier error");
  hb_transport_clear_error(c->transport);
  netio_set_deadline(hb_transport_netio(c->transport), c->call_timeout_ms);
  return 0;
}

static void call_free(hbc_call *k) {
  if (k->gerror != NULL)
    g_error_free(k->gerror);
  if (k->io != NULL)
    g_object_unref(k->io);
  if (k->ia != NULL)
    g_object_unref(k->ia);
  if (k->exists != NULL)
    g_object_unref(k->exists);
}

/* Breaks the connection and reports what went wrong with the stream. */
static int stream_failure(hbc_call *k, hb_error *err) {
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
                        wire_protocol_hint);
  return hb_error_set(err, HB_ERR_TRANSPORT, "%s", g->message);
}

/* Ends a call: 0 if it succeeded, else -1 with err set and the connection marked as needed. */
int hbc_call_end(hbc_call *k, gboolean ok, hb_error *err) {
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

/* Its reader skips unknown fields with thrift_protocol_skip, which frees a string whose failed
 * read freed it already (found by tests/fuzz/fuzz_reply): read it with wire.c instead, straight
 * from the connection's netio. */
static int app_exception_field(wire_reader *r, wire_type type, int16_t id, void *ctx) {
  ThriftApplicationException *x = ctx;
  if (id == 1 && type == WIRE_STRING) {
    uint32_t len;
    if (wire_string_begin(r, &len) < 0)
      return -1;
    char *message = g_malloc(len + 1);
    if (wire_raw(r, message, len) < 0) {
      g_free(message);
      return -1;
    }
    message[len] = '\0';
    g_free(x->message);
    x->message = message;
    x->__isset_message = TRUE;
    return 1;
  }
  if (id == 2 && type == WIRE_I32) {
    if (wire_i32(r, &x->type) < 0)
      return -1;
    x->__isset_type = TRUE;
    return 1;
  }
  return 0;
}

static gint32 app_exception_read(ThriftStruct *object, ThriftProtocol *protocol, GError **error) {
  wire_reader r;
  wire_reader_init(&r, hb_transport_netio(HB_TRANSPORT(protocol->transport)),
                   THRIFT_IS_COMPACT_PROTOCOL(protocol));
  int rc = wire_struct(&r, app_exception_field, THRIFT_APPLICATION_EXCEPTION(object));
  if (rc < 0)
    g_set_error(error, THRIFT_PROTOCOL_ERROR, THRIFT_PROTOCOL_ERROR_INVALID_DATA, "%s",
                r.err.message != NULL ? r.err.message : "bad application exception");
  wire_reader_clear(&r);
  return rc < 0 ? -1 : 0;
}

static void fix_app_exception_class(void) {
  GObjectClass *cls = g_type_class_ref(THRIFT_TYPE_APPLICATION_EXCEPTION); /* kept for good */
  app_exception_finalize = cls->finalize;
  app_exception_parent = g_type_class_peek_parent(cls);
  cls->finalize = app_exception_finalize_chained;
  THRIFT_STRUCT_CLASS(cls)->read = app_exception_read;
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

GHashTable *hbc_bytes_table_new(GDestroyNotify value_free) {
  return g_hash_table_new_full(bytes_hash, bytes_equal, (GDestroyNotify)g_byte_array_unref,
                               value_free);
}

static netio_options netio_options_from(const hbc_options *o) {
  return (netio_options){
    .connect_timeout_ms = o->connect_timeout_ms,
    .framed = o->framed,
    .http = o->http,
    .http_path = o->http_path,
    .max_message_size = o->max_message_size,
  };
}

static hbc_conn *conn_new(netio *io, const hbc_options *o);

hbc_conn *hbc_connect(const hbc_options *o, hb_error *err) {
  hbc_init();
  netio_options nopts = netio_options_from(o);
  netio *io = netio_connect(o->host, o->port, &nopts, err);
  return io != NULL ? conn_new(io, o) : NULL;
}

hbc_conn *hbc_connect_fd(int fd, const hbc_options *o) {
  hbc_init();
  netio_options nopts = netio_options_from(o);
  return conn_new(netio_adopt(fd, o->host, o->port, &nopts), o);
}

/* The Thrift objects around a connected netio. */
static hbc_conn *conn_new(netio *io, const hbc_options *o) {
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
  c->attributes = hbc_bytes_table_new((GDestroyNotify)g_byte_array_unref);
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

int hbc_compare_bytes(hbc_bytes a, hbc_bytes b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int d = n > 0 ? memcmp(a.data, b.data, n) : 0;
  if (d != 0)
    return d;
  return a.len < b.len ? -1 : a.len > b.len;
}

hbc_bytes hbc_family_only(hbc_bytes name) {
  bool colon = name.len > 0 && name.data[name.len - 1] == ':';
  return (hbc_bytes){name.data, colon ? name.len - 1 : name.len};
}
